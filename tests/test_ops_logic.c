/* test_ops_logic.c - unit tests of the "logic" operator family: comparisons,
 * boolean logic, Where, Mod, CumSum, ScatterND / ScatterElements / GatherND,
 * Einsum and LayerNormalization. Each op's check / infer / forward is called
 * directly on small tensors, against values worked out by hand (in the
 * comments) or, for Einsum, against a brute-force reference written here
 * (every assignment of every subscript, products summed). */
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

/* A header-only tensor (value known only at run time). */
static qdb_tensor *hdr(qdb_dtype t, int nd, const int64_t *d)
{
    qdb_shape s = qdb_shape_make(nd, d);
    qdb_tensor *x = qdb_tensor_new_header(t, &s, NULL);
    assert_non_null(x);
    return x;
}

/* ---- Equal / Less / Greater / LessOrEqual / GreaterOrEqual ------------------ */

static void test_compare(void **state)
{
    (void)state;
    tnode t;
    /* a = [[1, 2, 3], [4, NaN, 6]] against b = [3, 2, 1] (broadcast over rows). */
    qdb_tensor *a = mkf(2, D(2, 3), F(1, 2, 3, 4, NAN, 6));
    qdb_tensor *b = mkf(1, D(3), F(3, 2, 1));
    static const struct {
        const char *op;
        int64_t want[6];
    } cases[] = {
        /* NaN compares false everywhere. */
        {"Equal", {0, 1, 0, 0, 0, 0}},          {"Less", {1, 0, 0, 0, 0, 0}},
        {"Greater", {0, 0, 1, 1, 0, 1}},        {"LessOrEqual", {1, 1, 0, 0, 0, 0}},
        {"GreaterOrEqual", {0, 1, 1, 1, 0, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tn_init(&t, cases[c].op, 16, 2);
        qdb_tensor *y = run_ok(&t, IN(a, b));
        expect_shape(y, 2, D(2, 3));
        expect_i(y, cases[c].want, 6);
        qdb_tensor_free(y);
    }
    /* b as the first operand: [3,2,1] < a row-wise -> [[0,0,1],[1,0,1]]. */
    tn_init(&t, "Less", 13, 2);
    qdb_tensor *y = run_ok(&t, IN(b, a));
    EXPECT_I(y, 0, 0, 1, 1, 0, 1);
    qdb_tensor_free(y);

    /* int64, against a scalar; and the shape pattern of ViT's exported
     * expand(n, -1, -1): Equal([2, 1, 768], [-1, -1, -1]) = [0, 0, 0]. */
    qdb_tensor *s = mki(1, D(3), I(2, 1, 768)), *m1 = mki(1, D(3), I(-1, -1, -1));
    qdb_tensor *one = mki(0, D(0), I(1));
    tn_init(&t, "Equal", 13, 2);
    y = run_ok(&t, IN(s, m1));
    EXPECT_I(y, 0, 0, 0);
    qdb_tensor_free(y);
    y = run_ok(&t, IN(s, one));
    EXPECT_I(y, 0, 1, 0);
    qdb_tensor_free(y);
    tn_init(&t, "GreaterOrEqual", 16, 2);
    y = run_ok(&t, IN(one, s));
    expect_shape(y, 1, D(3));
    EXPECT_I(y, 0, 1, 0);
    qdb_tensor_free(y);
    /* Extremes of int64 compare exactly (no float conversion). */
    qdb_tensor *big = mki(1, D(2), I(INT64_MAX, INT64_MIN)),
               *big1 = mki(1, D(2), I(INT64_MAX - 1, INT64_MIN + 1));
    tn_init(&t, "Greater", 13, 2);
    y = run_ok(&t, IN(big, big1));
    EXPECT_I(y, 1, 0);
    qdb_tensor_free(y);

    /* Scalars with scalars; an empty broadcast. */
    qdb_tensor *s2 = mkf(0, D(0), F(2));
    tn_init(&t, "Equal", 13, 2);
    y = run_ok(&t, IN(s2, s2));
    assert_int_equal(y->shape.ndim, 0);
    EXPECT_I(y, 1);
    qdb_tensor_free(y);
    qdb_tensor_free(s2);
    qdb_tensor *e0 = mkf(2, D(0, 3), NULL);
    tn_init(&t, "Equal", 13, 2);
    y = run_ok(&t, IN(e0, b));
    expect_shape(y, 2, D(0, 3));
    qdb_tensor_free(y);

    /* Errors: mixed types, shapes that do not broadcast, one input; legacy
     * broadcasting with an axis is not implemented. */
    tn_init(&t, "Equal", 13, 2);
    assert_int_equal(run_status(&t, IN(a, s)), QDB_ERR_INVALID);
    qdb_tensor *c4 = mkf(1, D(4), F(1, 2, 3, 4));
    assert_int_equal(run_status(&t, IN(a, c4)), QDB_ERR_SHAPE);
    tn_init(&t, "Equal", 13, 1);
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_INVALID);
    tn_init(&t, "Less", 1, 2);
    tn_int(&t, "broadcast", 1);
    tn_int(&t, "axis", 0);
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_UNSUPPORTED);
    /* ... without an axis, legacy broadcasting is numpy's. */
    tn_init(&t, "Less", 1, 2);
    tn_int(&t, "broadcast", 1);
    y = run_ok(&t, IN(a, b));
    EXPECT_I(y, 1, 0, 0, 0, 0, 0);
    qdb_tensor_free(y);

    qdb_tensor *all[] = {a, b, s, m1, one, big, big1, e0, c4};
    free_all(all, 9);
}

/* ---- Not / And / Or / Xor ------------------------------------------------------ */

