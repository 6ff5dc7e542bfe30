/* quant_config.c - the global quantization configuration (see
 * quant_config.h): MCT's defaults, the table of keys with their help, the
 * parsing of "key=value" settings with range checks and close-match
 * suggestions for misspelt keys, and the resolution of the per-layer
 * activation and weight configurations from the global one. */
#include "quant_config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void qdb_quant_config_init(qdb_quant_config *c)
{
    memset(c, 0, sizeof *c);
    c->activation_error_method = QDB_EM_MSE;
    c->weights_error_method = QDB_EM_MSE;
    c->activation_quantization_method = QDB_QM_POWER_OF_TWO;
    c->weights_quantization_method = QDB_QM_SYMMETRIC;
    c->activation_n_bits = 8;
    c->weights_n_bits = 8;
    c->weights_per_channel_threshold = 1;
    c->enable_weights_quantization = 1;
    c->enable_activation_quantization = 1;
    c->weights_bias_correction = 1;
    c->shift_negative_activation_correction = 1;
    c->shift_negative_ratio = 0.05;
    c->shift_negative_threshold_recalculation = 0;
    c->shift_negative_params_search = 0;
    c->z_threshold = INFINITY;
    c->min_threshold = QDB_MIN_THRESHOLD_DEFAULT;
    c->l_p_value = 2.0;
    c->relu_unbound_correction = 0;
    c->input_scaling = 0;
    c->activation_channel_equalization = 0;
}

/* ---- enum names ---------------------------------------------------------- */

static const char *const em_names[QDB_EM_COUNT] = {
    [QDB_EM_NOCLIPPING] = "NOCLIPPING", [QDB_EM_MSE] = "MSE", [QDB_EM_MAE] = "MAE",
    [QDB_EM_KL] = "KL",                 [QDB_EM_LP] = "LP",   [QDB_EM_HMSE] = "HMSE",
};
static const char *const qm_names[QDB_QM_COUNT] = {
    [QDB_QM_POWER_OF_TWO] = "POWER_OF_TWO",
    [QDB_QM_SYMMETRIC] = "SYMMETRIC",
    [QDB_QM_UNIFORM] = "UNIFORM",
};
static const char *const sign_names[] = {"AUTO", "SIGNED", "UNSIGNED"};

const char *qdb_error_method_name(qdb_error_method m)
{
    return (m >= 0 && m < QDB_EM_COUNT) ? em_names[m] : "?";
}

const char *qdb_quant_method_name(qdb_quant_method m)
{
    return (m >= 0 && m < QDB_QM_COUNT) ? qm_names[m] : "?";
}

const char *qdb_signedness_name(qdb_signedness s)
{
    return (s >= QDB_SIGN_AUTO && s <= QDB_SIGN_UNSIGNED) ? sign_names[s] : "?";
}

/* Compare ignoring case and surrounding blanks. */
static int word_eq(const char *s, const char *word)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(word);
    if (strncasecmp(s, word, n) != 0)
        return 0;
    s += n;
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0';
}

int qdb_error_method_parse(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < QDB_EM_COUNT; i++)
        if (word_eq(s, em_names[i]))
            return i;
    if (word_eq(s, "NO_CLIPPING"))
        return QDB_EM_NOCLIPPING;
    return -1;
}

int qdb_quant_method_parse(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < QDB_QM_COUNT; i++)
        if (word_eq(s, qm_names[i]))
            return i;
    if (word_eq(s, "POT"))
        return QDB_QM_POWER_OF_TWO;
    if (word_eq(s, "SYMMETRIC_UNIFORM"))
        return QDB_QM_SYMMETRIC;
    return -1;
}

int qdb_signedness_parse(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < 3; i++)
        if (word_eq(s, sign_names[i]))
            return i;
    return -1;
}

/* ---- key table ----------------------------------------------------------- */

#define KEY(field, type, help) {#field, type, offsetof(qdb_quant_config, field), help}

