/* session_file.c - saving and loading whole investigations (see
 * session_file.h). Loading never trusts the file: every field is checked
 * for its type and range before anything is built, sizes are bounded, and
 * the first problem is reported with the file and the field's path. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "session_file.h"

#include <errno.h>
#include <math.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "atomic_file.h"
#include "calib_stats.h"
#include "export.h"
#include "onnx_import.h"
#include "rule.h"

#define MAX_ITEMS 100000 /* rules, history entries, origin flags */

void qdb_session_ui_free(qdb_session_ui *u)
{
    free(u->selected);
    free(u->sort);
    free(u->pane);
    free(u->filter);
    memset(u, 0, sizeof *u);
}

void qdb_session_desc_free(qdb_session_desc *d)
{
    free(d->model);
    free(d->sha256);
    free(d->stats_path);
    if (d->have_sens)
        qdb_sensitivity_free(&d->sens);
    if (d->have_bisect)
        qdb_bisect_free(&d->bis);
    for (int i = 0; i < d->n_origin; i++)
        free(d->origin[i]);
    free(d->origin);
    qdb_ruleset_free(d->rs);
    qdb_history_clear(&d->hist);
    qdb_session_ui_free(&d->ui);
    memset(d, 0, sizeof *d);
}

/* ---- hashing ---- */

qdb_status qdb_file_sha256(const char *path, char out[65], qdb_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return qdb_err_set(e, QDB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct sha256_ctx c;
    sha256_init(&c);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sha256_update(&c, n, buf);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return qdb_err_set(e, QDB_ERR_IO, "%s: read error", path);
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_digest(&c, sizeof d, d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    return QDB_OK;
}

/* ---- saving ---- */

/* Numbers that may be infinite or NaN (SQNR of an exact layer, top-1
 * without labels): JSON has no such numbers, so they are strings. */
static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddStringToObject(o, k, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

static cJSON *score_json(const qdb_probe_score *p)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        add_num(o, "top1", p->top1);
        add_num(o, "agreement", p->agreement);
        add_num(o, "sqnr_db", p->sqnr_db);
        add_num(o, "score", p->score);
    }
    return o;
}

static cJSON *ints_json(const int *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static void add_sens(cJSON *root, const qdb_session *s)
{
    const qdb_sensitivity *sv = &s->sens;
    cJSON *o = cJSON_AddObjectToObject(root, "sensitivity");
    if (!o)
        return;
    cJSON_AddNumberToObject(o, "samples", (double)s->sens_n);
    cJSON_AddNumberToObject(o, "evaluations", sv->evaluations);
    cJSON_AddBoolToObject(o, "complete", sv->complete);
    cJSON_AddItemToObject(o, "float", score_json(&sv->float_s));
    cJSON_AddItemToObject(o, "quantized", score_json(&sv->quant));
    cJSON *ls = cJSON_AddArrayToObject(o, "layers");
    for (int i = 0; ls && i < sv->n; i++) {
        cJSON *l = cJSON_CreateObject();
        if (!l)
            return;
        cJSON_AddNumberToObject(l, "index", sv->layers[i].index);
        cJSON_AddBoolToObject(l, "done", sv->layers[i].done);
        cJSON_AddItemToObject(l, "only", score_json(&sv->layers[i].only));
        cJSON_AddItemToObject(l, "all_but", score_json(&sv->layers[i].all_but));
        cJSON_AddItemToArray(ls, l);
    }
}

static void add_bisect(cJSON *root, const qdb_session *s)
{
    const qdb_bisect *b = &s->bis;
    cJSON *o = cJSON_AddObjectToObject(root, "bisect");
    if (!o)
        return;
    cJSON_AddNumberToObject(o, "samples", (double)s->bis_n);
    cJSON_AddStringToObject(o, "raise", s->bis_raise == QDB_RAISE_16BIT ? "16" : "float");
    cJSON_AddNumberToObject(o, "layers", b->n_layers);
    add_num(o, "target", b->target);
    cJSON_AddItemToObject(o, "float", score_json(&b->float_s));
    cJSON_AddItemToObject(o, "quantized", score_json(&b->base));
    cJSON_AddItemToObject(o, "final", score_json(&b->final));
    cJSON_AddBoolToObject(o, "found", b->found);
    cJSON_AddItemToObject(o, "culprits", ints_json(b->culprits, b->n_culprits));
    cJSON *al = cJSON_AddArrayToObject(o, "alone");
    for (int i = 0; al && i < b->n_culprits; i++)
        cJSON_AddItemToArray(al, cJSON_CreateNumber(isfinite(b->alone[i]) ? b->alone[i] : 0));
    cJSON *st = cJSON_AddArrayToObject(o, "steps");
    for (int i = 0; st && i < b->n_steps; i++) {
        cJSON *x = cJSON_CreateObject();
        if (!x)
            return;
        cJSON_AddItemToObject(x, "raised", ints_json(b->steps[i].raised, b->steps[i].n_raised));
        cJSON_AddItemToObject(x, "score", score_json(&b->steps[i].s));
        cJSON_AddBoolToObject(x, "passed", b->steps[i].passed);
        cJSON_AddItemToArray(st, x);
    }
    cJSON_AddNumberToObject(o, "evaluations", b->evaluations);
}

/* The sidecar's name: the session file's plus its content's CRC-32 and
 * ".stats". A save never overwrites the sidecar the previous file names:
 * until the new JSON is in place, the old JSON and its sidecar still go
 * together. */
static char *stats_name(const char *path, uint32_t crc)
{
    size_t n = strlen(path) + 32;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s.%08x.stats", path, crc);
    return p;
}

/* Is `side` a sidecar of the session file `path` (PATH.XXXXXXXX.stats in
 * the same directory)? A copied or hand-edited session may name another
 * file: that one is never removed. */
static int own_sidecar(const char *path, const char *side)
{
    size_t n = strlen(path);
    if (strncmp(side, path, n) || side[n] != '.' || strlen(side + n) != 15)
        return 0;
    return strspn(side + n + 1, "0123456789abcdef") == 8 && !strcmp(side + n + 9, ".stats");
}

/* The sidecar an existing session file names (its full path), or NULL. */
static char *old_sidecar(const char *path)
{
    void *buf = NULL;
    size_t len = 0;
    if (qdb_read_file(path, QDB_SESSION_MAX_BYTES, &buf, &len, NULL) != QDB_OK)
        return NULL;
    cJSON *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "stats"), "file");
    char *out = NULL;
    if (cJSON_IsString(f) && f->valuestring && !strchr(f->valuestring, '/')) {
        const char *slash = strrchr(path, '/');
        size_t n = (slash ? (size_t)(slash - path) + 1 : 0) + strlen(f->valuestring) + 1;
        if ((out = malloc(n)))
            snprintf(out, n, "%.*s%s", slash ? (int)(slash - path) + 1 : 0, path, f->valuestring);
    }
    cJSON_Delete(root);
    return out;
}

