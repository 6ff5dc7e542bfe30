/* eval.h - runs a model over a dataset and scores it: top-1 / top-5
 * accuracy against labels, and every sample's predicted class (kept so
 * that a quantized model can later be scored against the float model's
 * predictions when a dataset has no labels). Streams batch by batch; a
 * progress callback reports and can cancel. */
#ifndef QDB_EVAL_H
#define QDB_EVAL_H

#include "dataset.h"
#include "executor.h"
#include "graph.h"

/* Called after each batch; return non-zero to cancel (QDB_ERR_CANCELLED). */
typedef int (*qdb_progress_fn)(void *user, int64_t done, int64_t total);

typedef struct qdb_eval_opts {
    int batch;              /* samples per run; default 64 */
    qdb_progress_fn progress;
    void *user;
    /* Optional executor hook for every run (fake quantization), with its
     * inputs passed through it too when hook_inputs is set. */
    qdb_exec_hook hook;
    void *hook_user;
    int hook_inputs;
    /* Executor fusion of x * gate(x) pairs (qdb_exec_set_fusion): always
     * without a hook; with one, only the pairs whose gate output
     * fuse_skippable(hook_user, ...) allows, when it is set. */
    qdb_exec_skippable fuse_skippable;
    /* and the hook's pointwise work on values inside fused Conv groups
     * (qdb_exec_set_pointwise), when set */
    qdb_exec_pointwise fuse_pointwise;
    /* integer Convs (qdb_exec_set_conv_q8), when set together with the
     * hook: valid only for the values that hook makes */
    qdb_exec_conv_q8 conv_q8;
    void *conv_q8_user;
} qdb_eval_opts;

typedef struct qdb_eval_result {
    int64_t n;              /* samples scored */
    int64_t n_classes;      /* width of the model's output */
    int labelled;           /* top1 / top5 are meaningful */
    int64_t top1, top5;     /* samples whose label ranks first / in the first five */
    int64_t *pred;          /* n predicted classes (arg max, first on ties); owned */
    double seconds;         /* wall time of the runs */
} qdb_eval_result;

/* Does the dataset's sample shape (C, H, W) fit the model's single input?
 * The message names the dataset file and both shapes. */
qdb_status qdb_eval_check_fit(const qdb_graph *g, const qdb_dataset *d, qdb_err *e);

/* Run `g` over every sample of `d` (from its current position). The graph's
 * first output must hold one score vector per sample ([N, K] or
 * [N, K, 1, 1]). */
qdb_status qdb_eval_run(const qdb_graph *g, qdb_dataset *d, const qdb_eval_opts *o,
                        qdb_eval_result *r, qdb_err *e);
void qdb_eval_result_free(qdb_eval_result *r);

/* Score one batch's outputs into r (whose pred holds `total` entries):
 * predictions, and top-1 / top-5 when labels are given. `what` names the
 * model in messages. For evaluation loops of their own (cached runs). */
qdb_status qdb_eval_accumulate(qdb_eval_result *r, const char *what, const qdb_tensor *out,
                               const qdb_tensor *labels, int64_t total, qdb_err *e);

#endif
