/* executor.c - runs a prepared graph (see executor.h). Each run infers the
 * shapes for the actual batch, allocates each node's outputs just before the
 * node runs and frees every intermediate right after its last reader. */
#include "executor.h"

#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "op.h"
#include "fusion.h"
#include "ops/conv.h"
#include "ops/gated_act.h"
#include "ops/pad.h"
#include "prepare.h"

struct qdb_exec {
    const qdb_graph *g;
    qdb_exec_hook hook;
    int hook_inputs;
    void *user;
    int max_io;
    int *last_use;      /* per value: index of the last node reading it, -1 if none */
    char *is_output;    /* per value: a graph output */
    qdb_tensor **cur;   /* per value, during a run */
    char *owned;        /* per value: cur[v] is the executor's to free */
    const qdb_tensor **ins;
    qdb_tensor *outs;
    qdb_tensor **outp;
    /* x * gate(x) pairs (see qdb_exec_set_fusion): per node, the Mul a gate
     * node feeds (-1: none), and per node, the gate fused into it (-1) */
    int *gate_mul, *fused_gate;
    /* Conv groups (fusion.h): planned on the first run after a change */
    int fuse_on;
    qdb_exec_skippable skippable;
    qdb_exec_pointwise pointwise;
    void *fuse_user;
    qdb_fusion *plan;
    int plan_stale;
    qdb_exec_conv_q8 conv_q8; /* integer Convs, NULL: none */
    void *conv_q8_user;
};

/* Gate nodes (Sigmoid, HardSigmoid) whose output only a Mul reads, that Mul
 * multiplying it by the gate's own input: x * gate(x). Not yet fused (see
 * qdb_exec_set_fusion). Returns non-zero when out of memory. */
static int find_gated_pairs(qdb_exec *x)
{
    const qdb_graph *g = x->g;
    x->gate_mul = malloc(((size_t)g->n_nodes + 1) * sizeof *x->gate_mul);
    x->fused_gate = malloc(((size_t)g->n_nodes + 1) * sizeof *x->fused_gate);
    if (!x->gate_mul || !x->fused_gate)
        return 1;
    for (int i = 0; i < g->n_nodes; i++)
        x->gate_mul[i] = x->fused_gate[i] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const qdb_node *n = &g->nodes[i];
        if (qdb_gate_of(n) == QDB_GATE_NONE || n->n_in != 1 || n->n_out != 1 || n->in[0] < 0 ||
            n->out[0] < 0)
            continue;
        int in = n->in[0], s = n->out[0], j = x->last_use[s];
        if (j <= i || x->is_output[s] || g->values[in].constant)
            continue;
        const qdb_node *m = &g->nodes[j];
        if (strcmp(m->op_type, "Mul") || m->n_in != 2 || m->n_out != 1 || m->out[0] < 0 ||
            !((m->in[0] == in && m->in[1] == s) || (m->in[0] == s && m->in[1] == in)))
            continue;
        int readers = 0; /* the gate's output must have no other reader */
        for (int k = i + 1; k <= j; k++)
            for (int a = 0; a < g->nodes[k].n_in; a++)
                readers += g->nodes[k].in[a] == s;
        if (readers == 1)
            x->gate_mul[i] = j;
    }
    return 0;
}

qdb_exec *qdb_exec_new(const qdb_graph *g, qdb_err *e)
{
    qdb_exec *x = calloc(1, sizeof *x);
    if (!x)
        goto nomem;
    x->g = g;
    x->max_io = 1;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].n_in > x->max_io)
            x->max_io = g->nodes[i].n_in;
        if (g->nodes[i].n_out > x->max_io)
            x->max_io = g->nodes[i].n_out;
        if (!g->nodes[i].op) {
            qdb_err_set(e, QDB_ERR_INVALID, "node '%s' (%s) has no implementation: the graph "
                        "was not prepared", g->nodes[i].name, g->nodes[i].op_type);
            qdb_exec_free(x);
            return NULL;
        }
    }
    size_t nv = (size_t)g->n_values + 1;
    x->last_use = malloc(nv * sizeof *x->last_use);
    x->is_output = calloc(nv, 1);
    x->cur = calloc(nv, sizeof *x->cur);
    x->owned = calloc(nv, 1);
    x->ins = calloc((size_t)x->max_io, sizeof *x->ins);
    x->outs = calloc((size_t)x->max_io, sizeof *x->outs);
    x->outp = calloc((size_t)x->max_io, sizeof *x->outp);
    if (!x->last_use || !x->is_output || !x->cur || !x->owned || !x->ins || !x->outs || !x->outp)
        goto nomem;
    for (int v = 0; v < g->n_values; v++)
        x->last_use[v] = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0)
                x->last_use[g->nodes[i].in[k]] = i;
    for (int k = 0; k < g->n_outputs; k++)
        x->is_output[g->outputs[k]] = 1;
    if (find_gated_pairs(x))
        goto nomem;
    return x;
