/* draw.c - the TUI's panes: header with accuracies and job progress, the
 * layer table, the selected layer's histogram with every error method's
 * threshold, rules, history, the message line and the key bar; semantic
 * colours (NO_COLOR and monochrome terminals get attributes only). The
 * layout stacks panes on small terminals (down to 80x24). */
#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "state.h"

/* ---- colours ---- */

static attr_t attr_of[C_COUNT];

void tui_colors_init(tui_state *t)
{
    static const struct {
        short fg, bg;
        attr_t mono;
    } scheme[C_COUNT] = {
        [C_NORMAL] = {-1, -1, A_NORMAL},          [C_HEADER] = {COLOR_WHITE, COLOR_BLUE, A_REVERSE},
        [C_TITLE] = {COLOR_CYAN, -1, A_BOLD},     [C_TITLE_FOCUS] = {COLOR_YELLOW, -1, A_BOLD | A_UNDERLINE},
        [C_SELECTED] = {COLOR_BLACK, COLOR_CYAN, A_REVERSE},
        [C_GOOD] = {COLOR_GREEN, -1, A_NORMAL},   [C_BAD] = {COLOR_RED, -1, A_BOLD},
        [C_WORST] = {COLOR_RED, -1, A_BOLD},      [C_RULE_MARK] = {COLOR_MAGENTA, -1, A_BOLD},
        [C_DIM] = {COLOR_BLUE, -1, A_DIM},        [C_BAR] = {COLOR_CYAN, -1, A_NORMAL},
        [C_MARKER] = {COLOR_YELLOW, -1, A_NORMAL},
        [C_ACTIVE_MARKER] = {COLOR_GREEN, -1, A_BOLD | A_REVERSE},
        [C_ERROR] = {COLOR_WHITE, COLOR_RED, A_REVERSE | A_BOLD},
        [C_BUSY] = {COLOR_BLACK, COLOR_YELLOW, A_REVERSE},
    };
    const char *nc = getenv("NO_COLOR");
    t->colors = has_colors() && !(nc && *nc);
    if (t->colors) {
        start_color();
        use_default_colors();
    }
    for (int i = 0; i < C_COUNT; i++) {
        if (t->colors && i > 0 && init_pair((short)i, scheme[i].fg, scheme[i].bg) == OK)
            attr_of[i] = COLOR_PAIR(i) | (scheme[i].mono & (A_BOLD | A_UNDERLINE));
        else
            attr_of[i] = scheme[i].mono;
    }
}

/* ---- helpers ---- */

static void put(int y, int x, int w, tui_color c, const char *s)
{
    if (w <= 0)
        return;
    attrset(attr_of[c]);
    mvaddnstr(y, x, s, w);
    attrset(A_NORMAL);
}

static void box_title(int y, int x, int h, int w, const char *title, int focus)
{
    if (h < 2 || w < 4)
        return;
    attrset(attr_of[C_DIM]);
    mvhline(y, x + 1, ACS_HLINE, w - 2);
    mvhline(y + h - 1, x + 1, ACS_HLINE, w - 2);
    mvvline(y + 1, x, ACS_VLINE, h - 2);
    mvvline(y + 1, x + w - 1, ACS_VLINE, h - 2);
    mvaddch(y, x, ACS_ULCORNER);
    mvaddch(y, x + w - 1, ACS_URCORNER);
    mvaddch(y + h - 1, x, ACS_LLCORNER);
    mvaddch(y + h - 1, x + w - 1, ACS_LRCORNER);
    attrset(A_NORMAL);
    char buf[256];
    snprintf(buf, sizeof buf, " %s ", title);
    put(y, x + 2, w - 4, focus ? C_TITLE_FOCUS : C_TITLE, buf);
}

/* ---- header ---- */

/* The file name of a dataset spec ("idx:/a/b/x.gz,/a/b/y.gz" -> "x.gz"). */
static const char *base_name(const char *spec)
{
    static char buf[2][128];
    static int k;
    if (!spec)
        return "-";
    const char *p = strchr(spec, ':');
    p = p ? p + 1 : spec;
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    const char *slash = p;
    for (const char *q = p; q < p + n; q++)
        if (*q == '/')
            slash = q + 1;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%.*s", (int)(n - (size_t)(slash - p)), slash);
    return buf[k];
}

