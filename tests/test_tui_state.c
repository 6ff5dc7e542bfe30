/* test_tui_state.c - the TUI's curses-free state: the session snapshot it
 * draws (tui/view.h: view_build / view_free) and the layer table's logic
 * (tui/state.h: tui_reorder, tui_selected_layer, tui_worst_sqnr).
 *
 *   - view_build on a prepared session: every layer's configuration,
 *     thresholds, output shape, resampled activation histogram and weight
 *     histogram / per-channel thresholds against the session's own fields
 *     (the resampling and shape recomputed here), and the accuracies;
 *   - after a rule command: which layers show the rule, the rule's text,
 *     state and matches (counted here), and the new history line;
 *   - view_build on a session not yet prepared;
 *   - tui_reorder on a hand-built view: file order, by name, by SQNR
 *     (layers without figures last), name / op filters, the selection kept
 *     across reorders; tui_selected_layer; tui_worst_sqnr (the third lowest
 *     accumulated SQNR among quantized layers with figures, INFINITY with
 *     fewer than three);
 *   - view_free on a zeroed view and twice on the same view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "rule.h"
#include "session.h"
#include "session_fixture.h"
#include "state.h"
#include "tmpdir.h"
#include "view.h"

/* ---- a small session (tests/support/session_fixture.h) ---- */

static void run_ok(sf_fixture *f, const char *line)
{
    qdb_cmd_result r;
    qdb_err e = {0};
    if (qdb_cmd_run(f->s, line, NULL, NULL, &r, &e) != QDB_OK)
        fail_msg("'%s': %s", line, e.msg);
    assert_true(r.flags & QDB_CMD_CHANGED);
    qdb_cmd_result_free(&r);
}

