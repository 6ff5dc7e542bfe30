/* constant.c - operators that create values rather than move them:
 * Constant, ConstantOfShape, Shape, Size and Range. */
#include <math.h>
#include <string.h>

#include "op.h"
#include "tensor_util.h"

/* ---- Constant --------------------------------------------------------- */

static const char *const const_attrs[] = {"value", "value_float", "value_floats", "value_int",
                                          "value_ints"};

/* The one value attribute of a Constant node; NULL if none usable. */
static const qdb_attr *const_attr(const qdb_node *n)
{
    for (size_t k = 0; k < sizeof const_attrs / sizeof const_attrs[0]; k++) {
        const qdb_attr *a = qdb_node_attr(n, const_attrs[k]);
        if (a)
            return a;
    }
    return NULL;
}

static qdb_status constant_check(const qdb_node *n, qdb_err *e)
{
    static const char *const unsup[] = {"sparse_value", "value_string", "value_strings"};
    for (size_t k = 0; k < sizeof unsup / sizeof unsup[0]; k++)
        if (qdb_node_attr(n, unsup[k]))
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Constant: attribute '%s' is not supported",
                               unsup[k]);
    int found = 0;
    for (size_t k = 0; k < sizeof const_attrs / sizeof const_attrs[0]; k++)
        found += qdb_node_attr(n, const_attrs[k]) != NULL;
    if (found != 1)
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "Constant: needs exactly one value attribute, has %d", found);
    const qdb_attr *a = const_attr(n);
    qdb_attr_type want = strcmp(a->name, "value") == 0          ? QDB_ATTR_TENSOR
                         : strcmp(a->name, "value_float") == 0  ? QDB_ATTR_FLOAT
                         : strcmp(a->name, "value_floats") == 0 ? QDB_ATTR_FLOATS
                         : strcmp(a->name, "value_int") == 0    ? QDB_ATTR_INT
                                                                : QDB_ATTR_INTS;
    if (a->type != want || (want == QDB_ATTR_TENSOR && !a->t))
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Constant: attribute '%s' of unsupported type",
                           a->name);
    return QDB_OK;
}

static qdb_status constant_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                                 qdb_err *e)
{
    (void)in;
    qdb_status st = constant_check(n, e);
    if (st != QDB_OK)
        return st;
    const qdb_attr *a = const_attr(n);
    qdb_shape s;
    memset(&s, 0, sizeof s);
    switch (a->type) {
    case QDB_ATTR_TENSOR:
        return qdb_out_set(n, &out[0], a->t->dtype, &a->t->shape, e);
    case QDB_ATTR_FLOAT:
        return qdb_out_set(n, &out[0], QDB_F32, &s, e);
    case QDB_ATTR_INT:
        return qdb_out_set(n, &out[0], QDB_I64, &s, e);
    case QDB_ATTR_FLOATS:
        s.ndim = 1;
        s.d[0] = a->n;
        return qdb_out_set(n, &out[0], QDB_F32, &s, e);
    default:
        s.ndim = 1;
        s.d[0] = a->n;
        return qdb_out_set(n, &out[0], QDB_I64, &s, e);
    }
}

static qdb_status constant_forward(const qdb_node *n, const qdb_tensor *const *in,
                                   qdb_tensor *const *out, qdb_err *e)
{
    (void)in;
    (void)e;
    const qdb_attr *a = const_attr(n);
    qdb_tensor *y = out[0];
    switch (a->type) {
    case QDB_ATTR_TENSOR:
        if (a->t->numel)
            memcpy(y->data.p, a->t->data.p, a->t->numel * qdb_dtype_size(a->t->dtype));
        break;
    case QDB_ATTR_FLOAT:
        y->data.f[0] = a->f;
        break;
    case QDB_ATTR_INT:
        y->data.i[0] = a->i;
        break;
    case QDB_ATTR_FLOATS:
        if (a->n)
            memcpy(y->data.f, a->floats, (size_t)a->n * sizeof(float));
        break;
    default:
        if (a->n)
            memcpy(y->data.i, a->ints, (size_t)a->n * sizeof(int64_t));
        break;
    }
    return QDB_OK;
}

