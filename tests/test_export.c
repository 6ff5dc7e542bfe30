/* test_export.c - what leaves an investigation (sessions/export.h): the
 * quantization spec (JSON) and the reproducing script, on the small session
 * of tests/support/session_fixture.h. Expectations are worked out here from
 * the session's own state (q->layers, q->cfg, the rules) and, for the grid
 * steps, from the quantizer's formulas (power of two / symmetric: a signed
 * grid's step is t / 2^(b-1), an unsigned one's t / 2^b, held as a float).
 *
 *   spec:   written with the export-spec command and read back with cJSON:
 *           format version, model, every config key as qdb_quant_config_get
 *           gives it, the rules (canonical text, enabled), the accuracies,
 *           one entry per layer (index, name, op, activation bits / signed /
 *           threshold / step / range, weights with one threshold per
 *           channel, which rule set which attribute); a uniform layer has
 *           its range instead of a threshold;
 *   errors: before the session is prepared, a path in a missing directory
 *           (no file left), usage; an existing file is replaced atomically
 *           (the second content wins, no temporary file remains);
 *   script: the text (header with the run line, non-default `set`s only,
 *           canonical rules in order, `disable N` after a disabled rule,
 *           `status` last); the export-script command writes the same text;
 *           REPLAYED with qdb_script_run on a fresh twin session it gives
 *           exactly the same figures, rules and configuration (also when
 *           the original interleaved rules and `set`s);
 *   run line: without origin flags nothing trails the model; flags and
 *           paths with blanks or quotes are shell-quoted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "export.h"
#include "quant_config.h"
#include "quantizer.h"
#include "rule.h"
#include "script.h"
#include "session.h"
#include "session_fixture.h"
#include "tmpdir.h"

/* ---- helpers ---- */

/* Run a command; returns its status, e holds the message. */
static qdb_status cmd(qdb_session *s, const char *line, qdb_err *e)
{
    qdb_cmd_result r;
    memset(e, 0, sizeof *e);
    qdb_status st = qdb_cmd_run(s, line, NULL, NULL, &r, e);
    qdb_cmd_result_free(&r);
    return st;
}

/* Run a command that must succeed; returns its text (caller frees). */
static char *cmd_ok(qdb_session *s, const char *line)
{
    qdb_cmd_result r;
    qdb_err e = {0};
    if (qdb_cmd_run(s, line, NULL, NULL, &r, &e) != QDB_OK)
        fail_msg("%s: %s", line, e.msg);
    char *t = strdup(r.text);
    assert_non_null(t);
    qdb_cmd_result_free(&r);
    return t;
}

static void cmd_ok0(qdb_session *s, const char *line)
{
    free(cmd_ok(s, line));
}

/* A path under the scratch directory (static buffer per call site). */
static void path_in(char *buf, size_t n, const char *name)
{
    int k = snprintf(buf, n, "%s/%s", tmpdir_path(), name);
    assert_true(k > 0 && (size_t)k < n);
}

static char *slurp(const char *path)
{
    return tmpdir_slurp(path, NULL);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The entries of a directory other than . and .. (their names joined by
 * '/', in no particular order, into buf); returns how many. */
static int dir_entries(const char *dir, char *buf, size_t n)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int k = 0;
    buf[0] = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        k++;
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%s", l ? "/" : "", de->d_name);
    }
    closedir(d);
    return k;
}

/* A JSON file's tree (fails the test when it does not parse). */
static cJSON *read_json(const char *path)
{
    char *t = slurp(path);
    if (!t)
        fail_msg("%s: not written", path);
    size_t n = strlen(t);
    assert_true(n > 0);
    assert_int_equal(t[n - 1], '\n'); /* a text file: ends with a newline */
    cJSON *j = cJSON_Parse(t);
    if (!j)
        fail_msg("%s: not JSON near '%.40s'", path, cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
    free(t);
    return j;
}

static const cJSON *member(const cJSON *o, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!m)
        fail_msg("no member \"%s\"", name);
    return m;
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *m = member(o, name);
    if (!cJSON_IsNumber(m))
        fail_msg("\"%s\" is not a number", name);
    return m->valuedouble;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *m = member(o, name);
    if (!cJSON_IsString(m))
        fail_msg("\"%s\" is not a string", name);
    return m->valuestring;
}

