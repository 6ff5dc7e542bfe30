/* elementwise.c - broadcasting binary arithmetic: Add, Sub, Mul, Div, Pow,
 * the variadic Min, Max, Sum, Mean, and PRelu. Float32 throughout; int64
 * (shape arithmetic) for Add/Sub/Mul/Div/Pow/Min/Max/Sum/PRelu.
 *
 * Every binary op runs through one walker: the broadcast is collapsed to as
 * few dimensions as possible, so the innermost run is contiguous in the
 * output and has stride 0 or 1 in each input. Same-shape operands become a
 * single flat run, scalars a run with stride 0, per-channel operands
 * ([N,C,H,W] with [C,1,1]) runs of H*W against one value. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "broadcast.h"
#include "fast_math.h"
#include "kernels.h"
#include "op.h"

typedef enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MIN, B_MAX, B_PRELU } binop;

/* ---- the collapsed broadcast walk ---------------------------------------- */

typedef struct {
    int nd; /* >= 1 */
    int64_t dims[QDB_MAX_DIMS];
    int64_t sa[QDB_MAX_DIMS], sb[QDB_MAX_DIMS];
} bplan;

static void plan_make(bplan *p, const qdb_shape *out, const qdb_shape *a, const qdb_shape *b)
{
    int64_t sa[QDB_MAX_DIMS], sb[QDB_MAX_DIMS];
    qdb_broadcast_strides(a, out, sa);
    qdb_broadcast_strides(b, out, sb);
    p->nd = 0;
    for (int i = 0; i < out->ndim; i++) {
        int64_t d = out->d[i];
        if (d == 1)
            continue;
        if (p->nd > 0) {
            int k = p->nd - 1;
            if (p->sa[k] == sa[i] * d && p->sb[k] == sb[i] * d) {
                p->dims[k] *= d;
                p->sa[k] = sa[i];
                p->sb[k] = sb[i];
                continue;
            }
        }
        p->dims[p->nd] = d;
        p->sa[p->nd] = sa[i];
        p->sb[p->nd] = sb[i];
        p->nd++;
    }
    if (p->nd == 0) {
        p->nd = 1;
        p->dims[0] = 1;
        p->sa[0] = p->sb[0] = 0;
    }
}

/* One contiguous output run of n elements; a and b advance by sa / sb (0 or
 * 1). EXPR reads x (from a) and y (from b). */
#define RUN(TO, TA, TB, EXPR)                                                                      \
    do {                                                                                           \
        if (sa && sb) {                                                                            \
            QDB_VLOOP(i, n, TA x = a[i]; TB y = b[i]; (void)x; (void)y; o[i] = (EXPR));            \
        } else if (sa) {                                                                           \
            TB y = b[0];                                                                           \
            (void)y;                                                                               \
            QDB_VLOOP(i, n, TA x = a[i]; (void)x; o[i] = (EXPR));                                  \
        } else if (sb) {                                                                           \
            TA x = a[0];                                                                           \
            (void)x;                                                                               \
            QDB_VLOOP(i, n, TB y = b[i]; (void)y; o[i] = (EXPR));                                  \
        } else {                                                                                   \
            TA x = a[0];                                                                           \
            TB y = b[0];                                                                           \
            (void)x, (void)y;                                                                      \
            TO r = (EXPR);                                                                         \
            QDB_VLOOP(i, n, o[i] = r);                                                             \
        }                                                                                          \
    } while (0)

/* Min/Max propagate NaN like numpy. */
#define FMIN(x, y) (((y) < (x) || (y) != (y)) ? (y) : (x))
#define FMAX(x, y) (((y) > (x) || (y) != (y)) ? (y) : (x))

