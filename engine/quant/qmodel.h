/* qmodel.h - a model under quantization: the float graph rewritten for
 * quantization (BatchNorm folded, optional rescalings, shift-negative
 * nodes), its layers (one per activation quantizer: a fused group such as
 * Conv + BatchNorm + ReLU, quantized at the group's output), each layer's
 * resolved configuration, statistics, chosen parameters and error figures,
 * and the graph with fake-quantized weights that simulates the quantized
 * network.
 *
 * The pipeline (MCT's post-training quantization):
 *   qdb_qmodel_new        copy the float graph, fold BatchNorm, apply the
 *                         statistics-free rescalings, form the layers and
 *                         resolve their configs from the global config
 *   qdb_qmodel_calibrate  stream the representative set, collect histograms
 *                         and per-channel moments of weighted layers' inputs
 *   qdb_qmodel_quantize   thresholds (the configured method and all six),
 *                         shift-negative correction, weight quantization,
 *                         bias correction, input scaling
 *   qdb_qmodel_measure    per-layer SQNR / cosine / MSE / clipping
 * and evaluation of the simulated network through qdb_qmodel_eval_opts.
 *
 * Ownership: the qmodel owns its graphs, layers and statistics; it keeps
 * no pointer to the graph it was made from. */
#ifndef QDB_QMODEL_H
#define QDB_QMODEL_H

#include <stdint.h>

#include "dataset.h"
#include "eval.h"
#include "graph.h"
#include "histogram.h"
#include "layer_attr.h"
#include "quant_config.h"
#include "quantizer.h"

/* Outputs whose range is known from the operator (MCT: Softmax, Sigmoid
 * and HardSigmoid in (0, 1), Tanh in (-1, 1)): no-clipping threshold. */
typedef enum { QDB_RANGE_FREE = 0, QDB_RANGE_UNIT, QDB_RANGE_SYM_UNIT } qdb_known_range;

typedef struct qdb_layer_metrics {
    int valid;
    double sqnr_db;          /* accumulated: whole quantized network up to here */
    double cosine;
    double mse;
    double sqnr_own_db;      /* own: float input, this layer quantized */
    double cosine_own;
    double mse_own;
    double clipped_fraction; /* of this layer's values, in the accumulated run */
    int64_t values;          /* values compared */
} qdb_layer_metrics;

typedef struct qdb_qlayer {
    char *name;              /* the group's first node ("input" for a graph input) */
    char *op;                /* what the group is: "Conv+Relu", "Conv+Swish", "Add", "Input" */
    char *type;              /* op type of the group's first node ("Input" for inputs) */
    char *last_type;         /* op type of the group's last node */
    int out_value;           /* the quantized value: the group's output */
    int anchor_value;        /* output of the group's first node */
    int in_value;            /* first input of the group's first node; -1 for inputs */
    int is_input;
    int shift_of;            /* shift-negative layer: index of the layer it shifts; else -1 */
    qdb_known_range range;

    /* weights (Conv, ConvTranspose, Gemm, MatMul with a constant kernel) */
    int w_value, b_value;    /* constant kernel, bias (-1 if none) in the graphs */
    int w_axis;              /* output-channel axis of the kernel */
    int w_channels;          /* output channels */
    int w_in_axis;           /* input-channel axis of the kernel */
    int w_groups;            /* convolution groups */

    qdb_act_config act;      /* resolved configuration */
    qdb_weight_config wcfg;
    int prov[QDB_LA_COUNT];  /* which rule set each attribute (index in the rule
                              * list), -1: the global configuration */

    /* statistics (float network, representative set) */
    qdb_histogram *hist;     /* of out_value; NULL before calibration */
    int in_channels;         /* weighted layers: channels of the data input */
    double *in_mean;         /* per input channel: E[x], E[x^2] */
    double *in_sqmean;
    double in_shift;         /* shift-negative correction upstream adds this to the input */
    double in_scale;         /* input scaling multiplies the input by this (1 otherwise) */
    double out_shift;        /* a shift-negative correction passes through this layer:
                              * its values move by this and it turns unsigned */

    /* chosen parameters */
    int act_signed;
    qdb_qparams act_qp;
    qdb_qgrid act_grid;
    int act_active;          /* a quantizer is in place */
    double thr_by_method[QDB_EM_COUNT]; /* threshold (uniform: max of the range) */
    double act_prescale;     /* input scaling: values are multiplied by this before
                              * quantization (1 otherwise) */
    qdb_qparams *w_qp;       /* w_channels parameters (or 1 per tensor) */
    int n_w_qp;
    double w_threshold_max;  /* largest weight threshold, for tables */
    int snc_applied;         /* shift-negative correction moved this layer */
    double snc_shift;
    double snc_threshold;    /* the threshold kept for the 16-bit activation */
    int snc_layer;           /* index of the shift layer, -1 */
    double bias_shift_norm;  /* bias correction: |epsilon| summed over channels */

    qdb_layer_metrics m;

    /* what the last searches were for: unchanged inputs reuse their results */
    int memo_act;            /* memo_qp, memo_signed, thr_by_method: the search for memo_act_cfg */
    qdb_act_config memo_act_cfg;
    qdb_qparams memo_qp;
    int memo_signed;
    int memo_w;              /* w_qp is for memo_w_cfg and this kernel */
    qdb_weight_config memo_w_cfg;
    uint64_t memo_w_hash;
    double memo_w_shift, memo_w_scale;
} qdb_qlayer;

