/* compare.c - comparisons and boolean logic: Equal, Less, Greater,
 * LessOrEqual, GreaterOrEqual (float32 or int64 operands), Not, And, Or, Xor
 * (booleans), and Where (select by a boolean condition). Booleans are int64
 * 0 / 1 (qdb holds ONNX bool as int64); any non-zero input counts as true.
 * All binary forms broadcast multidirectionally. Legacy (opset < 7)
 * broadcasting with an explicit 'axis' is not implemented. */
#include <string.h>

#include "logic_util.h"
#include "op.h"
#include "tensor_util.h"

typedef enum { C_EQ, C_LT, C_GT, C_LE, C_GE, L_AND, L_OR, L_XOR } cmpop;

static cmpop cmpop_of(const qdb_node *n)
{
    static const struct {
        const char *name;
        cmpop op;
    } ops[] = {{"Equal", C_EQ},          {"Less", C_LT}, {"Greater", C_GT}, {"LessOrEqual", C_LE},
               {"GreaterOrEqual", C_GE}, {"And", L_AND}, {"Or", L_OR},      {"Xor", L_XOR}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(n->op_type, ops[i].name))
            return ops[i].op;
    return L_XOR;
}

static int is_logical(cmpop op)
{
    return op == L_AND || op == L_OR || op == L_XOR;
}

/* One contiguous run of n outputs; a and b advance by ua / ub (0 or 1). */
#define RUN(TA, EXPR)                                                                              \
    do {                                                                                           \
        if (ua && ub) {                                                                            \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const TA x = a[i], y = b[i];                                                       \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (ua) {                                                                           \
            const TA y = b[0];                                                                     \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const TA x = a[i];                                                                 \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (ub) {                                                                           \
            const TA x = a[0];                                                                     \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const TA y = b[i];                                                                 \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            const TA x = a[0], y = b[0];                                                           \
            const int64_t r = (EXPR);                                                              \
            for (int64_t i = 0; i < n; i++)                                                        \
                o[i] = r;                                                                          \
        }                                                                                          \
    } while (0)

static void run_f32(cmpop op, int64_t *o, const float *a, int ua, const float *b, int ub, int64_t n)
{
    switch (op) {
    case C_EQ: RUN(float, x == y); break;
    case C_LT: RUN(float, x < y); break;
    case C_GT: RUN(float, x > y); break;
    case C_LE: RUN(float, x <= y); break;
    case C_GE: RUN(float, x >= y); break;
    default: break; /* logical ops take booleans only (checked in infer) */
    }
}

static void run_i64(cmpop op, int64_t *o, const int64_t *a, int ua, const int64_t *b, int ub,
                    int64_t n)
{
    switch (op) {
    case C_EQ: RUN(int64_t, x == y); break;
    case C_LT: RUN(int64_t, x < y); break;
    case C_GT: RUN(int64_t, x > y); break;
    case C_LE: RUN(int64_t, x <= y); break;
    case C_GE: RUN(int64_t, x >= y); break;
    case L_AND: RUN(int64_t, (x != 0) & (y != 0)); break;
    case L_OR: RUN(int64_t, (x != 0) | (y != 0)); break;
    case L_XOR: RUN(int64_t, (x != 0) ^ (y != 0)); break;
    }
}

/* ---- Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And, Or, Xor ---- */

static qdb_status check_binary(const qdb_node *n, qdb_err *e)
{
    qdb_status s = qdb_logic_inputs(n, 2, 2, e);
    if (s != QDB_OK)
        return s;
    if (n->opset < 7 && qdb_attr_int(n, "broadcast", 0) != 0 && qdb_node_attr(n, "axis"))
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "%s: legacy broadcasting with an explicit 'axis' is not supported",
                           n->op_type);
    return QDB_OK;
}

static qdb_status infer_binary(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                               qdb_err *e)
{
    const qdb_tensor *a = qdb_op_in(n, in, 0), *b = qdb_op_in(n, in, 1);
    if (!a || !b)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: needs two inputs", n->op_type);
    if (a->dtype != b->dtype)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input types %s and %s differ", n->op_type,
                           qdb_dtype_name(a->dtype), qdb_dtype_name(b->dtype));
    if (is_logical(cmpop_of(n)) && a->dtype != QDB_I64)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: inputs must be booleans, not %s", n->op_type,
                           qdb_dtype_name(a->dtype));
    const qdb_shape *sh[2] = {&a->shape, &b->shape};
    qdb_shape o;
    qdb_status s = qdb_logic_bcast(n, sh, 2, &o, e);
    if (s != QDB_OK)
        return s;
    return qdb_out_set(n, &out[0], QDB_I64, &o, e);
}

static qdb_status forward_binary(const qdb_node *n, const qdb_tensor *const *in,
                                 qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *A = in[0], *B = in[1];
    qdb_tensor *O = out[0];
    const cmpop op = cmpop_of(n);
    const qdb_shape *sh[2] = {&A->shape, &B->shape};
    qdb_bwalk w;
    qdb_bwalk_init(&w, &O->shape, sh, 2);
    for (size_t r = 0; r < w.runs; r++, qdb_bwalk_next(&w)) {
        int64_t *o = O->data.i + r * (size_t)w.inner;
        if (A->dtype == QDB_F32)
            run_f32(op, o, A->data.f + w.off[0], w.unit[0], B->data.f + w.off[1], w.unit[1],
                    w.inner);
        else
            run_i64(op, o, A->data.i + w.off[0], w.unit[0], B->data.i + w.off[1], w.unit[1],
                    w.inner);
    }
    (void)e;
    return QDB_OK;
}

