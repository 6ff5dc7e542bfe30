/* test_command.c - the session (sessions/session.h) and the command
 * language run against it (sessions/command.h): preparing a session (float,
 * baseline and quantized accuracy checked against independent evaluations
 * of the float graph and of the simulated network), parsing and help, the
 * rule commands (rule / rules / enable / disable / delete and their
 * numbering), bad rules and cancellation leaving rules, configuration and
 * figures as they were, the per-layer commands (bits / wbits / method, layer
 * names that need quoting), `set` re-computing the baseline, and `match`
 * as a dry run. */
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
#include "quant_fixtures.h"
#include "session.h"
#include "session_fixture.h"
#include "tmpdir.h"

/* The head layer's name, head"q\b\ , needs quoting in the rule syntax: a
 * double quote, a backslash before a letter (kept as it is) and one at the
 * end (escaped). */
static const char HEAD[] = "head\"q\\b\\";

/* Progress: what was reported, and when to cancel. */
typedef struct {
    int calls;
    int cancel_at;            /* cancel on this call (1-based); 0: never */
    const char *cancel_phase; /* cancel on the first call of this phase */
    int seen[4];              /* calibrating, float, quantized, measuring */
    int odd;                  /* done > total, or an unknown phase */
} prog;

static int on_progress(void *user, const char *phase, int64_t done, int64_t total)
{
    prog *p = user;
    p->calls++;
    static const char *const phases[4] = {"calibrating", "float", "quantized", "measuring"};
    int k = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(phase, phases[i]))
            k = i;
    if (k < 0 || done > total || done <= 0)
        p->odd = 1;
    else
        p->seen[k]++;
    if (p->cancel_at && p->calls == p->cancel_at)
        return 1;
    if (p->cancel_phase && !strcmp(phase, p->cancel_phase))
        return 1;
    return 0;
}

/* Top-1 of the simulated network of q on a fresh copy of the evaluation
 * set, through qdb_eval_run (no cache). */
