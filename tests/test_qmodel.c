/* test_qmodel.c - the quantization pipeline on small hand-built models:
 * the graph rewrites keep the float function (BatchNorm folding with
 * channel equalization, ReLU bound to a power of two, shift-negative
 * correction with its padding), bias correction reduces the output shift
 * that weight quantization causes, fused groups form as MCT forms them,
 * and the simulated network's output equals a quantization worked out by
 * hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "model_builder.h"
#include "npy.h"
#include "onnx_import.h"
#include "kernels.h"
#include "qmodel.h"
#include "quant_fixtures.h"
#include "tmpdir.h"

/* the helpers of tests/support/quant_fixtures.h, under short names */
#define urand qf_urand
#define fill qf_fill
#define load qf_load
#define run qf_run
#define rel_diff qf_rel_diff
#define random_input qf_random_input
#define dataset_of(name, x) qf_dataset(name, x, NULL)

static int count_ops(const qdb_graph *g, const char *op)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        k += !strcmp(g->nodes[i].op_type, op);
    return k;
}

/* Conv(3->4, 3x3, pad 1) -> BN -> Relu -> Conv(4->5, 3x3 pad 1) */
static qdb_graph *conv_bn_model(void)
{
    mb *m = mb_new(13);
    int64_t in[4] = {MB_N, 3, 6, 6};
    mb_input(m, "x", MB_FLOAT, 4, in);
    float w1[4 * 3 * 9], b1[4], w2[5 * 4 * 9], sc[4], bb[4], mu[4], var[4];
    fill(w1, 108, 0.4f, 0);
    fill(b1, 4, 0.2f, 0);
    fill(w2, 180, 0.3f, 0);
    for (int k = 0; k < 4; k++) {
        sc[k] = 2.5f + (float)k; /* std of the ReLU above 1: equalization scales */
        bb[k] = 0.3f * (float)k - 0.2f;
        mu[k] = 0.1f * (float)k;
        var[k] = 0.5f + 0.25f * (float)k;
    }
    int64_t dw1[4] = {4, 3, 3, 3}, dc[1] = {4}, dw2[4] = {5, 4, 3, 3};
    mb_init_f(m, "w1", 4, dw1, w1);
    mb_init_f(m, "b1", 1, dc, b1);
    mb_init_f(m, "w2", 4, dw2, w2);
    mb_init_f(m, "sc", 1, dc, sc);
    mb_init_f(m, "bb", 1, dc, bb);
    mb_init_f(m, "mu", 1, dc, mu);
    mb_init_f(m, "var", 1, dc, var);
    int64_t pads[4] = {1, 1, 1, 1};
    mb_node(m, "Conv", "conv1", "x,w1,b1", "c1");
    mb_attr_ints(m, "pads", 4, pads);
    mb_node(m, "BatchNormalization", "bn1", "c1,sc,bb,mu,var", "n1");
    mb_node(m, "Relu", "relu1", "n1", "r1");
    mb_node(m, "Conv", "conv2", "r1,w2", "y");
    mb_attr_ints(m, "pads", 4, pads);
    mb_output(m, "y");
    return load(m);
}

static void test_bn_fold_and_equalization_keep_the_function(void **state)
{
    (void)state;
    qdb_graph *g = conv_bn_model();
    qdb_err e = {0};
    for (int eq = 0; eq < 2; eq++) {
        qdb_quant_config c;
        qdb_quant_config_init(&c);
        c.activation_channel_equalization = eq;
        qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
        if (!q)
            fail_msg("%s", e.msg);
        assert_int_equal(q->n_bn_folded, 1);
        assert_int_equal(q->n_equalized, eq);
        assert_int_equal(count_ops(q->g0, "BatchNormalization"), 0);
        assert_int_equal(count_ops(g, "BatchNormalization"), 1); /* the source is untouched */
        qdb_tensor *x = random_input(3, 3, 6, 6, 1.0f, 0.0f);
        qdb_tensor *a = run(g, x), *b = run(q->g0, x);
        assert_true(rel_diff(a, b) < 1e-5);
        /* one layer per fused group: input, Conv+Relu (BN folded), Conv */
        assert_int_equal(q->n_layers, 3);
        assert_string_equal(q->layers[1].op, "Conv+Relu");
        assert_string_equal(q->layers[2].op, "Conv");
        qdb_tensor_free(x);
        qdb_tensor_free(a);
        qdb_tensor_free(b);
        qdb_qmodel_free(q);
    }
    qdb_graph_free(g);
}

