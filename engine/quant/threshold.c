/* threshold.c - threshold selection (see threshold.h): the error of a grid
 * on a histogram or on a weight tensor for each error method, and MCT's
 * candidate sets and search schedules for power-of-two, symmetric and
 * uniform quantizers.
 *
 * Schedules (MCT's constants):
 *   power of two: candidates 2 * POT(max|x|) / 2^i, i = 0..19 on histograms,
 *     i = 0..9 on weights (MCT's n_iter = 10); the least error wins, the
 *     smaller threshold on a tie; the result is floored at min_threshold. POT(x) = 2^ceil(log2(max(x,
 *     min_threshold))).
 *   symmetric: from t0 = max(-min (signed only), max * 2^(n-s) / (2^(n-s) - 1),
 *     min_threshold) (no clipping, the positive max representable), each
 *     iteration tries 30 evenly spaced values in [alpha * t, beta * t] around
 *     the previous iteration's best t (alpha = 0.7, beta = 1.2); the overall
 *     best is kept; after iterations 0, f, 2f, ... alpha *= 1.02 and
 *     beta *= 0.98, capped at 0.97 and 1.03; the search stops when an
 *     iteration improves the best error by less than 1e-11. Iterations / f:
 *     40 / 5 per tensor, 15 / 3 per channel, 20 / 4 on histograms.
 *   uniform: from (min, max), every pair (min * a, max * b) with a, b in
 *     linspace(0.7, 1.2, k) (k = 8 on tensors, 12 on histograms), the base
 *     range moving to the iteration's best pair; 30 iterations per tensor or
 *     histogram, 10 per channel; same early stop.
 *   NOCLIPPING: POT(max|x|); symmetric t0 above; uniform (min, max).
 *
 * Errors are computed in double on the exact grid points lo + k * delta
 * (the grid's float lo and delta), so they do not depend on float rounding
 * of the quantized values. Histogram bins stand for their left edges, as in
 * MCT's histogram error functions (bins[:-1]).
 *
 * KL (MCT's histogram KL, see the semantics note) with qdb's guard: the
 * literal search degenerates on a single 2048-bin histogram, because a
 * candidate range covering only a handful of bins has a KL near zero. qdb
 * only considers a candidate whose clipped range spans at least
 *     min(max(2^n_bits, 128), n_bins / 4)
 * histogram bins (counted as MCT slices them: from the bin holding the range
 * start to the last edge below the range end). At 8 bits on 2048 bins that
 * is 256 bins: every quantization level then gathers at least one
 * histogram bin, so the quantized distribution really differs from the
 * float one, and 128 is the smallest window TensorRT's entropy calibration
 * tries. The n_bins / 4 cap keeps high bit widths searchable. If no
 * candidate qualifies, the NOCLIPPING parameters are returned. For weights,
 * KL builds a 2048-bin histogram of the values and uses the same function.
 *
 * HMSE: on histograms, the MSE with the weighted counts (each value weighted
 * by its channel's Hessian estimate, see histogram.h) when the histogram
 * has them, plain MSE otherwise; on weights, mean(hw * (w - q(w))^2) with
 * the caller's per-value weights hw (MSE without them). */
#include "threshold.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SYM_INTERVALS 30
#define SYM_TENSOR_ITER 40
#define SYM_TENSOR_FREQ 5
#define SYM_CHANNEL_ITER 15
#define SYM_CHANNEL_FREQ 3
#define SYM_HIST_ITER 20
#define SYM_HIST_FREQ 4
#define UNI_TENSOR_K 8
#define UNI_HIST_K 12
#define UNI_TENSOR_ITER 30
#define UNI_CHANNEL_ITER 10
#define UNI_HIST_ITER 30
#define POT_HIST_CANDIDATES 20
#define POT_WEIGHT_CANDIDATES 10
#define BOTTOM_FACTOR 0.7
#define UPPER_FACTOR 1.2
#define DEC_BOTTOM 1.02
#define DEC_UPPER 0.98
#define DEC_RANGE_BOTTOM 0.97
#define DEC_RANGE_UPPER 1.03
#define TOL 1e-11

/* 1.5 * 2^52: (y + M) - M rounds |y| < 2^51 half to even. */
#define ROUND_MAGIC_D 6755399441055744.0

