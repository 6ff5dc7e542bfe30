/* layers.c - forms the layers of a model under quantization: MCT's fused
 * groups, each with one activation quantizer at its output.
 *
 *   Conv / ConvTranspose  + ReLU | Clip(0, b) | LeakyRelu | PRelu | Sigmoid |
 *                           Tanh | HardSwish | x*Sigmoid(x) (Swish) |
 *                           x*HardSigmoid(x) (HardSwish)
 *   Gemm / MatMul         + ReLU | Clip(0, b) | LeakyRelu | Sigmoid | Swish | HardSwish
 *   Add / Sub / Mul / Div + ReLU | Clip(0, b) | LeakyRelu
 *   x*Sigmoid(x), x*HardSigmoid(x) standing alone: one layer (Swish, HardSwish)
 *   any other node with a float output: a layer of its own
 *   pass-through ops (Reshape, Flatten, MaxPool, Pad, ...): no quantizer
 *   graph inputs: a layer "Input" each
 * The activation joins the group only when the anchor's output feeds
 * nothing else (and is not a model output). Weighted layers (a constant
 * kernel) record the kernel, bias and channel axes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"

static char *dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void qdb_qlayer_clear(qdb_qlayer *l)
{
    free(l->name);
    free(l->op);
    free(l->type);
    free(l->last_type);
    qdb_histogram_free(l->hist);
    free(l->in_mean);
    free(l->in_sqmean);
    free(l->w_qp);
    memset(l, 0, sizeof *l);
}

void qdb_qlayer_defaults(const qdb_qmodel *q, qdb_qlayer *l)
{
    qdb_act_config_from_global(&q->cfg, &l->act);
    qdb_weight_config_from_global(&q->cfg, &l->wcfg);
    if (l->w_value < 0)
        l->wcfg.enabled = 0;
    for (int a = 0; a < QDB_LA_COUNT; a++)
        l->prov[a] = -1;
}

void qdb_qlayer_refresh_weights(const qdb_graph *g, qdb_qlayer *l)
{
    if (l->w_value < 0 || l->anchor_value < 0 || l->anchor_value >= g->n_values)
        return;
    int n = g->values[l->anchor_value].producer;
    if (n < 0 || g->nodes[n].n_in < 2)
        return;
    l->w_value = g->nodes[n].in[1];
    l->b_value = g->nodes[n].n_in > 2 ? g->nodes[n].in[2] : -1;
}

const qdb_qlayer *qdb_qmodel_own_layer(const qdb_qmodel *q, int i)
{
    for (int L = 0, k = 0; L < q->n_layers; L++) {
        if (q->layers[L].shift_of >= 0)
            continue;
        if (k++ == i)
            return &q->layers[L];
    }
    return NULL;
}

int qdb_qmodel_find_layer(const qdb_qmodel *q, const char *name)
{
    for (int i = 0; i < q->n_layers; i++)
        if (strcmp(q->layers[i].name, name) == 0)
            return i;
    return -1;
}

qdb_status qdb_qmodel_map_values(qdb_qmodel *q, qdb_err *e)
{
    const qdb_graph *g = q->g ? q->g : q->g0;
    int *m = realloc(q->layer_of_value, (size_t)(g->n_values ? g->n_values : 1) * sizeof *m);
    if (!m)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    q->layer_of_value = m;
    q->n_map = g->n_values;
    for (int v = 0; v < g->n_values; v++)
        m[v] = -1;
    for (int i = 0; i < q->n_layers; i++)
        if (q->layers[i].out_value >= 0 && q->layers[i].out_value < g->n_values)
            m[q->layers[i].out_value] = i;
    return QDB_OK;
}

enum { ANCHOR_NONE, ANCHOR_CONV, ANCHOR_LINEAR, ANCHOR_ELTWISE };

static int anchor_kind(const char *op)
{
    if (!strcmp(op, "Conv") || !strcmp(op, "ConvTranspose"))
        return ANCHOR_CONV;
    if (!strcmp(op, "Gemm") || !strcmp(op, "MatMul"))
        return ANCHOR_LINEAR;
    if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div"))
        return ANCHOR_ELTWISE;
    return ANCHOR_NONE;
}

/* Is the single node c (reading v as input 0) an activation allowed after
 * this anchor kind? Returns its display name or NULL. */
