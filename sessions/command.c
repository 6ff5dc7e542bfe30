/* command.c - the command language (see command.h): parsing a line,
 * dispatching through the table generated from QDB_COMMANDS, and each
 * command's handler. Handlers that change the configuration save the rules
 * and the global configuration first and put them back when anything
 * fails, so that a failed or cancelled command changes nothing. */
#include "command.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "figures.h"
#include "gnuplot.h"
#include "layer_attr.h"
#include "outdir.h"
#include "rule.h"
#include "session_file.h"

static const qdb_cmd_info cmd_table[QDB_CMD_COUNT] = {
#define QDB_CMD_INFO(id, name, args, help, slow) {name, args, help, slow},
    QDB_COMMANDS(QDB_CMD_INFO)
#undef QDB_CMD_INFO
};

const qdb_cmd_info *qdb_cmd_info_at(int i)
{
    return i >= 0 && i < QDB_CMD_COUNT ? &cmd_table[i] : NULL;
}

static const char *skip_blanks(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

int qdb_cmd_lookup(const char *line)
{
    const char *p = skip_blanks(line);
    size_t n = 0;
    while (p[n] && !isspace((unsigned char)p[n]))
        n++;
    for (int i = 0; i < QDB_CMD_COUNT; i++)
        if (strlen(cmd_table[i].name) == n && !strncmp(cmd_table[i].name, p, n))
            return i;
    return -1;
}

void qdb_cmd_result_free(qdb_cmd_result *r)
{
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* Append formatted text; on OOM the text is just cut short. */
__attribute__((format(printf, 2, 3))) static void out(qdb_cmd_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (r->len + (size_t)n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + (size_t)n + 1)
            cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t)
            return;
        r->text = t;
        r->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(r->text + r->len, r->cap - r->len, fmt, ap);
    va_end(ap);
    r->len += (size_t)n;
}

/* ---- arguments ---- */

/* The next argument of *p: a word, or a "quoted string" with \" and \\
 * escapes. Returns a new string (NULL at the end or on OOM: *bad set on a
 * broken quote or OOM). */
static char *next_arg(const char **p, int *bad)
{
    const char *s = skip_blanks(*p);
    if (!*s)
        return NULL;
    char *o = malloc(strlen(s) + 1);
    if (!o) {
        *bad = 1;
        return NULL;
    }
    size_t n = 0;
    if (*s == '"') {
        s++;
        while (*s && *s != '"') {
            if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
                s++;
            o[n++] = *s++;
        }
        if (*s != '"') {
            free(o);
            *bad = 1;
            return NULL;
        }
        s++;
    } else {
        while (*s && !isspace((unsigned char)*s))
            o[n++] = *s++;
    }
    o[n] = 0;
    *p = s;
    return o;
}

/* The model's own layers (those rules, sensitivity and bisect number:
 * a quantized model's correction layers have no number). */
static int own_count(const qdb_session *s)
{
    return s->q->n_base_layers;
}

/* The bits the activation is quantized with: the quantizer's (shift-negative
 * correction moves a layer to 16), else the configuration's. */
static int act_bits_of(const qdb_qlayer *l)
{
    return l->act_active ? l->act_qp.n_bits : l->act.n_bits;
}

/* The own-layer number of q->layers[L], or -1 for a correction layer. */
static int own_index(const qdb_session *s, int L)
{
    for (int i = 0; i < own_count(s); i++)
        if (qdb_session_layer_of_own(s, i) == L)
            return i;
    return -1;
}

/* A layer named by its exact name or its number (the `#` column), as a
 * position in q->layers. */
static int find_layer(const qdb_session *s, const char *arg, qdb_err *e)
{
    int L = qdb_session_find_layer(s, arg);
    if (L >= 0)
        return L;
    char *end;
    long v = strtol(arg, &end, 10);
    if (*arg && !*end && v >= 0 && v < own_count(s))
        return qdb_session_layer_of_own(s, (int)v);
    qdb_err_set(e, QDB_ERR_INVALID, "no layer '%s' (give its name as in 'layers', or its number 0..%d)",
                arg, own_count(s) - 1);
    return -1;
}

/* How many own layers a rule's filter selects, listing them when r is
 * not NULL. */
static int count_matches(const qdb_session *s, const qdb_rule *rule, qdb_cmd_result *r)
{
    int n = 0;
    for (int i = 0; i < own_count(s); i++) {
        const qdb_qlayer *l = qdb_qmodel_own_layer(s->q, i);
        if (!l || !qdb_filter_matches_layer(rule->filter, l, i))
            continue;
        if (r)
            out(r, "%4d  %-44s %s\n", i, l->name, l->op);
        n++;
    }
    return n;
}

/* The rule number N of "enable N" etc. (1-based), as an index. */
static int rule_index(const qdb_session *s, const char *args, const char *cmd, qdb_err *e)
{
    char *end;
    long v = strtol(args, &end, 10);
    if (!*args || *skip_blanks(end) || v < 1 || v > s->rs->n) {
        if (s->rs->n == 0)
            qdb_err_set(e, QDB_ERR_INVALID, "%s: there are no rules", cmd);
        else
            qdb_err_set(e, QDB_ERR_INVALID, "%s: give a rule number from 1 to %d", cmd, s->rs->n);
        return -1;
    }
    return (int)v - 1;
}

/* ---- the change protocol: save, change, re-quantize or restore ---- */

typedef struct {
    qdb_ruleset *rs;
    qdb_quant_config cfg;
    int baseline_known;
} saved_state;

static qdb_status save_state(qdb_session *s, saved_state *sv, qdb_err *e)
{
    sv->rs = qdb_ruleset_clone(s->rs, -1, e);
    sv->cfg = s->q->cfg;
    sv->baseline_known = s->baseline_known;
    return sv->rs ? QDB_OK : (e && e->code ? e->code : QDB_ERR_NOMEM);
}

/* Keep the configuration before a change for undo (takes sv->rs). */
static void push_undo(qdb_session *s, saved_state *sv)
{
    if (!s->undo && !(s->undo = calloc(QDB_UNDO_MAX, sizeof *s->undo))) {
        qdb_ruleset_free(sv->rs); /* no undo, nothing worse */
        sv->rs = NULL;
        return;
    }
    if (s->n_undo == QDB_UNDO_MAX) { /* the oldest goes */
        qdb_ruleset_free(s->undo[0].rs);
        memmove(&s->undo[0], &s->undo[1], (QDB_UNDO_MAX - 1) * sizeof *s->undo);
        s->n_undo--;
    }
    struct qdb_undo_step *u = &s->undo[s->n_undo++];
    u->rs = sv->rs;
    u->cfg = sv->cfg;
    snprintf(u->label, sizeof u->label, "%s", s->requant_label[0] ? s->requant_label : "requant");
    sv->rs = NULL;
}

/* After a change: re-quantize; on failure put everything back. */
static qdb_status finish_change(qdb_session *s, saved_state *sv, qdb_session_progress progress,
                                void *user, qdb_cmd_result *r, qdb_err *e)
{
    qdb_status st = qdb_session_requant(s, progress, user, e);
    if (st != QDB_OK) {
        qdb_err keep = *e;
        s->baseline_known = sv->baseline_known;
        qdb_err re = {0};
        if (qdb_session_restore(s, sv->rs, &sv->cfg, &re) != QDB_OK)
            qdb_err_set(e, keep.code, "%s (and restoring the previous configuration failed: %s)",
                        keep.msg, re.msg);
        sv->rs = NULL;
        return st;
    }
    push_undo(s, sv);
    r->flags |= QDB_CMD_CHANGED;
    out(r, "quantized %.2f %% (%+.2f vs float, %+.2f vs baseline) in %.2f s\n",
        100.0 * s->current, 100.0 * (s->current - s->float_score),
        100.0 * (s->current - s->baseline), s->seconds);
    return QDB_OK;
}

/* Add a rule given as text (checked before anything changes). */
static qdb_status add_rule(qdb_session *s, const char *text, qdb_session_progress progress,
                           void *user, qdb_cmd_result *r, qdb_err *e)
{
    qdb_rule *rule = qdb_rule_parse(text, e);
    if (!rule)
        return e->code;
    qdb_status cst = qdb_rule_check(rule, e); /* op types known: before anything changes */
    if (cst != QDB_OK) {
        qdb_rule_free(rule);
        return cst;
    }
    int n = count_matches(s, rule, NULL);
    saved_state sv;
    qdb_status st = save_state(s, &sv, e);
    if (st == QDB_OK)
        st = qdb_ruleset_add(s->rs, rule, e);
    else
        qdb_rule_free(rule);
    if (st != QDB_OK) {
        qdb_ruleset_free(sv.rs);
        return st;
    }
    char *t = qdb_rule_format(rule);
    const char *hint = n ? NULL : qdb_rule_hint(rule, s->q);
    out(r, "rule %d: %s (%d layer%s)%s%s%s\n", s->rs->n, t ? t : text, n, n == 1 ? "" : "s",
        n ? "" : " - warning: it matches no layer", hint ? "; " : "", hint ? hint : "");
    free(t);
    return finish_change(s, &sv, progress, user, r, e);
}

/* ---- handlers ---- */

typedef qdb_status (*handler)(qdb_session *s, const char *args, qdb_session_progress progress,
                              void *user, qdb_cmd_result *r, qdb_err *e);

static qdb_status need_ready(const qdb_session *s, qdb_err *e)
{
    return s->ready ? QDB_OK
                    : qdb_err_set(e, QDB_ERR_INVALID, "the model is not quantized yet (starting up)");
}

static qdb_status cmd_rule(qdb_session *s, const char *args, qdb_session_progress progress,
                           void *user, qdb_cmd_result *r, qdb_err *e)
{
    if (!*args)
        return qdb_err_set(e, QDB_ERR_INVALID, "rule: give a rule, e.g. rule type=Sigmoid : act_bits=16");
    return add_rule(s, args, progress, user, r, e);
}

static qdb_status cmd_match(qdb_session *s, const char *args, qdb_session_progress progress,
                            void *user, qdb_cmd_result *r, qdb_err *e)
{
    if (!*args)
        return qdb_err_set(e, QDB_ERR_INVALID, "match: give a rule or a filter, e.g. match type=Conv");
    /* a filter alone is a rule without actions: borrow a harmless one */
    qdb_rule *rule = strchr(args, ':') ? qdb_rule_parse(args, NULL) : NULL;
    if (!rule) {
        size_t n = strlen(args) + 32;
        char *t = malloc(n);
        if (!t)
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        snprintf(t, n, "%s : act_quant=on", args);
        qdb_err fe = {0};
        rule = qdb_rule_parse(t, &fe);
        free(t);
        if (!rule && !strchr(args, ':')) /* the filter's own error (the same columns) */
            return qdb_err_set(e, fe.code, "%s", fe.msg);
        if (!rule && !(rule = qdb_rule_parse(args, e))) /* the error of the text as typed */
            return e->code;
    }
    int n = count_matches(s, rule, r);
    const char *hint = n ? NULL : qdb_rule_hint(rule, s->q);
    out(r, "%d of %d layers match%s%s%s\n", n, own_count(s), n ? "" : " (warning: none)",
        hint ? "; " : "", hint ? hint : "");
    qdb_rule_free(rule);
    return QDB_OK;
}

static qdb_status cmd_rules(qdb_session *s, const char *args, qdb_session_progress progress,
                            void *user, qdb_cmd_result *r, qdb_err *e)
{
    if (s->rs->n == 0) {
        out(r, "no rules\n");
        return QDB_OK;
    }
    /* the figures line up after the longest rule (up to 72 columns) */
    int width = 24;
    for (int i = 0; i < s->rs->n; i++) {
        char *t = qdb_rule_format(s->rs->rules[i]);
        int len = t ? (int)strlen(t) : 1;
        if (len > width)
            width = len < 72 ? len : 72;
        free(t);
    }
    for (int i = 0; i < s->rs->n; i++) {
        char *t = qdb_rule_format(s->rs->rules[i]);
        int on = s->rs->rules[i]->enabled, figures = on && i < s->n_rules && s->matches;
        out(r, "%2d %s %-*s", i + 1, on ? "on " : "off", width, t ? t : "?");
        if (figures && !isnan(s->contrib[i]))
            out(r, " %3d layer%s %+6.2f\n", s->matches[i], s->matches[i] == 1 ? " " : "s",
                100.0 * s->contrib[i]);
        else if (figures)
            out(r, " %3d layer%s\n", s->matches[i], s->matches[i] == 1 ? "" : "s");
        else
            out(r, on ? "\n" : "   (disabled)\n");
        free(t);
    }
    return QDB_OK;
}

static qdb_status toggle(qdb_session *s, const char *args, const char *cmd, int what,
                         qdb_session_progress progress, void *user, qdb_cmd_result *r, qdb_err *e)
{
    int i = rule_index(s, args, cmd, e);
    if (i < 0)
        return e->code;
    saved_state sv;
    qdb_status st = save_state(s, &sv, e);
    if (st != QDB_OK)
        return st;
    if (what == 2) { /* delete */
        qdb_rule_free(s->rs->rules[i]);
        memmove(&s->rs->rules[i], &s->rs->rules[i + 1],
                (size_t)(s->rs->n - i - 1) * sizeof *s->rs->rules);
        s->rs->n--;
        out(r, "rule %d deleted\n", i + 1);
    } else {
        s->rs->rules[i]->enabled = what;
        out(r, "rule %d %s\n", i + 1, what ? "enabled" : "disabled");
    }
    return finish_change(s, &sv, progress, user, r, e);
}

static qdb_status cmd_enable(qdb_session *s, const char *args, qdb_session_progress progress,
                             void *user, qdb_cmd_result *r, qdb_err *e)
{
    return toggle(s, args, "enable", 1, progress, user, r, e);
}

static qdb_status cmd_disable(qdb_session *s, const char *args, qdb_session_progress progress,
                              void *user, qdb_cmd_result *r, qdb_err *e)
{
    return toggle(s, args, "disable", 0, progress, user, r, e);
}

static qdb_status cmd_delete(qdb_session *s, const char *args, qdb_session_progress progress,
                             void *user, qdb_cmd_result *r, qdb_err *e)
{
    return toggle(s, args, "delete", 2, progress, user, r, e);
}

static qdb_status cmd_set(qdb_session *s, const char *args, qdb_session_progress progress,
                          void *user, qdb_cmd_result *r, qdb_err *e)
{
    if (!*args)
        return qdb_err_set(e, QDB_ERR_INVALID, "set: give KEY=VALUE (qdb quantize --help-config lists the keys)");
    saved_state sv;
    qdb_status st = save_state(s, &sv, e);
    if (st != QDB_OK)
        return st;
    qdb_quant_config c = s->q->cfg;
    if ((st = qdb_quant_config_set_kv(&c, args, e)) != QDB_OK ||
        (st = qdb_quant_config_check(&c, e)) != QDB_OK) {
        qdb_ruleset_free(sv.rs);
        return st;
    }
    s->q->cfg = c;
    s->baseline_known = 0; /* the baseline is the global configuration's */
    out(r, "set %s\n", args);
    return finish_change(s, &sv, progress, user, r, e);
}

/* bits / wbits / method: a rule on one layer, by exact name. */
static qdb_status layer_rule(qdb_session *s, const char *args, const char *cmd, const char *attr,
                             qdb_session_progress progress, void *user, qdb_cmd_result *r,
                             qdb_err *e)
{
    const char *p = args;
    int bad = 0;
    char *layer = next_arg(&p, &bad);
    char *value = next_arg(&p, &bad);
    qdb_status st = QDB_OK;
    if (bad || !layer || !value || *skip_blanks(p)) {
        st = qdb_err_set(e, QDB_ERR_INVALID, "usage: %s %s", cmd,
                         cmd_table[qdb_cmd_lookup(cmd)].args);
        goto done;
    }
    int L = find_layer(s, layer, e);
    if (L < 0) {
        st = e->code;
        goto done;
    }
    /* the value, checked and in canonical form, so that nothing but it
     * reaches the rule's text */
    int a = qdb_layer_attr_parse(attr);
    double v;
    char canon[64];
    if (a < 0 || (st = qdb_layer_attr_value_parse((qdb_layer_attr)a, value, &v, e)) != QDB_OK) {
        if (a < 0)
            st = qdb_err_set(e, QDB_ERR_INVALID, "unknown attribute %s", attr);
        goto done;
    }
    qdb_layer_attr_value_format((qdb_layer_attr)a, v, canon, sizeof canon);
    /* the name, quoted for the rule syntax */
    const char *name = s->q->layers[L].name;
    size_t n = 2 * strlen(name) + strlen(attr) + strlen(canon) + 32;
    char *text = malloc(n);
    if (!text) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t k = (size_t)snprintf(text, n, "name=\"");
    for (const char *c = name; *c; c++) {
        if (*c == '"' || *c == '\\')
            text[k++] = '\\';
        text[k++] = *c;
    }
    snprintf(text + k, n - k, "\" : %s=%s", attr, canon);
    st = add_rule(s, text, progress, user, r, e);
    free(text);
done:
    free(layer);
    free(value);
    return st;
}

static qdb_status cmd_bits(qdb_session *s, const char *args, qdb_session_progress progress,
                           void *user, qdb_cmd_result *r, qdb_err *e)
{
    return layer_rule(s, args, "bits", "act_bits", progress, user, r, e);
}

static qdb_status cmd_wbits(qdb_session *s, const char *args, qdb_session_progress progress,
                            void *user, qdb_cmd_result *r, qdb_err *e)
{
    return layer_rule(s, args, "wbits", "w_bits", progress, user, r, e);
}

static qdb_status cmd_method(qdb_session *s, const char *args, qdb_session_progress progress,
                             void *user, qdb_cmd_result *r, qdb_err *e)
{
    return layer_rule(s, args, "method", "act_error", progress, user, r, e);
}

/* Back to the configuration before the last change (rules and global
 * settings); the evaluation cache usually remembers its figures. */
static qdb_status cmd_undo(qdb_session *s, const char *args, qdb_session_progress progress,
                           void *user, qdb_cmd_result *r, qdb_err *e)
{
    if (*args)
        return qdb_err_set(e, QDB_ERR_INVALID, "usage: undo");
    if (s->n_undo == 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "nothing to undo");
    struct qdb_undo_step u = s->undo[--s->n_undo]; /* ours until it is done */
    qdb_ruleset *rs = qdb_ruleset_clone(u.rs, -1, e);
    saved_state sv;
    qdb_status st = rs ? save_state(s, &sv, e) : (e && e->code ? e->code : QDB_ERR_NOMEM);
    if (st != QDB_OK) {
        qdb_ruleset_free(rs);
        s->undo[s->n_undo++] = u;
        return st;
    }
    qdb_ruleset_free(s->rs);
    s->rs = rs;
    s->q->cfg = u.cfg;
    s->baseline_known = 0; /* the global settings may be back to others */
    out(r, "undone: %s\n", u.label);
    st = finish_change(s, &sv, progress, user, r, e);
    if (st != QDB_OK) { /* everything as it was, the step still to undo */
        s->undo[s->n_undo++] = u;
        return st;
    }
    /* finish_change kept the state undone from: no redo, undo goes on back */
    qdb_ruleset_free(s->undo[--s->n_undo].rs);
    qdb_ruleset_free(u.rs);
    return QDB_OK;
}

static qdb_status cmd_requant(qdb_session *s, const char *args, qdb_session_progress progress,
                              void *user, qdb_cmd_result *r, qdb_err *e)
{
    saved_state sv;
    qdb_status st = save_state(s, &sv, e);
    if (st != QDB_OK)
        return st;
    const int n_undo = s->n_undo;
    st = finish_change(s, &sv, progress, user, r, e);
    if (st == QDB_OK && s->n_undo > n_undo) /* nothing changed: nothing to undo */
        qdb_ruleset_free(s->undo[--s->n_undo].rs);
    return st;
}

/* sensitivity / bisect: the probe size argument ("all" or a count). */
static int parse_probe_n(const char *w, int64_t *n)
{
    if (!strcmp(w, "all")) {
        *n = 0;
        return 0;
    }
    char *end;
    long long v = strtoll(w, &end, 10);
    if (!*w || *end || v < 1 || v > (1LL << 40))
        return -1;
    *n = v;
    return 0;
}

#define PROBE_DEFAULT 500

static qdb_status cmd_sensitivity(qdb_session *s, const char *args, qdb_session_progress progress,
                                  void *user, qdb_cmd_result *r, qdb_err *e)
{
    int64_t n = PROBE_DEFAULT;
    if (*args && parse_probe_n(args, &n))
        return qdb_err_set(e, QDB_ERR_INVALID, "give a number of samples or 'all', got '%s'", args);
    qdb_status st = qdb_session_sensitivity(s, n, progress, user, e);
    if (st != QDB_OK)
        return st;
    const qdb_sensitivity *sv = &s->sens;
    out(r, "sensitivity on %lld samples, %d probes: float %.2f %%, quantized %.2f %%; every "
           "layer, most sensitive first\n",
        (long long)s->sens_n, sv->evaluations, 100.0 * sv->float_s.score, 100.0 * sv->quant.score);
    out(r, "%4s  %-44s %12s %12s %10s\n", "#", "layer", "only it", "all but it", "regained");
    for (int k = 0; k < sv->n; k++) {
        const qdb_sens_layer *l = &sv->layers[s->sens_rank[k]];
        int L = qdb_session_layer_of_own(s, l->index);
        out(r, "%4d  %-44s %11.2f%% %11.2f%% %+9.2f\n", l->index, L >= 0 ? s->q->layers[L].name : "?",
            100.0 * l->only.score, 100.0 * l->all_but.score,
            100.0 * (l->all_but.score - sv->quant.score));
    }
    const qdb_sens_layer *w = sv->n ? &sv->layers[s->sens_rank[0]] : NULL;
    int L = w ? qdb_session_layer_of_own(s, w->index) : -1;
    out(r, "sensitivity: most sensitive %s (%+.2f points kept in float)\n",
        L >= 0 ? s->q->layers[L].name : "-", w ? 100.0 * (w->all_but.score - sv->quant.score) : 0.0);
    return QDB_OK;
}

static qdb_status cmd_bisect(qdb_session *s, const char *args, qdb_session_progress progress,
                             void *user, qdb_cmd_result *r, qdb_err *e)
{
    double tol = 0.5;
    qdb_raise_mode raise = QDB_RAISE_FLOAT;
    int64_t n = PROBE_DEFAULT;
    const char *p = args;
    /* in the order of the syntax: a number first is the tolerance, a
     * number after the tolerance or the precision is the sample count */
    int bad = 0, first = 1;
    for (char *w; (w = next_arg(&p, &bad)); first = 0) {
        char *end;
        double v = strtod(w, &end);
        if (!strcmp(w, "float")) {
            raise = QDB_RAISE_FLOAT;
        } else if (!strcmp(w, "16")) {
            raise = QDB_RAISE_16BIT;
        } else if (first && *w && !*end && strcmp(w, "all")) {
            if (!(v >= 0 && v <= 100)) {
                qdb_err_set(e, QDB_ERR_INVALID,
                            "tolerance '%s' is not in [0, 100] points (for %s samples: bisect "
                            "0.5 %s)", w, w, w);
                free(w);
                return e->code;
            }
            tol = v;
        } else if (parse_probe_n(w, &n)) {
            qdb_err_set(e, QDB_ERR_INVALID,
                        "'%s': expected a tolerance in points (first), float or 16, or a number "
                        "of samples / all", w);
            free(w);
            return e->code;
        }
        free(w);
    }
    if (bad)
        return qdb_err_set(e, QDB_ERR_INVALID, "usage: bisect %s", cmd_table[QDB_CMD_bisect].args);
    qdb_status st = qdb_session_bisect(s, n, tol / 100.0, raise, progress, user, e);
    if (st != QDB_OK)
        return st;
    const qdb_bisect *b = &s->bis;
    out(r, "bisect on %lld samples: float %.2f %%, quantized %.2f %%, target %.2f %%; %d probes\n",
        (long long)s->bis_n, 100.0 * b->float_s.score, 100.0 * b->base.score, 100.0 * b->target,
        b->evaluations);
    for (int i = 0; i < b->n_steps; i++)
        out(r, "  step %2d: %3d raised -> %6.2f %% %s\n", i + 1, b->steps[i].n_raised,
            100.0 * b->steps[i].s.score, b->steps[i].passed ? "reaches the target" : "short");
    if (!b->found) {
        out(r, "bisect: even every layer raised does not reach the target\n");
    } else if (!b->n_culprits) {
        out(r, "bisect: already within %.2f points of float: no culprit\n", tol);
    } else {
        for (int i = 0; i < b->n_culprits; i++) {
            int L = qdb_session_layer_of_own(s, b->culprits[i]);
            out(r, "  culprit %4d  %-44s alone: %.2f %%\n", b->culprits[i],
                L >= 0 ? s->q->layers[L].name : "?",
                100.0 * b->alone[i]);
        }
        out(r, "  rule: %s\n", s->bis_rule);
        out(r, "bisect: %d culprit%s, %.2f %% with %s raised; 'keep' adds the rule\n", b->n_culprits,
            b->n_culprits == 1 ? "" : "s", 100.0 * b->final.score, b->n_culprits == 1 ? "it" : "them");
    }
    return QDB_OK;
}

static qdb_status cmd_keep(qdb_session *s, const char *args, qdb_session_progress progress,
                           void *user, qdb_cmd_result *r, qdb_err *e)
{
    if (!s->have_bisect || !s->bis_rule)
        return qdb_err_set(e, QDB_ERR_INVALID, "no culprits to keep: run bisect first");
    return add_rule(s, s->bis_rule, progress, user, r, e);
}

#define PLOT_DIR_DEFAULT "qdb-plots"

/* One figure written: its file named in the result. */
static void plot_done(qdb_cmd_result *r, const char *dir, const char *file, int *n)
{
    out(r, "  %s/%s\n", dir, file);
    (*n)++;
}

/* A layer's figures: the activation histogram, and the weights with their
 * per-channel thresholds when it has a kernel. */
static qdb_status plot_layer(qdb_session *s, int L, const char *dir, const qdb_plot_opts *po,
                             qdb_cmd_result *r, int *n, qdb_err *e)
{
    char file[256];
    const qdb_qlayer *l = &s->q->layers[L];
    qdb_status st;
    if (l->hist && l->hist->total > 0) {
        if ((st = qdb_fig_act_hist(s->gp, dir, s->q, L, po, file, sizeof file, e)) != QDB_OK)
            return st;
        plot_done(r, dir, file, n);
    }
    if (l->w_value >= 0) {
        if ((st = qdb_fig_weight_hist(s->gp, dir, s->q, L, po, file, sizeof file, e)) != QDB_OK)
            return st;
        plot_done(r, dir, file, n);
        if (l->n_w_qp > 1) {
            if ((st = qdb_fig_weight_channels(s->gp, dir, s->q, L, po, file, sizeof file, e)) !=
                QDB_OK)
                return st;
            plot_done(r, dir, file, n);
        }
    }
    return QDB_OK;
}

static qdb_status cmd_plot(qdb_session *s, const char *args, qdb_session_progress progress,
                           void *user, qdb_cmd_result *r, qdb_err *e)
{
    const char *p = args;
    int bad = 0;
    char *what = next_arg(&p, &bad), *dir = NULL;
    qdb_plot_opts po;
    qdb_plot_opts_init(&po);
    qdb_status st = QDB_OK;
    for (char *w; !bad && (w = next_arg(&p, &bad));) {
        int f = strchr(w, '/') ? -1 : qdb_plot_format_parse(w);
        if (f >= 0 && strlen(w) == 3) {
            po.format = (qdb_plot_format)f;
            free(w);
        } else if (!dir) {
            dir = w;
        } else {
            st = qdb_err_set(e, QDB_ERR_INVALID, "unexpected '%s' (usage: plot %s)", w,
                             cmd_table[QDB_CMD_plot].args);
            free(w);
            goto done;
        }
    }
    if (bad || !what) {
        st = qdb_err_set(e, QDB_ERR_INVALID, "usage: plot %s", cmd_table[QDB_CMD_plot].args);
        goto done;
    }
    const char *d = dir ? dir : PLOT_DIR_DEFAULT;
    /* what to draw, checked before starting gnuplot */
    int L = -1, kind = 0; /* 0 layer, 1 all, 2 sqnr, 3 sensitivity, 4 bisect, 5 history */
    if (!strcmp(what, "all"))
        kind = 1;
    else if (!strcmp(what, "sqnr"))
        kind = 2;
    else if (!strcmp(what, "sensitivity"))
        kind = 3;
    else if (!strcmp(what, "bisect"))
        kind = 4;
    else if (!strcmp(what, "history"))
        kind = 5;
    else if ((L = find_layer(s, what, e)) < 0) {
        st = e->code;
        goto done;
    }
    if (kind == 3 && !s->have_sens) {
        st = qdb_err_set(e, QDB_ERR_INVALID, "no sensitivity results: run sensitivity first");
        goto done;
    }
    if (kind == 4 && !s->have_bisect) {
        st = qdb_err_set(e, QDB_ERR_INVALID, "no bisection results: run bisect first");
        goto done;
    }
    if ((st = qdb_plot_outdir(d, e)) != QDB_OK)
        goto done;
    if (!s->gp && !(s->gp = qdb_gnuplot_open(e))) {
        st = e->code ? e->code : QDB_ERR_IO;
        goto done;
    }
    char file[256];
    int n = 0;
    switch (kind) {
    case 0:
        st = plot_layer(s, L, d, &po, r, &n, e);
        break;
    case 1:
        if ((st = qdb_fig_sqnr(s->gp, d, s->q, &po, file, sizeof file, e)) == QDB_OK)
            plot_done(r, d, file, &n);
        for (int i = 0; st == QDB_OK && i < s->q->n_layers; i++) {
            st = plot_layer(s, i, d, &po, r, &n, e);
            if (progress && progress(user, "plotting", i + 1, s->q->n_layers))
                st = qdb_err_set(e, QDB_ERR_CANCELLED, "plotting stopped after %d figures", n);
        }
        break;
    case 2:
        if ((st = qdb_fig_sqnr(s->gp, d, s->q, &po, file, sizeof file, e)) == QDB_OK)
            plot_done(r, d, file, &n);
        break;
    case 3:
        if ((st = qdb_fig_sensitivity(s->gp, d, s->q, &s->sens, &po, file, sizeof file, e)) ==
            QDB_OK)
            plot_done(r, d, file, &n);
        break;
    case 4:
        if ((st = qdb_fig_bisect(s->gp, d, s->q, &s->bis, &po, file, sizeof file, e)) == QDB_OK)
            plot_done(r, d, file, &n);
        break;
    default:
        if ((st = qdb_fig_history(s->gp, d, &s->hist, &po, file, sizeof file, e)) == QDB_OK)
            plot_done(r, d, file, &n);
        break;
    }
    if (st == QDB_OK)
        out(r, "plot: %d figure%s (%s) in %s, each with its .dat and .gp\n", n, n == 1 ? "" : "s",
            qdb_plot_format_ext(po.format), d);
done:
    free(what);
    free(dir);
    return st;
}

static qdb_status one_path(const char *args, const char *cmd, char **path, qdb_err *e)
{
    const char *p = args;
    int bad = 0;
    *path = next_arg(&p, &bad);
    if (bad || !*path || *skip_blanks(p)) {
        free(*path);
        *path = NULL;
        return qdb_err_set(e, QDB_ERR_INVALID, "usage: %s FILE", cmd);
    }
    return QDB_OK;
}

/* The default session file: MODEL's base name without .onnx, plus
 * .qdb-session.json, in the current directory. */
static char *default_session_path(const qdb_session *s)
{
    const char *b = strrchr(s->model, '/');
    b = b ? b + 1 : s->model;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".onnx"))
        n -= 5;
    size_t cap = n + 32;
    char *p = malloc(cap);
    if (p)
        snprintf(p, cap, "%.*s.qdb-session.json", (int)n, b);
    return p;
}