static double pot(double x, double min_threshold)
{
    return qdb_pow2_ceil(x > min_threshold ? x : min_threshold);
}

/* Quantized index of v on grid (lo, d, L), in double. */
static inline double qindex(double v, double lo, double d, double L)
{
    double y = (v - lo) / d;
    y = y < 0.0 ? 0.0 : y; /* clamping first is the same: L is whole */
    y = y > L ? L : y;
    return (y + ROUND_MAGIC_D) - ROUND_MAGIC_D;
}

/* ---- histogram errors ---------------------------------------------------- */

static double hist_error_p(const qdb_histogram *h, const double *c, const qdb_qgrid *g, double p)
{
    const double lo = g->lo, d = g->delta, L = g->levels_m1;
    const double hlo = h->lo, w = qdb_histogram_bin_width(h);
    double acc = 0.0, m = 0.0;
    for (int i = 0; i < h->n_bins; i++) {
        if (c[i] == 0.0)
            continue;
        double v = hlo + i * w;
        double err = fabs(lo + d * qindex(v, lo, d, L) - v);
        double ep = p == 2.0 ? err * err : (p == 1.0 ? err : pow(err, p));
        acc += c[i] * ep;
        m += c[i];
    }
    return m != 0.0 ? acc / m : 0.0;
}

static double hist_edge(const qdb_histogram *h, int i)
{
    return i >= h->n_bins ? h->hi : h->lo + i * qdb_histogram_bin_width(h);
}

/* The bins MCT's KL compares for the range [rmin, rmax): first = one bin
 * before the first edge >= rmin (at least 0), last = the last edge < rmax;
 * bins first..last-1. 0 when no bin is in the range. */
static int kl_span(const qdb_histogram *h, double rmin, double rmax, int *first, int *last)
{
    int n = h->n_bins;
    if (!(rmax > rmin) || !(h->hi > h->lo))
        return 0;
    if (hist_edge(h, n) < rmin || hist_edge(h, 0) >= rmax)
        return 0;
    double w = qdb_histogram_bin_width(h);
    double gi = ceil((rmin - h->lo) / w);
    int i0 = gi < 0 ? 0 : (gi > n ? n : (int)gi);
    while (i0 > 0 && hist_edge(h, i0 - 1) >= rmin)
        i0--;
    while (i0 < n && hist_edge(h, i0) < rmin)
        i0++;
    double gl = ceil((rmax - h->lo) / w) - 1.0;
    int l = gl < 0 ? 0 : (gl > n ? n : (int)gl);
    while (l < n && hist_edge(h, l + 1) < rmax)
        l++;
    while (l > 0 && hist_edge(h, l) >= rmax)
        l--;
    *first = i0 > 0 ? i0 - 1 : 0;
    *last = l;
    return 1;
}

static void kl_range(const qdb_qgrid *g, qdb_quant_method m, double *rmin, double *rmax)
{
    *rmin = g->lo;
    *rmax = (double)g->lo + (double)g->delta * ((double)g->levels_m1 + (m == QDB_QM_UNIFORM ? 0.0 : 1.0));
}