static void test_logic(void **state)
{
    (void)state;
    tnode t;
    /* a = [[0, 1], [1, 0], [1, 1]] with b = [1, 0]; any non-zero is true. */
    qdb_tensor *a = mki(2, D(3, 2), I(0, 1, 1, 0, 5, -1)), *b = mki(1, D(2), I(1, 0));
    tn_init(&t, "And", 7, 2);
    qdb_tensor *y = run_ok(&t, IN(a, b));
    expect_shape(y, 2, D(3, 2));
    EXPECT_I(y, 0, 0, 1, 0, 1, 0);
    qdb_tensor_free(y);
    tn_init(&t, "Or", 7, 2);
    y = run_ok(&t, IN(a, b));
    EXPECT_I(y, 1, 1, 1, 0, 1, 1);
    qdb_tensor_free(y);
    tn_init(&t, "Xor", 7, 2);
    y = run_ok(&t, IN(a, b));
    EXPECT_I(y, 1, 1, 0, 0, 0, 1);
    qdb_tensor_free(y);
    tn_init(&t, "Not", 1, 1);
    y = run_ok(&t, IN(a));
    expect_shape(y, 2, D(3, 2));
    EXPECT_I(y, 1, 0, 0, 1, 0, 0);
    qdb_tensor_free(y);

    /* Floats are not booleans. */
    qdb_tensor *f = mkf(1, D(2), F(0, 1));
    tn_init(&t, "And", 7, 2);
    assert_int_equal(run_status(&t, IN(f, f)), QDB_ERR_INVALID);
    tn_init(&t, "Not", 1, 1);
    assert_int_equal(run_status(&t, IN(f)), QDB_ERR_INVALID);

    qdb_tensor *all[] = {a, b, f};
    free_all(all, 3);
}

/* ---- Where ----------------------------------------------------------------------- */

static void test_where(void **state)
{
    (void)state;
    tnode t;
    /* cond [2,1] = [[1],[0]], X [1,3] = [1,2,3], Y scalar 9:
     * [[1,2,3],[9,9,9]]. */
    qdb_tensor *c = mki(2, D(2, 1), I(1, 0)), *x = mkf(2, D(1, 3), F(1, 2, 3)),
               *y9 = mkf(0, D(0), F(9));
    tn_init(&t, "Where", 16, 3);
    qdb_tensor *y = run_ok(&t, IN(c, x, y9));
    expect_shape(y, 2, D(2, 3));
    EXPECT_F(y, 0, 1, 2, 3, 9, 9, 9);
    qdb_tensor_free(y);
    /* cond [3] = [0, 1, 0] (non-zero is true) over rows of [2,3] X, Y:
     * picks Y, X, Y in every row. */
    qdb_tensor *c3 = mki(1, D(3), I(0, 7, 0));
    qdb_tensor *X = mkf(2, D(2, 3), F(1, 2, 3, 4, 5, 6)),
               *Y = mkf(2, D(2, 3), F(-1, -2, -3, -4, -5, -6));
    y = run_ok(&t, IN(c3, X, Y));
    EXPECT_F(y, 0, -1, 2, -3, -4, 5, -6);
    qdb_tensor_free(y);

    /* ViT's class_token.expand(n, -1, -1): Where(Equal(shape, -1), ones, shape)
     * with shape [2, 1, 768] keeps the shape. */
    qdb_tensor *eq = mki(1, D(3), I(0, 0, 0)), *ones = mki(1, D(3), I(1, 1, 1)),
               *sh = mki(1, D(3), I(2, 1, 768));
    tn_init(&t, "Where", 9, 3);
    y = run_ok(&t, IN(eq, ones, sh));
    EXPECT_I(y, 2, 1, 768);
    qdb_tensor_free(y);
    qdb_tensor *eq2 = mki(1, D(3), I(0, 1, 1));
    y = run_ok(&t, IN(eq2, ones, sh));
    EXPECT_I(y, 2, 1, 1);
    qdb_tensor_free(y);

    /* Errors: float condition, X and Y of different types, bad broadcast. */
    assert_int_equal(run_status(&t, IN(x, x, x)), QDB_ERR_INVALID);
    assert_int_equal(run_status(&t, IN(c, x, sh)), QDB_ERR_INVALID);
    qdb_tensor *x4 = mkf(1, D(4), F(1, 2, 3, 4));
    assert_int_equal(run_status(&t, IN(c, x, x4)), QDB_ERR_SHAPE);

    qdb_tensor *all[] = {c, x, y9, c3, X, Y, eq, ones, sh, eq2, x4};
    free_all(all, 11);
}

/* ---- Mod ------------------------------------------------------------------------- */

static void test_mod(void **state)
{
    (void)state;
    tnode t;
    qdb_tensor *a = mki(1, D(4), I(7, -7, 7, -7)), *b = mki(1, D(4), I(3, 3, -3, -3));
    /* fmod = 0: the sign of the divisor (7 = 2*3 + 1, -7 = -3*3 + 2,
     * 7 = -3*-3 - 2, -7 = 2*-3 - 1). */
    tn_init(&t, "Mod", 13, 2);
    qdb_tensor *y = run_ok(&t, IN(a, b));
    EXPECT_I(y, 1, 2, -2, -1);
    qdb_tensor_free(y);
    /* fmod = 1: the sign of the dividend. */
    tn_init(&t, "Mod", 13, 2);
    tn_int(&t, "fmod", 1);
    y = run_ok(&t, IN(a, b));
    EXPECT_I(y, 1, -1, 1, -1);
    qdb_tensor_free(y);
    /* Broadcast against a scalar; INT64_MIN with -1 does not trap. */
    qdb_tensor *m = mki(2, D(2, 2), I(INT64_MIN, 5, -5, 0)), *neg1 = mki(0, D(0), I(-1)),
               *four = mki(0, D(0), I(4));
    tn_init(&t, "Mod", 13, 2);
    y = run_ok(&t, IN(m, neg1));
    expect_shape(y, 2, D(2, 2));
    EXPECT_I(y, 0, 0, 0, 0);
    qdb_tensor_free(y);
    /* INT64_MIN = -2^63 is a multiple of 4; 5 mod 4 = 1, -5 mod 4 = 3. */
    y = run_ok(&t, IN(m, four));
    EXPECT_I(y, 0, 1, 3, 0);
    qdb_tensor_free(y);

    /* float: fmod = 1 is C's fmod: 5.5 = 2*2 + 1.5, -5.5 -> -1.5;
     * fmod = 0 floors: -5.5 mod 2 = 0.5, 5.5 mod -2 = -0.5. */
    qdb_tensor *fa = mkf(1, D(4), F(5.5f, -5.5f, 5.5f, -5.5f)), *fb = mkf(1, D(4), F(2, 2, -2, -2));
    tn_init(&t, "Mod", 13, 2);
    tn_int(&t, "fmod", 1);
    y = run_ok(&t, IN(fa, fb));
    EXPECT_F(y, 0, 1.5f, -1.5f, 1.5f, -1.5f);
    qdb_tensor_free(y);
    tn_init(&t, "Mod", 10, 2);
    y = run_ok(&t, IN(fa, fb));
    EXPECT_F(y, 0, 1.5f, 0.5f, -0.5f, -1.5f);
    qdb_tensor_free(y);

    /* Errors: integer division by zero, bad fmod, mixed types. */
    qdb_tensor *z = mki(1, D(4), I(1, 0, 1, 1));
    tn_init(&t, "Mod", 13, 2);
    assert_int_equal(run_status(&t, IN(a, z)), QDB_ERR_INVALID);
    assert_int_equal(run_status(&t, IN(a, fb)), QDB_ERR_INVALID);
    tn_int(&t, "fmod", 2);
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_INVALID);

    qdb_tensor *all[] = {a, b, m, neg1, four, fa, fb, z};
    free_all(all, 8);
}

