/* gnuplot.c - the gnuplot process behind every figure: started once per
 * run (fork + exec, no shell), commands sent through a socket pair (so a
 * gnuplot that died gives an error, not SIGPIPE), its standard output and
 * error merged into one pipe that is read up to a marker printed after each
 * script. Restarted when it dies; killed when a script runs too long. */
#include "gnuplot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GP_OUT_MAX (64 * 1024) /* gnuplot's output kept per script */
#define GP_DEFAULT_TIMEOUT 120

struct qdb_gnuplot {
    pid_t pid;       /* 0: not running */
    int in;          /* our end of gnuplot's standard input (socket) */
    int out;         /* gnuplot's standard output and error (pipe) */
    unsigned seq;    /* markers sent */
    int started;     /* processes started */
    char *buf;       /* output since the last marker */
    size_t len;
};

static const char *gnuplot_program(void)
{
    const char *p = getenv("QDB_GNUPLOT");
    return p && *p ? p : "gnuplot";
}

static void set_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0)
        fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

static void gp_stop(qdb_gnuplot *gp, int kill_it)
{
    if (gp->in >= 0)
        close(gp->in);
    gp->in = -1;
    if (gp->pid > 0) {
        if (kill_it)
            kill(gp->pid, SIGKILL);
        int st;
        while (waitpid(gp->pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    gp->pid = 0;
    if (gp->out >= 0)
        close(gp->out);
    gp->out = -1;
    gp->len = 0;
}

static qdb_status gp_start(qdb_gnuplot *gp, qdb_err *e)
{
    int sv[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1};
    const char *prog = gnuplot_program();
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || pipe(po) || pipe(pe)) {
        qdb_err_set(e, QDB_ERR_IO, "cannot start gnuplot: %s", strerror(errno));
        goto fail;
    }
    set_cloexec(sv[0]);
    set_cloexec(po[0]);
    set_cloexec(pe[0]);
    set_cloexec(pe[1]); /* closed by a successful exec: the parent reads EOF */
    pid_t pid = fork();
    if (pid < 0) {
        qdb_err_set(e, QDB_ERR_IO, "cannot start gnuplot: fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        if (dup2(sv[1], 0) < 0 || dup2(po[1], 1) < 0 || dup2(po[1], 2) < 0)
            _exit(127);
        char *argv[] = {(char *)prog, NULL};
        execvp(prog, argv);
        int err = errno;
        ssize_t w = write(pe[1], &err, sizeof err);
        (void)w;
        _exit(127);
    }
    close(sv[1]);
    close(po[1]);
    close(pe[1]);
    sv[1] = po[1] = pe[1] = -1;
    int err = 0;
    ssize_t r;
    while ((r = read(pe[0], &err, sizeof err)) < 0 && errno == EINTR)
        ;
    close(pe[0]);
    pe[0] = -1;
    gp->pid = pid;
    gp->in = sv[0];
    gp->out = po[0];
    gp->len = 0;
    gp->started++;
    if (r == (ssize_t)sizeof err) {
        gp_stop(gp, 0);
        if (err == ENOENT)
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                               "gnuplot not found (looked for '%s' in PATH): figures need it; "
                               "install the Debian package gnuplot-nox (apt-get install "
                               "gnuplot-nox, or run `make deps`)",
                               prog);
        return qdb_err_set(e, QDB_ERR_IO, "cannot run gnuplot ('%s'): %s", prog, strerror(err));
    }
    return QDB_OK;
fail:
    for (int i = 0; i < 2; i++) {
        if (sv[i] >= 0)
            close(sv[i]);
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    return e ? e->code : QDB_ERR_IO;
}

qdb_gnuplot *qdb_gnuplot_open(qdb_err *e)
{
    qdb_gnuplot *gp = calloc(1, sizeof *gp);
    if (!gp || !(gp->buf = malloc(GP_OUT_MAX + 1))) {
        free(gp);
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    gp->in = gp->out = -1;
    if (gp_start(gp, e) != QDB_OK) {
        free(gp->buf);
        free(gp);
        return NULL;
    }
    return gp;
}

void qdb_gnuplot_close(qdb_gnuplot *gp)
{
    if (!gp)
        return;
    if (gp->in >= 0) {
        static const char quit[] = "\nquit\n";
        send(gp->in, quit, sizeof quit - 1, MSG_NOSIGNAL);
    }
    gp_stop(gp, 0);
    free(gp->buf);
    free(gp);
}

int qdb_gnuplot_processes(const qdb_gnuplot *gp)
{
    return gp ? gp->started : 0;
}

static int send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

void qdb_gnuplot_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '`' || c == '@' || c == '$')
            fprintf(f, "\\%03o", c);
        else
            fputc((int)c, f);
    }
    fputc('"', f);
}

/* The first error lines of gnuplot's output (its "line N: message" lines
 * and the context before them), or "" when it printed warnings only. */
static void error_text(char *buf, size_t len, char *out, size_t n)
{
    out[0] = '\0';
    buf[len] = '\0';
    size_t at = 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        const char *ln = strstr(line, "line ");
        int is_err = ln && strchr(ln, ':') && !strstr(line, "warning:");
        if (is_err && at + 2 < n) {
            at += (size_t)snprintf(out + at, n - at, "%s%s", at ? "; " : "", line);
            if (at >= n)
                at = n - 1;
        }
        line = nl ? nl + 1 : NULL;
    }
}

