/* quant_config.h - the quantization configuration: the global settings
 * (every parameter of MCT's QuantizationConfig, under MCT's names and with
 * its defaults) and the resolved per-layer configurations the pipeline and
 * the network editor read and write.
 *
 * The global config is a plain struct; a table of its keys lets front ends
 * set any parameter by name ("activation_error_method=KL"), print it and
 * write it to JSON without knowing the fields. */
#ifndef QDB_QUANT_CONFIG_H
#define QDB_QUANT_CONFIG_H

#include <stddef.h>

#include "status.h"

/* How a threshold is chosen (MCT's QuantizationErrorMethod). */
typedef enum {
    QDB_EM_NOCLIPPING = 0,
    QDB_EM_MSE,
    QDB_EM_MAE,
    QDB_EM_KL,
    QDB_EM_LP,
    QDB_EM_HMSE,
    QDB_EM_COUNT
} qdb_error_method;

/* The quantizer's grid (MCT's QuantizationMethod). */
typedef enum {
    QDB_QM_POWER_OF_TWO = 0, /* symmetric, threshold a power of two */
    QDB_QM_SYMMETRIC,        /* symmetric, any threshold */
    QDB_QM_UNIFORM,          /* [min, max] with a zero point */
    QDB_QM_COUNT
} qdb_quant_method;

typedef enum { QDB_SIGN_AUTO = 0, QDB_SIGN_SIGNED, QDB_SIGN_UNSIGNED } qdb_signedness;

#define QDB_MIN_BITS 2
#define QDB_MAX_BITS 16
#define QDB_MIN_THRESHOLD_DEFAULT (1.0 / 65536.0) /* 2^-16, MCT >= 1.8 */

typedef struct qdb_quant_config {
    qdb_error_method activation_error_method;   /* MSE */
    qdb_error_method weights_error_method;      /* MSE */
    qdb_quant_method activation_quantization_method; /* POWER_OF_TWO */
    qdb_quant_method weights_quantization_method;    /* SYMMETRIC */
    int activation_n_bits;                      /* 8 */
    int weights_n_bits;                         /* 8 */
    int weights_per_channel_threshold;          /* 1 */
    int enable_weights_quantization;            /* 1 */
    int enable_activation_quantization;         /* 1 */
    int weights_bias_correction;                /* 1 */
    int shift_negative_activation_correction;   /* 1 */
    double shift_negative_ratio;                /* 0.05 */
    int shift_negative_threshold_recalculation; /* 0 */
    int shift_negative_params_search;           /* 0 */
    double z_threshold;                         /* inf (no outlier removal) */
    double min_threshold;                       /* 2^-16 */
    double l_p_value;                           /* 2 */
    int relu_unbound_correction;                /* 0 */
    int input_scaling;                          /* 0 */
    int activation_channel_equalization;        /* 0 */
} qdb_quant_config;

void qdb_quant_config_init(qdb_quant_config *c);

/* Names as users type them (upper case; parsing ignores case). */
const char *qdb_error_method_name(qdb_error_method m);
const char *qdb_quant_method_name(qdb_quant_method m);
const char *qdb_signedness_name(qdb_signedness s);
/* -1 when unknown. Accepts "LP" and "Lp"; "POT" for POWER_OF_TWO and
 * "SYMMETRIC_UNIFORM" (the seed API's spelling) for SYMMETRIC. */
int qdb_error_method_parse(const char *s);
int qdb_quant_method_parse(const char *s);
int qdb_signedness_parse(const char *s);

/* The keys of the global config, in a stable order. */
typedef enum { QDB_CK_BOOL, QDB_CK_INT, QDB_CK_REAL, QDB_CK_ERROR_METHOD, QDB_CK_QUANT_METHOD } qdb_config_key_type;

typedef struct qdb_config_key {
    const char *name;
    qdb_config_key_type type;
    size_t offset;
    const char *help;  /* one sentence for --help and the README */
} qdb_config_key;

int qdb_config_key_count(void);
const qdb_config_key *qdb_config_key_at(int i);
const qdb_config_key *qdb_config_key_find(const char *name); /* aliases accepted */

/* Set one parameter from "key=value" (or key and value apart). Unknown keys
 * list the valid ones; out-of-range values say the range. */
qdb_status qdb_quant_config_set(qdb_quant_config *c, const char *key, const char *value, qdb_err *e);
qdb_status qdb_quant_config_set_kv(qdb_quant_config *c, const char *kv, qdb_err *e);
/* The value of a key as text ("MSE", "8", "0.05", "true", "inf"). */
void qdb_quant_config_get(const qdb_quant_config *c, const qdb_config_key *k, char *buf, size_t n);
/* Consistency checks between parameters (e.g. bit ranges). */
qdb_status qdb_quant_config_check(const qdb_quant_config *c, qdb_err *e);

/* Resolved configuration of one activation quantizer. */
typedef struct qdb_act_config {
    int enabled;                  /* quantize this activation at all */
    int n_bits;
    qdb_quant_method method;
    qdb_error_method error_method;
    qdb_signedness signedness;    /* AUTO: decided from the statistics */
    double fixed_threshold;       /* > 0: use it, no search (NAN or 0: search) */
    double z_threshold;           /* outlier removal before the search; inf = off */
    double min_threshold;
    double l_p_value;
    int shift_negative;           /* shift-negative correction allowed here */
} qdb_act_config;

/* Resolved configuration of one weight tensor (kernel). Weights are always
 * signed. */
typedef struct qdb_weight_config {
    int enabled;
    int n_bits;
    qdb_quant_method method;
    qdb_error_method error_method;
    int per_channel;              /* one threshold per output channel */
    double fixed_threshold;       /* > 0: use it for every channel */
    double min_threshold;
    double l_p_value;
    int bias_correction;
} qdb_weight_config;

/* Field by field equality of resolved configurations. */
int qdb_act_config_equal(const qdb_act_config *a, const qdb_act_config *b);
int qdb_weight_config_equal(const qdb_weight_config *a, const qdb_weight_config *b);

void qdb_act_config_from_global(const qdb_quant_config *c, qdb_act_config *a);
void qdb_weight_config_from_global(const qdb_quant_config *c, qdb_weight_config *w);

#endif
