/* cmd_bisect.c - `qdb bisect MODEL [flags]`: a small set of layers which,
 * kept in float or at 16 bits, brings the quantized score within a
 * tolerance of float: every probe it spends, the culprits, what each
 * recovers alone, and the rule that keeps them (--emit-rules FILE writes
 * it, ready for --rules). */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_file.h"
#include "bisect.h"
#include "commands.h"
#include "probe.h"
#include "progress.h"
#include "qsetup.h"
#include "sensitivity.h"

const char cmd_bisect_options[] =
    "  --tolerance P     points below float to reach (default 0.5)\n"
    "  --precision       raise culprits to float (default) or to 16-bit activations and weights\n"
    "  --mode            ddmin: delta debugging, a minimal set (default); prefix: the shortest\n"
    "                    run of first or last layers (Polygraphy's search)\n"
    "  --rank            order for ddmin: own SQNR of each layer (default), a full sensitivity\n"
    "                    sweep (2 probes per layer), or table order\n"
    "  --subset N        evaluation samples probed (a seeded random subset; default 500;\n"
    "                    --eval-n N says the same); --full: the whole evaluation set\n"
    "  --emit-rules FILE write the rule keeping the culprits\n"
    "  --json FILE       also write every probe and the result as JSON\n"
    "  Ctrl-C stops after the current probe and prints the steps so far\n" QSETUP_HELP;
#define BISECT_USAGE                                                                             \
    "usage: qdb bisect MODEL.onnx [--tolerance P] [--precision float|16] [--mode ddmin|prefix]\n"  \
    "                  [--rank sqnr|sensitivity|none] [--subset N | --full] [--emit-rules FILE]\n" \
    "                  [--json FILE] [--rule RULE ...] [--set key=value ...] [data flags]\n"

static char *to_json(const qsetup *s, const qdb_bisect *b, const char *rule)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", s->model);
    cJSON_AddNumberToObject(o, "float_score", b->float_s.score);
    cJSON_AddNumberToObject(o, "target", b->target);
    cJSON_AddNumberToObject(o, "base_score", b->base.score);
    cJSON_AddNumberToObject(o, "final_score", b->final.score);
    cJSON_AddBoolToObject(o, "found", b->found);
    cJSON_AddNumberToObject(o, "evaluations", b->evaluations);
    cJSON *cs = cJSON_AddArrayToObject(o, "culprits");
    for (int i = 0; i < b->n_culprits; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", b->culprits[i]);
        cJSON_AddStringToObject(c, "name", qdb_qmodel_own_layer(s->q, b->culprits[i])->name);
        if (b->found)
            cJSON_AddNumberToObject(c, "score_alone", b->alone[i]);
        cJSON_AddItemToArray(cs, c);
    }
    cJSON *st = cJSON_AddArrayToObject(o, "steps");
    for (int i = 0; i < b->n_steps; i++) {
        cJSON *j = cJSON_CreateObject();
        cJSON *ix = cJSON_AddArrayToObject(j, "raised");
        for (int k = 0; k < b->steps[i].n_raised; k++)
            cJSON_AddItemToArray(ix, cJSON_CreateNumber(b->steps[i].raised[k]));
        cJSON_AddNumberToObject(j, "score", b->steps[i].s.score);
        cJSON_AddBoolToObject(j, "passed", b->steps[i].passed);
        cJSON_AddItemToArray(st, j);
    }
    if (rule)
        cJSON_AddStringToObject(o, "rule", rule);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

