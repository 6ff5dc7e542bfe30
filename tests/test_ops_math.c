/* test_ops_math.c - unit tests of the "math" operator family (elementwise
 * arithmetic, activations, softmax, reductions): each op's check / infer /
 * forward called directly on small tensors, against values worked out by
 * hand or by naive references written here (coordinate decoding, doubles),
 * independent of the engine's strided walkers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "op_harness.h"

/* ---- naive references ------------------------------------------------------ */

/* Flat index in `in` of output coordinates c (rank `rank`), numpy rules. */
static size_t bcast_index(const qdb_shape *in, const int64_t *c, int rank)
{
    size_t k = 0;
    for (int j = 0; j < in->ndim; j++) {
        int64_t cj = in->d[j] == 1 ? 0 : c[rank - in->ndim + j];
        k = k * (size_t)in->d[j] + (size_t)cj;
    }
    return k;
}

static double ref_op(const char *op, double x, double y)
{
    if (!strcmp(op, "Add"))
        return x + y;
    if (!strcmp(op, "Sub"))
        return x - y;
    if (!strcmp(op, "Mul"))
        return x * y;
    if (!strcmp(op, "Div"))
        return x / y;
    if (!strcmp(op, "Pow"))
        return pow(x, y);
    if (!strcmp(op, "Min"))
        return x < y ? x : y;
    if (!strcmp(op, "PRelu"))
        return x < 0 ? x * y : x;
    return x > y ? x : y;
}

static void check_binary_ref(const char *op, int ra, const int64_t *da, int rb, const int64_t *db)
{
    qdb_tensor *a = mkf(ra, da, NULL), *b = mkf(rb, db, NULL);
    for (size_t i = 0; i < a->numel; i++)
        a->data.f[i] = 0.25f * (float)(i % 7) + 0.5f; /* positive: fine for Pow/Div */
    for (size_t i = 0; i < b->numel; i++)
        b->data.f[i] = (float)((int)(i % 5) - 2) * 0.75f + (i % 5 == 2 ? 1.5f : 0.0f);
    tnode t;
    tn_init(&t, op, 14, 2);
    const qdb_tensor *in[2] = {a, b};
    qdb_tensor *o = run_ok(&t, in);
    /* the output shape, worked out per dimension */
    int rank = ra > rb ? ra : rb;
    assert_int_equal(o->shape.ndim, rank);
    for (int i = 0; i < rank; i++) {
        int64_t x = i - (rank - ra) >= 0 ? da[i - (rank - ra)] : 1;
        int64_t y = i - (rank - rb) >= 0 ? db[i - (rank - rb)] : 1;
        assert_int_equal(o->shape.d[i], x == 1 ? y : x);
    }
    int64_t c[QDB_MAX_DIMS];
    for (size_t k = 0; k < o->numel; k++) {
        coords(&o->shape, k, c);
        double want = ref_op(op, a->data.f[bcast_index(&a->shape, c, rank)],
                             b->data.f[bcast_index(&b->shape, c, rank)]);
        expect_close(o->data.f[k], want, 1e-6, op, k);
    }
    qdb_tensor_free(a);
    qdb_tensor_free(b);
    qdb_tensor_free(o);
}

/* ---- elementwise binary ----------------------------------------------------- */

static void test_add_3x1_by_hand(void **state)
{
    (void)state;
    float av[24];
    for (int i = 0; i < 24; i++)
        av[i] = (float)i;
    qdb_tensor *a = mkf(3, D(2, 3, 4), av), *b = mkf(2, D(3, 1), F(100, 200, 300));
    tnode t;
    tn_init(&t, "Add", 14, 2);
    const qdb_tensor *in[2] = {a, b};
    qdb_tensor *o = run_ok(&t, in);
    expect_shape(o, 3, D(2, 3, 4));
    /* out[i][j][k] = a[i][j][k] + b[j] */
    assert_true(o->data.f[0] == 100.0f);
    assert_true(o->data.f[5] == 205.0f);   /* [0][1][1] */
    assert_true(o->data.f[11] == 311.0f);  /* [0][2][3] */
    assert_true(o->data.f[12] == 112.0f);  /* [1][0][0] */
    assert_true(o->data.f[23] == 323.0f);  /* [1][2][3] */
    qdb_tensor_free(a);
    qdb_tensor_free(b);
    qdb_tensor_free(o);
}

static void test_binary_broadcast_shapes(void **state)
{
    (void)state;
    static const char *ops[] = {"Add", "Sub", "Mul", "Div", "Pow", "Min", "Max"};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        const char *op = ops[k];
        check_binary_ref(op, 3, D(2, 3, 4), 3, D(2, 3, 4));
        check_binary_ref(op, 3, D(2, 3, 4), 2, D(3, 1));
        check_binary_ref(op, 3, D(2, 3, 4), 1, D(4));
        check_binary_ref(op, 3, D(2, 3, 4), 0, D(0));
        check_binary_ref(op, 0, D(0), 3, D(2, 3, 4));
        check_binary_ref(op, 3, D(2, 1, 4), 2, D(3, 1));
        check_binary_ref(op, 3, D(1, 3, 1), 3, D(2, 1, 4));
        check_binary_ref(op, 4, D(2, 3, 2, 2), 3, D(3, 1, 1));
        check_binary_ref(op, 2, D(3, 1), 3, D(2, 3, 4));
        check_binary_ref(op, 4, D(2, 1, 3, 1), 3, D(5, 1, 1));
        check_binary_ref(op, 1, D(1), 1, D(1));
    }
}

static void test_binary_shape_mismatch(void **state)
{
    (void)state;
    qdb_tensor *a = mkf(2, D(2, 3), NULL), *b = mkf(1, D(2), NULL);
    tnode t;
    tn_init(&t, "Add", 14, 2);
    const qdb_tensor *in[2] = {a, b};
    qdb_tensor *o;
    qdb_err e;
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_SHAPE);
    assert_non_null(strstr(e.msg, "Add"));
    qdb_tensor_free(a);
    qdb_tensor_free(b);
}

static void test_empty_tensor(void **state)
{
    (void)state;
    qdb_tensor *a = mkf(2, D(0, 3), NULL), *b = mkf(1, D(3), F(1, 2, 3));
    tnode t;
    tn_init(&t, "Mul", 14, 2);
    const qdb_tensor *in[2] = {a, b};
    qdb_tensor *o = run_ok(&t, in);
    expect_shape(o, 2, D(0, 3));
    qdb_tensor_free(a);
    qdb_tensor_free(b);
    qdb_tensor_free(o);
}

static qdb_tensor *bin_i64(const char *op, const qdb_tensor *a, const qdb_tensor *b)
{
    tnode t;
    tn_init(&t, op, 14, 2);
    const qdb_tensor *in[2] = {a, b};
    return run_ok(&t, in);
}