/* ---- CumSum -------------------------------------------------------------------------- */

static void test_cumsum(void **state)
{
    (void)state;
    tnode t;
    qdb_tensor *x = mkf(1, D(4), F(1, 2, 3, 4)), *ax0 = mki(0, D(0), I(0));
    static const struct {
        int ex, rev;
        float want[4];
    } cases[] = {
        {0, 0, {1, 3, 6, 10}},
        {1, 0, {0, 1, 3, 6}},
        {0, 1, {10, 9, 7, 4}},
        {1, 1, {9, 7, 4, 0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tn_init(&t, "CumSum", 14, 2);
        tn_int(&t, "exclusive", cases[c].ex);
        tn_int(&t, "reverse", cases[c].rev);
        qdb_tensor *y = run_ok(&t, IN(x, ax0));
        expect_f(y, cases[c].want, 4, 0);
        qdb_tensor_free(y);
    }
    /* [[1,2,3],[4,5,6]]: axis 0 -> [[1,2,3],[5,7,9]]; axis 1 (given as -1,
     * 1-element 1-D) -> [[1,3,6],[4,9,15]]; int64 alike. */
    qdb_tensor *m = mki(2, D(2, 3), I(1, 2, 3, 4, 5, 6)), *axm1 = mki(1, D(1), I(-1));
    tn_init(&t, "CumSum", 11, 2);
    qdb_tensor *y = run_ok(&t, IN(m, ax0));
    EXPECT_I(y, 1, 2, 3, 5, 7, 9);
    qdb_tensor_free(y);
    y = run_ok(&t, IN(m, axm1));
    EXPECT_I(y, 1, 3, 6, 4, 9, 15);
    qdb_tensor_free(y);
    /* axis 1, exclusive + reverse: row [1,2,3] -> [5,3,0]. */
    tn_int(&t, "exclusive", 1);
    tn_int(&t, "reverse", 1);
    y = run_ok(&t, IN(m, axm1));
    EXPECT_I(y, 5, 3, 0, 11, 6, 0);
    qdb_tensor_free(y);

    /* The axis may be known only at run time: infer needs only its type. */
    tn_init(&t, "CumSum", 14, 2);
    qdb_tensor *ha = hdr(QDB_I64, 0, D(0));
    qdb_tensor out[1];
    memset(out, 0, sizeof out);
    assert_int_equal(t.n.op->infer(&t.n, IN(m, ha), out, NULL), QDB_OK);
    expect_shape(&out[0], 2, D(2, 3));
    /* Errors: axis out of range, float axis, bad attribute. */
    qdb_tensor *ax2 = mki(0, D(0), I(2)), *fax = mkf(0, D(0), F(0));
    assert_int_equal(run_status(&t, IN(m, ax2)), QDB_ERR_INVALID);
    assert_int_equal(run_status(&t, IN(m, fax)), QDB_ERR_INVALID);
    tn_int(&t, "reverse", 3);
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_INVALID);

    qdb_tensor *all[] = {x, ax0, m, axm1, ha, ax2, fax};
    free_all(all, 7);
}

/* ---- ScatterND / ScatterElements / GatherND --------------------------------------------- */

static void test_scatter_nd(void **state)
{
    (void)state;
    tnode t;
    /* The ONNX example: data 1..8, indices [[4],[3],[1],[7]], updates
     * [9,10,11,12] -> [1,11,3,10,9,6,7,12]. */
    qdb_tensor *d = mkf(1, D(8), F(1, 2, 3, 4, 5, 6, 7, 8));
    qdb_tensor *ix = mki(2, D(4, 1), I(4, 3, 1, 7)), *up = mkf(1, D(4), F(9, 10, 11, 12));
    tn_init(&t, "ScatterND", 13, 3);
    qdb_tensor *y = run_ok(&t, IN(d, ix, up));
    EXPECT_F(y, 0, 1, 11, 3, 10, 9, 6, 7, 12);
    qdb_tensor_free(y);

    /* Slices: data [2,3] int64, index [[-1]] (the last row) <- [7,8,9]. */
    qdb_tensor *d2 = mki(2, D(2, 3), I(1, 2, 3, 4, 5, 6)), *ixr = mki(2, D(1, 1), I(-1)),
               *upr = mki(2, D(1, 3), I(7, 8, 9));
    y = run_ok(&t, IN(d2, ixr, upr));
    EXPECT_I(y, 1, 2, 3, 7, 8, 9);
    qdb_tensor_free(y);
    /* Full index tuples: (0,2) <- 30, (1,0) <- 40. */
    qdb_tensor *ixe = mki(2, D(2, 2), I(0, 2, 1, 0)), *upe = mki(1, D(2), I(30, 40));
    y = run_ok(&t, IN(d2, ixe, upe));
    EXPECT_I(y, 1, 2, 30, 40, 5, 6);
    qdb_tensor_free(y);

    /* Reductions with a repeated index: data [1,2,3,4], index 1 twice,
     * updates 5 and 6: add 2+5+6 = 13, mul 2*5*6 = 60, max 6, min 2. */
    qdb_tensor *d4 = mkf(1, D(4), F(1, 2, 3, 4)), *ix11 = mki(2, D(2, 1), I(1, 1)),
               *u56 = mkf(1, D(2), F(5, 6));
    static const struct {
        const char *red;
        float v;
    } reds[] = {{"add", 13}, {"mul", 60}, {"max", 6}, {"min", 2}, {"none", 6}};
    for (size_t k = 0; k < sizeof reds / sizeof reds[0]; k++) {
        tn_init(&t, "ScatterND", 18, 3);
        tn_str(&t, "reduction", reds[k].red);
        y = run_ok(&t, IN(d4, ix11, u56));
        expect_f(y, (const float[]){1, reds[k].v, 3, 4}, 4, 0);
        qdb_tensor_free(y);
    }

    /* int64 add and mul wrap: INT64_MAX + 1 = INT64_MIN; 4 * 2 * 5 = 40. */
    qdb_tensor *di = mki(1, D(2), I(INT64_MAX, 4)), *ix0 = mki(2, D(1, 1), I(0)),
               *one = mki(1, D(1), I(1)), *ixx = mki(2, D(2, 1), I(1, 1)),
               *u25 = mki(1, D(2), I(2, 5));
    tn_init(&t, "ScatterND", 16, 3);
    tn_str(&t, "reduction", "add");
    y = run_ok(&t, IN(di, ix0, one));
    EXPECT_I(y, INT64_MIN, 4);
    qdb_tensor_free(y);
    tn_init(&t, "ScatterND", 16, 3);
    tn_str(&t, "reduction", "mul");
    y = run_ok(&t, IN(di, ixx, u25));
    EXPECT_I(y, INT64_MAX, 40);
    qdb_tensor_free(y);

    /* Errors: an index out of range, updates of the wrong shape, an unknown
     * reduction, float indices. */
    tn_init(&t, "ScatterND", 13, 3);
    qdb_tensor *ix9 = mki(2, D(1, 1), I(8));
    qdb_tensor *u1 = mkf(1, D(1), F(0));
    assert_int_equal(run_status(&t, IN(d, ix9, u1)), QDB_ERR_INVALID);
    assert_int_equal(run_status(&t, IN(d, ix, u56)), QDB_ERR_SHAPE);
    qdb_tensor *fix = mkf(2, D(1, 1), F(0));
    assert_int_equal(run_status(&t, IN(d, fix, u1)), QDB_ERR_INVALID);
    tn_str(&t, "reduction", "mean");
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_UNSUPPORTED);

    qdb_tensor *all[] = {d,   ix,  up, d2,  ixr, upr, ixe, upe, d4, ix11,
                         u56, ix9, u1, fix, di,  ix0, one, ixx, u25};
    free_all(all, 19);
}

