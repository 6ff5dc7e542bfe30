/* tui.c - the TUI's event loop (see tui.h): terminal set-up and restore,
 * the key table (which also generates the help screen), GNU readline for
 * the ':' command line through its callback interface, and the job thread
 * that runs slow commands (start-up, re-quantization) while the screen
 * stays live. Signal handlers only write to a self-pipe. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "command.h"
#include "session_file.h"
#include "layer_attr.h"
#include "quant_config.h"
#include "rule.h"
#include "state.h"

/* ---- keys: one table for dispatch and help ---- */

#define TUI_KEYS(X)                                                                  \
    X("j / Down", "next layer (next rule in the rules pane)")                        \
    X("k / Up", "previous layer")                                                    \
    X("PgDn / PgUp, g / G", "page down / up, first / last")                          \
    X("Tab", "switch pane: layers, rules, history")                                  \
    X("/", "filter layers by name or op (empty: all)")                               \
    X("o", "sort: network order, worst SQNR first, name")                            \
    X("l", "histogram counts: log / linear")                                         \
    X("w", "histogram pane: the layer's weights (per-channel thresholds) / activations") \
    X("b", "edit the selected layer's activation bits (prompt: bits LAYER N)")       \
    X("m", "edit the selected layer's error method (prompt: method LAYER M)")        \
    X("r", "re-quantize and evaluate")                                               \
    X("u", "undo the last change of rules or settings")                              \
    X("p", "plot the selected layer (prompt: plot LAYER [png|svg|pdf] [DIR])")       \
    X("space / d", "rules pane: enable or disable / delete the selected rule")       \
    X(":", "command line (Tab completes, Up/Down history)")                         \
    X("Esc / Ctrl-C", "cancel the running job (previous results stay)")              \
    X("?", "this help")                                                              \
    X("s", "save the session (save [FILE]: default the last file or MODEL.qdb-session.json)") \
    X("q", "quit (the session is autosaved after every change until then)")

void tui_help_lines(void (*emit)(void *, const char *), void *ctx)
{
    char buf[256];
#define TUI_KEY_HELP(k, h)                                                           \
    snprintf(buf, sizeof buf, "  %-20s %s", k, h);                                   \
    emit(ctx, buf);
    emit(ctx, "Keys");
    TUI_KEYS(TUI_KEY_HELP)
#undef TUI_KEY_HELP
    emit(ctx, "");
    emit(ctx, "Commands (type ':' first)");
    for (int i = 0; i < QDB_CMD_COUNT; i++) {
        const qdb_cmd_info *c = qdb_cmd_info_at(i);
        snprintf(buf, sizeof buf, "  %-8s %-14s %s", c->name, c->args, c->help);
        emit(ctx, buf);
    }
}

/* ---- the pager ---- */

static tui_state T;

static void pager_close(void)
{
    free(T.pager);
    T.pager = NULL;
    T.pager_top = 0;
}

/* Show `text` (copied) over the panes. */
static void pager_open(const char *title, const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        return; /* the message line still has the news */
    pager_close();
    T.pager = copy;
    size_t n = strlen(copy);
    while (n && copy[n - 1] == '\n')
        copy[--n] = 0;
    snprintf(T.pager_title, sizeof T.pager_title, "%s", title);
}

typedef struct {
    char *s;
    size_t n, cap;
    int failed;
} textbuf;

static void text_line(void *ctx, const char *line)
{
    textbuf *b = ctx;
    size_t k = strlen(line);
    if (b->failed)
        return;
    if (b->n + k + 2 > b->cap) {
        size_t cap = (b->cap ? 2 * b->cap : 4096) + k;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, line, k);
    b->n += k;
    b->s[b->n++] = '\n';
    b->s[b->n] = 0;
}

static void help_open(void)
{
    textbuf b = {0};
    tui_help_lines(text_line, &b);
    if (!b.failed && b.s)
        pager_open("Help: keys and commands", b.s);
    free(b.s);
}

/* A command's output of three lines or more goes to the pager too (the
 * message line shows one). */
static void maybe_page(const char *line, const char *text)
{
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n' && p[1];
    if (lines >= 2)
        pager_open(line, text);
}

/* ---- the job thread ---- */

static qdb_session *S;
static pthread_t job_tid;
static int job_joinable;
static int wake_pipe[2] = {-1, -1};

