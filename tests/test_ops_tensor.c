/* test_ops_tensor.c - unit tests of the "tensor" operator family (shapes and
 * layout, selection, padding, constants, casts, resizing): each op's check /
 * infer / forward called directly on small tensors, against values worked
 * out by hand (in the comments) or by naive coordinate-decoding references
 * written here, independent of the engine's strided copies. */
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

static size_t flat(const qdb_shape *s, const int64_t *c)
{
    size_t k = 0;
    for (int i = 0; i < s->ndim; i++)
        k = k * (size_t)s->d[i] + (size_t)c[i];
    return k;
}

/* ---- Reshape / Flatten / Squeeze / Unsqueeze / Identity / Dropout ------------ */

static void test_reshape(void **state)
{
    (void)state;
    tnode t;
    qdb_tensor *x = iota_f(3, D(2, 3, 4));

    /* 0 copies dim 0 (2), -1 takes the rest: [2, 12]. */
    qdb_tensor *s1 = mki(1, D(2), I(0, -1));
    tn_init(&t, "Reshape", 13, 2);
    qdb_tensor *y = run_ok(&t, (const qdb_tensor *[]){x, s1});
    expect_shape(y, 2, D(2, 12));
    for (size_t k = 0; k < 24; k++)
        assert_true(y->data.f[k] == (float)k);
    qdb_tensor_free(y);

    /* [4, 0, -1]: the 0 copies dim 1 (3), -1 = 24 / 12 = 2. */
    qdb_tensor *s2 = mki(1, D(3), I(4, 0, -1));
    y = run_ok(&t, (const qdb_tensor *[]){x, s2});
    expect_shape(y, 3, D(4, 3, 2));
    qdb_tensor_free(y);

    /* allowzero = 1: a 0 is a real zero dimension. */
    qdb_tensor *e0 = mkf(2, D(0, 3), NULL);
    qdb_tensor *s3 = mki(1, D(3), I(3, 0, 1));
    tn_init(&t, "Reshape", 14, 2);
    tn_int(&t, "allowzero", 1);
    y = run_ok(&t, (const qdb_tensor *[]){e0, s3});
    expect_shape(y, 3, D(3, 0, 1));
    qdb_tensor_free(y);
    /* ... and without allowzero the 0 copies the input's 3 (0 elements
     * cannot fill [3, 3, 1]). */
    tn_init(&t, "Reshape", 14, 2);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){e0, s3}), QDB_ERR_SHAPE);

    /* Errors: two -1, size mismatch. */
    qdb_tensor *s4 = mki(1, D(2), I(-1, -1));
    tn_init(&t, "Reshape", 13, 2);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x, s4}), QDB_ERR_INVALID);
    qdb_tensor *s5 = mki(1, D(2), I(5, 5));
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x, s5}), QDB_ERR_SHAPE);

    /* A shape known only at run time: unsupported at load time. */
    qdb_tensor *hdr = qdb_tensor_new_header(QDB_I64, &s1->shape, NULL);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x, hdr}), QDB_ERR_DYNAMIC);

    /* Opset 1..4: the shape is an attribute; int64 data. */
    qdb_tensor *xi = mki(1, D(6), I(1, 2, 3, 4, 5, 6));
    tn_init(&t, "Reshape", 4, 1);
    tn_ints(&t, "shape", I(-1, 2), 2);
    y = run_ok(&t, (const qdb_tensor *[]){xi});
    expect_shape(y, 2, D(3, 2));
    EXPECT_I(y, 1, 2, 3, 4, 5, 6);
    qdb_tensor_free(y);

    qdb_tensor *all[] = {x, s1, s2, e0, s3, s4, s5, hdr, xi};
    free_all(all, 9);
}

static void test_flatten(void **state)
{
    (void)state;
    tnode t;
    qdb_tensor *x = iota_f(3, D(2, 3, 4));
    static const struct {
        int64_t axis;
        int64_t d0, d1;
    } cases[] = {{0, 1, 24}, {1, 2, 12}, {2, 6, 4}, {3, 24, 1}, {-1, 6, 4}, {-3, 1, 24}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tn_init(&t, "Flatten", 13, 1);
        tn_int(&t, "axis", cases[c].axis);
        qdb_tensor *y = run_ok(&t, (const qdb_tensor *[]){x});
        expect_shape(y, 2, D(cases[c].d0, cases[c].d1));
        assert_true(y->data.f[23] == 23.0f);
        qdb_tensor_free(y);
    }
    tn_init(&t, "Flatten", 13, 1);
    tn_int(&t, "axis", 4);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x}), QDB_ERR_INVALID);
    /* Negative axes arrived with opset 11. */
    tn_init(&t, "Flatten", 9, 1);
    tn_int(&t, "axis", -1);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x}), QDB_ERR_INVALID);
    qdb_tensor_free(x);
}

static void test_squeeze_unsqueeze(void **state)
{
    (void)state;
    tnode t;
    qdb_tensor *x = iota_f(4, D(1, 3, 1, 2));

    /* Opset 13, no axes: every 1 goes. */
    tn_init(&t, "Squeeze", 13, 1);
    qdb_tensor *y = run_ok(&t, (const qdb_tensor *[]){x});
    expect_shape(y, 2, D(3, 2));
    qdb_tensor_free(y);

    /* Opset 13, axes input [-2]. */
    qdb_tensor *ax = mki(1, D(1), I(-2));
    tn_init(&t, "Squeeze", 13, 2);
    y = run_ok(&t, (const qdb_tensor *[]){x, ax});
    expect_shape(y, 3, D(1, 3, 2));
    qdb_tensor_free(y);

    /* Opset 11, axes attribute [0]. */
    tn_init(&t, "Squeeze", 11, 1);
    tn_ints(&t, "axes", I(0), 1);
    y = run_ok(&t, (const qdb_tensor *[]){x});
    expect_shape(y, 3, D(3, 1, 2));
    qdb_tensor_free(y);

    /* Squeezing a dimension of 3 is an error. */
    tn_init(&t, "Squeeze", 11, 1);
    tn_ints(&t, "axes", I(1), 1);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x}), QDB_ERR_SHAPE);

    /* Unsqueeze [3] with axes [0, -1] (of the rank-3 output): [1, 3, 1]. */
    qdb_tensor *v = mki(1, D(3), I(7, 8, 9));
    qdb_tensor *ua = mki(1, D(2), I(-1, 0));
    tn_init(&t, "Unsqueeze", 13, 2);
    y = run_ok(&t, (const qdb_tensor *[]){v, ua});
    expect_shape(y, 3, D(1, 3, 1));
    EXPECT_I(y, 7, 8, 9);
    qdb_tensor_free(y);

    /* Opset 11 attribute; scalar to [1, 1]. */
    qdb_tensor *sc = mkf(0, D(0), F(5));
    tn_init(&t, "Unsqueeze", 11, 1);
    tn_ints(&t, "axes", I(1, 0), 2);
    y = run_ok(&t, (const qdb_tensor *[]){sc});
    expect_shape(y, 2, D(1, 1));
    EXPECT_F(y, 0, 5);
    qdb_tensor_free(y);

    /* Repeated axis. */
    qdb_tensor *ub = mki(1, D(2), I(1, 1));
    tn_init(&t, "Unsqueeze", 13, 2);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){v, ub}), QDB_ERR_INVALID);

    qdb_tensor *all[] = {x, ax, v, ua, sc, ub};
    free_all(all, 6);
}

