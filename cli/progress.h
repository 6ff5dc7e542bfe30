/* progress.h - the progress bar the commands draw on stderr while long work
 * runs (only when stderr is a terminal). */
#ifndef QDB_CLI_PROGRESS_H
#define QDB_CLI_PROGRESS_H

#include <stdint.h>

/* A qdb_progress_fn; `user` is a label ("calibrating") or NULL. */
int cli_progress(void *user, int64_t done, int64_t total);
/* cli_progress when stderr is a terminal, else NULL. */
typedef int (*cli_progress_fn)(void *, int64_t, int64_t);
cli_progress_fn cli_progress_if_tty(void);

/* Long searches (sensitivity, bisect): the first Ctrl-C asks them to stop
 * after the current step, keeping what they found; a second one ends the
 * process. cli_progress_stoppable draws the bar on a terminal and returns
 * non-zero once Ctrl-C was pressed. */
void cli_catch_interrupt(void);
int cli_interrupted(void);
int cli_progress_stoppable(void *user, int64_t done, int64_t total);

#endif