static const qdb_config_key keys[] = {
    KEY(activation_error_method, QDB_CK_ERROR_METHOD,
        "How activation thresholds are chosen: NOCLIPPING, MSE, MAE, KL, LP or HMSE."),
    KEY(weights_error_method, QDB_CK_ERROR_METHOD,
        "How weight thresholds are chosen: NOCLIPPING, MSE, MAE, KL, LP or HMSE."),
    KEY(activation_quantization_method, QDB_CK_QUANT_METHOD,
        "Activation quantizer: POWER_OF_TWO, SYMMETRIC or UNIFORM."),
    KEY(weights_quantization_method, QDB_CK_QUANT_METHOD,
        "Weight quantizer: POWER_OF_TWO, SYMMETRIC or UNIFORM."),
    KEY(activation_n_bits, QDB_CK_INT, "Bit width of quantized activations (2 to 16)."),
    KEY(weights_n_bits, QDB_CK_INT, "Bit width of quantized weights (2 to 16)."),
    KEY(weights_per_channel_threshold, QDB_CK_BOOL,
        "One weight threshold per output channel instead of one per tensor."),
    KEY(enable_weights_quantization, QDB_CK_BOOL, "Quantize the weights at all."),
    KEY(enable_activation_quantization, QDB_CK_BOOL, "Quantize the activations at all."),
    KEY(weights_bias_correction, QDB_CK_BOOL,
        "Subtract from each bias the mean output shift that weight quantization causes."),
    KEY(shift_negative_activation_correction, QDB_CK_BOOL,
        "Shift slightly negative activations (SiLU, GELU, ...) up and quantize them unsigned."),
    KEY(shift_negative_ratio, QDB_CK_REAL,
        "Shift-negative correction fires when |min| / threshold is at most this ratio (0 to 1]."),
    KEY(shift_negative_threshold_recalculation, QDB_CK_BOOL,
        "Recompute the activation threshold after a negative shift."),
    KEY(shift_negative_params_search, QDB_CK_BOOL,
        "Search the shift and threshold of shift-negative correction for the least error."),
    KEY(z_threshold, QDB_CK_REAL,
        "Remove activation outliers beyond this z-score before threshold search (inf = off)."),
    KEY(min_threshold, QDB_CK_REAL, "Smallest threshold a search may return (> 0)."),
    KEY(l_p_value, QDB_CK_REAL, "The p of the LP error method (>= 1)."),
    KEY(relu_unbound_correction, QDB_CK_BOOL,
        "Rescale ReLU6-like bounds between linear layers to a power of two."),
    KEY(input_scaling, QDB_CK_BOOL,
        "Scale the first layer's kernel so the network input uses the whole quantized range."),
    KEY(activation_channel_equalization, QDB_CK_BOOL,
        "Equalize ReLU output channels between two convolutions using the folded BatchNorm."),
};

#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

static const struct {
    const char *alias, *name;
} aliases[] = {
    {"activation_threshold_method", "activation_error_method"},
    {"weights_threshold_method", "weights_error_method"},
};

int qdb_config_key_count(void) { return N_KEYS; }

const qdb_config_key *qdb_config_key_at(int i)
{
    return (i >= 0 && i < N_KEYS) ? &keys[i] : NULL;
}

/* Copy s without surrounding blanks into buf (truncated to n - 1). */
static void trim_copy(char *buf, size_t n, const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (len >= n)
        len = n - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
}

const qdb_config_key *qdb_config_key_find(const char *name)
{
    if (!name)
        return NULL;
    char k[128];
    trim_copy(k, sizeof k, name, strlen(name));
    for (size_t a = 0; a < sizeof aliases / sizeof aliases[0]; a++)
        if (strcasecmp(k, aliases[a].alias) == 0) {
            snprintf(k, sizeof k, "%s", aliases[a].name);
            break;
        }
    for (int i = 0; i < N_KEYS; i++)
        if (strcasecmp(k, keys[i].name) == 0)
            return &keys[i];
    return NULL;
}