/* a == b, NaN equal to NaN (a copied figure) */
static int same(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* The output shape without the batch, "AxBxC", worked out here. */
static void shape_text(const qdb_value *v, char *buf, size_t size)
{
    buf[0] = 0;
    for (int d = 1; d < v->shape.ndim; d++) {
        char dim[32];
        snprintf(dim, sizeof dim, "%lld", (long long)v->shape.d[d]);
        if (d > 1)
            strncat(buf, "x", size - strlen(buf) - 1);
        strncat(buf, dim, size - strlen(buf) - 1);
    }
}

/* ---- 1. a prepared session ---- */

static void test_view_prepared(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, "head");
    const qdb_session *s = f.s;
    const qdb_qmodel *q = s->q;
    view v;
    memset(&v, 0, sizeof v);
    assert_int_equal(view_build(&v, s), 0);

    assert_int_equal(v.n, q->n_layers);
    assert_non_null(v.l);
    assert_int_equal(v.ready, 1);
    assert_true(same(v.float_score, s->float_score));
    assert_true(same(v.current, s->current));
    assert_true(same(v.baseline, s->baseline));
    assert_true(same(v.seconds, s->seconds));
    assert_true(v.float_score > 0 && v.float_score <= 1);
    assert_int_equal(v.n_rules, 0);
    assert_int_equal(v.n_hist, s->hist.n);

    int weighted = 0;
    for (int i = 0; i < v.n; i++) {
        const qdb_qlayer *ql = &q->layers[i];
        const vlayer *l = &v.l[i];
        assert_string_equal(l->name, ql->name);
        assert_string_equal(l->op, ql->op);
        assert_ptr_not_equal(l->name, ql->name); /* copies: the session may change */
        assert_ptr_not_equal(l->op, ql->op);
        assert_int_equal(l->act_bits, ql->act.n_bits);
        assert_int_equal(l->act_signed, ql->act_signed);
        assert_int_equal(l->act_active, ql->act_active);
        assert_int_equal(l->w_bits, ql->w_value >= 0 ? ql->wcfg.n_bits : 0);
        for (int m = 0; m < QDB_EM_COUNT; m++)
            assert_true(same(l->thr_m[m], ql->thr_by_method[m]));
        assert_int_equal(l->act_by_rule, 0);
        assert_int_equal(l->any_rule, 0);
        assert_int_equal(l->metrics, ql->m.valid);
        assert_true(l->metrics);
        assert_true(same(l->sqnr_acc, ql->m.sqnr_db));
        assert_true(same(l->sqnr_own, ql->m.sqnr_own_db));

        /* output shape: dims after the batch joined by 'x' */
        const qdb_value *ov = &q->g->values[ql->out_value];
        assert_true(ov->shape_known);
        char want[64];
        shape_text(ov, want, sizeof want);
        assert_string_equal(l->shape, want);

        /* activation histogram: 2048 bins summed in runs of 2048 / 256 */
        const qdb_histogram *h = ql->hist;
        assert_non_null(h);
        assert_int_equal(l->has_hist, 1);
        assert_true(l->lo == h->lo);
        assert_true(l->hi == h->hi);
        assert_int_equal(h->n_bins % VIEW_HIST_BINS, 0);
        int per = h->n_bins / VIEW_HIST_BINS;
        double sum = 0;
        for (int k = 0; k < VIEW_HIST_BINS; k++) {
            double c = 0;
            for (int j = 0; j < per; j++)
                c += h->count[k * per + j];
            assert_true(fabs(l->counts[k] - c) <= 1e-9 * (1.0 + c));
            sum += l->counts[k];
        }
        assert_true(h->total > 0);
        assert_true(fabs(sum - h->total) <= 1e-9 * h->total);
        assert_true(fabs(l->total - h->total) <= 1e-9 * h->total);

        /* weights */
        if (ql->w_value >= 0) {
            weighted++;
            const qdb_tensor *k = q->g0->values[ql->w_value].constant;
            assert_non_null(k);
            assert_int_equal(l->has_w, 1);
            assert_true(l->w_total == (double)k->numel);
            double wsum = 0, lo = k->data.f[0], hi = k->data.f[0];
            for (int b = 0; b < VIEW_HIST_BINS; b++)
                wsum += l->w_counts[b];
            for (size_t j = 0; j < k->numel; j++) {
                lo = fmin(lo, k->data.f[j]);
                hi = fmax(hi, k->data.f[j]);
            }
            assert_true(wsum == l->w_total);
            assert_true(l->w_lo == lo);
            assert_true(l->w_hi == hi);
            /* the smallest and largest weights land in the end bins */
            assert_true(l->w_counts[0] >= 1);
            assert_true(l->w_counts[VIEW_HIST_BINS - 1] >= 1);
            assert_int_equal(l->n_wthr, ql->n_w_qp);
            assert_true(l->n_wthr >= 1);
            assert_non_null(l->wthr);
            assert_int_equal(l->w_per_channel, ql->wcfg.per_channel);
            for (int c = 0; c < ql->n_w_qp; c++) {
                assert_int_not_equal(ql->w_qp[c].method, QDB_QM_UNIFORM);
                assert_true(l->wthr[c] == ql->w_qp[c].threshold);
                assert_true(l->wthr[c] > 0);
            }
        } else {
            assert_int_equal(l->has_w, 0);
            assert_int_equal(l->n_wthr, 0);
            assert_null(l->wthr);
        }
    }
    assert_int_equal(weighted, 2);

    /* the shapes of this model, by hand */
    assert_string_equal(v.l[sf_layer(s, "x")].shape, "4x2x2");
    assert_string_equal(v.l[sf_layer(s, "conv1")].shape, "6x2x2");
    assert_string_equal(v.l[sf_layer(s, "gap")].shape, "6x1x1");
    assert_string_equal(v.l[sf_layer(s, "head")].shape, "5x1x1");
    /* per channel (the default): one threshold per output channel */
    const vlayer *c1 = &v.l[sf_layer(s, "conv1")];
    assert_true(c1->w_total == 6 * 4 * 9);
    if (c1->w_per_channel)
        assert_int_equal(c1->n_wthr, 6);
    else
        assert_int_equal(c1->n_wthr, 1);

    /* building again replaces the snapshot (valgrind: nothing leaks) */
    assert_int_equal(view_build(&v, s), 0);
    assert_int_equal(v.n, q->n_layers);
    view_free(&v);
    assert_null(v.l);
    assert_int_equal(v.n, 0);
    sf_free(&f);
}

/* ---- 2. after a rule ---- */

