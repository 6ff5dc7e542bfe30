/* pad.h - the Pad operator's padding as a fused group reads it (see
 * fusion.h), to fold a constant Pad into the Conv that follows. */
#ifndef QDB_OPS_PAD_H
#define QDB_OPS_PAD_H

#include "graph.h"

/* For a Pad node on `in` that pads a float NCHW tensor's height and width
 * only, by non-negative amounts, with a constant: the begin / end pads of
 * H and W (pb[2], pe[2]) and the value. Any other padding:
 * QDB_ERR_UNSUPPORTED. */
qdb_status qdb_pad_constant_spatial(const qdb_node *n, const qdb_tensor *const *in,
                                    int64_t *pb, int64_t *pe, float *value, qdb_err *e);

#endif
