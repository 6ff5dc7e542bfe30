/* histogram.c - activation statistics of one tensor over the whole
 * representative set (see histogram.h): batches binned onto a range that
 * grows to the running min..max, earlier counts re-binned by linear
 * interpolation of their cumulative distribution when it grows (MCT's
 * merge), optional per-channel weighted counts for HMSE, the z-score
 * outlier filter, shifting, and the queries threshold search needs.
 *
 * Degenerate input: NaN and inf values are counted in `nonfinite` and
 * otherwise skipped; an empty batch changes nothing. When every value seen
 * so far is the same number c, the range is given a small width w0 on the
 * side away from zero ([c - w0, c] for c > 0, [c, c + w0] for c < 0,
 * [0, w0] for c = 0, w0 = |c| / 1024 or 2^-24 for c = 0), so that the
 * largest |edge| of the non-empty bins is still exactly |c| and a later
 * batch merges normally. */
#include "histogram.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define MAX_BINS (1 << 24)

qdb_histogram *qdb_histogram_new(int n_bins, int weighted, qdb_err *e)
{
    if (n_bins <= 0)
        n_bins = QDB_HIST_BINS;
    if (n_bins > MAX_BINS) {
        qdb_err_set(e, QDB_ERR_INVALID, "histogram: %d bins (at most %d)", n_bins, MAX_BINS);
        return NULL;
    }
    qdb_histogram *h = calloc(1, sizeof *h);
    if (!h)
        goto fail;
    h->n_bins = n_bins;
    h->count = calloc((size_t)n_bins, sizeof *h->count);
    if (!h->count)
        goto fail;
    if (weighted) {
        h->wcount = calloc((size_t)n_bins, sizeof *h->wcount);
        if (!h->wcount)
            goto fail;
    }
    h->lo = h->hi = 0.0;
    h->min = INFINITY;
    h->max = -INFINITY;
    return h;
fail:
    qdb_histogram_free(h);
    qdb_err_set(e, QDB_ERR_NOMEM, "histogram: out of memory (%d bins)", n_bins);
    return NULL;
}

qdb_histogram *qdb_histogram_clone(const qdb_histogram *h, qdb_err *e)
{
    if (!h) {
        qdb_err_set(e, QDB_ERR_INVALID, "histogram: clone of NULL");
        return NULL;
    }
    qdb_histogram *c = qdb_histogram_new(h->n_bins, h->wcount != NULL, e);
    if (!c)
        return NULL;
    double *count = c->count, *wcount = c->wcount;
    *c = *h;
    c->count = count;
    c->wcount = wcount;
    memcpy(c->count, h->count, sizeof(double) * (size_t)h->n_bins);
    if (h->wcount)
        memcpy(c->wcount, h->wcount, sizeof(double) * (size_t)h->n_bins);
    return c;
}

void qdb_histogram_free(qdb_histogram *h)
{
    if (!h)
        return;
    free(h->count);
    free(h->wcount);
    free(h);
}

/* Edge i (0..n_bins) of the current range; the last one is exactly hi. */
static double edge(const qdb_histogram *h, int i)
{
    return i >= h->n_bins ? h->hi : h->lo + i * qdb_histogram_bin_width(h);
}

/* Re-bin `c` (over the histogram's current range) onto [lo2, hi2], which
 * contains it, by linear interpolation of the cumulative counts. `tmp` has
 * n_bins doubles. */
static void rebin(const qdb_histogram *h, double *c, double *tmp, double lo2, double hi2)
{
    int n = h->n_bins;
    double w = qdb_histogram_bin_width(h), w2 = (hi2 - lo2) / n;
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total += c[i];
    /* cumulative count at x: 0 below lo, total above hi, linear inside bins */
    int j = 0;
    double cum_j = 0.0; /* counts of bins < j */
    double prev = 0.0;
    for (int k = 1; k <= n; k++) {
        double x = k == n ? hi2 : lo2 + k * w2;
        double cx;
        if (x <= h->lo) {
            cx = 0.0;
        } else if (x >= h->hi) {
            cx = total;
        } else {
            double u = (x - h->lo) / w;
            int jj = (int)u;
            if (jj >= n)
                jj = n - 1;
            while (j < jj)
                cum_j += c[j++];
            double f = u - jj;
            if (f < 0.0)
                f = 0.0;
            if (f > 1.0)
                f = 1.0;
            cx = cum_j + f * c[jj];
        }
        double v = cx - prev;
        tmp[k - 1] = v > 0.0 ? v : 0.0;
        prev = cx > prev ? cx : prev;
    }
    memcpy(c, tmp, sizeof(double) * (size_t)n);
}

