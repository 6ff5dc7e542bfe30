/* resize.c - Resize (opsets 10..19) and Upsample (opsets 7, 9): nearest,
 * linear and cubic interpolation over any number of axes, all coordinate
 * transformation modes (tf_crop_and_resize with a constant roi), scales or
 * sizes, axes, keep_aspect_ratio_policy and antialias (opset 18).
 *
 * Interpolation is separable: each resized axis gets a table of taps
 * (input index, weight) per output coordinate, computed the way the ONNX
 * reference does, and the axes are resampled one after the other (shrinking
 * axes first, so no intermediate exceeds the larger of input and output).
 * Axes whose taps are the identity are skipped. Resize-10 and Upsample use
 * the asymmetric transform and, for nearest, onnxruntime's rule (floor when
 * upsampling, ceil when downsampling), which these versions leave
 * unspecified. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "tensor_util.h"

enum { M_NEAREST, M_LINEAR, M_CUBIC };
enum { C_HALF_PIXEL, C_ASYMMETRIC, C_PYTORCH_HALF_PIXEL, C_TF_HALF_PIXEL_FOR_NN, C_ALIGN_CORNERS,
       C_TF_CROP_AND_RESIZE, C_HALF_PIXEL_SYMMETRIC };
enum { N_ROUND_PREFER_FLOOR, N_ROUND_PREFER_CEIL, N_FLOOR, N_CEIL, N_SIMPLE };
enum { K_STRETCH, K_NOT_LARGER, K_NOT_SMALLER };

typedef struct {
    int mode, ctm, nearest, keep_ratio;
    int exclude_outside, antialias;
    float cubic_a, extrapolation;
    int legacy; /* Upsample, Resize-10 */
} rz_attrs;

typedef struct {
    qdb_shape out;
    double scale[QDB_MAX_DIMS];
    double roi_s[QDB_MAX_DIMS], roi_e[QDB_MAX_DIMS];
} rz_plan;

static int lookup(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static qdb_status rz_parse(const qdb_node *n, rz_attrs *a, qdb_err *e)
{
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    static const char *const ctms[] = {"half_pixel",         "asymmetric",
                                       "pytorch_half_pixel", "tf_half_pixel_for_nn",
                                       "align_corners",      "tf_crop_and_resize",
                                       "half_pixel_symmetric"};
    static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                           "ceil"};
    static const char *const ratios[] = {"stretch", "not_larger", "not_smaller"};
    const int upsample = strcmp(n->op_type, "Upsample") == 0;
    memset(a, 0, sizeof *a);
    a->legacy = upsample || n->opset < 11;
    if (upsample && n->opset < 7)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Upsample: opset %d is not supported",
                           n->opset);
    const char *m = qdb_attr_string(n, "mode", "nearest");
    a->mode = lookup(m, modes, 3);
    if (a->mode < 0 || (a->legacy && a->mode == M_CUBIC))
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: mode '%s' is not supported", n->op_type,
                           m);
    if (a->legacy) {
        a->ctm = C_ASYMMETRIC;
        a->nearest = N_SIMPLE;
        return QDB_OK;
    }
    const char *c = qdb_attr_string(n, "coordinate_transformation_mode", "half_pixel");
    a->ctm = lookup(c, ctms, 7);
    if (a->ctm < 0 || (a->ctm == C_HALF_PIXEL_SYMMETRIC && n->opset < 19))
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "Resize: coordinate_transformation_mode '%s' is not supported", c);
    const char *nm = qdb_attr_string(n, "nearest_mode", "round_prefer_floor");
    a->nearest = lookup(nm, nearests, 4);
    if (a->nearest < 0)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Resize: nearest_mode '%s' is not supported",
                           nm);
    a->cubic_a = qdb_attr_float(n, "cubic_coeff_a", -0.75f);
    a->exclude_outside = qdb_attr_int(n, "exclude_outside", 0) != 0;
    a->extrapolation = qdb_attr_float(n, "extrapolation_value", 0.0f);
    if (n->opset >= 18) {
        /* Antialiasing only changes linear and cubic downsampling. */
        a->antialias = qdb_attr_int(n, "antialias", 0) != 0 && a->mode != M_NEAREST;
        const char *k = qdb_attr_string(n, "keep_aspect_ratio_policy", "stretch");
        a->keep_ratio = lookup(k, ratios, 3);
        if (a->keep_ratio < 0)
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                               "Resize: keep_aspect_ratio_policy '%s' is not supported", k);
    }
    return QDB_OK;
}

