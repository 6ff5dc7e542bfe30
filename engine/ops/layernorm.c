/* layernorm.c - LayerNormalization (opset 17): each row over the dimensions
 * from 'axis' on is standardised (two-pass mean and variance, accumulated in
 * double), then scaled and shifted by Scale and B, which broadcast to those
 * dimensions. The optional outputs Mean and InvStdDev have X's shape with
 * the normalised dimensions set to 1. float32 only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "broadcast.h"
#include "logic_util.h"
#include "op.h"
#include "tensor_util.h"

static qdb_status ln_check(const qdb_node *n, qdb_err *e)
{
    qdb_status s = qdb_logic_inputs(n, 2, 3, e);
    if (s != QDB_OK)
        return s;
    if (n->n_out > 3)
        return qdb_err_set(e, QDB_ERR_INVALID, "LayerNormalization: %d outputs, at most 3",
                           n->n_out);
    /* stash_type: the precision of the statistics. float32 (1) is what we
     * compute (with double accumulators, which also serves double, 11). */
    int64_t st = qdb_attr_int(n, "stash_type", 1);
    if (st != 1 && st != 11)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "LayerNormalization: stash_type %lld is not supported (float or "
                           "double only)",
                           (long long)st);
    return QDB_OK;
}

/* p (Scale or B) broadcast to X's dimensions [axis, rank): its dimensions,
 * right-aligned, are 1 or equal to those, and any extra leading ones are 1. */
static qdb_status param_fits(const qdb_node *n, const qdb_tensor *p, const char *what,
                             const qdb_shape *x, int axis, qdb_err *e)
{
    if (p->dtype != QDB_F32)
        return qdb_err_set(e, QDB_ERR_INVALID, "LayerNormalization: %s must be float, not %s", what,
                           qdb_dtype_name(p->dtype));
    const int inner = x->ndim - axis;
    for (int i = 0; i < p->shape.ndim; i++) {
        const int j = i - (p->shape.ndim - inner); /* index into the normalised dims */
        const int64_t d = p->shape.d[i];
        if (d == 1 || (j >= 0 && d == x->d[axis + j]))
            continue;
        char a[160], b[160];
        return qdb_err_set(e, QDB_ERR_SHAPE,
                           "LayerNormalization: %s %s does not broadcast to the normalised "
                           "dimensions of X %s (axis %d)",
                           what, qdb_shape_str(&p->shape, a, sizeof a),
                           qdb_shape_str(x, b, sizeof b), axis);
    }
    return QDB_OK;
}

static qdb_status ln_axis(const qdb_node *n, const qdb_tensor *x, int *axis, qdb_err *e)
{
    return qdb_op_axis(n, qdb_attr_int(n, "axis", -1), x->shape.ndim, axis, e);
}

static qdb_status ln_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                           qdb_err *e)
{
    const qdb_tensor *x = in[0], *sc = qdb_op_in(n, in, 1), *b = qdb_op_in(n, in, 2);
    if (!sc)
        return qdb_err_set(e, QDB_ERR_INVALID, "LayerNormalization: input 'Scale' is missing");
    if (x->dtype != QDB_F32)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "LayerNormalization: %s input not supported",
                           qdb_dtype_name(x->dtype));
    int axis;
    qdb_status s = ln_axis(n, x, &axis, e);
    if (s == QDB_OK)
        s = param_fits(n, sc, "Scale", &x->shape, axis, e);
    if (s == QDB_OK && b)
        s = param_fits(n, b, "B", &x->shape, axis, e);
    if (s != QDB_OK)
        return s;
    if ((s = qdb_out_set(n, &out[0], QDB_F32, &x->shape, e)) != QDB_OK)
        return s;
    qdb_shape st = x->shape;
    for (int i = axis; i < st.ndim; i++)
        st.d[i] = 1;
    for (int k = 1; k < n->n_out && k < 3; k++)
        if ((s = qdb_out_set(n, &out[k], QDB_F32, &st, e)) != QDB_OK)
            return s;
    return QDB_OK;
}