static void test_identity_dropout(void **state)
{
    (void)state;
    tnode t;
    qdb_tensor *x = mki(2, D(2, 2), I(1, -2, 3, INT64_MIN));
    tn_init(&t, "Identity", 16, 1);
    qdb_tensor *y = run_ok(&t, (const qdb_tensor *[]){x});
    expect_shape(y, 2, D(2, 2));
    EXPECT_I(y, 1, -2, 3, INT64_MIN);
    qdb_tensor_free(y);

    qdb_tensor *f = mkf(1, D(3), F(1, 2, 3));
    tn_init(&t, "Dropout", 13, 1);
    y = run_ok(&t, (const qdb_tensor *[]){f});
    EXPECT_F(y, 0, 1, 2, 3);
    qdb_tensor_free(y);

    /* training_mode = true with the default ratio: unsupported. */
    qdb_tensor *yes = mki(0, D(0), I(1)), *no = mki(0, D(0), I(0));
    qdb_tensor *zero = mkf(0, D(0), F(0)), *half = mkf(0, D(0), F(0.5f));
    tn_init(&t, "Dropout", 13, 3);
    t.in_idx[1] = -1;
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){f, NULL, yes}), QDB_ERR_UNSUPPORTED);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){f, half, yes}), QDB_ERR_UNSUPPORTED);
    /* ... but training with ratio 0, or not training, is the identity. */
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){f, zero, yes}), QDB_OK);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){f, half, no}), QDB_OK);

    /* The mask output of an identity dropout is all true: bool (int64) from
     * opset 10, the input's type before. */
    tn_init(&t, "Dropout", 13, 3);
    tn_outputs(&t, 2);
    qdb_tensor *o2[TN_MAX_IO];
    qdb_err err;
    assert_int_equal(run_n(&t, (const qdb_tensor *[]){f, zero, yes}, o2, &err), QDB_OK);
    EXPECT_F(o2[0], 0, 1, 2, 3);
    expect_shape(o2[1], 1, D(3));
    EXPECT_I(o2[1], 1, 1, 1);
    free_all(o2, 2);
    tn_init(&t, "Dropout", 7, 1);
    tn_outputs(&t, 2);
    assert_int_equal(run_n(&t, (const qdb_tensor *[]){f}, o2, &err), QDB_OK);
    EXPECT_F(o2[1], 0, 1, 1, 1);
    free_all(o2, 2);
    /* training_mode known only at run time: judged when infer sees it. */
    qdb_shape s0 = qdb_shape_make(0, NULL);
    qdb_tensor *htm = qdb_tensor_new_header(QDB_I64, &s0, NULL);
    qdb_tensor hout[2];
    memset(hout, 0, sizeof hout);
    tn_init(&t, "Dropout", 13, 3);
    t.in_idx[1] = -1;
    assert_int_equal(t.n.op->infer(&t.n, (const qdb_tensor *[]){f, NULL, htm}, hout, NULL),
                     QDB_OK);
    qdb_tensor_free(htm);
    /* Opset 6 with is_test = 0 is training mode. */
    tn_init(&t, "Dropout", 6, 1);
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_UNSUPPORTED);
    tn_int(&t, "is_test", 1);
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_OK);

    qdb_tensor *all[] = {x, f, yes, no, zero, half};
    free_all(all, 6);
}

/* ---- Transpose / DepthToSpace / SpaceToDepth ---------------------------------- */

static void test_transpose(void **state)
{
    (void)state;
    tnode t;
    /* Default perm reverses: [[0,1,2],[3,4,5]] -> [[0,3],[1,4],[2,5]]. */
    qdb_tensor *x = iota_f(2, D(2, 3));
    tn_init(&t, "Transpose", 13, 1);
    qdb_tensor *y = run_ok(&t, (const qdb_tensor *[]){x});
    expect_shape(y, 2, D(3, 2));
    EXPECT_F(y, 0, 0, 3, 1, 4, 2, 5);
    qdb_tensor_free(y);
    qdb_tensor_free(x);

    /* Every permutation of a [2,3,4,5] tensor against coordinate decoding. */
    x = iota_f(4, D(2, 3, 4, 5));
    qdb_tensor *xi = qdb_tensor_convert(x, QDB_I64, NULL);
    int p[4] = {0, 1, 2, 3};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++) {
                int d = 6 - a - b - c;
                if (a == b || a == c || b == c || d < 0 || d > 3 || d == a || d == b || d == c)
                    continue;
                p[0] = a, p[1] = b, p[2] = c, p[3] = d;
                int64_t perm[4] = {a, b, c, d};
                for (int dt = 0; dt < 2; dt++) {
                    tn_init(&t, "Transpose", 13, 1);
                    tn_ints(&t, "perm", perm, 4);
                    y = run_ok(&t, (const qdb_tensor *[]){dt ? xi : x});
                    for (size_t k = 0; k < y->numel; k++) {
                        int64_t co[4], ci[4];
                        coords(&y->shape, k, co);
                        for (int i = 0; i < 4; i++)
                            ci[p[i]] = co[i];
                        double want = (double)flat(&x->shape, ci);
                        double got = dt ? (double)y->data.i[k] : y->data.f[k];
                        if (got != want)
                            fail_msg("perm %d%d%d%d at %zu: %g vs %g", a, b, c, d, k, got, want);
                    }
                    qdb_tensor_free(y);
                }
            }
    /* Larger planes (tiled copies): every permutation of [7, 45, 37]. */
    qdb_tensor *big = iota_f(3, D(7, 45, 37));
    qdb_tensor *bigi = qdb_tensor_convert(big, QDB_I64, NULL);
    static const int64_t perms3[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                         {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int q = 0; q < 6; q++)
        for (int dt = 0; dt < 2; dt++) {
            tn_init(&t, "Transpose", 13, 1);
            tn_ints(&t, "perm", perms3[q], 3);
            y = run_ok(&t, (const qdb_tensor *[]){dt ? bigi : big});
            for (size_t k = 0; k < y->numel; k++) {
                int64_t co[3], ci[3];
                coords(&y->shape, k, co);
                for (int i = 0; i < 3; i++)
                    ci[perms3[q][i]] = co[i];
                double want = (double)flat(&big->shape, ci);
                double got = dt ? (double)y->data.i[k] : y->data.f[k];
                if (got != want)
                    fail_msg("perm #%d at %zu: %g vs %g", q, k, got, want);
            }
            qdb_tensor_free(y);
        }
    qdb_tensor_free(big);
    qdb_tensor_free(bigi);

    tn_init(&t, "Transpose", 13, 1);
    tn_ints(&t, "perm", I(0, 0, 1, 2), 4);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x}), QDB_ERR_INVALID);
    qdb_tensor_free(x);
    qdb_tensor_free(xi);
}

