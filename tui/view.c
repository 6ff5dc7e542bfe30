/* view.c - the TUI's snapshot of a session (see view.h). */
#include "view.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_attr.h"
#include "rule.h"

void view_free(view *v)
{
    for (int i = 0; v->l && i < v->n; i++) {
        free(v->l[i].name);
        free(v->l[i].op);
        free(v->l[i].wthr);
    }
    free(v->l);
    for (int i = 0; v->rule_text && i < v->n_rules; i++)
        free(v->rule_text[i]);
    free(v->rule_text);
    free(v->rule_on);
    free(v->rule_matches);
    free(v->rule_contrib);
    for (int i = 0; v->hist_line && i < v->n_hist; i++)
        free(v->hist_line[i]);
    free(v->hist_line);
    for (int i = 0; i < v->n_notes; i++)
        free(v->note[i]);
    memset(v, 0, sizeof *v);
}

/* Counts of h resampled to VIEW_HIST_BINS equal bins over its range. */
static void resample(const qdb_histogram *h, vlayer *l)
{
    memset(l->counts, 0, sizeof l->counts);
    if (!h || !(h->hi > h->lo)) {
        l->has_hist = 0;
        return;
    }
    l->has_hist = 1;
    l->lo = h->lo;
    l->hi = h->hi;
    l->total = 0;
    for (int i = 0; i < h->n_bins; i++) {
        int k = (int)((int64_t)i * VIEW_HIST_BINS / h->n_bins);
        l->counts[k] += h->count[i];
        l->total += h->count[i];
    }
}

/* The float kernel of a weighted layer, binned, and its thresholds. */
static int weights(const qdb_qmodel *q, const qdb_qlayer *ql, vlayer *l)
{
    l->has_w = 0;
    if (!q->g0 || ql->w_value < 0 || ql->w_value >= q->g0->n_values)
        return 0;
    const qdb_tensor *k = q->g0->values[ql->w_value].constant;
    if (!k || k->dtype != QDB_F32 || !k->numel)
        return 0;
    double lo = k->data.f[0], hi = lo;
    for (size_t i = 1; i < k->numel; i++) {
        lo = k->data.f[i] < lo ? k->data.f[i] : lo;
        hi = k->data.f[i] > hi ? k->data.f[i] : hi;
    }
    if (!(hi > lo))
        hi = lo + 1e-6;
    l->w_lo = lo;
    l->w_hi = hi;
    l->w_total = (double)k->numel;
    memset(l->w_counts, 0, sizeof l->w_counts);
    for (size_t i = 0; i < k->numel; i++) {
        int b = (int)((k->data.f[i] - lo) / (hi - lo) * VIEW_HIST_BINS);
        l->w_counts[b < 0 ? 0 : b >= VIEW_HIST_BINS ? VIEW_HIST_BINS - 1 : b] += 1.0;
    }
    l->w_per_channel = ql->wcfg.per_channel;
    if (ql->n_w_qp > 0 && ql->w_qp) {
        if (!(l->wthr = malloc((size_t)ql->n_w_qp * sizeof *l->wthr)))
            return -1;
        l->n_wthr = ql->n_w_qp;
        for (int c = 0; c < ql->n_w_qp; c++)
            l->wthr[c] = ql->w_qp[c].method == QDB_QM_UNIFORM
                             ? fmax(fabs(ql->w_qp[c].min), fabs(ql->w_qp[c].max))
                             : ql->w_qp[c].threshold;
    }
    l->has_w = 1;
    return 0;
}

