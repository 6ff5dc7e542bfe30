/* graph.c - construction, linking, topological order and attribute access
 * for qdb_graph (see graph.h). */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"

static void index_free(qdb_graph *g);

static char *dupstr(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

qdb_graph *qdb_graph_new(const char *path)
{
    qdb_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->path = dupstr(path ? path : "");
    if (!g->path) {
        free(g);
        return NULL;
    }
    return g;
}

void qdb_attr_clear(qdb_attr *a)
{
    free(a->name);
    free(a->s);
    qdb_tensor_free(a->t);
    free(a->floats);
    free(a->ints);
    if (a->strings)
        for (int i = 0; i < a->n; i++)
            free(a->strings[i]);
    free(a->strings);
    memset(a, 0, sizeof *a);
}

static void node_clear(qdb_node *n)
{
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->in);
    free(n->out);
    for (int i = 0; i < n->n_attr; i++)
        qdb_attr_clear(&n->attr[i]);
    free(n->attr);
    memset(n, 0, sizeof *n);
}

void qdb_graph_free(qdb_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_nodes; i++)
        node_clear(&g->nodes[i]);
    free(g->nodes);
    for (int i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        qdb_tensor_free(g->values[i].constant);
    }
    free(g->values);
    index_free(g);
    free(g->inputs);
    free(g->outputs);
    free(g->path);
    free(g->name);
    free(g->producer);
    free(g);
}

/* ---- value lookup by name ------------------------------------------------
 * An open-addressing hash of value indices, kept in step with g->values
 * lazily: values appended since the last lookup are added, a shrunk array
 * rebuilds it. Without it the importer's lookups were quadratic (37 s for a
 * 1.5 MB file of 50k nodes). When memory for it is lacking, lookups fall
 * back to a linear scan. */
struct qdb_value_index {
    int cap;     /* power of two, at least twice the indexed count */
    int n;       /* values 0..n-1 are indexed */
    int *slot;   /* value index, or -1 for an empty slot */
};

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void index_free(qdb_graph *g)
{
    if (g->index) {
        free(g->index->slot);
        free(g->index);
        g->index = NULL;
    }
}

static void index_put(struct qdb_value_index *x, const qdb_graph *g, int v)
{
    uint32_t m = (uint32_t)x->cap - 1, h = name_hash(g->values[v].name) & m;
    while (x->slot[h] >= 0)
        h = (h + 1) & m;
    x->slot[h] = v;
}

/* Bring the index up to date; 0 when it cannot be (out of memory). */
static int index_sync(qdb_graph *g)
{
    struct qdb_value_index *x = g->index;
    if (x && x->n > g->n_values) { /* values were removed: start again */
        index_free(g);
        x = NULL;
    }
    if (!x) {
        x = calloc(1, sizeof *x);
        if (!x)
            return 0;
        g->index = x;
    }
    if (x->n == g->n_values)
        return 1;
    if ((int64_t)g->n_values * 2 > x->cap) {
        int cap = 64;
        while (cap < g->n_values * 2 && cap < (1 << 30))
            cap *= 2;
        int *slot = malloc((size_t)cap * sizeof *slot);
        if (!slot || cap < g->n_values * 2) {
            free(slot);
            index_free(g);
            return 0;
        }
        free(x->slot);
        x->slot = slot;
        x->cap = cap;
        for (int i = 0; i < cap; i++)
            slot[i] = -1;
        x->n = 0;
    }
    for (; x->n < g->n_values; x->n++)
        index_put(x, g, x->n);
    return 1;
}

int qdb_graph_find_value(const qdb_graph *g, const char *name)
{
    /* The index is a cache: updating it does not change the graph. */
    qdb_graph *mg = (qdb_graph *)g;
    if (index_sync(mg)) {
        const struct qdb_value_index *x = g->index;
        if (x->cap == 0) /* no values yet */
            return -1;
        uint32_t m = (uint32_t)x->cap - 1, h = name_hash(name) & m;
        for (; x->slot[h] >= 0; h = (h + 1) & m)
            if (strcmp(g->values[x->slot[h]].name, name) == 0)
                return x->slot[h];
        return -1;
    }
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i].name, name) == 0)
            return i;
    return -1;
}