static double quant_score(sf_fixture *f, qdb_qmodel *q)
{
    qdb_dataset *d = sf_open_set(f->xe, f->ye);
    qdb_eval_opts o = {.batch = BATCH};
    qdb_qmodel_eval_opts(q, &o);
    qdb_eval_result r;
    qdb_err e = {0};
    if (qdb_eval_run(q->gq, d, &o, &r, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    assert_true(r.labelled);
    assert_int_equal(r.n, N_EVAL);
    double sc = (double)r.top1 / (double)r.n;
    qdb_eval_result_free(&r);
    qdb_dataset_free(d);
    return sc;
}

/* An independent quantized model of the session's float graph: calibrated
 * on a fresh copy of the representative set, with configuration c and the
 * rules rs (NULL: none). */
static qdb_qmodel *fresh_qmodel(sf_fixture *f, const qdb_quant_config *c, const qdb_ruleset *rs)
{
    qdb_err e = {0};
    qdb_qmodel *q = qdb_qmodel_new(f->s->g, c, &e);
    if (!q)
        fail_msg("%s", e.msg);
    qdb_dataset *d = sf_open_set(f->xc, NULL);
    qdb_run_opts ro = {.batch = BATCH};
    if (qdb_qmodel_calibrate(q, d, &ro, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    qdb_dataset_free(d);
    qdb_ruleset *none = qdb_ruleset_new();
    if (qdb_ruleset_apply(rs ? rs : none, q, NULL, &e) != QDB_OK ||
        qdb_qmodel_quantize(q, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    qdb_ruleset_free(none);
    return q;
}

static double fresh_score(sf_fixture *f, const qdb_quant_config *c, const qdb_ruleset *rs)
{
    qdb_qmodel *q = fresh_qmodel(f, c, rs);
    double sc = quant_score(f, q);
    qdb_qmodel_free(q);
    return sc;
}

/* Run a command that must succeed; its text is returned (caller frees). */
static char *run_ok(sf_fixture *f, const char *line, int want_flags)
{
    qdb_cmd_result r;
    qdb_err e = {0};
    if (qdb_cmd_run(f->s, line, NULL, NULL, &r, &e) != QDB_OK)
        fail_msg("'%s': %s", line, e.msg);
    assert_int_equal(r.flags, want_flags);
    assert_non_null(r.text);
    char *t = r.text;
    r.text = NULL;
    qdb_cmd_result_free(&r);
    return t;
}

/* Run a command that must fail with `code` and a message containing
 * `want`. */
static void run_err(sf_fixture *f, const char *line, qdb_status code, const char *want)
{
    qdb_cmd_result r;
    qdb_err e = {0};
    qdb_status st = qdb_cmd_run(f->s, line, NULL, NULL, &r, &e);
    if (st != code)
        fail_msg("'%s': status %d (want %d): %s", line, st, code, e.msg);
    assert_int_equal(e.code, code);
    if (!strstr(e.msg, want))
        fail_msg("'%s': message '%s' lacks '%s'", line, e.msg, want);
    assert_int_equal(r.flags & QDB_CMD_CHANGED, 0);
    qdb_cmd_result_free(&r);
}

/* What must not move when a command fails. */
typedef struct {
    int n_rules, hist_n, baseline_known;
    double current, baseline, float_score;
    unsigned long generation;
    qdb_quant_config cfg;
    int act_bits[8], w_bits[8], prov[8][QDB_LA_COUNT];
} snapshot;

static void snap(const qdb_session *s, snapshot *p)
{
    memset(p, 0, sizeof *p);
    p->n_rules = s->rs->n;
    p->hist_n = s->hist.n;
    p->baseline_known = s->baseline_known;
    p->current = s->current;
    p->baseline = s->baseline;
    p->float_score = s->float_score;
    p->generation = s->generation;
    p->cfg = s->q->cfg;
    assert_true(s->q->n_layers <= 8);
    for (int i = 0; i < s->q->n_layers; i++) {
        p->act_bits[i] = s->q->layers[i].act.n_bits;
        p->w_bits[i] = s->q->layers[i].wcfg.n_bits;
        memcpy(p->prov[i], s->q->layers[i].prov, sizeof p->prov[i]);
    }
}

/* Everything as in p (the generation too unless `gen_may_move`). */
static void same_as(const qdb_session *s, const snapshot *p, int gen_may_move)
{
    snapshot now;
    snap(s, &now);
    assert_int_equal(now.n_rules, p->n_rules);
    assert_int_equal(now.hist_n, p->hist_n);
    assert_int_equal(now.baseline_known, p->baseline_known);
    assert_float_equal(now.current, p->current, 0);
    assert_float_equal(now.baseline, p->baseline, 0);
    assert_float_equal(now.float_score, p->float_score, 0);
    if (!gen_may_move)
        assert_int_equal(now.generation, p->generation);
    assert_memory_equal(&now.cfg, &p->cfg, sizeof now.cfg);
    assert_memory_equal(now.act_bits, p->act_bits, sizeof now.act_bits);
    assert_memory_equal(now.w_bits, p->w_bits, sizeof now.w_bits);
    assert_memory_equal(now.prov, p->prov, sizeof now.prov);
}

/* One history entry per successful re-quantization: the label, the
 * enabled rules in force (canonical text), the quantized score. */
static void check_history(const qdb_session *s, int n_before, const char *label)
{
    assert_int_equal(s->hist.n, n_before + 1);
    const qdb_history_entry *h = &s->hist.e[s->hist.n - 1];
    assert_string_equal(h->label, label);
    assert_float_equal(h->score, s->current, 0);
    assert_float_equal(h->float_score, s->float_score, 0);
    int k = 0;
    for (int i = 0; i < s->rs->n; i++) {
        if (!s->rs->rules[i]->enabled)
            continue;
        assert_true(k < h->n_rules);
        char *t = qdb_rule_format(s->rs->rules[i]);
        assert_string_equal(h->rules[k], t);
        free(t);
        k++;
    }
    assert_int_equal(h->n_rules, k);
}

/* ---- 1. prepare ---- */

static void test_prepare(void **state)
{
    (void)state;
    sf_fixture f;
    sf_new(&f, HEAD);
    qdb_session *s = f.s;
    assert_int_equal(s->ready, 0);
    assert_int_equal(s->hist.n, 0);
    prog p = {0};
    sf_prepare(&f, on_progress, &p);
    assert_int_equal(s->ready, 1);
    assert_true(s->q->calibrated);
    assert_int_equal(s->q->n_snc, 0);
    /* every phase reported, nothing odd */
    assert_int_equal(p.odd, 0);
    for (int k = 0; k < 4; k++)
        assert_true(p.seen[k] > 0);
    /* float: worked out by hand (48 / 64), and by qdb_eval_run on the float
     * graph over a fresh copy of the set */
    assert_int_equal(f.float_top1, 48);
    assert_float_equal(s->float_score, 48.0 / 64.0, 1e-15);
    qdb_dataset *d = sf_open_set(f.xe, f.ye);
    qdb_eval_opts o = {.batch = 7};
    qdb_eval_result r;
    qdb_err e = {0};
    assert_int_equal(qdb_eval_run(s->g, d, &o, &r, &e), QDB_OK);
    assert_int_equal(r.top1, 48);
    assert_float_equal(s->float_score, (double)r.top1 / (double)r.n, 0);
    assert_int_equal(s->fr.n, N_EVAL);
    assert_true(s->fr.labelled);
    assert_memory_equal(s->fr.pred, r.pred, N_EVAL * sizeof *r.pred);
    qdb_eval_result_free(&r);
    qdb_dataset_free(d);
    /* quantized: the simulated network evaluated directly, and a model
     * quantized from scratch; no rules: current is the baseline */
    double q_direct = quant_score(&f, s->q);
    assert_float_equal(s->current, q_direct, 0);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    assert_float_equal(s->current, fresh_score(&f, &c, NULL), 0);
    assert_float_equal(s->baseline, s->current, 0);
    assert_int_equal(s->baseline_known, 1);
    assert_int_equal(s->evaluations, 2); /* baseline, and "current" with no rules */
    assert_int_equal(s->n_rules, 0);
    assert_int_equal(s->generation, 1);
    /* history: the start */
    check_history(s, 0, "start");
    assert_float_equal(s->hist.e[0].float_score, 0.75, 1e-15);
    /* every layer measured */
    for (int i = 0; i < s->q->n_layers; i++)
        assert_true(s->q->layers[i].m.valid);
    /* status shows the same figures */
    char *t = run_ok(&f, "status", 0);
    char want[200];
    snprintf(want, sizeof want, "float 75.00 %%  baseline %.2f %%  quantized %.2f %% (%+.2f vs float)  rules 0\n",
             100.0 * q_direct, 100.0 * q_direct, 100.0 * (q_direct - 0.75));
    assert_string_equal(t, want);
    free(t);
    sf_free(&f);
}

/* ---- 2. parsing and help ---- */

static void test_parsing_and_help(void **state)
{
    (void)state;
    sf_fixture f;
    sf_new(&f, HEAD);
    /* before prepare: commands that change things refuse, help works */
    run_err(&f, "rule all : act_bits=4", QDB_ERR_INVALID, "not quantized yet");
    run_err(&f, "status", QDB_ERR_INVALID, "not quantized yet");
    assert_int_equal(f.s->rs->n, 0);
    sf_prepare(&f, NULL, NULL);
    snapshot before;
    snap(f.s, &before);
    const char *nothing[] = {"", "   ", "\t\n", "# a comment", "   # rule all : act_bits=2", "#"};
    for (size_t i = 0; i < sizeof nothing / sizeof *nothing; i++) {
        char *t = run_ok(&f, nothing[i], 0);
        assert_string_equal(t, "");
        free(t);
    }
    same_as(f.s, &before, 0);
    run_err(&f, "frobnicate now", QDB_ERR_INVALID, "unknown command 'frobnicate'");
    run_err(&f, "  rulez all : act_bits=4", QDB_ERR_INVALID, "'rulez'");
    same_as(f.s, &before, 0);
    /* lookup is by the exact word */
    assert_int_equal(qdb_cmd_lookup("rule x"), QDB_CMD_rule);
    assert_int_equal(qdb_cmd_lookup("  rules"), QDB_CMD_rules);
    assert_int_equal(qdb_cmd_lookup("ru"), -1);
    assert_int_equal(qdb_cmd_lookup(""), -1);
    assert_null(qdb_cmd_info_at(QDB_CMD_COUNT));
    assert_null(qdb_cmd_info_at(-1));
    /* help: one line per command, in order, with its arguments and help */
    char *t = run_ok(&f, "help", 0);
    const char *line = t;
    for (int i = 0; i < QDB_CMD_COUNT; i++) {
        const qdb_cmd_info *ci = qdb_cmd_info_at(i);
        assert_non_null(ci);
        assert_int_equal(qdb_cmd_lookup(ci->name), i);
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        size_t n = strlen(ci->name);
        assert_memory_equal(line, ci->name, n);
        assert_true(line[n] == ' ');
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)(nl - line), line);
        assert_non_null(strstr(buf, ci->help));
        if (*ci->args)
            assert_non_null(strstr(buf, ci->args));
        line = nl + 1;
    }
    assert_string_equal(line, ""); /* nothing after the last command */
    free(t);
    /* help on one command */
    t = run_ok(&f, "help rule", 0);
    const qdb_cmd_info *ri = qdb_cmd_info_at(QDB_CMD_rule);
    char want[256];
    snprintf(want, sizeof want, "rule %s\n  %s\n", ri->args, ri->help);
    assert_string_equal(t, want);
    assert_string_equal(ri->args, "RULE");
    assert_int_equal(ri->slow, 1);
    free(t);
    t = run_ok(&f, "  help   rules  ", 0);
    assert_string_equal(t, "rules \n  list the rules: enabled, layers matched, accuracy contribution\n");
    free(t);
    run_err(&f, "help nosuch", QDB_ERR_INVALID, "no command 'nosuch'");
    /* quit only flags */
    t = run_ok(&f, "quit", QDB_CMD_QUIT);
    assert_string_equal(t, "");
    free(t);
    same_as(f.s, &before, 0);
    sf_free(&f);
}

/* ---- 3. rule, rules, enable, disable, delete ---- */

static void test_rule_commands(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, HEAD);
    qdb_session *s = f.s;
    int conv1 = sf_layer(s, "conv1"), head = sf_layer(s, HEAD), gap = sf_layer(s, "gap");
    assert_int_equal(s->q->layers[conv1].act.n_bits, 8);
    double base = s->baseline;
    int h0 = s->hist.n;
    unsigned long g0 = s->generation;
    char *t = run_ok(&f, "rule name=conv1 : act_bits=16", QDB_CMD_CHANGED);
    assert_non_null(strstr(t, "rule 1: name=conv1 : act_bits=16 (1 layer)\nquantized "));
    free(t);
    assert_int_equal(s->rs->n, 1);
    assert_true(s->generation > g0);
    assert_int_equal(s->q->layers[conv1].act.n_bits, 16);
    assert_int_equal(s->q->layers[conv1].prov[QDB_LA_ACT_BITS], 0);
    assert_int_equal(s->q->layers[head].act.n_bits, 8);
    assert_int_equal(s->q->layers[head].prov[QDB_LA_ACT_BITS], -1);
    /* figures: the baseline is kept (known), current is the network with
     * the rule, evaluated directly and from scratch */
    assert_float_equal(s->baseline, base, 0);
    assert_int_equal(s->evaluations, 1);
    double cur1 = quant_score(&f, s->q);
    assert_float_equal(s->current, cur1, 0);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    assert_float_equal(s->current, fresh_score(&f, &c, s->rs), 0);
    assert_int_equal(s->n_rules, 1);
    assert_int_equal(s->matches[0], 1);
    assert_float_equal(s->contrib[0], cur1 - base, 1e-15);
    /* history: one entry, named for the command, with the rule */
    check_history(s, h0, "rule name=conv1 : act_bits=16");
    assert_int_equal(s->hist.e[h0].n_rules, 1);
    assert_string_equal(s->hist.e[h0].rules[0], "name=conv1 : act_bits=16");
    /* rules lists it */
    t = run_ok(&f, "rules", 0);
    char want[256];
    snprintf(want, sizeof want, " 1 on  %s %3d layer  %+6.2f\n", "name=conv1 : act_bits=16", 1,
             100.0 * (cur1 - base));
    assert_string_equal(t, want);
    free(t);
    /* a second rule on both Conv layers */
    t = run_ok(&f, "rule type=Conv : w_bits=3", QDB_CMD_CHANGED);
    assert_non_null(strstr(t, "rule 2: type=Conv : w_bits=3 (2 layers)"));
    free(t);
    assert_int_equal(s->rs->n, 2);
    assert_int_equal(s->q->layers[conv1].wcfg.n_bits, 3);
    assert_int_equal(s->q->layers[head].wcfg.n_bits, 3);
    assert_int_equal(s->q->layers[head].prov[QDB_LA_W_BITS], 1);
    assert_int_equal(s->q->layers[gap].prov[QDB_LA_W_BITS], -1);
    assert_int_equal(s->matches[1], 2);
    double cur2 = quant_score(&f, s->q);
    assert_float_equal(s->current, cur2, 0);
    assert_int_equal(s->evaluations, 3); /* without 1, without 2, current */
    /* disable 1: conv1 back to 8 bits, rule 2 stays */
    int hn = s->hist.n;
    t = run_ok(&f, "disable 1", QDB_CMD_CHANGED);
    check_history(s, hn, "disable 1");
    assert_non_null(strstr(t, "rule 1 disabled\n"));
    free(t);
    assert_int_equal(s->rs->n, 2);
    assert_int_equal(s->rs->rules[0]->enabled, 0);
    assert_int_equal(s->q->layers[conv1].act.n_bits, 8);
    assert_int_equal(s->q->layers[conv1].prov[QDB_LA_ACT_BITS], -1);
    assert_int_equal(s->q->layers[conv1].wcfg.n_bits, 3);
    assert_true(isnan(s->contrib[0]));
    assert_int_equal(s->matches[0], 0);
    qdb_ruleset *only2 = qdb_ruleset_clone(s->rs, 0, NULL);
    assert_non_null(only2);
    double cur_d = fresh_score(&f, &c, only2);
    qdb_ruleset_free(only2);
    assert_float_equal(s->current, cur_d, 0);
    assert_float_equal(s->contrib[1], cur_d - base, 1e-15);
    t = run_ok(&f, "rules", 0);
    assert_non_null(strstr(t, " 1 off name=conv1 : act_bits=16"));
    /* a disabled rule says so rather than matching nothing; the figures
     * line up after the longest rule */
    assert_non_null(strstr(t, " 1 off name=conv1 : act_bits=16   (disabled)\n"
                              " 2 on  type=Conv : w_bits=3       2 layers"));
    free(t);
    /* enable 1: as before */
    hn = s->hist.n;
    t = run_ok(&f, "enable 1", QDB_CMD_CHANGED);
    check_history(s, hn, "enable 1");
    assert_non_null(strstr(t, "rule 1 enabled\n"));
    free(t);
    assert_int_equal(s->q->layers[conv1].act.n_bits, 16);
    assert_float_equal(s->current, cur2, 0);
    /* delete 1: rule 2 becomes rule 1, provenance renumbered */
    hn = s->hist.n;
    t = run_ok(&f, "delete 1", QDB_CMD_CHANGED);
    check_history(s, hn, "delete 1");
    assert_non_null(strstr(t, "rule 1 deleted\n"));
    free(t);
    assert_int_equal(s->rs->n, 1);
    char *rt = qdb_rule_format(s->rs->rules[0]);
    assert_string_equal(rt, "type=Conv : w_bits=3");
    free(rt);
    assert_int_equal(s->q->layers[conv1].act.n_bits, 8);
    assert_int_equal(s->q->layers[conv1].prov[QDB_LA_ACT_BITS], -1);
    assert_int_equal(s->q->layers[conv1].prov[QDB_LA_W_BITS], 0);
    assert_int_equal(s->q->layers[head].prov[QDB_LA_W_BITS], 0);
    assert_float_equal(s->current, cur_d, 0);
    assert_int_equal(s->n_rules, 1);
    assert_int_equal(s->matches[0], 2);
    t = run_ok(&f, "rules", 0);
    assert_non_null(strstr(t, " 1 on  type=Conv : w_bits=3"));
    assert_null(strchr(t, '\n')[1]); /* one line */
    free(t);
    /* numbers out of range */
    snapshot before;
    snap(s, &before);
    run_err(&f, "enable 5", QDB_ERR_INVALID, "enable: give a rule number from 1 to 1");
    run_err(&f, "disable 0", QDB_ERR_INVALID, "disable: give a rule number from 1 to 1");
    run_err(&f, "delete 1x", QDB_ERR_INVALID, "delete: give a rule number from 1 to 1");
    run_err(&f, "delete", QDB_ERR_INVALID, "delete: give a rule number from 1 to 1");
    same_as(s, &before, 0);
    t = run_ok(&f, "delete 1", QDB_CMD_CHANGED);
    free(t);
    assert_int_equal(s->rs->n, 0);
    assert_float_equal(s->current, base, 0);
    run_err(&f, "enable 1", QDB_ERR_INVALID, "enable: there are no rules");
    t = run_ok(&f, "rules", 0);
    assert_string_equal(t, "no rules\n");
    free(t);
    sf_free(&f);
}

/* ---- 4. bad rules change nothing ---- */

static void test_bad_rule(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, HEAD);
    qdb_session *s = f.s;
    char *t = run_ok(&f, "rule type=Conv : act_bits=6", QDB_CMD_CHANGED);
    free(t);
    snapshot before;
    snap(s, &before);
    run_err(&f, "rule all : act_bitz=4", QDB_ERR_INVALID, "unknown attribute 'act_bitz'");
    same_as(s, &before, 0);
    run_err(&f, "rule all : act_bits=99", QDB_ERR_INVALID, "act_bits");
    same_as(s, &before, 0);
    run_err(&f, "rule all act_bits=4", QDB_ERR_INVALID, "rule: column");
    run_err(&f, "rule name=\"unterminated : act_bits=4", QDB_ERR_INVALID, "rule");
    run_err(&f, "rule", QDB_ERR_INVALID, "rule: give a rule");
    run_err(&f, "rule    ", QDB_ERR_INVALID, "rule: give a rule");
    same_as(s, &before, 0);
    assert_int_equal(s->rs->n, 1);
    char *rt = qdb_rule_format(s->rs->rules[0]);
    assert_string_equal(rt, "type=Conv : act_bits=6");
    free(rt);
    assert_int_equal(s->q->layers[sf_layer(s, "conv1")].act.n_bits, 6);
    assert_int_equal(s->q->layers[sf_layer(s, "gap")].act.n_bits, 8);
    /* an unknown op type is refused before anything changes */
    run_err(&f, "rule type=Cnov : act_bits=4", QDB_ERR_INVALID, "unknown op type 'Cnov'");
    same_as(s, &before, 0);
    /* a value given to bits / wbits / method is one value, never more rule
     * text: "16,w_bits=2" is refused, the layer untouched */
    run_err(&f, "bits conv1 16,w_bits=2", QDB_ERR_INVALID, "bits:");
    run_err(&f, "bits conv1 16,act_bits=3", QDB_ERR_INVALID, "bits:");
    run_err(&f, "method conv1 KL,act_bits=3", QDB_ERR_INVALID, "method:");
    same_as(s, &before, 0);
    /* errors name their command */
    run_err(&f, "set nosuch=1", QDB_ERR_INVALID, "set: unknown quantization parameter 'nosuch'");
    run_err(&f, "bits nosuch 8", QDB_ERR_INVALID, "bits: no layer 'nosuch'");
    same_as(s, &before, 0);
    /* layer takes a quoted name like bits does */
    char *lt = run_ok(&f, "layer \"conv1\"", 0);
    assert_non_null(strstr(lt, "conv1"));
    free(lt);
    sf_free(&f);
}

/* ---- 5. cancellation ---- */

static void run_cancelled(sf_fixture *f, const char *line, prog *p)
{
    qdb_cmd_result r;
    qdb_err e = {0};
    assert_int_equal(qdb_cmd_run(f->s, line, on_progress, p, &r, &e), QDB_ERR_CANCELLED);
    assert_int_equal(e.code, QDB_ERR_CANCELLED);
    assert_non_null(strstr(e.msg, "cancelled"));
    assert_int_equal(r.flags & QDB_CMD_CHANGED, 0);
    qdb_cmd_result_free(&r);
}

static void test_cancel(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, HEAD);
    qdb_session *s = f.s;
    int conv1 = sf_layer(s, "conv1");
    char *t = run_ok(&f, "rule name=gap : act_bits=6", QDB_CMD_CHANGED);
    free(t);
    double cur0 = s->current;
    /* (these data:) the cancelled configuration scores otherwise, so the
     * checks below tell the two apart */
    qdb_quant_config c0;
    qdb_quant_config_init(&c0);
    qdb_ruleset *more = qdb_ruleset_clone(s->rs, -1, NULL);
    assert_non_null(more);
    qdb_err ea = {0};
    assert_int_equal(qdb_ruleset_add_text(more, "name=conv1 : act_bits=16", &ea), QDB_OK);
    double cur_more = fresh_score(&f, &c0, more);
    qdb_ruleset_free(more);
    assert_true(cur_more != cur0);
    snapshot before;
    snap(s, &before);
    assert_int_equal(s->q->layers[conv1].act.n_bits, 8);

    /* cancelled on the first progress call (evaluating) */
    prog p = {.cancel_at = 1};
    run_cancelled(&f, "rule name=conv1 : act_bits=16", &p);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.seen[2], 1); /* "quantized" */
    same_as(s, &before, 1);
    assert_int_equal(s->rs->n, 1);
    char *rt = qdb_rule_format(s->rs->rules[0]);
    assert_string_equal(rt, "name=gap : act_bits=6");
    free(rt);
    assert_int_equal(s->q->layers[conv1].act.n_bits, 8);
    assert_int_equal(s->q->layers[conv1].prov[QDB_LA_ACT_BITS], -1);
    /* the model is back to the previous configuration: evaluating it
     * directly gives the current figure */
    assert_float_equal(quant_score(&f, s->q), cur0, 0);

    /* cancelled while measuring (the evaluation had finished) */
    prog pm = {.cancel_phase = "measuring"};
    run_cancelled(&f, "rule name=conv1 : act_bits=16", &pm);
    assert_int_equal(pm.seen[3], 1);
    same_as(s, &before, 1);
    assert_int_equal(s->q->layers[conv1].act.n_bits, 8);
    assert_float_equal(quant_score(&f, s->q), cur0, 0);

    /* a cancelled `set`: configuration and baseline_known come back */
    prog ps = {.cancel_at = 1};
    run_cancelled(&f, "set activation_n_bits=5", &ps);
    same_as(s, &before, 1);
    assert_int_equal(s->q->cfg.activation_n_bits, 8);
    assert_int_equal(s->baseline_known, 1);
    /* cancelled delete and disable: the rule is still there and enabled */
    prog pd = {.cancel_at = 1};
    run_cancelled(&f, "delete 1", &pd);
    same_as(s, &before, 1);
    prog pe = {.cancel_at = 1};
    run_cancelled(&f, "disable 1", &pe);
    same_as(s, &before, 1);
    assert_int_equal(s->rs->rules[0]->enabled, 1);

    /* afterwards: requant reproduces the figures (the evaluation cache holds
     * nothing of the cancelled configurations), one pass (baseline known) */
    t = run_ok(&f, "requant", QDB_CMD_CHANGED);
    free(t);
    assert_float_equal(s->current, cur0, 0);
    assert_float_equal(s->baseline, before.baseline, 0);
    assert_int_equal(s->evaluations, 1);
    check_history(s, before.hist_n, "requant");
    /* and the rule that was cancelled goes in when not cancelled */
    t = run_ok(&f, "rule name=conv1 : act_bits=16", QDB_CMD_CHANGED);
    free(t);
    assert_int_equal(s->rs->n, 2);
    assert_int_equal(s->q->layers[conv1].act.n_bits, 16);
    assert_float_equal(s->current, quant_score(&f, s->q), 0);
    assert_float_equal(s->current, cur_more, 0);
    sf_free(&f);
}