static double kl_hist(const qdb_histogram *h, const qdb_qgrid *g, double rmin, double rmax)
{
    int first, last;
    if (!kl_span(h, rmin, rmax, &first, &last))
        return INFINITY;
    int nb = last - first;
    if (nb <= 0)
        return 0.0;
    const double *c = h->count;
    double below = 0.0, above = 0.0, sub = 0.0;
    for (int i = 0; i < first; i++)
        below += c[i];
    for (int i = last; i < h->n_bins; i++)
        above += c[i];
    for (int i = first; i < last; i++)
        sub += c[i];
    if (!(sub > 0.0))
        return INFINITY;
    double P = below + sub + above;
    const double lo = g->lo, d = g->delta, L = g->levels_m1;

    /* float distribution p: the clipped counts */
    double pmin = INFINITY;
    int pz = 0;
    for (int i = first; i < last; i++) {
        double v = c[i] + (i == first ? below : 0.0) + (i == last - 1 ? above : 0.0);
        if (v > 0.0)
            pmin = v / P < pmin ? v / P : pmin;
        else
            pz++;
    }
    /* quantized distribution q: each group of bins whose left edges share
     * a quantized value spreads its (unclipped) count evenly over its
     * non-empty bins */
    double qmin = INFINITY;
    int qz = 0;
    for (int j = first; j < last;) {
        double k = qindex(hist_edge(h, j), lo, d, L);
        double gs = 0.0;
        int gp = 0, e = j;
        while (e < last && qindex(hist_edge(h, e), lo, d, L) == k) {
            gs += c[e];
            gp += c[e] > 0.0;
            e++;
        }
        for (int i = j; i < e; i++) {
            if (c[i] > 0.0) {
                double q = gs / gp / sub;
                qmin = q < qmin ? q : qmin;
            } else {
                qz++;
            }
        }
        j = e;
    }
    /* smoothing (MCT's _smooth_distribution) */
    double eps_p = pmin / (2.0 * nb), red_p = pz < nb ? eps_p * pz / (nb - pz) : 0.0;
    double eps_q = qmin / (2.0 * nb), red_q = qz < nb ? eps_q * qz / (nb - qz) : 0.0;
    double kl = 0.0;
    for (int j = first; j < last;) {
        double k = qindex(hist_edge(h, j), lo, d, L);
        double gs = 0.0;
        int gp = 0, e = j;
        while (e < last && qindex(hist_edge(h, e), lo, d, L) == k) {
            gs += c[e];
            gp += c[e] > 0.0;
            e++;
        }
        for (int i = j; i < e; i++) {
            double pv = c[i] + (i == first ? below : 0.0) + (i == last - 1 ? above : 0.0);
            pv = pv > 0.0 ? pv / P - red_p : eps_p;
            double qv = c[i] > 0.0 ? gs / gp / sub - red_q : eps_q;
            kl += pv * log(pv / qv);
        }
        j = e;
    }
    return kl;
}

double qdb_hist_error(const qdb_histogram *h, const qdb_qgrid *g, const qdb_search_opts *o)
{
    if (!h || !g || !o)
        return INFINITY;
    switch (o->error_method) {
    case QDB_EM_KL: {
        double rmin, rmax;
        kl_range(g, o->method, &rmin, &rmax);
        return kl_hist(h, g, rmin, rmax);
    }
    case QDB_EM_MAE:
        return hist_error_p(h, h->count, g, 1.0);
    case QDB_EM_LP:
        return hist_error_p(h, h->count, g, o->l_p_value);
    case QDB_EM_HMSE:
        return hist_error_p(h, h->wcount ? h->wcount : h->count, g, 2.0);
    default:
        return hist_error_p(h, h->count, g, 2.0);
    }
}

/* ---- weight errors ------------------------------------------------------- */

static double weight_error(const float *w, const float *hw, size_t n, const qdb_qgrid *g,
                           qdb_error_method em, double p)
{
    const double lo = g->lo, d = g->delta, L = g->levels_m1;
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    size_t i = 0;
#define ERR(j) (lo + d * qindex(w[j], lo, d, L) - (double)w[j])
    if (em == QDB_EM_HMSE && hw) {
        for (; i + 4 <= n; i += 4) {
            double e0 = ERR(i), e1 = ERR(i + 1), e2 = ERR(i + 2), e3 = ERR(i + 3);
            a0 += hw[i] * e0 * e0;
            a1 += hw[i + 1] * e1 * e1;
            a2 += hw[i + 2] * e2 * e2;
            a3 += hw[i + 3] * e3 * e3;
        }
        for (; i < n; i++) {
            double e0 = ERR(i);
            a0 += hw[i] * e0 * e0;
        }
    } else if (em == QDB_EM_MAE || (em == QDB_EM_LP && p == 1.0)) {
        for (; i + 4 <= n; i += 4) {
            a0 += fabs(ERR(i));
            a1 += fabs(ERR(i + 1));
            a2 += fabs(ERR(i + 2));
            a3 += fabs(ERR(i + 3));
        }
        for (; i < n; i++)
            a0 += fabs(ERR(i));
    } else if (em == QDB_EM_LP && p != 2.0) {
        for (; i < n; i++)
            a0 += pow(fabs(ERR(i)), p);
    } else {
        for (; i + 4 <= n; i += 4) {
            double e0 = ERR(i), e1 = ERR(i + 1), e2 = ERR(i + 2), e3 = ERR(i + 3);
            a0 += e0 * e0;
            a1 += e1 * e1;
            a2 += e2 * e2;
            a3 += e3 * e3;
        }
        for (; i < n; i++) {
            double e0 = ERR(i);
            a0 += e0 * e0;
        }
    }
#undef ERR
    return n ? ((a0 + a1) + (a2 + a3)) / (double)n : 0.0;
}

