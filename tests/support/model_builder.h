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
void mb_free(mb *m);
void mb_input(mb *m, const char *name, int elem_type, int ndim, const int64_t *dims);
void mb_output(mb *m, const char *name);
void mb_init_f(mb *m, const char *name, int ndim, const int64_t *dims, const float *data);
void mb_init_i(mb *m, const char *name, int ndim, const int64_t *dims, const int64_t *data);
/* Inputs and outputs as comma-separated names ("x,w,b"); empty entries are
 * absent optional inputs. */
void mb_node(mb *m, const char *op, const char *name, const char *inputs, const char *outputs);
/* Attributes of the last node added. */
void mb_attr_i(mb *m, const char *name, int64_t v);
void mb_attr_f(mb *m, const char *name, float v);
void mb_attr_ints(mb *m, const char *name, int n, const int64_t *v);
/* Serialize; caller frees the buffer with free(). */
uint8_t *mb_pack(mb *m, size_t *len);
/* Serialize into a file; returns 0 on success. */
int mb_save(mb *m, const char *path);

#endif