static void test_relu_bound_keeps_the_function(void **state)
{
    (void)state;
    mb *m = mb_new(13);
    int64_t in[4] = {MB_N, 2, 5, 5};
    mb_input(m, "x", MB_FLOAT, 4, in);
    float w1[3 * 2], b1[3], w2[2 * 3], lo = 0, hi = 6;
    fill(w1, 6, 3.0f, 0);
    fill(b1, 3, 1.0f, 1.0f);
    fill(w2, 6, 0.5f, 0);
    int64_t dw1[4] = {3, 2, 1, 1}, dc[1] = {3}, dw2[4] = {2, 3, 1, 1};
    mb_init_f(m, "w1", 4, dw1, w1);
    mb_init_f(m, "b1", 1, dc, b1);
    mb_init_f(m, "w2", 4, dw2, w2);
    mb_init_f(m, "lo", 0, NULL, &lo);
    mb_init_f(m, "hi", 0, NULL, &hi);
    mb_node(m, "Conv", "conv1", "x,w1,b1", "c1");
    mb_node(m, "Clip", "relu6", "c1,lo,hi", "r1");
    mb_node(m, "Conv", "conv2", "r1,w2", "y");
    mb_output(m, "y");
    qdb_graph *g = load(m);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    c.relu_unbound_correction = 1;
    qdb_err e = {0};
    qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
    if (!q)
        fail_msg("%s", e.msg);
    assert_int_equal(q->n_relu_rebound, 1);
    /* the bound is now 8 */
    int clip = -1;
    for (int i = 0; i < q->g0->n_nodes; i++)
        if (!strcmp(q->g0->nodes[i].op_type, "Clip"))
            clip = i;
    assert_true(clip >= 0);
    assert_float_equal(q->g0->values[q->g0->nodes[clip].in[2]].constant->data.f[0], 8.0f, 0);
    qdb_tensor *x = random_input(4, 2, 5, 5, 2.0f, 0.5f);
    qdb_tensor *a = run(g, x), *b = run(q->g0, x);
    assert_true(rel_diff(a, b) < 1e-5);
    qdb_tensor_free(x);
    qdb_tensor_free(a);
    qdb_tensor_free(b);
    qdb_qmodel_free(q);
    qdb_graph_free(g);
}

/* Conv(2->4, 1x1) -> PRelu(0.02) -> [Pad 1] -> Conv(4->3, 3x3, pads p) */
static qdb_graph *prelu_model(int explicit_pad)
{
    mb *m = mb_new(13);
    int64_t in[4] = {MB_N, 2, 6, 6};
    mb_input(m, "x", MB_FLOAT, 4, in);
    float w1[8], b1[4], slope[4], w2[3 * 4 * 9], b2[3];
    fill(w1, 8, 1.0f, 0);
    fill(b1, 4, 0.5f, 0.5f);
    for (int k = 0; k < 4; k++)
        slope[k] = 0.02f;
    fill(w2, 108, 0.3f, 0.05f);
    fill(b2, 3, 0.1f, 0);
    int64_t dw1[4] = {4, 2, 1, 1}, d4[1] = {4}, ds[3] = {4, 1, 1}, dw2[4] = {3, 4, 3, 3},
            d3[1] = {3};
    mb_init_f(m, "w1", 4, dw1, w1);
    mb_init_f(m, "b1", 1, d4, b1);
    mb_init_f(m, "slope", 3, ds, slope);
    mb_init_f(m, "w2", 4, dw2, w2);
    mb_init_f(m, "b2", 1, d3, b2);
    mb_node(m, "Conv", "conv1", "x,w1,b1", "c1");
    mb_node(m, "PRelu", "prelu", "c1,slope", "p1");
    int64_t pads[4] = {1, 1, 1, 1};
    if (explicit_pad) {
        int64_t pp[8] = {0, 0, 1, 1, 0, 0, 1, 1}, dp[1] = {8};
        mb_init_i(m, "pp", 1, dp, pp);
        mb_node(m, "Pad", "pad", "p1,pp", "q1");
        mb_node(m, "Conv", "conv2", "q1,w2,b2", "y");
    } else {
        mb_node(m, "Conv", "conv2", "p1,w2,b2", "y");
        mb_attr_ints(m, "pads", 4, pads);
    }
    mb_output(m, "y");
    return load(m);
}