/* ---- 6. bits / wbits / method on one layer ---- */

static void expect_rule(const qdb_session *s, int i, const char *want)
{
    assert_true(i < s->rs->n);
    char *t = qdb_rule_format(s->rs->rules[i]);
    assert_non_null(t);
    assert_string_equal(t, want);
    /* the canonical text parses back to the same rule */
    qdb_err e = {0};
    qdb_rule *back = qdb_rule_parse(t, &e);
    if (!back)
        fail_msg("%s: %s", t, e.msg);
    assert_true(qdb_rule_equal(back, s->rs->rules[i]));
    qdb_rule_free(back);
    free(t);
}

static void test_layer_commands(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, HEAD);
    qdb_session *s = f.s;
    int head = sf_layer(s, HEAD), gap = sf_layer(s, "gap"), conv1 = sf_layer(s, "conv1");
    assert_int_equal(qdb_session_find_layer(s, HEAD), head);
    assert_int_equal(qdb_session_find_layer(s, "head"), -1);
    /* by exact name, quoted with escapes */
    char *t = run_ok(&f, "bits \"head\\\"q\\b\\\\\" 16", QDB_CMD_CHANGED);
    assert_non_null(strstr(t, "rule 1: name=\"head\\\"q\\b\\\\\" : act_bits=16 (1 layer)\n"));
    free(t);
    expect_rule(s, 0, "name=\"head\\\"q\\b\\\\\" : act_bits=16");
    assert_int_equal(s->q->layers[head].act.n_bits, 16);
    assert_int_equal(s->q->layers[head].prov[QDB_LA_ACT_BITS], 0);
    assert_int_equal(s->matches[0], 1);
    /* the rule's own filter selects exactly that layer */
    for (int i = 0; i < s->q->n_layers; i++)
        assert_int_equal(qdb_filter_matches(s->rs->rules[0]->filter, s->q, i), i == head);
    /* by exact name as one word (no blanks in it) */
    t = run_ok(&f, "bits head\"q\\b\\ 12", QDB_CMD_CHANGED);
    free(t);
    expect_rule(s, 1, "name=\"head\\\"q\\b\\\\\" : act_bits=12");
    assert_int_equal(s->q->layers[head].act.n_bits, 12);
    assert_int_equal(s->q->layers[head].prov[QDB_LA_ACT_BITS], 1);
    /* by index */
    char line[64];
    snprintf(line, sizeof line, "bits %d 16", gap);
    t = run_ok(&f, line, QDB_CMD_CHANGED);
    free(t);
    expect_rule(s, 2, "name=gap : act_bits=16");
    assert_int_equal(s->q->layers[gap].act.n_bits, 16);
    assert_int_equal(s->q->layers[gap].prov[QDB_LA_ACT_BITS], 2);
    /* wbits and method */
    t = run_ok(&f, "wbits conv1 4", QDB_CMD_CHANGED);
    free(t);
    expect_rule(s, 3, "name=conv1 : w_bits=4");
    assert_int_equal(s->q->layers[conv1].wcfg.n_bits, 4);
    assert_int_equal(s->q->layers[conv1].prov[QDB_LA_W_BITS], 3);
    t = run_ok(&f, "method conv1 KL", QDB_CMD_CHANGED);
    free(t);
    expect_rule(s, 4, "name=conv1 : act_error=KL");
    assert_int_equal(s->q->layers[conv1].act.error_method, QDB_EM_KL);
    /* figures follow */
    assert_int_equal(s->rs->n, 5);
    assert_float_equal(s->current, quant_score(&f, s->q), 0);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    assert_float_equal(s->current, fresh_score(&f, &c, s->rs), 0);
    /* `layer` shows the provenance, numbered from 1 */
    snprintf(line, sizeof line, "layer %d", conv1);
    t = run_ok(&f, line, 0);
    assert_non_null(strstr(t, "  w_bits set by rule 4\n"));
    assert_non_null(strstr(t, "  act_error set by rule 5\n"));
    assert_non_null(strstr(t, "error method KL"));
    free(t);
    /* errors: missing layer, index out of range, bad bits, usage */
    snapshot before;
    snap(s, &before);
    run_err(&f, "bits nosuch 16", QDB_ERR_INVALID,
            "no layer 'nosuch' (give its name as in 'layers', or its number 0..3)");
    run_err(&f, "bits 4 16", QDB_ERR_INVALID, "no layer '4'");
    run_err(&f, "bits -1 16", QDB_ERR_INVALID, "no layer '-1'");
    run_err(&f, "bits head 16", QDB_ERR_INVALID, "no layer 'head'");
    run_err(&f, "bits conv1 99", QDB_ERR_INVALID, "act_bits");
    run_err(&f, "wbits conv1 1", QDB_ERR_INVALID, "w_bits");
    run_err(&f, "method conv1 NOPE", QDB_ERR_INVALID, "act_error");
    run_err(&f, "bits conv1", QDB_ERR_INVALID, "usage: bits LAYER N");
    run_err(&f, "bits conv1 8 9", QDB_ERR_INVALID, "usage: bits LAYER N");
    run_err(&f, "method \"conv1 KL", QDB_ERR_INVALID, "usage: method LAYER METHOD");
    same_as(s, &before, 0);
    sf_free(&f);
}

