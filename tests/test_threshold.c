/* test_threshold.c - threshold selection against brute force. For each
 * error method and quantizer, on synthetic histograms (uniform, Gaussian,
 * Laplace with outliers, ReLU-like, negative-heavy SiLU-like, drawn with a
 * seeded PRNG) and on weight tensors, the library's choice must equal a
 * search over the same candidates written here independently: the bins are
 * quantized with this file's own rounding, the errors (and the KL
 * divergence) summed by this file's own loops, and the candidate schedules
 * re-stated from the semantics note. Also: NOCLIPPING, the KL guard, HMSE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histogram.h"
#include "quant_config.h"
#include "quantizer.h"
#include "ref_math.h"
#include "threshold.h"

#define MTH (1.0 / 65536)

/* ---- random data --------------------------------------------------------- */

static uint64_t rng;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void)
{
    return sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand());
}

enum { D_UNIFORM, D_GAUSS, D_LAPLACE_OUT, D_RELU, D_SILU, D_COUNT };
static const char *const dname[D_COUNT] = {"uniform", "gauss", "laplace+outliers", "relu", "silu"};
#define NS 100000

static float *samples(int kind, size_t n, uint64_t seed)
{
    float *x = malloc(sizeof(float) * n);
    assert_non_null(x);
    rng = seed;
    for (size_t i = 0; i < n; i++) {
        double v;
        switch (kind) {
        case D_UNIFORM: v = -1.0 + 4.0 * urand(); break;
        case D_GAUSS: v = 0.3 + nrand(); break;
        case D_LAPLACE_OUT: {
            double u = urand() - 0.5;
            v = -0.5 * (u < 0 ? -1 : 1) * log(1 - 2 * fabs(u));
            if (i % 1000 == 0)
                v = (i % 2000 == 0 ? 20.0 : -15.0) * (0.8 + 0.2 * urand());
            break;
        }
        case D_RELU: v = fmax(0.0, 0.2 + nrand()); break;
        default: { /* SiLU of N(-1.5, 1.5): most outputs negative, min -0.278 */
            double z = -1.5 + 1.5 * nrand();
            v = z / (1.0 + exp(-z));
            break;
        }
        }
        x[i] = (float)v;
    }
    return x;
}

/* A histogram of the kind; weighted: 4 channels of planes of 25 values,
 * channel weights 1, 5, 0.2, 50. */
static qdb_histogram *make_hist(int kind, int weighted)
{
    qdb_err e = {0};
    float *x = samples(kind, NS, 1234 + kind);
    qdb_histogram *h = qdb_histogram_new(0, weighted, &e);
    assert_non_null(h);
    float cw[4] = {1, 5, 0.2f, 50};
    /* two batches, so the merge is exercised too */
    assert_int_equal(qdb_histogram_add(h, x, NS / 2, 25, 4, weighted ? cw : NULL, &e), QDB_OK);
    assert_int_equal(qdb_histogram_add(h, x + NS / 2, NS / 2, 25, 4, weighted ? cw : NULL, &e), QDB_OK);
    free(x);
    return h;
}

/* ---- reference quantizer and errors -------------------------------------- */

/* The power of two at or above x, by doubling and halving. */
static double ref_pot(double x)
{
    double p = 1.0;
    while (p < x)
        p *= 2.0;
    while (p / 2.0 >= x)
        p /= 2.0;
    return p;
}

/* A grid as the quantizer stores it: float lo and step, levels - 1. */
typedef struct {
    double lo, d, L;
} rgrid;

static rgrid ref_sym_grid(double t, int n, int sgn)
{
    rgrid g;
    g.d = (float)(t / two_pow(n - sgn));
    g.lo = sgn ? -(double)(float)t : 0.0;
    g.L = two_pow(n) - 1.0;
    return g;
}

/* The uniform grid: the zero-point fix computed here, checked against the
 * library's grid, whose float lo and step are then used (so that a
 * one-ulp difference in lo cannot flip a near tie). */
static rgrid ref_uni_grid(double a, double b, int n)
{
    double L = two_pow(n) - 1.0;
    if (a > 0)
        a = 0;
    else if (b < 0)
        b = 0;
    else {
        double sc = (b - a) / L;
        double a2 = sc * round_he(a / sc);
        b = b - a + a2;
        a = a2;
    }
    qdb_qparams p = {.method = QDB_QM_UNIFORM, .n_bits = n, .min = a, .max = b};
    (void)p;
    rgrid g = {.lo = a, .d = (b - a) / L, .L = L};
    return g;
}

static rgrid lib_uni_grid(double a, double b, int n)
{
    rgrid r = ref_uni_grid(a, b, n);
    qdb_qparams p = {.method = QDB_QM_UNIFORM, .n_bits = n, .min = a, .max = b};
    qdb_qgrid g = qdb_qgrid_make(&p);
    assert_true(fabs(g.lo - r.lo) <= 1e-6 * (fabs(r.lo) + r.d));
    assert_true(fabs(g.delta - r.d) <= 1e-6 * r.d);
    r.lo = g.lo;
    r.d = g.delta;
    return r;
}

