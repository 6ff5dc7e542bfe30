/* cmd_tui.c - `qdb tui MODEL [flags]` and `qdb MODEL.onnx [flags]`: open the
 * model, its datasets and rules (the quantize command's flags), hand them
 * to a session and run the curses front end, which calibrates and
 * evaluates with progress on screen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "qsetup.h"
#include "session.h"
#include "tui.h"

int cmd_tui(int argc, char **argv)
{
    qsetup s;
    if (qsetup_init(&s))
        return 1;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        int k = qsetup_parse(&s, argc, argv, &i);
        if (k < 0)
            goto out;
        if (k == 0) {
            cli_error("tui: unexpected argument '%s' (qdb tui --help)", argv[i]);
            goto out;
        }
    }
    if (!s.model) {
        cli_error("usage: qdb tui MODEL.onnx [data flags] [--rule RULE] [--rules FILE] [--set k=v]");
        goto out;
    }
    rc = 1;
    s.no_calibrate = 1;
    if (qsetup_open(&s, 1, 0))
        goto out;
    qdb_err e = {0};
    /* the session takes the graph, the datasets and the rules */
    qdb_session *ss = qdb_session_new(s.model, s.cspec, s.espec, s.g, s.dc, s.de, &s.cfg, s.rs,
                                      (int)s.batch, &e);
    s.g = NULL;
    s.dc = s.de = NULL;
    s.rs = NULL;
    char **origin = NULL;
    int n_origin = qsetup_origin_argv(argc, argv, s.model, NULL, &origin);
    if (ss && (n_origin < 0 || qdb_session_set_origin(ss, n_origin, origin, &e) != QDB_OK)) {
        qdb_session_free(ss);
        ss = NULL;
        qdb_err_set(&e, QDB_ERR_NOMEM, "out of memory");
    }
    free(origin);
    if (!ss) {
        cli_error("%s: %s", s.model, e.msg);
        goto out;
    }
    rc = qdb_tui_run(ss);
    qdb_session_free(ss);
out:
    qsetup_close(&s);
    return rc;
}
