/* norm.c - normalization operators: BatchNormalization (inference mode,
 * opsets 1-15), InstanceNormalization and LRN (float32, NC...). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "op.h"
#include "window.h"

static qdb_status need_f32(const qdb_node *n, const qdb_tensor *t, const char *what, qdb_err *e)
{
    if (!t)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input '%s' is required", n->op_type, what);
    if (t->dtype != QDB_F32)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: input '%s' is %s, only float32 supported",
                           n->op_type, what, qdb_dtype_name(t->dtype));
    return QDB_OK;
}

static qdb_status float_attr(const qdb_node *n, const char *name, qdb_err *e)
{
    const qdb_attr *a = qdb_node_attr(n, name);
    if (a && a->type != QDB_ATTR_FLOAT)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: attribute '%s' must be a float", n->op_type,
                           name);
    return QDB_OK;
}

/* Product of the dimensions from index 2 on. */
static int64_t spatial_size(const qdb_shape *s)
{
    int64_t p = 1;
    for (int i = 2; i < s->ndim; i++)
        p *= s->d[i];
    return p;
}

/* ------------------------------------------------------- BatchNormalization */

static const char *const bn_attrs_v1[] = {"consumed_inputs", "epsilon", "is_test", "momentum",
                                          "spatial", NULL};
static const char *const bn_attrs_v6[] = {"epsilon", "is_test", "momentum", "spatial", NULL};
static const char *const bn_attrs_v7[] = {"epsilon", "momentum", "spatial", NULL};
static const char *const bn_attrs_v9[] = {"epsilon", "momentum", NULL};
static const char *const bn_attrs_v14[] = {"epsilon", "momentum", "training_mode", NULL};

static qdb_status bn_check(const qdb_node *n, qdb_err *e)
{
    const char *const *allowed = n->opset >= 14 ? bn_attrs_v14
                                 : n->opset >= 9 ? bn_attrs_v9
                                 : n->opset >= 7 ? bn_attrs_v7
                                 : n->opset >= 6 ? bn_attrs_v6
                                                 : bn_attrs_v1;
    qdb_status st = qdb_nn_check_attrs(n, allowed, e);
    if (st != QDB_OK || (st = float_attr(n, "epsilon", e)) != QDB_OK)
        return st;
    if (n->opset < 7 && qdb_attr_int(n, "is_test", 0) == 0)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "BatchNormalization: training mode (is_test=0) is not supported");
    if (qdb_attr_int(n, "training_mode", 0) != 0)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "BatchNormalization: training_mode=1 is not supported");
    for (int k = 1; k < n->n_out; k++)
        if (n->out[k] >= 0)
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                               "BatchNormalization: output %d (running / saved statistics) is "
                               "not supported",
                               k);
    const qdb_attr *sp = qdb_node_attr(n, "spatial");
    if (sp && (sp->type != QDB_ATTR_INT || (sp->i != 0 && sp->i != 1)))
        return qdb_err_set(e, QDB_ERR_INVALID, "BatchNormalization: spatial must be 0 or 1");
    return QDB_OK;
}

/* Entries of each parameter: C, or C * spatial when spatial=0 (opset < 9). */
static qdb_status bn_params(const qdb_node *n, const qdb_tensor *const *in, int64_t *count,
                            qdb_err *e)
{
    static const char *const names[] = {"X", "scale", "B", "mean", "var"};
    qdb_status st;
    for (int i = 0; i < 5; i++)
        if ((st = need_f32(n, qdb_op_in(n, in, i), names[i], e)) != QDB_OK)
            return st;
    const qdb_shape *xs = &in[0]->shape;
    if (xs->ndim < 2)
        return qdb_err_set(e, QDB_ERR_SHAPE, "BatchNormalization: X of rank %d, expected >= 2",
                           xs->ndim);
    const int per_element = qdb_attr_int(n, "spatial", 1) == 0;
    *count = xs->d[1] * (per_element ? spatial_size(xs) : 1);
    for (int i = 1; i < 5; i++)
        if ((int64_t)in[i]->numel != *count)
            return qdb_err_set(e, QDB_ERR_SHAPE,
                               "BatchNormalization: %s has %zu entries, expected %lld", names[i],
                               in[i]->numel, (long long)*count);
    return QDB_OK;
}