static void test_scatter_elements(void **state)
{
    (void)state;
    tnode t;
    /* ONNX's examples. axis 1: data [[1,2,3,4,5]], indices [[1,3]],
     * updates [[1.1,2.1]] -> [[1,1.1,3,2.1,5]]. */
    qdb_tensor *d = mkf(2, D(1, 5), F(1, 2, 3, 4, 5)), *ix = mki(2, D(1, 2), I(1, 3)),
               *up = mkf(2, D(1, 2), F(1.1f, 2.1f));
    tn_init(&t, "ScatterElements", 13, 3);
    tn_int(&t, "axis", 1);
    qdb_tensor *y = run_ok(&t, IN(d, ix, up));
    expect_shape(y, 2, D(1, 5));
    EXPECT_F(y, 0, 1, 1.1f, 3, 2.1f, 5);
    qdb_tensor_free(y);
    /* Negative indices: -4 is 1, -2 is 3. */
    qdb_tensor *ixn = mki(2, D(1, 2), I(-4, -2));
    y = run_ok(&t, IN(d, ixn, up));
    EXPECT_F(y, 0, 1, 1.1f, 3, 2.1f, 5);
    qdb_tensor_free(y);
    /* axis 0 on 3x3 zeros: indices [[1,0,2],[0,2,1]], updates
     * [[1,1.1,1.2],[2,2.1,2.2]] -> [[2,1.1,0],[1,0,2.2],[0,2.1,1.2]]. */
    qdb_tensor *z = mkf(2, D(3, 3), NULL), *ix2 = mki(2, D(2, 3), I(1, 0, 2, 0, 2, 1)),
               *up2 = mkf(2, D(2, 3), F(1, 1.1f, 1.2f, 2, 2.1f, 2.2f));
    tn_init(&t, "Scatter", 9, 3);
    y = run_ok(&t, IN(z, ix2, up2));
    EXPECT_F(y, 0, 2, 1.1f, 0, 1, 0, 2.2f, 0, 2.1f, 1.2f);
    qdb_tensor_free(y);
    /* Indices smaller than data in the other dimension: [2,1] indices on a
     * [3,3] data touch column 0 only: rows 2 and 0 <- 5, 6. */
    qdb_tensor *ix3 = mki(2, D(2, 1), I(2, 0)), *up3 = mkf(2, D(2, 1), F(5, 6));
    tn_init(&t, "ScatterElements", 11, 3);
    y = run_ok(&t, IN(z, ix3, up3));
    EXPECT_F(y, 0, 6, 0, 0, 0, 0, 0, 5, 0, 0);
    qdb_tensor_free(y);
    /* reduction add with a repeated index: [[1,2,3,4,5]], indices [[1,1]],
     * updates [[1.1,2.1]] -> 2 + 1.1 + 2.1 = 5.2. */
    qdb_tensor *ix11 = mki(2, D(1, 2), I(1, 1));
    tn_init(&t, "ScatterElements", 16, 3);
    tn_int(&t, "axis", 1);
    tn_str(&t, "reduction", "add");
    y = run_ok(&t, IN(d, ix11, up));
    EXPECT_F(y, 1e-6, 1, 5.2f, 3, 4, 5);
    qdb_tensor_free(y);

    /* int64 data: [[1,2]] with [[9]] at column 1 -> [[1,9]]; a type
     * mismatch between data and updates is an error. */
    qdb_tensor *di = mki(2, D(1, 2), I(1, 2)), *ix1 = mki(2, D(1, 1), I(1)),
               *u9 = mki(2, D(1, 1), I(9));
    tn_init(&t, "ScatterElements", 13, 3);
    tn_int(&t, "axis", -1);
    y = run_ok(&t, IN(di, ix1, u9));
    EXPECT_I(y, 1, 9);
    qdb_tensor_free(y);
    assert_int_equal(run_status(&t, IN(d, ix1, u9)), QDB_ERR_INVALID);

    /* Errors: out-of-range index, indices / updates shapes differ, indices
     * larger than data off the axis. */
    tn_init(&t, "ScatterElements", 13, 3);
    tn_int(&t, "axis", 1);
    qdb_tensor *ix5 = mki(2, D(1, 2), I(1, 5));
    assert_int_equal(run_status(&t, IN(d, ix5, up)), QDB_ERR_INVALID);
    assert_int_equal(run_status(&t, IN(d, ix, up3)), QDB_ERR_SHAPE);
    qdb_tensor *ixw = mki(2, D(2, 1), I(0, 0));
    assert_int_equal(run_status(&t, IN(d, ixw, up3)), QDB_ERR_SHAPE);

    qdb_tensor *all[] = {d, ix, up, ixn, z, ix2, up2, ix3, up3, ix11, ix5, ixw, di, ix1, u9};
    free_all(all, 15);
}

