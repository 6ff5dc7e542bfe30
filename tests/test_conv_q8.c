/* test_conv_q8.c - the integer Conv (engine/ops/conv_q8.c): against sums
 * of the codes worked out here in 64-bit integers, on both kernels (VNNI
 * when the CPU has it, sgemm on the codes), for odd channel counts, kernels and
 * asymmetric pads; against OpenBLAS's float Conv where that one's sums are
 * exact; its refusals (a kernel off its grid, an unsupported geometry);
 * hostile inputs (infinities, values off the grid) rounded and clamped;
 * and a NaN, which has no code, handed back to the float Conv. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "executor.h"
#include "kernels.h"
#include "ops/conv.h"
#include "probe.h"
#include "qmodel.h"
#include "ops/conv_q8.h"
#include "support/model_builder.h"
#include "support/quant_fixtures.h"
#include "support/tmpdir.h"

typedef struct qcase {
    int64_t m, c, kh, kw, h, w;
    int64_t pads[4];    /* top, left, bottom, right */
    int x_off;          /* 128: signed codes, 0: unsigned */
    int bias;
    int extreme;        /* codes at their largest, then the last six channels'
                         * at 1: sums past 2^24, then small terms a float
                         * sum past 2^24 would lose */
} qcase;

typedef struct qdata {
    qcase k;
    float x_step;
    float *w_step;      /* [m] */
    int *wc;            /* [m][c][kh][kw] codes */
    int *xu;            /* [c][h][w] codes u (value (u - x_off) * x_step) */
    qdb_tensor *w, *x, *b;
    int64_t hout, wout;
} qdata;

static uint32_t rng = 2024;
static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static qdata make(const qcase *k)
{
    qdata d = {.k = *k};
    d.x_step = 1.0f / 16;
    d.w_step = malloc((size_t)k->m * sizeof *d.w_step);
    d.wc = malloc((size_t)(k->m * k->c * k->kh * k->kw) * sizeof *d.wc);
    d.xu = malloc((size_t)(k->c * k->h * k->w) * sizeof *d.xu);
    int64_t wd[4] = {k->m, k->c, k->kh, k->kw}, xd[4] = {1, k->c, k->h, k->w};
    d.w = qdb_tensor_new_dims(QDB_F32, 4, wd, NULL);
    d.x = qdb_tensor_new_dims(QDB_F32, 4, xd, NULL);
    d.b = qdb_tensor_new_dims(QDB_F32, 1, &k->m, NULL);
    assert_true(d.w_step && d.wc && d.xu && d.w && d.x && d.b);
    const int64_t taps = k->c * k->kh * k->kw;
    for (int64_t o = 0; o < k->m; o++) {
        d.w_step[o] = ldexpf(1.0f, -(int)(4 + o % 5));
        d.b->data.f[o] = (float)(qf_urand() - 0.5) * 3.0f;
        for (int64_t i = 0; i < taps; i++) {
            /* the extremes of the range, then anything in it */
            int code = k->extreme ? (i / (k->kh * k->kw) < k->c - 6 ? 127 : 1)
                       : i == 0 ? -128 : i == 1 ? 127 : (int)(next_u32() % 256) - 128;
            d.wc[o * taps + i] = code;
            d.w->data.f[o * taps + i] = (float)code * d.w_step[o];
        }
    }
    for (size_t i = 0; i < d.x->numel; i++) {
        int u = k->extreme ? ((int64_t)i / (k->h * k->w) < k->c - 6 ? 255 : 1)
                : i == 0 ? 0 : i == 1 ? 255 : (int)(next_u32() % 256);
        d.xu[i] = u;
        d.x->data.f[i] = (float)(u - k->x_off) * d.x_step;
    }
    d.hout = k->h + k->pads[0] + k->pads[2] - k->kh + 1;
    d.wout = k->w + k->pads[1] + k->pads[3] - k->kw + 1;
    return d;
}

static void drop(qdata *d)
{
    free(d->w_step);
    free(d->wc);
    free(d->xu);
    qdb_tensor_free(d->w);
    qdb_tensor_free(d->x);
    qdb_tensor_free(d->b);
}