static void draw_header(tui_state *t, int w)
{
    char buf[1024];
    attrset(attr_of[C_HEADER]);
    mvhline(0, 0, ' ', w);
    int x = 0;
    snprintf(buf, sizeof buf, " qdb  %s ", t->model);
    mvaddnstr(0, 0, buf, w);
    x = (int)strlen(buf);
    if (t->v.ready && x < w) {
        double d = 100.0 * (t->v.current - t->v.float_score);
        snprintf(buf, sizeof buf, "| float %.2f%%  quant %.2f%% ", 100.0 * t->v.float_score,
                 100.0 * t->v.current);
        mvaddnstr(0, x, buf, w - x);
        x += (int)strlen(buf);
        if (x < w) {
            snprintf(buf, sizeof buf, "(%+.2f)", d);
            attrset(t->colors ? attr_of[d < -1.0 ? C_BAD : C_GOOD] | A_REVERSE
                              : A_REVERSE | (d < -1.0 ? A_BOLD : 0));
            mvaddnstr(0, x, buf, w - x);
            x += (int)strlen(buf);
            attrset(attr_of[C_HEADER]);
        }
        snprintf(buf, sizeof buf, " | rules %d ", t->v.n_rules);
        if (x < w)
            mvaddnstr(0, x, buf, w - x);
        x += (int)strlen(buf);
    }
    if (x < w && !atomic_load(&t->busy)) {
        snprintf(buf, sizeof buf, "| calib %s | eval %s", base_name(t->calib), base_name(t->eval));
        mvaddnstr(0, x, buf, w - x);
    }
    if (atomic_load(&t->busy) && x < w) {
        long long done = atomic_load(&t->done), total = atomic_load(&t->total);
        const char *ph = atomic_load(&t->phase);
        int pct = total > 0 ? (int)(100 * done / total) : 0;
        char bar[11];
        for (int i = 0; i < 10; i++)
            bar[i] = i < pct / 10 ? '#' : '.';
        bar[10] = 0;
        snprintf(buf, sizeof buf, " %s %s [%s] %3d%%  Esc cancels ", t->job_name, ph ? ph : "",
                 bar, pct);
        attrset(attr_of[C_BUSY]);
        int bw = (int)strlen(buf);
        mvaddnstr(0, w - bw > x ? w - bw : x, buf, w - x);
    }
    attrset(A_NORMAL);
}

/* ---- layer table ---- */