static void test_i64_arith(void **state)
{
    (void)state;
    qdb_tensor *a = mki(2, D(2, 3), I(-7, 7, -7, 7, 0, INT64_MIN));
    qdb_tensor *b = mki(2, D(2, 3), I(2, -2, -2, 2, 5, -1));
    qdb_tensor *o = bin_i64("Div", a, b);
    /* C / ONNX-runtime semantics: truncation toward zero; INT64_MIN / -1
     * wraps instead of trapping. */
    expect_i(o, I(-3, -3, 3, 3, 0, INT64_MIN), 6);
    qdb_tensor_free(o);
    qdb_tensor_free(b);

    b = mki(1, D(3), I(10, -1, 3));
    o = bin_i64("Add", a, b);
    expect_i(o, I(3, 6, -4, 17, -1, INT64_MIN + 3), 6);
    qdb_tensor_free(o);
    o = bin_i64("Sub", a, b);
    expect_i(o, I(-17, 8, -10, -3, 1, INT64_MAX - 2), 6); /* MIN - 3 wraps */
    qdb_tensor_free(o);
    o = bin_i64("Mul", a, b);
    expect_i(o, I(-70, -7, -21, 70, 0, INT64_MIN), 6);
    qdb_tensor_free(o);
    o = bin_i64("Min", a, b);
    expect_i(o, I(-7, -1, -7, 7, -1, INT64_MIN), 6);
    qdb_tensor_free(o);
    o = bin_i64("Max", a, b);
    expect_i(o, I(10, 7, 3, 10, 0, 3), 6);
    qdb_tensor_free(o);
    qdb_tensor_free(b);

    /* scalar shape arithmetic: [N*C] / 2 */
    b = mki(0, D(0), I(2));
    qdb_tensor *c = mki(1, D(2), I(12, 9));
    o = bin_i64("Div", c, b);
    expect_shape(o, 1, D(2));
    expect_i(o, I(6, 4), 2);
    qdb_tensor_free(o);

    /* division by zero is an error, not a trap */
    qdb_tensor *z = mki(0, D(0), I(0));
    tnode t;
    tn_init(&t, "Div", 14, 2);
    const qdb_tensor *in[2] = {c, z};
    qdb_err e;
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "division by zero"));

    /* mixed dtypes are invalid for Add */
    qdb_tensor *f = mkf(1, D(2), F(1, 2));
    tn_init(&t, "Add", 14, 2);
    in[0] = c;
    in[1] = f;
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_INVALID);
    qdb_tensor_free(f);
    qdb_tensor_free(z);
    qdb_tensor_free(c);
    qdb_tensor_free(b);
    qdb_tensor_free(a);
}

static void test_pow_types(void **state)
{
    (void)state;
    qdb_tensor *xf = mkf(1, D(4), F(2, 3, -2, 4));
    qdb_tensor *yi = mki(1, D(4), I(3, 2, 3, 0));
    qdb_tensor *xi = mki(1, D(4), I(2, 3, -2, 4));
    qdb_tensor *yf = mkf(1, D(4), F(3, 0.5f, 2, -1));
    qdb_tensor *o = bin_i64("Pow", xf, yi);
    expect_f(o, F(8, 9, -8, 1), 4, 1e-6);
    qdb_tensor_free(o);
    o = bin_i64("Pow", xi, yf); /* int result: truncated */
    expect_i(o, I(8, 1, 4, 0), 4);
    qdb_tensor_free(o);
    o = bin_i64("Pow", xi, yi);
    expect_i(o, I(8, 9, -8, 1), 4);
    qdb_tensor_free(o);
    qdb_tensor *neg = mki(1, D(4), I(-1, -2, -3, -1));
    qdb_tensor *base = mki(1, D(4), I(1, -1, -1, 2));
    o = bin_i64("Pow", base, neg);
    expect_i(o, I(1, 1, -1, 0), 4);
    qdb_tensor_free(o);
    /* float scalar exponent 2 and 0.5 */
    qdb_tensor *two = mkf(0, D(0), F(2)), *half = mkf(0, D(0), F(0.5f));
    o = bin_i64("Pow", xf, two);
    expect_f(o, F(4, 9, 4, 16), 4, 1e-7);
    qdb_tensor_free(o);
    o = bin_i64("Pow", xf, half);
    assert_true(fabsf(o->data.f[0] - 1.41421356f) < 1e-6f);
    assert_true(isnan(o->data.f[2]));
    qdb_tensor_free(o);
    qdb_tensor_free(two);
    qdb_tensor_free(half);
    qdb_tensor_free(neg);
    qdb_tensor_free(base);
    qdb_tensor_free(xf);
    qdb_tensor_free(yi);
    qdb_tensor_free(xi);
    qdb_tensor_free(yf);
}

static void test_legacy_broadcast(void **state)
{
    (void)state;
    float av[24];
    for (int i = 0; i < 24; i++)
        av[i] = (float)i;
    qdb_tensor *a = mkf(3, D(2, 3, 4), av), *b = mkf(1, D(3), F(100, 200, 300));
    tnode t;
    tn_init(&t, "Add", 6, 2);
    tn_int(&t, "broadcast", 1);
    tn_int(&t, "axis", 1);
    const qdb_tensor *in[2] = {a, b};
    qdb_tensor *o = run_ok(&t, in);
    expect_shape(o, 3, D(2, 3, 4));
    for (int i = 0; i < 24; i++)
        assert_true(o->data.f[i] == av[i] + 100.0f * (float)((i / 4) % 3 + 1));
    qdb_tensor_free(o);

    /* the same B is not broadcastable numpy-style (suffix [4] vs [3]) */
    tn_init(&t, "Add", 7, 2);
    qdb_err e;
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_SHAPE);

    /* axis 0 with B [2,3] */
    qdb_tensor *b2 = mkf(2, D(2, 3), F(1, 2, 3, 4, 5, 6));
    tn_init(&t, "Mul", 6, 2);
    tn_int(&t, "broadcast", 1);
    tn_int(&t, "axis", 0);
    in[1] = b2;
    o = run_ok(&t, in);
    for (int i = 0; i < 24; i++)
        assert_true(o->data.f[i] == av[i] * (float)(i / 4 + 1));
    qdb_tensor_free(o);

    /* axis that does not fit */
    tn_init(&t, "Sub", 6, 2);
    tn_int(&t, "broadcast", 1);
    tn_int(&t, "axis", 2);
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_SHAPE);

    /* bad broadcast value */
    tn_init(&t, "Div", 6, 2);
    tn_int(&t, "broadcast", 3);
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_INVALID);
    qdb_tensor_free(b2);
    qdb_tensor_free(a);
    qdb_tensor_free(b);
}

