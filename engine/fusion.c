/* fusion.c - plans the executor's fused groups (see fusion.h). */
#include "fusion.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/pad.h"

enum { EFF_NONE, EFF_FN, EFF_OPAQUE };

/* What the hook does to value v. */
static int effect(const qdb_fusion_rules *r, const qdb_graph *g, int v, qdb_pw_fn *fn,
                  const void **ctx)
{
    *fn = NULL;
    *ctx = NULL;
    if (!r->has_hook)
        return EFF_NONE;
    if (r->pointwise && r->pointwise(r->user, g, v, fn, ctx))
        return *fn ? EFF_FN : EFF_NONE;
    *fn = NULL;
    if (r->skippable && r->skippable(r->user, g, v))
        return EFF_NONE;
    return EFF_OPAQUE;
}

static int is_f32(const qdb_graph *g, int v)
{
    return v >= 0 && g->values[v].dtype == QDB_F32 && g->values[v].shape_known;
}

/* A float constant k that broadcasts into value v without growing it: one
 * entry (*per_channel 0) or one per channel of an N, C, ... tensor. */
static int channel_const(const qdb_graph *g, int k, int v, int *per_channel)
{
    if (k < 0 || !g->values[k].constant || g->values[k].batch_const ||
        g->values[k].constant->dtype != QDB_F32)
        return 0;
    const qdb_tensor *t = g->values[k].constant;
    const qdb_shape *vs = &g->values[v].shape;
    if (t->shape.ndim > vs->ndim)
        return 0;
    if (t->numel == 1) {
        *per_channel = 0;
        return 1;
    }
    const int off = vs->ndim - t->shape.ndim; /* k's dim i lines up with v's dim off + i */
    if (vs->ndim < 2 || off > 1 || (int64_t)t->numel != vs->d[1])
        return 0;
    for (int i = 0; i < t->shape.ndim; i++)
        if (off + i != 1 && t->shape.d[i] != 1)
            return 0;
    *per_channel = 1;
    return 1;
}