static const char *single_act(const qdb_graph *g, const qdb_node *c, int v, int kind)
{
    if (c->n_in < 1 || c->in[0] != v || c->n_out != 1)
        return NULL;
    const char *t = c->op_type;
    double hi;
    if (!strcmp(t, "Relu"))
        return "Relu";
    if (qdb_clip_is_relu(g, c, &hi))
        return "Clip";
    if (!strcmp(t, "LeakyRelu"))
        return "LeakyRelu";
    if (kind == ANCHOR_ELTWISE)
        return NULL;
    if (!strcmp(t, "Sigmoid"))
        return "Sigmoid";
    if (!strcmp(t, "HardSwish"))
        return "HardSwish";
    if (kind == ANCHOR_LINEAR)
        return NULL;
    if (!strcmp(t, "PRelu") && qdb_const_input(g, c, 1))
        return "PRelu";
    if (!strcmp(t, "Tanh"))
        return "Tanh";
    return NULL;
}

/* x * Sigmoid(x) or x * HardSigmoid(x) (alpha 1/6, beta 1/2) on value x,
 * with s the sigmoid node: the Mul node, or -1. */
static int swish_mul(const qdb_graph *g, const qdb_uses *u, int x, int s, const char **what)
{
    const qdb_node *sn = &g->nodes[s];
    if (sn->n_in < 1 || sn->in[0] != x || sn->n_out != 1)
        return -1;
    if (!strcmp(sn->op_type, "Sigmoid"))
        *what = "Swish";
    else if (!strcmp(sn->op_type, "HardSigmoid") &&
             fabsf(qdb_attr_float(sn, "alpha", 0.2f) - 1.0f / 6.0f) < 1e-6f &&
             fabsf(qdb_attr_float(sn, "beta", 0.5f) - 0.5f) < 1e-6f)
        *what = "HardSwish";
    else
        return -1;
    int m = qdb_sole_consumer(g, u, sn->out[0]);
    if (m < 0)
        return -1;
    const qdb_node *mn = &g->nodes[m];
    if (strcmp(mn->op_type, "Mul") || mn->n_in != 2 || mn->n_out != 1)
        return -1;
    if (!((mn->in[0] == x && mn->in[1] == sn->out[0]) || (mn->in[1] == x && mn->in[0] == sn->out[0])))
        return -1;
    return m;
}

static qdb_known_range range_of(const char *t)
{
    if (!strcmp(t, "Sigmoid") || !strcmp(t, "HardSigmoid") || !strcmp(t, "Softmax"))
        return QDB_RANGE_UNIT;
    if (!strcmp(t, "Tanh"))
        return QDB_RANGE_SYM_UNIT;
    return QDB_RANGE_FREE;
}

static qdb_status push_layer(qdb_qmodel *q, int *cap, const qdb_qlayer *l, qdb_err *e)
{
    if (q->n_layers == *cap) {
        int nc = *cap ? 2 * *cap : 32;
        qdb_qlayer *nl = realloc(q->layers, (size_t)nc * sizeof *nl);
        if (!nl)
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory forming layers");
        q->layers = nl;
        *cap = nc;
    }
    q->layers[q->n_layers++] = *l;
    return QDB_OK;
}

/* Record the kernel of a weighted anchor. */
static void find_weights(const qdb_graph *g, const qdb_node *n, qdb_qlayer *l)
{
    l->w_value = l->b_value = -1;
    qdb_tensor *w = qdb_const_input(g, n, 1);
    if (!w)
        return;
    int has_bias_input = n->n_in > 2 && n->in[2] >= 0;
    if (has_bias_input && !qdb_const_input(g, n, 2))
        return; /* a computed bias: leave the layer unweighted */
    if (!strcmp(n->op_type, "Conv")) {
        if (w->shape.ndim < 3)
            return;
        l->w_axis = 0;
        l->w_in_axis = 1;
        l->w_groups = (int)qdb_attr_int(n, "group", 1);
    } else if (!strcmp(n->op_type, "ConvTranspose")) {
        if (w->shape.ndim < 3)
            return;
        l->w_groups = (int)qdb_attr_int(n, "group", 1);
        l->w_axis = 1;
        l->w_in_axis = 0;
    } else if (!strcmp(n->op_type, "Gemm")) {
        if (w->shape.ndim != 2 || qdb_attr_int(n, "transA", 0))
            return;
        int tb = (int)qdb_attr_int(n, "transB", 0);
        l->w_axis = tb ? 0 : 1;
        l->w_in_axis = tb ? 1 : 0;
        l->w_groups = 1;
    } else if (!strcmp(n->op_type, "MatMul")) {
        if (w->shape.ndim != 2)
            return;
        l->w_axis = 1;
        l->w_in_axis = 0;
        l->w_groups = 1;
    } else {
        return;
    }
    l->w_value = n->in[1];
    l->b_value = has_bias_input ? n->in[2] : -1;
    l->w_channels = (int)w->shape.d[l->w_axis];
}