static int boolean(const cJSON *o, const char *name)
{
    const cJSON *m = member(o, name);
    if (!cJSON_IsBool(m))
        fail_msg("\"%s\" is not a boolean", name);
    return cJSON_IsTrue(m);
}

/* Equal within a relative 1e-12 (what cJSON's printing keeps of a double). */
static void assert_near(double got, double want, const char *what)
{
    double tol = 1e-12 * fmax(fabs(got), fabs(want));
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: %.17g, want %.17g", what, got, want);
}

/* The step of a power-of-two / symmetric grid, worked out here: the
 * threshold over 2^(bits-1) when signed (half the levels each side), over
 * 2^bits when unsigned, held as a float. */
static double want_step(double t, int bits, int is_signed)
{
    return (double)(float)(t / ldexp(1.0, bits - (is_signed ? 1 : 0)));
}

/* Check one power-of-two / symmetric parameter set in the spec. */
static void check_sym_qparams(const cJSON *o, const qdb_qparams *p, const char *what)
{
    assert_string_equal(str(o, "method"), qdb_quant_method_name(p->method));
    assert_int_equal((int)num(o, "bits"), p->n_bits);
    assert_int_equal(boolean(o, "signed"), p->is_signed != 0);
    assert_near(num(o, "threshold"), p->threshold, what);
    assert_true(p->threshold > 0.0);
    double step = want_step(p->threshold, p->n_bits, p->is_signed);
    assert_near(num(o, "step"), step, what);
    /* the grid: from -t (signed) or 0, 2^bits levels of that step */
    float lo = p->is_signed ? -(float)p->threshold : 0.0f;
    float hi = lo + (float)step * (float)(ldexp(1.0, p->n_bits) - 1.0);
    assert_near(num(o, "lowest"), lo, what);
    assert_near(num(o, "highest"), hi, what);
    /* no uniform range */
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "min"));
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "max"));
}

/* The canonical text of rule i. */
static char *rule_text(const qdb_session *s, int i)
{
    char *t = qdb_rule_format(s->rs->rules[i]);
    assert_non_null(t);
    return t;
}

