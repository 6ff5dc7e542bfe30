/* broadcast.c - multidirectional broadcasting (see broadcast.h). */
#include "broadcast.h"

#include <string.h>

qdb_status qdb_broadcast_shape(const qdb_shape *const *shapes, int n, qdb_shape *out, qdb_err *e)
{
    int rank = 0;
    for (int k = 0; k < n; k++)
        if (shapes[k]->ndim > rank)
            rank = shapes[k]->ndim;
    memset(out, 0, sizeof *out);
    out->ndim = rank;
    for (int i = 0; i < rank; i++) {
        int64_t d = 1;
        for (int k = 0; k < n; k++) {
            int j = i - (rank - shapes[k]->ndim);
            if (j < 0)
                continue;
            int64_t dk = shapes[k]->d[j];
            if (dk == 1)
                continue;
            if (d != 1 && d != dk) {
                char a[128], b[128];
                return qdb_err_set(e, QDB_ERR_SHAPE, "shapes %s and %s cannot be broadcast",
                                   qdb_shape_str(shapes[0], a, sizeof a),
                                   qdb_shape_str(shapes[k], b, sizeof b));
            }
            d = dk;
        }
        out->d[i] = d;
    }
    return QDB_OK;
}

void qdb_broadcast_strides(const qdb_shape *in, const qdb_shape *out, int64_t *strides)
{
    int64_t st[QDB_MAX_DIMS];
    qdb_shape_strides(in, st);
    int shift = out->ndim - in->ndim;
    for (int i = 0; i < out->ndim; i++) {
        int j = i - shift;
        strides[i] = (j < 0 || in->d[j] == 1) ? 0 : st[j];
    }
}

void qdb_bcast_init(qdb_bcast_iter *it, const qdb_shape *out, const qdb_shape *const *in, int n)
{
    memset(it, 0, sizeof *it);
    it->ndim = out->ndim;
    it->n = n;
    for (int i = 0; i < out->ndim; i++)
        it->dims[i] = out->d[i];
    for (int k = 0; k < n && k < QDB_BCAST_MAX; k++)
        qdb_broadcast_strides(in[k], out, it->strides[k]);
}

void qdb_bcast_next(qdb_bcast_iter *it)
{
    for (int i = it->ndim - 1; i >= 0; i--) {
        it->idx[i]++;
        for (int k = 0; k < it->n; k++)
            it->off[k] += it->strides[k][i];
        if (it->idx[i] < it->dims[i])
            return;
        for (int k = 0; k < it->n; k++)
            it->off[k] -= it->strides[k][i] * it->dims[i];
        it->idx[i] = 0;
    }
}