static void test_depth_space(void **state)
{
    (void)state;
    tnode t;
    /* [1,8,1,1] = 0..7, blocksize 2, C' = 2.
     * DCR: out[c'][b1][b2] = in[(b1*2 + b2)*2 + c'] -> [[0,2],[4,6]], [[1,3],[5,7]]
     * CRD: out[c'][b1][b2] = in[c'*4 + b1*2 + b2]   -> [[0,1],[2,3]], [[4,5],[6,7]] */
    qdb_tensor *x = iota_f(4, D(1, 8, 1, 1));
    tn_init(&t, "DepthToSpace", 13, 1);
    tn_int(&t, "blocksize", 2);
    qdb_tensor *dcr = run_ok(&t, (const qdb_tensor *[]){x});
    expect_shape(dcr, 4, D(1, 2, 2, 2));
    EXPECT_F(dcr, 0, 0, 2, 4, 6, 1, 3, 5, 7);
    tn_str(&t, "mode", "CRD");
    qdb_tensor *crd = run_ok(&t, (const qdb_tensor *[]){x});
    EXPECT_F(crd, 0, 0, 1, 2, 3, 4, 5, 6, 7);
    qdb_tensor_free(crd);

    /* SpaceToDepth undoes DCR DepthToSpace. */
    tn_init(&t, "SpaceToDepth", 13, 1);
    tn_int(&t, "blocksize", 2);
    qdb_tensor *back = run_ok(&t, (const qdb_tensor *[]){dcr});
    expect_shape(back, 4, D(1, 8, 1, 1));
    EXPECT_F(back, 0, 0, 1, 2, 3, 4, 5, 6, 7);
    qdb_tensor_free(back);

    /* A 2x4 image, one channel, blocksize 2: channel (b1*2+b2) holds the
     * pixels at (2h+b1, 2w+b2):
     *   [[0,1,2,3],[4,5,6,7]] -> c0 [0,2], c1 [1,3], c2 [4,6], c3 [5,7] */
    qdb_tensor *img = iota_f(4, D(1, 1, 2, 4));
    qdb_tensor *s2d = run_ok(&t, (const qdb_tensor *[]){img});
    expect_shape(s2d, 4, D(1, 4, 1, 2));
    EXPECT_F(s2d, 0, 0, 2, 1, 3, 4, 6, 5, 7);
    qdb_tensor_free(s2d);

    /* 3 channels are not divisible by 4. */
    qdb_tensor *bad = iota_f(4, D(1, 3, 1, 1));
    tn_init(&t, "DepthToSpace", 13, 1);
    tn_int(&t, "blocksize", 2);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){bad}), QDB_ERR_SHAPE);

    qdb_tensor *all[] = {x, dcr, img, bad};
    free_all(all, 4);
}

/* ---- Concat / Split ----------------------------------------------------------- */

static void test_concat(void **state)
{
    (void)state;
    tnode t;
    /* [[1],[2]] ++ [[3,4],[5,6]] on axis -1 -> [[1,3,4],[2,5,6]] */
    qdb_tensor *a = mkf(2, D(2, 1), F(1, 2));
    qdb_tensor *b = mkf(2, D(2, 2), F(3, 4, 5, 6));
    qdb_tensor *z = mkf(2, D(2, 0), NULL);
    tn_init(&t, "Concat", 13, 3);
    tn_int(&t, "axis", -1);
    qdb_tensor *y = run_ok(&t, (const qdb_tensor *[]){a, z, b});
    expect_shape(y, 2, D(2, 3));
    EXPECT_F(y, 0, 1, 3, 4, 2, 5, 6);
    qdb_tensor_free(y);

    /* Axis 0 of int64 vectors (shape arithmetic). */
    qdb_tensor *u = mki(1, D(1), I(-7)), *v = mki(1, D(2), I(3, 4));
    tn_init(&t, "Concat", 13, 2);
    tn_int(&t, "axis", 0);
    y = run_ok(&t, (const qdb_tensor *[]){u, v});
    EXPECT_I(y, -7, 3, 4);
    qdb_tensor_free(y);

    /* Mismatched shapes and types. */
    qdb_tensor *c = mkf(2, D(3, 1), F(1, 2, 3));
    tn_init(&t, "Concat", 13, 2);
    tn_int(&t, "axis", 1);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){a, c}), QDB_ERR_SHAPE);
    tn_init(&t, "Concat", 13, 2);
    tn_int(&t, "axis", 0);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){u, a}), QDB_ERR_INVALID);

    qdb_tensor *all[] = {a, b, z, u, v, c};
    free_all(all, 6);
}

static void test_split(void **state)
{
    (void)state;
    tnode t;
    qdb_err e;
    qdb_tensor *o[TN_MAX_IO];
    qdb_tensor *x = iota_f(1, D(7));

    /* Opset 18, num_outputs 3 on 7: chunks of ceil(7/3) = 3: [3, 3, 1]. */
    tn_init(&t, "Split", 18, 1);
    tn_outputs(&t, 3);
    tn_int(&t, "num_outputs", 3);
    assert_int_equal(run_n(&t, (const qdb_tensor *[]){x}, o, &e), QDB_OK);
    EXPECT_F(o[0], 0, 0, 1, 2);
    EXPECT_F(o[1], 0, 3, 4, 5);
    EXPECT_F(o[2], 0, 6);
    free_all(o, 3);

    /* Opset 13, split input [2, 5]. */
    qdb_tensor *sp = mki(1, D(2), I(2, 5));
    tn_init(&t, "Split", 13, 2);
    tn_outputs(&t, 2);
    assert_int_equal(run_n(&t, (const qdb_tensor *[]){x, sp}, o, &e), QDB_OK);
    EXPECT_F(o[0], 0, 0, 1);
    EXPECT_F(o[1], 0, 2, 3, 4, 5, 6);
    free_all(o, 2);

    /* Opset 11, attribute, on axis 1 of a [2, 3] int64 tensor. */
    qdb_tensor *m = mki(2, D(2, 3), I(1, 2, 3, 4, 5, 6));
    tn_init(&t, "Split", 11, 1);
    tn_outputs(&t, 2);
    tn_int(&t, "axis", -1);
    tn_ints(&t, "split", I(1, 2), 2);
    assert_int_equal(run_n(&t, (const qdb_tensor *[]){m}, o, &e), QDB_OK);
    expect_shape(o[0], 2, D(2, 1));
    EXPECT_I(o[0], 1, 4);
    EXPECT_I(o[1], 2, 3, 5, 6);
    free_all(o, 2);

    /* Before opset 18, equal parts only: 7 into 2 is an error. */
    tn_init(&t, "Split", 13, 1);
    tn_outputs(&t, 2);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x}), QDB_ERR_SHAPE);
    /* Sizes that do not add up. */
    qdb_tensor *sp2 = mki(1, D(2), I(2, 4));
    tn_init(&t, "Split", 13, 2);
    tn_outputs(&t, 2);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x, sp2}), QDB_ERR_SHAPE);

    qdb_tensor *all[] = {x, sp, m, sp2};
    free_all(all, 4);
}

