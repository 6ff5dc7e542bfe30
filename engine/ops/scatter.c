/* scatter.c - index-driven writes and multi-dimensional gathers: ScatterND,
 * ScatterElements (and its opset-9 name Scatter), GatherND. float32 or
 * int64 data, int64 indices; negative indices count from the end and
 * out-of-range ones are an error. Scatter reductions: none, add, mul (opset
 * 16), max, min (opset 18), applied in index order; with "none" and
 * repeated indices the last write wins. */
#include <string.h>

#include "logic_util.h"
#include "op.h"
#include "tensor_util.h"

typedef enum { R_NONE, R_ADD, R_MUL, R_MAX, R_MIN } reduction;

static qdb_status get_reduction(const qdb_node *n, reduction *r, qdb_err *e)
{
    const char *s = qdb_attr_string(n, "reduction", "none");
    *r = R_NONE;
    if (!strcmp(s, "none"))
        return QDB_OK;
    if (!strcmp(s, "add") || !strcmp(s, "mul")) {
        *r = s[0] == 'a' ? R_ADD : R_MUL;
        return QDB_OK;
    }
    if (!strcmp(s, "max") || !strcmp(s, "min")) {
        *r = s[1] == 'a' ? R_MAX : R_MIN;
        return QDB_OK;
    }
    return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: reduction '%s' is not supported", n->op_type,
                       s);
}

static qdb_status scatter_check(const qdb_node *n, qdb_err *e)
{
    qdb_status s = qdb_logic_inputs(n, 3, 3, e);
    if (s != QDB_OK)
        return s;
    reduction r;
    return get_reduction(n, &r, e);
}

static qdb_status check_types(const qdb_node *n, const qdb_tensor *data, const qdb_tensor *idx,
                              const qdb_tensor *upd, qdb_err *e)
{
    if (idx->dtype != QDB_I64)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: indices must be integers, not %s", n->op_type,
                           qdb_dtype_name(idx->dtype));
    if (upd && upd->dtype != data->dtype)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: updates (%s) and data (%s) differ in type",
                           n->op_type, qdb_dtype_name(upd->dtype), qdb_dtype_name(data->dtype));
    return QDB_OK;
}

/* Normalise index j against dimension dim, or fail. */
static inline int bad_index(int64_t *j, int64_t dim)
{
    if (*j < -dim || *j >= dim)
        return 1;
    if (*j < 0)
        *j += dim;
    return 0;
}

static qdb_status index_error(const qdb_node *n, int64_t j, int64_t dim, qdb_err *e)
{
    return qdb_err_set(e, QDB_ERR_INVALID, "%s: index %lld out of range [-%lld, %lld)", n->op_type,
                       (long long)j, (long long)dim, (long long)dim);
}

/* dst[i] (op)= src[i] for i < len. */
#define APPLY(T)                                                                                   \
    do {                                                                                           \
        T *d = (T *)dst;                                                                           \
        const T *s = (const T *)src;                                                               \
        switch (r) {                                                                               \
        case R_NONE: memcpy(d, s, (size_t)len * sizeof(T)); break;                                 \
        case R_ADD:                                                                                \
            for (int64_t i = 0; i < len; i++)                                                      \
                d[i] = (T)(d[i] + s[i]);                                                           \
            break;                                                                                 \
        case R_MUL:                                                                                \
            for (int64_t i = 0; i < len; i++)                                                      \
                d[i] = (T)(d[i] * s[i]);                                                           \
            break;                                                                                 \
        case R_MAX:                                                                                \
            for (int64_t i = 0; i < len; i++)                                                      \
                d[i] = s[i] > d[i] ? s[i] : d[i];                                                  \
            break;                                                                                 \
        case R_MIN:                                                                                \
            for (int64_t i = 0; i < len; i++)                                                      \
                d[i] = s[i] < d[i] ? s[i] : d[i];                                                  \
            break;                                                                                 \
        }                                                                                          \
    } while (0)

static void apply_f32(reduction r, float *dst, const float *src, int64_t len)
{
    APPLY(float);
}