/* ---- 7. set ---- */

/* A fixed threshold replaces the search, but `layer` still shows what
 * each error method would choose, and marks the fixed one active. */
static void test_fixed_threshold(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, HEAD);
    qdb_session *s = f.s;
    int conv1 = sf_layer(s, "conv1");
    double before[QDB_EM_COUNT];
    memcpy(before, s->q->layers[conv1].thr_by_method, sizeof before);
    char *t = run_ok(&f, "rule name=conv1 : act_threshold=0.125", QDB_CMD_CHANGED);
    free(t);
    const qdb_qlayer *l = &s->q->layers[conv1];
    assert_float_equal(l->act_qp.threshold, 0.125, 0);
    for (int m = 0; m < QDB_EM_COUNT; m++)
        assert_float_equal(l->thr_by_method[m], before[m], 0);
    t = run_ok(&f, "layer conv1", 0);
    assert_non_null(strstr(t, "  fixed       threshold 0.125  <- active\n"));
    /* the only one marked */
    assert_ptr_equal(strstr(t, "<- active"), strstr(t, "0.125  <- active") + 7);
    free(t);
    sf_free(&f);
}

/* undo walks back through the changes (rules and global settings), each
 * step's figures those of a fresh model of that configuration, labelled
 * "undo" in the history; with nothing left it says so. */