static void test_gather_nd(void **state)
{
    (void)state;
    tnode t;
    /* ONNX's examples: data [[0,1],[2,3]]; indices [[0,0],[1,1]] -> [0,3];
     * indices [[1],[0]] -> [[2,3],[0,1]]. */
    qdb_tensor *d = mki(2, D(2, 2), I(0, 1, 2, 3));
    qdb_tensor *ix = mki(2, D(2, 2), I(0, 0, 1, 1)), *ixr = mki(2, D(2, 1), I(1, 0));
    tn_init(&t, "GatherND", 13, 2);
    qdb_tensor *y = run_ok(&t, IN(d, ix));
    expect_shape(y, 1, D(2));
    EXPECT_I(y, 0, 3);
    qdb_tensor_free(y);
    y = run_ok(&t, IN(d, ixr));
    expect_shape(y, 2, D(2, 2));
    EXPECT_I(y, 2, 3, 0, 1);
    qdb_tensor_free(y);
    /* data [[[0,1],[2,3]],[[4,5],[6,7]]], indices [[[0,1]],[[1,0]]] ->
     * [[[2,3]],[[4,5]]]; with batch_dims 1 and indices [[1],[0]]:
     * batch 0 row 1 = [2,3], batch 1 row 0 = [4,5]. Negative -1 = 1. */
    qdb_tensor *d3 = mkf(3, D(2, 2, 2), F(0, 1, 2, 3, 4, 5, 6, 7));
    qdb_tensor *ix3 = mki(3, D(2, 1, 2), I(0, -1, 1, 0));
    y = run_ok(&t, IN(d3, ix3));
    expect_shape(y, 3, D(2, 1, 2));
    EXPECT_F(y, 0, 2, 3, 4, 5);
    qdb_tensor_free(y);
    tn_init(&t, "GatherND", 12, 2);
    tn_int(&t, "batch_dims", 1);
    y = run_ok(&t, IN(d3, ixr));
    expect_shape(y, 2, D(2, 2));
    EXPECT_F(y, 0, 2, 3, 4, 5);
    qdb_tensor_free(y);

    /* Errors: out of range, tuples too long, batch dimensions differ. */
    tn_init(&t, "GatherND", 13, 2);
    qdb_tensor *bad = mki(2, D(1, 2), I(0, 2)), *long3 = mki(2, D(1, 3), I(0, 0, 0));
    assert_int_equal(run_status(&t, IN(d, bad)), QDB_ERR_INVALID);
    assert_int_equal(run_status(&t, IN(d, long3)), QDB_ERR_INVALID);
    tn_init(&t, "GatherND", 12, 2);
    tn_int(&t, "batch_dims", 1);
    qdb_tensor *ixb = mki(2, D(3, 1), I(0, 0, 0));
    assert_int_equal(run_status(&t, IN(d3, ixb)), QDB_ERR_SHAPE);

    qdb_tensor *all[] = {d, ix, ixr, d3, ix3, bad, long3, ixb};
    free_all(all, 8);
}

/* ---- Einsum ---------------------------------------------------------------------------- */

/* Brute force: for every assignment of values to every subscript, the
 * product of the inputs' elements is added to the output element the
 * output subscripts pick. `eq` is explicit, letters only, no spaces; input
 * dimensions of size 1 broadcast. */
