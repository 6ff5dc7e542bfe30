/* progress.c - the commands' progress bar on stderr (terminals only). */
#include "progress.h"

#include <stdio.h>
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
