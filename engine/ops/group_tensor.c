/* group_tensor.c - the table of the "tensor" operator family (see op.h):
 * shapes and layout, selection, constants, casts and resizing. */
#include "op.h"

/* reshape.c */
extern const qdb_op qdb_op_reshape, qdb_op_flatten, qdb_op_squeeze, qdb_op_unsqueeze,
    qdb_op_identity, qdb_op_dropout;
/* transpose.c */
extern const qdb_op qdb_op_transpose, qdb_op_depth_to_space, qdb_op_space_to_depth;
/* concat_split.c, slice.c, gather.c, pad.c */
extern const qdb_op qdb_op_concat, qdb_op_split, qdb_op_slice, qdb_op_gather,
    qdb_op_gather_elements, qdb_op_pad;
/* constant.c */
extern const qdb_op qdb_op_constant, qdb_op_constant_of_shape, qdb_op_shape, qdb_op_size,
    qdb_op_range;
/* cast.c, expand.c, resize.c */
extern const qdb_op qdb_op_cast, qdb_op_expand, qdb_op_tile, qdb_op_resize, qdb_op_upsample;

const qdb_op *const qdb_ops_tensor[] = {
    &qdb_op_reshape,
    &qdb_op_flatten,
    &qdb_op_squeeze,
    &qdb_op_unsqueeze,
    &qdb_op_identity,
    &qdb_op_dropout,
    &qdb_op_transpose,
    &qdb_op_depth_to_space,
    &qdb_op_space_to_depth,
    &qdb_op_concat,
    &qdb_op_split,
    &qdb_op_slice,
    &qdb_op_gather,
    &qdb_op_gather_elements,
    &qdb_op_pad,
    &qdb_op_constant,
    &qdb_op_constant_of_shape,
    &qdb_op_shape,
    &qdb_op_size,
    &qdb_op_range,
    &qdb_op_cast,
    &qdb_op_expand,
    &qdb_op_tile,
    &qdb_op_resize,
    &qdb_op_upsample,
    NULL,
};