/* Check the whole spec tree against the session. */
static void check_spec(const cJSON *j, const qdb_session *s)
{
    assert_true(cJSON_IsObject(j));
    assert_int_equal((int)num(j, "qdb_quant_spec"), 1);
    assert_true(num(j, "qdb_quant_spec") == 1.0);
    assert_string_equal(str(j, "model"), s->model);
    assert_string_equal(str(j, "model"), "test.onnx");

    /* every config key, with the value the configuration gives */
    const cJSON *cfg = member(j, "config");
    assert_true(cJSON_IsObject(cfg));
    assert_int_equal(cJSON_GetArraySize(cfg), qdb_config_key_count());
    for (int k = 0; k < qdb_config_key_count(); k++) {
        const qdb_config_key *key = qdb_config_key_at(k);
        char v[64];
        qdb_quant_config_get(&s->q->cfg, key, v, sizeof v);
        assert_string_equal(str(cfg, key->name), v);
    }

    /* the rules: canonical text and enabled flag, in order */
    const cJSON *rules = member(j, "rules");
    assert_true(cJSON_IsArray(rules));
    assert_int_equal(cJSON_GetArraySize(rules), s->rs->n);
    for (int i = 0; i < s->rs->n; i++) {
        const cJSON *r = cJSON_GetArrayItem(rules, i);
        char *t = rule_text(s, i);
        assert_string_equal(str(r, "text"), t);
        assert_int_equal(boolean(r, "enabled"), s->rs->rules[i]->enabled != 0);
        free(t);
    }

    /* the accuracies of a prepared session */
    const cJSON *acc = member(j, "accuracy");
    assert_near(num(acc, "float"), s->float_score, "float");
    assert_near(num(acc, "baseline"), s->baseline, "baseline");
    assert_near(num(acc, "quantized"), s->current, "quantized");
    assert_true(num(acc, "float") == 0.75); /* 48 / 64, the fixture's labels */
    assert_true(boolean(acc, "labelled"));

    /* one entry per layer */
    const cJSON *layers = member(j, "layers");
    assert_true(cJSON_IsArray(layers));
    assert_int_equal(cJSON_GetArraySize(layers), s->q->n_layers);
    for (int L = 0; L < s->q->n_layers; L++) {
        const qdb_qlayer *l = &s->q->layers[L];
        const cJSON *o = cJSON_GetArrayItem(layers, L);
        char what[160];
        snprintf(what, sizeof what, "layer %d (%s)", L, l->name);
        assert_int_equal((int)num(o, "index"), L);
        assert_string_equal(str(o, "name"), l->name);
        assert_string_equal(str(o, "op"), l->op);

        const cJSON *act = member(o, "activation");
        assert_int_equal(boolean(act, "quantized"), l->act_active != 0);
        assert_string_equal(str(act, "error_method"), qdb_error_method_name(l->act.error_method));
        if (l->act_active) {
            if (l->act_qp.method == QDB_QM_UNIFORM) {
                assert_near(num(act, "min"), l->act_qp.min, what);
                assert_near(num(act, "max"), l->act_qp.max, what);
                assert_null(cJSON_GetObjectItemCaseSensitive(act, "threshold"));
                assert_null(cJSON_GetObjectItemCaseSensitive(act, "signed"));
                assert_int_equal((int)num(act, "bits"), l->act_qp.n_bits);
                assert_near(num(act, "step"), l->act_grid.delta, what);
            } else {
                check_sym_qparams(act, &l->act_qp, what);
                /* and the same grid as the quantizer in place */
                assert_near(num(act, "step"), l->act_grid.delta, what);
                assert_near(num(act, "lowest"), l->act_grid.lo, what);
            }
        } else {
            assert_null(cJSON_GetObjectItemCaseSensitive(act, "bits"));
        }

        const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "weights");
        if (l->w_value < 0) {
            assert_null(w);
        } else {
            assert_non_null(w);
            assert_int_equal(boolean(w, "quantized"), l->wcfg.enabled && l->n_w_qp > 0);
            assert_int_equal((int)num(w, "bits"), l->wcfg.n_bits);
            assert_string_equal(str(w, "method"), qdb_quant_method_name(l->wcfg.method));
            assert_int_equal(boolean(w, "per_channel"), l->wcfg.per_channel != 0);
            assert_int_equal((int)num(w, "channel_axis"), l->w_axis);
            const cJSON *ch = member(w, "channels");
            assert_true(cJSON_IsArray(ch));
            assert_int_equal(cJSON_GetArraySize(ch), l->n_w_qp);
            assert_int_equal(l->n_w_qp, l->wcfg.per_channel ? l->w_channels : 1);
            for (int c = 0; c < l->n_w_qp; c++) {
                char wc[200];
                snprintf(wc, sizeof wc, "%s channel %d", what, c);
                const cJSON *p = cJSON_GetArrayItem(ch, c);
                assert_non_null(p);
                assert_true(l->w_qp[c].is_signed); /* weights are signed */
                check_sym_qparams(p, &l->w_qp[c], wc);
                assert_int_equal((int)num(p, "bits"), l->wcfg.n_bits);
            }
        }

        /* set_by_rule: the attributes a rule set, with its number */
        const cJSON *prov = member(o, "set_by_rule");
        assert_true(cJSON_IsObject(prov));
        int n_prov = 0;
        for (int a = 0; a < QDB_LA_COUNT; a++) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(prov, qdb_layer_attr_name((qdb_layer_attr)a));
            if (l->prov[a] >= 0) {
                assert_non_null(p);
                assert_int_equal((int)p->valuedouble, l->prov[a] + 1);
                n_prov++;
            } else {
                assert_null(p);
            }
        }
        assert_int_equal(cJSON_GetArraySize(prov), n_prov);
    }
}

/* ---- 1. the spec ---- */

