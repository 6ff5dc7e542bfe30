/* test_exec.c - the executor's x * gate(x) fusion (bit-identical to the
 * unfused nodes, applied only where the gate's output has no other reader
 * and the caller allows it), its Conv groups (a folded Pad and a pointwise
 * chain with the hook's own pointwise work, bit-identical to the nodes run
 * one by one; a value the hook must see ends the group) and the ordered
 * batch pipeline (finish in
 * order whatever the workers' timing, errors and cancellation stop it and
 * discard what is in flight). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "executor.h"
#include "kernels.h"
#include "onnx_import.h"
#include "pipeline.h"
#include "support/model_builder.h"
#include "support/quant_fixtures.h"

/* x -> SiLU (Sigmoid, Mul(x, s)) -> Hardswish (HardSigmoid alpha 1/6,
 * Mul(s, x), operands swapped) -> y; plus, when `shared`, a second reader
 * of the first gate's output (s1 also goes to output z), which must keep
 * that pair unfused. */
static qdb_graph *gated_model(int shared)
{
    mb *m = mb_new(13);
    int64_t d[2] = {MB_N, 37};
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_node(m, "Sigmoid", "sig", "x", "s1");
    mb_node(m, "Mul", "silu", "x,s1", "a");
    mb_node(m, "HardSigmoid", "hsig", "a", "s2");
    mb_attr_f(m, "alpha", 1.0f / 6.0f);
    mb_attr_f(m, "beta", 0.5f);
    mb_node(m, "Mul", "hswish", "s2,a", "y");
    mb_output(m, "y");
    if (shared) {
        mb_node(m, "Neg", "neg", "s1", "z");
        mb_output(m, "z");
    }
    return qf_load(m);
}

/* Values over the whole float range that matters: tiny, huge, both signs,
 * both saturations of the gates, and their boundaries. */
static qdb_tensor *gated_input(int64_t n)
{
    int64_t d[2] = {n, 37};
    qdb_tensor *x = qdb_tensor_new_dims(QDB_F32, 2, d, NULL);
    assert_non_null(x);
    const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 3.0f, -3.0f, 2.9999998f, -3.0000002f,
                             88.0f, -88.0f, 100.0f, -100.0f, 1e30f, -1e30f, 0.5f, -0.5f};
    uint32_t r = 12345;
    for (size_t i = 0; i < x->numel; i++) {
        r = r * 1664525u + 1013904223u;
        x->data.f[i] = i < sizeof special / sizeof special[0]
                           ? special[i]
                           : ((float)(r >> 8) / 16777216.0f - 0.5f) * 24.0f;
    }
    return x;
}

typedef struct {
    int calls[16]; /* hook calls per node */
} seen_t;

static int count_hook(void *user, const qdb_graph *g, int node, int slot, qdb_tensor *t)
{
    (void)g;
    (void)slot;
    (void)t;
    seen_t *s = user;
    if (node >= 0 && node < 16)
        s->calls[node]++;
    return 0;
}

static int skip_all(void *user, const qdb_graph *g, int v)
{
    (void)user;
    (void)g;
    (void)v;
    return 1;
}

static int skip_none(void *user, const qdb_graph *g, int v)
{
    (void)user;
    (void)g;
    (void)v;
    return 0;
}

/* Run g on x with fusion on or off; returns the outputs (n_outputs). */
static void run(qdb_graph *g, const qdb_tensor *x, int fuse, qdb_exec_skippable sk, seen_t *seen,
                qdb_tensor **outs)
{
    qdb_err e = {0};
    qdb_exec *ex = qdb_exec_new(g, &e);
    assert_non_null(ex);
    if (seen)
        qdb_exec_set_hook(ex, count_hook, seen);
    qdb_exec_set_fusion(ex, fuse, sk, NULL);
    if (qdb_exec_run(ex, &x, outs, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    qdb_exec_free(ex);
}

static int node_index(const qdb_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name))
            return i;
    fail_msg("no node %s", name);
    return -1;
}

