/* history.c - the record of re-quantizations (see history.h). */
#include "history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void qdb_history_init(qdb_history *h)
{
    memset(h, 0, sizeof *h);
}

static void entry_clear(qdb_history_entry *x)
{
    free(x->label);
    for (int i = 0; i < x->n_rules; i++)
        free(x->rules[i]);
    free(x->rules);
    memset(x, 0, sizeof *x);
}

void qdb_history_clear(qdb_history *h)
{
    for (int i = 0; i < h->n; i++)
        entry_clear(&h->e[i]);
    free(h->e);
    memset(h, 0, sizeof *h);
}

qdb_status qdb_history_add(qdb_history *h, const char *label, const qdb_ruleset *rs, int skip,
                           double score, double float_score, qdb_err *e)
{
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 8;
        qdb_history_entry *ne = realloc(h->e, (size_t)cap * sizeof *ne);
        if (!ne)
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        h->e = ne;
        h->cap = cap;
    }
    qdb_history_entry *x = &h->e[h->n];
    memset(x, 0, sizeof *x);
    x->score = score;
    x->float_score = float_score;
    x->label = strdup(label);
    int n = rs ? rs->n : 0;
    x->rules = calloc((size_t)(n ? n : 1), sizeof *x->rules);
    if (!x->label || !x->rules)
        goto oom;
    for (int i = 0; i < n; i++) {
        if (i == skip || !rs->rules[i]->enabled)
            continue;
        if (!(x->rules[x->n_rules] = qdb_rule_format(rs->rules[i])))
            goto oom;
        x->n_rules++;
    }
    h->n++;
    return QDB_OK;
oom:
    entry_clear(x);
    return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
}

cJSON *qdb_history_to_json(const qdb_history *h)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < h->n; i++) {
        const qdb_history_entry *x = &h->e[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "label", x->label);
        cJSON *r = cJSON_AddArrayToObject(o, "rules");
        for (int k = 0; k < x->n_rules; k++)
            cJSON_AddItemToArray(r, cJSON_CreateString(x->rules[k]));
        if (isfinite(x->score)) {
            cJSON_AddNumberToObject(o, "score", x->score);
            if (isfinite(x->float_score))
                cJSON_AddNumberToObject(o, "delta_to_float", x->score - x->float_score);
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

qdb_status qdb_history_add_texts(qdb_history *h, const char *label, int n, const char *const *rules,
                                 double score, double float_score, qdb_err *e)
{
    qdb_status st = qdb_history_add(h, label, NULL, -1, score, float_score, e);
    if (st != QDB_OK)
        return st;
    qdb_history_entry *x = &h->e[h->n - 1];
    char **r = calloc((size_t)(n ? n : 1), sizeof *r);
    if (!r)
        goto oom;
    free(x->rules);
    x->rules = r;
    for (int i = 0; i < n; i++) {
        if (!(x->rules[i] = strdup(rules[i])))
            goto oom;
        x->n_rules++;
    }
    return QDB_OK;
oom:
    entry_clear(x);
    h->n--;
    return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
}
