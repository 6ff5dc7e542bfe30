/* group_nn.c - the table of the "nn" operator family (see op.h). */
#include "op.h"

const qdb_op *const qdb_ops_nn[] = {
    NULL,
};