/* Levenshtein distance, case-insensitive, of short strings (capped at 127). */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 127)
        la = 127;
    if (lb > 127)
        lb = 127;
    int prev[128], cur[128];
    for (int j = 0; j <= lb; j++)
        prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
    }
    return prev[lb];
}

static qdb_status unknown_key(const char *key, qdb_err *e)
{
    const char *best = NULL;
    int best_d = 1 << 30;
    for (int i = 0; i < N_KEYS; i++) {
        int d = edit_distance(key, keys[i].name);
        if (d < best_d)
            best_d = d, best = keys[i].name;
    }
    for (size_t a = 0; a < sizeof aliases / sizeof aliases[0]; a++) {
        int d = edit_distance(key, aliases[a].alias);
        if (d < best_d)
            best_d = d, best = aliases[a].alias;
    }
    int len = (int)strlen(key);
    int close = best && best_d <= (len / 3 > 3 ? len / 3 : 3);
    char list[768];
    size_t o = 0;
    list[0] = '\0';
    for (int i = 0; i < N_KEYS && o < sizeof list; i++) {
        int w = snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", keys[i].name);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    if (close)
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "unknown quantization parameter '%.64s' (did you mean '%s'?); valid keys: %s",
                           key, best, list);
    return qdb_err_set(e, QDB_ERR_INVALID, "unknown quantization parameter '%.64s'; valid keys: %s",
                       key, list);
}

/* ---- values -------------------------------------------------------------- */

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"true", "1", "on", "yes"};
    static const char *const f[] = {"false", "0", "off", "no"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0)
            return *out = 1, 1;
        if (strcasecmp(s, f[i]) == 0)
            return *out = 0, 1;
    }
    return 0;
}

static int is_key(const qdb_config_key *k, size_t off) { return k->offset == off; }
#define OFF(field) offsetof(qdb_quant_config, field)

/* Range check of a numeric value for key k. */
static qdb_status check_value(const qdb_config_key *k, double v, qdb_err *e)
{
    if (k->type == QDB_CK_INT) {
        if (!(v >= QDB_MIN_BITS && v <= QDB_MAX_BITS))
            return qdb_err_set(e, QDB_ERR_INVALID, "%s must be an integer from %d to %d (got %g)",
                               k->name, QDB_MIN_BITS, QDB_MAX_BITS, v);
        return QDB_OK;
    }
    if (k->type != QDB_CK_REAL)
        return QDB_OK;
    if (is_key(k, OFF(shift_negative_ratio)) && !(v > 0.0 && v <= 1.0))
        return qdb_err_set(e, QDB_ERR_INVALID, "shift_negative_ratio must be in (0, 1] (got %g)", v);
    if (is_key(k, OFF(z_threshold)) && !(v > 0.0))
        return qdb_err_set(e, QDB_ERR_INVALID, "z_threshold must be > 0 or inf (got %g)", v);
    if (is_key(k, OFF(min_threshold)) && !(v > 0.0 && isfinite(v)))
        return qdb_err_set(e, QDB_ERR_INVALID, "min_threshold must be a finite number > 0 (got %g)", v);
    if (is_key(k, OFF(l_p_value)) && !(v >= 1.0 && isfinite(v)))
        return qdb_err_set(e, QDB_ERR_INVALID, "l_p_value must be a finite number >= 1 (got %g)", v);
    return QDB_OK;
}

