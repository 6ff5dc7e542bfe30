/* test_ops_nn.c - the "nn" operators (Conv, ConvTranspose, Gemm, MatMul,
 * pooling, normalization) and their kernels. Nodes are built by hand and
 * run through check / infer / forward directly; results are compared with
 * small hand-worked cases and with naive reference loops written here
 * independently of engine/kernels.c (direct 7-loop convolution, scatter
 * transposed convolution, window-by-window pooling...). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "op.h"
#include "op_harness.h"

/* ----------------------------------------------------------------- tensors */

static uint32_t rng_state = 12345u;

static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static qdb_tensor *trand(int ndim, const int64_t *d)
{
    qdb_tensor *t = mkf(ndim, d, NULL);
    for (size_t i = 0; i < t->numel; i++)
        t->data.f[i] = frand();
    return t;
}

static void assert_close(const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-4f + 1e-4f * fabsf(want[i])))
            fail_msg("element %zu: got %.7g, expected %.7g", i, (double)got[i], (double)want[i]);
}

/* ---------------------------------------------------------- reference conv */

typedef struct conv_cfg {
    int64_t n, c, h, w;    /* input */
    int64_t m, group;      /* output channels, groups */
    int64_t kh, kw, sh, sw, dh, dw;
    int64_t pt, pl, pb, pr; /* pads: top, left, bottom, right */
    int bias;
} conv_cfg;

static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1)
{
    return (in + p0 + p1 - (d * (k - 1) + 1)) / s + 1;
}

/* Direct 2-D convolution: for every output element, a sum over the input
 * channels of its group and the kernel window. */
static void ref_conv2d(const conv_cfg *c, const float *x, const float *w, const float *b,
                       float *y, int64_t oh_n, int64_t ow_n)
{
    int64_t cg = c->c / c->group, mg = c->m / c->group;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t m = 0; m < c->m; m++)
            for (int64_t oh = 0; oh < oh_n; oh++)
                for (int64_t ow = 0; ow < ow_n; ow++) {
                    int64_t g = m / mg;
                    double acc = b ? b[m] : 0.0;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t i = 0; i < c->kh; i++)
                            for (int64_t j = 0; j < c->kw; j++) {
                                int64_t ih = oh * c->sh + i * c->dh - c->pt;
                                int64_t iw = ow * c->sw + j * c->dw - c->pl;
                                if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w)
                                    continue;
                                acc += x[((n * c->c + g * cg + ci) * c->h + ih) * c->w + iw] *
                                       w[((m * cg + ci) * c->kh + i) * c->kw + j];
                            }
                    y[((n * c->m + m) * oh_n + oh) * ow_n + ow] = (float)acc;
                }
}

static void run_conv_cfg(const conv_cfg *c, int one_d)
{
    int64_t cg = c->c / c->group;
    int64_t xd[4] = {c->n, c->c, c->h, c->w}, wd[4] = {c->m, cg, c->kh, c->kw}, bd[1] = {c->m};
    qdb_tensor *x, *w, *b = NULL;
    tnode t;
    tn_init(&t, "Conv", 11, c->bias ? 3 : 2);
    if (one_d) { /* (N, C, W) with a (M, C/g, kW) kernel */
        assert_true(c->h == 1 && c->kh == 1);
        int64_t x1[3] = {c->n, c->c, c->w}, w1[3] = {c->m, cg, c->kw};
        x = trand(3, x1);
        w = trand(3, w1);
        int64_t st[1] = {c->sw}, dl[1] = {c->dw}, pd[2] = {c->pl, c->pr};
        tn_ints(&t, "strides", st, 1);
        tn_ints(&t, "dilations", dl, 1);
        tn_ints(&t, "pads", pd, 2);
    } else {
        x = trand(4, xd);
        w = trand(4, wd);
        int64_t st[2] = {c->sh, c->sw}, dl[2] = {c->dh, c->dw},
                pd[4] = {c->pt, c->pl, c->pb, c->pr}, ks[2] = {c->kh, c->kw};
        tn_ints(&t, "strides", st, 2);
        tn_ints(&t, "dilations", dl, 2);
        tn_ints(&t, "pads", pd, 4);
        tn_ints(&t, "kernel_shape", ks, 2);
    }
    if (c->group != 1)
        tn_int(&t, "group", c->group);
    if (c->bias)
        b = trand(1, bd);
    const qdb_tensor *in[3] = {x, w, b};
    qdb_tensor *y = run_ok(&t, in);
    int64_t oh = conv_out(c->h, c->kh, c->sh, c->dh, c->pt, c->pb);
    int64_t ow = conv_out(c->w, c->kw, c->sw, c->dw, c->pl, c->pr);
    if (one_d) {
        int64_t yd[3] = {c->n, c->m, ow};
        expect_shape(y, 3, yd);
    } else {
        int64_t yd[4] = {c->n, c->m, oh, ow};
        expect_shape(y, 4, yd);
    }
    float *ref = calloc(y->numel, sizeof *ref);
    ref_conv2d(c, x->data.f, w->data.f, b ? b->data.f : NULL, ref, oh, ow);
    assert_close(y->data.f, ref, y->numel);
    free(ref);
    qdb_tensor_free(x);
    qdb_tensor_free(w);
    qdb_tensor_free(b);
    qdb_tensor_free(y);
}

/* ------------------------------------------------------------------- Conv */

static void test_conv_hand(void **state)
{
    (void)state;
    /* 3x3 image 0..8, 2x2 kernel of ones: sums of each 2x2 block, + bias 1. */
    float xv[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8}, wv[4] = {1, 1, 1, 1}, bv[1] = {1};
    int64_t xd[4] = {1, 1, 3, 3}, wd[4] = {1, 1, 2, 2}, bd[1] = {1};
    qdb_tensor *x = mkf(4, xd, xv), *w = mkf(4, wd, wv), *b = mkf(1, bd, bv);
    tnode t;
    tn_init(&t, "Conv", 1, 3);
    const qdb_tensor *in[3] = {x, w, b};
    qdb_tensor *y = run_ok(&t, in);
    int64_t yd[4] = {1, 1, 2, 2};
    expect_shape(y, 4, yd);
    float want[4] = {9, 13, 21, 25};
    assert_close(y->data.f, want, 4);
    qdb_tensor_free(y);

    /* 1-D SAME padding, x = [1 2 3 4], w = [1 10]: the odd pad goes to the
     * end (SAME_UPPER) or the beginning (SAME_LOWER). */
    float x1[4] = {1, 2, 3, 4}, w1[2] = {1, 10};
    int64_t xd1[3] = {1, 1, 4}, wd1[3] = {1, 1, 2};
    qdb_tensor *x1t = mkf(3, xd1, x1), *w1t = mkf(3, wd1, w1);
    const qdb_tensor *in1[2] = {x1t, w1t};
    tn_init(&t, "Conv", 11, 2);
    tn_str(&t, "auto_pad", "SAME_UPPER");
    y = run_ok(&t, in1);
    float up[4] = {21, 32, 43, 4};
    assert_int_equal(y->numel, 4);
    assert_close(y->data.f, up, 4);
    qdb_tensor_free(y);
    tn_init(&t, "Conv", 11, 2);
    tn_str(&t, "auto_pad", "SAME_LOWER");
    y = run_ok(&t, in1);
    float lo[4] = {10, 21, 32, 43};
    assert_close(y->data.f, lo, 4);
    qdb_tensor_free(y);
    tn_init(&t, "Conv", 11, 2);
    tn_str(&t, "auto_pad", "VALID");
    y = run_ok(&t, in1);
    float va[3] = {21, 32, 43};
    assert_int_equal(y->numel, 3);
    assert_close(y->data.f, va, 3);
    qdb_tensor_free(y);
    /* SAME with stride 2: out = ceil(4/2) = 2, total pad (2-1)*2+2-4 = 0. */
    tn_init(&t, "Conv", 11, 2);
    tn_str(&t, "auto_pad", "SAME_UPPER");
    int64_t s2[1] = {2};
    tn_ints(&t, "strides", s2, 1);
    y = run_ok(&t, in1);
    float st2[2] = {21, 43};
    assert_int_equal(y->numel, 2);
    assert_close(y->data.f, st2, 2);
    qdb_tensor_free(y);

    qdb_tensor_free(x);
    qdb_tensor_free(w);
    qdb_tensor_free(b);
    qdb_tensor_free(x1t);
    qdb_tensor_free(w1t);
}

