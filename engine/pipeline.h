/* pipeline.h - data parallelism over a stream of batches: several threads
 * each take whole batches and run them start to finish (one executor per
 * thread, kernels single-threaded inside), while batches are fetched and
 * their results consumed strictly in order. For the small networks qdb
 * evaluates over thousands of images this keeps every core busy, where
 * splitting each operator across threads cannot (most operators are too
 * small to split profitably).
 *
 *   fetch(b)   under the pipeline's lock, in order b = 0, 1, 2, ...: produce
 *              item b, or set *item = NULL when the stream ends;
 *   work(w, b) on worker w (0 .. workers-1) concurrently with the others;
 *   finish(b)  under the lock, in order of b: consume item b (and free it).
 *
 * The first error (from any callback) stops the pipeline: no new item is
 * fetched, items in flight are still passed to `discard` so that nothing
 * leaks, and that error is returned. A cancelled finish (return
 * QDB_ERR_CANCELLED) stops it the same way. Results do not depend on the
 * number of workers: every batch is computed by the same kernels. */
#ifndef QDB_PIPELINE_H
#define QDB_PIPELINE_H

#include <stdint.h>

#include "status.h"

typedef struct qdb_pipeline_fns {
    qdb_status (*fetch)(void *user, int64_t b, void **item, qdb_err *e);
    qdb_status (*work)(void *user, int worker, int64_t b, void *item, qdb_err *e);
    qdb_status (*finish)(void *user, int64_t b, void *item, qdb_err *e);
    void (*discard)(void *user, void *item); /* an item not finished (error) */
} qdb_pipeline_fns;

/* The number of workers qdb_pipeline_run would use: the kernels' thread
 * count (--threads), for callers that set up per-worker state. */
int qdb_pipeline_workers(void);

/* Run the pipeline with `workers` threads (the calling thread is worker 0;
 * 1 runs everything inline). */
qdb_status qdb_pipeline_run(int workers, const qdb_pipeline_fns *f, void *user, qdb_err *e);

#endif
