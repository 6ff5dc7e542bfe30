/* broadcast.h - NumPy-style (ONNX multidirectional) broadcasting: the output
 * shape of several inputs, and per-input strides aligned to that output so
 * an operator can walk all inputs with one index. */
#ifndef QDB_BROADCAST_H
#define QDB_BROADCAST_H

#include "tensor.h"

/* Broadcast shape of `n` shapes into *out; QDB_ERR_SHAPE when incompatible. */
qdb_status qdb_broadcast_shape(const qdb_shape *const *shapes, int n, qdb_shape *out, qdb_err *e);

/* Strides of `in` (elements) over the dimensions of `out` (in must broadcast
 * to out): 0 where `in` is broadcast, right-aligned. */
void qdb_broadcast_strides(const qdb_shape *in, const qdb_shape *out, int64_t *strides);

/* Walks the elements of an output shape in order, keeping the matching
 * offset of up to QDB_BCAST_MAX inputs. Usage:
 *   qdb_bcast_iter it; qdb_bcast_init(&it, &out, shapes, n);
 *   for (size_t k = 0; k < numel; k++) { use it.off[0..n-1]; qdb_bcast_next(&it); } */
#define QDB_BCAST_MAX 4
typedef struct qdb_bcast_iter {
    int ndim, n;
    int64_t dims[QDB_MAX_DIMS];
    int64_t idx[QDB_MAX_DIMS];
    int64_t strides[QDB_BCAST_MAX][QDB_MAX_DIMS];
    int64_t off[QDB_BCAST_MAX];
} qdb_bcast_iter;

void qdb_bcast_init(qdb_bcast_iter *it, const qdb_shape *out, const qdb_shape *const *in, int n);
void qdb_bcast_next(qdb_bcast_iter *it);

#endif