#define BINARY_OP(sym, name)                                                                       \
    const qdb_op sym = {                                                                           \
        .type = name,                                                                              \
        .check = check_binary,                                                                     \
        .infer = infer_binary,                                                                     \
        .forward = forward_binary,                                                                 \
    }

BINARY_OP(qdb_logic_equal, "Equal");
BINARY_OP(qdb_logic_less, "Less");
BINARY_OP(qdb_logic_greater, "Greater");
BINARY_OP(qdb_logic_less_or_equal, "LessOrEqual");
BINARY_OP(qdb_logic_greater_or_equal, "GreaterOrEqual");
BINARY_OP(qdb_logic_and, "And");
BINARY_OP(qdb_logic_or, "Or");
BINARY_OP(qdb_logic_xor, "Xor");

/* ---- Not ------------------------------------------------------------------- */

static qdb_status not_check(const qdb_node *n, qdb_err *e)
{
    return qdb_logic_inputs(n, 1, 1, e);
}

static qdb_status not_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                            qdb_err *e)
{
    if (in[0]->dtype != QDB_I64)
        return qdb_err_set(e, QDB_ERR_INVALID, "Not: input must be booleans, not %s",
                           qdb_dtype_name(in[0]->dtype));
    return qdb_out_set(n, &out[0], QDB_I64, &in[0]->shape, e);
}

static qdb_status not_forward(const qdb_node *n, const qdb_tensor *const *in,
                              qdb_tensor *const *out, qdb_err *e)
{
    const int64_t *x = in[0]->data.i;
    int64_t *y = out[0]->data.i;
    for (size_t i = 0; i < out[0]->numel; i++)
        y[i] = x[i] == 0;
    (void)n, (void)e;
    return QDB_OK;
}

const qdb_op qdb_logic_not = {
    .type = "Not",
    .check = not_check,
    .infer = not_infer,
    .forward = not_forward,
};

/* ---- Where ----------------------------------------------------------------- */

static qdb_status where_check(const qdb_node *n, qdb_err *e)
{
    return qdb_logic_inputs(n, 3, 3, e);
}

static qdb_status where_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                              qdb_err *e)
{
    const qdb_tensor *c = qdb_op_in(n, in, 0), *x = qdb_op_in(n, in, 1), *y = qdb_op_in(n, in, 2);
    if (!c || !x || !y)
        return qdb_err_set(e, QDB_ERR_INVALID, "Where: needs inputs condition, X and Y");
    if (c->dtype != QDB_I64)
        return qdb_err_set(e, QDB_ERR_INVALID, "Where: the condition must be booleans, not %s",
                           qdb_dtype_name(c->dtype));
    if (x->dtype != y->dtype)
        return qdb_err_set(e, QDB_ERR_INVALID, "Where: X (%s) and Y (%s) differ in type",
                           qdb_dtype_name(x->dtype), qdb_dtype_name(y->dtype));
    const qdb_shape *sh[3] = {&c->shape, &x->shape, &y->shape};
    qdb_shape o;
    qdb_status s = qdb_logic_bcast(n, sh, 3, &o, e);
    if (s != QDB_OK)
        return s;
    return qdb_out_set(n, &out[0], x->dtype, &o, e);
}

#define WHERE_RUN(T)                                                                               \
    do {                                                                                           \
        const T *x = (const T *)X->data.p + w.off[1], *y = (const T *)Y->data.p + w.off[2];        \
        T *o = (T *)O->data.p + r * (size_t)w.inner;                                               \
        if (uc && ux && uy) {                                                                      \
            for (int64_t i = 0; i < w.inner; i++)                                                  \
                o[i] = c[i] ? x[i] : y[i];                                                         \
        } else if (!uc) {                                                                          \
            const T *s = c[0] ? x : y;                                                             \
            const int us = c[0] ? ux : uy;                                                         \
            if (us)                                                                                \
                memcpy(o, s, (size_t)w.inner * sizeof(T));                                         \
            else                                                                                   \
                for (int64_t i = 0; i < w.inner; i++)                                              \
                    o[i] = s[0];                                                                   \
        } else {                                                                                   \
            for (int64_t i = 0; i < w.inner; i++)                                                  \
                o[i] = c[i] ? x[i * ux] : y[i * uy];                                               \
        }                                                                                          \
    } while (0)

static qdb_status where_forward(const qdb_node *n, const qdb_tensor *const *in,
                                qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *C = in[0], *X = in[1], *Y = in[2];
    qdb_tensor *O = out[0];
    const qdb_shape *sh[3] = {&C->shape, &X->shape, &Y->shape};
    qdb_bwalk w;
    qdb_bwalk_init(&w, &O->shape, sh, 3);
    const int uc = w.unit[0], ux = w.unit[1], uy = w.unit[2];
    for (size_t r = 0; r < w.runs; r++, qdb_bwalk_next(&w)) {
        const int64_t *c = C->data.i + w.off[0];
        if (O->dtype == QDB_F32)
            WHERE_RUN(float);
        else
            WHERE_RUN(int64_t);
    }
    (void)n, (void)e;
    return QDB_OK;
}

const qdb_op qdb_logic_where = {
    .type = "Where",
    .check = where_check,
    .infer = where_infer,
    .forward = where_forward,
    .moves_values = 1,
};
