/* command.h - qdb's command language: one line, one command, run against a
 * session. The TUI's command line and scripts speak it; it knows nothing of
 * terminals. Each command fills a text result (what batch mode prints, the
 * TUI's message line shows its first line) and flags saying what changed.
 *
 *   rule RULE            add a rule and re-quantize (rule.h has the syntax)
 *   match RULE|FILTER    the layers a rule or filter selects; nothing changes
 *   rules                the rules with their matches and contributions
 *   enable N / disable N / delete N    a rule (numbered from 1); re-quantize
 *   set KEY=VALUE        a global quantization parameter; re-quantize
 *   bits LAYER N         activation bits of one layer (as a rule); re-quantize
 *   wbits LAYER N        weight bits of one layer (as a rule)
 *   method LAYER M       activation error method of one layer (as a rule)
 *   requant              quantize and evaluate again
 *   sensitivity [N|all]  per-layer sweep on N evaluation samples (default 500)
 *   bisect [TOL] [float|16] [N|all]   the layers that, raised, bring the
 *                        accuracy within TOL points of float (default 0.5)
 *   keep                 add the rule keeping the last bisect's culprits raised
 *   plot WHAT [png|svg|pdf] [DIR]   figures through gnuplot into DIR (default
 *                        qdb-plots): WHAT is a layer (its activation
 *                        histogram with every method's threshold, and its
 *                        weights), all, sqnr, sensitivity, bisect or history
 *   layers               the per-layer table
 *   layer LAYER          one layer: configuration, every method's threshold
 *   status               accuracies
 *   save [FILE]          the whole session as JSON (session_file.h)
 *   load FILE            a saved session of the same model: its configuration,
 *                        rules and history, re-quantized
 *   export-spec FILE     the per-layer quantization spec (JSON, export.h)
 *   export-script FILE   the commands that reproduce the session (qdb run)
 *   help [COMMAND]       the commands, or one in detail
 *   quit
 *
 * A command that changes the configuration and then fails (a bad value, an
 * error during evaluation, or cancellation through the progress callback)
 * leaves the rules, the configuration and the figures as they were. */
#ifndef QDB_COMMAND_H
#define QDB_COMMAND_H

#include <stddef.h>

#include "session.h"

/* The command list: identifier, name as typed, arguments, one-line help,
 * runs long (off the TUI's thread, with progress). One X-macro, so that the dispatch table,
 * help and completion stay in step. */
#define QDB_COMMANDS(X)                                                                      \
    X(rule, "rule", "RULE", "add a network-editor rule and re-quantize", 1)                          \
    X(match, "match", "RULE|FILTER", "list the layers a rule or filter selects (dry run)", 0)         \
    X(rules, "rules", "", "list the rules: enabled, layers matched, accuracy contribution", 0)        \
    X(enable, "enable", "N", "enable rule N and re-quantize", 1)                                       \
    X(disable, "disable", "N", "disable rule N and re-quantize", 1)                                     \
    X(delete, "delete", "N", "delete rule N and re-quantize", 1)                                       \
    X(set, "set", "KEY=VALUE", "set a global quantization parameter and re-quantize", 1)            \
    X(bits, "bits", "LAYER N", "activation bits of one layer (2-16), as a rule", 1)                  \
    X(wbits, "wbits", "LAYER N", "weight bits of one layer (2-16), as a rule", 1)                     \
    X(method, "method", "LAYER METHOD", "activation error method of one layer, as a rule", 1)          \
    X(undo, "undo", "", "back to the rules and settings before the last change", 1)                \
    X(requant, "requant", "", "quantize and evaluate again", 1)                                         \
    X(sensitivity, "sensitivity", "[N|all]", "per-layer sweep: each layer alone, all but it (N samples, 500)", 1) \
    X(bisect, "bisect", "[TOL] [float|16] [N|all]", "find the layers that, raised, bring accuracy within TOL points", 1) \
    X(keep, "keep", "", "add the rule keeping the last bisect's culprits raised", 1)                 \
    X(plot, "plot", "LAYER|all|sqnr|sensitivity|bisect|history [png|svg|pdf] [DIR]",                \
      "figures through gnuplot into DIR (default qdb-plots)", 1)                             \
    X(layers, "layers", "", "the per-layer table", 0)                                                  \
    X(layer, "layer", "LAYER", "one layer: configuration and every error method's threshold", 0)      \
    X(status, "status", "", "float, baseline and quantized accuracy", 0)                               \
    X(help, "help", "[COMMAND]", "the commands, or one in detail", 0)                                \
    X(save, "save", "[FILE]", "save the whole session (default: the last file, or MODEL.qdb-session.json)", 0) \
    X(load, "load", "FILE", "load a saved session of this model: configuration, rules, history", 1) \
    X(export_spec, "export-spec", "FILE", "write the per-layer quantization spec (JSON) for deployment tools", 0) \
    X(export_script, "export-script", "FILE", "write the commands that reproduce this session (qdb run)", 0) \
    X(quit, "quit", "", "leave qdb", 0)

typedef enum {
#define QDB_CMD_ENUM(id, name, args, help, slow) QDB_CMD_##id,
    QDB_COMMANDS(QDB_CMD_ENUM)
#undef QDB_CMD_ENUM
    QDB_CMD_COUNT
} qdb_cmd_id;

typedef struct qdb_cmd_info {
    const char *name, *args, *help;
    int slow;                 /* runs long: re-quantizes and evaluates */
} qdb_cmd_info;

const qdb_cmd_info *qdb_cmd_info_at(int i); /* i < QDB_CMD_COUNT */
/* The command a line starts with (exact name), or -1. */
int qdb_cmd_lookup(const char *line);

/* Result flags. */
enum { QDB_CMD_CHANGED = 1, QDB_CMD_QUIT = 2 };

typedef struct qdb_cmd_result {
    char *text;               /* owned; "" when nothing to say */
    size_t len, cap;
    int flags;
} qdb_cmd_result;

void qdb_cmd_result_free(qdb_cmd_result *r);

/* Run one command line (leading/trailing blanks ignored; an empty line or a
 * '#' comment does nothing). On error, e says what (naming the command) and
 * r may hold partial text. progress may be NULL. */
qdb_status qdb_cmd_run(qdb_session *s, const char *line, qdb_session_progress progress,
                       void *user, qdb_cmd_result *r, qdb_err *e);

#endif
