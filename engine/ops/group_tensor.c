/* group_tensor.c - the table of the "tensor" operator family (see op.h). */
#include "op.h"

const qdb_op *const qdb_ops_tensor[] = {
    NULL,
};
