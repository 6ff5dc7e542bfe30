/* progress.c - the commands' progress bar on stderr (terminals only). */
#include "progress.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cli_progress(void *user, int64_t done, int64_t total)
{
    const char *label = user ? user : "";
    int width = 40;
    int fill = total > 0 ? (int)(done * width / total) : width;
    fprintf(stderr, "\r  %s [%.*s%*s] %lld/%lld", label, fill,
            "########################################", width - fill, "", (long long)done,
            (long long)total);
    if (done >= total)
        fputs("\r\033[K", stderr);
    fflush(stderr);
    return 0;
}

cli_progress_fn cli_progress_if_tty(void)
{
    return isatty(2) ? cli_progress : NULL;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    interrupted = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process */
}

void cli_catch_interrupt(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

int cli_interrupted(void)
{
    return interrupted;
}

int cli_progress_stoppable(void *user, int64_t done, int64_t total)
{
    if (isatty(2) && total > 0)
        cli_progress(user, done, total);
    if (interrupted) {
        fputs("\r\033[K  stopping (Ctrl-C again to quit at once)\n", stderr);
        return 1;
    }
    return 0;
}