qdb_status qdb_form_layers(qdb_qmodel *q, qdb_err *e)
{
    const qdb_graph *g = q->g0;
    qdb_uses u;
    qdb_status st = qdb_uses_build(g, &u, e);
    if (st != QDB_OK)
        return st;
    int cap = 0;
    char *taken = calloc((size_t)g->n_nodes + 1, 1);
    if (!taken) {
        qdb_uses_free(&u);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory forming layers");
    }
    for (int k = 0; k < g->n_inputs; k++) {
        int v = g->inputs[k];
        if (g->values[v].dtype != QDB_F32)
            continue;
        qdb_qlayer l = {0};
        l.name = dup(g->values[v].name);
        l.op = dup("Input");
        l.type = dup("Input");
        l.last_type = dup("Input");
        l.out_value = l.anchor_value = v;
        l.in_value = -1;
        l.is_input = 1;
        l.w_value = l.b_value = -1;
        if (!l.name || !l.op || !l.type || !l.last_type ||
            push_layer(q, &cap, &l, e) != QDB_OK) {
            qdb_qlayer_clear(&l);
            st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory forming layers");
            goto done;
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const qdb_node *n = &g->nodes[i];
        if (taken[i] || n->n_out < 1 || n->out[0] < 0)
            continue;
        int v = n->out[0];
        if (g->values[v].dtype != QDB_F32 || qdb_op_is_passthrough(n->op_type))
            continue;
        int n_float_out = 0;
        for (int k = 0; k < n->n_out; k++)
            n_float_out += n->out[k] >= 0 && g->values[n->out[k]].dtype == QDB_F32;
        if (n_float_out != 1)
            continue; /* multi-output ops (LayerNorm's statistics, ...): not quantized */
        int kind = anchor_kind(n->op_type);
        int last = i, mid = -1;
        const char *act = NULL;
        /* x * Sigmoid(x) standing alone, starting at the sigmoid */
        if (!strcmp(n->op_type, "Sigmoid") || !strcmp(n->op_type, "HardSigmoid")) {
            int m = swish_mul(g, &u, n->in[0], i, &act);
            if (m >= 0 && !taken[m]) {
                last = m;
                kind = ANCHOR_NONE;
            } else {
                act = NULL;
            }
        }
        if (kind != ANCHOR_NONE && !qdb_is_graph_output(g, v)) {
            int nc = qdb_uses_count(&u, v);
            if (nc == 1) {
                int c = u.node[u.start[v]];
                const char *a = single_act(g, &g->nodes[c], v, kind);
                if (a) {
                    act = a;
                    last = c;
                }
            } else if (nc == 2 && kind != ANCHOR_ELTWISE) {
                for (int j = 0; j < 2 && last == i; j++) {
                    int s = u.node[u.start[v] + j];
                    const char *w = NULL;
                    int m = swish_mul(g, &u, v, s, &w);
                    int other = u.node[u.start[v] + 1 - j];
                    if (m >= 0 && m == other) {
                        act = w;
                        mid = s;
                        last = m;
                    }
                }
            }
        }
        qdb_qlayer l = {0};
        char opname[128];
        if (kind != ANCHOR_NONE && act)
            snprintf(opname, sizeof opname, "%s+%s", n->op_type, act);
        else
            snprintf(opname, sizeof opname, "%s", act ? act : n->op_type);
        l.name = dup(n->name);
        l.op = dup(opname);
        l.type = dup(n->op_type);
        l.last_type = dup(g->nodes[last].op_type);
        l.out_value = g->nodes[last].out[0];
        l.anchor_value = v;
        l.in_value = n->n_in > 0 ? n->in[0] : -1;
        l.shift_of = -1;
        l.snc_layer = -1;
        l.range = act && (!strcmp(act, "Swish") || !strcmp(act, "HardSwish"))
                      ? QDB_RANGE_FREE
                      : range_of(g->nodes[last].op_type);
        l.w_value = l.b_value = -1;
        if (kind == ANCHOR_CONV || kind == ANCHOR_LINEAR)
            find_weights(g, n, &l);
        taken[i] = 1;
        taken[last] = 1;
        if (mid >= 0)
            taken[mid] = 1;
        if (!l.name || !l.op || !l.type || !l.last_type || push_layer(q, &cap, &l, e) != QDB_OK) {
            qdb_qlayer_clear(&l);
            st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory forming layers");
            goto done;
        }
    }
    for (int i = 0; i < q->n_layers; i++) {
        qdb_qlayer *l = &q->layers[i];
        if (l->is_input) {
            l->shift_of = -1;
            l->snc_layer = -1;
        }
        l->act_prescale = 1.0;
        qdb_qlayer_defaults(q, l);
    }
    q->n_base_layers = q->n_layers;
done:
    free(taken);
    qdb_uses_free(&u);
    return st;
}
