/* ruleset.c - ordered rules and their application to a model's layers,
 * with the provenance of every attribute (see ruleset.h). */
#include "ruleset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

qdb_ruleset *qdb_ruleset_new(void)
{
    return calloc(1, sizeof(qdb_ruleset));
}

void qdb_ruleset_free(qdb_ruleset *rs)
{
    if (!rs)
        return;
    for (int i = 0; i < rs->n; i++)
        qdb_rule_free(rs->rules[i]);
    free(rs->rules);
    free(rs);
}

qdb_status qdb_ruleset_add(qdb_ruleset *rs, qdb_rule *r, qdb_err *e)
{
    if (rs->n == rs->cap) {
        int cap = rs->cap ? 2 * rs->cap : 8;
        qdb_rule **nr = realloc(rs->rules, (size_t)cap * sizeof *nr);
        if (!nr) {
            qdb_rule_free(r);
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory adding a rule");
        }
        rs->rules = nr;
        rs->cap = cap;
    }
    rs->rules[rs->n++] = r;
    return QDB_OK;
}

qdb_status qdb_ruleset_add_text(qdb_ruleset *rs, const char *text, qdb_err *e)
{
    qdb_rule *r = qdb_rule_parse(text, e);
    if (!r)
        return e && e->code ? e->code : QDB_ERR_INVALID;
    if (qdb_rule_check(r, e) != QDB_OK) {
        qdb_rule_free(r);
        return e->code;
    }
    return qdb_ruleset_add(rs, r, e);
}

qdb_status qdb_ruleset_load_file(qdb_ruleset *rs, const char *path, qdb_err *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return qdb_err_set(e, QDB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int n0 = rs->n, line = 0;
    qdb_status st = QDB_OK;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        line++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = '\0';
        /* a '#' at the start or after a blank, outside quotes, starts a comment */
        int quoted = 0;
        for (char *c = buf; *c; c++) {
            if (*c == '\\' && quoted && c[1]) {
                c++;
                continue;
            }
            if (*c == '"')
                quoted = !quoted;
            else if (*c == '#' && !quoted && (c == buf || c[-1] == ' ' || c[-1] == '\t')) {
                *c = '\0';
                break;
            }
        }
        const char *p = buf;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            continue;
        if ((st = qdb_ruleset_add_text(rs, p, e)) != QDB_OK) {
            qdb_err_prefix(e, "%s:%d: ", path, line);
            break;
        }
    }
    if (st == QDB_OK && ferror(f))
        st = qdb_err_set(e, QDB_ERR_IO, "%s: read error: %s", path, strerror(errno));
    free(buf);
    fclose(f);
    if (st != QDB_OK)
        while (rs->n > n0)
            qdb_rule_free(rs->rules[--rs->n]);
    return st;
}

qdb_ruleset *qdb_ruleset_clone(const qdb_ruleset *rs, int skip, qdb_err *e)
{
    qdb_ruleset *c = qdb_ruleset_new();
    if (!c) {
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < rs->n; i++) {
        qdb_rule *r = qdb_rule_clone(rs->rules[i]);
        if (!r || qdb_ruleset_add(c, r, e) != QDB_OK) {
            if (!r)
                qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
            qdb_ruleset_free(c);
            return NULL;
        }
        if (i == skip)
            r->enabled = 0;
    }
    return c;
}

qdb_status qdb_ruleset_apply(const qdb_ruleset *rs, qdb_qmodel *q, int *matches, qdb_err *e)
{
    for (int i = 0; i < rs->n; i++)
        if (qdb_rule_check(rs->rules[i], e) != QDB_OK) {
            qdb_err_prefix(e, "rule %d: ", i + 1);
            return e->code;
        }
    /* positions in the rules are those of the layers the model itself
     * has (corrections add theirs when it is quantized again) */
    qdb_qmodel_reset(q);
    for (int L = 0; L < q->n_layers; L++)
        qdb_qlayer_defaults(q, &q->layers[L]);
    for (int i = 0; i < rs->n; i++) {
        const qdb_rule *r = rs->rules[i];
        int m = 0;
        for (int L = 0; r->enabled && L < q->n_layers; L++) {
            qdb_qlayer *l = &q->layers[L];
            if (!qdb_filter_matches(r->filter, q, L))
                continue;
            m++;
            for (int k = 0; k < r->n_actions; k++) {
                const qdb_action *a = &r->actions[k];
                if (qdb_layer_attr_is_weight(a->attr) && l->w_value < 0)
                    continue; /* no weights here */
                qdb_layer_attr_set(a->attr, a->value, &l->act, &l->wcfg);
                l->prov[a->attr] = i;
            }
        }
        if (matches)
            matches[i] = m;
    }
    return QDB_OK;
}