static void test_view_rule(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, "head");
    view v;
    memset(&v, 0, sizeof v);
    assert_int_equal(view_build(&v, f.s), 0);
    int hist_before = v.n_hist;
    view_free(&v);

    run_ok(&f, "rule type=Conv : act_bits=16");
    const qdb_session *s = f.s;
    const qdb_qmodel *q = s->q;
    assert_int_equal(view_build(&v, s), 0);

    int n_conv = 0;
    for (int i = 0; i < q->n_layers; i++) {
        const qdb_qlayer *ql = &q->layers[i];
        const vlayer *l = &v.l[i];
        int conv = !strcmp(ql->type, "Conv");
        n_conv += conv;
        assert_int_equal(l->act_by_rule, conv);
        assert_int_equal(l->any_rule, conv);
        assert_int_equal(l->w_by_rule, 0);
        assert_int_equal(l->em_by_rule, 0);
        assert_int_equal(l->act_bits, conv ? 16 : q->cfg.activation_n_bits);
    }
    assert_int_equal(n_conv, 2); /* conv1 (Conv+Relu) and head */
    assert_int_equal(v.l[sf_layer(s, "conv1")].act_by_rule, 1);
    assert_int_equal(v.l[sf_layer(s, "head")].act_by_rule, 1);

    assert_int_equal(v.n_rules, 1);
    assert_string_equal(v.rule_text[0], "type=Conv : act_bits=16");
    char *canon = qdb_rule_format(s->rs->rules[0]);
    assert_non_null(canon);
    assert_string_equal(v.rule_text[0], canon);
    free(canon);
    assert_int_equal(v.rule_on[0], 1);
    assert_int_equal(v.rule_matches[0], n_conv);
    assert_true(same(v.rule_contrib[0], s->contrib[0]));

    assert_int_equal(v.n_hist, hist_before + 1);
    assert_int_equal(v.n_hist, s->hist.n);
    assert_non_null(strstr(v.hist_line[v.n_hist - 1], "type=Conv : act_bits=16"));
    for (int i = 0; i < hist_before; i++)
        assert_null(strstr(v.hist_line[i], "act_bits=16"));
    /* numbered from 1 */
    char num[16];
    snprintf(num, sizeof num, "#%-3d", v.n_hist);
    assert_memory_equal(v.hist_line[v.n_hist - 1], num, strlen(num));
    assert_true(same(v.current, s->current));

    /* disabled: shown off, the layers back on the global configuration */
    run_ok(&f, "disable 1");
    assert_int_equal(view_build(&v, s), 0);
    assert_int_equal(v.n_rules, 1);
    assert_int_equal(v.rule_on[0], 0);
    for (int i = 0; i < v.n; i++) {
        assert_int_equal(v.l[i].act_by_rule, 0);
        assert_int_equal(v.l[i].act_bits, q->cfg.activation_n_bits);
    }
    view_free(&v);
    sf_free(&f);
}

/* ---- 3. not prepared ---- */

static void test_view_unprepared(void **state)
{
    (void)state;
    sf_fixture f;
    sf_new(&f, "head");
    const qdb_session *s = f.s;
    view v;
    memset(&v, 0, sizeof v);
    assert_int_equal(view_build(&v, s), 0);
    assert_int_equal(v.ready, 0);
    assert_int_equal(v.n, s->q->n_layers);
    assert_int_equal(v.n, 4);
    assert_int_equal(v.n_rules, 0);
    assert_int_equal(v.n_hist, 0);
    assert_int_equal(v.n_notes, 0);
    for (int i = 0; i < v.n; i++) {
        assert_string_equal(v.l[i].name, s->q->layers[i].name);
        assert_int_equal(v.l[i].has_hist, 0);
        assert_int_equal(v.l[i].metrics, 0);
        assert_int_equal(v.l[i].n_wthr, 0);
        assert_null(v.l[i].wthr);
        if (!s->q->g)
            assert_string_equal(v.l[i].shape, "");
    }
    view_free(&v);
    sf_free(&f);
}

/* ---- 4. order, filter, selection, worst ---- */

/* Five layers:
 *   0 "b"       Conv       sqnr 20
 *   1 "a"       Relu       sqnr 10
 *   2 "c/x"     Add        no figures (sqnr_own -100 must be ignored)
 *   3 "a/conv"  Gemm       sqnr 10 (ties with 1)
 *   4 "d"       Conv+Relu  sqnr 2, not quantized */
typedef struct {
    char name[5][8], op[5][16];
    vlayer l[5];
} hand;

static void hand_init(hand *h, tui_state *t)
{
    static const char *const names[5] = {"b", "a", "c/x", "a/conv", "d"};
    static const char *const ops[5] = {"Conv", "Relu", "Add", "Gemm", "Conv+Relu"};
    static const double sq[5] = {20, 10, -100, 10, 2};
    static const int metrics[5] = {1, 1, 0, 1, 1}, active[5] = {1, 1, 1, 1, 0};
    memset(h, 0, sizeof *h);
    memset(t, 0, sizeof *t);
    for (int i = 0; i < 5; i++) {
        strcpy(h->name[i], names[i]);
        strcpy(h->op[i], ops[i]);
        h->l[i].name = h->name[i];
        h->l[i].op = h->op[i];
        h->l[i].sqnr_own = sq[i];
        h->l[i].metrics = metrics[i];
        h->l[i].act_active = active[i];
    }
    t->v.n = 5;
    t->v.l = h->l;
}