int qdb_graph_value(qdb_graph *g, const char *name, qdb_err *e)
{
    int v = qdb_graph_find_value(g, name);
    if (v >= 0)
        return v;
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? 2 * g->cap_values : 64;
        qdb_value *nv = realloc(g->values, (size_t)cap * sizeof *nv);
        if (!nv) {
            qdb_err_set(e, QDB_ERR_NOMEM, "out of memory adding value '%s'", name);
            return -1;
        }
        g->values = nv;
        g->cap_values = cap;
    }
    qdb_value *val = &g->values[g->n_values];
    memset(val, 0, sizeof *val);
    val->name = dupstr(name);
    if (!val->name) {
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory adding value '%s'", name);
        return -1;
    }
    val->producer = -1;
    return g->n_values++;
}

int qdb_graph_add_node(qdb_graph *g, const char *name, const char *op_type,
                       const char *domain, qdb_err *e)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
        qdb_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            qdb_err_set(e, QDB_ERR_NOMEM, "out of memory adding node '%s'", name);
            return -1;
        }
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    qdb_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = dupstr(name);
    n->op_type = dupstr(op_type);
    n->domain = dupstr(domain);
    if (!n->name || !n->op_type || !n->domain) {
        node_clear(n);
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory adding node '%s'", name);
        return -1;
    }
    return g->n_nodes++;
}

void qdb_graph_link(qdb_graph *g)
{
    for (int v = 0; v < g->n_values; v++) {
        g->values[v].producer = -1;
        g->values[v].n_consumers = 0;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        qdb_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                g->values[n->out[k]].producer = i;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                g->values[n->in[k]].n_consumers++;
    }
}

/* Min-heap of node indices (the ready nodes). */
static void heap_push(int *h, int *n, int v)
{
    int i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static int heap_pop(int *h, int *n)
{
    int top = h[0], v = h[--*n], i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (h[c] >= v)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

qdb_status qdb_graph_toposort(qdb_graph *g, qdb_err *e)
{
    qdb_status st = QDB_OK;
    size_t nv = (size_t)g->n_values + 1, nn = (size_t)g->n_nodes + 1, n_reads = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n_reads += (size_t)g->nodes[i].n_in;
    int *ready = calloc(nv, sizeof *ready);
    int *order = malloc(nn * sizeof *order);
    char *done = calloc(nn, 1);
    int *pending = calloc(nn, sizeof *pending); /* inputs not ready yet, per node */
    int *first = calloc(nv + 1, sizeof *first); /* readers of value v: reader[first[v]..first[v+1]) */
    int *reader = malloc((n_reads + 1) * sizeof *reader);
    int *heap = malloc(nn * sizeof *heap);
    int *cursor = calloc(nv, sizeof *cursor);
    if (!ready || !order || !done || !pending || !first || !reader || !heap || !cursor) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory sorting the graph");
        goto out;
    }
    for (int v = 0; v < g->n_values; v++)
        ready[v] = g->values[v].constant != NULL;
    for (int k = 0; k < g->n_inputs; k++)
        ready[g->inputs[k]] = 1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0)
                first[g->nodes[i].in[k] + 1]++;
    for (int v = 0; v < g->n_values; v++)
        first[v + 1] += first[v];
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int v = g->nodes[i].in[k];
            if (v >= 0)
                reader[first[v] + cursor[v]++] = i;
        }
    /* Kahn's algorithm, always taking the lowest-numbered ready node: the
     * file's order is kept when it is already topological, and a graph in
     * any order sorts in O(E log N) (repeated sweeps were quadratic). */
    int n_heap = 0, placed = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        pending[i] = 0;
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0 && !ready[g->nodes[i].in[k]])
                pending[i]++;
        if (pending[i] == 0)
            heap_push(heap, &n_heap, i);
    }
    while (n_heap > 0) {
        int i = heap_pop(heap, &n_heap);
        const qdb_node *n = &g->nodes[i];
        done[i] = 1;
        order[placed++] = i;
        for (int k = 0; k < n->n_out; k++) {
            int v = n->out[k];
            if (v < 0 || ready[v])
                continue;
            ready[v] = 1;
            for (int r = first[v]; r < first[v + 1]; r++)
                if (--pending[reader[r]] == 0)
                    heap_push(heap, &n_heap, reader[r]);
        }
    }
    if (placed != g->n_nodes) {
        for (int i = 0; i < g->n_nodes; i++) {
            if (done[i])
                continue;
            const qdb_node *n = &g->nodes[i];
            for (int k = 0; k < n->n_in; k++)
                if (n->in[k] >= 0 && !ready[n->in[k]]) {
                    int produced = 0;
                    for (int j = 0; j < g->n_nodes && !produced; j++)
                        for (int m = 0; m < g->nodes[j].n_out; m++)
                            if (g->nodes[j].out[m] == n->in[k])
                                produced = 1;
                    st = qdb_err_set(e, QDB_ERR_FORMAT,
                                     produced ? "node '%s' (%s): input '%s' depends on a cycle"
                                              : "node '%s' (%s): input '%s' is neither a graph "
                                                "input, an initializer nor any node's output",
                                     n->name, n->op_type, g->values[n->in[k]].name);
                    goto out;
                }
        }
        st = qdb_err_set(e, QDB_ERR_FORMAT, "graph cannot be ordered");
        goto out;
    }
    qdb_node *sorted = malloc(((size_t)g->n_nodes + 1) * sizeof *sorted);
    if (!sorted) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory sorting the graph");
        goto out;
    }
    for (int i = 0; i < g->n_nodes; i++)
        sorted[i] = g->nodes[order[i]];
    free(g->nodes);
    g->nodes = sorted;
    g->cap_nodes = g->n_nodes + 1;
    qdb_graph_link(g);