static void test_spec(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, "head");
    qdb_session *s = f.s;
    /* the key names used below exist */
    assert_non_null(qdb_config_key_find("weights_per_channel_threshold"));
    cmd_ok0(s, "rule type=Conv : act_bits=6");
    cmd_ok0(s, "set weights_per_channel_threshold=false");
    assert_int_equal(s->q->cfg.weights_per_channel_threshold, 0);

    char path[512], line[600];
    path_in(path, sizeof path, "spec.json");
    snprintf(line, sizeof line, "export-spec %s", path);
    char *out = cmd_ok(s, line);
    char want[700];
    snprintf(want, sizeof want, "export-spec: 4 layers written to %s\n", path);
    assert_string_equal(out, want);
    free(out);

    cJSON *j = read_json(path);
    check_spec(j, s);

    /* worked out by hand for this session */
    const cJSON *cfg = member(j, "config");
    assert_string_equal(str(cfg, "weights_per_channel_threshold"), "false");
    assert_string_equal(str(cfg, "activation_n_bits"), "8");
    assert_string_equal(str(cfg, "activation_error_method"), "MSE");
    const cJSON *rules = member(j, "rules");
    assert_int_equal(cJSON_GetArraySize(rules), 1);
    assert_string_equal(str(cJSON_GetArrayItem(rules, 0), "text"), "type=Conv : act_bits=6");
    assert_true(boolean(cJSON_GetArrayItem(rules, 0), "enabled"));
    assert_int_equal((int)num(member(cJSON_GetArrayItem(rules, 0), "actions"), "act_bits"), 6);

    const cJSON *layers = member(j, "layers");
    static const char *const names[] = {"x", "conv1", "gap", "head"};
    for (int L = 0; L < 4; L++) {
        const cJSON *o = cJSON_GetArrayItem(layers, L);
        assert_string_equal(str(o, "name"), names[L]);
        const cJSON *prov = member(o, "set_by_rule");
        int conv = L == 1 || L == 3;
        if (conv) {
            /* the rule (number 1) set act_bits on the Conv layers, nothing else */
            assert_int_equal(cJSON_GetArraySize(prov), 1);
            assert_int_equal((int)num(prov, "act_bits"), 1);
            const cJSON *act = member(o, "activation");
            assert_true(boolean(act, "quantized"));
            assert_int_equal((int)num(act, "bits"), 6);
            assert_string_equal(str(act, "method"), "POWER_OF_TWO");
            /* a power-of-two threshold */
            int ex;
            assert_true(frexp(num(act, "threshold"), &ex) == 0.5);
            /* weights: one tensor-wide threshold (per_channel off), 8 bits */
            const cJSON *w = member(o, "weights");
            assert_false(boolean(w, "per_channel"));
            assert_int_equal((int)num(w, "bits"), 8);
            assert_int_equal(cJSON_GetArraySize(member(w, "channels")), 1);
            assert_string_equal(str(cJSON_GetArrayItem(member(w, "channels"), 0), "method"),
                                "SYMMETRIC");
        } else {
            assert_int_equal(cJSON_GetArraySize(prov), 0);
            assert_null(cJSON_GetObjectItemCaseSensitive(o, "weights"));
            const cJSON *act = member(o, "activation");
            if (boolean(act, "quantized"))
                assert_int_equal((int)num(act, "bits"), 8);
        }
    }
    /* the activation parameters, checked once more against the layer */
    const qdb_qlayer *c1 = &s->q->layers[sf_layer(s, "conv1")];
    assert_int_equal(c1->act_qp.n_bits, 6);
    const cJSON *a1 = member(cJSON_GetArrayItem(layers, 1), "activation");
    assert_near(num(a1, "threshold"), c1->act_qp.threshold, "conv1 threshold");
    assert_near(num(a1, "step"), want_step(c1->act_qp.threshold, 6, c1->act_qp.is_signed),
                "conv1 step");
    cJSON_Delete(j);

    /* the tree the file came from is the same */
    cJSON *tree = qdb_export_spec_json(s);
    assert_non_null(tree);
    check_spec(tree, s);
    cJSON_Delete(tree);

    /* per channel: one threshold per output channel (conv1: 6, head: 5) */
    cmd_ok0(s, "set weights_per_channel_threshold=true");
    char path2[512];
    path_in(path2, sizeof path2, "spec2.json");
    qdb_err e = {0};
    assert_int_equal(qdb_export_spec(s, path2, &e), QDB_OK);
    j = read_json(path2);
    check_spec(j, s);
    layers = member(j, "layers");
    assert_int_equal(cJSON_GetArraySize(member(member(cJSON_GetArrayItem(layers, 1), "weights"),
                                               "channels")),
                     6);
    assert_int_equal(cJSON_GetArraySize(member(member(cJSON_GetArrayItem(layers, 3), "weights"),
                                               "channels")),
                     N_CLASS);
    const qdb_qlayer *h = &s->q->layers[3];
    assert_int_equal(h->n_w_qp, N_CLASS);
    const cJSON *ch = member(member(cJSON_GetArrayItem(layers, 3), "weights"), "channels");
    for (int c = 0; c < h->n_w_qp; c++)
        assert_near(num(cJSON_GetArrayItem(ch, c), "threshold"), h->w_qp[c].threshold,
                    "head channel threshold");
    cJSON_Delete(j);
    sf_free(&f);
}

