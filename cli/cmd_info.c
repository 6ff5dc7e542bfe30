/* cmd_info.c - `qdb info MODEL`: what a model contains, layer by layer. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "graph.h"
#include "onnx_import.h"

static void print_value_line(const char *role, const qdb_value *v)
{
    char shape[256];
    printf("%-8s %-32s %-8s %s\n", role, v->name, qdb_dtype_name(v->dtype),
           qdb_value_shape_str(v, shape, sizeof shape));
}

int cmd_info(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        cli_error("usage: qdb info MODEL.onnx");
        return 2;
    }
    qdb_err e = {0};
    qdb_graph *g = qdb_onnx_load(argv[1], NULL, &e);
    if (!g) {
        cli_error("%s", e.msg);
        return 1;
    }
    printf("model    %s\n", g->path);
    printf("producer %s, opset %lld%s\n", g->producer[0] ? g->producer : "unknown",
           (long long)g->opset, g->batch_free ? ", batch size free (N)" : "");
    for (int k = 0; k < g->n_inputs; k++)
        print_value_line("input", &g->values[g->inputs[k]]);
    for (int k = 0; k < g->n_outputs; k++)
        print_value_line("output", &g->values[g->outputs[k]]);

    int wname = 4, wop = 2;
    for (int i = 0; i < g->n_nodes; i++) {
        int ln = (int)strlen(g->nodes[i].name), lo = (int)strlen(g->nodes[i].op_type);
        if (ln > wname)
            wname = ln > 48 ? 48 : ln;
        if (lo > wop)
            wop = lo;
    }
    printf("\n%5s  %-*s  %-*s  %-22s %12s\n", "#", wname, "name", wop, "op", "output shape",
           "params");
    size_t total = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const qdb_node *n = &g->nodes[i];
        char shape[256] = "-";
        if (n->n_out > 0 && n->out[0] >= 0)
            qdb_value_shape_str(&g->values[n->out[0]], shape, sizeof shape);
        size_t p = qdb_node_param_count(g, n);
        total += p;
        printf("%5d  %-*.*s  %-*s  %-22s %12zu\n", i, wname, wname, n->name, wop, n->op_type,
               shape, p);
    }
    size_t consts = 0;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].constant)
            consts++;
    printf("\n%d layers, %zu parameters (%.2f MB as float32), %zu constant tensors\n", g->n_nodes,
           total, (double)total * 4.0 / 1e6, consts);
    qdb_graph_free(g);
    return 0;
}