static void test_conv2d_reference(void **state)
{
    (void)state;
    static const conv_cfg cfgs[] = {
        /* n  c  h  w   m  g  kh kw sh sw dh dw pt pl pb pr bias */
        {2, 3, 7, 6, 4, 1, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},  /* plain, batch 2 */
        {3, 4, 8, 8, 6, 2, 3, 2, 2, 1, 1, 1, 1, 0, 1, 1, 1},  /* groups, strides, pads */
        {2, 4, 9, 9, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* depthwise */
        {2, 4, 9, 7, 4, 4, 3, 3, 2, 2, 2, 1, 2, 1, 0, 1, 0},  /* depthwise strided dilated */
        {2, 3, 6, 6, 6, 3, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},  /* depthwise multiplier 2 */
        {2, 3, 10, 9, 5, 1, 3, 3, 2, 3, 2, 2, 2, 1, 3, 0, 1}, /* dilation, asymmetric pads */
        {4, 8, 5, 5, 6, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},  /* pointwise (no im2col) */
        {2, 8, 5, 5, 6, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},  /* grouped pointwise */
        {2, 4, 7, 7, 3, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1},  /* 1x1 stride 2 */
        {1, 2, 4, 4, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1},  /* 1x1 with end pads */
        {2, 6, 6, 5, 9, 3, 2, 3, 1, 2, 1, 1, 1, 2, 0, 2, 1},  /* groups + asym */
        {1, 1, 3, 3, 1, 1, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 1},  /* pads >= kernel-1 */
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        run_conv_cfg(&cfgs[i], 0);
}

static void test_conv1d_reference(void **state)
{
    (void)state;
    static const conv_cfg cfgs[] = {
        {2, 4, 1, 10, 5, 1, 1, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},
        {2, 4, 1, 10, 6, 2, 1, 3, 1, 2, 1, 2, 0, 1, 0, 2, 1},
        {3, 4, 1, 9, 4, 4, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 0}, /* depthwise */
        {1, 4, 1, 1, 4, 1, 1, 5, 1, 1, 1, 1, 0, 2, 0, 2, 1}, /* size 1, pad 2 */
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        run_conv_cfg(&cfgs[i], 1);
}

static void test_conv3d_reference(void **state)
{
    (void)state;
    /* (2, 4, 4, 5, 4) with a grouped (6, 2, 2, 3, 2) kernel, stride 2 on D,
     * dilation 2 on W, pads (1,0,1 / 0,1,0). */
    const int64_t N = 2, C = 4, D = 4, H = 5, W = 4, M = 6, G = 2, KD = 2, KH = 3, KW = 2;
    const int64_t s[3] = {2, 1, 1}, dl[3] = {1, 1, 2}, p[6] = {1, 0, 1, 0, 1, 0};
    int64_t xd[5] = {N, C, D, H, W}, wd[5] = {M, C / G, KD, KH, KW}, bd[1] = {M};
    qdb_tensor *x = trand(5, xd), *w = trand(5, wd), *b = trand(1, bd);
    tnode t;
    tn_init(&t, "Conv", 11, 3);
    tn_int(&t, "group", G);
    tn_ints(&t, "strides", s, 3);
    tn_ints(&t, "dilations", dl, 3);
    tn_ints(&t, "pads", p, 6);
    const qdb_tensor *in[3] = {x, w, b};
    qdb_tensor *y = run_ok(&t, in);
    const int64_t OD = (D + 1 + 0 - 2) / 2 + 1, OH = (H + 0 + 1 - 3) + 1, OW = (W + 1 - 3) + 1;
    int64_t yd[5] = {N, M, OD, OH, OW};
    expect_shape(y, 5, yd);
    const int64_t cg = C / G, mg = M / G;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t od = 0; od < OD; od++)
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        double acc = b->data.f[m];
                        for (int64_t ci = 0; ci < cg; ci++)
                            for (int64_t a = 0; a < KD; a++)
                                for (int64_t bb = 0; bb < KH; bb++)
                                    for (int64_t cc = 0; cc < KW; cc++) {
                                        int64_t id = od * 2 + a - 1, ih = oh + bb, iw = ow + 2 * cc - 1;
                                        if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 ||
                                            iw >= W)
                                            continue;
                                        int64_t xc = (m / mg) * cg + ci;
                                        acc += x->data.f[(((n * C + xc) * D + id) * H + ih) * W + iw] *
                                               w->data.f[(((m * cg + ci) * KD + a) * KH + bb) * KW + cc];
                                    }
                        float got = y->data.f[(((n * M + m) * OD + od) * OH + oh) * OW + ow];
                        float want = (float)acc;
                        assert_close(&got, &want, 1);
                    }
    qdb_tensor_free(x);
    qdb_tensor_free(w);
    qdb_tensor_free(b);
    qdb_tensor_free(y);
}

static void test_conv_errors(void **state)
{
    (void)state;
    int64_t xd[4] = {1, 4, 5, 5}, wd[4] = {2, 3, 3, 3};
    qdb_tensor *x = trand(4, xd), *w = trand(4, wd);
    const qdb_tensor *in[2] = {x, w};
    tnode t;
    tn_init(&t, "Conv", 11, 2);
    assert_int_equal(run_status(&t, in), QDB_ERR_SHAPE); /* 4 channels vs W's 3 */

    wd[1] = 4;
    qdb_tensor *w2 = trand(4, wd);
    in[1] = w2;
    tn_init(&t, "Conv", 11, 2);
    int64_t ks[2] = {2, 2};
    tn_ints(&t, "kernel_shape", ks, 2);
    assert_int_equal(run_status(&t, in), QDB_ERR_SHAPE); /* kernel_shape disagrees with W */

    tn_init(&t, "Conv", 11, 2);
    tn_int(&t, "mystery", 1);
    assert_int_equal(run_status(&t, in), QDB_ERR_UNSUPPORTED);

    tn_init(&t, "Conv", 11, 2);
    tn_str(&t, "auto_pad", "SIDEWAYS");
    assert_int_equal(run_status(&t, in), QDB_ERR_INVALID);

    tn_init(&t, "Conv", 11, 2);
    int64_t st[2] = {0, 1};
    tn_ints(&t, "strides", st, 2);
    assert_int_equal(run_status(&t, in), QDB_ERR_INVALID);

    tn_init(&t, "Conv", 11, 2);
    int64_t pads[4] = {1, 1, 1, 1};
    tn_ints(&t, "pads", pads, 4);
    tn_str(&t, "auto_pad", "SAME_UPPER");
    assert_int_equal(run_status(&t, in), QDB_ERR_INVALID);

    /* hostile sizes are refused before any arithmetic can overflow */
    tn_init(&t, "Conv", 11, 2);
    int64_t huge[2] = {1, (int64_t)1 << 40};
    tn_ints(&t, "dilations", huge, 2);
    assert_int_equal(run_status(&t, in), QDB_ERR_INVALID);
    tn_init(&t, "Conv", 11, 2);
    tn_int(&t, "group", INT64_MAX);
    assert_int_equal(run_status(&t, in), QDB_ERR_INVALID);
    int64_t xd1[3] = {1, 1, 4}, wd1[3] = {1, 1, 2};
    qdb_tensor *x1 = trand(3, xd1), *w1 = trand(3, wd1);
    const qdb_tensor *in1[2] = {x1, w1};
    tn_init(&t, "ConvTranspose", 11, 2);
    int64_t os[1] = {(int64_t)1 << 35};
    tn_ints(&t, "output_shape", os, 1);
    assert_int_equal(run_status(&t, in1), QDB_ERR_NOMEM);
    qdb_tensor_free(x1);
    qdb_tensor_free(w1);

    /* kernel larger than the padded input */
    int64_t wd7[4] = {2, 4, 7, 7};
    qdb_tensor *w7 = trand(4, wd7);
    in[1] = w7;
    tn_init(&t, "Conv", 11, 2);
    assert_int_equal(run_status(&t, in), QDB_ERR_SHAPE);

    /* int64 data is not convolved */
    qdb_err e = {0};
    qdb_tensor *xi = qdb_tensor_convert(x, QDB_I64, &e);
    in[0] = xi;
    in[1] = w2;
    tn_init(&t, "Conv", 11, 2);
    assert_int_equal(run_status(&t, in), QDB_ERR_UNSUPPORTED);

    qdb_tensor_free(x);
    qdb_tensor_free(xi);
    qdb_tensor_free(w);
    qdb_tensor_free(w2);
    qdb_tensor_free(w7);
}