static void test_undo(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, HEAD);
    qdb_session *s = f.s;
    int conv1 = sf_layer(s, "conv1");
    const double base = s->current;
    run_err(&f, "undo", QDB_ERR_INVALID, "nothing to undo");
    char *t = run_ok(&f, "rule name=conv1 : act_bits=16", QDB_CMD_CHANGED);
    free(t);
    const double c1 = s->current;
    t = run_ok(&f, "set activation_n_bits=4", QDB_CMD_CHANGED);
    free(t);
    assert_int_equal(s->q->cfg.activation_n_bits, 4);
    /* undo the set: 8 bits again, the rule stays, the same figures */
    int h0 = s->hist.n;
    t = run_ok(&f, "undo", QDB_CMD_CHANGED);
    assert_non_null(strstr(t, "undone: set activation_n_bits=4\nquantized "));
    free(t);
    check_history(s, h0, "undo");
    assert_int_equal(s->q->cfg.activation_n_bits, 8);
    assert_int_equal(s->rs->n, 1);
    assert_int_equal(s->q->layers[conv1].act.n_bits, 16);
    assert_float_equal(s->current, c1, 0);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    assert_float_equal(s->baseline, fresh_score(&f, &c, NULL), 0);
    /* undo the rule: no rules, the first figures; that network's per-layer
     * figures are remembered, not measured again */
    qdb_layer_metrics m0 = s->q->layers[conv1].m;
    int measured = s->n_measured;
    t = run_ok(&f, "undo", QDB_CMD_CHANGED);
    assert_non_null(strstr(t, "undone: rule name=conv1 : act_bits=16\n"));
    free(t);
    assert_int_equal(s->rs->n, 0);
    assert_int_equal(s->q->layers[conv1].act.n_bits, 8);
    assert_float_equal(s->current, base, 0);
    assert_int_equal(s->n_measured, measured);
    assert_true(s->q->layers[conv1].m.valid);
    assert_true(s->q->layers[conv1].m.sqnr_own_db != m0.sqnr_own_db); /* 8 bits again, not 16 */
    t = run_ok(&f, "requant", QDB_CMD_CHANGED); /* the same network: recalled again */
    free(t);
    assert_int_equal(s->n_measured, measured);
    run_err(&f, "undo", QDB_ERR_INVALID, "nothing to undo");
    run_err(&f, "undo 2", QDB_ERR_INVALID, "usage: undo");
    sf_free(&f);
}