qdb_status qdb_quant_config_set(qdb_quant_config *c, const char *key, const char *value, qdb_err *e)
{
    if (!c || !key || !value)
        return qdb_err_set(e, QDB_ERR_INVALID, "quantization parameter: missing key or value");
    char kbuf[128], v[128];
    trim_copy(kbuf, sizeof kbuf, key, strlen(key));
    trim_copy(v, sizeof v, value, strlen(value));
    const qdb_config_key *k = qdb_config_key_find(kbuf);
    if (!k)
        return unknown_key(kbuf, e);
    char *field = (char *)c + k->offset;
    if (v[0] == '\0')
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: empty value", k->name);
    switch (k->type) {
    case QDB_CK_BOOL: {
        int b;
        if (!parse_bool(v, &b))
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "%s: '%.64s' is not a boolean (true/false, 1/0, on/off, yes/no)", k->name, v);
        memcpy(field, &b, sizeof b);
        return QDB_OK;
    }
    case QDB_CK_INT: {
        char *end;
        long l = strtol(v, &end, 10);
        if (end == v || *end)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: '%.64s' is not an integer", k->name, v);
        if (l < QDB_MIN_BITS || l > QDB_MAX_BITS)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s must be an integer from %d to %d (got %ld)",
                               k->name, QDB_MIN_BITS, QDB_MAX_BITS, l);
        int i = (int)l;
        memcpy(field, &i, sizeof i);
        return QDB_OK;
    }
    case QDB_CK_REAL: {
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end || isnan(d))
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: '%.64s' is not a number", k->name, v);
        qdb_status st = check_value(k, d, e);
        if (st)
            return st;
        memcpy(field, &d, sizeof d);
        return QDB_OK;
    }
    case QDB_CK_ERROR_METHOD: {
        int m = qdb_error_method_parse(v);
        if (m < 0)
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "%s: unknown error method '%.64s' (NOCLIPPING, MSE, MAE, KL, LP, HMSE)",
                               k->name, v);
        qdb_error_method em = (qdb_error_method)m;
        memcpy(field, &em, sizeof em);
        return QDB_OK;
    }
    case QDB_CK_QUANT_METHOD: {
        int m = qdb_quant_method_parse(v);
        if (m < 0)
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "%s: unknown quantization method '%.64s' (POWER_OF_TWO, SYMMETRIC, UNIFORM)",
                               k->name, v);
        qdb_quant_method qm = (qdb_quant_method)m;
        memcpy(field, &qm, sizeof qm);
        return QDB_OK;
    }
    }
    return qdb_err_set(e, QDB_ERR_INVALID, "%s: unknown key type", k->name);
}

qdb_status qdb_quant_config_set_kv(qdb_quant_config *c, const char *kv, qdb_err *e)
{
    if (!kv)
        return qdb_err_set(e, QDB_ERR_INVALID, "quantization parameter: missing key=value");
    const char *eq = strchr(kv, '=');
    if (!eq)
        return qdb_err_set(e, QDB_ERR_INVALID, "expected key=value, got '%.64s'", kv);
    char k[128];
    trim_copy(k, sizeof k, kv, (size_t)(eq - kv));
    if (!k[0])
        return qdb_err_set(e, QDB_ERR_INVALID, "expected key=value, got '%.64s'", kv);
    return qdb_quant_config_set(c, k, eq + 1, e);
}

