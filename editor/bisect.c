/* bisect.c - culprit search by delta debugging or by prefix / suffix
 * binary search (see bisect.h). */
#include "bisect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"

typedef struct ctx {
    qdb_whatif *w;
    qdb_probe *p;
    const qdb_bisect_opts *o;
    qdb_bisect *out;
    char *set;
    int n;
} ctx;

/* Probe with the layers idx[0..k) raised; record the step. */
static qdb_status test(ctx *c, const int *idx, int k, int *passed, qdb_probe_score *sc, qdb_err *e)
{
    memset(c->set, 0, (size_t)c->n);
    for (int i = 0; i < k; i++)
        c->set[idx[i]] = 1;
    qdb_probe_score s;
    qdb_status st = qdb_whatif_probe(c->w, c->set, 0, c->o->raise, c->p, &s, e);
    if (st != QDB_OK)
        return st;
    qdb_bisect *b = c->out;
    qdb_bisect_step *ns = realloc(b->steps, (size_t)(b->n_steps + 1) * sizeof *ns);
    int *r = malloc((size_t)(k ? k : 1) * sizeof *r);
    if (!ns || !r) {
        free(r);
        if (ns)
            b->steps = ns;
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    b->steps = ns;
    /* record in table order */
    int m = 0;
    for (int i = 0; i < c->n; i++)
        if (c->set[i])
            r[m++] = i;
    *passed = s.score >= b->target;
    b->steps[b->n_steps++] = (qdb_bisect_step){.n_raised = k, .raised = r, .s = s, .passed = *passed};
    b->evaluations++;
    if (sc)
        *sc = s;
    if (c->o->progress && c->o->progress(c->o->user, b->evaluations, 0))
        return qdb_err_set(e, QDB_ERR_CANCELLED, "bisect stopped after %d probes", b->evaluations);
    return QDB_OK;
}

/* Zeller's ddmin on cand[0..*k): on return cand[0..*k) is 1-minimal. */
static qdb_status ddmin(ctx *c, int *cand, int *k, qdb_err *e)
{
    int *buf = malloc((size_t)(*k ? *k : 1) * sizeof *buf);
    if (!buf)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    int gran = 2;
    qdb_status st = QDB_OK;
    while (*k >= 2) {
        int found = 0, size = *k;
        /* chunks: [start(i), start(i+1)) */
        for (int i = 0; i < gran && !found; i++) {
            int a = (int)((long)size * i / gran), z = (int)((long)size * (i + 1) / gran);
            int pass;
            if ((st = test(c, cand + a, z - a, &pass, NULL, e)) != QDB_OK)
                goto done;
            if (pass) {
                memmove(cand, cand + a, (size_t)(z - a) * sizeof *cand);
                *k = z - a;
                gran = 2;
                found = 1;
            }
        }
        for (int i = 0; i < gran && !found && gran > 2; i++) {
            int a = (int)((long)size * i / gran), z = (int)((long)size * (i + 1) / gran), m = 0;
            for (int j = 0; j < size; j++)
                if (j < a || j >= z)
                    buf[m++] = cand[j];
            int pass;
            if ((st = test(c, buf, m, &pass, NULL, e)) != QDB_OK)
                goto done;
            if (pass) {
                memcpy(cand, buf, (size_t)m * sizeof *cand);
                *k = m;
                gran = gran - 1 > 2 ? gran - 1 : 2;
                found = 1;
            }
        }
        if (!found) {
            if (gran >= size)
                break;
            gran = 2 * gran < size ? 2 * gran : size;
        }
    }
done:
    free(buf);
    return st;
}

/* Shortest run of first (from_end = 0) or last layers passing: its length. */
static qdb_status shortest_run(ctx *c, int from_end, int *len, qdb_err *e)
{
    int *idx = malloc((size_t)c->n * sizeof *idx);
    if (!idx)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->n; i++)
        idx[i] = from_end ? c->n - 1 - i : i;
    int lo = 0, hi = c->n; /* the whole set passes (checked by the caller) */
    qdb_status st = QDB_OK;
    while (lo + 1 < hi) {
        int mid = (lo + hi) / 2, pass;
        if ((st = test(c, idx, mid, &pass, NULL, e)) != QDB_OK)
            break;
        if (pass)
            hi = mid;
        else
            lo = mid;
    }
    *len = hi;
    free(idx);
    return st;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

qdb_status qdb_bisect_run(qdb_qmodel *q, qdb_probe *p, const qdb_bisect_opts *o, qdb_bisect *out,
                          qdb_err *e)
{
    memset(out, 0, sizeof *out);
    qdb_whatif *w = qdb_whatif_new(q, e);
    if (!w)
        return e && e->code ? e->code : QDB_ERR_NOMEM;
    ctx c = {.w = w, .p = p, .o = o, .out = out, .n = qdb_whatif_layers(w)};
    out->n_layers = c.n;
    out->float_s = qdb_probe_float(p);
    out->target = out->float_s.score - o->tolerance;
    int *cand = malloc((size_t)(c.n ? c.n : 1) * sizeof *cand);
    c.set = calloc((size_t)(c.n ? c.n : 1), 1);
    qdb_status st = QDB_OK;
    if (!cand || !c.set) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < c.n; i++)
        cand[i] = o->ranking ? o->ranking[i] : i;
    int pass;
    if ((st = test(&c, cand, 0, &pass, &out->base, e)) != QDB_OK)
        goto done;
    int k = 0;
    if (pass) {
        out->found = 1; /* already within the tolerance: no culprit */
        out->final = out->base;
        goto culprits;
    }
    if ((st = test(&c, cand, c.n, &pass, &out->final, e)) != QDB_OK)
        goto done;
    if (!pass) {
        out->found = 0; /* even every layer raised misses the target */
        k = c.n;
        goto culprits;
    }
    k = c.n;
    if (o->mode == QDB_BISECT_DDMIN) {
        if ((st = ddmin(&c, cand, &k, e)) != QDB_OK)
            goto done;
    } else {
        int a, z;
        if ((st = shortest_run(&c, 0, &a, e)) != QDB_OK || (st = shortest_run(&c, 1, &z, e)) != QDB_OK)
            goto done;
        k = a <= z ? a : z;
        for (int i = 0; i < k; i++)
            cand[i] = a <= z ? i : c.n - 1 - i;
    }
    out->found = 1;
    {
        /* the last probe that passed is usually the culprit set itself */
        qsort(cand, (size_t)k, sizeof *cand, cmp_int);
        const qdb_bisect_step *last = NULL;
        for (int i = out->n_steps - 1; i >= 0 && !last; i--)
            if (out->steps[i].passed)
                last = &out->steps[i];
        if (last && last->n_raised == k && !memcmp(last->raised, cand, (size_t)k * sizeof *cand))
            out->final = last->s;
        else if ((st = test(&c, cand, k, &pass, &out->final, e)) != QDB_OK)
            goto done;
    }
culprits:
    qsort(cand, (size_t)k, sizeof *cand, cmp_int);
    out->n_culprits = k;
    out->culprits = malloc((size_t)(k ? k : 1) * sizeof *out->culprits);
    out->alone = malloc((size_t)(k ? k : 1) * sizeof *out->alone);
    if (!out->culprits || !out->alone) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(out->culprits, cand, (size_t)k * sizeof *cand);
    for (int i = 0; out->found && i < k; i++) {
        qdb_probe_score s;
        if (k == 1) {
            out->alone[i] = out->final.score;
            continue;
        }
        if ((st = test(&c, &cand[i], 1, &pass, &s, e)) != QDB_OK)
            goto done;
        out->alone[i] = s.score;
    }
done:
    st = qdb_whatif_finish(w, st, e);
    free(cand);
    free(c.set);
    if (st != QDB_OK && st != QDB_ERR_CANCELLED)
        qdb_bisect_free(out);
    return st;
}

