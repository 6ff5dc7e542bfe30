/* gated_act.c - fused x * gate(x) (see gated_act.h). The expressions are
 * those of unary.c's Sigmoid and HardSigmoid, with ISO C's contraction off
 * (-std=c11), so every version computes the same bits. */
#include "gated_act.h"

#include <string.h>

#include "fast_math.h"
#include "kernels.h"

qdb_gate qdb_gate_of(const qdb_node *n)
{
    if (!strcmp(n->op_type, "Sigmoid"))
        return QDB_GATE_SIGMOID;
    if (!strcmp(n->op_type, "HardSigmoid"))
        return QDB_GATE_HARDSIGMOID;
    return QDB_GATE_NONE;
}

QDB_MULTIVERSION static void silu(const float *xp, float *yp, size_t cnt)
{
    const fexp_clamp ck = fexp_clamp_get();
    QDB_VLOOP(i, cnt, float x = xp[i]; yp[i] = x * (1.0f / (1.0f + fast_expf(-x, ck))));
}

QDB_MULTIVERSION static void hardswish(const float *xp, float *yp, size_t cnt, float alpha,
                                       float beta)
{
    QDB_VLOOP(i, cnt, float x = xp[i]; yp[i] = x * clamp01(alpha * x + beta));
}

void qdb_gate_params(const qdb_node *gate_node, float *alpha, float *beta)
{
    *alpha = qdb_attr_float(gate_node, "alpha", 0.2f);
    *beta = qdb_attr_float(gate_node, "beta", 0.5f);
}

void qdb_gated_act_f32_ab(qdb_gate gate, float alpha, float beta, const float *x, float *y,
                          size_t n)
{
    if (gate == QDB_GATE_SIGMOID)
        silu(x, y, n);
    else if (gate == QDB_GATE_HARDSIGMOID)
        hardswish(x, y, n, alpha, beta);
}

void qdb_gated_act_f32(qdb_gate gate, const qdb_node *gate_node, const float *x, float *y,
                       size_t n)
{
    float alpha, beta;
    qdb_gate_params(gate_node, &alpha, &beta);
    qdb_gated_act_f32_ab(gate, alpha, beta, x, y, n);
}
