/* reduce.c - reductions over axes: ReduceSum, ReduceMean, ReduceMax,
 * ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum,
 * ReduceLogSumExp; and ArgMax / ArgMin.
 *
 * Axes are an attribute before opset 13 (ReduceSum) / 18 (the others) and
 * an optional int64 input from then on, with noop_with_empty_axes. Float
 * reductions accumulate in double. The reduced/kept dimensions are merged
 * into alternating groups so the innermost loop always runs over contiguous
 * memory: either reducing a run into one output, or combining a run into a
 * row of outputs. Int64 input is accepted by Sum, Prod, Max, Min, ArgMax
 * and ArgMin (shape arithmetic). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"

typedef enum { R_SUM, R_MEAN, R_PROD, R_MAX, R_MIN, R_L1, R_L2, R_SUMSQ, R_LOGSUM, R_LSE } rkind;

static const struct {
    const char *type;
    rkind kind;
    int int_ok;
} rtab[] = {
    {"ReduceSum", R_SUM, 1},       {"ReduceMean", R_MEAN, 0},         {"ReduceProd", R_PROD, 1},
    {"ReduceMax", R_MAX, 1},       {"ReduceMin", R_MIN, 1},           {"ReduceL1", R_L1, 0},
    {"ReduceL2", R_L2, 0},         {"ReduceSumSquare", R_SUMSQ, 0},   {"ReduceLogSum", R_LOGSUM, 0},
    {"ReduceLogSumExp", R_LSE, 0},
};

static int rindex(const qdb_node *n)
{
    for (size_t i = 0; i < sizeof rtab / sizeof rtab[0]; i++)
        if (!strcmp(n->op_type, rtab[i].type))
            return (int)i;
    return 0;
}

/* Axes come as input 1 from ReduceSum-13 and the others' opset 18. */
static int axes_is_input(const qdb_node *n)
{
    return n->opset >= (!strcmp(n->op_type, "ReduceSum") ? 13 : 18);
}

static qdb_status check_reduce(const qdb_node *n, qdb_err *e)
{
    int as_in = axes_is_input(n);
    if (n->n_in < 1 || n->in[0] < 0 || n->n_in > (as_in ? 2 : 1))
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: %d inputs, expected %s at opset %d",
                           n->op_type, n->n_in, as_in ? "1..2" : "1", n->opset);
    if (as_in && qdb_node_attr(n, "axes"))
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "%s: 'axes' is an input at opset %d, not an attribute", n->op_type,
                           n->opset);
    return QDB_OK;
}

/* mask[k] = 1 for the reduced dimensions of x. */
static qdb_status reduce_mask(const qdb_node *n, const qdb_tensor *const *in, unsigned char *mask,
                              qdb_err *e)
{
    const qdb_tensor *x = in[0];
    int rank = x->shape.ndim;
    const int64_t *axes = NULL;
    int na = 0;
    if (axes_is_input(n)) {
        const qdb_tensor *t = qdb_op_in(n, in, 1);
        if (t) {
            if (t->dtype != QDB_I64)
                return qdb_err_set(e, QDB_ERR_INVALID, "%s: axes must be int64", n->op_type);
            if (t->shape.ndim > 1)
                return qdb_err_set(e, QDB_ERR_INVALID, "%s: axes must be 1-D (rank %d)",
                                   n->op_type, t->shape.ndim);
            if (t->numel > 0 && !t->data.p)
                return qdb_err_set(e, QDB_ERR_DYNAMIC, "%s: input 'axes' is known only at run time",
                                   n->op_type);
            axes = t->data.i;
            na = (int)t->numel;
        }
    } else {
        axes = qdb_attr_ints(n, "axes", &na);
    }
    memset(mask, 0, QDB_MAX_DIMS);
    if (na == 0) {
        int noop = axes_is_input(n) && qdb_attr_int(n, "noop_with_empty_axes", 0);
        for (int k = 0; k < rank; k++)
            mask[k] = !noop;
        return QDB_OK;
    }
    if (na > rank)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: %d axes for rank %d", n->op_type, na, rank);
    for (int i = 0; i < na; i++) {
        int a;
        qdb_status s = qdb_op_axis(n, axes[i], rank, &a, e);
        if (s != QDB_OK)
            return s;
        if (mask[a])
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: axis %lld repeated", n->op_type,
                               (long long)axes[i]);
        mask[a] = 1;
    }
    return QDB_OK;
}

