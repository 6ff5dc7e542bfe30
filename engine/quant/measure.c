/* measure.c - per-layer error figures of the simulated network against the
 * float network on the same samples, at every layer's output:
 *   accumulated: the whole quantized network up to the layer (a run of the
 *                quantized graph), with the fraction of values clipped;
 *   own:         the layer alone (a run of the quantized graph in which
 *                every layer's output is replaced by the float value once
 *                its figures are taken, so each layer sees float inputs).
 * SQNR = 10 log10(sum x^2 / sum (x - y)^2), cosine similarity, MSE.
 * One float run per batch keeps every layer's float output; the batch is
 * sized so that these copies stay within QDB_MEASURE_BUDGET bytes (per
 * worker: batches run in parallel, their sums added in batch order). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "kernels.h"
#include "pipeline.h"
#include "quant_internal.h"

#define QDB_MEASURE_BUDGET ((size_t)256 << 20)

typedef struct acc {
    double xx, yy, xy, dd;
    double n, clipped;
} acc;

typedef struct mctx {
    qdb_qmodel *q;
    qdb_tensor **ref;     /* per layer: float output of this batch */
    acc *a_acc, *a_own;
    int mode;             /* 0 float (record), 1 accumulated, 2 own */
    int failed;
    qdb_exec *x;          /* the executor of the run */
} mctx;

/* Sums for the figures, in double, four partial sums each (vector lanes;
 * the order of additions is fixed, so the result does not depend on the
 * machine's vector width). */
QDB_MULTIVERSION static void compare(acc *a, const float *x, const float *y, size_t n,
                                     float unscale)
{
    double xx[4] = {0}, yy[4] = {0}, xy[4] = {0}, dd[4] = {0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) {
            double xv = x[i + k], yv = (double)y[i + k] * unscale;
            xx[k] += xv * xv;
            yy[k] += yv * yv;
            xy[k] += xv * yv;
            dd[k] += (xv - yv) * (xv - yv);
        }
    for (; i < n; i++) {
        double xv = x[i], yv = (double)y[i] * unscale;
        xx[0] += xv * xv;
        yy[0] += yv * yv;
        xy[0] += xv * yv;
        dd[0] += (xv - yv) * (xv - yv);
    }
    a->xx += (xx[0] + xx[1]) + (xx[2] + xx[3]);
    a->yy += (yy[0] + yy[1]) + (yy[2] + yy[3]);
    a->xy += (xy[0] + xy[1]) + (xy[2] + xy[3]);
    a->dd += (dd[0] + dd[1]) + (dd[2] + dd[3]);
    a->n += (double)n;
}

/* Values that are no layer's output (the gate inside a fused SiLU) need
 * not be computed: the executor may fuse them away. */
static int not_a_layer(void *user, const qdb_graph *g, int v)
{
    const qdb_qmodel *q = user;
    return v < 0 || v >= q->n_map || q->layer_of_value[v] < 0;
}

static int hook(void *user, const qdb_graph *g, int node, int slot, qdb_tensor *t)
{
    mctx *c = user;
    qdb_qmodel *q = c->q;
    int v = node < 0 ? g->inputs[slot] : g->nodes[node].out[slot];
    if (v >= q->n_map || t->dtype != QDB_F32)
        return 0;
    int L = q->layer_of_value[v];
    if (L < 0)
        return 0;
    qdb_qlayer *l = &q->layers[L];
    if (c->mode == 0) {
        qdb_tensor_free(c->ref[L]);
        /* the executor's own tensor when it lets go of it, else a copy */
        c->ref[L] = qdb_exec_disown(c->x, v);
        if (!c->ref[L])
            c->ref[L] = qdb_tensor_clone(t, NULL);
        if (!c->ref[L]) {
            c->failed = 1;
            return 1;
        }
        return 0;
    }
    const qdb_tensor *r = c->ref[L];
    if (!r || r->numel != t->numel)
        return 0;
    size_t clipped = 0;
    float pre = (float)l->act_prescale;
    if (l->act_active) {
        if (pre != 1.0f)
            for (size_t i = 0; i < t->numel; i++)
                t->data.f[i] *= pre;
        clipped = qdb_quantize_inplace(&l->act_grid, t->data.f, t->numel);
    } else {
        pre = 1.0f;
    }
    acc *a = c->mode == 1 ? &c->a_acc[L] : &c->a_own[L];
    compare(a, r->data.f, t->data.f, t->numel, 1.0f / pre);
    a->clipped += (double)clipped;
    if (c->mode == 2) {
        /* the next layers see the float value (scaled as the graph expects) */
        for (size_t i = 0; i < t->numel; i++)
            t->data.f[i] = r->data.f[i] * pre;
    }
    return 0;
}

