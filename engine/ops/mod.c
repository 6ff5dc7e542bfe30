/* mod.c - Mod: the broadcasting remainder. fmod = 0 takes the sign of the
 * divisor (Python / numpy.mod, floored division), fmod = 1 the sign of the
 * dividend (C fmod, truncated division). int64 and float32 alike; for float
 * with fmod = 0, which the ONNX spec disallows, numpy's result is given (what
 * ONNX's reference implementation computes). An integer remainder by zero is
 * an error. */
#include <math.h>
#include <string.h>

#include "logic_util.h"
#include "op.h"
#include "tensor_util.h"

static qdb_status mod_check(const qdb_node *n, qdb_err *e)
{
    qdb_status s = qdb_logic_inputs(n, 2, 2, e);
    if (s != QDB_OK)
        return s;
    int64_t f = qdb_attr_int(n, "fmod", 0);
    if (f != 0 && f != 1)
        return qdb_err_set(e, QDB_ERR_INVALID, "Mod: fmod=%lld, expected 0 or 1", (long long)f);
    return QDB_OK;
}

static qdb_status mod_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                            qdb_err *e)
{
    const qdb_tensor *a = qdb_op_in(n, in, 0), *b = qdb_op_in(n, in, 1);
    if (!a || !b)
        return qdb_err_set(e, QDB_ERR_INVALID, "Mod: needs two inputs");
    if (a->dtype != b->dtype)
        return qdb_err_set(e, QDB_ERR_INVALID, "Mod: input types %s and %s differ",
                           qdb_dtype_name(a->dtype), qdb_dtype_name(b->dtype));
    const qdb_shape *sh[2] = {&a->shape, &b->shape};
    qdb_shape o;
    qdb_status s = qdb_logic_bcast(n, sh, 2, &o, e);
    if (s != QDB_OK)
        return s;
    return qdb_out_set(n, &out[0], a->dtype, &o, e);
}

/* Truncated remainder; y == -1 would trap on INT64_MIN. y != 0. */
static inline int64_t irem(int64_t x, int64_t y)
{
    return y == -1 ? 0 : x % y;
}

static inline int64_t imod(int64_t x, int64_t y)
{
    int64_t r = irem(x, y);
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}

static inline float fmod_floor(float x, float y)
{
    float r = fmodf(x, y);
    if (r != 0.0f && ((r < 0.0f) != (y < 0.0f)))
        r += y;
    return r;
}

#define RUN(T, EXPR)                                                                               \
    do {                                                                                           \
        for (int64_t i = 0; i < w.inner; i++) {                                                    \
            const T x = a[i * ua], y = b[i * ub];                                                  \
            o[i] = (EXPR);                                                                         \
        }                                                                                          \
    } while (0)

static qdb_status mod_forward(const qdb_node *n, const qdb_tensor *const *in,
                              qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *A = in[0], *B = in[1];
    qdb_tensor *O = out[0];
    const int trunc = qdb_attr_int(n, "fmod", 0) != 0;
    if (B->dtype == QDB_I64)
        for (size_t k = 0; k < B->numel; k++)
            if (B->data.i[k] == 0 && O->numel)
                return qdb_err_set(e, QDB_ERR_INVALID, "Mod: integer remainder by zero");
    const qdb_shape *sh[2] = {&A->shape, &B->shape};
    qdb_bwalk w;
    qdb_bwalk_init(&w, &O->shape, sh, 2);
    const int64_t ua = w.unit[0], ub = w.unit[1];
    for (size_t r = 0; r < w.runs; r++, qdb_bwalk_next(&w)) {
        if (O->dtype == QDB_F32) {
            const float *a = A->data.f + w.off[0], *b = B->data.f + w.off[1];
            float *o = O->data.f + r * (size_t)w.inner;
            if (trunc)
                RUN(float, fmodf(x, y));
            else
                RUN(float, fmod_floor(x, y));
        } else {
            const int64_t *a = A->data.i + w.off[0], *b = B->data.i + w.off[1];
            int64_t *o = O->data.i + r * (size_t)w.inner;
            if (trunc)
                RUN(int64_t, irem(x, y));
            else
                RUN(int64_t, imod(x, y));
        }
    }
    return QDB_OK;
}

const qdb_op qdb_logic_mod = {
    .type = "Mod",
    .check = mod_check,
    .infer = mod_infer,
    .forward = mod_forward,
};
