/* npy.h - NumPy .npy files (format versions 1.0, 2.0, 3.0), read and written
 * with a strict header check. Reads little-endian float32/float64/float16,
 * int8..int64 and uint8..uint64 in C order into float32 or int64 tensors;
 * writes float32 or int64. */
#ifndef QDB_NPY_H
#define QDB_NPY_H

#include <stdio.h>

#include "tensor.h"

/* Read `path`. Floating data becomes float32; integer data becomes float32
 * when want == QDB_F32, int64 when want == QDB_I64. */
qdb_tensor *qdb_npy_read(const char *path, qdb_dtype want, qdb_err *e);
/* Streaming access (datasets read one batch at a time). */
typedef struct qdb_npy_info {
    char kind;          /* 'f' float, 'i' signed int, 'u' unsigned int, 'b' bool */
    int elem_size;      /* bytes per element: 1, 2, 4 or 8 (little-endian) */
    qdb_shape shape;
    size_t numel;
    long data_offset;   /* byte offset of the first element */
} qdb_npy_info;

/* Read and check the header of the .npy file open in `f` (at its start),
 * leaving `f` at the first data byte. A regular file must hold exactly the
 * data the header promises (checked here, from its size). Messages name
 * `path`. */
qdb_status qdb_npy_read_header(FILE *f, const char *path, qdb_npy_info *info, qdb_err *e);

/* Write atomically (temporary file, fsync, rename). */
qdb_status qdb_npy_write(const char *path, const qdb_tensor *t, qdb_err *e);

#endif
