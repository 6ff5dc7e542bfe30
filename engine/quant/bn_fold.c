/* bn_fold.c - folds BatchNormalization (inference form) into the Conv,
 * ConvTranspose or Gemm before it, and, when asked, equalizes the channels
 * of a following ReLU for the next Conv (MCT's
 * activation_channel_equalization, 1.4+ rule):
 *
 *   BN(y) = gamma (y - mean) / sqrt(var + eps) + beta
 *   W'[o] = W[o] * gamma_o / sqrt(var_o + eps)
 *   b'[o] = (b[o] - mean_o) * gamma_o / sqrt(var_o + eps) + beta_o
 *
 *   Conv+BN -> ReLU -> (Pad) -> Conv: with the BN output of channel c taken
 *   as N(beta_c, |gamma_c|), std_c is the standard deviation of its ReLU
 *   (closed form); s_c = min(1 / std_c, 1) multiplies the first layer's
 *   channel c (kernel and bias) and divides the second layer's input
 *   channel c. The float function is unchanged (ReLU is positively
 *   homogeneous, zero padding stays zero). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"

/* Kernel layout of a weighted node: out-channel axis and the size of the
 * blocks around it. Returns 0 when the node is not foldable. */
typedef struct klayout {
    int64_t outer, ch, inner; /* W viewed as [outer, ch, inner] */
} klayout;

static int kernel_layout(const qdb_graph *g, const qdb_node *n, klayout *k)
{
    qdb_tensor *w = qdb_const_input(g, n, 1);
    if (!w || (n->n_in > 2 && n->in[2] >= 0 && !qdb_const_input(g, n, 2)))
        return 0;
    int axis;
    if (!strcmp(n->op_type, "Conv") && w->shape.ndim >= 3)
        axis = 0;
    else if (!strcmp(n->op_type, "ConvTranspose") && w->shape.ndim >= 3 &&
             qdb_attr_int(n, "group", 1) == 1)
        axis = 1;
    else if (!strcmp(n->op_type, "Gemm") && w->shape.ndim == 2 && !qdb_attr_int(n, "transA", 0) &&
             qdb_attr_float(n, "alpha", 1.0f) == 1.0f && qdb_attr_float(n, "beta", 1.0f) == 1.0f)
        axis = qdb_attr_int(n, "transB", 0) ? 0 : 1;
    else
        return 0;
    k->outer = k->inner = 1;
    for (int d = 0; d < w->shape.ndim; d++) {
        if (d < axis)
            k->outer *= w->shape.d[d];
        else if (d > axis)
            k->inner *= w->shape.d[d];
    }
    k->ch = w->shape.d[axis];
    return 1;
}

/* Make sure node i has its own bias constant of `ch` values (created as
 * zeros when absent); returns its tensor. */
static qdb_tensor *own_bias(qdb_graph *g, int i, int64_t ch, qdb_err *e)
{
    qdb_node *n = &g->nodes[i];
    if (n->n_in > 2 && n->in[2] >= 0) {
        if (qdb_own_constant(g, i, 2, e) < 0)
            return NULL;
        qdb_tensor *b = g->values[g->nodes[i].in[2]].constant;
        if (b->numel != (size_t)ch) {
            qdb_err_set(e, QDB_ERR_UNSUPPORTED, "node '%s': bias of %zu values for %lld channels",
                        n->name, b->numel, (long long)ch);
            return NULL;
        }
        return b;
    }
    int64_t d[1] = {ch};
    qdb_tensor *b = qdb_tensor_new_dims(QDB_F32, 1, d, e);
    if (!b)
        return NULL;
    char name[300];
    snprintf(name, sizeof name, "%.200s/bias", n->name);
    int v = qdb_graph_add_constant(g, name, b, e);
    if (v < 0 || qdb_node_set_input(g, i, 2, v, e) != QDB_OK)
        return NULL;
    return b;
}