QDB_MULTIVERSION static void run_f32(binop op, float *o, const float *a, int sa, const float *b, int sb, int64_t n)
{
    switch (op) {
    case B_ADD: RUN(float, float, float, x + y); break;
    case B_SUB: RUN(float, float, float, x - y); break;
    case B_MUL: RUN(float, float, float, x * y); break;
    case B_DIV: RUN(float, float, float, x / y); break;
    case B_POW:
        if (!sb && b[0] == 2.0f)
            RUN(float, float, float, x * x);
        else if (!sb && b[0] == 1.0f)
            RUN(float, float, float, x);
        else
            RUN(float, float, float, powf(x, y));
        break;
    case B_MIN: RUN(float, float, float, FMIN(x, y)); break;
    case B_MAX: RUN(float, float, float, FMAX(x, y)); break;
    case B_PRELU: {
        const float one = opaque_f(1.0f);
        RUN(float, float, float, (x < 0.0f ? y : one) * x);
        break;
    }
    }
}

/* int64 arithmetic wraps (two's complement) instead of overflowing. */
static inline int64_t wrap(uint64_t v)
{
    return (int64_t)v;
}

static inline int64_t idiv(int64_t x, int64_t y)
{
    if (y == -1)
        return wrap(0u - (uint64_t)x); /* INT64_MIN / -1 would trap */
    return y ? x / y : 0;             /* y == 0 is reported by the caller */
}

static int64_t ipow(int64_t x, int64_t y)
{
    if (y < 0) /* integer result of 1 / x^|y|, truncated */
        return x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)x;
    for (uint64_t k = (uint64_t)y; k; k >>= 1) {
        if (k & 1)
            r *= b;
        b *= b;
    }
    return wrap(r);
}

/* Saturating double -> int64 (out-of-range conversion is undefined in C). */
static inline int64_t d2i(double v)
{
    if (v != v)
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

/* Returns nonzero when an integer division by zero happened. */
static int run_i64(binop op, int64_t *o, const int64_t *a, int sa, const int64_t *b, int sb,
                   int64_t n)
{
    switch (op) {
    case B_ADD: RUN(int64_t, int64_t, int64_t, wrap((uint64_t)x + (uint64_t)y)); break;
    case B_SUB: RUN(int64_t, int64_t, int64_t, wrap((uint64_t)x - (uint64_t)y)); break;
    case B_MUL: RUN(int64_t, int64_t, int64_t, wrap((uint64_t)x * (uint64_t)y)); break;
    case B_DIV: {
        int zero = 0;
        if (sb) {
            for (int64_t i = 0; i < n; i++)
                zero |= b[i] == 0;
        } else {
            zero = b[0] == 0;
        }
        if (zero)
            return 1;
        RUN(int64_t, int64_t, int64_t, idiv(x, y));
        break;
    }
    case B_POW: RUN(int64_t, int64_t, int64_t, ipow(x, y)); break;
    case B_MIN: RUN(int64_t, int64_t, int64_t, y < x ? y : x); break;
    case B_MAX: RUN(int64_t, int64_t, int64_t, y > x ? y : x); break;
    case B_PRELU: RUN(int64_t, int64_t, int64_t, x < 0 ? wrap((uint64_t)x * (uint64_t)y) : x); break;
    }
    return 0;
}

/* Pow with mixed element types (opset >= 12): the result has X's type. */
static void run_pow_fi(float *o, const float *a, int sa, const int64_t *b, int sb, int64_t n)
{
    RUN(float, float, int64_t, (float)pow((double)x, (double)y));
}

static void run_pow_if(int64_t *o, const int64_t *a, int sa, const float *b, int sb, int64_t n)
{
    RUN(int64_t, int64_t, float, d2i(pow((double)x, (double)y)));
}

/* out = a (op) b, where a and b are viewed with shapes `as` and `bs` (same
 * element counts as the tensors; they differ from the tensors' own shapes
 * only for the legacy broadcast of opset < 7). out may alias a when a has
 * out's shape. */
static qdb_status bin_exec(const qdb_node *n, binop op, const qdb_tensor *A, const qdb_shape *as,
                           const qdb_tensor *B, const qdb_shape *bs, qdb_tensor *O, qdb_err *e)
{
    if (O->numel == 0)
        return QDB_OK;
    bplan p;
    plan_make(&p, &O->shape, as, bs);
    int nd = p.nd;
    int64_t inner = p.dims[nd - 1];
    int sa = p.sa[nd - 1] != 0, sb = p.sb[nd - 1] != 0;
    size_t nrun = O->numel / (size_t)inner;
    int64_t idx[QDB_MAX_DIMS] = {0};
    int64_t oa = 0, ob = 0;
    int kind = (A->dtype == QDB_I64) * 2 + (B->dtype == QDB_I64);
    for (size_t r = 0; r < nrun; r++) {
        size_t oo = r * (size_t)inner;
        switch (kind) {
        case 0:
            run_f32(op, O->data.f + oo, A->data.f + oa, sa, B->data.f + ob, sb, inner);
            break;
        case 1:
            run_pow_fi(O->data.f + oo, A->data.f + oa, sa, B->data.i + ob, sb, inner);
            break;
        case 2:
            run_pow_if(O->data.i + oo, A->data.i + oa, sa, B->data.f + ob, sb, inner);
            break;
        default:
            if (run_i64(op, O->data.i + oo, A->data.i + oa, sa, B->data.i + ob, sb, inner))
                return qdb_err_set(e, QDB_ERR_INVALID, "%s: integer division by zero",
                                   n->op_type);
        }
        for (int d = nd - 2; d >= 0; d--) {
            oa += p.sa[d];
            ob += p.sb[d];
            if (++idx[d] < p.dims[d])
                break;
            oa -= p.sa[d] * p.dims[d];
            ob -= p.sb[d] * p.dims[d];
            idx[d] = 0;
        }
    }
    return QDB_OK;
}

/* ---- Add, Sub, Mul, Div, Pow --------------------------------------------- */

static binop binop_of(const qdb_node *n)
{
    const char *t = n->op_type;
    if (!strcmp(t, "Add"))
        return B_ADD;
    if (!strcmp(t, "Sub"))
        return B_SUB;
    if (!strcmp(t, "Mul"))
        return B_MUL;
    if (!strcmp(t, "Div"))
        return B_DIV;
    if (!strcmp(t, "Pow"))
        return B_POW;
    if (!strcmp(t, "Min"))
        return B_MIN;
    if (!strcmp(t, "Max"))
        return B_MAX;
    return B_PRELU;
}

static qdb_status need_inputs(const qdb_node *n, int lo, int hi, qdb_err *e)
{
    if (n->n_in < lo || (hi > 0 && n->n_in > hi))
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: %d inputs, expected %d..%d", n->op_type,
                           n->n_in, lo, hi > 0 ? hi : 2147483647);
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i] < 0)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: input %d is missing", n->op_type, i);
    return QDB_OK;
}

