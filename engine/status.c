/* status.c - error buffers and status names (see status.h). */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

qdb_status qdb_err_set(qdb_err *e, qdb_status code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

void qdb_err_prefix(qdb_err *e, const char *fmt, ...)
{
    if (!e)
        return;
    char pre[QDB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    size_t plen = strlen(pre), olen = strlen(e->msg);
    if (plen >= sizeof e->msg)
        plen = sizeof e->msg - 1;
    if (plen + olen >= sizeof e->msg)
        olen = sizeof e->msg - 1 - plen;
    memmove(e->msg + plen, e->msg, olen);
    memcpy(e->msg, pre, plen);
    e->msg[plen + olen] = '\0';
}

void qdb_err_clear(qdb_err *e)
{
    if (e) {
        e->code = QDB_OK;
        e->msg[0] = '\0';
    }
}

const char *qdb_status_name(qdb_status s)
{
    static const char *const names[QDB_STATUS_COUNT] = {
        [QDB_OK] = "ok",
        [QDB_ERR_NOMEM] = "out of memory",
        [QDB_ERR_IO] = "I/O error",
        [QDB_ERR_FORMAT] = "malformed input",
        [QDB_ERR_UNSUPPORTED] = "unsupported",
        [QDB_ERR_SHAPE] = "shape mismatch",
        [QDB_ERR_INVALID] = "invalid argument",
        [QDB_ERR_CANCELLED] = "cancelled",
        [QDB_ERR_DYNAMIC] = "shape known only at run time",
    };
    return (s >= 0 && s < QDB_STATUS_COUNT) ? names[s] : "unknown status";
}