/* Widen the range to include [a, b], re-binning what is there. */
static qdb_status grow(qdb_histogram *h, double a, double b, qdb_err *e)
{
    double lo2 = a < h->lo ? a : h->lo, hi2 = b > h->hi ? b : h->hi;
    if (lo2 == h->lo && hi2 == h->hi)
        return QDB_OK;
    double *tmp = malloc(sizeof(double) * (size_t)h->n_bins);
    if (!tmp)
        return qdb_err_set(e, QDB_ERR_NOMEM, "histogram: out of memory");
    rebin(h, h->count, tmp, lo2, hi2);
    if (h->wcount)
        rebin(h, h->wcount, tmp, lo2, hi2);
    free(tmp);
    h->lo = lo2;
    h->hi = hi2;
    return QDB_OK;
}

/* A range of non-zero width for a batch whose values are all c. */
static void degenerate_range(double c, double *a, double *b)
{
    double w0 = c != 0.0 ? fabs(c) / 1024.0 : ldexp(1.0, -24);
    if (c > 0.0)
        *a = c - w0, *b = c;
    else
        *a = c, *b = c + w0;
}

/* Values binned per chunk (the index buffer's length). */
#define HIST_CHUNK 4096

/* Range and moments of the finite values among x[0..n): returns their
 * number. Four partial sums (in double; each v*v of a float is exact). */
QDB_MULTIVERSION static size_t moments(const float *x, size_t n, double *mn, double *mx,
                                       double *sum, double *sumsq)
{
    double lo = INFINITY, hi = -INFINITY, s[4] = {0}, q[4] = {0};
    size_t finite = 0, i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) {
            double v = x[i + j];
            int f = v - v == 0.0; /* false for inf and NaN */
            finite += (size_t)f;
            double vs = f ? v : 0.0;
            lo = f && v < lo ? v : lo;
            hi = f && v > hi ? v : hi;
            s[j] += vs;
            q[j] += vs * vs;
        }
    for (; i < n; i++) {
        double v = x[i];
        int f = v - v == 0.0;
        finite += (size_t)f;
        double vs = f ? v : 0.0;
        lo = f && v < lo ? v : lo;
        hi = f && v > hi ? v : hi;
        s[0] += vs;
        q[0] += vs * vs;
    }
    *mn = lo;
    *mx = hi;
    *sum = (s[0] + s[1]) + (s[2] + s[3]);
    *sumsq = (q[0] + q[1]) + (q[2] + q[3]);
    return finite;
}

/* Bin index of each value for bins of width 1/inv_w from lo, clamped to
 * [0, nb); -1 for a value that is not finite. */
QDB_MULTIVERSION static void bin_index(const float *x, size_t n, double lo, double inv_w, int nb,
                                       int32_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        int f = v - v == 0.0;
        double u = f ? (v - lo) * inv_w : -1.0;
        int32_t k = u <= 0.0 ? 0 : (u >= nb ? nb - 1 : (int32_t)u);
        idx[i] = f ? k : -1;
    }
}

