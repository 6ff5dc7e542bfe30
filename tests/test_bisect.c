/* test_bisect.c - finding the culprits: on chains of N near-identity 1x1
 * convolutions where one layer is made fragile by a rule (2-bit weights
 * and 3-bit activations, the others at 12 bits), sensitivity ranks that layer first and bisect names it
 * alone, in a number of probes that grows with log2 N; the prefix mode
 * finds the shortest run of first or last layers; a configuration already
 * within the tolerance needs no culprit; stopping keeps partial results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bisect.h"
#include "quant_fixtures.h"
#include "ruleset.h"
#include "sensitivity.h"
#include "tmpdir.h"

#define CH 4

static qdb_graph *chain(int n)
{
    return qf_chain(n, CH);
}

typedef struct setup {
    qdb_graph *g;
    qdb_qmodel *q;
    qdb_dataset *d;
    qdb_probe *p;
    qdb_tensor *x;
} setup;

/* Calibrate, make layer `fragile` (table position: conv k is k + 1 after
 * the input) fragile, probe on 400 samples labelled by the float model. */
static void make(setup *s, int n, int fragile)
{
    s->g = chain(n);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    /* 12 bits elsewhere: deep chains do not pile up error, the fragile
     * layer is the one culprit */
    c.activation_n_bits = c.weights_n_bits = 12;
    qdb_err e = {0};
    s->q = qdb_qmodel_new(s->g, &c, &e);
    assert_non_null(s->q);
    assert_int_equal(s->q->n_layers, n + 1);
    s->x = qf_random_input(400, CH, 1, 1, 1.0f, 0.0f);
    char name[32];
    snprintf(name, sizeof name, "chain%d.npy", n);
    s->d = qf_dataset(name, s->x, NULL);
    assert_int_equal(qdb_qmodel_calibrate(s->q, s->d, NULL, &e), QDB_OK);
    qdb_ruleset *rs = qdb_ruleset_new();
    char rule[80];
    snprintf(rule, sizeof rule, "index=%d : w_bits=2, act_bits=3", fragile);
    assert_int_equal(qdb_ruleset_add_text(rs, rule, &e), QDB_OK);
    assert_int_equal(qdb_ruleset_apply(rs, s->q, NULL, &e), QDB_OK);
    assert_int_equal(qdb_qmodel_quantize(s->q, &e), QDB_OK);
    qdb_ruleset_free(rs);
    s->p = qdb_probe_new(s->g, s->d, 0, 64, &e);
    assert_non_null(s->p);
}

static void drop(setup *s)
{
    qdb_probe_free(s->p);
    qdb_dataset_free(s->d);
    qdb_tensor_free(s->x);
    qdb_qmodel_free(s->q);
    qdb_graph_free(s->g);
}

static void test_sensitivity_names_the_fragile_layer(void **state)
{
    (void)state;
    setup s;
    make(&s, 8, 5);
    qdb_err e = {0};
    qdb_sensitivity r;
    assert_int_equal(qdb_sensitivity_run(s.q, s.p, NULL, NULL, &r, &e), QDB_OK);
    assert_true(r.complete);
    assert_int_equal(r.n, 9);
    assert_int_equal(r.evaluations, 1 + 2 * 9);
    assert_float_equal(r.float_s.score, 1.0, 0); /* no labels: agreement with float */
    int order[9];
    qdb_sensitivity_rank(&r, order);
    assert_int_equal(order[0], 5);
    /* keeping it in float recovers (almost) everything; alone it is the worst */
    assert_true(r.layers[5].all_but.score > r.quant.score);
    for (int i = 0; i < 9; i++)
        if (i != 5)
            assert_true(r.layers[5].only.sqnr_db < r.layers[i].only.sqnr_db);
    /* the model is left with its configuration as given */
    assert_true(s.q->quantized);
    qdb_probe_score now;
    assert_int_equal(qdb_probe_run(s.p, s.q, &now, &e), QDB_OK);
    assert_float_equal(now.score, r.quant.score, 0);
    qdb_sensitivity_free(&r);
    drop(&s);
}