static cJSON *save_json(const qdb_session *s, const qdb_session_ui *ui, const char *stats_file,
                        size_t stats_bytes, uint32_t stats_crc, qdb_err *e)
{
    char hash[65];
    if (qdb_file_sha256(s->model, hash, e) != QDB_OK)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        goto nomem;
    cJSON_AddNumberToObject(root, "qdb_session", QDB_SESSION_VERSION);
    cJSON *m = cJSON_AddObjectToObject(root, "model");
    if (!m)
        goto nomem;
    /* absolute, so that the session opens from any directory */
    char *abs = realpath(s->model, NULL);
    cJSON_AddStringToObject(m, "path", abs ? abs : s->model);
    free(abs);
    cJSON_AddStringToObject(m, "sha256", hash);
    cJSON *o = cJSON_AddArrayToObject(root, "origin");
    for (int i = 0; o && i < s->n_origin; i++)
        cJSON_AddItemToArray(o, cJSON_CreateString(s->origin[i]));
    cJSON_AddItemToObject(root, "config", qdb_export_config_json(&s->q->cfg));
    cJSON *rules = cJSON_AddArrayToObject(root, "rules");
    for (int i = 0; rules && i < s->rs->n; i++) {
        char *t = qdb_rule_format(s->rs->rules[i]);
        cJSON *r = cJSON_CreateObject();
        if (!t || !r) {
            free(t);
            cJSON_Delete(r);
            goto nomem;
        }
        cJSON_AddStringToObject(r, "text", t);
        cJSON_AddBoolToObject(r, "enabled", s->rs->rules[i]->enabled);
        cJSON_AddItemToArray(rules, r);
        free(t);
    }
    cJSON *h = cJSON_AddArrayToObject(root, "history");
    for (int i = 0; h && i < s->hist.n; i++) {
        const qdb_history_entry *x = &s->hist.e[i];
        cJSON *it = cJSON_CreateObject();
        if (!it)
            goto nomem;
        cJSON_AddStringToObject(it, "label", x->label);
        cJSON *rr = cJSON_AddArrayToObject(it, "rules");
        for (int k = 0; rr && k < x->n_rules; k++)
            cJSON_AddItemToArray(rr, cJSON_CreateString(x->rules[k]));
        cJSON_AddNumberToObject(it, "score", x->score);
        cJSON_AddNumberToObject(it, "float", x->float_score);
        cJSON_AddItemToArray(h, it);
    }
    if (s->ready) {
        cJSON *f = cJSON_AddObjectToObject(root, "figures");
        if (f) {
            cJSON_AddNumberToObject(f, "float", s->float_score);
            cJSON_AddNumberToObject(f, "baseline", s->baseline);
            cJSON_AddNumberToObject(f, "quantized", s->current);
            cJSON_AddBoolToObject(f, "labelled", s->fr.labelled);
        }
    }
    if (s->have_sens)
        add_sens(root, s);
    if (s->have_bisect)
        add_bisect(root, s);
    if (stats_file) {
        cJSON *st = cJSON_AddObjectToObject(root, "stats");
        if (st) {
            const char *b = strrchr(stats_file, '/');
            cJSON_AddStringToObject(st, "file", b ? b + 1 : stats_file);
            cJSON_AddNumberToObject(st, "bytes", (double)stats_bytes);
            cJSON_AddNumberToObject(st, "crc32", stats_crc);
        }
    }
    if (ui) {
        cJSON *u = cJSON_AddObjectToObject(root, "ui");
        if (u) {
            if (ui->selected)
                cJSON_AddStringToObject(u, "selected", ui->selected);
            if (ui->sort)
                cJSON_AddStringToObject(u, "sort", ui->sort);
            if (ui->pane)
                cJSON_AddStringToObject(u, "pane", ui->pane);
            if (ui->filter)
                cJSON_AddStringToObject(u, "filter", ui->filter);
        }
    }
    return root;
nomem:
    cJSON_Delete(root);
    qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    return NULL;
}