static void test_variadic(void **state)
{
    (void)state;
    qdb_tensor *a = mkf(1, D(3), F(1, 5, 3));
    qdb_tensor *b = mkf(2, D(2, 1), F(10, -10));
    qdb_tensor *c = mkf(0, D(0), F(0.5f));
    const qdb_tensor *in[3] = {a, b, c};
    tnode t;
    tn_init(&t, "Sum", 13, 3);
    qdb_tensor *o = run_ok(&t, in);
    expect_shape(o, 2, D(2, 3));
    expect_f(o, F(11.5f, 15.5f, 13.5f, -8.5f, -4.5f, -6.5f), 6, 0);
    qdb_tensor_free(o);
    tn_init(&t, "Mean", 13, 3);
    o = run_ok(&t, in);
    expect_f(o, F(11.5f / 3, 15.5f / 3, 13.5f / 3, -8.5f / 3, -4.5f / 3, -6.5f / 3), 6, 1e-7);
    qdb_tensor_free(o);
    tn_init(&t, "Max", 13, 3);
    o = run_ok(&t, in);
    expect_f(o, F(10, 10, 10, 1, 5, 3), 6, 0);
    qdb_tensor_free(o);
    tn_init(&t, "Min", 13, 3);
    o = run_ok(&t, in);
    expect_f(o, F(0.5f, 0.5f, 0.5f, -10, -10, -10), 6, 0);
    qdb_tensor_free(o);
    tn_init(&t, "Min", 13, 1);
    o = run_ok(&t, in);
    expect_f(o, F(1, 5, 3), 3, 0);
    qdb_tensor_free(o);

    /* NaN propagates through Max/Min whichever side it is on */
    qdb_tensor *na = mkf(1, D(2), F(NAN, 1));
    qdb_tensor *nb = mkf(1, D(2), F(2, NAN));
    const qdb_tensor *in2[2] = {na, nb};
    tn_init(&t, "Max", 13, 2);
    o = run_ok(&t, in2);
    assert_true(isnan(o->data.f[0]) && isnan(o->data.f[1]));
    qdb_tensor_free(o);

    /* int64 Max, Sum; Mean rejects int64 */
    qdb_tensor *ia = mki(1, D(2), I(4, -9)), *ib = mki(1, D(2), I(-4, 2));
    const qdb_tensor *in3[2] = {ia, ib};
    tn_init(&t, "Max", 13, 2);
    o = run_ok(&t, in3);
    expect_i(o, I(4, 2), 2);
    qdb_tensor_free(o);
    tn_init(&t, "Sum", 13, 2);
    o = run_ok(&t, in3);
    expect_i(o, I(0, -7), 2);
    qdb_tensor_free(o);
    tn_init(&t, "Mean", 13, 2);
    qdb_err e;
    assert_int_equal(run_n(&t, in3, &o, &e), QDB_ERR_UNSUPPORTED);
    qdb_tensor_free(ia);
    qdb_tensor_free(ib);
    qdb_tensor_free(na);
    qdb_tensor_free(nb);
    qdb_tensor_free(a);
    qdb_tensor_free(b);
    qdb_tensor_free(c);
}

static void test_prelu(void **state)
{
    (void)state;
    qdb_tensor *x = mkf(3, D(2, 3, 2), F(-1, 2, -3, 4, -5, 6, 1, -2, 3, -4, 5, -6));
    /* opset 16: slope [2] broadcasts over the last dimension */
    qdb_tensor *s = mkf(1, D(2), F(0.5f, 0.25f));
    const qdb_tensor *in[2] = {x, s};
    tnode t;
    tn_init(&t, "PRelu", 16, 2);
    qdb_tensor *o = run_ok(&t, in);
    expect_f(o, F(-0.5f, 2, -1.5f, 4, -2.5f, 6, 1, -0.5f, 3, -1, 5, -1.5f), 12, 0);
    qdb_tensor_free(o);
    /* opset 6: a 1-D slope of length C is per channel (dimension 1) */
    qdb_tensor *sc = mkf(1, D(3), F(0.1f, 0.2f, 0.3f));
    in[1] = sc;
    tn_init(&t, "PRelu", 6, 2);
    o = run_ok(&t, in);
    expect_f(o, F(-0.1f, 2, -0.6f, 4, -1.5f, 6, 1, -0.2f, 3, -0.8f, 5, -1.8f), 12, 1e-6);
    qdb_tensor_free(o);
    /* opset 9: [3] does not broadcast to [2,3,2] */
    tn_init(&t, "PRelu", 9, 2);
    qdb_err e;
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_SHAPE);
    /* slope must not grow the output */
    qdb_tensor *big = mkf(4, D(2, 2, 3, 2), NULL);
    in[1] = big;
    tn_init(&t, "PRelu", 16, 2);
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_SHAPE);
    qdb_tensor_free(big);
    qdb_tensor_free(sc);
    qdb_tensor_free(s);
    qdb_tensor_free(x);
}

/* ---- unary ------------------------------------------------------------------ */

static void unary_case(const char *op, int opset, const float *xv, const float *want, size_t n,
                       double tol)
{
    qdb_tensor *x = mkf(1, (int64_t[]){(int64_t)n}, xv);
    tnode t;
    tn_init(&t, op, opset, 1);
    const qdb_tensor *in[1] = {x};
    qdb_tensor *o = run_ok(&t, in);
    for (size_t i = 0; i < n; i++)
        expect_close(o->data.f[i], want[i], tol, op, i);
    qdb_tensor_free(o);
    qdb_tensor_free(x);
}

static void test_unary_values(void **state)
{
    (void)state;
    const double T = 2e-6;
    unary_case("Relu", 14, F(-1, 0, 2.5f), F(0, 0, 2.5f), 3, 0);
    unary_case("Abs", 13, F(-1.5f, 0, 2), F(1.5f, 0, 2), 3, 0);
    unary_case("Neg", 13, F(-1.5f, 0, 2), F(1.5f, 0, -2), 3, 0);
    unary_case("Sign", 13, F(-3, 0, 0.1f), F(-1, 0, 1), 3, 0);
    unary_case("Sqrt", 13, F(4, 2, 0), F(2, 1.41421356237, 0), 3, T);
    unary_case("Exp", 13, F(0, 1, -1), F(1, 2.718281828459, 0.367879441171), 3, T);
    unary_case("Log", 13, F(1, 2.718281828f, 10), F(0, 1, 2.302585093), 3, T);
    unary_case("Reciprocal", 13, F(2, -4, 0.5f), F(0.5, -0.25, 2), 3, 0);
    unary_case("Floor", 13, F(-1.5f, 1.5f, 2), F(-2, 1, 2), 3, 0);
    unary_case("Ceil", 13, F(-1.5f, 1.5f, 2), F(-1, 2, 2), 3, 0);
    /* half to even */
    unary_case("Round", 11, F(0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, 2.6f, -2.6f),
               F(0, 2, 2, 0, -2, 2, 3, -3), 8, 0);
    unary_case("Sin", 7, F(0, 1.5707963f, -0.5f), F(0, 1, -0.479425538604), 3, T);
    unary_case("Cos", 7, F(0, 3.14159265f, 0.5f), F(1, -1, 0.877582561890), 3, T);
    unary_case("Tanh", 13, F(0, 1, -2), F(0, 0.761594155956, -0.964027580076), 3, T);
    unary_case("Erf", 13, F(0, 0.5f, -1), F(0, 0.520499877813, -0.842700792950), 3, T);
    unary_case("Sigmoid", 13, F(0, 2, -2, -100, 100),
               F(0.5, 0.880797077978, 0.119202922022, 3.720075976e-44, 1), 5, T);
    unary_case("Softplus", 1, F(0, 2, -2, 100), F(0.693147180560, 2.126928011043,
                                                   0.126928011043, 100), 4, T);
    unary_case("Softsign", 1, F(1, -3, 0), F(0.5, -0.75, 0), 3, 0);
    /* x * tanh(ln(1 + e^x)) */
    unary_case("Mish", 18, F(1, -1, 0), F(0.865098388, -0.303401322, 0), 3, T);
    unary_case("HardSwish", 14, F(-4, -3, 0, 1, 3, 4), F(0, 0, 0, 2.0 / 3, 3, 4), 6, T);
    unary_case("LeakyRelu", 16, F(-10, 5), F(-0.1, 5), 2, T);
    unary_case("ThresholdedRelu", 10, F(0.5f, 1, 1.5f), F(0, 0, 1.5f), 3, 0);
    unary_case("Elu", 6, F(-1, 2), F(-0.632120558829, 2), 2, T);
    unary_case("Selu", 6, F(-1, 2), F(-1.111330741, 2.101402044), 2, T);
    unary_case("HardSigmoid", 6, F(-3, 0, 1, 3), F(0, 0.5, 0.7, 1), 4, T);
    unary_case("Celu", 12, F(-1, 3), F(-0.632120558829, 3), 2, T);
    unary_case("Gelu", 20, F(1, -1, 0), F(0.841344746069, -0.158655253931, 0), 3, T);
}