static qdb_window window_of(const qdata *d)
{
    qdb_window w;
    qdb_window_init(&w);
    const int h = QDB_WIN_DIMS - 2, x = QDB_WIN_DIMS - 1;
    w.in[h] = d->k.h;
    w.in[x] = d->k.w;
    w.k[h] = d->k.kh;
    w.k[x] = d->k.kw;
    w.pad[h] = d->k.pads[0];
    w.pad[x] = d->k.pads[1];
    w.pad_end[h] = d->k.pads[2];
    w.pad_end[x] = d->k.pads[3];
    w.out[h] = d->hout;
    w.out[x] = d->wout;
    return w;
}

/* The expected output: exact sums of the codes in int64, then
 * bias + S * (x_step * w_step), each operation rounded as float. */
static float *reference(const qdata *d)
{
    const qcase *k = &d->k;
    float *y = malloc((size_t)(k->m * d->hout * d->wout) * sizeof *y);
    assert_non_null(y);
    for (int64_t o = 0; o < k->m; o++)
        for (int64_t oy = 0; oy < d->hout; oy++)
            for (int64_t ox = 0; ox < d->wout; ox++) {
                int64_t s = 0;
                for (int64_t c = 0; c < k->c; c++)
                    for (int64_t ky = 0; ky < k->kh; ky++)
                        for (int64_t kx = 0; kx < k->kw; kx++) {
                            int64_t iy = oy + ky - k->pads[0], ix = ox + kx - k->pads[1];
                            if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w)
                                continue; /* zero padding */
                            s += (int64_t)(d->xu[(c * k->h + iy) * k->w + ix] - k->x_off) *
                                 d->wc[((o * k->c + c) * k->kh + ky) * k->kw + kx];
                        }
                const float sc = d->x_step * d->w_step[o];
                float v = (float)s * sc;
                if (k->bias)
                    v = v + d->b->data.f[o];
                y[(o * d->hout + oy) * d->wout + ox] = v;
            }
    return y;
}

/* The plan's output on the sgemm kernel (portable 1) or whatever the CPU
 * has (0). */
static float *run_plan(const qdata *d, int portable)
{
    qdb_err e = {0};
    qdb_conv_q8 *p = qdb_conv_q8_new(d->w, d->w_step, d->x_step, d->k.x_off, &e);
    assert_non_null(p);
    qdb_window w = window_of(d);
    assert_true(qdb_conv_q8_fits(p, &w, d->k.c, d->k.m, 1));
    size_t ns = qdb_conv_q8_scratch(p, &w);
    assert_true(ns > 0);
    float *scratch = malloc(ns * sizeof *scratch);
    float *y = malloc((size_t)(d->k.m * d->hout * d->wout) * sizeof *y);
    assert_true(scratch && y);
    qdb_conv_q8_force_portable(portable);
    qdb_conv_q8_image(p, &w, d->x->data.f, d->k.bias ? d->b->data.f : NULL, y, scratch);
    qdb_conv_q8_force_portable(-1);
    free(scratch);
    qdb_conv_q8_free(p);
    return y;
}

static const qcase cases[] = {
    /* m, c, kh, kw, h, w, pads (t l b r), x_off, bias */
    {16, 1, 3, 3, 28, 28, {1, 1, 1, 1}, 128, 1, 0},  /* a first layer: one channel, signed */
    {19, 7, 3, 3, 9, 13, {1, 0, 2, 1}, 0, 1, 0},     /* odd counts, asymmetric pads */
    {8, 16, 1, 1, 7, 7, {0, 0, 0, 0}, 0, 0, 0},      /* pointwise, no bias */
    {5, 6, 5, 3, 11, 6, {2, 1, 2, 1}, 128, 1, 0},    /* a non-square kernel */
    {33, 64, 3, 3, 7, 7, {1, 1, 1, 1}, 0, 1, 0},     /* K = 576: sums past 2^24 possible */
    {9, 12, 2, 2, 4, 20, {0, 0, 0, 0}, 77, 1, 0},    /* an even kernel, any offset */
    {4, 256, 3, 3, 4, 4, {1, 1, 1, 1}, 0, 1, 1},     /* sums far past 2^24: rounded once */
};

