/* calibration.c - statistics of the float network over the representative
 * set, one batch at a time: for every layer a histogram of its output
 * (2048 bins, merged across batches), and for every weighted layer the
 * per-channel mean and second moment of its data input (bias correction,
 * Hessian weights of HMSE). Histograms of layers that feed a weighted
 * layer also keep counts weighted by that layer's per-input-channel
 * Hessian estimate (sum of squared kernel entries reading the channel):
 * the HMSE criterion for activations. Memory is bounded by the batch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "quant_internal.h"

typedef struct chan_acc {
    int channels;
    int64_t plane;       /* values per channel per sample */
    int axis_last;       /* channels are the last axis (Gemm / MatMul inputs) */
    double *sum, *sumsq;
    double count;        /* values per channel seen */
} chan_acc;

typedef struct calib {
    qdb_qmodel *q;
    chan_acc **acc;      /* per value: input statistics wanted, or NULL */
    int *hist_layer;     /* per value: layer whose histogram it feeds, -1 */
    /* per layer: Hessian weights per consumer input channel */
    float **hw;
    int *hw_channels;
    int64_t *hw_plane;
    qdb_err err;
    int failed;
} calib;

static void acc_add(chan_acc *a, const qdb_tensor *t)
{
    if (a->axis_last) {
        size_t rows = t->numel / (size_t)a->channels;
        for (size_t r = 0; r < rows; r++) {
            const float *x = t->data.f + r * (size_t)a->channels;
            for (int c = 0; c < a->channels; c++) {
                a->sum[c] += x[c];
                a->sumsq[c] += (double)x[c] * x[c];
            }
        }
        a->count += (double)rows;
        return;
    }
    size_t per = (size_t)a->channels * (size_t)a->plane;
    size_t n = t->numel / per;
    for (size_t s = 0; s < n; s++)
        for (int c = 0; c < a->channels; c++) {
            const float *x = t->data.f + (s * (size_t)a->channels + (size_t)c) * (size_t)a->plane;
            double s1 = 0, s2 = 0;
            for (int64_t i = 0; i < a->plane; i++) {
                s1 += x[i];
                s2 += (double)x[i] * x[i];
            }
            a->sum[c] += s1;
            a->sumsq[c] += s2;
        }
    a->count += (double)(n * (size_t)a->plane);
}

static int hook(void *user, const qdb_graph *g, int node, int slot, qdb_tensor *t)
{
    calib *c = user;
    int v = node < 0 ? g->inputs[slot] : g->nodes[node].out[slot];
    if (t->dtype != QDB_F32)
        return 0;
    if (c->acc[v])
        acc_add(c->acc[v], t);
    int L = c->hist_layer[v];
    if (L >= 0) {
        qdb_qlayer *l = &c->q->layers[L];
        int ch = c->hw[L] ? c->hw_channels[L] : 1;
        size_t plane = c->hw[L] ? (size_t)c->hw_plane[L] : 1;
        if (qdb_histogram_add(l->hist, t->data.f, t->numel, plane, ch, c->hw[L], &c->err) !=
            QDB_OK) {
            c->failed = 1;
            return 1;
        }
    }
    return 0;
}

/* Data input layout of a weighted layer: channels and plane. */
static int input_layout(const qdb_graph *g, const qdb_qlayer *l, int *channels, int64_t *plane,
                        int *axis_last)
{
    const qdb_value *x = &g->values[l->in_value];
    if (!x->shape_known || x->shape.ndim < 2)
        return 0;
    const char *t = l->type;
    if (!strcmp(t, "Conv") || !strcmp(t, "ConvTranspose")) {
        *channels = (int)x->shape.d[1];
        *plane = 1;
        for (int d = 2; d < x->shape.ndim; d++)
            *plane *= x->shape.d[d];
        *axis_last = 0;
    } else {
        *channels = (int)x->shape.d[x->shape.ndim - 1];
        *plane = 1;
        *axis_last = 1;
    }
    return *channels > 0;
}

/* Hessian weight per input channel of the weighted node reading layer l's
 * output (through order-keeping ops), or NULL. */