/* ---------------------------------------------------------- ConvTranspose */

static void test_conv_transpose_hand(void **state)
{
    (void)state;
    /* x = [1 2], w = [1 1 1], stride 2: each input spreads over 3 outputs
     * two apart: [1 1 1+2 2 2]. */
    float xv[2] = {1, 2}, wv[3] = {1, 1, 1};
    int64_t xd[3] = {1, 1, 2}, wd[3] = {1, 1, 3};
    qdb_tensor *x = mkf(3, xd, xv), *w = mkf(3, wd, wv);
    const qdb_tensor *in[2] = {x, w};
    tnode t;
    tn_init(&t, "ConvTranspose", 11, 2);
    int64_t s[1] = {2};
    tn_ints(&t, "strides", s, 1);
    qdb_tensor *y = run_ok(&t, in);
    int64_t yd[3] = {1, 1, 5};
    expect_shape(y, 3, yd);
    float want[5] = {1, 1, 3, 2, 2};
    assert_close(y->data.f, want, 5);
    qdb_tensor_free(y);

    /* output_shape 6: one more than the natural 5; the extra goes at the end. */
    tn_init(&t, "ConvTranspose", 11, 2);
    tn_ints(&t, "strides", s, 1);
    int64_t os[1] = {6};
    tn_ints(&t, "output_shape", os, 1);
    y = run_ok(&t, in);
    float want6[6] = {1, 1, 3, 2, 2, 0};
    assert_int_equal(y->numel, 6);
    assert_close(y->data.f, want6, 6);
    qdb_tensor_free(y);

    /* pads [1, 1] trim one output at each end; output_padding adds one. */
    tn_init(&t, "ConvTranspose", 11, 2);
    tn_ints(&t, "strides", s, 1);
    int64_t p[2] = {1, 1}, op[1] = {1};
    tn_ints(&t, "pads", p, 2);
    tn_ints(&t, "output_padding", op, 1);
    y = run_ok(&t, in);
    float wantp[4] = {1, 3, 2, 2};
    assert_int_equal(y->numel, 4);
    assert_close(y->data.f, wantp, 4);
    qdb_tensor_free(y);

    qdb_tensor_free(x);
    qdb_tensor_free(w);
}

typedef struct convt_cfg {
    int64_t n, c, h, w, mg, group, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oph, opw;
    int64_t out_h, out_w; /* output_shape when > 0 */
    const char *auto_pad;
    int bias;
} convt_cfg;

static void run_convt_cfg(const convt_cfg *c)
{
    const int64_t cg = c->c / c->group, m = c->mg * c->group;
    int64_t xd[4] = {c->n, c->c, c->h, c->w}, wd[4] = {c->c, c->mg, c->kh, c->kw}, bd[1] = {m};
    qdb_tensor *x = trand(4, xd), *w = trand(4, wd), *b = c->bias ? trand(1, bd) : NULL;
    tnode t;
    tn_init(&t, "ConvTranspose", 11, c->bias ? 3 : 2);
    int64_t st[2] = {c->sh, c->sw}, dl[2] = {c->dh, c->dw}, pd[4] = {c->pt, c->pl, c->pb, c->pr},
            op[2] = {c->oph, c->opw};
    tn_ints(&t, "strides", st, 2);
    tn_ints(&t, "dilations", dl, 2);
    tn_ints(&t, "output_padding", op, 2);
    if (c->group != 1)
        tn_int(&t, "group", c->group);
    /* Expected output size and begin pads, from the ONNX formulas. */
    int64_t full_h = c->sh * (c->h - 1) + c->oph + (c->kh - 1) * c->dh + 1;
    int64_t full_w = c->sw * (c->w - 1) + c->opw + (c->kw - 1) * c->dw + 1;
    int64_t oh, ow, ph, pw;
    if (c->out_h > 0) {
        int64_t os[2] = {c->out_h, c->out_w};
        tn_ints(&t, "output_shape", os, 2);
        oh = c->out_h;
        ow = c->out_w;
        int64_t th = full_h - oh, tw = full_w - ow; /* >= 0 here; < 0 in the hand test */
        ph = th - th / 2;
        pw = tw - tw / 2;
    } else if (c->auto_pad) {
        tn_str(&t, "auto_pad", c->auto_pad);
        oh = c->h * c->sh;
        ow = c->w * c->sw;
        int64_t th = full_h - oh, tw = full_w - ow;
        int upper = strcmp(c->auto_pad, "SAME_UPPER") == 0;
        ph = upper ? th / 2 : th - th / 2;
        pw = upper ? tw / 2 : tw - tw / 2;
    } else {
        tn_ints(&t, "pads", pd, 4);
        oh = full_h - c->pt - c->pb;
        ow = full_w - c->pl - c->pr;
        ph = c->pt;
        pw = c->pl;
    }
    const qdb_tensor *in[3] = {x, w, b};
    qdb_tensor *y = run_ok(&t, in);
    int64_t yd[4] = {c->n, m, oh, ow};
    expect_shape(y, 4, yd);
    /* Scatter every input element times the kernel into the output. */
    double *ref = calloc(y->numel, sizeof *ref);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t ci = 0; ci < c->c; ci++)
            for (int64_t ih = 0; ih < c->h; ih++)
                for (int64_t iw = 0; iw < c->w; iw++) {
                    int64_t g = ci / cg;
                    float xv = x->data.f[((n * c->c + ci) * c->h + ih) * c->w + iw];
                    for (int64_t mo = 0; mo < c->mg; mo++)
                        for (int64_t i = 0; i < c->kh; i++)
                            for (int64_t j = 0; j < c->kw; j++) {
                                int64_t yh = ih * c->sh + i * c->dh - ph;
                                int64_t yw = iw * c->sw + j * c->dw - pw;
                                if (yh < 0 || yh >= oh || yw < 0 || yw >= ow)
                                    continue;
                                ref[((n * m + g * c->mg + mo) * oh + yh) * ow + yw] +=
                                    xv * w->data.f[((ci * c->mg + mo) * c->kh + i) * c->kw + j];
                            }
                }
    float *reff = malloc(y->numel * sizeof *reff);
    for (size_t i = 0; i < y->numel; i++) {
        int64_t ch = (int64_t)(i / (size_t)(oh * ow)) % m;
        reff[i] = (float)ref[i] + (b ? b->data.f[ch] : 0.0f);
    }
    assert_close(y->data.f, reff, y->numel);
    free(ref);
    free(reff);
    qdb_tensor_free(x);
    qdb_tensor_free(w);
    qdb_tensor_free(b);
    qdb_tensor_free(y);
}

