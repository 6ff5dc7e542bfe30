/* test_session_file.c - whole investigations on disk (sessions/session_file.h):
 * saving, loading, the `save` and `load` commands, broken files, old files
 * and crash safety, on the small session of tests/support/session_fixture.h
 * built over a REAL model file (the fixture's graph written as ONNX bytes
 * into the scratch directory with model_builder's mb_save, then loaded from
 * that file), since saving hashes the file the session names.
 *
 *   round trip: a prepared session with rules (one disabled), a `set`,
 *           disable/enable, origin flags, UI strings, a sensitivity sweep
 *           and a bisection is saved and loaded (with the model check): the
 *           description has the session's model,
 *           its SHA-256 (the library's and `sha256sum`'s), origin, config
 *           (memcmp), rules (canonical text, enabled), history (labels, rule
 *           texts, scores exactly), figures and UI; the statistics' sidecar
 *           is found through the file's "stats"."file" (PATH.XXXXXXXX.stats,
 *           XXXXXXXX the zlib CRC-32 of its bytes, which "crc32" and "bytes"
 *           agree with) and holds exactly the session's statistics; a
 *           session resumed from it like the CLI does saves a byte-identical
 *           file (the same base name in other directories) with a sidecar of
 *           the same name and bytes, and reaches exactly the saved figures,
 *           both with the sidecar installed (no calibration) and calibrating
 *           again; saving the same again to the same file keeps the sidecar;
 *   sidecar: truncated, one bit flipped or gone: the description still
 *           loads, installing the statistics fails naming the sidecar and
 *           leaves the model uncalibrated, calibrating again reaches the
 *           saved figures; a save with other statistics to the same file
 *           names a new sidecar (which installs: those statistics) and the
 *           previous one is gone; a save whose JSON cannot be written (the
 *           model to hash is gone) removes its new sidecar and leaves the
 *           previous file and its sidecar as they were;
 *   save:   without an argument it writes MODEL-stem.qdb-session.json in the
 *           current directory (not the model's), a second `save` goes to the
 *           same file (s->save_path) and leaves only the sidecar it names, an
 *           explicit file becomes the default (with a sidecar of its own);
 *           a file in a missing directory fails and changes nothing;
 *   load:   on a fresh session of the same model it restores rules, config
 *           and history (exactly the file's: its last entry is the
 *           configuration the load re-quantizes) and reaches the saved
 *           figures; save -> `load` -> save gives the same file and sidecar;
 *           a session of another model is refused ("another model") and
 *           nothing changes (rules, config, history, figures, generation);
 *   broken: truncations at 30 offsets and at every offset of the last 40
 *           bytes (always "truncated?", also inside a string; "at byte N
 *           of M" with M the length), a syntax error in the middle ("syntax
 *           error" at
 *           its byte), bad versions ("field 'qdb_session'"), bad model /
 *           rules / config / history / ui fields, 5000-deep nesting, an
 *           empty file, binary bytes, a 70 MiB file, bad "stats"
 *           references, bad sensitivity / bisect results, a changed or
 *           missing model: each is one error naming the file and the field,
 *           the description is left empty, and the valid file still loads
 *           afterwards;
 *   v0:     a version-0 file (model_path / model_sha256 at the top level)
 *           gives the same description as the version-1 file;
 *   crash:  a child saving in a tight loop, alternately two sessions of the
 *           model with different rules and different statistics, is
 *           SIGKILLed 50 times at random moments: the file always loads, the
 *           sidecar it names is there, is the statistics of the session the
 *           file's rules come from, and installs; nothing else is ever left
 *           but P.XXXXXXXX.stats sidecars no file names (whole ones, of one
 *           of the two sessions), P.tmp.* and P.XXXXXXXX.stats.tmp.*
 *           temporaries (their numbers are printed, then they are removed);
 *           a save afterwards leaves P and its one sidecar. QDB_SKIP_FORK=1
 *           skips this test (e.g. valgrind). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "calib_stats.h"
#include "command.h"
#include "onnx_import.h"
#include "quant_config.h"
#include "quant_fixtures.h"
#include "rule.h"
#include "ruleset.h"
#include "session.h"
#include "session_file.h"
#include "session_fixture.h"
#include "tmpdir.h"

/* ---- helpers ---- */

static void path_in(char *buf, size_t n, const char *name)
{
    int k = snprintf(buf, n, "%s/%s", tmpdir_path(), name);
    assert_true(k > 0 && (size_t)k < n);
}

static qdb_status cmd(qdb_session *s, const char *line, qdb_err *e)
{
    qdb_cmd_result r;
    memset(e, 0, sizeof *e);
    qdb_status st = qdb_cmd_run(s, line, NULL, NULL, &r, e);
    qdb_cmd_result_free(&r);
    return st;
}

static void cmd_ok0(qdb_session *s, const char *line)
{
    qdb_err e;
    if (cmd(s, line, &e) != QDB_OK)
        fail_msg("%s: %s", line, e.msg);
}

/* A whole file (NUL-terminated too); *len its size. NULL when absent. */
static char *slurp(const char *path, size_t *len)
{
    return tmpdir_slurp(path, len);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void assert_contains(const char *msg, const char *want)
{
    if (!strstr(msg, want))
        fail_msg("expected \"%s\" in the message: %s", want, msg);
}

/* The fixture's model (head "head") written to `path` and loaded from it. */
static qdb_graph *write_model(const char *path)
{
    mb *m = sf_model_builder("head");
    assert_int_equal(mb_save(m, path), 0);
    mb_free(m);
    qdb_err e = {0};
    qdb_graph *g = qdb_onnx_load(path, NULL, &e);
    if (!g)
        fail_msg("%s", e.msg);
    return g;
}

/* Like sf_open, but over the model file tmpdir/`name` (which the session
 * names): data and labels as sf_new makes them; prepared. */
static void open_on_file(sf_fixture *f, const char *name)
{
    char path[512];
    path_in(path, sizeof path, name);
    sf_new_from(f, write_model(path), path);
    assert_string_equal(f->s->model, path);
    sf_prepare(f, NULL, NULL);
    assert_true(f->s->float_score == 48.0 / 64.0);
}

/* A twin of f (sf_twin) naming the same model file, prepared. */
static void twin_prepared(const sf_fixture *f, sf_fixture *t)
{
    sf_twin(f, t);
    free(t->s->model);
    t->s->model = strdup(f->s->model);
    assert_non_null(t->s->model);
    sf_prepare(t, NULL, NULL);
}

/* A second session of f's model file (default configuration, no rules),
 * prepared, over f's evaluation data but other calibration data (scaled
 * and shifted): other statistics. */
static void twin_other_calibration(const sf_fixture *f, sf_fixture *t)
{
    memset(t, 0, sizeof *t);
    qdb_err e = {0};
    qdb_graph *g = qdb_graph_clone(f->s->g, &e);
    if (!g)
        fail_msg("%s", e.msg);
    t->xc = qf_random_input(N_CALIB, 4, 2, 2, 3.0f, 0.5f);
    t->xe = qdb_tensor_clone(f->xe, NULL);
    t->ye = qdb_tensor_clone(f->ye, NULL);
    assert_true(t->xc && t->xe && t->ye);
    t->float_top1 = f->float_top1;
    qdb_dataset *dc = sf_open_set(t->xc, NULL), *de = sf_open_set(t->xe, t->ye);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    t->s = qdb_session_new(f->s->model, "calib", "eval", g, dc, de, &c, NULL, BATCH, &e);
    if (!t->s)
        fail_msg("%s", e.msg);
    sf_prepare(t, NULL, NULL);
}

/* Some investigation: two rules (the second left disabled), a `set`,
 * disable / enable, origin flags, UI state. */
static void investigate(qdb_session *s)
{
    cmd_ok0(s, "rule type=Conv : act_bits=6");
    cmd_ok0(s, "rule name=gap : act_bits=12");
    cmd_ok0(s, "set weights_n_bits=6");
    cmd_ok0(s, "disable 2");
    cmd_ok0(s, "disable 1");
    cmd_ok0(s, "enable 1");
    assert_int_equal(s->rs->n, 2);
    assert_int_equal(s->rs->rules[0]->enabled, 1);
    assert_int_equal(s->rs->rules[1]->enabled, 0);
    assert_int_equal(s->q->cfg.weights_n_bits, 6);
    assert_int_equal(s->hist.n, 7); /* start + six re-quantizations */
    char *flags[] = {"--eval-n", "64", "--batch", "16", "--calib", "dir with blanks/x.npy"};
    qdb_err e = {0};
    assert_int_equal(qdb_session_set_origin(s, 6, flags, &e), QDB_OK);
    qdb_session_ui_free(&s->ui);
    s->ui.selected = strdup("gap");
    s->ui.sort = strdup("sqnr");
    s->ui.pane = strdup("rules");
    s->ui.filter = strdup("conv \"quoted\"");
    assert_true(s->ui.selected && s->ui.sort && s->ui.pane && s->ui.filter);
}

static void save_ok(const qdb_session *s, const char *path)
{
    qdb_err e = {0};
    if (qdb_session_save(s, path, &e) != QDB_OK)
        fail_msg("save %s: %s", path, e.msg);
}

static void load_ok(const char *path, int check_model, qdb_session_desc *d)
{
    qdb_err e = {0};
    if (qdb_session_load(path, check_model, d, &e) != QDB_OK)
        fail_msg("load %s: %s", path, e.msg);
}

static void str_eq_or_null(const char *a, const char *b)
{
    if (!a || !b)
        assert_true(a == b);
    else
        assert_string_equal(a, b);
}

static void rules_equal(const qdb_ruleset *a, const qdb_ruleset *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        char *x = qdb_rule_format(a->rules[i]), *y = qdb_rule_format(b->rules[i]);
        assert_true(x && y);
        assert_string_equal(x, y);
        free(x);
        free(y);
        assert_int_equal(!!a->rules[i]->enabled, !!b->rules[i]->enabled);
    }
}

