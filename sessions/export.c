/* export.c - the quantization spec and the reproducing script (see
 * export.h). */
#include "export.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "quant_config.h"
#include "rule.h"

/* ---- the spec ---- */

static cJSON *qparams_json(const qdb_qparams *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "method", qdb_quant_method_name(p->method));
    cJSON_AddNumberToObject(o, "bits", p->n_bits);
    if (p->method == QDB_QM_UNIFORM) {
        cJSON_AddNumberToObject(o, "min", p->min);
        cJSON_AddNumberToObject(o, "max", p->max);
    } else {
        cJSON_AddBoolToObject(o, "signed", p->is_signed);
        cJSON_AddNumberToObject(o, "threshold", p->threshold);
    }
    qdb_qgrid g = qdb_qgrid_make(p);
    cJSON_AddNumberToObject(o, "step", g.delta);
    cJSON_AddNumberToObject(o, "lowest", g.lo);
    cJSON_AddNumberToObject(o, "highest", qdb_qgrid_hi(&g));
    return o;
}

static cJSON *layer_json(const qdb_qmodel *q, int L)
{
    const qdb_qlayer *l = &q->layers[L];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "index", L);
    cJSON_AddStringToObject(o, "name", l->name);
    cJSON_AddStringToObject(o, "op", l->op);
    cJSON *act = l->act_active ? qparams_json(&l->act_qp) : cJSON_CreateObject();
    if (act) {
        cJSON_AddBoolToObject(act, "quantized", l->act_active);
        cJSON_AddStringToObject(act, "error_method", qdb_error_method_name(l->act.error_method));
        if (l->act_prescale != 1.0)
            cJSON_AddNumberToObject(act, "input_scale", l->act_prescale);
        cJSON_AddItemToObject(o, "activation", act);
    }
    if (l->w_value >= 0) {
        cJSON *w = cJSON_CreateObject();
        if (w) {
            cJSON_AddBoolToObject(w, "quantized", l->wcfg.enabled && l->n_w_qp > 0);
            cJSON_AddNumberToObject(w, "bits", l->wcfg.n_bits);
            cJSON_AddStringToObject(w, "method", qdb_quant_method_name(l->wcfg.method));
            cJSON_AddStringToObject(w, "error_method", qdb_error_method_name(l->wcfg.error_method));
            cJSON_AddBoolToObject(w, "per_channel", l->wcfg.per_channel);
            cJSON_AddNumberToObject(w, "channel_axis", l->w_axis);
            cJSON *ch = cJSON_AddArrayToObject(w, "channels");
            for (int c = 0; ch && c < l->n_w_qp; c++)
                cJSON_AddItemToArray(ch, qparams_json(&l->w_qp[c]));
            cJSON_AddItemToObject(o, "weights", w);
        }
    }
    cJSON *prov = cJSON_CreateObject();
    if (prov) {
        for (int a = 0; a < QDB_LA_COUNT; a++)
            if (l->prov[a] >= 0)
                cJSON_AddNumberToObject(prov, qdb_layer_attr_name((qdb_layer_attr)a), l->prov[a] + 1);
        cJSON_AddItemToObject(o, "set_by_rule", prov);
    }
    return o;
}

cJSON *qdb_export_spec_json(const qdb_session *s)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddNumberToObject(root, "qdb_quant_spec", 1);
    cJSON_AddStringToObject(root, "model", s->model);
    cJSON_AddItemToObject(root, "config", qdb_export_config_json(&s->q->cfg));
    cJSON *rules = cJSON_AddArrayToObject(root, "rules");
    for (int i = 0; rules && i < s->rs->n; i++)
        cJSON_AddItemToArray(rules, qdb_rule_to_json(s->rs->rules[i]));
    if (s->ready) {
        cJSON *acc = cJSON_AddObjectToObject(root, "accuracy");
        if (acc) {
            cJSON_AddNumberToObject(acc, "float", s->float_score);
            cJSON_AddNumberToObject(acc, "baseline", s->baseline);
            cJSON_AddNumberToObject(acc, "quantized", s->current);
            cJSON_AddBoolToObject(acc, "labelled", s->fr.labelled);
        }
    }
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int L = 0; layers && L < s->q->n_layers; L++)
        cJSON_AddItemToArray(layers, layer_json(s->q, L));
    return root;
}

