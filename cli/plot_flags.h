/* plot_flags.h - the figure options qdb plot and qdb report share:
 * --format F, --size WxH, --log, --linear, --grid, --title TEXT. */
#ifndef QDB_CLI_PLOT_FLAGS_H
#define QDB_CLI_PLOT_FLAGS_H

#include "figures.h"

/* If argv[*i] is a figure option, consume it (and its value) into po and
 * return 1; 0 when it is not one; -1 (message printed, naming `cmd`) for a
 * bad value. pdf: whether PDF is an accepted format. */
int plot_flags_parse(const char *cmd, int pdf, int argc, char **argv, int *i, qdb_plot_opts *po);

#endif