static int stop_after_two(void *user, int64_t done, int64_t total)
{
    (void)user;
    (void)total;
    return done >= 2;
}

static void test_sensitivity_can_be_stopped(void **state)
{
    (void)state;
    setup s;
    make(&s, 8, 2);
    qdb_err e = {0};
    qdb_sensitivity r;
    assert_int_equal(qdb_sensitivity_run(s.q, s.p, stop_after_two, NULL, &r, &e), QDB_ERR_CANCELLED);
    assert_false(r.complete);
    assert_true(r.layers[0].done && r.layers[1].done && !r.layers[2].done);
    assert_true(s.q->quantized);
    qdb_sensitivity_free(&r);
    drop(&s);
}

static void test_bisect_finds_one_culprit_in_log_probes(void **state)
{
    (void)state;
    int sizes[4] = {8, 16, 32, 64}, probes[4];
    for (int t = 0; t < 4; t++) {
        int n = sizes[t], fragile = n / 2 + 1;
        setup s;
        make(&s, n, fragile);
        qdb_err e = {0};
        qdb_bisect_opts o = {.tolerance = 0.05, .raise = QDB_RAISE_FLOAT, .mode = QDB_BISECT_DDMIN};
        qdb_bisect b;
        if (qdb_bisect_run(s.q, s.p, &o, &b, &e) != QDB_OK)
            fail_msg("%s", e.msg);
        assert_true(b.base.score < b.target);
        assert_true(b.found);
        assert_int_equal(b.n_culprits, 1);
        assert_int_equal(b.culprits[0], fragile);
        assert_true(b.final.score >= b.target);
        assert_int_equal(b.evaluations, b.n_steps);
        /* base, all, about 2 per halving, the final check */
        int lg = (int)ceil(log2(n + 1));
        assert_true(b.evaluations <= 2 * lg + 3);
        probes[t] = b.evaluations;
        qdb_bisect_free(&b);
        /* the 16-bit mode finds the same layer */
        o.raise = QDB_RAISE_16BIT;
        assert_int_equal(qdb_bisect_run(s.q, s.p, &o, &b, &e), QDB_OK);
        assert_int_equal(b.n_culprits, 1);
        assert_int_equal(b.culprits[0], fragile);
        qdb_bisect_free(&b);
        drop(&s);
    }
    /* 8x the layers: at most 2 more probes per doubling (linear would be 8x) */
    assert_true(probes[3] - probes[0] <= 2 * 3);
}

static void test_bisect_prefix_and_nothing_to_do(void **state)
{
    (void)state;
    setup s;
    make(&s, 16, 13);
    qdb_err e = {0};
    qdb_bisect_opts o = {.tolerance = 0.05, .raise = QDB_RAISE_FLOAT, .mode = QDB_BISECT_PREFIX};
    qdb_bisect b;
    assert_int_equal(qdb_bisect_run(s.q, s.p, &o, &b, &e), QDB_OK);
    /* the shortest run: the last 17 - 13 = 4 layers (13..16), not the first 14 */
    assert_true(b.found);
    assert_int_equal(b.n_culprits, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(b.culprits[i], 13 + i);
    qdb_bisect_free(&b);
    /* a tolerance the quantized model already meets: no culprit, one probe */
    o.tolerance = 1.0;
    assert_int_equal(qdb_bisect_run(s.q, s.p, &o, &b, &e), QDB_OK);
    assert_true(b.found);
    assert_int_equal(b.n_culprits, 0);
    assert_int_equal(b.evaluations, 1);
    qdb_bisect_free(&b);
    drop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sensitivity_names_the_fragile_layer),
        cmocka_unit_test(test_sensitivity_can_be_stopped),
        cmocka_unit_test(test_bisect_finds_one_culprit_in_log_probes),
        cmocka_unit_test(test_bisect_prefix_and_nothing_to_do),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
