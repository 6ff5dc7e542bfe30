/* eval_cache.h - fast re-evaluation of the simulated network after an
 * edit. A full evaluation keeps, for the whole evaluation set, the
 * quantized activations at "cuts" of the network (values that every path
 * from the input to the outputs goes through: block boundaries; never a
 * value inside one of the executor's fused Conv groups), within a memory
 * budget. After the configuration changes, the next evaluation finds
 * the first node whose computation differs (a signature per node: its op,
 * its constant inputs' data, the grid of its outputs' quantizers) and runs
 * only the part of the network after the last cached cut before it,
 * refreshing the cuts downstream. Results are identical to a full run
 * (same batches, same kernels). */
#ifndef QDB_EVAL_CACHE_H
#define QDB_EVAL_CACHE_H

#include <stddef.h>

#include "eval.h"
#include "qmodel.h"

typedef struct qdb_eval_cache qdb_eval_cache;

#define QDB_EVAL_CACHE_BUDGET ((size_t)1 << 30) /* default: 1 GiB */

/* budget: bytes of cached activations (0: the default). */
qdb_eval_cache *qdb_eval_cache_new(size_t budget, qdb_err *e);
void qdb_eval_cache_free(qdb_eval_cache *c);

/* Evaluate q's simulated network on every sample of d (rewound first), as
 * qdb_eval_run(q->gq, d, ...) with q's quantizers would, reusing what the
 * cache holds. The cache belongs to one dataset: another d starts afresh. */
qdb_status qdb_eval_cached(qdb_eval_cache *c, qdb_qmodel *q, qdb_dataset *d, const qdb_eval_opts *o,
                           qdb_eval_result *r, qdb_err *e);

/* What the last qdb_eval_cached did: the node it started from (0: a full
 * run) of how many, and the bytes cached. */
void qdb_eval_cache_stats(const qdb_eval_cache *c, int *start_node, int *n_nodes, size_t *bytes);

/* One number for q's simulated network as it is now (the signatures the
 * cache compares, combined): equal numbers, the same network. */
uint64_t qdb_qmodel_signature(const qdb_qmodel *q);

#endif