static void assert_order(const tui_state *t, int n, const int *want)
{
    assert_non_null(t->order);
    assert_int_equal(t->n_order, n);
    for (int i = 0; i < n; i++)
        if (t->order[i] != want[i])
            fail_msg("order[%d] = %d, want %d", i, t->order[i], want[i]);
}

static void test_reorder(void **state)
{
    (void)state;
    hand h;
    tui_state t;
    hand_init(&h, &t);

    /* nothing shown yet */
    assert_int_equal(tui_selected_layer(&t), -1);

    t.sort = SORT_ORDER;
    tui_reorder(&t);
    assert_order(&t, 5, (const int[]){0, 1, 2, 3, 4});
    assert_int_equal(t.sel, 0);
    assert_int_equal(tui_selected_layer(&t), 0);

    /* select "a/conv" and keep it through the sorts */
    t.sel = 3;
    assert_int_equal(tui_selected_layer(&t), 3);

    t.sort = SORT_NAME; /* a < a/conv < b < c/x < d */
    tui_reorder(&t);
    assert_order(&t, 5, (const int[]){1, 3, 0, 2, 4});
    assert_int_equal(t.sel, 1);
    assert_int_equal(tui_selected_layer(&t), 3);

    /* lowest first; 1 and 3 tie (by index); 2 has no figures: last */
    t.sort = SORT_SQNR;
    tui_reorder(&t);
    assert_order(&t, 5, (const int[]){4, 1, 3, 0, 2});
    assert_int_equal(t.sel, 2);
    assert_int_equal(tui_selected_layer(&t), 3);

    /* a second layer without figures: ties with 2 by index, both last */
    h.l[0].metrics = 0;
    tui_reorder(&t);
    assert_order(&t, 5, (const int[]){4, 1, 3, 0, 2});
    h.l[0].metrics = 1;

    /* NaN counts as no figures (last, by index); +inf (exact) comes after
     * every finite SQNR but before layers without figures */
    h.l[1].sqnr_own = NAN;
    h.l[3].sqnr_own = INFINITY;
    tui_reorder(&t);
    assert_order(&t, 5, (const int[]){4, 0, 3, 1, 2});
    h.l[1].sqnr_own = 10;
    h.l[3].sqnr_own = 10;
    tui_reorder(&t);
    assert_order(&t, 5, (const int[]){4, 1, 3, 0, 2});

    /* same name: by index */
    strcpy(h.name[4], "a");
    t.sort = SORT_NAME;
    tui_reorder(&t);
    assert_order(&t, 5, (const int[]){1, 4, 3, 0, 2});
    assert_int_equal(tui_selected_layer(&t), 3);
    strcpy(h.name[4], "d");

    /* filters: on the name or the op, ignoring case */
    t.sort = SORT_ORDER;
    strcpy(t.filter, "conv"); /* "a/conv" by name; the Conv ops of 0 and 4 */
    tui_reorder(&t);
    assert_order(&t, 3, (const int[]){0, 3, 4});
    assert_int_equal(t.sel, 1);
    assert_int_equal(tui_selected_layer(&t), 3);

    strcpy(t.filter, "RELU"); /* ops of 1 and 4: the selected layer is gone */
    tui_reorder(&t);
    assert_order(&t, 2, (const int[]){1, 4});
    assert_int_equal(t.sel, 0);
    assert_int_equal(tui_selected_layer(&t), 1);

    t.sel = 1; /* 4, "d" */
    strcpy(t.filter, "a"); /* names "a", "a/conv"; the op "Add" */
    tui_reorder(&t);
    assert_order(&t, 3, (const int[]){1, 2, 3});
    assert_int_equal(tui_selected_layer(&t), 1);

    t.sel = 1; /* "c/x" */
    strcpy(t.filter, "Relu"); /* op of 1 and of 4 (Conv+Relu) */
    t.sort = SORT_SQNR;
    tui_reorder(&t);
    assert_order(&t, 2, (const int[]){4, 1});
    assert_int_equal(t.sel, 0);
    assert_int_equal(tui_selected_layer(&t), 4);

    strcpy(t.filter, "/"); /* "c/x", "a/conv" by SQNR: 3 has figures, 2 not */
    t.sel = 0;
    tui_reorder(&t);
    assert_order(&t, 2, (const int[]){3, 2});

    t.sel = 1; /* "c/x" */
    strcpy(t.filter, "nothing");
    tui_reorder(&t);
    assert_non_null(t.order);
    assert_int_equal(t.n_order, 0);
    assert_int_equal(t.sel, 0);
    assert_int_equal(tui_selected_layer(&t), -1);

    /* filter cleared: nothing was selected, the first shown is */
    t.filter[0] = 0;
    tui_reorder(&t);
    assert_order(&t, 5, (const int[]){4, 1, 3, 0, 2});
    assert_int_equal(t.sel, 0);
    assert_int_equal(tui_selected_layer(&t), 4);

    /* selection out of range */
    t.sel = 5;
    assert_int_equal(tui_selected_layer(&t), -1);
    t.sel = -1;
    assert_int_equal(tui_selected_layer(&t), -1);
    t.sel = 4;
    assert_int_equal(tui_selected_layer(&t), 2);

    /* an empty view */
    free(t.order);
    t.order = NULL;
    t.n_order = 0;
    t.v.n = 0;
    tui_reorder(&t);
    assert_non_null(t.order);
    assert_int_equal(t.n_order, 0);
    assert_int_equal(tui_selected_layer(&t), -1);
    free(t.order);
}