/* ---- searches ------------------------------------------------------------ */

typedef struct ectx {
    const qdb_search_opts *o;
    int is_signed;
    const qdb_histogram *h; /* histogram mode (activations, or KL on weights) */
    int kl_min_bins;
    const float *w, *hw;    /* weight mode */
    size_t n;
} ectx;

static double eval_grid(const ectx *c, const qdb_qgrid *g)
{
    if (c->h) {
        if (c->o->error_method == QDB_EM_KL) {
            double rmin, rmax;
            int first, last;
            kl_range(g, c->o->method, &rmin, &rmax);
            if (!kl_span(c->h, rmin, rmax, &first, &last) || last - first < c->kl_min_bins)
                return INFINITY;
        }
        return qdb_hist_error(c->h, g, c->o);
    }
    return weight_error(c->w, c->hw, c->n, g, c->o->error_method, c->o->l_p_value);
}

static double eval_t(const ectx *c, double t)
{
    qdb_qparams p = {.method = c->o->method, .n_bits = c->o->n_bits, .is_signed = c->is_signed,
                     .threshold = t};
    qdb_qgrid g = qdb_qgrid_make(&p);
    return eval_grid(c, &g);
}

static double eval_range(const ectx *c, double a, double b)
{
    qdb_qparams p = {.method = QDB_QM_UNIFORM, .n_bits = c->o->n_bits, .min = a, .max = b};
    qdb_qgrid g = qdb_qgrid_make(&p);
    return eval_grid(c, &g);
}

/* Power of two: t0 / 2^i, i = 0..count-1. Of equal errors the smaller
 * threshold wins (MCT's argmin takes the larger; exact ties arise with KL
 * when no candidate clips and every level holds at most one bin, e.g. at
 * 16 bits, where MCT returns 2 * POT(max) for no gain). NAN if no candidate
 * has a finite error (KL guard). */
static double pot_search(const ectx *c, double t0, int count)
{
    double best_t = NAN, best_l = INFINITY;
    for (int i = 0; i < count; i++) {
        double t = ldexp(t0, -i);
        double l = eval_t(c, t);
        if (l < best_l || (l == best_l && isfinite(l)))
            best_l = l, best_t = t;
    }
    return best_t;
}

/* MCT's qparams_symmetric_iterative_minimization. NAN if every error was
 * infinite. */
static double sym_search(const ectx *c, double t0, int n_iter, int dec_freq)
{
    double alpha = BOTTOM_FACTOR, beta = UPPER_FACTOR;
    double cur = t0, best_t = t0, best_l = eval_t(c, t0);
    for (int it = 0; it < n_iter; it++) {
        double prev = best_l;
        double a = cur * alpha, b = cur * beta, step = (b - a) / (SYM_INTERVALS - 1);
        double ct = a, cl = eval_t(c, a);
        for (int k = 1; k < SYM_INTERVALS; k++) {
            double t = k == SYM_INTERVALS - 1 ? b : a + k * step;
            double l = eval_t(c, t);
            if (l < cl)
                cl = l, ct = t;
        }
        cur = ct;
        if (cl < prev)
            best_t = ct, best_l = cl;
        double diff = prev - cl;
        if (diff > 0.0 && diff < TOL)
            break;
        if (it % dec_freq == 0) {
            alpha *= DEC_BOTTOM;
            beta *= DEC_UPPER;
            alpha = alpha < DEC_RANGE_BOTTOM ? alpha : DEC_RANGE_BOTTOM;
            beta = beta > DEC_RANGE_UPPER ? beta : DEC_RANGE_UPPER;
        }
    }
    return isfinite(best_l) ? best_t : NAN;
}

/* MCT's iterative_uniform_dynamic_range_search. 0 if every error was
 * infinite. */