qdb_status qdb_session_save(const qdb_session *s, const char *path, qdb_err *e)
{
    /* the statistics first, under a name of their own; then the JSON that
     * names them; then the sidecar the previous file named goes */
    char *sname = NULL, *old = old_sidecar(path);
    size_t slen = 0;
    uint32_t scrc = 0;
    qdb_status st = QDB_OK;
    if (s->q->calibrated) {
        void *blob = NULL;
        if ((st = qdb_calib_stats_encode(s->q, &blob, &slen, e)) == QDB_OK) {
            scrc = (uint32_t)crc32(0L, blob, (uInt)slen);
            if (!(sname = stats_name(path, scrc))) {
                st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
            } else {
                qdb_atomic_file af;
                if ((st = qdb_atomic_open(&af, sname, e)) == QDB_OK) {
                    if (fwrite(blob, 1, slen, af.f) != slen) {
                        qdb_atomic_abort(&af);
                        st = qdb_err_set(e, QDB_ERR_IO, "%s: write failed", sname);
                    } else {
                        st = qdb_atomic_commit(&af, e);
                    }
                }
                if (st != QDB_OK)
                    qdb_err_prefix(e, "saving %s: ", path);
            }
        }
        free(blob);
        if (st != QDB_OK)
            goto done;
    }
    cJSON *j = save_json(s, &s->ui, sname, slen, scrc, e);
    if (!j) {
        st = e && e->code ? e->code : QDB_ERR_NOMEM;
        goto failed;
    }
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto failed;
    }
    qdb_atomic_file af;
    st = qdb_atomic_open(&af, path, e);
    if (st == QDB_OK) {
        if (fputs(text, af.f) == EOF || fputc('\n', af.f) == EOF) {
            qdb_atomic_abort(&af);
            st = qdb_err_set(e, QDB_ERR_IO, "%s: write failed", path);
        } else {
            st = qdb_atomic_commit(&af, e);
        }
    }
    free(text);
    if (st != QDB_OK)
        goto failed;
    if (old && (!sname || strcmp(old, sname)) && own_sidecar(path, old))
        unlink(old); /* nothing names it any more */
    goto done;
failed:
    /* the previous file stays, with the sidecar it names */
    if (sname && (!old || strcmp(old, sname)))
        unlink(sname);
done:
    free(sname);
    free(old);
    return st;
}

qdb_status qdb_session_load_stats(qdb_session *s, const qdb_session_desc *d, qdb_err *e)
{
    if (!d->stats_path)
        return qdb_err_set(e, QDB_ERR_INVALID, "the session has no statistics");
    void *buf = NULL;
    size_t len = 0;
    qdb_status st = qdb_read_file(d->stats_path, (size_t)1 << 31, &buf, &len, e);
    if (st != QDB_OK)
        return st;
    if ((double)len != d->stats_bytes || (uint32_t)crc32(0L, buf, (uInt)len) != d->stats_crc)
        st = qdb_err_set(e, QDB_ERR_FORMAT,
                         "%s: not the statistics this session was saved with (size or checksum)",
                         d->stats_path);
    else
        st = qdb_calib_stats_decode(s->q, buf, len, d->stats_path, e);
    free(buf);
    return st;
}

/* ---- loading ---- */

/* Field access with messages naming the file and the field. */
typedef struct {
    const char *file;
    qdb_err *e;
} ld;

static qdb_status bad(ld *c, const char *field, const char *expected)
{
    return qdb_err_set(c->e, QDB_ERR_FORMAT, "%s: field '%s': expected %s", c->file, field,
                       expected);
}

static const cJSON *need(ld *c, const cJSON *o, const char *key, const char *field, int type_ok,
                         const char *expected, qdb_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || !type_ok) {
        *st = bad(c, field, expected);
        return NULL;
    }
    return v;
}

