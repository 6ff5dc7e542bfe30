/* prepare.h - turns a freshly imported graph into a runnable one: resolves
 * every node's operator (reporting all unsupported ones at once), checks
 * attributes, orders the nodes, infers every value's dtype and shape, folds
 * the constant subgraphs (including the Shape -> Gather -> Concat chains that
 * exporters emit around a free batch dimension) and prunes dead nodes. */
#ifndef QDB_PREPARE_H
#define QDB_PREPARE_H

#include "graph.h"

qdb_status qdb_graph_prepare(qdb_graph *g, qdb_err *e);

/* The data of constant value `v` for a run at batch size `batch`: the
 * constant itself when it holds no QDB_DIM_BATCH marker (borrowed: *owned
 * is set to 0), else a new tensor with the markers replaced (*owned = 1). */
qdb_tensor *qdb_value_data(const qdb_value *v, int64_t batch, int *owned, qdb_err *e);

#endif