static qdb_tensor *ref_einsum(const char *eq, int nin, const qdb_tensor *const *in)
{
    char terms[9][16];
    int nt = 0, len = 0;
    for (const char *p = eq;; p++) {
        if (*p == ',' || *p == '-' || *p == '\0') {
            terms[nt][len] = '\0';
            nt++;
            len = 0;
            if (*p == '-')
                p++; /* '>' */
            if (*p == '\0')
                break;
            continue;
        }
        terms[nt][len++] = *p;
    }
    assert_int_equal(nt, nin + 1);
    int64_t size[128] = {0};
    char labels[64];
    int nl = 0;
    for (int k = 0; k < nin; k++) {
        assert_int_equal((int)strlen(terms[k]), in[k]->shape.ndim);
        for (int j = 0; terms[k][j]; j++) {
            int c = terms[k][j];
            if (!size[c])
                labels[nl++] = (char)c;
            if (in[k]->shape.d[j] > size[c])
                size[c] = in[k]->shape.d[j];
        }
    }
    const char *ot = terms[nin];
    int64_t od[8];
    int on = (int)strlen(ot);
    for (int j = 0; j < on; j++)
        od[j] = size[(int)ot[j]];
    qdb_tensor *y = qdb_tensor_new_dims(QDB_F32, on, od, NULL);
    assert_non_null(y);
    double *acc = calloc(y->numel ? y->numel : 1, sizeof *acc);
    assert_non_null(acc);
    int64_t val[128] = {0};
    for (;;) {
        double prod = 1.0;
        for (int k = 0; k < nin; k++) {
            size_t off = 0;
            for (int j = 0; terms[k][j]; j++) {
                int64_t dim = in[k]->shape.d[j];
                off = off * (size_t)dim + (size_t)(dim == 1 ? 0 : val[(int)terms[k][j]]);
            }
            prod *= in[k]->data.f[off];
        }
        size_t o = 0;
        for (int j = 0; j < on; j++)
            o = o * (size_t)od[j] + (size_t)val[(int)ot[j]];
        acc[o] += prod;
        int i = nl - 1;
        for (; i >= 0; i--) {
            if (++val[(int)labels[i]] < size[(int)labels[i]])
                break;
            val[(int)labels[i]] = 0;
        }
        if (i < 0)
            break;
    }
    for (size_t k = 0; k < y->numel; k++)
        y->data.f[k] = (float)acc[k];
    free(acc);
    return y;
}

/* Deterministic values in [-1, 1] (a different pattern per seed). */
static qdb_tensor *pattern(int nd, const int64_t *d, int seed)
{
    qdb_tensor *t = mkf(nd, d, NULL);
    for (size_t k = 0; k < t->numel; k++)
        t->data.f[k] = (float)((int)((k * 37 + (size_t)seed * 11) % 17) - 8) / 8.0f;
    return t;
}

static void einsum_case(const char *eq, const char *ref, int nin, const int64_t *const *dims,
                        const int *nd)
{
    qdb_tensor *x[4];
    for (int k = 0; k < nin; k++)
        x[k] = pattern(nd[k], dims[k], k + 1);
    tnode t;
    tn_init(&t, "Einsum", 12, nin);
    tn_str(&t, "equation", eq);
    qdb_tensor *y = run_ok(&t, (const qdb_tensor *const *)x);
    qdb_tensor *w = ref_einsum(ref, nin, (const qdb_tensor *const *)x);
    if (!qdb_shape_eq(&y->shape, &w->shape)) {
        char a[128], b[128];
        fail_msg("%s: shape %s, want %s", eq, qdb_shape_str(&y->shape, a, sizeof a),
                 qdb_shape_str(&w->shape, b, sizeof b));
    }
    for (size_t k = 0; k < y->numel; k++)
        if (fabs(y->data.f[k] - w->data.f[k]) > 1e-5 * (1.0 + fabs(w->data.f[k])))
            fail_msg("%s: out[%zu] = %g, want %g", eq, k, y->data.f[k], w->data.f[k]);
    qdb_tensor_free(y);
    qdb_tensor_free(w);
    free_all(x, nin);
}

#define DIMS(...) ((const int64_t *const[]){__VA_ARGS__})
#define NDS(...) ((const int[]){__VA_ARGS__})