static qdb_status infer_reduce(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                               qdb_err *e)
{
    const qdb_tensor *x = qdb_op_in(n, in, 0);
    if (!x)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input is missing", n->op_type);
    if (x->dtype == QDB_I64 && !rtab[rindex(n)].int_ok)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: int64 input not supported", n->op_type);
    unsigned char mask[QDB_MAX_DIMS];
    qdb_status s = reduce_mask(n, in, mask, e);
    if (s != QDB_OK)
        return s;
    int keep = qdb_attr_int(n, "keepdims", 1) != 0;
    qdb_shape o;
    memset(&o, 0, sizeof o);
    for (int k = 0; k < x->shape.ndim; k++) {
        if (!mask[k])
            o.d[o.ndim++] = x->shape.d[k];
        else if (keep)
            o.d[o.ndim++] = 1;
    }
    out[0].dtype = x->dtype;
    out[0].shape = o;
    return QDB_OK;
}

/* Input dimensions merged into groups of alternating kind; out strides of
 * reduced groups are 0. */
typedef struct {
    int ng;
    int64_t size[QDB_MAX_DIMS];
    int red[QDB_MAX_DIMS];
    int64_t ost[QDB_MAX_DIMS];
} rplan;

static void rplan_make(rplan *p, const qdb_shape *s, const unsigned char *mask)
{
    p->ng = 0;
    for (int k = 0; k < s->ndim; k++) {
        if (s->d[k] == 1)
            continue;
        if (p->ng > 0 && p->red[p->ng - 1] == mask[k]) {
            p->size[p->ng - 1] *= s->d[k];
            continue;
        }
        p->size[p->ng] = s->d[k];
        p->red[p->ng] = mask[k];
        p->ng++;
    }
    if (p->ng == 0) {
        p->ng = 1;
        p->size[0] = 1;
        p->red[0] = 0;
    }
    int64_t st = 1;
    for (int g = p->ng - 1; g >= 0; g--) {
        p->ost[g] = p->red[g] ? 0 : st;
        if (!p->red[g])
            st *= p->size[g];
    }
}

typedef enum { P_SUM, P_ABS, P_SQ, P_PROD, P_MAX, P_MIN, P_EXP } rpass;

/* One sweep over x combining into acc (one double per output). For P_EXP,
 * m holds the per-output shift. */