/* A string field (required unless opt), copied into *out. */
static qdb_status get_string(ld *c, const cJSON *o, const char *key, const char *field, int opt,
                             char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (opt)
            return QDB_OK;
        return bad(c, field, "a string (it is missing)");
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return bad(c, field, "a string");
    if (!(*out = strdup(v->valuestring)))
        return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
    return QDB_OK;
}

static qdb_status get_number(ld *c, const cJSON *o, const char *key, const char *field, double lo,
                             double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || !cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi) {
        char what[96];
        snprintf(what, sizeof what, "a number from %g to %g%s", lo, hi, v ? "" : " (it is missing)");
        return bad(c, field, what);
    }
    *out = v->valuedouble;
    return QDB_OK;
}

/* An array field with at most MAX_ITEMS entries (NULL *out when absent and
 * optional). */
static qdb_status get_array(ld *c, const cJSON *o, const char *key, const char *field, int opt,
                            const cJSON **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v)
        return opt ? QDB_OK : bad(c, field, "an array (it is missing)");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > MAX_ITEMS)
        return bad(c, field, "an array of at most 100000 entries");
    *out = v;
    return QDB_OK;
}

/* A number that may be written as "inf", "-inf" or "nan". */
static qdb_status get_num_ext(ld *c, const cJSON *o, const char *key, const char *field,
                              double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        *out = v->valuedouble;
        return QDB_OK;
    }
    if (cJSON_IsString(v) && v->valuestring) {
        if (!strcmp(v->valuestring, "inf"))
            *out = INFINITY;
        else if (!strcmp(v->valuestring, "-inf"))
            *out = -INFINITY;
        else if (!strcmp(v->valuestring, "nan"))
            *out = NAN;
        else
            return bad(c, field, "a number, \"inf\", \"-inf\" or \"nan\"");
        return QDB_OK;
    }
    return bad(c, field, "a number, \"inf\", \"-inf\" or \"nan\"");
}

static qdb_status get_score(ld *c, const cJSON *o, const char *key, const char *field,
                            qdb_probe_score *p)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char f[160];
    if (!cJSON_IsObject(v))
        return bad(c, field, "an object {top1, agreement, sqnr_db, score}");
    qdb_status st;
    snprintf(f, sizeof f, "%s.top1", field);
    if ((st = get_num_ext(c, v, "top1", f, &p->top1)) != QDB_OK)
        return st;
    snprintf(f, sizeof f, "%s.agreement", field);
    if ((st = get_num_ext(c, v, "agreement", f, &p->agreement)) != QDB_OK)
        return st;
    snprintf(f, sizeof f, "%s.sqnr_db", field);
    if ((st = get_num_ext(c, v, "sqnr_db", f, &p->sqnr_db)) != QDB_OK)
        return st;
    snprintf(f, sizeof f, "%s.score", field);
    return get_number(c, v, "score", f, 0, 1, &p->score);
}

/* An array of layer indices in [0, n) (at most n of them). */
static qdb_status get_indices(ld *c, const cJSON *o, const char *key, const char *field, int n,
                              int **out, int *count)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > n)
        return bad(c, field, "an array of layer indices");
    int k = cJSON_GetArraySize(a);
    if (!(*out = calloc((size_t)(k ? k : 1), sizeof **out)))
        return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
    *count = 0;
    for (int i = 0; i < k; i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 0 ||
            x->valuedouble >= n)
            return bad(c, field, "layer indices of the model");
        (*out)[(*count)++] = (int)x->valuedouble;
    }
    return QDB_OK;
}

static qdb_status parse_sens(ld *c, const cJSON *o, qdb_session_desc *d)
{
    qdb_status st;
    double v;
    qdb_sensitivity *sv = &d->sens;
    d->have_sens = 1;
    if (!cJSON_IsObject(o))
        return bad(c, "sensitivity", "an object");
    if ((st = get_number(c, o, "samples", "sensitivity.samples", 0, 1e15, &v)) != QDB_OK)
        return st;
    d->sens_n = (int64_t)v;
    if ((st = get_number(c, o, "evaluations", "sensitivity.evaluations", 0, 1e9, &v)) != QDB_OK)
        return st;
    sv->evaluations = (int)v;
    const cJSON *cp = cJSON_GetObjectItemCaseSensitive(o, "complete");
    sv->complete = cJSON_IsTrue(cp);
    if ((st = get_score(c, o, "float", "sensitivity.float", &sv->float_s)) != QDB_OK ||
        (st = get_score(c, o, "quantized", "sensitivity.quantized", &sv->quant)) != QDB_OK)
        return st;
    const cJSON *ls;
    if ((st = get_array(c, o, "layers", "sensitivity.layers", 0, &ls)) != QDB_OK)
        return st;
    int n = cJSON_GetArraySize(ls);
    if (!(sv->layers = calloc((size_t)(n ? n : 1), sizeof *sv->layers)))
        return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const cJSON *l = cJSON_GetArrayItem(ls, i);
        char f[96];
        snprintf(f, sizeof f, "sensitivity.layers[%d]", i);
        if (!cJSON_IsObject(l))
            return bad(c, f, "an object");
        char f2[128];
        snprintf(f2, sizeof f2, "%s.index", f);
        if ((st = get_number(c, l, "index", f2, 0, 1e7, &v)) != QDB_OK)
            return st;
        sv->layers[i].index = (int)v;
        sv->layers[i].done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(l, "done"));
        snprintf(f2, sizeof f2, "%s.only", f);
        if ((st = get_score(c, l, "only", f2, &sv->layers[i].only)) != QDB_OK)
            return st;
        snprintf(f2, sizeof f2, "%s.all_but", f);
        if ((st = get_score(c, l, "all_but", f2, &sv->layers[i].all_but)) != QDB_OK)
            return st;
        sv->n++;
    }
    return QDB_OK;
}

