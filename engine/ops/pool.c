/* pool.c - pooling operators: MaxPool (with the optional Indices output),
 * AveragePool, LpPool and their Global* forms, over 1 to 3 spatial
 * dimensions (Global*: any). MaxPool also accepts int64 tensors (ONNX's
 * int8/uint8 MaxPool). The loops live in kernels.c. */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "op.h"
#include "window.h"

typedef enum { POOL_MAX, POOL_AVG, POOL_LP } pool_kind;

static pool_kind kind_of(const qdb_node *n)
{
    if (strstr(n->op_type, "Max"))
        return POOL_MAX;
    if (strstr(n->op_type, "Lp"))
        return POOL_LP;
    return POOL_AVG;
}

/* LpPool's p: a float in opset 1, an int from opset 2 (default 2). */
static qdb_status lp_norm(const qdb_node *n, float *p, qdb_err *e)
{
    const qdb_attr *a = qdb_node_attr(n, "p");
    *p = 2.0f;
    if (a) {
        if (a->type == QDB_ATTR_INT)
            *p = (float)a->i;
        else if (a->type == QDB_ATTR_FLOAT)
            *p = a->f;
        else
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: attribute 'p' must be a number",
                               n->op_type);
    }
    if (!(*p > 0.0f) || !isfinite(*p))
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: p = %g must be positive", n->op_type,
                           (double)*p);
    return QDB_OK;
}

static qdb_status input_dtype(const qdb_node *n, const qdb_tensor *x, qdb_err *e)
{
    if (x->dtype == QDB_F32 || (x->dtype == QDB_I64 && kind_of(n) == POOL_MAX))
        return QDB_OK;
    return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: input X is %s, only float32 supported",
                       n->op_type, qdb_dtype_name(x->dtype));
}

/* ------------------------------------------------------ windowed pooling */

static const char *const maxpool_attrs[] = {"auto_pad", "ceil_mode",    "dilations", "kernel_shape",
                                            "pads",     "storage_order", "strides",  NULL};
static const char *const avgpool_attrs[] = {"auto_pad", "ceil_mode", "count_include_pad",
                                            "dilations", "kernel_shape", "pads", "strides", NULL};
static const char *const lppool_attrs[] = {"auto_pad", "ceil_mode", "dilations", "kernel_shape",
                                           "p", "pads", "strides", NULL};

static qdb_status pool_check(const qdb_node *n, qdb_err *e)
{
    const pool_kind kind = kind_of(n);
    qdb_status st = qdb_nn_check_attrs(n, kind == POOL_MAX   ? maxpool_attrs
                                          : kind == POOL_AVG ? avgpool_attrs
                                                             : lppool_attrs,
                                       e);
    if (st != QDB_OK || (st = qdb_nn_check_window(n, 0, e)) != QDB_OK)
        return st;
    if (!qdb_node_attr(n, "kernel_shape"))
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: attribute 'kernel_shape' is required",
                           n->op_type);
    const qdb_attr *a = qdb_node_attr(n, "storage_order");
    if (a && (a->type != QDB_ATTR_INT || (a->i != 0 && a->i != 1)))
        return qdb_err_set(e, QDB_ERR_INVALID, "MaxPool: storage_order must be 0 or 1");
    a = qdb_node_attr(n, "count_include_pad");
    if (a && (a->type != QDB_ATTR_INT || (a->i != 0 && a->i != 1)))
        return qdb_err_set(e, QDB_ERR_INVALID, "AveragePool: count_include_pad must be 0 or 1");
    float p;
    if (kind == POOL_LP && (st = lp_norm(n, &p, e)) != QDB_OK)
        return st;
    return QDB_OK;
}

static qdb_status pool_geometry(const qdb_node *n, const qdb_tensor *const *in, qdb_window *w,
                                int *nsp, qdb_err *e)
{
    const qdb_tensor *x = qdb_op_in(n, in, 0);
    int64_t k[QDB_WIN_DIMS];
    qdb_status st;
    if (!x)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input X is required", n->op_type);
    if ((st = input_dtype(n, x, e)) != QDB_OK ||
        (st = qdb_nn_spatial_rank(n, &x->shape, nsp, e)) != QDB_OK ||
        (st = qdb_nn_ints(n, "kernel_shape", *nsp, 1, k, e)) != QDB_OK)
        return st;
    return qdb_nn_window(n, &x->shape, *nsp, k, w, e);
}

static qdb_status pool_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                             qdb_err *e)
{
    qdb_window w;
    int nsp;
    qdb_status st = pool_geometry(n, in, &w, &nsp, e);
    if (st != QDB_OK)
        return st;
    out[0].dtype = in[0]->dtype;
    out[0].shape = in[0]->shape;
    for (int i = 0; i < nsp; i++)
        out[0].shape.d[2 + i] = w.out[qdb_nn_wdim(nsp, i)];
    for (int k = 1; k < n->n_out; k++) {
        out[k].dtype = QDB_I64;
        out[k].shape = out[0].shape;
    }
    return QDB_OK;
}

