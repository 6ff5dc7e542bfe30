/* prepare.c - load-time preparation of an imported graph (see prepare.h).
 *
 * Shapes and constant folding come from running the graph "abstractly" at
 * several batch sizes (PASS_A, PASS_B, PASS_C): every value gets a shape, and
 * every node whose inputs are all known gets computed. A node is folded into
 * a constant when every pass gives the same result, or when the only
 * difference is int64 elements equal to the batch size itself in every pass
 * (the third, large prime batch tells N apart from lookalikes such as
 * min(N, 4) or N mod 7, which agree with N at 2 and 3); those become
 * QDB_DIM_BATCH markers, substituted by the executor at run time. That is
 * exactly what the Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains
 * of PyTorch exports with a dynamic batch need, without special-casing them.
 * Dimensions that differ between the passes are batch dimensions. A node
 * whose output shape depends on values known only at run time (a Reshape fed
 * by a graph input) makes its outputs, and everything computed from them,
 * "dynamic": their shapes are settled by the executor on each run. */
#include "prepare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"

#define PASS_A 2
#define PASS_B 3
#define PASS_C 61 /* used only to confirm batch markers */
/* Nodes with larger outputs are not computed at load time: folding is for
 * shape arithmetic and weight transforms, and a hostile model must not make
 * the loader allocate gigabytes. */
#define FOLD_MAX_BYTES ((size_t)64 << 20)
/* Nor more than this in all, per pass (each pass keeps everything it
 * computed): a chain of 64 MiB nodes would otherwise add up without bound.
 * Small results (shape arithmetic) have a reserve of their own on top, so
 * that big weight transforms cannot keep the shape chains from folding. */
#define FOLD_TOTAL_BYTES ((size_t)256 << 20)
#define FOLD_SMALL_BYTES ((size_t)64 << 10)
#define FOLD_SMALL_RESERVE ((size_t)64 << 20)

qdb_tensor *qdb_value_data(const qdb_value *v, int64_t batch, int *owned, qdb_err *e)
{
    *owned = 0;
    if (!v->constant)
        return NULL;
    if (!v->batch_const)
        return v->constant;
    qdb_tensor *t = qdb_tensor_clone(v->constant, e);
    if (!t)
        return NULL;
    for (size_t k = 0; k < t->numel; k++)
        if (t->data.i[k] == QDB_DIM_BATCH)
            t->data.i[k] = batch;
    *owned = 1;
    return t;
}

/* ---- operator resolution ------------------------------------------------ */

static void append(char *buf, size_t cap, size_t *len, const char *fmt, const char *a,
                   const char *b)
{
    if (*len >= cap)
        return;
    int w = snprintf(buf + *len, cap - *len, fmt, a, b);
    if (w > 0)
        *len += (size_t)w;
    if (*len >= cap)
        *len = cap;
}

/* One kind of node qdb cannot run: an operator it lacks, or one it has but
 * not in the configuration a node asks for (with the first reason given). */
typedef struct bad_kind {
    const qdb_node *first;
    char reason[256]; /* "" for a missing operator */
    int count;
} bad_kind;

#define MAX_KINDS 64

static void note_kind(bad_kind *kinds, int *n_kinds, int *others, const qdb_node *n,
                      const char *reason)
{
    for (int k = 0; k < *n_kinds; k++) {
        const qdb_node *f = kinds[k].first;
        if (!strcmp(f->op_type, n->op_type) && !strcmp(f->domain, n->domain) &&
            !kinds[k].reason[0] == !reason[0]) {
            kinds[k].count++;
            return;
        }
    }
    if (*n_kinds == MAX_KINDS) {
        (*others)++;
        return;
    }
    bad_kind *b = &kinds[(*n_kinds)++];
    b->first = n;
    b->count = 1;
    snprintf(b->reason, sizeof b->reason, "%s", reason);
}