static void test_einsum(void **state)
{
    (void)state;
    tnode t;
    /* By hand: [[1,2,3],[4,5,6]] . [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]. */
    qdb_tensor *a = mkf(2, D(2, 3), F(1, 2, 3, 4, 5, 6)), *b = mkf(2, D(3, 2), F(1, 0, 0, 1, 1, 1));
    tn_init(&t, "Einsum", 12, 2);
    tn_str(&t, "equation", "ij,jk->ik");
    qdb_tensor *y = run_ok(&t, IN(a, b));
    expect_shape(y, 2, D(2, 2));
    EXPECT_F(y, 0, 4, 5, 10, 11);
    qdb_tensor_free(y);
    /* Implicit output, spaces: the same. */
    tn_init(&t, "Einsum", 12, 2);
    tn_str(&t, "equation", " i j , j k ");
    y = run_ok(&t, IN(a, b));
    EXPECT_F(y, 0, 4, 5, 10, 11);
    qdb_tensor_free(y);
    /* Trace of [[1,2],[3,4]] = 5 (implicit "ii" is a scalar); diagonal [1,4]. */
    qdb_tensor *sq = mkf(2, D(2, 2), F(1, 2, 3, 4));
    tn_init(&t, "Einsum", 12, 1);
    tn_str(&t, "equation", "ii");
    y = run_ok(&t, IN(sq));
    assert_int_equal(y->shape.ndim, 0);
    EXPECT_F(y, 0, 5);
    qdb_tensor_free(y);
    tn_init(&t, "Einsum", 12, 1);
    tn_str(&t, "equation", "ii->i");
    y = run_ok(&t, IN(sq));
    EXPECT_F(y, 0, 1, 4);
    qdb_tensor_free(y);
    /* Row sums of a: [6, 15]; column sums: [5, 7, 9]. */
    tn_init(&t, "Einsum", 12, 1);
    tn_str(&t, "equation", "ij->i");
    y = run_ok(&t, IN(a));
    EXPECT_F(y, 0, 6, 15);
    qdb_tensor_free(y);
    tn_init(&t, "Einsum", 12, 1);
    tn_str(&t, "equation", "ij->j");
    y = run_ok(&t, IN(a));
    EXPECT_F(y, 0, 5, 7, 9);
    qdb_tensor_free(y);

    /* Against the brute-force reference. */
    einsum_case("ij,jk->ik", "ij,jk->ik", 2, DIMS(D(5, 3), D(3, 4)), NDS(2, 2));
    einsum_case("ij->ji", "ij->ji", 1, DIMS(D(3, 4)), NDS(2));
    einsum_case("ijk->kji", "ijk->kji", 1, DIMS(D(2, 3, 4)), NDS(3));
    einsum_case("iij->j", "iij->j", 1, DIMS(D(3, 3, 2)), NDS(3));
    einsum_case("ij->", "ij->", 1, DIMS(D(3, 4)), NDS(2));
    einsum_case("i,i", "i,i->", 2, DIMS(D(5), D(5)), NDS(1, 1));
    einsum_case("i,j->ij", "i,j->ij", 2, DIMS(D(3), D(4)), NDS(1, 1));
    einsum_case("ij,j->i", "ij,j->i", 2, DIMS(D(3, 4), D(4)), NDS(2, 1));
    einsum_case("ij,ij->ij", "ij,ij->ij", 2, DIMS(D(3, 4), D(3, 4)), NDS(2, 2));
    einsum_case("ab,ab->a", "ab,ab->a", 2, DIMS(D(3, 4), D(3, 4)), NDS(2, 2));
    einsum_case("bij,bjk->bik", "bij,bjk->bik", 2, DIMS(D(2, 3, 4), D(2, 4, 5)), NDS(3, 3));
    /* The result transposed in memory, then one no matrix layout fits. */
    einsum_case("bij,bjk->bki", "bij,bjk->bki", 2, DIMS(D(2, 3, 4), D(2, 4, 5)), NDS(3, 3));
    einsum_case("bij,bjk->ibk", "bij,bjk->ibk", 2, DIMS(D(2, 3, 4), D(2, 4, 5)), NDS(3, 3));
    /* Two contracted subscripts that are not adjacent in A. */
    einsum_case("ijk,ikl->jl", "ijk,ikl->jl", 2, DIMS(D(2, 3, 4), D(2, 4, 5)), NDS(3, 3));
    /* A subscript only one operand has, summed before the product. */
    einsum_case("ijx,jk->ik", "ijx,jk->ik", 2, DIMS(D(2, 3, 4), D(3, 2)), NDS(3, 2));
    /* maxvit's attention products. */
    einsum_case("B G H I D, B G H J D -> B G H I J", "BGHID,BGHJD->BGHIJ", 2,
                DIMS(D(2, 3, 2, 4, 5), D(2, 3, 2, 6, 5)), NDS(5, 5));
    einsum_case("B G H I J, B G H J D -> B G H I D", "BGHIJ,BGHJD->BGHID", 2,
                DIMS(D(2, 3, 2, 4, 6), D(2, 3, 2, 6, 5)), NDS(5, 5));
    /* Implicit output in ASCII order: capitals first. */
    einsum_case("bA,Cb", "bA,Cb->AC", 2, DIMS(D(3, 2), D(4, 3)), NDS(2, 2));
    /* Ellipses broadcasting [2,1] against [3]. */
    einsum_case("...ij,...jk->...ik", "abij,bjk->abik", 2, DIMS(D(2, 1, 2, 3), D(3, 3, 2)),
                NDS(4, 3));
    einsum_case("...ij,...jk", "abij,bjk->abik", 2, DIMS(D(2, 1, 2, 3), D(3, 3, 2)), NDS(4, 3));
    einsum_case("...ii->...i", "aii->ai", 1, DIMS(D(2, 3, 3)), NDS(3));
    /* Both operands rearranged before the products, then the result. */
    einsum_case("bxjy,byxl->bjl", "bxjy,byxl->bjl", 2, DIMS(D(2, 3, 4, 2), D(2, 2, 3, 5)),
                NDS(4, 4));
    einsum_case("bxyj,bjk->xbky", "bxyj,bjk->xbky", 2, DIMS(D(2, 3, 2, 4), D(2, 4, 3)), NDS(4, 3));
    /* Three and four operands. */
    einsum_case("ij,jk,kl->il", "ij,jk,kl->il", 3, DIMS(D(2, 3), D(3, 4), D(4, 2)), NDS(2, 2, 2));
    einsum_case("bn,anm,bm->ba", "bn,anm,bm->ba", 3, DIMS(D(2, 3), D(4, 3, 5), D(2, 5)),
                NDS(2, 3, 2));
    einsum_case("i,i,i,i->i", "i,i,i,i->i", 4, DIMS(D(4), D(4), D(4), D(4)), NDS(1, 1, 1, 1));
    /* A size-1 dimension broadcasts against its subscript elsewhere. */
    einsum_case("ij,jk->ik", "ij,jk->ik", 2, DIMS(D(2, 1), D(3, 4)), NDS(2, 2));

    /* Empty contractions sum to zero. */
    qdb_tensor *e20 = mkf(2, D(2, 0), NULL), *e03 = mkf(2, D(0, 3), NULL);
    tn_init(&t, "Einsum", 12, 2);
    tn_str(&t, "equation", "ij,jk->ik");
    y = run_ok(&t, IN(e20, e03));
    expect_shape(y, 2, D(2, 3));
    EXPECT_F(y, 0, 0, 0, 0, 0, 0, 0);
    qdb_tensor_free(y);

    /* Errors. */
    tn_init(&t, "Einsum", 12, 2);
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_INVALID); /* no equation */
    static const char *const bad[] = {"ij->ik",  "ij,jk->ii", "ij,j$->i",   "ij",
                                      "i..j,jk", "...i...,j", "ij,jk->i->k"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tn_init(&t, "Einsum", 12, 2);
        tn_str(&t, "equation", bad[k]);
        if (t.n.op->check(&t.n, NULL) != QDB_ERR_INVALID)
            fail_msg("equation '%s' accepted", bad[k]);
    }
    /* Sizes that disagree, ranks that do not fit, int64 operands. */
    tn_init(&t, "Einsum", 12, 2);
    tn_str(&t, "equation", "ij,jk->ik");
    assert_int_equal(run_status(&t, IN(a, a)), QDB_ERR_SHAPE);
    tn_init(&t, "Einsum", 12, 2);
    tn_str(&t, "equation", "ijk,jk->ik");
    assert_int_equal(run_status(&t, IN(a, b)), QDB_ERR_SHAPE);
    tn_init(&t, "Einsum", 12, 1);
    tn_str(&t, "equation", "ii->i");
    assert_int_equal(run_status(&t, IN(a)), QDB_ERR_SHAPE);
    qdb_tensor *ia = mki(2, D(2, 2), I(1, 2, 3, 4));
    assert_int_equal(run_status(&t, IN(ia)), QDB_ERR_UNSUPPORTED);

    qdb_tensor *all[] = {a, b, sq, ia, e20, e03};
    free_all(all, 6);
}

