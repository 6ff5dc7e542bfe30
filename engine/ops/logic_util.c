/* logic_util.c - helpers of the "logic" operator family (see logic_util.h). */
#include "logic_util.h"

#include <string.h>

#include "broadcast.h"

void qdb_bwalk_init(qdb_bwalk *w, const qdb_shape *out, const qdb_shape *const *in, int n)
{
    int64_t st[QDB_BWALK_MAX][QDB_MAX_DIMS];
    memset(w, 0, sizeof *w);
    w->n = n;
    size_t total = 1;
    for (int i = 0; i < out->ndim; i++)
        total *= (size_t)out->d[i];
    for (int k = 0; k < n; k++)
        qdb_broadcast_strides(in[k], out, st[k]);
    for (int i = 0; i < out->ndim; i++) {
        int64_t d = out->d[i];
        if (d == 1)
            continue;
        if (w->nd > 0) {
            int j = w->nd - 1, same = 1;
            for (int k = 0; k < n; k++)
                same &= w->st[k][j] == st[k][i] * d;
            if (same) {
                w->dims[j] *= d;
                for (int k = 0; k < n; k++)
                    w->st[k][j] = st[k][i];
                continue;
            }
        }
        w->dims[w->nd] = d;
        for (int k = 0; k < n; k++)
            w->st[k][w->nd] = st[k][i];
        w->nd++;
    }
    if (w->nd == 0) {
        w->nd = 1;
        w->dims[0] = 1;
    }
    w->inner = w->dims[w->nd - 1];
    for (int k = 0; k < n; k++)
        w->unit[k] = w->st[k][w->nd - 1] != 0;
    w->runs = w->inner ? total / (size_t)w->inner : 0;
}

void qdb_bwalk_next(qdb_bwalk *w)
{
    for (int d = w->nd - 2; d >= 0; d--) {
        for (int k = 0; k < w->n; k++)
            w->off[k] += w->st[k][d];
        if (++w->idx[d] < w->dims[d])
            return;
        for (int k = 0; k < w->n; k++)
            w->off[k] -= w->st[k][d] * w->dims[d];
        w->idx[d] = 0;
    }
}

qdb_status qdb_logic_bcast(const qdb_node *n, const qdb_shape *const *shapes, int count,
                           qdb_shape *out, qdb_err *e)
{
    qdb_status s = qdb_broadcast_shape(shapes, count, out, e);
    if (s != QDB_OK)
        qdb_err_prefix(e, "%s: ", n->op_type);
    return s;
}

qdb_status qdb_logic_inputs(const qdb_node *n, int need, int max, qdb_err *e)
{
    if (n->n_in < need || n->n_in > max)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: %d inputs, expected %d..%d", n->op_type,
                           n->n_in, need, max);
    for (int i = 0; i < need; i++)
        if (n->in[i] < 0)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: input %d is missing", n->op_type, i);
    return QDB_OK;
}
