/* quantizer.h - the fake quantizers: quantization parameters (threshold or
 * range, bits, signedness), the grid they define and the rounding of
 * values onto it, exactly as MCT's quantizers do.
 *
 *   power of two / symmetric, threshold t, n bits, s = 1 if signed else 0:
 *       step D = t / 2^(n - s), grid lo = -t*s, levels 2^n, hi = lo + (2^n - 1) D
 *       (signed: [-t, t - D]; unsigned: [0, t - D])
 *   uniform, range [a, b]: the range is first moved so that 0 lies on the
 *       grid (a > 0 -> [0, b]; b < 0 -> [a, 0]; else a is rounded to a
 *       multiple of the step and b moves with it), then D = (b - a) / (2^n - 1)
 *   q(x) = lo + D * clamp(round((x - lo) / D), 0, 2^n - 1), round half to even. */
#ifndef QDB_QUANTIZER_H
#define QDB_QUANTIZER_H

#include <math.h>
#include <stddef.h>

#include "quant_config.h"

typedef struct qdb_qparams {
    qdb_quant_method method;
    int n_bits;
    int is_signed;       /* POWER_OF_TWO / SYMMETRIC */
    double threshold;    /* POWER_OF_TWO / SYMMETRIC */
    double min, max;     /* UNIFORM: the range before the zero-point fix */
} qdb_qparams;

typedef struct qdb_qgrid {
    float lo;            /* smallest grid value */
    float delta;         /* step */
    float levels_m1;     /* 2^n - 1 */
    float inv_delta;     /* 1 / delta when delta is a power of two (then
                            x * inv_delta == x / delta exactly), else 0 */
} qdb_qgrid;

/* The grid of a set of parameters. */
qdb_qgrid qdb_qgrid_make(const qdb_qparams *p);
static inline float qdb_qgrid_hi(const qdb_qgrid *g) { return g->lo + g->delta * g->levels_m1; }

static inline float qdb_quantize1(const qdb_qgrid *g, float x)
{
    float k = nearbyintf((x - g->lo) / g->delta);
    k = k < 0.0f ? 0.0f : (k > g->levels_m1 ? g->levels_m1 : k);
    return g->lo + g->delta * k;
}

/* Quantize n values in place; returns how many were clipped (outside the
 * grid's range by more than half a step). */
size_t qdb_quantize_inplace(const qdb_qgrid *g, float *x, size_t n);
/* The same without the count (the simulation's inner loop). */
void qdb_quantize_fast(const qdb_qgrid *g, float *x, size_t n);
/* Quantize src into dst (n values). */
void qdb_quantize(const qdb_qgrid *g, const float *src, float *dst, size_t n);

/* 2^ceil(log2(x)) for x > 0 (the power of two at or above x). */
double qdb_pow2_ceil(double x);

#endif
