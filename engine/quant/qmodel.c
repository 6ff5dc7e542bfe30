/* qmodel.c - the quantization pipeline over a qdb_qmodel: building it
 * (copy, BatchNorm folding, rescalings, layers), choosing every layer's
 * activation parameters (the configured error method and, for display,
 * what each of the six would choose), shift-negative correction, weight
 * quantization with bias correction, input scaling, and the executor hook
 * that fake-quantizes activations in the simulated network. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "kernels.h"
#include "ops/conv_q8.h"
#include "quant_internal.h"
#include "threshold.h"

double qdb_qparams_threshold(const qdb_qparams *p)
{
    if (p->method == QDB_QM_UNIFORM)
        return fmax(fabs(p->min), fabs(p->max));
    return p->threshold;
}

static void drop_conv_q8(qdb_qmodel *q)
{
    for (int v = 0; v < q->n_conv_q8; v++)
        qdb_conv_q8_free(q->conv_q8[v]);
    free(q->conv_q8);
    q->conv_q8 = NULL;
    q->n_conv_q8 = 0;
}

void qdb_qmodel_free(qdb_qmodel *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->n_layers; i++)
        qdb_qlayer_clear(&q->layers[i]);
    free(q->layers);
    free(q->layer_of_value);
    drop_conv_q8(q);
    qdb_graph_free(q->g0);
    qdb_graph_free(q->g);
    qdb_graph_free(q->gq);
    free(q);
}

qdb_qmodel *qdb_qmodel_new(const qdb_graph *src, const qdb_quant_config *c, qdb_err *e)
{
    if (qdb_quant_config_check(c, e) != QDB_OK)
        return NULL;
    qdb_qmodel *q = calloc(1, sizeof *q);
    if (!q) {
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    q->cfg = *c;
    q->input_scale = 1.0;
    q->g0 = qdb_graph_clone(src, e);
    if (!q->g0)
        goto fail;
    if (qdb_fold_batchnorm(q->g0, c->activation_channel_equalization, &q->n_bn_folded,
                           &q->n_equalized, e) != QDB_OK)
        goto fail;
    if (c->relu_unbound_correction &&
        qdb_relu_bound_to_pow2(q->g0, &q->n_relu_rebound, e) != QDB_OK)
        goto fail;
    if (qdb_form_layers(q, e) != QDB_OK || qdb_qmodel_map_values(q, e) != QDB_OK)
        goto fail;
    return q;
fail:
    qdb_err_prefix(e, "%s: ", src->path);
    qdb_qmodel_free(q);
    return NULL;
}

/* Parameters of one activation with error method `em` (or the layer's own
 * when em < 0). */
static qdb_status act_params(const qdb_qlayer *l, const qdb_histogram *h, int is_signed, int n_bits,
                             int em, qdb_qparams *out, qdb_err *e)
{
    const qdb_act_config *a = &l->act;
    memset(out, 0, sizeof *out);
    out->method = a->method;
    out->n_bits = n_bits;
    out->is_signed = is_signed;
    if (a->fixed_threshold > 0 && em < 0) { /* a method asked for searches anyway */
        out->threshold = a->fixed_threshold;
        out->min = is_signed ? -a->fixed_threshold : 0;
        out->max = a->fixed_threshold;
        return QDB_OK;
    }
    if (l->range != QDB_RANGE_FREE) {
        /* known range: no clipping of (0, 1) or (-1, 1) */
        out->threshold = 1.0;
        out->min = l->range == QDB_RANGE_SYM_UNIT ? -1.0 : 0.0;
        out->max = 1.0;
        if (a->method == QDB_QM_SYMMETRIC && is_signed) {
            /* make the positive end representable */
            double f = ldexp(1.0, n_bits - 1);
            out->threshold = f / (f - 1);
        }
        return QDB_OK;
    }
    qdb_search_opts so = {.method = a->method,
                          .error_method = em < 0 ? a->error_method : (qdb_error_method)em,
                          .n_bits = n_bits,
                          .is_signed = is_signed,
                          .min_threshold = a->min_threshold,
                          .l_p_value = a->l_p_value};
    return qdb_select_act(h, &so, out, e);
}

