/* weights.c - quantization of a layer's kernel (per output channel or per
 * tensor, with the layer's own error method) and MCT's bias correction:
 * the expected output shift that quantization of the kernel causes,
 *   eps[o] = sum over the non-output axes of (Wq - W)[o, ...] * E[x_c],
 * with c the input channel each kernel entry reads (group-aware), is
 * subtracted from the bias (a bias is created when the node has none).
 * HMSE weighs each kernel entry by E[x_c^2] of the input channel it reads:
 * the diagonal of the layer-local Hessian of the output's squared error.
 * The input moments follow the rewrites upstream: shifted by shift-negative
 * correction, scaled by input scaling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"
#include "threshold.h"

/* W viewed as [outer, ch, inner] around the output axis. */
static void view(const qdb_tensor *w, int axis, int64_t *outer, int64_t *ch, int64_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < w->shape.ndim; d++) {
        if (d < axis)
            *outer *= w->shape.d[d];
        else if (d > axis)
            *inner *= w->shape.d[d];
    }
    *ch = w->shape.d[axis];
}

/* The input channel read by kernel entry (a, o, b) of the [outer, ch, inner]
 * view, or -1 when unknown. */
static int64_t in_channel(const qdb_qlayer *l, const qdb_tensor *w, int64_t a, int64_t o, int64_t b)
{
    if (!strcmp(l->type, "Conv")) {
        int64_t cin_g = w->shape.d[1], K = 1;
        for (int d = 2; d < w->shape.ndim; d++)
            K *= w->shape.d[d];
        int64_t og = w->shape.d[0] / (l->w_groups > 0 ? l->w_groups : 1);
        return (o / og) * cin_g + b / K;
    }
    if (!strcmp(l->type, "ConvTranspose"))
        return l->w_groups == 1 ? a : -1;
    /* Gemm / MatMul: [N,K] (out axis 0) -> b; [K,N] (out axis 1) -> a */
    return l->w_axis == 0 ? b : a;
}

static qdb_tensor *ensure_bias(qdb_graph *g, qdb_qlayer *l, int64_t ch, qdb_err *e)
{
    if (l->b_value >= 0) {
        qdb_tensor *b = g->values[l->b_value].constant;
        return b && b->numel == (size_t)ch ? b : NULL;
    }
    int node = g->values[l->anchor_value].producer;
    if (node < 0 || !strcmp(l->type, "MatMul"))
        return NULL; /* MatMul has no bias input */
    int64_t d[1] = {ch};
    qdb_tensor *b = qdb_tensor_new_dims(QDB_F32, 1, d, e);
    if (!b)
        return NULL;
    char name[300];
    snprintf(name, sizeof name, "%.200s/bias", l->name);
    int v = qdb_graph_add_constant(g, name, b, e);
    if (v < 0 || qdb_node_set_input(g, node, 2, v, e) != QDB_OK)
        return NULL;
    l->b_value = v;
    return b;
}