/* Resolve every node's operator and check its configuration. All the nodes
 * qdb cannot run are reported at once: first a summary by operator (so it
 * is never cut off), then the nodes, as far as the message allows. */
static qdb_status resolve_ops(qdb_graph *g, qdb_err *e)
{
    bad_kind kinds[MAX_KINDS];
    int n_kinds = 0, others = 0, n_bad = 0;
    qdb_err sub;
    for (int i = 0; i < g->n_nodes; i++) {
        qdb_node *n = &g->nodes[i];
        n->op = qdb_op_find(n->op_type, n->domain);
        if (!n->op) {
            note_kind(kinds, &n_kinds, &others, n, "");
            n_bad++;
            continue;
        }
        if (!n->op->check)
            continue;
        qdb_err_clear(&sub);
        qdb_status st = n->op->check(n, &sub);
        if (st == QDB_ERR_UNSUPPORTED) {
            note_kind(kinds, &n_kinds, &others, n, sub.msg[0] ? sub.msg : "unsupported");
            n_bad++;
        } else if (st != QDB_OK) {
            return qdb_err_set(e, st, "node '%s' (%s): %s", n->name, n->op_type, sub.msg);
        }
    }
    if (!n_bad)
        return QDB_OK;

    char msg[QDB_ERR_MSG_MAX];
    size_t len = 0;
    msg[0] = '\0';
    for (int pass = 0; pass < 2; pass++) { /* missing operators, then unsupported uses */
        int first = 1;
        for (int k = 0; k < n_kinds; k++) {
            const bad_kind *b = &kinds[k];
            if ((pass == 0) != !b->reason[0])
                continue;
            char item[700];
            snprintf(item, sizeof item, "%s%s%s%s%s x%d%s%s%s", first ? (len ? "; " : "") : ", ",
                     first ? (pass == 0 ? "unsupported operators: " : "unsupported uses: ") : "",
                     b->first->domain, b->first->domain[0] ? "." : "", b->first->op_type,
                     b->count, pass ? " (" : "", pass ? b->reason : "", pass ? ")" : "");
            append(msg, sizeof msg, &len, "%s%s", item, "");
            first = 0;
        }
    }
    if (others)
        append(msg, sizeof msg, &len, "; and %s%s", "more kinds", "");
    append(msg, sizeof msg, &len, ". Nodes:%s%s", "", "");
    for (int k = 0; k < n_kinds && len < sizeof msg - 1; k++) {
        const bad_kind *b = &kinds[k];
        append(msg, sizeof msg, &len, " %s%s", b->first->op_type, "");
        int shown = 0;
        for (int i = 0; i < g->n_nodes && shown < 5 && len < sizeof msg - 1; i++) {
            const qdb_node *n = &g->nodes[i];
            if (strcmp(n->op_type, b->first->op_type) || strcmp(n->domain, b->first->domain))
                continue;
            append(msg, sizeof msg, &len, "%s '%s'", shown ? "," : "", n->name);
            shown++;
        }
        if (b->count > shown)
            append(msg, sizeof msg, &len, "%s%s", " ...", "");
        append(msg, sizeof msg, &len, "%s%s", k + 1 < n_kinds ? ";" : "", "");
    }
    return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%d node%s cannot run: %s", n_bad,
                       n_bad == 1 ? "" : "s", msg);
}

/* ---- abstract passes ------------------------------------------------------ */

typedef struct pass {
    int64_t batch;
    qdb_tensor **t; /* per value; NULL = not reached, or dynamic */
    char *owned;    /* per value: t is ours to free */
    char *dynamic;  /* per value: shape known only at run time */
} pass;

static void pass_free(pass *p, int n_values)
{
    if (!p->t)
        return;
    for (int v = 0; v < n_values; v++)
        if (p->owned[v])
            qdb_tensor_free(p->t[v]);
    free(p->t);
    free(p->owned);
    free(p->dynamic);
    p->t = NULL;
    p->owned = NULL;
    p->dynamic = NULL;
}