qdb_status qdb_histogram_add(qdb_histogram *h, const float *x, size_t n, size_t plane, int channels,
                             const float *chan_weight, qdb_err *e)
{
    if (!h)
        return qdb_err_set(e, QDB_ERR_INVALID, "histogram_add: no histogram");
    if (n == 0)
        return QDB_OK;
    if (!x)
        return qdb_err_set(e, QDB_ERR_INVALID, "histogram_add: no values");
    if (h->wcount && chan_weight && (plane == 0 || channels <= 0))
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "histogram_add: weighted values need plane > 0 and channels > 0 (got %zu, %d)",
                           plane, channels);
    /* pass 1: range and moments of the finite values */
    double bmin = INFINITY, bmax = -INFINITY, sum = 0.0, sumsq = 0.0;
    size_t finite = moments(x, n, &bmin, &bmax, &sum, &sumsq);
    h->nonfinite += (int64_t)(n - finite);
    if (!finite)
        return QDB_OK;
    if (!(h->hi > h->lo)) {
        /* first values: the range is this batch's */
        double a = bmin, b = bmax;
        if (!(b > a))
            degenerate_range(a, &a, &b);
        h->lo = a;
        h->hi = b;
        memset(h->count, 0, sizeof(double) * (size_t)h->n_bins);
        if (h->wcount)
            memset(h->wcount, 0, sizeof(double) * (size_t)h->n_bins);
    } else if (bmin < h->lo || bmax > h->hi) {
        qdb_status st = grow(h, bmin, bmax, e);
        if (st)
            return st;
    }
    /* pass 2: bin, in chunks: indices first (a vector loop), then counts
     * into integer sub-histograms (four, so that runs of one bin do not
     * serialize on a single counter), added to the totals at the end */
    const int nb = h->n_bins;
    const double lo = h->lo, inv_w = nb / (h->hi - h->lo);
    /* four tables of nb + 1 counters: slot 0 takes the non-finite values
     * (index -1), slot k + 1 bin k */
    const size_t ts = (size_t)nb + 1;
    uint32_t *sub = calloc(ts * 4, sizeof *sub);
    int32_t *idx = malloc(HIST_CHUNK * sizeof *idx);
    if (!sub || !idx) {
        free(sub);
        free(idx);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    for (size_t c0 = 0; c0 < n; c0 += HIST_CHUNK) {
        size_t m = n - c0 < HIST_CHUNK ? n - c0 : HIST_CHUNK;
        bin_index(x + c0, m, lo, inv_w, nb, idx);
        size_t i = 0;
        for (; i + 4 <= m; i += 4) {
            sub[(size_t)(idx[i] + 1)]++;
            sub[ts + (size_t)(idx[i + 1] + 1)]++;
            sub[2 * ts + (size_t)(idx[i + 2] + 1)]++;
            sub[3 * ts + (size_t)(idx[i + 3] + 1)]++;
        }
        for (; i < m; i++)
            sub[(size_t)(idx[i] + 1)]++;
        if (h->wcount) {
            /* runs of one plane share their channel's weight */
            for (i = 0; i < m;) {
                size_t g = c0 + i, end = m;
                double wt = 1.0;
                if (chan_weight) {
                    wt = chan_weight[(g / plane) % (size_t)channels];
                    size_t left = plane - g % plane;
                    end = i + left < m ? i + left : m;
                }
                for (; i < end; i++)
                    if (idx[i] >= 0)
                        h->wcount[idx[i]] += wt;
            }
        }
    }
    free(idx);
    double *restrict count = h->count;
    for (int k = 0; k < nb; k++) {
        uint64_t c = 0;
        for (int t = 0; t < 4; t++)
            c += sub[(size_t)t * ts + (size_t)k + 1];
        count[k] += (double)c;
    }
    free(sub);
    h->min = bmin < h->min ? bmin : h->min;
    h->max = bmax > h->max ? bmax : h->max;
    h->total += (double)finite;
    h->sum += sum;
    h->sumsq += sumsq;
    return QDB_OK;
}

double qdb_histogram_mass(const qdb_histogram *h)
{
    double m = 0.0;
    if (!h)
        return 0.0;
    for (int i = 0; i < h->n_bins; i++)
        m += h->count[i];
    return m;
}

static int first_nz(const qdb_histogram *h)
{
    for (int i = 0; i < h->n_bins; i++)
        if (h->count[i] > 0.0)
            return i;
    return -1;
}

