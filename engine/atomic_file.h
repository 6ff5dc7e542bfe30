/* atomic_file.h - write a file so that readers see either the old or the new
 * content, never a mix: write a temporary file in the same directory, fsync
 * it, rename it over the target, fsync the directory. */
#ifndef QDB_ATOMIC_FILE_H
#define QDB_ATOMIC_FILE_H

#include <stdio.h>

#include "status.h"

typedef struct qdb_atomic_file {
    FILE *f;        /* write the content here */
    char *tmp_path; /* the temporary file (owned) */
    char *path;     /* the target (owned) */
} qdb_atomic_file;

/* Start writing `path`. On failure returns non-OK and leaves *af empty. */
qdb_status qdb_atomic_open(qdb_atomic_file *af, const char *path, qdb_err *e);
/* Flush, fsync and rename into place; on any failure the temporary file is
 * removed and the previous content of `path` is untouched. Always releases af.
 * After a success, temporaries of `path` that a killed writer left behind
 * (untouched for QDB_ATOMIC_STALE_SECONDS) are removed. */
#define QDB_ATOMIC_STALE_SECONDS 600
qdb_status qdb_atomic_commit(qdb_atomic_file *af, qdb_err *e);
/* Give up: remove the temporary file, release af. */
void qdb_atomic_abort(qdb_atomic_file *af);

#endif