static void hist_entry_equal(const qdb_history_entry *a, const qdb_history_entry *b)
{
    assert_string_equal(a->label, b->label);
    assert_int_equal(a->n_rules, b->n_rules);
    for (int k = 0; k < a->n_rules; k++)
        assert_string_equal(a->rules[k], b->rules[k]);
    assert_true(a->score == b->score); /* exactly */
    assert_true(a->float_score == b->float_score);
}

static void hist_equal(const qdb_history *a, const qdb_history *b, int n)
{
    assert_true(a->n >= n && b->n >= n);
    for (int i = 0; i < n; i++)
        hist_entry_equal(&a->e[i], &b->e[i]);
}

static void ui_equal(const qdb_session_ui *a, const qdb_session_ui *b)
{
    str_eq_or_null(a->selected, b->selected);
    str_eq_or_null(a->sort, b->sort);
    str_eq_or_null(a->pane, b->pane);
    str_eq_or_null(a->filter, b->filter);
}

/* The description of a file saved from s is s. */
static void desc_is_session(const qdb_session_desc *d, const qdb_session *s)
{
    assert_int_equal(d->version, QDB_SESSION_VERSION);
    assert_string_equal(d->model, s->model);
    assert_int_equal(d->n_origin, s->n_origin);
    for (int i = 0; i < s->n_origin; i++)
        assert_string_equal(d->origin[i], s->origin[i]);
    assert_memory_equal(&d->cfg, &s->q->cfg, sizeof d->cfg);
    rules_equal(d->rs, s->rs);
    assert_int_equal(d->hist.n, s->hist.n);
    hist_equal(&d->hist, &s->hist, s->hist.n);
    assert_int_equal(d->have_figures, 1);
    assert_true(d->float_score == s->float_score);
    assert_true(d->baseline == s->baseline);
    assert_true(d->current == s->current);
    ui_equal(&d->ui, &s->ui);
}

static void desc_equal(const qdb_session_desc *a, const qdb_session_desc *b)
{
    assert_int_equal(a->version, b->version);
    assert_string_equal(a->model, b->model);
    assert_string_equal(a->sha256, b->sha256);
    assert_int_equal(a->n_origin, b->n_origin);
    for (int i = 0; i < a->n_origin; i++)
        assert_string_equal(a->origin[i], b->origin[i]);
    assert_memory_equal(&a->cfg, &b->cfg, sizeof a->cfg);
    rules_equal(a->rs, b->rs);
    assert_int_equal(a->hist.n, b->hist.n);
    hist_equal(&a->hist, &b->hist, a->hist.n);
    assert_int_equal(a->have_figures, b->have_figures);
    assert_true(a->float_score == b->float_score);
    assert_true(a->baseline == b->baseline);
    assert_true(a->current == b->current);
    ui_equal(&a->ui, &b->ui);
    str_eq_or_null(a->stats_path, b->stats_path);
    assert_true(a->stats_bytes == b->stats_bytes);
    assert_int_equal(a->stats_crc, b->stats_crc);
}

/* SHA-256 of a file by the sha256sum tool. */
static void sha256sum_of(const char *path, char out[65])
{
    char line[1200];
    snprintf(line, sizeof line, "sha256sum -- '%s'", path);
    FILE *p = popen(line, "r");
    assert_non_null(p);
    char buf[256] = {0};
    assert_non_null(fgets(buf, sizeof buf, p));
    assert_int_equal(pclose(p), 0);
    assert_true(strlen(buf) > 64 && buf[64] == ' ');
    memcpy(out, buf, 64);
    out[64] = 0;
}

/* ---- 1. round trip ---- */

/* A directory under the scratch one (created) and the file `name` in it. */
static void file_in_dir(char *buf, size_t n, const char *dir, const char *name)
{
    char d[512];
    path_in(d, sizeof d, dir);
    if (!exists(d))
        assert_int_equal(mkdir(d, 0700), 0);
    int k = snprintf(buf, n, "%s/%s", d, name);
    assert_true(k > 0 && (size_t)k < n);
}

/* The last component of a path. */
static const char *base_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* `name` is BASE.XXXXXXXX.stats (8 lowercase hex digits), with `rest`
 * following it ("" for the sidecar itself, ".tmp." for its temporaries,
 * matched as a prefix); the digits in *crc when so. */
static int sidecar_name_is(const char *name, const char *base, const char *rest, uint32_t *crc)
{
    size_t nb = strlen(base);
    if (strncmp(name, base, nb) || name[nb] != '.')
        return 0;
    const char *h = name + nb + 1;
    for (int i = 0; i < 8; i++)
        if (!strchr("0123456789abcdef", h[i]) || !h[i])
            return 0;
    if (strncmp(h + 8, ".stats", 6))
        return 0;
    const char *r = h + 14;
    if (*rest ? strncmp(r, rest, strlen(rest)) != 0 : *r != 0)
        return 0;
    if (crc) {
        char hex[9];
        memcpy(hex, h, 8);
        hex[8] = 0;
        *crc = (uint32_t)strtoul(hex, NULL, 16);
    }
    return 1;
}

/* The sidecar the session file at `path` names (its "stats"."file", taken
 * beside the file; malloc'd), checked: the name is the file's own name plus
 * the lowercase hex zlib CRC-32 of the sidecar's bytes plus ".stats", and
 * "bytes" / "crc32" are the sidecar's size and CRC-32. */
static char *sidecar_of(const char *path)
{
    char *text = slurp(path, NULL);
    if (!text)
        fail_msg("%s missing", path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "stats");
    cJSON *file = cJSON_GetObjectItemCaseSensitive(st, "file");
    cJSON *bytes = cJSON_GetObjectItemCaseSensitive(st, "bytes");
    cJSON *crc = cJSON_GetObjectItemCaseSensitive(st, "crc32");
    assert_true(cJSON_IsString(file) && cJSON_IsNumber(bytes) && cJSON_IsNumber(crc));
    uint32_t in_name;
    if (!sidecar_name_is(file->valuestring, base_of(path), "", &in_name))
        fail_msg("%s names the sidecar %s", path, file->valuestring);
    size_t nd = (size_t)(base_of(path) - path), n = nd + strlen(file->valuestring) + 1;
    char *sp = malloc(n);
    assert_non_null(sp);
    snprintf(sp, n, "%.*s%s", (int)nd, path, file->valuestring);
    size_t len;
    unsigned char *blob = (unsigned char *)slurp(sp, &len);
    if (!blob)
        fail_msg("%s names %s, which is missing", path, sp);
    uint32_t real = (uint32_t)crc32(0L, blob, (uInt)len);
    free(blob);
    assert_int_equal(in_name, real);
    assert_true(crc->valuedouble == (double)real);
    assert_true(bytes->valuedouble == (double)len);
    cJSON_Delete(j);
    return sp;
}

