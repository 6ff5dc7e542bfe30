/* tensor_util.h - helpers shared by the "tensor" family's operator files
 * (engine/ops/group_tensor.c): reading integer lists from constant inputs,
 * output headers, checked shape arithmetic and the strided copy that
 * Transpose, Slice, Expand, Tile and DepthToSpace reduce to. */
#ifndef QDB_TENSOR_UTIL_H
#define QDB_TENSOR_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"

/* Room for the dimensions of a strided copy (Tile doubles the rank). */
#define QDB_COPY_MAX_DIMS (2 * QDB_MAX_DIMS)

/* Copy the elements of a strided view of `src` into contiguous `dst`, in
 * row-major order of `dims`. Element (i0..in-1) is read at
 * src + sum(i_k * strides[k]) (strides in elements, may be 0 or negative).
 * esize is 4 or 8. Adjacent dimensions that are contiguous in the source
 * are merged, and contiguous runs go through memcpy. */
void qdb_strided_copy(void *dst, const void *src, size_t esize, int nd, const int64_t *dims,
                      const int64_t *strides);

/* Read the integer tensor `t` (input `what` of node n) into buf[0..max).
 * A scalar counts as one element. Fails with QDB_ERR_UNSUPPORTED when t has
 * no data yet ("<op>: input '<what>' must be a constant"), QDB_ERR_INVALID
 * when t is not int64, not 0-D/1-D, or longer than max. */
qdb_status qdb_const_ints(const qdb_node *n, const qdb_tensor *t, const char *what, int64_t *buf,
                          int max, int *count, qdb_err *e);

/* Set out's dtype and shape (and numel), validating the shape. */
qdb_status qdb_out_set(const qdb_node *n, qdb_tensor *out, qdb_dtype t, const qdb_shape *s,
                       qdb_err *e);

/* Product of dims[from..to) (0 when any is 0). */
int64_t qdb_dims_prod(const int64_t *dims, int from, int to);

#endif