/* int64 add / mul wrap instead of overflowing. */
static void apply_i64(reduction r, int64_t *dst, const int64_t *src, int64_t len)
{
    if (r == R_ADD || r == R_MUL) {
        uint64_t *d = (uint64_t *)dst;
        for (int64_t i = 0; i < len; i++)
            d[i] = r == R_ADD ? d[i] + (uint64_t)src[i] : d[i] * (uint64_t)src[i];
        return;
    }
    APPLY(int64_t);
}

/* ---- ScatterND ------------------------------------------------------------- */

static qdb_status scatternd_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                                  qdb_err *e)
{
    const qdb_tensor *data = in[0], *idx = qdb_op_in(n, in, 1), *upd = qdb_op_in(n, in, 2);
    if (!idx || !upd)
        return qdb_err_set(e, QDB_ERR_INVALID, "ScatterND: needs data, indices and updates");
    qdb_status s = check_types(n, data, idx, upd, e);
    if (s != QDB_OK)
        return s;
    const int r = data->shape.ndim, q = idx->shape.ndim;
    if (q < 1)
        return qdb_err_set(e, QDB_ERR_INVALID, "ScatterND: indices must have rank >= 1");
    const int64_t k = idx->shape.d[q - 1];
    if (k < 0 || k > r)
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "ScatterND: index tuples of length %lld for data of rank %d",
                           (long long)k, r);
    /* updates: indices.shape[:-1] + data.shape[k:] */
    int ok = upd->shape.ndim == q - 1 + r - (int)k;
    for (int i = 0; ok && i < q - 1; i++)
        ok = upd->shape.d[i] == idx->shape.d[i];
    for (int i = (int)k; ok && i < r; i++)
        ok = upd->shape.d[q - 1 + i - (int)k] == data->shape.d[i];
    if (!ok) {
        char a[160], b[160], c[160];
        return qdb_err_set(
            e, QDB_ERR_SHAPE, "ScatterND: updates %s do not fit data %s and indices %s",
            qdb_shape_str(&upd->shape, a, sizeof a), qdb_shape_str(&data->shape, b, sizeof b),
            qdb_shape_str(&idx->shape, c, sizeof c));
    }
    return qdb_out_set(n, &out[0], data->dtype, &data->shape, e);
}

static qdb_status scatternd_forward(const qdb_node *n, const qdb_tensor *const *in,
                                    qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *data = in[0], *idx = in[1], *upd = in[2];
    qdb_tensor *y = out[0];
    reduction red;
    qdb_status s = get_reduction(n, &red, e);
    if (s != QDB_OK)
        return s;
    const size_t es = qdb_dtype_size(data->dtype);
    if (y->numel)
        memcpy(y->data.p, data->data.p, y->numel * es);
    const int r = data->shape.ndim, q = idx->shape.ndim;
    const int k = (int)idx->shape.d[q - 1];
    int64_t strides[QDB_MAX_DIMS];
    qdb_shape_strides(&data->shape, strides);
    const int64_t slice = qdb_dims_prod(data->shape.d, k, r);
    const int64_t count = qdb_dims_prod(idx->shape.d, 0, q - 1);
    if (slice == 0)
        return QDB_OK;
    for (int64_t t = 0; t < count; t++) {
        const int64_t *tuple = idx->data.i + t * k;
        int64_t off = 0;
        for (int j = 0; j < k; j++) {
            int64_t v = tuple[j];
            if (bad_index(&v, data->shape.d[j]))
                return index_error(n, tuple[j], data->shape.d[j], e);
            off += v * strides[j];
        }
        if (data->dtype == QDB_F32)
            apply_f32(red, y->data.f + off, upd->data.f + t * slice, slice);
        else
            apply_i64(red, y->data.i + off, upd->data.i + t * slice, slice);
    }
    return QDB_OK;
}

const qdb_op qdb_logic_scatter_nd = {
    .type = "ScatterND",
    .check = scatter_check,
    .infer = scatternd_infer,
    .forward = scatternd_forward,
};