/* Choose layer L's activation parameters, and every method's threshold
 * (what each would choose, also when a fixed threshold is in force). */
static qdb_status select_layer(qdb_qmodel *q, int L, qdb_err *e)
{
    qdb_qlayer *l = &q->layers[L];
    l->act_active = 0;
    if (l->act.enabled && l->hist && l->memo_act && qdb_act_config_equal(&l->memo_act_cfg, &l->act)) {
        /* same statistics, same configuration: the same choice */
        l->act_qp = l->memo_qp;
        l->act_signed = l->memo_signed;
        l->act_grid = qdb_qgrid_make(&l->act_qp);
        l->act_active = 1;
        return QDB_OK;
    }
    l->memo_act = 0;
    for (int m = 0; m < QDB_EM_COUNT; m++)
        l->thr_by_method[m] = NAN;
    if (!l->act.enabled || !l->hist)
        return QDB_OK;
    q->n_act_searched++;
    qdb_histogram *h = qdb_histogram_zfilter(l->hist, l->act.z_threshold, e);
    if (!h)
        return e->code;
    int is_signed;
    if (l->act.signedness != QDB_SIGN_AUTO)
        is_signed = l->act.signedness == QDB_SIGN_SIGNED;
    else if (l->range == QDB_RANGE_SYM_UNIT)
        is_signed = 1;
    else if (l->range == QDB_RANGE_UNIT)
        is_signed = l->hist->min < 0;
    else
        is_signed = qdb_histogram_has_negative(h);
    int bits = l->act.n_bits;
    qdb_status st = QDB_OK;
    qdb_qparams qp;
    for (int m = 0; m < QDB_EM_COUNT && st == QDB_OK; m++) {
        st = act_params(l, h, is_signed, bits, m, &qp, e);
        if (st == QDB_OK)
            l->thr_by_method[m] = qdb_qparams_threshold(&qp);
    }
    if (st == QDB_OK)
        st = act_params(l, h, is_signed, bits, -1, &l->act_qp, e);
    qdb_histogram_free(h);
    if (st != QDB_OK) {
        qdb_err_prefix(e, "layer '%s': ", l->name);
        return st;
    }
    l->act_signed = is_signed;
    l->act_grid = qdb_qgrid_make(&l->act_qp);
    l->act_active = 1;
    l->memo_act = 1;
    l->memo_act_cfg = l->act;
    l->memo_qp = l->act_qp;
    l->memo_signed = is_signed;
    return QDB_OK;
}

/* Input scaling: the model input uses its whole range (see the README). */
static qdb_status input_scaling(qdb_qmodel *q, qdb_err *e)
{
    q->input_scale = 1.0;
    if (!q->cfg.input_scaling)
        return QDB_OK;
    qdb_uses u;
    qdb_status st = qdb_uses_build(q->gq, &u, e);
    if (st != QDB_OK)
        return st;
    for (int L = 0; L < q->n_layers; L++) {
        qdb_qlayer *l = &q->layers[L];
        if (!l->is_input || !l->act_active || l->act.method == QDB_QM_UNIFORM)
            continue;
        double m = qdb_histogram_max_abs(l->hist), t = l->act_qp.threshold;
        if (!(m > 0) || t <= m)
            continue;
        int v = l->out_value;
        int n = qdb_sole_consumer(q->gq, &u, v);
        if (n >= 0 && !strcmp(q->gq->nodes[n].op_type, "Pad")) {
            v = q->gq->nodes[n].out[0];
            n = qdb_sole_consumer(q->gq, &u, v);
        }
        if (n < 0)
            continue;
        qdb_qlayer *c = NULL;
        for (int i = 0; i < q->n_layers; i++)
            if (q->layers[i].w_value >= 0 && q->gq->values[q->layers[i].anchor_value].producer == n)
                c = &q->layers[i];
        if (!c || q->gq->nodes[n].in[0] != v)
            continue;
        double s = m / t;
        /* a private copy when the kernel is shared with other layers */
        int wv = qdb_own_constant(q->gq, n, 1, e);
        if (wv < 0) {
            st = e && e->code ? e->code : QDB_ERR_NOMEM;
            break;
        }
        qdb_qlayer_refresh_weights(q->gq, c);
        qdb_tensor *w = q->gq->values[wv].constant;
        for (size_t k = 0; k < w->numel; k++)
            w->data.f[k] = (float)(w->data.f[k] * s);
        l->act_prescale = 1.0 / s;
        c->in_scale = 1.0 / s; /* bias correction sees the scaled input */
        q->input_scale = 1.0 / s;
    }
    qdb_uses_free(&u);
    return st;
}