static double ref_q(rgrid g, double v)
{
    double k = round_he((v - g.lo) / g.d);
    k = k < 0 ? 0 : (k > g.L ? g.L : k);
    return g.lo + k * g.d;
}

static double ref_hist_err(const qdb_histogram *h, const double *c, rgrid g, double p)
{
    double w = (h->hi - h->lo) / h->n_bins, acc = 0, m = 0;
    for (int i = 0; i < h->n_bins; i++) {
        double v = h->lo + i * w; /* the left edge, as MCT */
        double e = fabs(ref_q(g, v) - v);
        acc += c[i] * (p == 2 ? e * e : (p == 1 ? e : pow(e, p)));
        m += c[i];
    }
    return acc / m;
}

static double hedge(const qdb_histogram *h, int i)
{
    return i == h->n_bins ? h->hi : h->lo + i * ((h->hi - h->lo) / h->n_bins);
}

static void smooth(double *p, int n)
{
    double mn = INFINITY;
    int z = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] == 0)
            z++;
        else if (p[i] < mn)
            mn = p[i];
    }
    double eps = mn / (2.0 * n);
    for (int i = 0; i < n; i++)
        p[i] = p[i] == 0 ? eps : p[i] - eps * z / (n - z);
}

/* KL of the clipped histogram against its quantized version over
 * [rmin, rmax), as the semantics note describes; *nb: bins compared. */
static double ref_kl(const qdb_histogram *h, rgrid g, double rmin, double rmax, int *nb)
{
    int N = h->n_bins, i0 = -1, last = -1;
    *nb = 0;
    for (int i = 0; i <= N && i0 < 0; i++)
        if (hedge(h, i) >= rmin)
            i0 = i;
    for (int i = 0; i <= N; i++)
        if (hedge(h, i) < rmax)
            last = i;
    if (i0 < 0 || last < 0)
        return INFINITY;
    int first = i0 > 0 ? i0 - 1 : 0, n = last - first;
    *nb = n;
    if (n <= 0)
        return 0.0;
    double *p = calloc((size_t)n, sizeof *p), *q = calloc((size_t)n, sizeof *q);
    double *qv = calloc((size_t)n, sizeof *qv);
    /* per quantization level: count and non-empty bins of its group */
    size_t levels = (size_t)g.L + 1;
    double *gsum = calloc(levels, sizeof *gsum), *gpos = calloc(levels, sizeof *gpos);
    assert_non_null(p);
    assert_non_null(q);
    assert_non_null(qv);
    assert_non_null(gsum);
    assert_non_null(gpos);
    double sub = 0;
    for (int j = 0; j < n; j++) {
        p[j] = h->count[first + j];
        sub += p[j];
        qv[j] = ref_q(g, hedge(h, first + j));
    }
    double kl = INFINITY;
    if (sub > 0) {
        for (int i = 0; i < first; i++)
            p[0] += h->count[i];
        for (int i = last; i < N; i++)
            p[n - 1] += h->count[i];
        for (int j = 0; j < n; j++) {
            size_t li = (size_t)round_he((qv[j] - g.lo) / g.d);
            gsum[li] += h->count[first + j];
            gpos[li] += h->count[first + j] > 0;
        }
        for (int j = 0; j < n; j++) {
            size_t li = (size_t)round_he((qv[j] - g.lo) / g.d);
            q[j] = h->count[first + j] > 0 ? gsum[li] / gpos[li] : 0.0;
        }
        double sp = 0, sq = 0;
        for (int j = 0; j < n; j++)
            sp += p[j], sq += q[j];
        for (int j = 0; j < n; j++)
            p[j] /= sp, q[j] /= sq;
        smooth(p, n);
        smooth(q, n);
        kl = 0;
        for (int j = 0; j < n; j++)
            kl += p[j] * log(p[j] / q[j]);
    }
    free(p);
    free(q);
    free(qv);
    free(gsum);
    free(gpos);
    return kl;
}

/* ---- reference searches -------------------------------------------------- */

typedef struct {
    const qdb_histogram *h; /* or weights: */
    const float *w, *hw;
    size_t n;
    qdb_quant_method qm;
    qdb_error_method em;
    int bits, sgn;
    double p;
} rctx;

static int guard_bins(int n_bins, int bits)
{
    int m = bits >= 20 ? 1 << 20 : 1 << bits;
    m = m < 128 ? 128 : m;
    return m > n_bins / 4 ? n_bins / 4 : m;
}

static double ref_err_grid(const rctx *c, rgrid g)
{
    if (c->h) {
        if (c->em == QDB_EM_KL) {
            double rmax = g.lo + g.d * (g.L + (c->qm == QDB_QM_UNIFORM ? 0 : 1));
            int nb;
            double kl = ref_kl(c->h, g, g.lo, rmax, &nb);
            return nb < guard_bins(c->h->n_bins, c->bits) ? INFINITY : kl;
        }
        const double *cnt = c->em == QDB_EM_HMSE && c->h->wcount ? c->h->wcount : c->h->count;
        double p = c->em == QDB_EM_MAE ? 1 : (c->em == QDB_EM_LP ? c->p : 2);
        return ref_hist_err(c->h, cnt, g, p);
    }
    double acc = 0;
    for (size_t i = 0; i < c->n; i++) {
        double e = fabs(ref_q(g, c->w[i]) - c->w[i]);
        if (c->em == QDB_EM_HMSE && c->hw)
            acc += c->hw[i] * e * e;
        else if (c->em == QDB_EM_MAE)
            acc += e;
        else if (c->em == QDB_EM_LP)
            acc += pow(e, c->p);
        else
            acc += e * e;
    }
    return acc / c->n;
}

