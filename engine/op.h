/* op.h - the operator interface. Every ONNX operator qdb runs is one
 * `const qdb_op` (designated initializers) in a file under engine/ops/, listed
 * in a group table that engine/op_registry.c searches.
 *
 * Life of a node:
 *   load time : check()  - attributes / opset / configuration supported?
 *               infer()  - output dtypes and shapes (inputs may be header-only)
 *   run time  : infer()  - again, with real input shapes and data
 *               forward()- compute into outputs the executor allocated
 *
 * Inputs arrive as an array of n->n_in pointers; an absent optional input is
 * NULL (and indices >= n->n_in are absent too: use qdb_op_in()). In infer(),
 * in[i]->data.p is NULL when the value is not known before running; an op
 * whose output shape depends on input *values* (Reshape's shape, Slice's
 * starts, ...) returns QDB_ERR_DYNAMIC in that case, naming the input: the
 * loader then leaves that part of the graph to be shaped at run time. */
#ifndef QDB_OP_H
#define QDB_OP_H

#include "graph.h"
#include "status.h"
#include "tensor.h"

typedef struct qdb_op {
    const char *type;   /* ONNX op_type, default domain */
    /* Optional. Reject attributes/opsets/modes the implementation lacks with
     * QDB_ERR_UNSUPPORTED, and invalid ones with QDB_ERR_INVALID. */
    qdb_status (*check)(const qdb_node *n, qdb_err *e);
    /* Fill out[k].dtype and out[k].shape for k < n->n_out (out[k].data is
     * NULL and must stay so). */
    qdb_status (*infer)(const qdb_node *n, const qdb_tensor *const *in,
                        qdb_tensor *out, qdb_err *e);
    /* Compute. out[k] are allocated with the inferred shapes, contents
     * undefined (every element must be written); an absent optional output
     * is NULL. Must not keep pointers to in/out. */
    qdb_status (*forward)(const qdb_node *n, const qdb_tensor *const *in,
                          qdb_tensor *const *out, qdb_err *e);
    /* Output k is a pure rearrangement / selection of input values (Gather,
     * Concat, Unsqueeze, ...): constant folding may pass QDB_DIM_BATCH
     * markers through it. Arithmetic ops leave this 0. */
    unsigned moves_values : 1;
    /* forward() reads only the shapes of its inputs, never their data
     * (Shape, Size): the loader can fold it for any runtime value. */
    unsigned reads_shapes_only : 1;
    /* The op takes no inputs (Constant). Every other op needs its first
     * input: the loader rejects a node without it, so forward() and infer()
     * may rely on in[0]. */
    unsigned no_inputs : 1;
} qdb_op;

/* Input i of node n, or NULL when absent. */
static inline const qdb_tensor *qdb_op_in(const qdb_node *n, const qdb_tensor *const *in, int i)
{
    return (i < n->n_in) ? in[i] : NULL;
}

/* The registry: the implementation of (op_type, domain), or NULL. The
 * domains "" and "ai.onnx" are the default domain. */
const qdb_op *qdb_op_find(const char *op_type, const char *domain);
/* Every supported op type, NULL-terminated (for `qdb --help` and docs). */
int qdb_op_list(const char **names, int max);

/* Group tables, NULL-terminated, one per family of operators. */
extern const qdb_op *const qdb_ops_nn[];     /* conv, gemm, pooling, normalization */
extern const qdb_op *const qdb_ops_math[];   /* elementwise, activations, softmax, reductions */
extern const qdb_op *const qdb_ops_tensor[]; /* shape, layout, selection, constants, resize */
extern const qdb_op *const qdb_ops_logic[];  /* comparisons, logic, Where, scatter, Einsum, ... */

/* Helpers shared by operator files. */
/* Normalise an axis in [-rank, rank) to [0, rank); error if out of range. */
qdb_status qdb_op_axis(const qdb_node *n, int64_t axis, int rank, int *out, qdb_err *e);

#endif