static qdb_status rz_check(const qdb_node *n, qdb_err *e)
{
    rz_attrs a;
    qdb_status st = rz_parse(n, &a, e);
    if (st != QDB_OK)
        return st;
    if (strcmp(n->op_type, "Upsample") == 0 && n->opset < 9) {
        const qdb_attr *s = qdb_node_attr(n, "scales");
        if (!s || s->type != QDB_ATTR_FLOATS)
            return qdb_err_set(e, QDB_ERR_INVALID, "Upsample: attribute 'scales' is missing");
    }
    return QDB_OK;
}

/* Float values of constant input t (scales, roi). */
static qdb_status const_floats(const qdb_node *n, const qdb_tensor *t, const char *what,
                               double *buf, int max, int *cnt, qdb_err *e)
{
    if (!t->data.p)
        return qdb_err_set(e, QDB_ERR_DYNAMIC, "%s: input '%s' is known only at run time",
                           n->op_type, what);
    if (t->dtype != QDB_F32 || t->shape.ndim > 1 || t->numel > (size_t)max)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input '%s' must be a float vector of at most "
                                               "%d elements",
                           n->op_type, what, max);
    for (size_t k = 0; k < t->numel; k++)
        buf[k] = t->data.f[k];
    *cnt = (int)t->numel;
    return QDB_OK;
}

