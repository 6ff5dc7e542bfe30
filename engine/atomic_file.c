/* atomic_file.c - temp file + fsync + rename (see atomic_file.h). */
#include "atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void release(qdb_atomic_file *af)
{
    free(af->tmp_path);
    free(af->path);
    memset(af, 0, sizeof *af);
}

qdb_status qdb_atomic_open(qdb_atomic_file *af, const char *path, qdb_err *e)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->path = strdup(path);
    af->tmp_path = malloc(n + 16);
    if (!af->path || !af->tmp_path) {
        release(af);
        return qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(af->tmp_path, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        qdb_status st = qdb_err_set(e, QDB_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        release(af);
        return st;
    }
    /* mkstemp makes the file private (0600): give it the mode a plain
     * create would (the replaced file's, else 0666 less the umask) */
    struct stat sb;
    mode_t mode;
    if (stat(path, &sb) == 0) {
        mode = sb.st_mode & 07777;
    } else {
        mode_t mask = umask(0);
        umask(mask);
        mode = 0666 & ~mask;
    }
    (void)fchmod(fd, mode);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        qdb_status st = qdb_err_set(e, QDB_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        close(fd);
        unlink(af->tmp_path);
        release(af);
        return st;
    }
    return QDB_OK;
}

static void sync_dir(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd); /* best effort: some file systems refuse directory fsync */
        close(fd);
    }
    free(dir);
}

/* Temporaries of `path` left by a writer killed mid-write (PATH.tmp.XXXXXX,
 * untouched for QDB_ATOMIC_STALE_SECONDS): removed after a successful
 * commit. A live writer's temporary is younger. Best effort. */
static void sweep_stale(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 0, blen = strlen(base);
    char *dir = malloc(dlen + 2);
    if (!dir)
        return;
    if (slash) {
        memcpy(dir, path, dlen ? dlen : 1); /* "/x": the root */
        dir[dlen ? dlen : 1] = '\0';
    } else {
        strcpy(dir, ".");
    }
    DIR *dp = opendir(dir);
    if (!dp) {
        free(dir);
        return;
    }
    const time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(dp))) {
        const char *n = de->d_name;
        if (strncmp(n, base, blen) || strncmp(n + blen, ".tmp.", 5) || strlen(n + blen + 5) != 6)
            continue;
        char *full = malloc(strlen(dir) + strlen(n) + 2);
        if (!full)
            break;
        sprintf(full, "%s/%s", dir, n);
        struct stat sb;
        if (lstat(full, &sb) == 0 && S_ISREG(sb.st_mode) &&
            now - sb.st_mtime > QDB_ATOMIC_STALE_SECONDS)
            unlink(full);
        free(full);
    }
    closedir(dp);
    free(dir);
}

qdb_status qdb_atomic_commit(qdb_atomic_file *af, qdb_err *e)
{
    qdb_status st = QDB_OK;
    int failed = ferror(af->f) || fflush(af->f) != 0 || fsync(fileno(af->f)) != 0;
    int err = errno;
    if (fclose(af->f) != 0 && !failed) {
        failed = 1;
        err = errno;
    }
    af->f = NULL;
    if (failed) {
        unlink(af->tmp_path);
        st = qdb_err_set(e, QDB_ERR_IO, "%s: write failed: %s", af->path, strerror(err));
    } else if (rename(af->tmp_path, af->path) != 0) {
        err = errno;
        unlink(af->tmp_path);
        st = qdb_err_set(e, QDB_ERR_IO, "%s: cannot replace: %s", af->path, strerror(err));
    } else {
        sync_dir(af->path);
        sweep_stale(af->path);
    }
    release(af);
    return st;
}

void qdb_atomic_abort(qdb_atomic_file *af)
{
    if (af->f)
        fclose(af->f);
    if (af->tmp_path)
        unlink(af->tmp_path);
    release(af);
}