static void test_shift_negative_keeps_the_function(void **state)
{
    (void)state;
    for (int explicit_pad = 0; explicit_pad < 2; explicit_pad++) {
        qdb_graph *g = prelu_model(explicit_pad);
        qdb_err e = {0};
        qdb_quant_config c;
        qdb_quant_config_init(&c);
        qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
        if (!q)
            fail_msg("%s", e.msg);
        qdb_tensor *x = random_input(64, 2, 6, 6, 1.0f, 0.0f);
        qdb_dataset *d = dataset_of("prelu.npy", x);
        if (qdb_qmodel_calibrate(q, d, NULL, &e) != QDB_OK || qdb_qmodel_quantize(q, &e) != QDB_OK)
            fail_msg("%s", e.msg);
        assert_int_equal(q->n_snc, 1);
        int L = qdb_qmodel_find_layer(q, "conv1");
        assert_true(L >= 0);
        const qdb_qlayer *l = &q->layers[L];
        assert_string_equal(l->op, "Conv+PRelu");
        assert_true(l->snc_applied);
        assert_int_equal(l->act_qp.n_bits, 16); /* the unshifted output moves to 16 bits */
        assert_true(l->act_signed);
        /* ... keeping the threshold its 8-bit search chose */
        assert_float_equal(l->act_qp.threshold, l->thr_by_method[QDB_EM_MSE], 0);
        /* the consumer is not on the shifted path: still signed */
        int C = qdb_qmodel_find_layer(q, "conv2");
        assert_true(C >= 0 && q->layers[C].act_signed && q->layers[C].out_shift == 0);
        const qdb_qlayer *s = &q->layers[l->snc_layer];
        assert_int_equal(s->shift_of, L);
        assert_int_equal(l->snc_layer, L + 1); /* listed right after its layer */
        assert_false(s->act_signed);
        assert_int_equal(s->act_qp.n_bits, 8);
        /* the shift: smallest grid point s of [0, t) with s + min >= 0 */
        double t = l->thr_by_method[QDB_EM_MSE] > 0 ? s->act_qp.threshold : 0;
        double step = t / 256.0, mn = qdb_histogram_nz_min(l->hist);
        assert_true(l->snc_shift + mn >= 0);
        assert_true(l->snc_shift - step + mn < 0);
        assert_float_equal(fmod(l->snc_shift, step), 0.0, 1e-12);
        /* the float graph with the shift computes the same function */
        qdb_tensor *a = run(g, x), *b = run(q->g, x);
        assert_true(rel_diff(a, b) < 1e-5);
        assert_int_equal(count_ops(q->g, "Pad"), 1);
        qdb_tensor_free(a);
        qdb_tensor_free(b);
        /* quantizing again from the same statistics gives the same result */
        double shift = l->snc_shift;
        assert_int_equal(qdb_qmodel_quantize(q, &e), QDB_OK);
        assert_int_equal(q->n_snc, 1);
        assert_float_equal(q->layers[qdb_qmodel_find_layer(q, "conv1")].snc_shift, shift, 0);
        qdb_dataset_free(d);
        qdb_tensor_free(x);
        qdb_qmodel_free(q);
        qdb_graph_free(g);
    }
}

/* Input -> PRelu(0.02) -> Conv 1x1: half the values sit just under the
 * threshold 4, so MCT's default shift pushes them past it (clipped); the
 * parameter search must find a cheaper shift or threshold. */