static qdb_status node_error(qdb_err *e, const qdb_node *n, qdb_status st, const qdb_err *sub)
{
    return qdb_err_set(e, st, "node '%s' (%s): %s", n->name, n->op_type, sub->msg);
}

static qdb_status run_pass(const qdb_graph *g, pass *p, qdb_err *e)
{
    qdb_status st = QDB_OK;
    qdb_err sub;
    int max_io = 1, used_in = 0, used_out = 0;
    size_t folded = 0; /* bytes computed by this pass */
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].n_in > max_io)
            max_io = g->nodes[i].n_in;
        if (g->nodes[i].n_out > max_io)
            max_io = g->nodes[i].n_out;
    }
    const qdb_tensor **ins = calloc((size_t)max_io, sizeof *ins);
    qdb_tensor *outs = calloc((size_t)max_io, sizeof *outs);
    qdb_tensor **outp = calloc((size_t)max_io, sizeof *outp);
    p->t = calloc((size_t)g->n_values + 1, sizeof *p->t);
    p->owned = calloc((size_t)g->n_values + 1, 1);
    p->dynamic = calloc((size_t)g->n_values + 1, 1);
    if (!ins || !outs || !outp || !p->t || !p->owned || !p->dynamic) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory preparing the graph");
        goto out;
    }
    for (int v = 0; v < g->n_values; v++) {
        const qdb_value *val = &g->values[v];
        if (!val->constant)
            continue;
        int owned;
        p->t[v] = qdb_value_data(val, p->batch, &owned, e);
        if (!p->t[v]) {
            st = QDB_ERR_NOMEM;
            goto out;
        }
        p->owned[v] = (char)owned;
    }
    for (int k = 0; k < g->n_inputs; k++) {
        const qdb_value *val = &g->values[g->inputs[k]];
        qdb_shape s = val->shape;
        for (int d = 0; d < s.ndim; d++)
            if (val->batch_dims & (1u << d))
                s.d[d] *= p->batch;
        p->t[g->inputs[k]] = qdb_tensor_new_header(val->dtype, &s, e);
        if (!p->t[g->inputs[k]]) {
            st = QDB_ERR_NOMEM;
            goto out;
        }
        p->owned[g->inputs[k]] = 1;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const qdb_node *n = &g->nodes[i];
        int known = 1, dynamic = 0;
        size_t node_bytes = 0;
        /* Slots past n_in are absent (NULL), never the previous node's;
         * only the slots the previous node used need clearing. */
        for (int k = n->n_in; k < used_in; k++)
            ins[k] = NULL;
        for (int k = n->n_out; k < used_out; k++)
            outp[k] = NULL;
        used_in = n->n_in;
        used_out = n->n_out;
        for (int k = 0; k < n->n_in; k++) {
            ins[k] = n->in[k] >= 0 ? p->t[n->in[k]] : NULL;
            if (n->in[k] >= 0 && p->dynamic[n->in[k]]) {
                dynamic = 1;
                continue;
            }
            if (n->in[k] >= 0 && !ins[k]) {
                st = qdb_err_set(e, QDB_ERR_FORMAT, "node '%s' (%s): input '%s' is undefined",
                                 n->name, n->op_type, g->values[n->in[k]].name);
                goto out;
            }
            if (ins[k] && !ins[k]->data.p && !n->op->reads_shapes_only)
                known = 0;
        }
        memset(outs, 0, (size_t)n->n_out * sizeof *outs);
        for (int k = 0; k < n->n_out; k++)
            outp[k] = NULL;
        qdb_err_clear(&sub);
        st = dynamic ? QDB_ERR_DYNAMIC : n->op->infer(n, ins, outs, &sub);
        if (st == QDB_ERR_DYNAMIC) {
            /* Shapes from here on are settled when the graph runs. */
            for (int k = 0; k < n->n_out; k++)
                if (n->out[k] >= 0)
                    p->dynamic[n->out[k]] = 1;
            st = QDB_OK;
            continue;
        }
        if (st != QDB_OK) {
            node_error(e, n, st, &sub);
            goto out;
        }
        for (int k = 0; k < n->n_out; k++) {
            outp[k] = NULL;
            if (n->out[k] < 0)
                continue;
            qdb_tensor *t = qdb_tensor_new_header(outs[k].dtype, &outs[k].shape, &sub);
            if (!t) {
                st = node_error(e, n, sub.code, &sub);
                goto out;
            }
            p->t[n->out[k]] = t;
            p->owned[n->out[k]] = 1;
            outp[k] = t;
            size_t bytes = t->numel * qdb_dtype_size(t->dtype);
            if (bytes > FOLD_MAX_BYTES) {
                known = 0;
                bytes = FOLD_MAX_BYTES; /* the sum below must not overflow */
            }
            node_bytes += bytes;
        }
        if (folded + node_bytes >
            FOLD_TOTAL_BYTES + (node_bytes <= FOLD_SMALL_BYTES ? FOLD_SMALL_RESERVE : 0))
            known = 0;
        if (known)
            folded += node_bytes;
        for (int k = 0; k < n->n_out; k++) {
            qdb_tensor *t = outp[k];
            if (!t)
                continue;
            if (known && (st = qdb_tensor_alloc(t, &sub)) != QDB_OK) {
                node_error(e, n, st, &sub);
                goto out;
            }
        }
        if (known) {
            st = n->op->forward(n, ins, outp, &sub);
            if (st != QDB_OK) {
                node_error(e, n, st, &sub);
                goto out;
            }
        }
    }
