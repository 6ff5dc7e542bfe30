/* cmd_match.c - `qdb match MODEL RULE...`: the dry run of network-editor
 * rules: which layers each rule's filter selects (positions as in `qdb
 * quantize`'s table) and what it would set there. Nothing is quantized;
 * no data is needed. A rule that selects nothing is a warning. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "onnx_import.h"
#include "qmodel.h"
#include "ruleset.h"

int cmd_match(int argc, char **argv)
{
    const char *model = NULL;
    qdb_err e = {0};
    qdb_ruleset *rs = qdb_ruleset_new();
    qdb_graph *g = NULL;
    qdb_qmodel *q = NULL;
    int rc = 2;
    char filter_only[256] = {0}; /* per rule: given as a filter alone */
    if (!rs) {
        cli_error("out of memory");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rules") && i + 1 < argc) {
            if (qdb_ruleset_load_file(rs, argv[++i], &e) != QDB_OK) {
                cli_error("%s", e.msg);
                goto out;
            }
        } else if (!model && argv[i][0] != '-') {
            model = argv[i];
        } else if (model && (argv[i][0] != '-' || argv[i][1] == '\0')) {
            /* a filter alone (no ':') is a rule with a harmless action */
            char *t = NULL;
            qdb_err fe = {0};
            if (!strchr(argv[i], ':') && rs->n < (int)(sizeof filter_only) &&
                (t = malloc(strlen(argv[i]) + 32))) {
                snprintf(t, strlen(argv[i]) + 32, "%s : act_quant=on", argv[i]);
                if (qdb_ruleset_add_text(rs, t, &fe) == QDB_OK) {
                    filter_only[rs->n - 1] = 1;
                    free(t);
                    continue;
                }
                free(t);
                /* the filter's own error (the columns are the same) */
                cli_error("filter '%s': %s", argv[i], fe.msg);
                goto out;
            }
            free(t);
            if (qdb_ruleset_add_text(rs, argv[i], &e) != QDB_OK) {
                cli_error("rule '%s': %s", argv[i], e.msg);
                goto out;
            }
        } else {
            cli_error("match: unexpected argument '%s'\n"
                      "usage: qdb match MODEL.onnx RULE|FILTER... [--rules FILE]", argv[i]);
            goto out;
        }
    }
    if (!model || !rs->n) {
        cli_error("usage: qdb match MODEL.onnx RULE|FILTER... [--rules FILE]");
        goto out;
    }
    rc = 1;
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    if (!(g = qdb_onnx_load(model, NULL, &e)) || !(q = qdb_qmodel_new(g, &c, &e))) {
        cli_error("%s", e.msg);
        goto out;
    }
    for (int r = 0; r < rs->n; r++) {
        const qdb_rule *rule = rs->rules[r];
        char *t = qdb_rule_format(rule);
        if (t && r < (int)sizeof filter_only && filter_only[r]) { /* the filter part */
            char *colon = strstr(t, " : act_quant=on");
            if (colon)
                *colon = '\0';
            printf("filter %d: %s\n", r + 1, t);
        } else {
            printf("rule %d: %s\n", r + 1, t ? t : "?");
        }
        free(t);
        int m = 0;
        for (int L = 0; L < q->n_layers; L++) {
            if (!qdb_filter_matches(rule->filter, q, L))
                continue;
            const qdb_qlayer *l = &q->layers[L];
            int skipped = 0;
            for (int k = 0; k < rule->n_actions; k++)
                skipped += qdb_layer_attr_is_weight(rule->actions[k].attr) && l->w_value < 0;
            printf("  %4d  %-44s %-18s%s\n", L, l->name, l->op,
                   skipped ? "  (no weights: weight actions do not apply)" : "");
            m++;
        }
        printf("  %d of %d layers\n", m, q->n_layers);
        if (!m) {
            const char *hint = qdb_rule_hint(rule, q);
            fprintf(stderr, "qdb: warning: rule %d matches no layer of %s%s%s\n", r + 1, model,
                    hint ? "; " : "", hint ? hint : "");
        }
    }
    rc = 0;
out:
    qdb_qmodel_free(q);
    qdb_graph_free(g);
    qdb_ruleset_free(rs);
    return rc;
}