void qdb_bisect_free(qdb_bisect *b)
{
    for (int i = 0; i < b->n_steps; i++)
        free(b->steps[i].raised);
    free(b->steps);
    free(b->culprits);
    free(b->alone);
    memset(b, 0, sizeof *b);
}

char *qdb_bisect_rule(const qdb_qmodel *q, const qdb_bisect *b, qdb_raise_mode mode)
{
    size_t cap = 256;
    for (int i = 0; i < b->n_culprits; i++)
        cap += 2 * strlen(qdb_qmodel_own_layer(q, b->culprits[i])->name) + 16;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    size_t at = 0;
    for (int i = 0; i < b->n_culprits; i++) {
        at += (size_t)snprintf(t + at, cap - at, "%sname=\"", i ? " or " : "");
        for (const char *c = qdb_qmodel_own_layer(q, b->culprits[i])->name; *c; c++) {
            if (*c == '"' || *c == '\\')
                t[at++] = '\\';
            t[at++] = *c;
        }
        t[at++] = '"';
    }
    snprintf(t + at, cap - at, " : %s",
             mode == QDB_RAISE_FLOAT ? "act_quant=off, w_quant=off" : "act_bits=16, w_bits=16");
    /* the canonical form */
    qdb_err e = {0};
    qdb_rule *r = qdb_rule_parse(t, &e);
    char *c = r ? qdb_rule_format(r) : NULL;
    qdb_rule_free(r);
    if (c) {
        free(t);
        return c;
    }
    return t;
}