static qdb_status cmd_save(qdb_session *s, const char *args, qdb_session_progress progress,
                           void *user, qdb_cmd_result *r, qdb_err *e)
{
    char *path = NULL;
    qdb_status st = QDB_OK;
    if (*args)
        st = one_path(args, "save", &path, e);
    else if (!(path = s->save_path ? strdup(s->save_path) : default_session_path(s)))
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    if (st == QDB_OK && (st = qdb_session_save(s, path, e)) == QDB_OK) {
        out(r, "saved %s (%d rule%s, %d history entr%s)\n", path, s->rs->n,
            s->rs->n == 1 ? "" : "s", s->hist.n, s->hist.n == 1 ? "y" : "ies");
        free(s->save_path);
        s->save_path = path;
        path = NULL;
    }
    free(path);
    return st;
}

static qdb_status cmd_load(qdb_session *s, const char *args, qdb_session_progress progress,
                           void *user, qdb_cmd_result *r, qdb_err *e)
{
    char *path;
    qdb_status st = one_path(args, "load", &path, e);
    if (st != QDB_OK)
        return st;
    qdb_session_desc d;
    if ((st = qdb_session_load(path, 0, &d, e)) != QDB_OK) {
        free(path);
        return st;
    }
    /* the same model: the hash of the one open now */
    char now[65];
    if ((st = qdb_file_sha256(s->model, now, e)) == QDB_OK && strcmp(now, d.sha256))
        st = qdb_err_set(e, QDB_ERR_INVALID,
                         "%s is a session of another model (%s) or of an older version of this "
                         "one; start qdb --session %s to open it",
                         path, d.model, path);
    if (st != QDB_OK) {
        qdb_session_desc_free(&d);
        free(path);
        return st;
    }
    saved_state sv;
    if ((st = save_state(s, &sv, e)) != QDB_OK) {
        qdb_session_desc_free(&d);
        free(path);
        return st;
    }
    /* the file's configuration and rules, then one re-quantization */
    qdb_ruleset_free(s->rs);
    s->rs = d.rs;
    d.rs = NULL;
    s->q->cfg = d.cfg;
    s->baseline_known = 0;
    qdb_history saved_hist = s->hist;
    s->hist = d.hist;
    qdb_history_init(&d.hist);
    out(r, "loaded %s: %d rule%s, %d history entr%s\n", path, s->rs->n, s->rs->n == 1 ? "" : "s",
        s->hist.n, s->hist.n == 1 ? "y" : "ies");
    s->quiet_requant = 1; /* the loaded history ends with this configuration */
    st = finish_change(s, &sv, progress, user, r, e);
    s->quiet_requant = 0;
    if (st != QDB_OK) {
        qdb_history_clear(&s->hist);
        s->hist = saved_hist;
    } else {
        qdb_history_clear(&saved_hist);
        qdb_session_undo_clear(s); /* another investigation */
        /* the history back through adopt, which also takes the file's
         * sweep and bisection */
        d.hist = s->hist;
        qdb_history_init(&s->hist);
        qdb_session_adopt_history(s, &d);
        qdb_session_ui_free(&s->ui);
        s->ui = d.ui;
        memset(&d.ui, 0, sizeof d.ui);
        free(s->save_path);
        s->save_path = path;
        path = NULL;
        if (d.have_figures && (d.current != s->current || d.float_score != s->float_score))
            out(r, "note: the saved figures were float %.2f %%, quantized %.2f %% (the data "
                   "flags differ?)\n", 100.0 * d.float_score, 100.0 * d.current);
    }
    qdb_session_desc_free(&d);
    free(path);
    return st;
}

