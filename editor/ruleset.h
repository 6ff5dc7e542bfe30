/* ruleset.h - an ordered list of rules and how it lands on a model: every
 * layer's configuration is reset to the global one, then each enabled rule
 * writes its actions into the layers its filter selects, in order (the
 * last write wins), and each attribute remembers the rule that set it.
 * Rules are checked before anything changes: nothing is half-applied. */
#ifndef QDB_RULESET_H
#define QDB_RULESET_H

#include "qmodel.h"
#include "rule.h"

typedef struct qdb_ruleset {
    int n, cap;
    qdb_rule **rules;
} qdb_ruleset;

qdb_ruleset *qdb_ruleset_new(void);
void qdb_ruleset_free(qdb_ruleset *rs);
/* Append a rule (taken over, also on failure). */
qdb_status qdb_ruleset_add(qdb_ruleset *rs, qdb_rule *r, qdb_err *e);
/* Parse and append one rule given as text. */
qdb_status qdb_ruleset_add_text(qdb_ruleset *rs, const char *text, qdb_err *e);
/* Append the rules of a file: one per line, blank lines skipped; a '#' at
 * the start of a line or after a blank (outside quotes) starts a comment; an error names the file and line, and adds none of the file's
 * rules. */
qdb_status qdb_ruleset_load_file(qdb_ruleset *rs, const char *path, qdb_err *e);
/* A copy with rule `skip` disabled (skip < 0: none); NULL on OOM. */
qdb_ruleset *qdb_ruleset_clone(const qdb_ruleset *rs, int skip, qdb_err *e);

/* Resolve every layer of q: defaults, then the enabled rules. The model's
 * quantization is reset first (qdb_qmodel_reset: index filters count the
 * model's own layers, not those corrections add) and must be run again.
 * matches, if not NULL, receives per rule the number of layers it selects
 * (0 for a disabled rule). */
qdb_status qdb_ruleset_apply(const qdb_ruleset *rs, qdb_qmodel *q, int *matches, qdb_err *e);

#endif
