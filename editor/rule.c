/* rule.c - the rule language of rule.h: tokenizer and recursive-descent
 * parser (filter and actions), canonical printing, equality, cloning,
 * matching a filter against a layer, checking op types, and the JSON form.
 *
 * Canonical text: `FILTER : ATTR=VALUE, ATTR=VALUE`, keywords lower case,
 * `not` binding tighter than `and`, `and` tighter than `or`, parentheses only
 * where the tree needs them (a right operand of the same operator keeps its
 * parentheses, so printing and parsing give back the same tree). A value is
 * printed bare when it is a WORD (non-empty, no blank and none of
 * ( ) : , = ~ "), else quoted. Keywords never need quoting: a value always
 * follows an operator. In quotes, \" and \\ are escapes and any other
 * backslash stands for itself (so regular expressions such as "a\.b" read
 * as typed); printing doubles a backslash only where it would otherwise
 * read as an escape. */
#include "rule.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "op.h"

/* deepest filter tree accepted (recursion in the parser, printer, matcher) */
#define MAX_DEPTH 1000
#define MAX_TEXT (1 << 20)

/* ---- small helpers -------------------------------------------------------- */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static char *dup_s(const char *s)
{
    return dup_n(s, strlen(s));
}

/* Optimal-string-alignment distance, case-insensitive; INT_MAX past 63 chars. */
static int edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63)
        return INT_MAX;
    int d[64][64];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

/* The closest of names[0..n) to `word` when close enough to be a likely
 * typo (distance <= 2 and shorter than the word), else NULL. */
static const char *closest(const char *word, const char *const *names, int n)
{
    int best = INT_MAX;
    const char *s = NULL;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, names[i]);
        if (d < best) {
            best = d;
            s = names[i];
        }
    }
    return best <= 2 && (size_t)best < strlen(word) ? s : NULL;
}

/* A fixed-size message under construction (truncation is harmless). */
typedef struct {
    char s[QDB_ERR_MSG_MAX];
    size_t n;
} msgbuf;

