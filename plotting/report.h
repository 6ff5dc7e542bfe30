/* report.h - the report of a quantized model a user can hand on: one HTML
 * page and a Markdown version of the same, written into a directory with
 * their figures beside them (relative links; opening the page needs no
 * network). Holds the configuration, float and quantized accuracy, the
 * rules and what each is worth, the accuracy history, the per-layer SQNR
 * chart and table, and every layer's activation histogram, worst layers
 * first. */
#ifndef QDB_REPORT_H
#define QDB_REPORT_H

#include <stdint.h>

#include "figures.h"
#include "history.h"
#include "qmodel.h"
#include "rule_eval.h"
#include "ruleset.h"

typedef struct qdb_report_input {
    const char *model;          /* the model's path as given */
    const qdb_qmodel *q;        /* quantized, and measured for the SQNR figures */
    const char *calib_spec;     /* how the representative set was chosen (may be NULL) */
    unsigned long long seed;
    const char *eval_spec;      /* may be NULL: not evaluated */
    int64_t eval_samples;
    int labelled;               /* accuracies are top-1; else agreement with float */
    double float_acc, quant_acc; /* fractions; NAN: not evaluated */
    double agreement;           /* fraction of predictions equal to float's; NAN */
    const qdb_ruleset *rs;      /* may be NULL */
    const qdb_rule_eval *re;    /* may be NULL (no evaluation) */
    const qdb_history *hist;    /* may be NULL */
} qdb_report_input;

typedef struct qdb_report_result {
    int figures;                /* figures rendered */
    int failed;                 /* figures gnuplot could not render */
    char first_error[QDB_ERR_MSG_MAX]; /* the first figure's error, "" if none */
} qdb_report_result;

/* Write DIR/report.html and DIR/report.md (atomically) with their figures
 * (SVG unless o says otherwise). gp NULL (gnuplot missing) writes each
 * figure's data and script only, and the pages say so. A figure that fails
 * is noted in the pages and counted in res; the pages are still written.
 * Errors: the directory or a page cannot be written, out of memory. */
qdb_status qdb_report_write(qdb_gnuplot *gp, const char *dir, const qdb_report_input *in,
                            const qdb_plot_opts *o, qdb_report_result *res, qdb_err *e);

#endif
