/* reshape.c - operators that keep the data as it is and only change the
 * shape: Reshape, Flatten, Squeeze, Unsqueeze, and the inference-time
 * identities Identity and Dropout (whose optional mask is then all true).
 * Forward is one memcpy. */
#include <string.h>

#include "op.h"
#include "tensor_util.h"

static qdb_status copy_forward(const qdb_node *n, const qdb_tensor *const *in,
                               qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    qdb_tensor *y = out[0];
    if (!y)
        return QDB_OK;
    if (y->numel != x->numel || y->dtype != x->dtype)
        return qdb_err_set(e, QDB_ERR_SHAPE, "%s: output does not match the input (%zu vs %zu)",
                           n->op_type, y->numel, x->numel);
    if (x->numel)
        memcpy(y->data.p, x->data.p, x->numel * qdb_dtype_size(x->dtype));
    return QDB_OK;
}

static qdb_status need_input(const qdb_node *n, int i, const char *what, qdb_err *e)
{
    if (i >= n->n_in || n->in[i] < 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input '%s' is missing", n->op_type, what);
    return QDB_OK;
}

/* ---- Reshape ---------------------------------------------------------- */

static qdb_status reshape_check(const qdb_node *n, qdb_err *e)
{
    if (n->opset < 5) {
        const qdb_attr *a = qdb_node_attr(n, "shape");
        if (!a || a->type != QDB_ATTR_INTS)
            return qdb_err_set(e, QDB_ERR_INVALID, "Reshape: attribute 'shape' is missing");
        return QDB_OK;
    }
    return need_input(n, 1, "shape", e);
}

static qdb_status reshape_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                                qdb_err *e)
{
    const qdb_tensor *x = in[0];
    int64_t sh[QDB_MAX_DIMS];
    int cnt = 0;
    qdb_status st;
    if (n->opset < 5) {
        const int64_t *a = qdb_attr_ints(n, "shape", &cnt);
        if (cnt > QDB_MAX_DIMS)
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Reshape: rank %d above %d", cnt,
                               QDB_MAX_DIMS);
        if (cnt)
            memcpy(sh, a, (size_t)cnt * sizeof *sh);
    } else {
        const qdb_tensor *s = qdb_op_in(n, in, 1);
        if (!s)
            return qdb_err_set(e, QDB_ERR_INVALID, "Reshape: input 'shape' is missing");
        if ((st = qdb_const_ints(n, s, "shape", sh, QDB_MAX_DIMS, &cnt, e)) != QDB_OK)
            return st;
    }
    int allowzero = n->opset >= 14 ? (int)qdb_attr_int(n, "allowzero", 0) : 0;
    qdb_shape o;
    memset(&o, 0, sizeof o);
    o.ndim = cnt;
    int infer_at = -1, has_zero = 0;
    int64_t known = 1;
    for (int i = 0; i < cnt; i++) {
        int64_t v = sh[i];
        if (v == 0 && !allowzero) {
            if (i >= x->shape.ndim)
                return qdb_err_set(e, QDB_ERR_SHAPE,
                                   "Reshape: shape[%d] = 0 copies a dimension the input (rank "
                                   "%d) lacks",
                                   i, x->shape.ndim);
            v = x->shape.d[i];
        } else if (v == -1) {
            if (infer_at >= 0)
                return qdb_err_set(e, QDB_ERR_INVALID, "Reshape: more than one -1 in the shape");
            infer_at = i;
            o.d[i] = -1;
            continue;
        } else if (v < 0) {
            return qdb_err_set(e, QDB_ERR_INVALID, "Reshape: invalid dimension %lld",
                               (long long)v);
        }
        if (v == 0)
            has_zero = 1;
        o.d[i] = v;
        if (v && known > INT64_MAX / v)
            return qdb_err_set(e, QDB_ERR_SHAPE, "Reshape: shape too large");
        known *= v;
    }
    int64_t total = (int64_t)x->numel;
    if (infer_at >= 0) {
        if (has_zero || known == 0)
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "Reshape: cannot infer the -1 dimension next to a 0 dimension");
        if (total % known)
            return qdb_err_set(e, QDB_ERR_SHAPE,
                               "Reshape: %lld elements do not fit a shape with known product "
                               "%lld",
                               (long long)total, (long long)known);
        o.d[infer_at] = total / known;
        known = total;
    }
    if (known != total) {
        char a[160], b[160];
        return qdb_err_set(e, QDB_ERR_SHAPE, "Reshape: cannot reshape %s into %s",
                           qdb_shape_str(&x->shape, a, sizeof a), qdb_shape_str(&o, b, sizeof b));
    }
    return qdb_out_set(n, &out[0], x->dtype, &o, e);
}