static void test_exact_sums(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qdata d = make(&cases[i]);
        float *ref = reference(&d);
        const size_t n = (size_t)(d.k.m * d.hout * d.wout);
        for (int portable = 1; portable >= 0; portable--) {
            float *y = run_plan(&d, portable);
            size_t bad = 0;
            for (size_t j = 0; j < n; j++)
                bad += memcmp(&y[j], &ref[j], sizeof *y) != 0;
            if (bad)
                print_error("case %zu, %s kernel: %zu of %zu outputs differ\n", i,
                            portable ? "sgemm" : "CPU's", bad, n);
            assert_int_equal(bad, 0);
            free(y);
        }
        free(ref);
        drop(&d);
    }
}

/* A one-Conv graph with d's kernel, bias and pads. */
static qdb_graph *conv_graph(const qdata *d)
{
    mb *m = mb_new(13);
    int64_t xd[4] = {MB_N, d->k.c, d->k.h, d->k.w}, wd[4] = {d->k.m, d->k.c, d->k.kh, d->k.kw};
    mb_input(m, "x", MB_FLOAT, 4, xd);
    mb_init_f(m, "w", 4, wd, d->w->data.f);
    mb_init_f(m, "b", 1, &d->k.m, d->b->data.f);
    mb_node(m, "Conv", "conv", d->k.bias ? "x,w,b" : "x,w", "y");
    const int64_t pads[4] = {d->k.pads[0], d->k.pads[1], d->k.pads[2], d->k.pads[3]};
    mb_attr_ints(m, "pads", 4, pads);
    mb_output(m, "y");
    return qf_load(m);
}

/* Where the float Conv's sums are exact (powers of two, K * 255 * 128 <
 * 2^24 and one block of the reduction) the two agree bit for bit; the
 * Conv operator takes the plan through qdb_conv_run_fused. */
static void test_matches_float_conv(void **state)
{
    (void)state;
    for (size_t i = 0; i < 4; i++) {
        qdata d = make(&cases[i]);
        qdb_graph *g = conv_graph(&d);
        const qdb_node *n = &g->nodes[0];
        const qdb_tensor *in[3] = {d.x, g->values[n->in[1]].constant,
                                   n->n_in > 2 ? g->values[n->in[2]].constant : NULL};
        qdb_err e = {0};
        qdb_conv_fuse plain = {0}, integer = {0};
        integer.q8 = qdb_conv_q8_new(d.w, d.w_step, d.x_step, d.k.x_off, &e);
        assert_non_null(integer.q8);
        qdb_tensor *yf = NULL, *yq = NULL;
        assert_int_equal(qdb_conv_run_fused(n, in, &plain, &yf, &e), QDB_OK);
        assert_int_equal(qdb_conv_run_fused(n, in, &integer, &yq, &e), QDB_OK);
        assert_int_equal(yf->numel, yq->numel);
        assert_memory_equal(yf->data.f, yq->data.f, yf->numel * sizeof(float));
        float *ref = reference(&d); /* and both are the reference */
        assert_memory_equal(ref, yq->data.f, yq->numel * sizeof(float));
        free(ref);
        qdb_conv_q8_free((qdb_conv_q8 *)integer.q8);
        qdb_tensor_free(yf);
        qdb_tensor_free(yq);
        qdb_graph_free(g);
        drop(&d);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    qdata d = make(&cases[1]);
    qdb_err e = {0};
    /* a kernel value a third of a step off its grid */
    float keep = d.w->data.f[5];
    d.w->data.f[5] += d.w_step[0] / 3;
    assert_null(qdb_conv_q8_new(d.w, d.w_step, d.x_step, 0, &e));
    assert_int_equal(e.code, QDB_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "not an 8-bit multiple"));
    d.w->data.f[5] = keep;
    /* a code past 127 */
    d.w->data.f[7] = 128 * d.w_step[0];
    qdb_err_clear(&e);
    assert_null(qdb_conv_q8_new(d.w, d.w_step, d.x_step, 0, &e));
    assert_int_equal(e.code, QDB_ERR_UNSUPPORTED);
    d.w->data.f[7] = keep;
    /* X's grid: an offset past 255, a zero or denormal step */
    qdb_err_clear(&e);
    assert_null(qdb_conv_q8_new(d.w, d.w_step, d.x_step, 256, &e));
    assert_null(qdb_conv_q8_new(d.w, d.w_step, 0.0f, 0, &e));
    assert_null(qdb_conv_q8_new(d.w, d.w_step, 1e-40f, 0, &e));
    /* geometries it does not run */
    qdb_conv_q8 *p = qdb_conv_q8_new(d.w, d.w_step, d.x_step, 0, &e);
    assert_non_null(p);
    qdb_window w = window_of(&d);
    assert_true(qdb_conv_q8_fits(p, &w, d.k.c, d.k.m, 1));
    assert_false(qdb_conv_q8_fits(p, &w, d.k.c, d.k.m, 7)); /* groups */
    assert_false(qdb_conv_q8_fits(p, &w, d.k.c + 1, d.k.m, 1));
    qdb_window s2 = w;
    s2.stride[QDB_WIN_DIMS - 1] = 2;
    s2.out[QDB_WIN_DIMS - 1] = (d.k.w + 1 - 3) / 2 + 1;
    assert_false(qdb_conv_q8_fits(p, &s2, d.k.c, d.k.m, 1));
    qdb_window dil = w;
    dil.dil[QDB_WIN_DIMS - 2] = 2;
    assert_false(qdb_conv_q8_fits(p, &dil, d.k.c, d.k.m, 1));
    qdb_conv_q8_free(p);
    drop(&d);
    /* a kernel over 8 x 8 */
    qcase big = {2, 1, 9, 9, 12, 12, {0, 0, 0, 0}, 0, 0, 0};
    qdata b = make(&big);
    qdb_err_clear(&e);
    assert_null(qdb_conv_q8_new(b.w, b.w_step, b.x_step, 0, &e));
    assert_int_equal(e.code, QDB_ERR_UNSUPPORTED);
    drop(&b);
}

