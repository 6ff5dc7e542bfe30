/* script.h - batch mode: a file of commands (the command language of
 * command.h, one per line, '#' comments, blank lines ignored) run against a
 * session in order, each command's text written to an output stream. A
 * failing command stops the script with its line number, unless
 * keep_going is set (then the script goes on and the failure is counted). */
#ifndef QDB_SCRIPT_H
#define QDB_SCRIPT_H

#include <stdio.h>

#include "session.h"

typedef struct qdb_script_opts {
    int keep_going;
    int echo;                 /* print each command before its output ("> rule ...") */
    qdb_session_progress progress;
    void *user;
} qdb_script_opts;

typedef struct qdb_script_result {
    int commands;             /* commands run */
    int failed;               /* commands that failed */
    int first_failed_line;    /* 0 when none */
    int quit;                 /* a quit command ended it */
} qdb_script_result;

/* Run the commands read from `in` (named `what` in messages) against s,
 * writing results to `out` and, for each failure, "WHAT:LINE: message" to
 * `err`. Returns QDB_OK when every command ran, else the first failure's
 * status (e holds its message with the line). Lines longer than 64 KiB are
 * an error. */
qdb_status qdb_script_run(qdb_session *s, FILE *in, const char *what, FILE *out, FILE *err,
                          const qdb_script_opts *o, qdb_script_result *r, qdb_err *e);

#endif