static qdb_status rz_plan_make(const qdb_node *n, const qdb_tensor *const *in, const rz_attrs *a,
                               rz_plan *p, qdb_err *e)
{
    const qdb_shape *s = &in[0]->shape;
    const int r = s->ndim;
    const int upsample = strcmp(n->op_type, "Upsample") == 0;
    int axes[QDB_MAX_DIMS], na = r;
    qdb_status st;
    for (int i = 0; i < r; i++)
        axes[i] = i;
    if (!a->legacy && n->opset >= 18 && qdb_node_attr(n, "axes")) {
        int cnt;
        const int64_t *ax = qdb_attr_ints(n, "axes", &cnt);
        if (cnt > r)
            return qdb_err_set(e, QDB_ERR_INVALID, "Resize: %d axes for rank %d", cnt, r);
        int seen[QDB_MAX_DIMS] = {0};
        for (int k = 0; k < cnt; k++) {
            if ((st = qdb_op_axis(n, ax[k], r, &axes[k], e)) != QDB_OK)
                return st;
            if (seen[axes[k]]++)
                return qdb_err_set(e, QDB_ERR_INVALID, "Resize: axis %d repeated", axes[k]);
        }
        na = cnt;
    }

    /* The scales / sizes inputs of this op and opset. */
    const qdb_tensor *ts = NULL, *tz = NULL, *troi = NULL;
    double sc[QDB_MAX_DIMS];
    int nsc = 0;
    if (upsample && n->opset < 9) {
        const float *f = qdb_attr_floats(n, "scales", &nsc);
        if (nsc > QDB_MAX_DIMS)
            nsc = QDB_MAX_DIMS + 1;
        for (int k = 0; k < nsc && k < QDB_MAX_DIMS; k++)
            sc[k] = f[k];
    } else if (a->legacy) {
        ts = qdb_op_in(n, in, 1);
        if (!ts)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: input 'scales' is missing", n->op_type);
    } else {
        troi = qdb_op_in(n, in, 1);
        ts = qdb_op_in(n, in, 2);
        tz = qdb_op_in(n, in, 3);
        if (ts && ts->numel == 0)
            ts = NULL;
        if (tz && tz->numel == 0)
            tz = NULL;
        if (ts && tz)
            return qdb_err_set(e, QDB_ERR_INVALID, "Resize: both 'scales' and 'sizes' given");
        if (!ts && !tz)
            return qdb_err_set(e, QDB_ERR_INVALID, "Resize: neither 'scales' nor 'sizes' given");
    }
    if (ts && (st = const_floats(n, ts, "scales", sc, QDB_MAX_DIMS, &nsc, e)) != QDB_OK)
        return st;

    p->out = *s;
    for (int i = 0; i < r; i++) {
        p->scale[i] = 1.0;
        p->roi_s[i] = 0.0;
        p->roi_e[i] = 1.0;
    }
    if (tz) {
        int64_t sz[QDB_MAX_DIMS];
        int nsz;
        if ((st = qdb_const_ints(n, tz, "sizes", sz, QDB_MAX_DIMS, &nsz, e)) != QDB_OK)
            return st;
        if (nsz != na)
            return qdb_err_set(e, QDB_ERR_INVALID, "Resize: %d sizes for %d axes", nsz, na);
        double kr = a->keep_ratio == K_NOT_LARGER ? INFINITY : 0.0;
        for (int k = 0; k < na; k++) {
            int i = axes[k];
            if (sz[k] < 0 || sz[k] > ((int64_t)1 << 40))
                return qdb_err_set(e, QDB_ERR_INVALID, "Resize: invalid size %lld",
                                   (long long)sz[k]);
            if (s->d[i] == 0) {
                if (sz[k] != 0)
                    return qdb_err_set(e, QDB_ERR_SHAPE,
                                       "Resize: cannot resize an empty axis %d to %lld", i,
                                       (long long)sz[k]);
                continue;
            }
            p->out.d[i] = sz[k];
            p->scale[i] = (double)sz[k] / (double)s->d[i];
            if (a->keep_ratio == K_NOT_LARGER && p->scale[i] < kr)
                kr = p->scale[i];
            if (a->keep_ratio == K_NOT_SMALLER && p->scale[i] > kr)
                kr = p->scale[i];
        }
        if (a->keep_ratio != K_STRETCH)
            for (int k = 0; k < na; k++) {
                int i = axes[k];
                if (s->d[i] == 0)
                    continue;
                p->scale[i] = kr;
                p->out.d[i] = (int64_t)(kr * (double)s->d[i] + 0.5);
            }
    } else {
        if (nsc != na)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: %d scales for %d axes", n->op_type, nsc,
                               na);
        if (a->ctm == C_TF_CROP_AND_RESIZE)
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                               "Resize: tf_crop_and_resize with 'scales' is not supported (give "
                               "'sizes')");
        for (int k = 0; k < na; k++) {
            int i = axes[k];
            if (!(sc[k] > 0.0) || sc[k] > 1e6)
                return qdb_err_set(e, QDB_ERR_INVALID, "%s: invalid scale %g", n->op_type, sc[k]);
            p->scale[i] = sc[k];
            double o = floor(sc[k] * (double)s->d[i]);
            if (o > (double)((int64_t)1 << 40))
                return qdb_err_set(e, QDB_ERR_NOMEM, "%s: output too large", n->op_type);
            p->out.d[i] = (int64_t)o;
        }
    }
    if (a->ctm == C_TF_CROP_AND_RESIZE) {
        double roi[2 * QDB_MAX_DIMS];
        int nr;
        if (!troi)
            return qdb_err_set(e, QDB_ERR_INVALID, "Resize: tf_crop_and_resize needs 'roi'");
        if ((st = const_floats(n, troi, "roi", roi, 2 * QDB_MAX_DIMS, &nr, e)) != QDB_OK)
            return st;
        if (nr != 2 * na)
            return qdb_err_set(e, QDB_ERR_INVALID, "Resize: roi has %d values for %d axes", nr,
                               na);
        for (int k = 0; k < na; k++) {
            p->roi_s[axes[k]] = roi[k];
            p->roi_e[axes[k]] = roi[na + k];
        }
    }
    return QDB_OK;
}

static qdb_status rz_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                           qdb_err *e)
{
    rz_attrs a;
    rz_plan p;
    qdb_status st = rz_parse(n, &a, e);
    if (st != QDB_OK)
        return st;
    if (in[0]->dtype != QDB_F32)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: only float tensors are supported",
                           n->op_type);
    if ((st = rz_plan_make(n, in, &a, &p, e)) != QDB_OK)
        return st;
    return qdb_out_set(n, &out[0], QDB_F32, &p.out, e);
}

/* ---- taps ------------------------------------------------------------- */

/* Input coordinate of output coordinate x along an axis of input length
 * len_in and output length len_out resized by `scale`. */