static qdb_status bn_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                           qdb_err *e)
{
    int64_t count;
    qdb_status st = bn_params(n, in, &count, e);
    if (st != QDB_OK)
        return st;
    out[0].dtype = QDB_F32;
    out[0].shape = in[0]->shape;
    for (int k = 1; k < n->n_out; k++) {
        out[k].dtype = QDB_F32;
        out[k].shape = in[1]->shape;
    }
    return QDB_OK;
}

static qdb_status bn_forward(const qdb_node *n, const qdb_tensor *const *in,
                             qdb_tensor *const *out, qdb_err *e)
{
    int64_t count;
    qdb_status st = bn_params(n, in, &count, e);
    if (st != QDB_OK)
        return st;
    const double eps = qdb_attr_float(n, "epsilon", 1e-5f);
    const qdb_shape *xs = &in[0]->shape;
    float *ab = malloc((size_t)(count > 0 ? count : 1) * sizeof *ab);
    if (!ab)
        return qdb_err_set(e, QDB_ERR_NOMEM, "BatchNormalization: out of memory");
    const float *scale = in[1]->data.f, *bias = in[2]->data.f, *mean = in[3]->data.f,
                *var = in[4]->data.f;
    for (int64_t c = 0; c < count; c++)
        ab[c] = (float)(scale[c] / sqrt((double)var[c] + eps));
    const int64_t plane = count == xs->d[1] ? spatial_size(xs) : 1;
    qdb_channel_affine(in[0]->data.f, out[0]->data.f, xs->d[0], count, plane, mean, ab, bias);
    free(ab);
    return QDB_OK;
}

const qdb_op qdb_op_batch_normalization = {
    .type = "BatchNormalization",
    .check = bn_check,
    .infer = bn_infer,
    .forward = bn_forward,
};

/* ---------------------------------------------------- InstanceNormalization */

static const char *const in_attrs[] = {"consumed_inputs", "epsilon", NULL};

static qdb_status in_check(const qdb_node *n, qdb_err *e)
{
    qdb_status st = qdb_nn_check_attrs(n, in_attrs, e);
    if (st == QDB_OK)
        st = float_attr(n, "epsilon", e);
    return st;
}

static qdb_status in_inputs(const qdb_node *n, const qdb_tensor *const *in, qdb_err *e)
{
    static const char *const names[] = {"input", "scale", "B"};
    qdb_status st;
    for (int i = 0; i < 3; i++)
        if ((st = need_f32(n, qdb_op_in(n, in, i), names[i], e)) != QDB_OK)
            return st;
    const qdb_shape *xs = &in[0]->shape;
    if (xs->ndim < 3)
        return qdb_err_set(e, QDB_ERR_SHAPE,
                           "InstanceNormalization: input of rank %d, expected >= 3", xs->ndim);
    for (int i = 1; i < 3; i++)
        if (in[i]->shape.ndim != 1 || in[i]->shape.d[0] != xs->d[1])
            return qdb_err_set(e, QDB_ERR_SHAPE,
                               "InstanceNormalization: %s must have shape [%lld]", names[i],
                               (long long)xs->d[1]);
    return QDB_OK;
}

static qdb_status in_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                           qdb_err *e)
{
    qdb_status st = in_inputs(n, in, e);
    if (st != QDB_OK)
        return st;
    out[0].dtype = QDB_F32;
    out[0].shape = in[0]->shape;
    return QDB_OK;
}

static qdb_status in_forward(const qdb_node *n, const qdb_tensor *const *in,
                             qdb_tensor *const *out, qdb_err *e)
{
    qdb_status st = in_inputs(n, in, e);
    if (st != QDB_OK)
        return st;
    const double eps = qdb_attr_float(n, "epsilon", 1e-5f);
    const qdb_shape *xs = &in[0]->shape;
    const int64_t nb = xs->d[0], ch = xs->d[1], plane = spatial_size(xs);
    const float *scale = in[1]->data.f, *bias = in[2]->data.f;
    if (plane == 0)
        return QDB_OK;
    for (int64_t i = 0; i < nb; i++)
        for (int64_t c = 0; c < ch; c++) {
            const float *x = in[0]->data.f + (i * ch + c) * plane;
            float *y = out[0]->data.f + (i * ch + c) * plane;
            double sum = 0.0, sq = 0.0;
            for (int64_t j = 0; j < plane; j++)
                sum += x[j];
            const double mean = sum / (double)plane;
            for (int64_t j = 0; j < plane; j++) {
                double d = x[j] - mean;
                sq += d * d;
            }
            const float fm = (float)mean, fa = (float)(scale[c] / sqrt(sq / (double)plane + eps));
            qdb_channel_affine(x, y, 1, 1, plane, &fm, &fa, &bias[c]);
        }
    return QDB_OK;
}