/* p expanded to the `len` normalised elements of shape `inner`; returns p's
 * own data when no expansion is needed, a new buffer in *owned otherwise. */
static const float *expand_param(const qdb_tensor *p, const qdb_shape *inner, int64_t len,
                                 float **owned)
{
    *owned = NULL;
    if ((int64_t)p->numel == len)
        return p->data.f;
    float *buf = malloc((size_t)len * sizeof *buf);
    if (!buf)
        return NULL;
    /* Drop p's extra leading 1s, then walk `inner` with p's strides. */
    qdb_shape ps = p->shape;
    if (ps.ndim > inner->ndim) {
        const int drop = ps.ndim - inner->ndim;
        memmove(ps.d, ps.d + drop, (size_t)inner->ndim * sizeof ps.d[0]);
        ps.ndim = inner->ndim;
    }
    int64_t st[QDB_MAX_DIMS], c[QDB_MAX_DIMS] = {0}, off = 0;
    qdb_broadcast_strides(&ps, inner, st);
    for (int64_t i = 0; i < len; i++) {
        buf[i] = p->data.f[off];
        for (int d = inner->ndim - 1; d >= 0; d--) {
            off += st[d];
            if (++c[d] < inner->d[d])
                break;
            off -= st[d] * inner->d[d];
            c[d] = 0;
        }
    }
    *owned = buf;
    return buf;
}

static qdb_status ln_forward(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *const *out,
                             qdb_err *e)
{
    const qdb_tensor *x = in[0], *sc = in[1], *b = qdb_op_in(n, in, 2);
    qdb_tensor *y = out[0];
    qdb_tensor *mean_t = n->n_out > 1 ? out[1] : NULL, *inv_t = n->n_out > 2 ? out[2] : NULL;
    int axis;
    qdb_status s = ln_axis(n, x, &axis, e);
    if (s != QDB_OK)
        return s;
    const int64_t rows = qdb_dims_prod(x->shape.d, 0, axis);
    const int64_t len = qdb_dims_prod(x->shape.d, axis, x->shape.ndim);
    if (len == 0 || rows == 0)
        return QDB_OK;
    qdb_shape inner;
    memset(&inner, 0, sizeof inner);
    inner.ndim = x->shape.ndim - axis;
    memcpy(inner.d, x->shape.d + axis, (size_t)inner.ndim * sizeof inner.d[0]);
    float *sc_buf = NULL, *b_buf = NULL;
    const float *scale = expand_param(sc, &inner, len, &sc_buf);
    const float *bias = b ? expand_param(b, &inner, len, &b_buf) : NULL;
    if (!scale || (b && !bias)) {
        s = qdb_err_set(e, QDB_ERR_NOMEM, "LayerNormalization: out of memory");
        goto out;
    }
    const float eps = qdb_attr_float(n, "epsilon", 1e-5f);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x->data.f + r * len;
        float *yr = y->data.f + r * len;
        double sum = 0.0;
        for (int64_t i = 0; i < len; i++)
            sum += xr[i];
        const float mean = (float)(sum / (double)len);
        double ss = 0.0;
        for (int64_t i = 0; i < len; i++) {
            const double d = (double)xr[i] - (double)mean;
            ss += d * d;
        }
        const float var = (float)(ss / (double)len);
        const float inv = 1.0f / sqrtf(var + eps);
        if (bias)
            for (int64_t i = 0; i < len; i++)
                yr[i] = (xr[i] - mean) * inv * scale[i] + bias[i];
        else
            for (int64_t i = 0; i < len; i++)
                yr[i] = (xr[i] - mean) * inv * scale[i];
        if (mean_t)
            mean_t->data.f[r] = mean;
        if (inv_t)
            inv_t->data.f[r] = inv;
    }
out:
    free(sc_buf);
    free(b_buf);
    return s;
}

const qdb_op qdb_logic_layer_normalization = {
    .type = "LayerNormalization",
    .check = ln_check,
    .infer = ln_infer,
    .forward = ln_forward,
};