/* ---- 2. spec errors and atomic replacement ---- */

static void test_spec_errors(void **state)
{
    (void)state;
    char path[512], line[1100];
    qdb_err e;

    /* before the session is prepared: an error, no file */
    sf_fixture f;
    sf_new(&f, "head");
    path_in(path, sizeof path, "early.json");
    snprintf(line, sizeof line, "export-spec %s", path);
    assert_int_equal(cmd(f.s, line, &e), QDB_ERR_INVALID);
    assert_int_equal(e.code, QDB_ERR_INVALID);
    assert_true(!strncmp(e.msg, "export-spec: ", 13));
    assert_false(exists(path));
    memset(&e, 0, sizeof e);
    assert_int_not_equal(qdb_export_spec(f.s, path, &e), QDB_OK);
    assert_true(e.msg[0] != 0);
    assert_false(exists(path));
    sf_prepare(&f, NULL, NULL);
    qdb_session *s = f.s;

    /* usage */
    assert_int_equal(cmd(s, "export-spec", &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "export-spec FILE"));
    snprintf(line, sizeof line, "export-spec %s %s", path, path);
    assert_int_equal(cmd(s, line, &e), QDB_ERR_INVALID);
    assert_false(exists(path));

    /* a path in a missing directory: an error naming it, nothing created */
    char missing[512];
    path_in(missing, sizeof missing, "nosuch");
    path_in(path, sizeof path, "nosuch/spec.json");
    snprintf(line, sizeof line, "export-spec %s", path);
    assert_int_equal(cmd(s, line, &e), QDB_ERR_IO);
    assert_true(!strncmp(e.msg, "export-spec: ", 13));
    assert_non_null(strstr(e.msg, path));
    assert_false(exists(path));
    assert_false(exists(missing));
    memset(&e, 0, sizeof e);
    assert_int_equal(qdb_export_spec(s, path, &e), QDB_ERR_IO);
    assert_false(exists(missing));

    /* an existing file is replaced atomically: in a directory of its own,
     * written twice; the second content wins, no temporary file remains */
    char dir[512];
    path_in(dir, sizeof dir, "replace");
    assert_int_equal(mkdir(dir, 0700), 0);
    path_in(path, sizeof path, "replace/spec.json");
    snprintf(line, sizeof line, "export-spec %s", path);
    cmd_ok0(s, "rule type=Conv : act_bits=6");
    cmd_ok0(s, line);
    cJSON *j = read_json(path);
    assert_int_equal(cJSON_GetArraySize(member(j, "rules")), 1);
    cJSON_Delete(j);
    struct stat st1;
    assert_int_equal(stat(path, &st1), 0);

    /* another rule: gap on a uniform grid */
    cmd_ok0(s, "rule name=gap : act_method=UNIFORM");
    assert_int_equal(s->q->layers[2].act_qp.method, QDB_QM_UNIFORM);
    cmd_ok0(s, line);
    char names[1024];
    assert_int_equal(dir_entries(dir, names, sizeof names), 1);
    assert_string_equal(names, "spec.json");
    j = read_json(path);
    check_spec(j, s);
    const cJSON *rules = member(j, "rules");
    assert_int_equal(cJSON_GetArraySize(rules), 2);
    assert_string_equal(str(cJSON_GetArrayItem(rules, 1), "text"), "name=gap : act_method=UNIFORM");
    const cJSON *gap = cJSON_GetArrayItem(member(j, "layers"), 2);
    assert_string_equal(str(gap, "name"), "gap");
    const cJSON *ga = member(gap, "activation");
    assert_string_equal(str(ga, "method"), "UNIFORM");
    assert_null(cJSON_GetObjectItemCaseSensitive(ga, "threshold"));
    assert_true(num(ga, "max") > num(ga, "min"));
    assert_int_equal((int)num(member(gap, "set_by_rule"), "act_method"), 2);
    cJSON_Delete(j);
    /* a new file took the old one's place (rename, not rewrite in place) */
    struct stat st2;
    assert_int_equal(stat(path, &st2), 0);
    assert_true(st1.st_ino != st2.st_ino);

    /* a failed write leaves the previous content: the target is a directory
     * (rename cannot replace it), and the directory gets no stray file */
    char sub[512];
    path_in(sub, sizeof sub, "replace/adir");
    assert_int_equal(mkdir(sub, 0700), 0);
    memset(&e, 0, sizeof e);
    assert_int_not_equal(qdb_export_spec(s, sub, &e), QDB_OK);
    assert_int_equal(dir_entries(dir, names, sizeof names), 2);
    assert_int_equal(rmdir(sub), 0);
    sf_free(&f);
}

