/* logic_util.h - helpers shared by the "logic" operator family
 * (engine/ops/group_logic.c): a broadcast walk over up to three inputs
 * collapsed to contiguous output runs, and input presence checks. */
#ifndef QDB_LOGIC_UTIL_H
#define QDB_LOGIC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"

#define QDB_BWALK_MAX 3

/* Walks an output shape in contiguous runs of `inner` elements. Adjacent
 * dimensions that every input steps through alike are merged, so the
 * innermost run advances each input by unit[k] (0: broadcast, 1: along).
 * Usage:
 *   qdb_bwalk w; qdb_bwalk_init(&w, &out_shape, shapes, n);
 *   for (size_t r = 0; r < w.runs; r++, qdb_bwalk_next(&w))
 *       run of w.inner outputs at r * w.inner, input k from offset w.off[k]. */
typedef struct qdb_bwalk {
    int nd, n;
    int64_t dims[QDB_MAX_DIMS];
    int64_t st[QDB_BWALK_MAX][QDB_MAX_DIMS];
    int64_t idx[QDB_MAX_DIMS];
    int64_t off[QDB_BWALK_MAX];
    int64_t inner;
    int unit[QDB_BWALK_MAX];
    size_t runs; /* 0 when the output is empty */
} qdb_bwalk;

/* `in` must broadcast to `out` (see qdb_broadcast_shape). n <= QDB_BWALK_MAX. */
void qdb_bwalk_init(qdb_bwalk *w, const qdb_shape *out, const qdb_shape *const *in, int n);
void qdb_bwalk_next(qdb_bwalk *w);

/* The broadcast shape of n shapes, errors prefixed with the op type. */
qdb_status qdb_logic_bcast(const qdb_node *n, const qdb_shape *const *shapes, int count,
                           qdb_shape *out, qdb_err *e);

/* Between `need` and `max` inputs, the first `need` of them present (later
 * ones are optional and may be absent). */
qdb_status qdb_logic_inputs(const qdb_node *n, int need, int max, qdb_err *e);

#endif