const qdb_op qdb_op_constant = {
    .type = "Constant",
    .check = constant_check,
    .infer = constant_infer,
    .forward = constant_forward,
    .no_inputs = 1,
};

/* ---- ConstantOfShape -------------------------------------------------- */

static qdb_status cos_check(const qdb_node *n, qdb_err *e)
{
    const qdb_attr *a = qdb_node_attr(n, "value");
    if (a && (a->type != QDB_ATTR_TENSOR || !a->t))
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "ConstantOfShape: unsupported 'value'");
    if (a && a->t->numel != 1)
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "ConstantOfShape: 'value' must hold one element, not %zu",
                           a->t->numel);
    return QDB_OK;
}

static qdb_status cos_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                            qdb_err *e)
{
    const qdb_attr *a = qdb_node_attr(n, "value");
    int64_t d[QDB_MAX_DIMS];
    int cnt;
    qdb_status st = qdb_const_ints(n, in[0], "input", d, QDB_MAX_DIMS, &cnt, e);
    if (st != QDB_OK)
        return st;
    for (int i = 0; i < cnt; i++)
        if (d[i] < 0)
            return qdb_err_set(e, QDB_ERR_INVALID, "ConstantOfShape: negative dimension %lld",
                               (long long)d[i]);
    qdb_shape s = qdb_shape_make(cnt, d);
    return qdb_out_set(n, &out[0], a && a->t ? a->t->dtype : QDB_F32, &s, e);
}

static qdb_status cos_forward(const qdb_node *n, const qdb_tensor *const *in,
                              qdb_tensor *const *out, qdb_err *e)
{
    (void)in;
    (void)e;
    const qdb_attr *a = qdb_node_attr(n, "value");
    qdb_tensor *y = out[0];
    if (!a || !a->t) { /* float zeros (outputs arrive uninitialised) */
        memset(y->data.p, 0, y->numel * qdb_dtype_size(y->dtype));
        return QDB_OK;
    }
    if (y->dtype == QDB_F32) {
        float v = a->t->data.f[0];
        for (size_t k = 0; k < y->numel; k++)
            y->data.f[k] = v;
    } else {
        int64_t v = a->t->data.i[0];
        for (size_t k = 0; k < y->numel; k++)
            y->data.i[k] = v;
    }
    return QDB_OK;
}

const qdb_op qdb_op_constant_of_shape = {
    .type = "ConstantOfShape",
    .check = cos_check,
    .infer = cos_infer,
    .forward = cos_forward,
};

/* ---- Shape / Size ----------------------------------------------------- */

static void shape_range(const qdb_node *n, int r, int *b, int *en)
{
    int64_t s = 0, t = r;
    if (n->opset >= 15) {
        s = qdb_attr_int(n, "start", 0);
        t = qdb_attr_int(n, "end", r);
    }
    if (s < 0)
        s += r;
    if (t < 0)
        t += r;
    s = s < 0 ? 0 : s > r ? r : s;
    t = t < 0 ? 0 : t > r ? r : t;
    *b = (int)s;
    *en = (int)(t > s ? t : s);
}

static qdb_status shape_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                              qdb_err *e)
{
    int b, en;
    shape_range(n, in[0]->shape.ndim, &b, &en);
    int64_t d = en - b;
    qdb_shape s = qdb_shape_make(1, &d);
    return qdb_out_set(n, &out[0], QDB_I64, &s, e);
}

static qdb_status shape_forward(const qdb_node *n, const qdb_tensor *const *in,
                                qdb_tensor *const *out, qdb_err *e)
{
    (void)e;
    int b, en;
    shape_range(n, in[0]->shape.ndim, &b, &en);
    for (int i = b; i < en; i++)
        out[0]->data.i[i - b] = in[0]->shape.d[i];
    return QDB_OK;
}

const qdb_op qdb_op_shape = {
    .type = "Shape",
    .infer = shape_infer,
    .forward = shape_forward,
    .reads_shapes_only = 1,
};

static qdb_status size_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                             qdb_err *e)
{
    (void)in;
    qdb_shape s;
    memset(&s, 0, sizeof s);
    return qdb_out_set(n, &out[0], QDB_I64, &s, e);
}