static void msg_add(msgbuf *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg_add(msgbuf *m, const char *fmt, ...)
{
    if (m->n >= sizeof m->s - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(m->s + m->n, sizeof m->s - m->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        m->n = m->n + (size_t)k < sizeof m->s ? m->n + (size_t)k : sizeof m->s - 1;
}

/* A growable string for printing. */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t k)
{
    if (b->oom)
        return;
    if (b->n + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + k + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, k);
    b->n += k;
    b->p[b->n] = 0;
}

static void sb_str(strbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* Characters that end a WORD. */
static int is_special(int c)
{
    return isspace(c) || c == '(' || c == ')' || c == ':' || c == ',' || c == '=' || c == '~' ||
           c == '"';
}

/* A value, bare when it is a WORD, else quoted (see the file comment). */
static void sb_value(strbuf *b, const char *v)
{
    int bare = *v != 0;
    for (const char *p = v; *p && bare; p++)
        bare = !is_special((unsigned char)*p);
    if (bare) {
        sb_str(b, v);
        return;
    }
    sb_put(b, "\"", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            sb_put(b, "\\\"", 2);
        else if (*p == '\\' && (p[1] == '\\' || p[1] == '"' || p[1] == 0))
            sb_put(b, "\\\\", 2);
        else
            sb_put(b, p, 1);
    }
    sb_put(b, "\"", 1);
}

/* ---- filters: free, clone, equality, matching ----------------------------- */

static void filter_free(qdb_filter *f)
{
    if (!f)
        return;
    filter_free(f->a);
    filter_free(f->b);
    if (f->re) {
        regfree(f->re);
        free(f->re);
    }
    free(f->text);
    free(f);
}

static qdb_filter *filter_new(qdb_filter_kind k)
{
    qdb_filter *f = calloc(1, sizeof *f);
    if (f)
        f->kind = k;
    return f;
}

/* Compile f->text into f->re; regcomp's status (0 = ok, -1 = no memory),
 * its message in eb when it fails. */
static int filter_compile(qdb_filter *f, char *eb, size_t n)
{
    regex_t *re = malloc(sizeof *re);
    if (!re)
        return -1;
    int rc = regcomp(re, f->text, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        if (eb)
            regerror(rc, re, eb, n);
        free(re);
        return rc;
    }
    f->re = re;
    return 0;
}

static qdb_filter *filter_clone(const qdb_filter *f)
{
    if (!f)
        return NULL;
    qdb_filter *c = filter_new(f->kind);
    if (!c)
        return NULL;
    c->lo = f->lo;
    c->hi = f->hi;
    if (f->text && !(c->text = dup_s(f->text)))
        goto fail;
    if (f->kind == QDB_FILTER_REGEX && f->re && c->text && filter_compile(c, NULL, 0))
        goto fail;
    if ((f->a && !(c->a = filter_clone(f->a))) || (f->b && !(c->b = filter_clone(f->b))))
        goto fail;
    return c;
fail:
    filter_free(c);
    return NULL;
}

static int text_eq(const char *a, const char *b, int icase)
{
    if (!a || !b)
        return a == b;
    return icase ? !strcasecmp(a, b) : !strcmp(a, b);
}

static int filter_equal(const qdb_filter *a, const qdb_filter *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case QDB_FILTER_ALL: return 1;
    case QDB_FILTER_TYPE: return text_eq(a->text, b->text, 1);
    case QDB_FILTER_NAME:
    case QDB_FILTER_SCOPE:
    case QDB_FILTER_REGEX: return text_eq(a->text, b->text, 0);
    case QDB_FILTER_INDEX: return a->lo == b->lo && a->hi == b->hi;
    case QDB_FILTER_AND:
    case QDB_FILTER_OR: return filter_equal(a->a, b->a) && filter_equal(a->b, b->b);
    case QDB_FILTER_NOT: return filter_equal(a->a, b->a);
    }
    return 0;
}

/* PyTorch's names of the fused activations qdb calls Swish and HardSwish */
static const char *type_alias(const char *t)
{
    if (!strcasecmp(t, "SiLU"))
        return "Swish";
    return t;
}

static int type_matches(const char *want, const qdb_qlayer *l)
{
    want = type_alias(want);
    if (l->op && !strcasecmp(want, l->op))
        return 1;
    if (l->type && !strcasecmp(want, l->type))
        return 1;
    const char *plus = l->op ? strchr(l->op, '+') : NULL;
    return plus && !strcasecmp(want, plus + 1);
}

int qdb_filter_matches(const qdb_filter *f, const qdb_qmodel *q, int index)
{
    if (!f || !q || index < 0 || index >= q->n_layers)
        return 0;
    return qdb_filter_matches_layer(f, &q->layers[index], index);
}

int qdb_filter_matches_layer(const qdb_filter *f, const qdb_qlayer *l, int index)
{
    if (!f || !l)
        return 0;
    switch (f->kind) {
    case QDB_FILTER_ALL: return 1;
    case QDB_FILTER_TYPE: return f->text && type_matches(f->text, l);
    case QDB_FILTER_NAME: return f->text && l->name && !strcmp(l->name, f->text);
    case QDB_FILTER_SCOPE: return f->text && l->name && strstr(l->name, f->text) != NULL;
    case QDB_FILTER_REGEX: return f->re && l->name && !regexec(f->re, l->name, 0, NULL, 0);
    case QDB_FILTER_INDEX: return index >= f->lo && index <= f->hi;
    case QDB_FILTER_AND:
        return qdb_filter_matches_layer(f->a, l, index) && qdb_filter_matches_layer(f->b, l, index);
    case QDB_FILTER_OR:
        return qdb_filter_matches_layer(f->a, l, index) || qdb_filter_matches_layer(f->b, l, index);
    case QDB_FILTER_NOT: return !qdb_filter_matches_layer(f->a, l, index);
    }
    return 0;
}

/* Does the filter name type `t` anywhere (not under a not)? */
static int names_type(const qdb_filter *f, const char *t)
{
    if (!f)
        return 0;
    switch (f->kind) {
    case QDB_FILTER_TYPE: return f->text && !strcasecmp(f->text, t);
    case QDB_FILTER_AND:
    case QDB_FILTER_OR: return names_type(f->a, t) || names_type(f->b, t);
    default: return 0;
    }
}

/* Does the filter name an index range wholly at or past n (not under a
 * not)? */
static int index_beyond(const qdb_filter *f, int n)
{
    if (!f)
        return 0;
    switch (f->kind) {
    case QDB_FILTER_INDEX: return f->lo >= n;
    case QDB_FILTER_AND:
    case QDB_FILTER_OR: return index_beyond(f->a, n) || index_beyond(f->b, n);
    default: return 0;
    }
}

const char *qdb_rule_hint(const qdb_rule *r, const qdb_qmodel *q)
{
    static const struct {
        const char *gate, *act, *hint;
    } gates[] = {
        {"Sigmoid", "Swish",
         "this model's Sigmoids are inside x*Sigmoid(x) activations: type=Swish (or SiLU) "
         "selects those layers"},
        {"HardSigmoid", "HardSwish",
         "this model's HardSigmoids are inside x*HardSigmoid(x) activations: type=HardSwish "
         "selects those layers"},
    };
    if (!r || !q)
        return NULL;
    if (index_beyond(r->filter, q->n_base_layers > 0 ? q->n_base_layers : q->n_layers))
        return "an index= range lies past the last layer (the # column of qdb match and "
               "qdb quantize)";
    for (size_t k = 0; k < sizeof gates / sizeof gates[0]; k++) {
        if (!names_type(r->filter, gates[k].gate))
            continue;
        for (int i = 0; i < q->n_layers; i++)
            if (type_matches(gates[k].act, &q->layers[i]))
                return gates[k].hint;
    }
    return NULL;
}

/* ---- tokenizer ------------------------------------------------------------ */

typedef enum { T_END, T_WORD, T_STRING, T_LPAREN, T_RPAREN, T_COLON, T_COMMA, T_EQ, T_TILDE } tok_kind;

typedef struct {
    tok_kind kind;
    int col;          /* 1-based */
    const char *raw;  /* the token's source text */
    int raw_len;
    char *text;       /* WORD / STRING: the value (owned) */
} token;

typedef struct {
    const char *src;
    size_t pos;
    token t;          /* the current token */
    qdb_err *e;
} parser;

static qdb_status perr(parser *p, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static qdb_status perr(parser *p, int col, const char *fmt, ...)
{
    msgbuf m = {.n = 0};
    msg_add(&m, "rule: column %d: ", col);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m.s + m.n, sizeof m.s - m.n, fmt, ap);
    va_end(ap);
    return qdb_err_set(p->e, QDB_ERR_INVALID, "%s", m.s);
}

/* How the current token reads in a message: 'act_bits', ')', end of rule. */
static const char *tok_desc(const token *t, char *buf, size_t n)
{
    if (t->kind == T_END)
        return "end of rule";
    int k = t->raw_len > 40 ? 40 : t->raw_len;
    snprintf(buf, n, "'%.*s%s'", k, t->raw, t->raw_len > 40 ? "..." : "");
    return buf;
}

static qdb_status expected(parser *p, const char *what)
{
    char b[64];
    return perr(p, p->t.col, "expected %s, got %s", what, tok_desc(&p->t, b, sizeof b));
}

/* Move to the next token. */
static qdb_status advance(parser *p)
{
    free(p->t.text);
    memset(&p->t, 0, sizeof p->t);
    const char *s = p->src;
    while (s[p->pos] && isspace((unsigned char)s[p->pos]))
        p->pos++;
    size_t start = p->pos;
    token *t = &p->t;
    t->col = (int)start + 1;
    t->raw = s + start;
    char c = s[start];
    if (!c) {
        t->kind = T_END;
        return QDB_OK;
    }
    static const char punct[] = "():,=~";
    static const tok_kind pk[] = {T_LPAREN, T_RPAREN, T_COLON, T_COMMA, T_EQ, T_TILDE};
    const char *pp = strchr(punct, c);
    if (pp) {
        t->kind = pk[pp - punct];
        t->raw_len = 1;
        p->pos++;
        return QDB_OK;
    }
    if (c == '"') {
        size_t i = start + 1, n = 0;
        char *out = malloc(strlen(s + i) + 1);
        if (!out)
            return qdb_err_set(p->e, QDB_ERR_NOMEM, "rule: out of memory");
        for (;; i++) {
            if (!s[i]) {
                free(out);
                return perr(p, t->col, "unterminated string (no closing '\"')");
            }
            if (s[i] == '"')
                break;
            if (s[i] == '\\' && (s[i + 1] == '"' || s[i + 1] == '\\'))
                i++;
            out[n++] = s[i];
        }
        out[n] = 0;
        t->kind = T_STRING;
        t->text = out;
        p->pos = i + 1;
        t->raw_len = (int)(p->pos - start);
        return QDB_OK;
    }
    size_t i = start;
    while (s[i] && !is_special((unsigned char)s[i]))
        i++;
    if (!(t->text = dup_n(s + start, i - start)))
        return qdb_err_set(p->e, QDB_ERR_NOMEM, "rule: out of memory");
    t->kind = T_WORD;
    t->raw_len = (int)(i - start);
    p->pos = i;
    return QDB_OK;
}

static int is_kw(const token *t, const char *kw)
{
    return t->kind == T_WORD && !strcasecmp(t->text, kw);
}

/* ---- filter parser -------------------------------------------------------- */

static qdb_status parse_or(parser *p, qdb_filter **out, int depth);

/* The value after an atom's operator: a WORD or a quoted string; moves the
 * text out of the token. */
static qdb_status take_value(parser *p, const char *what, char **out, int *col)
{
    if (p->t.kind != T_WORD && p->t.kind != T_STRING)
        return expected(p, what);
    *out = p->t.text;
    *col = p->t.col;
    p->t.text = NULL;
    return advance(p);
}

/* N (non-negative, fits an int) from the start of s; the rest in *end. */
static int read_index(const char *s, int *v, const char **end)
{
    long long x = 0;
    const char *q = s;
    if (!isdigit((unsigned char)*q))
        return -1;
    for (; isdigit((unsigned char)*q); q++) {
        x = x * 10 + (*q - '0');
        if (x > INT_MAX)
            return -1;
    }
    *v = (int)x;
    *end = q;
    return 0;
}

/* index '=' N ['..' M], with or without blanks around '..'. */
static qdb_status parse_index(parser *p, qdb_filter *f)
{
    const char *what = "a layer index or range N..M after 'index='";
    if (p->t.kind != T_WORD && p->t.kind != T_STRING)
        return expected(p, what);
    int col = p->t.col;
    /* glue "3", "..", "7" given as separate words into one text */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", p->t.text);
    qdb_status st = advance(p);
    if (st)
        return st;
    size_t n = strlen(buf);
    int has_dots = strstr(buf, "..") != NULL;
    if (!has_dots && p->t.kind == T_WORD && !strncmp(p->t.text, "..", 2)) {
        snprintf(buf + n, sizeof buf - n, "%s", p->t.text);
        n = strlen(buf);
        has_dots = 1;
        if ((st = advance(p)))
            return st;
    }
    if (has_dots && n >= 2 && !strcmp(buf + n - 2, "..") && p->t.kind == T_WORD) {
        snprintf(buf + n, sizeof buf - n, "%s", p->t.text);
        if ((st = advance(p)))
            return st;
    }
    const char *rest;
    if (read_index(buf, &f->lo, &rest))
        goto bad;
    f->hi = f->lo;
    if (*rest) {
        if (strncmp(rest, "..", 2) || read_index(rest + 2, &f->hi, &rest) || *rest)
            goto bad;
        if (f->lo > f->hi)
            return perr(p, col, "index range %d..%d is empty (the first index must not exceed the second)",
                        f->lo, f->hi);
    }
    return QDB_OK;
bad:
    return perr(p, col, "index must be a non-negative integer N or a range N..M, got '%s'", buf);
}

static qdb_status parse_atom(parser *p, qdb_filter **out)
{
    static const char *const keys[] = {"type", "name", "index", "all"};
    token *t = &p->t;
    char b[64];
    qdb_status st;
    qdb_filter *f = NULL;
    if (t->kind != T_WORD)
        return expected(p, "a filter (type=, name=, name:, name~, index=, all, not or '(')");
    if (is_kw(t, "all")) {
        if (!(f = filter_new(QDB_FILTER_ALL)))
            goto nomem;
        *out = f;
        return advance(p);
    }
    int col = t->col;
    if (is_kw(t, "type") || is_kw(t, "name") || is_kw(t, "index")) {
        int key = is_kw(t, "type") ? 0 : is_kw(t, "name") ? 1 : 2;
        if ((st = advance(p)))
            return st;
        qdb_filter_kind k;
        const char *what;
        if (key == 1 && t->kind == T_COLON) {
            k = QDB_FILTER_SCOPE;
            what = "a name substring after 'name:'";
        } else if (key == 1 && t->kind == T_TILDE) {
            k = QDB_FILTER_REGEX;
            what = "a regular expression after 'name~'";
        } else if (t->kind == T_EQ) {
            k = key == 0 ? QDB_FILTER_TYPE : key == 1 ? QDB_FILTER_NAME : QDB_FILTER_INDEX;
            what = key == 0 ? "an op type after 'type='" : "a layer name after 'name='";
        } else {
            return expected(p, key == 1 ? "'=', ':' or '~' after 'name'"
                               : key == 0 ? "'=' after 'type'" : "'=' after 'index'");
        }
        if ((st = advance(p)))
            return st;
        if (!(f = filter_new(k)))
            goto nomem;
        if (k == QDB_FILTER_INDEX) {
            if ((st = parse_index(p, f)))
                goto fail;
            *out = f;
            return QDB_OK;
        }
        int vcol = 0;
        if ((st = take_value(p, what, &f->text, &vcol)))
            goto fail;
        if (k == QDB_FILTER_TYPE && !*f->text) {
            st = perr(p, vcol, "empty op type after 'type='");
            goto fail;
        }
        if (k == QDB_FILTER_REGEX) {
            char eb[256];
            int rc = filter_compile(f, eb, sizeof eb);
            if (rc == -1)
                goto nomem;
            if (rc) {
                st = perr(p, vcol, "bad regular expression '%s': %s", f->text, eb);
                goto fail;
            }
        }
        *out = f;
        return QDB_OK;
    }
    /* an unknown key */
    msgbuf m = {.n = 0};
    const char *sug = closest(t->text, keys, 4);
    if (qdb_layer_attr_parse(t->text) >= 0) {
        msg_add(&m, "expected a filter before the actions, got %s (to change every layer, write 'all : %s=...')",
                tok_desc(t, b, sizeof b), t->text);
    } else {
        msg_add(&m, "unknown filter key %s", tok_desc(t, b, sizeof b));
        if (sug)
            msg_add(&m, " (did you mean '%s'?)", sug);
        msg_add(&m, "; filter keys: type, name, index, all");
    }
    return perr(p, col, "%s", m.s);
nomem:
    st = qdb_err_set(p->e, QDB_ERR_NOMEM, "rule: out of memory");
fail:
    filter_free(f);
    return st;
}

static qdb_status parse_unary(parser *p, qdb_filter **out, int depth)
{
    if (depth > MAX_DEPTH)
        return perr(p, p->t.col, "filter nested too deeply (more than %d levels)", MAX_DEPTH);
    qdb_status st;
    if (is_kw(&p->t, "not")) {
        if ((st = advance(p)))
            return st;
        qdb_filter *a = NULL, *f;
        if ((st = parse_unary(p, &a, depth + 1)))
            return st;
        if (!(f = filter_new(QDB_FILTER_NOT))) {
            filter_free(a);
            return qdb_err_set(p->e, QDB_ERR_NOMEM, "rule: out of memory");
        }
        f->a = a;
        *out = f;
        return QDB_OK;
    }
    if (p->t.kind == T_LPAREN) {
        int col = p->t.col;
        if ((st = advance(p)) || (st = parse_or(p, out, depth + 1)))
            return st;
        if (p->t.kind != T_RPAREN) {
            char what[64];
            snprintf(what, sizeof what, "')' to close the '(' at column %d", col);
            st = expected(p, what);
            filter_free(*out);
            *out = NULL;
            return st;
        }
        return advance(p);
    }
    return parse_atom(p, out);
}

/* One level of AND (op_and) or OR, left-associative. The depth of the
 * tree grows with each operand, so it is bounded like nesting. */
static qdb_status parse_binary(parser *p, qdb_filter **out, int depth, int op_and)
{
    qdb_status st;
    qdb_filter *f = NULL;
    if ((st = op_and ? parse_unary(p, &f, depth + 1) : parse_binary(p, &f, depth + 1, 1)))
        return st;
    while (is_kw(&p->t, op_and ? "and" : "or")) {
        if (++depth > MAX_DEPTH) {
            st = perr(p, p->t.col, "filter nested too deeply (more than %d levels)", MAX_DEPTH);
            goto fail;
        }
        qdb_filter *b = NULL, *n;
        if ((st = advance(p)) ||
            (st = op_and ? parse_unary(p, &b, depth + 1) : parse_binary(p, &b, depth + 1, 1)))
            goto fail;
        if (!(n = filter_new(op_and ? QDB_FILTER_AND : QDB_FILTER_OR))) {
            filter_free(b);
            st = qdb_err_set(p->e, QDB_ERR_NOMEM, "rule: out of memory");
            goto fail;
        }
        n->a = f;
        n->b = b;
        f = n;
    }
    *out = f;
    return QDB_OK;
fail:
    filter_free(f);
    return st;
}

static qdb_status parse_or(parser *p, qdb_filter **out, int depth)
{
    return parse_binary(p, out, depth, 0);
}

/* ---- rules ---------------------------------------------------------------- */

static void rule_set(qdb_rule *r, qdb_layer_attr a, double v)
{
    for (int i = 0; i < r->n_actions; i++)
        if (r->actions[i].attr == a) {
            r->actions[i].value = v;
            return;
        }
    r->actions[r->n_actions].attr = a;
    r->actions[r->n_actions].value = v;
    r->n_actions++;
}

static qdb_status unknown_attr(parser *p, int col, const char *name)
{
    const char *names[QDB_LA_COUNT];
    for (int i = 0; i < QDB_LA_COUNT; i++)
        names[i] = qdb_layer_attr_name((qdb_layer_attr)i);
    const char *sug = closest(name, names, QDB_LA_COUNT);
    msgbuf m = {.n = 0};
    msg_add(&m, "unknown attribute '%s'", name);
    if (sug)
        msg_add(&m, " (did you mean '%s'?)", sug);
    msg_add(&m, "; attributes:");
    for (int i = 0; i < QDB_LA_COUNT; i++)
        msg_add(&m, "%s %s", i ? "," : "", names[i]);
    return perr(p, col, "%s", m.s);
}

static qdb_status parse_actions(parser *p, qdb_rule *r)
{
    qdb_status st;
    for (int first = 1;; first = 0) {
        if (p->t.kind != T_WORD)
            return expected(p, first ? "an attribute (ATTR=VALUE) after ':'" : "an attribute (ATTR=VALUE) after ','");
        int col = p->t.col;
        int a = qdb_layer_attr_parse(p->t.text);
        if (a < 0)
            return unknown_attr(p, col, p->t.text);
        if ((st = advance(p)))
            return st;
        char what[64];
        if (p->t.kind != T_EQ) {
            snprintf(what, sizeof what, "'=' after '%s'", qdb_layer_attr_name((qdb_layer_attr)a));
            return expected(p, what);
        }
        if ((st = advance(p)))
            return st;
        if (p->t.kind != T_WORD && p->t.kind != T_STRING) {
            snprintf(what, sizeof what, "a value for '%s'", qdb_layer_attr_name((qdb_layer_attr)a));
            return expected(p, what);
        }
        double v;
        qdb_err ve;
        if (qdb_layer_attr_value_parse((qdb_layer_attr)a, p->t.text, &v, &ve))
            return perr(p, p->t.col, "%s", ve.msg);
        rule_set(r, (qdb_layer_attr)a, v);
        if ((st = advance(p)))
            return st;
        if (p->t.kind == T_END)
            return QDB_OK;
        if (p->t.kind != T_COMMA)
            return expected(p, "',' or the end of the rule after an action");
        if ((st = advance(p)))
            return st;
    }
}

qdb_rule *qdb_rule_parse(const char *text, qdb_err *e)
{
    if (!text) {
        qdb_err_set(e, QDB_ERR_INVALID, "rule: no text");
        return NULL;
    }
    if (strlen(text) > MAX_TEXT) {
        qdb_err_set(e, QDB_ERR_INVALID, "rule: longer than %d characters", MAX_TEXT);
        return NULL;
    }
    parser p = {.src = text, .pos = 0, .e = e};
    qdb_rule *r = calloc(1, sizeof *r);
    if (!r) {
        qdb_err_set(e, QDB_ERR_NOMEM, "rule: out of memory");
        return NULL;
    }
    if (advance(&p))
        goto fail;
    if (p.t.kind == T_END) {
        perr(&p, p.t.col, "empty rule: expected FILTER : ATTR=VALUE, ... (e.g. type=Sigmoid : act_bits=16)");
        goto fail;
    }
    if (parse_or(&p, &r->filter, 0))
        goto fail;
    if (p.t.kind != T_COLON) {
        char b[64];
        const char *sug = NULL;
        if (p.t.kind == T_WORD) {
            static const char *const ops[] = {"and", "or"};
            sug = closest(p.t.text, ops, 2);
        }
        if (sug)
            perr(&p, p.t.col, "expected ':' before the actions, got %s (did you mean '%s'?)",
                 tok_desc(&p.t, b, sizeof b), sug);
        else
            expected(&p, "':' before the actions");
        goto fail;
    }
    if (advance(&p) || parse_actions(&p, r))
        goto fail;
    free(p.t.text);
    r->enabled = 1;
    return r;
fail:
    free(p.t.text);
    qdb_rule_free(r);
    return NULL;
}

void qdb_rule_free(qdb_rule *r)
{
    if (!r)
        return;
    filter_free(r->filter);
    free(r);
}

qdb_rule *qdb_rule_clone(const qdb_rule *r)
{
    if (!r)
        return NULL;
    qdb_rule *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *r;
    c->filter = NULL;
    if (r->filter && !(c->filter = filter_clone(r->filter))) {
        free(c);
        return NULL;
    }
    return c;
}

static const qdb_action *find_action(const qdb_rule *r, qdb_layer_attr a)
{
    for (int i = 0; i < r->n_actions; i++)
        if (r->actions[i].attr == a)
            return &r->actions[i];
    return NULL;
}

/* Same filter and same actions (in any order); `enabled` is state, not
 * content, and is not compared. */
int qdb_rule_equal(const qdb_rule *a, const qdb_rule *b)
{
    if (!a || !b)
        return a == b;
    if (!filter_equal(a->filter, b->filter) || a->n_actions != b->n_actions)
        return 0;
    for (int i = 0; i < a->n_actions; i++) {
        const qdb_action *o = find_action(b, a->actions[i].attr);
        if (!o || o->value != a->actions[i].value)
            return 0;
    }
    return 1;
}

/* ---- printing ------------------------------------------------------------- */

static int prec(qdb_filter_kind k)
{
    return k == QDB_FILTER_OR ? 1 : k == QDB_FILTER_AND ? 2 : k == QDB_FILTER_NOT ? 3 : 4;
}

static void format_filter(strbuf *b, const qdb_filter *f);

static void format_child(strbuf *b, const qdb_filter *c, int need_parens)
{
    if (need_parens)
        sb_put(b, "(", 1);
    format_filter(b, c);
    if (need_parens)
        sb_put(b, ")", 1);
}

static void format_filter(strbuf *b, const qdb_filter *f)
{
    char num[64];
    if (!f) {
        sb_str(b, "all");
        return;
    }
    switch (f->kind) {
    case QDB_FILTER_ALL: sb_str(b, "all"); return;
    case QDB_FILTER_TYPE: sb_str(b, "type="); sb_value(b, f->text ? f->text : ""); return;
    case QDB_FILTER_NAME: sb_str(b, "name="); sb_value(b, f->text ? f->text : ""); return;
    case QDB_FILTER_SCOPE: sb_str(b, "name:"); sb_value(b, f->text ? f->text : ""); return;
    case QDB_FILTER_REGEX: sb_str(b, "name~"); sb_value(b, f->text ? f->text : ""); return;
    case QDB_FILTER_INDEX:
        if (f->lo == f->hi)
            snprintf(num, sizeof num, "index=%d", f->lo);
        else
            snprintf(num, sizeof num, "index=%d..%d", f->lo, f->hi);
        sb_str(b, num);
        return;
    case QDB_FILTER_AND:
    case QDB_FILTER_OR: {
        int pr = prec(f->kind);
        /* left-associative: a left operand of the same level needs none,
         * a right one does */
        format_child(b, f->a, f->a && prec(f->a->kind) < pr);
        sb_str(b, f->kind == QDB_FILTER_AND ? " and " : " or ");
        format_child(b, f->b, f->b && prec(f->b->kind) <= pr);
        return;
    }
    case QDB_FILTER_NOT:
        sb_str(b, "not ");
        format_child(b, f->a, f->a && prec(f->a->kind) < prec(QDB_FILTER_NOT));
        return;
    }
}

static void format_actions(strbuf *b, const qdb_rule *r)
{
    for (int i = 0; i < r->n_actions; i++) {
        char v[64];
        qdb_layer_attr_value_format(r->actions[i].attr, r->actions[i].value, v, sizeof v);
        if (i)
            sb_str(b, ", ");
        sb_str(b, qdb_layer_attr_name(r->actions[i].attr));
        sb_put(b, "=", 1);
        sb_value(b, v);
    }
}

char *qdb_rule_format(const qdb_rule *r)
{
    if (!r)
        return NULL;
    strbuf b = {0};
    format_filter(&b, r->filter);
    sb_str(&b, " : ");
    format_actions(&b, r);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- checking op types ---------------------------------------------------- */

static const char *const fused_anchor[] = {"Conv", "ConvTranspose", "Gemm", "MatMul",
                                           "Add", "Sub", "Mul", "Div"};
static const char *const fused_act[] = {"Relu", "Clip", "LeakyRelu", "PRelu",
                                        "Sigmoid", "Tanh", "HardSwish", "Swish"};
static const char *const group_names[] = {"Input", "ShiftNegative", "Swish", "HardSwish"};

#define N_FUSED (sizeof fused_anchor / sizeof fused_anchor[0] * (sizeof fused_act / sizeof fused_act[0]))
#define N_GROUP (sizeof group_names / sizeof group_names[0])

/* The fused name of index i in [0, N_FUSED) into buf. */
static const char *fused_name(size_t i, char *buf, size_t n)
{
    size_t na = sizeof fused_act / sizeof fused_act[0];
    snprintf(buf, n, "%s+%s", fused_anchor[i / na], fused_act[i % na]);
    return buf;
}

static int known_type(const char *t, const char *const *ops, int n_ops)
{
    t = type_alias(t);
    for (int i = 0; i < n_ops; i++)
        if (!strcasecmp(t, ops[i]))
            return 1;
    for (size_t i = 0; i < N_GROUP; i++)
        if (!strcasecmp(t, group_names[i]))
            return 1;
    const char *plus = strchr(t, '+');
    if (!plus)
        return 0;
    size_t na = strlen(t) - strlen(plus);
    int ok_a = 0, ok_b = 0;
    for (size_t i = 0; i < sizeof fused_anchor / sizeof fused_anchor[0]; i++)
        ok_a |= strlen(fused_anchor[i]) == na && !strncasecmp(t, fused_anchor[i], na);
    for (size_t i = 0; i < sizeof fused_act / sizeof fused_act[0]; i++)
        ok_b |= !strcasecmp(plus + 1, fused_act[i]);
    return ok_a && ok_b;
}

typedef struct {
    const char *name;
    int dist;
} cand;

static int cand_cmp(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    if (a->dist != b->dist)
        return a->dist < b->dist ? -1 : 1;
    return strcasecmp(a->name, b->name);
}

/* The error for an unknown type: a suggestion, then the closest known
 * types (a list of all ~180 would bury the suggestion). */
#define UNKNOWN_TYPE_LISTED 12
static qdb_status unknown_type(const char *t, const char *const *ops, int n_ops, qdb_err *e)
{
    size_t n_all = (size_t)n_ops + N_GROUP + N_FUSED;
    cand *c = malloc(n_all * sizeof *c);
    char *fbuf = malloc(N_FUSED * 40);
    if (!c || !fbuf) {
        free(c);
        free(fbuf);
        return qdb_err_set(e, QDB_ERR_NOMEM, "rule: out of memory");
    }
    size_t n = 0;
    for (int i = 0; i < n_ops; i++)
        c[n++].name = ops[i];
    for (size_t i = 0; i < N_GROUP; i++)
        c[n++].name = group_names[i];
    for (size_t i = 0; i < N_FUSED; i++)
        c[n++].name = fused_name(i, fbuf + 40 * i, 40);
    for (size_t i = 0; i < n; i++)
        c[i].dist = edit_distance(t, c[i].name);
    qsort(c, n, sizeof *c, cand_cmp);
    /* drop duplicates (a group name that is also an operator) */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < m && !dup; j++)
            dup = !strcasecmp(c[j].name, c[i].name);
        if (!dup)
            c[m++] = c[i];
    }
    msgbuf msg = {.n = 0};
    msg_add(&msg, "rule: unknown op type '%s'", t);
    if (m && c[0].dist <= 2 && (size_t)c[0].dist < strlen(t))
        msg_add(&msg, " (did you mean '%s'?)", c[0].name);
    msg_add(&msg, "; known types (closest first):");
    const size_t room = sizeof msg.s - 80; /* keep space for the tail */
    size_t i = 0;
    for (; i < m && i < UNKNOWN_TYPE_LISTED && msg.n + strlen(c[i].name) + 2 < room; i++)
        msg_add(&msg, "%s %s", i ? "," : "", c[i].name);
    if (i < m)
        msg_add(&msg, ", and %zu more (any operator qdb runs, the groups it forms such as "
                      "Conv+Relu; qdb match MODEL all lists a model's)", m - i);
    free(c);
    free(fbuf);
    return qdb_err_set(e, QDB_ERR_INVALID, "%s", msg.s);
}

static qdb_status check_filter(const qdb_filter *f, const char *const *ops, int n_ops, qdb_err *e)
{
    if (!f)
        return QDB_OK;
    if (f->kind == QDB_FILTER_TYPE && f->text && !known_type(f->text, ops, n_ops))
        return unknown_type(f->text, ops, n_ops, e);
    qdb_status st = check_filter(f->a, ops, n_ops, e);
    return st ? st : check_filter(f->b, ops, n_ops, e);
}

qdb_status qdb_rule_check(const qdb_rule *r, qdb_err *e)
{
    if (!r)
        return qdb_err_set(e, QDB_ERR_INVALID, "rule: no rule");
    int n = qdb_op_list(NULL, 0);
    if (n < 0 || (size_t)n > SIZE_MAX / sizeof(const char *))
        return qdb_err_set(e, QDB_ERR_NOMEM, "rule: too many operators");
    const char **ops = malloc((size_t)(n ? n : 1) * sizeof *ops);
    if (!ops)
        return qdb_err_set(e, QDB_ERR_NOMEM, "rule: out of memory");
    qdb_op_list(ops, n);
    qdb_status st = check_filter(r->filter, ops, n, e);
    free(ops);
    return st;
}

/* ---- JSON ----------------------------------------------------------------- */

static cJSON *filter_to_json(const qdb_filter *f)
{
    cJSON *j = cJSON_CreateObject();
    if (!j || !f)
        return j;
    const char *key = NULL;
    switch (f->kind) {
    case QDB_FILTER_ALL:
        if (!cJSON_AddBoolToObject(j, "all", 1))
            goto fail;
        return j;
    case QDB_FILTER_TYPE: key = "type"; break;
    case QDB_FILTER_NAME: key = "name"; break;
    case QDB_FILTER_SCOPE: key = "scope"; break;
    case QDB_FILTER_REGEX: key = "regex"; break;
    case QDB_FILTER_INDEX: {
        int r[2] = {f->lo, f->hi};
        cJSON *a = cJSON_CreateIntArray(r, 2);
        if (!a)
            goto fail;
        cJSON_AddItemToObject(j, "index", a);
        return j;
    }
    case QDB_FILTER_NOT: {
        cJSON *a = filter_to_json(f->a);
        if (!a)
            goto fail;
        cJSON_AddItemToObject(j, "not", a);
        return j;
    }
    case QDB_FILTER_AND:
    case QDB_FILTER_OR: {
        cJSON *arr = cJSON_CreateArray(), *a = NULL, *b = NULL;
        if (!arr || !(a = filter_to_json(f->a)) || !(b = filter_to_json(f->b))) {
            cJSON_Delete(arr);
            cJSON_Delete(a);
            goto fail;
        }
        cJSON_AddItemToArray(arr, a);
        cJSON_AddItemToArray(arr, b);
        cJSON_AddItemToObject(j, f->kind == QDB_FILTER_AND ? "and" : "or", arr);
        return j;
    }
    }
    if (!cJSON_AddStringToObject(j, key, f->text ? f->text : ""))
        goto fail;
    return j;
fail:
    cJSON_Delete(j);
    return NULL;
}

/* An action's value: a JSON number when its text is a plain finite number
 * (bits, thresholds), else its canonical text ("KL", "on", "inf"). */
static cJSON *action_value_json(const qdb_action *a)
{
    char v[64], *end;
    qdb_layer_attr_value_format(a->attr, a->value, v, sizeof v);
    double d = strtod(v, &end);
    if (end != v && !*end && isfinite(d))
        return cJSON_CreateNumber(d);
    return cJSON_CreateString(v);
}

cJSON *qdb_rule_to_json(const qdb_rule *r)
{
    if (!r)
        return NULL;
    char *text = qdb_rule_format(r);
    cJSON *j = cJSON_CreateObject(), *f = NULL, *acts = NULL;
    if (!text || !j || !cJSON_AddStringToObject(j, "text", text) ||
        !cJSON_AddBoolToObject(j, "enabled", r->enabled != 0))
        goto fail;
    if (!(f = filter_to_json(r->filter)))
        goto fail;
    cJSON_AddItemToObject(j, "filter", f);
    if (!(acts = cJSON_CreateObject()))
        goto fail;
    cJSON_AddItemToObject(j, "actions", acts);
    for (int i = 0; i < r->n_actions; i++) {
        cJSON *v = action_value_json(&r->actions[i]);
        if (!v)
            goto fail;
        cJSON_AddItemToObject(acts, qdb_layer_attr_name(r->actions[i].attr), v);
    }
    free(text);
    return j;
fail:
    free(text);
    cJSON_Delete(j);
    return NULL;
}

/* Do the JSON "actions" say what the rule's actions say? */
static int actions_agree(const cJSON *acts, const qdb_rule *r)
{
    if (!cJSON_IsObject(acts) || cJSON_GetArraySize(acts) != r->n_actions)
        return 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, acts) {
        int a = it->string ? qdb_layer_attr_parse(it->string) : -1;
        const qdb_action *ra = a >= 0 ? find_action(r, (qdb_layer_attr)a) : NULL;
        if (!ra)
            return 0;
        char text[64];
        if (cJSON_IsNumber(it))
            snprintf(text, sizeof text, "%.17g", it->valuedouble);
        else if (cJSON_IsString(it))
            snprintf(text, sizeof text, "%s", it->valuestring);
        else
            return 0;
        double v;
        if (qdb_layer_attr_value_parse((qdb_layer_attr)a, text, &v, NULL) || v != ra->value)
            return 0;
    }
    return 1;
}