static void test_unary_attrs(void **state)
{
    (void)state;
    qdb_tensor *x = mkf(1, D(3), F(-1, 0.5f, 2));
    const qdb_tensor *in[1] = {x};
    tnode t;
    qdb_tensor *o;

    tn_init(&t, "LeakyRelu", 6, 1);
    tn_float(&t, "alpha", 0.5f);
    o = run_ok(&t, in);
    expect_f(o, F(-0.5f, 0.5f, 2), 3, 0);
    qdb_tensor_free(o);

    tn_init(&t, "Elu", 6, 1);
    tn_float(&t, "alpha", 2);
    o = run_ok(&t, in);
    expect_f(o, F(-1.264241117657, 0.5f, 2), 3, 1e-6);
    qdb_tensor_free(o);

    tn_init(&t, "Selu", 6, 1);
    tn_float(&t, "alpha", 2);
    tn_float(&t, "gamma", 3);
    o = run_ok(&t, in);
    expect_f(o, F(-3.792723353, 1.5f, 6), 3, 1e-6);
    qdb_tensor_free(o);

    tn_init(&t, "HardSigmoid", 6, 1);
    tn_float(&t, "alpha", 0.5f);
    tn_float(&t, "beta", 0.6f);
    o = run_ok(&t, in);
    expect_f(o, F(0.1, 0.85, 1), 3, 1e-6);
    qdb_tensor_free(o);

    tn_init(&t, "ThresholdedRelu", 10, 1);
    tn_float(&t, "alpha", 0.25f);
    o = run_ok(&t, in);
    expect_f(o, F(0, 0.5f, 2), 3, 0);
    qdb_tensor_free(o);

    /* Celu alpha 2: max(0,x) + min(0, 2*(exp(x/2)-1)) */
    tn_init(&t, "Celu", 12, 1);
    tn_float(&t, "alpha", 2);
    o = run_ok(&t, in);
    expect_f(o, F(-0.786938680575, 0.5f, 2), 3, 1e-6);
    qdb_tensor_free(o);

    /* Gelu tanh approximation: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
    tn_init(&t, "Gelu", 20, 1);
    tn_str(&t, "approximate", "tanh");
    o = run_ok(&t, in);
    expect_f(o, F(-0.158808009, 0.345714036, 1.954597694), 3, 2e-6);
    qdb_tensor_free(o);
    tn_init(&t, "Gelu", 20, 1);
    tn_str(&t, "approximate", "fast");
    qdb_err e;
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_INVALID);
    qdb_tensor_free(x);
}

static void test_unary_int(void **state)
{
    (void)state;
    qdb_tensor *x = mki(1, D(4), I(-3, 0, 5, INT64_MIN));
    const qdb_tensor *in[1] = {x};
    tnode t;
    qdb_tensor *o;
    tn_init(&t, "Relu", 14, 1);
    o = run_ok(&t, in);
    expect_i(o, I(0, 0, 5, 0), 4);
    qdb_tensor_free(o);
    tn_init(&t, "Abs", 13, 1);
    o = run_ok(&t, in);
    expect_i(o, I(3, 0, 5, INT64_MIN), 4);
    qdb_tensor_free(o);
    tn_init(&t, "Neg", 13, 1);
    o = run_ok(&t, in);
    expect_i(o, I(3, 0, -5, INT64_MIN), 4);
    qdb_tensor_free(o);
    tn_init(&t, "Sign", 13, 1);
    o = run_ok(&t, in);
    expect_i(o, I(-1, 0, 1, -1), 4);
    qdb_tensor_free(o);
    tn_init(&t, "Exp", 13, 1);
    qdb_err e;
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "Exp"));
    tn_init(&t, "Exp", 13, 2);
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_INVALID);
    qdb_tensor_free(x);
}

static void test_clip(void **state)
{
    (void)state;
    qdb_tensor *x = mkf(1, D(5), F(-3, -1, 0, 1, 3));
    qdb_tensor *lo = mkf(0, D(0), F(-1.5f)), *hi = mkf(1, D(1), F(2));
    tnode t;
    qdb_tensor *o;
    /* opset 6: attributes */
    tn_init(&t, "Clip", 6, 1);
    tn_float(&t, "min", -0.5f);
    tn_float(&t, "max", 0.5f);
    const qdb_tensor *in1[1] = {x};
    o = run_ok(&t, in1);
    expect_f(o, F(-0.5f, -0.5f, 0, 0.5f, 0.5f), 5, 0);
    qdb_tensor_free(o);
    /* opset 6 default: no clipping */
    tn_init(&t, "Clip", 6, 1);
    o = run_ok(&t, in1);
    expect_f(o, F(-3, -1, 0, 1, 3), 5, 0);
    qdb_tensor_free(o);
    /* opset 13: inputs */
    const qdb_tensor *in3[3] = {x, lo, hi};
    tn_init(&t, "Clip", 13, 3);
    o = run_ok(&t, in3);
    expect_f(o, F(-1.5f, -1, 0, 1, 2), 5, 0);
    qdb_tensor_free(o);
    /* only max */
    const qdb_tensor *inm[3] = {x, NULL, hi};
    tn_init(&t, "Clip", 13, 3);
    t.in_idx[1] = -1;
    o = run_ok(&t, inm);
    expect_f(o, F(-3, -1, 0, 1, 2), 5, 0);
    qdb_tensor_free(o);
    /* min > max: everything becomes max */
    const qdb_tensor *inx[3] = {x, hi, lo};
    tn_init(&t, "Clip", 13, 3);
    o = run_ok(&t, inx);
    expect_f(o, F(-1.5f, -1.5f, -1.5f, -1.5f, -1.5f), 5, 0);
    qdb_tensor_free(o);
    /* attributes are not allowed at opset 11+ */
    tn_init(&t, "Clip", 11, 1);
    tn_float(&t, "min", 0);
    qdb_err e;
    assert_int_equal(run_n(&t, in1, &o, &e), QDB_ERR_INVALID);
    /* int64 */
    qdb_tensor *xi = mki(1, D(4), I(-100, -5, 7, 100));
    qdb_tensor *li = mki(0, D(0), I(-6)), *hi_i = mki(0, D(0), I(50));
    const qdb_tensor *ini[3] = {xi, li, hi_i};
    tn_init(&t, "Clip", 13, 3);
    o = run_ok(&t, ini);
    expect_i(o, I(-6, -5, 7, 50), 4);
    qdb_tensor_free(o);
    /* min of another dtype */
    const qdb_tensor *inb[3] = {xi, lo, NULL};
    tn_init(&t, "Clip", 13, 2);
    assert_int_equal(run_n(&t, inb, &o, &e), QDB_ERR_INVALID);
    qdb_tensor_free(xi);
    qdb_tensor_free(li);
    qdb_tensor_free(hi_i);
    qdb_tensor_free(x);
    qdb_tensor_free(lo);
    qdb_tensor_free(hi);
}