static void test_conv_transpose_reference(void **state)
{
    (void)state;
    static const convt_cfg cfgs[] = {
        /* n c h w mg g kh kw sh sw dh dw pt pl pb pr oph opw outh outw autopad bias */
        {2, 3, 4, 5, 2, 1, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, NULL, 1},
        {2, 4, 3, 4, 3, 2, 3, 2, 2, 3, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, NULL, 1},
        {3, 2, 3, 3, 1, 1, 2, 2, 1, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, NULL, 0},
        {1, 1, 3, 3, 2, 1, 3, 3, 3, 2, 1, 1, 0, 0, 0, 0, 0, 0, 8, 6, NULL, 1},
        {1, 1, 3, 3, 2, 1, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, "SAME_UPPER", 0},
        {1, 1, 3, 3, 2, 1, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, "SAME_LOWER", 0},
        {2, 4, 5, 5, 1, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, NULL, 1}, /* depthwise */
        {2, 6, 4, 4, 2, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, NULL, 1}, /* pointwise */
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        run_convt_cfg(&cfgs[i]);
}

/* ------------------------------------------------------------------- Gemm */

static void test_gemm_hand(void **state)
{
    (void)state;
    /* [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50]; alpha 2, beta 0.5, C = [10 20]. */
    float av[4] = {1, 2, 3, 4}, bv[4] = {5, 6, 7, 8}, cv[2] = {10, 20};
    int64_t d2[2] = {2, 2}, d1[1] = {2};
    qdb_tensor *a = mkf(2, d2, av), *b = mkf(2, d2, bv), *c = mkf(1, d1, cv);
    tnode t;
    tn_init(&t, "Gemm", 13, 3);
    tn_float(&t, "alpha", 2.0f);
    tn_float(&t, "beta", 0.5f);
    const qdb_tensor *in[3] = {a, b, c};
    qdb_tensor *y = run_ok(&t, in);
    float want[4] = {43, 54, 91, 110};
    assert_close(y->data.f, want, 4);
    qdb_tensor_free(y);
    /* transA: A^T = [1 3; 2 4]; A^T B = [26 30; 38 44]; no C. */
    tn_init(&t, "Gemm", 13, 2);
    tn_int(&t, "transA", 1);
    y = run_ok(&t, in);
    float want2[4] = {26, 30, 38, 44};
    assert_close(y->data.f, want2, 4);
    qdb_tensor_free(y);
    qdb_tensor_free(a);
    qdb_tensor_free(b);
    qdb_tensor_free(c);
}

static void test_gemm_reference(void **state)
{
    (void)state;
    const int64_t M = 5, K = 7, N = 3;
    /* C shapes: absent, scalar, [N], [1,N], [M,1], [M,N], [1] */
    const int c_nd[] = {-1, 0, 1, 2, 2, 2, 1};
    const int64_t c_dims[][2] = {{0, 0}, {0, 0}, {N, 0}, {1, N}, {M, 1}, {M, N}, {1, 0}};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t ci = 0; ci < sizeof c_nd / sizeof c_nd[0]; ci++) {
                int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
                qdb_tensor *a = trand(2, ad), *b = trand(2, bd);
                qdb_tensor *c = c_nd[ci] >= 0 ? trand(c_nd[ci], c_dims[ci]) : NULL;
                const float alpha = 0.75f, beta = -1.5f;
                tnode t;
                tn_init(&t, "Gemm", ci == 0 ? 11 : 9, c ? 3 : 2);
                tn_int(&t, "transA", ta);
                tn_int(&t, "transB", tb);
                tn_float(&t, "alpha", alpha);
                tn_float(&t, "beta", beta);
                const qdb_tensor *in[3] = {a, b, c};
                qdb_tensor *y = run_ok(&t, in);
                int64_t yd[2] = {M, N};
                expect_shape(y, 2, yd);
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double s = 0;
                        for (int64_t k = 0; k < K; k++)
                            s += (double)a->data.f[ta ? k * M + i : i * K + k] *
                                 b->data.f[tb ? j * K + k : k * N + j];
                        s *= alpha;
                        if (c) {
                            int64_t r = c_nd[ci] == 2 && c_dims[ci][0] == M ? i : 0;
                            int64_t cols = c_nd[ci] == 0 ? 1 : c_dims[ci][c_nd[ci] - 1];
                            s += beta * c->data.f[r * cols + (cols == 1 ? 0 : j)];
                        }
                        float want = (float)s;
                        assert_close(&y->data.f[i * N + j], &want, 1);
                    }
                qdb_tensor_free(a);
                qdb_tensor_free(b);
                qdb_tensor_free(c);
                qdb_tensor_free(y);
            }
}

static void test_gemm_errors(void **state)
{
    (void)state;
    int64_t ad[2] = {2, 3}, bd[2] = {4, 5}, cd[2] = {3, 5};
    qdb_tensor *a = trand(2, ad), *b = trand(2, bd), *c = trand(2, cd);
    const qdb_tensor *in[3] = {a, b, NULL};
    tnode t;
    tn_init(&t, "Gemm", 13, 2);
    assert_int_equal(run_status(&t, in), QDB_ERR_SHAPE); /* K 3 vs 4 */
    bd[0] = 3;
    qdb_tensor *b2 = trand(2, bd);
    in[1] = b2;
    in[2] = c;
    tn_init(&t, "Gemm", 13, 3);
    assert_int_equal(run_status(&t, in), QDB_ERR_SHAPE); /* C [3,5] vs Y [2,5] */
    tn_init(&t, "Gemm", 13, 2);
    tn_int(&t, "broadcast", 1);
    assert_int_equal(run_status(&t, in), QDB_ERR_UNSUPPORTED); /* gone since opset 7 */
    qdb_tensor_free(a);
    qdb_tensor_free(b);
    qdb_tensor_free(b2);
    qdb_tensor_free(c);
}

/* ----------------------------------------------------------------- MatMul */

/* Reference: y[i] = a[i] . b[i] for matrices laid out [batch][rows][cols]. */
static void ref_mm(const float *a, const float *b, float *y, int64_t m, int64_t k, int64_t n)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t q = 0; q < k; q++)
                s += (double)a[i * k + q] * b[q * n + j];
            y[i * n + j] = (float)s;
        }
}

