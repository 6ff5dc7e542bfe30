/* eval_cache.c - cached re-evaluation of the simulated network (see
 * eval_cache.h). */
#include "eval_cache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor.h"
#include "pipeline.h"
#include "quant_internal.h"

typedef struct cut {
    char *name;             /* the value's name (stable across graph copies) */
    int pos;                /* position of its producer in the node order */
    size_t per_sample;      /* bytes per sample */
    qdb_tensor **batch;     /* per batch, NULL when not held */
    int filled;             /* every batch held */
} cut;

/* A configuration evaluated before: its signatures and its result. */
typedef struct memo {
    uint64_t *sig;
    int n_sig;
    qdb_eval_result r;      /* pred owned */
} memo;

#define MEMO_MAX 32         /* configurations remembered (a few MB at most) */

struct qdb_eval_cache {
    size_t budget, used;
    memo memo[MEMO_MAX];
    int n_memo, memo_next;  /* filled entries; the next to replace */
    const qdb_dataset *d;
    int64_t n;
    int batch, n_batches;
    qdb_tensor **labels;    /* per batch (NULL entries without labels) */
    int have_labels;        /* the label batches are held */
    int n_sig;
    uint64_t *sig;          /* per node of the run that filled the cache */
    char **sig_name;
    int n_cuts;
    cut *cuts;
    int last_start, last_nodes;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

qdb_eval_cache *qdb_eval_cache_new(size_t budget, qdb_err *e)
{
    qdb_eval_cache *c = calloc(1, sizeof *c);
    if (!c) {
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->budget = budget ? budget : QDB_EVAL_CACHE_BUDGET;
    return c;
}

static void drop_cut_data(qdb_eval_cache *c, cut *k)
{
    if (k->batch)
        for (int b = 0; b < c->n_batches; b++) {
            if (k->batch[b])
                c->used -= k->batch[b]->numel * sizeof(float);
            qdb_tensor_free(k->batch[b]);
        }
    free(k->batch);
    k->batch = NULL;
    k->filled = 0;
}

static void drop_memo(qdb_eval_cache *c)
{
    for (int i = 0; i < c->n_memo; i++) {
        free(c->memo[i].sig);
        qdb_eval_result_free(&c->memo[i].r);
    }
    memset(c->memo, 0, sizeof c->memo);
    c->n_memo = c->memo_next = 0;
}

/* The result of the configuration with these signatures, if evaluated
 * before on the same data: copied into r (return 1), whose pred already
 * has room for every sample. */
static int memo_find(const qdb_eval_cache *c, const uint64_t *sig, int n_sig, qdb_eval_result *r)
{
    for (int i = 0; i < c->n_memo; i++) {
        const memo *m = &c->memo[i];
        if (m->n_sig != n_sig || memcmp(m->sig, sig, (size_t)n_sig * sizeof *sig))
            continue;
        int64_t *pred = r->pred;
        *r = m->r;
        memcpy(pred, m->r.pred, (size_t)m->r.n * sizeof *pred);
        r->pred = pred;
        r->seconds = 0.0;
        return 1;
    }
    return 0;
}

/* Remember a result (a failure to allocate only forgets it). */
static void memo_add(qdb_eval_cache *c, const uint64_t *sig, int n_sig, const qdb_eval_result *r)
{
    memo *m = &c->memo[c->memo_next];
    uint64_t *s = malloc((size_t)n_sig * sizeof *s);
    int64_t *pred = malloc(((size_t)r->n + 1) * sizeof *pred);
    if (!s || !pred) {
        free(s);
        free(pred);
        return;
    }
    if (c->memo_next < c->n_memo) {
        free(m->sig);
        qdb_eval_result_free(&m->r);
    } else {
        c->n_memo++;
    }
    memcpy(s, sig, (size_t)n_sig * sizeof *s);
    memcpy(pred, r->pred, (size_t)r->n * sizeof *pred);
    m->sig = s;
    m->n_sig = n_sig;
    m->r = *r;
    m->r.pred = pred;
    c->memo_next = (c->memo_next + 1) % MEMO_MAX;
}

/* Everything but the remembered results: what a run fills (cuts, labels,
 * the signatures they are for). */
static void drop_runs(qdb_eval_cache *c)
{
    for (int i = 0; i < c->n_cuts; i++) {
        drop_cut_data(c, &c->cuts[i]);
        free(c->cuts[i].name);
    }
    free(c->cuts);
    c->cuts = NULL;
    c->n_cuts = 0;
    if (c->labels)
        for (int b = 0; b < c->n_batches; b++)
            qdb_tensor_free(c->labels[b]);
    free(c->labels);
    c->labels = NULL;
    c->have_labels = 0;
    for (int i = 0; i < c->n_sig; i++)
        free(c->sig_name[i]);
    free(c->sig);
    free(c->sig_name);
    c->sig = NULL;
    c->sig_name = NULL;
    c->n_sig = 0;
    c->used = 0;
}

static void drop_all(qdb_eval_cache *c)
{
    drop_memo(c);
    drop_runs(c);
    c->d = NULL;
}

void qdb_eval_cache_free(qdb_eval_cache *c)
{
    if (!c)
        return;
    drop_all(c);
    free(c);
}

void qdb_eval_cache_stats(const qdb_eval_cache *c, int *start_node, int *n_nodes, size_t *bytes)
{
    if (start_node)
        *start_node = c->last_start;
    if (n_nodes)
        *n_nodes = c->last_nodes;
    if (bytes)
        *bytes = c->used;
}

/* ---- signatures ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

/* What decides node i's outputs besides its non-constant inputs. */
static uint64_t node_sig(const qdb_qmodel *q, const qdb_graph *g, int i)
{
    const qdb_node *n = &g->nodes[i];
    uint64_t h = fnv(14695981039346656037ull, n->op_type, strlen(n->op_type));
    h = fnv(h, n->name, strlen(n->name));
    for (int k = 0; k < n->n_in; k++) {
        int v = n->in[k];
        h = fnv(h, &k, sizeof k);
        if (v < 0)
            continue;
        const qdb_value *val = &g->values[v];
        h = fnv(h, val->name, strlen(val->name));
        if (val->constant && val->constant->data.p)
            h = fnv(h, val->constant->data.p, val->constant->numel * qdb_dtype_size(val->constant->dtype));
    }
    for (int a = 0; a < n->n_attr; a++) {
        const qdb_attr *at = &n->attr[a];
        h = fnv(h, at->name, strlen(at->name));
        h = fnv(h, &at->i, sizeof at->i);
        h = fnv(h, &at->f, sizeof at->f);
        if (at->ints)
            h = fnv(h, at->ints, (size_t)at->n * sizeof *at->ints);
        if (at->floats)
            h = fnv(h, at->floats, (size_t)at->n * sizeof *at->floats);
    }
    for (int k = 0; k < n->n_out; k++) {
        int v = n->out[k];
        if (v < 0 || v >= q->n_map || q->layer_of_value[v] < 0)
            continue;
        const qdb_qlayer *l = &q->layers[q->layer_of_value[v]];
        h = fnv(h, &l->act_active, sizeof l->act_active);
        if (l->act_active) {
            h = fnv(h, &l->act_grid, sizeof l->act_grid);
            h = fnv(h, &l->act_prescale, sizeof l->act_prescale);
        }
    }
    return h;
}

/* The quantizers of the graph inputs (applied before node 0). */
static uint64_t input_sig(const qdb_qmodel *q, const qdb_graph *g)
{
    uint64_t h = 14695981039346656037ull;
    for (int k = 0; k < g->n_inputs; k++) {
        int v = g->inputs[k];
        if (v >= q->n_map || q->layer_of_value[v] < 0)
            continue;
        const qdb_qlayer *l = &q->layers[q->layer_of_value[v]];
        h = fnv(h, &l->act_active, sizeof l->act_active);
        if (l->act_active) {
            h = fnv(h, &l->act_grid, sizeof l->act_grid);
            h = fnv(h, &l->act_prescale, sizeof l->act_prescale);
        }
    }
    return h;
}

uint64_t qdb_qmodel_signature(const qdb_qmodel *q)
{
    const qdb_graph *g = q->gq;
    if (!g)
        return 0;
    uint64_t h = input_sig(q, g);
    for (int i = 0; i < g->n_nodes; i++) {
        uint64_t s = node_sig(q, g, i);
        h = fnv(h, &s, sizeof s);
    }
    return h;
}

/* ---- cuts: values through which every path to the outputs passes ---- */

static int find_cuts(const qdb_graph *g, int **pos_out, int **val_out, int *n_out)
{
    int *last = malloc((size_t)g->n_values * sizeof *last);
    int *pos = malloc((size_t)(g->n_nodes + 1) * sizeof *pos);
    int *val = malloc((size_t)(g->n_nodes + 1) * sizeof *val);
    if (!last || !pos || !val) {
        free(last);
        free(pos);
        free(val);
        return -1;
    }
    for (int v = 0; v < g->n_values; v++)
        last[v] = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0)
                last[g->nodes[i].in[k]] = i;
    for (int k = 0; k < g->n_outputs; k++)
        last[g->outputs[k]] = g->n_nodes;
    int n = 0;
    /* after node i: the live values are those made at or before i (or
     * inputs) and read after i; a cut when exactly one float value is */
    for (int i = 0; i < g->n_nodes - 1; i++) {
        int live = 0, which = -1;
        for (int v = 0; v < g->n_values && live < 2; v++) {
            const qdb_value *val_ = &g->values[v];
            if (val_->constant || last[v] <= i)
                continue;
            int made = val_->producer < 0 ? -1 : val_->producer;
            int is_input = 0;
            for (int k = 0; k < g->n_inputs; k++)
                is_input |= g->inputs[k] == v;
            if (made > i || (made < 0 && !is_input))
                continue;
            live++;
            which = v;
        }
        if (live == 1 && g->values[which].producer == i && g->values[which].dtype == QDB_F32 &&
            g->values[which].shape_known && (g->values[which].batch_dims & 1u)) {
            pos[n] = i;
            val[n++] = which;
        }
    }
    free(last);
    *pos_out = pos;
    *val_out = val;
    *n_out = n;
    return 0;
}

/* ---- the run ---- */

typedef struct run_ctx {  /* one per worker */
    qdb_eval_opts fq;       /* the model's fake-quantization hook */
    qdb_exec *x;            /* the worker's executor */
    qdb_eval_cache *c;
    int64_t batch_index;
    int *store_cut;         /* per value: cut index to fill, -1 */
    int n_values;
    int failed;
    size_t added;           /* bytes cached by this worker */
} run_ctx;

static int hook(void *user, const qdb_graph *g, int node, int slot, qdb_tensor *t)
{
    run_ctx *r = user;
    if (r->fq.hook(r->fq.hook_user, g, node, slot, t))
        return 1;
    int v = node < 0 ? g->inputs[slot] : g->nodes[node].out[slot];
    if (v < r->n_values && r->store_cut[v] >= 0) {
        cut *k = &r->c->cuts[r->store_cut[v]];
        /* the executor's own tensor when it lets go of it, else a copy */
        qdb_tensor *copy = qdb_exec_disown(r->x, v);
        if (!copy)
            copy = qdb_tensor_clone(t, NULL);
        if (!copy) {
            r->failed = 1;
            return 1;
        }
        k->batch[r->batch_index] = copy;
        r->added += copy->numel * sizeof(float);
    }
    return 0;
}

/* A gate output fused away must be neither quantized nor cached. */
static int cache_skippable(void *user, const qdb_graph *g, int v)
{
    const run_ctx *r = user;
    return (v >= r->n_values || r->store_cut[v] < 0) && r->fq.fuse_skippable &&
           r->fq.fuse_skippable(r->fq.hook_user, g, v);
}

/* A value the cache keeps must be made whole; the others go as the
 * model's hook says. */
static int cache_pointwise(void *user, const qdb_graph *g, int v, qdb_pw_fn *fn,
                           const void **ctx)
{
    const run_ctx *r = user;
    if (v < r->n_values && r->store_cut[v] >= 0)
        return 0;
    return r->fq.fuse_pointwise && r->fq.fuse_pointwise(r->fq.hook_user, g, v, fn, ctx);
}

/* Keep only the cuts at fused groups' boundaries: a value the cache keeps
 * must be made whole, which would split its group (and slow every later
 * run through it). Returns -1 when out of memory. */
static int drop_fused_cuts(qdb_qmodel *q, const qdb_graph *g, int *cpos, int *cval, int *ncut,
                           qdb_err *e)
{
    qdb_eval_opts fq = {0};
    qdb_qmodel_eval_opts(q, &fq);
    qdb_exec *x = qdb_exec_new(g, e);
    if (!x)
        return -1;
    qdb_exec_set_hook(x, fq.hook, fq.hook_user);
    qdb_exec_set_fusion(x, 1, fq.fuse_skippable, fq.hook_user);
    qdb_exec_set_pointwise(x, fq.fuse_pointwise);
    qdb_exec_set_conv_q8(x, fq.conv_q8, fq.conv_q8_user);
    int n = 0;
    for (int k = 0; k < *ncut; k++) {
        int inside = qdb_exec_fused_away(x, cval[k], e);
        if (inside < 0) {
            qdb_exec_free(x);
            return -1;
        }
        if (!inside) {
            cpos[n] = cpos[k];
            cval[n++] = cval[k];
        }
    }
    *ncut = n;
    qdb_exec_free(x);
    return 0;
}

/* One batch: its input (owned when read from the dataset, borrowed from a
 * cut), labels and output. */
typedef struct {
    qdb_tensor *in, *lab, *out;
    int owned;
} cache_item;

typedef struct {
    qdb_eval_cache *c;
    qdb_dataset *d;
    const qdb_eval_opts *o;
    qdb_eval_result *r;
    const char *path;
    int from_cut;           /* index of the cut the run starts from, -1: the input */
    int64_t total;
    qdb_exec **x;           /* per worker */
    run_ctx *rc;            /* per worker */
} cache_run;

static void item_discard(void *user, void *item)
{
    (void)user;
    cache_item *it = item;
    qdb_tensor_free(it->out);
    if (it->owned) {
        qdb_tensor_free(it->in);
        qdb_tensor_free(it->lab);
    }
    free(it);
}

static qdb_status item_fetch(void *user, int64_t b, void **item, qdb_err *e)
{
    cache_run *cr = user;
    qdb_eval_cache *c = cr->c;
    if (b >= c->n_batches)
        return QDB_OK;
    cache_item *it = calloc(1, sizeof *it);
    if (!it)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    if (cr->from_cut >= 0) {
        it->in = c->cuts[cr->from_cut].batch[b];
        it->lab = c->labels[b];
    } else {
        it->owned = 1;
        qdb_status st = qdb_dataset_next_batch(cr->d, c->batch, &it->in,
                                               cr->r->labelled ? &it->lab : NULL, e);
        if (st != QDB_OK || !it->in) {
            item_discard(cr, it);
            return st != QDB_OK ? st : qdb_err_set(e, QDB_ERR_INVALID,
                                                   "dataset yielded fewer samples than announced");
        }
    }
    *item = it;
    return QDB_OK;
}

static qdb_status item_work(void *user, int w, int64_t b, void *item, qdb_err *e)
{
    cache_run *cr = user;
    cache_item *it = item;
    cr->rc[w].batch_index = b;
    qdb_status st = qdb_exec_run_first(cr->x[w], (const qdb_tensor *const *)&it->in, &it->out, e);
    if (cr->rc[w].failed)
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory caching activations");
    return st;
}

static qdb_status item_finish(void *user, int64_t b, void *item, qdb_err *e)
{
    cache_run *cr = user;
    cache_item *it = item;
    qdb_eval_cache *c = cr->c;
    qdb_status st = qdb_eval_accumulate(cr->r, cr->path, it->out, it->lab, cr->total, e);
    if (it->owned && !c->have_labels) {
        c->labels[b] = it->lab; /* kept for runs from a cut */
        it->lab = NULL;
    }
    item_discard(cr, it);
    if (st == QDB_OK && cr->o && cr->o->progress && cr->o->progress(cr->o->user, cr->r->n, cr->total))
        st = qdb_err_set(e, QDB_ERR_CANCELLED, "evaluation cancelled after %lld samples",
                         (long long)cr->r->n);
    return st;
}

/* The part of g after node `from` (whose output value `v` becomes the only
 * input). */
static qdb_graph *suffix_graph(const qdb_graph *g, int from, int v, qdb_err *e)
{
    qdb_graph *s = qdb_graph_clone(g, e);
    if (!s)
        return NULL;
    char *drop = calloc((size_t)s->n_nodes + 1, 1);
    int *in = malloc(sizeof *in);
    if (!drop || !in) {
        free(drop);
        free(in);
        qdb_graph_free(s);
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i <= from; i++)
        drop[i] = 1;
    qdb_graph_remove_nodes(s, drop);
    free(drop);
    free(s->inputs);
    in[0] = v;
    s->inputs = in;
    s->n_inputs = 1;
    qdb_graph_link(s);
    return s;
}

qdb_status qdb_eval_cached(qdb_eval_cache *c, qdb_qmodel *q, qdb_dataset *d, const qdb_eval_opts *o,
                           qdb_eval_result *r, qdb_err *e)
{
    memset(r, 0, sizeof *r);
    if (!q->quantized)
        return qdb_err_set(e, QDB_ERR_INVALID, "the model is not quantized yet");
    const qdb_graph *g = q->gq;
    qdb_status st = qdb_eval_check_fit(g, d, e);
    int memo_stopped = 0; /* stopped at a remembered result: nothing ran */
    if (st != QDB_OK)
        return st;
    int batch = o && o->batch > 0 ? o->batch : 64;
    int64_t total = qdb_dataset_count(d);
    if (c->d != d || c->n != total || c->batch != batch) {
        drop_all(c);
        c->d = d;
        c->n = total;
        c->batch = batch;
        c->n_batches = (int)((total + batch - 1) / batch);
    }
    /* signatures of this configuration; the first node that differs */
    uint64_t *sig = malloc((size_t)(g->n_nodes + 1) * sizeof *sig);
    char **sig_name = calloc((size_t)(g->n_nodes + 1), sizeof *sig_name);
    int *cpos = NULL, *cval = NULL, ncut = 0;
    int *store = malloc((size_t)g->n_values * sizeof *store);
    qdb_graph *suffix = NULL;
    int workers = qdb_pipeline_workers();
    cache_run cr = {.c = c, .d = d, .o = o, .r = r, .path = g->path, .from_cut = -1};
    r->pred = malloc(((size_t)total + 1) * sizeof *r->pred);
    if (!sig || !sig_name || !store || !r->pred || find_cuts(g, &cpos, &cval, &ncut)) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (drop_fused_cuts(q, g, cpos, cval, &ncut, e)) {
        st = e && e->code ? e->code : qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    sig[0] = input_sig(q, g);
    for (int i = 0; i < g->n_nodes; i++) {
        sig[i + 1] = node_sig(q, g, i);
        if (!(sig_name[i + 1] = strdup(g->nodes[i].name))) {
            st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    int n_sig = g->n_nodes + 1;
    /* a configuration seen before: its result, nothing run (the cuts stay
     * those of the last configuration run) */
    if (memo_find(c, sig, n_sig, r)) {
        c->last_start = c->last_nodes = g->n_nodes;
        /* a progress bar still ends full; a stop asked for then is obeyed
         * as for a run (the result is not taken) */
        if (o && o->progress && o->progress(o->user, r->n, r->n)) {
            st = qdb_err_set(e, QDB_ERR_CANCELLED, "evaluation cancelled after %lld samples",
                             (long long)r->n);
            memo_stopped = 1; /* nothing ran: the cuts stay */
        }
        goto done;
    }
    int first = 0; /* signature index of the first difference; n_sig: none */
    if (c->sig) {
        while (first < n_sig && first < c->n_sig && c->sig[first] == sig[first] &&
               (first == 0 || !strcmp(c->sig_name[first], sig_name[first])))
            first++;
    }
    /* the first changed node is first - 1; a cut after node p is usable
     * when p < first - 1, i.e. every node up to p is unchanged */
    int start = -1; /* index into c->cuts */
    for (int i = 0; i < c->n_cuts; i++)
        if (c->cuts[i].filled && c->cuts[i].pos + 1 < first && c->labels &&
            (start < 0 || c->cuts[i].pos > c->cuts[start].pos))
            start = i;
    /* keep the cuts still valid; re-plan the rest for this graph */
    cut *nc = calloc((size_t)(ncut + c->n_cuts + 1), sizeof *nc);
    if (!nc) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    int nn = 0, new_start = -1;
    for (int i = 0; i < c->n_cuts; i++) {
        if (c->cuts[i].filled && c->cuts[i].pos + 1 < first) {
            if (i == start)
                new_start = nn;
            nc[nn++] = c->cuts[i];
        } else {
            drop_cut_data(c, &c->cuts[i]);
            free(c->cuts[i].name);
        }
    }
    free(c->cuts);
    c->cuts = nc;
    c->n_cuts = nn;
    start = new_start;
    int start_pos = start >= 0 ? c->cuts[start].pos : -1;
    /* cuts to fill in this run, downstream of the start, within the budget:
     * first the smallest cut of each eighth of the network if it takes at
     * most half the budget (so that an edit anywhere finds one not far
     * before it), then the smallest of the rest */
    for (int v = 0; v < g->n_values; v++)
        store[v] = -1;
    for (int k = 0; k < ncut; k++) {
        int held = 0;
        for (int i = 0; i < c->n_cuts; i++)
            held |= !strcmp(c->cuts[i].name, g->values[cval[k]].name);
        if (held || cpos[k] <= start_pos)
            cval[k] = -1;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int seg = 0; seg < (pass ? 1 : 8); seg++) {
            for (;;) {
                int lo = pass ? 0 : g->n_nodes * seg / 8, hi = pass ? g->n_nodes : g->n_nodes * (seg + 1) / 8;
                int best = -1;
                size_t best_size = 0;
                for (int k = 0; k < ncut; k++) {
                    if (cval[k] < 0 || cpos[k] < lo || cpos[k] >= hi)
                        continue;
                    int near = 0; /* in the first pass, spread the cuts out */
                    for (int i = 0; !pass && i < c->n_cuts; i++)
                        near |= abs(c->cuts[i].pos - cpos[k]) <= (g->n_nodes / 16 > 1 ? g->n_nodes / 16 : 1);
                    if (near)
                        continue;
                    const qdb_value *val = &g->values[cval[k]];
                    size_t per = sizeof(float);
                    for (int dd = 1; dd < val->shape.ndim; dd++)
                        per *= (size_t)(val->shape.d[dd] > 0 ? val->shape.d[dd] : 1);
                    if (best < 0 || per < best_size) {
                        best = k;
                        best_size = per;
                    }
                }
                if (best < 0 || c->used + best_size * (size_t)total > c->budget ||
                    (!pass && best_size * (size_t)total > c->budget / 2))
                    break;
                cut *k = &c->cuts[c->n_cuts];
                memset(k, 0, sizeof *k);
                k->name = strdup(g->values[cval[best]].name);
                k->pos = cpos[best];
                k->per_sample = best_size;
                k->batch = calloc((size_t)c->n_batches, sizeof *k->batch);
                if (!k->name || !k->batch) {
                    free(k->name);
                    free(k->batch);
                    st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
                    goto done;
                }
                store[cval[best]] = c->n_cuts++;
                c->used += best_size * (size_t)total; /* reserved; refined as filled */
                cval[best] = -1;
                if (!pass)
                    break; /* one per segment in the first pass */
            }
        }
    }
    /* reservations become real sizes as batches arrive */
    for (int i = 0; i < c->n_cuts; i++)
        if (!c->cuts[i].filled)
            c->used -= c->cuts[i].per_sample * (size_t)total;
    /* the graph to run */
    int v_start = -1;
    if (start >= 0) {
        v_start = qdb_graph_find_value(g, c->cuts[start].name);
        if (v_start < 0 || !(suffix = suffix_graph(g, start_pos, v_start, e))) {
            st = v_start < 0 ? qdb_err_set(e, QDB_ERR_INVALID, "cache: cut value missing") : e->code;
            goto done;
        }
    }
    cr.from_cut = suffix ? start : -1;
    cr.total = total;
    cr.x = calloc((size_t)workers, sizeof *cr.x);
    cr.rc = calloc((size_t)workers, sizeof *cr.rc);
    if (!cr.x || !cr.rc) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int w = 0; w < workers; w++) {
        run_ctx *rc = &cr.rc[w];
        rc->c = c;
        rc->store_cut = store;
        rc->n_values = g->n_values;
        qdb_qmodel_eval_opts(q, &rc->fq);
        if (!(cr.x[w] = qdb_exec_new(suffix ? suffix : g, e))) {
            st = e && e->code ? e->code : QDB_ERR_NOMEM;
            goto done;
        }
        rc->x = cr.x[w];
        qdb_exec_set_hook(cr.x[w], hook, rc);
        qdb_exec_set_fusion(cr.x[w], 1, cache_skippable, rc);
        qdb_exec_set_pointwise(cr.x[w], cache_pointwise);
        qdb_exec_set_conv_q8(cr.x[w], rc->fq.conv_q8, rc->fq.conv_q8_user);
        qdb_exec_hook_inputs(cr.x[w], suffix == NULL); /* cached cut values are quantized already */
    }
    if (!c->labels && !(c->labels = calloc((size_t)c->n_batches, sizeof *c->labels))) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    r->labelled = qdb_dataset_has_labels(d);
    if (!suffix && (st = qdb_dataset_rewind(d, e)) != QDB_OK)
        goto done;
    double t0 = now_s();
    const qdb_pipeline_fns fns = {item_fetch, item_work, item_finish, item_discard};
    st = qdb_pipeline_run(workers, &fns, &cr, e);
    for (int w = 0; w < workers; w++)
        c->used += cr.rc[w].added;
    if (st != QDB_OK)
        goto done;
    r->seconds = now_s() - t0;
    c->have_labels = 1;
    for (int i = 0; i < c->n_cuts; i++)
        c->cuts[i].filled = 1;
    memo_add(c, sig, n_sig, r);
    /* the cache now describes this configuration */
    for (int i = 0; i < c->n_sig; i++)
        free(c->sig_name[i]);
    free(c->sig);
    free(c->sig_name);
    c->sig = sig;
    c->sig_name = sig_name;
    c->n_sig = n_sig;
    sig = NULL;
    sig_name = NULL;
    c->last_start = start_pos + 1;
    c->last_nodes = g->n_nodes;
done:
    if (st != QDB_OK) {
        /* a partial run leaves nothing half-filled behind; the results of
         * whole runs stay remembered (a cancelled edit, then the previous
         * configuration again, costs nothing) */
        if (!memo_stopped)
            drop_runs(c);
        qdb_eval_result_free(r);
    }
    if (sig_name)
        for (int i = 0; i <= g->n_nodes; i++)
            free(sig_name[i]);
    free(sig);
    free(sig_name);
    free(cpos);
    free(cval);
    free(store);
    for (int w = 0; cr.x && w < workers; w++)
        qdb_exec_free(cr.x[w]);
    free(cr.x);
    free(cr.rc);
    qdb_graph_free(suffix);
    return st;
}