static double rz_coord(const rz_attrs *a, double x, double scale, int64_t len_in,
                       int64_t len_out, double roi_s, double roi_e)
{
    const double in = (double)len_in;
    const double out_f = scale * in; /* the reference's (unfloored) output length */
    switch (a->ctm) {
    case C_ASYMMETRIC:
        return x / scale;
    case C_PYTORCH_HALF_PIXEL:
        return len_out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case C_TF_HALF_PIXEL_FOR_NN:
        return (x + 0.5) / scale;
    case C_ALIGN_CORNERS:
        return (len_out == 1 || out_f == 1.0) ? 0.0 : x * (in - 1) / (out_f - 1);
    case C_TF_CROP_AND_RESIZE:
        if (len_out == 1 || out_f == 1.0)
            return (roi_e - roi_s) * (in - 1) / 2 + roi_s * (in - 1);
        return x * (roi_e - roi_s) * (in - 1) / (out_f - 1) + roi_s * (in - 1);
    case C_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)len_out / out_f;
        double offset = in / 2 * (1 - adj);
        return offset + (x + 0.5) / scale - 0.5;
    }
    default: /* half_pixel */
        return (x + 0.5) / scale - 0.5;
    }
}

static int64_t clampi(int64_t v, int64_t n)
{
    return v < 0 ? 0 : v >= n ? n - 1 : v;
}

typedef struct {
    int k;        /* taps per output coordinate */
    int extrap;   /* some output coordinates take the extrapolation value */
    int64_t *idx; /* [m * k] input indices; idx[o*k] < 0: extrapolate */
    float *w;     /* [m * k] weights */
} rz_taps;

/* Taps per output coordinate along an axis resized by `scale`. With
 * antialiasing, downsampling stretches the filter by 1 / scale: linear
 * covers (-1/scale, 1/scale), cubic (-2/scale, 2/scale). */
static double rz_tap_count(const rz_attrs *a, double scale)
{
    if (a->mode == M_NEAREST)
        return 1;
    if (!a->antialias || scale >= 1.0)
        return a->mode == M_LINEAR ? 2 : 4;
    const double support = a->mode == M_LINEAR ? 1.0 : 2.0;
    return 2 - 2 * (floor(-support / scale) + 1);
}

/* The antialiasing filter at distance u (in output pixels). */
static double rz_aa_weight(const rz_attrs *a, double u)
{
    const double A = a->cubic_a;
    u = fabs(u);
    if (a->mode == M_LINEAR)
        return u < 1 ? 1 - u : 0;
    if (u <= 1)
        return ((A + 2) * u - (A + 3)) * u * u + 1;
    if (u < 2)
        return ((A * u - 5 * A) * u + 8 * A) * u - 4 * A;
    return 0;
}