static void sweep_f32(const rplan *p, rpass pk, const float *x, size_t numel, double *acc,
                      const double *m)
{
    int last = p->ng - 1;
    int64_t L = p->size[last];
    size_t nrun = numel / (size_t)L;
    int64_t idx[QDB_MAX_DIMS] = {0};
    int64_t oo = 0;
    for (size_t r = 0; r < nrun; r++) {
        const float *xr = x + r * (size_t)L;
        if (p->red[last]) {
            double s;
            switch (pk) {
            case P_SUM:
                s = 0.0;
                for (int64_t j = 0; j < L; j++)
                    s += xr[j];
                acc[oo] += s;
                break;
            case P_ABS:
                s = 0.0;
                for (int64_t j = 0; j < L; j++)
                    s += fabsf(xr[j]);
                acc[oo] += s;
                break;
            case P_SQ:
                s = 0.0;
                for (int64_t j = 0; j < L; j++)
                    s += (double)xr[j] * xr[j];
                acc[oo] += s;
                break;
            case P_PROD:
                s = 1.0;
                for (int64_t j = 0; j < L; j++)
                    s *= xr[j];
                acc[oo] *= s;
                break;
            case P_MAX:
                s = acc[oo];
                for (int64_t j = 0; j < L; j++)
                    if (xr[j] > s || xr[j] != xr[j])
                        s = xr[j];
                acc[oo] = s;
                break;
            case P_MIN:
                s = acc[oo];
                for (int64_t j = 0; j < L; j++)
                    if (xr[j] < s || xr[j] != xr[j])
                        s = xr[j];
                acc[oo] = s;
                break;
            case P_EXP: {
                float sh = (float)m[oo];
                s = 0.0;
                for (int64_t j = 0; j < L; j++)
                    s += expf(xr[j] - sh);
                acc[oo] += s;
                break;
            }
            }
        } else {
            double *a = acc + oo;
            switch (pk) {
            case P_SUM:
                for (int64_t j = 0; j < L; j++)
                    a[j] += xr[j];
                break;
            case P_ABS:
                for (int64_t j = 0; j < L; j++)
                    a[j] += fabsf(xr[j]);
                break;
            case P_SQ:
                for (int64_t j = 0; j < L; j++)
                    a[j] += (double)xr[j] * xr[j];
                break;
            case P_PROD:
                for (int64_t j = 0; j < L; j++)
                    a[j] *= xr[j];
                break;
            case P_MAX:
                for (int64_t j = 0; j < L; j++)
                    if (xr[j] > a[j] || xr[j] != xr[j])
                        a[j] = xr[j];
                break;
            case P_MIN:
                for (int64_t j = 0; j < L; j++)
                    if (xr[j] < a[j] || xr[j] != xr[j])
                        a[j] = xr[j];
                break;
            case P_EXP: {
                const double *mm = m + oo;
                for (int64_t j = 0; j < L; j++)
                    a[j] += expf(xr[j] - (float)mm[j]);
                break;
            }
            }
        }
        for (int g = last - 1; g >= 0; g--) {
            oo += p->ost[g];
            if (++idx[g] < p->size[g])
                break;
            oo -= p->ost[g] * p->size[g];
            idx[g] = 0;
        }
    }
}

static void fill(double *a, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        a[i] = v;
}

static qdb_status reduce_i64(const rplan *p, rkind k, const qdb_tensor *x, qdb_tensor *o)
{
    int64_t *acc = o->data.i;
    int64_t init = k == R_PROD ? 1 : k == R_MAX ? INT64_MIN : k == R_MIN ? INT64_MAX : 0;
    for (size_t i = 0; i < o->numel; i++)
        acc[i] = init;
    int64_t idx[QDB_MAX_DIMS] = {0};
    int64_t oo = 0;
    for (size_t i = 0; i < x->numel; i++) {
        int64_t v = x->data.i[i];
        switch (k) {
        case R_PROD: acc[oo] = (int64_t)((uint64_t)acc[oo] * (uint64_t)v); break;
        case R_MAX: acc[oo] = v > acc[oo] ? v : acc[oo]; break;
        case R_MIN: acc[oo] = v < acc[oo] ? v : acc[oo]; break;
        default: acc[oo] = (int64_t)((uint64_t)acc[oo] + (uint64_t)v); break;
        }
        for (int g = p->ng - 1; g >= 0; g--) {
            oo += p->ost[g];
            if (++idx[g] < p->size[g])
                break;
            oo -= p->ost[g] * p->size[g];
            idx[g] = 0;
        }
    }
    return QDB_OK;
}

