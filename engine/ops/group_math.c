/* group_math.c - the table of the "math" operator family (see op.h). */
#include "op.h"

const qdb_op *const qdb_ops_math[] = {
    NULL,
};