/* Can Pad node p (whose output only Conv node c reads) fold into c? */
static int pad_folds(const qdb_graph *g, int p, int c)
{
    const qdb_node *pn = &g->nodes[p], *cn = &g->nodes[c];
    if (strcmp(pn->op_type, "Pad") || pn->n_out != 1 || pn->n_in < 1 || pn->n_in > 4 ||
        !is_f32(g, pn->in[0]))
        return 0;
    /* the padding, from the constants (the data only lends its rank) */
    qdb_tensor xt = {0};
    xt.dtype = QDB_F32;
    xt.shape = g->values[pn->in[0]].shape;
    const qdb_tensor *in[4] = {&xt, NULL, NULL, NULL};
    for (int k = 1; k < pn->n_in; k++) {
        int v = pn->in[k];
        if (v < 0)
            continue;
        if (!g->values[v].constant || g->values[v].batch_const)
            return 0;
        in[k] = g->values[v].constant;
    }
    int64_t pb[2], pe[2];
    float value;
    qdb_err e = {0};
    if (qdb_pad_constant_spatial(pn, in, pb, pe, &value, &e) != QDB_OK)
        return 0;
    /* a depthwise 2-D Conv without padding of its own */
    if (cn->n_in < 2 || cn->in[1] < 0 || !g->values[cn->in[1]].constant)
        return 0;
    const qdb_tensor *w = g->values[cn->in[1]].constant;
    const int64_t channels = xt.shape.d[1];
    if (w->shape.ndim != 4 || w->shape.d[1] != 1 || w->shape.d[0] != channels ||
        qdb_attr_int(cn, "group", 1) != channels)
        return 0;
    const char *ap = qdb_attr_string(cn, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID"))
        return 0;
    int np;
    const int64_t *pads = qdb_attr_ints(cn, "pads", &np);
    for (int i = 0; pads && i < np; i++)
        if (pads[i])
            return 0;
    return 1;
}

void qdb_fusion_free(qdb_fusion *f)
{
    if (!f)
        return;
    free(f->groups);
    free(f->group_of);
    free(f->absorbed);
    free(f->last_use);
    free(f->inside);
    free(f);
}

int qdb_fusion_group_inputs(const qdb_graph *g, const qdb_fuse_group *k, int *vals, int cap)
{
    int n = 0;
    int nodes[2 * QDB_FUSE_MAX + 2], nn = 0;
    if (k->pad >= 0)
        nodes[nn++] = k->pad;
    nodes[nn++] = k->head;
    for (int s = 0; s < k->n_steps; s++) {
        if (k->steps[s].kind == QDB_PW_GATE)
            nodes[nn++] = k->steps[s].gate_node;
        nodes[nn++] = k->steps[s].node;
    }
    for (int i = 0; i < nn; i++)
        for (int a = 0; a < g->nodes[nodes[i]].n_in; a++) {
            int v = g->nodes[nodes[i]].in[a];
            if (v >= 0 && n < cap)
                vals[n++] = v;
        }
    return n;
}

/* The next step after value v (read by nread[v] nodes, the first two in
 * rd[2 * v]); 0 when the chain ends there. */
static int next_step(const qdb_graph *g, const int *gate_mul, const char *is_output,
                     const qdb_fusion_rules *r, const int *nread, const int *rd, int v,
                     qdb_fuse_step *s)
{
    memset(s, 0, sizeof *s);
    s->konst = s->gate_node = -1;
    if (nread[v] == 2) { /* x * gate(x): the gate and its Mul read v */
        int a = rd[2 * v], b = rd[2 * v + 1];
        int gate = gate_mul[a] >= 0 && gate_mul[a] == b ? a : -1;
        if (gate < 0 || g->nodes[gate].in[0] != v)
            return 0;
        int go = g->nodes[gate].out[0];
        qdb_pw_fn fn;
        const void *ctx;
        if (is_output[go] || effect(r, g, go, &fn, &ctx) != EFF_NONE ||
            !is_f32(g, g->nodes[b].out[0]))
            return 0;
        s->kind = QDB_PW_GATE;
        s->gate_node = gate;
        s->node = b;
        return 1;
    }
    if (nread[v] != 1)
        return 0;
    const int j = rd[2 * v];
    const qdb_node *n = &g->nodes[j];
    if (n->n_out != 1 || !is_f32(g, n->out[0]))
        return 0;
    s->node = j;
    const char *t = n->op_type;
    if (!strcmp(t, "Relu") && n->n_in == 1 && n->in[0] == v) {
        s->kind = QDB_PW_RELU;
        return 1;
    }
    if (!strcmp(t, "Clip") && n->n_in >= 1 && n->n_in <= 3 && n->in[0] == v) {
        /* bounds as unary.c reads them: attributes before opset 11, then
         * optional scalar constants */
        s->kind = QDB_PW_CLIP;
        if (n->opset < 11) {
            s->lo = qdb_attr_float(n, "min", -FLT_MAX);
            s->hi = qdb_attr_float(n, "max", FLT_MAX);
            return 1;
        }
        s->lo = -INFINITY;
        s->hi = INFINITY;
        for (int a = 1; a < n->n_in; a++) {
            int k = n->in[a];
            if (k < 0)
                continue;
            const qdb_tensor *b = g->values[k].constant;
            if (!b || g->values[k].batch_const || b->dtype != QDB_F32 || b->numel != 1)
                return 0;
            *(a == 1 ? &s->lo : &s->hi) = b->data.f[0];
        }
        return 1;
    }
    /* before opset 7, Add, Mul and PRelu broadcast by attributes
     * (broadcast, axis): left alone */
    if (n->opset < 7)
        return 0;
    if (!strcmp(t, "PRelu") && n->n_in == 2 && n->in[0] == v &&
        channel_const(g, n->in[1], v, &s->per_channel)) {
        s->kind = QDB_PW_PRELU;
        s->konst = n->in[1];
        return 1;
    }
    if ((!strcmp(t, "Add") || !strcmp(t, "Mul")) && n->n_in == 2) {
        int k = n->in[0] == v ? n->in[1] : n->in[1] == v ? n->in[0] : -1;
        if (k < 0 || k == v || !channel_const(g, k, v, &s->per_channel))
            return 0;
        s->kind = t[0] == 'A' ? QDB_PW_ADD : QDB_PW_MUL;
        s->konst = k;
        return 1;
    }
    return 0;
}

qdb_fusion *qdb_fusion_plan(const qdb_graph *g, const int *gate_mul, const char *is_output,
                            const qdb_fusion_rules *r)
{
    qdb_fusion *f = calloc(1, sizeof *f);
    size_t nn = (size_t)g->n_nodes + 1, nv = (size_t)g->n_values + 1;
    int *nread = calloc(nv, sizeof *nread), *rd = malloc(2 * nv * sizeof *rd);
    if (!f || !nread || !rd)
        goto nomem;
    f->groups = calloc(nn, sizeof *f->groups);
    f->group_of = malloc(nn * sizeof *f->group_of);
    f->absorbed = calloc(nn, 1);
    f->last_use = malloc(nv * sizeof *f->last_use);
    f->inside = calloc(nv, 1);
    if (!f->groups || !f->group_of || !f->absorbed || !f->last_use || !f->inside)
        goto nomem;
    for (int i = 0; i < g->n_nodes; i++)
        f->group_of[i] = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_in; a++) {
            int v = g->nodes[i].in[a];
            if (v < 0)
                continue;
            if (nread[v] < 2)
                rd[2 * v + nread[v]] = i;
            nread[v]++;
        }
    for (int i = 0; i < g->n_nodes; i++) {
        const qdb_node *n = &g->nodes[i];
        if (f->absorbed[i] || strcmp(n->op_type, "Conv") || n->n_out != 1 || n->n_in < 2 ||
            !is_f32(g, n->out[0]))
            continue;
        qdb_fuse_group *k = &f->groups[f->n_groups];
        memset(k, 0, sizeof *k);
        k->head = i;
        k->pad = -1;
        int xin = n->in[0];
        qdb_pw_fn fn;
        const void *ctx;
        if (xin >= 0 && g->values[xin].producer >= 0 && nread[xin] == 1 && !is_output[xin] &&
            !f->absorbed[g->values[xin].producer] &&
            effect(r, g, xin, &fn, &ctx) == EFF_NONE && pad_folds(g, g->values[xin].producer, i))
            k->pad = g->values[xin].producer;
        int v = n->out[0], at = 0;
        k->out_node = i;
        for (;;) {
            int eff = effect(r, g, v, &k->fn[at], &k->ctx[at]);
            if (eff == EFF_OPAQUE) {
                k->hook_last = 1;
                break;
            }
            if (is_output[v] || k->n_steps == QDB_FUSE_MAX ||
                !next_step(g, gate_mul, is_output, r, nread, rd, v, &k->steps[k->n_steps]))
                break;
            const qdb_fuse_step *s = &k->steps[k->n_steps++];
            v = g->nodes[s->node].out[0];
            k->out_node = s->node;
            at++;
        }
        k->out_value = v;
        int any_fn = 0;
        for (int s = 0; s <= k->n_steps; s++)
            any_fn |= k->fn[s] != NULL;
        if (k->pad < 0 && k->n_steps == 0 && !any_fn)
            continue; /* nothing gained */
        f->group_of[i] = f->n_groups++;
        if (k->pad >= 0) {
            f->absorbed[k->pad] = 1;
            f->inside[g->nodes[k->pad].out[0]] = 1;
        }
        f->inside[n->out[0]] = 1;
        for (int s = 0; s < k->n_steps; s++) {
            const qdb_fuse_step *st = &k->steps[s];
            f->absorbed[st->node] = 1;
            f->inside[g->nodes[st->node].out[0]] = 1;
            if (st->gate_node >= 0) {
                f->absorbed[st->gate_node] = 1;
                f->inside[g->nodes[st->gate_node].out[0]] = 1;
            }
        }
        f->inside[k->out_value] = 0;
    }
    /* last readers, a group's nodes counting at its head */
    for (int v = 0; v < g->n_values; v++)
        f->last_use[v] = -1;
    for (int i = 0; i < g->n_nodes; i++)
        if (!f->absorbed[i])
            for (int a = 0; a < g->nodes[i].n_in; a++)
                if (g->nodes[i].in[a] >= 0)
                    f->last_use[g->nodes[i].in[a]] = i;
    for (int k = 0; k < f->n_groups; k++) {
        int vals[4 * QDB_FUSE_MAX + 8];
        int n = qdb_fusion_group_inputs(g, &f->groups[k], vals, (int)(sizeof vals / sizeof *vals));
        for (int a = 0; a < n; a++)
            if (f->last_use[vals[a]] < f->groups[k].head)
                f->last_use[vals[a]] = f->groups[k].head;
    }
    free(nread);
    free(rd);
    return f;
nomem:
    free(nread);
    free(rd);
    qdb_fusion_free(f);
    return NULL;
}