/* ---- Slice --------------------------------------------------------------------- */

static qdb_tensor *slice1(int opset, qdb_tensor *x, int64_t start, int64_t end, int64_t axis,
                          int64_t step)
{
    tnode t;
    qdb_tensor *s = mki(1, D(1), &start), *en = mki(1, D(1), &end), *a = mki(1, D(1), &axis),
               *st = mki(1, D(1), &step);
    tn_init(&t, "Slice", opset, 5);
    qdb_tensor *y = run_ok(&t, (const qdb_tensor *[]){x, s, en, a, st});
    qdb_tensor *all[] = {s, en, a, st};
    free_all(all, 4);
    return y;
}

static void test_slice(void **state)
{
    (void)state;
    tnode t;
    qdb_tensor *x = iota_f(1, D(10));
    qdb_tensor *y;

    /* start -1 (= 9), end INT64_MIN (clamped to -1), step -2: 9 7 5 3 1 */
    y = slice1(13, x, -1, INT64_MIN, 0, -2);
    EXPECT_F(y, 0, 9, 7, 5, 3, 1);
    qdb_tensor_free(y);
    /* start 100 clamps to 9, end -100 to -1 for a negative step: all, reversed. */
    y = slice1(13, x, 100, -100, 0, -1);
    EXPECT_F(y, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    qdb_tensor_free(y);
    /* start -100 clamps to 0, end 100 to 10, step 3: 0 3 6 9 */
    y = slice1(13, x, -100, 100, 0, 3);
    EXPECT_F(y, 0, 0, 3, 6, 9);
    qdb_tensor_free(y);
    /* start 2, end -3 (= 7), step 2: 2 4 6 */
    y = slice1(13, x, 2, -3, -1, 2);
    EXPECT_F(y, 0, 2, 4, 6);
    qdb_tensor_free(y);
    /* Empty: start after end with a positive step. */
    y = slice1(13, x, 5, 2, 0, 1);
    expect_shape(y, 1, D(0));
    qdb_tensor_free(y);
    /* A huge negative step keeps only the start. */
    y = slice1(13, x, 4, INT64_MIN, 0, INT64_MIN);
    EXPECT_F(y, 0, 4);
    qdb_tensor_free(y);

    /* 2-D: [[0..3],[4..7],[8..11]], axis 1 reversed, default axis 0 whole:
     * [[3,2,1,0],[7,6,5,4],[11,10,9,8]] */
    qdb_tensor *m = iota_f(2, D(3, 4));
    y = slice1(13, m, -1, INT64_MIN, 1, -1);
    expect_shape(y, 2, D(3, 4));
    EXPECT_F(y, 0, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8);
    qdb_tensor_free(y);

    /* Default axes and steps (3 inputs): rows 1..2, columns 1..2 -> [[5,6],[9,10]]. */
    qdb_tensor *s = mki(1, D(2), I(1, 1)), *en = mki(1, D(2), I(3, -1));
    tn_init(&t, "Slice", 13, 3);
    y = run_ok(&t, (const qdb_tensor *[]){m, s, en});
    expect_shape(y, 2, D(2, 2));
    EXPECT_F(y, 0, 5, 6, 9, 10);
    qdb_tensor_free(y);

    /* Opset 1: attributes; rows 0..1 (ends clamp), then int64 data. */
    qdb_tensor *mi = qdb_tensor_convert(m, QDB_I64, NULL);
    tn_init(&t, "Slice", 1, 1);
    tn_ints(&t, "starts", I(1), 1);
    tn_ints(&t, "ends", I(1000), 1);
    tn_ints(&t, "axes", I(0), 1);
    y = run_ok(&t, (const qdb_tensor *[]){mi});
    expect_shape(y, 2, D(2, 4));
    EXPECT_I(y, 4, 5, 6, 7, 8, 9, 10, 11);
    qdb_tensor_free(y);

    /* Step 0 and a repeated axis are errors. */
    qdb_tensor *z = mki(1, D(1), I(0)), *one = mki(1, D(1), I(1)), *two = mki(1, D(1), I(2));
    tn_init(&t, "Slice", 13, 5);
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x, z, two, z, z}), QDB_ERR_INVALID);
    qdb_tensor *aa = mki(1, D(2), I(0, 0));
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){m, s, en, aa, NULL}),
                     QDB_ERR_INVALID);
    (void)one;

    qdb_tensor *all[] = {x, m, s, en, mi, z, one, two, aa};
    free_all(all, 9);
}

/* ---- Gather / GatherElements ------------------------------------------------------ */

static void test_gather(void **state)
{
    (void)state;
    tnode t;
    /* data [[1,2,3],[4,5,6]], indices [[-1, 0]] on axis 1:
     * out[i][0][k] = data[i][idx[k]] -> [[[3,1]],[[6,4]]], shape [2,1,2] */
    qdb_tensor *x = mkf(2, D(2, 3), F(1, 2, 3, 4, 5, 6));
    qdb_tensor *idx = mki(2, D(1, 2), I(-1, 0));
    tn_init(&t, "Gather", 13, 2);
    tn_int(&t, "axis", 1);
    qdb_tensor *y = run_ok(&t, (const qdb_tensor *[]){x, idx});
    expect_shape(y, 3, D(2, 1, 2));
    EXPECT_F(y, 0, 3, 1, 6, 4);
    qdb_tensor_free(y);

    /* Axis 0 with a scalar index -1 on int64 data: the last row. */
    qdb_tensor *xi = mki(2, D(2, 3), I(1, 2, 3, 4, 5, 6));
    qdb_tensor *s = mki(0, D(0), I(-1));
    tn_init(&t, "Gather", 13, 2);
    y = run_ok(&t, (const qdb_tensor *[]){xi, s});
    expect_shape(y, 1, D(3));
    EXPECT_I(y, 4, 5, 6);
    qdb_tensor_free(y);

    /* Out of range. */
    qdb_tensor *bad = mki(1, D(1), I(2));
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){xi, bad}), QDB_ERR_INVALID);
    qdb_tensor *bad2 = mki(1, D(1), I(-3));
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){xi, bad2}), QDB_ERR_INVALID);

    /* GatherElements axis 1: data [[1,2],[3,4]], indices [[0,0],[1,0]]
     * -> [[1,1],[4,3]]; axis 0 with indices [[1,-2]] -> [[3,2]] */
    qdb_tensor *d = mkf(2, D(2, 2), F(1, 2, 3, 4));
    qdb_tensor *ge = mki(2, D(2, 2), I(0, 0, 1, 0));
    tn_init(&t, "GatherElements", 13, 2);
    tn_int(&t, "axis", 1);
    y = run_ok(&t, (const qdb_tensor *[]){d, ge});
    EXPECT_F(y, 0, 1, 1, 4, 3);
    qdb_tensor_free(y);
    qdb_tensor *ge0 = mki(2, D(1, 2), I(1, -2));
    tn_init(&t, "GatherElements", 13, 2);
    tn_int(&t, "axis", 0);
    y = run_ok(&t, (const qdb_tensor *[]){d, ge0});
    expect_shape(y, 2, D(1, 2));
    EXPECT_F(y, 0, 3, 2);
    qdb_tensor_free(y);

    /* A 3-D GatherElements against a naive reference on axis 1. */
    qdb_tensor *c = iota_f(3, D(2, 3, 4));
    qdb_tensor *ci = mki(3, D(2, 5, 3), NULL);
    for (size_t k = 0; k < ci->numel; k++)
        ci->data.i[k] = (int64_t)((k * 7) % 6) - 3; /* in [-3, 2] */
    tn_init(&t, "GatherElements", 13, 2);
    tn_int(&t, "axis", 1);
    y = run_ok(&t, (const qdb_tensor *[]){c, ci});
    expect_shape(y, 3, D(2, 5, 3));
    for (size_t k = 0; k < y->numel; k++) {
        int64_t co[3];
        coords(&y->shape, k, co);
        int64_t j = ci->data.i[k];
        co[1] = j < 0 ? j + 3 : j;
        assert_true(y->data.f[k] == (float)flat(&c->shape, co));
    }
    qdb_tensor_free(y);

    qdb_tensor *all[] = {x, idx, xi, s, bad, bad2, d, ge, ge0, c, ci};
    free_all(all, 11);
}

