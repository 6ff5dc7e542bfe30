/* eval.c - model evaluation over a dataset (see eval.h). */
#include "eval.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

qdb_status qdb_eval_check_fit(const qdb_graph *g, const qdb_dataset *d, qdb_err *e)
{
    if (g->n_inputs != 1)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "%s: evaluation needs a model with one input, this one has %d",
                           g->path, g->n_inputs);
    const qdb_value *in = &g->values[g->inputs[0]];
    int64_t chw[3];
    qdb_dataset_sample_shape(d, chw);
    char want[160];
    qdb_value_shape_str(in, want, sizeof want);
    int ok = in->dtype == QDB_F32 && in->shape.ndim == 4 && (in->batch_dims & 1u);
    for (int i = 0; ok && i < 3; i++)
        ok = in->shape.d[i + 1] == chw[i];
    if (!ok)
        return qdb_err_set(e, QDB_ERR_SHAPE,
                           "%s: samples of shape [%lld,%lld,%lld] do not fit the input %s of %s "
                           "(which needs [N,C,H,W] with a free batch)",
                           qdb_dataset_images_path(d), (long long)chw[0], (long long)chw[1],
                           (long long)chw[2], want, g->path);
    return QDB_OK;
}

/* Rank of the label among the scores: how many classes come before it,
 * ties going to the lower class index as in the predicted class (arg max,
 * first on ties). Counting ties in the label's favour would score a
 * quantized model, whose coarse logits often tie, higher than it is. */
static int64_t rank_of(const float *s, int64_t k, int64_t label)
{
    int64_t r = 0;
    for (int64_t j = 0; j < k; j++)
        r += s[j] > s[label] || (s[j] == s[label] && j < label);
    return r;
}

qdb_status qdb_eval_accumulate(qdb_eval_result *r, const char *what, const qdb_tensor *out,
                               const qdb_tensor *labels, int64_t total, qdb_err *e)
{
    int64_t n = out->shape.ndim ? out->shape.d[0] : 0;
    if (out->dtype != QDB_F32 || out->shape.ndim < 2 || n < 1 || out->numel % (size_t)n) {
        char sb[128];
        return qdb_err_set(e, QDB_ERR_SHAPE, "%s: output of shape %s is not one score vector "
                           "per sample", what, qdb_shape_str(&out->shape, sb, sizeof sb));
    }
    if (r->n + n > total)
        return qdb_err_set(e, QDB_ERR_INVALID, "dataset yielded more samples than announced");
    int64_t k = (int64_t)(out->numel / (size_t)n);
    r->n_classes = k;
    for (int64_t i = 0; i < n; i++) {
        const float *s = out->data.f + i * k;
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (s[j] > s[best])
                best = j;
        r->pred[r->n + i] = best;
        if (labels) {
            int64_t y = labels->data.i[i];
            if (y < 0 || y >= k)
                return qdb_err_set(e, QDB_ERR_INVALID,
                                   "label %lld of sample %lld is outside the model's %lld classes",
                                   (long long)y, (long long)(r->n + i), (long long)k);
            int64_t rank = rank_of(s, k, y);
            r->top1 += rank == 0;
            r->top5 += rank < 5;
        }
    }
    r->n += n;
    return QDB_OK;
}

qdb_status qdb_eval_run(const qdb_graph *g, qdb_dataset *d, const qdb_eval_opts *o,
                        qdb_eval_result *r, qdb_err *e)
{
    memset(r, 0, sizeof *r);
    qdb_status st = qdb_eval_check_fit(g, d, e);
    if (st != QDB_OK)
        return st;
    int batch = o && o->batch > 0 ? o->batch : 64;
    int64_t total = qdb_dataset_count(d);
    r->labelled = qdb_dataset_has_labels(d);
    r->pred = malloc(((size_t)total + 1) * sizeof *r->pred);
    qdb_exec *x = qdb_exec_new(g, e);
    if (!r->pred || !x) {
        st = x ? qdb_err_set(e, QDB_ERR_NOMEM, "out of memory") : (e ? e->code : QDB_ERR_NOMEM);
        goto fail;
    }
    if (o && o->hook) {
        qdb_exec_set_hook(x, o->hook, o->hook_user);
        qdb_exec_hook_inputs(x, o->hook_inputs);
    }
    double t0 = now_s();
    for (;;) {
        qdb_tensor *images = NULL, *labels = NULL, *out = NULL;
        st = qdb_dataset_next_batch(d, batch, &images, r->labelled ? &labels : NULL, e);
        if (st != QDB_OK)
            goto fail;
        if (!images)
            break;
        st = qdb_exec_run_first(x, (const qdb_tensor *const *)&images, &out, e);
        qdb_tensor_free(images);
        if (st == QDB_OK)
            st = qdb_eval_accumulate(r, g->path, out, labels, total, e);
        qdb_tensor_free(labels);
        qdb_tensor_free(out);
        if (st != QDB_OK)
            goto fail;
        if (o && o->progress && o->progress(o->user, r->n, total)) {
            st = qdb_err_set(e, QDB_ERR_CANCELLED, "evaluation cancelled after %lld samples",
                             (long long)r->n);
            goto fail;
        }
    }
    r->seconds = now_s() - t0;
    qdb_exec_free(x);
    return QDB_OK;
fail:
    qdb_exec_free(x);
    qdb_eval_result_free(r);
    return st;
}

void qdb_eval_result_free(qdb_eval_result *r)
{
    free(r->pred);
    memset(r, 0, sizeof *r);
}
