/* rule_eval.c - per-rule accuracy contributions (see rule_eval.h). */
#include "rule_eval.h"

#include "eval_cache.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One progress bar over all the configurations evaluated: evaluation k
 * of n reports k * total + done of n * total. */
typedef struct {
    qdb_progress_fn fn;
    void *user;
    int k, n;
} overall;

static int overall_cb(void *user, int64_t done, int64_t total)
{
    overall *p = user;
    return p->fn(p->user, (int64_t)p->k * total + done, (int64_t)p->n * total);
}

/* Apply rs to q, quantize, evaluate on d: the score (and the result when
 * `keep` is given). */
static qdb_status score(qdb_qmodel *q, qdb_eval_cache *cache, const qdb_ruleset *rs, int *matches,
                        qdb_dataset *d, const int64_t *float_pred, const qdb_eval_opts *o,
                        double *s, qdb_eval_result *keep, qdb_err *e)
{
    qdb_status st = qdb_ruleset_apply(rs, q, matches, e);
    if (st == QDB_OK)
        st = qdb_qmodel_quantize(q, e);
    if (st == QDB_OK)
        st = qdb_dataset_rewind(d, e);
    if (st != QDB_OK)
        return st;
    qdb_eval_result r;
    if ((st = qdb_eval_cached(cache, q, d, o, &r, e)) != QDB_OK)
        return st;
    if (r.labelled) {
        *s = r.n ? (double)r.top1 / (double)r.n : NAN;
    } else if (float_pred) {
        int64_t same = 0;
        for (int64_t i = 0; i < r.n; i++)
            same += r.pred[i] == float_pred[i];
        *s = r.n ? (double)same / (double)r.n : NAN;
    } else {
        *s = NAN;
    }
    if (keep)
        *keep = r;
    else
        qdb_eval_result_free(&r);
    return QDB_OK;
}

qdb_status qdb_rules_evaluate(qdb_qmodel *q, const qdb_ruleset *rs, qdb_dataset *d,
                              const int64_t *float_pred, const qdb_eval_opts *o,
                              qdb_rule_eval *out, qdb_err *e)
{
    return qdb_rules_evaluate_cached(q, rs, d, float_pred, o, NULL, NAN, out, e);
}

qdb_status qdb_rules_evaluate_cached(qdb_qmodel *q, const qdb_ruleset *rs, qdb_dataset *d,
                                     const int64_t *float_pred, const qdb_eval_opts *o,
                                     qdb_eval_cache *cache, double baseline, qdb_rule_eval *out,
                                     qdb_err *e)
{
    memset(out, 0, sizeof *out);
    out->n_rules = rs->n;
    out->labelled = qdb_dataset_has_labels(d);
    out->matches = calloc((size_t)(rs->n ? rs->n : 1), sizeof *out->matches);
    out->without = calloc((size_t)(rs->n ? rs->n : 1), sizeof *out->without);
    qdb_ruleset *none = qdb_ruleset_new();
    /* the configurations differ in a few layers: each evaluation reruns
     * only what follows the first difference */
    qdb_eval_cache *own = cache ? NULL : qdb_eval_cache_new(0, e);
    if (!cache)
        cache = own;
    qdb_status st = QDB_OK;
    if (!out->matches || !out->without || !none || !cache) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    int enabled = 0;
    for (int i = 0; i < rs->n; i++)
        enabled += rs->rules[i]->enabled;
    /* the evaluations share one progress bar: the baseline when unknown,
     * without each rule when there are several, then all of them */
    overall ov = {o ? o->progress : NULL, o ? o->user : NULL, 0,
                  isnan(baseline) + (enabled > 1 ? enabled : 0) + 1};
    qdb_eval_opts wo;
    if (o && o->progress) {
        wo = *o;
        wo.progress = overall_cb;
        wo.user = &ov;
        o = &wo;
    }
    if (!isnan(baseline)) {
        out->baseline = baseline;
    } else {
        if ((st = score(q, cache, none, NULL, d, float_pred, o, &out->baseline, NULL, e)) != QDB_OK)
            goto done;
        out->evaluations++;
        ov.k++;
    }

    /* every rule first: the configuration closest to the one the cache last
     * ran when a single rule changed, so it reruns the least */
    if ((st = score(q, cache, rs, out->matches, d, float_pred, o, &out->current, &out->cur, e)) != QDB_OK)
        goto done;
    out->evaluations++;
    ov.k++;
    int others = 0;
    for (int i = 0; i < rs->n; i++) {
        out->without[i] = NAN;
        if (!rs->rules[i]->enabled)
            continue;
        if (enabled == 1) {
            out->without[i] = out->baseline; /* without the only rule: no rules */
            continue;
        }
        qdb_ruleset *rest = qdb_ruleset_clone(rs, i, e);
        if (!rest) {
            st = e && e->code ? e->code : QDB_ERR_NOMEM;
            goto done;
        }
        st = score(q, cache, rest, NULL, d, float_pred, o, &out->without[i], NULL, e);
        qdb_ruleset_free(rest);
        if (st != QDB_OK)
            goto done;
        out->evaluations++;
        ov.k++;
        others++;
    }
    /* q is left with every rule (quantizing again searches only what the
     * last configuration changed) */
    if (others && ((st = qdb_ruleset_apply(rs, q, NULL, e)) != QDB_OK ||
                   (st = qdb_qmodel_quantize(q, e)) != QDB_OK))
        goto done;
done:
    qdb_eval_cache_free(own);
    qdb_ruleset_free(none);
    if (st != QDB_OK)
        qdb_rule_eval_free(out);
    return st;
}

void qdb_rule_eval_free(qdb_rule_eval *r)
{
    free(r->matches);
    free(r->without);
    qdb_eval_result_free(&r->cur);
    memset(r, 0, sizeof *r);
}

qdb_status qdb_rule_eval_record(const qdb_rule_eval *r, const qdb_ruleset *rs, double float_score,
                                qdb_history *h, qdb_err *e)
{
    qdb_status st = qdb_history_add(h, "baseline", NULL, -1, r->baseline, float_score, e);
    for (int i = 0; st == QDB_OK && i < rs->n; i++) {
        if (!rs->rules[i]->enabled || isnan(r->without[i]))
            continue;
        char label[48];
        snprintf(label, sizeof label, "without rule %d", i + 1);
        st = qdb_history_add(h, label, rs, i, r->without[i], float_score, e);
    }
    if (st == QDB_OK && rs->n)
        st = qdb_history_add(h, "current", rs, -1, r->current, float_score, e);
    return st;
}