static void test_matmul(void **state)
{
    (void)state;
    tnode t;
    /* hand: [1 2 3] . [[1 0],[0 1],[1 1]] = [4 5] (1-D times 2-D drops the row dim) */
    float av[3] = {1, 2, 3}, bv[6] = {1, 0, 0, 1, 1, 1};
    int64_t a1[1] = {3}, b2[2] = {3, 2};
    qdb_tensor *a = mkf(1, a1, av), *b = mkf(2, b2, bv);
    const qdb_tensor *in[2] = {a, b};
    tn_init(&t, "MatMul", 13, 2);
    qdb_tensor *y = run_ok(&t, in);
    int64_t y1[1] = {2};
    expect_shape(y, 1, y1);
    float want[2] = {4, 5};
    assert_close(y->data.f, want, 2);
    qdb_tensor_free(y);
    /* 1-D . 1-D: a scalar, 1*1+2*2+3*3 = 14 */
    in[1] = a;
    y = run_ok(&t, in);
    assert_int_equal(y->shape.ndim, 0);
    assert_int_equal(y->numel, 1);
    assert_true(fabsf(y->data.f[0] - 14.0f) < 1e-5f);
    qdb_tensor_free(y);
    qdb_tensor_free(a);
    qdb_tensor_free(b);

    /* Broadcast batches: [2,1,3,4] x [3,4,5] -> [2,3,3,5]. */
    int64_t ad[4] = {2, 1, 3, 4}, bd[3] = {3, 4, 5};
    a = trand(4, ad);
    b = trand(3, bd);
    in[0] = a;
    in[1] = b;
    y = run_ok(&t, in);
    int64_t yd[4] = {2, 3, 3, 5};
    expect_shape(y, 4, yd);
    float ref[15];
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 3; j++) {
            ref_mm(a->data.f + i * 12, b->data.f + j * 20, ref, 3, 4, 5);
            assert_close(y->data.f + (i * 3 + j) * 15, ref, 15);
        }
    qdb_tensor_free(y);
    qdb_tensor_free(a);
    qdb_tensor_free(b);

    /* [4,3,2,6] x [6,3]: one B for all batches; and [2,6] x [4,6,3]. */
    int64_t ad2[4] = {4, 3, 2, 6}, bd2[2] = {6, 3};
    a = trand(4, ad2);
    b = trand(2, bd2);
    in[0] = a;
    in[1] = b;
    y = run_ok(&t, in);
    int64_t yd2[4] = {4, 3, 2, 3};
    expect_shape(y, 4, yd2);
    for (int64_t i = 0; i < 12; i++) {
        ref_mm(a->data.f + i * 12, b->data.f, ref, 2, 6, 3);
        assert_close(y->data.f + i * 6, ref, 6);
    }
    qdb_tensor_free(y);
    qdb_tensor_free(a);
    qdb_tensor_free(b);
    int64_t ad3[2] = {2, 6}, bd3[3] = {4, 6, 3};
    a = trand(2, ad3);
    b = trand(3, bd3);
    in[0] = a;
    in[1] = b;
    y = run_ok(&t, in);
    int64_t yd3[3] = {4, 2, 3};
    expect_shape(y, 3, yd3);
    for (int64_t i = 0; i < 4; i++) {
        ref_mm(a->data.f, b->data.f + i * 18, ref, 2, 6, 3);
        assert_close(y->data.f + i * 6, ref, 6);
    }
    qdb_tensor_free(y);
    qdb_tensor_free(b);
    /* 2-D x 1-D: [2,6] x [6] -> [2] */
    int64_t v6[1] = {6};
    b = trand(1, v6);
    in[1] = b;
    y = run_ok(&t, in);
    expect_shape(y, 1, (int64_t[]){2});
    ref_mm(a->data.f, b->data.f, ref, 2, 6, 1);
    assert_close(y->data.f, ref, 2);
    qdb_tensor_free(y);
    qdb_tensor_free(b);
    /* mismatched inner dimension, incompatible batches */
    int64_t bad[2] = {5, 3};
    b = trand(2, bad);
    in[1] = b;
    assert_int_equal(run_status(&t, in), QDB_ERR_SHAPE);
    qdb_tensor_free(a);
    qdb_tensor_free(b);
    int64_t ba[3] = {2, 2, 3}, bb[3] = {3, 3, 2};
    a = trand(3, ba);
    b = trand(3, bb);
    in[0] = a;
    in[1] = b;
    assert_int_equal(run_status(&t, in), QDB_ERR_SHAPE);
    qdb_tensor_free(a);
    qdb_tensor_free(b);
}

/* ---------------------------------------------------------------- pooling */

typedef struct pool_cfg {
    int64_t n, c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
    int ceil, include_pad;
} pool_cfg;

/* Output size by the PyTorch / ONNX rule, written out long-hand. */
static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1,
                        int ceil)
{
    int64_t ext = d * (k - 1) + 1, span = in + p0 + p1 - ext;
    int64_t o = span / s + 1;
    if (ceil && span % s != 0) {
        o++;
        if ((o - 1) * s >= in + p0) /* last window would start in the end padding */
            o--;
    }
    return o;
}

enum { REF_MAX, REF_AVG, REF_LP2 };

static void ref_pool(const pool_cfg *c, int kind, const float *x, float *y, int64_t *idx,
                     int64_t oh_n, int64_t ow_n)
{
    for (int64_t p = 0; p < c->n * c->c; p++)
        for (int64_t oh = 0; oh < oh_n; oh++)
            for (int64_t ow = 0; ow < ow_n; ow++) {
                double acc = kind == REF_MAX ? -INFINITY : 0.0;
                int64_t arg = -1, cnt = 0, padded = 0;
                for (int64_t i = 0; i < c->kh; i++)
                    for (int64_t j = 0; j < c->kw; j++) {
                        int64_t ih = oh * c->sh - c->pt + i * c->dh;
                        int64_t iw = ow * c->sw - c->pl + j * c->dw;
                        if (ih >= -c->pt && ih < c->h + c->pb && iw >= -c->pl && iw < c->w + c->pr)
                            padded++;
                        if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w)
                            continue;
                        float v = x[(p * c->h + ih) * c->w + iw];
                        cnt++;
                        if (kind == REF_MAX) {
                            if (v > acc) {
                                acc = v;
                                arg = (p * c->h + ih) * c->w + iw;
                            }
                        } else if (kind == REF_AVG) {
                            acc += v;
                        } else {
                            acc += (double)v * v;
                        }
                    }
                if (kind == REF_AVG)
                    acc /= (double)(c->include_pad ? padded : cnt);
                else if (kind == REF_LP2)
                    acc = sqrt(acc);
                y[(p * oh_n + oh) * ow_n + ow] = (float)acc;
                if (idx)
                    idx[(p * oh_n + oh) * ow_n + ow] = arg;
            }
}

static void run_pool_cfg(const pool_cfg *c, const char *op, int kind)
{
    int64_t xd[4] = {c->n, c->c, c->h, c->w};
    qdb_tensor *x = trand(4, xd);
    tnode t;
    const int with_idx = kind == REF_MAX;
    tn_init(&t, op, kind == REF_AVG ? 19 : 12, 1);
    tn_outputs(&t, with_idx ? 2 : 1);
    int64_t ks[2] = {c->kh, c->kw}, st[2] = {c->sh, c->sw}, dl[2] = {c->dh, c->dw},
            pd[4] = {c->pt, c->pl, c->pb, c->pr};
    tn_ints(&t, "kernel_shape", ks, 2);
    tn_ints(&t, "strides", st, 2);
    tn_ints(&t, "dilations", dl, 2);
    tn_ints(&t, "pads", pd, 4);
    tn_int(&t, "ceil_mode", c->ceil);
    if (kind == REF_AVG)
        tn_int(&t, "count_include_pad", c->include_pad);
    if (kind == REF_LP2)
        tn_int(&t, "p", 2);
    qdb_err e = {0};
    qdb_tensor *out[8] = {NULL};
    const qdb_tensor *in[1] = {x};
    if (run_n(&t, in, out, &e) != QDB_OK)
        fail_msg("%s: %s", op, e.msg);
    int64_t oh = pool_out(c->h, c->kh, c->sh, c->dh, c->pt, c->pb, c->ceil);
    int64_t ow = pool_out(c->w, c->kw, c->sw, c->dw, c->pl, c->pr, c->ceil);
    int64_t yd[4] = {c->n, c->c, oh, ow};
    expect_shape(out[0], 4, yd);
    float *ref = calloc(out[0]->numel, sizeof *ref);
    int64_t *ridx = calloc(out[0]->numel, sizeof *ridx);
    ref_pool(c, kind, x->data.f, ref, with_idx ? ridx : NULL, oh, ow);
    assert_close(out[0]->data.f, ref, out[0]->numel);
    if (with_idx) {
        assert_int_equal(out[1]->dtype, QDB_I64);
        for (size_t i = 0; i < out[1]->numel; i++)
            assert_int_equal(out[1]->data.i[i], ridx[i]);
    }
    free(ref);
    free(ridx);
    qdb_tensor_free(x);
    qdb_tensor_free(out[0]);
    qdb_tensor_free(out[1]);
}

