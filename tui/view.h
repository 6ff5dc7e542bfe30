/* view.h - what the TUI draws: a snapshot of the session taken on the UI
 * thread whenever no job is running. While a job changes the session on
 * its own thread, the screen keeps drawing (and scrolling, and showing
 * histograms of) the last snapshot, so that drawing never reads state
 * being written. */
#ifndef QDB_TUI_VIEW_H
#define QDB_TUI_VIEW_H

#include "quant_config.h"
#include "session.h"

#define VIEW_HIST_BINS 256

typedef struct vlayer {
    char *name, *op;
    int own;                         /* its number (rules' index=, sensitivity,
                                      * bisect), -1 for a correction layer */
    char shape[32];                  /* output shape without the batch: "16x14x14" */
    int act_bits, act_by_rule, act_active, act_signed;
    int w_bits, w_by_rule;           /* w_bits 0: no weights */
    int em, em_by_rule;              /* active error method */
    double thr;                      /* active threshold (uniform: max) */
    double thr_m[QDB_EM_COUNT];      /* what each method picks */
    int metrics;                     /* the figures below are valid */
    double sqnr_own, sqnr_acc, clipped;
    int any_rule;
    /* histogram, resampled to VIEW_HIST_BINS over [lo, hi] */
    int has_hist;
    double lo, hi, total;
    double counts[VIEW_HIST_BINS];
    /* weights (w_bits > 0): the float kernel's histogram over [w_lo, w_hi]
     * and the threshold of each channel (one when per tensor) */
    int has_w;
    double w_lo, w_hi, w_total;
    double w_counts[VIEW_HIST_BINS];
    int n_wthr;
    double *wthr;
    int w_per_channel;
} vlayer;

typedef struct view {
    int ready;
    int n;                           /* layers */
    vlayer *l;
    double float_score, baseline, current, seconds;
    int n_rules;
    char **rule_text;
    int *rule_on, *rule_matches;
    double *rule_contrib;            /* NAN: disabled or not evaluated */
    int n_hist;
    char **hist_line;                /* one per history entry, newest last */
    int n_notes;
    char *note[2];                   /* the last sensitivity sweep and bisection */
} view;

/* Snapshot the session (replacing what v held). 0, or -1 when out of memory
 * (v is then empty). */
int view_build(view *v, const qdb_session *s);
void view_free(view *v);

#endif