/* How many BASE.XXXXXXXX.stats files are beside the session file `path`. */
static int sidecars_beside(const char *path)
{
    char dir[1024];
    size_t nd = (size_t)(base_of(path) - path);
    snprintf(dir, sizeof dir, "%.*s", nd ? (int)nd : 1, nd ? path : ".");
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dd)))
        n += sidecar_name_is(de->d_name, base_of(path), "", NULL);
    closedir(dd);
    return n;
}

/* The calibration statistics of s as the library encodes them (malloc'd). */
static void *stats_blob(const qdb_session *s, size_t *len)
{
    void *b = NULL;
    qdb_err e = {0};
    if (qdb_calib_stats_encode(s->q, &b, len, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    return b;
}

/* Bytes of two files are the same. */
static void same_bytes(const char *a, const char *b)
{
    size_t na, nb;
    char *ta = slurp(a, &na), *tb = slurp(b, &nb);
    if (!ta || !tb)
        fail_msg("%s or %s missing", a, b);
    assert_int_equal(na, nb);
    assert_memory_equal(ta, tb, na);
    free(ta);
    free(tb);
}

/* Resume the session saved at `path` like the CLI does (qsetup_session): a
 * new session over copies of f's graph and data with the file's
 * configuration and rules, its origin, resumed, the statistics' sidecar
 * installed (when use_stats), history adopted, UI moved over, prepared.
 * It reaches exactly the saved figures. */
static void resume(const sf_fixture *f, sf_fixture *t, const char *path, int use_stats)
{
    qdb_session_desc d;
    load_ok(path, 1, &d);
    int nh = d.hist.n;
    memset(t, 0, sizeof *t);
    qdb_err e = {0};
    qdb_graph *g = qdb_graph_clone(f->s->g, &e);
    assert_non_null(g);
    t->xc = qdb_tensor_clone(f->xc, NULL);
    t->xe = qdb_tensor_clone(f->xe, NULL);
    t->ye = qdb_tensor_clone(f->ye, NULL);
    assert_true(t->xc && t->xe && t->ye);
    qdb_dataset *dc = sf_open_set(t->xc, NULL), *de = sf_open_set(t->xe, t->ye);
    t->s = qdb_session_new(d.model, "calib", "eval", g, dc, de, &d.cfg, d.rs, BATCH, &e);
    d.rs = NULL;
    if (!t->s)
        fail_msg("%s", e.msg);
    assert_int_equal(qdb_session_set_origin(t->s, d.n_origin, d.origin, &e), QDB_OK);
    t->s->save_path = strdup(path);
    t->s->resumed = 1;
    if (use_stats) {
        assert_non_null(d.stats_path);
        if (qdb_session_load_stats(t->s, &d, &e) != QDB_OK)
            fail_msg("%s", e.msg);
    }
    qdb_session_adopt_history(t->s, &d);
    assert_int_equal(d.hist.n, 0);
    t->s->ui = d.ui;
    memset(&d.ui, 0, sizeof d.ui);
    sf_prepare(t, NULL, NULL);
    assert_int_equal(t->s->calibrations, use_stats ? 0 : 1);
    assert_int_equal(t->s->hist.n, nh); /* the resumed start adds no entry */
    assert_true(t->s->float_score == d.float_score);
    assert_true(t->s->baseline == d.baseline);
    assert_true(t->s->current == d.current);
    qdb_session_desc_free(&d);
}

static void test_round_trip(void **state)
{
    (void)state;
    sf_fixture f, t, u;
    open_on_file(&f, "rt.onnx");
    investigate(f.s);
    /* the last sweep and bisection travel too */
    cmd_ok0(f.s, "sensitivity all");
    cmd_ok0(f.s, "bisect 0.5 16 all");
    assert_int_equal(f.s->have_sens, 1);
    assert_int_equal(f.s->have_bisect, 1);
    /* the same base name in three directories: the sidecar's name is
     * recorded (the file's base name and the content's CRC-32), so only
     * then can the files be byte-identical */
    char a[600], b[600], c[600];
    file_in_dir(a, sizeof a, "rt-a", "rt.json");
    file_in_dir(b, sizeof b, "rt-b", "rt.json");
    file_in_dir(c, sizeof c, "rt-c", "rt.json");
    save_ok(f.s, a);
    char *as = sidecar_of(a);
    assert_int_equal(sidecars_beside(a), 1);
    {
        /* the sidecar holds exactly the session's statistics */
        size_t nb, ns;
        void *blob = stats_blob(f.s, &nb);
        char *side = slurp(as, &ns);
        assert_non_null(side);
        assert_int_equal(nb, ns);
        assert_memory_equal(blob, side, nb);
        free(blob);
        free(side);
    }

    qdb_session_desc d;
    load_ok(a, 1, &d);
    desc_is_session(&d, f.s);
    assert_non_null(d.stats_path);
    assert_string_equal(d.stats_path, as);
    struct stat sb;
    assert_int_equal(stat(as, &sb), 0);
    assert_true(d.stats_bytes == (double)sb.st_size);
    char lib[65], tool[65];
    qdb_err e = {0};
    assert_int_equal(qdb_file_sha256(f.s->model, lib, &e), QDB_OK);
    sha256sum_of(f.s->model, tool);
    assert_string_equal(lib, tool);
    assert_string_equal(d.sha256, lib);
    assert_int_equal(d.have_sens, 1);
    assert_int_equal(d.sens.n, f.s->sens.n);
    assert_true(d.sens_n == f.s->sens_n);
    assert_int_equal(d.have_bisect, 1);
    assert_int_equal(d.bis.n_culprits, f.s->bis.n_culprits);
    assert_int_equal(d.bis.n_steps, f.s->bis.n_steps);
    assert_int_equal(d.bis_raise, f.s->bis_raise);
    qdb_session_desc_free(&d);
    /* the known digest of a known content, as a check of the hash itself */
    char abc[512], h[65];
    path_in(abc, sizeof abc, "abc.txt");
    write_bytes(abc, "abc", 3);
    assert_int_equal(qdb_file_sha256(abc, h, &e), QDB_OK);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    /* save-load-save: the same file, with the statistics installed and
     * with a fresh calibration */
    resume(&f, &t, a, 1);
    assert_int_equal(t.s->have_sens, 1);
    assert_int_equal(t.s->have_bisect, 1);
    str_eq_or_null(t.s->bis_rule, f.s->bis_rule);
    save_ok(t.s, b);
    same_bytes(a, b);
    char *bs = sidecar_of(b);
    assert_string_equal(base_of(bs), base_of(as)); /* the same content, the same name */
    same_bytes(as, bs);
    assert_int_equal(sidecars_beside(b), 1);
    resume(&f, &u, a, 0);
    save_ok(u.s, c);
    same_bytes(a, c);
    char *cs = sidecar_of(c);
    assert_string_equal(base_of(cs), base_of(as));
    same_bytes(as, cs);
    assert_int_equal(sidecars_beside(c), 1);
    size_t na;
    char *ta = slurp(a, &na);
    assert_int_equal(ta[na - 1], '\n');
    /* saving the same again to the same file: the same bytes, the sidecar
     * (the same name) kept, not deleted as the previous file's */
    save_ok(u.s, a);
    size_t na2;
    char *ta2 = slurp(a, &na2);
    assert_int_equal(na, na2);
    assert_memory_equal(ta, ta2, na);
    free(ta2);
    free(ta);
    char *as2 = sidecar_of(a);
    assert_string_equal(as2, as);
    same_bytes(as, bs);
    assert_int_equal(sidecars_beside(a), 1);
    free(as2);
    free(as);
    free(bs);
    free(cs);

    sf_free(&u);
    sf_free(&t);
    sf_free(&f);
}

/* The sidecar damaged: the description loads, installing the statistics
 * fails naming the sidecar and changes nothing, calibrating again reaches
 * the saved figures; a sidecar that is gone is the same. */
static void test_stats_sidecar(void **state)
{
    (void)state;
    sf_fixture f, t;
    open_on_file(&f, "sc.onnx");
    investigate(f.s);
    char a[600];
    file_in_dir(a, sizeof a, "sc", "sc.json");
    save_ok(f.s, a);
    char *as = sidecar_of(a);
    size_t n;
    char *blob = slurp(as, &n);
    assert_non_null(blob);
    assert_true(n > 20);

    for (int k = 0; k < 3; k++) {
        if (k == 0)
            write_bytes(as, blob, n / 2); /* truncated */
        else if (k == 1) {
            blob[n / 2] ^= 0x40; /* one bit flipped */
            write_bytes(as, blob, n);
        } else
            assert_int_equal(unlink(as), 0);
        qdb_session_desc d;
        load_ok(a, 1, &d);
        sf_twin(&f, &t);
        qdb_err e = {0};
        assert_int_not_equal(qdb_session_load_stats(t.s, &d, &e), QDB_OK);
        assert_contains(e.msg, as);
        assert_int_equal(t.s->q->calibrated, 0);
        assert_int_equal(t.s->calibrations, 0);
        sf_free(&t);
        qdb_session_desc_free(&d);
    }
    write_bytes(as, blob, n); /* still the flipped one */
    resume(&f, &t, a, 0);
    sf_free(&t);
    blob[n / 2] ^= 0x40;
    write_bytes(as, blob, n);
    resume(&f, &t, a, 1);
    sf_free(&t);
    free(blob);

    /* other statistics saved to the same file: a sidecar of another name,
     * and the one the previous file named is gone */
    sf_fixture g;
    twin_other_calibration(&f, &g);
    save_ok(g.s, a);
    char *gs = sidecar_of(a);
    assert_string_not_equal(gs, as);
    assert_false(exists(as));
    assert_int_equal(sidecars_beside(a), 1);
    {
        /* it installs, and they are g's statistics */
        qdb_session_desc d;
        load_ok(a, 1, &d);
        assert_string_equal(d.stats_path, gs);
        sf_twin(&f, &t);
        qdb_err e = {0};
        if (qdb_session_load_stats(t.s, &d, &e) != QDB_OK)
            fail_msg("%s", e.msg);
        size_t n1, n2;
        void *b1 = stats_blob(t.s, &n1), *b2 = stats_blob(g.s, &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(b1, b2, n1);
        free(b1);
        free(b2);
        sf_free(&t);
        qdb_session_desc_free(&d);
    }

    /* the JSON cannot be written (the model to hash is gone): the new
     * sidecar is removed, the previous file and its sidecar stay together */
    {
        char moved[700];
        snprintf(moved, sizeof moved, "%s.away", f.s->model);
        size_t n0;
        char *before = slurp(a, &n0);
        assert_non_null(before);
        assert_int_equal(rename(f.s->model, moved), 0);
        qdb_err e = {0};
        assert_int_not_equal(qdb_session_save(f.s, a, &e), QDB_OK);
        assert_contains(e.msg, f.s->model);
        assert_int_equal(rename(moved, f.s->model), 0);
        size_t n1;
        char *after = slurp(a, &n1);
        assert_non_null(after);
        assert_int_equal(n0, n1);
        assert_memory_equal(before, after, n0);
        free(before);
        free(after);
        assert_false(exists(as)); /* f's sidecar: not left behind */
        char *still = sidecar_of(a);
        assert_string_equal(still, gs);
        free(still);
        char dir[600];
        path_in(dir, sizeof dir, "sc");
        DIR *dd = opendir(dir);
        assert_non_null(dd);
        struct dirent *de;
        int files = 0;
        while ((de = readdir(dd)))
            files += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
        closedir(dd);
        assert_int_equal(files, 2); /* sc.json and g's sidecar, no temporaries */
        resume(&f, &t, a, 1); /* g's statistics install */
        sf_free(&t);
    }

    /* back to f's statistics: f's name again, g's sidecar gone */
    save_ok(f.s, a);
    char *fs = sidecar_of(a);
    assert_string_equal(fs, as);
    assert_false(exists(gs));
    assert_int_equal(sidecars_beside(a), 1);
    free(fs);
    free(gs);
    free(as);
    sf_free(&g);
    sf_free(&f);
}

/* ---- 2. the save command ---- */

static void test_save_command(void **state)
{
    (void)state;
    sf_fixture f;
    /* dots in the stem: only ".onnx" goes */
    open_on_file(&f, "net.v2.onnx");
    char cwd[4096], sub[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    path_in(sub, sizeof sub, "cwd");
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(chdir(sub), 0);

    assert_null(f.s->save_path);
    cmd_ok0(f.s, "save");
    assert_non_null(f.s->save_path);
    assert_string_equal(f.s->save_path, "net.v2.qdb-session.json");
    assert_true(exists("net.v2.qdb-session.json"));
    char beside[512];
    path_in(beside, sizeof beside, "net.v2.qdb-session.json");
    assert_false(exists(beside)); /* the current directory, not the model's */
    qdb_session_desc d;
    load_ok("net.v2.qdb-session.json", 1, &d);
    assert_int_equal(d.rs->n, 0);
    qdb_session_desc_free(&d);

    /* a second save: the same file, the new content */
    cmd_ok0(f.s, "rule type=Conv : act_bits=6");
    cmd_ok0(f.s, "save");
    assert_string_equal(f.s->save_path, "net.v2.qdb-session.json");
    load_ok("net.v2.qdb-session.json", 1, &d);
    desc_is_session(&d, f.s);
    assert_int_equal(d.rs->n, 1);
    qdb_session_desc_free(&d);
    char *side = sidecar_of("net.v2.qdb-session.json"); /* beside it: no directory */
    assert_null(strchr(side, '/'));
    DIR *dir = opendir(".");
    assert_non_null(dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            n++;
            if (strcmp(de->d_name, "net.v2.qdb-session.json") && strcmp(de->d_name, side))
                fail_msg("unexpected file %s", de->d_name);
        }
    closedir(dir);
    assert_int_equal(n, 2); /* the session and the one sidecar it names */
    free(side);

    /* an explicit file becomes the default */
    cmd_ok0(f.s, "save other.json");
    assert_string_equal(f.s->save_path, "other.json");
    assert_true(exists("other.json"));
    side = sidecar_of("other.json"); /* a sidecar of its own */
    assert_int_equal(sidecars_beside("other.json"), 1);
    assert_int_equal(sidecars_beside("net.v2.qdb-session.json"), 1);

    /* a missing directory: an error, nothing changes */
    size_t n0, n1;
    char *before = slurp("other.json", &n0);
    char line[1200], bad[1024];
    snprintf(bad, sizeof bad, "%s/missing/x.json", sub);
    snprintf(line, sizeof line, "save %s", bad);
    unsigned long gen = f.s->generation;
    qdb_err e;
    assert_int_not_equal(cmd(f.s, line, &e), QDB_OK);
    assert_contains(e.msg, bad);
    assert_string_equal(f.s->save_path, "other.json");
    assert_int_equal(f.s->generation, gen);
    snprintf(bad, sizeof bad, "%s/missing", sub);
    assert_false(exists(bad));
    char *after = slurp("other.json", &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    char *side2 = sidecar_of("other.json");
    assert_string_equal(side2, side);
    free(side2);
    free(side);
    assert_int_equal(sidecars_beside("other.json"), 1);
    /* usage */
    assert_int_not_equal(cmd(f.s, "save a.json b.json", &e), QDB_OK);
    assert_contains(e.msg, "usage");
    assert_string_equal(f.s->save_path, "other.json");

    assert_int_equal(chdir(cwd), 0);
    sf_free(&f);
}

/* ---- 3. the load command ---- */

static void test_load_command(void **state)
{
    (void)state;
    sf_fixture f, t;
    open_on_file(&f, "ld.onnx");
    investigate(f.s);
    twin_prepared(&f, &t);
    /* started with the same flags (`load` keeps the session's own) */
    qdb_err e = {0};
    assert_int_equal(qdb_session_set_origin(t.s, f.s->n_origin, f.s->origin, &e), QDB_OK);
    char a[512];
    file_in_dir(a, sizeof a, "ld", "ld.json");
    save_ok(f.s, a);
    assert_int_equal(t.s->rs->n, 0);
    assert_true(t.s->current != f.s->current || t.s->baseline != f.s->baseline ||
                memcmp(&t.s->q->cfg, &f.s->q->cfg, sizeof t.s->q->cfg));

    char line[1200];
    snprintf(line, sizeof line, "load %s", a);
    cmd_ok0(t.s, line);
    rules_equal(t.s->rs, f.s->rs);
    assert_memory_equal(&t.s->q->cfg, &f.s->q->cfg, sizeof t.s->q->cfg);
    /* the saved history, which ends with the configuration the load
     * re-quantized: no entry of its own */
    qdb_session_desc d;
    load_ok(a, 1, &d);
    assert_int_equal(t.s->hist.n, d.hist.n);
    hist_equal(&t.s->hist, &d.hist, d.hist.n);
    qdb_session_desc_free(&d);
    assert_int_equal(t.s->hist.n, f.s->hist.n);
    hist_equal(&t.s->hist, &f.s->hist, f.s->hist.n);
    assert_true(t.s->float_score == f.s->float_score);
    assert_true(t.s->baseline == f.s->baseline);
    assert_true(t.s->current == f.s->current);
    assert_int_equal(t.s->q->layers[sf_layer(t.s, "conv1")].act.n_bits, 6);
    assert_int_equal(t.s->q->layers[sf_layer(t.s, "gap")].act.n_bits, 8); /* rule 2 disabled */
    assert_string_equal(t.s->save_path, a);
    ui_equal(&t.s->ui, &f.s->ui);

    /* save -> load -> save: the same file (the same base name in another
     * directory), the same sidecar */
    char a2[512];
    file_in_dir(a2, sizeof a2, "ld-again", "ld.json");
    save_ok(t.s, a2);
    same_bytes(a, a2);
    char *s1 = sidecar_of(a), *s2 = sidecar_of(a2);
    assert_string_equal(base_of(s1), base_of(s2));
    same_bytes(s1, s2);
    free(s1);
    free(s2);
    /* ... and a `load` of that one changes nothing either */
    snprintf(line, sizeof line, "load %s", a2);
    cmd_ok0(t.s, line);
    assert_string_equal(t.s->save_path, a2);
    assert_int_equal(t.s->hist.n, f.s->hist.n);
    save_ok(t.s, a2);
    same_bytes(a, a2);
    assert_int_equal(sidecars_beside(a2), 1);

    /* a session of another model: refused, nothing changes */
    char other[512], ofile[512], hash[65];
    path_in(other, sizeof other, "other-model.onnx");
    write_bytes(other, "not the same model", 18);
    assert_int_equal(qdb_file_sha256(other, hash, &e), QDB_OK);
    char *text = slurp(a, NULL);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    cJSON_ReplaceItemInObjectCaseSensitive(m, "path", cJSON_CreateString(other));
    cJSON_ReplaceItemInObjectCaseSensitive(m, "sha256", cJSON_CreateString(hash));
    /* different rules and config too, so that a half-applied load shows */
    cJSON_ReplaceItemInObjectCaseSensitive(j, "rules", cJSON_CreateArray());
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "config"),
                                           "activation_n_bits", cJSON_CreateString("4"));
    text = cJSON_Print(j);
    cJSON_Delete(j);
    path_in(ofile, sizeof ofile, "ld-other.json");
    write_bytes(ofile, text, strlen(text));
    free(text);

    qdb_ruleset *rs0 = qdb_ruleset_clone(t.s->rs, -1, &e);
    assert_non_null(rs0);
    qdb_quant_config cfg0 = t.s->q->cfg;
    int nh = t.s->hist.n;
    double cur = t.s->current, base = t.s->baseline, fl = t.s->float_score;
    unsigned long gen = t.s->generation;
    snprintf(line, sizeof line, "load %s", ofile);
    assert_int_not_equal(cmd(t.s, line, &e), QDB_OK);
    assert_contains(e.msg, "another model");
    assert_contains(e.msg, ofile);
    rules_equal(t.s->rs, rs0);
    assert_memory_equal(&t.s->q->cfg, &cfg0, sizeof cfg0);
    assert_int_equal(t.s->hist.n, nh);
    hist_equal(&t.s->hist, &f.s->hist, f.s->hist.n);
    assert_true(t.s->current == cur && t.s->baseline == base && t.s->float_score == fl);
    assert_int_equal(t.s->generation, gen);
    assert_string_equal(t.s->save_path, a2);
    qdb_ruleset_free(rs0);

    sf_free(&t);
    sf_free(&f);
}

/* ---- 4. broken files ---- */

static char valid_path[512], bad_path[512];
static char *valid_text;
static size_t valid_len;

/* Loading bad_path fails once, naming the file and (when given) the field
 * and what else is wanted; the valid file still loads. */
static void expect_bad(const char *field, const char *want)
{
    qdb_session_desc d;
    qdb_err e = {0};
    qdb_status st = qdb_session_load(bad_path, 1, &d, &e);
    if (st == QDB_OK)
        fail_msg("loaded a broken file (field %s)", field ? field : "-");
    assert_int_equal(e.code, st);
    assert_contains(e.msg, bad_path);
    if (field) {
        char q[200];
        snprintf(q, sizeof q, "'%s'", field);
        assert_contains(e.msg, q);
    }
    if (want)
        assert_contains(e.msg, want);
    /* nothing half-built is handed back */
    assert_null(d.model);
    assert_null(d.sha256);
    assert_null(d.rs);
    assert_null(d.origin);
    assert_int_equal(d.hist.n, 0);
    assert_null(d.ui.selected);
    load_ok(valid_path, 1, &d);
    assert_int_equal(d.rs->n, 2);
    qdb_session_desc_free(&d);
}

/* The "(WHAT at byte N of M)" of a JSON syntax message: N in *pos, M in
 * *len; 1 when WHAT is "it ends early: truncated?", 0 when "syntax error". */
static int json_error(const char *msg, size_t *pos, size_t *len)
{
    static const char head[] = "not valid JSON (", trunc[] = "it ends early: truncated? at byte ",
                      syn[] = "syntax error at byte ";
    const char *p = strstr(msg, head);
    if (!p)
        fail_msg("not a JSON syntax message: %s", msg);
    p += strlen(head);
    int tr = -1;
    if (!strncmp(p, trunc, strlen(trunc)))
        tr = 1, p += strlen(trunc);
    else if (!strncmp(p, syn, strlen(syn)))
        tr = 0, p += strlen(syn);
    else
        fail_msg("unexpected JSON syntax message: %s", msg);
    char close = 0;
    if (sscanf(p, "%zu of %zu%c", pos, len, &close) != 3 || close != ')')
        fail_msg("no position in: %s", msg);
    return tr;
}

/* The first n bytes of JSON text t end between tokens: outside a string,
 * the last character not a blank being a structural one or a string's
 * closing quote. */
static int ends_between_tokens(const char *t, size_t n)
{
    int in = 0, esc = 0;
    char last = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (in) {
            if (esc)
                esc = 0;
            else if (ch == '\\')
                esc = 1;
            else if (ch == '"')
                in = 0, last = '"';
        } else if (ch == '"') {
            in = 1;
        } else if (!strchr(" \t\r\n", ch)) {
            last = ch;
        }
    }
    return !in && last && strchr("{}[],:\"", last);
}

static cJSON *valid_tree(void)
{
    cJSON *j = cJSON_Parse(valid_text);
    assert_non_null(j);
    return j;
}

static void put(cJSON *o, const char *key, cJSON *v)
{
    assert_non_null(v);
    if (cJSON_GetObjectItemCaseSensitive(o, key))
        assert_true(cJSON_ReplaceItemInObjectCaseSensitive(o, key, v));
    else
        cJSON_AddItemToObject(o, key, v);
}

static cJSON *at(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_non_null(v);
    return v;
}

/* Write j (deleted) to bad_path and expect_bad. */
static void bad_tree(cJSON *j, const char *field, const char *want)
{
    char *t = cJSON_Print(j);
    cJSON_Delete(j);
    assert_non_null(t);
    write_bytes(bad_path, t, strlen(t));
    free(t);
    expect_bad(field, want);
}

static void test_broken_files(void **state)
{
    (void)state;
    sf_fixture f;
    open_on_file(&f, "bad.onnx");
    investigate(f.s);
    cmd_ok0(f.s, "sensitivity all");
    cmd_ok0(f.s, "bisect 0.5 16 all");
    path_in(valid_path, sizeof valid_path, "valid.json");
    path_in(bad_path, sizeof bad_path, "broken.json");
    save_ok(f.s, valid_path);
    valid_text = slurp(valid_path, &valid_len);
    assert_non_null(valid_text);
    assert_true(valid_len > 100);

    /* truncated: 30 offsets from 1 to len - 2 (the last '}' always gone;
     * only the final newline can go without harm), then every offset of
     * the last 40 bytes. The message gives the error's position and the
     * length, and always says "truncated?": the text ends inside a string
     * or with the object open, wherever the cut falls. */
    int ends_early = 0, between = 0, tried = 0;
    for (int k = 0; k < 30 + 39; k++) {
        size_t off = k < 30 ? 1 + (size_t)k * (valid_len - 3) / 29 : valid_len - 40 + (size_t)(k - 30);
        assert_true(off >= 1 && off <= valid_len - 2);
        write_bytes(bad_path, valid_text, off);
        qdb_session_desc d;
        qdb_err e = {0};
        assert_int_not_equal(qdb_session_load(bad_path, 1, &d, &e), QDB_OK);
        size_t pos, len;
        int tr = json_error(e.msg, &pos, &len);
        assert_int_equal(len, off);
        assert_true(pos < off);
        if (!tr)
            fail_msg("cut at %zu of %zu: %s", off, valid_len, e.msg);
        between += ends_between_tokens(valid_text, off);
        ends_early += tr;
        tried++;
        expect_bad(NULL, "not valid JSON");
    }
    assert_true(between >= 10 && between < tried); /* cuts inside strings too */
    assert_int_equal(ends_early, tried);
    {
        /* without the final newline: still a whole file */
        qdb_session_desc d;
        write_bytes(bad_path, valid_text, valid_len - 1);
        load_ok(bad_path, 1, &d);
        assert_int_equal(d.rs->n, 2);
        qdb_session_desc_free(&d);
        /* a syntax error in the middle: "syntax error" at its byte */
        char *t = strdup(valid_text);
        assert_non_null(t);
        char *colon = strstr(t, "\"qdb_session\":");
        assert_non_null(colon);
        colon += strlen("\"qdb_session\"");
        *colon = ';';
        write_bytes(bad_path, t, valid_len);
        qdb_err e = {0};
        assert_int_not_equal(qdb_session_load(bad_path, 1, &d, &e), QDB_OK);
        size_t pos, len;
        assert_int_equal(json_error(e.msg, &pos, &len), 0);
        assert_int_equal(pos, (size_t)(colon - t));
        assert_int_equal(len, valid_len);
        free(t);
        expect_bad(NULL, "syntax error");
    }

    cJSON *j;
    /* schema version */
    j = valid_tree(), put(j, "qdb_session", cJSON_CreateNumber(7));
    bad_tree(j, "qdb_session", "schema version 7");
    j = valid_tree(), put(j, "qdb_session", cJSON_CreateNumber(-1)), bad_tree(j, "qdb_session", NULL);
    j = valid_tree(), put(j, "qdb_session", cJSON_CreateString("1")), bad_tree(j, "qdb_session", NULL);
    j = valid_tree(), cJSON_DeleteItemFromObjectCaseSensitive(j, "qdb_session");
    bad_tree(j, "qdb_session", NULL);
    j = valid_tree(), put(j, "qdb_session", cJSON_CreateNumber(0.5));
    bad_tree(j, "qdb_session", "schema version 0.5");
    /* model */
    j = valid_tree(), cJSON_DeleteItemFromObjectCaseSensitive(j, "model"), bad_tree(j, "model", NULL);
    j = valid_tree(), put(j, "model", cJSON_CreateString("bad.onnx")), bad_tree(j, "model", NULL);
    j = valid_tree(), put(at(j, "model"), "sha256", cJSON_CreateString(
                                                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"));
    bad_tree(j, "model.sha256", NULL);
    j = valid_tree(), put(at(j, "model"), "sha256", cJSON_CreateString(
                                                     "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    bad_tree(j, "model.sha256", NULL);
    j = valid_tree(), cJSON_DeleteItemFromObjectCaseSensitive(at(j, "model"), "path");
    bad_tree(j, "model.path", NULL);
    /* rules */
    j = valid_tree(), put(j, "rules", cJSON_CreateObject()), bad_tree(j, "rules", NULL);
    j = valid_tree(), cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetArrayItem(at(j, "rules"), 0), "text");
    bad_tree(j, "rules[0]", NULL);
    j = valid_tree(), put(cJSON_GetArrayItem(at(j, "rules"), 0), "text",
                          cJSON_CreateString("type=Conv act_bits=6"));
    bad_tree(j, "rules[0].text", NULL);
    j = valid_tree(), put(cJSON_GetArrayItem(at(j, "rules"), 1), "text",
                          cJSON_CreateString("type=NoSuchOpType : act_bits=6"));
    bad_tree(j, "rules[1].text", "NoSuchOpType");
    j = valid_tree(), put(cJSON_GetArrayItem(at(j, "rules"), 1), "enabled", cJSON_CreateString("yes"));
    bad_tree(j, "rules[1]", NULL);
    /* config */
    j = valid_tree(), put(at(j, "config"), "no_such_key", cJSON_CreateString("1"));
    bad_tree(j, "config.no_such_key", NULL);
    j = valid_tree(), put(at(j, "config"), "activation_n_bits", cJSON_CreateNumber(6));
    bad_tree(j, "config.activation_n_bits", NULL);
    j = valid_tree(), put(at(j, "config"), "activation_n_bits", cJSON_CreateString("99"));
    bad_tree(j, "config.activation_n_bits", "99");
    j = valid_tree(), put(at(j, "config"), "shift_negative_ratio", cJSON_CreateString("0"));
    bad_tree(j, "config.shift_negative_ratio", NULL);
    j = valid_tree(), put(j, "config", cJSON_CreateArray()), bad_tree(j, "config", NULL);
    /* history */
    j = valid_tree(), put(cJSON_GetArrayItem(at(j, "history"), 0), "score", cJSON_CreateString("high"));
    bad_tree(j, "history[0].score", NULL);
    j = valid_tree(), put(cJSON_GetArrayItem(at(j, "history"), 0), "score", cJSON_CreateNumber(1e300));
    bad_tree(j, "history[0].score", NULL);
    j = valid_tree(), put(cJSON_GetArrayItem(at(j, "history"), 2), "score", cJSON_CreateRaw("1e999"));
    bad_tree(j, "history[2].score", NULL);
    j = valid_tree(), put(cJSON_GetArrayItem(at(j, "history"), 0), "float", cJSON_CreateRaw("-1e999"));
    bad_tree(j, "history[0].float", NULL);
    j = valid_tree(), put(cJSON_GetArrayItem(at(j, "history"), 0), "rules", cJSON_CreateString("x"));
    bad_tree(j, "history[0].rules", NULL);
    j = valid_tree(), put(j, "history", cJSON_CreateNumber(1)), bad_tree(j, "history", NULL);
    /* figures, ui */
    j = valid_tree(), put(at(j, "figures"), "quantized", cJSON_CreateNumber(2)),
    bad_tree(j, "figures.quantized", NULL);
    j = valid_tree(), put(j, "ui", cJSON_CreateArray()), bad_tree(j, "ui", NULL);
    j = valid_tree(), put(at(j, "ui"), "pane", cJSON_CreateNumber(3)), bad_tree(j, "ui.pane", NULL);
    /* the statistics' sidecar reference */
    j = valid_tree(), put(j, "stats", cJSON_CreateString("x.stats")), bad_tree(j, "stats", NULL);
    j = valid_tree(), put(at(j, "stats"), "file", cJSON_CreateString("../valid.json.00000000.stats"));
    bad_tree(j, "stats.file", NULL);
    j = valid_tree(), put(at(j, "stats"), "file", cJSON_CreateString(".."));
    bad_tree(j, "stats.file", NULL);
    j = valid_tree(), cJSON_DeleteItemFromObjectCaseSensitive(at(j, "stats"), "file");
    bad_tree(j, "stats.file", NULL);
    j = valid_tree(), put(at(j, "stats"), "bytes", cJSON_CreateNumber(5));
    bad_tree(j, "stats.bytes", NULL);
    j = valid_tree(), put(at(j, "stats"), "crc32", cJSON_CreateNumber(-1));
    bad_tree(j, "stats.crc32", NULL);
    j = valid_tree(), put(at(j, "stats"), "crc32", cJSON_CreateRaw("1e999"));
    bad_tree(j, "stats.crc32", NULL);
    /* the last sweep and bisection */
    j = valid_tree(), put(j, "sensitivity", cJSON_CreateArray()), bad_tree(j, "sensitivity", NULL);
    j = valid_tree(), cJSON_DeleteItemFromObjectCaseSensitive(at(j, "sensitivity"), "layers");
    bad_tree(j, "sensitivity.layers", NULL);
    j = valid_tree(), put(at(cJSON_GetArrayItem(at(at(j, "sensitivity"), "layers"), 1), "only"), "score",
                          cJSON_CreateString("x"));
    bad_tree(j, "sensitivity.layers[1].only.score", NULL);
    j = valid_tree(), put(at(at(j, "sensitivity"), "float"), "sqnr_db", cJSON_CreateString("loud"));
    bad_tree(j, "sensitivity.float.sqnr_db", NULL);
    j = valid_tree(), put(at(j, "bisect"), "raise", cJSON_CreateString("32"));
    bad_tree(j, "bisect.raise", NULL);
    j = valid_tree(), put(at(j, "bisect"), "raise", cJSON_CreateNumber(16));
    bad_tree(j, "bisect.raise", NULL);
    j = valid_tree(), put(at(j, "bisect"), "culprits", cJSON_CreateRaw("[99]"));
    bad_tree(j, "bisect.culprits", NULL);
    j = valid_tree(), put(at(j, "bisect"), "culprits", cJSON_CreateRaw("[0]")),
    put(at(j, "bisect"), "alone", cJSON_CreateArray()), bad_tree(j, "bisect.alone", NULL);
    j = valid_tree(), put(at(j, "bisect"), "target", cJSON_CreateString("high"));
    bad_tree(j, "bisect.target", NULL);
    j = valid_tree(), put(at(j, "bisect"), "steps", cJSON_CreateRaw("[{\"raised\": [-1]}]"));
    bad_tree(j, "bisect.steps[0].raised", NULL);
    /* origin */
    j = valid_tree(), cJSON_AddItemToArray(at(j, "origin"), cJSON_CreateNumber(1));
    bad_tree(j, "origin[]", NULL);

    /* 5000-deep nesting */
    size_t depth = 5000;
    char *deep = malloc(2 * depth);
    assert_non_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    write_bytes(bad_path, deep, 2 * depth);
    expect_bad(NULL, "JSON");
    /* ... also under a valid field */
    {
        size_t n = strlen("{\"qdb_session\": 1, \"ui\": ") + 2 * depth + 2;
        char *t = malloc(n + 1);
        assert_non_null(t);
        int k = snprintf(t, n + 1, "{\"qdb_session\": 1, \"ui\": %.*s}", (int)(2 * depth), deep);
        assert_true(k > 0);
        write_bytes(bad_path, t, (size_t)k);
        free(t);
        expect_bad(NULL, "JSON");
    }
    free(deep);
    /* empty, binary, not an object */
    write_bytes(bad_path, "", 0);
    expect_bad(NULL, "the file is empty");
    unsigned char bin[512];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 151u + 7u);
    bin[0] = 0x89; /* PNG-like */
    write_bytes(bad_path, bin, sizeof bin);
    expect_bad(NULL, "JSON");
    write_bytes(bad_path, "[1, 2]", 6);
    expect_bad("(top level)", NULL);
    write_bytes(bad_path, "\"qdb\"", 5);
    expect_bad("(top level)", NULL);

    /* 70 MiB (sparse) */
    {
        int fd = open(bad_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "{", 1), 1);
        assert_int_equal(ftruncate(fd, (off_t)70 << 20), 0);
        assert_int_equal(close(fd), 0);
        expect_bad(NULL, "larger than");
        assert_int_equal(truncate(bad_path, 0), 0);
    }

    /* the model changed after saving / is gone: a copy of the model */
    {
        char m2[512];
        path_in(m2, sizeof m2, "bad-copy.onnx");
        size_t n;
        char *bytes = slurp(f.s->model, &n);
        assert_non_null(bytes);
        write_bytes(m2, bytes, n);
        free(bytes);
        j = valid_tree(), put(at(j, "model"), "path", cJSON_CreateString(m2));
        char *t = cJSON_Print(j);
        cJSON_Delete(j);
        write_bytes(bad_path, t, strlen(t));
        free(t);
        qdb_session_desc d;
        load_ok(bad_path, 1, &d); /* same bytes: fine */
        assert_string_equal(d.model, m2);
        qdb_session_desc_free(&d);
        FILE *mf = fopen(m2, "ab");
        assert_non_null(mf);
        fputc(0, mf);
        assert_int_equal(fclose(mf), 0);
        expect_bad(NULL, "has changed");
        /* ... not checked when asked not to */
        load_ok(bad_path, 0, &d);
        qdb_session_desc_free(&d);
        assert_int_equal(unlink(m2), 0);
        expect_bad(NULL, m2);
    }

    free(valid_text);
    valid_text = NULL;
    sf_free(&f);
}

/* ---- 5. version 0 ---- */

static void test_version0(void **state)
{
    (void)state;
    sf_fixture f;
    open_on_file(&f, "v0.onnx");
    investigate(f.s);
    char p1[512], p0[512];
    path_in(p1, sizeof p1, "v1.json");
    path_in(p0, sizeof p0, "v0.json");
    save_ok(f.s, p1);
    char *text = slurp(p1, NULL);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(j, "model");
    assert_non_null(m);
    cJSON_AddItemToObject(j, "model_path", cJSON_Duplicate(at(m, "path"), 1));
    cJSON_AddItemToObject(j, "model_sha256", cJSON_Duplicate(at(m, "sha256"), 1));
    cJSON_Delete(m);
    put(j, "qdb_session", cJSON_CreateNumber(0));
    text = cJSON_Print(j);
    assert_null(strstr(text, "\"model\""));
    write_bytes(p0, text, strlen(text));
    free(text);

    qdb_session_desc d0, d1;
    load_ok(p1, 1, &d1);
    load_ok(p0, 1, &d0);
    desc_equal(&d0, &d1);
    desc_is_session(&d0, f.s);
    qdb_session_desc_free(&d0);

    /* a real version-0 file had no figures and no ui */
    cJSON_DeleteItemFromObjectCaseSensitive(j, "figures");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "ui");
    text = cJSON_Print(j);
    write_bytes(p0, text, strlen(text));
    free(text);
    load_ok(p0, 1, &d0);
    assert_int_equal(d0.have_figures, 0);
    assert_null(d0.ui.selected);
    assert_null(d0.ui.pane);
    rules_equal(d0.rs, d1.rs);
    hist_equal(&d0.hist, &d1.hist, d1.hist.n);
    assert_string_equal(d0.sha256, d1.sha256);
    qdb_session_desc_free(&d0);

    /* version 0 without its model fields: still one clear error */
    cJSON_DeleteItemFromObjectCaseSensitive(j, "model_sha256");
    text = cJSON_Print(j);
    write_bytes(p0, text, strlen(text));
    free(text);
    qdb_err e = {0};
    assert_int_not_equal(qdb_session_load(p0, 1, &d0, &e), QDB_OK);
    assert_contains(e.msg, p0);
    assert_contains(e.msg, "'model.sha256'");

    cJSON_Delete(j);
    qdb_session_desc_free(&d1);
    sf_free(&f);
}

/* ---- 6. crash safety ---- */

static void test_crash_safety(void **state)
{
    (void)state;
    if (getenv("QDB_SKIP_FORK")) {
        print_message("QDB_SKIP_FORK set: crash-safety test skipped\n");
        skip();
    }
    /* two sessions of one model with different statistics (so that every
     * save names another sidecar and removes the previous one) and
     * different rules (so that a file shows whose it is) */
    sf_fixture f, g, inst;
    open_on_file(&f, "crash.onnx");
    investigate(f.s);
    twin_other_calibration(&f, &g);
    cmd_ok0(g.s, "rule all : w_bits=4");
    assert_int_not_equal(g.s->rs->n, f.s->rs->n);
    size_t nf, ng;
    void *blob_f = stats_blob(f.s, &nf), *blob_g = stats_blob(g.s, &ng);
    uint32_t crc_f = (uint32_t)crc32(0L, blob_f, (uInt)nf), crc_g = (uint32_t)crc32(0L, blob_g, (uInt)ng);
    assert_int_not_equal(crc_f, crc_g);
    sf_twin(&f, &inst); /* where the statistics are installed */

    char dir[512], P[600];
    path_in(dir, sizeof dir, "crash");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(P, sizeof P, "%s/s.json", dir);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 6; i++)
        save_ok(i & 1 ? g.s : f.s, P);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double per_save = ((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec)) / 6;
    assert_int_equal(sidecars_beside(P), 1);

    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    int leftovers = 0, loadable_leftovers = 0, with_leftover = 0, finished = 0, saw[2] = {0, 0};
    int stats_tmps = 0, orphans = 0, with_orphan = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int it = 0; it < 50; it++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            qdb_err ce;
            for (int i = 0; i < 400; i++)
                qdb_session_save(i & 1 ? g.s : f.s, P, &ce);
            _exit(0);
        }
        /* up to four saves' time (at least 3 ms) */
        long span_us = (long)(4e6 * per_save) > 3000 ? (long)(4e6 * per_save) : 3000;
        struct timespec nap = {0, (long)(rand_r(&seed) % (unsigned)(span_us + 1)) * 1000L};
        nanosleep(&nap, NULL);
        kill(pid, SIGKILL);
        int wst;
        assert_int_equal(waitpid(pid, &wst, 0), pid);
        finished += WIFEXITED(wst);

        /* P loads; it names a sidecar that is there, is the statistics of
         * the session P's rules come from, and installs */
        qdb_session_desc d;
        load_ok(P, 1, &d);
        int is_g = d.rs->n == g.s->rs->n;
        assert_true(is_g || d.rs->n == f.s->rs->n);
        saw[is_g]++;
        char *named = sidecar_of(P);
        assert_non_null(d.stats_path);
        assert_string_equal(d.stats_path, named);
        assert_int_equal(d.stats_crc, is_g ? crc_g : crc_f);
        qdb_err le = {0};
        if (qdb_session_load_stats(inst.s, &d, &le) != QDB_OK)
            fail_msg("after kill %d: %s", it, le.msg);
        size_t ni;
        void *bi = stats_blob(inst.s, &ni);
        assert_int_equal(ni, is_g ? ng : nf);
        assert_memory_equal(bi, is_g ? blob_g : blob_f, ni);
        free(bi);
        qdb_session_desc_free(&d);

        /* anything else: sidecars nothing names, temporaries */
        DIR *dd = opendir(dir);
        assert_non_null(dd);
        struct dirent *de;
        int here = 0, orphan_here = 0;
        while ((de = readdir(dd))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                !strcmp(de->d_name, "s.json") || !strcmp(de->d_name, base_of(named)))
                continue;
            char lp[1200];
            snprintf(lp, sizeof lp, "%s/%s", dir, de->d_name);
            uint32_t crc;
            if (sidecar_name_is(de->d_name, "s.json", "", &crc)) {
                /* a whole sidecar of one of the two sessions */
                assert_true(crc == crc_f || crc == crc_g);
                size_t nl;
                char *side = slurp(lp, &nl);
                assert_non_null(side);
                assert_int_equal((uint32_t)crc32(0L, (unsigned char *)side, (uInt)nl), crc);
                free(side);
                orphan_here++;
            } else if (sidecar_name_is(de->d_name, "s.json", ".tmp.", NULL)) {
                stats_tmps++;
            } else if (!strncmp(de->d_name, "s.json.tmp.", 11)) {
                here++;
                if (qdb_session_load(lp, 1, &d, &le) == QDB_OK) {
                    loadable_leftovers++;
                    qdb_session_desc_free(&d);
                }
            } else {
                fail_msg("unexpected file %s", lp);
            }
            assert_int_equal(unlink(lp), 0);
        }
        closedir(dd);
        free(named);
        leftovers += here;
        with_leftover += here > 0;
        orphans += orphan_here;
        with_orphan += orphan_here > 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("crash safety (seed %u, one save %.2f ms): 50 kills in %.2f s, %d children "
                  "finished first, P was the first session's %d times and the second's %d times "
                  "(always loadable, its sidecar there and installable); %d kills left %d "
                  "P.tmp.* temporaries (%d of them complete, loadable files), %d kills left %d "
                  "P.*.stats sidecars no file names, and %d P.*.stats.tmp.* temporaries\n",
                  seed, 1e3 * per_save,
                  (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec),
                  finished, saw[0], saw[1], with_leftover, leftovers, loadable_leftovers,
                  with_orphan, orphans, stats_tmps);

    /* a save after all that: P and its one sidecar, nothing else */
    save_ok(g.s, P);
    char *named = sidecar_of(P);
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(dd)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            files++;
            if (strcmp(de->d_name, "s.json") && strcmp(de->d_name, base_of(named)))
                fail_msg("unexpected file %s/%s", dir, de->d_name);
        }
    closedir(dd);
    assert_int_equal(files, 2);
    free(named);

    free(blob_f);
    free(blob_g);
    sf_free(&inst);
    sf_free(&g);
    sf_free(&f);
}

