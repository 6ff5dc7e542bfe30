/* op_registry.c - looks operators up across the group tables (see op.h). */
#include "op.h"

#include <string.h>

static const qdb_op *const *const groups[] = {qdb_ops_nn, qdb_ops_math, qdb_ops_tensor,
                                              qdb_ops_logic};

const qdb_op *qdb_op_find(const char *op_type, const char *domain)
{
    if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0)
        return NULL;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (const qdb_op *const *op = groups[g]; *op; op++)
            if (strcmp((*op)->type, op_type) == 0)
                return *op;
    return NULL;
}

int qdb_op_list(const char **names, int max)
{
    int n = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (const qdb_op *const *op = groups[g]; *op; op++) {
            if (n < max)
                names[n] = (*op)->type;
            n++;
        }
    return n;
}

qdb_status qdb_op_axis(const qdb_node *n, int64_t axis, int rank, int *out, qdb_err *e)
{
    if (axis < -rank || axis >= rank)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: axis %lld out of range for rank %d",
                           n->op_type, (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return QDB_OK;
}
