/* conv.h - the Conv operator as a fused group's producer (see
 * fusion.h): a constant Pad folded into a depthwise Conv, and a pointwise
 * chain run on each output image while it is in cache. */
#ifndef QDB_OPS_CONV_H
#define QDB_OPS_CONV_H

#include "graph.h"
#include "pw_chain.h"

typedef struct qdb_conv_fuse {
    int pad;                  /* X is unpadded: a constant Pad is folded in */
    int64_t pad_begin[2];     /* its spatial pads (H, W) */
    int64_t pad_end[2];
    float pad_value;
    const qdb_pw_chain *chain; /* NULL: none */
    const struct qdb_conv_q8 *q8; /* integer plan (conv_q8.h) for X and W as
                                   * they are now; NULL: float. Used when it
                                   * fits the geometry and nothing is folded. */
} qdb_conv_fuse;

/* Run Conv node n on `in` (its X, W and optional B) with what `f` adds:
 * bit-identical to the Pad, the Conv and the chain's nodes run one by one
 * (with f->q8, to the integer Conv and the chain).
 * A folded Pad needs a depthwise 2-D Conv without padding of its own.
 * *out receives a new tensor. */
qdb_status qdb_conv_run_fused(const qdb_node *n, const qdb_tensor *const *in,
                              const qdb_conv_fuse *f, qdb_tensor **out, qdb_err *e);

#endif