static qdb_status cmd_export_spec(qdb_session *s, const char *args, qdb_session_progress progress,
                                  void *user, qdb_cmd_result *r, qdb_err *e)
{
    char *path;
    qdb_status st = one_path(args, "export-spec", &path, e);
    if (st == QDB_OK && (st = qdb_export_spec(s, path, e)) == QDB_OK)
        out(r, "export-spec: %d layers written to %s\n", s->q->n_layers, path);
    free(path);
    return st;
}

static qdb_status cmd_export_script(qdb_session *s, const char *args,
                                    qdb_session_progress progress, void *user, qdb_cmd_result *r,
                                    qdb_err *e)
{
    char *path;
    qdb_status st = one_path(args, "export-script", &path, e);
    if (st == QDB_OK && (st = qdb_export_script(s, path, e)) == QDB_OK) {
        char *line = qdb_export_run_line(s, path);
        out(r, "export-script: %d rule%s written to %s (replay: %s)\n", s->rs->n,
            s->rs->n == 1 ? "" : "s", path, line ? line : "qdb run");
        free(line);
    }
    free(path);
    return st;
}

static qdb_status cmd_layers(qdb_session *s, const char *args, qdb_session_progress progress,
                             void *user, qdb_cmd_result *r, qdb_err *e)
{
    out(r, "%4s  %-40s %-14s %4s %9s %4s %-10s %8s %8s %7s\n", "#", "name", "op", "act", "thr",
        "w", "method", "SQNR own", "SQNR acc", "clip %");
    for (int i = 0; i < s->q->n_layers; i++) {
        const qdb_qlayer *l = &s->q->layers[i];
        char thr[32] = "float", w[8] = "-", bits[8] = "  -";
        if (l->act_active) {
            snprintf(thr, sizeof thr, "%c %.4g", l->act_signed ? 's' : 'u',
                     l->act_qp.method == QDB_QM_UNIFORM ? l->act_qp.max : l->act_qp.threshold);
            snprintf(bits, sizeof bits, "%3d", act_bits_of(l));
        }
        if (l->w_value >= 0 && l->wcfg.enabled)
            snprintf(w, sizeof w, "%d%s", l->wcfg.n_bits, l->prov[QDB_LA_W_BITS] >= 0 ? "*" : "");
        char num[16] = "   -"; /* correction layers have no number */
        int k = own_index(s, i);
        if (k >= 0)
            snprintf(num, sizeof num, "%4d", k);
        /* a layer kept in float has no quantizer, no method and no error of its own */
        char own[16] = "       -", clip[16] = "      -";
        if (l->m.valid && l->act_active) {
            snprintf(own, sizeof own, "%8.2f", l->m.sqnr_own_db);
            snprintf(clip, sizeof clip, "%7.3f", 100.0 * l->m.clipped_fraction);
        }
        out(r, "%s  %-40s %-14s %s%s %9s %4s %-9s%s %s %8.2f %s\n", num, l->name, l->op, bits,
            l->prov[QDB_LA_ACT_BITS] >= 0 || l->prov[QDB_LA_ACT_QUANT] >= 0 ? "*" : " ", thr, w,
            l->act_active ? qdb_error_method_name(l->act.error_method) : "-",
            l->prov[QDB_LA_ACT_ERROR] >= 0 ? "*" : " ", own, l->m.valid ? l->m.sqnr_db : NAN, clip);
    }
    return QDB_OK;
}

