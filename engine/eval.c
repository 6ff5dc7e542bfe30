/* eval.c - model evaluation over a dataset (see eval.h). */
#include "eval.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor.h"
#include "pipeline.h"

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

/* One batch through qdb_eval_run's pipeline. */
typedef struct {
    qdb_tensor *images, *labels, *out;
} eval_item;

typedef struct {
    const qdb_graph *g;
    qdb_dataset *d;
    const qdb_eval_opts *o;
    qdb_eval_result *r;
    qdb_exec **x; /* one per worker */
    int batch;
    int64_t total;
} eval_run;

static void eval_discard(void *user, void *item)
{
    (void)user;
    eval_item *it = item;
    qdb_tensor_free(it->images);
    qdb_tensor_free(it->labels);
    qdb_tensor_free(it->out);
    free(it);
}

static qdb_status eval_fetch(void *user, int64_t b, void **item, qdb_err *e)
{
    eval_run *er = user;
    eval_item *it = calloc(1, sizeof *it);
    if (!it)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    qdb_status st = qdb_dataset_next_batch(er->d, er->batch, &it->images,
                                           er->r->labelled ? &it->labels : NULL, e);
    if (st != QDB_OK || !it->images) {
        eval_discard(er, it);
        return st;
    }
    *item = it;
    return QDB_OK;
}

static qdb_status eval_work(void *user, int w, int64_t b, void *item, qdb_err *e)
{
    eval_run *er = user;
    eval_item *it = item;
    return qdb_exec_run_first(er->x[w], (const qdb_tensor *const *)&it->images, &it->out, e);
}

static qdb_status eval_finish(void *user, int64_t b, void *item, qdb_err *e)
{
    eval_run *er = user;
    eval_item *it = item;
    qdb_status st = qdb_eval_accumulate(er->r, er->g->path, it->out, it->labels, er->total, e);
    eval_discard(er, it);
    if (st == QDB_OK && er->o && er->o->progress &&
        er->o->progress(er->o->user, er->r->n, er->total))
        st = qdb_err_set(e, QDB_ERR_CANCELLED, "evaluation cancelled after %lld samples",
                         (long long)er->r->n);
    return st;
}

qdb_status qdb_eval_run(const qdb_graph *g, qdb_dataset *d, const qdb_eval_opts *o,
                        qdb_eval_result *r, qdb_err *e)
{
    memset(r, 0, sizeof *r);
    qdb_status st = qdb_eval_check_fit(g, d, e);
    if (st != QDB_OK)
        return st;
    eval_run er = {.g = g, .d = d, .o = o, .r = r};
    er.batch = o && o->batch > 0 ? o->batch : 64;
    er.total = qdb_dataset_count(d);
    r->labelled = qdb_dataset_has_labels(d);
    r->pred = malloc(((size_t)er.total + 1) * sizeof *r->pred);
    int workers = qdb_pipeline_workers();
    er.x = calloc((size_t)workers, sizeof *er.x);
    if (!r->pred || !er.x) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int w = 0; w < workers; w++) {
        if (!(er.x[w] = qdb_exec_new(g, e))) {
            st = e && e->code ? e->code : QDB_ERR_NOMEM;
            goto done;
        }
        if (o && o->hook) {
            qdb_exec_set_hook(er.x[w], o->hook, o->hook_user);
            qdb_exec_hook_inputs(er.x[w], o->hook_inputs);
            qdb_exec_set_conv_q8(er.x[w], o->conv_q8, o->conv_q8_user);
            if (o->fuse_skippable) {
                qdb_exec_set_fusion(er.x[w], 1, o->fuse_skippable, o->hook_user);
                qdb_exec_set_pointwise(er.x[w], o->fuse_pointwise);
            }
        } else {
            qdb_exec_set_fusion(er.x[w], 1, NULL, NULL);
        }
    }
    double t0 = now_s();
    const qdb_pipeline_fns fns = {eval_fetch, eval_work, eval_finish, eval_discard};
    st = qdb_pipeline_run(workers, &fns, &er, e);
    r->seconds = now_s() - t0;
done:
    for (int w = 0; er.x && w < workers; w++)
        qdb_exec_free(er.x[w]);
    free(er.x);
    if (st != QDB_OK)
        qdb_eval_result_free(r);
    return st;
}

void qdb_eval_result_free(qdb_eval_result *r)
{
    free(r->pred);
    memset(r, 0, sizeof *r);
}