/* Shortest %g form that reads back as the same double. */
static void fmt_real(double d, char *buf, size_t n)
{
    if (isinf(d)) {
        snprintf(buf, n, "%s", d > 0 ? "inf" : "-inf");
        return;
    }
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

void qdb_quant_config_get(const qdb_quant_config *c, const qdb_config_key *k, char *buf, size_t n)
{
    if (!buf || !n)
        return;
    buf[0] = '\0';
    if (!c || !k)
        return;
    const char *field = (const char *)c + k->offset;
    switch (k->type) {
    case QDB_CK_BOOL: {
        int b;
        memcpy(&b, field, sizeof b);
        snprintf(buf, n, "%s", b ? "true" : "false");
        break;
    }
    case QDB_CK_INT: {
        int i;
        memcpy(&i, field, sizeof i);
        snprintf(buf, n, "%d", i);
        break;
    }
    case QDB_CK_REAL: {
        double d;
        memcpy(&d, field, sizeof d);
        fmt_real(d, buf, n);
        break;
    }
    case QDB_CK_ERROR_METHOD: {
        qdb_error_method m;
        memcpy(&m, field, sizeof m);
        snprintf(buf, n, "%s", qdb_error_method_name(m));
        break;
    }
    case QDB_CK_QUANT_METHOD: {
        qdb_quant_method m;
        memcpy(&m, field, sizeof m);
        snprintf(buf, n, "%s", qdb_quant_method_name(m));
        break;
    }
    }
}

qdb_status qdb_quant_config_check(const qdb_quant_config *c, qdb_err *e)
{
    if (!c)
        return qdb_err_set(e, QDB_ERR_INVALID, "no quantization config");
    for (int i = 0; i < N_KEYS; i++) {
        const qdb_config_key *k = &keys[i];
        const char *field = (const char *)c + k->offset;
        if (k->type == QDB_CK_INT) {
            int v;
            memcpy(&v, field, sizeof v);
            qdb_status st = check_value(k, v, e);
            if (st)
                return st;
        } else if (k->type == QDB_CK_REAL) {
            double v;
            memcpy(&v, field, sizeof v);
            qdb_status st = check_value(k, v, e);
            if (st)
                return st;
        } else if (k->type == QDB_CK_ERROR_METHOD) {
            qdb_error_method m;
            memcpy(&m, field, sizeof m);
            if (m < 0 || m >= QDB_EM_COUNT)
                return qdb_err_set(e, QDB_ERR_INVALID, "%s: invalid error method %d", k->name, (int)m);
        } else if (k->type == QDB_CK_QUANT_METHOD) {
            qdb_quant_method m;
            memcpy(&m, field, sizeof m);
            if (m < 0 || m >= QDB_QM_COUNT)
                return qdb_err_set(e, QDB_ERR_INVALID, "%s: invalid quantization method %d", k->name,
                                   (int)m);
        }
    }
    /* shift_negative_activation_correction with UNIFORM activations is
     * allowed: the pipeline skips the correction there, as MCT does. */
    return QDB_OK;
}

void qdb_act_config_from_global(const qdb_quant_config *c, qdb_act_config *a)
{
    memset(a, 0, sizeof *a);
    a->enabled = c->enable_activation_quantization;
    a->n_bits = c->activation_n_bits;
    a->method = c->activation_quantization_method;
    a->error_method = c->activation_error_method;
    a->signedness = QDB_SIGN_AUTO;
    a->fixed_threshold = 0.0;
    a->z_threshold = c->z_threshold;
    a->min_threshold = c->min_threshold;
    a->l_p_value = c->l_p_value;
    a->shift_negative = c->shift_negative_activation_correction;
}

void qdb_weight_config_from_global(const qdb_quant_config *c, qdb_weight_config *w)
{
    memset(w, 0, sizeof *w);
    w->enabled = c->enable_weights_quantization;
    w->n_bits = c->weights_n_bits;
    w->method = c->weights_quantization_method;
    w->error_method = c->weights_error_method;
    w->per_channel = c->weights_per_channel_threshold;
    w->fixed_threshold = 0.0;
    w->min_threshold = c->min_threshold;
    w->l_p_value = c->l_p_value;
    w->bias_correction = c->weights_bias_correction;
}

int qdb_act_config_equal(const qdb_act_config *a, const qdb_act_config *b)
{
    return a->enabled == b->enabled && a->n_bits == b->n_bits && a->method == b->method &&
           a->error_method == b->error_method && a->signedness == b->signedness &&
           a->fixed_threshold == b->fixed_threshold && a->z_threshold == b->z_threshold &&
           a->min_threshold == b->min_threshold && a->l_p_value == b->l_p_value &&
           a->shift_negative == b->shift_negative;
}

int qdb_weight_config_equal(const qdb_weight_config *a, const qdb_weight_config *b)
{
    return a->enabled == b->enabled && a->n_bits == b->n_bits && a->method == b->method &&
           a->error_method == b->error_method && a->per_channel == b->per_channel &&
           a->fixed_threshold == b->fixed_threshold && a->min_threshold == b->min_threshold &&
           a->l_p_value == b->l_p_value && a->bias_correction == b->bias_correction;
}
