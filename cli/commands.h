/* commands.h - the command-line front end: one function per subcommand.
 * Each returns the process exit status (0 success, 1 failure, 2 usage) and
 * prints its own one-line error message naming the file at fault. */
#ifndef QDB_CLI_COMMANDS_H
#define QDB_CLI_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_match(int argc, char **argv);
int cmd_sensitivity(int argc, char **argv);
int cmd_bisect(int argc, char **argv);
int cmd_tui(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_report(int argc, char **argv);
/* The option lines of `qdb COMMAND --help` for the longer commands. */
extern const char cmd_sensitivity_options[], cmd_bisect_options[];
extern const char cmd_plot_options[], cmd_report_options[];

/* Print "qdb: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
