/* test_exec.c - the executor's x * gate(x) fusion (bit-identical to the
 * unfused nodes, applied only where the gate's output has no other reader
 * and the caller allows it) and the ordered batch pipeline (finish in
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
    size_t len;
    uint8_t *buf = mb_pack(m, &len);
    mb_free(m);
    qdb_err e = {0};
    qdb_graph *g = qdb_onnx_load_buffer(buf, len, "gated.onnx", NULL, &e);
    free(buf);
    if (!g)
        fail_msg("%s", e.msg);
    return g;
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
    int calls[8]; /* hook calls per node */
} seen_t;

static int count_hook(void *user, const qdb_graph *g, int node, int slot, qdb_tensor *t)
{
    (void)g;
    (void)slot;
    (void)t;
    seen_t *s = user;
    if (node >= 0 && node < 8)
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
        cmocka_unit_test(test_pipeline_order),
        cmocka_unit_test(test_pipeline_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