/* With a step that is not a power of two both kernels work from codes:
 * values off X's grid are rounded to it and clamped to its codes, and
 * both agree with the reference run on the codes so obtained. */
static void test_hostile_input(void **state)
{
    (void)state;
    qdata d = make(&cases[1]);
    d.x_step = 0.1f;
    const float inv = 1.0f / d.x_step, off = (float)d.k.x_off;
    const size_t nx = d.x->numel;
    for (size_t i = 0; i < nx; i++)
        d.x->data.f[i] = (float)(d.xu[i] - d.k.x_off) * d.x_step;
    for (size_t i = 0; i < nx; i += 3) {
        const float v[] = {INFINITY, -INFINITY, 1e30f, -1e30f, 0.3f * d.x_step, 2.7f * d.x_step};
        d.x->data.f[i] = v[(i / 3) % 6];
    }
    for (size_t i = 0; i < nx; i++) { /* the plan's rounding, clamped */
        float u = d.x->data.f[i] * inv + off + 0.5f;
        d.xu[i] = u < 0 ? 0 : u > 255 ? 255 : (int)u;
    }
    float *ref = reference(&d);
    for (int portable = 1; portable >= 0; portable--) {
        float *y = run_plan(&d, portable);
        assert_memory_equal(y, ref, (size_t)(d.k.m * d.hout * d.wout) * sizeof *y);
        free(y);
    }
    free(ref);
    drop(&d);
}

/* A NaN has no code: the plan says so, and the Conv runs in float, so the
 * NaN reaches the outputs it touches as it would without the plan. */