static qdb_status parse_bisect(ld *c, const cJSON *o, qdb_session_desc *d)
{
    qdb_status st;
    double v;
    qdb_bisect *b = &d->bis;
    d->have_bisect = 1;
    if (!cJSON_IsObject(o))
        return bad(c, "bisect", "an object");
    if ((st = get_number(c, o, "samples", "bisect.samples", 0, 1e15, &v)) != QDB_OK)
        return st;
    d->bis_n = (int64_t)v;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "raise");
    if (!cJSON_IsString(r) || (strcmp(r->valuestring, "float") && strcmp(r->valuestring, "16")))
        return bad(c, "bisect.raise", "\"float\" or \"16\"");
    d->bis_raise = !strcmp(r->valuestring, "16") ? QDB_RAISE_16BIT : QDB_RAISE_FLOAT;
    if ((st = get_number(c, o, "layers", "bisect.layers", 0, 1e7, &v)) != QDB_OK)
        return st;
    b->n_layers = (int)v;
    if ((st = get_num_ext(c, o, "target", "bisect.target", &b->target)) != QDB_OK ||
        (st = get_score(c, o, "float", "bisect.float", &b->float_s)) != QDB_OK ||
        (st = get_score(c, o, "quantized", "bisect.quantized", &b->base)) != QDB_OK ||
        (st = get_score(c, o, "final", "bisect.final", &b->final)) != QDB_OK)
        return st;
    b->found = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "found"));
    if ((st = get_indices(c, o, "culprits", "bisect.culprits", b->n_layers, &b->culprits,
                          &b->n_culprits)) != QDB_OK)
        return st;
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(o, "alone");
    if (!cJSON_IsArray(al) || cJSON_GetArraySize(al) != b->n_culprits)
        return bad(c, "bisect.alone", "one score per culprit");
    if (!(b->alone = calloc((size_t)(b->n_culprits ? b->n_culprits : 1), sizeof *b->alone)))
        return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < b->n_culprits; i++) {
        const cJSON *x = cJSON_GetArrayItem(al, i);
        if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0 && x->valuedouble <= 1))
            return bad(c, "bisect.alone", "scores from 0 to 1");
        b->alone[i] = x->valuedouble;
    }
    const cJSON *steps;
    if ((st = get_array(c, o, "steps", "bisect.steps", 0, &steps)) != QDB_OK)
        return st;
    int n = cJSON_GetArraySize(steps);
    if (!(b->steps = calloc((size_t)(n ? n : 1), sizeof *b->steps)))
        return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const cJSON *x = cJSON_GetArrayItem(steps, i);
        char f[96];
        snprintf(f, sizeof f, "bisect.steps[%d]", i);
        if (!cJSON_IsObject(x))
            return bad(c, f, "an object");
        qdb_bisect_step *sp = &b->steps[i];
        b->n_steps++;
        char f2[128];
        snprintf(f2, sizeof f2, "%s.raised", f);
        if ((st = get_indices(c, x, "raised", f2, b->n_layers, &sp->raised, &sp->n_raised)) != QDB_OK)
            return st;
        snprintf(f2, sizeof f2, "%s.score", f);
        if ((st = get_score(c, x, "score", f2, &sp->s)) != QDB_OK)
            return st;
        sp->passed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "passed"));
    }
    if ((st = get_number(c, o, "evaluations", "bisect.evaluations", 0, 1e9, &v)) != QDB_OK)
        return st;
    b->evaluations = (int)v;
    return QDB_OK;
}

/* Version 0 files (written before "figures" and "ui" existed) had no
 * "model" object but "model_path" and "model_sha256": rewrite them in
 * place to the current layout. */
static qdb_status migrate(ld *c, cJSON *root, int *version)
{
    if (*version == 0) {
        cJSON *p = cJSON_DetachItemFromObjectCaseSensitive(root, "model_path");
        cJSON *h = cJSON_DetachItemFromObjectCaseSensitive(root, "model_sha256");
        cJSON *m = cJSON_CreateObject();
        if (!m) {
            cJSON_Delete(p);
            cJSON_Delete(h);
            return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
        }
        if (p)
            cJSON_AddItemToObject(m, "path", p);
        if (h)
            cJSON_AddItemToObject(m, "sha256", h);
        cJSON_AddItemToObject(root, "model", m);
        *version = 1;
    }
    return QDB_OK;
}

