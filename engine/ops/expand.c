/* expand.c - replication: Expand (bidirectional broadcast to a shape) and
 * Tile (whole-tensor repetition). Both are strided copies with zero
 * strides over the repeated dimensions. */
#include <string.h>

#include "broadcast.h"
#include "op.h"
#include "tensor_util.h"

/* ---- Expand ----------------------------------------------------------- */

static qdb_status expand_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                               qdb_err *e)
{
    const qdb_tensor *sh = qdb_op_in(n, in, 1);
    if (!sh)
        return qdb_err_set(e, QDB_ERR_INVALID, "Expand: input 'shape' is missing");
    int64_t d[QDB_MAX_DIMS];
    int cnt;
    qdb_status st = qdb_const_ints(n, sh, "shape", d, QDB_MAX_DIMS, &cnt, e);
    if (st != QDB_OK)
        return st;
    for (int i = 0; i < cnt; i++)
        if (d[i] < 0)
            return qdb_err_set(e, QDB_ERR_INVALID, "Expand: negative dimension %lld",
                               (long long)d[i]);
    qdb_shape target = qdb_shape_make(cnt, d), o;
    const qdb_shape *shapes[2] = {&in[0]->shape, &target};
    if ((st = qdb_broadcast_shape(shapes, 2, &o, e)) != QDB_OK) {
        qdb_err_prefix(e, "Expand: ");
        return st;
    }
    return qdb_out_set(n, &out[0], in[0]->dtype, &o, e);
}

static qdb_status expand_forward(const qdb_node *n, const qdb_tensor *const *in,
                                 qdb_tensor *const *out, qdb_err *e)
{
    (void)n;
    (void)e;
    const qdb_tensor *x = in[0];
    qdb_tensor *y = out[0];
    int64_t strides[QDB_MAX_DIMS];
    if (y->numel == 0)
        return QDB_OK;
    qdb_broadcast_strides(&x->shape, &y->shape, strides);
    qdb_strided_copy(y->data.p, x->data.p, qdb_dtype_size(x->dtype), y->shape.ndim, y->shape.d,
                     strides);
    return QDB_OK;
}

const qdb_op qdb_op_expand = {
    .type = "Expand",
    .infer = expand_infer,
    .forward = expand_forward,
    .moves_values = 1,
};

/* ---- Tile ------------------------------------------------------------- */

static qdb_status tile_check(const qdb_node *n, qdb_err *e)
{
    if (n->opset < 6)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Tile: opset %d (tiles/axis inputs) is not "
                                                   "supported",
                           n->opset);
    if (n->n_in < 2 || n->in[1] < 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "Tile: input 'repeats' is missing");
    return QDB_OK;
}

static qdb_status tile_repeats(const qdb_node *n, const qdb_tensor *const *in, int64_t *rep,
                               qdb_err *e)
{
    int cnt;
    qdb_status st = qdb_const_ints(n, in[1], "repeats", rep, QDB_MAX_DIMS, &cnt, e);
    if (st != QDB_OK)
        return st;
    if (cnt != in[0]->shape.ndim)
        return qdb_err_set(e, QDB_ERR_INVALID, "Tile: %d repeats for rank %d", cnt,
                           in[0]->shape.ndim);
    for (int i = 0; i < cnt; i++)
        if (rep[i] < 0)
            return qdb_err_set(e, QDB_ERR_INVALID, "Tile: negative repeat %lld",
                               (long long)rep[i]);
    return QDB_OK;
}

static qdb_status tile_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                             qdb_err *e)
{
    int64_t rep[QDB_MAX_DIMS];
    qdb_status st = tile_repeats(n, in, rep, e);
    if (st != QDB_OK)
        return st;
    qdb_shape o = in[0]->shape;
    for (int i = 0; i < o.ndim; i++) {
        if (rep[i] && o.d[i] > INT64_MAX / rep[i])
            return qdb_err_set(e, QDB_ERR_NOMEM, "Tile: output too large");
        o.d[i] *= rep[i];
    }
    return qdb_out_set(n, &out[0], in[0]->dtype, &o, e);
}

static qdb_status tile_forward(const qdb_node *n, const qdb_tensor *const *in,
                               qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    int64_t rep[QDB_MAX_DIMS];
    qdb_status st = tile_repeats(n, in, rep, e);
    if (st != QDB_OK)
        return st;
    if (out[0]->numel == 0)
        return QDB_OK;
    /* Output [r0, d0, r1, d1, ...] reads input [d0, d1, ...]. */
    int64_t xs[QDB_MAX_DIMS], dims[QDB_COPY_MAX_DIMS], strides[QDB_COPY_MAX_DIMS];
    qdb_shape_strides(&x->shape, xs);
    const int r = x->shape.ndim;
    for (int i = 0; i < r; i++) {
        dims[2 * i] = rep[i];
        strides[2 * i] = 0;
        dims[2 * i + 1] = x->shape.d[i];
        strides[2 * i + 1] = xs[i];
    }
    qdb_strided_copy(out[0]->data.p, x->data.p, qdb_dtype_size(x->dtype), 2 * r, dims, strides);
    return QDB_OK;
}

const qdb_op qdb_op_tile = {
    .type = "Tile",
    .check = tile_check,
    .infer = tile_infer,
    .forward = tile_forward,
    .moves_values = 1,
};
