/* session_file.h - a whole investigation on disk (JSON, cJSON): what a
 * user did, so that it survives a closed terminal or a move to another
 * machine.
 *
 *   {"qdb_session": 1,                      schema version
 *    "model": {"path": ..., "sha256": ...}, the ONNX file and its hash
 *    "origin": ["--eval-n", "2000", ...],   the data flags it was opened with
 *    "config": {"activation_n_bits": "8", ...}   every global parameter
 *    "rules": [{"text": ..., "enabled": true}, ...]   in order
 *    "history": [...],                      every re-quantization
 *    "figures": {"float": .., "baseline": .., "quantized": .., "labelled": ..},
 *    "sensitivity": {...}, "bisect": {...}  the last results, when any
 *    "ui": {"selected": NAME, "sort": ..., "pane": ..., "filter": ...},
 *    "stats": {"file": "NAME.CRC.stats", "bytes": N, "crc32": C}}
 *
 * The calibration statistics go to a binary sidecar beside the file
 * (calib_stats.h: compressed, about 0.45 MB for the demo model), named by
 * its checksum and written before the JSON that names it (the previous one
 * is removed after): resuming installs them
 * instead of calibrating again, and a missing or mismatched sidecar only
 * means calibrating again (the seeded selection gives the same figures).
 *
 * Saving writes atomically (temporary file, fsync, rename): a failed save
 * leaves the previous file as it was. Loading reads and checks everything
 * first (types, ranges, the rules' syntax, the model's hash) and either
 * returns a complete description or one message naming the file, the
 * field and what was expected; nothing is applied half-way. Resuming then
 * opens the model with the recorded flags, the configuration and the rules,
 * installs the statistics and restores the history and the UI state. */
#ifndef QDB_SESSION_FILE_H
#define QDB_SESSION_FILE_H

#include <cJSON.h>
#include <stdint.h>

#include "history.h"
#include "quant_config.h"
#include "ruleset.h"
#include "session.h"

#define QDB_SESSION_VERSION 1
#define QDB_SESSION_MAX_BYTES ((size_t)64 << 20)


/* A loaded file, checked, not yet applied. */
typedef struct qdb_session_desc {
    int version;
    char *model;
    char *sha256;             /* hex, 64 chars */
    int n_origin;
    char **origin;
    qdb_quant_config cfg;
    qdb_ruleset *rs;
    qdb_history hist;
    int have_figures;
    double float_score, baseline, current;
    qdb_session_ui ui;
    int have_sens;            /* the last sensitivity sweep */
    qdb_sensitivity sens;
    int64_t sens_n;
    int have_bisect;          /* the last bisection */
    qdb_bisect bis;
    qdb_raise_mode bis_raise;
    int64_t bis_n;
    char *stats_path;         /* the calibration statistics' sidecar, NULL: none */
    uint32_t stats_crc;       /* its CRC-32, as recorded */
    double stats_bytes;
} qdb_session_desc;

void qdb_session_desc_free(qdb_session_desc *d);

/* SHA-256 of a file as 64 hex characters (out has 65 bytes). */
qdb_status qdb_file_sha256(const char *path, char out[65], qdb_err *e);

/* Save s (with its UI state) to path. */
qdb_status qdb_session_save(const qdb_session *s, const char *path, qdb_err *e);

/* Read and check path into d. The model's hash is checked against the file
 * at d->model (relative paths are taken from the session file's
 * directory when not found from the current one) unless check_model is 0. */
qdb_status qdb_session_load(const char *path, int check_model, qdb_session_desc *d, qdb_err *e);

/* Remove a session file and the statistics sidecar it owns (best effort). */
void qdb_session_file_remove(const char *path);

/* Install the sidecar's statistics into s (before qdb_session_prepare,
 * which then does not calibrate). A missing, damaged or mismatched sidecar
 * is an error that changes nothing: the caller may calibrate instead. */
qdb_status qdb_session_load_stats(qdb_session *s, const qdb_session_desc *d, qdb_err *e);

/* After the session was opened from d's model, origin, configuration and
 * rules: take d's history, sensitivity and bisection results over (d keeps
 * nothing of them). */
void qdb_session_adopt_history(qdb_session *s, qdb_session_desc *d);

#endif
