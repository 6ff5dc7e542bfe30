/* concat_split.c - joining and cutting along one axis: Concat and Split.
 * Both view tensors as [outer, axis, inner] and move contiguous blocks. */
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "tensor_util.h"

/* ---- Concat ----------------------------------------------------------- */

static qdb_status concat_check(const qdb_node *n, qdb_err *e)
{
    if (n->opset >= 4 && !qdb_node_attr(n, "axis"))
        return qdb_err_set(e, QDB_ERR_INVALID, "Concat: attribute 'axis' is missing");
    return QDB_OK;
}

static qdb_status concat_axis(const qdb_node *n, const qdb_tensor *const *in, int *axis,
                              const qdb_tensor **first, qdb_err *e)
{
    *first = NULL;
    for (int k = 0; k < n->n_in && !*first; k++)
        *first = in[k];
    if (!*first)
        return qdb_err_set(e, QDB_ERR_INVALID, "Concat: no inputs");
    return qdb_op_axis(n, qdb_attr_int(n, "axis", 1), (*first)->shape.ndim, axis, e);
}

static qdb_status concat_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                               qdb_err *e)
{
    const qdb_tensor *f;
    int axis;
    qdb_status st = concat_axis(n, in, &axis, &f, e);
    if (st != QDB_OK)
        return st;
    qdb_shape o = f->shape;
    o.d[axis] = 0;
    for (int k = 0; k < n->n_in; k++) {
        const qdb_tensor *t = in[k];
        if (!t)
            continue;
        if (t->dtype != f->dtype)
            return qdb_err_set(e, QDB_ERR_INVALID, "Concat: inputs mix %s and %s",
                               qdb_dtype_name(f->dtype), qdb_dtype_name(t->dtype));
        int ok = t->shape.ndim == f->shape.ndim;
        for (int i = 0; ok && i < f->shape.ndim; i++)
            ok = i == axis || t->shape.d[i] == f->shape.d[i];
        if (!ok) {
            char a[160], b[160];
            return qdb_err_set(e, QDB_ERR_SHAPE, "Concat: input %d %s does not fit %s on axis %d",
                               k, qdb_shape_str(&t->shape, a, sizeof a),
                               qdb_shape_str(&f->shape, b, sizeof b), axis);
        }
        o.d[axis] += t->shape.d[axis];
    }
    return qdb_out_set(n, &out[0], f->dtype, &o, e);
}

static qdb_status concat_forward(const qdb_node *n, const qdb_tensor *const *in,
                                 qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *f;
    int axis;
    qdb_status st = concat_axis(n, in, &axis, &f, e);
    if (st != QDB_OK)
        return st;
    const size_t es = qdb_dtype_size(f->dtype);
    const int64_t outer = qdb_dims_prod(f->shape.d, 0, axis);
    const int64_t inner = qdb_dims_prod(f->shape.d, axis + 1, f->shape.ndim);
    const size_t row = (size_t)(out[0]->shape.d[axis] * inner) * es;
    char *o = out[0]->data.p;
    size_t at = 0;
    for (int k = 0; k < n->n_in; k++) {
        const qdb_tensor *t = in[k];
        if (!t)
            continue;
        const size_t blk = (size_t)(t->shape.d[axis] * inner) * es;
        if (blk == 0)
            continue;
        const char *src = t->data.p;
        for (int64_t j = 0; j < outer; j++)
            memcpy(o + (size_t)j * row + at, src + (size_t)j * blk, blk);
        at += blk;
    }
    return QDB_OK;
}

const qdb_op qdb_op_concat = {
    .type = "Concat",
    .check = concat_check,
    .infer = concat_infer,
    .forward = concat_forward,
    .moves_values = 1,
};

/* ---- Split ------------------------------------------------------------ */

static qdb_status split_check(const qdb_node *n, qdb_err *e)
{
    if (n->n_out < 1)
        return qdb_err_set(e, QDB_ERR_INVALID, "Split: no outputs");
    if (n->opset >= 18) {
        const qdb_attr *a = qdb_node_attr(n, "num_outputs");
        if (a && qdb_attr_int(n, "num_outputs", 0) != n->n_out)
            return qdb_err_set(e, QDB_ERR_INVALID, "Split: num_outputs = %lld but %d outputs",
                               (long long)qdb_attr_int(n, "num_outputs", 0), n->n_out);
        if (a && n->n_in > 1 && n->in[1] >= 0)
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "Split: both input 'split' and attribute 'num_outputs' given");
    }
    return QDB_OK;
}