/* The accumulated run quantizes every layer as the simulation does, so its
 * Convs run as the simulation's; the own run feeds float values. */
static const struct qdb_conv_q8 *accumulated_q8(void *user, const qdb_graph *g, int node)
{
    const mctx *c = user;
    return c->mode == 1 ? qdb_qmodel_conv_q8(c->q, g, node) : NULL;
}

static void finish(const acc *a, double *sqnr, double *cosine, double *mse)
{
    if (!isfinite(a->dd) || !isfinite(a->xx) || !isfinite(a->yy)) {
        *sqnr = *cosine = *mse = NAN; /* non-finite values: no figure */
        return;
    }
    *sqnr = a->dd > 0 ? 10.0 * log10(a->xx / a->dd) : INFINITY;
    if (a->xx == 0 && a->dd > 0)
        *sqnr = -INFINITY;
    *cosine = a->xx > 0 && a->yy > 0 ? a->xy / sqrt(a->xx * a->yy) : (a->dd == 0 ? 1.0 : 0.0);
    *mse = a->n > 0 ? a->dd / a->n : 0;
}

/* ---- batches in parallel (engine/pipeline.c) ---- */

typedef struct mbatch {    /* one batch and its sums per layer */
    qdb_tensor *images;
    acc *a_acc, *a_own;
} mbatch;

typedef struct mrun {
    qdb_qmodel *q;
    qdb_dataset *d;
    const qdb_run_opts *o;
    int batch;
    int64_t total, fetched, done;
    mctx *w;               /* per worker: its float outputs, the mode */
    qdb_exec **xf, **xq;   /* per worker */
    acc *a_acc, *a_own;    /* the totals */
} mrun;

static void mbatch_free(void *user, void *item)
{
    (void)user;
    mbatch *b = item;
    if (!b)
        return;
    qdb_tensor_free(b->images);
    free(b->a_acc);
    free(b->a_own);
    free(b);
}