static double ref_err_t(const rctx *c, double t)
{
    return ref_err_grid(c, ref_sym_grid(t, c->bits, c->sgn));
}

static double ref_err_ab(const rctx *c, double a, double b)
{
    return ref_err_grid(c, lib_uni_grid(a, b, c->bits));
}

/* power of two: 2 * POT(max) / 2^i, i = 0..count-1, first least error */
static double ref_pot_search(const rctx *c, double maxabs, int count)
{
    double t0 = 2.0 * ref_pot(fmax(maxabs, MTH)), best = NAN, bl = INFINITY;
    for (int i = 0; i < count; i++) {
        double t = t0 * two_pow(-i), l = ref_err_t(c, t);
        if (l < bl || (l == bl && l < INFINITY)) /* a tie goes to the smaller */
            bl = l, best = t;
    }
    return isnan(best) ? ref_pot(fmax(maxabs, MTH)) : fmax(best, MTH);
}

/* symmetric: 30 evenly spaced values in [alpha t, beta t] around the last
 * iteration's best, narrowing 2 % after iterations 0, f, 2f, ... */
static double ref_sym_search(const rctx *c, double t0, int iters, int freq)
{
    double alpha = 0.7, beta = 1.2, cur = t0, best = t0, bl = ref_err_t(c, t0);
    for (int it = 0; it < iters; it++) {
        double prev = bl, a = cur * alpha, b = cur * beta;
        double st = (b - a) / 29, ct = a, cl = INFINITY;
        for (int k = 0; k < 30; k++) {
            double t = k == 29 ? b : a + k * st, l = ref_err_t(c, t);
            if (k == 0 || l < cl)
                cl = l, ct = t;
        }
        cur = ct;
        if (cl < prev)
            best = ct, bl = cl;
        if (prev - cl > 0 && prev - cl < 1e-11)
            break;
        if (it % freq == 0) {
            alpha = fmin(alpha * 1.02, 0.97);
            beta = fmax(beta * 0.98, 1.03);
        }
    }
    return fmax(best, MTH);
}

static void ref_uni_search(const rctx *c, double a0, double b0, int k, int iters, double *ra, double *rb)
{
    double s[16];
    for (int i = 0; i < k; i++)
        s[i] = i == k - 1 ? 1.2 : 0.7 + i * (0.5 / (k - 1));
    double ca = a0, cb = b0, ba = a0, bb = b0, bl = ref_err_ab(c, a0, b0);
    for (int it = 0; it < iters; it++) {
        double prev = bl, ta = 0, tb = 0, tl = INFINITY;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                double l = ref_err_ab(c, ca * s[i], cb * s[j]);
                if ((i == 0 && j == 0) || l < tl)
                    ta = ca * s[i], tb = cb * s[j], tl = l;
            }
        ca = ta, cb = tb;
        if (tl < prev)
            ba = ta, bb = tb, bl = tl;
        if (prev - tl > 0 && prev - tl < 1e-11)
            break;
    }
    *ra = ba, *rb = bb;
}

/* max |edge| over non-empty bins; smallest / largest such edge */
static void ref_hist_range(const qdb_histogram *h, double *maxabs, double *mn, double *mx)
{
    *maxabs = 0, *mn = INFINITY, *mx = -INFINITY;
    for (int i = 0; i < h->n_bins; i++)
        if (h->count[i] > 0) {
            double l = hedge(h, i), r = hedge(h, i + 1);
            *maxabs = fmax(*maxabs, fmax(fabs(l), fabs(r)));
            *mn = fmin(*mn, l);
            *mx = fmax(*mx, r);
        }
}

static double ref_sym_t0(double mn, double mx, int sgn, int bits)
{
    double lv = two_pow(bits - sgn);
    double t = fmax(mx > 0 ? mx * lv / (lv - 1) : 0, sgn && mn < 0 ? -mn : 0);
    return fmax(t, MTH);
}

/* ---- activation tests ---------------------------------------------------- */

static const qdb_error_method searched[] = {QDB_EM_MSE, QDB_EM_MAE, QDB_EM_LP, QDB_EM_HMSE, QDB_EM_KL};