static void test_shift_negative_params_search(void **state)
{
    (void)state;
    mb *m = mb_new(13);
    int64_t in[4] = {MB_N, 1, 4, 4};
    mb_input(m, "x", MB_FLOAT, 4, in);
    float slope = 0.02f, w = 0.5f;
    int64_t d1[1] = {1}, dw[4] = {1, 1, 1, 1};
    mb_init_f(m, "slope", 1, d1, &slope);
    mb_init_f(m, "w", 4, dw, &w);
    mb_node(m, "PRelu", "prelu", "x,slope", "p");
    mb_node(m, "Conv", "conv", "p,w", "y");
    mb_output(m, "y");
    qdb_graph *g = load(m);
    qdb_tensor *x = random_input(64, 1, 4, 4, 1.0f, 0.0f);
    for (size_t i = 0; i < x->numel; i++)
        x->data.f[i] = i % 2 ? 3.98f : (float)(urand() * 5.0 - 2.5); /* min -0.05 after PRelu */
    qdb_dataset *d = dataset_of("search.npy", x);
    double shift[2], thr[2], err[2];
    for (int search = 0; search < 2; search++) {
        qdb_quant_config c;
        qdb_quant_config_init(&c);
        c.shift_negative_params_search = search;
        qdb_err e = {0};
        qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
        assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
        if (qdb_qmodel_calibrate(q, d, NULL, &e) != QDB_OK || qdb_qmodel_quantize(q, &e) != QDB_OK)
            fail_msg("%s", e.msg);
        assert_int_equal(q->n_snc, 1);
        const qdb_qlayer *l = &q->layers[qdb_qmodel_find_layer(q, "prelu")];
        shift[search] = l->snc_shift;
        thr[search] = l->snc_threshold;
        /* the squared error of the shifted tensor, from the raw values */
        double t = thr[search], step = t / 256, s2 = 0;
        for (size_t i = 0; i < x->numel; i++) {
            double v = x->data.f[i] > 0 ? x->data.f[i] : 0.02 * x->data.f[i];
            v += shift[search];
            double k = fmin(fmax(nearbyint(v / step), 0), 255);
            s2 += (k * step - v) * (k * step - v);
        }
        err[search] = s2;
        qdb_qmodel_free(q);
    }
    assert_float_equal(thr[0], 4.0, 0);
    assert_float_equal(shift[0], 4.0 / 256 * 4, 1e-12); /* ceil(0.05 / step) = 4 steps */
    assert_true(shift[1] != shift[0] || thr[1] != thr[0]);
    assert_true(err[1] < err[0]);
    qdb_dataset_free(d);
    qdb_tensor_free(x);
    qdb_graph_free(g);
}

/* Mean over the samples of (quantized - float) output, summed |.| over channels. */
static double mean_shift(qdb_qmodel *q, const qdb_tensor *x)
{
    qdb_tensor *a = run(q->g, x), *b = run(q->gq, x);
    int64_t n = a->shape.d[0], ch = a->shape.d[1];
    size_t plane = a->numel / (size_t)(n * ch);
    double total = 0;
    for (int64_t c = 0; c < ch; c++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++)
            for (size_t k = 0; k < plane; k++) {
                size_t idx = ((size_t)(i * ch + c)) * plane + k;
                s += (double)b->data.f[idx] - a->data.f[idx];
            }
        total += fabs(s / (double)(n * (int64_t)plane));
    }
    qdb_tensor_free(a);
    qdb_tensor_free(b);
    return total;
}

static void test_bias_correction_reduces_the_output_shift(void **state)
{
    (void)state;
    mb *m = mb_new(13);
    int64_t in[4] = {MB_N, 4, 6, 6};
    mb_input(m, "x", MB_FLOAT, 4, in);
    float w[8 * 4 * 9];
    fill(w, 288, 0.5f, 0.02f);
    int64_t dw[4] = {8, 4, 3, 3};
    mb_init_f(m, "w", 4, dw, w);
    mb_node(m, "Conv", "conv", "x,w", "y");
    mb_output(m, "y");
    qdb_graph *g = load(m);
    qdb_tensor *x = random_input(64, 4, 6, 6, 1.0f, 3.0f); /* inputs far from zero mean */
    qdb_dataset *d = dataset_of("bias.npy", x);
    double shift[2];
    for (int bc = 0; bc < 2; bc++) {
        qdb_quant_config c;
        qdb_quant_config_init(&c);
        c.enable_activation_quantization = 0;
        c.weights_n_bits = 3;
        c.weights_per_channel_threshold = 0;
        c.weights_bias_correction = bc;
        qdb_err e = {0};
        qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
        assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
        if (qdb_qmodel_calibrate(q, d, NULL, &e) != QDB_OK || qdb_qmodel_quantize(q, &e) != QDB_OK)
            fail_msg("%s", e.msg);
        shift[bc] = mean_shift(q, x);
        qdb_qmodel_free(q);
    }
    assert_true(shift[0] > 0);
    assert_true(shift[1] < 0.1 * shift[0]);
    qdb_dataset_free(d);
    qdb_tensor_free(x);
    qdb_graph_free(g);
}

