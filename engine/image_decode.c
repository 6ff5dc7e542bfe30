/* image_decode.c - the one translation unit that compiles stb_image (PNG and
 * JPEG only, functions kept static), behind the qdb_image_* wrapper of
 * image_decode.h. */
#include "image_decode.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_MAX_DIMENSIONS QDB_IMAGE_MAX_SIDE
/* stb declares (static) functions that STBI_ONLY_* leaves undefined; GCC
 * reports those at the end of the file, so this one stays file-wide. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

/* Open `path` for stb_image; an error names the file and errno's reason. */
static qdb_status open_image(const char *path, FILE **f, qdb_err *e)
{
    *f = fopen(path, "rb");
    if (!*f)
        return qdb_err_set(e, QDB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return QDB_OK;
}

static qdb_status check_size(const char *path, int w, int h, qdb_err *e)
{
    if (w <= 0 || h <= 0)
        return qdb_err_set(e, QDB_ERR_FORMAT, "%s: image of 0 size (%d x %d)", path, w, h);
    if (w > QDB_IMAGE_MAX_SIDE || h > QDB_IMAGE_MAX_SIDE)
        return qdb_err_set(e, QDB_ERR_FORMAT, "%s: image is %d x %d, larger than %d x %d", path,
                           w, h, QDB_IMAGE_MAX_SIDE, QDB_IMAGE_MAX_SIDE);
    return QDB_OK;
}

/* stbi_info on an open file; on failure its reason (or our size check). */
static qdb_status probe_file(FILE *f, const char *path, int *w, int *h, qdb_err *e)
{
    int comp;
    *w = *h = 0;
    if (!stbi_info_from_file(f, w, h, &comp)) {
        /* stbi_info tries every format and keeps the last one's reason;
         * stbi_load picks the format by its signature first, so its reason
         * is the real one (and it checks the size before allocating). */
        const char *why = "unknown error";
        if (fseek(f, 0, SEEK_SET) == 0) {
            int lw, lh;
            unsigned char *p = stbi_load_from_file(f, &lw, &lh, &comp, 3);
            if (p)
                stbi_image_free(p);
            else
                why = stbi_failure_reason();
        }
        /* stb refuses over-large images itself (STBI_MAX_DIMENSIONS) */
        if (why && !strcmp(why, "too large"))
            return qdb_err_set(e, QDB_ERR_FORMAT, "%s: image is larger than %d x %d", path,
                               QDB_IMAGE_MAX_SIDE, QDB_IMAGE_MAX_SIDE);
        if (why && !strcmp(why, "0-pixel image"))
            return qdb_err_set(e, QDB_ERR_FORMAT, "%s: image of 0 size", path);
        return qdb_err_set(e, QDB_ERR_FORMAT, "%s: cannot decode: %s", path,
                           why ? why : "unknown error");
    }
    return check_size(path, *w, *h, e);
}

qdb_status qdb_image_probe(const char *path, int64_t *width, int64_t *height, qdb_err *e)
{
    FILE *f;
    qdb_status st = open_image(path, &f, e);
    if (st != QDB_OK)
        return st;
    int w, h;
    st = probe_file(f, path, &w, &h, e);
    fclose(f);
    *width = w;
    *height = h;
    return st;
}

qdb_status qdb_image_decode(const char *path, unsigned char **rgb, int64_t *width,
                            int64_t *height, qdb_err *e)
{
    *rgb = NULL;
    FILE *f;
    qdb_status st = open_image(path, &f, e);
    if (st != QDB_OK)
        return st;
    int w, h, comp;
    st = probe_file(f, path, &w, &h, e);
    if (st != QDB_OK)
        goto done;
    unsigned char *p = stbi_load_from_file(f, &w, &h, &comp, 3);
    if (!p) {
        const char *why = stbi_failure_reason();
        st = qdb_err_set(e, strcmp(why ? why : "", "outofmem") ? QDB_ERR_FORMAT : QDB_ERR_NOMEM,
                         "%s: cannot decode: %s", path, why ? why : "unknown error");
        goto done;
    }
    if ((st = check_size(path, w, h, e)) != QDB_OK) {
        stbi_image_free(p);
        goto done;
    }
    *rgb = p;
    *width = w;
    *height = h;
done:
    fclose(f);
    return st;
}

void qdb_image_free(unsigned char *rgb)
{
    stbi_image_free(rgb);
}