typedef struct {
    char *line;            /* NULL: prepare the session */
    qdb_cmd_result r;
    qdb_err e;
    qdb_status st;
} job;

static job J;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void wake(void)
{
    if (wake_pipe[1] >= 0) {
        ssize_t n = write(wake_pipe[1], "x", 1);
        (void)n;
    }
}

static int job_progress(void *user, const char *phase, int64_t done, int64_t total)
{
    atomic_store(&T.phase, phase);
    atomic_store(&T.done, done);
    atomic_store(&T.total, total);
    return atomic_load(&T.cancel);
}

static void *job_main(void *arg)
{
    (void)arg;
    qdb_err_clear(&J.e);
    if (!J.line)
        J.st = qdb_session_prepare(S, job_progress, NULL, &J.e);
    else
        J.st = qdb_cmd_run(S, J.line, job_progress, NULL, &J.r, &J.e);
    atomic_store(&T.busy, 0);
    wake();
    return NULL;
}

/* The line of a command's output the message line shows: a warning when
 * there is one, else the last line (the outcome). Trims the text. */
static const char *news_line(char *t)
{
    size_t n = strlen(t);
    while (n && t[n - 1] == '\n')
        t[--n] = 0;
    char *w = strstr(t, "warning");
    if (w) {
        while (w > t && w[-1] != '\n')
            w--;
        char *end = strchr(w, '\n');
        if (end)
            *end = 0;
        return w;
    }
    char *last = strrchr(t, '\n');
    return last ? last + 1 : t;
}

static void set_msg(int error, const char *fmt, const char *a)
{
    snprintf(T.msg, sizeof T.msg, fmt, a);
    T.msg_error = error;
}

static void refresh_view(void)
{
    if (view_build(&T.v, S) != 0)
        set_msg(1, "%s", "out of memory building the display");
    tui_reorder(&T);
    if (T.rule_sel >= T.v.n_rules)
        T.rule_sel = T.v.n_rules ? T.v.n_rules - 1 : 0;
}

static void start_job(const char *line, const char *name)
{
    if (atomic_load(&T.busy)) {
        set_msg(1, "%s", "busy: wait for the running job or cancel it with Esc");
        return;
    }
    memset(&J, 0, sizeof J);
    J.line = line ? strdup(line) : NULL;
    snprintf(T.job_name, sizeof T.job_name, "%s", name);
    atomic_store(&T.cancel, 0);
    atomic_store(&T.done, 0);
    atomic_store(&T.total, 0);
    atomic_store(&T.phase, (const char *)NULL);
    T.job_start = now_s();
    atomic_store(&T.busy, 1);
    if (pthread_create(&job_tid, NULL, job_main, NULL) != 0) {
        atomic_store(&T.busy, 0);
        set_msg(1, "%s", "cannot start a thread for the job");
        free(J.line);
        return;
    }
    job_joinable = 1;
}

/* ---- the UI state in the session, autosave ---- */

/* qdb's directory under $XDG_STATE_HOME (default ~/.local/state), plus
 * `sub`, created with its parents (best effort). -1 when there is no home. */
static int state_dir(char *dir, size_t n, const char *sub)
{
    const char *st = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (st && *st)
        snprintf(dir, n, "%s/qdb%s", st, sub);
    else if (home && *home)
        snprintf(dir, n, "%s/.local/state/qdb%s", home, sub);
    else
        return -1;
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0700);
            *p = '/';
        }
    mkdir(dir, 0700);
    return 0;
}

static const char *const sort_names[SORT_COUNT] = {"order", "sqnr", "name"};
static const char *const pane_names[PANE_COUNT] = {"layers", "rules", "history"};
static char recovery_path[1100];

static void set_str(char **dst, const char *v)
{
    char *c = v ? strdup(v) : NULL;
    free(*dst);
    *dst = c;
}

/* The TUI's state into the session, for save (UI thread, no job running). */
static void sync_ui_out(void)
{
    int L = tui_selected_layer(&T);
    set_str(&S->ui.selected, L >= 0 ? T.v.l[L].name : NULL);
    set_str(&S->ui.sort, sort_names[T.sort]);
    set_str(&S->ui.pane, pane_names[T.pane]);
    set_str(&S->ui.filter, T.filter[0] ? T.filter : NULL);
}