static void test_fusion_bit_identical(void **state)
{
    (void)state;
    qdb_graph *g = gated_model(0);
    qdb_tensor *x = gated_input(33);
    qdb_tensor *plain[1], *fused[1];
    seen_t s_plain = {{0}}, s_fused = {{0}};
    run(g, x, 0, NULL, &s_plain, plain);
    run(g, x, 1, skip_all, &s_fused, fused);
    assert_int_equal(plain[0]->numel, fused[0]->numel);
    assert_memory_equal(plain[0]->data.f, fused[0]->data.f, plain[0]->numel * sizeof(float));
    /* and the reference by hand, in double: x*sig(x), then a*clamp(a/6+.5) */
    for (size_t i = 0; i < x->numel; i++) {
        double v = x->data.f[i], a = v / (1.0 + exp(-v));
        double h = a / 6.0 + 0.5;
        double want = a * (h < 0 ? 0 : h > 1 ? 1 : h);
        double got = fused[0]->data.f[i];
        if (fabs(got - want) > 1e-5 * fabs(want) + 1e-30)
            fail_msg("x=%g: %g, want %g", v, got, want);
    }
    /* the gates were skipped (no hook call), the Muls hooked once each */
    int sig = node_index(g, "sig"), hsig = node_index(g, "hsig");
    int silu = node_index(g, "silu"), hswish = node_index(g, "hswish");
    assert_int_equal(s_plain.calls[sig], 1);
    assert_int_equal(s_fused.calls[sig], 0);
    assert_int_equal(s_fused.calls[hsig], 0);
    assert_int_equal(s_fused.calls[silu], 1);
    assert_int_equal(s_fused.calls[hswish], 1);
    /* a caller that needs the gate outputs keeps them */
    seen_t s_kept = {{0}};
    qdb_tensor *kept[1];
    run(g, x, 1, skip_none, &s_kept, kept);
    assert_int_equal(s_kept.calls[sig], 1);
    assert_memory_equal(plain[0]->data.f, kept[0]->data.f, plain[0]->numel * sizeof(float));
    qdb_tensor_free(plain[0]);
    qdb_tensor_free(fused[0]);
    qdb_tensor_free(kept[0]);
    qdb_tensor_free(x);
    qdb_graph_free(g);
}

static void test_fusion_needs_sole_reader(void **state)
{
    (void)state;
    qdb_graph *g = gated_model(1);
    qdb_tensor *x = gated_input(5);
    qdb_tensor *plain[2], *fused[2];
    seen_t sp = {{0}}, sf = {{0}};
    run(g, x, 0, NULL, &sp, plain);
    run(g, x, 1, NULL, &sf, fused);
    for (int k = 0; k < 2; k++)
        assert_memory_equal(plain[k]->data.f, fused[k]->data.f, plain[k]->numel * sizeof(float));
    /* s1 has two readers: Sigmoid ran; the HardSigmoid pair still fused */
    assert_int_equal(sf.calls[node_index(g, "sig")], 1);
    assert_int_equal(sf.calls[node_index(g, "hsig")], 0);
    for (int k = 0; k < 2; k++) {
        qdb_tensor_free(plain[k]);
        qdb_tensor_free(fused[k]);
    }
    qdb_tensor_free(x);
    qdb_graph_free(g);
}

/* ---- Conv groups ---- */

/* A seeded value in [-scale/2, scale/2) (the tests' own generator). */
static float lcg(uint32_t *r, float scale)
{
    *r = *r * 1664525u + 1013904223u;
    return ((float)(*r >> 8) / 16777216.0f - 0.5f) * scale;
}


/* x [N,6,H,H] -> Pad (1 each side, value 0.37) -> depthwise 3x3 Conv
 * (stride S) -> SiLU -> Add 0.25 -> PRelu (per channel) -> 1x1 Conv to 5
 * channels -> Hardswish -> Mul by a per-channel constant -> Relu -> Clip
 * to [0.05, 0.8] -> y. */