static qdb_status cmd_layer(qdb_session *s, const char *args, qdb_session_progress progress,
                            void *user, qdb_cmd_result *r, qdb_err *e)
{
    const char *p = args;
    int bad = 0;
    char *name = next_arg(&p, &bad);
    if (bad || !name || *skip_blanks(p)) {
        free(name);
        return qdb_err_set(e, QDB_ERR_INVALID, "usage: layer LAYER (a name, quoted if needed, or an index)");
    }
    int L = find_layer(s, name, e);
    free(name);
    if (L < 0)
        return e->code;
    const qdb_qlayer *l = &s->q->layers[L];
    int k = own_index(s, L);
    if (k >= 0)
        out(r, "layer %d  %s  (%s)\n", k, l->name, l->op);
    else
        out(r, "layer -  %s  (%s, added by a correction: no number, rules do not select it)\n",
            l->name, l->op);
    out(r, "activation  %d bits %s %s, error method %s%s%s%s\n", act_bits_of(l),
        qdb_quant_method_name(l->act.method), l->act_signed ? "signed" : "unsigned",
        qdb_error_method_name(l->act.error_method), l->act_active ? "" : " (kept in float)",
        l->snc_applied ? " (shift-negative correction: 16 bits)" : "",
        l->act.fixed_threshold > 0 ? " (a fixed threshold instead)" : "");
    const int fixed = l->act.fixed_threshold > 0;
    for (int m = 0; m < QDB_EM_COUNT; m++)
        out(r, "  %-11s threshold %.6g%s\n", qdb_error_method_name((qdb_error_method)m),
            l->thr_by_method[m], !fixed && (int)l->act.error_method == m ? "  <- active" : "");
    if (fixed)
        out(r, "  %-11s threshold %.6g  <- active\n", "fixed", l->act.fixed_threshold);
    for (int a = 0; a < QDB_LA_COUNT; a++)
        if (l->prov[a] >= 0)
            out(r, "  %s set by rule %d\n", qdb_layer_attr_name((qdb_layer_attr)a), l->prov[a] + 1);
    return QDB_OK;
}