/* Drop the layers that corrections added (shift-negative), keeping the
 * others in order. */
static void drop_added_layers(qdb_qmodel *q)
{
    int w = 0;
    for (int i = 0; i < q->n_layers; i++) {
        if (q->layers[i].shift_of >= 0) {
            qdb_qlayer_clear(&q->layers[i]);
            continue;
        }
        q->layers[w++] = q->layers[i];
    }
    q->n_layers = q->n_base_layers = w;
}

/* Put every added layer right after the layer it belongs to (the table's
 * order is the network's), renumbering the cross references. */
static qdb_status order_layers(qdb_qmodel *q, qdb_err *e)
{
    int n = q->n_layers;
    int *order = malloc((size_t)n * sizeof *order), *pos = malloc((size_t)n * sizeof *pos);
    qdb_qlayer *nl = malloc((size_t)n * sizeof *nl);
    if (!order || !pos || !nl) {
        free(order);
        free(pos);
        free(nl);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (q->layers[i].shift_of >= 0)
            continue;
        order[k++] = i;
        if (q->layers[i].snc_layer >= 0)
            order[k++] = q->layers[i].snc_layer;
    }
    for (int i = 0; i < n; i++) {
        nl[i] = q->layers[order[i]];
        pos[order[i]] = i;
    }
    for (int i = 0; i < n; i++) {
        if (nl[i].shift_of >= 0)
            nl[i].shift_of = pos[nl[i].shift_of];
        if (nl[i].snc_layer >= 0)
            nl[i].snc_layer = pos[nl[i].snc_layer];
    }
    memcpy(q->layers, nl, (size_t)n * sizeof *nl);
    free(order);
    free(pos);
    free(nl);
    return QDB_OK;
}

void qdb_qmodel_reset(qdb_qmodel *q)
{
    drop_added_layers(q);
    qdb_graph_free(q->g);
    qdb_graph_free(q->gq);
    q->g = q->gq = NULL;
    q->quantized = 0;
    drop_conv_q8(q);
}

/* X's integer view when layer L's quantizer puts it on a grid of at most
 * 256 levels, 0 among them: value = (u - *offset) * *step. */
static int act_codes(const qdb_qmodel *q, int L, float *step, int *offset)
{
    if (L < 0 || !q->layers[L].act_active)
        return 0;
    const qdb_qgrid *gr = &q->layers[L].act_grid;
    if (!(gr->delta > 0.0f) || gr->levels_m1 > 255.0f)
        return 0;
    const float off = nearbyintf(-gr->lo / gr->delta);
    if (fabsf(-gr->lo / gr->delta - off) > 1e-3f || off < 0.0f || off > gr->levels_m1)
        return 0;
    *step = gr->delta;
    *offset = (int)off;
    return 1;
}

/* Does every MaxPool window hold an input value (-inf otherwise, not on
 * any grid)? Explicit pads below the kernel, no ceil_mode. Other nodes: 1. */