out:
    free(ready);
    free(order);
    free(done);
    free(pending);
    free(first);
    free(reader);
    free(heap);
    free(cursor);
    return st;
}

void qdb_graph_prune(qdb_graph *g)
{
    char *live = calloc((size_t)g->n_values + 1, 1);
    char *keep = calloc((size_t)g->n_nodes + 1, 1);
    if (!live || !keep) {
        free(live);
        free(keep);
        return; /* pruning is an optimisation; skipping it is safe */
    }
    for (int k = 0; k < g->n_outputs; k++)
        live[g->outputs[k]] = 1;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        qdb_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out && !keep[i]; k++)
            if (n->out[k] >= 0 && live[n->out[k]] && !g->values[n->out[k]].constant)
                keep[i] = 1;
        if (keep[i])
            for (int k = 0; k < n->n_in; k++)
                if (n->in[k] >= 0)
                    live[n->in[k]] = 1;
    }
    int m = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (keep[i])
            g->nodes[m++] = g->nodes[i];
        else
            node_clear(&g->nodes[i]);
    }
    g->n_nodes = m;
    /* Constants no longer read by anyone are released. */
    for (int v = 0; v < g->n_values; v++)
        if (!live[v] && g->values[v].constant) {
            qdb_tensor_free(g->values[v].constant);
            g->values[v].constant = NULL;
        }
    free(live);
    free(keep);
    qdb_graph_link(g);
}

char *qdb_value_shape_str(const qdb_value *v, char *buf, size_t n)
{
    size_t off = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    if (!v->shape_known) {
        snprintf(buf, n, "?");
        return buf;
    }
    off += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < v->shape.ndim && off < n; i++) {
        const char *sep = i ? "," : "";
        if (!(v->batch_dims & (1u << i)))
            off += (size_t)snprintf(buf + off, n - off, "%s%lld", sep, (long long)v->shape.d[i]);
        else if (v->shape.d[i] == 1)
            off += (size_t)snprintf(buf + off, n - off, "%sN", sep);
        else
            off += (size_t)snprintf(buf + off, n - off, "%sN*%lld", sep, (long long)v->shape.d[i]);
    }
    if (off < n)
        snprintf(buf + off, n - off, "]");
    return buf;
}

