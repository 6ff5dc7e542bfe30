/* gated_act.h - the fused form of y = x * gate(x), where gate is Sigmoid
 * (SiLU / Swish) or HardSigmoid (Hardswish), as PyTorch exports them at
 * opset 13: a gate node followed by a Mul of the gate's input and output.
 * The executor runs such a pair as one pass over memory. The result is
 * bit-identical to the two nodes run separately: the same expressions as
 * the Sigmoid and HardSigmoid operators, then one float product. */
#ifndef QDB_OPS_GATED_ACT_H
#define QDB_OPS_GATED_ACT_H

#include <stddef.h>

#include "graph.h"

typedef enum { QDB_GATE_NONE, QDB_GATE_SIGMOID, QDB_GATE_HARDSIGMOID } qdb_gate;

/* The gate a node computes (its op type), QDB_GATE_NONE for any other. */
qdb_gate qdb_gate_of(const qdb_node *n);

/* y[i] = x[i] * gate(x[i]) for i < n; `gate_node` supplies HardSigmoid's
 * alpha and beta. y may be x. */
void qdb_gated_act_f32(qdb_gate gate, const qdb_node *gate_node, const float *x, float *y,
                       size_t n);
/* The same with HardSigmoid's alpha and beta given (read once by callers
 * that run many short spans). */
void qdb_gated_act_f32_ab(qdb_gate gate, float alpha, float beta, const float *x, float *y,
                          size_t n);
/* HardSigmoid's alpha and beta of a gate node (defaults 0.2, 0.5). */
void qdb_gate_params(const qdb_node *gate_node, float *alpha, float *beta);

#endif