static qdb_status check_binary(const qdb_node *n, qdb_err *e)
{
    qdb_status s = need_inputs(n, 2, 2, e);
    if (s != QDB_OK)
        return s;
    if (n->opset < 7) {
        int64_t bc = qdb_attr_int(n, "broadcast", 0);
        if (bc != 0 && bc != 1)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: broadcast=%lld, expected 0 or 1",
                               n->op_type, (long long)bc);
    }
    return QDB_OK;
}

/* Shape B is read with: the legacy (opset < 7) broadcast with an explicit
 * axis aligns B's dimensions with A's starting at `axis`, i.e. B gets
 * trailing 1s; without `axis` legacy broadcasting is suffix-aligned like
 * numpy. With broadcast=0 legacy shapes must match, which numpy broadcasting
 * accepts as well. */
static qdb_status b_view(const qdb_node *n, const qdb_shape *a, const qdb_shape *b,
                         qdb_shape *bs, qdb_err *e)
{
    *bs = *b;
    if (n->opset >= 7 || !qdb_attr_int(n, "broadcast", 0) || !qdb_node_attr(n, "axis"))
        return QDB_OK;
    int64_t axis = qdb_attr_int(n, "axis", 0);
    if (axis < 0)
        axis += a->ndim;
    if (axis < 0 || axis + b->ndim > a->ndim) {
        char sa[128], sb[128];
        return qdb_err_set(e, QDB_ERR_SHAPE, "%s: B %s cannot be broadcast to A %s at axis %lld",
                           n->op_type, qdb_shape_str(b, sb, sizeof sb),
                           qdb_shape_str(a, sa, sizeof sa), (long long)qdb_attr_int(n, "axis", 0));
    }
    for (int i = b->ndim; i < a->ndim - axis; i++)
        bs->d[i] = 1;
    bs->ndim = (int)(a->ndim - axis);
    return QDB_OK;
}

