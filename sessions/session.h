/* session.h - one investigation's state, shared by both front ends (the
 * TUI and the batch commands): the model, its representative and
 * evaluation sets, the quantized model, the network-editor rules, and the
 * figures of the last successful re-quantization (float, baseline and
 * current accuracy, each rule's contribution, per-layer metrics) with the
 * history of every one before it.
 *
 * Changes go through qdb_session_requant (after the rules or the global
 * configuration changed). It either succeeds, replacing the figures, or
 * fails (an error, or cancelled through the progress callback) leaving the
 * previous figures in place; the caller puts the previous configuration
 * back with qdb_session_restore. */
#ifndef QDB_SESSION_H
#define QDB_SESSION_H

#define QDB_UNDO_MAX 64
#define QDB_MEASURE_MEMO 8

#include "bisect.h"
#include "dataset.h"
#include "eval.h"
#include "eval_cache.h"
#include "history.h"
#include "qmodel.h"
#include "rule_eval.h"
#include "ruleset.h"
#include "sensitivity.h"
#include "session_ui.h"

typedef struct qdb_session {
    char *model;              /* path of the ONNX file */
    char *calib_spec, *eval_spec;
    /* the command-line flags the front end opened it with (data flags,
     * batch, threads; not rules or --set, which the session carries itself) */
    int n_origin;
    char **origin;
    qdb_graph *g;             /* float graph as loaded */
    qdb_dataset *dc, *de;     /* representative and evaluation sets */
    qdb_qmodel *q;
    qdb_ruleset *rs;
    qdb_eval_cache *cache;
    int batch;
    int64_t measure_n;        /* samples for per-layer metrics (0: all) */

    /* figures of the last successful (re-)quantization */
    int ready;                /* prepared: calibrated, quantized, evaluated */
    qdb_eval_result fr;       /* float model on the evaluation set */
    double float_score;       /* fractions (top-1, or agreement when unlabelled) */
    double baseline, current;
    int baseline_known;       /* baseline is for the current global configuration
                               * (cleared when it changes) */
    int n_rules;              /* rules the figures below are for */
    int *matches;             /* per rule: layers selected */
    double *contrib;          /* per rule: current - without it (NAN: disabled) */
    int evaluations;          /* evaluation passes of the last re-quantization */
    double seconds;           /* its wall time */
    qdb_history hist;
    unsigned long generation; /* bumped by every change, for front ends */

    /* the last completed sensitivity sweep and bisection (kept when a
     * later one is cancelled) */
    int have_sens;
    qdb_sensitivity sens;
    int *sens_rank;           /* own-layer indices, most sensitive first */
    int have_bisect;
    qdb_bisect bis;
    qdb_raise_mode bis_raise;
    char *bis_rule;           /* the rule keeping the culprits raised */
    int64_t sens_n, bis_n;    /* samples they were run on */

    struct qdb_gnuplot *gp;   /* the plot command's gnuplot process, started on
                               * first use (NULL until then) */

    char *save_path;          /* where `save` writes by default (NULL: derived
                               * from the model's name) */
    int resumed;              /* opened from a session file */
    int calibrations;         /* calibration runs (resuming with statistics: none) */
    int quiet_requant;        /* the next re-quantization adds no history entry
                               * (it repeats a loaded history's last) */
    char requant_label[64];   /* its history entry's label: the command that
                               * caused it ("": "requant") */
    /* the per-layer figures of the last few simulated networks measured,
     * by qdb_qmodel_signature: a network seen again is not measured again */
    struct qdb_measure_memo {
        uint64_t sig;
        int64_t measure_n;
        int n_layers;
        qdb_layer_metrics *m;  /* n_layers, owned */
    } mmemo[QDB_MEASURE_MEMO];
    int mmemo_next;
    int n_measured;           /* measurements run (the others recalled) */
    /* undo: the configurations before each change, newest last (owned;
     * the oldest go beyond QDB_UNDO_MAX) */
    struct qdb_undo_step {
        qdb_ruleset *rs;
        qdb_quant_config cfg;
        char label[64];       /* the change it undoes */
    } *undo;
    int n_undo;
    qdb_session_ui ui;        /* the front end's state, saved with the session
                               * (the TUI keeps it up to date) */
} qdb_session;

/* A new session over components the caller opened: ownership of g, dc, de
 * and rs (may be NULL: no rules) passes to the session, also on failure.
 * Nothing is computed yet (qdb_session_prepare). */
qdb_session *qdb_session_new(const char *model, const char *calib_spec, const char *eval_spec,
                             qdb_graph *g, qdb_dataset *dc, qdb_dataset *de,
                             const qdb_quant_config *cfg, qdb_ruleset *rs, int batch, qdb_err *e);
void qdb_session_free(qdb_session *s);

/* Progress of long work: the phase ("calibrating", "float", "quantized",
 * "measuring"), samples done of total. Non-zero cancels the work. Called
 * on the thread doing the work. */
typedef int (*qdb_session_progress)(void *user, const char *phase, int64_t done, int64_t total);

/* Calibrate, quantize, evaluate the float model and the quantized one (with
 * the rules), measure every layer. */
qdb_status qdb_session_prepare(qdb_session *s, qdb_session_progress progress, void *user,
                               qdb_err *e);

/* Quantize again with the current rules and configuration, evaluate, and
 * measure; on success the figures and the history advance. On failure
 * nothing of the figures changes; the caller restores the configuration. */
qdb_status qdb_session_requant(qdb_session *s, qdb_session_progress progress, void *user,
                               qdb_err *e);

/* Restore rules and configuration saved before a failed change (takes
 * ownership of `rs`) and quantize them again (thresholds are reused, no
 * evaluation runs). */
qdb_status qdb_session_restore(qdb_session *s, qdb_ruleset *rs, const qdb_quant_config *cfg,
                               qdb_err *e);

/* Forget every undo step (a load replaces the investigation). */
void qdb_session_undo_clear(qdb_session *s);

/* Sensitivity sweep (sensitivity.h) on the first n samples of the
 * evaluation set (0: all). On success the result replaces the previous
 * one; cancelled or failed, the previous one stays. The configuration is
 * left as it was. Progress phase: "sensitivity" (layers done of all). */
qdb_status qdb_session_sensitivity(qdb_session *s, int64_t n, qdb_session_progress progress,
                                   void *user, qdb_err *e);

/* Bisection (bisect.h, ddmin) on the first n samples (0: all) with a
 * tolerance in score fraction; layers ordered by the last sensitivity
 * ranking when there is one, else by own SQNR. Same result rules as
 * qdb_session_sensitivity. Progress phase: "bisect" (probes so far). */
qdb_status qdb_session_bisect(qdb_session *s, int64_t n, double tolerance, qdb_raise_mode raise,
                              qdb_session_progress progress, void *user, qdb_err *e);

/* The position in q->layers of own-layer index i (what sensitivity and
 * bisect count), or -1. */
int qdb_session_layer_of_own(const qdb_session *s, int i);

/* Record the flags the session was opened with (copied). */
qdb_status qdb_session_set_origin(qdb_session *s, int n, char *const *flags, qdb_err *e);

/* Index of the layer named `name` (exact), or -1. */
int qdb_session_find_layer(const qdb_session *s, const char *name);

#endif
