/* session_ui.h - what a front end keeps of its own that a saved session
 * restores: the selected layer, the table's sort and filter, the pane in
 * focus. Plain strings so that the session layer needs no knowledge of the
 * front end (NULL fields: not set). */
#ifndef QDB_SESSION_UI_H
#define QDB_SESSION_UI_H

typedef struct qdb_session_ui {
    char *selected;           /* layer name */
    char *sort;               /* "order", "sqnr", "name" */
    char *pane;               /* "layers", "rules", "history" */
    char *filter;
} qdb_session_ui;

void qdb_session_ui_free(qdb_session_ui *u);

#endif
