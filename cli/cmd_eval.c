/* cmd_eval.c - `qdb eval MODEL [data flags]`: float accuracy of a model on
 * its evaluation set (top-1, top-5, speed), compared with the accuracy its
 * framework recorded in the profile when there is one. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_file.h"
#include "commands.h"
#include "data_flags.h"
#include "eval.h"
#include "kernels.h"
#include "npy.h"
#include "onnx_import.h"
#include "progress.h"

#define EVAL_USAGE                                                                  \
    "usage: qdb eval MODEL.onnx [--eval SPEC] [--eval-n N] [--batch B] [--threads T]\n" \
    "                [--json FILE] [--scale S --mean M --std S]\n"

/* How many predictions differ from the framework's recorded ones (-1 when
 * they cannot be compared); the message explains why not. */
static int64_t compare_predictions(const char *path, const qdb_eval_result *r, char *why,
                                   size_t n)
{
    qdb_err e = {0};
    qdb_tensor *ref = qdb_npy_read(path, QDB_I64, &e);
    if (!ref) {
        snprintf(why, n, "%s", e.msg);
        return -1;
    }
    int64_t diff = -1;
    if (ref->shape.ndim != 1 || (int64_t)ref->numel != r->n)
        snprintf(why, n, "%s: %zu predictions for %lld samples", path, ref->numel,
                 (long long)r->n);
    else {
        diff = 0;
        for (int64_t i = 0; i < r->n; i++)
            diff += ref->data.i[i] != r->pred[i];
    }
    qdb_tensor_free(ref);
    return diff;
}

static int write_json(const char *path, const char *model, const char *spec,
                      const qdb_eval_result *r, int batch, int threads, const qdb_profile *p,
                      int64_t pred_diff)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "eval", spec);
    cJSON_AddNumberToObject(o, "n", (double)r->n);
    cJSON_AddBoolToObject(o, "labelled", r->labelled);
    if (r->labelled) {
        cJSON_AddNumberToObject(o, "top1", r->n ? (double)r->top1 / (double)r->n : 0);
        cJSON_AddNumberToObject(o, "top5", r->n ? (double)r->top5 / (double)r->n : 0);
    }
    cJSON_AddNumberToObject(o, "images_per_s", r->seconds > 0 ? (double)r->n / r->seconds : 0);
    cJSON_AddNumberToObject(o, "batch", batch);
    cJSON_AddNumberToObject(o, "threads", threads);
    if (p->ref_top1 >= 0)
        cJSON_AddNumberToObject(o, "reference_top1", p->ref_top1);
    if (pred_diff >= 0)
        cJSON_AddNumberToObject(o, "predictions_differing_from_reference", (double)pred_diff);
    return cli_write_json(path, o);
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *json = NULL;
    int batch = 64, threads = 0;
    data_flags df;
    data_flags_init(&df);
    for (int i = 1; i < argc; i++) {
        int r = data_flags_parse(&df, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if ((!strcmp(argv[i], "--batch") || !strcmp(argv[i], "--threads")) && i + 1 < argc) {
            char *end;
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || v < 1 || v > 4096) {
                cli_error("%s: expected a number from 1 to 4096, got '%s'", argv[i], argv[i + 1]);
                return 2;
            }
            *(!strcmp(argv[i], "--batch") ? &batch : &threads) = (int)v;
            i++;
        } else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
            json = argv[++i];
        } else if (argv[i][0] != '-' && !model) {
            model = argv[i];
        } else {
            cli_error("eval: unexpected argument '%s'\n%s" DATA_FLAGS_HELP, argv[i], EVAL_USAGE);
            return 2;
        }
    }
    if (!model) {
        cli_error("%s", EVAL_USAGE);
        return 2;
    }
    if (threads)
        qdb_kernels_set_threads(threads);

    int rc = 1;
    qdb_err e = {0};
    qdb_profile prof;
    qdb_graph *g = NULL;
    qdb_dataset *d = NULL;
    qdb_eval_result r = {0};
    if (qdb_profile_load(model, &prof, &e) != QDB_OK) {
        cli_error("%s", e.msg);
        return 1;
    }
    g = qdb_onnx_load(model, NULL, &e);
    if (!g) {
        cli_error("%s", e.msg);
        goto out;
    }
    const char *spec = df.eval ? df.eval : prof.eval;
    if (!spec) {
        cli_error("%s: no evaluation set: give --eval SPEC, or name one in %s", model,
                  prof.path ? prof.path : "a profile beside the model (MODEL.qdb.json)");
        goto out;
    }
    qdb_dataset_opts o;
    data_flags_opts(&df, &prof, 1, &o);
    data_flags_fit_model(g, &o);
    d = qdb_dataset_open(spec, &o, &e);
    if (!d || qdb_eval_check_fit(g, d, &e) != QDB_OK) {
        cli_error("%s", e.msg);
        goto out;
    }
    qdb_eval_opts eo = {.batch = batch, .progress = cli_progress_if_tty()};
    if (qdb_eval_run(g, d, &eo, &r, &e) != QDB_OK) {
        cli_error("%s", e.msg);
        goto out;
    }
    printf("model    %s\n", model);
    printf("eval     %s (%lld samples%s)\n", spec, (long long)r.n,
           r.labelled ? ", labelled" : ", no labels");
    if (r.labelled && r.n) {
        printf("top-1    %.2f %%  (%lld / %lld)\n", 100.0 * (double)r.top1 / (double)r.n,
               (long long)r.top1, (long long)r.n);
        printf("top-5    %.2f %%\n", 100.0 * (double)r.top5 / (double)r.n);
    }
    printf("speed    %.0f images/s (batch %d, %d thread%s)\n",
           r.seconds > 0 ? (double)r.n / r.seconds : 0.0, batch, qdb_kernels_threads(),
           qdb_kernels_threads() == 1 ? "" : "s");
    int64_t pred_diff = -1;
    int same_set = !df.eval && !df.eval_n; /* the profile's reference is for its own set */
    if (same_set && prof.ref_top1 >= 0) {
        printf("reference %s: top-1 %.2f %%", prof.ref_framework ? prof.ref_framework : "",
               100.0 * prof.ref_top1);
        if (prof.ref_top5 >= 0)
            printf(", top-5 %.2f %%", 100.0 * prof.ref_top5);
        printf(" (%s)\n", prof.path);
    }
    if (same_set && prof.ref_predictions) {
        char why[QDB_ERR_MSG_MAX + 64] = "";
        pred_diff = compare_predictions(prof.ref_predictions, &r, why, sizeof why);
        if (pred_diff >= 0)
            printf("predictions differing from the reference: %lld of %lld\n",
                   (long long)pred_diff, (long long)r.n);
        else
            printf("reference predictions not compared: %s\n", why);
    }
    if (json && write_json(json, model, spec, &r, batch, qdb_kernels_threads(), &prof, pred_diff))
        goto out;
    rc = 0;
out:
    qdb_eval_result_free(&r);
    qdb_dataset_free(d);
    qdb_graph_free(g);
    qdb_profile_free(&prof);
    return rc;
}