static int pool_keeps_grid(const qdb_node *n)
{
    if (strcmp(n->op_type, "MaxPool"))
        return 1;
    int nk = 0, np = 0;
    const int64_t *k = qdb_attr_ints(n, "kernel_shape", &nk);
    const int64_t *pads = qdb_attr_ints(n, "pads", &np);
    const qdb_attr *ap = qdb_node_attr(n, "auto_pad");
    const qdb_attr *cm = qdb_node_attr(n, "ceil_mode");
    if ((ap && ap->type == QDB_ATTR_STRING && ap->s && ap->s[0] && strcmp(ap->s, "NOTSET") &&
         strcmp(ap->s, "VALID")) ||
        (cm && (cm->type != QDB_ATTR_INT || cm->i != 0)))
        return 0; /* pads known only from the shapes, or a window past the end */
    if (!pads)
        return 1;
    if (!k || np != 2 * nk)
        return 0;
    for (int i = 0; i < np; i++)
        if (pads[i] >= k[i % nk])
            return 0;
    return 1;
}

/* The layer whose quantizer put value v on its grid: v's own, or, for a
 * value no layer quantizes, that of the input of the nodes before it that
 * only move, select or take the larger of values (MaxPool, Relu with 0 on
 * the grid, reshapes): -1 when there is none. */
static int grid_layer(const qdb_qmodel *q, const qdb_graph *g, int v)
{
    static const char *const keep[] = {"MaxPool", "Relu",    "Identity",  "Reshape",
                                       "Flatten", "Squeeze", "Unsqueeze", "Transpose"};
    for (int hops = 0; hops < 32 && v >= 0 && v < q->n_map; hops++) {
        if (q->layer_of_value[v] >= 0)
            return q->layer_of_value[v];
        const int p = g->values[v].producer;
        if (p < 0 || g->nodes[p].n_in < 1 || g->nodes[p].out[0] != v)
            return -1;
        int ok = 0;
        for (size_t k = 0; k < sizeof keep / sizeof *keep; k++)
            ok |= !strcmp(g->nodes[p].op_type, keep[k]);
        if (!ok || !pool_keeps_grid(&g->nodes[p]))
            return -1;
        v = g->nodes[p].in[0];
    }
    return -1;
}

/* Integer plans (ops/conv_q8.h) for the Convs of gq whose input the
 * simulation quantizes onto a grid of 8 bits or fewer and whose kernel it
 * quantized to 8 bits or fewer: the Conv's sums are then integers times
 * one step per output channel. Kept per output value of the Conv. */
static qdb_status build_conv_q8(qdb_qmodel *q, qdb_err *e)
{
    const qdb_graph *g = q->gq;
    drop_conv_q8(q);
    if (!(q->conv_q8 = calloc((size_t)g->n_values + 1, sizeof *q->conv_q8)))
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    q->n_conv_q8 = g->n_values;
    for (int i = 0; i < q->n_layers; i++) {
        const qdb_qlayer *l = &q->layers[i];
        if (l->w_value < 0 || !l->wcfg.enabled || l->n_w_qp < 1 || l->w_axis != 0 ||
            l->anchor_value < 0 || l->anchor_value >= g->n_values)
            continue;
        const int node = g->values[l->anchor_value].producer;
        if (node < 0 || strcmp(g->nodes[node].op_type, "Conv") || g->nodes[node].n_in < 2 ||
            g->nodes[node].in[1] != l->w_value || g->nodes[node].in[0] < 0 ||
            g->nodes[node].in[0] >= q->n_map)
            continue;
        const qdb_node *n = &g->nodes[node];
        const qdb_tensor *w = g->values[l->w_value].constant;
        float x_step;
        int x_off;
        if (!w || w->dtype != QDB_F32 || w->shape.ndim != 4 ||
            (l->n_w_qp != 1 && l->n_w_qp != w->shape.d[0]) ||
            !act_codes(q, grid_layer(q, g, n->in[0]), &x_step, &x_off))
            continue;
        float *steps = malloc((size_t)w->shape.d[0] * sizeof *steps);
        if (!steps)
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        for (int64_t c = 0; c < w->shape.d[0]; c++)
            steps[c] = qdb_qgrid_make(&l->w_qp[l->n_w_qp == 1 ? 0 : c]).delta;
        qdb_err sub = {0};
        q->conv_q8[n->out[0]] = qdb_conv_q8_new(w, steps, x_step, x_off, &sub);
        free(steps);
        if (!q->conv_q8[n->out[0]] && sub.code == QDB_ERR_NOMEM)
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        /* other refusals: that Conv runs in float */
    }
    return QDB_OK;
}