cJSON *qdb_export_config_json(const qdb_quant_config *c)
{
    cJSON *o = cJSON_CreateObject();
    for (int k = 0; o && k < qdb_config_key_count(); k++) {
        char v[64];
        const qdb_config_key *key = qdb_config_key_at(k);
        qdb_quant_config_get(c, key, v, sizeof v);
        cJSON_AddStringToObject(o, key->name, v);
    }
    return o;
}

/* Write text atomically. */
static qdb_status write_text(const char *path, const char *text, qdb_err *e)
{
    qdb_atomic_file af;
    qdb_status st = qdb_atomic_open(&af, path, e);
    if (st != QDB_OK)
        return st;
    if (fputs(text, af.f) == EOF) {
        qdb_atomic_abort(&af);
        return qdb_err_set(e, QDB_ERR_IO, "%s: write failed", path);
    }
    return qdb_atomic_commit(&af, e);
}

qdb_status qdb_export_spec(const qdb_session *s, const char *path, qdb_err *e)
{
    if (!s->q->quantized)
        return qdb_err_set(e, QDB_ERR_INVALID, "the model is not quantized yet");
    cJSON *j = qdb_export_spec_json(s);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    size_t n = strlen(text);
    char *t2 = realloc(text, n + 2);
    if (!t2) {
        free(text);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    t2[n] = '\n';
    t2[n + 1] = 0;
    qdb_status st = write_text(path, t2, e);
    free(t2);
    return st;
}

/* ---- the script ---- */

typedef struct {
    char *t;
    size_t len, cap;
    int oom;
} sbuf;

__attribute__((format(printf, 2, 3))) static void put(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->oom)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *t = realloc(b->t, cap);
        if (!t) {
            b->oom = 1;
            return;
        }
        b->t = t;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->t + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* A word as a shell reads it back: bare when it holds nothing special,
 * else in single quotes (a quote inside as '\''). */
static void put_word(sbuf *b, const char *w)
{
    int plain = *w != 0;
    for (const char *c = w; *c; c++)
        plain &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 strchr("-_./,:=+%@", *c) != NULL;
    if (plain) {
        put(b, "%s", w);
        return;
    }
    put(b, "'");
    for (const char *c = w; *c; c++) {
        if (*c == '\'')
            put(b, "'\\''");
        else
            put(b, "%c", *c);
    }
    put(b, "'");
}

static void put_run_line(sbuf *b, const qdb_session *s, const char *file)
{
    put(b, "qdb run ");
    put_word(b, file);
    put(b, " ");
    put_word(b, s->model);
    for (int i = 0; i < s->n_origin; i++) {
        put(b, " ");
        put_word(b, s->origin[i]);
    }
}

char *qdb_export_run_line(const qdb_session *s, const char *file)
{
    sbuf b = {0};
    put_run_line(&b, s, file);
    if (b.oom) {
        free(b.t);
        return NULL;
    }
    return b.t;
}

char *qdb_export_script_text(const qdb_session *s)
{
    sbuf b = {0};
    put(&b, "# qdb session script: reproduces the investigation from scratch.\n# run: ");
    put_run_line(&b, s, "THIS_FILE");
    put(&b, "\n");
    if (s->ready)
        put(&b, "# recorded: float %.2f %%, baseline %.2f %%, quantized %.2f %%\n",
            100.0 * s->float_score, 100.0 * s->baseline, 100.0 * s->current);
    /* global parameters that differ from the defaults */
    qdb_quant_config def;
    qdb_quant_config_init(&def);
    for (int k = 0; k < qdb_config_key_count(); k++) {
        const qdb_config_key *key = qdb_config_key_at(k);
        char a[64], d[64];
        qdb_quant_config_get(&s->q->cfg, key, a, sizeof a);
        qdb_quant_config_get(&def, key, d, sizeof d);
        if (strcmp(a, d))
            put(&b, "set %s=%s\n", key->name, a);
    }
    for (int i = 0; i < s->rs->n; i++) {
        char *t = qdb_rule_format(s->rs->rules[i]);
        if (!t) {
            b.oom = 1;
            break;
        }
        put(&b, "rule %s\n", t);
        if (!s->rs->rules[i]->enabled)
            put(&b, "disable %d\n", i + 1);
        free(t);
    }
    put(&b, "status\n");
    if (b.oom) {
        free(b.t);
        return NULL;
    }
    return b.t;
}

qdb_status qdb_export_script(const qdb_session *s, const char *path, qdb_err *e)
{
    char *t = qdb_export_script_text(s);
    if (!t)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    qdb_status st = write_text(path, t, e);
    free(t);
    return st;
}