static void test_pool_reference(void **state)
{
    (void)state;
    static const pool_cfg cfgs[] = {
        /* n c h w kh kw sh sw dh dw pt pl pb pr ceil incl */
        {2, 3, 6, 6, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0},
        {2, 2, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0},
        {2, 2, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 1},
        {1, 2, 5, 5, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0}, /* ceil: 4 -> 3 (last window in pad) */
        {1, 2, 5, 5, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1},
        {3, 1, 8, 7, 3, 2, 2, 3, 1, 1, 0, 1, 2, 0, 1, 1}, /* asymmetric pads, ceil */
        {3, 1, 8, 7, 3, 2, 2, 3, 1, 1, 0, 1, 2, 0, 1, 0},
        {2, 2, 9, 9, 2, 3, 1, 2, 2, 2, 1, 0, 1, 2, 0, 0}, /* dilations */
        {1, 1, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0}, /* test_maxpool_2d_ceil geometry */
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        run_pool_cfg(&cfgs[i], "MaxPool", REF_MAX);
        run_pool_cfg(&cfgs[i], "AveragePool", REF_AVG);
        run_pool_cfg(&cfgs[i], "LpPool", REF_LP2);
    }
}

static void test_pool_hand(void **state)
{
    (void)state;
    /* 1-D, x = [1 5 2 4 3], k 2, s 2, pads 1/1, ceil_mode: windows start at
     * -1, 1, 3 (a fourth would start at 5, in the end padding). */
    float xv[5] = {1, 5, 2, 4, 3};
    int64_t xd[3] = {1, 1, 5};
    qdb_tensor *x = mkf(3, xd, xv);
    const qdb_tensor *in[1] = {x};
    int64_t k[1] = {2}, s[1] = {2}, p[2] = {1, 1};
    tnode t;
    tn_init(&t, "MaxPool", 12, 1);
    tn_ints(&t, "kernel_shape", k, 1);
    tn_ints(&t, "strides", s, 1);
    tn_ints(&t, "pads", p, 2);
    tn_int(&t, "ceil_mode", 1);
    qdb_tensor *y = run_ok(&t, in);
    float wmax[3] = {1, 5, 4};
    assert_int_equal(y->numel, 3);
    assert_close(y->data.f, wmax, 3);
    qdb_tensor_free(y);
    /* AveragePool, same windows: [1], [5 2], [4 3]; include_pad divides by 2. */
    tn_init(&t, "AveragePool", 11, 1);
    tn_ints(&t, "kernel_shape", k, 1);
    tn_ints(&t, "strides", s, 1);
    tn_ints(&t, "pads", p, 2);
    tn_int(&t, "ceil_mode", 1);
    y = run_ok(&t, in);
    float wavg[3] = {1, 3.5f, 3.5f};
    assert_close(y->data.f, wavg, 3);
    qdb_tensor_free(y);
    tn_init(&t, "AveragePool", 11, 1);
    tn_ints(&t, "kernel_shape", k, 1);
    tn_ints(&t, "strides", s, 1);
    tn_ints(&t, "pads", p, 2);
    tn_int(&t, "count_include_pad", 1);
    y = run_ok(&t, in); /* floor mode: windows at -1, 1, 3 */
    float winc[3] = {0.5f, 3.5f, 3.5f};
    assert_close(y->data.f, winc, 3);
    qdb_tensor_free(y);
    /* SAME_UPPER, k 2, s 1: pad one at the end; SAME_LOWER: at the start. */
    tn_init(&t, "MaxPool", 12, 1);
    tn_ints(&t, "kernel_shape", k, 1);
    tn_str(&t, "auto_pad", "SAME_UPPER");
    y = run_ok(&t, in);
    float su[5] = {5, 5, 4, 4, 3};
    assert_close(y->data.f, su, 5);
    qdb_tensor_free(y);
    tn_init(&t, "AveragePool", 11, 1);
    tn_ints(&t, "kernel_shape", k, 1);
    tn_str(&t, "auto_pad", "SAME_LOWER");
    y = run_ok(&t, in);
    float sl[5] = {1, 3, 3.5f, 3, 3.5f};
    assert_close(y->data.f, sl, 5);
    qdb_tensor_free(y);
    /* LpPool p=1 over the valid windows [1 5] [5 2] [2 4] [4 3] */
    tn_init(&t, "LpPool", 11, 1);
    tn_ints(&t, "kernel_shape", k, 1);
    tn_int(&t, "p", 1);
    y = run_ok(&t, in);
    float l1[4] = {6, 7, 6, 7};
    assert_close(y->data.f, l1, 4);
    qdb_tensor_free(y);
    /* MaxPool without kernel_shape is invalid */
    tn_init(&t, "MaxPool", 12, 1);
    assert_int_equal(run_status(&t, in), QDB_ERR_INVALID);
    qdb_tensor_free(x);
}

static void test_maxpool_indices_storage_order(void **state)
{
    (void)state;
    /* 2x3 plane (second of two), k 2x2, s 1: column-major indices. */
    float xv[12] = {0, 0, 0, 0, 0, 0, /* plane 0 */ 1, 9, 2, 3, 4, 10};
    int64_t xd[4] = {1, 2, 2, 3};
    qdb_tensor *x = mkf(4, xd, xv);
    const qdb_tensor *in[1] = {x};
    int64_t k[2] = {2, 2};
    tnode t;
    tn_init(&t, "MaxPool", 12, 1);
    tn_outputs(&t, 2);
    tn_ints(&t, "kernel_shape", k, 2);
    tn_int(&t, "storage_order", 1);
    qdb_err e = {0};
    qdb_tensor *out[8] = {NULL};
    assert_int_equal(run_n(&t, in, out, &e), QDB_OK);
    /* plane 1 maxima: 9 at (0,1), 10 at (1,2). Column-major index h + w*H,
     * plus the plane offset 6: 6 + 0 + 1*2 = 8 and 6 + 1 + 2*2 = 11. */
    assert_true(out[1]->data.i[2] == 8 && out[1]->data.i[3] == 11);
    assert_true(out[0]->data.f[2] == 9.0f && out[0]->data.f[3] == 10.0f);
    qdb_tensor_free(out[0]);
    qdb_tensor_free(out[1]);
    /* Row-major: 6 + 0*3 + 1 = 7 and 6 + 1*3 + 2 = 11. */
    tn_init(&t, "MaxPool", 12, 1);
    tn_outputs(&t, 2);
    tn_ints(&t, "kernel_shape", k, 2);
    assert_int_equal(run_n(&t, in, out, &e), QDB_OK);
    assert_true(out[1]->data.i[2] == 7 && out[1]->data.i[3] == 11);
    qdb_tensor_free(out[0]);
    qdb_tensor_free(out[1]);
    /* int64 MaxPool (ONNX int8/uint8) */
    qdb_tensor *xi = qdb_tensor_convert(x, QDB_I64, &e);
    in[0] = xi;
    tn_init(&t, "MaxPool", 12, 1);
    tn_ints(&t, "kernel_shape", k, 2);
    assert_int_equal(run_n(&t, in, out, &e), QDB_OK);
    assert_int_equal(out[0]->dtype, QDB_I64);
    assert_true(out[0]->data.i[2] == 9 && out[0]->data.i[3] == 10);
    qdb_tensor_free(out[0]);
    /* but not int64 AveragePool */
    tn_init(&t, "AveragePool", 11, 1);
    tn_ints(&t, "kernel_shape", k, 2);
    assert_int_equal(run_status(&t, in), QDB_ERR_UNSUPPORTED);
    qdb_tensor_free(xi);
    qdb_tensor_free(x);
}

