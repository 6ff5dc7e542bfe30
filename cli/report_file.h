/* report_file.h - how the commands write their output files (JSON
 * reports, rule files): atomically (temporary file, fsync, rename), with
 * one message naming the file when that fails. */
#ifndef QDB_CLI_REPORT_FILE_H
#define QDB_CLI_REPORT_FILE_H

#include <cJSON.h>

/* Write text (plus a final newline when it lacks one). 0, or -1 with the
 * message printed. */
int cli_write_text(const char *path, const char *text);
/* Before long work: can a file be created at path (its directory exists
 * and is writable)? 0, or -1 with the message printed. */
int cli_check_writable(const char *path);
/* Print the JSON object, write it, and delete it (also on failure). */
int cli_write_json(const char *path, cJSON *o);

#endif
