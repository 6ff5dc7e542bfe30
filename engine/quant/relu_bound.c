/* relu_bound.c - MCT's relu_unbound_correction ("ReLU bound to power of
 * two"): for Conv/Gemm -> Clip(0, b) -> Conv/Gemm with a bound b that is
 * not a power of two (ReLU6), s = b / 8: the first layer's kernel and bias
 * are divided by s, the bound becomes 8 and the second layer's kernel is
 * multiplied by s. The float function is unchanged; the bound now sits on
 * a power-of-two threshold, so no quantization level is wasted. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"

static int linear_kind(const qdb_graph *g, const qdb_node *n, int64_t *out_axis_len)
{
    qdb_tensor *w = qdb_const_input(g, n, 1);
    if (!w)
        return 0;
    if (n->n_in > 2 && n->in[2] >= 0 && !qdb_const_input(g, n, 2))
        return 0;
    if (!strcmp(n->op_type, "Conv") && w->shape.ndim >= 3) {
        *out_axis_len = w->shape.d[0];
        return 1;
    }
    if (!strcmp(n->op_type, "Gemm") && w->shape.ndim == 2 && !qdb_attr_int(n, "transA", 0)) {
        *out_axis_len = w->shape.d[qdb_attr_int(n, "transB", 0) ? 0 : 1];
        return 2;
    }
    return 0;
}

static int is_pow2(double x)
{
    int ex;
    return frexp(x, &ex) == 0.5;
}

qdb_status qdb_relu_bound_to_pow2(qdb_graph *g, int *n_done, qdb_err *e)
{
    *n_done = 0;
    qdb_uses u;
    qdb_status st = qdb_uses_build(g, &u, e);
    if (st != QDB_OK)
        return st;
    for (int i = 0; i < g->n_nodes; i++) {
        int64_t ch;
        if (!linear_kind(g, &g->nodes[i], &ch))
            continue;
        int c = qdb_sole_consumer(g, &u, g->nodes[i].out[0]);
        double hi;
        if (c < 0 || !qdb_clip_is_relu(g, &g->nodes[c], &hi) || !isfinite(hi) || hi <= 0 ||
            is_pow2(hi))
            continue;
        int nx = qdb_sole_consumer(g, &u, g->nodes[c].out[0]);
        int64_t ch2;
        if (nx < 0 || !linear_kind(g, &g->nodes[nx], &ch2))
            continue;
        double s = hi / 8.0;
        if (qdb_own_constant(g, i, 1, e) < 0 || qdb_own_constant(g, nx, 1, e) < 0 ||
            (g->nodes[i].n_in > 2 && g->nodes[i].in[2] >= 0 && qdb_own_constant(g, i, 2, e) < 0)) {
            st = e->code;
            break;
        }
        qdb_tensor *w1 = g->values[g->nodes[i].in[1]].constant;
        for (size_t k = 0; k < w1->numel; k++)
            w1->data.f[k] = (float)(w1->data.f[k] / s);
        if (g->nodes[i].n_in > 2 && g->nodes[i].in[2] >= 0) {
            qdb_tensor *b = g->values[g->nodes[i].in[2]].constant;
            for (size_t k = 0; k < b->numel; k++)
                b->data.f[k] = (float)(b->data.f[k] / s);
        }
        qdb_tensor *w2 = g->values[g->nodes[nx].in[1]].constant;
        for (size_t k = 0; k < w2->numel; k++)
            w2->data.f[k] = (float)(w2->data.f[k] * s);
        /* the bound: an attribute before opset 11, else input 2 */
        qdb_node *cn = &g->nodes[c];
        if (cn->opset < 11) {
            if ((st = qdb_node_set_float(cn, "max", 8.0f, e)) != QDB_OK)
                break;
        } else {
            int v = qdb_own_constant(g, c, 2, e);
            if (v < 0) {
                st = e->code;
                break;
            }
            qdb_tensor *b = g->values[v].constant;
            if (b->dtype == QDB_F32)
                b->data.f[0] = 8.0f;
        }
        (*n_done)++;
    }
    qdb_uses_free(&u);
    return st;
}