static void draw_layers(tui_state *t, int y, int x, int h, int w)
{
    char title[256];
    snprintf(title, sizeof title, "Layers %d%s%s%s  sort: %s", t->n_order,
             t->filter[0] ? "  filter: " : "", t->filter, t->filter[0] ? "" : "",
             t->sort == SORT_ORDER ? "order" : t->sort == SORT_SQNR ? "SQNR" : "name");
    box_title(y, x, h, w, title, t->pane == PANE_LAYERS);
    int rows = h - 3;
    if (rows < 1)
        return;
    /* fixed columns take 79 cells (with the output shape); below 16 for
     * the name, drop "shape", "acc" and "clip%" */
    int compact = w - 2 - 79 < 16;
    int nw = w - 2 - (compact ? 56 : 79);
    if (nw < 8)
        nw = 8;
    char buf[512];
    if (compact)
        snprintf(buf, sizeof buf, "%4s %-*.*s %-12s %4s %9s %3s %-6s %6s", "#", nw, nw, "name",
                 "op", "act", "thr", "w", "method", "own");
    else
        snprintf(buf, sizeof buf, "%4s %-*.*s %-12s %-9s %4s %9s %3s %-6s %6s %6s %5s", "#", nw,
                 nw, "name", "op", "shape", "act", "thr", "w", "method", "own", "acc", "clip%");
    put(y + 1, x + 1, w - 2, C_TITLE, buf);
    if (t->sel < t->top)
        t->top = t->sel;
    if (t->sel >= t->top + rows)
        t->top = t->sel - rows + 1;
    double worst = tui_worst_sqnr(&t->v);
    for (int r = 0; r < rows; r++) {
        int p = t->top + r;
        if (p >= t->n_order)
            break;
        const vlayer *l = &t->v.l[t->order[p]];
        char thr[32] = "-", wb[8] = "-", own[16] = "", acc[16] = "", clip[16] = "";
        if (l->act_active)
            snprintf(thr, sizeof thr, "%c %.4g", l->act_signed ? 's' : 'u', l->thr);
        else
            snprintf(thr, sizeof thr, "float");
        if (l->w_bits)
            snprintf(wb, sizeof wb, "%d%s", l->w_bits, l->w_by_rule ? "*" : "");
        if (l->metrics) {
            snprintf(own, sizeof own, "%6.1f", l->sqnr_own);
            snprintf(acc, sizeof acc, "%6.1f", l->sqnr_acc);
            snprintf(clip, sizeof clip, "%5.2f", l->clipped);
        }
        char bits[8];
        snprintf(bits, sizeof bits, "%d%s", l->act_bits, l->act_by_rule ? "*" : "");
        char meth[16];
        snprintf(meth, sizeof meth, "%s%s", qdb_error_method_name((qdb_error_method)l->em),
                 l->em_by_rule ? "*" : "");
        int is_worst = l->metrics && l->act_active && l->sqnr_own <= worst;
        char num[16] = "-"; /* correction layers have no number */
        if (l->own >= 0)
            snprintf(num, sizeof num, "%d", l->own);
        /* long names lose PyTorch's repeated module names, then keep their
         * end, the part that tells layers apart */
        char shortened[256];
        const char *nm = l->name;
        if ((int)strlen(nm) > nw) {
            tui_short_name(l->name, shortened, sizeof shortened);
            nm = shortened;
        }
        size_t ln = strlen(nm);
        if ((int)ln > nw)
            nm += ln - (size_t)nw;
        if (compact)
            snprintf(buf, sizeof buf, "%4s %-*.*s %-12.12s %4s %9s %3s %-6s %6s %s", num,
                     nw, nw, nm, l->op, bits, thr, wb, meth, own, is_worst ? "!" : l->any_rule ? "*" : "");
        else
            snprintf(buf, sizeof buf, "%4s %-*.*s %-12.12s %-9.9s %4s %9s %3s %-6s %6s %6s %5s %s",
                     num, nw, nw, nm, l->op, l->shape, bits, thr, wb, meth, own, acc, clip,
                     is_worst ? "!" : l->any_rule ? "*" : "");
        tui_color c = p == t->sel ? C_SELECTED : is_worst ? C_WORST : l->any_rule ? C_RULE_MARK : C_NORMAL;
        if (p == t->sel) {
            attrset(attr_of[C_SELECTED]);
            mvhline(y + 2 + r, x + 1, ' ', w - 2);
        }
        put(y + 2 + r, x + 1, w - 2, c, buf);
    }
}

/* ---- histogram ---- */

static const wchar_t *const blocks[] = {L" ", L"\u2581", L"\u2582", L"\u2583", L"\u2584",
                                        L"\u2585", L"\u2586", L"\u2587", L"\u2588"};

/* Bars of `counts` (nb bins over [dlo, dhi]) in a plot of plot_h rows and
 * cw columns spanning [lo, hi], bottom row at y + plot_h. */
static void bars(int y, int x, int plot_h, int cw, const double *counts, int nb, double dlo,
                 double dhi, double lo, double hi, int log_counts)
{
    double col[512];
    if (cw > 512)
        cw = 512;
    for (int c = 0; c < cw; c++)
        col[c] = 0;
    for (int b = 0; b < nb; b++) {
        double xc = dlo + (b + 0.5) * (dhi - dlo) / nb;
        int c = (int)((xc - lo) / (hi - lo) * cw);
        c = c < 0 ? 0 : c >= cw ? cw - 1 : c;
        col[c] += counts[b];
    }
    double mx = 0;
    for (int c = 0; c < cw; c++) {
        col[c] = log_counts ? log10(1.0 + col[c]) : col[c];
        mx = col[c] > mx ? col[c] : mx;
    }
    attrset(attr_of[C_BAR]);
    for (int c = 0; c < cw; c++) {
        double eighths = mx > 0 ? col[c] / mx * plot_h * 8.0 : 0;
        for (int r = 0; r < plot_h; r++) {
            int fill = (int)(eighths - r * 8.0);
            fill = fill < 0 ? 0 : fill > 8 ? 8 : fill;
            if (col[c] > 0 && r == 0 && fill == 0)
                fill = 1;
            mvaddwstr(y + plot_h - r, x + c, blocks[fill]);
        }
    }
    attrset(A_NORMAL);
}

