/* outdir.c - the output directory of figures and reports, and the safe
 * file names made from layer names (which may hold quotes, spaces,
 * slashes or "..": none of it reaches the file system). */
#include "outdir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

qdb_status qdb_plot_outdir(const char *dir, qdb_err *e)
{
    if (!dir || !*dir)
        return qdb_err_set(e, QDB_ERR_INVALID, "no output directory given");
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT)
            return qdb_err_set(e, QDB_ERR_IO, "%s: %s", dir, strerror(errno));
        /* created when its parent exists: a typo deep in a path is an error */
        if (mkdir(dir, 0777) != 0) {
            if (errno == ENOENT)
                return qdb_err_set(e, QDB_ERR_IO,
                                   "%s: no such directory, and its parent does not exist either",
                                   dir);
            return qdb_err_set(e, QDB_ERR_IO, "%s: cannot create the directory: %s", dir,
                               strerror(errno));
        }
        if (stat(dir, &st) != 0)
            return qdb_err_set(e, QDB_ERR_IO, "%s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return qdb_err_set(e, QDB_ERR_IO, "%s: not a directory", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return qdb_err_set(e, QDB_ERR_IO, "%s: the directory cannot be written: %s", dir,
                           strerror(errno));
    return QDB_OK;
}

void qdb_plot_file_name(char *buf, size_t n, const char *kind, int index, const char *name)
{
    if (!n)
        return;
    int at = index >= 0 ? snprintf(buf, n, "%s_%03d_", kind, index) : snprintf(buf, n, "%s_", kind);
    if (at < 0 || (size_t)at >= n) {
        buf[n - 1] = '\0';
        return;
    }
    size_t k = (size_t)at, used = 0;
    for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p && used < 60 &&
                                                                            k + 1 < n;
         p++, used++) {
        unsigned c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        buf[k++] = ok ? (char)c : '_';
    }
    if (!used && k + 1 < n)
        buf[k++] = '_';
    buf[k] = '\0';
}

qdb_status qdb_plot_path(char *buf, size_t n, const char *dir, const char *file, qdb_err *e)
{
    int w = snprintf(buf, n, "%s/%s", dir, file);
    if (w < 0 || (size_t)w >= n)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s/%s: path too long", dir, file);
    return QDB_OK;
}
