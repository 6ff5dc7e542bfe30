/* gather.c - index-driven selection: Gather (whole slices along an axis) and
 * GatherElements (single elements along an axis). Indices are int64,
 * negative ones count from the end; out-of-range indices are an error. */
#include <string.h>

#include "op.h"
#include "tensor_util.h"

static qdb_status check_indices(const qdb_node *n, const qdb_tensor *idx, int64_t dim,
                                qdb_err *e)
{
    if (idx->dtype != QDB_I64)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: indices must be integers, not %s",
                           n->op_type, qdb_dtype_name(idx->dtype));
    for (size_t k = 0; k < idx->numel; k++) {
        int64_t j = idx->data.i[k];
        if (j < -dim || j >= dim)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: index %lld out of range [-%lld, %lld)",
                               n->op_type, (long long)j, (long long)dim, (long long)dim);
    }
    return QDB_OK;
}

/* ---- Gather ----------------------------------------------------------- */

static qdb_status gather_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                               qdb_err *e)
{
    const qdb_tensor *x = in[0], *idx = qdb_op_in(n, in, 1);
    if (!idx)
        return qdb_err_set(e, QDB_ERR_INVALID, "Gather: input 'indices' is missing");
    if (idx->dtype != QDB_I64)
        return qdb_err_set(e, QDB_ERR_INVALID, "Gather: indices must be integers, not %s",
                           qdb_dtype_name(idx->dtype));
    int axis;
    qdb_status st = qdb_op_axis(n, qdb_attr_int(n, "axis", 0), x->shape.ndim, &axis, e);
    if (st != QDB_OK)
        return st;
    int r = x->shape.ndim - 1 + idx->shape.ndim;
    if (r > QDB_MAX_DIMS)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Gather: output rank %d above %d", r,
                           QDB_MAX_DIMS);
    qdb_shape o;
    memset(&o, 0, sizeof o);
    for (int i = 0; i < axis; i++)
        o.d[o.ndim++] = x->shape.d[i];
    for (int i = 0; i < idx->shape.ndim; i++)
        o.d[o.ndim++] = idx->shape.d[i];
    for (int i = axis + 1; i < x->shape.ndim; i++)
        o.d[o.ndim++] = x->shape.d[i];
    return qdb_out_set(n, &out[0], x->dtype, &o, e);
}

static qdb_status gather_forward(const qdb_node *n, const qdb_tensor *const *in,
                                 qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0], *idx = in[1];
    int axis;
    qdb_status st = qdb_op_axis(n, qdb_attr_int(n, "axis", 0), x->shape.ndim, &axis, e);
    if (st != QDB_OK)
        return st;
    const int64_t dim = x->shape.d[axis];
    if ((st = check_indices(n, idx, dim, e)) != QDB_OK)
        return st;
    const size_t es = qdb_dtype_size(x->dtype);
    const int64_t outer = qdb_dims_prod(x->shape.d, 0, axis);
    const int64_t inner = qdb_dims_prod(x->shape.d, axis + 1, x->shape.ndim);
    const size_t blk = (size_t)inner * es;
    const char *src = x->data.p;
    char *o = out[0]->data.p;
    const int64_t *ix = idx->data.i;
    const size_t ni = idx->numel;
    if (blk == 0)
        return QDB_OK;
    for (int64_t j = 0; j < outer; j++) {
        const char *s = src + (size_t)(j * dim) * blk;
        for (size_t k = 0; k < ni; k++) {
            int64_t t = ix[k] < 0 ? ix[k] + dim : ix[k];
            memcpy(o, s + (size_t)t * blk, blk);
            o += blk;
        }
    }
    return QDB_OK;
}

const qdb_op qdb_op_gather = {
    .type = "Gather",
    .infer = gather_infer,
    .forward = gather_forward,
    .moves_values = 1,
};

/* ---- GatherElements ----------------------------------------------------- */

static qdb_status gather_el_infer(const qdb_node *n, const qdb_tensor *const *in,
                                  qdb_tensor *out, qdb_err *e)
{
    const qdb_tensor *x = in[0], *idx = qdb_op_in(n, in, 1);
    if (!idx)
        return qdb_err_set(e, QDB_ERR_INVALID, "GatherElements: input 'indices' is missing");
    if (idx->dtype != QDB_I64)
        return qdb_err_set(e, QDB_ERR_INVALID, "GatherElements: indices must be integers");
    int axis;
    qdb_status st = qdb_op_axis(n, qdb_attr_int(n, "axis", 0), x->shape.ndim, &axis, e);
    if (st != QDB_OK)
        return st;
    if (idx->shape.ndim != x->shape.ndim)
        return qdb_err_set(e, QDB_ERR_SHAPE, "GatherElements: indices of rank %d for data of "
                                             "rank %d",
                           idx->shape.ndim, x->shape.ndim);
    for (int i = 0; i < x->shape.ndim; i++)
        if (i != axis && idx->shape.d[i] > x->shape.d[i])
            return qdb_err_set(e, QDB_ERR_SHAPE,
                               "GatherElements: indices dimension %d (%lld) exceeds the data's "
                               "(%lld)",
                               i, (long long)idx->shape.d[i], (long long)x->shape.d[i]);
    return qdb_out_set(n, &out[0], x->dtype, &idx->shape, e);
}

static qdb_status gather_el_forward(const qdb_node *n, const qdb_tensor *const *in,
                                    qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0], *idx = in[1];
    int axis;
    qdb_status st = qdb_op_axis(n, qdb_attr_int(n, "axis", 0), x->shape.ndim, &axis, e);
    if (st != QDB_OK)
        return st;
    const int64_t dim = x->shape.d[axis];
    if ((st = check_indices(n, idx, dim, e)) != QDB_OK)
        return st;
    if (idx->numel == 0)
        return QDB_OK;
    const int r = x->shape.ndim;
    int64_t xs[QDB_MAX_DIMS], pos[QDB_MAX_DIMS] = {0};
    qdb_shape_strides(&x->shape, xs);
    const int64_t as = xs[axis];
    int64_t base = 0; /* data offset of pos with the axis coordinate at 0 */
    const int64_t *ix = idx->data.i;
    for (size_t k = 0; k < idx->numel; k++) {
        int64_t t = ix[k] < 0 ? ix[k] + dim : ix[k];
        int64_t off = base + t * as;
        if (x->dtype == QDB_F32)
            out[0]->data.f[k] = x->data.f[off];
        else
            out[0]->data.i[k] = x->data.i[off];
        for (int i = r - 1; i >= 0; i--) {
            if (i != axis)
                base += xs[i];
            if (++pos[i] < idx->shape.d[i])
                break;
            if (i != axis)
                base -= xs[i] * idx->shape.d[i];
            pos[i] = 0;
        }
    }
    return QDB_OK;
}

const qdb_op qdb_op_gather_elements = {
    .type = "GatherElements",
    .infer = gather_el_infer,
    .forward = gather_el_forward,
    .moves_values = 1,
};
