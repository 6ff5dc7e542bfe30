/* quantizer.c - the fake quantizers' grids (power of two, symmetric,
 * uniform with MCT's zero-point range fix) and the tight loops that round
 * tensors onto them (see quantizer.h). */
#include "quantizer.h"

#include "kernels.h" /* QDB_MULTIVERSION */

#include <float.h>
#include <math.h>

/* 1.5 * 2^23: adding and subtracting it rounds a float of magnitude below
 * 2^22 to an integer, half to even, in the default rounding mode - the same
 * result as nearbyintf, but plain arithmetic that vectorizes. */
#define ROUND_MAGIC 12582912.0f

static int clamp_bits(int n)
{
    return n < 1 ? 1 : (n > 24 ? 24 : n);
}

/* 1 / d when d is a normal power of two (its reciprocal is exact, so a
 * product by it rounds exactly as the quotient does), else 0. */
static float exact_inverse(float d)
{
    int e;
    if (!(d >= FLT_MIN) || !isfinite(d) || frexpf(d, &e) != 0.5f)
        return 0.0f;
    float inv = ldexpf(1.0f, 1 - e);
    return isfinite(inv) && inv * d == 1.0f ? inv : 0.0f;
}

static qdb_qgrid grid_make(const qdb_qparams *p);

qdb_qgrid qdb_qgrid_make(const qdb_qparams *p)
{
    qdb_qgrid g = grid_make(p);
    g.inv_delta = exact_inverse(g.delta);
    return g;
}

static qdb_qgrid grid_make(const qdb_qparams *p)
{
    qdb_qgrid g = {0};
    int n = clamp_bits(p->n_bits);
    double levels = ldexp(1.0, n); /* 2^n */
    g.levels_m1 = (float)(levels - 1.0);
    if (p->method == QDB_QM_UNIFORM) {
        double a = p->min, b = p->max;
        if (!isfinite(a))
            a = 0.0;
        if (!isfinite(b))
            b = 0.0;
        if (a > b) {
            double t = a;
            a = b;
            b = t;
        }
        /* MCT's fix_range_to_include_zero */
        if (a > 0.0) {
            a = 0.0;
        } else if (b < 0.0) {
            b = 0.0;
        } else {
            double scale = (b - a) / (levels - 1.0);
            if (scale > 0.0) {
                double a2 = scale * nearbyint(a / scale);
                b = b - a + a2;
                a = a2;
            }
        }
        if (!(b - a > 0.0)) /* a = b = 0: any small grid around zero */
            b = a + QDB_MIN_THRESHOLD_DEFAULT;
        double d = (b - a) / (levels - 1.0);
        g.delta = (float)d;
        if (!(g.delta > 0.0f))
            g.delta = FLT_MIN;
        /* Put zero exactly on the float grid: lo = -k0 * delta with k0 the
         * integer index of zero, so that lo + delta * k0 == 0 in float. */
        double k0 = nearbyint(-a / d);
        if (k0 < 0.0)
            k0 = 0.0;
        if (k0 > levels - 1.0)
            k0 = levels - 1.0;
        g.lo = -((float)k0 * g.delta);
        return g;
    }
    double t = p->threshold;
    if (!(t > 0.0) || !isfinite(t))
        t = QDB_MIN_THRESHOLD_DEFAULT;
    int s = p->is_signed ? 1 : 0;
    g.delta = (float)(t / ldexp(1.0, n - s));
    if (!(g.delta > 0.0f))
        g.delta = FLT_MIN;
    g.lo = s ? -(float)t : 0.0f;
    return g;
}

/* The rounding of one value onto the grid, as a position y in [0, L]
 * rounded half to even: (x - lo) / d, by a product when the step is a power
 * of two (the same result; a division costs several times more). */
#define GRID_POS(x) (inv != 0.0f ? ((x) - lo) * inv : ((x) - lo) / d)

static QDB_INLINE float grid_round(float y, float L)
{
    /* clamping before rounding is the same as after: L is whole */
    y = y < 0.0f ? 0.0f : y;
    y = y > L ? L : y;
    return (y + ROUND_MAGIC) - ROUND_MAGIC;
}

/* In place, counting values outside the range when `count`; the product
 * and quotient forms are separate loops (inv is constant per call). */
static QDB_INLINE size_t quantize_run(const qdb_qgrid *g, float *x, size_t n, int count,
                                      float inv)
{
    const float lo = g->lo, d = g->delta, L = g->levels_m1;
    const float Lh = L + 0.5f;
    size_t clipped = 0;
    /* Chunks keep the clipped counter a narrow int the vectorizer likes. */
    for (size_t base = 0; base < n; base += 65536) {
        size_t m = n - base < 65536 ? n - base : 65536;
        float *restrict p = x + base;
        unsigned c = 0;
        for (size_t i = 0; i < m; i++) {
            float y = GRID_POS(p[i]);
            if (count)
                c += (unsigned)((y < -0.5f) | (y > Lh));
            p[i] = lo + d * grid_round(y, L);
        }
        clipped += c;
    }
    return clipped;
}

QDB_MULTIVERSION size_t qdb_quantize_inplace(const qdb_qgrid *g, float *x, size_t n)
{
    return g->inv_delta != 0.0f ? quantize_run(g, x, n, 1, g->inv_delta)
                                : quantize_run(g, x, n, 1, 0.0f);
}

QDB_MULTIVERSION void qdb_quantize_fast(const qdb_qgrid *g, float *x, size_t n)
{
    if (g->inv_delta != 0.0f)
        quantize_run(g, x, n, 0, g->inv_delta);
    else
        quantize_run(g, x, n, 0, 0.0f);
}

QDB_MULTIVERSION void qdb_quantize(const qdb_qgrid *g, const float *src, float *dst, size_t n)
{
    const float lo = g->lo, d = g->delta, L = g->levels_m1, inv = g->inv_delta;
    if (src == dst) {
        qdb_quantize_fast(g, dst, n);
        return;
    }
    const float *restrict s = src;
    float *restrict o = dst;
    if (inv != 0.0f)
        for (size_t i = 0; i < n; i++)
            o[i] = lo + d * grid_round((s[i] - lo) * inv, L);
    else
        for (size_t i = 0; i < n; i++)
            o[i] = lo + d * grid_round((s[i] - lo) / d, L);
}

double qdb_pow2_ceil(double x)
{
    if (!(x > 0.0))
        return 0.0;
    if (isinf(x))
        return x;
    int e;
    double m = frexp(x, &e); /* x = m * 2^e, m in [0.5, 1) */
    return m == 0.5 ? x : ldexp(1.0, e);
}