qdb_rule *qdb_rule_from_json(const cJSON *j, qdb_err *e)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
    if (!cJSON_IsObject(j) || !cJSON_IsString(text)) {
        qdb_err_set(e, QDB_ERR_FORMAT, "rule JSON: expected an object with a string \"text\"");
        return NULL;
    }
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(j, "enabled");
    if (en && !cJSON_IsBool(en)) {
        qdb_err_set(e, QDB_ERR_FORMAT, "rule JSON: \"enabled\" must be true or false");
        return NULL;
    }
    qdb_rule *r = qdb_rule_parse(text->valuestring, e);
    if (!r)
        return NULL;
    r->enabled = en ? cJSON_IsTrue(en) : 1;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "filter");
    if (f) {
        cJSON *mine = filter_to_json(r->filter);
        if (!mine) {
            qdb_err_set(e, QDB_ERR_NOMEM, "rule JSON: out of memory");
            goto fail;
        }
        int same = cJSON_Compare(f, mine, 1);
        cJSON_Delete(mine);
        if (!same) {
            qdb_err_set(e, QDB_ERR_FORMAT, "rule JSON: \"filter\" does not agree with \"text\" '%s'",
                        text->valuestring);
            goto fail;
        }
    }
    const cJSON *acts = cJSON_GetObjectItemCaseSensitive(j, "actions");
    if (acts && !actions_agree(acts, r)) {
        qdb_err_set(e, QDB_ERR_FORMAT, "rule JSON: \"actions\" do not agree with \"text\" '%s'",
                    text->valuestring);
        goto fail;
    }
    return r;
fail:
    qdb_rule_free(r);
    return NULL;
}
