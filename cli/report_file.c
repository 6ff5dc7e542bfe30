/* report_file.c - atomic writes of the commands' output files (see
 * report_file.h). */
#include "report_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "commands.h"

int cli_write_text(const char *path, const char *text)
{
    qdb_err e = {0};
    qdb_atomic_file af;
    if (qdb_atomic_open(&af, path, &e) == QDB_OK) {
        size_t n = strlen(text);
        fputs(text, af.f);
        if (!n || text[n - 1] != '\n')
            fputc('\n', af.f);
        if (qdb_atomic_commit(&af, &e) == QDB_OK)
            return 0;
    }
    cli_error("%s", e.msg);
    return -1;
}

int cli_write_json(const char *path, cJSON *o)
{
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) {
        cli_error("%s: out of memory", path);
        return -1;
    }
    int rc = cli_write_text(path, text);
    free(text);
    return rc;
}

int cli_check_writable(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (access(dir, W_OK) != 0) {
        cli_error("%s: cannot write there: %s: %s", path, dir, strerror(errno));
        return -1;
    }
    return 0;
}