/* A marker on the axis row at value v (nothing when outside [lo, hi]). */
static void marker(int ay, int x, int cw, double lo, double hi, double v, int active)
{
    int c = (int)((v - lo) / (hi - lo) * cw);
    if (c == cw && v <= hi)
        c = cw - 1; /* the right end itself */
    if (c < 0 || c >= cw)
        return;
    attrset(attr_of[active ? C_ACTIVE_MARKER : C_MARKER]);
    mvaddch(ay, x + c, active ? '#' : '|');
    attrset(A_NORMAL);
}

static void axis(int ay, int x, int cw, double lo, double hi)
{
    char buf[64];
    attrset(attr_of[C_DIM]);
    mvhline(ay, x, ACS_HLINE, cw);
    attrset(A_NORMAL);
    snprintf(buf, sizeof buf, "%.3g", lo);
    put(ay + 1, x, cw, C_DIM, buf);
    snprintf(buf, sizeof buf, "%.3g", hi);
    int n = (int)strlen(buf);
    put(ay + 1, x + cw - n, n, C_DIM, buf);
}

/* The activation histogram with every error method's threshold. */
static void act_hist(tui_state *t, const vlayer *l, int y, int x, int plot_h, int cw)
{
    if (!l->has_hist) {
        put(y, x, cw, C_DIM, "no statistics yet");
        return;
    }
    /* the x range: the data, widened to every method's threshold (both
     * signs for signed layers), as in the seed tutorial's figure */
    double lo = l->lo, hi = l->hi;
    for (int m = 0; m < QDB_EM_COUNT; m++) {
        double th = l->thr_m[m];
        if (!(th > 0) || !isfinite(th) || th > 1e6 * (hi - lo + 1))
            continue;
        hi = th > hi ? th : hi;
        if (l->act_signed && l->lo < 0)
            lo = -th < lo ? -th : lo;
    }
    bars(y - 1, x, plot_h, cw, l->counts, VIEW_HIST_BINS, l->lo, l->hi, lo, hi, t->log_counts);
    int ay = y + plot_h;
    axis(ay, x, cw, lo, hi);
    char lab[512] = "";
    int labn = 0;
    for (int m = 0; m < QDB_EM_COUNT; m++) {
        double th = l->thr_m[m];
        if (!(th > 0) || !isfinite(th))
            continue;
        int active = m == l->em && l->act_active;
        marker(ay, x, cw, lo, hi, th, active);
        if (l->act_signed)
            marker(ay, x, cw, lo, hi, -th, active);
        labn += snprintf(lab + labn, sizeof lab - (size_t)labn, "%s%s %.3g", labn ? "  " : "",
                         qdb_error_method_name((qdb_error_method)m), th);
        if (labn >= (int)sizeof lab)
            break;
    }
    put(ay + 2, x, cw, C_MARKER, lab);
    char act[256];
    if (l->act_active)
        snprintf(act, sizeof act, "active: %s %.4g (%s, %d bit)  clipped %.2f %%",
                 qdb_error_method_name((qdb_error_method)l->em), l->thr,
                 l->act_signed ? "signed" : "unsigned", l->act_bits, l->clipped);
    else
        snprintf(act, sizeof act, "activation kept in float");
    put(ay + 3, x, cw, C_ACTIVE_MARKER, act);
}

/* The float kernel's histogram, the largest threshold on the axis, and
 * each channel's threshold as a sparkline. */