static int uni_search(const ectx *c, double a0, double b0, int k, int n_iter, double *ra, double *rb)
{
    double sc[UNI_HIST_K > UNI_TENSOR_K ? UNI_HIST_K : UNI_TENSOR_K];
    for (int i = 0; i < k; i++)
        sc[i] = i == k - 1 ? UPPER_FACTOR : BOTTOM_FACTOR + i * (UPPER_FACTOR - BOTTOM_FACTOR) / (k - 1);
    double ca = a0, cb = b0, ba = a0, bb = b0, bl = eval_range(c, a0, b0);
    for (int it = 0; it < n_iter; it++) {
        double prev = bl;
        double ta = ca * sc[0], tb = cb * sc[0], tl = INFINITY;
        int found = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                double a = ca * sc[i], b = cb * sc[j];
                double l = eval_range(c, a, b);
                if (!found || l < tl)
                    ta = a, tb = b, tl = l, found = 1;
            }
        ca = ta;
        cb = tb;
        if (tl < prev)
            ba = ta, bb = tb, bl = tl;
        double diff = prev - tl;
        if (diff > 0.0 && diff < TOL)
            break;
    }
    *ra = ba;
    *rb = bb;
    return isfinite(bl);
}

static qdb_status check_opts(const qdb_search_opts *o, qdb_err *e)
{
    if (!o)
        return qdb_err_set(e, QDB_ERR_INVALID, "threshold search: no options");
    if (o->n_bits < QDB_MIN_BITS || o->n_bits > QDB_MAX_BITS)
        return qdb_err_set(e, QDB_ERR_INVALID, "threshold search: n_bits %d outside %d..%d", o->n_bits,
                           QDB_MIN_BITS, QDB_MAX_BITS);
    if (o->method < 0 || o->method >= QDB_QM_COUNT)
        return qdb_err_set(e, QDB_ERR_INVALID, "threshold search: invalid quantization method %d",
                           (int)o->method);
    if (o->error_method < 0 || o->error_method >= QDB_EM_COUNT)
        return qdb_err_set(e, QDB_ERR_INVALID, "threshold search: invalid error method %d",
                           (int)o->error_method);
    if (!(o->min_threshold > 0.0) || !isfinite(o->min_threshold))
        return qdb_err_set(e, QDB_ERR_INVALID, "threshold search: min_threshold must be > 0 (got %g)",
                           o->min_threshold);
    if (o->error_method == QDB_EM_LP && (!(o->l_p_value >= 1.0) || !isfinite(o->l_p_value)))
        return qdb_err_set(e, QDB_ERR_INVALID, "threshold search: l_p_value must be >= 1 (got %g)",
                           o->l_p_value);
    return QDB_OK;
}

static int kl_min_bins(int n_bins, int n_bits)
{
    int m = 1 << n_bits;
    if (m < 128)
        m = 128;
    if (m > n_bins / 4)
        m = n_bins / 4;
    return m < 1 ? 1 : m;
}

/* max(-min (signed), max * 2^(n-s) / (2^(n-s) - 1), min_threshold) */
static double sym_start(double mn, double mx, int is_signed, int n_bits, double min_threshold)
{
    double lv = ldexp(1.0, n_bits - (is_signed ? 1 : 0));
    double pos = mx > 0.0 ? mx * lv / (lv - 1.0) : 0.0;
    double neg = is_signed && mn < 0.0 ? -mn : 0.0;
    double t = pos > neg ? pos : neg;
    return t > min_threshold ? t : min_threshold;
}