/* ---- softmax ---------------------------------------------------------------- */

/* Naive softmax of x (shape s) at axis (already normalized); legacy: the
 * group of an element is its row of the 2-D coercion. */
static void ref_softmax(const qdb_tensor *x, int axis, int legacy, int log_, double *out)
{
    const qdb_shape *s = &x->shape;
    int64_t c[QDB_MAX_DIMS], c2[QDB_MAX_DIMS];
    for (size_t k = 0; k < x->numel; k++) {
        coords(s, k, c);
        double m = -INFINITY, sum = 0;
        for (size_t j = 0; j < x->numel; j++) {
            coords(s, j, c2);
            int same = 1;
            for (int d = 0; d < s->ndim; d++) {
                int varies = legacy ? d >= axis : d == axis;
                if (!varies && c[d] != c2[d])
                    same = 0;
            }
            if (same && x->data.f[j] > m)
                m = x->data.f[j];
        }
        for (size_t j = 0; j < x->numel; j++) {
            coords(s, j, c2);
            int same = 1;
            for (int d = 0; d < s->ndim; d++) {
                int varies = legacy ? d >= axis : d == axis;
                if (!varies && c[d] != c2[d])
                    same = 0;
            }
            if (same)
                sum += exp(x->data.f[j] - m);
        }
        out[k] = log_ ? x->data.f[k] - m - log(sum) : exp(x->data.f[k] - m) / sum;
    }
}

static void softmax_case(const char *op, int opset, int has_axis, int axis, int norm_axis)
{
    float xv[24];
    for (int i = 0; i < 24; i++)
        xv[i] = (float)((i * 7) % 11) * 0.3f - 1.0f;
    qdb_tensor *x = mkf(3, D(2, 3, 4), xv);
    tnode t;
    tn_init(&t, op, opset, 1);
    if (has_axis)
        tn_int(&t, "axis", axis);
    const qdb_tensor *in[1] = {x};
    qdb_tensor *o = run_ok(&t, in);
    expect_shape(o, 3, D(2, 3, 4));
    double ref[24];
    ref_softmax(x, norm_axis, opset < 13, !strcmp(op, "LogSoftmax"), ref);
    for (int i = 0; i < 24; i++)
        expect_close(o->data.f[i], ref[i], 2e-6, op, (size_t)i);
    qdb_tensor_free(o);
    qdb_tensor_free(x);
}

static void test_softmax(void **state)
{
    (void)state;
    const char *ops[] = {"Softmax", "LogSoftmax"};
    for (int k = 0; k < 2; k++) {
        /* opset 13: one axis, default -1 */
        softmax_case(ops[k], 13, 0, 0, 2);
        softmax_case(ops[k], 13, 1, 0, 0);
        softmax_case(ops[k], 13, 1, 1, 1);
        softmax_case(ops[k], 13, 1, 2, 2);
        softmax_case(ops[k], 13, 1, -2, 1);
        /* opset 11 / 1: 2-D coercion, default 1 */
        softmax_case(ops[k], 11, 0, 0, 1);
        softmax_case(ops[k], 11, 1, 0, 0);
        softmax_case(ops[k], 11, 1, 2, 2);
        softmax_case(ops[k], 1, 1, -1, 2);
    }
    /* opset 11 axis 1 on [2,3,4]: each batch's 12 values sum to 1 */
    float xv[24];
    for (int i = 0; i < 24; i++)
        xv[i] = (float)i * 0.1f;
    qdb_tensor *x = mkf(3, D(2, 3, 4), xv);
    tnode t;
    tn_init(&t, "Softmax", 11, 1);
    const qdb_tensor *in[1] = {x};
    qdb_tensor *o = run_ok(&t, in);
    double s0 = 0, s1 = 0;
    for (int i = 0; i < 12; i++) {
        s0 += o->data.f[i];
        s1 += o->data.f[12 + i];
    }
    assert_true(fabs(s0 - 1) < 1e-6 && fabs(s1 - 1) < 1e-6);
    qdb_tensor_free(o);
    /* axis out of range */
    tn_init(&t, "Softmax", 13, 1);
    tn_int(&t, "axis", 3);
    qdb_err e;
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_INVALID);
    qdb_tensor_free(x);
}

static void test_softmax_large(void **state)
{
    (void)state;
    /* e^0, e^1, e^2 over their sum: no overflow for large inputs */
    qdb_tensor *x = mkf(2, D(2, 3), F(1000, 1001, 1002, -1000, -999, -998));
    tnode t;
    tn_init(&t, "Softmax", 13, 1);
    const qdb_tensor *in[1] = {x};
    qdb_tensor *o = run_ok(&t, in);
    const float p[6] = {0.0900305732f, 0.244728471f, 0.665240956f,
                        0.0900305732f, 0.244728471f, 0.665240956f};
    expect_f(o, p, 6, 1e-6);
    qdb_tensor_free(o);
    tn_init(&t, "LogSoftmax", 13, 1);
    o = run_ok(&t, in);
    /* log p = x - 1002 - ln(1 + e^-1 + e^-2) */
    const float lp[6] = {-2.40760596f, -1.40760596f, -0.40760596f,
                         -2.40760596f, -1.40760596f, -0.40760596f};
    expect_f(o, lp, 6, 1e-6);
    qdb_tensor_free(o);
    qdb_tensor_free(x);
}

