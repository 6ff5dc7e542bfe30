/* test_ruleset.c - rules landing on a model: order (the last write wins),
 * provenance of every attribute, weight actions skipped where there are no
 * weights, shift-negative correction leaving rule-set bits alone, rule
 * files (errors name the line, nothing is half-added), and the per-rule
 * accuracy contributions worked out on a model whose answer is known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant_fixtures.h"
#include "rule_eval.h"
#include "ruleset.h"
#include "tmpdir.h"

/* input -> Conv(2->4, 1x1) -> PRelu(0.02) -> Conv(4->3, 3x3 pad 1) -> Sigmoid */
static qdb_graph *small_model(void)
{
    mb *m = mb_new(13);
    int64_t in[4] = {MB_N, 2, 6, 6};
    mb_input(m, "x", MB_FLOAT, 4, in);
    float w1[8], b1[4], slope[4], w2[3 * 4 * 9], b2[3];
    qf_fill(w1, 8, 1.0f, 0);
    qf_fill(b1, 4, 0.5f, 0.5f);
    for (int k = 0; k < 4; k++)
        slope[k] = 0.02f;
    qf_fill(w2, 108, 0.3f, 0.05f);
    qf_fill(b2, 3, 0.1f, 0);
    int64_t dw1[4] = {4, 2, 1, 1}, d4[1] = {4}, ds[3] = {4, 1, 1}, dw2[4] = {3, 4, 3, 3},
            d3[1] = {3}, pads[4] = {1, 1, 1, 1};
    mb_init_f(m, "w1", 4, dw1, w1);
    mb_init_f(m, "b1", 1, d4, b1);
    mb_init_f(m, "slope", 3, ds, slope);
    mb_init_f(m, "w2", 4, dw2, w2);
    mb_init_f(m, "b2", 1, d3, b2);
    mb_node(m, "Conv", "conv1", "x,w1,b1", "c1");
    mb_node(m, "PRelu", "prelu", "c1,slope", "p1");
    mb_node(m, "Conv", "conv2", "p1,w2,b2", "c2");
    mb_attr_ints(m, "pads", 4, pads);
    mb_node(m, "Sigmoid", "sig", "c2", "y");
    mb_output(m, "y");
    return qf_load(m);
}

static qdb_qmodel *model_of(qdb_graph *g)
{
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    qdb_err e = {0};
    qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
    if (!q)
        fail_msg("%s", e.msg);
    /* layers: 0 input, 1 conv1 (Conv+PRelu), 2 conv2 (Conv+Sigmoid) */
    assert_int_equal(q->n_layers, 3);
    return q;
}

static void add(qdb_ruleset *rs, const char *text)
{
    qdb_err e = {0};
    if (qdb_ruleset_add_text(rs, text, &e) != QDB_OK)
        fail_msg("%s: %s", text, e.msg);
}

static void test_apply_order_and_provenance(void **state)
{
    (void)state;
    qdb_graph *g = small_model();
    qdb_qmodel *q = model_of(g);
    qdb_ruleset *rs = qdb_ruleset_new();
    add(rs, "all : act_bits=6");
    add(rs, "type=Conv : w_bits=4, act_error=KL");
    add(rs, "name=conv2 : act_bits=12");
    add(rs, "type=Input : w_bits=3");         /* no weights there: no effect */
    add(rs, "name=nothing : act_bits=10");    /* matches nothing */
    int m[5];
    qdb_err e = {0};
    assert_int_equal(qdb_ruleset_apply(rs, q, m, &e), QDB_OK);
    int want_m[5] = {3, 2, 1, 1, 0};
    assert_memory_equal(m, want_m, sizeof m);
    const qdb_qlayer *in = &q->layers[0], *c1 = &q->layers[1], *c2 = &q->layers[2];
    assert_int_equal(in->act.n_bits, 6);
    assert_int_equal(in->prov[QDB_LA_ACT_BITS], 0);
    assert_int_equal(in->prov[QDB_LA_W_BITS], -1); /* rule 4 had nothing to set */
    assert_int_equal(c1->act.n_bits, 6);
    assert_int_equal(c1->wcfg.n_bits, 4);
    assert_int_equal(c1->act.error_method, QDB_EM_KL);
    assert_int_equal(c1->prov[QDB_LA_W_BITS], 1);
    assert_int_equal(c2->act.n_bits, 12); /* the last write wins */
    assert_int_equal(c2->prov[QDB_LA_ACT_BITS], 2);
    assert_int_equal(c2->prov[QDB_LA_ACT_METHOD], -1);
    assert_int_equal(c2->act.method, QDB_QM_POWER_OF_TWO);
    /* disabling a rule: its writes are gone */
    rs->rules[2]->enabled = 0;
    assert_int_equal(qdb_ruleset_apply(rs, q, m, &e), QDB_OK);
    assert_int_equal(m[2], 0);
    assert_int_equal(q->layers[2].act.n_bits, 6);
    assert_int_equal(q->layers[2].prov[QDB_LA_ACT_BITS], 0);
    /* no rules: back to the global configuration */
    qdb_ruleset *none = qdb_ruleset_new();
    assert_int_equal(qdb_ruleset_apply(none, q, NULL, &e), QDB_OK);
    for (int L = 0; L < q->n_layers; L++) {
        assert_int_equal(q->layers[L].act.n_bits, 8);
        for (int a = 0; a < QDB_LA_COUNT; a++)
            assert_int_equal(q->layers[L].prov[a], -1);
    }
    qdb_ruleset_free(none);
    qdb_ruleset_free(rs);
    qdb_qmodel_free(q);
    qdb_graph_free(g);
}