static qdb_status cmd_status(qdb_session *s, const char *args, qdb_session_progress progress,
                             void *user, qdb_cmd_result *r, qdb_err *e)
{
    qdb_status st = need_ready(s, e);
    if (st != QDB_OK)
        return st;
    out(r, "float %.2f %%  baseline %.2f %%  quantized %.2f %% (%+.2f vs float)  rules %d\n",
        100.0 * s->float_score, 100.0 * s->baseline, 100.0 * s->current,
        100.0 * (s->current - s->float_score), s->rs->n);
    return QDB_OK;
}

static qdb_status cmd_help(qdb_session *s, const char *args, qdb_session_progress progress,
                           void *user, qdb_cmd_result *r, qdb_err *e)
{
    if (*args) {
        int i = qdb_cmd_lookup(args);
        if (i < 0)
            return qdb_err_set(e, QDB_ERR_INVALID, "help: no command '%s'", args);
        out(r, "%s %s\n  %s\n", cmd_table[i].name, cmd_table[i].args, cmd_table[i].help);
        return QDB_OK;
    }
    for (int i = 0; i < QDB_CMD_COUNT; i++)
        out(r, "%-8s %-14s %s\n", cmd_table[i].name, cmd_table[i].args, cmd_table[i].help);
    return QDB_OK;
}

