/* layer_attr.h - the per-layer quantization attributes that rules (and
 * later the TUI's commands) set: their names as users type them
 * ("act_bits", "w_error", ...), their values (parsed, range-checked and
 * printed canonically), and how each one lands in a layer's resolved
 * activation or weight configuration. Every value is held as a double:
 * bits and booleans as integers, methods as their enum values,
 * signedness as qdb_signedness, thresholds as numbers. */
#ifndef QDB_LAYER_ATTR_H
#define QDB_LAYER_ATTR_H

#include <stddef.h>

#include "quant_config.h"

typedef enum {
    QDB_LA_ACT_BITS = 0,    /* 2..16 */
    QDB_LA_ACT_METHOD,      /* POWER_OF_TWO | SYMMETRIC | UNIFORM */
    QDB_LA_ACT_ERROR,       /* NOCLIPPING | MSE | MAE | KL | LP | HMSE */
    QDB_LA_ACT_SIGNED,      /* auto | signed | unsigned (also true / false) */
    QDB_LA_ACT_QUANT,       /* on | off: off keeps the activation in float */
    QDB_LA_ACT_THRESHOLD,   /* a fixed threshold > 0, or "search" (0) */
    QDB_LA_Z_THRESHOLD,     /* > 0 or inf */
    QDB_LA_SHIFT_NEGATIVE,  /* on | off */
    QDB_LA_W_BITS,          /* 2..16 */
    QDB_LA_W_METHOD,
    QDB_LA_W_ERROR,
    QDB_LA_W_PER_CHANNEL,   /* on | off */
    QDB_LA_W_QUANT,         /* on | off */
    QDB_LA_W_THRESHOLD,     /* a fixed threshold > 0, or "search" (0) */
    QDB_LA_BIAS_CORRECTION, /* on | off */
    QDB_LA_COUNT
} qdb_layer_attr;

const char *qdb_layer_attr_name(qdb_layer_attr a);
/* One line for help screens: the values it takes and what it does. */
const char *qdb_layer_attr_help(qdb_layer_attr a);
/* -1 when unknown (exact names, case-insensitive). */
int qdb_layer_attr_parse(const char *name);
/* Does the attribute concern the weights (w_*, bias_correction)? */
int qdb_layer_attr_is_weight(qdb_layer_attr a);

/* Parse a value for attribute a ("16", "KL", "off", "0.5", "inf"); errors
 * say what the attribute accepts. */
qdb_status qdb_layer_attr_value_parse(qdb_layer_attr a, const char *text, double *v, qdb_err *e);
/* The canonical text of a value ("16", "KL", "off", "0.5", "inf"): parsing
 * it gives back the same value. */
void qdb_layer_attr_value_format(qdb_layer_attr a, double v, char *buf, size_t n);

/* Write / read the attribute in a layer's resolved configuration. */
void qdb_layer_attr_set(qdb_layer_attr a, double v, qdb_act_config *ac, qdb_weight_config *wc);
double qdb_layer_attr_get(qdb_layer_attr a, const qdb_act_config *ac, const qdb_weight_config *wc);

#endif