static void check_act(const qdb_histogram *h, qdb_quant_method qm, qdb_error_method em, int bits, int sgn,
                      const char *what)
{
    qdb_err e = {0};
    qdb_search_opts o = {.method = qm, .error_method = em, .n_bits = bits, .is_signed = sgn,
                         .min_threshold = MTH, .l_p_value = 3.0};
    qdb_qparams q;
    assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_OK);
    rctx c = {.h = h, .qm = qm, .em = em, .bits = bits, .sgn = sgn, .p = 3.0};
    double maxabs, mn, mx;
    ref_hist_range(h, &maxabs, &mn, &mx);
    if (qm == QDB_QM_POWER_OF_TWO) {
        double t = ref_pot_search(&c, maxabs, 20);
        if (q.threshold != t)
            print_error("%s POT %s %d bits signed %d: got %.9g, brute force %.9g\n", what,
                        qdb_error_method_name(em), bits, sgn, q.threshold, t);
        assert_true(q.threshold == t);
    } else if (qm == QDB_QM_SYMMETRIC) {
        double t0 = ref_sym_t0(mn, mx, sgn, bits);
        double t = ref_sym_search(&c, t0, 20, 4);
        if (q.threshold != t)
            print_error("%s SYM %s %d bits signed %d: got %.12g, brute force %.12g\n", what,
                        qdb_error_method_name(em), bits, sgn, q.threshold, t);
        assert_true(q.threshold == t);
    } else {
        double a, b;
        ref_uni_search(&c, mn, mx, 12, 30, &a, &b);
        if (q.min != a || q.max != b)
            print_error("%s UNI %s %d bits: got (%.12g, %.12g), brute force (%.12g, %.12g)\n", what,
                        qdb_error_method_name(em), bits, q.min, q.max, a, b);
        assert_true(q.min == a && q.max == b);
    }
}

static void test_act_pot_brute_force(void **state)
{
    (void)state;
    for (int d = 0; d < D_COUNT; d++) {
        qdb_histogram *h = make_hist(d, d == D_GAUSS || d == D_SILU);
        int neg = qdb_histogram_has_negative(h);
        for (size_t m = 0; m < sizeof searched / sizeof searched[0]; m++)
            for (int bits = 2; bits <= 16; bits += (bits == 2 ? 2 : (bits == 4 ? 4 : 8))) {
                check_act(h, QDB_QM_POWER_OF_TWO, searched[m], bits, neg, dname[d]);
                if (neg && searched[m] != QDB_EM_KL)
                    check_act(h, QDB_QM_POWER_OF_TWO, searched[m], bits, 0, dname[d]); /* forced unsigned */
            }
        qdb_histogram_free(h);
    }
}

static void test_act_symmetric_brute_force(void **state)
{
    (void)state;
    for (int d = 0; d < D_COUNT; d++) {
        qdb_histogram *h = make_hist(d, d == D_LAPLACE_OUT);
        int neg = qdb_histogram_has_negative(h);
        for (size_t m = 0; m < sizeof searched / sizeof searched[0]; m++) {
            check_act(h, QDB_QM_SYMMETRIC, searched[m], 8, neg, dname[d]);
            check_act(h, QDB_QM_SYMMETRIC, searched[m], 4, neg, dname[d]);
        }
        qdb_histogram_free(h);
    }
}

static void test_act_uniform_brute_force(void **state)
{
    (void)state;
    for (int d = 0; d < D_COUNT; d++) {
        qdb_histogram *h = make_hist(d, 0);
        for (size_t m = 0; m < sizeof searched / sizeof searched[0]; m++)
            check_act(h, QDB_QM_UNIFORM, searched[m], d % 2 ? 8 : 4, 0, dname[d]);
        qdb_histogram_free(h);
    }
}

static void test_act_noclipping(void **state)
{
    (void)state;
    qdb_err e = {0};
    qdb_search_opts o = {.method = QDB_QM_POWER_OF_TWO, .error_method = QDB_EM_NOCLIPPING, .n_bits = 8,
                         .is_signed = 1, .min_threshold = MTH, .l_p_value = 2};
    qdb_qparams q;
    /* maxima 2.7 -> 4, exactly 2 -> 2, min -3.1 -> 4, 0.001 -> 2^-9 */
    const float sets[4][3] = {{0.5f, 2.7f, -1.0f}, {0.0f, 2.0f, 1.0f}, {-3.1f, 1.0f, 2.0f}, {0.0f, 0.001f, 0.0005f}};
    const double want[4] = {4.0, 2.0, 4.0, 1.0 / 512};
    for (int s = 0; s < 4; s++) {
        qdb_histogram *h = qdb_histogram_new(0, 0, &e);
        assert_int_equal(qdb_histogram_add(h, sets[s], 3, 1, 1, NULL, &e), QDB_OK);
        assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_OK);
        assert_true(q.threshold == want[s]);
        qdb_histogram_free(h);
    }
    /* on the synthetic histograms: the power of two at or above max |x| */
    for (int d = 0; d < D_COUNT; d++) {
        qdb_histogram *h = make_hist(d, 0);
        float *x = samples(d, NS, 1234 + d);
        double m = 0, mn = INFINITY, mx = -INFINITY;
        for (int i = 0; i < NS; i++)
            m = fmax(m, fabs(x[i])), mn = fmin(mn, x[i]), mx = fmax(mx, x[i]);
        free(x);
        o.method = QDB_QM_POWER_OF_TWO;
        o.is_signed = mn < 0;
        assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_OK);
        assert_true(q.threshold == ref_pot(m));
        assert_true(q.threshold >= m && q.threshold < 2 * m);
        /* symmetric: max |x|, the positive max representable */
        o.method = QDB_QM_SYMMETRIC;
        assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_OK);
        double lv = mn < 0 ? 128 : 256;
        assert_float_equal(q.threshold, fmax(mn < 0 ? -mn : 0, mx * lv / (lv - 1)), 1e-12);
        qdb_qgrid g = qdb_qgrid_make(&q);
        assert_true(qdb_qgrid_hi(&g) >= (float)mx * (1 - 1e-6f));
        /* uniform: (min, max) */
        o.method = QDB_QM_UNIFORM;
        assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_OK);
        assert_true(q.min == mn && q.max == mx);
        qdb_histogram_free(h);
    }
}