static qdb_status bcast2(const qdb_node *n, const qdb_shape *a, const qdb_shape *b,
                         qdb_shape *out, qdb_err *e)
{
    const qdb_shape *sh[2] = {a, b};
    qdb_status s = qdb_broadcast_shape(sh, 2, out, e);
    if (s != QDB_OK)
        qdb_err_prefix(e, "%s: ", n->op_type);
    return s;
}

static qdb_status infer_binary(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                               qdb_err *e)
{
    const qdb_tensor *a = qdb_op_in(n, in, 0), *b = qdb_op_in(n, in, 1);
    if (!a || !b)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: needs two inputs", n->op_type);
    if (a->dtype != b->dtype && binop_of(n) != B_POW)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input types %s and %s differ", n->op_type,
                           qdb_dtype_name(a->dtype), qdb_dtype_name(b->dtype));
    qdb_shape bs;
    qdb_status s = b_view(n, &a->shape, &b->shape, &bs, e);
    if (s != QDB_OK)
        return s;
    out[0].dtype = a->dtype;
    return bcast2(n, &a->shape, &bs, &out[0].shape, e);
}

static qdb_status forward_binary(const qdb_node *n, const qdb_tensor *const *in,
                                 qdb_tensor *const *out, qdb_err *e)
{
    qdb_shape bs;
    qdb_status s = b_view(n, &in[0]->shape, &in[1]->shape, &bs, e);
    if (s != QDB_OK)
        return s;
    return bin_exec(n, binop_of(n), in[0], &in[0]->shape, in[1], &bs, out[0], e);
}

#define BINARY_OP(sym, name)                                                                       \
    const qdb_op sym = {                                                                           \
        .type = name,                                                                              \
        .check = check_binary,                                                                     \
        .infer = infer_binary,                                                                     \
        .forward = forward_binary,                                                                 \
    }

BINARY_OP(qdb_math_add, "Add");
BINARY_OP(qdb_math_sub, "Sub");
BINARY_OP(qdb_math_mul, "Mul");
BINARY_OP(qdb_math_div, "Div");
BINARY_OP(qdb_math_pow, "Pow");

/* ---- Min, Max, Sum, Mean (variadic, multidirectional from opset 8) ------- */

static qdb_status check_variadic(const qdb_node *n, qdb_err *e)
{
    return need_inputs(n, 1, 0, e);
}

static qdb_status infer_variadic(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                                 qdb_err *e)
{
    if (n->n_in < 1 || !in[0])
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: needs at least one input", n->op_type);
    qdb_shape acc = in[0]->shape;
    for (int i = 1; i < n->n_in; i++) {
        if (!in[i])
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: input %d is missing", n->op_type, i);
        if (in[i]->dtype != in[0]->dtype)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: input types %s and %s differ",
                               n->op_type, qdb_dtype_name(in[0]->dtype),
                               qdb_dtype_name(in[i]->dtype));
        qdb_shape next;
        qdb_status s = bcast2(n, &acc, &in[i]->shape, &next, e);
        if (s != QDB_OK)
            return s;
        acc = next;
    }
    if (in[0]->dtype == QDB_I64 && !strcmp(n->op_type, "Mean"))
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Mean: int64 inputs not supported");
    out[0].dtype = in[0]->dtype;
    out[0].shape = acc;
    return QDB_OK;
}

