/* rule_eval.h - what each rule is worth: the quantized accuracy with no
 * rules (the baseline), with every enabled rule (current), and with every
 * enabled rule but one (for each rule: its own contribution is current
 * minus that). Statistics are reused: only thresholds, weights and the
 * evaluation run again for each configuration, and each evaluation
 * restarts from the cached activations before the first layer that
 * differs from the previous one (eval_cache.h). */
#ifndef QDB_RULE_EVAL_H
#define QDB_RULE_EVAL_H

#include "eval.h"
#include "eval_cache.h"
#include "history.h"
#include "qmodel.h"
#include "ruleset.h"

typedef struct qdb_rule_eval {
    int n_rules;
    int *matches;            /* per rule: layers selected */
    double baseline;         /* score with no rules */
    double current;          /* score with every enabled rule */
    double *without;         /* per rule: score without it (NAN: disabled rule) */
    int labelled;            /* scores are top-1 accuracy; else agreement with
                              * the float model's predictions */
    int evaluations;         /* evaluation passes spent */
    qdb_eval_result cur;     /* the current configuration's full result */
} qdb_rule_eval;

/* Score the configurations on `d` (rewound before each pass). float_pred
 * (the float model's predictions on d) scores unlabelled sets; it may be
 * NULL for labelled ones (o: batch and progress). On return q is quantized
 * with every enabled rule. */
qdb_status qdb_rules_evaluate(qdb_qmodel *q, const qdb_ruleset *rs, qdb_dataset *d,
                              const int64_t *float_pred, const qdb_eval_opts *o,
                              qdb_rule_eval *out, qdb_err *e);
/* The same, evaluating through `cache` (kept by the caller across calls, so
 * that the next call after a small edit reruns only what changed; NULL: a
 * cache of its own) and taking the baseline as known unless it is NAN. */
qdb_status qdb_rules_evaluate_cached(qdb_qmodel *q, const qdb_ruleset *rs, qdb_dataset *d,
                                     const int64_t *float_pred, const qdb_eval_opts *o,
                                     qdb_eval_cache *cache, double baseline, qdb_rule_eval *out,
                                     qdb_err *e);
/* Append the configurations an evaluation scored to a history. */
qdb_status qdb_rule_eval_record(const qdb_rule_eval *r, const qdb_ruleset *rs, double float_score,
                                qdb_history *h, qdb_err *e);
void qdb_rule_eval_free(qdb_rule_eval *r);

#endif
