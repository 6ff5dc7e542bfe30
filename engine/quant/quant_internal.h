/* quant_internal.h - helpers shared by the quantization passes (not part of
 * the engine's interface): who reads a value, constant lookups, and the
 * small vocabulary of op roles (anchors, activations, pass-through ops). */
#ifndef QDB_QUANT_INTERNAL_H
#define QDB_QUANT_INTERNAL_H

#include "graph.h"
#include "qmodel.h"

/* The nodes reading each value (compressed rows). */
typedef struct qdb_uses {
    int n_values;
    int *start;   /* n_values + 1 */
    int *node;    /* consumer node of each use */
} qdb_uses;

qdb_status qdb_uses_build(const qdb_graph *g, qdb_uses *u, qdb_err *e);
void qdb_uses_free(qdb_uses *u);
static inline int qdb_uses_count(const qdb_uses *u, int v) { return u->start[v + 1] - u->start[v]; }
/* The only node reading v, or -1 (none, several, or v is a graph output). */
int qdb_sole_consumer(const qdb_graph *g, const qdb_uses *u, int v);
int qdb_is_graph_output(const qdb_graph *g, int v);

/* Constant float tensor of input k of node n, or NULL. */
qdb_tensor *qdb_const_input(const qdb_graph *g, const qdb_node *n, int k);

/* Ops that move or select values without computing new ones: they carry
 * their input's quantization and get no quantizer of their own. */
int qdb_op_is_passthrough(const char *op_type);
/* Pass-through ops that keep the element order (Reshape, Flatten, ...). */
int qdb_op_keeps_order(const char *op_type);
/* Clip with a constant lower bound of 0 (ReLU6 and friends): its upper
 * bound in *hi (inf when absent). */
int qdb_clip_is_relu(const qdb_graph *g, const qdb_node *n, double *hi);

/* A private copy of constant value v (so that a rewrite does not change
 * other readers of a shared constant): returns the (possibly new) value
 * index now read by node n's input k, or -1. */
int qdb_own_constant(qdb_graph *g, int node, int k, qdb_err *e);

/* Re-link, re-sort and re-infer a graph after a rewrite. */
qdb_status qdb_graph_refresh(qdb_graph *g, qdb_err *e);

/* Quantize layer l's kernel in q->gq and correct its bias (weights.c). */
qdb_status qdb_quantize_layer_weights(qdb_qmodel *q, qdb_qlayer *l, qdb_err *e);

/* Layer helpers (layers.c). */
void qdb_qlayer_clear(qdb_qlayer *l);
/* A weighted layer's kernel and bias as its node in g reads them now (the
 * passes give nodes private copies of shared constants). */
void qdb_qlayer_refresh_weights(const qdb_graph *g, qdb_qlayer *l);
qdb_status qdb_qmodel_map_values(qdb_qmodel *q, qdb_err *e);

#endif
