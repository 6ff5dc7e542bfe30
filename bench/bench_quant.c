/* bench_quant.c - owns the quantization figures of `make bench` for one
 * model and its profile's datasets: calibration throughput (images/s),
 * threshold selection for every layer with every error method (ms), and
 * evaluation throughput of the fake-quantized network against the float
 * network on the same samples (the simulation overhead, goal < 15 %).
 * Then the editor's loop: one single-layer rule (4-bit activations on the
 * first, a middle and the last layer) applied, quantized again and
 * re-evaluated on the whole evaluation set through the evaluation cache,
 * against a quantization from scratch (calibration, quantization, full
 * evaluation).
 * The overhead is measured against the float graph the simulation is built
 * on (shift-negative correction's extra nodes included), and also against
 * the source model. Prints one JSON line.
 *
 *   bench_quant MODEL [--calib-n N] [--eval-n N] [--batch B] [--threads T]
 *
 * Exit status: 0 ok, 1 the engine failed (message on stderr), 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval.h"
#include "executor.h"
#include "kernels.h"
#include "onnx_import.h"
#include "profile.h"
#include "qmodel.h"
#include "eval_cache.h"
#include "ruleset.h"
#include "threshold.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static qdb_dataset *open_set(const char *spec, const qdb_profile *p, int64_t n, qdb_err *e)
{
    qdb_dataset_opts o;
    qdb_dataset_opts_init(&o);
    qdb_profile_apply(p, &o);
    o.n = n;
    return qdb_dataset_open(spec, &o, e);
}

int main(int argc, char **argv)
{
    qdb_kernels_fix_blas(argv);
    qdb_exec_tune_malloc();
    const char *model = NULL;
    long calib_n = 1024, eval_n = 10000, batch = 64, threads = 0;
    for (int i = 1; i < argc; i++) {
        long *dst = !strcmp(argv[i], "--calib-n")  ? &calib_n
                    : !strcmp(argv[i], "--eval-n") ? &eval_n
                    : !strcmp(argv[i], "--batch")  ? &batch
                    : !strcmp(argv[i], "--threads") ? &threads
                                                    : NULL;
        if (dst && i + 1 < argc)
            *dst = strtol(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else {
            fprintf(stderr, "usage: bench_quant MODEL [--calib-n N] [--eval-n N] [--batch B] "
                            "[--threads T]\n");
            return 2;
        }
    }
    if (!model || calib_n < 1 || eval_n < 1 || batch < 1) {
        fprintf(stderr, "usage: bench_quant MODEL [--calib-n N] [--eval-n N] [--batch B] [--threads T]\n");
        return 2;
    }
    if (threads > 0)
        qdb_kernels_set_threads((int)threads);
    qdb_err e = {0};
    qdb_profile p;
    qdb_graph *g = NULL;
    qdb_qmodel *q = NULL;
    qdb_dataset *dc = NULL, *de = NULL;
    qdb_eval_result fr = {0}, qr = {0};
    double *t_every = NULL; /* per layer: a single-layer edit's time */
    int n_every = 0;
    int rc = 1;
    if (qdb_profile_load(model, &p, &e) != QDB_OK || !p.calib || !p.eval) {
        fprintf(stderr, "bench_quant: %s: %s\n", model, e.msg[0] ? e.msg : "no datasets in profile");
        return 1;
    }
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    if (!(g = qdb_onnx_load(model, NULL, &e)) || !(q = qdb_qmodel_new(g, &c, &e)) ||
        !(dc = open_set(p.calib, &p, calib_n, &e)) || !(de = open_set(p.eval, &p, eval_n, &e)))
        goto fail;
    qdb_run_opts ro = {.batch = (int)batch};
    double t0 = now_s();
    if (qdb_qmodel_calibrate(q, dc, &ro, &e) != QDB_OK)
        goto fail;
    double t_cal = now_s() - t0;
    /* every layer, every error method (what quantize does, plus the rest) */
    t0 = now_s();
    if (qdb_qmodel_quantize(q, &e) != QDB_OK)
        goto fail;
    double t_quant = now_s() - t0;
    /* Float (the source graph) and simulated runs alternate, three rounds,
     * best time of each kept: both meet the same caches and heap, and a
     * busy machine disturbs them alike. */
    double best_src = 1e30, best_f = 1e30, best_q = 1e30;
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 3; k++) {
            /* k = 0: the source model; 1: the float graph the simulation is
             * built on (with shift-negative nodes); 2: the simulation */
            qdb_eval_opts eo = {.batch = (int)batch};
            qdb_eval_result *r = k == 2 ? &qr : &fr;
            qdb_eval_result_free(r);
            if (k == 2)
                qdb_qmodel_eval_opts(q, &eo);
            const qdb_graph *run = k == 0 ? g : k == 1 ? q->g : q->gq;
            if (qdb_dataset_rewind(de, &e) != QDB_OK || qdb_eval_run(run, de, &eo, r, &e) != QDB_OK)
                goto fail;
            double *best = k == 0 ? &best_src : k == 1 ? &best_f : &best_q;
            if (r->seconds < *best)
                *best = r->seconds;
        }
    }
    /* the editor's loop: a full cached evaluation, then single-layer rules */
    double t_edit[3] = {0}, t_full = 0;
    int edit_at[3], edit_start[3] = {0}, n_nodes = 0;
    {
        qdb_eval_cache *cache = qdb_eval_cache_new(0, &e);
        qdb_ruleset *none = qdb_ruleset_new();
        qdb_eval_opts eo = {.batch = (int)batch};
        qdb_eval_result r = {0};
        if (!cache || !none || qdb_ruleset_apply(none, q, NULL, &e) || qdb_qmodel_quantize(q, &e))
            goto fail;
        double t1 = now_s();
        if (qdb_eval_cached(cache, q, de, &eo, &r, &e) != QDB_OK)
            goto fail;
        t_full = now_s() - t1;
        qdb_eval_result_free(&r);
        int own = 0;
        for (int i = 0; i < q->n_layers; i++)
            own += q->layers[i].shift_of < 0;
        edit_at[0] = 1;
        edit_at[1] = own / 2;
        edit_at[2] = own - 1;
        /* every layer in turn, last first; the three above are reported
         * on their own */
        if (!(t_every = calloc((size_t)own + 1, sizeof *t_every)))
            goto fail;
        n_every = own;
        for (int at = own - 1; at >= 0; at--) {
            char text[64];
            snprintf(text, sizeof text, "index=%d : act_bits=4", at);
            qdb_ruleset *rs = qdb_ruleset_new();
            t1 = now_s();
            if (!rs || qdb_ruleset_add_text(rs, text, &e) || qdb_ruleset_apply(rs, q, NULL, &e) ||
                qdb_qmodel_quantize(q, &e) || qdb_eval_cached(cache, q, de, &eo, &r, &e)) {
                qdb_ruleset_free(rs);
                goto fail;
            }
            t_every[at] = now_s() - t1;
            for (int k = 0; k < 3; k++)
                if (edit_at[k] == at) {
                    t_edit[k] = t_every[at];
                    qdb_eval_cache_stats(cache, &edit_start[k], &n_nodes, NULL);
                }
            qdb_eval_result_free(&r);
            /* back to no rules for the next edit */
            if (qdb_ruleset_apply(none, q, NULL, &e) || qdb_qmodel_quantize(q, &e) ||
                qdb_eval_cached(cache, q, de, &eo, &r, &e)) {
                qdb_ruleset_free(rs);
                goto fail;
            }
            qdb_eval_result_free(&r);
            qdb_ruleset_free(rs);
        }
        qdb_ruleset_free(none);
        qdb_eval_cache_free(cache);
    }
    double t_scratch = t_cal + t_quant + t_full;
    int n_layers = q->n_layers;
    printf("{\"model\":\"%s\",\"layers\":%d,\"calib_n\":%lld,\"calib_images_per_s\":%.1f,"
           "\"quantize_ms\":%.1f,\"threshold_methods\":%d,\"eval_n\":%lld,"
           "\"source_images_per_s\":%.1f,\"float_images_per_s\":%.1f,\"quant_images_per_s\":%.1f,"
           "\"sim_overhead\":%.3f,\"overhead_vs_source\":%.3f,\"threads\":%d,"
           "\"scratch_ms\":%.1f,\"edit_first_ms\":%.1f,\"edit_mid_ms\":%.1f,\"edit_last_ms\":%.1f,"
           "\"edit_layers\":[%d,%d,%d],\"edit_start_nodes\":[%d,%d,%d],\"nodes\":%d,"
           "\"edit_every_ms\":[",
           model, n_layers, (long long)q->calib_samples, (double)q->calib_samples / t_cal,
           1e3 * t_quant, QDB_EM_COUNT, (long long)fr.n, (double)fr.n / best_src,
           (double)fr.n / best_f, (double)qr.n / best_q, best_q / best_f - 1.0,
           best_q / best_src - 1.0, qdb_kernels_threads(), 1e3 * t_scratch, 1e3 * t_edit[0],
           1e3 * t_edit[1], 1e3 * t_edit[2], edit_at[0], edit_at[1], edit_at[2], edit_start[0],
           edit_start[1], edit_start[2], n_nodes);
    for (int k = 0; k < n_every; k++)
        printf("%s%.1f", k ? "," : "", 1e3 * t_every[k]);
    printf("]}\n");
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "bench_quant: %s\n", e.msg);
out:
    free(t_every);
    qdb_eval_result_free(&fr);
    qdb_eval_result_free(&qr);
    qdb_dataset_free(dc);
    qdb_dataset_free(de);
    qdb_qmodel_free(q);
    qdb_graph_free(g);
    qdb_profile_free(&p);
    return rc;
}