/* A loaded session's UI state into the TUI. */
static void sync_ui_in(void)
{
    for (int k = 0; S->ui.sort && k < SORT_COUNT; k++)
        if (!strcmp(S->ui.sort, sort_names[k]))
            T.sort = (tui_sort)k;
    for (int k = 0; S->ui.pane && k < PANE_COUNT; k++)
        if (!strcmp(S->ui.pane, pane_names[k]))
            T.pane = (tui_pane)k;
    snprintf(T.filter, sizeof T.filter, "%s", S->ui.filter ? S->ui.filter : "");
    tui_reorder(&T);
    for (int i = 0; S->ui.selected && i < T.n_order; i++)
        if (!strcmp(T.v.l[T.order[i]].name, S->ui.selected))
            T.sel = i;
}

/* After every change: the whole session to the recovery file, so that a
 * crash or a closed terminal loses nothing (removed on a clean quit). */
static void autosave(void)
{
    if (!recovery_path[0] || !S->ready)
        return;
    sync_ui_out();
    qdb_err e = {0};
    if (qdb_session_save(S, recovery_path, &e) != QDB_OK)
        set_msg(1, "autosave failed: %s", e.msg);
}

/* $XDG_STATE_HOME/qdb/recovery/MODEL.PID.json: one recovery file per
 * running qdb, so that two on the same model never touch each other's.
 * A file whose process is gone was left by a crash or a closed terminal:
 * the newest such one is offered once start-up is done. */
static char recovery_notice[1200];

