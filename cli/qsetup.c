/* qsetup.c - common flags and setup of the quantization commands (see
 * qsetup.h). */
#include "qsetup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval.h"
#include "kernels.h"
#include "onnx_import.h"
#include "progress.h"
#include "session.h"
#include "session_file.h"

int qsetup_init(qsetup *s)
{
    memset(s, 0, sizeof *s);
    data_flags_init(&s->df);
    qdb_quant_config_init(&s->cfg);
    s->batch = 64;
    s->rs = qdb_ruleset_new();
    if (!s->rs) {
        cli_error("out of memory");
        return -1;
    }
    return 0;
}

int qsetup_parse_long(const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || end == v || x < lo || x > hi) {
        cli_error("%s: expected a number from %ld to %ld, got '%s'", flag, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int qsetup_parse(qsetup *s, int argc, char **argv, int *i)
{
    int r = data_flags_parse(&s->df, argc, argv, i);
    if (r)
        return r;
    const char *a = argv[*i];
    qdb_err e = {0};
    int has_value = *i + 1 < argc;
    if ((!strcmp(a, "--rule") && has_value) || !strncmp(a, "--rule=", 7)) {
        const char *text = a[6] == '=' ? a + 7 : argv[++*i];
        if (qdb_ruleset_add_text(s->rs, text, &e) != QDB_OK) {
            /* no ':' at all: the shell probably split an unquoted rule */
            cli_error("%s\n  in --rule '%s'%s", e.msg, text,
                      strchr(text, ':') ? "" : " (quote the whole rule for the shell)");
            return -1;
        }

    } else if (!strcmp(a, "--rules") && has_value) {
        if (s->n_rule_files == (int)(sizeof s->rule_files / sizeof s->rule_files[0])) {
            cli_error("--rules: at most %d files", s->n_rule_files);
            return -1;
        }
        /* read now: a bad rule is a usage error, and rules keep the
         * command line's order */
        s->rule_files[s->n_rule_files++] = argv[++*i];
        if (qdb_ruleset_load_file(s->rs, argv[*i], &e) != QDB_OK) {
            cli_error("%s", e.msg);
            return -1;
        }
    } else if ((!strcmp(a, "--set") && has_value) || !strncmp(a, "--set=", 6)) {
        const char *kv = a[5] == '=' ? a + 6 : argv[++*i];
        if (qdb_quant_config_set_kv(&s->cfg, kv, &e) != QDB_OK) {
            cli_error("--set %s: %s", kv, e.msg);
            return -1;
        }
    } else if (!strcmp(a, "--batch") && has_value) {
        return qsetup_parse_long(a, argv[++*i], 1, 4096, &s->batch) ? -1 : 1;
    } else if (!strcmp(a, "--threads") && has_value) {
        return qsetup_parse_long(a, argv[++*i], 1, 4096, &s->threads) ? -1 : 1;
    } else if (!strcmp(a, "--rule") || !strcmp(a, "--rules") || !strcmp(a, "--set") ||
               !strcmp(a, "--batch") || !strcmp(a, "--threads")) {
        cli_error("%s needs a value", a);
        return -1;
    } else if (a[0] != '-' && !s->model) {
        s->model = a;
    } else {
        return 0;
    }
    return 1;
}

int qsetup_open(qsetup *s, int need_eval, int64_t eval_n)
{
    qdb_err e = {0};
    if (s->threads)
        qdb_kernels_set_threads((int)s->threads);
    if (qdb_profile_load(s->model, &s->prof, &e) != QDB_OK) {
        cli_error("%s", e.msg);
        return 1;
    }
    s->have_prof = 1;
    if (!(s->g = qdb_onnx_load(s->model, NULL, &e))) {
        cli_error("%s", e.msg);
        return 1;
    }
    const char *where = s->prof.path ? s->prof.path : "a profile beside the model (MODEL.qdb.json)";
    s->cspec = s->df.calib ? s->df.calib : s->prof.calib;
    s->espec = s->df.eval ? s->df.eval : s->prof.eval;
    if (!s->cspec) {
        cli_error("%s: no representative set: give --calib SPEC, or name one in %s", s->model, where);
        return 1;
    }
    if (!s->espec && need_eval) {
        cli_error("%s: no evaluation set: give --eval SPEC, or name one in %s", s->model, where);
        return 1;
    }
    qdb_dataset_opts o;
    int default_n = s->df.calib_n == 0;
    data_flags_opts(&s->df, &s->prof, 0, &o);
    data_flags_fit_model(s->g, &o);
    if (!(s->dc = qdb_dataset_open(s->cspec, &o, &e)) || qdb_eval_check_fit(s->g, s->dc, &e)) {
        cli_error("%s", e.msg);
        return 1;
    }
    if (default_n && qdb_dataset_count(s->dc) > QSETUP_DEFAULT_CALIB_N) {
        /* by default a seeded random subset, not the whole (large) set */
        qdb_dataset_free(s->dc);
        o.n = QSETUP_DEFAULT_CALIB_N;
        o.shuffle = 1;
        if (!(s->dc = qdb_dataset_open(s->cspec, &o, &e))) {
            cli_error("%s", e.msg);
            return 1;
        }
    }
    if (need_eval) {
        data_flags_opts(&s->df, &s->prof, 1, &o);
        data_flags_fit_model(s->g, &o);
        if (eval_n > 0) {
            o.n = 0;
            qdb_dataset *probe = qdb_dataset_open(s->espec, &o, &e);
            if (!probe) {
                cli_error("%s", e.msg);
                return 1;
            }
            if (qdb_dataset_count(probe) > eval_n) {
                o.n = eval_n;
                o.shuffle = 1; /* a seeded random subset */
            }
            qdb_dataset_free(probe);
        }
        if (!(s->de = qdb_dataset_open(s->espec, &o, &e)) || qdb_eval_check_fit(s->g, s->de, &e)) {
            cli_error("%s", e.msg);
            return 1;
        }
    }
    if (s->no_calibrate)
        return 0;
    if (!(s->q = qdb_qmodel_new(s->g, &s->cfg, &e))) {
        cli_error("%s", e.msg);
        return 1;
    }
    qdb_run_opts ro = {.batch = (int)s->batch, .progress = cli_progress_if_tty(), .user = "calibrating"};
    if (qdb_qmodel_calibrate(s->q, s->dc, &ro, &e) != QDB_OK ||
        qdb_ruleset_apply(s->rs, s->q, NULL, &e) != QDB_OK || qdb_qmodel_quantize(s->q, &e) != QDB_OK) {
        cli_error("%s: %s", s->model, e.msg);
        return 1;
    }
    return 0;
}

void qsetup_close(qsetup *s)
{
    qdb_qmodel_free(s->q);
    qdb_dataset_free(s->dc);
    qdb_dataset_free(s->de);
    qdb_graph_free(s->g);
    if (s->have_prof)
        qdb_profile_free(&s->prof);
    qdb_ruleset_free(s->rs);
    memset(s, 0, sizeof *s);
}

int qsetup_probe_size(qsetup *s, const char *cmd, int full, int subset_given, long *subset)
{
    if (full && (subset_given || s->df.eval_n)) {
        cli_error("%s: --full and --subset / --eval-n exclude each other", cmd);
        return -1;
    }
    if (full)
        *subset = 0;
    else if (!subset_given && s->df.eval_n)
        *subset = (long)s->df.eval_n;
    s->df.eval_n = 0; /* the probe is drawn from the whole evaluation set */
    return 0;
}

int qsetup_origin_argv(int argc, char **argv, const char *model, const char *skip, char ***out)
{
    char **v = calloc((size_t)argc + 1, sizeof *v);
    if (!v)
        return -1;
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((model && !strcmp(a, model)) || (skip && !strcmp(a, skip)) ||
            !strcmp(a, "--keep-going") || !strcmp(a, "--echo") || !strcmp(a, "--session"))
            continue;
        if ((!strcmp(a, "--rule") || !strcmp(a, "--rules") || !strcmp(a, "--set")) && i + 1 < argc) {
            i++;
            continue;
        }
        v[n++] = argv[i];
    }
    *out = v;
    return n;
}

int qsetup_from_session(qsetup *s, const char *path, qdb_session_desc *d)
{
    qdb_err e = {0};
    /* a model given on the command line stands for the recorded one (a
     * moved copy) when its content is the same */
    if (qdb_session_load(path, s->model == NULL, d, &e) != QDB_OK) {
        cli_error("%s", e.msg);
        return -1;
    }
    if (s->model) {
        char a[65];
        if (qdb_file_sha256(s->model, a, &e) != QDB_OK) {
            cli_error("%s", e.msg);
            return -1;
        }
        if (strcmp(a, d->sha256)) {
            cli_error("%s: the session is for %s (sha256 %.12s...), not %s (%.12s...)", path,
                      d->model, d->sha256, s->model, a);
            return -1;
        }
        char *m = strdup(s->model);
        if (!m) {
            cli_error("out of memory");
            return -1;
        }
        free(d->model);
        d->model = m;
    }
    if (s->rs->n || s->n_rule_files) {
        cli_error("%s: give rules inside the session (the rule command), not with --rule/--rules",
                  path);
        return -1;
    }
    s->model = d->model;
    /* the recorded flags, through the same parser as the command line */
    char **av = calloc((size_t)d->n_origin + 2, sizeof *av);
    if (!av) {
        cli_error("out of memory");
        return -1;
    }
    av[0] = "session";
    for (int i = 0; i < d->n_origin; i++)
        av[i + 1] = d->origin[i];
    int rc = 0;
    for (int i = 1; i < d->n_origin + 1 && !rc; i++) {
        int k = qsetup_parse(s, d->n_origin + 1, av, &i);
        if (k < 0) {
            cli_error("  (in the flags recorded in %s)", path);
            rc = -1;
        } else if (k == 0 || av[i] == d->model) {
            cli_error("%s: field 'origin': '%s' is not a flag qdb takes", path, av[i]);
            rc = -1;
        }
    }
    free(av);
    if (rc)
        return -1;
    s->cfg = d->cfg;
    qdb_ruleset_free(s->rs);
    s->rs = d->rs;
    d->rs = NULL;
    return 0;
}

qdb_session *qsetup_session(qsetup *s, int argc, char **argv, const char *skip,
                            const char *session, qdb_session_desc *d)
{
    memset(d, 0, sizeof *d);
    if (session && qsetup_from_session(s, session, d))
        return NULL;
    if (!s->model) {
        cli_error("no model given");
        return NULL;
    }
    s->no_calibrate = 1;
    if (qsetup_open(s, 1, 0))
        return NULL;
    qdb_err e = {0};
    /* the session takes the graph, the datasets and the rules */
    qdb_session *ss = qdb_session_new(s->model, s->cspec, s->espec, s->g, s->dc, s->de, &s->cfg,
                                      s->rs, (int)s->batch, &e);
    s->g = NULL;
    s->dc = s->de = NULL;
    s->rs = NULL;
    if (!ss) {
        cli_error("%s: %s", s->model, e.msg);
        return NULL;
    }
    char **origin = NULL;
    int n = session ? d->n_origin : qsetup_origin_argv(argc, argv, s->model, skip, &origin);
    if (n < 0 || qdb_session_set_origin(ss, n, session ? d->origin : origin, &e) != QDB_OK ||
        (session && !(ss->save_path = strdup(session)))) {
        free(origin);
        qdb_session_free(ss);
        cli_error("out of memory");
        return NULL;
    }
    free(origin);
    if (session) {
        /* the saved history goes on; the UI state is the front end's to apply */
        ss->resumed = 1;
        /* the saved statistics instead of a calibration, when they fit */
        qdb_err se = {0};
        if (d->stats_path && qdb_session_load_stats(ss, d, &se) != QDB_OK)
            fprintf(stderr, "qdb: note: %s; calibrating again\n", se.msg);
        qdb_session_adopt_history(ss, d);
        ss->ui = d->ui;
        memset(&d->ui, 0, sizeof d->ui);
    }
    return ss;
}