/* The 50th percentile of |x| */
static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void test_kl_guard(void **state)
{
    (void)state;
    qdb_err e = {0};
    const int kinds[3] = {D_GAUSS, D_RELU, D_LAPLACE_OUT};
    for (int ki = 0; ki < 3; ki++) {
        int d = kinds[ki];
        qdb_histogram *h = make_hist(d, 0);
        float *x = samples(d, NS, 1234 + d);
        for (int i = 0; i < NS; i++)
            x[i] = fabsf(x[i]);
        qsort(x, NS, sizeof *x, cmp_float);
        double p50 = x[NS / 2], p99 = x[NS / 100 * 99];
        free(x);
        int sgn = qdb_histogram_has_negative(h);
        for (int qm = QDB_QM_POWER_OF_TWO; qm <= QDB_QM_SYMMETRIC; qm++)
            for (int bits = 4; bits <= 16; bits += 4) {
                qdb_search_opts o = {.method = qm, .n_bits = bits, .is_signed = sgn, .min_threshold = MTH,
                                     .l_p_value = 2};
                qdb_qparams kl, mse, nc;
                o.error_method = QDB_EM_KL;
                assert_int_equal(qdb_select_act(h, &o, &kl, &e), QDB_OK);
                o.error_method = QDB_EM_MSE;
                assert_int_equal(qdb_select_act(h, &o, &mse, &e), QDB_OK);
                o.error_method = QDB_EM_NOCLIPPING;
                assert_int_equal(qdb_select_act(h, &o, &nc, &e), QDB_OK);
                if (!(kl.threshold >= p50 && kl.threshold <= 1.25 * nc.threshold &&
                      kl.threshold >= (d == D_LAPLACE_OUT ? p99 : 0.5 * mse.threshold)))
                    print_error("%s %s %d bits: KL %g, p50 %g, MSE %g, NOCLIPPING %g\n", dname[d],
                                qdb_quant_method_name(qm), bits, kl.threshold, p50, mse.threshold,
                                nc.threshold);
                assert_true(kl.threshold >= p50);
                /* KL ignores how far outliers lie, MSE does not: with the
                 * outliers, KL may clip them, but keeps the bulk (99 %) */
                if (d == D_LAPLACE_OUT)
                    assert_true(kl.threshold >= p99);
                else
                    assert_true(kl.threshold >= 0.5 * mse.threshold);
                assert_true(kl.threshold <= 1.25 * nc.threshold);
            }
        /* the guard is what keeps it there: unguarded, a range of a few bins
         * has a smaller KL than the chosen threshold */
        qdb_search_opts o = {.method = QDB_QM_POWER_OF_TWO, .error_method = QDB_EM_KL, .n_bits = 8,
                             .is_signed = sgn, .min_threshold = MTH, .l_p_value = 2};
        qdb_qparams kl;
        assert_int_equal(qdb_select_act(h, &o, &kl, &e), QDB_OK);
        qdb_qgrid gk = qdb_qgrid_make(&kl);
        double best = qdb_hist_error(h, &gk, &o), tiny = INFINITY;
        for (int i = 0; i < 20; i++) {
            qdb_qparams p = kl;
            p.threshold = 2.0 * ref_pot(fmax(qdb_histogram_max_abs(h), MTH)) * two_pow(-i);
            qdb_qgrid g = qdb_qgrid_make(&p);
            int nb;
            rgrid rg = {.lo = g.lo, .d = g.delta, .L = g.levels_m1};
            ref_kl(h, rg, g.lo, g.lo + g.delta * (g.levels_m1 + 1), &nb);
            if (nb < 256)
                tiny = fmin(tiny, qdb_hist_error(h, &g, &o));
        }
        assert_true(tiny < best);
        qdb_histogram_free(h);
    }
}