/* ---- ScatterElements / Scatter ------------------------------------------------ */

static qdb_status scatterel_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                                  qdb_err *e)
{
    const qdb_tensor *data = in[0], *idx = qdb_op_in(n, in, 1), *upd = qdb_op_in(n, in, 2);
    if (!idx || !upd)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: needs data, indices and updates", n->op_type);
    qdb_status s = check_types(n, data, idx, upd, e);
    if (s != QDB_OK)
        return s;
    const int r = data->shape.ndim;
    int axis;
    if (r < 1)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: data must have rank >= 1", n->op_type);
    if ((s = qdb_op_axis(n, qdb_attr_int(n, "axis", 0), r, &axis, e)) != QDB_OK)
        return s;
    char a[160], b[160];
    if (!qdb_shape_eq(&idx->shape, &upd->shape))
        return qdb_err_set(e, QDB_ERR_SHAPE, "%s: indices %s and updates %s differ in shape",
                           n->op_type, qdb_shape_str(&idx->shape, a, sizeof a),
                           qdb_shape_str(&upd->shape, b, sizeof b));
    int ok = idx->shape.ndim == r;
    for (int i = 0; ok && i < r; i++)
        ok = i == axis || idx->shape.d[i] <= data->shape.d[i];
    if (!ok)
        return qdb_err_set(e, QDB_ERR_SHAPE, "%s: indices %s do not fit data %s", n->op_type,
                           qdb_shape_str(&idx->shape, a, sizeof a),
                           qdb_shape_str(&data->shape, b, sizeof b));
    return qdb_out_set(n, &out[0], data->dtype, &data->shape, e);
}

static qdb_status scatterel_forward(const qdb_node *n, const qdb_tensor *const *in,
                                    qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *data = in[0], *idx = in[1], *upd = in[2];
    qdb_tensor *y = out[0];
    reduction red;
    qdb_status s = get_reduction(n, &red, e);
    if (s != QDB_OK)
        return s;
    const int r = data->shape.ndim;
    int axis;
    if ((s = qdb_op_axis(n, qdb_attr_int(n, "axis", 0), r, &axis, e)) != QDB_OK)
        return s;
    if (y->numel)
        memcpy(y->data.p, data->data.p, y->numel * qdb_dtype_size(data->dtype));
    if (idx->numel == 0)
        return QDB_OK;
    int64_t ds[QDB_MAX_DIMS], c[QDB_MAX_DIMS] = {0};
    qdb_shape_strides(&data->shape, ds);
    const int64_t dim = data->shape.d[axis];
    int64_t base = 0; /* data offset of c without the axis component */
    for (size_t k = 0; k < idx->numel; k++) {
        int64_t j = idx->data.i[k];
        if (bad_index(&j, dim))
            return index_error(n, idx->data.i[k], dim, e);
        const int64_t off = base + j * ds[axis];
        if (data->dtype == QDB_F32)
            apply_f32(red, y->data.f + off, upd->data.f + k, 1);
        else
            apply_i64(red, y->data.i + off, upd->data.i + k, 1);
        for (int d = r - 1; d >= 0; d--) {
            if (d != axis)
                base += ds[d];
            if (++c[d] < idx->shape.d[d])
                break;
            if (d != axis)
                base -= ds[d] * idx->shape.d[d];
            c[d] = 0;
        }
    }
    return QDB_OK;
}

const qdb_op qdb_logic_scatter_elements = {
    .type = "ScatterElements",
    .check = scatter_check,
    .infer = scatterel_infer,
    .forward = scatterel_forward,
};

const qdb_op qdb_logic_scatter = {
    .type = "Scatter",
    .check = scatter_check,
    .infer = scatterel_infer,
    .forward = scatterel_forward,
};

/* ---- GatherND ------------------------------------------------------------------ */