/* ---- 3. the script, and its replay ---- */

/* Run script text on s (fmemopen), output to a memory stream. */
static void replay(qdb_session *s, const char *text, qdb_script_result *r, char **out)
{
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(in);
    size_t out_len = 0, err_len = 0;
    char *err = NULL;
    FILE *o = open_memstream(out, &out_len), *eo = open_memstream(&err, &err_len);
    assert_non_null(o);
    assert_non_null(eo);
    qdb_script_opts opts = {0};
    qdb_err e = {0};
    qdb_status st = qdb_script_run(s, in, "exported.qdb", o, eo, &opts, r, &e);
    fclose(in);
    fclose(o);
    fclose(eo);
    if (st != QDB_OK)
        fail_msg("replay: %s\n%s", e.msg, err);
    assert_string_equal(err, "");
    free(err);
}

/* The spec of a session as text (caller frees). */
static char *spec_text(const qdb_session *s)
{
    cJSON *j = qdb_export_spec_json(s);
    assert_non_null(j);
    char *t = cJSON_Print(j);
    assert_non_null(t);
    cJSON_Delete(j);
    return t;
}

/* The replayed session is the original: figures, rules, configuration,
 * every layer's parameters (through the spec's text). */
static void assert_same_session(const qdb_session *a, const qdb_session *b)
{
    assert_true(a->float_score == b->float_score);
    assert_true(a->baseline == b->baseline);
    assert_true(a->current == b->current);
    assert_int_equal(a->rs->n, b->rs->n);
    for (int i = 0; i < a->rs->n; i++) {
        char *ta = rule_text(a, i), *tb = rule_text(b, i);
        assert_string_equal(ta, tb);
        assert_int_equal(a->rs->rules[i]->enabled, b->rs->rules[i]->enabled);
        assert_true(qdb_rule_equal(a->rs->rules[i], b->rs->rules[i]));
        free(ta);
        free(tb);
    }
    assert_memory_equal(&a->q->cfg, &b->q->cfg, sizeof a->q->cfg);
    assert_int_equal(a->q->n_layers, b->q->n_layers);
    char *sa = spec_text(a), *sb = spec_text(b);
    assert_string_equal(sa, sb);
    free(sa);
    free(sb);
}

/* The line starting at *p (without its newline), advancing *p. */
static char *next_line(const char **p)
{
    const char *nl = strchr(*p, '\n');
    assert_non_null(nl);
    char *l = strndup(*p, (size_t)(nl - *p));
    assert_non_null(l);
    *p = nl + 1;
    return l;
}

