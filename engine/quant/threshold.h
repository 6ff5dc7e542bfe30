/* threshold.h - threshold selection: for activations from their histogram,
 * for weights from the tensor itself, with each error method of MCT
 * (NOCLIPPING, MSE, MAE, KL, Lp, HMSE) and each quantizer (power of two,
 * symmetric, uniform). The candidate sets and search schedules are MCT's;
 * see the README ("Threshold selection") for each rule and where qdb
 * departs from MCT (the KL guard). */
#ifndef QDB_THRESHOLD_H
#define QDB_THRESHOLD_H

#include <stddef.h>

#include "histogram.h"
#include "quant_config.h"
#include "quantizer.h"

typedef struct qdb_search_opts {
    qdb_quant_method method;
    qdb_error_method error_method;
    int n_bits;
    int is_signed;          /* power of two / symmetric: signed grid */
    double min_threshold;   /* floor of power-of-two and symmetric thresholds */
    double l_p_value;       /* p of the Lp method */
    int per_channel;        /* weights: one channel of a per-channel tensor
                             * (shorter symmetric / uniform schedules) */
} qdb_search_opts;

/* Error of quantizing a histogram with grid g: sum over bins of
 * count * |q(v) - v|^p / sum of counts, v the bin value; p = 2 (MSE,
 * HMSE), 1 (MAE) or l_p_value (LP). HMSE uses the weighted counts when the
 * histogram has them. KL is the KL divergence of the clipped, quantized
 * distribution. NOCLIPPING has no error: MSE is used. */
double qdb_hist_error(const qdb_histogram *h, const qdb_qgrid *g, const qdb_search_opts *o);

/* Activation parameters from a histogram with o->error_method. */
qdb_status qdb_select_act(const qdb_histogram *h, const qdb_search_opts *o, qdb_qparams *out,
                          qdb_err *e);

/* Weight parameters for n values (one channel, or a whole tensor). `hw`, if
 * not NULL, holds one Hessian weight per value (HMSE); without it HMSE is
 * MSE. Weights are signed whatever o->is_signed says. */
qdb_status qdb_select_weights(const float *w, size_t n, const float *hw,
                              const qdb_search_opts *o, qdb_qparams *out, qdb_err *e);

#endif
