/* calib_stats.h - a quantized model's calibration statistics as a compact
 * binary blob, so that a saved session resumes without calibrating again:
 * per layer its activation histogram (counts, weighted counts, range,
 * moments) and the per-channel input moments bias correction uses.
 *
 * Layout: "QDBSTAT1", the uncompressed size (u64 LE), its CRC-32 (u32 LE),
 * then the zlib-compressed payload: layer count, calibration samples, and
 * per layer its name (checked against the model when read), histogram and
 * channel moments, numbers as IEEE-754 doubles in little-endian order.
 *
 * Reading checks every size and value before changing anything: a blob for
 * another model (layer names), truncated or corrupted (CRC), or with
 * impossible values is refused with a message, and the model keeps what it
 * had. */
#ifndef QDB_CALIB_STATS_H
#define QDB_CALIB_STATS_H

#include <stddef.h>

#include "qmodel.h"

/* The statistics of a calibrated q (malloc'd *buf of *len bytes). */
qdb_status qdb_calib_stats_encode(const qdb_qmodel *q, void **buf, size_t *len, qdb_err *e);

/* Install statistics into q (same model), as if qdb_qmodel_calibrate had
 * produced them; q must be quantized again afterwards. `what` names the
 * source in messages. */
qdb_status qdb_calib_stats_decode(qdb_qmodel *q, const void *buf, size_t len, const char *what,
                                  qdb_err *e);

#endif