typedef struct qdb_qmodel {
    qdb_quant_config cfg;
    qdb_graph *g0;           /* float graph after folding and rescaling (calibrated) */
    qdb_graph *g;            /* g0 plus shift-negative nodes (float, equivalent) */
    qdb_graph *gq;           /* g with fake-quantized weights and corrected biases */
    int n_layers, n_base_layers; /* base layers come from g0; the rest from corrections */
    qdb_qlayer *layers;
    int n_map;
    int *layer_of_value;     /* value index -> layer (-1) for g / gq */
    int calibrated, quantized;
    int64_t calib_samples;
    double input_scale;      /* input scaling: multiply inputs by this (1 otherwise) */
    int n_bn_folded;         /* BatchNormalization nodes folded */
    int n_relu_rebound;      /* relu_unbound_correction rescalings */
    int n_equalized;         /* activation_channel_equalization rescalings */
    int n_snc;               /* shift-negative corrections */
    struct qdb_conv_q8 **conv_q8; /* per value of gq: the integer plan of the Conv
                              * computing it (ops/conv_q8.h), NULL: float */
    int n_conv_q8;
    int n_act_searched;      /* threshold searches the last quantization ran */
    int n_w_searched;        /* (layers whose inputs had not changed reuse theirs) */
} qdb_qmodel;

qdb_qmodel *qdb_qmodel_new(const qdb_graph *g, const qdb_quant_config *c, qdb_err *e);
void qdb_qmodel_free(qdb_qmodel *q);

typedef struct qdb_run_opts {
    int batch;               /* samples per run (default 64) */
    qdb_progress_fn progress;
    void *user;
} qdb_run_opts;

/* Collect statistics over every sample of `d` (from its current position). */
qdb_status qdb_qmodel_calibrate(qdb_qmodel *q, qdb_dataset *d, const qdb_run_opts *o, qdb_err *e);

/* Choose every parameter from the statistics and build the simulated
 * network. May be called again after layer configs change. */
qdb_status qdb_qmodel_quantize(qdb_qmodel *q, qdb_err *e);

/* Evaluation options that run the simulated network (q->gq) with its
 * activation quantizers: pass to qdb_eval_run(q->gq, ...). */
void qdb_qmodel_eval_opts(qdb_qmodel *q, qdb_eval_opts *o);

/* The integer plan of Conv node `node` of g (gq or a part of it that keeps
 * gq's value numbering), NULL when it runs in float. Valid for runs whose
 * activations the simulation quantizes (qdb_qmodel_eval_opts' hook). */
const struct qdb_conv_q8 *qdb_qmodel_conv_q8(const qdb_qmodel *q, const qdb_graph *g, int node);

/* Per-layer error figures against the float network on up to `n` samples of
 * `d` (0 = all). */
qdb_status qdb_qmodel_measure(qdb_qmodel *q, qdb_dataset *d, int64_t n, const qdb_run_opts *o,
                              qdb_err *e);

/* Forget the quantization (the layers corrections added, graphs g and gq),
 * keeping the statistics: layer positions are the base layers' again. */
void qdb_qmodel_reset(qdb_qmodel *q);

/* Reset layer l's configuration to the global one (no rule). */
void qdb_qlayer_defaults(const qdb_qmodel *q, qdb_qlayer *l);

/* The model's own layer at position i (as rules and searches count them,
 * skipping the layers corrections add); NULL when out of range. */
const qdb_qlayer *qdb_qmodel_own_layer(const qdb_qmodel *q, int i);

/* Layer by name; -1 if none. */
int qdb_qmodel_find_layer(const qdb_qmodel *q, const char *name);

/* Threshold of a parameter set as shown to users (uniform: max). */
double qdb_qparams_threshold(const qdb_qparams *p);

/* ---- passes (files in engine/quant), exposed for tests ---- */
/* Fold BatchNormalization into a preceding Conv / ConvTranspose / Gemm with
 * a constant kernel (channel equalization of the following ReLU -> Conv when
 * `equalize`). Returns the number folded in *n_folded. */
qdb_status qdb_fold_batchnorm(qdb_graph *g, int equalize, int *n_folded, int *n_equalized,
                              qdb_err *e);
/* relu_unbound_correction: rescale Conv -> Clip(0, b) -> Conv so b becomes 8. */
qdb_status qdb_relu_bound_to_pow2(qdb_graph *g, int *n_done, qdb_err *e);
/* Form the layers of q->g0 (fused groups and their activation quantizers). */
qdb_status qdb_form_layers(qdb_qmodel *q, qdb_err *e);
/* Shift-negative correction on q->g (built from g0), adding shift layers. */
qdb_status qdb_shift_negative(qdb_qmodel *q, qdb_err *e);

#endif