/* A copy of a session file (b.json naming a.json's sidecar) saved again:
 * the new save writes b's own sidecar and never removes a's, which a.json
 * still names; nor a file a hand-edited stats.file names. */
static void test_copied_session(void **state)
{
    (void)state;
    sf_fixture f;
    open_on_file(&f, "cp.onnx");
    char a[512], b[512], model[512];
    path_in(a, sizeof a, "a.json");
    path_in(b, sizeof b, "b.json");
    path_in(model, sizeof model, "cp.onnx");
    save_ok(f.s, a);
    char *side_a = sidecar_of(a);
    size_t len;
    char *text = slurp(a, &len);
    write_bytes(b, text, len);
    free(text);
    save_ok(f.s, b);
    assert_true(exists(side_a));
    char *side_b = sidecar_of(b);
    assert_string_not_equal(side_a, side_b);
    qdb_session_desc d;
    load_ok(a, 1, &d);
    qdb_err e = {0};
    if (qdb_session_load_stats(f.s, &d, &e) != QDB_OK)
        fail_msg("a.json's statistics after saving its copy: %s", e.msg);
    qdb_session_desc_free(&d);
    /* a session file whose stats.file was edited to name the model */
    text = slurp(b, &len);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    assert_non_null(root);
    cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "stats");
    cJSON_ReplaceItemInObjectCaseSensitive(st, "file", cJSON_CreateString("cp.onnx"));
    char *edited = cJSON_Print(root);
    cJSON_Delete(root);
    write_bytes(b, edited, strlen(edited));
    free(edited);
    save_ok(f.s, b);
    assert_true(exists(model));
    free(side_a);
    free(side_b);
    sf_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_stats_sidecar),
        cmocka_unit_test(test_save_command),
        cmocka_unit_test(test_load_command),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_version0),
        cmocka_unit_test(test_crash_safety),
        cmocka_unit_test(test_copied_session),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