static qdb_status forward_reduce(const qdb_node *n, const qdb_tensor *const *in,
                                 qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    qdb_tensor *o = out[0];
    rkind k = rtab[rindex(n)].kind;
    unsigned char mask[QDB_MAX_DIMS];
    qdb_status s = reduce_mask(n, in, mask, e);
    if (s != QDB_OK)
        return s;
    rplan p;
    rplan_make(&p, &x->shape, mask);
    if (x->dtype == QDB_I64)
        return reduce_i64(&p, k, x, o);

    size_t no = o->numel;
    double count = 1.0;
    for (int d = 0; d < x->shape.ndim; d++)
        if (mask[d])
            count *= (double)x->shape.d[d];
    double *acc = NULL, *m = NULL;
    if (no == 0)
        return QDB_OK;
    acc = malloc(no * sizeof *acc);
    if (k == R_LSE)
        m = malloc(no * sizeof *m);
    if (!acc || (k == R_LSE && !m)) {
        s = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory for %zu accumulators", n->op_type,
                        no);
        goto fail;
    }
    int has = x->numel > 0;
    switch (k) {
    case R_PROD:
        fill(acc, no, 1.0);
        if (has)
            sweep_f32(&p, P_PROD, x->data.f, x->numel, acc, NULL);
        break;
    case R_MAX:
    case R_MIN:
        fill(acc, no, k == R_MAX ? -INFINITY : INFINITY);
        if (has)
            sweep_f32(&p, k == R_MAX ? P_MAX : P_MIN, x->data.f, x->numel, acc, NULL);
        break;
    case R_LSE:
        fill(m, no, -INFINITY);
        if (has)
            sweep_f32(&p, P_MAX, x->data.f, x->numel, m, NULL);
        for (size_t i = 0; i < no; i++)
            if (!isfinite(m[i]))
                m[i] = 0.0; /* all +-inf or NaN: exp gives the right limit */
        fill(acc, no, 0.0);
        if (has)
            sweep_f32(&p, P_EXP, x->data.f, x->numel, acc, m);
        break;
    default:
        fill(acc, no, 0.0);
        if (has)
            sweep_f32(&p, k == R_L1 ? P_ABS : (k == R_L2 || k == R_SUMSQ) ? P_SQ : P_SUM,
                      x->data.f, x->numel, acc, NULL);
        break;
    }
    float *y = o->data.f;
    switch (k) {
    case R_MEAN:
        for (size_t i = 0; i < no; i++)
            y[i] = (float)(acc[i] / count);
        break;
    case R_L2:
        for (size_t i = 0; i < no; i++)
            y[i] = (float)sqrt(acc[i]);
        break;
    case R_LOGSUM:
        for (size_t i = 0; i < no; i++)
            y[i] = (float)log(acc[i]);
        break;
    case R_LSE:
        for (size_t i = 0; i < no; i++)
            y[i] = (float)(log(acc[i]) + m[i]);
        break;
    default:
        for (size_t i = 0; i < no; i++)
            y[i] = (float)acc[i];
        break;
    }
fail:
    free(acc);
    free(m);
    return s;
}

#define REDUCE_OP(sym, name)                                                                       \
    const qdb_op sym = {                                                                           \
        .type = name,                                                                              \
        .check = check_reduce,                                                                     \
        .infer = infer_reduce,                                                                     \
        .forward = forward_reduce,                                                                 \
    }

REDUCE_OP(qdb_math_reducesum, "ReduceSum");
REDUCE_OP(qdb_math_reducemean, "ReduceMean");
REDUCE_OP(qdb_math_reduceprod, "ReduceProd");
REDUCE_OP(qdb_math_reducemax, "ReduceMax");
REDUCE_OP(qdb_math_reducemin, "ReduceMin");
REDUCE_OP(qdb_math_reducel1, "ReduceL1");
REDUCE_OP(qdb_math_reducel2, "ReduceL2");
REDUCE_OP(qdb_math_reducesumsquare, "ReduceSumSquare");
REDUCE_OP(qdb_math_reducelogsum, "ReduceLogSum");
REDUCE_OP(qdb_math_reducelogsumexp, "ReduceLogSumExp");

/* ---- ArgMax / ArgMin ----------------------------------------------------- */

