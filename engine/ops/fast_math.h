/* fast_math.h - helpers for the hot loops of the "math" operator family
 * (unary.c, softmax.c): an expf that compilers can vectorize, and a loop
 * shape that GCC's -O2 ("very cheap") vectorizer accepts.
 *
 * fast_expf: Cephes-style range reduction x = n*ln2 + r, |r| <= ln2/2, a
 * degree-6 polynomial for e^r and 2^n built from exponent bits. Relative
 * error under 2 ulp wherever the result is a normal float above 2.4e-38;
 * smaller results may flush to 0 (absolute error < 2.4e-38, negligible for
 * the sigmoid / softmax it serves); overflow gives +inf, NaN passes. Not used for the Exp
 * operator itself, which keeps libm's expf. */
#ifndef QDB_OPS_FAST_MATH_H
#define QDB_OPS_FAST_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* v, hidden from the optimizer. A select between a computed value and a
 * literal (a clamp bound, the 1 of x * (x < 0 ? slope : 1)) lets GCC fold
 * the literal case, which turns the loop body into branches it will not
 * vectorize; an opaque value, fetched once before the loop, prevents it. */
static inline float opaque_f(float v)
{
#if defined(__GNUC__)
    __asm__("" : "+m"(v));
#endif
    return v;
}

/* The bounds of fast_expf's input clamp (opaque, see above). */
typedef struct {
    float lo, hi;
} fexp_clamp;

static inline fexp_clamp fexp_clamp_get(void)
{
    fexp_clamp c = {opaque_f(-87.0f), opaque_f(89.0f)};
    return c;
}

static inline float fast_expf(float x, fexp_clamp c)
{
    /* Clamp (NaN passes). Below -87 the scale 2^(n-1) becomes +0, above
     * 88.72 the product overflows to inf: no fix-ups after the arithmetic,
     * which would turn it into branches GCC cannot vectorize. */
    float xc = x < c.lo ? c.lo : x;
    xc = xc > c.hi ? c.hi : xc;
    /* round to nearest by the 1.5*2^23 trick (exact for |v| < 2^22) */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    /* n in [-126, 128] (NaN -> 0: y is NaN anyway); 2^(n-1) from its
     * exponent bits (n = -126 gives +0), then times 2 */
    float nn = n == n ? n : 0.0f;
    uint32_t bits = (uint32_t)((int32_t)nn + 126) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return y * s * 2.0f;
}

/* min(max(v, 0), 1) as selects (vectorizable; fminf/fmaxf are calls). NaN
 * passes through. */
static inline float clamp01(float v)
{
    v = v < 0.0f ? 0.0f : v;
    return v > 1.0f ? 1.0f : v;
}

/* for (i = 0; i < n; i++) BODY, where iteration i reads and writes only
 * element i (output may be the input itself, never overlap otherwise). In
 * blocks of 16 with a fixed trip count and no loop-carried dependence
 * (ivdep), so GCC vectorizes it even under its -O2 cost model. */
#if defined(__GNUC__) && !defined(__clang__)
#define QDB_IVDEP _Pragma("GCC ivdep")
#else
#define QDB_IVDEP
#endif
#define QDB_VLOOP(i, n, BODY)                                                                      \
    do {                                                                                           \
        size_t i##_b = 0, i##_n = (size_t)(n);                                                     \
        for (; i##_b + 16 <= i##_n; i##_b += 16)                                                   \
            QDB_IVDEP                                                                              \
            for (size_t i = i##_b; i < i##_b + 16; i++) {                                          \
                BODY;                                                                              \
            }                                                                                      \
        for (size_t i = i##_b; i < i##_n; i++) {                                                   \
            BODY;                                                                              \
        }                                                                                          \
    } while (0)

#endif
