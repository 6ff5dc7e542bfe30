/* probe.c - quick comparisons of quantized configurations on a fixed set
 * of samples (see probe.h). */
#include "probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"

struct qdb_probe {
    qdb_dataset *d;
    int64_t n, k;       /* samples, scores per sample */
    int batch;
    float *ref;         /* n * k float outputs */
    int64_t *labels;    /* n, or NULL */
    int64_t *ref_pred;  /* n */
};

static int64_t argmax(const float *s, int64_t k)
{
    int64_t b = 0;
    for (int64_t j = 1; j < k; j++)
        if (s[j] > s[b])
            b = j;
    return b;
}

/* Run g (with the hook of o, if any) over the probe's samples; call back
 * per batch with the outputs. */
typedef void (*batch_fn)(qdb_probe *p, int64_t first, const qdb_tensor *out, void *ctx);

static qdb_status run_all(qdb_probe *p, const qdb_graph *g, const qdb_eval_opts *o, int64_t limit,
                          int want_labels, batch_fn fn, void *ctx, qdb_err *e)
{
    qdb_status st = qdb_dataset_rewind(p->d, e);
    if (st != QDB_OK)
        return st;
    qdb_exec *x = qdb_exec_new(g, e);
    if (!x)
        return e && e->code ? e->code : QDB_ERR_NOMEM;
    if (o && o->hook) { /* as qdb_eval_run sets it up: the same numbers */
        qdb_exec_set_hook(x, o->hook, o->hook_user);
        qdb_exec_hook_inputs(x, o->hook_inputs);
        if (o->fuse_skippable) {
            qdb_exec_set_fusion(x, 1, o->fuse_skippable, o->hook_user);
            qdb_exec_set_pointwise(x, o->fuse_pointwise);
        }
        qdb_exec_set_conv_q8(x, o->conv_q8, o->conv_q8_user);
    } else {
        qdb_exec_set_fusion(x, 1, NULL, NULL);
    }
    int64_t done = 0;
    while (st == QDB_OK && (limit <= 0 || done < limit)) {
        int want = p->batch;
        if (limit > 0 && limit - done < want)
            want = (int)(limit - done);
        qdb_tensor *im = NULL, *lab = NULL, *out = NULL;
        if ((st = qdb_dataset_next_batch(p->d, want, &im, want_labels ? &lab : NULL, e)) != QDB_OK)
            break;
        if (!im)
            break;
        int64_t b = im->shape.d[0];
        st = qdb_exec_run_first(x, (const qdb_tensor *const *)&im, &out, e);
        if (st == QDB_OK && (out->dtype != QDB_F32 || out->numel % (size_t)b))
            st = qdb_err_set(e, QDB_ERR_SHAPE, "%s: output is not one score vector per sample",
                             g->path);
        if (st == QDB_OK) {
            if (lab && p->labels)
                memcpy(p->labels + done, lab->data.i, (size_t)b * sizeof *p->labels);
            fn(p, done, out, ctx);
        }
        done += b;
        qdb_tensor_free(im);
        qdb_tensor_free(lab);
        qdb_tensor_free(out);
    }
    qdb_exec_free(x);
    return st;
}

static void keep_ref(qdb_probe *p, int64_t first, const qdb_tensor *out, void *ctx)
{
    (void)ctx;
    int64_t b = out->shape.d[0];
    if (!p->k)
        p->k = (int64_t)(out->numel / (size_t)b);
    memcpy(p->ref + first * p->k, out->data.f, out->numel * sizeof(float));
    for (int64_t i = 0; i < b; i++)
        p->ref_pred[first + i] = argmax(out->data.f + i * p->k, p->k);
}

