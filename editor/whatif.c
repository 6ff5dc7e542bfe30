/* whatif.c - configuration snapshots and raised layer sets (see whatif.h). */
#include "whatif.h"

#include <stdlib.h>
#include <string.h>

struct qdb_whatif {
    qdb_qmodel *q;
    int n;
    qdb_act_config *act;
    qdb_weight_config *w;
};

qdb_whatif *qdb_whatif_new(qdb_qmodel *q, qdb_err *e)
{
    qdb_qmodel_reset(q);
    qdb_whatif *w = calloc(1, sizeof *w);
    if (w) {
        w->q = q;
        w->n = q->n_layers;
        w->act = malloc((size_t)(w->n ? w->n : 1) * sizeof *w->act);
        w->w = malloc((size_t)(w->n ? w->n : 1) * sizeof *w->w);
    }
    if (!w || !w->act || !w->w) {
        qdb_whatif_free(w);
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < w->n; i++) {
        w->act[i] = q->layers[i].act;
        w->w[i] = q->layers[i].wcfg;
    }
    return w;
}

void qdb_whatif_free(qdb_whatif *w)
{
    if (!w)
        return;
    free(w->act);
    free(w->w);
    free(w);
}

int qdb_whatif_layers(const qdb_whatif *w)
{
    return w->n;
}

static void put_back(qdb_whatif *w)
{
    qdb_qmodel_reset(w->q);
    for (int i = 0; i < w->n; i++) {
        w->q->layers[i].act = w->act[i];
        w->q->layers[i].wcfg = w->w[i];
    }
}

static void raise_layer(qdb_qlayer *l, qdb_raise_mode mode)
{
    if (mode == QDB_RAISE_FLOAT) {
        l->act.enabled = 0;
        l->wcfg.enabled = 0;
    } else {
        l->act.n_bits = 16;
        l->wcfg.n_bits = 16;
    }
}

qdb_status qdb_whatif_probe(qdb_whatif *w, const char *raise, int only, qdb_raise_mode mode,
                            qdb_probe *p, qdb_probe_score *s, qdb_err *e)
{
    put_back(w);
    for (int i = 0; i < w->n; i++) {
        qdb_qlayer *l = &w->q->layers[i];
        if (only ? !raise[i] : raise[i])
            raise_layer(l, only ? QDB_RAISE_FLOAT : mode);
    }
    qdb_status st = qdb_qmodel_quantize(w->q, e);
    if (st == QDB_OK)
        st = qdb_probe_run(p, w->q, s, e);
    return st;
}

qdb_status qdb_whatif_restore(qdb_whatif *w, qdb_err *e)
{
    put_back(w);
    return qdb_qmodel_quantize(w->q, e);
}

qdb_status qdb_whatif_finish(qdb_whatif *w, qdb_status st, qdb_err *e)
{
    qdb_err e2 = {0};
    qdb_status rs = qdb_whatif_restore(w, &e2);
    if (st == QDB_OK && rs != QDB_OK) {
        st = rs;
        if (e)
            *e = e2;
    }
    qdb_whatif_free(w);
    return st;
}