/* MCT's shift-negative correction once overwrote bits a rule had set. */
static void test_shift_negative_keeps_rule_bits(void **state)
{
    (void)state;
    qdb_graph *g = small_model();
    qdb_qmodel *q = model_of(g);
    qdb_tensor *x = qf_random_input(48, 2, 6, 6, 1.0f, 0.0f);
    qdb_dataset *d = qf_dataset("snc.npy", x, NULL);
    qdb_err e = {0};
    assert_int_equal(qdb_qmodel_calibrate(q, d, NULL, &e), QDB_OK);
    qdb_ruleset *rs = qdb_ruleset_new();
    for (int with_rule = 0; with_rule < 2; with_rule++) {
        if (with_rule)
            add(rs, "name=conv1 : act_bits=6");
        assert_int_equal(qdb_ruleset_apply(rs, q, NULL, &e), QDB_OK);
        if (qdb_qmodel_quantize(q, &e) != QDB_OK)
            fail_msg("%s", e.msg);
        assert_int_equal(q->n_snc, 1);
        const qdb_qlayer *l = &q->layers[qdb_qmodel_find_layer(q, "conv1")];
        assert_true(l->snc_applied);
        assert_int_equal(l->act_qp.n_bits, with_rule ? 6 : 16);
        const qdb_qlayer *s = &q->layers[l->snc_layer];
        assert_int_equal(s->act_qp.n_bits, with_rule ? 6 : 8);
        assert_int_equal(s->prov[QDB_LA_ACT_BITS], with_rule ? 0 : -1);
    }
    /* searching again only where something changed: the same rule again
     * reuses every threshold; another rule on conv2 searches conv2 only
     * (the shift layer is made anew each time) and gives what a fresh
     * model gives */
    assert_int_equal(qdb_ruleset_apply(rs, q, NULL, &e), QDB_OK);
    assert_int_equal(qdb_qmodel_quantize(q, &e), QDB_OK);
    assert_int_equal(q->n_w_searched, 0);
    int shift_layers = q->n_snc;
    assert_int_equal(q->n_act_searched, shift_layers);
    add(rs, "name=conv2 : w_bits=5, act_bits=7");
    assert_int_equal(qdb_ruleset_apply(rs, q, NULL, &e), QDB_OK);
    assert_int_equal(qdb_qmodel_quantize(q, &e), QDB_OK);
    assert_int_equal(q->n_w_searched, 1);
    assert_int_equal(q->n_act_searched, 1 + shift_layers);
    qdb_qmodel *fresh = model_of(g);
    assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
    assert_int_equal(qdb_qmodel_calibrate(fresh, d, NULL, &e), QDB_OK);
    assert_int_equal(qdb_ruleset_apply(rs, fresh, NULL, &e), QDB_OK);
    assert_int_equal(qdb_qmodel_quantize(fresh, &e), QDB_OK);
    assert_int_equal(fresh->n_layers, q->n_layers);
    for (int L = 0; L < q->n_layers; L++) {
        const qdb_qlayer *a = &q->layers[L], *b = &fresh->layers[L];
        assert_int_equal(a->act_active, b->act_active);
        assert_memory_equal(&a->act_grid, &b->act_grid, sizeof a->act_grid);
        assert_int_equal(a->n_w_qp, b->n_w_qp);
        for (int k = 0; k < a->n_w_qp; k++)
            assert_float_equal(a->w_qp[k].threshold, b->w_qp[k].threshold, 0);
        if (a->w_value >= 0) {
            const qdb_tensor *wa = q->gq->values[a->w_value].constant;
            const qdb_tensor *wb = fresh->gq->values[b->w_value].constant;
            assert_memory_equal(wa->data.f, wb->data.f, wa->numel * sizeof(float));
        }
    }
    qdb_qmodel_free(fresh);
    qdb_ruleset_free(rs);
    qdb_dataset_free(d);
    qdb_tensor_free(x);
    qdb_qmodel_free(q);
    qdb_graph_free(g);
}

