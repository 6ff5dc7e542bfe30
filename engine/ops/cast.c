/* cast.c - Cast between element types. qdb holds floating types as float32
 * and integer (and bool) types as int64, so Cast reproduces the value
 * changes of the target type on those carriers:
 *   to float/double       float32 (identity on float32 data)
 *   to float16            float32 rounded to float16 precision (nearest,
 *                         ties to even; overflow to infinity)
 *   to (u)int8..64        float input truncated toward zero, then wrapped
 *                         to the target width (two's complement)
 *   to bool               0 / 1
 * Strings, complex numbers, bfloat16 (which the importer does not hold
 * either), float8 and 4-bit types are not supported. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "op.h"
#include "tensor_util.h"

/* TensorProto.DataType values. */
enum {
    T_FLOAT = 1, T_UINT8, T_INT8, T_UINT16, T_INT16, T_INT32, T_INT64, T_STRING, T_BOOL,
    T_FLOAT16, T_DOUBLE, T_UINT32, T_UINT64, T_COMPLEX64, T_COMPLEX128, T_BFLOAT16
};

static const char *const type_names[] = {
    [T_FLOAT] = "FLOAT",     [T_UINT8] = "UINT8",         [T_INT8] = "INT8",
    [T_UINT16] = "UINT16",   [T_INT16] = "INT16",         [T_INT32] = "INT32",
    [T_INT64] = "INT64",     [T_STRING] = "STRING",       [T_BOOL] = "BOOL",
    [T_FLOAT16] = "FLOAT16", [T_DOUBLE] = "DOUBLE",       [T_UINT32] = "UINT32",
    [T_UINT64] = "UINT64",   [T_COMPLEX64] = "COMPLEX64", [T_COMPLEX128] = "COMPLEX128",
    [T_BFLOAT16] = "BFLOAT16",
};

/* The target type of a Cast node (a string before opset 6); -1 if absent
 * or unknown. */
static int cast_to(const qdb_node *n)
{
    const qdb_attr *a = qdb_node_attr(n, "to");
    if (!a)
        return -1;
    if (a->type == QDB_ATTR_INT)
        return a->i > 0 && a->i < 1000 ? (int)a->i : -1;
    if (a->type == QDB_ATTR_STRING && a->s) {
        for (int t = T_FLOAT; t <= T_BFLOAT16; t++)
            if (strcmp(a->s, type_names[t]) == 0)
                return t;
        if (strcmp(a->s, "FLOAT32") == 0)
            return T_FLOAT;
    }
    return -1;
}

static int is_float_type(int t)
{
    return t == T_FLOAT || t == T_DOUBLE || t == T_FLOAT16;
}

static int is_int_type(int t)
{
    return (t >= T_UINT8 && t <= T_INT64) || t == T_BOOL || t == T_UINT32 || t == T_UINT64;
}

static qdb_status cast_check(const qdb_node *n, qdb_err *e)
{
    int t = cast_to(n);
    if (t < 0)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Cast: target type missing or unknown");
    if (!is_float_type(t) && !is_int_type(t))
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Cast: casting to %s is not supported",
                           t < (int)(sizeof type_names / sizeof type_names[0]) && type_names[t]
                               ? type_names[t]
                               : "this type");
    return QDB_OK;
}

static qdb_status cast_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                             qdb_err *e)
{
    qdb_status st = cast_check(n, e);
    if (st != QDB_OK)
        return st;
    return qdb_out_set(n, &out[0], is_float_type(cast_to(n)) ? QDB_F32 : QDB_I64,
                       &in[0]->shape, e);
}

/* float32 -> nearest float16 (ties to even) -> float32. */
static float round_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = x & 0x80000000u, ax = x & 0x7fffffffu;
    uint32_t r;
    if (ax >= 0x7f800000u) { /* inf, nan */
        r = x;
    } else if (ax >= 0x477ff000u) { /* rounds to >= 65520: overflow to inf */
        r = sign | 0x7f800000u;
    } else if (ax < 0x38800000u) { /* below 2^-14: float16 subnormal, step 2^-24 */
        float a = fabsf(f) * 16777216.0f; /* exact (power of two scaling) */
        float q = nearbyintf(a);          /* ties to even in the default mode */
        float v = q / 16777216.0f;
        memcpy(&r, &v, sizeof r);
        r |= sign;
    } else { /* normal: keep 10 mantissa bits, round to nearest even */
        uint32_t lsb = (ax >> 13) & 1u;
        r = sign | ((ax + 0x0fffu + lsb) & ~0x1fffu);
    }
    float out;
    memcpy(&out, &r, sizeof out);
    return out;
}

/* float -> int64, truncating; NaN and out-of-range values saturate
 * (NaN -> INT64_MIN, as x86 conversion does) instead of being undefined. */
static int64_t f2i(float f)
{
    if (f != f)
        return INT64_MIN;
    if (f >= 9.2233720368547758e18f)
        return INT64_MAX;
    if (f < -9.2233720368547758e18f)
        return INT64_MIN;
    return (int64_t)f;
}

static int64_t wrap(int64_t v, int t)
{
    switch (t) {
    case T_UINT8:
        return (int64_t)(uint8_t)v;
    case T_INT8:
        return (int64_t)(int8_t)(uint8_t)v;
    case T_UINT16:
        return (int64_t)(uint16_t)v;
    case T_INT16:
        return (int64_t)(int16_t)(uint16_t)v;
    case T_UINT32:
        return (int64_t)(uint32_t)v;
    case T_INT32:
        return (int64_t)(int32_t)(uint32_t)v;
    case T_BOOL:
        return v != 0;
    default:
        return v;
    }
}

static qdb_status cast_forward(const qdb_node *n, const qdb_tensor *const *in,
                               qdb_tensor *const *out, qdb_err *e)
{
    (void)e;
    const qdb_tensor *x = in[0];
    qdb_tensor *y = out[0];
    const int t = cast_to(n);
    const size_t m = x->numel;
    if (is_float_type(t)) {
        float *o = y->data.f;
        if (x->dtype == QDB_F32) {
            if (m)
                memcpy(o, x->data.f, m * sizeof *o);
        } else {
            for (size_t k = 0; k < m; k++)
                o[k] = (float)x->data.i[k];
        }
        if (t == T_FLOAT16)
            for (size_t k = 0; k < m; k++)
                o[k] = round_half(o[k]);
        return QDB_OK;
    }
    int64_t *o = y->data.i;
    if (x->dtype == QDB_F32) {
        if (t == T_BOOL)
            for (size_t k = 0; k < m; k++)
                o[k] = x->data.f[k] != 0.0f;
        else
            for (size_t k = 0; k < m; k++)
                o[k] = wrap(f2i(x->data.f[k]), t);
    } else if (t == T_INT64 || t == T_UINT64) {
        if (m)
            memcpy(o, x->data.i, m * sizeof *o);
    } else {
        for (size_t k = 0; k < m; k++)
            o[k] = wrap(x->data.i[k], t);
    }
    return QDB_OK;
}

const qdb_op qdb_op_cast = {
    .type = "Cast",
    .check = cast_check,
    .infer = cast_infer,
    .forward = cast_forward,
};
