/* bench_qdb.c - owns qdb's side of the speed comparison with onnxruntime
 * (bench/ort.js bench): loads a model through the public engine API, runs it
 * sequentially on a seeded pseudo-random input and prints one JSON line with
 * images/s, ms/batch, the peak resident set size of the process and the
 * OpenBLAS kernel set in use (its CPU detection decides qdb's GEMM speed).
 *
 *   bench_qdb MODEL [--batch B] [--threads T] [--iters N] [--warmup W]
 *
 * Exit status: 0 ok, 1 the engine failed (message on stderr), 2 usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cblas.h> /* OpenBLAS: openblas_get_corename() */

#include "executor.h"
#include "kernels.h"
#include "onnx_import.h"

/* The benchmark input generator, defined identically in bench/ort.js: a
 * 32-bit LCG (Numerical Recipes constants) seeded with 12345; each value is
 * (s >> 8) mapped to [-1, 1) exactly, (k - 2^23) / 2^23. */
#define BENCH_SEED 12345u
static void bench_input(float *out, size_t n)
{
    uint32_t s = BENCH_SEED;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        out[i] = (float)((int32_t)(s >> 8) - 8388608) / 8388608.0f;
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_qdb MODEL [--batch B] [--threads T] [--iters N] [--warmup W]\n");
    return 2;
}

static int parse_int(const char *opt, const char *s, int min, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > 1000000) {
        fprintf(stderr, "bench_qdb: option %s: bad value '%s'\n", opt, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int main(int argc, char **argv)
{
    qdb_kernels_fix_blas(argv); /* same OpenBLAS kernels and allocator settings as qdb */
    qdb_exec_tune_malloc();
    const char *model = NULL;
    int batch = 1, threads = 1, iters = 10, warmup = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int *dst = NULL, min = 1;
        if (!strcmp(a, "--batch")) dst = &batch;
        else if (!strcmp(a, "--threads")) dst = &threads;
        else if (!strcmp(a, "--iters")) dst = &iters;
        else if (!strcmp(a, "--warmup")) { dst = &warmup; min = 0; }
        else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "bench_qdb: unknown option %s\n", a);
            return usage();
        } else if (!model) {
            model = a;
            continue;
        } else {
            return usage();
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_qdb: option %s needs a value\n", a);
            return usage();
        }
        if (parse_int(a, argv[++i], min, dst))
            return usage();
    }
    if (!model)
        return usage();

    int rc = 1;
    qdb_err e;
    qdb_err_clear(&e);
    qdb_graph *g = NULL;
    qdb_exec *x = NULL;
    qdb_tensor *in = NULL;
    qdb_tensor **outs = NULL;
    double total = 0, best = 0;

    qdb_kernels_set_threads(threads);
    qdb_load_opts lo = {0};
    g = qdb_onnx_load(model, &lo, &e);
    if (!g)
        goto fail;
    if (g->n_inputs != 1) {
        qdb_err_set(&e, QDB_ERR_UNSUPPORTED, "%s: %d graph inputs; the benchmark feeds exactly one",
                    model, g->n_inputs);
        goto fail;
    }
    const qdb_value *iv = &g->values[g->inputs[0]];
    if (!iv->shape_known || iv->shape.ndim < 1 || iv->dtype != QDB_F32) {
        qdb_err_set(&e, QDB_ERR_UNSUPPORTED, "%s: input '%s' has no known float shape", model,
                    iv->name);
        goto fail;
    }
    qdb_shape s = iv->shape;
    if (batch != 1 && !g->batch_free) {
        qdb_err_set(&e, QDB_ERR_UNSUPPORTED, "%s: batch size is fixed; --batch %d not possible",
                    model, batch);
        goto fail;
    }
    s.d[0] = batch;
    in = qdb_tensor_new(QDB_F32, &s, &e);
    if (!in)
        goto fail;
    bench_input(in->data.f, in->numel);
    outs = calloc((size_t)g->n_outputs, sizeof *outs);
    if (!outs) {
        qdb_err_set(&e, QDB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    x = qdb_exec_new(g, &e);
    if (!x)
        goto fail;
    qdb_exec_set_fusion(x, 1, NULL, NULL); /* as qdb infer and qdb eval run */

    const qdb_tensor *const ins[1] = {in};
    for (int it = 0; it < warmup + iters; it++) {
        double t0 = now_ms();
        if (qdb_exec_run(x, ins, outs, &e) != QDB_OK)
            goto fail;
        double dt = now_ms() - t0;
        for (int k = 0; k < g->n_outputs; k++) {
            qdb_tensor_free(outs[k]);
            outs[k] = NULL;
        }
        if (it >= warmup) {
            total += dt;
            if (it == warmup || dt < best)
                best = dt;
        }
    }

    struct rusage ru;
    double rss_mb = -1;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        rss_mb = (double)ru.ru_maxrss / 1024.0; /* Linux: kB */
    double ms = total / iters;
    printf("{\"runtime\":\"qdb\",\"version\":\"%s\",\"model\":\"%s\",\"batch\":%d,\"threads\":%d,"
           "\"iters\":%d,\"warmup\":%d,\"ms_per_batch\":%.3f,\"ms_min\":%.3f,"
           "\"images_per_s\":%.2f,\"peak_rss_mb\":%.1f,\"blas_core\":\"%s\"}\n",
           QDB_VERSION, base_name(model), batch, threads, iters, warmup, ms, best,
           batch * 1000.0 / ms, rss_mb, openblas_get_corename());
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "bench_qdb: %s\n", e.msg[0] ? e.msg : qdb_status_name(e.code));
    if (outs)
        for (int k = 0; k < g->n_outputs; k++)
            qdb_tensor_free(outs[k]);
    free(outs);
    qdb_exec_free(x);
    qdb_tensor_free(in);
    qdb_graph_free(g);
    return rc;
}