static qdb_status pool_forward(const qdb_node *n, const qdb_tensor *const *in,
                               qdb_tensor *const *out, qdb_err *e)
{
    qdb_window w;
    int nsp;
    qdb_status st = pool_geometry(n, in, &w, &nsp, e);
    if (st != QDB_OK)
        return st;
    const qdb_tensor *x = in[0];
    const int64_t planes = x->shape.d[0] * x->shape.d[1];
    float p;
    switch (kind_of(n)) {
    case POOL_MAX: {
        int64_t *idx = (n->n_out > 1 && out[1]) ? out[1]->data.i : NULL;
        int col_major = qdb_attr_int(n, "storage_order", 0) != 0;
        if (x->dtype == QDB_I64)
            qdb_maxpool_i64(x->data.i, planes, &w, out[0]->data.i, idx, col_major);
        else
            qdb_maxpool_f32(x->data.f, planes, &w, out[0]->data.f, idx, col_major);
        break;
    }
    case POOL_AVG:
        qdb_avgpool_f32(x->data.f, planes, &w, qdb_attr_int(n, "count_include_pad", 0) != 0,
                        out[0]->data.f);
        break;
    case POOL_LP:
        if ((st = lp_norm(n, &p, e)) != QDB_OK)
            return st;
        qdb_lppool_f32(x->data.f, planes, &w, p, out[0]->data.f);
        break;
    }
    return QDB_OK;
}

const qdb_op qdb_op_max_pool = {
    .type = "MaxPool",
    .check = pool_check,
    .infer = pool_infer,
    .forward = pool_forward,
};

const qdb_op qdb_op_average_pool = {
    .type = "AveragePool",
    .check = pool_check,
    .infer = pool_infer,
    .forward = pool_forward,
};

const qdb_op qdb_op_lp_pool = {
    .type = "LpPool",
    .check = pool_check,
    .infer = pool_infer,
    .forward = pool_forward,
};

/* ---------------------------------------------------------- global pooling */

static const char *const global_attrs[] = {NULL};
static const char *const global_lp_attrs[] = {"p", NULL};

static qdb_status global_check(const qdb_node *n, qdb_err *e)
{
    const pool_kind kind = kind_of(n);
    qdb_status st = qdb_nn_check_attrs(n, kind == POOL_LP ? global_lp_attrs : global_attrs, e);
    float p;
    if (st == QDB_OK && kind == POOL_LP)
        st = lp_norm(n, &p, e);
    return st;
}

static qdb_status global_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                               qdb_err *e)
{
    const qdb_tensor *x = qdb_op_in(n, in, 0);
    if (!x)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input X is required", n->op_type);
    qdb_status st = input_dtype(n, x, e);
    if (st != QDB_OK)
        return st;
    if (x->shape.ndim < 2)
        return qdb_err_set(e, QDB_ERR_SHAPE, "%s: input of rank %d, expected (N, C, ...)",
                           n->op_type, x->shape.ndim);
    out[0].dtype = x->dtype;
    out[0].shape = x->shape;
    for (int i = 2; i < x->shape.ndim; i++)
        out[0].shape.d[i] = 1;
    return QDB_OK;
}

static qdb_status global_forward(const qdb_node *n, const qdb_tensor *const *in,
                                 qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    const int64_t planes = x->shape.d[0] * x->shape.d[1];
    int64_t plane = 1;
    for (int i = 2; i < x->shape.ndim; i++)
        plane *= x->shape.d[i];
    if (plane == 0)
        return qdb_err_set(e, QDB_ERR_SHAPE, "%s: empty spatial extent", n->op_type);
    qdb_window w;
    qdb_window_init(&w);
    w.in[QDB_WIN_DIMS - 1] = w.k[QDB_WIN_DIMS - 1] = plane;
    float p;
    qdb_status st;
    switch (kind_of(n)) {
    case POOL_MAX:
        if (x->dtype == QDB_I64)
            qdb_maxpool_i64(x->data.i, planes, &w, out[0]->data.i, NULL, 0);
        else
            qdb_maxpool_f32(x->data.f, planes, &w, out[0]->data.f, NULL, 0);
        break;
    case POOL_AVG:
        qdb_avgpool_f32(x->data.f, planes, &w, 0, out[0]->data.f);
        break;
    case POOL_LP:
        if ((st = lp_norm(n, &p, e)) != QDB_OK)
            return st;
        qdb_lppool_f32(x->data.f, planes, &w, p, out[0]->data.f);
        break;
    }
    return QDB_OK;
}

const qdb_op qdb_op_global_max_pool = {
    .type = "GlobalMaxPool",
    .check = global_check,
    .infer = global_infer,
    .forward = global_forward,
};

const qdb_op qdb_op_global_average_pool = {
    .type = "GlobalAveragePool",
    .check = global_check,
    .infer = global_infer,
    .forward = global_forward,
};

const qdb_op qdb_op_global_lp_pool = {
    .type = "GlobalLpPool",
    .check = global_check,
    .infer = global_infer,
    .forward = global_forward,
};