static void test_rule_files(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/rules.txt", tmpdir_path());
    FILE *f = fopen(path, "w");
    fputs("# two good rules, then a bad one\n\n  type=Conv : w_bits=4\nall: act_bits=7 \n"
          "name=x : act_bits=99\n",
          f);
    fclose(f);
    qdb_ruleset *rs = qdb_ruleset_new();
    add(rs, "all : act_quant=off");
    qdb_err e = {0};
    assert_int_equal(qdb_ruleset_load_file(rs, path, &e), QDB_ERR_INVALID);
    char want[320];
    snprintf(want, sizeof want, "%s:5: ", path);
    assert_non_null(strstr(e.msg, want));
    assert_non_null(strstr(e.msg, "act_bits"));
    assert_int_equal(rs->n, 1); /* none of the file's rules stayed */
    f = fopen(path, "w");
    fputs("type=Conv : w_bits=4\n# comment\nall : act_bits=7   # a trailing comment\n"
          "name~\"a #b\" : act_bits=5 #and one after a quoted '#'\n",
          f);
    fclose(f);
    assert_int_equal(qdb_ruleset_load_file(rs, path, &e), QDB_OK);
    assert_int_equal(rs->n, 4);
    char *t = qdb_rule_format(rs->rules[3]);
    assert_string_equal(t, "name~\"a #b\" : act_bits=5");
    free(t);
    snprintf(path, sizeof path, "%s/missing.txt", tmpdir_path());
    assert_int_equal(qdb_ruleset_load_file(rs, path, &e), QDB_ERR_IO);
    assert_non_null(strstr(e.msg, "missing.txt: cannot open: No such file"));
    qdb_ruleset_free(rs);
}

/* Labels are the float model's own predictions, so float scores 1. A rule
 * keeping everything in float must bring the quantized score back to 1:
 * its contribution is 1 - baseline; a rule that sets the defaults again
 * contributes nothing. */
typedef struct {
    int calls, ok;
    int64_t last, total;
} progress_log;

/* Records a progress bar; ok stays 1 while it never goes back and its
 * total never changes. */
static int log_progress(void *user, int64_t done, int64_t total)
{
    progress_log *p = user;
    if (p->calls == 0) {
        p->ok = 1;
        p->total = total;
    }
    if (done < p->last || total != p->total || done > total)
        p->ok = 0;
    p->last = done;
    p->calls++;
    return 0;
}

static void test_rule_contributions(void **state)
{
    (void)state;
    qdb_graph *g = small_model();
    qdb_qmodel *q = model_of(g);
    qdb_tensor *x = qf_random_input(200, 2, 6, 6, 1.0f, 0.0f);
    /* the "classes": arg max over the 3 x 6 x 6 outputs of the float model */
    qdb_tensor *y0 = qf_run(g, x);
    int64_t n = x->shape.d[0], k = (int64_t)(y0->numel / (size_t)n), dl[1] = {n};
    qdb_tensor *lab = qdb_tensor_new_dims(QDB_I64, 1, dl, NULL);
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (y0->data.f[i * k + j] > y0->data.f[i * k + best])
                best = j;
        lab->data.i[i] = best;
    }
    qdb_tensor_free(y0);
    qdb_dataset *d = qf_dataset("contrib.npy", x, lab);
    qdb_err e = {0};
    assert_int_equal(qdb_qmodel_calibrate(q, d, NULL, &e), QDB_OK);
    qdb_ruleset *rs = qdb_ruleset_new();
    add(rs, "all : act_quant=off, w_quant=off");
    add(rs, "all : act_bits=8");
    progress_log pl = {0};
    qdb_eval_opts o = {.batch = 32, .progress = log_progress, .user = &pl};
    qdb_rule_eval r;
    if (qdb_rules_evaluate(q, rs, d, NULL, &o, &r, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    assert_true(r.labelled);
    assert_int_equal(r.evaluations, 4); /* baseline, without each of 2, all */
    /* one progress bar over the four: never back, ends full */
    assert_true(pl.calls >= 4 && pl.ok);
    assert_int_equal(pl.total, 4 * n);
    assert_int_equal(pl.last, 4 * n);
    assert_int_equal(r.matches[0], 3);
    assert_float_equal(r.current, 1.0, 0);
    assert_true(r.baseline < 1.0); /* 8-bit sigmoid outputs tie or flip some arg maxes */
    assert_float_equal(r.without[0], r.baseline, 1e-12); /* rule 2 restates the defaults */
    assert_float_equal(r.without[1], 1.0, 0);
    assert_int_equal(r.cur.n, n);
    /* q is left with both rules: everything in float */
    for (int L = 0; L < q->n_layers; L++)
        assert_false(q->layers[L].act_active);
    qdb_rule_eval_free(&r);
    /* one rule: its contribution is against the baseline, in 2 passes */
    qdb_ruleset *one = qdb_ruleset_new();
    add(one, "type=Sigmoid : act_bits=16");
    if (qdb_rules_evaluate(q, one, d, NULL, &o, &r, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(r.evaluations, 2);
    assert_float_equal(r.without[0], r.baseline, 0);
    assert_true(r.current >= r.baseline);
    qdb_rule_eval_free(&r);
    qdb_ruleset_free(one);
    qdb_ruleset_free(rs);
    qdb_dataset_free(d);
    qdb_tensor_free(x);
    qdb_tensor_free(lab);
    qdb_qmodel_free(q);
    qdb_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_order_and_provenance),
        cmocka_unit_test(test_shift_negative_keeps_rule_bits),
        cmocka_unit_test(test_rule_files),
        cmocka_unit_test(test_rule_contributions),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