static void test_hardmax(void **state)
{
    (void)state;
    qdb_tensor *x = mkf(2, D(3, 3), F(1, 3, 3, 5, 0, -1, -2, -2, -3));
    tnode t;
    const qdb_tensor *in[1] = {x};
    tn_init(&t, "Hardmax", 13, 1);
    qdb_tensor *o = run_ok(&t, in);
    expect_f(o, F(0, 1, 0, 1, 0, 0, 1, 0, 0), 9, 0); /* ties: first */
    qdb_tensor_free(o);
    tn_init(&t, "Hardmax", 13, 1);
    tn_int(&t, "axis", 0);
    o = run_ok(&t, in);
    expect_f(o, F(0, 1, 1, 1, 0, 0, 0, 0, 0), 9, 0);
    qdb_tensor_free(o);
    qdb_tensor_free(x);
}

/* ---- reductions ------------------------------------------------------------- */

static double ref_reduce(const char *op, const qdb_tensor *x, const int *mask, const int64_t *oc,
                         int keep)
{
    /* output coordinate oc (in output rank) -> match on kept input dims */
    int64_t c[QDB_MAX_DIMS];
    double acc, m = -INFINITY;
    int first = 1;
    double count = 0;
    acc = !strcmp(op, "ReduceProd") ? 1 : 0;
    if (!strcmp(op, "ReduceMax"))
        acc = -INFINITY;
    if (!strcmp(op, "ReduceMin"))
        acc = INFINITY;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = 0; j < x->numel; j++) {
            coords(&x->shape, j, c);
            int od = 0, match = 1;
            for (int d = 0; d < x->shape.ndim; d++) {
                if (mask[d]) {
                    if (keep)
                        od++;
                    continue;
                }
                if (c[d] != oc[od++])
                    match = 0;
            }
            if (!match)
                continue;
            double v = x->data.f[j];
            if (pass == 0) {
                if (v > m)
                    m = v;
                continue;
            }
            count++;
            if (!strcmp(op, "ReduceSum") || !strcmp(op, "ReduceMean") ||
                !strcmp(op, "ReduceLogSum"))
                acc += v;
            else if (!strcmp(op, "ReduceProd"))
                acc *= v;
            else if (!strcmp(op, "ReduceMax"))
                acc = v > acc ? v : acc;
            else if (!strcmp(op, "ReduceMin"))
                acc = v < acc ? v : acc;
            else if (!strcmp(op, "ReduceL1"))
                acc += fabs(v);
            else if (!strcmp(op, "ReduceL2") || !strcmp(op, "ReduceSumSquare"))
                acc += v * v;
            else if (!strcmp(op, "ReduceLogSumExp"))
                acc += exp(v - m);
            first = 0;
        }
    }
    (void)first;
    if (!strcmp(op, "ReduceMean"))
        return acc / count;
    if (!strcmp(op, "ReduceL2"))
        return sqrt(acc);
    if (!strcmp(op, "ReduceLogSum"))
        return log(acc);
    if (!strcmp(op, "ReduceLogSumExp"))
        return log(acc) + m;
    return acc;
}

static void reduce_case(const char *op, const int64_t *axes, int na, int keep)
{
    float xv[24];
    for (int i = 0; i < 24; i++)
        xv[i] = 0.5f + (float)((i * 5) % 9) * 0.25f; /* positive: logs defined */
    qdb_tensor *x = mkf(3, D(2, 3, 4), xv);
    tnode t;
    tn_init(&t, op, 11, 1);
    if (na > 0)
        tn_ints(&t, "axes", axes, na);
    tn_int(&t, "keepdims", keep);
    const qdb_tensor *in[1] = {x};
    qdb_tensor *o = run_ok(&t, in);
    int mask[3] = {na == 0, na == 0, na == 0};
    for (int i = 0; i < na; i++)
        mask[axes[i] < 0 ? axes[i] + 3 : axes[i]] = 1;
    /* expected shape */
    int r = 0;
    for (int d = 0; d < 3; d++) {
        if (mask[d] && !keep)
            continue;
        assert_int_equal(o->shape.d[r], mask[d] ? 1 : x->shape.d[d]);
        r++;
    }
    assert_int_equal(o->shape.ndim, r);
    int64_t oc[QDB_MAX_DIMS];
    for (size_t k = 0; k < o->numel; k++) {
        coords(&o->shape, k, oc);
        expect_close(o->data.f[k], ref_reduce(op, x, mask, oc, keep), 1e-6, op, k);
    }
    qdb_tensor_free(o);
    qdb_tensor_free(x);
}

static void test_reduce_ops(void **state)
{
    (void)state;
    static const char *ops[] = {"ReduceSum",  "ReduceMean",      "ReduceMax",
                                "ReduceMin",  "ReduceProd",      "ReduceL1",
                                "ReduceL2",   "ReduceSumSquare", "ReduceLogSum",
                                "ReduceLogSumExp"};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        for (int keep = 0; keep <= 1; keep++) {
            reduce_case(ops[k], I(1), 1, keep);
            reduce_case(ops[k], I(-1), 1, keep);
            reduce_case(ops[k], I(0), 1, keep);
            reduce_case(ops[k], I(0, 2), 2, keep);
            reduce_case(ops[k], I(2, 1), 2, keep);
            reduce_case(ops[k], I(0, -2, 2), 3, keep);
            reduce_case(ops[k], NULL, 0, keep);
        }
}

static void test_reduce_by_hand(void **state)
{
    (void)state;
    /* [[1,2,3],[4,5,6]] */
    qdb_tensor *x = mkf(2, D(2, 3), F(1, 2, 3, 4, 5, 6));
    const qdb_tensor *in[1] = {x};
    tnode t;
    qdb_tensor *o;
    tn_init(&t, "ReduceSum", 11, 1);
    tn_ints(&t, "axes", I(0), 1);
    o = run_ok(&t, in);
    expect_shape(o, 2, D(1, 3));
    expect_f(o, F(5, 7, 9), 3, 0);
    qdb_tensor_free(o);
    tn_init(&t, "ReduceMean", 11, 1);
    tn_ints(&t, "axes", I(-1), 1);
    tn_int(&t, "keepdims", 0);
    o = run_ok(&t, in);
    expect_shape(o, 1, D(2));
    expect_f(o, F(2, 5), 2, 0);
    qdb_tensor_free(o);
    tn_init(&t, "ReduceProd", 11, 1);
    o = run_ok(&t, in);
    expect_shape(o, 2, D(1, 1));
    expect_f(o, F(720), 1, 0);
    qdb_tensor_free(o);
    tn_init(&t, "ReduceL2", 11, 1);
    tn_ints(&t, "axes", I(1), 1);
    o = run_ok(&t, in);
    expect_f(o, F(3.741657387, 8.774964387), 2, 1e-7);
    qdb_tensor_free(o);
    /* repeated axis */
    tn_init(&t, "ReduceMax", 11, 1);
    tn_ints(&t, "axes", I(1, -1), 2);
    qdb_err e;
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_INVALID);
    /* axis out of range */
    tn_init(&t, "ReduceMax", 11, 1);
    tn_ints(&t, "axes", I(2), 1);
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_INVALID);
    qdb_tensor_free(x);
}

