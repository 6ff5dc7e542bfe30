/* tensor_util.c - helpers of the "tensor" operator family (see tensor_util.h). */
#include "tensor_util.h"

#include <string.h>

#define TILE 32

/* Tiles of the 2-D transposition between dimension j (source stride 1) and
 * the last dimension (destination stride 1), for every index of the other
 * dimensions. d, s: merged dimensions and source strides (m of them). */
#define TILED_LOOP(T)                                                                              \
    do {                                                                                           \
        const T *sp = (const T *)src + soff;                                                       \
        T *dp = (T *)dst + doff;                                                                   \
        for (int64_t a0 = 0; a0 < na; a0 += TILE)                                                  \
            for (int64_t b0 = 0; b0 < nb; b0 += TILE) {                                            \
                const int64_t a1 = a0 + TILE < na ? a0 + TILE : na;                                \
                const int64_t b1 = b0 + TILE < nb ? b0 + TILE : nb;                                \
                for (int64_t b = b0; b < b1; b++)                                                  \
                    for (int64_t a = a0; a < a1; a++)                                              \
                        dp[a * dsa + b] = sp[a + b * ssb];                                         \
            }                                                                                      \
    } while (0)

static void tiled_copy(void *dst, const void *src, size_t esize, int m, const int64_t *d,
                       const int64_t *s, int j)
{
    int64_t ds[QDB_COPY_MAX_DIMS];
    ds[m - 1] = 1;
    for (int i = m - 2; i >= 0; i--)
        ds[i] = ds[i + 1] * d[i + 1];
    const int64_t na = d[j], nb = d[m - 1], dsa = ds[j], ssb = s[m - 1];
    /* The other dimensions, walked with an odometer. */
    int64_t od[QDB_COPY_MAX_DIMS], os[QDB_COPY_MAX_DIMS], odst[QDB_COPY_MAX_DIMS];
    int no = 0;
    for (int i = 0; i < m - 1; i++)
        if (i != j) {
            od[no] = d[i];
            os[no] = s[i];
            odst[no] = ds[i];
            no++;
        }
    int64_t idx[QDB_COPY_MAX_DIMS] = {0}, soff = 0, doff = 0;
    for (;;) {
        if (esize == 4)
            TILED_LOOP(uint32_t);
        else
            TILED_LOOP(uint64_t);
        int i = no - 1;
        for (; i >= 0; i--) {
            soff += os[i];
            doff += odst[i];
            if (++idx[i] < od[i])
                break;
            soff -= os[i] * od[i];
            doff -= odst[i] * od[i];
            idx[i] = 0;
        }
        if (i < 0)
            return;
    }
}

void qdb_strided_copy(void *dst, const void *src, size_t esize, int nd, const int64_t *dims,
                      const int64_t *strides)
{
    int64_t d[QDB_COPY_MAX_DIMS], s[QDB_COPY_MAX_DIMS];
    int m = 0;
    for (int i = 0; i < nd; i++) {
        if (dims[i] == 0)
            return;
        if (dims[i] == 1)
            continue;
        if (m > 0 && s[m - 1] == strides[i] * dims[i]) {
            d[m - 1] *= dims[i];
            s[m - 1] = strides[i];
            continue;
        }
        d[m] = dims[i];
        s[m] = strides[i];
        m++;
    }
    if (m == 0) {
        memcpy(dst, src, esize);
        return;
    }
    const int64_t inner = d[m - 1], is = s[m - 1];
    if (is != 1 && is != 0 && m >= 2) {
        /* A transposition: when another dimension is contiguous in the
         * source, copy in tiles so both sides stay in cache. */
        for (int j = m - 2; j >= 0; j--)
            if (s[j] == 1 && d[j] * inner >= 1024) {
                tiled_copy(dst, src, esize, m, d, s, j);
                return;
            }
    }
    int64_t idx[QDB_COPY_MAX_DIMS] = {0};
    const char *base = src;
    char *o = dst;
    int64_t off = 0; /* source offset of the current row, elements */
    for (;;) {
        const char *p = base + off * (int64_t)esize;
        if (is == 1) {
            memcpy(o, p, (size_t)inner * esize);
        } else if (esize == 4) {
            const uint32_t *q = (const uint32_t *)(const void *)p;
            uint32_t *w = (uint32_t *)(void *)o;
            if (is == 0) {
                uint32_t v = q[0];
                for (int64_t k = 0; k < inner; k++)
                    w[k] = v;
            } else {
                for (int64_t k = 0; k < inner; k++)
                    w[k] = q[k * is];
            }
        } else {
            const uint64_t *q = (const uint64_t *)(const void *)p;
            uint64_t *w = (uint64_t *)(void *)o;
            if (is == 0) {
                uint64_t v = q[0];
                for (int64_t k = 0; k < inner; k++)
                    w[k] = v;
            } else {
                for (int64_t k = 0; k < inner; k++)
                    w[k] = q[k * is];
            }
        }
        o += (size_t)inner * esize;
        int i = m - 2;
        for (; i >= 0; i--) {
            off += s[i];
            if (++idx[i] < d[i])
                break;
            off -= s[i] * d[i];
            idx[i] = 0;
        }
        if (i < 0)
            return;
    }
}

qdb_status qdb_const_ints(const qdb_node *n, const qdb_tensor *t, const char *what, int64_t *buf,
                          int max, int *count, qdb_err *e)
{
    if (!t->data.p)
        return qdb_err_set(e, QDB_ERR_DYNAMIC, "%s: input '%s' is known only at run time",
                           n->op_type, what);
    if (t->dtype != QDB_I64)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input '%s' must be an integer tensor, not %s",
                           n->op_type, what, qdb_dtype_name(t->dtype));
    if (t->shape.ndim > 1)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input '%s' must be 1-D, not of rank %d",
                           n->op_type, what, t->shape.ndim);
    if (t->numel > (size_t)max)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: input '%s' has %zu elements (at most %d)",
                           n->op_type, what, t->numel, max);
    memcpy(buf, t->data.i, t->numel * sizeof *buf);
    *count = (int)t->numel;
    return QDB_OK;
}

qdb_status qdb_out_set(const qdb_node *n, qdb_tensor *out, qdb_dtype t, const qdb_shape *s,
                       qdb_err *e)
{
    size_t numel;
    qdb_status st = qdb_shape_numel(s, &numel, e);
    if (st != QDB_OK) {
        qdb_err_prefix(e, "%s: output: ", n->op_type);
        return st;
    }
    out->dtype = t;
    out->shape = *s;
    out->numel = numel;
    return QDB_OK;
}

int64_t qdb_dims_prod(const int64_t *dims, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= dims[i];
    return p;
}
