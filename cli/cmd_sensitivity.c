/* cmd_sensitivity.c - `qdb sensitivity MODEL [flags]`: per-layer
 * sensitivity sweeps on a probe subset of the evaluation set: each layer
 * alone quantized, and every layer but it quantized, with the score and
 * the output SQNR against float; ranked, most sensitive first. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_file.h"
#include "commands.h"
#include "probe.h"
#include "progress.h"
#include "qsetup.h"
#include "sensitivity.h"

const char cmd_sensitivity_options[] =
    "  --subset N        evaluation samples probed (a seeded random subset; default 500;\n"
    "                    --eval-n N says the same)\n"
    "  --full            the whole evaluation set\n"
    "  --top K           print the K most sensitive layers (default all)\n"
    "  --json FILE       also write the results as JSON\n"
    "  Ctrl-C stops after the current layer and prints what was measured\n" QSETUP_HELP;
#define SENS_USAGE                                                                       \
    "usage: qdb sensitivity MODEL.onnx [--subset N | --full] [--json FILE] [--top K]\n"    \
    "                       [--rule RULE ...] [--set key=value ...] [data flags]\n"

static void fmt_db(char *b, size_t n, double v)
{
    if (isinf(v))
        snprintf(b, n, v > 0 ? "exact" : "-inf");
    else
        snprintf(b, n, "%.1f", v);
}

static int write_json(const char *path, const qsetup *s, const qdb_sensitivity *r, const int *order)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", s->model);
    cJSON_AddNumberToObject(o, "samples", (double)r->samples);
    cJSON_AddBoolToObject(o, "complete", r->complete);
    cJSON_AddNumberToObject(o, "evaluations", r->evaluations);
    cJSON_AddNumberToObject(o, "float_score", r->float_s.score);
    cJSON_AddNumberToObject(o, "quant_score", r->quant.score);
    cJSON *ls = cJSON_AddArrayToObject(o, "layers");
    for (int i = 0; i < r->n; i++) {
        const qdb_sens_layer *l = &r->layers[order[i]];
        if (!l->done)
            continue;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "rank", i + 1);
        cJSON_AddNumberToObject(j, "index", l->index);
        cJSON_AddStringToObject(j, "name", qdb_qmodel_own_layer(s->q, l->index)->name);
        cJSON_AddStringToObject(j, "op", qdb_qmodel_own_layer(s->q, l->index)->op);
        cJSON_AddNumberToObject(j, "only_score", l->only.score);
        if (isfinite(l->only.sqnr_db))
            cJSON_AddNumberToObject(j, "only_sqnr_db", l->only.sqnr_db);
        cJSON_AddNumberToObject(j, "all_but_score", l->all_but.score);
        if (isfinite(l->all_but.sqnr_db))
            cJSON_AddNumberToObject(j, "all_but_sqnr_db", l->all_but.sqnr_db);
        cJSON_AddNumberToObject(j, "regained", l->all_but.score - r->quant.score);
        cJSON_AddItemToArray(ls, j);
    }
    return cli_write_json(path, o);
}

int cmd_sensitivity(int argc, char **argv)
{
    qsetup s;
    if (qsetup_init(&s))
        return 1;
    long subset = 500, top = 0;
    int full = 0, rc = 2, subset_given = 0;
    const char *json = NULL;
    for (int i = 1; i < argc; i++) {
        int r = qsetup_parse(&s, argc, argv, &i);
        if (r < 0)
            goto out;
        if (r > 0)
            continue;
        char *end;
        if (!strcmp(argv[i], "--subset") && i + 1 < argc) {
            subset = strtol(argv[++i], &end, 10);
            subset_given = 1;
            if (*end || subset < 1) {
                cli_error("--subset: expected a positive count, got '%s'", argv[i]);
                goto out;
            }
        } else if (!strcmp(argv[i], "--top") && i + 1 < argc) {
            top = strtol(argv[++i], &end, 10);
            if (*end || top < 1) {
                cli_error("--top: expected a positive count, got '%s'", argv[i]);
                goto out;
            }
        } else if (!strcmp(argv[i], "--full")) {
            full = 1;
        } else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
            json = argv[++i];
        } else {
            cli_error("sensitivity: unexpected argument '%s'\n%s%s", argv[i], SENS_USAGE,
                      cmd_sensitivity_options);
            goto out;
        }
    }
    if (!s.model) {
        cli_error("%s", SENS_USAGE);
        goto out;
    }
    if (qsetup_probe_size(&s, "sensitivity", full, subset_given, &subset))
        goto out;
    if (json && cli_check_writable(json))
        goto out;
    cli_catch_interrupt();
    rc = 1;
    if (qsetup_open(&s, 1, subset))
        goto out;
    qdb_err e = {0};
    qdb_probe *p = qdb_probe_new(s.g, s.de, 0, (int)s.batch, &e);
    if (!p) {
        cli_error("%s", e.msg);
        goto out;
    }
    qdb_sensitivity r;
    qdb_status st = qdb_sensitivity_run(s.q, p, cli_progress_stoppable, "layers", &r, &e);
    if (st != QDB_OK && st != QDB_ERR_CANCELLED) {
        cli_error("%s: %s", s.model, e.msg);
        qdb_probe_free(p);
        goto out;
    }
    int *order = malloc((size_t)(r.n ? r.n : 1) * sizeof *order);
    if (!order) {
        cli_error("out of memory");
        qdb_sensitivity_free(&r);
        qdb_probe_free(p);
        goto out;
    }
    qdb_sensitivity_rank(&r, order);
    const char *what = r.float_s.top1 == r.float_s.top1 ? "top-1" : "agreement with float";
    printf("model      %s\n", s.model);
    printf("probe      %lld samples of %s; score: %s\n", (long long)r.samples, s.espec, what);
    printf("float      %.2f %%\n", 100.0 * r.float_s.score);
    printf("quantized  %.2f %%   delta %+.2f points (every layer as configured)\n",
           100.0 * r.quant.score, 100.0 * (r.quant.score - r.float_s.score));
    printf("\n  %4s  %3s  %-36s %-17s %12s %8s %12s %9s\n", "rank", "#", "layer", "op",
           "only: score", "SQNR", "all but: sc.", "regained");
    for (int i = 0; i < r.n && (!top || i < top); i++) {
        const qdb_sens_layer *l = &r.layers[order[i]];
        if (!l->done)
            break;
        const qdb_qlayer *ql = qdb_qmodel_own_layer(s.q, l->index);
        const char *name = ql->name;
        size_t len = strlen(name);
        char nb[40], d1[16];
        if (len > 36)
            snprintf(nb, sizeof nb, "...%s", name + len - 33);
        else
            snprintf(nb, sizeof nb, "%s", name);
        fmt_db(d1, sizeof d1, l->only.sqnr_db);
        printf("  %4d  %3d  %-36s %-17.17s %10.2f %% %8s %10.2f %% %+9.2f\n", i + 1, l->index, nb,
               ql->op, 100.0 * l->only.score, d1, 100.0 * l->all_but.score,
               100.0 * (l->all_but.score - r.quant.score));
    }
    printf("\n  only: this layer quantized, every other in float (output SQNR against float);\n"
           "  all but: every layer quantized but this one; regained: points that keeping it\n"
           "  in float wins back. %d evaluations%s.\n",
           r.evaluations, r.complete ? "" : " (stopped: partial results)");
    rc = json && write_json(json, &s, &r, order) ? 1 : 0;
    free(order);
    qdb_sensitivity_free(&r);
    qdb_probe_free(p);
out:
    qsetup_close(&s);
    return rc;
}