/* ---- LayerNormalization ------------------------------------------------------------------ */

static void test_layer_norm(void **state)
{
    (void)state;
    tnode t;
    /* Rows [1,2,3] and [2,4,6]: means 2 and 4, variances 2/3 and 8/3
     * (epsilon 0), so both normalise to [-s, 0, s] with s = sqrt(3/2) =
     * 1.22474487; InvStdDev sqrt(3/2) and sqrt(3/8) = 0.61237244. Scale
     * [1,2,3], B 0.5: [-0.72474487, 0.5, 4.17423461]. */
    qdb_tensor *x = mkf(2, D(2, 3), F(1, 2, 3, 2, 4, 6));
    qdb_tensor *sc = mkf(1, D(3), F(1, 2, 3)), *b = mkf(1, D(3), F(0.5f, 0.5f, 0.5f));
    tn_init(&t, "LayerNormalization", 17, 3);
    tn_float(&t, "epsilon", 0);
    tn_outputs(&t, 3);
    qdb_tensor *o[TN_MAX_IO];
    qdb_err e;
    assert_int_equal(run_n(&t, IN(x, sc, b), o, &e), QDB_OK);
    expect_shape(o[0], 2, D(2, 3));
    EXPECT_F(o[0], 1e-6, -0.72474487f, 0.5f, 4.17423461f, -0.72474487f, 0.5f, 4.17423461f);
    expect_shape(o[1], 2, D(2, 1));
    EXPECT_F(o[1], 1e-7, 2, 4);
    expect_shape(o[2], 2, D(2, 1));
    EXPECT_F(o[2], 1e-6, 1.22474487f, 0.61237244f);
    free_all(o, 3);

    /* Scale [1,3] and B [1,1,3]: their leading 1s do not matter. */
    qdb_tensor *sc13 = mkf(2, D(1, 3), F(1, 2, 3)), *b113 = mkf(3, D(1, 1, 3), F(0.5f, 0.5f, 0.5f));
    tn_init(&t, "LayerNormalization", 17, 3);
    tn_float(&t, "epsilon", 0);
    qdb_tensor *y1 = run_ok(&t, IN(x, sc13, b113));
    EXPECT_F(y1, 1e-6, -0.72474487f, 0.5f, 4.17423461f, -0.72474487f, 0.5f, 4.17423461f);
    qdb_tensor_free(y1);
    qdb_tensor_free(sc13);
    qdb_tensor_free(b113);

    /* No B, axis 0 over a [2,2]: x = 1..4, mean 2.5, variance 1.25, inverse
     * deviation 0.89442719; Scale [1] = 2 broadcasts:
     * 2 * 0.89442719 * [-1.5, -0.5, 0.5, 1.5]. Epsilon default 1e-5 moves
     * the result by ~4e-6 relative. */
    qdb_tensor *x2 = mkf(2, D(2, 2), F(1, 2, 3, 4)), *two = mkf(1, D(1), F(2));
    tn_init(&t, "LayerNormalization", 17, 2);
    tn_int(&t, "axis", 0);
    qdb_tensor *y = run_ok(&t, IN(x2, two));
    EXPECT_F(y, 1e-5, -2.68328157f, -0.89442719f, 0.89442719f, 2.68328157f);
    qdb_tensor_free(y);
    /* Scale [2,1] broadcast over [2,2] normalised dimensions (axis -2):
     * row 0 scaled by 1, row 1 by -1. */
    qdb_tensor *col = mkf(2, D(2, 1), F(1, -1));
    tn_init(&t, "LayerNormalization", 17, 2);
    tn_int(&t, "axis", -2);
    tn_float(&t, "epsilon", 0);
    y = run_ok(&t, IN(x2, col));
    EXPECT_F(y, 1e-6, -1.34164079f, -0.44721360f, -0.44721360f, -1.34164079f);
    qdb_tensor_free(y);

    /* Errors: Scale that does not broadcast, axis out of range, stash_type
     * half, int64 input. */
    tn_init(&t, "LayerNormalization", 17, 2);
    assert_int_equal(run_status(&t, IN(x, b, b)), QDB_OK);
    qdb_tensor *s2 = mkf(1, D(2), F(1, 1));
    assert_int_equal(run_status(&t, IN(x, s2)), QDB_ERR_SHAPE);
    tn_int(&t, "axis", 2);
    assert_int_equal(run_status(&t, IN(x, sc)), QDB_ERR_INVALID);
    tn_init(&t, "LayerNormalization", 17, 2);
    tn_int(&t, "stash_type", 10);
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_UNSUPPORTED);
    qdb_tensor *ix = mki(1, D(3), I(1, 2, 3));
    tn_init(&t, "LayerNormalization", 17, 2);
    assert_int_equal(run_status(&t, IN(ix, sc)), QDB_ERR_UNSUPPORTED);

    qdb_tensor *all[] = {x, sc, b, x2, two, col, s2, ix};
    free_all(all, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_logic),
        cmocka_unit_test(test_where),
        cmocka_unit_test(test_mod),
        cmocka_unit_test(test_cumsum),
        cmocka_unit_test(test_scatter_nd),
        cmocka_unit_test(test_scatter_elements),
        cmocka_unit_test(test_gather_nd),
        cmocka_unit_test(test_einsum),
        cmocka_unit_test(test_layer_norm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