static double norm_pdf(double x) { return exp(-0.5 * x * x) * 0.39894228040143267794; }
static double norm_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* Standard deviation of ReLU(X), X ~ N(mu, sigma). */
static double relu_std(double mu, double sigma)
{
    if (sigma <= 0)
        return 0;
    double a = mu / sigma;
    double m1 = mu * norm_cdf(a) + sigma * norm_pdf(a);
    double m2 = (mu * mu + sigma * sigma) * norm_cdf(a) + mu * sigma * norm_pdf(a);
    double var = m2 - m1 * m1;
    return var > 0 ? sqrt(var) : 0;
}

/* Conv+BN (node c, folded) -> ReLU -> (Pad) -> Conv: equalize. */
static int equalize(qdb_graph *g, const qdb_uses *u, int c, const float *gamma, const float *beta,
                    int64_t ch, qdb_err *e)
{
    const qdb_node *cn = &g->nodes[c];
    if (strcmp(cn->op_type, "Conv"))
        return 0;
    int r = qdb_sole_consumer(g, u, cn->out[0]);
    if (r < 0 || strcmp(g->nodes[r].op_type, "Relu"))
        return 0;
    int nx = qdb_sole_consumer(g, u, g->nodes[r].out[0]);
    if (nx >= 0 && !strcmp(g->nodes[nx].op_type, "Pad")) {
        const char *mode = qdb_attr_string(&g->nodes[nx], "mode", "constant");
        double cv = 0;
        const qdb_value *cvv = g->nodes[nx].n_in > 2 && g->nodes[nx].in[2] >= 0
                                   ? &g->values[g->nodes[nx].in[2]] : NULL;
        if (cvv && cvv->constant && cvv->constant->numel == 1 && cvv->constant->dtype == QDB_F32)
            cv = cvv->constant->data.f[0];
        if (strcmp(mode, "constant") || cv != 0.0)
            return 0;
        nx = qdb_sole_consumer(g, u, g->nodes[nx].out[0]);
    }
    if (nx < 0 || strcmp(g->nodes[nx].op_type, "Conv"))
        return 0;
    qdb_tensor *w2 = qdb_const_input(g, &g->nodes[nx], 1);
    if (!w2 || w2->shape.ndim < 3)
        return 0;
    int64_t groups = qdb_attr_int(&g->nodes[nx], "group", 1);
    int64_t cin_g = w2->shape.d[1], cout = w2->shape.d[0];
    if (cin_g * groups != ch || cout % groups)
        return 0;
    float *s = malloc((size_t)ch * sizeof *s);
    if (!s)
        return -1;
    int any = 0;
    for (int64_t k = 0; k < ch; k++) {
        double sd = relu_std(beta[k], fabs(gamma[k]));
        s[k] = sd > 0 ? (float)fmin(1.0 / sd, 1.0) : 1.0f;
        any |= s[k] != 1.0f;
    }
    if (!any) {
        free(s);
        return 0;
    }
    klayout k1;
    kernel_layout(g, cn, &k1);
    if (qdb_own_constant(g, c, 1, e) < 0 || qdb_own_constant(g, nx, 1, e) < 0) {
        free(s);
        return -1;
    }
    qdb_tensor *w1 = g->values[g->nodes[c].in[1]].constant;
    qdb_tensor *b1 = own_bias(g, c, ch, e);
    w2 = g->values[g->nodes[nx].in[1]].constant;
    if (!b1) {
        free(s);
        return -1;
    }
    for (int64_t o = 0; o < k1.outer; o++)
        for (int64_t q = 0; q < ch; q++)
            for (int64_t i = 0; i < k1.inner; i++)
                w1->data.f[(o * ch + q) * k1.inner + i] *= s[q];
    for (int64_t q = 0; q < ch; q++)
        b1->data.f[q] *= s[q];
    int64_t kin = w2->numel / (size_t)(cout * cin_g), cout_g = cout / groups;
    for (int64_t o = 0; o < cout; o++)
        for (int64_t j = 0; j < cin_g; j++) {
            int64_t inch = (o / cout_g) * cin_g + j;
            float *p = w2->data.f + (o * cin_g + j) * kin;
            for (int64_t i = 0; i < kin; i++)
                p[i] /= s[inch];
        }
    free(s);
    return 1;
}