nomem:
    qdb_err_set(e, QDB_ERR_NOMEM, "out of memory creating the executor");
    qdb_exec_free(x);
    return NULL;
}

void qdb_exec_free(qdb_exec *x)
{
    if (!x)
        return;
    free(x->last_use);
    free(x->is_output);
    free(x->cur);
    free(x->owned);
    free(x->ins);
    free(x->outs);
    free(x->outp);
    free(x->gate_mul);
    free(x->fused_gate);
    qdb_fusion_free(x->plan);
    free(x);
}

void qdb_exec_tune_malloc(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 << 20); /* glibc's maximum: larger blocks are still mapped */
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 256 << 20);
#endif
}

void qdb_exec_set_hook(qdb_exec *x, qdb_exec_hook hook, void *user)
{
    x->hook = hook;
    x->user = user;
    x->plan_stale = 1;
}

void qdb_exec_hook_inputs(qdb_exec *x, int on)
{
    x->hook_inputs = on;
}

void qdb_exec_set_fusion(qdb_exec *x, int on, qdb_exec_skippable skippable, void *user)
{
    const qdb_graph *g = x->g;
    for (int i = 0; i < g->n_nodes; i++)
        x->fused_gate[i] = -1;
    x->fuse_on = on;
    x->skippable = skippable;
    x->fuse_user = user;
    x->plan_stale = 1;
    if (!on)
        return;
    for (int i = 0; i < g->n_nodes; i++) {
        int j = x->gate_mul[i];
        if (j >= 0 && (!skippable || skippable(user, g, g->nodes[i].out[0])))
            x->fused_gate[j] = i;
    }
}

void qdb_exec_set_conv_q8(qdb_exec *x, qdb_exec_conv_q8 conv_q8, void *user)
{
    x->conv_q8 = conv_q8;
    x->conv_q8_user = user;
}

void qdb_exec_set_pointwise(qdb_exec *x, qdb_exec_pointwise pointwise)
{
    x->pointwise = pointwise;
    x->plan_stale = 1;
}

/* The groups for the current settings (none with fusion off). */
static qdb_status plan_groups(qdb_exec *x, qdb_err *e)
{
    if (!x->plan_stale)
        return QDB_OK;
    qdb_fusion_free(x->plan);
    x->plan = NULL;
    if (x->fuse_on) {
        /* with a hook but no callbacks, no value may vanish */
        qdb_fusion_rules r = {x->hook != NULL, x->skippable, x->pointwise, x->fuse_user};
        if (!(x->plan = qdb_fusion_plan(x->g, x->gate_mul, x->is_output, &r)))
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory planning fused groups");
    }
    x->plan_stale = 0;
    return QDB_OK;
}

qdb_tensor *qdb_exec_disown(qdb_exec *x, int value)
{
    if (value < 0 || value >= x->g->n_values || !x->owned[value] || !x->cur[value])
        return NULL;
    x->owned[value] = 0;
    return x->cur[value];
}

int qdb_exec_fused_away(qdb_exec *x, int v, qdb_err *e)
{
    if (plan_groups(x, e) != QDB_OK)
        return -1;
    return x->plan && v >= 0 && v < x->g->n_values && x->plan->inside[v];
}

/* Group k, at its head: the Conv (reading the folded Pad's input), then
 * the chain on each output image. */