static float *consumer_hessian(const qdb_qmodel *q, const qdb_uses *u, int L, int *channels,
                               int64_t *plane, qdb_err *e)
{
    const qdb_graph *g = q->g0;
    int v = q->layers[L].out_value;
    int n = qdb_sole_consumer(g, u, v);
    while (n >= 0 && qdb_op_keeps_order(g->nodes[n].op_type) && g->nodes[n].in[0] == v) {
        v = g->nodes[n].out[0];
        n = qdb_sole_consumer(g, u, v);
    }
    if (n < 0 || g->nodes[n].in[0] != v)
        return NULL;
    /* the weighted layer anchored at n */
    const qdb_qlayer *c = NULL;
    for (int i = 0; i < q->n_layers; i++)
        if (q->layers[i].w_value >= 0 && g->values[q->layers[i].anchor_value].producer == n)
            c = &q->layers[i];
    if (!c)
        return NULL;
    int ax_last;
    if (!input_layout(g, c, channels, plane, &ax_last))
        return NULL;
    qdb_tensor *w = g->values[c->w_value].constant;
    float *h = calloc((size_t)*channels, sizeof *h);
    if (!h) {
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* view W as [A, in_axis, B] for Gemm/MatMul; Conv [O, Cin/g, K] */
    if (!strcmp(c->type, "Conv")) {
        int64_t O = w->shape.d[0], cin_g = w->shape.d[1];
        int64_t K = (int64_t)w->numel / (O * cin_g);
        int64_t og = O / c->w_groups;
        if (cin_g * c->w_groups != *channels) {
            free(h);
            return NULL;
        }
        for (int64_t o = 0; o < O; o++)
            for (int64_t j = 0; j < cin_g; j++) {
                const float *p = w->data.f + (o * cin_g + j) * K;
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += (double)p[k] * p[k];
                h[(o / og) * cin_g + j] += (float)s;
            }
    } else if (!strcmp(c->type, "Gemm") || !strcmp(c->type, "MatMul")) {
        int64_t r = w->shape.d[0], cc = w->shape.d[1];
        int in_rows = c->w_in_axis == 0;
        if ((in_rows ? r : cc) != *channels) {
            free(h);
            return NULL;
        }
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < cc; j++) {
                float x = w->data.f[i * cc + j];
                h[in_rows ? i : j] += x * x;
            }
    } else {
        free(h);
        return NULL;
    }
    /* scale to mean 1 so weighted and plain errors are comparable */
    double m = 0;
    for (int k = 0; k < *channels; k++)
        m += h[k];
    m /= *channels;
    if (m > 0)
        for (int k = 0; k < *channels; k++)
            h[k] = (float)(h[k] / m);
    return h;
}

static void calib_free(calib *c, int n_values, int n_layers)
{
    if (c->acc)
        for (int v = 0; v < n_values; v++)
            if (c->acc[v]) {
                free(c->acc[v]->sum);
                free(c->acc[v]->sumsq);
                free(c->acc[v]);
            }
    free(c->acc);
    free(c->hist_layer);
    if (c->hw)
        for (int i = 0; i < n_layers; i++)
            free(c->hw[i]);
    free(c->hw);
    free(c->hw_channels);
    free(c->hw_plane);
}

