/* test_eval_cache.c - cached re-evaluation gives exactly the results of a
 * full evaluation from scratch, after edits early, late and undone,
 * restarts from the last cut before the first changed layer, and returns a
 * configuration seen before without running it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_cache.h"
#include "quant_fixtures.h"
#include "ruleset.h"
#include "tmpdir.h"

#define N_LAYERS 12

/* A fresh evaluation from scratch of q's simulated network. */
static void full(qdb_qmodel *q, qdb_dataset *d, qdb_eval_result *r)
{
    qdb_err e = {0};
    qdb_eval_opts o = {.batch = 16};
    qdb_qmodel_eval_opts(q, &o);
    assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
    if (qdb_eval_run(q->gq, d, &o, r, &e) != QDB_OK)
        fail_msg("%s", e.msg);
}

static void same(const qdb_eval_result *a, const qdb_eval_result *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->top1, b->top1);
    assert_int_equal(a->top5, b->top5);
    assert_memory_equal(a->pred, b->pred, (size_t)a->n * sizeof *a->pred);
}

static void edit(qdb_qmodel *q, const char *rule)
{
    qdb_err e = {0};
    qdb_ruleset *rs = qdb_ruleset_new();
    if (rule && qdb_ruleset_add_text(rs, rule, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(qdb_ruleset_apply(rs, q, NULL, &e), QDB_OK);
    assert_int_equal(qdb_qmodel_quantize(q, &e), QDB_OK);
    qdb_ruleset_free(rs);
}

/* A progress callback that stops the run half-way. */
static int stop_at_half(void *user, int64_t done, int64_t total)
{
    (void)user;
    return done * 2 >= total;
}

static void test_cached_equals_full(void **state)
{
    (void)state;
    qdb_graph *g = qf_chain(N_LAYERS, 6);
    qdb_tensor *x = qf_random_input(100, 6, 1, 1, 1.0f, 0.0f);
    int64_t dl[1] = {100};
    qdb_tensor *y = qdb_tensor_new_dims(QDB_I64, 1, dl, NULL);
    for (int i = 0; i < 100; i++)
        y->data.i[i] = i % 6;
    qdb_dataset *d = qf_dataset("cache.npy", x, y);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    c.activation_n_bits = 4; /* coarse: edits change predictions */
    qdb_err e = {0};
    qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
    assert_int_equal(qdb_qmodel_calibrate(q, d, NULL, &e), QDB_OK);
    qdb_eval_cache *cache = qdb_eval_cache_new(0, &e);
    qdb_eval_opts o = {.batch = 16};
    const char *edits[] = {NULL, "index=10 : act_bits=2", "index=3 : w_bits=2",
                           "index=3 : w_bits=2", NULL, "index=12 : act_quant=off"};
    /* where each run may start (the node after the cut used): 0 = full */
    int start, nodes;
    for (int k = 0; k < 6; k++) {
        edit(q, edits[k]);
        qdb_eval_result a, b;
        if (qdb_eval_cached(cache, q, d, &o, &a, &e) != QDB_OK)
            fail_msg("%s", e.msg);
        qdb_eval_cache_stats(cache, &start, &nodes, NULL);
        assert_int_equal(nodes, N_LAYERS);
        full(q, d, &b);
        same(&a, &b);
        switch (k) {
        case 0:
            assert_int_equal(start, 0); /* nothing cached yet */
            break;
        case 1:
            /* layer 10 is conv9 (node 9): the last cut before it is after node 8 */
            assert_int_equal(start, 9);
            break;
        case 2:
            /* conv2 changed (node 2) and the cache still describes conv9's edit */
            assert_int_equal(start, 2);
            break;
        case 3:
            assert_true(start >= N_LAYERS - 1); /* nothing changed: from the last cut */
            break;
        case 4:
            /* back to the first configuration: remembered, nothing runs */
            assert_int_equal(start, N_LAYERS);
            break;
        case 5:
            /* the cuts still describe the last configuration run (conv2's
             * 2-bit weights): from conv2 on */
            assert_int_equal(start, 2);
            break;
        }
        qdb_eval_result_free(&a);
        qdb_eval_result_free(&b);
    }
    /* a run stopped half-way drops its cuts but not what was remembered:
     * the configuration before it comes back without running */
    edit(q, "index=1 : act_bits=2");
    qdb_eval_opts stop = {.batch = 16, .progress = stop_at_half};
    qdb_eval_result ra = {0}, rb;
    assert_int_equal(qdb_eval_cached(cache, q, d, &stop, &ra, &e), QDB_ERR_CANCELLED);
    edit(q, edits[5]);
    assert_int_equal(qdb_eval_cached(cache, q, d, &o, &ra, &e), QDB_OK);
    qdb_eval_cache_stats(cache, &start, NULL, NULL);
    assert_int_equal(start, N_LAYERS);
    full(q, d, &rb);
    same(&ra, &rb);
    qdb_eval_result_free(&ra);
    qdb_eval_result_free(&rb);
    /* and a new configuration runs in full (no cut survived) */
    edit(q, "index=11 : act_bits=2");
    assert_int_equal(qdb_eval_cached(cache, q, d, &o, &ra, &e), QDB_OK);
    qdb_eval_cache_stats(cache, &start, NULL, NULL);
    assert_int_equal(start, 0);
    full(q, d, &rb);
    same(&ra, &rb);
    qdb_eval_result_free(&ra);
    qdb_eval_result_free(&rb);
    /* a budget too small for any cut: always full runs, same results */
    qdb_eval_cache *tiny = qdb_eval_cache_new(64, &e);
    for (int k = 0; k < 2; k++) {
        edit(q, k ? "index=5 : act_bits=2" : NULL);
        qdb_eval_result a, b;
        assert_int_equal(qdb_eval_cached(tiny, q, d, &o, &a, &e), QDB_OK);
        qdb_eval_cache_stats(tiny, &start, NULL, NULL);
        assert_int_equal(start, 0);
        full(q, d, &b);
        same(&a, &b);
        qdb_eval_result_free(&a);
        qdb_eval_result_free(&b);
    }
    qdb_eval_cache_free(tiny);
    qdb_eval_cache_free(cache);
    qdb_qmodel_free(q);
    qdb_dataset_free(d);
    qdb_tensor_free(x);
    qdb_tensor_free(y);
    qdb_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached_equals_full),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
