/* plot_flags.c - the figure options of qdb plot and qdb report (see
 * plot_flags.h). */
#include "plot_flags.h"

#include <string.h>

#include "commands.h"

int plot_flags_parse(const char *cmd, int pdf, int argc, char **argv, int *i, qdb_plot_opts *po)
{
    const char *a = argv[*i];
    int has_value = *i + 1 < argc;
    if (!strcmp(a, "--format") && has_value) {
        int f = qdb_plot_format_parse(argv[++*i]);
        if (f < 0 || (!pdf && f == QDB_PLOT_PDF)) {
            cli_error("%s: --format: '%s' is not %s", cmd, argv[*i],
                      pdf ? "png, svg or pdf" : "svg or png (pages show images)");
            return -1;
        }
        po->format = (qdb_plot_format)f;
    } else if (!strcmp(a, "--size") && has_value) {
        if (qdb_plot_size_parse(argv[++*i], &po->width, &po->height)) {
            cli_error("%s: --size: '%s' is not WxH (64..10000 pixels each)", cmd, argv[*i]);
            return -1;
        }
    } else if (!strcmp(a, "--log")) {
        po->log_counts = 1;
    } else if (!strcmp(a, "--linear")) {
        po->log_counts = 0;
    } else if (!strcmp(a, "--grid")) {
        po->grid = 1;
    } else if (!strcmp(a, "--title") && has_value) {
        po->title = argv[++*i];
    } else {
        return 0;
    }
    return 1;
}