static void test_hmse_act(void **state)
{
    (void)state;
    qdb_err e = {0};
    /* channel 0 (Hessian weight 1000): wide uniform on [-8, 8]; channel 1
     * (weight 0.001): narrow Gaussian, 500 times as many values. Plain MSE
     * clips channel 0 to resolve channel 1; HMSE keeps channel 0 whole. */
    enum { P0 = 200, P1 = 100000 };
    float *x = malloc(sizeof(float) * (P0 + P1));
    assert_non_null(x);
    rng = 99;
    for (int i = 0; i < P0; i++)
        x[i] = (float)(-8 + 16 * urand());
    for (int i = 0; i < P1; i++)
        x[P0 + i] = (float)(0.3 * nrand());
    qdb_histogram *h = qdb_histogram_new(0, 1, &e);
    float cw0 = 1000, cw1 = 0.001f;
    assert_int_equal(qdb_histogram_add(h, x, P0, P0, 1, &cw0, &e), QDB_OK);
    assert_int_equal(qdb_histogram_add(h, x + P0, P1, P1, 1, &cw1, &e), QDB_OK);
    free(x);
    for (int qm = QDB_QM_POWER_OF_TWO; qm <= QDB_QM_SYMMETRIC; qm++) {
        qdb_search_opts o = {.method = qm, .n_bits = 4, .is_signed = 1, .min_threshold = MTH, .l_p_value = 2};
        qdb_qparams hm, ms;
        o.error_method = QDB_EM_HMSE;
        assert_int_equal(qdb_select_act(h, &o, &hm, &e), QDB_OK);
        o.error_method = QDB_EM_MSE;
        assert_int_equal(qdb_select_act(h, &o, &ms, &e), QDB_OK);
        assert_true(hm.threshold > ms.threshold); /* the heavy channel is wide */
        qdb_qgrid gh = qdb_qgrid_make(&hm), gm = qdb_qgrid_make(&ms);
        o.error_method = QDB_EM_HMSE;
        double wh = qdb_hist_error(h, &gh, &o), wm = qdb_hist_error(h, &gm, &o);
        assert_true(wh < wm); /* better on the weighted error */
        o.error_method = QDB_EM_MSE;
        assert_true(qdb_hist_error(h, &gm, &o) < qdb_hist_error(h, &gh, &o)); /* and MSE on its own */
        /* the weighted error by hand on the reference: sum w*e^2 / sum w */
        rgrid rg = {.lo = gh.lo, .d = gh.delta, .L = gh.levels_m1};
        assert_float_equal(wh, ref_hist_err(h, h->wcount, rg, 2), 1e-12 * wh + 1e-300);
    }
    /* without weighted counts HMSE is MSE */
    qdb_histogram *u = make_hist(D_GAUSS, 0);
    qdb_search_opts o = {.method = QDB_QM_POWER_OF_TWO, .n_bits = 8, .is_signed = 1, .min_threshold = MTH};
    qdb_qparams a, b;
    o.error_method = QDB_EM_HMSE;
    assert_int_equal(qdb_select_act(u, &o, &a, &e), QDB_OK);
    o.error_method = QDB_EM_MSE;
    assert_int_equal(qdb_select_act(u, &o, &b, &e), QDB_OK);
    assert_true(a.threshold == b.threshold);
    qdb_histogram_free(u);
    qdb_histogram_free(h);
}

static void test_hist_error_by_hand(void **state)
{
    (void)state;
    qdb_err e = {0};
    /* 4 bins over [0, 4], left edges 0, 1, 2, 3, counts 1, 0, 2, 1.
     * 2-bit unsigned grid t = 2: {0, 0.5, 1, 1.5}: q = 0, -, 1.5, 1.5;
     * errors 0, -, 0.5, 1.5; MSE = (0 + 2*0.25 + 2.25) / 4 = 0.6875;
     * MAE = (0 + 2*0.5 + 1.5) / 4 = 0.625; L3 = (2*0.125 + 3.375) / 4 = 0.90625 */
    qdb_histogram *h = qdb_histogram_new(4, 0, &e);
    float x[5] = {0.0f, 4.0f, 2.5f, 2.5f, 0.5f}; /* 0 and 0.5 in bin 0, 4 in bin 3 */
    assert_int_equal(qdb_histogram_add(h, x, 5, 1, 1, NULL, &e), QDB_OK);
    h->count[0] = 1, h->count[1] = 0, h->count[2] = 2, h->count[3] = 1;
    qdb_qparams p = {.method = QDB_QM_POWER_OF_TWO, .n_bits = 2, .is_signed = 0, .threshold = 2};
    qdb_qgrid g = qdb_qgrid_make(&p);
    qdb_search_opts o = {.method = QDB_QM_POWER_OF_TWO, .n_bits = 2, .min_threshold = MTH, .l_p_value = 3};
    o.error_method = QDB_EM_MSE;
    assert_float_equal(qdb_hist_error(h, &g, &o), 0.6875, 1e-12);
    o.error_method = QDB_EM_NOCLIPPING;
    assert_float_equal(qdb_hist_error(h, &g, &o), 0.6875, 1e-12);
    o.error_method = QDB_EM_MAE;
    assert_float_equal(qdb_hist_error(h, &g, &o), 0.625, 1e-12);
    o.error_method = QDB_EM_LP;
    assert_float_equal(qdb_hist_error(h, &g, &o), 0.90625, 1e-12);
    o.error_method = QDB_EM_HMSE;
    assert_float_equal(qdb_hist_error(h, &g, &o), 0.6875, 1e-12);
    /* KL, 2-bit unsigned grid t = 4 ({0, 1, 2, 3}), range [0, 4): MCT
     * compares bins 0..2 (edges 0, 1, 2; bin 3 starts at the last edge
     * below 4 and is folded into the last compared bin with what lies
     * above). p = (1, 0, 2 + 1) / 4; left edges 0, 1, 2 quantize to
     * themselves, so q = (1, 0, 2) / 3. Smoothing: p has one zero, eps =
     * 0.25 / 6; q has one zero, eps = (1/3) / 6. */
    p.threshold = 4;
    g = qdb_qgrid_make(&p);
    o.error_method = QDB_EM_KL;
    double ep = 0.25 / 6, eq = (1.0 / 3) / 6;
    double pp[3] = {0.25 - ep / 2, ep, 0.75 - ep / 2}, qq[3] = {1.0 / 3 - eq / 2, eq, 2.0 / 3 - eq / 2};
    double want = 0;
    for (int i = 0; i < 3; i++)
        want += pp[i] * log(pp[i] / qq[i]);
    assert_float_equal(qdb_hist_error(h, &g, &o), want, 1e-12);
    /* signed 2-bit t = 4, range [-4, 4): the same three bins, two of them
     * (edges 0 and 1, quantized to 0 and 2 with step 2: 0.5 rounds to 0)
     * now share a level: group {bin 0, bin 1} holds 1 over 1 non-empty bin */
    p.is_signed = 1;
    g = qdb_qgrid_make(&p);
    assert_float_equal(qdb_hist_error(h, &g, &o), want, 1e-12);
    qdb_histogram_free(h);
}