/* ---- Pad ------------------------------------------------------------------------ */

static qdb_tensor *pad1(const char *mode, qdb_tensor *x, const int64_t *pads, int np,
                        qdb_tensor *cv)
{
    tnode t;
    qdb_tensor *p = mki(1, D(np), pads);
    tn_init(&t, "Pad", 13, cv ? 3 : 2);
    tn_str(&t, "mode", mode);
    qdb_tensor *y = run_ok(&t, (const qdb_tensor *[]){x, p, cv});
    qdb_tensor_free(p);
    return y;
}

static void test_pad(void **state)
{
    (void)state;
    tnode t;
    qdb_tensor *x = mkf(1, D(3), F(1, 2, 3));
    qdb_tensor *y;
    /* reflect by 2 on both sides: 3 2 | 1 2 3 | 2 1 */
    y = pad1("reflect", x, I(2, 2), 2, NULL);
    EXPECT_F(y, 0, 3, 2, 1, 2, 3, 2, 1);
    qdb_tensor_free(y);
    /* reflect beyond the length folds again: pads 4 -> 1 2 3 2 | 1 2 3 */
    y = pad1("reflect", x, I(4, 0), 2, NULL);
    EXPECT_F(y, 0, 1, 2, 3, 2, 1, 2, 3);
    qdb_tensor_free(y);
    /* edge: 1 1 | 1 2 3 | 3 3 3 */
    y = pad1("edge", x, I(2, 3), 2, NULL);
    EXPECT_F(y, 0, 1, 1, 1, 2, 3, 3, 3, 3);
    qdb_tensor_free(y);
    /* constant 9 with a negative begin pad: crop 1, add 2 -> 2 3 9 9 */
    qdb_tensor *nine = mkf(0, D(0), F(9));
    y = pad1("constant", x, I(-1, 2), 2, nine);
    EXPECT_F(y, 0, 2, 3, 9, 9);
    qdb_tensor_free(y);
    /* edge after cropping the end: 1 2 | + 2 edge -> 1 1 2 (begin 1) */
    y = pad1("edge", x, I(1, -1), 2, NULL);
    EXPECT_F(y, 0, 1, 1, 2);
    qdb_tensor_free(y);

    /* 2-D reflect on [[1,2,3],[4,5,6]] with pads rows 1/0, cols 0/2:
     * rows: [4,5,6],[1,2,3],[4,5,6]; then columns +2 reflected (2, 1 of index):
     *   [4,5,6,5,4], [1,2,3,2,1], [4,5,6,5,4] */
    qdb_tensor *m = mkf(2, D(2, 3), F(1, 2, 3, 4, 5, 6));
    y = pad1("reflect", m, I(1, 0, 0, 2), 4, NULL);
    expect_shape(y, 2, D(3, 5));
    EXPECT_F(y, 0, 4, 5, 6, 5, 4, 1, 2, 3, 2, 1, 4, 5, 6, 5, 4);
    qdb_tensor_free(y);
    /* 2-D edge with constant corners impossible; edge corners replicate:
     * pads rows 1/1, cols 1/0 on [[1,2,3],[4,5,6]]:
     *   [1,1,2,3],[1,1,2,3],[4,4,5,6],[4,4,5,6] */
    y = pad1("edge", m, I(1, 1, 1, 0), 4, NULL);
    expect_shape(y, 2, D(4, 4));
    EXPECT_F(y, 0, 1, 1, 2, 3, 1, 1, 2, 3, 4, 4, 5, 6, 4, 4, 5, 6);
    qdb_tensor_free(y);

    /* Opset 18 axes input: pad only axis -1 by 1/1 with constant 0. */
    qdb_tensor *pp = mki(1, D(2), I(1, 1)), *ax = mki(1, D(1), I(-1));
    tn_init(&t, "Pad", 18, 4);
    t.in_idx[2] = -1;
    y = run_ok(&t, (const qdb_tensor *[]){m, pp, NULL, ax});
    expect_shape(y, 2, D(2, 5));
    EXPECT_F(y, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0);
    qdb_tensor_free(y);

    /* Opset 2: pads and value attributes; int64 data. */
    qdb_tensor *xi = mki(1, D(2), I(5, 6));
    tn_init(&t, "Pad", 2, 1);
    tn_ints(&t, "pads", I(1, 2), 2);
    tn_float(&t, "value", -1);
    y = run_ok(&t, (const qdb_tensor *[]){xi});
    EXPECT_I(y, -1, 5, 6, -1, -1);
    qdb_tensor_free(y);

    /* Unknown mode; wrap only from opset 19. */
    tn_init(&t, "Pad", 13, 2);
    tn_str(&t, "mode", "wrap");
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_UNSUPPORTED);
    y = NULL;
    tn_init(&t, "Pad", 19, 2);
    tn_str(&t, "mode", "wrap");
    qdb_tensor *wp = mki(1, D(2), I(2, 1));
    y = run_ok(&t, (const qdb_tensor *[]){x, wp});
    EXPECT_F(y, 0, 2, 3, 1, 2, 3, 1); /* ... 2 3 | 1 2 3 | 1 */
    qdb_tensor_free(y);

    qdb_tensor *all[] = {x, nine, m, pp, ax, xi, wp};
    free_all(all, 7);
}

/* ---- Constant / ConstantOfShape / Shape / Size / Range ---------------------------- */

