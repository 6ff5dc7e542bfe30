/* tensor.h - qdb_tensor: a dense, C-ordered n-d array of float32 or int64.
 *
 * Float tensors carry activations and weights; int64 tensors carry shapes,
 * indices and axes (the shape arithmetic of exported graphs). Other ONNX
 * element types are converted on import (see onnx_import.c). A tensor may be
 * a header only (data == NULL): shape inference passes those around. */
#ifndef QDB_TENSOR_H
#define QDB_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define QDB_MAX_DIMS 8

typedef enum { QDB_F32 = 0, QDB_I64 = 1 } qdb_dtype;

typedef struct qdb_shape {
    int ndim;
    int64_t d[QDB_MAX_DIMS];
} qdb_shape;

typedef struct qdb_tensor {
    qdb_dtype dtype;
    qdb_shape shape;
    size_t numel;
    union {
        float *f;
        int64_t *i;
        void *p;
    } data; /* owned by the tensor; NULL for a header-only tensor */
} qdb_tensor;

const char *qdb_dtype_name(qdb_dtype t);
size_t qdb_dtype_size(qdb_dtype t);

/* Number of elements of `s`; fails (QDB_ERR_NOMEM / QDB_ERR_SHAPE) on a
 * negative dimension or when the byte size of a tensor would overflow or
 * exceed QDB_TENSOR_MAX_BYTES. */
#define QDB_TENSOR_MAX_BYTES ((size_t)1 << 36) /* 64 GiB: larger is hostile */
qdb_status qdb_shape_numel(const qdb_shape *s, size_t *numel, qdb_err *e);
qdb_shape qdb_shape_make(int ndim, const int64_t *dims);
int qdb_shape_eq(const qdb_shape *a, const qdb_shape *b);
/* "[1,3,224,224]" into buf; returns buf. */
char *qdb_shape_str(const qdb_shape *s, char *buf, size_t n);

/* New zero-filled tensor; NULL (and `e` filled) on a bad shape or OOM. */
qdb_tensor *qdb_tensor_new(qdb_dtype t, const qdb_shape *s, qdb_err *e);
qdb_tensor *qdb_tensor_new_dims(qdb_dtype t, int ndim, const int64_t *dims, qdb_err *e);
/* Same with the data left uninitialised (for outputs that will be written
 * in full: the executor's node outputs). */
qdb_tensor *qdb_tensor_new_uninit(qdb_dtype t, const qdb_shape *s, qdb_err *e);
/* A header-only tensor (no data), for shape inference. */
qdb_tensor *qdb_tensor_new_header(qdb_dtype t, const qdb_shape *s, qdb_err *e);
/* Allocate (zeroed) data for a header-only tensor. */
qdb_status qdb_tensor_alloc(qdb_tensor *t, qdb_err *e);
qdb_tensor *qdb_tensor_clone(const qdb_tensor *src, qdb_err *e);
/* Convert between float32 and int64 (values truncated toward zero). */
qdb_tensor *qdb_tensor_convert(const qdb_tensor *src, qdb_dtype to, qdb_err *e);
void qdb_tensor_free(qdb_tensor *t);

/* Row-major strides of a shape (elements, not bytes). */
void qdb_shape_strides(const qdb_shape *s, int64_t *strides);

#endif
