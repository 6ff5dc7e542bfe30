/* layer_attr.c - names, values and effects of the per-layer quantization
 * attributes (see layer_attr.h). */
#include "layer_attr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { K_BITS, K_QMETHOD, K_EMETHOD, K_SIGN, K_BOOL, K_THRESHOLD, K_Z } kind;

static const struct {
    const char *name;
    kind k;
    const char *help;
} attrs[QDB_LA_COUNT] = {
    [QDB_LA_ACT_BITS] = {"act_bits", K_BITS, "2..16: bit width of the layer's activation"},
    [QDB_LA_ACT_METHOD] = {"act_method", K_QMETHOD,
                           "POWER_OF_TWO | SYMMETRIC | UNIFORM: the activation quantizer"},
    [QDB_LA_ACT_ERROR] = {"act_error", K_EMETHOD,
                          "NOCLIPPING | MSE | MAE | KL | LP | HMSE: how its threshold is chosen"},
    [QDB_LA_ACT_SIGNED] = {"act_signed", K_SIGN, "auto | signed | unsigned: the activation grid's sign"},
    [QDB_LA_ACT_QUANT] = {"act_quant", K_BOOL, "on | off: off keeps the activation in float"},
    [QDB_LA_ACT_THRESHOLD] = {"act_threshold", K_THRESHOLD,
                              "a fixed threshold (> 0), or search: no threshold search"},
    [QDB_LA_Z_THRESHOLD] = {"z_threshold", K_Z, "> 0 or inf: outlier removal before the search"},
    [QDB_LA_SHIFT_NEGATIVE] = {"shift_negative", K_BOOL,
                               "on | off: shift-negative correction allowed on this layer"},
    [QDB_LA_W_BITS] = {"w_bits", K_BITS, "2..16: bit width of the layer's weights"},
    [QDB_LA_W_METHOD] = {"w_method", K_QMETHOD, "POWER_OF_TWO | SYMMETRIC | UNIFORM: the weight quantizer"},
    [QDB_LA_W_ERROR] = {"w_error", K_EMETHOD,
                        "NOCLIPPING | MSE | MAE | KL | LP | HMSE: how weight thresholds are chosen"},
    [QDB_LA_W_PER_CHANNEL] = {"w_per_channel", K_BOOL, "on | off: one weight threshold per output channel"},
    [QDB_LA_W_QUANT] = {"w_quant", K_BOOL, "on | off: off keeps the weights in float"},
    [QDB_LA_W_THRESHOLD] = {"w_threshold", K_THRESHOLD,
                            "a fixed weight threshold (> 0), or search"},
    [QDB_LA_BIAS_CORRECTION] = {"bias_correction", K_BOOL, "on | off: weight bias correction"},
};

const char *qdb_layer_attr_name(qdb_layer_attr a)
{
    return a >= 0 && a < QDB_LA_COUNT ? attrs[a].name : "?";
}

const char *qdb_layer_attr_help(qdb_layer_attr a)
{
    return a >= 0 && a < QDB_LA_COUNT ? attrs[a].help : "";
}

int qdb_layer_attr_parse(const char *name)
{
    for (int i = 0; i < QDB_LA_COUNT; i++)
        if (!strcasecmp(name, attrs[i].name))
            return i;
    return -1;
}

int qdb_layer_attr_is_weight(qdb_layer_attr a)
{
    return a >= QDB_LA_W_BITS;
}

static int parse_bool(const char *s)
{
    static const char *const yes[] = {"on", "true", "yes", "1"}, *const no[] = {"off", "false", "no", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i]))
            return 1;
        if (!strcasecmp(s, no[i]))
            return 0;
    }
    return -1;
}

static int parse_real(const char *s, double *v)
{
    char *end;
    if (!strcasecmp(s, "inf") || !strcasecmp(s, "infinity")) {
        *v = INFINITY;
        return 0;
    }
    *v = strtod(s, &end);
    return end == s || *end || !isfinite(*v) ? -1 : 0;
}

qdb_status qdb_layer_attr_value_parse(qdb_layer_attr a, const char *text, double *v, qdb_err *e)
{
    if (a < 0 || a >= QDB_LA_COUNT)
        return qdb_err_set(e, QDB_ERR_INVALID, "unknown attribute");
    const char *name = attrs[a].name;
    int x;
    double d;
    switch (attrs[a].k) {
    case K_BITS: {
        char *end;
        long b = strtol(text, &end, 10);
        if (end == text || *end || b < QDB_MIN_BITS || b > QDB_MAX_BITS)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s must be a bit width from %d to %d, got '%s'",
                               name, QDB_MIN_BITS, QDB_MAX_BITS, text);
        *v = (double)b;
        return QDB_OK;
    }
    case K_QMETHOD:
        if ((x = qdb_quant_method_parse(text)) < 0)
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "%s must be POWER_OF_TWO, SYMMETRIC or UNIFORM, got '%s'", name, text);
        *v = x;
        return QDB_OK;
    case K_EMETHOD:
        if ((x = qdb_error_method_parse(text)) < 0)
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "%s must be NOCLIPPING, MSE, MAE, KL, LP or HMSE, got '%s'", name, text);
        *v = x;
        return QDB_OK;
    case K_SIGN:
        if ((x = qdb_signedness_parse(text)) < 0) {
            int b = parse_bool(text);
            if (b < 0)
                return qdb_err_set(e, QDB_ERR_INVALID,
                                   "%s must be auto, signed or unsigned, got '%s'", name, text);
            x = b ? QDB_SIGN_SIGNED : QDB_SIGN_UNSIGNED;
        }
        *v = x;
        return QDB_OK;
    case K_BOOL:
        if ((x = parse_bool(text)) < 0)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s must be on or off, got '%s'", name, text);
        *v = x;
        return QDB_OK;
    case K_THRESHOLD:
        if (!strcasecmp(text, "search")) {
            *v = 0;
            return QDB_OK;
        }
        if (parse_real(text, &d) || !(d > 0) || isinf(d))
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "%s must be a threshold > 0 or 'search', got '%s'", name, text);
        *v = d;
        return QDB_OK;
    case K_Z:
        if (parse_real(text, &d) || !(d > 0))
            return qdb_err_set(e, QDB_ERR_INVALID, "%s must be > 0 or inf, got '%s'", name, text);
        *v = d;
        return QDB_OK;
    }
    return QDB_ERR_INVALID;
}

