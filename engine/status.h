/* status.h - qdb's error model: a status code plus a caller-owned message
 * buffer. Library code never prints and never exits; it fills a qdb_err and
 * returns the status, and the front end decides what to show. */
#ifndef QDB_STATUS_H
#define QDB_STATUS_H

#include <stddef.h>

typedef enum {
    QDB_OK = 0,
    QDB_ERR_NOMEM,       /* allocation failed or a size would overflow */
    QDB_ERR_IO,          /* a file could not be opened, read or written */
    QDB_ERR_FORMAT,      /* malformed input file (protobuf, .npy, ...) */
    QDB_ERR_UNSUPPORTED, /* valid input that qdb does not implement */
    QDB_ERR_SHAPE,       /* shapes that do not fit together */
    QDB_ERR_INVALID,     /* invalid argument or attribute value */
    QDB_ERR_CANCELLED,   /* a hook or the user stopped the work */
    QDB_ERR_DYNAMIC,     /* from infer(): the output shape depends on input values
                          * not known before running (not an error at load) */
    QDB_STATUS_COUNT
} qdb_status;

#define QDB_ERR_MSG_MAX 1024

typedef struct qdb_err {
    qdb_status code;
    char msg[QDB_ERR_MSG_MAX];
} qdb_err;

/* Record an error. `e` may be NULL (the message is dropped). Returns `code`
 * so callers can write `return qdb_err_set(e, QDB_ERR_SHAPE, "...")`. */
qdb_status qdb_err_set(qdb_err *e, qdb_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context ("file.onnx: node 'conv1' (Conv): ") to an existing message. */
void qdb_err_prefix(qdb_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void qdb_err_clear(qdb_err *e);

/* Short name of a status code ("unsupported", "shape mismatch", ...). */
const char *qdb_status_name(qdb_status s);

#endif
