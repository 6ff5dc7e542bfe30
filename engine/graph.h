/* graph.h - qdb's own model graph: named values, nodes in topological order,
 * typed attributes and constant tensors. Built by the ONNX importer, read by
 * the executor, and later rewritten by quantization passes.
 *
 * Ownership: a qdb_graph owns everything reachable from it (strings,
 * attributes, constant tensors, node state). qdb_graph_free releases it. */
#ifndef QDB_GRAPH_H
#define QDB_GRAPH_H

#include <stdint.h>

#include "status.h"
#include "tensor.h"

typedef enum {
    QDB_ATTR_FLOAT,
    QDB_ATTR_INT,
    QDB_ATTR_STRING,
    QDB_ATTR_TENSOR,
    QDB_ATTR_FLOATS,
    QDB_ATTR_INTS,
    QDB_ATTR_STRINGS,
    QDB_ATTR_OTHER /* graphs, sparse tensors, types: kept by name only */
} qdb_attr_type;

typedef struct qdb_attr {
    char *name;
    qdb_attr_type type;
    float f;
    int64_t i;
    char *s;           /* QDB_ATTR_STRING, NUL-terminated */
    qdb_tensor *t;     /* QDB_ATTR_TENSOR */
    int n;             /* element count of floats / ints / strings */
    float *floats;
    int64_t *ints;
    char **strings;
} qdb_attr;

struct qdb_op;

typedef struct qdb_node {
    char *name;           /* never NULL: importer names unnamed nodes "<op>_<index>" */
    char *op_type;
    char *domain;         /* "" for the default ONNX domain */
    int opset;            /* opset version in force for this node's domain */
    const struct qdb_op *op; /* resolved implementation, NULL if unsupported */
    int n_in;
    int *in;              /* value indices; -1 for an absent optional input */
    int n_out;
    int *out;             /* value indices; -1 for an absent optional output */
    int n_attr;
    qdb_attr *attr;
} qdb_node;

/* Marks a dimension that equals the batch size (the free first dimension of
 * the graph inputs). Appears in qdb_value.shape and inside int64 constants
 * produced by folding Shape; the executor substitutes the real batch. */
#define QDB_DIM_BATCH (INT64_MIN + 7)

typedef struct qdb_value {
    char *name;
    qdb_dtype dtype;
    int shape_known;      /* shape inferred (or declared) */
    qdb_shape shape;      /* shape at batch 1 */
    uint32_t batch_dims;  /* bit i: dimension i scales with the batch size */
    qdb_tensor *constant; /* initializer / folded constant (owned), else NULL */
    int batch_const;      /* constant holds QDB_DIM_BATCH entries to substitute */
    int producer;         /* producing node index, -1 for inputs/constants */
    int n_consumers;      /* how many node inputs read it (graph outputs not counted) */
} qdb_value;

typedef struct qdb_graph {
    char *path;           /* source file, used in messages */
    char *name;
    char *producer;       /* e.g. "pytorch 1.13.1" */
    int64_t opset;        /* default-domain opset version */
    int n_values, cap_values;
    qdb_value *values;
    int n_nodes, cap_nodes;
    qdb_node *nodes;
    int n_inputs;
    int *inputs;          /* runtime inputs (initializers excluded) */
    int n_outputs;
    int *outputs;
    int batch_free;       /* inputs have a free first (batch) dimension */
    struct qdb_value_index *index; /* private to graph.c: values by name (value
                                    * names must not change once added) */
} qdb_graph;

qdb_graph *qdb_graph_new(const char *path);
void qdb_graph_free(qdb_graph *g);

/* Find a value by name; -1 if absent. */
int qdb_graph_find_value(const qdb_graph *g, const char *name);
/* Find or create a value named `name`; returns its index or -1 on OOM. */
int qdb_graph_value(qdb_graph *g, const char *name, qdb_err *e);
/* Append an empty node; returns its index or -1 on OOM. Strings are copied. */
int qdb_graph_add_node(qdb_graph *g, const char *name, const char *op_type,
                       const char *domain, qdb_err *e);

/* A deep copy (values, constants, nodes, attributes); NULL on OOM. */
qdb_graph *qdb_graph_clone(const qdb_graph *g, qdb_err *e);
/* Append a node with its inputs and outputs (value indices, -1 absent);
 * the operator is resolved from the registry. Returns the node index or -1.
 * Callers re-link and re-sort (qdb_graph_link, qdb_graph_toposort). */
int qdb_graph_add_node_io(qdb_graph *g, const char *name, const char *op_type, int n_in,
                          const int *in, int n_out, const int *out, qdb_err *e);
/* A new value holding constant `t` (taken over, also on failure), named
 * after `name` made unique. Returns its index or -1. */
int qdb_graph_add_constant(qdb_graph *g, const char *name, qdb_tensor *t, qdb_err *e);
/* A new value named after `name` made unique (no constant). */
int qdb_graph_add_value_unique(qdb_graph *g, const char *name, qdb_err *e);
/* Remove the nodes whose flag is set (flags: n_nodes entries). Values stay. */
void qdb_graph_remove_nodes(qdb_graph *g, const char *flags);
/* Set input k of node i to value v (growing the input list with absent
 * inputs as needed). */
qdb_status qdb_node_set_input(qdb_graph *g, int i, int k, int v, qdb_err *e);
/* Add (or replace) a float / ints attribute on a node. */
qdb_status qdb_node_set_int(qdb_node *n, const char *name, int64_t v, qdb_err *e);
qdb_status qdb_node_set_ints(qdb_node *n, const char *name, int count, const int64_t *v, qdb_err *e);
qdb_status qdb_node_set_float(qdb_node *n, const char *name, float v, qdb_err *e);

/* Recompute producer / n_consumers of every value. */
void qdb_graph_link(qdb_graph *g);
/* Sort nodes topologically (stable for already-sorted graphs). Fails on a
 * cycle or a value read before any node produces it. */
qdb_status qdb_graph_toposort(qdb_graph *g, qdb_err *e);
/* Drop nodes none of whose outputs reach a graph output. */
void qdb_graph_prune(qdb_graph *g);

/* Shape of a value with batch dimensions shown as N ("[N,3,224,224]"). */
char *qdb_value_shape_str(const qdb_value *v, char *buf, size_t n);

/* Number of parameters: elements of the float constants the node reads,
 * scalars (settings such as Clip's bounds) excepted. */
size_t qdb_node_param_count(const qdb_graph *g, const qdb_node *n);

/* Attribute lookup on a node; the getters return `def` when absent. */
const qdb_attr *qdb_node_attr(const qdb_node *n, const char *name);
int64_t qdb_attr_int(const qdb_node *n, const char *name, int64_t def);
float qdb_attr_float(const qdb_node *n, const char *name, float def);
const char *qdb_attr_string(const qdb_node *n, const char *name, const char *def);
/* Integer list; *count set to its length (0 and NULL when absent). */
const int64_t *qdb_attr_ints(const qdb_node *n, const char *name, int *count);
const float *qdb_attr_floats(const qdb_node *n, const char *name, int *count);

void qdb_attr_clear(qdb_attr *a);

#endif
