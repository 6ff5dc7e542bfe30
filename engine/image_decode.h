/* image_decode.h - PNG and JPEG files decoded through stb_image (Debian
 * libstb-dev), the only place stb_image is compiled. A thin wrapper: header
 * probe, and a decode to 8-bit interleaved RGB. Every error names the file. */
#ifndef QDB_IMAGE_DECODE_H
#define QDB_IMAGE_DECODE_H

#include <stdint.h>

#include "status.h"

/* Largest width or height accepted (refused before any pixel is decoded). */
#define QDB_IMAGE_MAX_SIDE 16384

/* Read only the header of `path`: its width and height. Fails on an
 * unreadable, corrupt or unsupported file (stb_image's reason in the
 * message), on a 0-sized image and on one larger than QDB_IMAGE_MAX_SIDE. */
qdb_status qdb_image_probe(const char *path, int64_t *width, int64_t *height, qdb_err *e);

/* Decode `path` into *rgb: height x width x 3 bytes, interleaved R, G, B
 * (grayscale and alpha images converted by stb_image; alpha dropped). The
 * caller frees *rgb with qdb_image_free(). Same checks as qdb_image_probe. */
qdb_status qdb_image_decode(const char *path, unsigned char **rgb, int64_t *width,
                            int64_t *height, qdb_err *e);
void qdb_image_free(unsigned char *rgb);

#endif