static qdb_status size_forward(const qdb_node *n, const qdb_tensor *const *in,
                               qdb_tensor *const *out, qdb_err *e)
{
    (void)n;
    (void)e;
    out[0]->data.i[0] = (int64_t)in[0]->numel;
    return QDB_OK;
}

const qdb_op qdb_op_size = {
    .type = "Size",
    .infer = size_infer,
    .forward = size_forward,
    .reads_shapes_only = 1,
};

/* ---- Range ------------------------------------------------------------ */

static qdb_status range_count(const qdb_node *n, const qdb_tensor *const *in, int64_t *count,
                              qdb_err *e)
{
    static const char *const names[3] = {"start", "limit", "delta"};
    for (int k = 0; k < 3; k++) {
        const qdb_tensor *t = qdb_op_in(n, in, k);
        if (!t)
            return qdb_err_set(e, QDB_ERR_INVALID, "Range: input '%s' is missing", names[k]);
        if (!t->data.p)
            return qdb_err_set(e, QDB_ERR_DYNAMIC, "Range: input '%s' is known only at run time",
                               names[k]);
        if (t->numel != 1 || t->shape.ndim > 1)
            return qdb_err_set(e, QDB_ERR_INVALID, "Range: input '%s' must be a scalar",
                               names[k]);
        if (t->dtype != in[0]->dtype)
            return qdb_err_set(e, QDB_ERR_INVALID, "Range: inputs mix float and integer types");
    }
    if (in[0]->dtype == QDB_F32) {
        float s = in[0]->data.f[0], l = in[1]->data.f[0], d = in[2]->data.f[0];
        if (d == 0.0f || !isfinite(s) || !isfinite(l) || !isfinite(d))
            return qdb_err_set(e, QDB_ERR_INVALID, "Range: invalid start/limit/delta %g/%g/%g",
                               s, l, d);
        double c = ceil((double)(l - s) / (double)d);
        if (c > (double)((int64_t)1 << 40))
            return qdb_err_set(e, QDB_ERR_NOMEM, "Range: too many elements");
        *count = c > 0 ? (int64_t)c : 0;
    } else {
        int64_t s = in[0]->data.i[0], l = in[1]->data.i[0], d = in[2]->data.i[0], diff;
        if (d == 0)
            return qdb_err_set(e, QDB_ERR_INVALID, "Range: delta is 0");
        if (__builtin_sub_overflow(l, s, &diff))
            return qdb_err_set(e, QDB_ERR_INVALID, "Range: limit - start overflows");
        if (diff == 0 || (diff > 0) != (d > 0))
            *count = 0;
        else if (d == -1 && diff == INT64_MIN)
            return qdb_err_set(e, QDB_ERR_NOMEM, "Range: too many elements");
        else
            *count = diff / d + (diff % d != 0);
    }
    return QDB_OK;
}

static qdb_status range_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                              qdb_err *e)
{
    int64_t c;
    qdb_status st = range_count(n, in, &c, e);
    if (st != QDB_OK)
        return st;
    qdb_shape s = qdb_shape_make(1, &c);
    return qdb_out_set(n, &out[0], in[0]->dtype, &s, e);
}

static qdb_status range_forward(const qdb_node *n, const qdb_tensor *const *in,
                                qdb_tensor *const *out, qdb_err *e)
{
    (void)n;
    (void)e;
    qdb_tensor *y = out[0];
    if (y->dtype == QDB_F32) {
        float s = in[0]->data.f[0], d = in[2]->data.f[0];
        for (size_t k = 0; k < y->numel; k++)
            y->data.f[k] = s + (float)k * d;
    } else {
        /* Wrapping arithmetic: the values stay within [start, limit). */
        uint64_t s = (uint64_t)in[0]->data.i[0], d = (uint64_t)in[2]->data.i[0];
        for (size_t k = 0; k < y->numel; k++)
            y->data.i[k] = (int64_t)(s + (uint64_t)k * d);
    }
    return QDB_OK;
}

const qdb_op qdb_op_range = {
    .type = "Range",
    .infer = range_infer,
    .forward = range_forward,
};