static void test_worst_sqnr(void **state)
{
    (void)state;
    hand h;
    tui_state t;
    hand_init(&h, &t);
    /* quantized with figures: 20, 10, 10 (2 has no figures, 4 is not
     * quantized: both would be lower) */
    assert_true(tui_worst_sqnr(&t.v) == 20);

    /* 4 quantized: 2, 10, 10, 20 -> 10 */
    h.l[4].act_active = 1;
    assert_true(tui_worst_sqnr(&t.v) == 10);
    h.l[1].sqnr_own = 30; /* 2, 10, 20, 30 -> 20 */
    assert_true(tui_worst_sqnr(&t.v) == 20);
    h.l[0].sqnr_own = -5; /* -5, 2, 10, 30 -> 10 */
    assert_true(tui_worst_sqnr(&t.v) == 10);

    /* fewer than three: INFINITY (every one counts among the worst) */
    h.l[4].act_active = 0;
    h.l[0].metrics = 0; /* 30, 10 */
    double w = tui_worst_sqnr(&t.v);
    assert_true(isinf(w) && w > 0);
    h.l[1].act_active = 0; /* 10 */
    w = tui_worst_sqnr(&t.v);
    assert_true(isinf(w) && w > 0);
    t.v.n = 0;
    w = tui_worst_sqnr(&t.v);
    assert_true(isinf(w) && w > 0);
}

/* ---- 5. view_free ---- */

static void test_view_free(void **state)
{
    (void)state;
    view v;
    memset(&v, 0, sizeof v);
    view_free(&v);
    view_free(&v);
    assert_null(v.l);

    sf_fixture f;
    sf_open(&f, "head");
    assert_int_equal(view_build(&v, f.s), 0);
    assert_true(v.n > 0);
    view_free(&v);
    assert_null(v.l);
    assert_null(v.rule_text);
    assert_null(v.hist_line);
    assert_int_equal(v.n, 0);
    view_free(&v);
    assert_null(v.l);
    sf_free(&f);
}

/* PyTorch's repeated module names go; other names stay as they are. */
static void test_short_name(void **state)
{
    (void)state;
    char b[64];
    tui_short_name("/blocks/blocks.0/block/block.3/Conv", b, sizeof b);
    assert_string_equal(b, "blocks.0/block.3/Conv");
    tui_short_name("/stem/stem.0/Conv", b, sizeof b);
    assert_string_equal(b, "stem.0/Conv");
    tui_short_name("/features/features.11/Conv", b, sizeof b);
    assert_string_equal(b, "features.11/Conv");
    /* a child named like its parent but not with ".N" stays */
    tui_short_name("/fc/fcx/Gemm", b, sizeof b);
    assert_string_equal(b, "fc/fcx/Gemm");
    tui_short_name("conv1", b, sizeof b);
    assert_string_equal(b, "conv1");
    tui_short_name("input", b, sizeof b);
    assert_string_equal(b, "input");
    tui_short_name("/", b, sizeof b);
    assert_string_equal(b, "/");
    tui_short_name("/a/a.1/a.1.x", b, sizeof b);
    assert_string_equal(b, "a.1.x"); /* each step extends the last */
    tui_short_name("/blocks/blocks.0/Add", b, 8); /* cut to fit */
    assert_string_equal(b, "blocks.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_prepared),
        cmocka_unit_test(test_view_rule),
        cmocka_unit_test(test_view_unprepared),
        cmocka_unit_test(test_reorder),
        cmocka_unit_test(test_worst_sqnr),
        cmocka_unit_test(test_short_name),
        cmocka_unit_test(test_view_free),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