qdb_probe *qdb_probe_new(const qdb_graph *g, qdb_dataset *d, int64_t n, int batch, qdb_err *e)
{
    if (qdb_eval_check_fit(g, d, e) != QDB_OK)
        return NULL;
    int64_t total = qdb_dataset_count(d);
    if (n <= 0 || n > total)
        n = total;
    if (n <= 0) {
        qdb_err_set(e, QDB_ERR_INVALID, "%s: no samples to probe with", qdb_dataset_images_path(d));
        return NULL;
    }
    qdb_probe *p = calloc(1, sizeof *p);
    if (!p)
        goto oom;
    p->d = d;
    p->n = n;
    p->batch = batch > 0 ? batch : 64;
    /* the output width, from the graph */
    const qdb_value *ov = &g->values[g->outputs[0]];
    int64_t k = 1;
    for (int i = 1; i < ov->shape.ndim; i++)
        k *= ov->shape.d[i] > 0 ? ov->shape.d[i] : 1;
    if (k <= 0 || (size_t)k > ((size_t)1 << 28) / (size_t)n) {
        qdb_err_set(e, QDB_ERR_INVALID, "%s: output too large to probe with", g->path);
        qdb_probe_free(p);
        return NULL;
    }
    p->ref = malloc((size_t)(n * k) * sizeof *p->ref);
    p->ref_pred = malloc((size_t)n * sizeof *p->ref_pred);
    if (qdb_dataset_has_labels(d))
        p->labels = malloc((size_t)n * sizeof *p->labels);
    if (!p->ref || !p->ref_pred || (qdb_dataset_has_labels(d) && !p->labels))
        goto oom;
    p->k = k;
    if (run_all(p, g, NULL, n, 1, keep_ref, NULL, e) != QDB_OK) {
        qdb_probe_free(p);
        return NULL;
    }
    return p;
oom:
    qdb_err_set(e, QDB_ERR_NOMEM, "out of memory preparing a probe of %lld samples", (long long)n);
    qdb_probe_free(p);
    return NULL;
}

void qdb_probe_free(qdb_probe *p)
{
    if (!p)
        return;
    free(p->ref);
    free(p->labels);
    free(p->ref_pred);
    free(p);
}

int64_t qdb_probe_count(const qdb_probe *p)
{
    return p->n;
}

qdb_probe_score qdb_probe_float(const qdb_probe *p)
{
    qdb_probe_score s = {.top1 = NAN, .agreement = 1.0, .sqnr_db = INFINITY};
    if (p->labels) {
        int64_t hit = 0;
        for (int64_t i = 0; i < p->n; i++)
            hit += p->ref_pred[i] == p->labels[i];
        s.top1 = (double)hit / (double)p->n;
    }
    s.score = p->labels ? s.top1 : 1.0;
    return s;
}

typedef struct acc {
    int64_t hit, same;
    double xx, dd;
} acc;

static void score_batch(qdb_probe *p, int64_t first, const qdb_tensor *out, void *ctx)
{
    acc *a = ctx;
    int64_t b = out->shape.d[0];
    for (int64_t i = 0; i < b; i++) {
        const float *y = out->data.f + i * p->k, *x = p->ref + (first + i) * p->k;
        int64_t pr = argmax(y, p->k);
        a->same += pr == p->ref_pred[first + i];
        if (p->labels)
            a->hit += pr == p->labels[first + i];
        for (int64_t j = 0; j < p->k; j++) {
            double d = (double)y[j] - x[j];
            a->xx += (double)x[j] * x[j];
            a->dd += d * d;
        }
    }
}

qdb_status qdb_probe_run(qdb_probe *p, qdb_qmodel *q, qdb_probe_score *s, qdb_err *e)
{
    if (!q->quantized)
        return qdb_err_set(e, QDB_ERR_INVALID, "the model is not quantized yet");
    qdb_eval_opts o = {0};
    qdb_qmodel_eval_opts(q, &o);
    acc a = {0};
    /* labels were kept by the float run */
    qdb_status st = run_all(p, q->gq, &o, p->n, 0, score_batch, &a, e);
    if (st != QDB_OK)
        return st;
    s->agreement = (double)a.same / (double)p->n;
    s->top1 = p->labels ? (double)a.hit / (double)p->n : NAN;
    s->sqnr_db = a.dd > 0 ? 10.0 * log10(a.xx / a.dd) : INFINITY;
    s->score = p->labels ? s->top1 : s->agreement;
    return QDB_OK;
}