static qdb_graph *conv_chain_model(int64_t H, int64_t S)
{
    mb *m = mb_new(13);
    int64_t d[4] = {MB_N, 6, H, H};
    mb_input(m, "x", MB_FLOAT, 4, d);
    const int64_t pads[8] = {0, 0, 1, 1, 0, 0, 1, 1}, npads = 8, one = 1;
    const float pv = 0.37f, shift = 0.25f;
    mb_init_i(m, "pads", 1, &npads, pads);
    mb_init_f(m, "pv", 0, NULL, &pv);
    float w1[54], b1[6], slope[6], w2[30], b2[5], kc[5];
    uint32_t r = 777;
    float *all[] = {w1, b1, slope, w2, b2, kc};
    const int len[] = {54, 6, 6, 30, 5, 5};
    for (int a = 0; a < 6; a++)
        for (int i = 0; i < len[a]; i++)
            all[a][i] = lcg(&r, 2.0f);
    const int64_t dw1[4] = {6, 1, 3, 3}, d6 = 6, ds[3] = {6, 1, 1}, dw2[4] = {5, 6, 1, 1}, d5 = 5,
                  dk[4] = {1, 5, 1, 1};
    mb_init_f(m, "w1", 4, dw1, w1);
    mb_init_f(m, "b1", 1, &d6, b1);
    mb_init_f(m, "slope", 3, ds, slope);
    mb_init_f(m, "shift", 1, &one, &shift);
    mb_init_f(m, "w2", 4, dw2, w2);
    mb_init_f(m, "b2", 1, &d5, b2);
    mb_init_f(m, "kc", 4, dk, kc);
    mb_node(m, "Pad", "pad", "x,pads,pv", "xp");
    mb_node(m, "Conv", "dw", "xp,w1,b1", "c1");
    mb_attr_i(m, "group", 6);
    const int64_t st[2] = {S, S};
    mb_attr_ints(m, "strides", 2, st);
    mb_node(m, "Sigmoid", "sig", "c1", "s1");
    mb_node(m, "Mul", "silu", "c1,s1", "a1");
    mb_node(m, "Add", "add", "shift,a1", "a2");
    mb_node(m, "PRelu", "prelu", "a2,slope", "a3");
    mb_node(m, "Conv", "pw", "a3,w2,b2", "c2");
    mb_node(m, "HardSigmoid", "hsig", "c2", "s2");
    mb_node(m, "Mul", "hswish", "s2,c2", "a4");
    mb_node(m, "Mul", "scale", "a4,kc", "a5");
    mb_node(m, "Relu", "relu", "a5", "r");
    const float cmin = 0.05f, cmax = 0.8f;
    mb_init_f(m, "cmin", 0, NULL, &cmin);
    mb_init_f(m, "cmax", 0, NULL, &cmax);
    mb_node(m, "Clip", "clip", "r,cmin,cmax", "y");
    mb_output(m, "y");
    return qf_load(m);
}

/* n images of c channels, h x h, seeded */
static qdb_tensor *conv_input(int64_t n, int64_t c, int64_t h, uint32_t seed, float scale)
{
    int64_t d[4] = {n, c, h, h};
    qdb_tensor *x = qdb_tensor_new_dims(QDB_F32, 4, d, NULL);
    assert_non_null(x);
    for (size_t i = 0; i < x->numel; i++)
        x->data.f[i] = lcg(&seed, scale);
    return x;
}

/* A stand-in for fake quantization: round to eighths. */
static void eighths(const void *ctx, float *x, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        x[i] = nearbyintf(x[i] * 8.0f) / 8.0f;
}

typedef struct {
    seen_t seen;
    const qdb_graph *g;
    int opaque;          /* a value the pointwise form must not cover, -1 */
} round_hook_t;

/* Values the rounding hook leaves alone: the Pad's and the gates' outputs. */
static int round_skips(const qdb_graph *g, int v)
{
    const char *n = g->values[v].name;
    return !strcmp(n, "xp") || !strcmp(n, "s1") || !strcmp(n, "s2");
}

static int round_hook(void *user, const qdb_graph *g, int node, int slot, qdb_tensor *t)
{
    round_hook_t *h = user;
    count_hook(&h->seen, g, node, slot, t);
    int v = node < 0 ? g->inputs[slot] : g->nodes[node].out[slot];
    if (!round_skips(g, v))
        eighths(NULL, t->data.f, t->numel);
    return 0;
}