static void test_bad_options(void **state)
{
    (void)state;
    qdb_err e = {0};
    qdb_histogram *h = make_hist(D_GAUSS, 0);
    qdb_qparams q;
    qdb_search_opts o = {.method = QDB_QM_POWER_OF_TWO, .error_method = QDB_EM_MSE, .n_bits = 1,
                         .is_signed = 1, .min_threshold = MTH, .l_p_value = 2};
    assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "n_bits"));
    o.n_bits = 8;
    o.min_threshold = 0;
    assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_ERR_INVALID);
    o.min_threshold = MTH;
    o.error_method = QDB_EM_LP;
    o.l_p_value = 0.5;
    assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_ERR_INVALID);
    o.error_method = QDB_EM_COUNT;
    assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_ERR_INVALID);
    o.error_method = QDB_EM_MSE;
    assert_int_equal(qdb_select_act(NULL, &o, &q, &e), QDB_ERR_INVALID);
    float w[3] = {1, NAN, 2};
    assert_int_equal(qdb_select_weights(w, 3, NULL, &o, &q, &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "NaN"));
    assert_int_equal(qdb_select_weights(NULL, 3, NULL, &o, &q, &e), QDB_ERR_INVALID);
    assert_int_equal(qdb_select_weights(NULL, 0, NULL, &o, &q, &e), QDB_OK);
    assert_true(q.threshold == MTH && q.is_signed == 1);
    qdb_histogram_free(h);
}

/* ---- weights ------------------------------------------------------------- */

static float *weights(size_t n, uint64_t seed, float **hw)
{
    float *w = malloc(sizeof(float) * n);
    assert_non_null(w);
    *hw = malloc(sizeof(float) * n);
    assert_non_null(*hw);
    rng = seed;
    for (size_t i = 0; i < n; i++) {
        w[i] = (float)(0.05 * nrand());
        (*hw)[i] = (float)(0.1 + urand());
        if (i % 97 == 3) { /* outliers that matter a lot to the output */
            w[i] = (float)(0.4 * (urand() < 0.5 ? -1 : 1) * (0.8 + 0.2 * urand()));
            (*hw)[i] = 200.0f;
        }
    }
    return w;
}

