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
    const char *session = NULL;
    qdb_session_desc d;
    memset(&d, 0, sizeof d);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--session") && i + 1 < argc) {
            session = argv[++i];
            continue;
        }
        int k = qsetup_parse(&s, argc, argv, &i);
        if (k < 0)
            goto out;
        if (k == 0) {
            cli_error("tui: unexpected argument '%s' (qdb tui --help)", argv[i]);
            goto out;
        }
    }
    if (!s.model && !session) {
        cli_error("usage: qdb tui MODEL.onnx [data flags] [--rule RULE] [--rules FILE] [--set k=v]\n"
                  "       qdb [MODEL.onnx] --session FILE");
        goto out;
    }
    rc = 1;
    qdb_session *ss = qsetup_session(&s, argc, argv, NULL, session, &d);
    if (!ss)
        goto out;
    rc = qdb_tui_run(ss);
    qdb_session_free(ss);
out:
    qsetup_close(&s);
    qdb_session_desc_free(&d);
    return rc;
}