const qdb_op qdb_op_reshape = {
    .type = "Reshape",
    .check = reshape_check,
    .infer = reshape_infer,
    .forward = copy_forward,
    .moves_values = 1,
};

/* ---- Flatten ---------------------------------------------------------- */

static qdb_status flatten_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                                qdb_err *e)
{
    const qdb_shape *s = &in[0]->shape;
    int64_t axis = qdb_attr_int(n, "axis", 1);
    int r = s->ndim;
    if (axis < 0 && n->opset >= 11)
        axis += r;
    if (axis < 0 || axis > r)
        return qdb_err_set(e, QDB_ERR_INVALID, "Flatten: axis %lld out of range for rank %d",
                           (long long)qdb_attr_int(n, "axis", 1), r);
    int64_t d[2] = {qdb_dims_prod(s->d, 0, (int)axis), qdb_dims_prod(s->d, (int)axis, r)};
    qdb_shape o = qdb_shape_make(2, d);
    return qdb_out_set(n, &out[0], in[0]->dtype, &o, e);
}

const qdb_op qdb_op_flatten = {
    .type = "Flatten",
    .infer = flatten_infer,
    .forward = copy_forward,
    .moves_values = 1,
};

/* ---- Squeeze / Unsqueeze ---------------------------------------------- */

/* The axes of Squeeze / Unsqueeze: attribute before opset 13, input after.
 * *present is 0 when none are given. */
static qdb_status get_axes(const qdb_node *n, const qdb_tensor *const *in, int64_t *axes,
                           int *cnt, int *present, qdb_err *e)
{
    *cnt = 0;
    *present = 0;
    if (n->opset < 13) {
        const qdb_attr *a = qdb_node_attr(n, "axes");
        if (!a)
            return QDB_OK;
        if (a->type != QDB_ATTR_INTS)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: attribute 'axes' must be ints",
                               n->op_type);
        if (a->n > QDB_MAX_DIMS)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: %d axes (at most %d)", n->op_type, a->n,
                               QDB_MAX_DIMS);
        memcpy(axes, a->ints, (size_t)a->n * sizeof *axes);
        *cnt = a->n;
        *present = 1;
        return QDB_OK;
    }
    const qdb_tensor *t = qdb_op_in(n, in, 1);
    if (!t)
        return QDB_OK;
    *present = 1;
    return qdb_const_ints(n, t, "axes", axes, QDB_MAX_DIMS, cnt, e);
}

static qdb_status squeeze_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                                qdb_err *e)
{
    const qdb_shape *s = &in[0]->shape;
    int64_t axes[QDB_MAX_DIMS];
    int cnt, present;
    qdb_status st = get_axes(n, in, axes, &cnt, &present, e);
    if (st != QDB_OK)
        return st;
    int drop[QDB_MAX_DIMS] = {0};
    if (!present) {
        for (int i = 0; i < s->ndim; i++)
            drop[i] = s->d[i] == 1;
    } else {
        for (int k = 0; k < cnt; k++) {
            int a;
            if ((st = qdb_op_axis(n, axes[k], s->ndim, &a, e)) != QDB_OK)
                return st;
            if (s->d[a] != 1)
                return qdb_err_set(e, QDB_ERR_SHAPE,
                                   "Squeeze: dimension %d has size %lld, not 1", a,
                                   (long long)s->d[a]);
            drop[a] = 1;
        }
    }
    qdb_shape o;
    memset(&o, 0, sizeof o);
    for (int i = 0; i < s->ndim; i++)
        if (!drop[i])
            o.d[o.ndim++] = s->d[i];
    return qdb_out_set(n, &out[0], in[0]->dtype, &o, e);
}

const qdb_op qdb_op_squeeze = {
    .type = "Squeeze",
    .infer = squeeze_infer,
    .forward = copy_forward,
    .moves_values = 1,
};

static qdb_status unsqueeze_check(const qdb_node *n, qdb_err *e)
{
    if (n->opset < 13) {
        const qdb_attr *a = qdb_node_attr(n, "axes");
        if (!a || a->type != QDB_ATTR_INTS)
            return qdb_err_set(e, QDB_ERR_INVALID, "Unsqueeze: attribute 'axes' is missing");
        return QDB_OK;
    }
    return need_input(n, 1, "axes", e);
}