qdb_status qdb_fold_batchnorm(qdb_graph *g, int do_equalize, int *n_folded, int *n_equalized,
                              qdb_err *e)
{
    *n_folded = 0;
    if (n_equalized)
        *n_equalized = 0;
    qdb_uses u;
    qdb_status st = qdb_uses_build(g, &u, e);
    if (st != QDB_OK)
        return st;
    char *drop = calloc((size_t)g->n_nodes + 1, 1);
    if (!drop) {
        qdb_uses_free(&u);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory folding BatchNormalization");
    }
    int n_nodes0 = g->n_nodes;
    for (int i = 0; i < n_nodes0; i++) {
        qdb_node *bn = &g->nodes[i];
        if (strcmp(bn->op_type, "BatchNormalization") || bn->n_in < 5 || bn->in[0] < 0)
            continue;
        if (bn->n_out > 1 && ((bn->n_out > 1 && bn->out[1] >= 0) || (bn->n_out > 2 && bn->out[2] >= 0)))
            continue; /* training outputs requested */
        if (qdb_attr_int(bn, "training_mode", 0))
            continue;
        int c = g->values[bn->in[0]].producer;
        if (c < 0 || qdb_sole_consumer(g, &u, bn->in[0]) != i)
            continue;
        klayout k;
        if (!kernel_layout(g, &g->nodes[c], &k))
            continue;
        qdb_tensor *sc = qdb_const_input(g, bn, 1), *bb = qdb_const_input(g, bn, 2),
                   *mu = qdb_const_input(g, bn, 3), *var = qdb_const_input(g, bn, 4);
        if (!sc || !bb || !mu || !var || sc->numel != (size_t)k.ch || bb->numel != (size_t)k.ch ||
            mu->numel != (size_t)k.ch || var->numel != (size_t)k.ch)
            continue;
        float eps = qdb_attr_float(bn, "epsilon", 1e-5f);
        if (qdb_own_constant(g, c, 1, e) < 0) {
            st = e->code;
            goto done;
        }
        qdb_tensor *b = own_bias(g, c, k.ch, e);
        if (!b) {
            st = e->code;
            goto done;
        }
        bn = &g->nodes[i];
        qdb_tensor *w = g->values[g->nodes[c].in[1]].constant;
        for (int64_t q = 0; q < k.ch; q++) {
            double f = sc->data.f[q] / sqrt((double)var->data.f[q] + eps);
            for (int64_t o = 0; o < k.outer; o++)
                for (int64_t j = 0; j < k.inner; j++)
                    w->data.f[(o * k.ch + q) * k.inner + j] =
                        (float)(w->data.f[(o * k.ch + q) * k.inner + j] * f);
            b->data.f[q] = (float)((b->data.f[q] - mu->data.f[q]) * f + bb->data.f[q]);
        }
        /* the Conv now writes the BN's output */
        g->nodes[c].out[0] = bn->out[0];
        drop[i] = 1;
        (*n_folded)++;
        if (do_equalize) {
            /* consumers are those of the BN output now */
            qdb_graph_link(g);
            qdb_uses_free(&u);
            if ((st = qdb_uses_build(g, &u, e)) != QDB_OK)
                goto done;
            int r = equalize(g, &u, c, sc->data.f, bb->data.f, k.ch, e);
            if (r < 0) {
                st = e->code ? e->code : qdb_err_set(e, QDB_ERR_NOMEM, "out of memory equalizing");
                goto done;
            }
            if (n_equalized)
                *n_equalized += r;
        }
    }
    if (*n_folded) {
        qdb_graph_remove_nodes(g, drop);
        st = qdb_graph_refresh(g, e);
    }
done:
    free(drop);
    qdb_uses_free(&u);
    return st;
}
