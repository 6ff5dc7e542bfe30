/* shift_negative.c - MCT's shift-negative activation correction on q->g.
 *
 * For a layer whose activation is PReLU, ELU, HardSwish, Swish (SiLU),
 * GELU, LeakyReLU or SELU, whose output reaches a Conv or Gemm through
 * single-consumer order-keeping ops, AveragePool and at most one Pad, and
 * whose negative part is small (min < 0 and |min| / t <= shift_negative_ratio):
 *   - the shift is the smallest grid point s of linspace(0, t - t/2^n, 2^n)
 *     with s + min >= 0 (with shift_negative_params_search: every grid
 *     shift at thresholds t and 2t, on the z-filtered histogram, keeping
 *     the least MSE of the shifted, unsigned quantization);
 *   - an Add(+s) follows the activation: a new layer "<name>/shift",
 *     quantized unsigned at the layer's bits (threshold t, or searched again
 *     on the shifted histogram with shift_negative_threshold_recalculation,
 *     where MCT's own code re-runs the activation's search instead);
 *   - the activation itself moves to 16 bits, keeping its threshold (t, or
 *     the searched one); quantized layers between it and the consumer
 *     (AveragePool) turn unsigned with their threshold kept;
 *   - the consumer's bias becomes bias - s * sum of W over its non-output
 *     axes; a Pad on the way pads with s, and the consumer's own padding
 *     becomes an explicit Pad with value s.
 * The float network computes the same function (to rounding). Not applied
 * with UNIFORM quantization. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"
#include "threshold.h"

static int snc_activation(const qdb_qlayer *l)
{
    static const char *const acts[] = {"PRelu", "Elu", "HardSwish", "Swish", "Gelu",
                                       "LeakyRelu", "Selu", NULL};
    const char *op = strchr(l->op, '+') ? strchr(l->op, '+') + 1 : l->op;
    for (int i = 0; acts[i]; i++)
        if (!strcmp(op, acts[i]))
            return 1;
    return 0;
}

/* Walk from value v to the weighted consumer; *first = node reading v,
 * *pad = Pad node on the way (-1), returns the consumer node or -1. */
#define MAX_HOPS 16

static int find_consumer(const qdb_graph *g, const qdb_uses *u, int v, int *first, int *pad,
                         int *path, int *n_path)
{
    *pad = -1;
    *first = -1;
    *n_path = 0;
    for (int hops = 0; hops < MAX_HOPS; hops++) {
        int n = qdb_sole_consumer(g, u, v);
        if (n < 0 || g->nodes[n].in[0] != v)
            return -1;
        if (*first < 0)
            *first = n;
        path[(*n_path)++] = n;
        const qdb_node *nd = &g->nodes[n];
        const char *t = nd->op_type;
        if (!strcmp(t, "Conv") || !strcmp(t, "Gemm")) {
            if (!qdb_const_input(g, nd, 1))
                return -1;
            if (nd->n_in > 2 && nd->in[2] >= 0 && !qdb_const_input(g, nd, 2))
                return -1;
            if (!strcmp(t, "Gemm") && (qdb_attr_int(nd, "transA", 0) ||
                                       qdb_attr_float(nd, "alpha", 1.0f) != 1.0f ||
                                       qdb_attr_float(nd, "beta", 1.0f) != 1.0f))
                return -1;
            /* the bias compensation needs one bias value per output channel */
            const qdb_tensor *w = qdb_const_input(g, nd, 1);
            int oax = !strcmp(t, "Gemm") && !qdb_attr_int(nd, "transB", 0) ? 1 : 0;
            const qdb_tensor *b = nd->n_in > 2 && nd->in[2] >= 0 ? qdb_const_input(g, nd, 2) : NULL;
            if (w->shape.ndim < 2 || (b && b->numel != (size_t)w->shape.d[oax]))
                return -1;
            if (!strcmp(t, "Conv") && strcmp(qdb_attr_string(nd, "auto_pad", "NOTSET"), "NOTSET") &&
                strcmp(qdb_attr_string(nd, "auto_pad", "NOTSET"), "VALID"))
                return -1;
            (*n_path)--; /* the path holds the nodes before the consumer */
            return n;
        }
        if (!strcmp(t, "Pad")) {
            if (*pad >= 0 || strcmp(qdb_attr_string(nd, "mode", "constant"), "constant") ||
                nd->opset < 11)
                return -1;
            if (nd->n_in > 2 && nd->in[2] >= 0) {
                const qdb_value *cv = &g->values[nd->in[2]];
                if (!cv->constant || cv->constant->numel != 1 || cv->constant->dtype != QDB_F32 ||
                    cv->constant->data.f[0] != 0.0f)
                    return -1;
            }
            if (nd->n_in > 3 && nd->in[3] >= 0)
                return -1; /* axes input */
            *pad = n;
        } else if (!strcmp(t, "AveragePool")) {
            int np;
            const int64_t *pads = qdb_attr_ints(nd, "pads", &np);
            int padded = 0;
            for (int k = 0; k < np; k++)
                padded |= pads[k] != 0;
            if (padded && qdb_attr_int(nd, "count_include_pad", 0))
                return -1;
            if (strcmp(qdb_attr_string(nd, "auto_pad", "NOTSET"), "NOTSET"))
                return -1;
        } else if (!qdb_op_keeps_order(t)) {
            return -1;
        }
        v = nd->out[0];
    }
    return -1;
}