/* bisect's arguments in the order of its syntax: a number first is the
 * tolerance (with or without a dot), one after it or after the precision
 * the number of samples. */
static void test_bisect_args(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, HEAD);
    qdb_session *s = f.s;
    run_err(&f, "bisect 500", QDB_ERR_INVALID, "tolerance '500' is not in [0, 100] points");
    run_err(&f, "bisect 1 16 x", QDB_ERR_INVALID, "'x': expected");
    run_err(&f, "bisect 1 16 0", QDB_ERR_INVALID, "'0': expected");
    char *t = run_ok(&f, "bisect 2 16 8", 0);
    free(t);
    assert_int_equal(s->bis_n, 8);
    assert_int_equal(s->bis_raise, QDB_RAISE_16BIT);
    assert_float_equal(s->bis.target, s->bis.float_s.score - 0.02, 1e-12);
    t = run_ok(&f, "bisect 1", 0); /* a tolerance of 1 point, not 1 sample */
    free(t);
    assert_true(s->bis_n > 8); /* the default, 500, or all there are */
    assert_int_equal(s->bis_raise, QDB_RAISE_FLOAT);
    assert_float_equal(s->bis.target, s->bis.float_s.score - 0.01, 1e-12);
    /* sensitivity lists every layer, with the probe's float and quantized scores */
    t = run_ok(&f, "sensitivity 8", 0);
    assert_non_null(strstr(t, "sensitivity on 8 samples"));
    char want[64];
    snprintf(want, sizeof want, "float %.2f %%, quantized %.2f %%", 100.0 * s->sens.float_s.score,
             100.0 * s->sens.quant.score);
    assert_non_null(strstr(t, want));
    int lines = 0;
    for (const char *c = t; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 3 + s->sens.n); /* title, header, one per layer, summary */
    free(t);
    t = run_ok(&f, "bisect float 12", 0);
    free(t);
    assert_int_equal(s->bis_n, 12);
    assert_float_equal(s->bis.target, s->bis.float_s.score - 0.005, 1e-12);
    sf_free(&f);
}

