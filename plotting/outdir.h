/* outdir.h - where figures and reports go: the output directory (checked,
 * or created when only its last component is missing) and the file names
 * derived from layer names, which never leave that directory. */
#ifndef QDB_OUTDIR_H
#define QDB_OUTDIR_H

#include <stddef.h>

#include "status.h"

/* Make sure `dir` is a writable directory. A missing directory is created
 * when its parent exists (one level only, mode 0777 & ~umask); a missing
 * parent, a non-directory or a directory that cannot be written is
 * QDB_ERR_IO naming the path. */
qdb_status qdb_plot_outdir(const char *dir, qdb_err *e);

/* A file name "<kind>_<index>_<name>" (no extension, no directory) for
 * figures of layer `index` called `name`: every byte outside
 * [A-Za-z0-9._-] becomes '_', the name part is cut to 60 bytes, and the
 * zero-padded index keeps names unique. index < 0 leaves it out. Always
 * NUL-terminated (n > 0). */
void qdb_plot_file_name(char *buf, size_t n, const char *kind, int index, const char *name);

/* "dir/file" into buf; QDB_ERR_INVALID when it does not fit. */
qdb_status qdb_plot_path(char *buf, size_t n, const char *dir, const char *file, qdb_err *e);

#endif