static void check_weights(const float *w, size_t n, const float *hw, qdb_quant_method qm, qdb_error_method em,
                          int bits, int per_channel)
{
    qdb_err e = {0};
    qdb_search_opts o = {.method = qm, .error_method = em, .n_bits = bits, .is_signed = 0 /* ignored */,
                         .min_threshold = MTH, .l_p_value = 3.0, .per_channel = per_channel};
    qdb_qparams q;
    assert_int_equal(qdb_select_weights(w, n, hw, &o, &q, &e), QDB_OK);
    assert_int_equal(q.is_signed, 1);
    double mn = INFINITY, mx = -INFINITY, m = 0;
    for (size_t i = 0; i < n; i++)
        mn = fmin(mn, w[i]), mx = fmax(mx, w[i]), m = fmax(m, fabs(w[i]));
    rctx c = {.w = w, .hw = hw, .n = n, .qm = qm, .em = em, .bits = bits, .sgn = 1, .p = 3.0};
    qdb_histogram *h = NULL;
    if (em == QDB_EM_KL) { /* KL: on a 2048-bin histogram of the values */
        h = qdb_histogram_new(0, 0, &e);
        assert_int_equal(qdb_histogram_add(h, w, n, 1, 1, NULL, &e), QDB_OK);
        c.h = h;
    }
    if (qm == QDB_QM_POWER_OF_TWO) {
        if (em == QDB_EM_NOCLIPPING) {
            assert_true(q.threshold == ref_pot(m));
        } else {
            double t = ref_pot_search(&c, m, 10);
            if (q.threshold != t)
                print_error("weights POT %s %d bits: got %.9g, brute force %.9g\n", qdb_error_method_name(em),
                            bits, q.threshold, t);
            assert_true(q.threshold == t);
        }
    } else if (qm == QDB_QM_SYMMETRIC) {
        double t0 = fmax(-mn, mx * two_pow(bits - 1) / (two_pow(bits - 1) - 1));
        if (em == QDB_EM_NOCLIPPING) {
            assert_float_equal(q.threshold, t0, 1e-12 * t0);
        } else {
            double t = per_channel ? ref_sym_search(&c, t0, 15, 3) : ref_sym_search(&c, t0, 40, 5);
            /* the library sums in another order: equal, or an equally good
             * threshold (a tie to 1e-9) */
            int same = fabs(q.threshold - t) <= 1e-12 * t ||
                       fabs(ref_err_t(&c, q.threshold) - ref_err_t(&c, t)) <= 1e-9 * ref_err_t(&c, t);
            if (!same)
                print_error("weights SYM %s %d bits pc %d: got %.12g, brute force %.12g\n",
                            qdb_error_method_name(em), bits, per_channel, q.threshold, t);
            assert_true(same);
        }
    } else {
        if (em == QDB_EM_NOCLIPPING) {
            assert_true(q.min == mn && q.max == mx);
        } else {
            double a, b;
            ref_uni_search(&c, mn, mx, 8, per_channel ? 10 : 30, &a, &b);
            int same = (q.min == a && q.max == b) ||
                       fabs(ref_err_ab(&c, q.min, q.max) - ref_err_ab(&c, a, b)) <= 1e-9 * ref_err_ab(&c, a, b);
            if (!same)
                print_error("weights UNI %s %d bits: got (%.12g, %.12g), brute force (%.12g, %.12g)\n",
                            qdb_error_method_name(em), bits, q.min, q.max, a, b);
            assert_true(same);
        }
    }
    qdb_histogram_free(h);
}

static void test_weights_brute_force(void **state)
{
    (void)state;
    float *hw;
    size_t n = 3000;
    float *w = weights(n, 7, &hw);
    const qdb_error_method ems[] = {QDB_EM_NOCLIPPING, QDB_EM_MSE, QDB_EM_MAE, QDB_EM_LP, QDB_EM_HMSE, QDB_EM_KL};
    for (size_t m = 0; m < sizeof ems / sizeof ems[0]; m++)
        for (int qm = 0; qm < QDB_QM_COUNT; qm++) {
            check_weights(w, n, hw, qm, ems[m], 8, 0);
            check_weights(w, 300, hw, qm, ems[m], 4, 1); /* one channel */
            if (qm == QDB_QM_POWER_OF_TWO)
                check_weights(w, n, hw, qm, ems[m], 2, 0);
        }
    free(w);
    free(hw);
}

static void test_hmse_weights(void **state)
{
    (void)state;
    qdb_err e = {0};
    float *hw;
    size_t n = 3000;
    float *w = weights(n, 11, &hw);
    for (int qm = QDB_QM_POWER_OF_TWO; qm <= QDB_QM_SYMMETRIC; qm++) {
        qdb_search_opts o = {.method = qm, .n_bits = 4, .min_threshold = MTH, .l_p_value = 2};
        qdb_qparams a, b, c;
        o.error_method = QDB_EM_HMSE;
        assert_int_equal(qdb_select_weights(w, n, hw, &o, &a, &e), QDB_OK);
        assert_int_equal(qdb_select_weights(w, n, NULL, &o, &c, &e), QDB_OK); /* no hw: MSE */
        o.error_method = QDB_EM_MSE;
        assert_int_equal(qdb_select_weights(w, n, hw, &o, &b, &e), QDB_OK);
        assert_true(c.threshold == b.threshold);
        assert_true(a.threshold > b.threshold); /* the outliers are kept */
        rctx r = {.w = w, .hw = hw, .n = n, .qm = qm, .em = QDB_EM_HMSE, .bits = 4, .sgn = 1};
        assert_true(ref_err_t(&r, a.threshold) < ref_err_t(&r, b.threshold));
        r.em = QDB_EM_MSE;
        assert_true(ref_err_t(&r, b.threshold) < ref_err_t(&r, a.threshold));
    }
    free(w);
    free(hw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_error_by_hand),
        cmocka_unit_test(test_act_noclipping),
        cmocka_unit_test(test_act_pot_brute_force),
        cmocka_unit_test(test_act_symmetric_brute_force),
        cmocka_unit_test(test_act_uniform_brute_force),
        cmocka_unit_test(test_kl_guard),
        cmocka_unit_test(test_hmse_act),
        cmocka_unit_test(test_weights_brute_force),
        cmocka_unit_test(test_hmse_weights),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests_name("threshold", tests, NULL, NULL);
}