static void test_set(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, HEAD);
    qdb_session *s = f.s;
    /* the key's name as the configuration table has it */
    const qdb_config_key *k = NULL;
    for (int i = 0; i < qdb_config_key_count(); i++)
        if (qdb_config_key_at(i)->offset == offsetof(qdb_quant_config, activation_n_bits))
            k = qdb_config_key_at(i);
    assert_non_null(k);
    assert_string_equal(k->name, "activation_n_bits");
    int gap = sf_layer(s, "gap"), conv1 = sf_layer(s, "conv1");
    char *t = run_ok(&f, "rule name=gap : act_bits=16", QDB_CMD_CHANGED);
    free(t);
    double base8 = s->baseline;
    assert_int_equal(s->evaluations, 1); /* baseline known: current only */
    int h0 = s->hist.n;
    t = run_ok(&f, "set activation_n_bits=4", QDB_CMD_CHANGED);
    assert_non_null(strstr(t, "set activation_n_bits=4\nquantized "));
    free(t);
    assert_int_equal(s->q->cfg.activation_n_bits, 4);
    assert_int_equal(s->q->layers[conv1].act.n_bits, 4);
    assert_int_equal(s->q->layers[gap].act.n_bits, 16); /* the rule still wins */
    /* the baseline was evaluated again, for 4 bits: baseline + current */
    assert_int_equal(s->evaluations, 2);
    assert_int_equal(s->baseline_known, 1);
    qdb_quant_config c4;
    qdb_quant_config_init(&c4);
    c4.activation_n_bits = 4;
    double b4 = fresh_score(&f, &c4, NULL);
    assert_true(b4 != base8); /* (these data:) the old baseline would not pass */
    assert_float_equal(s->baseline, b4, 0);
    assert_float_equal(s->current, fresh_score(&f, &c4, s->rs), 0);
    assert_float_equal(s->current, quant_score(&f, s->q), 0);
    assert_float_equal(s->contrib[0], s->current - b4, 1e-15);
    check_history(s, h0, "set activation_n_bits=4");
    /* the 8-bit baseline was that of 8 bits */
    qdb_quant_config c8;
    qdb_quant_config_init(&c8);
    assert_float_equal(base8, fresh_score(&f, &c8, NULL), 0);
    /* bad keys and values change nothing */
    snapshot before;
    snap(s, &before);
    run_err(&f, "set nosuch=1", QDB_ERR_INVALID, "unknown quantization parameter 'nosuch'");
    run_err(&f, "set activation_n_bits=99", QDB_ERR_INVALID, "activation_n_bits");
    run_err(&f, "set activation_n_bits", QDB_ERR_INVALID, "");
    run_err(&f, "set", QDB_ERR_INVALID, "set: give KEY=VALUE");
    same_as(s, &before, 0);
    /* back to 8 bits: the first baseline again */
    t = run_ok(&f, "set activation_n_bits=8", QDB_CMD_CHANGED);
    free(t);
    assert_int_equal(s->evaluations, 2);
    assert_float_equal(s->baseline, base8, 0);
    sf_free(&f);
}

