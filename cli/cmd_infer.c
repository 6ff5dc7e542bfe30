/* cmd_infer.c - `qdb infer MODEL --input X.npy --output Y.npy`: float
 * inference from and to NumPy files. Several inputs or outputs are given as
 * comma-separated lists, in the model's order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "executor.h"
#include "kernels.h"
#include "npy.h"
#include "onnx_import.h"

#define MAX_IO 16

/* Split a comma-separated list in place. */
static int split(char *s, char **parts, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        parts[n++] = tok;
    return n;
}

int cmd_infer(int argc, char **argv)
{
    const char *model = NULL;
    char *in_arg = NULL, *out_arg = NULL;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--input") && i + 1 < argc)
            in_arg = argv[++i];
        else if (!strcmp(argv[i], "--output") && i + 1 < argc)
            out_arg = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 256) {
                cli_error("--threads: expected a number from 1 to 256, got '%s'", argv[i]);
                return 2;
            }
            threads = (int)t;
        } else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else {
            cli_error("infer: unexpected argument '%s' (usage: qdb infer MODEL.onnx --input X.npy "
                      "--output Y.npy [--threads N])", argv[i]);
            return 2;
        }
    }
    if (!model || !in_arg || !out_arg) {
        cli_error("usage: qdb infer MODEL.onnx --input X.npy --output Y.npy [--threads N]");
        return 2;
    }
    if (threads)
        qdb_kernels_set_threads(threads);

    int rc = 1;
    qdb_err e = {0};
    qdb_graph *g = NULL;
    qdb_exec *x = NULL;
    qdb_tensor *in[MAX_IO] = {0}, *out[MAX_IO] = {0};
    char *in_paths[MAX_IO], *out_paths[MAX_IO];
    int n_in = split(in_arg, in_paths, MAX_IO), n_out = split(out_arg, out_paths, MAX_IO);

    g = qdb_onnx_load(model, NULL, &e);
    if (!g) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (n_in != g->n_inputs) {
        cli_error("%s: the model has %d input%s, %d .npy file%s given", model, g->n_inputs,
                  g->n_inputs == 1 ? "" : "s", n_in, n_in == 1 ? "" : "s");
        goto out;
    }
    if (n_out > g->n_outputs || g->n_outputs > MAX_IO) {
        cli_error("%s: the model has %d output%s, %d .npy file%s given", model, g->n_outputs,
                  g->n_outputs == 1 ? "" : "s", n_out, n_out == 1 ? "" : "s");
        goto out;
    }
    for (int k = 0; k < n_in; k++) {
        const qdb_value *v = &g->values[g->inputs[k]];
        in[k] = qdb_npy_read(in_paths[k], v->dtype, &e);
        if (!in[k]) {
            cli_error("%s", e.msg);
            goto out;
        }
    }
    x = qdb_exec_new(g, &e);
    if (x) /* fused groups: the same numbers, faster */
        qdb_exec_set_fusion(x, 1, NULL, NULL);
    if (!x || qdb_exec_run(x, (const qdb_tensor *const *)in, out, &e) != QDB_OK) {
        if (strncmp(e.msg, "input '", 7) == 0) /* the data does not fit the model */
            cli_error("%s: %s (model %s)", n_in == 1 ? in_paths[0] : "--input", e.msg, model);
        else
            cli_error("%s: %s", model, e.msg);
        goto out;
    }
    for (int k = 0; k < n_out; k++)
        if (qdb_npy_write(out_paths[k], out[k], &e) != QDB_OK) {
            cli_error("%s", e.msg);
            goto out;
        }
    rc = 0;
out:
    for (int k = 0; k < MAX_IO; k++) {
        qdb_tensor_free(in[k]);
        qdb_tensor_free(out[k]);
    }
    qdb_exec_free(x);
    qdb_graph_free(g);
    return rc;
}