/* Fill the taps of one axis; returns 1 when they are the identity. */
static int rz_axis_taps(const rz_attrs *a, const rz_plan *p, int axis, int64_t n, rz_taps *t)
{
    const int64_t m = p->out.d[axis];
    const int K = t->k;
    int identity = m == n;
    for (int64_t o = 0; o < m; o++) {
        int64_t *ix = t->idx + o * K;
        float *w = t->w + o * K;
        double x = rz_coord(a, (double)o, p->scale[axis], n, m, p->roi_s[axis], p->roi_e[axis]);
        if (a->ctm == C_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(n - 1))) {
            for (int k = 0; k < K; k++) {
                ix[k] = -1;
                w[k] = 0;
            }
            t->extrap = 1;
            identity = 0;
            continue;
        }
        double f = floor(x), r = x - f;
        int64_t fi = (int64_t)f;
        if (a->mode == M_NEAREST) {
            int64_t j;
            if (r == 0.0)
                j = fi;
            else if (a->nearest == N_ROUND_PREFER_FLOOR)
                j = r <= 0.5 ? fi : fi + 1;
            else if (a->nearest == N_ROUND_PREFER_CEIL)
                j = r < 0.5 ? fi : fi + 1;
            else if (a->nearest == N_FLOOR)
                j = fi;
            else if (a->nearest == N_CEIL)
                j = fi + 1;
            else /* N_SIMPLE */
                j = p->scale[axis] < 1.0 ? fi + 1 : fi;
            ix[0] = clampi(j, n);
            w[0] = 1.0f;
        } else if (a->antialias && p->scale[axis] < 1.0) {
            /* Filter taps at f + start + k, weights of the stretched kernel
             * at distance (start + k - r) * scale, normalised. */
            const double sc = p->scale[axis];
            const int64_t start = 1 - K / 2;
            double sum = 0;
            for (int pass = 0; pass < 2; pass++)
                for (int k = 0; k < K; k++) {
                    const int64_t j = fi + start + k;
                    double v = rz_aa_weight(a, ((double)(start + k) - r) * sc);
                    if (a->exclude_outside && (j < 0 || j >= n))
                        v = 0;
                    if (pass == 0) {
                        sum += v;
                    } else {
                        ix[k] = clampi(j, n);
                        w[k] = (float)(sum != 0 ? v / sum : 0);
                    }
                }
        } else if (a->mode == M_LINEAR) {
            ix[0] = clampi(fi, n);
            ix[1] = clampi(fi + 1, n);
            w[0] = (float)(1.0 - r);
            w[1] = (float)r;
        } else {
            const double A = a->cubic_a, s = r, u = 1.0 - r;
            double c[4] = {
                ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A,
                ((A + 2) * s - (A + 3)) * s * s + 1,
                ((A + 2) * u - (A + 3)) * u * u + 1,
                ((A * (u + 1) - 5 * A) * (u + 1) + 8 * A) * (u + 1) - 4 * A,
            };
            if (a->exclude_outside) {
                double sum = 0;
                for (int k = 0; k < 4; k++) {
                    int64_t j = fi - 1 + k;
                    if (j < 0 || j >= n)
                        c[k] = 0;
                    sum += c[k];
                }
                if (sum != 0)
                    for (int k = 0; k < 4; k++)
                        c[k] /= sum;
            }
            for (int k = 0; k < 4; k++) {
                ix[k] = clampi(fi - 1 + k, n);
                w[k] = (float)c[k];
            }
        }
        /* The identity: all weight on input index o. */
        for (int k = 0; k < K && identity; k++)
            if (w[k] != 0.0f && !(ix[k] == o && w[k] == 1.0f))
                identity = 0;
    }
    return identity;
}

/* Resample axis `axis` of src (shape cur) into dst (same shape, m along
 * the axis). */
static void rz_pass(const float *src, float *dst, const qdb_shape *cur, int axis, int64_t m,
                    const rz_taps *t, float extrap)
{
    const int64_t n = cur->d[axis];
    const int64_t outer = qdb_dims_prod(cur->d, 0, axis);
    const int64_t inner = qdb_dims_prod(cur->d, axis + 1, cur->ndim);
    const int K = t->k;
    if (inner == 1 && !t->extrap && K <= 2) { /* the last axis, common filters */
        const int64_t *ix = t->idx;
        const float *w = t->w;
        for (int64_t b = 0; b < outer; b++) {
            const float *s = src + b * n;
            float *d = dst + b * m;
            if (K == 1)
                for (int64_t o = 0; o < m; o++)
                    d[o] = s[ix[o]];
            else
                for (int64_t o = 0; o < m; o++)
                    d[o] = w[2 * o] * s[ix[2 * o]] + w[2 * o + 1] * s[ix[2 * o + 1]];
        }
        return;
    }
    if (inner == 1) { /* the last axis: one element per tap */
        for (int64_t b = 0; b < outer; b++) {
            const float *s = src + b * n;
            float *d = dst + b * m;
            for (int64_t o = 0; o < m; o++) {
                const int64_t *ix = t->idx + o * K;
                const float *w = t->w + o * K;
                if (ix[0] < 0) {
                    d[o] = extrap;
                } else if (K == 1) {
                    d[o] = s[ix[0]];
                } else {
                    float acc = 0;
                    for (int k = 0; k < K; k++)
                        acc += w[k] * s[ix[k]];
                    d[o] = acc;
                }
            }
        }
        return;
    }
    for (int64_t b = 0; b < outer; b++) {
        const float *s = src + b * n * inner;
        float *d = dst + b * m * inner;
        for (int64_t o = 0; o < m; o++, d += inner) {
            const int64_t *ix = t->idx + o * K;
            const float *w = t->w + o * K;
            if (ix[0] < 0) {
                for (int64_t j = 0; j < inner; j++)
                    d[j] = extrap;
            } else if (K == 1) {
                memcpy(d, s + ix[0] * inner, (size_t)inner * sizeof *d);
            } else {
                const float *s0 = s + ix[0] * inner;
                const float w0 = w[0];
                for (int64_t j = 0; j < inner; j++)
                    d[j] = w0 * s0[j];
                for (int k = 1; k < K; k++) {
                    const float *sk = s + ix[k] * inner;
                    const float wk = w[k];
                    if (wk == 0.0f)
                        continue;
                    for (int64_t j = 0; j < inner; j++)
                        d[j] += wk * sk[j];
                }
            }
        }
    }
}

