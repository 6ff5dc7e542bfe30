/* qsetup.h - what the quantization commands (quantize, sensitivity,
 * bisect) share: their common flags (data flags, --set, --rule, --rules,
 * --batch, --threads) and the setup they all start with: profile, model,
 * representative set (a seeded random subset of 1024 samples unless
 * --calib-n says otherwise), evaluation set, calibration, rules. */
#ifndef QDB_CLI_QSETUP_H
#define QDB_CLI_QSETUP_H

#include "data_flags.h"
#include "profile.h"
#include "qmodel.h"
#include "ruleset.h"
#include "session_file.h"

#define QSETUP_DEFAULT_CALIB_N 1024

#define QSETUP_HELP                                                                          \
    "  --set key=value   a quantization parameter (qdb quantize --help-config lists all)\n"  \
    "  --rule RULE       a network-editor rule (repeatable), e.g. \"type=Sigmoid : act_bits=16\"\n" \
    "  --rules FILE      rules from a file, one per line ('#' comments)\n"                    \
    "  --batch B, --threads T\n"                                                             \
    "  (calibration: a seeded random subset of 1024 samples unless --calib-n is given)\n"     \
    DATA_FLAGS_HELP

typedef struct qsetup {
    const char *model;
    data_flags df;
    qdb_quant_config cfg;
    qdb_ruleset *rs;
    int n_rule_files;
    const char *rule_files[16]; /* --rules FILE, read by qsetup_open */
    long batch, threads;
    int no_calibrate;           /* qsetup_open stops after opening (the TUI calibrates) */
    /* after qsetup_open */
    qdb_profile prof;
    int have_prof;
    const char *cspec, *espec;
    qdb_graph *g;
    qdb_dataset *dc, *de;
    qdb_qmodel *q;
} qsetup;

/* Defaults; NULL on OOM (message printed). */
int qsetup_init(qsetup *s);
/* If argv[*i] is a common flag or the model, consume it: 1; not one: 0;
 * an invalid value: -1 (message printed). */
int qsetup_parse(qsetup *s, int argc, char **argv, int *i);
/* Load and calibrate; read the rule files; apply the rules. eval_n > 0
 * opens a seeded random subset of that many evaluation samples (0: the
 * evaluation flags decide), need_eval = 0 opens no evaluation set.
 * Returns 0, or 1 with the message printed. */
int qsetup_open(qsetup *s, int need_eval, int64_t eval_n);
void qsetup_close(qsetup *s);

/* The probe size of sensitivity and bisect: --subset N (given: subset_given),
 * else --eval-n N, else *subset; --full (all samples: *subset = 0) excludes
 * both. 0, or -1 with the message printed. */
int qsetup_probe_size(qsetup *s, const char *cmd, int full, int subset_given, long *subset);

/* The flags of argv[1..argc) that say how the data were opened: everything
 * but the model, `skip` (e.g. the script), and --rule / --rules / --set with
 * their values (an exported or saved session carries those itself). *out
 * receives a calloc'd NULL-terminated vector borrowing argv's strings;
 * returns their number, -1 on OOM. */
int qsetup_origin_argv(int argc, char **argv, const char *model, const char *skip, char ***out);

/* Start from a saved session instead of flags: load and check it (the
 * model's hash too), take its model, its recorded flags (parsed as given on
 * the command line), its configuration and rules. d keeps the strings s
 * now points to: free it after qsetup_close. 0, or -1 with the message
 * printed. */
int qsetup_from_session(qsetup *s, const char *path, qdb_session_desc *d);

/* The session the TUI and `qdb run` work on: from a saved session when
 * `session` is given (qsetup_from_session; its history, UI state and file
 * carried over), else from the flags already parsed into s; the
 * calibration is left to qdb_session_prepare. argv / skip: the command
 * line, for the flags the session records. NULL with the message printed. */
struct qdb_session *qsetup_session(qsetup *s, int argc, char **argv, const char *skip,
                                   const char *session, qdb_session_desc *d);

/* A whole number in [lo, hi] for flag `flag`: 0, or -1 with the message printed. */
int qsetup_parse_long(const char *flag, const char *v, long lo, long hi, long *out);

#endif
