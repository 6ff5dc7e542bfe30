/* export.h - what leaves an investigation for other tools and people:
 *
 *   the quantization spec: the final per-layer configuration as JSON, the
 *   thing deployment tooling takes (activation bits, signedness, method,
 *   threshold or range and step per layer; weight bits, method and the
 *   threshold of every channel), with the model's path and the global
 *   configuration;
 *
 *   the script: the commands that reproduce the session from scratch with
 *   `qdb run` (every non-default global parameter as `set`, every rule in
 *   order, disabled ones disabled), headed by the command line that runs it.
 *
 * Both are written atomically (temporary file, fsync, rename). */
#ifndef QDB_EXPORT_H
#define QDB_EXPORT_H

#include <cJSON.h>

#include "session.h"

/* Every global parameter as {"name": "value", ...} (the text --set takes). */
cJSON *qdb_export_config_json(const qdb_quant_config *c);

/* The spec as a cJSON tree (caller frees); NULL on OOM. The session must be
 * quantized. */
cJSON *qdb_export_spec_json(const qdb_session *s);
qdb_status qdb_export_spec(const qdb_session *s, const char *path, qdb_err *e);

/* The script's text (malloc'd; NULL on OOM), headed by the command line
 * that runs it (the model and the flags the session was opened with,
 * shell-quoted). */
char *qdb_export_script_text(const qdb_session *s);
qdb_status qdb_export_script(const qdb_session *s, const char *path, qdb_err *e);

/* "qdb run FILE MODEL FLAGS..." with every word shell-quoted as needed
 * (malloc'd; NULL on OOM). */
char *qdb_export_run_line(const qdb_session *s, const char *file);

#endif