static double hist_mse_unsigned(const qdb_histogram *h, double t, int n_bits)
{
    qdb_qparams p = {.method = QDB_QM_POWER_OF_TWO, .n_bits = n_bits, .is_signed = 0,
                     .threshold = t};
    qdb_qgrid grid = qdb_qgrid_make(&p);
    qdb_search_opts o = {.method = QDB_QM_POWER_OF_TWO, .error_method = QDB_EM_MSE,
                         .n_bits = n_bits, .is_signed = 0, .l_p_value = 2};
    return qdb_hist_error(h, &grid, &o);
}

static qdb_status add_layer(qdb_qmodel *q, int L, int value, double shift, qdb_err *e)
{
    qdb_qlayer *nl = realloc(q->layers, (size_t)(q->n_layers + 1) * sizeof *nl);
    if (!nl)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    q->layers = nl;
    const qdb_qlayer *src = &q->layers[L];
    qdb_qlayer *s = &q->layers[q->n_layers];
    memset(s, 0, sizeof *s);
    char name[300];
    snprintf(name, sizeof name, "%.280s/shift", src->name);
    size_t ln = strlen(name) + 1;
    s->name = malloc(ln);
    s->op = malloc(16);
    s->type = malloc(4);
    s->last_type = malloc(4);
    s->hist = qdb_histogram_shifted(src->hist, shift, e);
    if (!s->name || !s->op || !s->type || !s->last_type || !s->hist) {
        qdb_qlayer_clear(s);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    memcpy(s->name, name, ln);
    strcpy(s->op, "ShiftNegative");
    strcpy(s->type, "Add");
    strcpy(s->last_type, "Add");
    s->out_value = s->anchor_value = value;
    s->in_value = src->out_value;
    s->shift_of = L;
    s->snc_layer = -1;
    s->w_value = s->b_value = -1;
    s->act = src->act;
    for (int a = 0; a < QDB_LA_COUNT; a++) /* the activation's settings and their origin */
        s->prov[a] = qdb_layer_attr_is_weight(a) ? -1 : src->prov[a];
    s->wcfg.enabled = 0;
    s->act.signedness = QDB_SIGN_UNSIGNED;
    s->act.shift_negative = 0;
    s->act_prescale = 1.0;
    q->n_layers++;
    return QDB_OK;
}

qdb_status qdb_shift_negative(qdb_qmodel *q, qdb_err *e)
{
    qdb_graph *g = q->g;
    q->n_snc = 0; /* per layer: act.shift_negative (global flag or rule) */
    qdb_uses u;
    qdb_status st = qdb_uses_build(g, &u, e);
    if (st != QDB_OK)
        return st;
    int changed = 0;
    for (int L = 0; L < q->n_base_layers; L++) {
        qdb_qlayer *l = &q->layers[L];
        if (!l->act_active || !l->act.shift_negative || !snc_activation(l) || !l->hist ||
            l->act.method == QDB_QM_UNIFORM)
            continue;
        double mn = qdb_histogram_nz_min(l->hist);
        double t = l->act_qp.threshold;
        if (!(mn < 0) || t <= 0 || -mn / t > q->cfg.shift_negative_ratio)
            continue;
        int first, pad, path[MAX_HOPS], n_path;
        int c = find_consumer(g, &u, l->out_value, &first, &pad, path, &n_path);
        if (c < 0)
            continue;
        int nb = l->act.n_bits;
        double step = t / ldexp(1.0, nb);
        double shift = ceil(-mn / step) * step;
        double t_new = t;
        if (q->cfg.shift_negative_params_search) {
            /* MCT: every grid point of [0, t') for t' in {t, 2t} (also
             * shifts that leave values below zero: they are clipped), on
             * the z-filtered histogram, least MSE of the unsigned grid */
            qdb_histogram *hz = qdb_histogram_zfilter(l->hist, l->act.z_threshold, e);
            if (!hz) {
                st = e->code;
                goto done;
            }
            double best = INFINITY;
            for (int ti = 0; ti < 2; ti++) {
                double tt = ti ? 2 * t : t, st_ = tt / ldexp(1.0, nb);
                for (int64_t k = 0; k < ((int64_t)1 << nb); k++) {
                    qdb_histogram *hs = qdb_histogram_shifted(hz, k * st_, e);
                    if (!hs) {
                        qdb_histogram_free(hz);
                        st = QDB_ERR_NOMEM;
                        goto done;
                    }
                    double err = hist_mse_unsigned(hs, tt, nb);
                    qdb_histogram_free(hs);
                    if (err < best) {
                        best = err;
                        shift = k * st_;
                        t_new = tt;
                    }
                }
            }
            qdb_histogram_free(hz);
        }
        /* graph: Add(+shift) after the activation */
        int64_t one[1] = {1};
        qdb_tensor *sv = qdb_tensor_new_dims(QDB_F32, 1, one, e);
        if (!sv) {
            st = QDB_ERR_NOMEM;
            goto done;
        }
        sv->data.f[0] = (float)shift;
        char name[300];
        snprintf(name, sizeof name, "%.200s/shift_value", l->name);
        int cv = qdb_graph_add_constant(g, name, sv, e);
        snprintf(name, sizeof name, "%.200s/shifted", l->name);
        int out = cv >= 0 ? qdb_graph_add_value_unique(g, name, e) : -1;
        int ins[2] = {l->out_value, cv}, outs[1] = {out};
        snprintf(name, sizeof name, "%.200s/shift", l->name);
        if (out < 0 || qdb_graph_add_node_io(g, name, "Add", 2, ins, 1, outs, e) < 0) {
            st = e->code;
            goto done;
        }
        g->nodes[first].in[0] = out;
        /* a Pad on the way pads with the shift */
        if (pad >= 0) {
            int64_t d1[1] = {1};
            qdb_tensor *pv = qdb_tensor_new_dims(QDB_F32, 0, d1, e);
            if (!pv) {
                st = QDB_ERR_NOMEM;
                goto done;
            }
            pv->data.f[0] = (float)shift;
            snprintf(name, sizeof name, "%.200s/pad_value", l->name);
            int pvv = qdb_graph_add_constant(g, name, pv, e);
            if (pvv < 0 || qdb_node_set_input(g, pad, 2, pvv, e) != QDB_OK) {
                st = e->code;
                goto done;
            }
        }
        /* the consumer's own padding becomes a Pad with the shift */
        qdb_node *cn = &g->nodes[c];
        int np = 0;
        const int64_t *cp = !strcmp(cn->op_type, "Conv") ? qdb_attr_ints(cn, "pads", &np) : NULL;
        int padded = 0;
        for (int k = 0; k < np; k++)
            padded |= cp[k] != 0;
        if (padded) {
            int sp = np / 2, rank = sp + 2;
            int64_t pd[1] = {2 * rank};
            qdb_tensor *pt = qdb_tensor_new_dims(QDB_I64, 1, pd, e);
            int64_t d0[1] = {1};
            qdb_tensor *pv = pt ? qdb_tensor_new_dims(QDB_F32, 0, d0, e) : NULL;
            if (!pt || !pv) {
                qdb_tensor_free(pt);
                st = QDB_ERR_NOMEM;
                goto done;
            }
            for (int k = 0; k < sp; k++) {
                pt->data.i[2 + k] = cp[k];
                pt->data.i[rank + 2 + k] = cp[sp + k];
            }
            pv->data.f[0] = (float)shift;
            snprintf(name, sizeof name, "%.200s/pads", cn->name);
            int pv1 = qdb_graph_add_constant(g, name, pt, e);
            snprintf(name, sizeof name, "%.200s/pad_value", cn->name);
            int pv2 = pv1 >= 0 ? qdb_graph_add_constant(g, name, pv, e) : -1;
            if (pv1 < 0)
                qdb_tensor_free(pv);
            snprintf(name, sizeof name, "%.200s/padded", cn->name);
            int pout = pv2 >= 0 ? qdb_graph_add_value_unique(g, name, e) : -1;
            cn = &g->nodes[c];
            int pin[3] = {cn->in[0], pv1, pv2}, pouts[1] = {pout};
            snprintf(name, sizeof name, "%.200s/pad", cn->name);
            if (pout < 0 || qdb_graph_add_node_io(g, name, "Pad", 3, pin, 1, pouts, e) < 0) {
                st = e->code;
                goto done;
            }
            cn = &g->nodes[c];
            int64_t zeros[16] = {0};
            if ((st = qdb_node_set_ints(cn, "pads", np, zeros, e)) != QDB_OK)
                goto done;
            cn->in[0] = pout;
        }
        /* bias compensation: bias -= shift * sum of W over non-output axes */
        if (qdb_own_constant(g, c, 1, e) < 0) {
            st = e->code;
            goto done;
        }
        cn = &g->nodes[c];
        qdb_tensor *w = g->values[cn->in[1]].constant;
        int out_axis = !strcmp(cn->op_type, "Gemm") && !qdb_attr_int(cn, "transB", 0) ? 1 : 0;
        int64_t outer = 1, ch = w->shape.d[out_axis], inner = 1;
        for (int d = 0; d < w->shape.ndim; d++) {
            if (d < out_axis)
                outer *= w->shape.d[d];
            else if (d > out_axis)
                inner *= w->shape.d[d];
        }
        qdb_tensor *b;
        if (cn->n_in > 2 && cn->in[2] >= 0) {
            if (qdb_own_constant(g, c, 2, e) < 0) {
                st = e->code;
                goto done;
            }
            b = g->values[g->nodes[c].in[2]].constant;
        } else {
            int64_t bd[1] = {ch};
            b = qdb_tensor_new_dims(QDB_F32, 1, bd, e);
            if (!b) {
                st = QDB_ERR_NOMEM;
                goto done;
            }
            snprintf(name, sizeof name, "%.200s/bias", g->nodes[c].name);
            int bv = qdb_graph_add_constant(g, name, b, e);
            if (bv < 0 || qdb_node_set_input(g, c, 2, bv, e) != QDB_OK) {
                st = e->code;
                goto done;
            }
        }
        if (b->numel != (size_t)ch) {
            st = qdb_err_set(e, QDB_ERR_UNSUPPORTED, "layer '%s': bias shape", g->nodes[c].name);
            goto done;
        }
        for (int64_t o = 0; o < ch; o++) {
            double s = 0;
            for (int64_t a = 0; a < outer; a++)
                for (int64_t k = 0; k < inner; k++)
                    s += w->data.f[(a * ch + o) * inner + k];
            b->data.f[o] = (float)(b->data.f[o] - shift * s);
        }
        /* the consumer layer's input statistics move with the shift */
        for (int i = 0; i < q->n_base_layers; i++) {
            qdb_qlayer *cl = &q->layers[i];
            if (cl->w_value < 0 || g->values[cl->anchor_value].producer != c || !cl->in_mean)
                continue;
            cl->in_shift += shift;
        }
        /* quantized layers on the way (an AveragePool) now see shifted
         * values: they turn unsigned, keeping their threshold (MCT) */
        for (int k = 0; k < n_path; k++) {
            int pv = g->nodes[path[k]].out[0];
            for (int i = 0; i < q->n_base_layers; i++)
                if (q->layers[i].out_value == pv)
                    q->layers[i].out_shift += shift;
        }
        int S = q->n_layers;
        if ((st = add_layer(q, L, out, shift, e)) != QDB_OK)
            goto done;
        l = &q->layers[L];
        l->snc_applied = 1;
        l->snc_shift = shift;
        l->snc_threshold = t_new;
        l->snc_layer = S;
        q->layers[S].act_qp.threshold = t_new; /* a hint for quantize: keep t unless recalculated */
        q->n_snc++;
        changed = 1;
        qdb_uses_free(&u);
        qdb_graph_link(g);
        if ((st = qdb_uses_build(g, &u, e)) != QDB_OK)
            goto done;
    }
    if (changed)
        st = qdb_graph_refresh(g, e);
done:
    qdb_uses_free(&u);
    return st;
}