/* The model file a session names: as written, else beside the session file. */
static char *resolve_model(const char *session_path, const char *model)
{
    struct stat sb;
    if (model[0] == '/' || stat(model, &sb) == 0)
        return strdup(model);
    const char *slash = strrchr(session_path, '/');
    if (!slash)
        return strdup(model);
    size_t n = (size_t)(slash - session_path) + 1 + strlen(model) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%.*s/%s", (int)(slash - session_path), session_path, model);
    if (p && stat(p, &sb) != 0) {
        free(p);
        return strdup(model);
    }
    return p;
}

static qdb_status parse(ld *c, cJSON *root, const char *path, int check_model,
                        qdb_session_desc *d)
{
    qdb_status st = QDB_OK;
    if (!cJSON_IsObject(root))
        return bad(c, "(top level)", "an object");
    double ver;
    const cJSON *vv = cJSON_GetObjectItemCaseSensitive(root, "qdb_session");
    if (!vv)
        return bad(c, "qdb_session", "the schema version (a number): this is not a qdb session file");
    if ((st = get_number(c, root, "qdb_session", "qdb_session", 0, 1e9, &ver)) != QDB_OK)
        return st;
    if (ver != floor(ver) || ver > QDB_SESSION_VERSION)
        return qdb_err_set(c->e, QDB_ERR_UNSUPPORTED,
                           "%s: field 'qdb_session': schema version %g is not one this qdb reads "
                           "(0 to %d): written by "
                           "a newer qdb?",
                           c->file, ver, QDB_SESSION_VERSION);
    d->version = (int)ver;
    if ((st = migrate(c, root, &d->version)) != QDB_OK)
        return st;
    /* model */
    const cJSON *m = need(c, root, "model", "model", cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "model")),
                          "an object with path and sha256", &st);
    if (!m)
        return st;
    char *mp = NULL;
    if ((st = get_string(c, m, "path", "model.path", 0, &mp)) != QDB_OK ||
        (st = get_string(c, m, "sha256", "model.sha256", 0, &d->sha256)) != QDB_OK) {
        free(mp);
        return st;
    }
    d->model = resolve_model(path, mp);
    free(mp);
    if (!d->model)
        return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
    if (strlen(d->sha256) != 64 || strspn(d->sha256, "0123456789abcdef") != 64)
        return bad(c, "model.sha256", "64 lowercase hexadecimal digits");
    /* origin */
    const cJSON *o;
    if ((st = get_array(c, root, "origin", "origin", 1, &o)) != QDB_OK)
        return st;
    int no = o ? cJSON_GetArraySize(o) : 0;
    if (!(d->origin = calloc((size_t)no + 1, sizeof *d->origin)))
        return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < no; i++) {
        const cJSON *it = cJSON_GetArrayItem(o, i);
        if (!cJSON_IsString(it) || !it->valuestring)
            return bad(c, "origin[]", "strings (command-line flags)");
        if (!(d->origin[i] = strdup(it->valuestring)))
            return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
        d->n_origin++;
    }
    /* config: every key known, values checked by the parameter parser */
    qdb_quant_config_init(&d->cfg);
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (cfg && !cJSON_IsObject(cfg))
        return bad(c, "config", "an object of parameter: value");
    for (const cJSON *kv = cfg ? cfg->child : NULL; kv; kv = kv->next) {
        char field[160];
        snprintf(field, sizeof field, "config.%s", kv->string ? kv->string : "?");
        if (!cJSON_IsString(kv) || !kv->valuestring)
            return bad(c, field, "a string value");
        qdb_err pe = {0};
        if (qdb_quant_config_set(&d->cfg, kv->string, kv->valuestring, &pe) != QDB_OK)
            return qdb_err_set(c->e, QDB_ERR_FORMAT, "%s: field '%s': %s", c->file, field, pe.msg);
    }
    qdb_err ce = {0};
    if (qdb_quant_config_check(&d->cfg, &ce) != QDB_OK)
        return qdb_err_set(c->e, QDB_ERR_FORMAT, "%s: field 'config': %s", c->file, ce.msg);
    /* rules: parsed and checked like typed ones */
    const cJSON *rules;
    if ((st = get_array(c, root, "rules", "rules", 1, &rules)) != QDB_OK)
        return st;
    if (!(d->rs = qdb_ruleset_new()))
        return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
    int nr = rules ? cJSON_GetArraySize(rules) : 0;
    for (int i = 0; i < nr; i++) {
        const cJSON *r = cJSON_GetArrayItem(rules, i);
        char field[64];
        snprintf(field, sizeof field, "rules[%d]", i);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "text");
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(r, "enabled");
        if (!cJSON_IsObject(r) || !cJSON_IsString(t) || !t->valuestring || (en && !cJSON_IsBool(en)))
            return bad(c, field, "an object {\"text\": RULE, \"enabled\": true|false}");
        qdb_err re = {0};
        qdb_rule *rule = qdb_rule_parse(t->valuestring, &re);
        if (!rule || qdb_rule_check(rule, &re) != QDB_OK) {
            qdb_rule_free(rule);
            return qdb_err_set(c->e, QDB_ERR_FORMAT, "%s: field '%s.text': %s", c->file, field,
                               re.msg);
        }
        rule->enabled = !en || cJSON_IsTrue(en);
        if ((st = qdb_ruleset_add(d->rs, rule, c->e)) != QDB_OK)
            return st;
    }
    /* history */
    const cJSON *h;
    if ((st = get_array(c, root, "history", "history", 1, &h)) != QDB_OK)
        return st;
    int nh = h ? cJSON_GetArraySize(h) : 0;
    for (int i = 0; i < nh; i++) {
        const cJSON *it = cJSON_GetArrayItem(h, i);
        char field[64];
        snprintf(field, sizeof field, "history[%d]", i);
        if (!cJSON_IsObject(it))
            return bad(c, field, "an object");
        const cJSON *lab = cJSON_GetObjectItemCaseSensitive(it, "label");
        const cJSON *rr = cJSON_GetObjectItemCaseSensitive(it, "rules");
        double score, fl;
        char f2[96];
        if (!cJSON_IsString(lab) || !lab->valuestring) {
            snprintf(f2, sizeof f2, "%s.label", field);
            return bad(c, f2, "a string");
        }
        if (!cJSON_IsArray(rr) || cJSON_GetArraySize(rr) > MAX_ITEMS) {
            snprintf(f2, sizeof f2, "%s.rules", field);
            return bad(c, f2, "an array of rule texts");
        }
        snprintf(f2, sizeof f2, "%s.score", field);
        if ((st = get_number(c, it, "score", f2, 0, 1, &score)) != QDB_OK)
            return st;
        snprintf(f2, sizeof f2, "%s.float", field);
        if ((st = get_number(c, it, "float", f2, 0, 1, &fl)) != QDB_OK)
            return st;
        int n = cJSON_GetArraySize(rr);
        const char **texts = calloc((size_t)(n ? n : 1), sizeof *texts);
        if (!texts)
            return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
        for (int k = 0; k < n; k++) {
            const cJSON *x = cJSON_GetArrayItem(rr, k);
            if (!cJSON_IsString(x) || !x->valuestring) {
                free(texts);
                snprintf(f2, sizeof f2, "%s.rules[%d]", field, k);
                return bad(c, f2, "a rule text");
            }
            texts[k] = x->valuestring;
        }
        st = qdb_history_add_texts(&d->hist, lab->valuestring, n, texts, score, fl, c->e);
        free(texts);
        if (st != QDB_OK)
            return st;
    }
    /* figures (for comparison after resuming) */
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "figures");
    if (f) {
        if (!cJSON_IsObject(f))
            return bad(c, "figures", "an object");
        if ((st = get_number(c, f, "float", "figures.float", 0, 1, &d->float_score)) != QDB_OK ||
            (st = get_number(c, f, "baseline", "figures.baseline", 0, 1, &d->baseline)) != QDB_OK ||
            (st = get_number(c, f, "quantized", "figures.quantized", 0, 1, &d->current)) != QDB_OK)
            return st;
        d->have_figures = 1;
    }
    /* ui */
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "ui");
    if (u) {
        if (!cJSON_IsObject(u))
            return bad(c, "ui", "an object");
        if ((st = get_string(c, u, "selected", "ui.selected", 1, &d->ui.selected)) != QDB_OK ||
            (st = get_string(c, u, "sort", "ui.sort", 1, &d->ui.sort)) != QDB_OK ||
            (st = get_string(c, u, "pane", "ui.pane", 1, &d->ui.pane)) != QDB_OK ||
            (st = get_string(c, u, "filter", "ui.filter", 1, &d->ui.filter)) != QDB_OK)
            return st;
    }
    /* the last sweep and bisection */
    const cJSON *sens = cJSON_GetObjectItemCaseSensitive(root, "sensitivity");
    if (sens && (st = parse_sens(c, sens, d)) != QDB_OK)
        return st;
    const cJSON *bis = cJSON_GetObjectItemCaseSensitive(root, "bisect");
    if (bis && (st = parse_bisect(c, bis, d)) != QDB_OK)
        return st;
    /* the statistics' sidecar, beside the session file */
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(root, "stats");
    if (sc) {
        char *file = NULL;
        double crc;
        if (!cJSON_IsObject(sc))
            return bad(c, "stats", "an object {file, bytes, crc32}");
        if ((st = get_string(c, sc, "file", "stats.file", 0, &file)) != QDB_OK)
            return st;
        if (strchr(file, '/') || !strcmp(file, "..")) {
            free(file);
            return bad(c, "stats.file", "a file name beside the session (no directories)");
        }
        if ((st = get_number(c, sc, "bytes", "stats.bytes", 20, 4294967296.0, &d->stats_bytes)) !=
                QDB_OK ||
            (st = get_number(c, sc, "crc32", "stats.crc32", 0, 4294967295.0, &crc)) != QDB_OK) {
            free(file);
            return st;
        }
        d->stats_crc = (uint32_t)crc;
        const char *slash = strrchr(path, '/');
        size_t n = (slash ? (size_t)(slash - path) + 1 : 0) + strlen(file) + 1;
        if ((d->stats_path = malloc(n)))
            snprintf(d->stats_path, n, "%.*s%s", slash ? (int)(slash - path) + 1 : 0, path, file);
        free(file);
        if (!d->stats_path)
            return qdb_err_set(c->e, QDB_ERR_NOMEM, "out of memory");
    }
    /* the model it was made with */
    if (check_model) {
        char now[65];
        if ((st = qdb_file_sha256(d->model, now, c->e)) != QDB_OK) {
            qdb_err_prefix(c->e, "%s: the session's model: ", c->file);
            return st;
        }
        if (strcmp(now, d->sha256))
            return qdb_err_set(c->e, QDB_ERR_INVALID,
                               "%s: the model %s has changed since the session was saved "
                               "(sha256 %.12s..., the session has %.12s...)",
                               c->file, d->model, now, d->sha256);
    }
    return QDB_OK;
}