static int last_nz(const qdb_histogram *h)
{
    for (int i = h->n_bins - 1; i >= 0; i--)
        if (h->count[i] > 0.0)
            return i;
    return -1;
}

int qdb_histogram_has_negative(const qdb_histogram *h)
{
    int i = h ? first_nz(h) : -1;
    return i >= 0 && edge(h, i) < 0.0;
}

double qdb_histogram_max_abs(const qdb_histogram *h)
{
    int i = h ? first_nz(h) : -1;
    if (i < 0)
        return 0.0;
    double a = fabs(edge(h, i)), b = fabs(edge(h, last_nz(h) + 1));
    return a > b ? a : b;
}

double qdb_histogram_nz_min(const qdb_histogram *h)
{
    int i = h ? first_nz(h) : -1;
    return i < 0 ? 0.0 : edge(h, i);
}

double qdb_histogram_nz_max(const qdb_histogram *h)
{
    int i = h ? last_nz(h) : -1;
    return i < 0 ? 0.0 : edge(h, i + 1);
}

/* total, sum and sumsq from the bins (after counts changed). */
static void moments_from_bins(qdb_histogram *h)
{
    double m = 0.0, s = 0.0, s2 = 0.0;
    for (int i = 0; i < h->n_bins; i++) {
        double v = qdb_histogram_bin_value(h, i), c = h->count[i];
        m += c;
        s += c * v;
        s2 += c * v * v;
    }
    h->total = m;
    h->sum = s;
    h->sumsq = s2;
}

qdb_histogram *qdb_histogram_zfilter(const qdb_histogram *h, double z, qdb_err *e)
{
    if (!h) {
        qdb_err_set(e, QDB_ERR_INVALID, "histogram z-filter: no histogram");
        return NULL;
    }
    if (isnan(z) || z <= 0.0) {
        qdb_err_set(e, QDB_ERR_INVALID, "histogram z-filter: z_threshold must be > 0 (got %g)", z);
        return NULL;
    }
    qdb_histogram *c = qdb_histogram_clone(h, e);
    if (!c || isinf(z))
        return c;
    double m = 0.0, s = 0.0;
    for (int i = 0; i < c->n_bins; i++) {
        m += c->count[i];
        s += c->count[i] * qdb_histogram_bin_value(c, i);
    }
    if (!(m > 0.0))
        return c;
    double mean = s / m, var = 0.0;
    for (int i = 0; i < c->n_bins; i++) {
        double d = qdb_histogram_bin_value(c, i) - mean;
        var += c->count[i] * d * d;
    }
    double sd = sqrt(var / m);
    if (!(sd > 0.0))
        return c;
    for (int i = 0; i < c->n_bins; i++)
        if (fabs(qdb_histogram_bin_value(c, i) - mean) / sd > z) {
            c->count[i] = 0.0;
            if (c->wcount)
                c->wcount[i] = 0.0;
        }
    int a = first_nz(c), b = last_nz(c);
    if (a >= 0) {
        double l = edge(c, a), r = edge(c, b + 1);
        c->min = c->min > l ? c->min : l;
        c->max = c->max < r ? c->max : r;
    }
    moments_from_bins(c);
    return c;
}

qdb_histogram *qdb_histogram_shifted(const qdb_histogram *h, double shift, qdb_err *e)
{
    if (!h) {
        qdb_err_set(e, QDB_ERR_INVALID, "histogram shift: no histogram");
        return NULL;
    }
    if (!isfinite(shift)) {
        qdb_err_set(e, QDB_ERR_INVALID, "histogram shift: shift must be finite (got %g)", shift);
        return NULL;
    }
    qdb_histogram *c = qdb_histogram_clone(h, e);
    if (!c)
        return NULL;
    c->lo += shift;
    c->hi += shift;
    if (c->min <= c->max) {
        c->min += shift;
        c->max += shift;
    }
    c->sumsq += 2.0 * shift * c->sum + shift * shift * c->total;
    c->sum += shift * c->total;
    return c;
}