static qdb_status m_fetch(void *user, int64_t bi, void **item, qdb_err *e)
{
    (void)bi;
    mrun *r = user;
    *item = NULL;
    if (r->fetched >= r->total)
        return QDB_OK;
    int want = (int)(r->total - r->fetched < r->batch ? r->total - r->fetched : r->batch);
    mbatch *b = calloc(1, sizeof *b);
    if (b) {
        b->a_acc = calloc((size_t)r->q->n_layers, sizeof *b->a_acc);
        b->a_own = calloc((size_t)r->q->n_layers, sizeof *b->a_own);
    }
    if (!b || !b->a_acc || !b->a_own) {
        mbatch_free(NULL, b);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    qdb_status st = qdb_dataset_next_batch(r->d, want, &b->images, NULL, e);
    if (st != QDB_OK || !b->images) {
        mbatch_free(NULL, b);
        return st;
    }
    r->fetched += b->images->shape.d[0];
    *item = b;
    return QDB_OK;
}

/* The float run (recording), then the accumulated and the own runs. */
static qdb_status m_work(void *user, int w, int64_t bi, void *item, qdb_err *e)
{
    (void)bi;
    mrun *r = user;
    mbatch *b = item;
    mctx *c = &r->w[w];
    c->a_acc = b->a_acc;
    c->a_own = b->a_own;
    qdb_status st = QDB_OK;
    for (int mode = 0; mode < 3 && st == QDB_OK; mode++) {
        qdb_tensor *out = NULL;
        c->mode = mode;
        c->x = mode ? r->xq[w] : r->xf[w];
        st = qdb_exec_run_first(c->x,
                                (const qdb_tensor *const *)&b->images, &out, e);
        qdb_tensor_free(out);
        if (c->failed)
            st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory measuring layers");
    }
    return st;
}

static void acc_add(acc *t, const acc *a)
{
    t->xx += a->xx;
    t->yy += a->yy;
    t->xy += a->xy;
    t->dd += a->dd;
    t->n += a->n;
    t->clipped += a->clipped;
}

/* Batch sums into the totals, in batch order (the same figures whatever
 * the number of workers). */
static qdb_status m_finish(void *user, int64_t bi, void *item, qdb_err *e)
{
    (void)bi;
    mrun *r = user;
    mbatch *b = item;
    for (int i = 0; i < r->q->n_layers; i++) {
        acc_add(&r->a_acc[i], &b->a_acc[i]);
        acc_add(&r->a_own[i], &b->a_own[i]);
    }
    r->done += b->images->shape.d[0];
    mbatch_free(NULL, b);
    if (r->o && r->o->progress && r->o->progress(r->o->user, r->done, r->total))
        return qdb_err_set(e, QDB_ERR_CANCELLED, "measurement cancelled after %lld samples",
                           (long long)r->done);
    return QDB_OK;
}

qdb_status qdb_qmodel_measure(qdb_qmodel *q, qdb_dataset *d, int64_t n, const qdb_run_opts *o,
                              qdb_err *e)
{
    if (!q->quantized)
        return qdb_err_set(e, QDB_ERR_INVALID, "the model is not quantized yet");
    qdb_status st = qdb_eval_check_fit(q->g, d, e);
    if (st != QDB_OK)
        return st;
    const int workers = qdb_pipeline_workers();
    mrun r = {.q = q, .d = d, .o = o};
    r.w = calloc((size_t)workers, sizeof *r.w);
    r.xf = calloc((size_t)workers, sizeof *r.xf);
    r.xq = calloc((size_t)workers, sizeof *r.xq);
    r.a_acc = calloc((size_t)q->n_layers, sizeof *r.a_acc);
    r.a_own = calloc((size_t)q->n_layers, sizeof *r.a_own);
    if (!r.w || !r.xf || !r.xq || !r.a_acc || !r.a_own) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int w = 0; w < workers; w++) {
        r.w[w].q = q;
        if (!(r.w[w].ref = calloc((size_t)q->n_layers, sizeof *r.w[w].ref))) {
            st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    /* batch size from the bytes of one sample's layer outputs (each worker
     * keeps its batch's; the size does not depend on the workers, so
     * neither do the figures) */
    size_t per = 0;
    for (int i = 0; i < q->n_layers; i++) {
        const qdb_value *v = &q->g->values[q->layers[i].out_value];
        size_t k = 1;
        for (int dd = 0; dd < v->shape.ndim; dd++)
            k *= v->shape.d[dd] > 0 ? (size_t)v->shape.d[dd] : 1;
        per += k * sizeof(float);
    }
    r.batch = o && o->batch > 0 ? o->batch : 64;
    if (per && (size_t)r.batch * per > QDB_MEASURE_BUDGET)
        r.batch = (int)(QDB_MEASURE_BUDGET / per) > 0 ? (int)(QDB_MEASURE_BUDGET / per) : 1;
    for (int w = 0; w < workers; w++) {
        r.xf[w] = qdb_exec_new(q->g, e);
        r.xq[w] = r.xf[w] ? qdb_exec_new(q->gq, e) : NULL;
        if (!r.xq[w]) {
            st = e && e->code ? e->code : QDB_ERR_NOMEM;
            goto done;
        }
        qdb_exec_set_hook(r.xf[w], hook, &r.w[w]);
        qdb_exec_hook_inputs(r.xf[w], 1);
        qdb_exec_set_fusion(r.xf[w], 1, not_a_layer, q);
        qdb_exec_set_hook(r.xq[w], hook, &r.w[w]);
        qdb_exec_hook_inputs(r.xq[w], 1);
        qdb_exec_set_fusion(r.xq[w], 1, not_a_layer, q);
        qdb_exec_set_conv_q8(r.xq[w], accumulated_q8, &r.w[w]);
    }
    r.total = qdb_dataset_count(d);
    if (n > 0 && n < r.total)
        r.total = n;
    const qdb_pipeline_fns fns = {m_fetch, m_work, m_finish, mbatch_free};
    if ((st = qdb_pipeline_run(workers, &fns, &r, e)) != QDB_OK)
        goto done;
    for (int i = 0; i < q->n_layers; i++) {
        qdb_layer_metrics *m = &q->layers[i].m;
        memset(m, 0, sizeof *m);
        if (r.a_acc[i].n == 0)
            continue;
        finish(&r.a_acc[i], &m->sqnr_db, &m->cosine, &m->mse);
        finish(&r.a_own[i], &m->sqnr_own_db, &m->cosine_own, &m->mse_own);
        m->clipped_fraction = r.a_acc[i].clipped / r.a_acc[i].n;
        m->values = (int64_t)r.a_acc[i].n;
        m->valid = 1;
    }
done:
    for (int w = 0; r.w && w < workers; w++) {
        if (r.w[w].ref)
            for (int i = 0; i < q->n_layers; i++)
                qdb_tensor_free(r.w[w].ref[i]);
        free(r.w[w].ref);
    }
    for (int w = 0; r.xf && w < workers; w++)
        qdb_exec_free(r.xf[w]);
    for (int w = 0; r.xq && w < workers; w++)
        qdb_exec_free(r.xq[w]);
    free(r.w);
    free(r.xf);
    free(r.xq);
    free(r.a_acc);
    free(r.a_own);
    return st;
}