const struct qdb_conv_q8 *qdb_qmodel_conv_q8(const qdb_qmodel *q, const qdb_graph *g, int node)
{
    if (node < 0 || node >= g->n_nodes || g->nodes[node].n_out < 1)
        return NULL;
    const int v = g->nodes[node].out[0];
    return v >= 0 && v < q->n_conv_q8 ? q->conv_q8[v] : NULL;
}

static const struct qdb_conv_q8 *fq_conv_q8(void *user, const qdb_graph *g, int node)
{
    return qdb_qmodel_conv_q8(user, g, node);
}

qdb_status qdb_qmodel_quantize(qdb_qmodel *q, qdb_err *e)
{
    if (!q->calibrated)
        return qdb_err_set(e, QDB_ERR_INVALID, "the model is not calibrated yet");
    qdb_status st;
    /* start again from the calibrated graph */
    drop_added_layers(q);
    qdb_graph_free(q->g);
    qdb_graph_free(q->gq);
    q->g = q->gq = NULL;
    q->quantized = 0;
    drop_conv_q8(q);
    for (int i = 0; i < q->n_layers; i++) {
        qdb_qlayer *l = &q->layers[i];
        l->snc_applied = 0;
        l->snc_shift = 0;
        l->snc_layer = -1;
        l->in_shift = 0;
        l->in_scale = 1.0;
        l->out_shift = 0;
        l->act_prescale = 1.0;
        qdb_qlayer_refresh_weights(q->g0, l);
    }
    q->n_act_searched = q->n_w_searched = 0;
    for (int i = 0; i < q->n_layers; i++)
        if ((st = select_layer(q, i, e)) != QDB_OK)
            return st;
    q->g = qdb_graph_clone(q->g0, e);
    if (!q->g)
        return e->code;
    if ((st = qdb_shift_negative(q, e)) != QDB_OK || (st = order_layers(q, e)) != QDB_OK)
        return st;
    for (int i = 0; i < q->n_layers; i++) {
        qdb_qlayer *l = &q->layers[i];
        if (l->snc_applied && l->act_active) {
            /* MCT: the activation keeps its threshold (the searched one with
             * shift_negative_params_search) and moves to 16 bits, unless a
             * rule set its bits: what a rule sets is what the layer gets */
            if (l->prov[QDB_LA_ACT_BITS] < 0)
                l->act_qp.n_bits = 16;
            if (!(l->act.fixed_threshold > 0))
                l->act_qp.threshold = l->snc_threshold;
            l->act_grid = qdb_qgrid_make(&l->act_qp);
        } else if (l->out_shift != 0 && l->act_active) {
            /* a quantized layer between the activation and its consumer:
             * its values are shifted now, so it turns unsigned (threshold kept) */
            l->act_qp.is_signed = 0;
            l->act_signed = 0;
            l->act_grid = qdb_qgrid_make(&l->act_qp);
        } else if (l->shift_of >= 0) {
            double hint = l->act_qp.threshold;
            if ((st = select_layer(q, i, e)) != QDB_OK)
                return st;
            if (!q->cfg.shift_negative_threshold_recalculation && l->act_active &&
                !(l->act.fixed_threshold > 0)) {
                /* MCT keeps the activation's threshold for the shifted tensor */
                l->act_qp.threshold = hint;
                l->act_qp.is_signed = 0;
                l->act_signed = 0;
                l->act_grid = qdb_qgrid_make(&l->act_qp);
            }
        }
    }
    /* kernels and biases may be private copies in g after shift-negative */
    for (int i = 0; i < q->n_layers; i++)
        qdb_qlayer_refresh_weights(q->g, &q->layers[i]);
    q->gq = qdb_graph_clone(q->g, e);
    if (!q->gq)
        return e->code;
    if ((st = input_scaling(q, e)) != QDB_OK)
        return st;
    for (int i = 0; i < q->n_layers; i++)
        if ((st = qdb_quantize_layer_weights(q, &q->layers[i], e)) != QDB_OK)
            return st;
    if ((st = qdb_qmodel_map_values(q, e)) != QDB_OK || (st = build_conv_q8(q, e)) != QDB_OK)
        return st;
    q->quantized = 1;
    return QDB_OK;
}