static void test_nan_runs_in_float(void **state)
{
    (void)state;
    qdata d = make(&cases[1]);
    d.x->data.f[d.x->numel / 2] = NAN;
    qdb_graph *g = conv_graph(&d);
    const qdb_node *n = &g->nodes[0];
    const qdb_tensor *in[3] = {d.x, g->values[n->in[1]].constant, g->values[n->in[2]].constant};
    qdb_err e = {0};
    qdb_conv_q8 *p = qdb_conv_q8_new(d.w, d.w_step, d.x_step, d.k.x_off, &e);
    assert_non_null(p);
    qdb_window w = window_of(&d);
    float *scratch = malloc(qdb_conv_q8_scratch(p, &w) * sizeof *scratch);
    float *y = malloc((size_t)(d.k.m * d.hout * d.wout) * sizeof *y);
    assert_true(scratch && y);
    for (int portable = 1; portable >= 0; portable--) {
        qdb_conv_q8_force_portable(portable);
        assert_int_equal(qdb_conv_q8_image(p, &w, d.x->data.f, d.b->data.f, y, scratch), 1);
    }
    qdb_conv_q8_force_portable(-1);
    qdb_conv_fuse plain = {0}, integer = {0};
    integer.q8 = p;
    qdb_tensor *yf = NULL, *yq = NULL;
    assert_int_equal(qdb_conv_run_fused(n, in, &plain, &yf, &e), QDB_OK);
    assert_int_equal(qdb_conv_run_fused(n, in, &integer, &yq, &e), QDB_OK);
    size_t nans = 0;
    for (size_t i = 0; i < yq->numel; i++)
        nans += isnan(yq->data.f[i]);
    assert_true(nans > 0 && nans < yq->numel);
    assert_memory_equal(yf->data.f, yq->data.f, yf->numel * sizeof(float));
    qdb_tensor_free(yf);
    qdb_tensor_free(yq);
    free(scratch);
    free(y);
    qdb_conv_q8_free(p);
    qdb_graph_free(g);
    drop(&d);
}

/* x [N,3,10,10] -> Conv 3x3 (8) -> Relu -> MaxPool 2x2 -> Conv 3x3 (6)
 * -> Relu -> Flatten -> Gemm (5): two Convs the simulation runs in
 * integers, the second reading its input through the MaxPool. */
static qdb_graph *two_conv_model(void)
{
    mb *m = mb_new(13);
    int64_t xd[4] = {MB_N, 3, 10, 10}, w1d[4] = {8, 3, 3, 3}, w2d[4] = {6, 8, 3, 3}, b1d = 8,
            b2d = 6, gwd[2] = {5, 150}, gbd = 5;
    float w1[216], b1[8], w2[432], b2[6], gw[750], gb[5];
    qf_fill(w1, 216, 0.3f, 0);
    qf_fill(b1, 8, 0.1f, 0.05f);
    qf_fill(w2, 432, 0.2f, 0);
    qf_fill(b2, 6, 0.1f, 0.05f);
    qf_fill(gw, 750, 0.1f, 0);
    qf_fill(gb, 5, 0.1f, 0);
    mb_input(m, "x", MB_FLOAT, 4, xd);
    mb_init_f(m, "w1", 4, w1d, w1);
    mb_init_f(m, "b1", 1, &b1d, b1);
    mb_init_f(m, "w2", 4, w2d, w2);
    mb_init_f(m, "b2", 1, &b2d, b2);
    mb_init_f(m, "gw", 2, gwd, gw);
    mb_init_f(m, "gb", 1, &gbd, gb);
    const int64_t pads[4] = {1, 1, 1, 1}, k2[2] = {2, 2};
    mb_node(m, "Conv", "conv1", "x,w1,b1", "c1");
    mb_attr_ints(m, "pads", 4, pads);
    mb_node(m, "Relu", "relu1", "c1", "r1");
    mb_node(m, "MaxPool", "pool", "r1", "p1");
    mb_attr_ints(m, "kernel_shape", 2, k2);
    mb_attr_ints(m, "strides", 2, k2);
    mb_node(m, "Conv", "conv2", "p1,w2,b2", "c2");
    mb_attr_ints(m, "pads", 4, pads);
    mb_node(m, "Relu", "relu2", "c2", "r2");
    mb_node(m, "Flatten", "flat", "r2", "f");
    mb_node(m, "Gemm", "head", "f,gw,gb", "y");
    mb_attr_i(m, "transB", 1);
    mb_output(m, "y");
    return qf_load(m);
}