static float q_pot(float x, double t, int is_signed, int bits)
{
    double step = t / pow(2.0, bits - is_signed);
    double lo = is_signed ? -t : 0, hi = t - step;
    double v = nearbyint(x / step) * step;
    return (float)fmin(fmax(v, lo), hi);
}

static void test_simulated_network_by_hand(void **state)
{
    (void)state;
    mb *m = mb_new(13);
    int64_t in[4] = {MB_N, 1, 4, 4};
    mb_input(m, "x", MB_FLOAT, 4, in);
    mb_node(m, "Relu", "relu", "x", "y");
    mb_output(m, "y");
    qdb_graph *g = load(m);
    qdb_tensor *x = random_input(32, 1, 4, 4, 1.0f, 0.0f);
    for (size_t i = 0; i < x->numel; i++)
        x->data.f[i] = (float)(urand() * 6.0 - 3.0); /* [-3, 3) */
    x->data.f[0] = 2.9f;
    qdb_dataset *d = dataset_of("relu.npy", x);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    c.activation_error_method = QDB_EM_NOCLIPPING;
    qdb_err e = {0};
    qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
    if (qdb_qmodel_calibrate(q, d, NULL, &e) != QDB_OK || qdb_qmodel_quantize(q, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(q->n_layers, 2);
    /* no clipping: the power of two above max |x| (< 3) is 4; the input is
     * signed (step 4/128), the ReLU output unsigned (step 4/256) */
    assert_float_equal(q->layers[0].act_qp.threshold, 4.0, 0);
    assert_true(q->layers[0].act_signed);
    assert_float_equal(q->layers[1].act_qp.threshold, 4.0, 0);
    assert_false(q->layers[1].act_signed);
    qdb_eval_opts o = {0};
    qdb_qmodel_eval_opts(q, &o);
    qdb_exec *ex = qdb_exec_new(q->gq, &e);
    qdb_exec_set_hook(ex, o.hook, o.hook_user);
    qdb_exec_hook_inputs(ex, o.hook_inputs);
    qdb_tensor *y = NULL;
    float x0 = x->data.f[3];
    assert_int_equal(qdb_exec_run(ex, (const qdb_tensor *const *)&x, &y, &e), QDB_OK);
    assert_float_equal(x->data.f[3], x0, 0); /* the caller's input is left alone */
    for (size_t i = 0; i < x->numel; i++) {
        float qi = q_pot(x->data.f[i], 4.0, 1, 8);
        float want = q_pot(qi > 0 ? qi : 0, 4.0, 0, 8);
        assert_float_equal(y->data.f[i], want, 0);
    }
    qdb_tensor_free(y);
    qdb_exec_free(ex);
    /* the per-layer figures: the ReLU layer's own error is its rounding alone */
    assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
    assert_int_equal(qdb_qmodel_measure(q, d, 0, NULL, &e), QDB_OK);
    double num = 0, den = 0;
    for (size_t i = 0; i < x->numel; i++) {
        double f = x->data.f[i] > 0 ? x->data.f[i] : 0;
        double qv = q_pot((float)f, 4.0, 0, 8);
        num += f * f;
        den += (f - qv) * (f - qv);
    }
    assert_true(q->layers[1].m.valid);
    assert_float_equal(q->layers[1].m.sqnr_own_db, 10 * log10(num / den), 1e-6);
    assert_true(q->layers[1].m.sqnr_db < q->layers[1].m.sqnr_own_db + 1e-9);
    assert_float_equal(q->layers[1].m.clipped_fraction, 0.0, 0);
    /* batches of 5 (the last one short) on one worker and on three: the
     * same figures to the bit, and the same as one batch to rounding */
    qdb_run_opts ro = {.batch = 5};
    qdb_layer_metrics one[2], three[2];
    for (int t = 1; t <= 3; t += 2) {
        qdb_kernels_set_threads(t);
        assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
        assert_int_equal(qdb_qmodel_measure(q, d, 0, &ro, &e), QDB_OK);
        for (int l = 0; l < 2; l++)
            (t == 1 ? one : three)[l] = q->layers[l].m;
    }
    qdb_kernels_set_threads(0);
    for (int l = 0; l < 2; l++) {
        const double a[] = {one[l].sqnr_db, one[l].cosine, one[l].mse, one[l].sqnr_own_db,
                            one[l].cosine_own, one[l].mse_own, one[l].clipped_fraction};
        const double b[] = {three[l].sqnr_db, three[l].cosine, three[l].mse,
                            three[l].sqnr_own_db, three[l].cosine_own, three[l].mse_own,
                            three[l].clipped_fraction};
        assert_memory_equal(a, b, sizeof a);
        assert_int_equal(one[l].values, three[l].values);
        assert_int_equal(one[l].valid, three[l].valid);
    }
    assert_float_equal(one[1].sqnr_own_db, 10 * log10(num / den), 1e-6);
    assert_int_equal(one[1].values, (int64_t)x->numel);
    qdb_qmodel_free(q);
    qdb_dataset_free(d);
    qdb_tensor_free(x);
    qdb_graph_free(g);
}

/* Two convolutions sharing one kernel and one bias, the second reading
 * the first through a LeakyRelu (shift-negative correction copies the
 * kernel in g): each layer quantizes its own copy of the kernel and corrects
 * its own bias; the model has two outputs; NaN data is refused. */
static void test_shared_constants_and_two_outputs(void **state)
{
    (void)state;
    mb *m = mb_new(13);
    int64_t in[4] = {MB_N, 3, 5, 5};
    mb_input(m, "x", MB_FLOAT, 4, in);
    float w[3 * 3 * 9], b[3];
    fill(w, 81, 0.4f, 0.0f);
    fill(b, 3, 0.3f, 0.0f);
    int64_t dw[4] = {3, 3, 3, 3}, db[1] = {3}, pads[4] = {1, 1, 1, 1};
    mb_init_f(m, "W", 4, dw, w);
    mb_init_f(m, "B", 1, db, b);
    mb_node(m, "Conv", "conv1", "x,W,B", "c1");
    mb_attr_ints(m, "pads", 4, pads);
    mb_node(m, "LeakyRelu", "leaky", "c1", "a1");
    mb_attr_f(m, "alpha", 0.01f);
    mb_node(m, "Conv", "conv2", "a1,W,B", "y");
    mb_attr_ints(m, "pads", 4, pads);
    mb_node(m, "Sigmoid", "gate", "y", "z");
    mb_output(m, "y");
    mb_output(m, "z");
    qdb_graph *g = load(m);
    qdb_tensor *x = random_input(32, 3, 5, 5, 1.0f, 0.5f);
    qdb_dataset *d = dataset_of("shared.npy", x);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    c.shift_negative_ratio = 0.5;
    qdb_err e = {0};
    qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
    for (int rep = 0; rep < 2; rep++) { /* calibrating again starts clean */
        assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
        if (qdb_qmodel_calibrate(q, d, NULL, &e) != QDB_OK || qdb_qmodel_quantize(q, &e) != QDB_OK)
            fail_msg("%s", e.msg);
    }
    assert_int_equal(q->n_snc, 1);
    int L1 = qdb_qmodel_find_layer(q, "conv1"), L2 = qdb_qmodel_find_layer(q, "conv2");
    assert_true(L1 >= 0 && L2 >= 0);
    const qdb_qlayer *l1 = &q->layers[L1], *l2 = &q->layers[L2];
    assert_true(l1->w_value != l2->w_value);
    assert_true(l1->b_value != l2->b_value);
    /* every kernel entry of each layer sits on that layer's own grid */
    for (int k = 0; k < 2; k++) {
        const qdb_qlayer *l = k ? l2 : l1;
        const qdb_tensor *wq = q->gq->values[l->w_value].constant;
        for (int o = 0; o < 3; o++) {
            qdb_qgrid grid = qdb_qgrid_make(&l->w_qp[o]);
            for (int i = 0; i < 27; i++) {
                float v = wq->data.f[o * 27 + i];
                assert_float_equal(v, qdb_quantize1(&grid, v), 0);
            }
        }
        int node = q->gq->values[l->anchor_value].producer;
        assert_int_equal(q->gq->nodes[node].in[1], l->w_value);
    }
    /* the source graph's shared constants are untouched */
    assert_memory_equal(g->values[qdb_graph_find_value(g, "W")].constant->data.f, w, sizeof w);
    assert_memory_equal(g->values[qdb_graph_find_value(g, "B")].constant->data.f, b, sizeof b);
    assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
    assert_int_equal(qdb_qmodel_measure(q, d, 8, NULL, &e), QDB_OK);
    qdb_dataset_free(d);
    /* NaN in the data: calibration says so and names the layer */
    x->data.f[7] = NAN;
    d = dataset_of("nan.npy", x);
    assert_int_equal(qdb_qmodel_calibrate(q, d, NULL, &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "non-finite"));
    assert_false(q->calibrated);
    assert_int_equal(qdb_qmodel_quantize(q, &e), QDB_ERR_INVALID);
    qdb_dataset_free(d);
    qdb_tensor_free(x);
    qdb_qmodel_free(q);
    qdb_graph_free(g);
}

/* x*Sigmoid(x) after a Conv is one Conv+Swish layer; after an Add with two
 * readers it stands alone as Swish; Sigmoid gets the (0, 1) range. */
static void test_fused_groups(void **state)
{
    (void)state;
    mb *m = mb_new(13);
    int64_t in[4] = {MB_N, 2, 3, 3};
    mb_input(m, "x", MB_FLOAT, 4, in);
    float w[4] = {1, 0, 0, 1};
    int64_t dw[4] = {2, 2, 1, 1};
    mb_init_f(m, "w", 4, dw, w);
    mb_node(m, "Conv", "conv", "x,w", "c");
    mb_node(m, "Sigmoid", "sig", "c", "s");
    mb_node(m, "Mul", "swish", "c,s", "a");
    mb_node(m, "Add", "add", "a,x", "b");
    mb_node(m, "Sigmoid", "sig2", "b", "s2");
    mb_node(m, "Mul", "swish2", "s2,b", "z");
    mb_node(m, "Add", "add2", "z,b", "u");
    mb_node(m, "Flatten", "flat", "u", "f");
    mb_node(m, "Sigmoid", "gate", "f", "y");
    mb_output(m, "y");
    qdb_graph *g = load(m);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    qdb_err e = {0};
    qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
    if (!q)
        fail_msg("%s", e.msg);
    const char *want[] = {"Input", "Conv+Swish", "Add", "Swish", "Add", "Sigmoid"};
    assert_int_equal(q->n_layers, 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(q->layers[i].op, want[i]);
    assert_int_equal(q->layers[5].range, QDB_RANGE_UNIT);
    assert_int_equal(q->layers[1].range, QDB_RANGE_FREE);
    assert_true(q->layers[1].w_value >= 0);
    assert_int_equal(q->layers[1].w_channels, 2);
    qdb_qmodel_free(q);
    qdb_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bn_fold_and_equalization_keep_the_function),
        cmocka_unit_test(test_relu_bound_keeps_the_function),
        cmocka_unit_test(test_shift_negative_keeps_the_function),
        cmocka_unit_test(test_shift_negative_params_search),
        cmocka_unit_test(test_bias_correction_reduces_the_output_shift),
        cmocka_unit_test(test_simulated_network_by_hand),
        cmocka_unit_test(test_fused_groups),
        cmocka_unit_test(test_shared_constants_and_two_outputs),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
