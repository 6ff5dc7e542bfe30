/* cumsum.c - CumSum: running sums along one axis (given as an input), in
 * either direction, inclusive or exclusive; float32 (summed in float32, in
 * order, like onnxruntime and PyTorch) and int64 (wrapping). */
#include <string.h>

#include "logic_util.h"
#include "op.h"
#include "tensor_util.h"

static qdb_status cumsum_check(const qdb_node *n, qdb_err *e)
{
    qdb_status s = qdb_logic_inputs(n, 2, 2, e);
    if (s != QDB_OK)
        return s;
    int64_t ex = qdb_attr_int(n, "exclusive", 0), rev = qdb_attr_int(n, "reverse", 0);
    if ((ex != 0 && ex != 1) || (rev != 0 && rev != 1))
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "CumSum: exclusive=%lld, reverse=%lld, expected 0 or 1", (long long)ex,
                           (long long)rev);
    return QDB_OK;
}

/* The axis, when its value is known (*known = 0 otherwise). */
static qdb_status get_axis(const qdb_node *n, const qdb_tensor *x, const qdb_tensor *ax, int *axis,
                           int *known, qdb_err *e)
{
    *known = 0;
    if (ax->dtype != QDB_I64)
        return qdb_err_set(e, QDB_ERR_INVALID, "CumSum: 'axis' must be an integer, not %s",
                           qdb_dtype_name(ax->dtype));
    if (ax->numel != 1 || ax->shape.ndim > 1)
        return qdb_err_set(e, QDB_ERR_INVALID, "CumSum: 'axis' must be a scalar");
    if (!ax->data.p)
        return QDB_OK;
    qdb_status s = qdb_op_axis(n, ax->data.i[0], x->shape.ndim, axis, e);
    if (s == QDB_OK)
        *known = 1;
    return s;
}

static qdb_status cumsum_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                               qdb_err *e)
{
    const qdb_tensor *x = in[0], *ax = qdb_op_in(n, in, 1);
    if (!ax)
        return qdb_err_set(e, QDB_ERR_INVALID, "CumSum: input 'axis' is missing");
    if (x->shape.ndim < 1)
        return qdb_err_set(e, QDB_ERR_INVALID, "CumSum: input must have rank >= 1");
    int axis, known;
    qdb_status s = get_axis(n, x, ax, &axis, &known, e);
    if (s != QDB_OK)
        return s;
    return qdb_out_set(n, &out[0], x->dtype, &x->shape, e);
}

/* y[j] = y[j -/+ 1] + x[j or its neighbour], rows of `inner` contiguous values
 * at distance `inner`. */
#define SCAN(T, ADD)                                                                               \
    do {                                                                                           \
        const T *xs = (const T *)x->data.p;                                                        \
        T *ys = (T *)y->data.p;                                                                    \
        for (int64_t o = 0; o < outer; o++) {                                                      \
            const T *xb = xs + o * len * inner;                                                    \
            T *yb = ys + o * len * inner;                                                          \
            for (int64_t step = 0; step < len; step++) {                                           \
                const int64_t j = rev ? len - 1 - step : step;                                     \
                const int64_t prev = rev ? j + 1 : j - 1;                                          \
                T *yr = yb + j * inner;                                                            \
                if (step == 0) {                                                                   \
                    if (ex)                                                                        \
                        memset(yr, 0, (size_t)inner * sizeof(T));                                  \
                    else                                                                           \
                        memcpy(yr, xb + j * inner, (size_t)inner * sizeof(T));                     \
                    continue;                                                                      \
                }                                                                                  \
                const T *yp = yb + prev * inner;                                                   \
                const T *xr = xb + (ex ? prev : j) * inner;                                        \
                for (int64_t i = 0; i < inner; i++)                                                \
                    yr[i] = ADD(yp[i], xr[i]);                                                     \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define FADD(a, b) ((a) + (b))
#define IADD(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))

static qdb_status cumsum_forward(const qdb_node *n, const qdb_tensor *const *in,
                                 qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    qdb_tensor *y = out[0];
    int axis, known;
    qdb_status s = get_axis(n, x, in[1], &axis, &known, e);
    if (s != QDB_OK)
        return s;
    if (!known)
        return qdb_err_set(e, QDB_ERR_INVALID, "CumSum: the value of 'axis' is missing");
    const int ex = qdb_attr_int(n, "exclusive", 0) != 0, rev = qdb_attr_int(n, "reverse", 0) != 0;
    const int64_t outer = qdb_dims_prod(x->shape.d, 0, axis), len = x->shape.d[axis],
                  inner = qdb_dims_prod(x->shape.d, axis + 1, x->shape.ndim);
    if (y->numel == 0)
        return QDB_OK;
    if (x->dtype == QDB_F32)
        SCAN(float, FADD);
    else
        SCAN(int64_t, IADD);
    return QDB_OK;
}

const qdb_op qdb_logic_cumsum = {
    .type = "CumSum",
    .check = cumsum_check,
    .infer = cumsum_infer,
    .forward = cumsum_forward,
};