static qdb_tensor *run_sim(qdb_qmodel *q, const qdb_tensor *x, int integer)
{
    qdb_eval_opts o = {0};
    qdb_qmodel_eval_opts(q, &o);
    qdb_err e = {0};
    qdb_exec *ex = qdb_exec_new(q->gq, &e);
    assert_non_null(ex);
    qdb_exec_set_hook(ex, o.hook, o.hook_user);
    qdb_exec_hook_inputs(ex, o.hook_inputs);
    if (integer)
        qdb_exec_set_conv_q8(ex, o.conv_q8, o.conv_q8_user);
    qdb_tensor *y = NULL;
    if (qdb_exec_run_first(ex, &x, &y, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    qdb_exec_free(ex);
    return y;
}

/* The quantized model plans both Convs; the simulation with them differs
 * from the one with float Convs only by float rounding (the exact sums;
 * W's grid values instead of their float roundings), and every tool that
 * scores the simulation (evaluation, the probes of sensitivity and bisect)
 * runs the same integer Convs. */
static void test_simulation_plans(void **state)
{
    (void)state;
    qdb_graph *g = two_conv_model();
    qdb_tensor *x = qf_random_input(48, 3, 10, 10, 1.0f, 0.2f);
    qdb_dataset *d = qf_dataset("conv_q8.npy", x, NULL);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    qdb_err e = {0};
    qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
    assert_non_null(q);
    if (qdb_qmodel_calibrate(q, d, NULL, &e) != QDB_OK || qdb_qmodel_quantize(q, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    int planned = 0;
    for (int i = 0; i < q->gq->n_nodes; i++)
        if (!strcmp(q->gq->nodes[i].op_type, "Conv"))
            planned += qdb_qmodel_conv_q8(q, q->gq, i) != NULL;
    assert_int_equal(planned, 2);
    qdb_tensor *yi = run_sim(q, x, 1), *yf = run_sim(q, x, 0);
    assert_true(qf_rel_diff(yf, yi) < 1e-2); /* a rounding flip moves a value by one step */
    qdb_tensor_free(yf);
    /* Which simulation does the probe score? Move a kernel value of the
     * first Conv after its plan was made: float Convs see it, planned ones
     * do not, so the two now differ widely; the probe's SQNR against float
     * must be that of the integer one. */
    for (int i = 0; i < q->gq->n_nodes; i++)
        if (!strcmp(q->gq->nodes[i].op_type, "Conv")) {
            q->gq->values[q->gq->nodes[i].in[1]].constant->data.f[0] += 0.5f;
            break;
        }
    yf = run_sim(q, x, 0);
    qdb_tensor *y2 = run_sim(q, x, 1);
    assert_memory_equal(y2->data.f, yi->data.f, yi->numel * sizeof(float));
    qdb_tensor_free(y2);
    qdb_tensor *yr = qf_run(g, x);
    double xx = 0, di = 0, df = 0;
    for (size_t i = 0; i < yr->numel; i++) {
        xx += (double)yr->data.f[i] * yr->data.f[i];
        di += ((double)yi->data.f[i] - yr->data.f[i]) * ((double)yi->data.f[i] - yr->data.f[i]);
        df += ((double)yf->data.f[i] - yr->data.f[i]) * ((double)yf->data.f[i] - yr->data.f[i]);
    }
    assert_true(di != df); /* the two simulations do differ here */
    qdb_probe *p = qdb_probe_new(g, d, 0, 16, &e);
    assert_non_null(p);
    qdb_probe_score sc;
    assert_int_equal(qdb_probe_run(p, q, &sc, &e), QDB_OK);
    assert_float_equal(sc.sqnr_db, 10.0 * log10(xx / di), 1e-9);
    /* quantization off for the first Conv's input: its plan goes */
    q->layers[0].act.enabled = 0;
    if (qdb_qmodel_quantize(q, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    planned = 0;
    for (int i = 0; i < q->gq->n_nodes; i++)
        if (!strcmp(q->gq->nodes[i].op_type, "Conv"))
            planned += qdb_qmodel_conv_q8(q, q->gq, i) != NULL;
    assert_int_equal(planned, 1);
    qdb_probe_free(p);
    qdb_tensor_free(yi);
    qdb_tensor_free(yf);
    qdb_tensor_free(yr);
    qdb_qmodel_free(q);
    qdb_dataset_free(d);
    qdb_tensor_free(x);
    qdb_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_sums),
        cmocka_unit_test(test_matches_float_conv),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_hostile_input),
        cmocka_unit_test(test_nan_runs_in_float),
        cmocka_unit_test(test_simulation_plans),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