static qdb_status check_arg(const qdb_node *n, qdb_err *e)
{
    if (n->n_in != 1 || n->in[0] < 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: expects exactly one input, got %d",
                           n->op_type, n->n_in);
    return QDB_OK;
}

static qdb_status infer_arg(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                            qdb_err *e)
{
    const qdb_tensor *x = qdb_op_in(n, in, 0);
    if (!x)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input is missing", n->op_type);
    int axis;
    qdb_status s = qdb_op_axis(n, qdb_attr_int(n, "axis", 0), x->shape.ndim, &axis, e);
    if (s != QDB_OK)
        return s;
    if (x->shape.d[axis] == 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: axis %d has size 0", n->op_type, axis);
    int keep = qdb_attr_int(n, "keepdims", 1) != 0;
    qdb_shape o;
    memset(&o, 0, sizeof o);
    for (int k = 0; k < x->shape.ndim; k++) {
        if (k != axis)
            o.d[o.ndim++] = x->shape.d[k];
        else if (keep)
            o.d[o.ndim++] = 1;
    }
    out[0].dtype = QDB_I64;
    out[0].shape = o;
    return QDB_OK;
}

/* Index of the extreme along a strided line; `last` picks the last of
 * equal extremes. NaN counts as the extreme (numpy). */
#define ARG_LINE(T, BETTER)                                                                        \
    for (size_t oi = 0; oi < outer; oi++)                                                          \
        for (size_t j = 0; j < inner; j++) {                                                       \
            const T *xl = xp + oi * len * inner + j;                                               \
            T best = xl[0];                                                                        \
            int64_t bi = 0;                                                                        \
            for (size_t r = 1; r < len; r++) {                                                     \
                T v = xl[r * inner];                                                               \
                if (BETTER) {                                                                      \
                    best = v;                                                                      \
                    bi = (int64_t)r;                                                               \
                }                                                                                  \
            }                                                                                      \
            y[oi * inner + j] = bi;                                                                \
        }

static qdb_status forward_arg(const qdb_node *n, const qdb_tensor *const *in,
                              qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    int axis;
    qdb_status s = qdb_op_axis(n, qdb_attr_int(n, "axis", 0), x->shape.ndim, &axis, e);
    if (s != QDB_OK)
        return s;
    size_t outer = 1, len = (size_t)x->shape.d[axis], inner = 1;
    for (int k = 0; k < x->shape.ndim; k++) {
        if (k < axis)
            outer *= (size_t)x->shape.d[k];
        else if (k > axis)
            inner *= (size_t)x->shape.d[k];
    }
    int last = qdb_attr_int(n, "select_last_index", 0) != 0;
    int is_max = !strcmp(n->op_type, "ArgMax");
    int64_t *y = out[0]->data.i;
    if (x->numel == 0)
        return QDB_OK;
    if (x->dtype == QDB_I64) {
        const int64_t *xp = x->data.i;
        if (is_max && last) {
            ARG_LINE(int64_t, v >= best)
        } else if (is_max) {
            ARG_LINE(int64_t, v > best)
        } else if (last) {
            ARG_LINE(int64_t, v <= best)
        } else {
            ARG_LINE(int64_t, v < best)
        }
        return QDB_OK;
    }
    const float *xp = x->data.f;
    if (is_max && last) {
        ARG_LINE(float, best == best && (v >= best || v != v))
    } else if (is_max) {
        ARG_LINE(float, best == best && (v > best || v != v))
    } else if (last) {
        ARG_LINE(float, best == best && (v <= best || v != v))
    } else {
        ARG_LINE(float, best == best && (v < best || v != v))
    }
    return QDB_OK;
}

const qdb_op qdb_math_argmax = {
    .type = "ArgMax",
    .check = check_arg,
    .infer = infer_arg,
    .forward = forward_arg,
};

const qdb_op qdb_math_argmin = {
    .type = "ArgMin",
    .check = check_arg,
    .infer = infer_arg,
    .forward = forward_arg,
};