static void weight_hist(tui_state *t, const vlayer *l, int y, int x, int plot_h, int cw)
{
    if (!l->has_w) {
        put(y, x, cw, C_DIM, "no weights in this layer");
        return;
    }
    double tmax = 0, tmin = INFINITY;
    for (int c = 0; c < l->n_wthr; c++) {
        tmax = l->wthr[c] > tmax ? l->wthr[c] : tmax;
        tmin = l->wthr[c] < tmin ? l->wthr[c] : tmin;
    }
    double lo = l->w_lo, hi = l->w_hi;
    if (tmax > 0 && isfinite(tmax)) {
        lo = -tmax < lo ? -tmax : lo;
        hi = tmax > hi ? tmax : hi;
    }
    int ph = l->n_wthr > 1 ? plot_h - 1 : plot_h;
    bars(y - 1, x, ph, cw, l->w_counts, VIEW_HIST_BINS, l->w_lo, l->w_hi, lo, hi, t->log_counts);
    int ay = y + ph;
    axis(ay, x, cw, lo, hi);
    if (tmax > 0) {
        marker(ay, x, cw, lo, hi, tmax, 1);
        marker(ay, x, cw, lo, hi, -tmax, 1);
    }
    char buf[256];
    if (l->n_wthr > 1) {
        /* one cell per channel (or per group of channels), height = threshold */
        int n = l->n_wthr < cw ? l->n_wthr : cw;
        attrset(attr_of[C_MARKER]);
        for (int c = 0; c < n; c++) {
            int c0 = c * l->n_wthr / n, c1 = (c + 1) * l->n_wthr / n;
            double m = 0;
            for (int k = c0; k < c1; k++)
                m = l->wthr[k] > m ? l->wthr[k] : m;
            int lev = tmax > 0 ? (int)(m / tmax * 8.0 + 0.5) : 0;
            mvaddwstr(ay + 2, x + c, blocks[lev < 1 ? 1 : lev > 8 ? 8 : lev]);
        }
        attrset(A_NORMAL);
        snprintf(buf, sizeof buf, "per-channel thresholds (above, %d channels): %.3g .. %.3g",
                 l->n_wthr, tmin, tmax);
    } else {
        snprintf(buf, sizeof buf, "per-tensor threshold %.4g", tmax);
    }
    put(ay + (l->n_wthr > 1 ? 3 : 2), x, cw, C_ACTIVE_MARKER, buf);
    snprintf(buf, sizeof buf, "%d-bit weights%s, %.0f values", l->w_bits,
             l->w_per_channel ? ", per channel" : "", l->w_total);
    if (l->n_wthr <= 1)
        put(ay + 3, x, cw, C_NORMAL, buf);
}

static void draw_hist(tui_state *t, int y, int x, int h, int w)
{
    int L = tui_selected_layer(t);
    char title[512];
    if (L < 0) {
        box_title(y, x, h, w, "Histogram", 0);
        return;
    }
    const vlayer *l = &t->v.l[L];
    snprintf(title, sizeof title, "%s  %s  %s (%s; w, l toggle)", l->name, l->op,
             t->show_weights ? "weights" : "activations", t->log_counts ? "log" : "linear");
    box_title(y, x, h, w, title, 0);
    int cw = w - 2, plot_h = h - 2 - 4;
    if (cw < 10 || plot_h < 2)
        return;
    if (t->show_weights)
        weight_hist(t, l, y + 2, x + 1, plot_h, cw);
    else
        act_hist(t, l, y + 2, x + 1, plot_h, cw);
}

/* ---- rules and history ---- */

static void draw_rules(tui_state *t, int y, int x, int h, int w)
{
    box_title(y, x, h, w, "Rules (space toggles, d deletes)", t->pane == PANE_RULES);
    if (!t->v.n_rules) {
        put(y + 1, x + 1, w - 2, C_DIM, "no rules: type  :rule type=Conv : act_bits=16");
        return;
    }
    for (int i = 0; i < t->v.n_rules && i < h - 2; i++) {
        /* the figures first, in line, so that a long rule loses only its end */
        char buf[512], lay[16] = "", con[16] = "";
        if (t->v.rule_matches[i] >= 0)
            snprintf(lay, sizeof lay, "%d lay.", t->v.rule_matches[i]);
        if (!isnan(t->v.rule_contrib[i]))
            snprintf(con, sizeof con, "%+.2f", 100.0 * t->v.rule_contrib[i]);
        snprintf(buf, sizeof buf, "%d %s %6s %7s  %s", i + 1, t->v.rule_on[i] ? "[x]" : "[ ]", con,
                 lay, t->v.rule_text[i]);
        tui_color c = t->pane == PANE_RULES && i == t->rule_sel ? C_SELECTED
                      : t->v.rule_on[i]                           ? C_NORMAL
                                                                   : C_DIM;
        put(y + 1 + i, x + 1, w - 2, c, buf);
    }
}