out:
    free(ins);
    free(outs);
    free(outp);
    return st;
}

static int same_tensor(const qdb_tensor *a, const qdb_tensor *b)
{
    return b && b->data.p && a->dtype == b->dtype && qdb_shape_eq(&a->shape, &b->shape);
}

/* Can output tensors a, b, c (passes A, B, C) become one constant? Sets
 * *markers when batch markers are needed. */
static int foldable(const qdb_tensor *a, const qdb_tensor *b, const qdb_tensor *c, int *markers)
{
    if (!a || !a->data.p)
        return 0;
    if (!b)
        return 1; /* single pass: static batch */
    if (!same_tensor(a, b) || !same_tensor(a, c))
        return 0;
    size_t bytes = a->numel * qdb_dtype_size(a->dtype);
    if (memcmp(a->data.p, b->data.p, bytes) == 0 && memcmp(a->data.p, c->data.p, bytes) == 0)
        return 1;
    if (a->dtype != QDB_I64)
        return 0;
    for (size_t k = 0; k < a->numel; k++) {
        if (a->data.i[k] == b->data.i[k] && a->data.i[k] == c->data.i[k])
            continue;
        if (a->data.i[k] != PASS_A || b->data.i[k] != PASS_B || c->data.i[k] != PASS_C)
            return 0;
        *markers = 1;
    }
    return 1;
}

