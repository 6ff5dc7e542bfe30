/* sensitivity.c - per-layer sensitivity sweeps (see sensitivity.h). */
#include "sensitivity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "whatif.h"

qdb_status qdb_sensitivity_run(qdb_qmodel *q, qdb_probe *p, qdb_progress_fn progress, void *user,
                               qdb_sensitivity *out, qdb_err *e)
{
    memset(out, 0, sizeof *out);
    qdb_whatif *w = qdb_whatif_new(q, e);
    if (!w)
        return e && e->code ? e->code : QDB_ERR_NOMEM;
    int n = qdb_whatif_layers(w);
    out->n = n;
    out->samples = qdb_probe_count(p);
    out->float_s = qdb_probe_float(p);
    out->layers = calloc((size_t)(n ? n : 1), sizeof *out->layers);
    char *set = calloc((size_t)(n ? n : 1), 1);
    qdb_status st = QDB_OK;
    if (!out->layers || !set) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = qdb_whatif_probe(w, set, 0, QDB_RAISE_FLOAT, p, &out->quant, e)) != QDB_OK)
        goto done;
    out->evaluations++;
    for (int i = 0; i < n; i++) {
        qdb_sens_layer *l = &out->layers[i];
        l->index = i;
        set[i] = 1;
        st = qdb_whatif_probe(w, set, 1, QDB_RAISE_FLOAT, p, &l->only, e);
        if (st == QDB_OK)
            st = qdb_whatif_probe(w, set, 0, QDB_RAISE_FLOAT, p, &l->all_but, e);
        set[i] = 0;
        if (st != QDB_OK)
            goto done;
        out->evaluations += 2;
        l->done = 1;
        if (progress && progress(user, i + 1, n)) {
            st = qdb_err_set(e, QDB_ERR_CANCELLED, "sensitivity stopped after %d of %d layers",
                             i + 1, n);
            goto done;
        }
    }
    out->complete = 1;
done:
    st = qdb_whatif_finish(w, st, e);
    free(set);
    if (st != QDB_OK && st != QDB_ERR_CANCELLED)
        qdb_sensitivity_free(out);
    return st;
}

/* Is layer a more sensitive than layer b? */
static int before(const qdb_sensitivity *s, int a, int b)
{
    const qdb_sens_layer *x = &s->layers[a], *y = &s->layers[b];
    if (x->done != y->done)
        return x->done;
    if (x->all_but.score != y->all_but.score)
        return x->all_but.score > y->all_but.score;
    if (x->only.sqnr_db != y->only.sqnr_db)
        return x->only.sqnr_db < y->only.sqnr_db;
    return a < b;
}

void qdb_sensitivity_rank(const qdb_sensitivity *s, int *order)
{
    /* insertion sort: a few hundred layers at most, and stable */
    for (int i = 0; i < s->n; i++) {
        int v = i, j = i;
        while (j > 0 && before(s, v, order[j - 1])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

void qdb_sensitivity_free(qdb_sensitivity *s)
{
    free(s->layers);
    memset(s, 0, sizeof *s);
}
