/* sensitivity.h - per-layer sensitivity sweeps on a probe: for every layer,
 * the score with only that layer quantized (everything else float) and
 * with everything quantized but that layer (kept in float), each with the
 * model output's SQNR against float. Two probes per layer; progress is
 * reported after each and the sweep can be stopped, keeping what it has. */
#ifndef QDB_SENSITIVITY_H
#define QDB_SENSITIVITY_H

#include "eval.h"
#include "probe.h"
#include "qmodel.h"

typedef struct qdb_sens_layer {
    int index;                 /* layer position (the model's own layers) */
    int done;                  /* both probes ran */
    qdb_probe_score only;      /* only this layer quantized */
    qdb_probe_score all_but;   /* every layer quantized but this one */
} qdb_sens_layer;

typedef struct qdb_sensitivity {
    int n;                     /* layers */
    qdb_sens_layer *layers;    /* in table order */
    qdb_probe_score float_s;   /* the float model on the probe */
    qdb_probe_score quant;     /* every layer quantized (the configuration as given) */
    int64_t samples;
    int evaluations;
    int complete;              /* every layer done (not stopped) */
} qdb_sensitivity;

/* Sweep q's layers with its current configuration (rules applied). The
 * progress callback gets (layers done, layers) and may stop the sweep:
 * QDB_ERR_CANCELLED with the partial result kept in *out. q is left
 * quantized with its configuration as given. */
qdb_status qdb_sensitivity_run(qdb_qmodel *q, qdb_probe *p, qdb_progress_fn progress, void *user,
                               qdb_sensitivity *out, qdb_err *e);
/* Layer indices, most sensitive first: by the score regained when the
 * layer alone stays float, then by the lowest SQNR with it alone
 * quantized. order has out->n entries; layers not done come last. */
void qdb_sensitivity_rank(const qdb_sensitivity *s, int *order);
void qdb_sensitivity_free(qdb_sensitivity *s);

#endif
