/* executor.h - runs a prepared qdb_graph on float inputs of any batch size.
 *
 * Every node's outputs pass through an optional hook right after they are
 * computed: it may read them (calibration statistics) or overwrite them in
 * place (fake quantization), and can stop the run (cancellation). With no
 * hook installed the cost is one NULL test per node. Intermediate tensors
 * are freed as soon as their last consumer has run. */
#ifndef QDB_EXECUTOR_H
#define QDB_EXECUTOR_H

#include "graph.h"
#include "ops/pw_chain.h"

/* Called after node `node` computed output number `slot` into `t`. The hook
 * may modify t's data (not its shape). Return 0 to go on, non-zero to stop
 * the run with QDB_ERR_CANCELLED. */
typedef int (*qdb_exec_hook)(void *user, const qdb_graph *g, int node, int slot, qdb_tensor *t);

typedef struct qdb_exec qdb_exec;

/* The executor borrows `g`, which must outlive it and stay unchanged. */
qdb_exec *qdb_exec_new(const qdb_graph *g, qdb_err *e);
void qdb_exec_free(qdb_exec *x);
void qdb_exec_set_hook(qdb_exec *x, qdb_exec_hook hook, void *user);
/* Also pass the graph's inputs through the hook before the first node, as
 * node -1, slot k = input index: the hook gets a private copy of the
 * caller's tensor (which stays untouched) and may rewrite it (quantization
 * of the model input). */
void qdb_exec_hook_inputs(qdb_exec *x, int on);

/* Fusion of x * gate(x) pairs (a Sigmoid or HardSigmoid whose output only
 * a Mul by the same x reads: SiLU and Hardswish as exported at opset 13)
 * into one pass, bit-identical to the two nodes. The gate's output is then
 * never computed, so the hook does not see it: fusion is off until a caller
 * whose hook does not need those values turns it on. `skippable` (NULL:
 * every pair) decides per gate output value. */
typedef int (*qdb_exec_skippable)(void *user, const qdb_graph *g, int value);
void qdb_exec_set_fusion(qdb_exec *x, int on, qdb_exec_skippable skippable, void *user);

/* With fusion on, the executor also runs each Conv with the constant Pad
 * before it and the pointwise nodes after it as one group (fusion.h); the
 * values inside a group are never made. Without a hook every value may
 * vanish so; with one, those `skippable` allows, and those for which
 * `pointwise` (set here, same user as skippable) returns 1 with *fn: the
 * hook's whole effect on that value is fn(*ctx, data, numel), which the
 * group then runs in its place, span by span. Asked when a run first
 * needs the plan after a change of hook or fusion settings. */
typedef int (*qdb_exec_pointwise)(void *user, const qdb_graph *g, int value, qdb_pw_fn *fn,
                                  const void **ctx);
void qdb_exec_set_pointwise(qdb_exec *x, qdb_exec_pointwise pointwise);

/* Integer Convs: for Conv node `node`, a plan (ops/conv_q8.h) valid for
 * the values its inputs will hold in this run (the hook quantizes X onto
 * the plan's grid; W is on the plan's codes), or NULL to run it in float.
 * Asked each time the node runs, fused or not.
 * NULL (the default): every Conv in float. */
struct qdb_conv_q8;
typedef const struct qdb_conv_q8 *(*qdb_exec_conv_q8)(void *user, const qdb_graph *g, int node);
void qdb_exec_set_conv_q8(qdb_exec *x, qdb_exec_conv_q8 conv_q8, void *user);

/* From inside the hook: hand the tensor of `value` (just computed) over to
 * the caller, who frees it; the executor goes on reading it during this
 * run but no longer frees it. NULL when the executor does not own it (an
 * input, a constant). Saves a copy for a hook that keeps values. */
qdb_tensor *qdb_exec_disown(qdb_exec *x, int value);

/* With the current settings, is value v made and read inside a fused group
 * only (never materialized, never seen by the hook)? 1 yes, 0 no, -1 out
 * of memory (e set). */
int qdb_exec_fused_away(qdb_exec *x, int v, qdb_err *e);
/* Run the graph. `inputs` has g->n_inputs tensors (borrowed; shapes must
 * match the graph's with any batch size where the batch is free). On
 * success outputs[k] (k < g->n_outputs) receive new tensors owned by the
 * caller. On failure nothing is returned and `e` names the node. */
qdb_status qdb_exec_run(qdb_exec *x, const qdb_tensor *const *inputs, qdb_tensor **outputs,
                        qdb_err *e);

/* The same, keeping only the first output (*out, owned by the caller; the
 * others are freed): for callers that score or observe a model whatever
 * its number of outputs. */
qdb_status qdb_exec_run_first(qdb_exec *x, const qdb_tensor *const *inputs, qdb_tensor **out,
                              qdb_err *e);

/* For front ends, once at start-up: keep freed memory in the process heap
 * instead of returning it to the kernel (glibc's mmap and trim thresholds),
 * so the large intermediates of every run reuse pages instead of faulting
 * in fresh ones (batch-32 MobileNetV2 runs 1.6x faster; peak RSS unchanged).
 * Affects the whole process, hence not done by qdb_exec_new. No-op off glibc. */
void qdb_exec_tune_malloc(void);

#endif