static qdb_status gathernd_check(const qdb_node *n, qdb_err *e)
{
    qdb_status s = qdb_logic_inputs(n, 2, 2, e);
    if (s != QDB_OK)
        return s;
    int64_t b = qdb_attr_int(n, "batch_dims", 0);
    if (b < 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "GatherND: batch_dims=%lld is negative",
                           (long long)b);
    return QDB_OK;
}

static qdb_status gathernd_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                                 qdb_err *e)
{
    const qdb_tensor *data = in[0], *idx = qdb_op_in(n, in, 1);
    if (!idx)
        return qdb_err_set(e, QDB_ERR_INVALID, "GatherND: input 'indices' is missing");
    qdb_status s = check_types(n, data, idx, NULL, e);
    if (s != QDB_OK)
        return s;
    const int r = data->shape.ndim, q = idx->shape.ndim;
    const int64_t b = qdb_attr_int(n, "batch_dims", 0);
    if (q < 1 || r < 1 || b >= q || b >= r)
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "GatherND: batch_dims=%lld needs data (rank %d) and indices (rank %d) "
                           "of higher rank",
                           (long long)b, r, q);
    const int64_t k = idx->shape.d[q - 1];
    if (k < 1 || k > r - b)
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "GatherND: index tuples of length %lld for data of rank %d with "
                           "batch_dims=%lld",
                           (long long)k, r, (long long)b);
    for (int i = 0; i < b; i++)
        if (idx->shape.d[i] != data->shape.d[i])
            return qdb_err_set(e, QDB_ERR_SHAPE,
                               "GatherND: batch dimension %d differs (%lld in indices, %lld in "
                               "data)",
                               i, (long long)idx->shape.d[i], (long long)data->shape.d[i]);
    qdb_shape o;
    memset(&o, 0, sizeof o);
    o.ndim = q - 1 + r - (int)(b + k);
    if (o.ndim > QDB_MAX_DIMS)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "GatherND: output rank %d above %d", o.ndim,
                           QDB_MAX_DIMS);
    int j = 0;
    for (int i = 0; i < q - 1; i++)
        o.d[j++] = idx->shape.d[i];
    for (int i = (int)(b + k); i < r; i++)
        o.d[j++] = data->shape.d[i];
    return qdb_out_set(n, &out[0], data->dtype, &o, e);
}

static qdb_status gathernd_forward(const qdb_node *n, const qdb_tensor *const *in,
                                   qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *data = in[0], *idx = in[1];
    qdb_tensor *y = out[0];
    const int r = data->shape.ndim, q = idx->shape.ndim;
    const int b = (int)qdb_attr_int(n, "batch_dims", 0);
    const int k = (int)idx->shape.d[q - 1];
    int64_t strides[QDB_MAX_DIMS];
    qdb_shape_strides(&data->shape, strides);
    const size_t es = qdb_dtype_size(data->dtype);
    const int64_t nbatch = qdb_dims_prod(data->shape.d, 0, b);
    const int64_t block = qdb_dims_prod(data->shape.d, b, r);
    const int64_t per = qdb_dims_prod(idx->shape.d, b, q - 1);
    const int64_t slice = qdb_dims_prod(data->shape.d, b + k, r);
    const char *src = data->data.p;
    char *o = y->data.p;
    if (y->numel == 0)
        return QDB_OK;
    for (int64_t bi = 0; bi < nbatch; bi++)
        for (int64_t t = 0; t < per; t++) {
            const int64_t *tuple = idx->data.i + (bi * per + t) * k;
            int64_t off = bi * block;
            for (int j = 0; j < k; j++) {
                int64_t v = tuple[j];
                if (bad_index(&v, data->shape.d[b + j]))
                    return index_error(n, tuple[j], data->shape.d[b + j], e);
                off += v * strides[b + j];
            }
            memcpy(o, src + (size_t)off * es, (size_t)slice * es);
            o += (size_t)slice * es;
        }
    return QDB_OK;
}

const qdb_op qdb_logic_gather_nd = {
    .type = "GatherND",
    .check = gathernd_check,
    .infer = gathernd_infer,
    .forward = gathernd_forward,
    .moves_values = 1,
};