static qdb_status cmd_quit(qdb_session *s, const char *args, qdb_session_progress progress,
                           void *user, qdb_cmd_result *r, qdb_err *e)
{
    r->flags |= QDB_CMD_QUIT;
    return QDB_OK;
}

static const handler handlers[QDB_CMD_COUNT] = {
#define QDB_CMD_HANDLER(id, name, args, help, slow) cmd_##id,
    QDB_COMMANDS(QDB_CMD_HANDLER)
#undef QDB_CMD_HANDLER
};

/* The history label of a re-quantization the command causes: the command
 * as typed, shortened to fit (at a character boundary, with "..."). */
static void set_label(qdb_session *s, const char *name, const char *args)
{
    char *l = s->requant_label;
    const size_t cap = sizeof s->requant_label;
    int n = snprintf(l, cap, "%s%s%s", name, *args ? " " : "", args);
    if (n >= 0 && (size_t)n >= cap) {
        size_t end = cap - 4;
        while (end > 0 && ((unsigned char)l[end] & 0xC0) == 0x80)
            end--;
        memcpy(l + end, "...", 4);
    }
}

qdb_status qdb_cmd_run(qdb_session *s, const char *line, qdb_session_progress progress,
                       void *user, qdb_cmd_result *r, qdb_err *e)
{
    memset(r, 0, sizeof *r);
    out(r, "%s", "");
    const char *p = skip_blanks(line);
    if (!*p || *p == '#')
        return QDB_OK;
    int id = qdb_cmd_lookup(p);
    if (id < 0) {
        size_t n = 0;
        while (p[n] && !isspace((unsigned char)p[n]))
            n++;
        return qdb_err_set(e, QDB_ERR_INVALID, "unknown command '%.*s' (help lists them)", (int)n, p);
    }
    const char *args = skip_blanks(p + strlen(cmd_table[id].name));
    /* arguments without trailing blanks */
    size_t n = strlen(args);
    while (n && isspace((unsigned char)args[n - 1]))
        n--;
    char *a = strndup(args, n);
    if (!a)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    qdb_status st = QDB_OK;
    if (id != QDB_CMD_help && id != QDB_CMD_quit && id != QDB_CMD_match && id != QDB_CMD_layers &&
        id != QDB_CMD_layer && id != QDB_CMD_rules)
        st = need_ready(s, e);
    if (st == QDB_OK) {
        set_label(s, cmd_table[id].name, a);
        st = handlers[id](s, a, progress, user, r, e);
        s->requant_label[0] = '\0';
    }
    free(a);
    /* errors name the command they come from */
    const char *name = cmd_table[id].name;
    size_t nl = strlen(name);
    if (st != QDB_OK && e && !(strncmp(e->msg, name, nl) == 0 && e->msg[nl] == ':') &&
        strncmp(e->msg, "usage: ", 7) != 0)
        qdb_err_prefix(e, "%s: ", name);
    return st;
}
