/* history.h - the record of every re-quantization in an investigation:
 * which rules were in force (their canonical text), the score it reached
 * and its delta to float, in order. The quantize command fills it with
 * each configuration it evaluates; the TUI and sessions keep it. */
#ifndef QDB_HISTORY_H
#define QDB_HISTORY_H

#include <cJSON.h>

#include "ruleset.h"
#include "status.h"

typedef struct qdb_history_entry {
    char *label;          /* "baseline", "without rule 2", "current", ... */
    int n_rules;
    char **rules;         /* canonical text of each enabled rule in force */
    double score;         /* top-1 (or agreement when unlabelled) */
    double float_score;
} qdb_history_entry;

typedef struct qdb_history {
    int n, cap;
    qdb_history_entry *e;
} qdb_history;

void qdb_history_init(qdb_history *h);
void qdb_history_clear(qdb_history *h);
/* Record a configuration: the enabled rules of rs except rule `skip` (-1:
 * none), or none at all when rs is NULL. */
qdb_status qdb_history_add(qdb_history *h, const char *label, const qdb_ruleset *rs, int skip,
                           double score, double float_score, qdb_err *e);
/* Record an entry from its parts (a saved session's history): the texts
 * of the rules in force are copied. */
qdb_status qdb_history_add_texts(qdb_history *h, const char *label, int n, const char *const *rules,
                                 double score, double float_score, qdb_err *e);
cJSON *qdb_history_to_json(const qdb_history *h);

#endif
