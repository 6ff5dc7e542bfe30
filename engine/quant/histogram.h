/* histogram.h - the activation statistics of one tensor over a whole
 * representative set: a fixed number of bins (2048) over a range that grows
 * to the running min..max, plus min, max and moments. Batches are added one
 * at a time, so memory does not grow with the dataset.
 *
 * Merging: a batch outside the current range widens it to the union; the
 * counts so far are re-binned onto the new range by linear interpolation
 * of their cumulative distribution (MCT's merge), and the new batch is then
 * binned directly onto the new range.
 *
 * An optional weighted count per bin (each value weighted by a per-channel
 * factor) serves the Hessian-weighted error (HMSE). */
#ifndef QDB_HISTOGRAM_H
#define QDB_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define QDB_HIST_BINS 2048

typedef struct qdb_histogram {
    int n_bins;
    double lo, hi;      /* bin i covers [lo + i*w, lo + (i+1)*w), w = (hi - lo) / n_bins */
    double *count;      /* n_bins counts (fractional after re-binning) */
    double *wcount;     /* n_bins weighted counts, or NULL */
    double min, max;    /* of every value added (finite ones) */
    double total;       /* values added */
    double sum, sumsq;  /* of the values, for mean and standard deviation */
    int64_t nonfinite;  /* NaN / inf values skipped */
} qdb_histogram;

qdb_histogram *qdb_histogram_new(int n_bins, int weighted, qdb_err *e);
qdb_histogram *qdb_histogram_clone(const qdb_histogram *h, qdb_err *e);
void qdb_histogram_free(qdb_histogram *h);

/* Add n values. For weighted histograms, the values are laid out as
 * [.., channels, plane] and value i is weighted by chan_weight[(i / plane)
 * % channels]; chan_weight may be NULL otherwise. */
qdb_status qdb_histogram_add(qdb_histogram *h, const float *x, size_t n, size_t plane,
                             int channels, const float *chan_weight, qdb_err *e);

static inline double qdb_histogram_bin_width(const qdb_histogram *h)
{
    return (h->hi - h->lo) / h->n_bins;
}
/* Value that stands for bin i in error sums and in the z-score filter: its
 * left edge, as in MCT (bins[:-1]), so that thresholds match MCT's. */
static inline double qdb_histogram_bin_value(const qdb_histogram *h, int i)
{
    return h->lo + i * qdb_histogram_bin_width(h);
}
static inline double qdb_histogram_bin_left(const qdb_histogram *h, int i)
{
    return h->lo + i * qdb_histogram_bin_width(h);
}

/* z-score outlier removal: a copy whose bins with |value - mean| / std > z
 * are emptied (mean and std from the counts); min and max shrink to the
 * remaining non-empty bins. z = inf returns a plain copy. */
qdb_histogram *qdb_histogram_zfilter(const qdb_histogram *h, double z, qdb_err *e);
/* A copy with every value moved by `shift` (the bins move with it). */
qdb_histogram *qdb_histogram_shifted(const qdb_histogram *h, double shift, qdb_err *e);
/* Any non-empty bin with a negative left edge. */
int qdb_histogram_has_negative(const qdb_histogram *h);
/* Largest |left or right edge| of a non-empty bin (0 when empty). */
double qdb_histogram_max_abs(const qdb_histogram *h);
/* Smallest left edge / largest right edge of a non-empty bin. */
double qdb_histogram_nz_min(const qdb_histogram *h);
double qdb_histogram_nz_max(const qdb_histogram *h);
/* Sum of counts. */
double qdb_histogram_mass(const qdb_histogram *h);

#endif