static void test_pool3d(void **state)
{
    (void)state;
    /* 3-D average / max pooling, k 2x2x2 s 2 with pads 1: compare with loops. */
    int64_t xd[5] = {2, 2, 3, 4, 5};
    qdb_tensor *x = trand(5, xd);
    const qdb_tensor *in[1] = {x};
    int64_t k[3] = {2, 2, 2}, s[3] = {2, 2, 2}, p[6] = {1, 1, 1, 1, 1, 1};
    for (int kind = 0; kind < 2; kind++) {
        tnode t;
        tn_init(&t, kind ? "AveragePool" : "MaxPool", 11, 1);
        tn_ints(&t, "kernel_shape", k, 3);
        tn_ints(&t, "strides", s, 3);
        tn_ints(&t, "pads", p, 6);
        qdb_tensor *y = run_ok(&t, in);
        int64_t yd[5] = {2, 2, 2, 3, 3};
        expect_shape(y, 5, yd);
        for (int64_t pl = 0; pl < 4; pl++)
            for (int64_t a = 0; a < 2; a++)
                for (int64_t b = 0; b < 3; b++)
                    for (int64_t c = 0; c < 3; c++) {
                        double acc = kind ? 0.0 : -INFINITY;
                        int cnt = 0;
                        for (int64_t i = 2 * a - 1; i < 2 * a + 1; i++)
                            for (int64_t j = 2 * b - 1; j < 2 * b + 1; j++)
                                for (int64_t l = 2 * c - 1; l < 2 * c + 1; l++) {
                                    if (i < 0 || i >= 3 || j < 0 || j >= 4 || l < 0 || l >= 5)
                                        continue;
                                    float v = x->data.f[((pl * 3 + i) * 4 + j) * 5 + l];
                                    cnt++;
                                    acc = kind ? acc + v : (v > acc ? v : acc);
                                }
                        float want = (float)(kind ? acc / cnt : acc);
                        assert_close(&y->data.f[((pl * 2 + a) * 3 + b) * 3 + c], &want, 1);
                    }
        qdb_tensor_free(y);
    }
    qdb_tensor_free(x);
}

static void test_global_pools(void **state)
{
    (void)state;
    /* Two planes: [1 2; 3 6] and [-1 -2; -3 -4]. */
    float xv[8] = {1, 2, 3, 6, -1, -2, -3, -4};
    int64_t xd[4] = {2, 1, 2, 2};
    qdb_tensor *x = mkf(4, xd, xv);
    const qdb_tensor *in[1] = {x};
    tnode t;
    int64_t yd[4] = {2, 1, 1, 1};
    tn_init(&t, "GlobalAveragePool", 1, 1);
    qdb_tensor *y = run_ok(&t, in);
    expect_shape(y, 4, yd);
    float avg[2] = {3, -2.5f};
    assert_close(y->data.f, avg, 2);
    qdb_tensor_free(y);
    tn_init(&t, "GlobalMaxPool", 1, 1);
    y = run_ok(&t, in);
    float mx[2] = {6, -1};
    assert_close(y->data.f, mx, 2);
    qdb_tensor_free(y);
    tn_init(&t, "GlobalLpPool", 2, 1);
    y = run_ok(&t, in); /* p = 2: sqrt(1+4+9+36) = sqrt(50), sqrt(30) */
    float lp[2] = {sqrtf(50.0f), sqrtf(30.0f)};
    assert_close(y->data.f, lp, 2);
    qdb_tensor_free(y);
    tn_init(&t, "GlobalLpPool", 1, 1);
    tn_float(&t, "p", 1.0f); /* opset 1: p is a float */
    y = run_ok(&t, in);
    float l1[2] = {12, 10};
    assert_close(y->data.f, l1, 2);
    qdb_tensor_free(y);
    qdb_tensor_free(x);
    /* a 3-D input (N, C, L) */
    int64_t x3[3] = {1, 2, 3};
    float v3[6] = {1, 2, 3, 4, 5, 9};
    x = mkf(3, x3, v3);
    in[0] = x;
    tn_init(&t, "GlobalAveragePool", 1, 1);
    y = run_ok(&t, in);
    int64_t y3[3] = {1, 2, 1};
    expect_shape(y, 3, y3);
    float a3[2] = {2, 6};
    assert_close(y->data.f, a3, 2);
    qdb_tensor_free(y);
    qdb_tensor_free(x);
}

/* ----------------------------------------------------------- normalization */

static void test_batchnorm(void **state)
{
    (void)state;
    int64_t xd[4] = {3, 2, 2, 3}, cd[1] = {2};
    qdb_tensor *x = trand(4, xd);
    float sv[2] = {0.5f, 2.0f}, bv[2] = {1.0f, -1.0f}, mv[2] = {0.1f, -0.2f}, vv[2] = {0.25f, 4.0f};
    qdb_tensor *s = mkf(1, cd, sv), *b = mkf(1, cd, bv), *m = mkf(1, cd, mv),
               *v = mkf(1, cd, vv);
    const qdb_tensor *in[5] = {x, s, b, m, v};
    const int opsets[] = {6, 7, 9, 14, 15};
    for (size_t k = 0; k < sizeof opsets / sizeof opsets[0]; k++) {
        tnode t;
        tn_init(&t, "BatchNormalization", opsets[k], 5);
        tn_float(&t, "epsilon", 0.01f);
        if (opsets[k] < 7)
            tn_int(&t, "is_test", 1);
        qdb_tensor *y = run_ok(&t, in);
        expect_shape(y, 4, xd);
        for (size_t i = 0; i < y->numel; i++) {
            int c = (int)(i / 6) % 2;
            float want = (x->data.f[i] - mv[c]) / sqrtf(vv[c] + 0.01f) * sv[c] + bv[c];
            assert_close(&y->data.f[i], &want, 1);
        }
        qdb_tensor_free(y);
    }
    tnode t;
    /* training modes and statistics outputs are refused */
    tn_init(&t, "BatchNormalization", 15, 5);
    tn_int(&t, "training_mode", 1);
    assert_int_equal(run_status(&t, in), QDB_ERR_UNSUPPORTED);
    tn_init(&t, "BatchNormalization", 6, 5);
    assert_int_equal(run_status(&t, in), QDB_ERR_UNSUPPORTED); /* is_test defaults to 0 */
    tn_init(&t, "BatchNormalization", 9, 5);
    tn_outputs(&t, 5);
    assert_int_equal(run_status(&t, in), QDB_ERR_UNSUPPORTED);
    tn_init(&t, "BatchNormalization", 9, 5);
    tn_outputs(&t, 5);
    t.out_idx[1] = t.out_idx[2] = t.out_idx[3] = t.out_idx[4] = -1; /* absent: fine */
    qdb_tensor *y = run_ok(&t, in);
    qdb_tensor_free(y);
    tn_init(&t, "BatchNormalization", 9, 5);
    tn_int(&t, "spatial", 1); /* removed in opset 9 */
    assert_int_equal(run_status(&t, in), QDB_ERR_UNSUPPORTED);

    /* spatial=0 (opset 7): one statistic per (channel, position) */
    int64_t pd[3] = {2, 2, 3};
    qdb_tensor *ps = trand(3, pd), *pb = trand(3, pd), *pm = trand(3, pd), *pv = trand(3, pd);
    for (size_t i = 0; i < pv->numel; i++)
        pv->data.f[i] = fabsf(pv->data.f[i]) + 0.1f;
    const qdb_tensor *in2[5] = {x, ps, pb, pm, pv};
    tn_init(&t, "BatchNormalization", 7, 5);
    tn_int(&t, "spatial", 0);
    y = run_ok(&t, in2);
    for (size_t i = 0; i < y->numel; i++) {
        size_t j = i % 12;
        float want = (x->data.f[i] - pm->data.f[j]) / sqrtf(pv->data.f[j] + 1e-5f) * ps->data.f[j] +
                     pb->data.f[j];
        assert_close(&y->data.f[i], &want, 1);
    }
    qdb_tensor_free(y);
    tn_init(&t, "BatchNormalization", 7, 5); /* spatial=1 with per-position stats: shape error */
    assert_int_equal(run_status(&t, in2), QDB_ERR_SHAPE);

    qdb_tensor *tensors[] = {x, s, b, m, v, ps, pb, pm, pv};
    for (size_t i = 0; i < sizeof tensors / sizeof tensors[0]; i++)
        qdb_tensor_free(tensors[i]);
}

