/* onnx_import.h - reads an ONNX ModelProto (through protobuf-c code generated
 * from Debian's onnx.proto) into a qdb_graph, then prepares it: operators
 * resolved (every unsupported one reported at once), shapes inferred, shape
 * arithmetic folded into constants, dead nodes pruned. */
#ifndef QDB_ONNX_IMPORT_H
#define QDB_ONNX_IMPORT_H

#include "graph.h"

typedef struct qdb_load_opts {
    /* Skip the whole preparation (operators, shapes, folding): the raw graph
     * as in the file. For tools that only list what a model contains. */
    int raw;
} qdb_load_opts;

/* Load and prepare `path`. Returns NULL with `e` filled on failure; the
 * message names the file, and the node where one is at fault. */
qdb_graph *qdb_onnx_load(const char *path, const qdb_load_opts *opts, qdb_err *e);
/* Same from memory (`what` names the source in messages). */
qdb_graph *qdb_onnx_load_buffer(const void *buf, size_t len, const char *what,
                                const qdb_load_opts *opts, qdb_err *e);

/* Read a serialized TensorProto file (ONNX test data input_N.pb). Element
 * types are converted: floating types to float32, integer types to int64;
 * others are QDB_ERR_UNSUPPORTED. `name` (optional) receives a malloc'd copy
 * of the tensor's name. */
qdb_tensor *qdb_onnx_load_tensor(const char *path, char **name, qdb_err *e);

/* Read a whole file into memory with a size limit; caller frees *buf. */
qdb_status qdb_read_file(const char *path, size_t max, void **buf, size_t *len, qdb_err *e);

#endif