qdb_status qdb_gnuplot_run(qdb_gnuplot *gp, const char *dir, const char *script,
                           const char *output, int timeout_s, qdb_err *e)
{
    if (!gp)
        return qdb_err_set(e, QDB_ERR_INVALID, "no gnuplot");
    if (gp->pid <= 0 && gp_start(gp, e) != QDB_OK)
        return e ? e->code : QDB_ERR_IO;
    char marker[64];
    snprintf(marker, sizeof marker, "qdb-gnuplot-done-%u", ++gp->seq);
    char *cmd = NULL;
    size_t cmd_len = 0;
    FILE *f = open_memstream(&cmd, &cmd_len);
    if (!f)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    /* a fresh state for each script; print goes to stderr (unbuffered) */
    /* absolute: gnuplot's working directory stays where the last script ran */
    fputs("\nreset session\ncd ", f);
    char cwd[4096];
    if (dir[0] != '/' && getcwd(cwd, sizeof cwd)) {
        size_t n = strlen(cwd) + strlen(dir) + 2;
        char *abs = malloc(n);
        if (abs)
            snprintf(abs, n, "%s/%s", cwd, dir);
        qdb_gnuplot_string(f, abs ? abs : dir);
        free(abs);
    } else {
        qdb_gnuplot_string(f, dir);
    }
    if (output) {
        fputs("\nqdb_output = ", f);
        qdb_gnuplot_string(f, output);
    }
    fputs("\nload ", f);
    qdb_gnuplot_string(f, script);
    fprintf(f, "\nunset output\nprint \"\\n%s\"\n", marker);
    if (fclose(f) || !cmd) {
        free(cmd);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    int bad = send_all(gp->in, cmd, cmd_len);
    free(cmd);
    if (bad) {
        gp_stop(gp, 1);
        return qdb_err_set(e, QDB_ERR_IO, "%s: gnuplot is not running (it exited)", script);
    }
    gp->len = 0;
    if (timeout_s <= 0)
        timeout_s = GP_DEFAULT_TIMEOUT;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t mlen = strlen(marker);
    for (;;) {
        gp->buf[gp->len] = '\0';
        char *m = strstr(gp->buf, marker);
        if (m && (m[mlen] == '\n' || m[mlen] == '\r')) {
            char msg[768];
            error_text(gp->buf, (size_t)(m - gp->buf), msg, sizeof msg);
            gp->len = 0;
            if (msg[0])
                return qdb_err_set(e, QDB_ERR_IO, "%s: gnuplot failed: %s", script, msg);
            return QDB_OK;
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left_ms = (long)timeout_s * 1000 - (long)((t.tv_sec - t0.tv_sec) * 1000 +
                                                       (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left_ms <= 0) {
            gp_stop(gp, 1);
            return qdb_err_set(e, QDB_ERR_IO, "%s: gnuplot did not finish in %d s (stopped)",
                               script, timeout_s);
        }
        struct pollfd pfd = {.fd = gp->out, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left_ms > 1000 ? 1000 : left_ms));
        if (pr < 0 && errno != EINTR) {
            gp_stop(gp, 1);
            return qdb_err_set(e, QDB_ERR_IO, "gnuplot: poll: %s", strerror(errno));
        }
        if (pr <= 0)
            continue;
        if (gp->len == GP_OUT_MAX) { /* keep the tail: the marker comes last */
            memmove(gp->buf, gp->buf + GP_OUT_MAX / 2, GP_OUT_MAX / 2);
            gp->len = GP_OUT_MAX / 2;
        }
        ssize_t r = read(gp->out, gp->buf + gp->len, GP_OUT_MAX - gp->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            char msg[768];
            error_text(gp->buf, gp->len, msg, sizeof msg);
            gp_stop(gp, 0);
            return qdb_err_set(e, QDB_ERR_IO, "%s: gnuplot exited%s%s", script,
                               msg[0] ? ": " : "", msg);
        }
        gp->len += (size_t)r;
    }
}