size_t qdb_node_param_count(const qdb_graph *g, const qdb_node *n)
{
    size_t p = 0;
    for (int k = 0; k < n->n_in; k++) {
        if (n->in[k] < 0)
            continue;
        /* Scalars are settings (Clip's bounds, a Pow exponent), not weights. */
        const qdb_tensor *c = g->values[n->in[k]].constant;
        if (c && c->dtype == QDB_F32 && c->shape.ndim > 0)
            p += c->numel;
    }
    return p;
}

const qdb_attr *qdb_node_attr(const qdb_node *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attr[i].name, name) == 0)
            return &n->attr[i];
    return NULL;
}

int64_t qdb_attr_int(const qdb_node *n, const char *name, int64_t def)
{
    const qdb_attr *a = qdb_node_attr(n, name);
    if (!a)
        return def;
    if (a->type == QDB_ATTR_INT)
        return a->i;
    if (a->type == QDB_ATTR_FLOAT) {
        /* Saturate (NaN as the most negative value, which range checks
         * reject): converting an out-of-range float is undefined. */
        if (a->f != a->f || a->f <= -0x1p63f)
            return INT64_MIN;
        if (a->f >= 0x1p63f)
            return INT64_MAX;
        return (int64_t)a->f;
    }
    return def;
}

float qdb_attr_float(const qdb_node *n, const char *name, float def)
{
    const qdb_attr *a = qdb_node_attr(n, name);
    if (!a)
        return def;
    if (a->type == QDB_ATTR_FLOAT)
        return a->f;
    if (a->type == QDB_ATTR_INT)
        return (float)a->i;
    return def;
}

const char *qdb_attr_string(const qdb_node *n, const char *name, const char *def)
{
    const qdb_attr *a = qdb_node_attr(n, name);
    return (a && a->type == QDB_ATTR_STRING && a->s) ? a->s : def;
}