/* Does the text stop before its JSON does (inside a string, or with an
 * object or array still open)? Then a parse error means a cut file. */
static int json_ends_early(const char *s, size_t len)
{
    int depth = 0, in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (ch == '\\')
                esc = 1;
            else if (ch == '"')
                in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if ((ch == '}' || ch == ']') && depth > 0) {
            depth--;
        }
    }
    return in_str || depth > 0;
}

qdb_status qdb_session_load(const char *path, int check_model, qdb_session_desc *d, qdb_err *e)
{
    memset(d, 0, sizeof *d);
    void *buf = NULL;
    size_t len = 0;
    qdb_status st = qdb_read_file(path, QDB_SESSION_MAX_BYTES, &buf, &len, e);
    if (st != QDB_OK)
        return st;
    if (len == 0) {
        free(buf);
        return qdb_err_set(e, QDB_ERR_FORMAT, "%s: the file is empty (not a qdb session)", path);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - (const char *)buf) : 0;
        st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: not valid JSON (%s at byte %zu of %zu)", path,
                         at + 1 >= len || json_ends_early(buf, len) ? "it ends early: truncated?"
                                                                     : "syntax error",
                         at, len);
        free(buf);
        return st;
    }
    ld c = {path, e};
    st = parse(&c, root, path, check_model, d);
    cJSON_Delete(root);
    free(buf);
    if (st != QDB_OK)
        qdb_session_desc_free(d);
    return st;
}

