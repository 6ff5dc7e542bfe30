/* figures.h - the figures qdb draws: for each, a data file (.dat) and a
 * gnuplot script (.gp) written beside the image, so that a user can
 * restyle it and re-run `gnuplot NAME.gp` in that directory; the image is
 * then rendered by the run's gnuplot process (gnuplot.h).
 *
 *   act_NNN_LAYER     activation histogram over the calibration set, a
 *                     dashed line per error method's threshold, the active
 *                     one emphasised, the clipped region shaded, optionally
 *                     the quantization grid
 *   wt_NNN_LAYER      histogram of the layer's kernel values
 *   wch_NNN_LAYER     per-output-channel weight thresholds and max |w|
 *   sqnr              per-layer SQNR (own and accumulated), worst labelled
 *   sensitivity       ranked per-layer sensitivity
 *   bisect            the culprits bisect found, ranked
 *   history           accuracy over the re-quantization history
 * NNN is the layer's index in q->layers. All text is drawn literally
 * (noenhanced); the image format follows qdb_plot_opts.format. */
#ifndef QDB_FIGURES_H
#define QDB_FIGURES_H

#include <stddef.h>

#include "bisect.h"
#include "gnuplot.h"
#include "history.h"
#include "qmodel.h"
#include "sensitivity.h"

typedef enum { QDB_PLOT_PNG = 0, QDB_PLOT_SVG, QDB_PLOT_PDF, QDB_PLOT_FORMAT_COUNT } qdb_plot_format;

/* "png", "svg", "pdf" */
const char *qdb_plot_format_ext(qdb_plot_format f);
/* From "png" / "svg" / "pdf" or a file name ending in one of them (any
 * case); -1 when none. */
int qdb_plot_format_parse(const char *s);

typedef struct qdb_plot_opts {
    qdb_plot_format format;
    int width, height;  /* pixels; PDF at 100 pixels per inch (default 900 x 540) */
    int log_counts;     /* histograms: logarithmic counts (default 1) */
    int grid;           /* activation histograms: overlay the quantization grid */
    const char *title;  /* replaces the figure's title (layer figures: "TITLE: layer") */
    int top;            /* ranked charts and SQNR labels: how many (default 30 / 5) */
    int timeout_s;      /* per figure (default 120) */
} qdb_plot_opts;

void qdb_plot_opts_init(qdb_plot_opts *o);

/* "WxH" (64..10000 pixels each) into *w, *h: 0, or -1 when malformed. */
int qdb_plot_size_parse(const char *v, int *w, int *h);

/* Each figure function writes DIR/BASE.dat and DIR/BASE.gp atomically and,
 * when gp is not NULL, renders DIR/BASE.<ext> through it (written under a
 * temporary name and renamed when gnuplot succeeded). `out` (n bytes)
 * receives the image's file name relative to dir ("" when gp is NULL). On
 * failure nothing half-written stays under the final names. */

/* Layer `layer` (index in q->layers) must have been calibrated; its
 * thresholds are drawn when it is quantized. */
qdb_status qdb_fig_act_hist(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q, int layer,
                            const qdb_plot_opts *o, char *out, size_t n, qdb_err *e);
/* Layers with a constant kernel only (QDB_ERR_INVALID otherwise). */
qdb_status qdb_fig_weight_hist(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q, int layer,
                               const qdb_plot_opts *o, char *out, size_t n, qdb_err *e);
qdb_status qdb_fig_weight_channels(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q,
                                   int layer, const qdb_plot_opts *o, char *out, size_t n,
                                   qdb_err *e);
/* Needs qdb_qmodel_measure to have run (QDB_ERR_INVALID when no layer has
 * figures). */
qdb_status qdb_fig_sqnr(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q,
                        const qdb_plot_opts *o, char *out, size_t n, qdb_err *e);
qdb_status qdb_fig_sensitivity(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q,
                               const qdb_sensitivity *s, const qdb_plot_opts *o, char *out,
                               size_t n, qdb_err *e);
qdb_status qdb_fig_bisect(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q,
                          const qdb_bisect *b, const qdb_plot_opts *o, char *out, size_t n,
                          qdb_err *e);
qdb_status qdb_fig_history(qdb_gnuplot *gp, const char *dir, const qdb_history *h,
                           const qdb_plot_opts *o, char *out, size_t n, qdb_err *e);

#endif