static void test_script(void **state)
{
    (void)state;
    sf_fixture f, t;
    sf_new(&f, "head");
    sf_twin(&f, &t);
    sf_prepare(&f, NULL, NULL);
    sf_prepare(&t, NULL, NULL);
    qdb_session *s = f.s;
    char *const flags[] = {"--eval-n", "64"};
    qdb_err e = {0};
    assert_int_equal(qdb_session_set_origin(s, 2, flags, &e), QDB_OK);

    cmd_ok0(s, "set activation_error_method=NOCLIPPING");
    cmd_ok0(s, "set weights_n_bits=6");
    cmd_ok0(s, "rule type=Conv : act_bits=6");
    cmd_ok0(s, "rule name~\"^(gap|head)$\" : act_error=KL, act_bits=4");
    cmd_ok0(s, "disable 2");
    assert_int_equal(s->rs->n, 2);
    assert_false(s->rs->rules[1]->enabled);

    char *text = qdb_export_script_text(s);
    assert_non_null(text);
    const char *p = text;
    char *l = next_line(&p);
    assert_true(!strncmp(l, "# ", 2));
    free(l);
    l = next_line(&p);
    assert_string_equal(l, "# run: qdb run THIS_FILE test.onnx --eval-n 64");
    free(l);
    l = next_line(&p);
    char want[300];
    snprintf(want, sizeof want, "# recorded: float %.2f %%, baseline %.2f %%, quantized %.2f %%",
             100.0 * s->float_score, 100.0 * s->baseline, 100.0 * s->current);
    assert_string_equal(l, want);
    assert_string_equal(l + strlen("# recorded: "), want + strlen("# recorded: "));
    assert_non_null(strstr(l, "float 75.00 %"));
    free(l);
    /* the commands: non-default parameters in the key table's order, the
     * rules in canonical text, the disabled one disabled, status last */
    char *r1 = rule_text(s, 0), *r2 = rule_text(s, 1);
    assert_string_equal(r1, "type=Conv : act_bits=6");
    char body[1024];
    snprintf(body, sizeof body,
             "set activation_error_method=NOCLIPPING\n"
             "set weights_n_bits=6\n"
             "rule %s\n"
             "rule %s\n"
             "disable 2\n"
             "status\n",
             r1, r2);
    assert_string_equal(p, body);
    /* a default parameter is absent */
    assert_null(strstr(text, "activation_n_bits"));
    assert_null(strstr(text, "set weights_per_channel_threshold"));
    free(r1);
    free(r2);

    /* the command writes the same text */
    char path[512], line[600];
    path_in(path, sizeof path, "session.qdb");
    snprintf(line, sizeof line, "export-script %s", path);
    char *out = cmd_ok(s, line);
    assert_true(!strncmp(out, "export-script: 2 rules written to ", 34));
    assert_non_null(strstr(out, "qdb run "));
    assert_non_null(strstr(out, " test.onnx --eval-n 64"));
    free(out);
    char *file = slurp(path);
    assert_non_null(file);
    assert_string_equal(file, text);
    free(file);
    /* a missing directory: an error, nothing written */
    path_in(path, sizeof path, "nosuch/session.qdb");
    snprintf(line, sizeof line, "export-script %s", path);
    assert_int_equal(cmd(s, line, &e), QDB_ERR_IO);
    assert_false(exists(path));

    /* REPLAY on the fresh twin: the same numbers (before, the twin's
     * layers are not the original's) */
    char *before = spec_text(t.s), *orig = spec_text(s);
    assert_string_not_equal(before, orig);
    free(before);
    free(orig);
    qdb_script_result r;
    char *rout = NULL;
    replay(t.s, text, &r, &rout);
    assert_int_equal(r.commands, 6);
    assert_int_equal(r.failed, 0);
    assert_int_equal(r.quit, 0);
    /* status ran last: its line is in the output */
    assert_non_null(strstr(rout, "float 75.00 %"));
    free(rout);
    assert_same_session(s, t.s);
    /* and exporting the replayed session gives the same script, but for
     * the run line (the twin was opened without flags) */
    char *text2 = qdb_export_script_text(t.s);
    assert_non_null(text2);
    const char *a = strstr(text, "\n# recorded"), *b = strstr(text2, "\n# recorded");
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    free(text2);
    free(text);
    sf_free(&f);
    sf_free(&t);
}

/* The same when the original interleaved rules, `set`s and disabling an
 * earlier rule: the script puts the `set`s first and the state is the
 * same. */
