/* graph_util.c - helpers of the quantization passes: consumer lists,
 * constant lookups, op roles (pass-through, ReLU-like Clip), private
 * copies of shared constants and the refresh of a rewritten graph. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepare.h"
#include "quant_internal.h"

qdb_status qdb_uses_build(const qdb_graph *g, qdb_uses *u, qdb_err *e)
{
    memset(u, 0, sizeof *u);
    u->n_values = g->n_values;
    size_t total = 0;
    for (int i = 0; i < g->n_nodes; i++)
        total += (size_t)g->nodes[i].n_in;
    u->start = calloc((size_t)g->n_values + 1, sizeof *u->start);
    u->node = malloc((total ? total : 1) * sizeof *u->node);
    int *fill = calloc((size_t)g->n_values + 1, sizeof *fill);
    if (!u->start || !u->node || !fill) {
        free(fill);
        qdb_uses_free(u);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory listing consumers");
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0)
                u->start[g->nodes[i].in[k] + 1]++;
    for (int v = 0; v < g->n_values; v++)
        u->start[v + 1] += u->start[v];
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int v = g->nodes[i].in[k];
            if (v < 0)
                continue;
            /* a node reading v twice is listed once */
            int dup = 0;
            for (int j = u->start[v]; j < u->start[v] + fill[v]; j++)
                dup |= u->node[j] == i;
            if (!dup)
                u->node[u->start[v] + fill[v]++] = i;
        }
    /* compact the rows (duplicates left holes at their ends) */
    int w = 0;
    for (int v = 0; v < g->n_values; v++) {
        int s = u->start[v];
        u->start[v] = w;
        for (int j = 0; j < fill[v]; j++)
            u->node[w++] = u->node[s + j];
    }
    u->start[g->n_values] = w;
    free(fill);
    return QDB_OK;
}

void qdb_uses_free(qdb_uses *u)
{
    free(u->start);
    free(u->node);
    memset(u, 0, sizeof *u);
}

int qdb_is_graph_output(const qdb_graph *g, int v)
{
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == v)
            return 1;
    return 0;
}

int qdb_sole_consumer(const qdb_graph *g, const qdb_uses *u, int v)
{
    if (v < 0 || qdb_uses_count(u, v) != 1 || qdb_is_graph_output(g, v))
        return -1;
    return u->node[u->start[v]];
}

qdb_tensor *qdb_const_input(const qdb_graph *g, const qdb_node *n, int k)
{
    if (k >= n->n_in || n->in[k] < 0)
        return NULL;
    const qdb_value *v = &g->values[n->in[k]];
    if (!v->constant || v->batch_const || v->constant->dtype != QDB_F32)
        return NULL;
    return v->constant;
}

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

int qdb_op_keeps_order(const char *op)
{
    static const char *const l[] = {"Reshape", "Flatten", "Dropout", "Identity", "Squeeze",
                                    "Unsqueeze", NULL};
    return in_list(op, l);
}

int qdb_op_is_passthrough(const char *op)
{
    static const char *const l[] = {"Reshape", "Flatten", "Dropout", "Identity", "Squeeze",
                                    "Unsqueeze", "MaxPool", "GlobalMaxPool", "Pad", "Transpose",
                                    "Slice", "Split", "Gather", "GatherElements", "GatherND",
                                    "Shape", "Size", "Cast", "TopK", "ArgMax", "ArgMin",
                                    "NonZero", "Equal", "Less", "Greater",
                                    "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor",
                                    "ConstantOfShape", "Range", NULL};
    return in_list(op, l);
}

static int scalar_value(const qdb_graph *g, const qdb_node *n, int k, double *out)
{
    if (k >= n->n_in || n->in[k] < 0)
        return 0;
    const qdb_value *v = &g->values[n->in[k]];
    if (!v->constant || v->constant->numel != 1)
        return -1;
    *out = v->constant->dtype == QDB_F32 ? v->constant->data.f[0] : (double)v->constant->data.i[0];
    return 1;
}

int qdb_clip_is_relu(const qdb_graph *g, const qdb_node *n, double *hi)
{
    if (strcmp(n->op_type, "Clip") != 0)
        return 0;
    double lo = -INFINITY, h = INFINITY;
    if (n->opset < 11) {
        lo = qdb_attr_float(n, "min", -INFINITY);
        h = qdb_attr_float(n, "max", INFINITY);
    } else {
        if (scalar_value(g, n, 1, &lo) < 0 || scalar_value(g, n, 2, &h) < 0)
            return 0;
    }
    if (lo != 0.0)
        return 0;
    *hi = h;
    return 1;
}

int qdb_own_constant(qdb_graph *g, int node, int k, qdb_err *e)
{
    qdb_node *n = &g->nodes[node];
    int v = n->in[k];
    if (v < 0 || !g->values[v].constant) {
        qdb_err_set(e, QDB_ERR_INVALID, "node '%s': input %d is not a constant", n->name, k);
        return -1;
    }
    int readers = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            readers += g->nodes[i].in[j] == v;
    if (readers <= 1 && !qdb_is_graph_output(g, v))
        return v;
    qdb_tensor *t = qdb_tensor_clone(g->values[v].constant, e);
    if (!t)
        return -1;
    char name[300];
    snprintf(name, sizeof name, "%.200s/own", g->values[v].name);
    int nv = qdb_graph_add_constant(g, name, t, e);
    if (nv < 0)
        return -1;
    g->nodes[node].in[k] = nv; /* g->nodes may not move: add_constant touches values only */
    return nv;
}

qdb_status qdb_graph_refresh(qdb_graph *g, qdb_err *e)
{
    qdb_graph_link(g);
    return qdb_graph_prepare(g, e);
}