static qdb_status forward_variadic(const qdb_node *n, const qdb_tensor *const *in,
                                   qdb_tensor *const *out, qdb_err *e)
{
    qdb_tensor *o = out[0];
    int mean = !strcmp(n->op_type, "Mean");
    binop op = (mean || !strcmp(n->op_type, "Sum")) ? B_ADD : binop_of(n);
    qdb_status s = QDB_OK;
    if (n->n_in == 1) {
        /* broadcast in[0] to the output (same shape): a copy */
        memcpy(o->data.p, in[0]->data.p, o->numel * qdb_dtype_size(o->dtype));
    } else {
        s = bin_exec(n, op, in[0], &in[0]->shape, in[1], &in[1]->shape, o, e);
        for (int i = 2; i < n->n_in && s == QDB_OK; i++)
            s = bin_exec(n, op, o, &o->shape, in[i], &in[i]->shape, o, e);
    }
    if (s == QDB_OK && mean) {
        float k = (float)n->n_in;
        for (size_t i = 0; i < o->numel; i++)
            o->data.f[i] /= k;
    }
    return s;
}

#define VARIADIC_OP(sym, name)                                                                     \
    const qdb_op sym = {                                                                           \
        .type = name,                                                                              \
        .check = check_variadic,                                                                   \
        .infer = infer_variadic,                                                                   \
        .forward = forward_variadic,                                                               \
    }

VARIADIC_OP(qdb_math_min, "Min");
VARIADIC_OP(qdb_math_max, "Max");
VARIADIC_OP(qdb_math_sum, "Sum");
VARIADIC_OP(qdb_math_mean, "Mean");

/* ---- PRelu --------------------------------------------------------------- */

/* Slope as broadcast against X. From opset 7: unidirectional (numpy) to X's
 * shape. Before: a single value, or one per channel (dimension 1), which is
 * what exporters of that era emitted as a 1-D slope of length C. */
static qdb_status slope_view(const qdb_node *n, const qdb_shape *x, const qdb_shape *sl,
                             qdb_shape *ss, qdb_err *e)
{
    *ss = *sl;
    if (n->opset < 7 && sl->ndim == 1 && x->ndim >= 2 && sl->d[0] == x->d[1] && sl->d[0] != 1) {
        ss->ndim = x->ndim - 1;
        for (int i = 1; i < ss->ndim; i++)
            ss->d[i] = 1;
    }
    qdb_shape o;
    qdb_status s = bcast2(n, x, ss, &o, e);
    if (s == QDB_OK && !qdb_shape_eq(&o, x)) {
        char a[128], b[128];
        return qdb_err_set(e, QDB_ERR_SHAPE, "PRelu: slope %s does not broadcast to X %s",
                           qdb_shape_str(sl, b, sizeof b), qdb_shape_str(x, a, sizeof a));
    }
    return s;
}

static qdb_status check_prelu(const qdb_node *n, qdb_err *e)
{
    return need_inputs(n, 2, 2, e);
}

static qdb_status infer_prelu(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                              qdb_err *e)
{
    const qdb_tensor *x = qdb_op_in(n, in, 0), *sl = qdb_op_in(n, in, 1);
    if (!x || !sl)
        return qdb_err_set(e, QDB_ERR_INVALID, "PRelu: needs inputs X and slope");
    if (x->dtype != sl->dtype)
        return qdb_err_set(e, QDB_ERR_INVALID, "PRelu: input types %s and %s differ",
                           qdb_dtype_name(x->dtype), qdb_dtype_name(sl->dtype));
    qdb_shape ss;
    qdb_status s = slope_view(n, &x->shape, &sl->shape, &ss, e);
    if (s != QDB_OK)
        return s;
    out[0].dtype = x->dtype;
    out[0].shape = x->shape;
    return QDB_OK;
}

static qdb_status forward_prelu(const qdb_node *n, const qdb_tensor *const *in,
                                qdb_tensor *const *out, qdb_err *e)
{
    qdb_shape ss;
    qdb_status s = slope_view(n, &in[0]->shape, &in[1]->shape, &ss, e);
    if (s != QDB_OK)
        return s;
    return bin_exec(n, B_PRELU, in[0], &in[0]->shape, in[1], &ss, out[0], e);
}

const qdb_op qdb_math_prelu = {
    .type = "PRelu",
    .check = check_prelu,
    .infer = infer_prelu,
    .forward = forward_prelu,
};