static void test_constants(void **state)
{
    (void)state;
    tnode t;
    qdb_tensor *y;

    tn_init(&t, "Constant", 13, 0);
    tn_ints(&t, "value_ints", I(3, -1), 2);
    y = run_ok(&t, NULL);
    expect_shape(y, 1, D(2));
    EXPECT_I(y, 3, -1);
    qdb_tensor_free(y);

    tn_init(&t, "Constant", 13, 0);
    tn_float(&t, "value_float", 2.5f);
    y = run_ok(&t, NULL);
    assert_int_equal(y->shape.ndim, 0);
    EXPECT_F(y, 0, 2.5f);
    qdb_tensor_free(y);

    qdb_tensor *val = mkf(2, D(1, 2), F(7, 8));
    tn_init(&t, "Constant", 9, 0);
    tn_attr(&t, "value", QDB_ATTR_TENSOR)->t = val;
    y = run_ok(&t, NULL);
    expect_shape(y, 2, D(1, 2));
    EXPECT_F(y, 0, 7, 8);
    qdb_tensor_free(y);

    tn_init(&t, "Constant", 13, 0);
    tn_str(&t, "value_string", "x");
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_UNSUPPORTED);

    /* ConstantOfShape [2, 2] of int64 7; the default is float 0. */
    qdb_tensor *shp = mki(1, D(2), I(2, 2)), *seven = mki(1, D(1), I(7));
    tn_init(&t, "ConstantOfShape", 9, 1);
    tn_attr(&t, "value", QDB_ATTR_TENSOR)->t = seven;
    y = run_ok(&t, (const qdb_tensor *[]){shp});
    expect_shape(y, 2, D(2, 2));
    EXPECT_I(y, 7, 7, 7, 7);
    qdb_tensor_free(y);
    tn_init(&t, "ConstantOfShape", 9, 1);
    y = run_ok(&t, (const qdb_tensor *[]){shp});
    EXPECT_F(y, 0, 0, 0, 0, 0);
    qdb_tensor_free(y);

    /* Shape with start 1, end -1 of [2,3,4,5] -> [3, 4]; clamped start -10
     * -> all; Size -> 120. The data is header-only: Shape never reads it. */
    qdb_shape s = qdb_shape_make(4, D(2, 3, 4, 5));
    qdb_tensor *h = qdb_tensor_new_header(QDB_F32, &s, NULL);
    tn_init(&t, "Shape", 15, 1);
    tn_int(&t, "start", 1);
    tn_int(&t, "end", -1);
    assert_true(t.n.op->reads_shapes_only);
    y = run_ok(&t, (const qdb_tensor *[]){h});
    EXPECT_I(y, 3, 4);
    qdb_tensor_free(y);
    tn_init(&t, "Shape", 15, 1);
    tn_int(&t, "start", -10);
    y = run_ok(&t, (const qdb_tensor *[]){h});
    EXPECT_I(y, 2, 3, 4, 5);
    qdb_tensor_free(y);
    /* start / end did not exist before opset 15. */
    tn_init(&t, "Shape", 13, 1);
    tn_int(&t, "start", 2);
    y = run_ok(&t, (const qdb_tensor *[]){h});
    EXPECT_I(y, 2, 3, 4, 5);
    qdb_tensor_free(y);
    tn_init(&t, "Size", 13, 1);
    y = run_ok(&t, (const qdb_tensor *[]){h});
    assert_int_equal(y->shape.ndim, 0);
    EXPECT_I(y, 120);
    qdb_tensor_free(y);

    /* Range: float 1..5 step 2 -> [1, 3]; int 10..4 step -3 -> [10, 7];
     * float 0..1 step 0.3 -> ceil(3.33) = 4 values. */
    qdb_tensor *f1 = mkf(0, D(0), F(1)), *f5 = mkf(0, D(0), F(5)), *f2 = mkf(0, D(0), F(2));
    tn_init(&t, "Range", 11, 3);
    y = run_ok(&t, (const qdb_tensor *[]){f1, f5, f2});
    EXPECT_F(y, 0, 1, 3);
    qdb_tensor_free(y);
    qdb_tensor *i10 = mki(0, D(0), I(10)), *i4 = mki(0, D(0), I(4)), *im3 = mki(0, D(0), I(-3));
    y = run_ok(&t, (const qdb_tensor *[]){i10, i4, im3});
    EXPECT_I(y, 10, 7);
    qdb_tensor_free(y);
    y = run_ok(&t, (const qdb_tensor *[]){i4, i10, im3});
    expect_shape(y, 1, D(0));
    qdb_tensor_free(y);
    qdb_tensor *f0 = mkf(0, D(0), F(0)), *f03 = mkf(0, D(0), F(0.3f));
    y = run_ok(&t, (const qdb_tensor *[]){f0, f1, f03});
    EXPECT_F(y, 1e-6, 0, 0.3f, 0.6f, 0.9f);
    qdb_tensor_free(y);
    qdb_tensor *i0 = mki(0, D(0), I(0));
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){i10, i4, i0}), QDB_ERR_INVALID);

    qdb_tensor *all[] = {val, shp, seven, h, f1, f5, f2, i10, i4, im3, f0, f03, i0};
    free_all(all, 13);
}

/* ---- Cast ------------------------------------------------------------------------- */

static qdb_tensor *cast_to(qdb_tensor *x, int64_t to)
{
    tnode t;
    tn_init(&t, "Cast", 13, 1);
    tn_int(&t, "to", to);
    return run_ok(&t, (const qdb_tensor *[]){x});
}

static void test_cast(void **state)
{
    (void)state;
    tnode t;
    qdb_tensor *x = mkf(1, D(6), F(-1.7f, 2.9f, 3e9f, 300.5f, -1.0f, 0.0f));
    qdb_tensor *y;
    /* INT64 (7): truncation toward zero. */
    y = cast_to(x, 7);
    EXPECT_I(y, -1, 2, 3000000000LL, 300, -1, 0);
    qdb_tensor_free(y);
    /* INT32 (6): 3e9 wraps to 3e9 - 2^32 = -1294967296. */
    y = cast_to(x, 6);
    EXPECT_I(y, -1, 2, -1294967296LL, 300, -1, 0);
    qdb_tensor_free(y);
    /* UINT8 (2): 300 -> 44, -1 -> 255; 3e9 = 0xB2D05E00 -> 0x00. */
    y = cast_to(x, 2);
    EXPECT_I(y, 255, 2, 0, 44, 255, 0);
    qdb_tensor_free(y);
    /* INT8 (3): 300 -> 44, 255 -> -1. */
    qdb_tensor *xi = mki(1, D(4), I(300, 255, -129, 127));
    y = cast_to(xi, 3);
    EXPECT_I(y, 44, -1, 127, 127);
    qdb_tensor_free(y);
    /* BOOL (9). */
    y = cast_to(x, 9);
    EXPECT_I(y, 1, 1, 1, 1, 1, 0);
    qdb_tensor_free(y);
    /* int64 -> FLOAT (1) and DOUBLE (11). */
    y = cast_to(xi, 1);
    EXPECT_F(y, 0, 300, 255, -129, 127);
    qdb_tensor_free(y);
    y = cast_to(x, 11);
    EXPECT_F(y, 0, -1.7f, 2.9f, 3e9f, 300.5f, -1.0f, 0.0f);
    qdb_tensor_free(y);

    /* FLOAT16 (10): 0.1 -> 0x2E66 = 1638/16384 = 0.0999755859375;
     * 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even -> 1;
     * 1 + 3*2^-11 ties to 1 + 2^-9 (even mantissa 2);
     * 65519 -> 65504 (max); 65520 -> inf; 2^-25 ties to 0; 3*2^-25 -> 2^-23
     * (subnormal steps of 2^-24: 1.5 steps ties to 2). */
    qdb_tensor *h = mkf(1, D(8), F(0.1f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65519.0f,
                                   65520.0f, 0x1p-25f, 3 * 0x1p-25f, -2.0f));
    y = cast_to(h, 10);
    EXPECT_F(y, 0, 0.0999755859375f, 1.0f, 1.0f + 0x1p-9f, 65504.0f, INFINITY, 0.0f, 0x1p-23f,
             -2.0f);
    qdb_tensor_free(y);
    /* Opset 1: 'to' is a string. */
    tn_init(&t, "Cast", 1, 1);
    tn_str(&t, "to", "INT32");
    y = run_ok(&t, (const qdb_tensor *[]){x});
    EXPECT_I(y, -1, 2, -1294967296LL, 300, -1, 0);
    qdb_tensor_free(y);

    /* STRING (8), COMPLEX64 (14), BFLOAT16 (16), FLOAT8 (17) are unsupported. */
    static const int64_t unsup[] = {8, 14, 16, 17, 0};
    for (size_t k = 0; k < sizeof unsup / sizeof unsup[0]; k++) {
        tn_init(&t, "Cast", 19, 1);
        tn_int(&t, "to", unsup[k]);
        assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_UNSUPPORTED);
    }

    qdb_tensor *all[] = {x, xi, h};
    free_all(all, 3);
}

