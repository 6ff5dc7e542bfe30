/* tui.h - the curses front end: a full-screen debugger over one session.
 * Start-up work (calibration, evaluation) and every re-quantization run on
 * a job thread with progress in the header; Esc or Ctrl-C cancels; the
 * screen keeps answering keys and resizes meanwhile. Commands typed at the
 * ':' prompt are the command language of sessions/command.h. */
#ifndef QDB_TUI_H
#define QDB_TUI_H

#include "session.h"

/* Run the TUI until the user quits. The session must not be prepared yet
 * (the TUI prepares it, showing progress) or may be. Returns 0, or 1 when
 * the terminal could not be used (message printed). */
int qdb_tui_run(qdb_session *s);

#endif
