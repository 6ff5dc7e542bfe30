/* cmd_run.c - `qdb run SCRIPT MODEL.onnx [flags]`: batch mode. Opens the
 * model like the TUI (the quantize command's flags), prepares the session
 * with progress on stderr, then runs the script's commands (the TUI's
 * command language; SCRIPT '-' is standard input), printing each result.
 * Exit status 0 when every command ran, 1 at the first failure (its line
 * named), or with --keep-going 1 when any failed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "progress.h"
#include "qsetup.h"
#include "script.h"
#include "session.h"

typedef struct {
    cli_progress_fn pf;
} run_prog;

/* Progress of the session's phases on stderr (a terminal only). */
static int run_progress(void *user, const char *phase, int64_t done, int64_t total)
{
    const run_prog *p = user;
    return p->pf ? p->pf((void *)phase, done, total) : 0;
}

int cmd_run(int argc, char **argv)
{
    qsetup s;
    if (qsetup_init(&s))
        return 1;
    int rc = 2, keep_going = 0, echo = 0;
    const char *script = NULL, *session = NULL;
    qdb_session_desc d;
    memset(&d, 0, sizeof d);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--session") && i + 1 < argc) {
            session = argv[++i];
            continue;
        }
        if (!strcmp(argv[i], "--keep-going")) {
            keep_going = 1;
            continue;
        }
        if (!strcmp(argv[i], "--echo")) {
            echo = 1;
            continue;
        }
        if (!script && (!strcmp(argv[i], "-") || argv[i][0] != '-') &&
            !(strlen(argv[i]) > 5 && !strcmp(argv[i] + strlen(argv[i]) - 5, ".onnx"))) {
            script = argv[i];
            continue;
        }
        int k = qsetup_parse(&s, argc, argv, &i);
        if (k < 0)
            goto out;
        if (k == 0) {
            cli_error("run: unexpected argument '%s' (qdb run --help)", argv[i]);
            goto out;
        }
    }
    if (!script || (!s.model && !session)) {
        cli_error("usage: qdb run SCRIPT|- MODEL.onnx [--keep-going] [--echo] [data flags] [--rule RULE] "
                  "[--rules FILE] [--set k=v]\n       qdb run SCRIPT|- --session FILE");
        goto out;
    }
    rc = 1;
    FILE *in = strcmp(script, "-") ? fopen(script, "r") : stdin;
    if (!in) {
        cli_error("%s: cannot open the script: %s", script, strerror(errno));
        goto out;
    }
    qdb_session *ss = qsetup_session(&s, argc, argv, script, session, &d);
    if (!ss) {
        if (in != stdin)
            fclose(in);
        goto out;
    }
    qdb_err e = {0};
    run_prog rp = {cli_progress_if_tty()};
    if (qdb_session_prepare(ss, run_progress, &rp, &e) != QDB_OK) {
        cli_error("%s: %s", s.model, e.msg);
    } else {
        /* line by line, so that output and messages interleave in order
         * when both go to one file */
        setvbuf(stdout, NULL, _IOLBF, 0);
        qdb_script_opts so = {.keep_going = keep_going, .echo = echo, .progress = run_progress,
                              .user = &rp};
        qdb_script_result sr;
        qdb_status st = qdb_script_run(ss, in, strcmp(script, "-") ? script : "<stdin>", stdout,
                                       stderr, &so, &sr, &e);
        fflush(stdout);
        rc = st == QDB_OK ? 0 : 1;
        if (sr.failed && keep_going)
            fprintf(stderr, "qdb: %d of %d commands failed (first at line %d)\n", sr.failed,
                    sr.commands, sr.first_failed_line);
    }
    if (in != stdin)
        fclose(in);
    qdb_session_free(ss);
out:
    qsetup_close(&s);
    qdb_session_desc_free(&d);
    return rc;
}