static qdb_status rz_forward(const qdb_node *n, const qdb_tensor *const *in,
                             qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    qdb_tensor *y = out[0];
    rz_attrs a;
    rz_plan p;
    qdb_status st = rz_parse(n, &a, e);
    if (st == QDB_OK)
        st = rz_plan_make(n, in, &a, &p, e);
    if (st != QDB_OK)
        return st;
    if (y->numel == 0)
        return QDB_OK;
    const int r = x->shape.ndim;
    int K[QDB_MAX_DIMS];
    size_t total = 0;
    for (int i = 0; i < r; i++) {
        double k = rz_tap_count(&a, p.scale[i]);
        if (k * (double)p.out.d[i] > (double)((int64_t)1 << 30))
            return qdb_err_set(e, QDB_ERR_NOMEM, "%s: antialiasing filter too large",
                               n->op_type);
        K[i] = (int)k;
        total += (size_t)p.out.d[i] * (size_t)K[i];
    }
    int64_t *idx = malloc((total + 1) * sizeof *idx);
    float *w = malloc((total + 1) * sizeof *w);
    float *buf[2] = {NULL, NULL};
    rz_taps taps[QDB_MAX_DIMS];
    int active[QDB_MAX_DIMS], na = 0;
    if (!idx || !w) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", n->op_type);
        goto out;
    }
    size_t at = 0;
    for (int i = 0; i < r; i++) {
        taps[i].k = K[i];
        taps[i].extrap = 0;
        taps[i].idx = idx + at;
        taps[i].w = w + at;
        at += (size_t)p.out.d[i] * (size_t)K[i];
        if (!rz_axis_taps(&a, &p, i, x->shape.d[i], &taps[i]))
            active[na++] = i;
    }
    if (na == 0) {
        memcpy(y->data.f, x->data.f, x->numel * sizeof(float));
        goto out;
    }
    /* Shrinking axes first (stable insertion sort on the size ratio). */
    for (int i = 1; i < na; i++)
        for (int j = i; j > 0; j--) {
            int u = active[j - 1], v = active[j];
            double ru = (double)p.out.d[u] / (double)x->shape.d[u];
            double rv = (double)p.out.d[v] / (double)x->shape.d[v];
            if (rv >= ru)
                break;
            active[j - 1] = v;
            active[j] = u;
        }
    /* Intermediates never exceed max(input, output) elements. */
    size_t cap = x->numel > y->numel ? x->numel : y->numel;
    for (int b = 0; b < (na > 2 ? 2 : na - 1); b++) {
        buf[b] = malloc(cap * sizeof(float));
        if (!buf[b]) {
            st = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", n->op_type);
            goto out;
        }
    }
    qdb_shape cur = x->shape;
    const float *src = x->data.f;
    for (int k = 0; k < na; k++) {
        int i = active[k];
        float *dst = k == na - 1 ? y->data.f : buf[k % 2];
        rz_pass(src, dst, &cur, i, p.out.d[i], &taps[i], a.extrapolation);
        cur.d[i] = p.out.d[i];
        src = dst;
    }
out:
    free(buf[0]);
    free(buf[1]);
    free(idx);
    free(w);
    return st;
}

const qdb_op qdb_op_resize = {
    .type = "Resize",
    .check = rz_check,
    .infer = rz_infer,
    .forward = rz_forward,
};

const qdb_op qdb_op_upsample = {
    .type = "Upsample",
    .check = rz_check,
    .infer = rz_infer,
    .forward = rz_forward,
};
