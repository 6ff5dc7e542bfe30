/* model_builder.h - builds small ONNX models in memory for the tests, through
 * the same protobuf-c messages the importer reads, so tests can state a
 * graph in a few lines and check the importer's and executor's behaviour. */
#ifndef QDB_TEST_MODEL_BUILDER_H
#define QDB_TEST_MODEL_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct mb mb;

#define MB_FLOAT 1
#define MB_INT64 7
#define MB_STRING 8
#define MB_N (-1) /* a free (batch) dimension in mb_input */

mb *mb_new(int opset);
/* Another opset import (domain, version), after the default domain's. */
void mb_opset(mb *m, const char *domain, int version);
/* The domain of the last node added. */
void mb_domain(mb *m, const char *domain);
void mb_free(mb *m);
void mb_input(mb *m, const char *name, int elem_type, int ndim, const int64_t *dims);
void mb_output(mb *m, const char *name);
void mb_init_f(mb *m, const char *name, int ndim, const int64_t *dims, const float *data);
void mb_init_i(mb *m, const char *name, int ndim, const int64_t *dims, const int64_t *data);
/* An initializer of ONNX element type `elem` whose raw_data is exactly the
 * `len` bytes given, whatever the shape says (for malformed-file tests);
 * raw == NULL gives a tensor with no data field at all. */
void mb_init_raw(mb *m, const char *name, int elem, int ndim, const int64_t *dims,
                 const void *raw, size_t len);
/* Inputs and outputs as comma-separated names ("x,w,b"); empty entries are
 * absent optional inputs. */
void mb_node(mb *m, const char *op, const char *name, const char *inputs, const char *outputs);
/* Attributes of the last node added. */
void mb_attr_i(mb *m, const char *name, int64_t v);
void mb_attr_f(mb *m, const char *name, float v);
void mb_attr_ints(mb *m, const char *name, int n, const int64_t *v);
void mb_attr_floats(mb *m, const char *name, int n, const float *v);
void mb_attr_s(mb *m, const char *name, const char *v);
/* A tensor attribute of float (elem MB_FLOAT, data f) or int64 (MB_INT64, data i). */
void mb_attr_t(mb *m, const char *name, int elem, int ndim, const int64_t *dims, const float *f,
               const int64_t *i);
/* Serialize; caller frees the buffer with free(). */
uint8_t *mb_pack(mb *m, size_t *len);
/* Serialize into a file; returns 0 on success. */
int mb_save(mb *m, const char *path);

#endif