/* ---- fake quantization in the executor ---- */

typedef struct fq_job {
    const qdb_qgrid *grid;
    float *x;
    float prescale;
} fq_job;

static void fq_range(void *ctx, int64_t begin, int64_t end)
{
    fq_job *j = ctx;
    float *p = j->x + begin;
    size_t n = (size_t)(end - begin);
    if (j->prescale != 1.0f)
        for (size_t i = 0; i < n; i++)
            p[i] *= j->prescale;
    qdb_quantize_fast(j->grid, p, n);
}

static int fq_hook(void *user, const qdb_graph *g, int node, int slot, qdb_tensor *t)
{
    const qdb_qmodel *q = user;
    int v = node < 0 ? g->inputs[slot] : g->nodes[node].out[slot];
    if (v >= q->n_map || t->dtype != QDB_F32)
        return 0;
    int L = q->layer_of_value[v];
    if (L < 0 || !q->layers[L].act_active)
        return 0;
    const qdb_qlayer *l = &q->layers[L];
    fq_job j = {&l->act_grid, t->data.f, (float)l->act_prescale};
    /* A few cheap operations per value, bound by memory: waking the pool
     * costs more than it saves below about half a million values
     * (measured: batch 8 of demo_mbv2 ran 1.5x slower when split). */
    qdb_parallel_for((int64_t)t->numel, (int64_t)t->numel / 4, fq_range, &j);
    return 0;
}

/* Gate outputs inside a fused group are never quantized: the executor may
 * skip computing them. */
static int fq_skippable(void *user, const qdb_graph *g, int v)
{
    const qdb_qmodel *q = user;
    return v < 0 || v >= q->n_map || q->layer_of_value[v] < 0 ||
           !q->layers[q->layer_of_value[v]].act_active;
}

/* The hook's work on a value, done span by span inside a fused group. */
static void fq_span(const void *ctx, float *x, size_t n)
{
    const qdb_qlayer *l = ctx;
    const float prescale = (float)l->act_prescale;
    if (prescale != 1.0f)
        for (size_t i = 0; i < n; i++)
            x[i] *= prescale;
    qdb_quantize_fast(&l->act_grid, x, n);
}

static int fq_pointwise(void *user, const qdb_graph *g, int v, qdb_pw_fn *fn, const void **ctx)
{
    const qdb_qmodel *q = user;
    *fn = NULL;
    *ctx = NULL;
    if (v < 0 || v >= q->n_map || g->values[v].dtype != QDB_F32)
        return 0;
    int L = q->layer_of_value[v];
    if (L < 0 || !q->layers[L].act_active)
        return 1; /* the hook leaves it alone */
    *fn = fq_span;
    *ctx = &q->layers[L];
    return 1;
}

void qdb_qmodel_eval_opts(qdb_qmodel *q, qdb_eval_opts *o)
{
    o->hook = fq_hook;
    o->hook_user = q;
    o->hook_inputs = 1;
    o->fuse_skippable = fq_skippable;
    o->fuse_pointwise = fq_pointwise;
    o->conv_q8 = fq_conv_q8;
    o->conv_q8_user = q;
}
