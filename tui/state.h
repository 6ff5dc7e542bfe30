/* state.h - the TUI's own state (selection, panes, sort, filter, the
 * message line, the running job's progress) shared by the event loop
 * (tui.c) and the drawing code (draw.c). Drawing reads only this and the
 * view snapshot, never the session. */
#ifndef QDB_TUI_STATE_H
#define QDB_TUI_STATE_H

#include <stdatomic.h>
#include <stdint.h>

#include "status.h"
#include "view.h"

typedef enum { PANE_LAYERS, PANE_RULES, PANE_HISTORY, PANE_COUNT } tui_pane;
typedef enum { SORT_ORDER, SORT_SQNR, SORT_NAME, SORT_COUNT } tui_sort;

/* Semantic colour elements (one table maps them to colours, draw.c). */
typedef enum {
    C_NORMAL = 0, C_HEADER, C_TITLE, C_TITLE_FOCUS, C_SELECTED, C_GOOD, C_BAD, C_WORST,
    C_RULE_MARK, C_DIM, C_BAR, C_MARKER, C_ACTIVE_MARKER, C_ERROR, C_BUSY, C_COUNT
} tui_color;

typedef struct tui_state {
    const char *model;
    const char *calib, *eval;
    view v;
    int *order;                      /* displayed layer order (indices into v.l) */
    int n_order;
    int sel;                         /* position in order */
    int top;                         /* first row shown */
    int rule_sel, hist_top;
    tui_pane pane;
    tui_sort sort;
    char filter[128];                /* layer name filter ("" none) */
    int log_counts;                  /* histogram: log or linear counts */
    int show_weights;                /* histogram pane: weights instead of activations */
    /* the pager over the panes: help, or a command's output of several
     * lines (owned; NULL: closed), scrolled to line pager_top */
    char *pager;
    char pager_title[160];
    int pager_top;
    char msg[QDB_ERR_MSG_MAX + 512];
    int msg_error;
    int prompt_active;               /* the ':' or '/' line is open */
    char prompt_char;
    /* the job (written by the job thread, read by the UI) */
    atomic_int busy;
    atomic_int cancel;
    atomic_llong done, total;
    _Atomic(const char *) phase;
    char job_name[64];
    double job_start;
    int colors;                      /* colours in use */
} tui_state;

/* Rebuild the displayed order from sort and filter, keeping the selected
 * layer selected when it is still shown. */
void tui_reorder(tui_state *t);
/* Draw everything; `cmdline` is the prompt's text (NULL when closed),
 * cursor its cursor position. */
void tui_draw(tui_state *t, const char *cmdline, int cursor);
void tui_colors_init(tui_state *t);
/* The index of the selected layer in v.l, or -1. */
int tui_selected_layer(const tui_state *t);
/* The accumulated SQNR at or below which a quantized layer counts among
 * the worst (the third lowest; every one with fewer than three). */
double tui_worst_sqnr(const view *v);

/* A layer name shortened for a narrow column: PyTorch's exports repeat
 * each module's name before its child's ("/blocks/blocks.0/block/block.3/
 * Conv"); a segment the next one extends with ".N" goes, and the leading
 * '/': "blocks.0/block.3/Conv". Other names are copied. */
void tui_short_name(const char *name, char *out, size_t n);

#endif