qdb_status qdb_qmodel_calibrate(qdb_qmodel *q, qdb_dataset *d, const qdb_run_opts *o, qdb_err *e)
{
    qdb_qmodel_reset(q);
    q->calibrated = 0; /* until this run completes */
    if (qdb_qmodel_map_values(q, e) != QDB_OK)
        return e->code;
    const qdb_graph *g = q->g0;
    calib c = {.q = q};
    qdb_exec *x = NULL;
    qdb_uses u = {0};
    qdb_status st = qdb_eval_check_fit(g, d, e);
    if (st != QDB_OK)
        return st;
    if (g->n_inputs != 1)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: calibration needs a model with one input",
                           g->path);
    c.acc = calloc((size_t)g->n_values, sizeof *c.acc);
    c.hist_layer = malloc((size_t)g->n_values * sizeof *c.hist_layer);
    c.hw = calloc((size_t)q->n_layers, sizeof *c.hw);
    c.hw_channels = calloc((size_t)q->n_layers, sizeof *c.hw_channels);
    c.hw_plane = calloc((size_t)q->n_layers, sizeof *c.hw_plane);
    if (!c.acc || !c.hist_layer || !c.hw || !c.hw_channels || !c.hw_plane)
        goto oom;
    if ((st = qdb_uses_build(g, &u, e)) != QDB_OK)
        goto fail;
    for (int v = 0; v < g->n_values; v++)
        c.hist_layer[v] = -1;
    /* a previous quantization may have pointed layers at copies in its graphs */
    for (int i = 0; i < q->n_base_layers; i++)
        qdb_qlayer_refresh_weights(g, &q->layers[i]);
    for (int i = 0; i < q->n_base_layers; i++) {
        qdb_qlayer *l = &q->layers[i];
        qdb_histogram_free(l->hist);
        l->hist = NULL;
        l->memo_act = l->memo_w = 0; /* new statistics: search again */
        free(l->in_mean);
        free(l->in_sqmean);
        l->in_mean = l->in_sqmean = NULL;
        c.hw[i] = consumer_hessian(q, &u, i, &c.hw_channels[i], &c.hw_plane[i], e);
        if (!c.hw[i] && e && e->code == QDB_ERR_NOMEM)
            goto fail;
        l->hist = qdb_histogram_new(QDB_HIST_BINS, c.hw[i] != NULL, e);
        if (!l->hist)
            goto fail;
        c.hist_layer[l->out_value] = i;
        int ch, ax_last;
        int64_t plane;
        if (l->w_value >= 0 && l->in_value >= 0 && !c.acc[l->in_value] &&
            input_layout(g, l, &ch, &plane, &ax_last)) {
            chan_acc *a = calloc(1, sizeof *a);
            if (!a)
                goto oom;
            c.acc[l->in_value] = a;
            a->channels = ch;
            a->plane = plane;
            a->axis_last = ax_last;
            a->sum = calloc((size_t)ch, sizeof *a->sum);
            a->sumsq = calloc((size_t)ch, sizeof *a->sumsq);
            if (!a->sum || !a->sumsq)
                goto oom;
        }
    }
    x = qdb_exec_new(g, e);
    if (!x)
        goto fail;
    qdb_exec_set_hook(x, hook, &c);
    qdb_exec_hook_inputs(x, 1);
    int batch = o && o->batch > 0 ? o->batch : 64;
    int64_t total = qdb_dataset_count(d), done = 0;
    for (;;) {
        qdb_tensor *images = NULL, *out = NULL;
        if ((st = qdb_dataset_next_batch(d, batch, &images, NULL, e)) != QDB_OK)
            goto fail;
        if (!images)
            break;
        st = qdb_exec_run_first(x, (const qdb_tensor *const *)&images, &out, e);
        done += images->shape.d[0];
        qdb_tensor_free(images);
        qdb_tensor_free(out);
        if (c.failed) {
            if (e)
                *e = c.err;
            st = c.err.code;
            goto fail;
        }
        if (st != QDB_OK)
            goto fail;
        if (o && o->progress && o->progress(o->user, done, total)) {
            st = qdb_err_set(e, QDB_ERR_CANCELLED, "calibration cancelled after %lld samples",
                             (long long)done);
            goto fail;
        }
    }
    if (done == 0) {
        st = qdb_err_set(e, QDB_ERR_INVALID, "%s: the representative set is empty",
                         qdb_dataset_images_path(d));
        goto fail;
    }
    for (int i = 0; i < q->n_base_layers; i++) {
        const qdb_histogram *h = q->layers[i].hist;
        if (h && h->nonfinite > 0) {
            st = qdb_err_set(e, QDB_ERR_INVALID,
                             "%s: layer '%s' produced %lld non-finite values (NaN or infinity) on "
                             "the representative set %s",
                             g->path, q->layers[i].name, (long long)h->nonfinite,
                             qdb_dataset_images_path(d));
            goto fail;
        }
    }
    for (int i = 0; i < q->n_base_layers; i++) {
        qdb_qlayer *l = &q->layers[i];
        if (l->in_value < 0 || l->w_value < 0 || !c.acc[l->in_value])
            continue;
        chan_acc *a = c.acc[l->in_value];
        l->in_channels = a->channels;
        l->in_mean = malloc((size_t)a->channels * sizeof *l->in_mean);
        l->in_sqmean = malloc((size_t)a->channels * sizeof *l->in_sqmean);
        if (!l->in_mean || !l->in_sqmean)
            goto oom;
        for (int k = 0; k < a->channels; k++) {
            l->in_mean[k] = a->count > 0 ? a->sum[k] / a->count : 0;
            l->in_sqmean[k] = a->count > 0 ? a->sumsq[k] / a->count : 0;
        }
    }
    q->calib_samples = done;
    q->calibrated = 1;
    q->quantized = 0;
    qdb_exec_free(x);
    qdb_uses_free(&u);
    calib_free(&c, g->n_values, q->n_layers);
    return QDB_OK;
oom:
    st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory during calibration");
fail:
    qdb_exec_free(x);
    qdb_uses_free(&u);
    calib_free(&c, g->n_values, q->n_layers);
    return st;
}