const int64_t *qdb_attr_ints(const qdb_node *n, const char *name, int *count)
{
    const qdb_attr *a = qdb_node_attr(n, name);
    if (!a || a->type != QDB_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->ints;
}

const float *qdb_attr_floats(const qdb_node *n, const char *name, int *count)
{
    const qdb_attr *a = qdb_node_attr(n, name);
    if (!a || a->type != QDB_ATTR_FLOATS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->floats;
}

/* ---- copying and rewriting ------------------------------------------------
 * Used by the quantization passes, which work on their own copy of a
 * prepared graph and insert nodes (shift-negative correction, padding). */

static qdb_status attr_copy(qdb_attr *d, const qdb_attr *s, qdb_err *e)
{
    memset(d, 0, sizeof *d);
    d->type = s->type;
    d->f = s->f;
    d->i = s->i;
    d->n = s->n;
    d->name = dupstr(s->name);
    if (!d->name)
        goto oom;
    if (s->s && !(d->s = dupstr(s->s)))
        goto oom;
    if (s->t && !(d->t = qdb_tensor_clone(s->t, e)))
        goto fail;
    if (s->floats) {
        if (!(d->floats = malloc((size_t)(s->n ? s->n : 1) * sizeof *d->floats)))
            goto oom;
        memcpy(d->floats, s->floats, (size_t)s->n * sizeof *d->floats);
    }
    if (s->ints) {
        if (!(d->ints = malloc((size_t)(s->n ? s->n : 1) * sizeof *d->ints)))
            goto oom;
        memcpy(d->ints, s->ints, (size_t)s->n * sizeof *d->ints);
    }
    if (s->strings) {
        if (!(d->strings = calloc((size_t)(s->n ? s->n : 1), sizeof *d->strings)))
            goto oom;
        for (int k = 0; k < s->n; k++)
            if (!(d->strings[k] = dupstr(s->strings[k])))
                goto oom;
    }
    return QDB_OK;
oom:
    qdb_err_set(e, QDB_ERR_NOMEM, "out of memory copying attribute '%s'", s->name);
fail:
    qdb_attr_clear(d);
    return e ? e->code : QDB_ERR_NOMEM;
}

static int *ints_dup(const int *a, int n)
{
    int *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    if (d && n)
        memcpy(d, a, (size_t)n * sizeof *d);
    return d;
}

qdb_graph *qdb_graph_clone(const qdb_graph *g, qdb_err *e)
{
    qdb_graph *c = qdb_graph_new(g->path);
    if (!c)
        goto oom;
    c->name = g->name ? dupstr(g->name) : NULL;
    c->producer = g->producer ? dupstr(g->producer) : NULL;
    c->opset = g->opset;
    c->batch_free = g->batch_free;
    if ((g->name && !c->name) || (g->producer && !c->producer))
        goto oom;
    if (g->n_values) {
        if (!(c->values = calloc((size_t)g->n_values, sizeof *c->values)))
            goto oom;
        c->cap_values = g->n_values;
    }
    for (int v = 0; v < g->n_values; v++) {
        c->values[v] = g->values[v];
        c->values[v].name = NULL;
        c->values[v].constant = NULL;
        c->n_values = v + 1;
        if (!(c->values[v].name = dupstr(g->values[v].name)))
            goto oom;
        if (g->values[v].constant &&
            !(c->values[v].constant = qdb_tensor_clone(g->values[v].constant, e)))
            goto fail;
    }
    if (g->n_nodes) {
        if (!(c->nodes = calloc((size_t)g->n_nodes, sizeof *c->nodes)))
            goto oom;
        c->cap_nodes = g->n_nodes;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const qdb_node *s = &g->nodes[i];
        qdb_node *d = &c->nodes[i];
        c->n_nodes = i + 1;
        d->opset = s->opset;
        d->op = s->op;
        d->n_in = s->n_in;
        d->n_out = s->n_out;
        d->name = dupstr(s->name);
        d->op_type = dupstr(s->op_type);
        d->domain = dupstr(s->domain);
        d->in = ints_dup(s->in, s->n_in);
        d->out = ints_dup(s->out, s->n_out);
        if (!d->name || !d->op_type || !d->domain || !d->in || !d->out)
            goto oom;
        if (s->n_attr) {
            if (!(d->attr = calloc((size_t)s->n_attr, sizeof *d->attr)))
                goto oom;
            for (int k = 0; k < s->n_attr; k++) {
                if (attr_copy(&d->attr[k], &s->attr[k], e) != QDB_OK)
                    goto fail;
                d->n_attr = k + 1;
            }
        }
    }
    if (!(c->inputs = ints_dup(g->inputs, g->n_inputs)) ||
        !(c->outputs = ints_dup(g->outputs, g->n_outputs)))
        goto oom;
    c->n_inputs = g->n_inputs;
    c->n_outputs = g->n_outputs;
    return c;
oom:
    qdb_err_set(e, QDB_ERR_NOMEM, "out of memory copying the graph of %s", g->path);
fail:
    qdb_graph_free(c);
    return NULL;
}

int qdb_graph_add_value_unique(qdb_graph *g, const char *name, qdb_err *e)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", name);
    for (int k = 1; qdb_graph_find_value(g, buf) >= 0; k++)
        snprintf(buf, sizeof buf, "%.480s_%d", name, k);
    return qdb_graph_value(g, buf, e);
}

int qdb_graph_add_constant(qdb_graph *g, const char *name, qdb_tensor *t, qdb_err *e)
{
    int v = qdb_graph_add_value_unique(g, name, e);
    if (v < 0) {
        qdb_tensor_free(t);
        return -1;
    }
    qdb_value *val = &g->values[v];
    val->constant = t;
    val->dtype = t->dtype;
    val->shape = t->shape;
    val->shape_known = 1;
    return v;
}

int qdb_graph_add_node_io(qdb_graph *g, const char *name, const char *op_type, int n_in,
                          const int *in, int n_out, const int *out, qdb_err *e)
{
    int i = qdb_graph_add_node(g, name, op_type, "", e);
    if (i < 0)
        return -1;
    qdb_node *n = &g->nodes[i];
    /* at least opset 13: inserted nodes (Pad, Add) take their settings as
     * inputs, whatever the source model's opset */
    n->opset = g->opset < 13 ? 13 : (int)g->opset;
    n->op = qdb_op_find(op_type, "");
    n->in = ints_dup(in, n_in);
    n->out = ints_dup(out, n_out);
    if (!n->in || !n->out) {
        node_clear(n);
        g->n_nodes--;
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory adding node '%s'", name);
        return -1;
    }
    n->n_in = n_in;
    n->n_out = n_out;
    return i;
}

/* The attribute `name` of node n, emptied (replaced in place, or appended);
 * NULL on OOM with the node unchanged. */
static qdb_attr *attr_slot(qdb_node *n, const char *name, qdb_err *e)
{
    char *nm = dupstr(name);
    if (!nm)
        goto oom;
    for (int k = 0; k < n->n_attr; k++)
        if (n->attr[k].name && strcmp(n->attr[k].name, name) == 0) {
            qdb_attr_clear(&n->attr[k]);
            n->attr[k].name = nm;
            return &n->attr[k];
        }
    qdb_attr *na = realloc(n->attr, (size_t)(n->n_attr + 1) * sizeof *na);
    if (!na) {
        free(nm);
        goto oom;
    }
    n->attr = na;
    qdb_attr *a = &na[n->n_attr++];
    memset(a, 0, sizeof *a);
    a->name = nm;
    return a;
oom:
    qdb_err_set(e, QDB_ERR_NOMEM, "out of memory setting attribute '%s'", name);
    return NULL;
}

qdb_status qdb_node_set_int(qdb_node *n, const char *name, int64_t v, qdb_err *e)
{
    qdb_attr *a = attr_slot(n, name, e);
    if (!a)
        return QDB_ERR_NOMEM;
    a->type = QDB_ATTR_INT;
    a->i = v;
    return QDB_OK;
}

qdb_status qdb_node_set_float(qdb_node *n, const char *name, float v, qdb_err *e)
{
    qdb_attr *a = attr_slot(n, name, e);
    if (!a)
        return QDB_ERR_NOMEM;
    a->type = QDB_ATTR_FLOAT;
    a->f = v;
    return QDB_OK;
}

qdb_status qdb_node_set_ints(qdb_node *n, const char *name, int count, const int64_t *v, qdb_err *e)
{
    qdb_attr *a = attr_slot(n, name, e);
    if (!a)
        return QDB_ERR_NOMEM;
    a->type = QDB_ATTR_INTS;
    a->n = count;
    if (!(a->ints = malloc((size_t)(count ? count : 1) * sizeof *a->ints)))
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory setting attribute '%s'", name);
    if (count)
        memcpy(a->ints, v, (size_t)count * sizeof *v);
    return QDB_OK;
}

void qdb_graph_remove_nodes(qdb_graph *g, const char *flags)
{
    int w = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (flags[i]) {
            node_clear(&g->nodes[i]);
            continue;
        }
        if (w != i)
            g->nodes[w] = g->nodes[i];
        w++;
    }
    g->n_nodes = w;
}

qdb_status qdb_node_set_input(qdb_graph *g, int i, int k, int v, qdb_err *e)
{
    qdb_node *n = &g->nodes[i];
    if (k >= n->n_in) {
        int *ni = realloc(n->in, (size_t)(k + 1) * sizeof *ni);
        if (!ni)
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory rewriting node '%s'", n->name);
        for (int j = n->n_in; j <= k; j++)
            ni[j] = -1;
        n->in = ni;
        n->n_in = k + 1;
    }
    n->in[k] = v;
    return QDB_OK;
}