static void test_instance_norm(void **state)
{
    (void)state;
    /* Plane [1 2 3 4]: mean 2.5, var 1.25; scale 2, bias 1. A constant
     * plane normalizes to its bias. */
    float xv[8] = {1, 2, 3, 4, 5, 5, 5, 5};
    int64_t xd[4] = {1, 2, 2, 2}, cd[1] = {2};
    float sv[2] = {2, 3}, bv[2] = {1, -1};
    qdb_tensor *x = mkf(4, xd, xv), *s = mkf(1, cd, sv), *b = mkf(1, cd, bv);
    const qdb_tensor *in[3] = {x, s, b};
    tnode t;
    tn_init(&t, "InstanceNormalization", 6, 3);
    tn_float(&t, "epsilon", 1e-5f);
    qdb_tensor *y = run_ok(&t, in);
    const float r = 1.0f / sqrtf(1.25f + 1e-5f);
    float want[8] = {1 - 3 * r, 1 - r, 1 + r, 1 + 3 * r, -1, -1, -1, -1};
    assert_close(y->data.f, want, 8);
    qdb_tensor_free(y);
    qdb_tensor_free(x);
    qdb_tensor_free(s);
    qdb_tensor_free(b);
}

static void test_lrn(void **state)
{
    (void)state;
    /* 4 channels of one value each (1, 2, 3, 4), size 3: channel c sums the
     * squares of c-1..c+1. alpha 3 (alpha/size = 1), beta 1, bias 1. */
    float xv[4] = {1, 2, 3, 4};
    int64_t xd[4] = {1, 4, 1, 1};
    qdb_tensor *x = mkf(4, xd, xv);
    const qdb_tensor *in[1] = {x};
    tnode t;
    tn_init(&t, "LRN", 13, 1);
    tn_int(&t, "size", 3);
    tn_float(&t, "alpha", 3.0f);
    tn_float(&t, "beta", 1.0f);
    tn_float(&t, "bias", 1.0f);
    qdb_tensor *y = run_ok(&t, in);
    float want[4] = {1.0f / 6, 2.0f / 15, 3.0f / 30, 4.0f / 26};
    assert_close(y->data.f, want, 4);
    qdb_tensor_free(y);
    /* size 2: window c-0..c+1 (floor((2-1)/2) = 0 below, 1 above) */
    tn_init(&t, "LRN", 13, 1);
    tn_int(&t, "size", 2);
    tn_float(&t, "alpha", 2.0f);
    tn_float(&t, "beta", 1.0f);
    y = run_ok(&t, in);
    float want2[4] = {1.0f / 6, 2.0f / 14, 3.0f / 26, 4.0f / 17};
    assert_close(y->data.f, want2, 4);
    qdb_tensor_free(y);
    tn_init(&t, "LRN", 13, 1);
    assert_int_equal(run_status(&t, in), QDB_ERR_INVALID); /* size is required */
    qdb_tensor_free(x);
}

/* ---------------------------------------------------------------- kernels */

static void test_kernels(void **state)
{
    (void)state;
    /* sgemm with a single row (the gemv path) in every transposition. */
    float a[6] = {1, 2, 3, 4, 5, 6};  /* 1x6 or 6x1 */
    float b[12];
    for (int i = 0; i < 12; i++)
        b[i] = (float)(i + 1);
    for (int tb = 0; tb < 2; tb++) {
        float c[2] = {100, 100};
        /* B as 6x2 (or 2x6 transposed) */
        qdb_sgemm(0, tb, 1, 2, 6, 1.0f, a, 6, b, tb ? 6 : 2, 0.5f, c, 2);
        for (int j = 0; j < 2; j++) {
            double s = 50;
            for (int k = 0; k < 6; k++)
                s += a[k] * b[tb ? j * 6 + k : k * 2 + j];
            assert_true(fabs(c[j] - s) < 1e-3);
        }
    }
    float c1[2] = {0, 0};
    qdb_sgemm(1, 0, 1, 2, 6, 2.0f, a, 1, b, 2, 0.0f, c1, 2); /* A stored 6x1 */
    assert_true(fabsf(c1[0] - 2 * (1 * 1 + 2 * 3 + 3 * 5 + 4 * 7 + 5 * 9 + 6 * 11)) < 1e-3f);
    float c0[2] = {3, 4};
    qdb_sgemm(0, 0, 1, 2, 0, 1.0f, a, 1, b, 2, 2.0f, c0, 2); /* k = 0: C *= beta */
    assert_true(c0[0] == 6 && c0[1] == 8);

    /* im2col and col2im are adjoint: <im2col(x), c> == <x, col2im(c)>. */
    qdb_window w;
    qdb_window_init(&w);
    w.in[1] = 5, w.in[2] = 6, w.k[1] = 3, w.k[2] = 2, w.stride[1] = 2, w.stride[2] = 1;
    w.dil[2] = 2, w.pad[1] = 1, w.pad[2] = 2, w.out[1] = 3, w.out[2] = 6;
    const int64_t ch = 2, rows = ch * qdb_window_k_size(&w), cols = qdb_window_out_size(&w);
    float x[60], x2[60] = {0}, col[216], cv[216];
    for (int i = 0; i < 60; i++)
        x[i] = frand();
    for (int i = 0; i < rows * cols; i++)
        cv[i] = frand();
    qdb_im2col(x, ch, &w, col);
    qdb_col2im(cv, ch, &w, x2);
    double l = 0, r = 0;
    for (int i = 0; i < rows * cols; i++)
        l += (double)col[i] * cv[i];
    for (int i = 0; i < 60; i++)
        r += (double)x[i] * x2[i];
    assert_true(fabs(l - r) < 1e-4);

    qdb_kernels_set_threads(1);
    assert_int_equal(qdb_kernels_threads(), 1);
    qdb_kernels_set_threads(0);
    assert_true(qdb_kernels_threads() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_hand),
        cmocka_unit_test(test_conv2d_reference),
        cmocka_unit_test(test_conv1d_reference),
        cmocka_unit_test(test_conv3d_reference),
        cmocka_unit_test(test_conv_errors),
        cmocka_unit_test(test_conv_transpose_hand),
        cmocka_unit_test(test_conv_transpose_reference),
        cmocka_unit_test(test_gemm_hand),
        cmocka_unit_test(test_gemm_reference),
        cmocka_unit_test(test_gemm_errors),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_pool_reference),
        cmocka_unit_test(test_pool_hand),
        cmocka_unit_test(test_maxpool_indices_storage_order),
        cmocka_unit_test(test_pool3d),
        cmocka_unit_test(test_global_pools),
        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_instance_norm),
        cmocka_unit_test(test_lrn),
        cmocka_unit_test(test_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