int cmd_bisect(int argc, char **argv)
{
    qsetup s;
    if (qsetup_init(&s))
        return 1;
    long subset = 500;
    int full = 0, rc = 2, rank = 1, subset_given = 0; /* rank: 0 none, 1 sqnr, 2 sensitivity */
    double tol = 0.5;
    qdb_bisect_opts bo = {.raise = QDB_RAISE_FLOAT, .mode = QDB_BISECT_DDMIN};
    const char *json = NULL, *emit = NULL;
    for (int i = 1; i < argc; i++) {
        int r = qsetup_parse(&s, argc, argv, &i);
        if (r < 0)
            goto out;
        if (r > 0)
            continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (!strcmp(a, "--full")) {
            full = 1;
            continue;
        }
        if (!v) {
            cli_error("bisect: %s needs a value\n%s", a, BISECT_USAGE);
            goto out;
        }
        i++;
        if (!strcmp(a, "--subset")) {
            subset = strtol(v, &end, 10);
            subset_given = 1;
            if (*end || subset < 1) {
                cli_error("--subset: expected a positive count, got '%s'", v);
                goto out;
            }
        } else if (!strcmp(a, "--tolerance")) {
            tol = strtod(v, &end);
            if (*end || end == v || !(tol >= 0) || tol > 100) {
                cli_error("--tolerance: expected points from 0 to 100, got '%s'", v);
                goto out;
            }
        } else if (!strcmp(a, "--precision")) {
            if (!strcmp(v, "float"))
                bo.raise = QDB_RAISE_FLOAT;
            else if (!strcmp(v, "16"))
                bo.raise = QDB_RAISE_16BIT;
            else {
                cli_error("--precision: expected float or 16, got '%s'", v);
                goto out;
            }
        } else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "ddmin"))
                bo.mode = QDB_BISECT_DDMIN;
            else if (!strcmp(v, "prefix"))
                bo.mode = QDB_BISECT_PREFIX;
            else {
                cli_error("--mode: expected ddmin or prefix, got '%s'", v);
                goto out;
            }
        } else if (!strcmp(a, "--rank")) {
            if (!strcmp(v, "none"))
                rank = 0;
            else if (!strcmp(v, "sqnr"))
                rank = 1;
            else if (!strcmp(v, "sensitivity"))
                rank = 2;
            else {
                cli_error("--rank: expected sqnr, sensitivity or none, got '%s'", v);
                goto out;
            }
        } else if (!strcmp(a, "--json")) {
            json = v;
        } else if (!strcmp(a, "--emit-rules")) {
            emit = v;
        } else {
            cli_error("bisect: unexpected argument '%s'\n%s%s", a, BISECT_USAGE, cmd_bisect_options);
            goto out;
        }
    }
    if (!s.model) {
        cli_error("%s", BISECT_USAGE);
        goto out;
    }
    if (qsetup_probe_size(&s, "bisect", full, subset_given, &subset))
        goto out;
    if ((json && cli_check_writable(json)) || (emit && cli_check_writable(emit)))
        goto out;
    cli_catch_interrupt();
    bo.progress = cli_progress_stoppable;
    rc = 1;
    if (qsetup_open(&s, 1, subset))
        goto out;
    qdb_err e = {0};
    qdb_probe *p = qdb_probe_new(s.g, s.de, 0, (int)s.batch, &e);
    int *order = NULL;
    qdb_bisect b = {0};
    char *rule = NULL, *text = NULL;
    if (!p) {
        cli_error("%s", e.msg);
        goto out;
    }
    /* the order ddmin groups layers in */
    int n = 0;
    for (int L = 0; L < s.q->n_layers; L++)
        n += s.q->layers[L].shift_of < 0;
    order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) {
        cli_error("out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++)
        order[i] = i;
    int rank_probes = 0;
    if (rank == 1) {
        /* lowest own SQNR first, on 64 representative samples */
        qdb_run_opts ro = {.batch = (int)s.batch};
        if (qdb_dataset_rewind(s.dc, &e) != QDB_OK || qdb_qmodel_measure(s.q, s.dc, 64, &ro, &e)) {
            cli_error("%s: %s", s.model, e.msg);
            goto done;
        }
        for (int i = 1; i < n; i++) /* insertion sort: stable */
            for (int j = i; j > 0; j--) {
                double a = qdb_qmodel_own_layer(s.q, order[j])->m.sqnr_own_db;
                double c = qdb_qmodel_own_layer(s.q, order[j - 1])->m.sqnr_own_db;
                if (!(a < c))
                    break;
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
    } else if (rank == 2) {
        qdb_sensitivity sr = {0};
        if (qdb_sensitivity_run(s.q, p, cli_progress_if_tty(), "sensitivity", &sr, &e) != QDB_OK) {
            cli_error("%s: %s", s.model, e.msg);
            goto done;
        }
        qdb_sensitivity_rank(&sr, order);
        rank_probes = sr.evaluations;
        qdb_sensitivity_free(&sr);
    }
    bo.tolerance = tol / 100.0;
    bo.ranking = rank ? order : NULL;
    qdb_status bst = qdb_bisect_run(s.q, p, &bo, &b, &e);
    if (bst != QDB_OK && bst != QDB_ERR_CANCELLED) {
        cli_error("%s: %s", s.model, e.msg);
        goto done;
    }
    if (bst == QDB_ERR_CANCELLED) {
        printf("stopped    after %d probes; the steps so far:\n", b.evaluations);
        for (int i = 0; i < b.n_steps; i++)
            printf("  step %2d: %3d layer%s raised -> %6.2f %% %s\n", i + 1, b.steps[i].n_raised,
                   b.steps[i].n_raised == 1 ? "" : "s", 100.0 * b.steps[i].s.score,
                   b.steps[i].passed ? "reaches the target" : "short");
        goto done;
    }
    printf("model      %s\n", s.model);
    printf("probe      %lld samples of %s\n", (long long)qdb_probe_count(p), s.espec);
    printf("float      %.2f %%\n", 100.0 * b.float_s.score);
    printf("quantized  %.2f %%   target %.2f %% (tolerance %.2f points)\n", 100.0 * b.base.score,
           100.0 * b.target, tol);
    printf("search     %s, raising to %s; %d probe%s",
           bo.mode == QDB_BISECT_DDMIN ? "delta debugging" : "prefix / suffix",
           bo.raise == QDB_RAISE_FLOAT ? "float" : "16 bits", b.evaluations,
           b.evaluations == 1 ? "" : "s");
    if (rank_probes)
        printf(" (and %d for the sensitivity ranking)", rank_probes);
    printf("\n");
    for (int i = 0; i < b.n_steps; i++) {
        printf("  step %2d: %3d layer%s raised -> %6.2f %% %s", i + 1, b.steps[i].n_raised,
               b.steps[i].n_raised == 1 ? "" : "s", 100.0 * b.steps[i].s.score,
               b.steps[i].passed ? "reaches the target" : "short");
        if (b.steps[i].n_raised <= 8) {
            printf("  [");
            for (int k = 0; k < b.steps[i].n_raised; k++)
                printf("%s%d", k ? " " : "", b.steps[i].raised[k]);
            printf("]");
        }
        printf("\n");
    }
    if (!b.found) {
        printf("result     even every layer raised reaches only %.2f %%: the loss is not in\n"
               "           the layers' quantization alone (calibration data? preprocessing?)\n",
               100.0 * b.final.score);
    } else if (!b.n_culprits) {
        printf("result     already within the tolerance: no culprit\n");
    } else {
        if (bo.mode == QDB_BISECT_PREFIX) /* a run of layers, not each one needed */
            printf("result     the %s %d layer%s (a contiguous run: not each one a culprit; "
                   "--mode ddmin finds a minimal set); with %s raised: %.2f %%\n",
                   b.n_culprits == 1 ? "one" : "run of", b.n_culprits,
                   b.n_culprits == 1 ? "" : "s", b.n_culprits == 1 ? "it" : "them",
                   100.0 * b.final.score);
        else
            printf("result     %d culprit%s; with %s raised: %.2f %%\n", b.n_culprits,
                   b.n_culprits == 1 ? "" : "s", b.n_culprits == 1 ? "it" : "them",
                   100.0 * b.final.score);
        for (int i = 0; i < b.n_culprits; i++)
            printf("  %4d  %-44s %-18s alone: %.2f %% (%+.2f)\n", b.culprits[i],
                   qdb_qmodel_own_layer(s.q, b.culprits[i])->name,
                   qdb_qmodel_own_layer(s.q, b.culprits[i])->op, 100.0 * b.alone[i],
                   100.0 * (b.alone[i] - b.base.score));
        rule = qdb_bisect_rule(s.q, &b, bo.raise);
        if (rule)
            printf("rule       %s\n", rule);
    }
    if (emit && rule) {
        size_t len = strlen(rule) + 64;
        char *t = malloc(len);
        if (!t || (snprintf(t, len, "# from qdb bisect\n%s\n", rule), cli_write_text(emit, t))) {
            free(t);
            goto done;
        }
        free(t);
        printf("wrote      %s (use it with --rules)\n", emit);
    }
    if (json) {
        text = to_json(&s, &b, rule);
        if (!text || cli_write_text(json, text))
            goto done;
    }
    rc = 0;
done:
    free(text);
    free(rule);
    qdb_bisect_free(&b);
    free(order);
    qdb_probe_free(p);
out:
    qsetup_close(&s);
    return rc;
}