static void draw_history(tui_state *t, int y, int x, int h, int w)
{
    box_title(y, x, h, w, "History", t->pane == PANE_HISTORY);
    int rows = h - 2, r = 0;
    /* the last sweep and bisection first, then re-quantizations, newest first */
    for (int k = 0; k < t->v.n_notes && r < rows; k++, r++)
        put(y + 1 + r, x + 1, w - 2, C_MARKER, t->v.note[k]);
    for (int j = 0; r < rows; r++, j++) {
        int i = t->v.n_hist - 1 - t->hist_top - j;
        if (i < 0)
            break;
        put(y + 1 + r, x + 1, w - 2, C_NORMAL, t->v.hist_line[i]);
    }
}

/* ---- the pager: help, or a command's output ---- */

/* Lines of the pager's text (counted on each draw: the texts are short). */
static int pager_lines(const char *t)
{
    int n = 1;
    for (; *t; t++)
        n += *t == '\n';
    return n;
}

static void draw_pager(tui_state *t, int H, int W)
{
    int h = H - 3, w = W - 4, rows = h - 2; /* the message line stays visible */
    int n = pager_lines(t->pager);
    if (t->pager_top > n - rows)
        t->pager_top = n - rows;
    if (t->pager_top < 0)
        t->pager_top = 0;
    for (int r = 1; r < 1 + h; r++)
        mvhline(r, 2, ' ', w);
    char title[256];
    if (n > rows)
        snprintf(title, sizeof title, "%s: lines %d-%d of %d (j/k, PgUp/PgDn scroll; q closes)",
                 t->pager_title, t->pager_top + 1,
                 t->pager_top + rows < n ? t->pager_top + rows : n, n);
    else
        snprintf(title, sizeof title, "%s (q closes)", t->pager_title);
    box_title(1, 2, h, w, title, 1);
    const char *line = t->pager;
    for (int i = 0; i < t->pager_top && line; i++) {
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    char buf[1024];
    for (int r = 0; r < rows && line; r++) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len >= sizeof buf)
            len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = 0;
        put(2 + r, 4, w - 4, C_NORMAL, buf);
        line = end ? end + 1 : NULL;
    }
}

/* ---- everything ---- */

void tui_draw(tui_state *t, const char *cmdline, int cursor)
{
    int H, W;
    getmaxyx(stdscr, H, W);
    erase();
    if (H < 10 || W < 40) {
        put(0, 0, W, C_ERROR, "terminal too small for qdb (at least 40x10)");
        refresh();
        return;
    }
    draw_header(t, W);
    int body = H - 3; /* header, message line, key bar */
    int bottom_h = body >= 30 ? 8 : body >= 20 ? 6 : 0;
    int top_h = body - bottom_h;
    if (W >= 110) {
        int lw = W * (W >= 150 ? 64 : 60) / 100;
        draw_layers(t, 1, 0, top_h, lw);
        draw_hist(t, 1, lw, top_h, W - lw);
    } else {
        /* stacked: table over histogram */
        int th = top_h * 55 / 100;
        draw_layers(t, 1, 0, th, W);
        draw_hist(t, 1 + th, 0, top_h - th, W);
    }
    if (bottom_h) {
        int rw = W * 45 / 100;
        draw_rules(t, 1 + top_h, 0, bottom_h, rw);
        draw_history(t, 1 + top_h, rw, bottom_h, W - rw);
    }
    /* message or prompt line */
    if (cmdline) {
        char pr[2] = {t->prompt_char, 0};
        put(H - 2, 0, 1, C_TITLE, pr);
        put(H - 2, 1, W - 1, C_NORMAL, cmdline);
    } else if (t->msg[0]) {
        put(H - 2, 0, W, t->msg_error ? C_ERROR : C_NORMAL, t->msg);
    }
    /* the key bar, shorter on narrow terminals (? lists every key) */
    put(H - 1, 0, W, C_DIM,
        W >= 120 ? " j/k move  Tab pane  / filter  o sort  l/w hist  b bits  m method  p plot  "
                   "u undo  r requant  : command  ? help  q quit"
                 : " j/k move  Tab pane  / filter  b bits  r requant  : command  ? help  q quit");
    if (t->pager)
        draw_pager(t, H, W);
    if (cmdline) {
        curs_set(1);
        move(H - 2, 1 + (cursor < W - 2 ? cursor : W - 2));
    } else {
        curs_set(0);
    }
    refresh();
}
