/* fusion.h - the executor's fused groups. A group is a Conv, optionally the
 * constant Pad before it (folded into a depthwise Conv's window), and the
 * chain of pointwise nodes that only read its result one after the other:
 * an x * gate(x) pair, PRelu, Relu, Clip, a sum or product with a scalar or
 * per-channel constant. The executor runs a group as one Conv whose output
 * images go through the chain while still in cache (conv.h, pw_chain.h);
 * the values in between are never made.
 *
 * A value may vanish inside a group only when the executor's hook allows:
 * it does nothing to it (skippable), or its whole effect on it is a
 * pointwise function the chain can run in its place (fake quantization).
 * A value the hook must see whole ends the group, and the hook then runs on
 * it as usual. Results are bit-identical to the unfused run. */
#ifndef QDB_FUSION_H
#define QDB_FUSION_H

#include "executor.h"

#define QDB_FUSE_MAX 8 /* chain steps per group */

typedef struct qdb_fuse_step {
    qdb_pw_kind kind;    /* GATE, ADD, MUL, PRELU, RELU or CLIP */
    int node;            /* the node computing the step's value (GATE: the Mul) */
    int gate_node;       /* GATE: the Sigmoid / HardSigmoid */
    int konst;           /* ADD, MUL, PRELU: the constant operand's value */
    int per_channel;     /* the constant holds one entry per channel */
    float lo, hi;        /* CLIP's bounds */
} qdb_fuse_step;

typedef struct qdb_fuse_group {
    int head;            /* the Conv */
    int pad;             /* the Pad folded into it, -1: none */
    int n_steps;
    qdb_fuse_step steps[QDB_FUSE_MAX];
    /* the hook's pointwise work on the Conv's output (0) and on each step's
     * output (k + 1); fn NULL: none */
    qdb_pw_fn fn[QDB_FUSE_MAX + 1];
    const void *ctx[QDB_FUSE_MAX + 1];
    int out_node;        /* the node whose output is the group's result */
    int out_value;
    int hook_last;       /* the hook still runs on the result */
} qdb_fuse_group;

/* What the hook allows (see executor.h); has_hook 0: everything. */
typedef struct qdb_fusion_rules {
    int has_hook;
    qdb_exec_skippable skippable;
    qdb_exec_pointwise pointwise;
    void *user;
} qdb_fusion_rules;

typedef struct qdb_fusion {
    int n_groups;
    qdb_fuse_group *groups;
    int *group_of;       /* per node: the group it heads, -1 */
    char *absorbed;      /* per node: run inside a group headed elsewhere */
    int *last_use;       /* per value: the last node reading it, counting a
                            group's nodes at its head; -1: none */
    char *inside;        /* per value: made and read inside a group, never
                            materialized */
} qdb_fusion;

/* Plan the groups of g. gate_mul[i] is the Mul an x * gate(x) gate node i
 * feeds (-1: none), is_output flags graph outputs. NULL when out of memory. */
qdb_fusion *qdb_fusion_plan(const qdb_graph *g, const int *gate_mul, const char *is_output,
                            const qdb_fusion_rules *r);
void qdb_fusion_free(qdb_fusion *f);

/* The values every node of group k reads (constants included), in `vals`
 * (room for `cap`); returns how many. */
int qdb_fusion_group_inputs(const qdb_graph *g, const qdb_fuse_group *k, int *vals, int cap);

#endif