qdb_status qdb_select_act(const qdb_histogram *h, const qdb_search_opts *o, qdb_qparams *out, qdb_err *e)
{
    qdb_status st = check_opts(o, e);
    if (st)
        return st;
    if (!h || !out)
        return qdb_err_set(e, QDB_ERR_INVALID, "threshold search: no histogram or output");
    memset(out, 0, sizeof *out);
    out->method = o->method;
    out->n_bits = o->n_bits;
    out->is_signed = o->is_signed ? 1 : 0;
    const double mth = o->min_threshold;
    if (!(qdb_histogram_mass(h) > 0.0)) {
        /* nothing seen: the smallest allowed grid */
        out->threshold = o->method == QDB_QM_POWER_OF_TWO ? pot(0.0, mth) : mth;
        out->min = 0.0;
        out->max = mth;
        return QDB_OK;
    }
    ectx c = {.o = o, .is_signed = out->is_signed, .h = h,
              .kl_min_bins = kl_min_bins(h->n_bins, o->n_bits)};
    const int noclip = o->error_method == QDB_EM_NOCLIPPING;
    const double nzmin = qdb_histogram_nz_min(h), nzmax = qdb_histogram_nz_max(h);
    switch (o->method) {
    case QDB_QM_POWER_OF_TWO: {
        double t = pot(qdb_histogram_max_abs(h), mth);
        if (!noclip) {
            double s = pot_search(&c, 2.0 * t, POT_HIST_CANDIDATES);
            if (!isnan(s))
                t = s;
        }
        out->threshold = t > mth ? t : mth;
        break;
    }
    case QDB_QM_SYMMETRIC: {
        double t = sym_start(nzmin, nzmax, out->is_signed, o->n_bits, mth);
        if (!noclip) {
            double s = sym_search(&c, t, SYM_HIST_ITER, SYM_HIST_FREQ);
            if (!isnan(s))
                t = s;
        }
        out->threshold = t > mth ? t : mth;
        break;
    }
    default: {
        double a = nzmin, b = nzmax;
        if (!noclip) {
            double ra, rb;
            if (uni_search(&c, a, b, UNI_HIST_K, UNI_HIST_ITER, &ra, &rb))
                a = ra, b = rb;
        }
        out->min = a;
        out->max = b;
        break;
    }
    }
    return QDB_OK;
}

qdb_status qdb_select_weights(const float *w, size_t n, const float *hw, const qdb_search_opts *o,
                              qdb_qparams *out, qdb_err *e)
{
    qdb_status st = check_opts(o, e);
    if (st)
        return st;
    if (!out || (n && !w))
        return qdb_err_set(e, QDB_ERR_INVALID, "weight threshold search: no values or output");
    memset(out, 0, sizeof *out);
    out->method = o->method;
    out->n_bits = o->n_bits;
    out->is_signed = 1;
    const double mth = o->min_threshold;
    double mn = INFINITY, mx = -INFINITY;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double v = w[i];
        bad |= !isfinite(v);
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    if (bad)
        return qdb_err_set(e, QDB_ERR_INVALID, "weight threshold search: the weights hold NaN or inf");
    if (!n) {
        out->threshold = o->method == QDB_QM_POWER_OF_TWO ? pot(0.0, mth) : mth;
        out->min = 0.0;
        out->max = mth;
        return QDB_OK;
    }
    const int noclip = o->error_method == QDB_EM_NOCLIPPING;
    qdb_histogram *hist = NULL;
    ectx c = {.o = o, .is_signed = 1, .w = w, .hw = hw, .n = n};
    if (o->error_method == QDB_EM_KL) {
        hist = qdb_histogram_new(QDB_HIST_BINS, 0, e);
        if (!hist)
            return e ? e->code : QDB_ERR_NOMEM;
        st = qdb_histogram_add(hist, w, n, 1, 1, NULL, e);
        if (st)
            goto done;
        c.h = hist;
        c.kl_min_bins = kl_min_bins(hist->n_bins, o->n_bits);
    }
    switch (o->method) {
    case QDB_QM_POWER_OF_TWO: {
        double maxabs = fabs(mn) > fabs(mx) ? fabs(mn) : fabs(mx);
        double t = pot(maxabs, mth);
        if (!noclip) {
            double s = pot_search(&c, 2.0 * t, POT_WEIGHT_CANDIDATES);
            if (!isnan(s))
                t = s;
        }
        out->threshold = t > mth ? t : mth;
        break;
    }
    case QDB_QM_SYMMETRIC: {
        double t = sym_start(mn, mx, 1, o->n_bits, mth);
        if (!noclip) {
            double s = o->per_channel ? sym_search(&c, t, SYM_CHANNEL_ITER, SYM_CHANNEL_FREQ)
                                      : sym_search(&c, t, SYM_TENSOR_ITER, SYM_TENSOR_FREQ);
            if (!isnan(s))
                t = s;
        }
        out->threshold = t > mth ? t : mth;
        break;
    }
    default: {
        double a = mn, b = mx;
        if (!noclip) {
            double ra, rb;
            if (uni_search(&c, a, b, UNI_TENSOR_K, o->per_channel ? UNI_CHANNEL_ITER : UNI_TENSOR_ITER,
                           &ra, &rb))
                a = ra, b = rb;
        }
        out->min = a;
        out->max = b;
        break;
    }
    }
    st = QDB_OK;
done:
    qdb_histogram_free(hist);
    return st;
}
