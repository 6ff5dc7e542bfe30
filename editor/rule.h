/* rule.h - network-editor rules: a filter selecting layers plus actions
 * setting per-layer quantization attributes, in one text syntax used
 * everywhere (the TUI's command line, script files, --rule, --rules FILE)
 * and an equivalent JSON form for sessions.
 *
 *   RULE    := FILTER ':' ACTION (',' ACTION)*
 *   FILTER  := OR
 *   OR      := AND ('or' AND)*
 *   AND     := UNARY ('and' UNARY)*
 *   UNARY   := 'not' UNARY | '(' OR ')' | ATOM
 *   ATOM    := 'type' '=' WORD        op type: the layer's group ("Conv+Relu"),
 *                                     its first node's type ("Conv") or its
 *                                     activation ("Relu", "Swish"); case-insensitive;
 *                                     SiLU is an alias of Swish
 *            | 'name' '=' VALUE       exact layer name
 *            | 'name' ':' VALUE       name contains VALUE (MCT's scope filter)
 *            | 'name' '~' VALUE       POSIX extended regular expression on the name
 *            | 'index' '=' N | 'index' '=' N '..' M    table positions, inclusive
 *            | 'all'                  every layer
 *   ACTION  := ATTR '=' VALUE         an attribute of layer_attr.h (act_bits=16,
 *                                     w_error=KL, act_quant=off, ...)
 *   VALUE   := WORD | "quoted string" (backslash escapes \" and \\)
 *   WORD    := a run of characters other than blanks ( ) : , = ~ "
 * Keywords are case-insensitive. Examples:
 *   type=Sigmoid : act_bits=16
 *   name~"^/blocks/blocks\.[0-3]/" and not type=Add : act_error=KL, act_bits=8
 *   index=3..7 or name:"branch_b" : w_bits=4
 *
 * qdb_rule_format prints the canonical text; parsing it gives an equal rule. */
#ifndef QDB_RULE_H
#define QDB_RULE_H

#include <cJSON.h>

#include "layer_attr.h"
#include "qmodel.h"
#include "status.h"

typedef enum {
    QDB_FILTER_ALL = 0,
    QDB_FILTER_TYPE,
    QDB_FILTER_NAME,   /* exact */
    QDB_FILTER_SCOPE,  /* substring */
    QDB_FILTER_REGEX,
    QDB_FILTER_INDEX,
    QDB_FILTER_AND,
    QDB_FILTER_OR,
    QDB_FILTER_NOT
} qdb_filter_kind;

typedef struct qdb_filter {
    qdb_filter_kind kind;
    char *text;               /* TYPE / NAME / SCOPE / REGEX */
    void *re;                 /* REGEX: the compiled regex_t (owned) */
    int lo, hi;               /* INDEX: inclusive range */
    struct qdb_filter *a, *b; /* AND / OR: both; NOT: a */
} qdb_filter;

typedef struct qdb_action {
    qdb_layer_attr attr;
    double value;             /* as layer_attr.h holds values */
} qdb_action;

typedef struct qdb_rule {
    qdb_filter *filter;
    int n_actions;
    qdb_action actions[QDB_LA_COUNT]; /* each attribute at most once (a later
                                       * repeat in the text replaces it) */
    int enabled;              /* 1 after parsing */
} qdb_rule;

/* Parse one rule. Errors give the column and what was expected; an unknown
 * attribute lists the valid ones with a close-match suggestion; an
 * out-of-range value says the range. */
qdb_rule *qdb_rule_parse(const char *text, qdb_err *e);
/* Canonical text (malloc'd): keywords lower case, `and`/`or`/`not` with
 * the parentheses precedence needs, values quoted when they must be. */
char *qdb_rule_format(const qdb_rule *r);
int qdb_rule_equal(const qdb_rule *a, const qdb_rule *b);
qdb_rule *qdb_rule_clone(const qdb_rule *r);
void qdb_rule_free(qdb_rule *r);

/* Does the filter select layer `index` of q? */
int qdb_filter_matches(const qdb_filter *f, const qdb_qmodel *q, int index);
/* The same for layer l at table position `index` (the model's own layers'
 * positions, which a quantized model's correction layers do not shift). */
int qdb_filter_matches_layer(const qdb_filter *f, const qdb_qlayer *l, int index);
/* Why a rule that selects no layer of q may have meant others, as a short
 * sentence, or NULL: a type= filter naming the gate of an x * gate(x)
 * activation (Sigmoid in Swish / SiLU, HardSigmoid in HardSwish), which q
 * has only inside those layers. Static text. */
const char *qdb_rule_hint(const qdb_rule *r, const qdb_qmodel *q);

/* Check the op types a rule names against the types qdb knows (every
 * registered operator, the fused groups' names such as "Conv+Relu",
 * "Swish", "HardSwish", "Input", "ShiftNegative"): an unknown one is an
 * error listing the known ones with a close-match suggestion. */
qdb_status qdb_rule_check(const qdb_rule *r, qdb_err *e);

/* JSON form: {"text": "...", "enabled": true, "filter": {...}, "actions": {"act_bits": 16, ...}}.
 * from_json reads "text" (authoritative) and "enabled", and checks that
 * "filter"/"actions", when present, agree with it. */
cJSON *qdb_rule_to_json(const qdb_rule *r);
qdb_rule *qdb_rule_from_json(const cJSON *j, qdb_err *e);

#endif