static uint64_t hash_floats(const float *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n * sizeof *p; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

qdb_status qdb_quantize_layer_weights(qdb_qmodel *q, qdb_qlayer *l, qdb_err *e)
{
    qdb_graph *g = q->gq;
    l->w_threshold_max = 0;
    l->bias_shift_norm = 0;
    if (l->w_value < 0 || !l->wcfg.enabled) {
        free(l->w_qp);
        l->w_qp = NULL;
        l->n_w_qp = 0;
        l->memo_w = 0;
        return QDB_OK;
    }
    /* private copies of a kernel or bias shared with other nodes: each
     * layer quantizes and corrects its own */
    int node = g->values[l->anchor_value].producer;
    if (node < 0 || qdb_own_constant(g, node, 1, e) < 0 ||
        (g->nodes[node].n_in > 2 && g->nodes[node].in[2] >= 0 && qdb_own_constant(g, node, 2, e) < 0))
        return e && e->code ? e->code : qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    qdb_qlayer_refresh_weights(g, l);
    qdb_tensor *w = g->values[l->w_value].constant;
    int64_t outer, ch, inner;
    view(w, l->w_axis, &outer, &ch, &inner);
    int per_ch = l->wcfg.per_channel;
    int n_qp = per_ch ? (int)ch : 1;
    size_t per = (size_t)(outer * inner);
    size_t nbuf = per_ch ? per : w->numel;
    /* the same kernel, configuration and input moments as last time: the
     * same thresholds, no search */
    uint64_t kh = hash_floats(w->data.f, w->numel);
    int reuse = l->memo_w && l->w_qp && l->n_w_qp == n_qp && l->memo_w_hash == kh &&
                qdb_weight_config_equal(&l->memo_w_cfg, &l->wcfg) &&
                l->memo_w_shift == l->in_shift && l->memo_w_scale == l->in_scale;
    if (!reuse) {
        free(l->w_qp);
        l->w_qp = calloc((size_t)n_qp, sizeof *l->w_qp);
        l->n_w_qp = 0;
        l->memo_w = 0;
        q->n_w_searched++;
    }
    float *orig = malloc(w->numel * sizeof *orig);
    float *buf = malloc(nbuf * sizeof *buf);
    float *hw = NULL;
    int hmse = !reuse && l->wcfg.error_method == QDB_EM_HMSE && l->in_sqmean;
    if (hmse)
        hw = malloc(nbuf * sizeof *hw);
    qdb_status st = QDB_OK;
    if (!orig || !buf || !l->w_qp || (hmse && !hw)) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory quantizing the weights of '%s'", l->name);
        goto done;
    }
    memcpy(orig, w->data.f, w->numel * sizeof *orig);
    l->n_w_qp = n_qp;
    qdb_search_opts so = {.method = l->wcfg.method,
                          .error_method = l->wcfg.error_method,
                          .n_bits = l->wcfg.n_bits,
                          .is_signed = 1,
                          .min_threshold = l->wcfg.min_threshold,
                          .l_p_value = l->wcfg.l_p_value,
                          .per_channel = per_ch};
    for (int c = 0; c < n_qp; c++) {
        size_t n = 0;
        for (int64_t a = 0; a < outer; a++)
            for (int64_t o = per_ch ? c : 0; o < (per_ch ? c + 1 : ch); o++)
                for (int64_t b = 0; b < inner; b++) {
                    buf[n] = w->data.f[(a * ch + o) * inner + b];
                    if (hw) {
                        int64_t ic = in_channel(l, w, a, o, b);
                        hw[n] = ic >= 0 && ic < l->in_channels
                                    ? (float)((l->in_sqmean[ic] + 2 * l->in_shift * l->in_mean[ic] +
                                               l->in_shift * l->in_shift) *
                                              l->in_scale * l->in_scale)
                                    : 1.0f;
                    }
                    n++;
                }
        qdb_qparams *qp = &l->w_qp[c];
        if (reuse) {
            /* kept from the last search */
        } else if (l->wcfg.fixed_threshold > 0) {
            *qp = (qdb_qparams){.method = l->wcfg.method, .n_bits = l->wcfg.n_bits, .is_signed = 1,
                                .threshold = l->wcfg.fixed_threshold,
                                .min = -l->wcfg.fixed_threshold, .max = l->wcfg.fixed_threshold};
        } else if ((st = qdb_select_weights(buf, n, hw, &so, qp, e)) != QDB_OK) {
            qdb_err_prefix(e, "layer '%s' weights: ", l->name);
            goto done;
        }
        double t = qdb_qparams_threshold(qp);
        if (t > l->w_threshold_max)
            l->w_threshold_max = t;
        qdb_qgrid grid = qdb_qgrid_make(qp);
        for (int64_t a = 0; a < outer; a++)
            for (int64_t o = per_ch ? c : 0; o < (per_ch ? c + 1 : ch); o++) {
                float *p = w->data.f + (a * ch + o) * inner;
                qdb_quantize(&grid, p, p, (size_t)inner);
            }
    }
    if (!reuse) {
        l->memo_w = 1;
        l->memo_w_cfg = l->wcfg;
        l->memo_w_hash = kh;
        l->memo_w_shift = l->in_shift;
        l->memo_w_scale = l->in_scale;
    }
    /* bias correction */
    if (l->wcfg.bias_correction && l->in_mean) {
        double *eps = calloc((size_t)ch, sizeof *eps);
        if (!eps) {
            st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
            goto done;
        }
        int known = 1;
        for (int64_t a = 0; a < outer && known; a++)
            for (int64_t o = 0; o < ch && known; o++)
                for (int64_t b = 0; b < inner; b++) {
                    int64_t ic = in_channel(l, w, a, o, b);
                    if (ic < 0 || ic >= l->in_channels) {
                        known = 0;
                        break;
                    }
                    size_t k = (size_t)((a * ch + o) * inner + b);
                    eps[o] += ((double)w->data.f[k] - orig[k]) * (l->in_mean[ic] + l->in_shift) *
                              l->in_scale;
                }
        qdb_tensor *bias = known ? ensure_bias(g, l, ch, e) : NULL;
        if (bias) {
            const qdb_node *n = &g->nodes[g->values[l->anchor_value].producer];
            double alpha = !strcmp(l->type, "Gemm") ? qdb_attr_float(n, "alpha", 1.0f) : 1.0;
            double beta = !strcmp(l->type, "Gemm") ? qdb_attr_float(n, "beta", 1.0f) : 1.0;
            for (int64_t o = 0; o < ch && beta != 0; o++) {
                bias->data.f[o] = (float)(bias->data.f[o] - alpha * eps[o] / beta);
                l->bias_shift_norm += fabs(alpha * eps[o]);
            }
        } else if (e && e->code == QDB_ERR_NOMEM) {
            free(eps);
            st = QDB_ERR_NOMEM;
            goto done;
        }
        free(eps);
    }
done:
    free(orig);
    free(buf);
    free(hw);
    return st;
}