/* ---- Expand / Tile ------------------------------------------------------------------ */

static void test_expand_tile(void **state)
{
    (void)state;
    tnode t;
    /* [3,1] = [[1],[2],[3]] to shape [2,1,2] -> [2,3,2]:
     * every [3,2] block is [[1,1],[2,2],[3,3]]. */
    qdb_tensor *x = mkf(2, D(3, 1), F(1, 2, 3));
    qdb_tensor *s = mki(1, D(3), I(2, 1, 2));
    tn_init(&t, "Expand", 13, 2);
    qdb_tensor *y = run_ok(&t, (const qdb_tensor *[]){x, s});
    expect_shape(y, 3, D(2, 3, 2));
    EXPECT_F(y, 0, 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3);
    qdb_tensor_free(y);
    /* A shape smaller than the input keeps the input's dimensions. */
    qdb_tensor *s1 = mki(1, D(1), I(1));
    y = run_ok(&t, (const qdb_tensor *[]){x, s1});
    expect_shape(y, 2, D(3, 1));
    qdb_tensor_free(y);
    qdb_tensor *sb = mki(1, D(2), I(2, 2));
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x, sb}), QDB_ERR_SHAPE);

    /* Tile [[1,2],[3,4]] by [2,2] ->
     *   [[1,2,1,2],[3,4,3,4],[1,2,1,2],[3,4,3,4]] */
    qdb_tensor *m = mki(2, D(2, 2), I(1, 2, 3, 4));
    qdb_tensor *r = mki(1, D(2), I(2, 2));
    tn_init(&t, "Tile", 13, 2);
    y = run_ok(&t, (const qdb_tensor *[]){m, r});
    expect_shape(y, 2, D(4, 4));
    EXPECT_I(y, 1, 2, 1, 2, 3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4);
    qdb_tensor_free(y);
    qdb_tensor *r2 = mki(1, D(2), I(1, 0));
    y = run_ok(&t, (const qdb_tensor *[]){m, r2});
    expect_shape(y, 2, D(2, 0));
    qdb_tensor_free(y);
    qdb_tensor *r3 = mki(1, D(1), I(2));
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){m, r3}), QDB_ERR_INVALID);

    /* Tile of a [2,3,4] tensor by [2,1,3] against the modulo reference. */
    qdb_tensor *c = iota_f(3, D(2, 3, 4));
    qdb_tensor *rc = mki(1, D(3), I(2, 1, 3));
    y = run_ok(&t, (const qdb_tensor *[]){c, rc});
    expect_shape(y, 3, D(4, 3, 12));
    for (size_t k = 0; k < y->numel; k++) {
        int64_t co[3];
        coords(&y->shape, k, co);
        for (int i = 0; i < 3; i++)
            co[i] %= c->shape.d[i];
        assert_true(y->data.f[k] == (float)flat(&c->shape, co));
    }
    qdb_tensor_free(y);

    qdb_tensor *all[] = {x, s, s1, sb, m, r, r2, r3, c, rc};
    free_all(all, 10);
}

/* ---- Resize / Upsample ------------------------------------------------------------ */

static qdb_tensor *resize(tnode *t, qdb_tensor *x, const float *scales, const int64_t *sizes)
{
    qdb_tensor *sc = scales ? mkf(1, D(4), scales) : NULL;
    qdb_tensor *sz = sizes ? mki(1, D(4), sizes) : NULL;
    t->in_idx[1] = -1;
    if (!sc)
        t->in_idx[2] = -1;
    qdb_tensor *y = run_ok(t, (const qdb_tensor *[]){x, NULL, sc, sz});
    qdb_tensor_free(sc);
    qdb_tensor_free(sz);
    return y;
}