static int round_skippable(void *user, const qdb_graph *g, int v)
{
    (void)user;
    return round_skips(g, v);
}

static int round_pointwise(void *user, const qdb_graph *g, int v, qdb_pw_fn *fn,
                           const void **ctx)
{
    round_hook_t *h = user;
    *ctx = NULL;
    *fn = NULL;
    if (v == h->opaque)
        return 0;
    if (!round_skips(g, v))
        *fn = eighths;
    return 1;
}

/* fuse: 0 off, 1 on; hook: 0 none, 1 the rounding hook (pointwise form
 * offered when fuse) */
static qdb_tensor *run_chain(qdb_graph *g, const qdb_tensor *x, int fuse, int hook,
                             round_hook_t *h)
{
    qdb_err e = {0};
    qdb_exec *ex = qdb_exec_new(g, &e);
    assert_non_null(ex);
    if (hook) {
        qdb_exec_set_hook(ex, round_hook, h);
        qdb_exec_set_fusion(ex, fuse, round_skippable, h);
        qdb_exec_set_pointwise(ex, round_pointwise);
    } else {
        qdb_exec_set_fusion(ex, fuse, NULL, NULL);
    }
    qdb_tensor *y = NULL;
    if (qdb_exec_run_first(ex, &x, &y, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    /* a second run reuses the plan */
    qdb_tensor *y2 = NULL;
    if (qdb_exec_run_first(ex, &x, &y2, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    assert_memory_equal(y->data.f, y2->data.f, y->numel * sizeof(float));
    qdb_tensor_free(y2);
    qdb_exec_free(ex);
    return y;
}

static void test_conv_groups_bit_identical(void **state)
{
    (void)state;
    /* small planes (the bordered-buffer path) and large ones (a padded
     * copy), both strides */
    const int64_t cases[][2] = {{9, 1}, {9, 2}, {100, 1}, {101, 2}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        qdb_graph *g = conv_chain_model(cases[c][0], cases[c][1]);
        qdb_tensor *x = conv_input(3, 6, cases[c][0], 4242, 8.0f);
        /* no hook */
        qdb_tensor *plain = run_chain(g, x, 0, 0, NULL);
        qdb_tensor *fused = run_chain(g, x, 1, 0, NULL);
        assert_int_equal(plain->numel, fused->numel);
        assert_memory_equal(plain->data.f, fused->data.f, plain->numel * sizeof(float));
        /* the output is not trivially clipped */
        size_t inside = 0;
        for (size_t i = 0; i < plain->numel; i++)
            inside += plain->data.f[i] > 0.05f && plain->data.f[i] < 0.8f;
        assert_true(inside > plain->numel / 10);
        /* a rounding hook, whole tensors vs spans inside the groups */
        round_hook_t hp = {{{0}}, g, -1}, hf = {{{0}}, g, -1};
        qdb_tensor *rp = run_chain(g, x, 0, 1, &hp);
        qdb_tensor *rf = run_chain(g, x, 1, 1, &hf);
        assert_memory_equal(rp->data.f, rf->data.f, rp->numel * sizeof(float));
        assert_true(memcmp(rp->data.f, plain->data.f, rp->numel * sizeof(float)) != 0);
        /* every node ran inside one of the two groups: no hook call */
        int total = 0;
        for (int i = 0; i < 16; i++)
            total += hf.seen.calls[i];
        assert_int_equal(total, 0);
        assert_int_equal(hp.seen.calls[node_index(g, "clip")], 2);
        /* a value the hook must see whole (the Add's) ends the first group
         * there: the hook runs on it, once per run, and on the PRelu after
         * it, which no longer follows a Conv; SiLU stays inside */
        round_hook_t ho = {{{0}}, g, -1};
        ho.opaque = g->nodes[node_index(g, "add")].out[0];
        qdb_tensor *ro = run_chain(g, x, 1, 1, &ho);
        assert_memory_equal(rp->data.f, ro->data.f, rp->numel * sizeof(float));
        assert_int_equal(ho.seen.calls[node_index(g, "add")], 2);
        assert_int_equal(ho.seen.calls[node_index(g, "prelu")], 2);
        assert_int_equal(ho.seen.calls[node_index(g, "silu")], 0);
        qdb_tensor_free(plain);
        qdb_tensor_free(fused);
        qdb_tensor_free(rp);
        qdb_tensor_free(rf);
        qdb_tensor_free(ro);
        qdb_tensor_free(x);
        qdb_graph_free(g);
    }
}

/* A Conv whose K (64 channels x 3 x 3) spans several of sgemm's blocks,
 * with a bias and a chain (Relu, a scalar product); and an opset 6 Add
 * whose legacy broadcast (axis 0) lines its constant up with the batch,
 * not the channels, which must stay a node of its own. */
static qdb_graph *wide_model(int legacy)
{
    mb *m = mb_new(legacy ? 6 : 13);
    int64_t d[4] = {legacy ? 4 : MB_N, legacy ? 4 : 64, 5, 5};
    mb_input(m, "x", MB_FLOAT, 4, d);
    const int64_t cin = legacy ? 4 : 64, cout = legacy ? 4 : 16;
    float *w = malloc((size_t)(cout * cin * 9) * sizeof *w), b[16], half = 0.5f;
    assert_non_null(w);
    uint32_t r = 99;
    for (int64_t i = 0; i < cout * cin * 9; i++)
        w[i] = lcg(&r, 0.2f);
    for (int i = 0; i < 16; i++)
        b[i] = 0.01f * (float)(i + 1);
    const int64_t dw[4] = {cout, cin, 3, 3}, db = cout, pads[4] = {1, 1, 1, 1};
    mb_init_f(m, "w", 4, dw, w);
    mb_init_f(m, "b", 1, &db, b);
    free(w);
    mb_node(m, "Conv", "conv", "x,w,b", "c");
    mb_attr_ints(m, "pads", 4, pads);
    if (legacy) {
        const float k[4] = {10.0f, 20.0f, 30.0f, 40.0f};
        const int64_t dk[3] = {4, 1, 1};
        mb_init_f(m, "k", 3, dk, k);
        mb_node(m, "Add", "add", "c,k", "y");
        mb_attr_i(m, "broadcast", 1);
        mb_attr_i(m, "axis", 0);
    } else {
        mb_init_f(m, "half", 0, NULL, &half);
        mb_node(m, "Relu", "relu", "c", "a");
        mb_node(m, "Mul", "scale", "a,half", "y");
    }
    mb_output(m, "y");
    return qf_load(m);
}

static void test_conv_groups_wide_and_legacy(void **state)
{
    (void)state;
    for (int legacy = 0; legacy < 2; legacy++) {
        qdb_graph *g = wide_model(legacy);
        qdb_tensor *x = conv_input(4, legacy ? 4 : 64, 5, 7, 4.0f);
        qdb_tensor *plain = run_chain(g, x, 0, 0, NULL);
        qdb_tensor *fused = run_chain(g, x, 1, 0, NULL);
        assert_memory_equal(plain->data.f, fused->data.f, plain->numel * sizeof(float));
        if (legacy) /* image 0, channel 1 got image 0's constant */
            assert_true(fused->data.f[25] > 5.0f && fused->data.f[25] < 15.0f);
        qdb_tensor_free(plain);
        qdb_tensor_free(fused);
        qdb_tensor_free(x);
        qdb_graph_free(g);
    }
}

/* ---- pipeline ---- */

typedef struct {
    int64_t n_items, fail_fetch_at, fail_work_at, cancel_at;
    int64_t next_finish; /* the order check */
    int64_t sum;
    int out_of_order;
    int live;            /* items allocated and not yet freed */
    int used[64];        /* worker w ran an item (each writes its own entry) */
} pipe_test;

static qdb_status t_fetch(void *user, int64_t b, void **item, qdb_err *e)
{
    pipe_test *t = user;
    if (b == t->fail_fetch_at)
        return qdb_err_set(e, QDB_ERR_IO, "cannot read item %lld", (long long)b);
    if (b >= t->n_items)
        return QDB_OK;
    int64_t *v = malloc(sizeof *v);
    *v = b;
    t->live++;
    *item = v;
    return QDB_OK;
}

static qdb_status t_work(void *user, int w, int64_t b, void *item, qdb_err *e)
{
    pipe_test *t = user;
    assert_true(w >= 0 && w < 64);
    t->used[w] = 1;
    /* uneven work so that later items often complete first */
    struct timespec ts = {0, (long)((b * 7919) % 5) * 200000L};
    nanosleep(&ts, NULL);
    if (b == t->fail_work_at)
        return qdb_err_set(e, QDB_ERR_SHAPE, "item %lld does not fit", (long long)b);
    *(int64_t *)item = b * b;
    return QDB_OK;
}

static qdb_status t_finish(void *user, int64_t b, void *item, qdb_err *e)
{
    pipe_test *t = user;
    int64_t *v = item;
    if (b != t->next_finish || *v != b * b)
        t->out_of_order = 1;
    t->next_finish++;
    t->sum += *v;
    free(v);
    t->live--;
    if (b == t->cancel_at)
        return qdb_err_set(e, QDB_ERR_CANCELLED, "stopped at %lld", (long long)b);
    return QDB_OK;
}

static void t_discard(void *user, void *item)
{
    pipe_test *t = user;
    free(item);
    t->live--;
}

static const qdb_pipeline_fns t_fns = {t_fetch, t_work, t_finish, t_discard};

static void test_pipeline_order(void **state)
{
    (void)state;
    for (int workers = 1; workers <= 4; workers++) {
        pipe_test t = {.n_items = 200, .fail_fetch_at = -1, .fail_work_at = -1, .cancel_at = -1};
        qdb_err e = {0};
        assert_int_equal(qdb_pipeline_run(workers, &t_fns, &t, &e), QDB_OK);
        assert_false(t.out_of_order);
        assert_int_equal(t.next_finish, 200);
        assert_int_equal(t.sum, 199LL * 200 * 399 / 6); /* sum of squares 0..199 */
        assert_int_equal(t.live, 0);
        for (int w = workers; w < 64; w++)
            assert_int_equal(t.used[w], 0);
    }
}

static void test_pipeline_errors(void **state)
{
    (void)state;
    for (int workers = 1; workers <= 3; workers++) {
        qdb_err e = {0};
        pipe_test a = {.n_items = 100, .fail_fetch_at = 37, .fail_work_at = -1, .cancel_at = -1};
        assert_int_equal(qdb_pipeline_run(workers, &t_fns, &a, &e), QDB_ERR_IO);
        assert_string_equal(e.msg, "cannot read item 37");
        assert_int_equal(a.live, 0);
        assert_false(a.out_of_order);
        assert_true(a.next_finish <= 37);

        pipe_test b = {.n_items = 100, .fail_fetch_at = -1, .fail_work_at = 50, .cancel_at = -1};
        assert_int_equal(qdb_pipeline_run(workers, &t_fns, &b, &e), QDB_ERR_SHAPE);
        assert_string_equal(e.msg, "item 50 does not fit");
        assert_int_equal(b.live, 0);
        assert_true(b.next_finish <= 50); /* nothing from the failed item on */

        pipe_test c = {.n_items = 100, .fail_fetch_at = -1, .fail_work_at = -1, .cancel_at = 20};
        assert_int_equal(qdb_pipeline_run(workers, &t_fns, &c, &e), QDB_ERR_CANCELLED);
        assert_int_equal(c.next_finish, 21); /* finish stops right after the cancel */
        assert_int_equal(c.live, 0);
    }
    /* the kernels' thread count is restored afterwards */
    int before = qdb_kernels_threads();
    pipe_test t = {.n_items = 10, .fail_fetch_at = -1, .fail_work_at = -1, .cancel_at = -1};
    qdb_err e = {0};
    assert_int_equal(qdb_pipeline_run(2, &t_fns, &t, &e), QDB_OK);
    assert_int_equal(qdb_kernels_threads(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fusion_bit_identical),
        cmocka_unit_test(test_fusion_needs_sole_reader),
        cmocka_unit_test(test_conv_groups_bit_identical),
        cmocka_unit_test(test_conv_groups_wide_and_legacy),
        cmocka_unit_test(test_pipeline_order),
        cmocka_unit_test(test_pipeline_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