static void setup_recovery(void)
{
    char dir[900];
    if (state_dir(dir, sizeof dir, "/recovery"))
        return;
    const char *b = strrchr(S->model, '/');
    b = b ? b + 1 : S->model;
    snprintf(recovery_path, sizeof recovery_path, "%s/%s.%ld.json", dir, b, (long)getpid());
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    size_t bl = strlen(b);
    time_t newest = 0;
    char found[1200] = "";
    for (struct dirent *de; (de = readdir(dp));) {
        const char *n = de->d_name;
        char *end;
        if (strncmp(n, b, bl) || n[bl] != '.')
            continue;
        long pid = strtol(n + bl + 1, &end, 10);
        if (end == n + bl + 1 || strcmp(end, ".json") || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* its qdb is still running */
        char full[1200];
        struct stat sb;
        snprintf(full, sizeof full, "%s/%s", dir, n);
        if (stat(full, &sb) == 0 && sb.st_mtime >= newest) {
            newest = sb.st_mtime;
            snprintf(found, sizeof found, "%s", full);
        }
    }
    closedir(dp);
    if (found[0])
        snprintf(recovery_notice, sizeof recovery_notice,
                 "a previous qdb on this model did not end cleanly: ':load %.1000s' recovers it",
                 found);
}

/* Unsaved changes: what quit asks about (the recovery file goes on a
 * clean quit). */
static unsigned long saved_generation;
static int quit_asked;

/* The job ended: take its result on the UI thread. */
static void finish_job(void)
{
    if (!job_joinable)
        return;
    pthread_join(job_tid, NULL);
    job_joinable = 0;
    if (J.st == QDB_ERR_CANCELLED)
        set_msg(1, "%s", "cancelled: the previous results are unchanged");
    else if (J.st != QDB_OK)
        set_msg(1, "%s", J.e.msg);
    else if (J.r.text && J.r.text[0]) {
        if (J.line && !(J.r.flags & QDB_CMD_CHANGED))
            maybe_page(J.line, J.r.text);
        const char *news = news_line(J.r.text);
        set_msg(strstr(news, "warning") != NULL, "%s", news);
    } else if (!J.line) {
        char buf[128];
        snprintf(buf, sizeof buf, "ready in %.1f s", now_s() - T.job_start);
        set_msg(0, "%s", buf);
    }
    int startup = !J.line;
    int changed = J.st == QDB_OK && !startup && (J.r.flags & QDB_CMD_CHANGED);
    int loaded = J.st == QDB_OK && J.line && qdb_cmd_lookup(J.line) == QDB_CMD_load;
    if (startup && J.st == QDB_OK && recovery_notice[0])
        set_msg(1, "%s", recovery_notice); /* after start-up, not lost under "ready" */
    qdb_cmd_result_free(&J.r);
    free(J.line);
    J.line = NULL;
    refresh_view();
    if (loaded || (startup && S->resumed))
        sync_ui_in();
    if (startup || loaded)
        saved_generation = S->generation; /* nothing unsaved yet */
    if (changed)
        autosave();
}

/* ---- readline ---- */

/* Keys for readline: the loop queues them, readline's getc pops them, and
 * its typeahead check asks whether more are queued (never the terminal). */
static int rl_queue[256];
static int rl_qhead, rl_qlen;
static int quit_now;
static char history_path[1024];

static int rl_getc_cb(FILE *f)
{
    (void)f;
    if (!rl_qlen)
        return EOF;
    int c = rl_queue[rl_qhead];
    rl_qhead = (rl_qhead + 1) % 256;
    rl_qlen--;
    return c;
}

static int rl_avail_cb(void)
{
    return rl_qlen > 0;
}

static void rl_redisplay_cb(void)
{
    if (T.prompt_active)
        tui_draw(&T, rl_line_buffer, rl_point);
}

static void rl_noop_prep(int meta)
{
    (void)meta;
}

static void rl_noop_deprep(void)
{
}

static void run_line(const char *line);

static void on_line(char *line)
{
    int was = T.prompt_char;
    T.prompt_active = 0;
    rl_callback_handler_remove();
    if (!line)
        return;
    if (was == '/') {
        snprintf(T.filter, sizeof T.filter, "%s", line);
        tui_reorder(&T);
    } else if (*line) {
        add_history(line);
        if (history_path[0])
            append_history(1, history_path);
        run_line(line);
    }
    free(line);
}

/* Completion: the command name first; after it, every word the command
 * language takes: layer names, op types (fused groups and their parts),
 * attributes and their values, error and quantization methods, filter
 * keywords, configuration keys, plot targets and formats. */
static char **cands;
static int n_cands, cap_cands;

static void cand_add(const char *w)
{
    for (int i = 0; i < n_cands; i++)
        if (!strcmp(cands[i], w))
            return;
    if (n_cands == cap_cands) {
        int cap = cap_cands ? 2 * cap_cands : 256;
        char **t = realloc(cands, (size_t)cap * sizeof *t);
        if (!t)
            return;
        cands = t;
        cap_cands = cap;
    }
    char *d = strdup(w);
    if (d)
        cands[n_cands++] = d;
}

static void cands_build(int first_word)
{
    for (int i = 0; i < n_cands; i++)
        free(cands[i]);
    n_cands = 0;
    if (first_word) {
        for (int i = 0; i < QDB_CMD_COUNT; i++)
            cand_add(qdb_cmd_info_at(i)->name);
        return;
    }
    static const char *const words[] = {
        "type", "name", "index", "all", "and", "or", "not", "on", "off", "auto", "signed",
        "unsigned", "search", "inf", "POWER_OF_TWO", "SYMMETRIC", "UNIFORM", "SiLU", "sqnr",
        "sensitivity", "bisect", "history", "png", "svg", "pdf", "float", "16"};
    for (int i = 0; i < T.v.n; i++) {
        cand_add(T.v.l[i].name);
        /* "Conv+Swish": the group and each part */
        char op[128];
        snprintf(op, sizeof op, "%s", T.v.l[i].op);
        cand_add(op);
        for (char *tok = strtok(op, "+"); tok; tok = strtok(NULL, "+"))
            cand_add(tok);
    }
    for (int a = 0; a < QDB_LA_COUNT; a++)
        cand_add(qdb_layer_attr_name((qdb_layer_attr)a));
    for (int m = 0; m < QDB_EM_COUNT; m++)
        cand_add(qdb_error_method_name((qdb_error_method)m));
    for (int k = 0; k < qdb_config_key_count(); k++)
        cand_add(qdb_config_key_at(k)->name);
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
        cand_add(words[w]);
}

static char *complete_gen(const char *text, int state)
{
    static int i;
    size_t n = strlen(text);
    if (!state) {
        i = 0;
        /* the first word is the command */
        const char *p = rl_line_buffer;
        while (*p == ' ')
            p++;
        int first = !strchr(p, ' ') || (int)(strchr(p, ' ') - rl_line_buffer) >= rl_point;
        cands_build(first);
    }
    while (i < n_cands) {
        const char *c = cands[i++];
        if (!strncmp(c, text, n))
            return strdup(c);
    }
    return NULL;
}

static char **complete(const char *text, int start, int end)
{
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1;
    return rl_completion_matches(text, complete_gen);
}

static void open_prompt(char c, const char *prefill)
{
    T.prompt_active = 1;
    T.prompt_char = c;
    rl_callback_handler_install("", on_line);
    if (prefill)
        rl_insert_text(prefill);
    tui_draw(&T, rl_line_buffer, rl_point);
}

static void setup_readline(void)
{
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_getc_function = rl_getc_cb;
    rl_input_available_hook = rl_avail_cb;
    rl_redisplay_function = rl_redisplay_cb;
    rl_prep_term_function = rl_noop_prep;
    rl_deprep_term_function = rl_noop_deprep;
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = " \t=:,";
    rl_readline_name = "qdb";
    using_history();
    /* history kept under the XDG state directory */
    char dir[900];
    if (state_dir(dir, sizeof dir, ""))
        return;
    snprintf(history_path, sizeof history_path, "%s/history", dir);
    if (read_history(history_path) != 0) {
        int fd = open(history_path, O_WRONLY | O_CREAT, 0600);
        if (fd >= 0)
            close(fd);
    }
    stifle_history(1000);
}

/* ---- commands and keys ---- */

static void run_line(const char *line)
{
    int id = qdb_cmd_lookup(line);
    if (!atomic_load(&T.busy))
        sync_ui_out(); /* save writes it */
    if (id >= 0 && qdb_cmd_info_at(id)->slow) {
        start_job(line, qdb_cmd_info_at(id)->name);
        return;
    }
    if (atomic_load(&T.busy)) {
        set_msg(1, "%s", "busy: wait for the running job or cancel it with Esc");
        return;
    }
    if (id == QDB_CMD_help) {
        /* help alone: the help screen; help COMMAND: that command's line */
        const char *a = line + strspn(line, " \t") + 4;
        a += strspn(a, " \t");
        int k = *a ? qdb_cmd_lookup(a) : -1;
        if (!*a) {
            help_open();
        } else if (k < 0) {
            set_msg(1, "help: no command '%s' (? lists them all)", a);
        } else {
            char buf[512];
            snprintf(buf, sizeof buf, "%s %s: %s", qdb_cmd_info_at(k)->name,
                     qdb_cmd_info_at(k)->args, qdb_cmd_info_at(k)->help);
            set_msg(0, "%s", buf);
        }
        return;
    }
    qdb_cmd_result r;
    qdb_err e = {0};
    qdb_status st = qdb_cmd_run(S, line, NULL, NULL, &r, &e);
    if (st != QDB_OK) {
        set_msg(1, "%s", e.msg);
    } else if (r.flags & QDB_CMD_QUIT) {
        quit_now = 1;
    } else if (id == QDB_CMD_save && r.text) {
        saved_generation = S->generation;
        quit_asked = 0;
        size_t n = strlen(r.text);
        while (n && r.text[n - 1] == '\n')
            r.text[--n] = 0;
        set_msg(0, "%s", r.text);
    } else if (r.flags & QDB_CMD_CHANGED) {
        autosave();
    } else if (r.text && r.text[0]) {
        maybe_page(line, r.text);
        const char *news = news_line(r.text); /* one line fits the message line */
        set_msg(strstr(news, "warning") != NULL, "%s", news);
    }
    qdb_cmd_result_free(&r);
}

/* A name quoted for the command line. */
static void quoted(char *buf, size_t n, const char *s)
{
    size_t k = 0;
    if (n < 4)
        return;
    buf[k++] = '"';
    for (; *s && k + 3 < n; s++) {
        if (*s == '"' || *s == '\\')
            buf[k++] = '\\';
        buf[k++] = *s;
    }
    buf[k++] = '"';
    buf[k] = 0;
}

static void move_sel(int d)
{
    if (T.pane == PANE_RULES) {
        T.rule_sel += d;
        if (T.rule_sel >= T.v.n_rules)
            T.rule_sel = T.v.n_rules - 1;
        if (T.rule_sel < 0)
            T.rule_sel = 0;
        return;
    }
    if (T.pane == PANE_HISTORY) {
        T.hist_top -= d;
        if (T.hist_top > T.v.n_hist - 1)
            T.hist_top = T.v.n_hist - 1;
        if (T.hist_top < 0)
            T.hist_top = 0;
        return;
    }
    T.sel += d;
    if (T.sel >= T.n_order)
        T.sel = T.n_order - 1;
    if (T.sel < 0)
        T.sel = 0;
}

static void on_key(int c)
{
    int page = LINES > 12 ? LINES / 2 : 5;
    if (T.pager) {
        /* scroll keys scroll it; q, Esc and Enter close it; any other key
         * closes it and does what it does (':' opens the command line) */
        switch (c) {
        case 'j': case KEY_DOWN: T.pager_top++; return;
        case 'k': case KEY_UP: T.pager_top--; return;
        case KEY_NPAGE: case ' ': T.pager_top += page; return;
        case KEY_PPAGE: T.pager_top -= page; return;
        case 'g': case KEY_HOME: T.pager_top = 0; return;
        case 'G': case KEY_END: T.pager_top = 1 << 30; return;
        case 'q': case 27: case '\n': case '\r': case KEY_ENTER:
            pager_close();
            return;
        default:
            pager_close();
            break;
        }
    }
    char buf[1200], q[1024];
    switch (c) {
    case 27: /* Esc */
    case 3:  /* Ctrl-C */
        if (atomic_load(&T.busy)) {
            atomic_store(&T.cancel, 1);
            set_msg(0, "%s", "cancelling...");
        }
        break;
    case 'q':
        if (!atomic_load(&T.busy) && S->ready && S->generation != saved_generation &&
            !quit_asked) {
            quit_asked = 1;
            set_msg(1, "%s", "unsaved changes since the last save: s saves them, q again quits");
            break;
        }
        if (atomic_load(&T.busy)) {
            atomic_store(&T.cancel, 1);
        }
        quit_now = 1;
        break;
    case 'j': case KEY_DOWN: move_sel(1); break;
    case 'k': case KEY_UP: move_sel(-1); break;
    case KEY_NPAGE: move_sel(page); break;
    case KEY_PPAGE: move_sel(-page); break;
    case 'g': case KEY_HOME: move_sel(-1000000); break;
    case 'G': case KEY_END: move_sel(1000000); break;
    case '\t': T.pane = (tui_pane)((T.pane + 1) % PANE_COUNT); break;
    case KEY_BTAB: T.pane = (tui_pane)((T.pane + PANE_COUNT - 1) % PANE_COUNT); break;
    case 'o':
        T.sort = (tui_sort)((T.sort + 1) % SORT_COUNT);
        tui_reorder(&T);
        break;
    case 'l': T.log_counts = !T.log_counts; break;
    case 'w': T.show_weights = !T.show_weights; break;
    case '?': help_open(); break;
    case '/': open_prompt('/', T.filter); break;
    case ':': open_prompt(':', NULL); break;
    case 'r': run_line("requant"); break;
    case 'u': run_line("undo"); break;
    case 's': run_line("save"); break;
    case 'b':
    case 'm':
    case 'p': {
        int L = tui_selected_layer(&T);
        if (L < 0)
            break;
        quoted(q, sizeof q, T.v.l[L].name);
        snprintf(buf, sizeof buf, "%s %s ", c == 'b' ? "bits" : c == 'm' ? "method" : "plot", q);
        open_prompt(':', buf);
        break;
    }
    case ' ':
    case 'd':
        if (T.pane == PANE_RULES && T.v.n_rules > 0) {
            snprintf(buf, sizeof buf, "%s %d",
                     c == 'd' ? "delete" : T.v.rule_on[T.rule_sel] ? "disable" : "enable",
                     T.rule_sel + 1);
            run_line(buf);
        }
        break;
    default:
        break;
    }
}

/* ---- terminal ---- */

static volatile sig_atomic_t curses_on;

static void restore_terminal(void)
{
    if (curses_on) {
        curses_on = 0;
        endwin();
    }
}

static void on_fatal(int sig)
{
    /* put the terminal back, then die of the same signal */
    restore_terminal();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* SIGTERM, SIGHUP (the terminal closed): leave, keeping the recovery file
 * (the work was not saved by the user). */
static volatile sig_atomic_t ended_by_signal;

static void on_term(int sig)
{
    (void)sig;
    ended_by_signal = 1;
    quit_now = 1;
    wake();
}

static volatile sig_atomic_t resized;

static void on_winch(int sig)
{
    (void)sig;
    resized = 1;
    wake();
}

/* The terminal's new size, applied on the loop's thread. */
static void apply_resize(void)
{
    struct winsize ws;
    resized = 0;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resizeterm(ws.ws_row, ws.ws_col);
    clearok(curscr, TRUE);
}

int qdb_tui_run(qdb_session *s)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "qdb: the TUI needs a terminal (use qdb quantize for batch work)\n");
        return 1;
    }
    S = s;
    memset(&T, 0, sizeof T);
    T.model = s->model;
    T.calib = s->calib_spec;
    T.eval = s->eval_spec;
    T.log_counts = 1;
    setlocale(LC_ALL, "");
    if (pipe(wake_pipe) != 0) {
        perror("qdb: pipe");
        return 1;
    }
    fcntl(wake_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK);
    if (!getenv("ESCDELAY"))
        set_escdelay(25);
    if (!initscr()) {
        fprintf(stderr, "qdb: cannot initialise the terminal\n");
        return 1;
    }
    curses_on = 1;
    atexit(restore_terminal);
    signal(SIGSEGV, on_fatal);
    signal(SIGABRT, on_fatal);
    signal(SIGBUS, on_fatal);
    signal(SIGFPE, on_fatal);
    signal(SIGTERM, on_term);
    signal(SIGHUP, on_term);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL); /* replaces curses' own: resize in the loop */
    raw();
    noecho();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    tui_colors_init(&T);
    setup_readline();
    refresh_view();
    setup_recovery();
    if (!s->ready)
        start_job(NULL, "starting");
    tui_draw(&T, NULL, 0);
    while (!quit_now) {
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(STDIN_FILENO, &rd);
        FD_SET(wake_pipe[0], &rd);
        struct timeval tv = {0, 100000};
        int busy = atomic_load(&T.busy);
        int n = select(wake_pipe[0] + 1, &rd, NULL, NULL, busy || job_joinable ? &tv : NULL);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && FD_ISSET(wake_pipe[0], &rd)) {
            char drain[64];
            while (read(wake_pipe[0], drain, sizeof drain) > 0)
                ;
        }
        if (resized)
            apply_resize();
        if (!atomic_load(&T.busy) && job_joinable)
            finish_job();
        int c;
        while ((c = getch()) != ERR) {
            if (c == KEY_RESIZE)
                continue; /* redrawn below at the new size */
            if (T.prompt_active) {
                if (c == 27) { /* Esc closes the prompt */
                    T.prompt_active = 0;
                    rl_callback_handler_remove();
                    continue;
                }
                if (c == KEY_BACKSPACE || c == 127 || c == 8)
                    c = 127;
                else if (c == KEY_LEFT)
                    c = 2; /* Ctrl-B */
                else if (c == KEY_RIGHT)
                    c = 6; /* Ctrl-F */
                else if (c == KEY_UP)
                    c = 16; /* Ctrl-P */
                else if (c == KEY_DOWN)
                    c = 14; /* Ctrl-N */
                else if (c == KEY_HOME)
                    c = 1;
                else if (c == KEY_END)
                    c = 5;
                else if (c == KEY_DC)
                    c = 4;
                else if (c > 255)
                    continue;
                if (rl_qlen < 256) {
                    rl_queue[(rl_qhead + rl_qlen) % 256] = c;
                    rl_qlen++;
                }
                while (rl_qlen && T.prompt_active)
                    rl_callback_read_char();
            } else {
                on_key(c);
            }
            if (quit_now)
                break;
        }
        if (T.prompt_active)
            tui_draw(&T, rl_line_buffer, rl_point);
        else
            tui_draw(&T, NULL, 0);
    }
    if (job_joinable) {
        atomic_store(&T.cancel, 1);
        pthread_join(job_tid, NULL);
        job_joinable = 0;
        qdb_cmd_result_free(&J.r);
        free(J.line);
    }
    if (T.prompt_active)
        rl_callback_handler_remove();
    restore_terminal();
    if (recovery_path[0] && !ended_by_signal)
        qdb_session_file_remove(recovery_path); /* the user quit: nothing to recover */
    view_free(&T.v);
    pager_close();
    free(T.order);
    for (int i = 0; i < n_cands; i++)
        free(cands[i]);
    free(cands);
    close(wake_pipe[0]);
    close(wake_pipe[1]);
    return 0;
}