static void test_reduce_axes_input(void **state)
{
    (void)state;
    qdb_tensor *x = mkf(2, D(2, 3), F(1, -2, 3, 4, 5, -6));
    qdb_tensor *ax = mki(1, D(1), I(-2));
    qdb_tensor *empty = mki(1, D(0), NULL);
    tnode t;
    qdb_tensor *o;
    qdb_err e;

    const qdb_tensor *in2[2] = {x, ax};
    tn_init(&t, "ReduceSum", 13, 2);
    tn_int(&t, "keepdims", 0);
    o = run_ok(&t, in2);
    expect_shape(o, 1, D(3));
    expect_f(o, F(5, 3, -3), 3, 0);
    qdb_tensor_free(o);

    /* no axes input: everything */
    const qdb_tensor *in1[1] = {x};
    tn_init(&t, "ReduceSum", 13, 1);
    o = run_ok(&t, in1);
    expect_shape(o, 2, D(1, 1));
    expect_f(o, F(5), 1, 0);
    qdb_tensor_free(o);

    /* empty axes, noop_with_empty_axes: identity */
    const qdb_tensor *ine[2] = {x, empty};
    tn_init(&t, "ReduceSum", 13, 2);
    tn_int(&t, "noop_with_empty_axes", 1);
    o = run_ok(&t, ine);
    expect_shape(o, 2, D(2, 3));
    expect_f(o, F(1, -2, 3, 4, 5, -6), 6, 0);
    qdb_tensor_free(o);
    /* ... and without it: reduce all */
    tn_init(&t, "ReduceSum", 13, 2);
    o = run_ok(&t, ine);
    expect_f(o, F(5), 1, 0);
    qdb_tensor_free(o);
    /* ReduceSumSquare 18 noop: each element squared, nothing reduced */
    tn_init(&t, "ReduceSumSquare", 18, 2);
    tn_int(&t, "noop_with_empty_axes", 1);
    o = run_ok(&t, ine);
    expect_f(o, F(1, 4, 9, 16, 25, 36), 6, 0);
    qdb_tensor_free(o);

    /* ReduceMax 18 takes axes as input */
    tn_init(&t, "ReduceMax", 18, 2);
    o = run_ok(&t, in2);
    expect_shape(o, 2, D(1, 3));
    expect_f(o, F(4, 5, 3), 3, 0);
    qdb_tensor_free(o);
    /* ... and rejects the attribute */
    tn_init(&t, "ReduceMean", 18, 1);
    tn_ints(&t, "axes", I(0), 1);
    assert_int_equal(run_n(&t, in1, &o, &e), QDB_ERR_INVALID);
    /* ReduceMean 13 has no axes input */
    tn_init(&t, "ReduceMean", 13, 2);
    assert_int_equal(run_n(&t, in2, &o, &e), QDB_ERR_INVALID);

    /* axes only known at run time: infer reports it */
    qdb_tensor *hdr = qdb_tensor_new_header(QDB_I64, &ax->shape, NULL);
    const qdb_tensor *inh[2] = {x, hdr};
    tn_init(&t, "ReduceSum", 13, 2);
    qdb_tensor outs[1];
    memset(outs, 0, sizeof outs);
    assert_int_equal(t.n.op->infer(&t.n, inh, outs, &e), QDB_ERR_DYNAMIC);
    assert_non_null(strstr(e.msg, "axes"));
    /* but an empty header is known to be empty */
    qdb_tensor *hdr0 = qdb_tensor_new_header(QDB_I64, &empty->shape, NULL);
    inh[1] = hdr0;
    assert_int_equal(t.n.op->infer(&t.n, inh, outs, &e), QDB_OK);
    expect_shape(&outs[0], 2, D(1, 1));
    qdb_tensor_free(hdr);
    qdb_tensor_free(hdr0);
    qdb_tensor_free(ax);
    qdb_tensor_free(empty);
    qdb_tensor_free(x);
}

static void test_reduce_i64_and_extremes(void **state)
{
    (void)state;
    qdb_tensor *x = mki(2, D(2, 3), I(1, -2, 3, 4, 5, -6));
    const qdb_tensor *in[1] = {x};
    tnode t;
    qdb_tensor *o;
    qdb_err e;
    tn_init(&t, "ReduceProd", 13, 1);
    tn_ints(&t, "axes", I(1), 1);
    tn_int(&t, "keepdims", 0);
    o = run_ok(&t, in);
    expect_i(o, I(-6, -120), 2);
    qdb_tensor_free(o);
    tn_init(&t, "ReduceMin", 13, 1);
    tn_ints(&t, "axes", I(0), 1);
    o = run_ok(&t, in);
    expect_i(o, I(1, -2, -6), 3);
    qdb_tensor_free(o);
    tn_init(&t, "ReduceMax", 13, 1);
    o = run_ok(&t, in);
    expect_i(o, I(5), 1);
    qdb_tensor_free(o);
    tn_init(&t, "ReduceSum", 11, 1);
    tn_ints(&t, "axes", I(0), 1);
    o = run_ok(&t, in);
    expect_i(o, I(5, 3, -3), 3);
    qdb_tensor_free(o);
    tn_init(&t, "ReduceMean", 13, 1);
    assert_int_equal(run_n(&t, in, &o, &e), QDB_ERR_UNSUPPORTED);
    qdb_tensor_free(x);

    /* LogSumExp stays finite for large inputs; all -inf gives -inf */
    qdb_tensor *f = mkf(2, D(2, 2), F(1000, 1000, -INFINITY, -INFINITY));
    const qdb_tensor *inf_[1] = {f};
    tn_init(&t, "ReduceLogSumExp", 13, 1);
    tn_ints(&t, "axes", I(1), 1);
    o = run_ok(&t, inf_);
    assert_true(fabsf(o->data.f[0] - 1000.693147f) < 1e-3f);
    assert_true(isinf(o->data.f[1]) && o->data.f[1] < 0);
    qdb_tensor_free(o);
    /* empty reduction: sum 0, max -inf */
    qdb_tensor *z = mkf(2, D(2, 0), NULL);
    const qdb_tensor *inz[1] = {z};
    tn_init(&t, "ReduceSum", 11, 1);
    tn_ints(&t, "axes", I(1), 1);
    o = run_ok(&t, inz);
    expect_shape(o, 2, D(2, 1));
    expect_f(o, F(0, 0), 2, 0);
    qdb_tensor_free(o);
    tn_init(&t, "ReduceMax", 11, 1);
    tn_ints(&t, "axes", I(1), 1);
    o = run_ok(&t, inz);
    assert_true(isinf(o->data.f[0]) && o->data.f[0] < 0);
    qdb_tensor_free(o);
    qdb_tensor_free(z);
    qdb_tensor_free(f);
}

