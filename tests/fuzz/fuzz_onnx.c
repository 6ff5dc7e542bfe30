/* fuzz_onnx.c - libFuzzer harness for the ONNX importer, graph preparation
 * and the executor. The bytes are parsed as a ModelProto; a model that loads
 * is then run once on zero-filled inputs of its declared shapes at batch 1
 * (and at batch 2 when its batch is free), provided every value of the
 * graph is small: a model that honestly asks for gigabytes is not a bug, and
 * the run must stay fast. Any crash, leak, hang or sanitizer report is.
 *
 * Build and run with `make fuzz` (see the Makefile). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "executor.h"
#include "onnx_import.h"

/* Runs happen only when every value of the graph together fits in this. */
#define RUN_MAX_BYTES ((size_t)64 << 20)

static size_t graph_bytes(const qdb_graph *g, int64_t batch)
{
    size_t total = 0;
    for (int v = 0; v < g->n_values; v++) {
        const qdb_value *val = &g->values[v];
        if (!val->shape_known)
            continue;
        qdb_shape s = val->shape;
        for (int d = 0; d < s.ndim; d++)
            if (val->batch_dims & (1u << d))
                s.d[d] *= batch;
        size_t n;
        if (qdb_shape_numel(&s, &n, NULL) != QDB_OK || n > RUN_MAX_BYTES / 8)
            return SIZE_MAX;
        total += n * 8;
        if (total > RUN_MAX_BYTES)
            return SIZE_MAX;
    }
    return total;
}

static void run_once(const qdb_graph *g, int64_t batch)
{
    if (graph_bytes(g, batch) > RUN_MAX_BYTES)
        return;
    qdb_err e = {0};
    qdb_exec *x = qdb_exec_new(g, &e);
    if (!x)
        return;
    qdb_tensor **in = calloc((size_t)g->n_inputs + 1, sizeof *in);
    qdb_tensor **out = calloc((size_t)g->n_outputs + 1, sizeof *out);
    if (!in || !out)
        goto done;
    for (int k = 0; k < g->n_inputs; k++) {
        const qdb_value *v = &g->values[g->inputs[k]];
        qdb_shape s = v->shape;
        for (int d = 0; d < s.ndim; d++)
            if (v->batch_dims & (1u << d))
                s.d[d] *= batch;
        in[k] = qdb_tensor_new(v->dtype, &s, &e);
        if (!in[k])
            goto done;
    }
    if (qdb_exec_run(x, (const qdb_tensor *const *)in, out, &e) == QDB_OK)
        for (int k = 0; k < g->n_outputs; k++)
            qdb_tensor_free(out[k]);
done:
    if (in)
        for (int k = 0; k < g->n_inputs; k++)
            qdb_tensor_free(in[k]);
    free(in);
    free(out);
    qdb_exec_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qdb_err e = {0};
    qdb_graph *g = qdb_onnx_load_buffer(data, size, "fuzz.onnx", NULL, &e);
    if (!g)
        return 0;
    run_once(g, 1);
    if (g->batch_free)
        run_once(g, 2);
    qdb_graph_free(g);
    return 0;
}