const qdb_op qdb_op_instance_normalization = {
    .type = "InstanceNormalization",
    .check = in_check,
    .infer = in_infer,
    .forward = in_forward,
};

/* ---------------------------------------------------------------------- LRN */

static const char *const lrn_attrs[] = {"alpha", "beta", "bias", "size", NULL};

static qdb_status lrn_check(const qdb_node *n, qdb_err *e)
{
    qdb_status st = qdb_nn_check_attrs(n, lrn_attrs, e);
    if (st != QDB_OK || (st = float_attr(n, "alpha", e)) != QDB_OK ||
        (st = float_attr(n, "beta", e)) != QDB_OK || (st = float_attr(n, "bias", e)) != QDB_OK)
        return st;
    const qdb_attr *a = qdb_node_attr(n, "size");
    if (!a || a->type != QDB_ATTR_INT || a->i < 1)
        return qdb_err_set(e, QDB_ERR_INVALID, "LRN: attribute 'size' (a positive int) is required");
    return QDB_OK;
}

static qdb_status lrn_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                            qdb_err *e)
{
    qdb_status st = need_f32(n, qdb_op_in(n, in, 0), "X", e);
    if (st != QDB_OK)
        return st;
    if (in[0]->shape.ndim < 2)
        return qdb_err_set(e, QDB_ERR_SHAPE, "LRN: input of rank %d, expected >= 2",
                           in[0]->shape.ndim);
    out[0].dtype = QDB_F32;
    out[0].shape = in[0]->shape;
    return QDB_OK;
}

static qdb_status lrn_forward(const qdb_node *n, const qdb_tensor *const *in,
                              qdb_tensor *const *out, qdb_err *e)
{
    const qdb_shape *xs = &in[0]->shape;
    const int64_t nb = xs->d[0], ch = xs->d[1], plane = spatial_size(xs);
    const int64_t size = qdb_attr_int(n, "size", 1);
    const float alpha = qdb_attr_float(n, "alpha", 1e-4f), beta = qdb_attr_float(n, "beta", 0.75f),
                bias = qdb_attr_float(n, "bias", 1.0f);
    const int64_t lo = (size - 1) / 2, hi = size - 1 - lo; /* channels below / above */
    const float a = alpha / (float)size;
    if (plane == 0)
        return QDB_OK;
    float *acc = malloc((size_t)plane * sizeof *acc);
    if (!acc)
        return qdb_err_set(e, QDB_ERR_NOMEM, "LRN: out of memory");
    for (int64_t i = 0; i < nb; i++) {
        const float *x = in[0]->data.f + i * ch * plane;
        float *y = out[0]->data.f + i * ch * plane;
        for (int64_t c = 0; c < ch; c++) {
            memset(acc, 0, (size_t)plane * sizeof *acc);
            const int64_t c0 = c - lo < 0 ? 0 : c - lo, c1 = c + hi >= ch ? ch - 1 : c + hi;
            for (int64_t cc = c0; cc <= c1; cc++) {
                const float *xc = x + cc * plane;
                for (int64_t j = 0; j < plane; j++)
                    acc[j] += xc[j] * xc[j];
            }
            const float *xc = x + c * plane;
            float *yc = y + c * plane;
            for (int64_t j = 0; j < plane; j++)
                yc[j] = xc[j] / powf(bias + a * acc[j], beta);
        }
    }
    free(acc);
    return QDB_OK;
}

const qdb_op qdb_op_lrn = {
    .type = "LRN",
    .check = lrn_check,
    .infer = lrn_infer,
    .forward = lrn_forward,
};
