/* tensor.c - allocation, shapes and conversion of qdb_tensor (see tensor.h). */
#include "tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *qdb_dtype_name(qdb_dtype t)
{
    return t == QDB_F32 ? "float32" : t == QDB_I64 ? "int64" : "?";
}

size_t qdb_dtype_size(qdb_dtype t)
{
    return t == QDB_I64 ? sizeof(int64_t) : sizeof(float);
}

qdb_status qdb_shape_numel(const qdb_shape *s, size_t *numel, qdb_err *e)
{
    if (s->ndim < 0 || s->ndim > QDB_MAX_DIMS)
        return qdb_err_set(e, QDB_ERR_SHAPE, "rank %d outside 0..%d", s->ndim, QDB_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] < 0)
            return qdb_err_set(e, QDB_ERR_SHAPE, "negative dimension %lld",
                               (long long)s->d[i]);
        if (s->d[i] == 0) {
            n = 0;
            continue;
        }
        if (n != 0 && (uint64_t)s->d[i] > (QDB_TENSOR_MAX_BYTES / 8) / n)
            return qdb_err_set(e, QDB_ERR_NOMEM, "tensor of shape too large (over %zu bytes)",
                               (size_t)QDB_TENSOR_MAX_BYTES);
        n *= (size_t)s->d[i];
    }
    *numel = n;
    return QDB_OK;
}

qdb_shape qdb_shape_make(int ndim, const int64_t *dims)
{
    qdb_shape s;
    memset(&s, 0, sizeof s);
    s.ndim = ndim;
    for (int i = 0; i < ndim && i < QDB_MAX_DIMS; i++)
        s.d[i] = dims[i];
    return s;
}

int qdb_shape_eq(const qdb_shape *a, const qdb_shape *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i])
            return 0;
    return 1;
}

char *qdb_shape_str(const qdb_shape *s, char *buf, size_t n)
{
    size_t off = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    off += (size_t)snprintf(buf + off, n - off, "[");
    for (int i = 0; i < s->ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%lld", i ? "," : "", (long long)s->d[i]);
    if (off < n)
        snprintf(buf + off, n - off, "]");
    return buf;
}

void qdb_shape_strides(const qdb_shape *s, int64_t *strides)
{
    int64_t st = 1;
    for (int i = s->ndim - 1; i >= 0; i--) {
        strides[i] = st;
        st *= s->d[i];
    }
}

qdb_tensor *qdb_tensor_new_header(qdb_dtype t, const qdb_shape *s, qdb_err *e)
{
    size_t n;
    if (qdb_shape_numel(s, &n, e) != QDB_OK)
        return NULL;
    qdb_tensor *x = calloc(1, sizeof *x);
    if (!x) {
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory allocating a tensor");
        return NULL;
    }
    x->dtype = t;
    x->shape = *s;
    x->numel = n;
    return x;
}

qdb_status qdb_tensor_alloc(qdb_tensor *t, qdb_err *e)
{
    if (t->data.p)
        return QDB_OK;
    size_t bytes = t->numel * qdb_dtype_size(t->dtype);
    t->data.p = calloc(1, bytes ? bytes : 1);
    if (!t->data.p)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    return QDB_OK;
}

qdb_tensor *qdb_tensor_new(qdb_dtype t, const qdb_shape *s, qdb_err *e)
{
    qdb_tensor *x = qdb_tensor_new_header(t, s, e);
    if (x && qdb_tensor_alloc(x, e) != QDB_OK) {
        free(x);
        return NULL;
    }
    return x;
}

qdb_tensor *qdb_tensor_new_uninit(qdb_dtype t, const qdb_shape *s, qdb_err *e)
{
    qdb_tensor *x = qdb_tensor_new_header(t, s, e);
    if (!x)
        return NULL;
    size_t bytes = x->numel * qdb_dtype_size(t);
    x->data.p = malloc(bytes ? bytes : 1);
    if (!x->data.p) {
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
        free(x);
        return NULL;
    }
    return x;
}

qdb_tensor *qdb_tensor_new_dims(qdb_dtype t, int ndim, const int64_t *dims, qdb_err *e)
{
    if (ndim < 0 || ndim > QDB_MAX_DIMS) {
        qdb_err_set(e, QDB_ERR_SHAPE, "rank %d outside 0..%d", ndim, QDB_MAX_DIMS);
        return NULL;
    }
    qdb_shape s = qdb_shape_make(ndim, dims);
    return qdb_tensor_new(t, &s, e);
}

qdb_tensor *qdb_tensor_clone(const qdb_tensor *src, qdb_err *e)
{
    qdb_tensor *x = src->data.p ? qdb_tensor_new(src->dtype, &src->shape, e)
                                : qdb_tensor_new_header(src->dtype, &src->shape, e);
    if (x && src->data.p)
        memcpy(x->data.p, src->data.p, src->numel * qdb_dtype_size(src->dtype));
    return x;
}

qdb_tensor *qdb_tensor_convert(const qdb_tensor *src, qdb_dtype to, qdb_err *e)
{
    if (src->dtype == to)
        return qdb_tensor_clone(src, e);
    qdb_tensor *x = qdb_tensor_new(to, &src->shape, e);
    if (!x)
        return NULL;
    if (to == QDB_F32)
        for (size_t i = 0; i < src->numel; i++)
            x->data.f[i] = (float)src->data.i[i];
    else
        for (size_t i = 0; i < src->numel; i++)
            x->data.i[i] = (int64_t)src->data.f[i];
    return x;
}

void qdb_tensor_free(qdb_tensor *t)
{
    if (!t)
        return;
    free(t->data.p);
    free(t);
}