static qdb_status unsqueeze_infer(const qdb_node *n, const qdb_tensor *const *in,
                                  qdb_tensor *out, qdb_err *e)
{
    const qdb_shape *s = &in[0]->shape;
    int64_t axes[QDB_MAX_DIMS];
    int cnt, present;
    qdb_status st = get_axes(n, in, axes, &cnt, &present, e);
    if (st != QDB_OK)
        return st;
    if (!present)
        return qdb_err_set(e, QDB_ERR_INVALID, "Unsqueeze: 'axes' is missing");
    int r = s->ndim + cnt;
    if (r > QDB_MAX_DIMS)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Unsqueeze: output rank %d above %d", r,
                           QDB_MAX_DIMS);
    int ins[QDB_MAX_DIMS] = {0};
    for (int k = 0; k < cnt; k++) {
        int a;
        if ((st = qdb_op_axis(n, axes[k], r, &a, e)) != QDB_OK)
            return st;
        if (ins[a])
            return qdb_err_set(e, QDB_ERR_INVALID, "Unsqueeze: axis %d repeated", a);
        ins[a] = 1;
    }
    qdb_shape o;
    memset(&o, 0, sizeof o);
    o.ndim = r;
    for (int i = 0, j = 0; i < r; i++)
        o.d[i] = ins[i] ? 1 : s->d[j++];
    return qdb_out_set(n, &out[0], in[0]->dtype, &o, e);
}

const qdb_op qdb_op_unsqueeze = {
    .type = "Unsqueeze",
    .check = unsqueeze_check,
    .infer = unsqueeze_infer,
    .forward = copy_forward,
    .moves_values = 1,
};

/* ---- Identity / Dropout ----------------------------------------------- */

static qdb_status identity_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                                 qdb_err *e)
{
    return qdb_out_set(n, &out[0], in[0]->dtype, &in[0]->shape, e);
}

const qdb_op qdb_op_identity = {
    .type = "Identity",
    .infer = identity_infer,
    .forward = copy_forward,
    .moves_values = 1,
};

static qdb_status dropout_check(const qdb_node *n, qdb_err *e)
{
    qdb_status s = need_input(n, 0, "data", e);
    if (s != QDB_OK)
        return s;
    if (n->opset < 7 && qdb_attr_int(n, "is_test", 0) == 0)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "Dropout: training mode (is_test=0) is not supported");
    return QDB_OK;
}

/* Is scalar t non-zero? -1 when its value is not known yet. */
static int scalar_nonzero(const qdb_tensor *t)
{
    if (!t->data.p)
        return -1;
    return t->dtype == QDB_I64 ? t->data.i[0] != 0 : t->data.f[0] != 0.0f;
}

static qdb_status dropout_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                                qdb_err *e)
{
    /* From opset 12 the mode is an input: only inference (training_mode
     * false), or a ratio of 0, where dropout is the identity. Inputs known
     * only at run time are judged then (infer runs again with their data). */
    const qdb_tensor *tm = n->opset >= 12 ? qdb_op_in(n, in, 2) : NULL;
    if (tm) {
        if (tm->numel != 1)
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "Dropout: input 'training_mode' must be a scalar");
        if (scalar_nonzero(tm) == 1) {
            const qdb_tensor *r = qdb_op_in(n, in, 1);
            if (r && r->numel != 1)
                return qdb_err_set(e, QDB_ERR_INVALID, "Dropout: input 'ratio' must be a scalar");
            /* ratio defaults to 0.5 */
            if (!r || scalar_nonzero(r) == 1)
                return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                                   "Dropout: training mode with a non-zero ratio is not "
                                   "supported");
        }
    }
    qdb_status s = qdb_out_set(n, &out[0], in[0]->dtype, &in[0]->shape, e);
    /* The mask: all true (kept) when dropout is the identity; bool (held as
     * int64) from opset 10, the input's type before. */
    if (s == QDB_OK && n->n_out > 1)
        s = qdb_out_set(n, &out[1], n->opset >= 10 ? QDB_I64 : in[0]->dtype, &in[0]->shape, e);
    return s;
}

static qdb_status dropout_forward(const qdb_node *n, const qdb_tensor *const *in,
                                  qdb_tensor *const *out, qdb_err *e)
{
    qdb_status s = copy_forward(n, in, out, e);
    qdb_tensor *m = n->n_out > 1 ? out[1] : NULL;
    if (s != QDB_OK || !m)
        return s;
    if (m->dtype == QDB_I64)
        for (size_t k = 0; k < m->numel; k++)
            m->data.i[k] = 1;
    else
        for (size_t k = 0; k < m->numel; k++)
            m->data.f[k] = 1.0f;
    return QDB_OK;
}

const qdb_op qdb_op_dropout = {
    .type = "Dropout",
    .check = dropout_check,
    .infer = dropout_infer,
    .forward = dropout_forward,
    .moves_values = 1,
};