static qdb_status run_group(qdb_exec *x, const qdb_fuse_group *k, qdb_err *e)
{
    const qdb_graph *g = x->g;
    const qdb_node *c = &g->nodes[k->head];
    qdb_conv_fuse f = {0};
    qdb_pw_chain ch = {0};
    const qdb_tensor *in[3] = {NULL, NULL, NULL};
    for (int a = 0; a < c->n_in && a < 3; a++)
        in[a] = c->in[a] >= 0 ? x->cur[c->in[a]] : NULL;
    if (k->pad >= 0) {
        const qdb_node *p = &g->nodes[k->pad];
        const qdb_tensor *pin[4] = {NULL, NULL, NULL, NULL};
        for (int a = 0; a < p->n_in && a < 4; a++)
            pin[a] = p->in[a] >= 0 ? x->cur[p->in[a]] : NULL;
        if (!pin[0])
            return qdb_err_set(e, QDB_ERR_INVALID, "input is missing");
        qdb_status st = qdb_pad_constant_spatial(p, pin, f.pad_begin, f.pad_end, &f.pad_value, e);
        if (st != QDB_OK)
            return st;
        f.pad = 1;
        in[0] = pin[0];
    }
    if (!in[0] || !in[1])
        return qdb_err_set(e, QDB_ERR_INVALID, "input is missing");
    for (int s = 0; s <= k->n_steps; s++) {
        if (s > 0) {
            const qdb_fuse_step *st = &k->steps[s - 1];
            qdb_pw_step *p = &ch.s[ch.n++];
            p->kind = st->kind;
            p->lo = st->lo;
            p->hi = st->hi;
            if (st->kind == QDB_PW_GATE) {
                const qdb_node *gn = &g->nodes[st->gate_node];
                p->gate = qdb_gate_of(gn);
                qdb_gate_params(gn, &p->alpha, &p->beta);
            }
            if (st->konst >= 0) {
                p->k = x->cur[st->konst]->data.f;
                p->per_channel = st->per_channel;
            }
        }
        if (k->fn[s]) {
            qdb_pw_step *p = &ch.s[ch.n++];
            p->kind = QDB_PW_FN;
            p->fn = k->fn[s];
            p->ctx = k->ctx[s];
        }
    }
    f.chain = ch.n ? &ch : NULL;
    f.q8 = x->conv_q8 ? x->conv_q8(x->conv_q8_user, g, k->head) : NULL;
    qdb_tensor *t;
    qdb_status st = qdb_conv_run_fused(c, in, &f, &t, e);
    if (st != QDB_OK)
        return st;
    x->cur[k->out_value] = t;
    x->owned[k->out_value] = 1;
    return QDB_OK;
}

/* Node j computes x * gate(x) for the gate node fused into it: one pass
 * instead of the gate's output tensor and the Mul. */
static qdb_status run_fused(qdb_exec *x, int j, qdb_err *e)
{
    const qdb_node *gn = &x->g->nodes[x->fused_gate[j]];
    const qdb_node *m = &x->g->nodes[j];
    const qdb_tensor *in = x->cur[gn->in[0]];
    if (!in)
        return qdb_err_set(e, QDB_ERR_INVALID, "input is missing");
    if (in->dtype != QDB_F32)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: int64 input not supported", gn->op_type);
    qdb_tensor *t = qdb_tensor_new_uninit(QDB_F32, &in->shape, e);
    if (!t)
        return e && e->code ? e->code : QDB_ERR_NOMEM;
    qdb_gated_act_f32(qdb_gate_of(gn), gn, in->data.f, t->data.f, in->numel);
    x->cur[m->out[0]] = t;
    x->owned[m->out[0]] = 1;
    x->outp[0] = t;
    return QDB_OK;
}

static void release(qdb_exec *x, int v)
{
    if (x->owned[v])
        qdb_tensor_free(x->cur[v]);
    x->cur[v] = NULL;
    x->owned[v] = 0;
}

/* Check the caller's inputs against the graph; find the batch size. */
static qdb_status check_inputs(const qdb_graph *g, const qdb_tensor *const *inputs,
                               int64_t *batch, qdb_err *e)
{
    *batch = 1;
    int have_batch = 0;
    for (int k = 0; k < g->n_inputs; k++) {
        const qdb_value *v = &g->values[g->inputs[k]];
        const qdb_tensor *t = inputs[k];
        char want[160], got[160];
        if (!t || !t->data.p)
            return qdb_err_set(e, QDB_ERR_INVALID, "input '%s' is missing", v->name);
        if (t->dtype != v->dtype)
            return qdb_err_set(e, QDB_ERR_INVALID, "input '%s' must be %s, got %s", v->name,
                               qdb_dtype_name(v->dtype), qdb_dtype_name(t->dtype));
        int ok = t->shape.ndim == v->shape.ndim;
        for (int d = 0; ok && d < v->shape.ndim; d++) {
            if (v->batch_dims & (1u << d)) {
                if (t->shape.d[d] < 1 || (have_batch && t->shape.d[d] != *batch))
                    ok = 0;
                *batch = t->shape.d[d];
                have_batch = 1;
            } else if (t->shape.d[d] != v->shape.d[d]) {
                ok = 0;
            }
        }
        if (!ok) {
            qdb_value_shape_str(v, want, sizeof want);
            return qdb_err_set(e, QDB_ERR_SHAPE, "input '%s' has shape %s, the model expects %s",
                               v->name, qdb_shape_str(&t->shape, got, sizeof got), want);
        }
    }
    return QDB_OK;
}