int view_build(view *v, const qdb_session *s)
{
    view_free(v);
    const qdb_qmodel *q = s->q;
    v->n = q->n_layers;
    v->l = calloc((size_t)(v->n ? v->n : 1), sizeof *v->l);
    if (!v->l)
        goto nomem;
    for (int i = 0; i < v->n; i++) {
        const qdb_qlayer *ql = &q->layers[i];
        vlayer *l = &v->l[i];
        l->name = strdup(ql->name);
        l->op = strdup(ql->op);
        if (!l->name || !l->op)
            goto nomem;
        if (q->g && ql->out_value >= 0 && ql->out_value < q->g->n_values &&
            q->g->values[ql->out_value].shape_known) {
            const qdb_shape *sh = &q->g->values[ql->out_value].shape;
            size_t k = 0;
            for (int d = 1; d < sh->ndim && k + 12 < sizeof l->shape; d++)
                k += (size_t)snprintf(l->shape + k, sizeof l->shape - k, "%s%lld", d > 1 ? "x" : "",
                                      (long long)sh->d[d]);
        }
        l->own = -1;
        for (int k = 0; k < q->n_base_layers; k++)
            if (qdb_session_layer_of_own(s, k) == i)
                l->own = k;
        /* the quantizer's bits (shift-negative correction moves a layer to 16) */
        l->act_bits = ql->act_active ? ql->act_qp.n_bits : ql->act.n_bits;
        l->act_by_rule = ql->prov[QDB_LA_ACT_BITS] >= 0;
        l->act_active = ql->act_active;
        l->act_signed = ql->act_signed;
        l->w_bits = ql->w_value >= 0 && ql->wcfg.enabled ? ql->wcfg.n_bits : 0;
        l->w_by_rule = ql->prov[QDB_LA_W_BITS] >= 0;
        l->em = (int)ql->act.error_method;
        l->em_by_rule = ql->prov[QDB_LA_ACT_ERROR] >= 0;
        l->thr = ql->act_qp.method == QDB_QM_UNIFORM ? ql->act_qp.max : ql->act_qp.threshold;
        for (int m = 0; m < QDB_EM_COUNT; m++)
            l->thr_m[m] = ql->thr_by_method[m];
        l->metrics = ql->m.valid;
        l->sqnr_own = ql->m.sqnr_own_db;
        l->sqnr_acc = ql->m.sqnr_db;
        l->clipped = 100.0 * ql->m.clipped_fraction;
        for (int a = 0; a < QDB_LA_COUNT; a++)
            l->any_rule |= ql->prov[a] >= 0;
        resample(ql->hist, l);
        if (l->w_bits && weights(q, ql, l))
            goto nomem;
    }
    v->ready = s->ready;
    v->float_score = s->float_score;
    v->baseline = s->baseline;
    v->current = s->current;
    v->seconds = s->seconds;
    v->n_rules = s->rs->n;
    int nr = v->n_rules ? v->n_rules : 1;
    v->rule_text = calloc((size_t)nr, sizeof *v->rule_text);
    v->rule_on = calloc((size_t)nr, sizeof *v->rule_on);
    v->rule_matches = calloc((size_t)nr, sizeof *v->rule_matches);
    v->rule_contrib = calloc((size_t)nr, sizeof *v->rule_contrib);
    if (!v->rule_text || !v->rule_on || !v->rule_matches || !v->rule_contrib)
        goto nomem;
    for (int i = 0; i < v->n_rules; i++) {
        if (!(v->rule_text[i] = qdb_rule_format(s->rs->rules[i])))
            goto nomem;
        v->rule_on[i] = s->rs->rules[i]->enabled;
        int fig = i < s->n_rules && s->matches;
        v->rule_matches[i] = fig ? s->matches[i] : -1;
        v->rule_contrib[i] = fig ? s->contrib[i] : NAN;
    }
    v->n_hist = s->hist.n;
    v->hist_line = calloc((size_t)(v->n_hist ? v->n_hist : 1), sizeof *v->hist_line);
    if (!v->hist_line)
        goto nomem;
    for (int i = 0; i < v->n_hist; i++) {
        const qdb_history_entry *h = &s->hist.e[i];
        char buf[512];
        /* the figures first, in line; then what caused it (the command) */
        int k = snprintf(buf, sizeof buf, "#%-3d %6.2f %%  %+6.2f vs float  %s  rules:", i + 1,
                         100.0 * h->score, 100.0 * (h->score - h->float_score), h->label);
        for (int r = 0; r < h->n_rules && k > 0 && (size_t)k < sizeof buf; r++)
            k += snprintf(buf + k, sizeof buf - (size_t)k, " [%s]", h->rules[r]);
        if (!h->n_rules && (size_t)k < sizeof buf)
            snprintf(buf + k, sizeof buf - (size_t)k, " none");
        if (!(v->hist_line[i] = strdup(buf)))
            goto nomem;
    }
    if (s->have_sens && s->sens.n) {
        char buf[512];
        int k = snprintf(buf, sizeof buf, "sensitivity (%lld samples), most sensitive:",
                         (long long)s->sens_n);
        for (int i = 0; i < s->sens.n && i < 3 && k > 0 && (size_t)k < sizeof buf; i++) {
            const qdb_sens_layer *sl = &s->sens.layers[s->sens_rank[i]];
            int L = qdb_session_layer_of_own(s, sl->index);
            k += snprintf(buf + k, sizeof buf - (size_t)k, " %d %s (%+.2f)", sl->index,
                          L >= 0 ? q->layers[L].name : "?",
                          100.0 * (sl->all_but.score - s->sens.quant.score));
        }
        if (!(v->note[v->n_notes++] = strdup(buf)))
            goto nomem;
    }
    if (s->have_bisect) {
        char buf[512];
        const qdb_bisect *b = &s->bis;
        int k = snprintf(buf, sizeof buf, "bisect (%lld samples, %d probes): ", (long long)s->bis_n,
                         b->evaluations);
        if (!b->found)
            snprintf(buf + k, sizeof buf - (size_t)k, "target out of reach");
        else if (!b->n_culprits)
            snprintf(buf + k, sizeof buf - (size_t)k, "no culprit, within tolerance");
        else
            for (int i = 0; i < b->n_culprits && k > 0 && (size_t)k < sizeof buf; i++) {
                int L = qdb_session_layer_of_own(s, b->culprits[i]);
                k += snprintf(buf + k, sizeof buf - (size_t)k, "%s%d %s", i ? ", " : "culprits ",
                              b->culprits[i],
                              L >= 0 ? q->layers[L].name : "?");
            }
        if (!(v->note[v->n_notes++] = strdup(buf)))
            goto nomem;
    }
    return 0;
nomem:
    view_free(v);
    return -1;
}