static void test_argmax_argmin(void **state)
{
    (void)state;
    qdb_tensor *x = mkf(2, D(2, 3), F(1, 5, 5, 7, 2, 7));
    const qdb_tensor *in[1] = {x};
    tnode t;
    qdb_tensor *o;
    tn_init(&t, "ArgMax", 13, 1);
    tn_int(&t, "axis", 1);
    o = run_ok(&t, in);
    expect_shape(o, 2, D(2, 1));
    expect_i(o, I(1, 0), 2);
    qdb_tensor_free(o);
    tn_init(&t, "ArgMax", 13, 1);
    tn_int(&t, "axis", -1);
    tn_int(&t, "select_last_index", 1);
    tn_int(&t, "keepdims", 0);
    o = run_ok(&t, in);
    expect_shape(o, 1, D(2));
    expect_i(o, I(2, 2), 2);
    qdb_tensor_free(o);
    tn_init(&t, "ArgMin", 13, 1);
    o = run_ok(&t, in); /* axis 0 */
    expect_shape(o, 2, D(1, 3));
    expect_i(o, I(0, 1, 0), 3);
    qdb_tensor_free(o);
    qdb_tensor *y = mkf(2, D(2, 3), F(3, 1, 1, 0, 0, 4));
    in[0] = y;
    tn_init(&t, "ArgMin", 13, 1);
    tn_int(&t, "axis", 1);
    o = run_ok(&t, in);
    expect_i(o, I(1, 0), 2);
    qdb_tensor_free(o);
    tn_init(&t, "ArgMin", 13, 1);
    tn_int(&t, "axis", 1);
    tn_int(&t, "select_last_index", 1);
    o = run_ok(&t, in);
    expect_i(o, I(2, 1), 2);
    qdb_tensor_free(o);
    /* middle axis of [2,3,2], int64 input */
    qdb_tensor *z = mki(3, D(2, 3, 2), I(1, 9, 8, 2, 3, 3, -1, -2, -5, 0, -1, -9));
    in[0] = z;
    tn_init(&t, "ArgMax", 13, 1);
    tn_int(&t, "axis", 1);
    o = run_ok(&t, in);
    expect_shape(o, 3, D(2, 1, 2));
    expect_i(o, I(1, 0, 0, 1), 4);
    qdb_tensor_free(o);
    qdb_tensor_free(z);
    qdb_tensor_free(y);
    qdb_tensor_free(x);
}

/* Long inputs run the blocked (vectorized) loops and fast_expf. */
static void test_long_vectors(void **state)
{
    (void)state;
    enum { N = 1003 };
    float xv[N];
    for (int i = 0; i < N; i++)
        xv[i] = -100.0f + 200.0f * (float)i / (N - 1);
    xv[0] = -INFINITY;
    xv[1] = INFINITY;
    xv[2] = NAN;
    xv[3] = -0.0f;
    xv[4] = 88.9f;
    xv[5] = -88.9f;
    qdb_tensor *x = mkf(1, D(N), xv);
    const qdb_tensor *in[1] = {x};
    tnode t;
    qdb_tensor *o;

    tn_init(&t, "Sigmoid", 13, 1);
    o = run_ok(&t, in);
    for (int i = 0; i < N; i++) {
        double want = 1.0 / (1.0 + exp(-(double)xv[i]));
        if (isnan(xv[i]))
            assert_true(isnan(o->data.f[i]));
        else if (!(fabs(o->data.f[i] - want) <= 1e-7 + 1e-6 * want))
            fail_msg("Sigmoid(%g) = %.9g, want %.9g", xv[i], o->data.f[i], want);
    }
    qdb_tensor_free(o);

    tn_init(&t, "LeakyRelu", 16, 1);
    tn_float(&t, "alpha", 0.125f);
    o = run_ok(&t, in);
    for (int i = 3; i < N; i++)
        assert_true(o->data.f[i] == (xv[i] < 0 ? xv[i] * 0.125f : xv[i]));
    assert_true(o->data.f[0] == -INFINITY && o->data.f[1] == INFINITY && isnan(o->data.f[2]));
    qdb_tensor_free(o);

    tn_init(&t, "HardSwish", 14, 1);
    o = run_ok(&t, in);
    for (int i = 3; i < N; i++) {
        double v = xv[i] / 6.0 + 0.5;
        double want = xv[i] * (v < 0 ? 0 : v > 1 ? 1 : v);
        expect_close(o->data.f[i], want, 1e-6, "HardSwish", (size_t)i);
    }
    qdb_tensor_free(o);

    /* PRelu against a per-element slope */
    float sv[N];
    for (int i = 0; i < N; i++)
        sv[i] = (float)(i % 13) * 0.1f - 0.3f;
    qdb_tensor *sl = mkf(1, D(N), sv);
    const qdb_tensor *in2[2] = {x, sl};
    tn_init(&t, "PRelu", 16, 2);
    o = run_ok(&t, in2);
    for (int i = 3; i < N; i++)
        assert_true(o->data.f[i] == (xv[i] < 0 ? xv[i] * sv[i] : xv[i]));
    assert_true(isnan(o->data.f[2]) && o->data.f[1] == INFINITY);
    qdb_tensor_free(o);
    qdb_tensor_free(sl);
    qdb_tensor_free(x);

    /* larger broadcasts and softmax rows of odd lengths */
    check_binary_ref("Add", 3, D(5, 7, 33), 2, D(7, 1));
    check_binary_ref("PRelu", 3, D(5, 7, 33), 1, D(33));
    float yv[2 * 37 * 19];
    for (int i = 0; i < 2 * 37 * 19; i++)
        yv[i] = (float)((i * 31) % 97) * 0.21f - 9.0f;
    qdb_tensor *y = mkf(3, D(2, 37, 19), yv);
    double ref[2 * 37 * 19];
    const qdb_tensor *in3[1] = {y};
    for (int axis = 1; axis <= 2; axis++)
        for (int lg = 0; lg <= 1; lg++) {
            tn_init(&t, lg ? "LogSoftmax" : "Softmax", 13, 1);
            tn_int(&t, "axis", axis);
            o = run_ok(&t, in3);
            ref_softmax(y, axis, 0, lg, ref);
            for (int i = 0; i < 2 * 37 * 19; i++)
                expect_close(o->data.f[i], ref[i], 2e-6, t.n.op_type, (size_t)i);
            qdb_tensor_free(o);
        }
    qdb_tensor_free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_3x1_by_hand),
        cmocka_unit_test(test_binary_broadcast_shapes),
        cmocka_unit_test(test_binary_shape_mismatch),
        cmocka_unit_test(test_empty_tensor),
        cmocka_unit_test(test_i64_arith),
        cmocka_unit_test(test_pow_types),
        cmocka_unit_test(test_legacy_broadcast),
        cmocka_unit_test(test_variadic),
        cmocka_unit_test(test_prelu),
        cmocka_unit_test(test_unary_values),
        cmocka_unit_test(test_unary_attrs),
        cmocka_unit_test(test_unary_int),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_softmax_large),
        cmocka_unit_test(test_hardmax),
        cmocka_unit_test(test_reduce_ops),
        cmocka_unit_test(test_reduce_by_hand),
        cmocka_unit_test(test_reduce_axes_input),
        cmocka_unit_test(test_reduce_i64_and_extremes),
        cmocka_unit_test(test_argmax_argmin),
        cmocka_unit_test(test_long_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
