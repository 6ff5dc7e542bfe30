/* script.c - batch mode over the command language (see script.h). */
#include "script.h"

#include <stdlib.h>
#include <string.h>

#include "command.h"

#define SCRIPT_LINE_MAX (64 * 1024)

qdb_status qdb_script_run(qdb_session *s, FILE *in, const char *what, FILE *out, FILE *err,
                          const qdb_script_opts *o, qdb_script_result *r, qdb_err *e)
{
    memset(r, 0, sizeof *r);
    /* room for the longest line, its CR LF and the NUL */
    char *line = malloc(SCRIPT_LINE_MAX + 3);
    if (!line)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    qdb_status first = QDB_OK;
    int no = 0;
    while (fgets(line, SCRIPT_LINE_MAX + 3, in)) {
        no++;
        size_t n = strlen(line);
        int ended = n && line[n - 1] == '\n';
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n > SCRIPT_LINE_MAX || (!ended && !feof(in))) {
            /* the rest of the line cannot be told from the next: stop */
            qdb_err le = {0};
            qdb_err_set(&le, QDB_ERR_INVALID, "%s:%d: line longer than %d bytes", what, no,
                        SCRIPT_LINE_MAX);
            r->failed++;
            if (err)
                fprintf(err, "%s\n", le.msg);
            if (first == QDB_OK) {
                first = le.code;
                r->first_failed_line = no;
                qdb_err_set(e, le.code, "%s", le.msg);
            }
            break;
        }
        /* trailing blanks are not part of the command */
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = 0;
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        if (o && o->echo && out)
            fprintf(out, "> %s\n", p);
        qdb_cmd_result res;
        qdb_err ce = {0};
        qdb_status st = qdb_cmd_run(s, p, o ? o->progress : NULL, o ? o->user : NULL, &res, &ce);
        r->commands++;
        if (out && res.text && res.text[0])
            fputs(res.text, out);
        int quit = (res.flags & QDB_CMD_QUIT) != 0;
        qdb_cmd_result_free(&res);
        if (st != QDB_OK) {
            r->failed++;
            if (err)
                fprintf(err, "%s:%d: %s\n", what, no, ce.msg);
            if (first == QDB_OK) {
                first = st;
                r->first_failed_line = no;
                qdb_err_set(e, st, "%s:%d: %s", what, no, ce.msg);
            }
            if (!(o && o->keep_going))
                break;
        }
        if (quit) {
            r->quit = 1;
            break;
        }
    }
    if (first == QDB_OK && ferror(in))
        first = qdb_err_set(e, QDB_ERR_IO, "%s: read error after line %d", what, no);
    free(line);
    return first;
}