qdb_status qdb_exec_run(qdb_exec *x, const qdb_tensor *const *inputs, qdb_tensor **outputs,
                        qdb_err *e)
{
    const qdb_graph *g = x->g;
    qdb_err sub;
    int64_t batch;
    qdb_status st = check_inputs(g, inputs, &batch, e);
    if (st != QDB_OK)
        return st;
    for (int k = 0; k < g->n_outputs; k++)
        outputs[k] = NULL;

    for (int v = 0; v < g->n_values; v++) {
        if (!g->values[v].constant)
            continue;
        int owned;
        x->cur[v] = qdb_value_data(&g->values[v], batch, &owned, e);
        if (!x->cur[v]) {
            st = QDB_ERR_NOMEM;
            goto fail;
        }
        x->owned[v] = (char)owned;
    }
    for (int k = 0; k < g->n_inputs; k++) {
        x->cur[g->inputs[k]] = (qdb_tensor *)inputs[k]; /* borrowed, never written */
        x->owned[g->inputs[k]] = 0;
    }
    if (x->hook && x->hook_inputs)
        for (int k = 0; k < g->n_inputs; k++) {
            int v = g->inputs[k];
            qdb_tensor *t = qdb_tensor_clone(inputs[k], e);
            if (!t) {
                st = QDB_ERR_NOMEM;
                goto fail;
            }
            x->cur[v] = t;
            x->owned[v] = 1;
            if (x->hook(x->user, g, -1, k, t)) {
                st = qdb_err_set(e, QDB_ERR_CANCELLED, "run stopped at input '%s'",
                                 g->values[v].name);
                goto fail;
            }
        }

    if ((st = plan_groups(x, e)) != QDB_OK)
        goto fail;
    const qdb_fusion *fp = x->plan;
    int used_in = x->max_io, used_out = x->max_io; /* a previous run may have left slots */
    for (int i = 0; i < g->n_nodes; i++) {
        const qdb_node *n = &g->nodes[i];
        if (fp && fp->absorbed[i])
            continue; /* run inside its group */
        if (fp && fp->group_of[i] >= 0) {
            const qdb_fuse_group *k = &fp->groups[fp->group_of[i]];
            qdb_err_clear(&sub);
            if ((st = run_group(x, k, &sub)) != QDB_OK) {
                qdb_err_set(e, st, "node '%s' (%s): %s", n->name, n->op_type, sub.msg);
                goto fail;
            }
            if (x->hook && k->hook_last &&
                x->hook(x->user, g, k->out_node, 0, x->cur[k->out_value])) {
                st = qdb_err_set(e, QDB_ERR_CANCELLED, "run stopped after node '%s'",
                                 g->nodes[k->out_node].name);
                goto fail;
            }
            int vals[4 * QDB_FUSE_MAX + 8];
            int nvals = qdb_fusion_group_inputs(g, k, vals, (int)(sizeof vals / sizeof *vals));
            for (int a = 0; a < nvals; a++) {
                int v = vals[a];
                if (fp->last_use[v] == i && !x->is_output[v] && !g->values[v].constant)
                    release(x, v);
            }
            if (fp->last_use[k->out_value] < 0 && !x->is_output[k->out_value])
                release(x, k->out_value);
            continue;
        }
        if (x->gate_mul[i] >= 0 && x->fused_gate[x->gate_mul[i]] == i)
            continue; /* computed by the Mul it feeds */
        /* Slots past n_in / n_out are absent (NULL), never the previous
         * node's; only the slots the previous node used need clearing. */
        for (int k = n->n_in; k < used_in; k++)
            x->ins[k] = NULL;
        for (int k = n->n_out; k < used_out; k++)
            x->outp[k] = NULL;
        used_in = n->n_in;
        used_out = n->n_out;
        for (int k = 0; k < n->n_in; k++)
            x->ins[k] = n->in[k] >= 0 ? x->cur[n->in[k]] : NULL;
        for (int k = 0; k < n->n_out; k++)
            x->outp[k] = NULL;
        memset(x->outs, 0, (size_t)n->n_out * sizeof *x->outs);
        qdb_err_clear(&sub);
        if (x->fused_gate[i] >= 0) {
            st = run_fused(x, i, &sub);
            if (st != QDB_OK) {
                const qdb_node *gn = &g->nodes[x->fused_gate[i]];
                qdb_err_set(e, st, "node '%s' (%s): %s", gn->name, gn->op_type, sub.msg);
                goto fail;
            }
            goto ran;
        }
        if (x->conv_q8 && n->n_out == 1 && !strcmp(n->op_type, "Conv") && n->out[0] >= 0) {
            const struct qdb_conv_q8 *q8 = x->conv_q8(x->conv_q8_user, g, i);
            if (q8) { /* the integer Conv, when it fits the geometry */
                qdb_conv_fuse f = {0};
                f.q8 = q8;
                qdb_tensor *t = NULL;
                if ((st = qdb_conv_run_fused(n, x->ins, &f, &t, &sub)) != QDB_OK) {
                    qdb_err_set(e, st, "node '%s' (%s): %s", n->name, n->op_type, sub.msg);
                    goto fail;
                }
                x->cur[n->out[0]] = t;
                x->owned[n->out[0]] = 1;
                x->outp[0] = t;
                goto ran;
            }
        }
        st = n->op->infer(n, x->ins, x->outs, &sub);
        for (int k = 0; st == QDB_OK && k < n->n_out; k++) {
            x->outp[k] = NULL;
            if (n->out[k] < 0)
                continue;
            qdb_tensor *t = qdb_tensor_new_uninit(x->outs[k].dtype, &x->outs[k].shape, &sub);
            if (!t) {
                st = sub.code;
                break;
            }
            x->cur[n->out[k]] = t;
            x->owned[n->out[k]] = 1;
            x->outp[k] = t;
        }
        if (st == QDB_OK)
            st = n->op->forward(n, x->ins, x->outp, &sub);
        if (st != QDB_OK) {
            qdb_err_set(e, st, "node '%s' (%s): %s", n->name, n->op_type, sub.msg);
            goto fail;
        }
    ran:
        if (x->hook)
            for (int k = 0; k < n->n_out; k++)
                if (x->outp[k] && x->hook(x->user, g, i, k, x->outp[k])) {
                    st = qdb_err_set(e, QDB_ERR_CANCELLED, "run stopped after node '%s'", n->name);
                    goto fail;
                }
        /* Free what nobody reads any more. */
        const int *last = fp ? fp->last_use : x->last_use;
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v >= 0 && last[v] == i && !x->is_output[v] && !g->values[v].constant)
                release(x, v);
        }
        for (int k = 0; k < n->n_out; k++) {
            int v = n->out[k];
            if (v >= 0 && last[v] < 0 && !x->is_output[v])
                release(x, v);
        }
    }
    for (int k = 0; k < g->n_outputs; k++) {
        int v = g->outputs[k];
        if (!x->cur[v]) {
            st = qdb_err_set(e, QDB_ERR_INVALID, "output '%s' was not computed", g->values[v].name);
            goto fail;
        }
        if (x->owned[v] && !g->values[v].constant) {
            /* the same value may be listed twice as an output */
            int dup = 0;
            for (int j = 0; j < k; j++)
                dup |= g->outputs[j] == v;
            if (!dup) {
                outputs[k] = x->cur[v];
                x->owned[v] = 0;
                continue;
            }
        }
        outputs[k] = qdb_tensor_clone(x->cur[v], e);
        if (!outputs[k]) {
            st = QDB_ERR_NOMEM;
            goto fail;
        }
    }
    for (int v = 0; v < g->n_values; v++)
        release(x, v);
    return QDB_OK;
fail:
    for (int v = 0; v < g->n_values; v++)
        release(x, v);
    for (int k = 0; k < g->n_outputs; k++) {
        qdb_tensor_free(outputs[k]);
        outputs[k] = NULL;
    }
    return st;
}

qdb_status qdb_exec_run_first(qdb_exec *x, const qdb_tensor *const *inputs, qdb_tensor **out,
                              qdb_err *e)
{
    *out = NULL;
    int n = x->g->n_outputs;
    qdb_tensor **outs = calloc((size_t)(n > 0 ? n : 1), sizeof *outs);
    if (!outs)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    qdb_status st = qdb_exec_run(x, inputs, outs, e);
    if (st == QDB_OK) {
        *out = outs[0];
        for (int k = 1; k < n; k++)
            if (outs[k] != outs[0])
                qdb_tensor_free(outs[k]);
    }
    free(outs);
    return st;
}