static qdb_status fold_and_record(qdb_graph *g, pass *pa, pass *pb, pass *pc, qdb_err *e)
{
    /* Shapes of every reached value. */
    for (int v = 0; v < g->n_values; v++) {
        qdb_value *val = &g->values[v];
        const qdb_tensor *a = pa->t[v];
        if (!a || val->constant)
            continue;
        val->dtype = a->dtype;
        val->shape = a->shape;
        val->batch_dims = 0;
        val->shape_known = 1;
        const qdb_tensor *b = pb ? pb->t[v] : NULL;
        if (b && b->shape.ndim == a->shape.ndim)
            for (int d = 0; d < a->shape.ndim; d++)
                if (a->shape.d[d] != b->shape.d[d]) {
                    val->batch_dims |= 1u << d;
                    if (a->shape.d[d] % PASS_A == 0)
                        val->shape.d[d] = a->shape.d[d] / PASS_A;
                }
    }
    /* Fold nodes whose every output is a constant. */
    for (int i = 0; i < g->n_nodes; i++) {
        const qdb_node *n = &g->nodes[i];
        int ok = 1, any = 0;
        int markers[QDB_MAX_DIMS * 4] = {0};
        for (int k = 0; k < n->n_out && ok; k++) {
            int v = n->out[k];
            if (v < 0)
                continue;
            any = 1;
            int m = 0;
            ok = foldable(pa->t[v], pb ? pb->t[v] : NULL, pc ? pc->t[v] : NULL, &m);
            if (k < (int)(sizeof markers / sizeof markers[0]))
                markers[k] = m;
            else if (m)
                ok = 0;
        }
        if (!ok || !any)
            continue;
        for (int k = 0; k < n->n_out; k++) {
            int v = n->out[k];
            if (v < 0)
                continue;
            qdb_tensor *a = pa->t[v];
            qdb_value *val = &g->values[v];
            if (markers[k]) {
                const qdb_tensor *b = pb->t[v];
                for (size_t j = 0; j < a->numel; j++)
                    if (a->data.i[j] != b->data.i[j])
                        a->data.i[j] = QDB_DIM_BATCH;
            }
            /* Take the tensor out of pass A: it now belongs to the graph. */
            if (!pa->owned[v]) {
                a = qdb_tensor_clone(a, e);
                if (!a)
                    return QDB_ERR_NOMEM;
            }
            pa->owned[v] = 0;
            val->constant = a;
            val->batch_const = markers[k];
            val->dtype = a->dtype;
            val->shape = a->shape;
            val->batch_dims = 0;
        }
    }
    return QDB_OK;
}

/* Every operator qdb implements writes its first output, so a node must
 * name it (ONNX makes only later outputs optional, the recurrent ops aside,
 * which qdb does not implement: resolve_ops has reported those already). */
/* Every node writes its first output, and reads its first input unless its
 * operator takes none: operators rely on both. */
static qdb_status check_io(const qdb_graph *g, qdb_err *e)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const qdb_node *n = &g->nodes[i];
        if (n->n_out < 1 || n->out[0] < 0)
            return qdb_err_set(e, QDB_ERR_FORMAT, "node '%s' (%s): %s", n->name, n->op_type,
                               n->n_out < 1 ? "has no output" : "its first output is unnamed");
        if (n->op->no_inputs && n->n_in > 0)
            return qdb_err_set(e, QDB_ERR_FORMAT, "node '%s' (%s): takes no inputs, has %d",
                               n->name, n->op_type, n->n_in);
        if (!n->op->no_inputs && (n->n_in < 1 || n->in[0] < 0))
            return qdb_err_set(e, QDB_ERR_FORMAT, "node '%s' (%s): %s", n->name, n->op_type,
                               n->n_in < 1 ? "has no input" : "its first input is absent");
    }
    return QDB_OK;
}

qdb_status qdb_graph_prepare(qdb_graph *g, qdb_err *e)
{
    qdb_status st = resolve_ops(g, e);
    if (st == QDB_OK)
        st = check_io(g, e);
    if (st != QDB_OK)
        return st;
    st = qdb_graph_toposort(g, e);
    if (st != QDB_OK)
        return st;
    pass pa = {.batch = PASS_A}, pb = {.batch = PASS_B}, pc = {.batch = PASS_C};
    st = run_pass(g, &pa, e);
    if (st == QDB_OK && g->batch_free)
        st = run_pass(g, &pb, e);
    if (st == QDB_OK && g->batch_free)
        st = run_pass(g, &pc, e);
    if (st == QDB_OK)
        st = fold_and_record(g, &pa, g->batch_free ? &pb : NULL, g->batch_free ? &pc : NULL, e);
    pass_free(&pa, g->n_values);
    pass_free(&pb, g->n_values);
    pass_free(&pc, g->n_values);
    if (st != QDB_OK)
        return st;
    qdb_graph_prune(g);
    return QDB_OK;
}
