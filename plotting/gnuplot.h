/* gnuplot.h - the gnuplot process: one external gnuplot (never linked),
 * driven through a pipe, that renders every figure of a run. Its standard
 * output and error are captured: each script run ends with a marker, and
 * what gnuplot printed before it is the script's error text. A gnuplot
 * that dies is restarted for the next script. Also the quoting of text into
 * gnuplot's command language.
 *
 * The program is "gnuplot" looked up in PATH, or $QDB_GNUPLOT when set. */
#ifndef QDB_GNUPLOT_H
#define QDB_GNUPLOT_H

#include <stdio.h>

#include "status.h"

typedef struct qdb_gnuplot qdb_gnuplot;

/* Start gnuplot. NULL with the error in e when it cannot be started; a
 * missing gnuplot says to install the Debian package gnuplot-nox. */
qdb_gnuplot *qdb_gnuplot_open(qdb_err *e);
/* Close its input and wait for it to exit; NULL is a no-op. */
void qdb_gnuplot_close(qdb_gnuplot *gp);

/* Run the script `script` (a file name relative to `dir`) with `dir` (made
 * absolute) as gnuplot's working directory, and wait for it to finish (up to
 * timeout_s seconds; 0: 120). output, if not NULL, is given to the script
 * as the gnuplot variable qdb_output (the scripts qdb writes take their
 * output file from it when it exists). QDB_ERR_IO with gnuplot's own error text
 * (the first lines) when the script failed, gnuplot died or timed out;
 * warnings alone are not failures. */
qdb_status qdb_gnuplot_run(qdb_gnuplot *gp, const char *dir, const char *script,
                           const char *output, int timeout_s, qdb_err *e);

/* Number of gnuplot processes started so far (restarts included). */
int qdb_gnuplot_processes(const qdb_gnuplot *gp);

/* Write s to f as a gnuplot double-quoted string literal that gnuplot
 * reads back byte for byte: quotes, backslashes, backquotes (command
 * substitution), '@' and every byte outside printable ASCII become octal
 * escapes. Use with noenhanced text so '_' and '^' stay literal. */
void qdb_gnuplot_string(FILE *f, const char *s);

#endif