/* ---- 8. match ---- */

static void test_match(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, HEAD);
    qdb_session *s = f.s;
    char *t = run_ok(&f, "rule name=gap : act_bits=12", QDB_CMD_CHANGED);
    free(t);
    snapshot before;
    snap(s, &before);
    /* the Conv layers, counted from the layer table */
    int n_conv = 0;
    for (int i = 0; i < s->q->n_layers; i++)
        n_conv += !strcmp(s->q->layers[i].type, "Conv");
    assert_int_equal(n_conv, 2);
    t = run_ok(&f, "match type=Conv", 0);
    int lines = 0;
    for (const char *p = t; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, n_conv + 1);
    for (int i = 0; i < s->q->n_layers; i++) {
        char want[128];
        snprintf(want, sizeof want, "%4d  %-44s %s\n", i, s->q->layers[i].name, s->q->layers[i].op);
        if (!strcmp(s->q->layers[i].type, "Conv"))
            assert_non_null(strstr(t, want));
        else
            assert_null(strstr(t, want));
    }
    char want[64];
    snprintf(want, sizeof want, "%d of %d layers match\n", n_conv, s->q->n_layers);
    assert_non_null(strstr(t, want));
    assert_null(strstr(t, "warning"));
    free(t);
    same_as(s, &before, 0);
    /* a whole rule: its filter; its actions are not applied */
    t = run_ok(&f, "match all : act_bits=2", 0);
    assert_non_null(strstr(t, "4 of 4 layers match\n"));
    free(t);
    /* a scope filter (its ':' is not the rule's) */
    t = run_ok(&f, "match name:conv", 0);
    assert_non_null(strstr(t, "1 of 4 layers match\n"));
    assert_non_null(strstr(t, "conv1"));
    free(t);
    /* nothing selected: a warning */
    t = run_ok(&f, "match type=Sigmoid", 0);
    assert_string_equal(t, "0 of 4 layers match (warning: none)\n");
    free(t);
    t = run_ok(&f, "match name=nothing and type=Conv", 0);
    assert_non_null(strstr(t, "warning"));
    free(t);
    run_err(&f, "match", QDB_ERR_INVALID, "match: give a rule or a filter");
    run_err(&f, "match type=", QDB_ERR_INVALID, "rule");
    /* a filter alone is reported as a filter, not as a rule missing ':' */
    run_err(&f, "match tpye=Conv", QDB_ERR_INVALID, "unknown filter key 'tpye' (did you mean 'type'?)");
    run_err(&f, "match name~\"(\"", QDB_ERR_INVALID, "bad regular expression");
    same_as(s, &before, 0);
    assert_int_equal(s->q->layers[sf_layer(s, "conv1")].act.n_bits, 8);
    sf_free(&f);
}

/* ---- 9. an unlabelled evaluation set ---- */

/* Without labels, scores are agreement with the float model: the float
 * model itself scores 1, the quantized one the fraction of predictions it
 * shares with the float model (computed here from both runs). */
static void test_unlabelled(void **state)
{
    (void)state;
    sf_fixture f;
    sf_new(&f, HEAD);
    /* swap the evaluation set for the same images without labels */
    qdb_dataset_free(f.s->de);
    f.s->de = sf_open_set(f.xe, NULL);
    sf_prepare(&f, NULL, NULL);
    qdb_session *s = f.s;
    assert_float_equal(s->float_score, 1.0, 0);
    /* the float predictions and the quantized ones, independently */
    qdb_tensor *yf = qf_run(s->g, f.xe);
    qdb_dataset *d = sf_open_set(f.xe, NULL);
    qdb_eval_opts o = {.batch = BATCH};
    qdb_qmodel_eval_opts(s->q, &o);
    qdb_eval_result r;
    qdb_err e = {0};
    if (qdb_eval_run(s->q->gq, d, &o, &r, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    int64_t same = 0;
    for (int64_t i = 0; i < N_EVAL; i++)
        same += r.pred[i] == sf_arg_max(yf->data.f + i * N_CLASS, N_CLASS);
    assert_float_equal(s->current, (double)same / N_EVAL, 1e-12);
    char *t = run_ok(&f, "status", 0);
    assert_non_null(strstr(t, "float 100.00 %"));
    free(t);
    qdb_eval_result_free(&r);
    qdb_dataset_free(d);
    qdb_tensor_free(yf);
    sf_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare),
        cmocka_unit_test(test_parsing_and_help),
        cmocka_unit_test(test_rule_commands),
        cmocka_unit_test(test_bad_rule),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_layer_commands),
        cmocka_unit_test(test_fixed_threshold),
        cmocka_unit_test(test_undo),
        cmocka_unit_test(test_bisect_args),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_unlabelled),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
