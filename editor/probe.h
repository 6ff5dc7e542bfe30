/* probe.h - a fixed set of samples on which configurations are compared
 * quickly (sensitivity sweeps, bisection): the float model's outputs on it
 * are computed once and kept; each probe of a quantized configuration runs
 * the simulated network over the same samples and scores it: top-1
 * against the labels (when there are labels), agreement with the float
 * model's predictions, and the SQNR of the model output against float. */
#ifndef QDB_PROBE_H
#define QDB_PROBE_H

#include "dataset.h"
#include "eval.h"
#include "qmodel.h"

typedef struct qdb_probe qdb_probe;

typedef struct qdb_probe_score {
    double top1;        /* fraction; NAN without labels */
    double agreement;   /* fraction of predictions equal to the float model's */
    double sqnr_db;     /* model output against float (inf when identical) */
    double score;       /* top1 when labelled, else agreement: what searches use */
} qdb_probe_score;

/* Read up to n samples of d (0 = all, from its start) and run the float
 * model `g` on them. d must stay open while the probe lives. */
qdb_probe *qdb_probe_new(const qdb_graph *g, qdb_dataset *d, int64_t n, int batch, qdb_err *e);
void qdb_probe_free(qdb_probe *p);
int64_t qdb_probe_count(const qdb_probe *p);
/* The float model's own score (top-1, or 1 for agreement). */
qdb_probe_score qdb_probe_float(const qdb_probe *p);

/* Score q's simulated network (q must be quantized). */
qdb_status qdb_probe_run(qdb_probe *p, qdb_qmodel *q, qdb_probe_score *s, qdb_err *e);

#endif