static void test_script_reordered(void **state)
{
    (void)state;
    sf_fixture f, t;
    sf_new(&f, "head");
    sf_twin(&f, &t);
    sf_prepare(&f, NULL, NULL);
    sf_prepare(&t, NULL, NULL);
    qdb_session *s = f.s;
    cmd_ok0(s, "rule name=conv1 : act_bits=4, w_bits=4");
    cmd_ok0(s, "set z_threshold=2.718281828459045");
    cmd_ok0(s, "bits gap 5");
    cmd_ok0(s, "set shift_negative_ratio=0.1");
    cmd_ok0(s, "rule type=Conv : act_error=MAE");
    cmd_ok0(s, "disable 1");
    cmd_ok0(s, "set activation_error_method=HMSE");
    cmd_ok0(s, "set activation_error_method=MSE"); /* back to the default */

    char *text = qdb_export_script_text(s);
    assert_non_null(text);
    /* no run flags: nothing after the model */
    assert_non_null(strstr(text, "\n# run: qdb run THIS_FILE test.onnx\n"));
    const char *body = strstr(text, "\nset ");
    assert_non_null(body);
    char *r1 = rule_text(s, 0), *r2 = rule_text(s, 1), *r3 = rule_text(s, 2);
    char want[1024];
    snprintf(want, sizeof want,
             "\nset shift_negative_ratio=0.1\n"
             "set z_threshold=2.718281828459045\n"
             "rule %s\n"
             "disable 1\n"
             "rule %s\n"
             "rule %s\n"
             "status\n",
             r1, r2, r3);
    assert_string_equal(body, want);
    assert_string_equal(r2, "name=gap : act_bits=5");
    assert_null(strstr(text, "activation_error_method"));
    free(r1);
    free(r2);
    free(r3);

    char *before = spec_text(t.s), *orig = spec_text(s);
    assert_string_not_equal(before, orig);
    free(before);
    free(orig);
    qdb_script_result r;
    char *rout = NULL;
    replay(t.s, text, &r, &rout);
    free(rout);
    assert_int_equal(r.commands, 7);
    assert_same_session(s, t.s);
    free(text);
    sf_free(&f);
    sf_free(&t);
}

/* ---- 4. the run line ---- */

static void test_run_line(void **state)
{
    (void)state;
    sf_fixture f;
    sf_new(&f, "head");
    qdb_session *s = f.s;
    /* unprepared, no flags: no trailing blank or garbage, no recorded line */
    assert_int_equal(s->n_origin, 0);
    char *text = qdb_export_script_text(s);
    assert_non_null(text);
    assert_string_equal(text, "# qdb session script: reproduces the investigation from scratch.\n"
                              "# run: qdb run THIS_FILE test.onnx\n"
                              "status\n");
    free(text);
    char *l = qdb_export_run_line(s, "x.qdb");
    assert_non_null(l);
    assert_string_equal(l, "qdb run x.qdb test.onnx");
    free(l);

    /* words the shell would split or interpret are quoted */
    l = qdb_export_run_line(s, "my session.qdb");
    assert_string_equal(l, "qdb run 'my session.qdb' test.onnx");
    free(l);
    char *const flags[] = {"--calib", "data dir/x.npy", "--label", "it's", "--x", ""};
    qdb_err e = {0};
    assert_int_equal(qdb_session_set_origin(s, 6, flags, &e), QDB_OK);
    l = qdb_export_run_line(s, "s.qdb");
    assert_string_equal(l, "qdb run s.qdb test.onnx --calib 'data dir/x.npy' --label 'it'\\''s' --x ''");
    free(l);
    /* the model path too */
    free(s->model);
    s->model = strdup("models/my net.onnx");
    assert_non_null(s->model);
    assert_int_equal(qdb_session_set_origin(s, 2, flags, &e), QDB_OK);
    text = qdb_export_script_text(s);
    assert_non_null(strstr(text, "\n# run: qdb run THIS_FILE 'models/my net.onnx' --calib "
                                 "'data dir/x.npy'\n"));
    free(text);
    /* back to none */
    assert_int_equal(qdb_session_set_origin(s, 0, flags, &e), QDB_OK);
    l = qdb_export_run_line(s, "s.qdb");
    assert_string_equal(l, "qdb run s.qdb 'models/my net.onnx'");
    free(l);
    sf_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_script),
        cmocka_unit_test(test_script_reordered),
        cmocka_unit_test(test_run_line),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