void qdb_session_adopt_history(qdb_session *s, qdb_session_desc *d)
{
    qdb_history_clear(&s->hist);
    s->hist = d->hist;
    qdb_history_init(&d->hist);
    /* the sweep and the bisection, when they fit this model's layers */
    int own = 0;
    for (int L = 0; L < s->q->n_layers; L++)
        own += s->q->layers[L].shift_of < 0;
    int fits = d->have_sens && d->sens.n == own;
    for (int i = 0; fits && i < d->sens.n; i++)
        fits = d->sens.layers[i].index >= 0 && d->sens.layers[i].index < own;
    int *rank = fits ? malloc((size_t)(own ? own : 1) * sizeof *rank) : NULL;
    if (rank) {
        qdb_sensitivity_rank(&d->sens, rank);
        if (s->have_sens)
            qdb_sensitivity_free(&s->sens);
        free(s->sens_rank);
        s->sens = d->sens;
        s->sens_rank = rank;
        s->sens_n = d->sens_n;
        s->have_sens = 1;
        memset(&d->sens, 0, sizeof d->sens);
        d->have_sens = 0;
    }
    if (d->have_bisect && d->bis.n_layers == own) {
        char *rule = d->bis.n_culprits ? qdb_bisect_rule(s->q, &d->bis, d->bis_raise) : NULL;
        if (!d->bis.n_culprits || rule) {
            if (s->have_bisect)
                qdb_bisect_free(&s->bis);
            free(s->bis_rule);
            s->bis = d->bis;
            s->bis_rule = rule;
            s->bis_raise = d->bis_raise;
            s->bis_n = d->bis_n;
            s->have_bisect = 1;
            memset(&d->bis, 0, sizeof d->bis);
            d->have_bisect = 0;
        }
    }
    s->generation++;
}

void qdb_session_file_remove(const char *path)
{
    char *side = old_sidecar(path);
    if (side && own_sidecar(path, side))
        unlink(side);
    free(side);
    unlink(path);
}