static void test_resize(void **state)
{
    (void)state;
    tnode t;
    qdb_tensor *x = mkf(4, D(1, 1, 2, 2), F(1, 2, 3, 4));
    qdb_tensor *y;

    /* nearest, half_pixel, round_prefer_floor, 2x: x_orig = x/2 - 0.25
     * = -0.25, 0.25, 0.75, 1.25 -> 0, 0, 1, 1 in both directions. */
    tn_init(&t, "Resize", 13, 3);
    y = resize(&t, x, F(1, 1, 2, 2), NULL);
    expect_shape(y, 4, D(1, 1, 4, 4));
    EXPECT_F(y, 0, 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4);
    qdb_tensor_free(y);

    /* linear, half_pixel: along a row [a, b] the four samples at -0.25,
     * 0.25, 0.75, 1.25 are a, 0.75a + 0.25b, 0.25a + 0.75b, b (clamped ends):
     * row [1,2] -> [1, 1.25, 1.75, 2]; row [3,4] -> [3, 3.25, 3.75, 4];
     * the same weights down the columns give rows r0, r0 + 0.5, r0 + 1.5, r1. */
    tn_init(&t, "Resize", 13, 3);
    tn_str(&t, "mode", "linear");
    y = resize(&t, x, F(1, 1, 2, 2), NULL);
    EXPECT_F(y, 1e-6, 1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25,
             3.75, 4);
    qdb_tensor_free(y);

    /* linear, align_corners, sizes 4x4: x_orig = x/3, so
     * out[i][j] = 1 + j/3 + 2i/3 (the input is the plane 1 + j + 2i). */
    tn_init(&t, "Resize", 13, 4);
    tn_str(&t, "mode", "linear");
    tn_str(&t, "coordinate_transformation_mode", "align_corners");
    y = resize(&t, x, NULL, I(1, 1, 4, 4));
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            assert_float_equal(y->data.f[i * 4 + j], 1 + j / 3.0 + 2 * i / 3.0, 1e-6);
    qdb_tensor_free(y);

    /* nearest, asymmetric, floor, sizes 2x3: x_orig = x * 2/3 = 0, 0.67,
     * 1.33 -> 0, 0, 1; rows x_orig = x -> same rows. */
    tn_init(&t, "Resize", 13, 4);
    tn_str(&t, "coordinate_transformation_mode", "asymmetric");
    tn_str(&t, "nearest_mode", "floor");
    y = resize(&t, x, NULL, I(1, 1, 2, 3));
    EXPECT_F(y, 0, 1, 1, 2, 3, 3, 4);
    qdb_tensor_free(y);
    /* ... with round_prefer_ceil: 0, 0.67 -> 1, 1.33 -> 1. */
    tn_init(&t, "Resize", 13, 4);
    tn_str(&t, "coordinate_transformation_mode", "asymmetric");
    tn_str(&t, "nearest_mode", "round_prefer_ceil");
    y = resize(&t, x, NULL, I(1, 1, 2, 3));
    EXPECT_F(y, 0, 1, 2, 2, 3, 4, 4);
    qdb_tensor_free(y);

    /* cubic keeps a constant image constant (the weights sum to 1), and the
     * identity scale leaves any image unchanged. */
    qdb_tensor *c = mkf(4, D(1, 1, 3, 3), F(5, 5, 5, 5, 5, 5, 5, 5, 5));
    tn_init(&t, "Resize", 13, 3);
    tn_str(&t, "mode", "cubic");
    y = resize(&t, c, F(1, 1, 1.5f, 2.5f), NULL);
    expect_shape(y, 4, D(1, 1, 4, 7));
    for (size_t k = 0; k < y->numel; k++)
        assert_float_equal(y->data.f[k], 5.0, 1e-5);
    qdb_tensor_free(y);
    tn_init(&t, "Resize", 13, 3);
    tn_str(&t, "mode", "cubic");
    y = resize(&t, x, F(1, 1, 1, 1), NULL);
    EXPECT_F(y, 0, 1, 2, 3, 4);
    qdb_tensor_free(y);

    /* Downsampling 4 -> 2 with linear half_pixel samples at 0.5 and 2.5:
     * the row 0,1,2,3 gives 0.5, 2.5. */
    qdb_tensor *r = iota_f(4, D(1, 1, 1, 4));
    tn_init(&t, "Resize", 13, 3);
    tn_str(&t, "mode", "linear");
    y = resize(&t, r, F(1, 1, 1, 0.5f), NULL);
    expect_shape(y, 4, D(1, 1, 1, 2));
    EXPECT_F(y, 1e-6, 0.5, 2.5);
    qdb_tensor_free(y);

    /* Antialiased linear 4 -> 2 (opset 18): samples at 0.5 and 2.5 with the
     * triangle stretched to radius 2: taps at distances -1.5, -0.5, 0.5, 1.5
     * weigh 0.25, 0.75, 0.75, 0.25 (/ 2), indices clamped at the edges:
     *   0.125*0 + 0.375*0 + 0.375*1 + 0.125*2 = 0.625
     *   0.125*1 + 0.375*2 + 0.375*3 + 0.125*3 = 2.375 */
    tn_init(&t, "Resize", 18, 3);
    tn_str(&t, "mode", "linear");
    tn_int(&t, "antialias", 1);
    y = resize(&t, r, F(1, 1, 1, 0.5f), NULL);
    EXPECT_F(y, 1e-6, 0.625, 2.375);
    qdb_tensor_free(y);
    /* ... a constant image stays constant under antialiased cubic, and
     * upsampling is unaffected by antialias. */
    tn_init(&t, "Resize", 18, 3);
    tn_str(&t, "mode", "cubic");
    tn_int(&t, "antialias", 1);
    y = resize(&t, c, F(1, 1, 0.4f, 0.7f), NULL);
    expect_shape(y, 4, D(1, 1, 1, 2));
    EXPECT_F(y, 1e-5, 5, 5);
    qdb_tensor_free(y);
    tn_init(&t, "Resize", 18, 3);
    tn_str(&t, "mode", "linear");
    tn_int(&t, "antialias", 1);
    y = resize(&t, x, F(1, 1, 2, 2), NULL);
    EXPECT_F(y, 1e-6, 1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25,
             3.75, 4);
    qdb_tensor_free(y);

    /* Upsample (opset 9): nearest, floor(x / scale): scales 2, 3 ->
     * columns 0 0 0 1 1 1, rows 0 0 1 1. */
    qdb_tensor *us = mkf(1, D(4), F(1, 1, 2, 3));
    tn_init(&t, "Upsample", 9, 2);
    y = run_ok(&t, (const qdb_tensor *[]){x, us});
    expect_shape(y, 4, D(1, 1, 4, 6));
    EXPECT_F(y, 0, 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4);
    qdb_tensor_free(y);
    /* Upsample-7 with the scales attribute, linear (asymmetric): the row
     * [1, 2] sampled at 0, 0.5, 1, 1.5 -> 1, 1.5, 2, 2 (clamped). */
    tn_init(&t, "Upsample", 7, 1);
    tn_str(&t, "mode", "linear");
    tn_floats(&t, "scales", F(1, 1, 1, 2), 4);
    y = run_ok(&t, (const qdb_tensor *[]){x});
    expect_shape(y, 4, D(1, 1, 2, 4));
    EXPECT_F(y, 1e-6, 1, 1.5, 2, 2, 3, 3.5, 4, 4);
    qdb_tensor_free(y);

    /* Unsupported: modes of later opsets, unknown modes; scales must be
     * constants. */
    tn_init(&t, "Resize", 13, 3);
    tn_str(&t, "coordinate_transformation_mode", "half_pixel_symmetric");
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_UNSUPPORTED);
    tn_init(&t, "Resize", 13, 3);
    tn_str(&t, "mode", "area");
    assert_int_equal(t.n.op->check(&t.n, NULL), QDB_ERR_UNSUPPORTED);
    qdb_shape hs = qdb_shape_make(1, D(4));
    qdb_tensor *hsc = qdb_tensor_new_header(QDB_F32, &hs, NULL);
    tn_init(&t, "Resize", 13, 3);
    t.in_idx[1] = -1;
    assert_int_equal(run_status(&t, (const qdb_tensor *[]){x, NULL, hsc}), QDB_ERR_DYNAMIC);

    qdb_tensor *all[] = {x, c, r, us, hsc};
    free_all(all, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_squeeze_unsqueeze),
        cmocka_unit_test(test_identity_dropout),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_depth_space),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_constants),
        cmocka_unit_test(test_cast),
        cmocka_unit_test(test_expand_tile),
        cmocka_unit_test(test_resize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