void qdb_layer_attr_value_format(qdb_layer_attr a, double v, char *buf, size_t n)
{
    if (a < 0 || a >= QDB_LA_COUNT) {
        snprintf(buf, n, "?");
        return;
    }
    switch (attrs[a].k) {
    case K_BITS:
        snprintf(buf, n, "%d", (int)v);
        return;
    case K_QMETHOD:
        snprintf(buf, n, "%s", qdb_quant_method_name((qdb_quant_method)(int)v));
        return;
    case K_EMETHOD:
        snprintf(buf, n, "%s", qdb_error_method_name((qdb_error_method)(int)v));
        return;
    case K_SIGN:
        snprintf(buf, n, "%s", qdb_signedness_name((qdb_signedness)(int)v));
        return;
    case K_BOOL:
        snprintf(buf, n, "%s", v != 0 ? "on" : "off");
        return;
    case K_THRESHOLD:
        if (v == 0) {
            snprintf(buf, n, "search");
            return;
        }
        /* fall through */
    case K_Z:
        if (isinf(v)) {
            snprintf(buf, n, "inf");
            return;
        }
        /* the shortest text that reads back exactly */
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, n, "%.*g", p, v);
            if (strtod(buf, NULL) == v)
                return;
        }
        return;
    }
}

void qdb_layer_attr_set(qdb_layer_attr a, double v, qdb_act_config *ac, qdb_weight_config *wc)
{
    switch (a) {
    case QDB_LA_ACT_BITS: ac->n_bits = (int)v; break;
    case QDB_LA_ACT_METHOD: ac->method = (qdb_quant_method)(int)v; break;
    case QDB_LA_ACT_ERROR: ac->error_method = (qdb_error_method)(int)v; break;
    case QDB_LA_ACT_SIGNED: ac->signedness = (qdb_signedness)(int)v; break;
    case QDB_LA_ACT_QUANT: ac->enabled = v != 0; break;
    case QDB_LA_ACT_THRESHOLD: ac->fixed_threshold = v; break;
    case QDB_LA_Z_THRESHOLD: ac->z_threshold = v; break;
    case QDB_LA_SHIFT_NEGATIVE: ac->shift_negative = v != 0; break;
    case QDB_LA_W_BITS: wc->n_bits = (int)v; break;
    case QDB_LA_W_METHOD: wc->method = (qdb_quant_method)(int)v; break;
    case QDB_LA_W_ERROR: wc->error_method = (qdb_error_method)(int)v; break;
    case QDB_LA_W_PER_CHANNEL: wc->per_channel = v != 0; break;
    case QDB_LA_W_QUANT: wc->enabled = v != 0; break;
    case QDB_LA_W_THRESHOLD: wc->fixed_threshold = v; break;
    case QDB_LA_BIAS_CORRECTION: wc->bias_correction = v != 0; break;
    default: break;
    }
}

double qdb_layer_attr_get(qdb_layer_attr a, const qdb_act_config *ac, const qdb_weight_config *wc)
{
    switch (a) {
    case QDB_LA_ACT_BITS: return ac->n_bits;
    case QDB_LA_ACT_METHOD: return ac->method;
    case QDB_LA_ACT_ERROR: return ac->error_method;
    case QDB_LA_ACT_SIGNED: return ac->signedness;
    case QDB_LA_ACT_QUANT: return ac->enabled;
    case QDB_LA_ACT_THRESHOLD: return ac->fixed_threshold > 0 ? ac->fixed_threshold : 0;
    case QDB_LA_Z_THRESHOLD: return ac->z_threshold;
    case QDB_LA_SHIFT_NEGATIVE: return ac->shift_negative;
    case QDB_LA_W_BITS: return wc->n_bits;
    case QDB_LA_W_METHOD: return wc->method;
    case QDB_LA_W_ERROR: return wc->error_method;
    case QDB_LA_W_PER_CHANNEL: return wc->per_channel;
    case QDB_LA_W_QUANT: return wc->enabled;
    case QDB_LA_W_THRESHOLD: return wc->fixed_threshold > 0 ? wc->fixed_threshold : 0;
    case QDB_LA_BIAS_CORRECTION: return wc->bias_correction;
    default: return 0;
    }
}
