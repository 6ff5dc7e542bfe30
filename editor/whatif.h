/* whatif.h - trying configurations on a model and putting it back: a
 * snapshot of every layer's resolved configuration (after rules), and the
 * two ways a search raises a set of layers: keep them in float, or give
 * them 16-bit activations and weights. Used by sensitivity and bisect. */
#ifndef QDB_WHATIF_H
#define QDB_WHATIF_H

#include "probe.h"
#include "qmodel.h"

typedef enum { QDB_RAISE_FLOAT = 0, QDB_RAISE_16BIT } qdb_raise_mode;

typedef struct qdb_whatif qdb_whatif;

/* Snapshot q's layer configurations (q is reset to its own layers first). */
qdb_whatif *qdb_whatif_new(qdb_qmodel *q, qdb_err *e);
void qdb_whatif_free(qdb_whatif *w);
/* Number of layers (the model's own, in table order). */
int qdb_whatif_layers(const qdb_whatif *w);

/* Configure: every layer as in the snapshot, then layers with raise[i] set
 * raised (mode), or, with `only`, every layer but those kept in float;
 * quantize and probe. */
qdb_status qdb_whatif_probe(qdb_whatif *w, const char *raise, int only, qdb_raise_mode mode,
                            qdb_probe *p, qdb_probe_score *s, qdb_err *e);
/* Put the snapshot back and quantize. */
qdb_status qdb_whatif_restore(qdb_whatif *w, qdb_err *e);
/* End of a search that got status st: restore, free w, and return st (or
 * the restore's failure when st was QDB_OK, its message in e). */
qdb_status qdb_whatif_finish(qdb_whatif *w, qdb_status st, qdb_err *e);

#endif