/* Sizes of the n->n_out parts along *axis into sizes[] (n->n_out entries). */
static qdb_status split_sizes(const qdb_node *n, const qdb_tensor *const *in, int *axis,
                              int64_t *sizes, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    qdb_status st = qdb_op_axis(n, qdb_attr_int(n, "axis", 0), x->shape.ndim, axis, e);
    if (st != QDB_OK)
        return st;
    const int64_t dim = x->shape.d[*axis];
    const int k = n->n_out;
    const int64_t *sp = NULL;
    int cnt = 0;
    if (n->opset >= 13 || (n->opset < 2 && qdb_op_in(n, in, 1))) {
        const qdb_tensor *t = qdb_op_in(n, in, 1);
        if (t && t->numel > 0) {
            if (!t->data.p)
                return qdb_err_set(e, QDB_ERR_DYNAMIC,
                                   "Split: input 'split' is known only at run time");
            if (t->dtype != QDB_I64 || t->shape.ndim > 1)
                return qdb_err_set(e, QDB_ERR_INVALID, "Split: input 'split' must be 1-D int64");
            sp = t->data.i;
            cnt = (int)(t->numel > (size_t)k + 1 ? (size_t)k + 1 : t->numel);
        }
    } else {
        sp = qdb_attr_ints(n, "split", &cnt);
    }
    if (sp) {
        if (cnt != k)
            return qdb_err_set(e, QDB_ERR_INVALID, "Split: %d split sizes for %d outputs", cnt, k);
        int64_t sum = 0;
        for (int i = 0; i < k; i++) {
            if (sp[i] < 0 || sp[i] > dim)
                return qdb_err_set(e, QDB_ERR_INVALID, "Split: invalid split size %lld",
                                   (long long)sp[i]);
            sizes[i] = sp[i];
            sum += sp[i];
        }
        if (sum != dim)
            return qdb_err_set(e, QDB_ERR_SHAPE,
                               "Split: split sizes add up to %lld, dimension %d has %lld",
                               (long long)sum, *axis, (long long)dim);
        return QDB_OK;
    }
    if (n->opset >= 18) {
        /* Chunks of ceil(dim / k); the last ones may be smaller. */
        int64_t chunk = (dim + k - 1) / k, left = dim;
        for (int i = 0; i < k; i++) {
            sizes[i] = left < chunk ? left : chunk;
            left -= sizes[i];
        }
        return QDB_OK;
    }
    if (dim % k)
        return qdb_err_set(e, QDB_ERR_SHAPE,
                           "Split: dimension %d of size %lld does not split into %d equal parts",
                           *axis, (long long)dim, k);
    for (int i = 0; i < k; i++)
        sizes[i] = dim / k;
    return QDB_OK;
}

static qdb_status split_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                              qdb_err *e)
{
    int64_t *sizes = malloc((size_t)n->n_out * sizeof *sizes);
    if (!sizes)
        return qdb_err_set(e, QDB_ERR_NOMEM, "Split: out of memory");
    int axis;
    qdb_status st = split_sizes(n, in, &axis, sizes, e);
    for (int k = 0; st == QDB_OK && k < n->n_out; k++) {
        qdb_shape o = in[0]->shape;
        o.d[axis] = sizes[k];
        st = qdb_out_set(n, &out[k], in[0]->dtype, &o, e);
    }
    free(sizes);
    return st;
}

static qdb_status split_forward(const qdb_node *n, const qdb_tensor *const *in,
                                qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    int64_t *sizes = malloc((size_t)n->n_out * sizeof *sizes);
    if (!sizes)
        return qdb_err_set(e, QDB_ERR_NOMEM, "Split: out of memory");
    int axis;
    qdb_status st = split_sizes(n, in, &axis, sizes, e);
    if (st != QDB_OK)
        goto out;
    const size_t es = qdb_dtype_size(x->dtype);
    const int64_t outer = qdb_dims_prod(x->shape.d, 0, axis);
    const int64_t inner = qdb_dims_prod(x->shape.d, axis + 1, x->shape.ndim);
    const size_t row = (size_t)(x->shape.d[axis] * inner) * es;
    const char *src = x->data.p;
    size_t at = 0;
    for (int k = 0; k < n->n_out; k++) {
        const size_t blk = (size_t)(sizes[k] * inner) * es;
        if (out[k] && blk)
            for (int64_t j = 0; j < outer; j++)
                memcpy((char *)out[k]->data.p + (size_t)j * blk, src + (size_t)j * row + at, blk);
        at += blk;
    }
out:
    free(sizes);
    return st;
}

const qdb_op qdb_op_split = {
    .type = "Split",
    .check = split_check,
    .infer = split_infer,
    .forward = split_forward,
    .moves_values = 1,
};
