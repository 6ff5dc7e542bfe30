/* bisect.h - find a small set of layers which, raised (kept in float or
 * given 16-bit activations and weights), brings the probe score within a
 * tolerance of float.
 *
 * Two strategies:
 *   QDB_BISECT_DDMIN (default): delta debugging (Zeller's ddmin) over the
 *     layer set, ordered by a sensitivity ranking when one is given so that
 *     likely culprits share chunks. The result is 1-minimal: dropping any
 *     one culprit loses the target. One culprit among N layers costs about
 *     2 log2 N probes.
 *   QDB_BISECT_PREFIX (Polygraphy's): binary search for the shortest run of
 *     first layers, and of last layers, that reaches the target; the
 *     smaller wins. Contiguous, not minimal.
 * Every probe is recorded as a step. */
#ifndef QDB_BISECT_H
#define QDB_BISECT_H

#include "eval.h"
#include "probe.h"
#include "qmodel.h"
#include "whatif.h"

typedef enum { QDB_BISECT_DDMIN = 0, QDB_BISECT_PREFIX } qdb_bisect_mode;

typedef struct qdb_bisect_step {
    int n_raised;
    int *raised;               /* layer indices */
    qdb_probe_score s;
    int passed;                /* reached the target */
} qdb_bisect_step;

typedef struct qdb_bisect {
    int n_layers;
    double target;             /* float score - tolerance */
    qdb_probe_score float_s, base, final;
    int found;                 /* the culprits reach the target */
    int n_culprits;
    int *culprits;             /* layer indices, table order */
    double *alone;             /* per culprit: score with only it raised */
    int n_steps;
    qdb_bisect_step *steps;
    int evaluations;
} qdb_bisect;

typedef struct qdb_bisect_opts {
    double tolerance;          /* score fraction (0.005 = half a point) */
    qdb_raise_mode raise;
    qdb_bisect_mode mode;
    const int *ranking;        /* most sensitive first (n_layers), or NULL: table order */
    qdb_progress_fn progress;  /* (probes so far, 0); non-zero stops */
    void *user;
} qdb_bisect_opts;

/* Search q's layers with its current configuration. q is left quantized
 * with its configuration as given. */
qdb_status qdb_bisect_run(qdb_qmodel *q, qdb_probe *p, const qdb_bisect_opts *o, qdb_bisect *out,
                          qdb_err *e);
void qdb_bisect_free(qdb_bisect *b);
/* The rule keeping b's culprits raised as `mode` says, in canonical text
 * ("name=\"a\" or name=\"b\" : act_quant=off, w_quant=off"); malloc'd,
 * NULL on OOM. */
char *qdb_bisect_rule(const qdb_qmodel *q, const qdb_bisect *b, qdb_raise_mode mode);

#endif
