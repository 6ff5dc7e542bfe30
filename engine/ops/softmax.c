/* softmax.c - Softmax, LogSoftmax and Hardmax along an axis.
 *
 * Before opset 13 the input is coerced to 2-D at `axis` (default 1): every
 * row [d0*..*d(axis-1)] x [d(axis)*..*d(n-1)] is normalized as a whole.
 * From opset 13 the normalization runs along the single dimension `axis`
 * (default -1). Both reduce to (outer, len, inner) with the normalized
 * elements len apart by `inner`. The maximum is subtracted before exp. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fast_math.h"
#include "op.h"

typedef enum { SM_SOFT, SM_LOG, SM_HARD } sm_kind;

static sm_kind kind_of(const qdb_node *n)
{
    return !strcmp(n->op_type, "Softmax") ? SM_SOFT
           : !strcmp(n->op_type, "LogSoftmax") ? SM_LOG
                                               : SM_HARD;
}

static qdb_status geometry(const qdb_node *n, const qdb_shape *s, size_t *outer, size_t *len,
                           size_t *inner, qdb_err *e)
{
    int legacy = n->opset < 13;
    int axis;
    qdb_status st = qdb_op_axis(n, qdb_attr_int(n, "axis", legacy ? 1 : -1), s->ndim, &axis, e);
    if (st != QDB_OK)
        return st;
    size_t o = 1, l = 1, i = 1;
    for (int k = 0; k < s->ndim; k++) {
        size_t d = (size_t)s->d[k];
        if (k < axis)
            o *= d;
        else if (k == axis || legacy)
            l *= d;
        else
            i *= d;
    }
    *outer = o;
    *len = l;
    *inner = i;
    return QDB_OK;
}

static qdb_status check_softmax(const qdb_node *n, qdb_err *e)
{
    if (n->n_in != 1 || n->in[0] < 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: expects exactly one input, got %d",
                           n->op_type, n->n_in);
    return QDB_OK;
}

static qdb_status infer_softmax(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                                qdb_err *e)
{
    const qdb_tensor *x = qdb_op_in(n, in, 0);
    if (!x)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input is missing", n->op_type);
    if (x->dtype != QDB_F32)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: int64 input not supported", n->op_type);
    size_t o, l, i;
    qdb_status s = geometry(n, &x->shape, &o, &l, &i, e);
    if (s != QDB_OK)
        return s;
    out[0].dtype = QDB_F32;
    out[0].shape = x->shape;
    return QDB_OK;
}

/* One contiguous row of len elements. */
static void row_contig(sm_kind k, const float *x, float *y, size_t len, fexp_clamp ck)
{
    float m = x[0];
    for (size_t j = 1; j < len; j++)
        m = x[j] > m ? x[j] : m;
    if (k == SM_HARD) {
        size_t best = 0;
        for (size_t j = 1; j < len; j++)
            if (x[j] > x[best])
                best = j;
        for (size_t j = 0; j < len; j++)
            y[j] = j == best ? 1.0f : 0.0f;
        return;
    }
    QDB_VLOOP(j, len, y[j] = fast_expf(x[j] - m, ck));
    double sum = 0.0;
    for (size_t j = 0; j < len; j++)
        sum += y[j];
    if (k == SM_SOFT) {
        float r = (float)(1.0 / sum);
        QDB_VLOOP(j, len, y[j] *= r);
    } else {
        float ls = (float)log(sum); /* (x - m) - ls keeps precision for large x */
        QDB_VLOOP(j, len, y[j] = (x[j] - m) - ls);
    }
}

static qdb_status forward_softmax(const qdb_node *n, const qdb_tensor *const *in,
                                  qdb_tensor *const *out, qdb_err *e)
{
    size_t outer, len, inner;
    qdb_status s = geometry(n, &in[0]->shape, &outer, &len, &inner, e);
    if (s != QDB_OK)
        return s;
    if (in[0]->numel == 0)
        return QDB_OK;
    sm_kind k = kind_of(n);
    const fexp_clamp ck = fexp_clamp_get();
    const float *x = in[0]->data.f;
    float *y = out[0]->data.f;
    if (inner == 1) {
        for (size_t o = 0; o < outer; o++)
            row_contig(k, x + o * len, y + o * len, len, ck);
        return QDB_OK;
    }
    if (k == SM_HARD) {
        for (size_t o = 0; o < outer; o++) {
            const float *xo = x + o * len * inner;
            float *yo = y + o * len * inner;
            for (size_t j = 0; j < inner; j++) {
                size_t best = 0;
                for (size_t r = 1; r < len; r++)
                    if (xo[r * inner + j] > xo[best * inner + j])
                        best = r;
                for (size_t r = 0; r < len; r++)
                    yo[r * inner + j] = r == best ? 1.0f : 0.0f;
            }
        }
        return QDB_OK;
    }
    /* Strided axis: work on whole rows of `inner` at a time, with the
     * per-column maximum and sum in scratch buffers. */
    float *mx = malloc(inner * sizeof *mx);
    double *sum = malloc(inner * sizeof *sum);
    if (!mx || !sum) {
        s = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory for %zu-element scratch",
                        n->op_type, inner);
        goto fail;
    }
    for (size_t o = 0; o < outer; o++) {
        const float *xo = x + o * len * inner;
        float *yo = y + o * len * inner;
        memcpy(mx, xo, inner * sizeof *mx);
        for (size_t r = 1; r < len; r++)
            for (size_t j = 0; j < inner; j++)
                mx[j] = xo[r * inner + j] > mx[j] ? xo[r * inner + j] : mx[j];
        for (size_t j = 0; j < inner; j++)
            sum[j] = 0.0;
        for (size_t r = 0; r < len; r++) {
            const float *xr = xo + r * inner;
            float *yr = yo + r * inner;
            QDB_VLOOP(j, inner, yr[j] = fast_expf(xr[j] - mx[j], ck));
            QDB_VLOOP(j, inner, sum[j] += yr[j]);
        }
        if (k == SM_SOFT) {
            for (size_t j = 0; j < inner; j++)
                mx[j] = (float)(1.0 / sum[j]); /* reuse as the reciprocal */
            for (size_t r = 0; r < len; r++) {
                float *yr = yo + r * inner;
                QDB_VLOOP(j, inner, yr[j] *= mx[j]);
            }
        } else {
            for (size_t j = 0; j < inner; j++)
                sum[j] = log(sum[j]);
            for (size_t r = 0; r < len; r++) {
                const float *xr = xo + r * inner;
                float *yr = yo + r * inner;
                QDB_VLOOP(j, inner, yr[j] = (xr[j] - mx[j]) - (float)sum[j]);
            }
        }
    }
fail:
    free(mx);
    free(sum);
    return s;
}

const qdb_op qdb_math_softmax = {
    .type = "Softmax",
    .check = check_softmax,
    .infer = infer_softmax,
    .forward = forward_softmax,
};

const qdb_op qdb_math_logsoftmax = {
    .type = "LogSoftmax",
    .check = check_softmax,
    .infer = infer_softmax,
    .forward = forward_softmax,
};

const qdb_op qdb_math_hardmax = {
    .type = "Hardmax",
    .check = check_softmax,
    .infer = infer_softmax,
    .forward = forward_softmax,
};
