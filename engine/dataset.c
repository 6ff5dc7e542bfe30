/* dataset.c - the dataset layer (see dataset.h): opens and validates IDX and
 * .npy image/label files and image folders, and streams them as
 * preprocessed batches, one sample read at a time. IDX files go through
 * zlib's gz* functions (plain and gzipped alike); .npy files through stdio
 * with npy.c's header check; folder images through image_decode.c, resized
 * and centre-cropped here. */
#include "dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#include "image_decode.h"
#include "npy.h"

typedef enum { EL_U8, EL_F32, EL_I32, EL_I64 } elem_kind;

/* One file, read sample by sample. */
typedef struct source {
    char *path;
    gzFile gz;           /* IDX files */
    FILE *f;             /* .npy files */
    int64_t data_off;    /* byte offset of sample 0 */
    size_t sample_bytes; /* bytes per sample */
    int64_t count;       /* samples in the file */
    int64_t pos;         /* index of the sample at the file position */
    elem_kind kind;
} source;

struct qdb_dataset {
    source img, lab;
    int has_labels;
    int64_t c, h, w;
    int64_t count;    /* samples yielded */
    int64_t *sel;     /* selected indices, ascending; NULL: 0..count-1 */
    int64_t cursor;
    unsigned char *raw; /* one raw image sample */
    int per_channel;    /* mean/std given per channel */
    float scale, mean[QDB_DATASET_MAX_CHANNELS], std[QDB_DATASET_MAX_CHANNELS];
    float lut[QDB_DATASET_MAX_CHANNELS][256]; /* uint8 value -> preprocessed */
    /* image folders (dir:): raw holds one resized sample, float32 C x H x W */
    int is_dir, bgr;
    char **classes;     /* sorted class (sub-folder) names */
    int64_t n_classes;
    char **files;       /* img.count image paths, class by class */
    int64_t *file_label;
    int64_t *xi;        /* per output column: source columns x0, x1 ... */
    float *xf;          /* ... and the weight of x1 */
};

void qdb_dataset_opts_init(qdb_dataset_opts *o)
{
    memset(o, 0, sizeof *o);
    o->scale = 1.0f;
}

static void source_close(source *s)
{
    if (s->gz)
        gzclose(s->gz);
    if (s->f)
        fclose(s->f);
    free(s->path);
    memset(s, 0, sizeof *s);
}

static int64_t load_be32(const unsigned char *b)
{
    return (int64_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
}

static qdb_status gz_corrupt(source *s, qdb_err *e)
{
    int zerr;
    const char *m = gzerror(s->gz, &zerr);
    return qdb_err_set(e, QDB_ERR_FORMAT, "%s: corrupt gzip data: %s", s->path, m);
}

/* Open an IDX file of unsigned bytes with `want_ndim` dimensions; dims[]
 * receives them. Checks that the file holds exactly the data the header
 * promises: from its size when plain, by decompressing it once (without
 * keeping the data) when gzipped, which also checks the gzip CRC. */
static qdb_status idx_open(source *s, const char *path, int want_ndim, const char *what,
                           int64_t *dims, qdb_err *e)
{
    qdb_status st;
    unsigned char *buf = NULL;
    s->path = strdup(path);
    if (!s->path)
        return qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
    errno = 0;
    s->gz = gzopen(path, "rb");
    if (!s->gz)
        return qdb_err_set(e, errno ? QDB_ERR_IO : QDB_ERR_NOMEM, "%s: cannot open: %s", path,
                           errno ? strerror(errno) : "out of memory");
    gzbuffer(s->gz, 1 << 17);
    unsigned char hdr[4 + 4 * 4];
    int got = gzread(s->gz, hdr, 4);
    if (got != 4) {
        st = got < 0 ? gz_corrupt(s, e)
                     : qdb_err_set(e, QDB_ERR_FORMAT, "%s: not an IDX file (shorter than its "
                                   "magic)", path);
        goto fail;
    }
    if (hdr[0] != 0 || hdr[1] != 0) {
        st = qdb_err_set(e, QDB_ERR_FORMAT,
                         "%s: not an IDX file (bad magic %02x %02x %02x %02x)", path, hdr[0],
                         hdr[1], hdr[2], hdr[3]);
        goto fail;
    }
    int type = hdr[2], ndim = hdr[3];
    if (type != 0x08) {
        int known = type == 0x09 || type == 0x0b || type == 0x0c || type == 0x0d || type == 0x0e;
        st = qdb_err_set(e, known ? QDB_ERR_UNSUPPORTED : QDB_ERR_FORMAT,
                         "%s: IDX element type 0x%02x %s (%s must be unsigned bytes, type 0x08)",
                         path, type, known ? "is not supported" : "is invalid", what);
        goto fail;
    }
    if (ndim != want_ndim) {
        st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: IDX %s must have %d dimension%s (%s), found %d",
                         path, what, want_ndim, want_ndim == 1 ? "" : "s",
                         want_ndim == 1 ? "N" : "N x H x W", ndim);
        goto fail;
    }
    got = gzread(s->gz, hdr + 4, (unsigned)(4 * ndim));
    if (got != 4 * ndim) {
        st = got < 0 ? gz_corrupt(s, e)
                     : qdb_err_set(e, QDB_ERR_FORMAT, "%s: truncated IDX header", path);
        goto fail;
    }
    size_t per = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = load_be32(hdr + 4 + 4 * i);
        if (dims[i] == 0) {
            st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: IDX dimension %d is 0 (no data)", path, i);
            goto fail;
        }
        if (i > 0) {
            if ((uint64_t)dims[i] > (QDB_TENSOR_MAX_BYTES / 4) / per) {
                st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: IDX sample size is implausible", path);
                goto fail;
            }
            per *= (size_t)dims[i];
        }
    }
    s->count = dims[0];
    s->sample_bytes = per;
    s->data_off = 4 + 4 * ndim;
    s->kind = EL_U8;
    s->pos = 0;
    /* dims[0] < 2^32 and per < 2^34: the product fits in 64 bits. */
    uint64_t need = (uint64_t)s->count * per;
    uint64_t have = 0;
    if (gzdirect(s->gz)) {
        struct stat sb;
        if (stat(path, &sb) != 0) {
            st = qdb_err_set(e, QDB_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
            goto fail;
        }
        have = sb.st_size > s->data_off ? (uint64_t)(sb.st_size - s->data_off) : 0;
    } else {
        const unsigned chunk = 1 << 16;
        buf = malloc(chunk);
        if (!buf) {
            st = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        for (;;) {
            got = gzread(s->gz, buf, chunk);
            if (got < 0) {
                st = gz_corrupt(s, e);
                goto fail;
            }
            if (got == 0)
                break;
            have += (uint64_t)got;
            if (have > need)
                break;
        }
        if (gzrewind(s->gz) != 0) {
            st = qdb_err_set(e, QDB_ERR_IO, "%s: cannot rewind", path);
            goto fail;
        }
        s->pos = -1;
    }
    if (have < need) {
        st = qdb_err_set(e, QDB_ERR_FORMAT,
                         "%s: truncated: the header promises %lld %s of %zu bytes, the data "
                         "holds %llu bytes",
                         path, (long long)s->count, ndim == 1 ? "labels" : "images", per,
                         (unsigned long long)have);
        goto fail;
    }
    if (have > need) {
        st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: trailing bytes after %lld %s", path,
                         (long long)s->count, ndim == 1 ? "labels" : "images");
        goto fail;
    }
    free(buf);
    return QDB_OK;
fail:
    free(buf);
    return st;
}

static qdb_status npy_open(source *s, const char *path, qdb_npy_info *info, qdb_err *e)
{
    s->path = strdup(path);
    if (!s->path)
        return qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
    s->f = fopen(path, "rb");
    if (!s->f)
        return qdb_err_set(e, QDB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    qdb_status st = qdb_npy_read_header(s->f, path, info, e);
    if (st != QDB_OK)
        return st;
    s->data_off = info->data_offset;
    s->pos = 0;
    return QDB_OK;
}

/* Read sample `idx` of `s` (raw bytes) into buf. */
static qdb_status read_sample(source *s, int64_t idx, void *buf, qdb_err *e)
{
    if (s->pos != idx) {
        int64_t off = s->data_off + idx * (int64_t)s->sample_bytes;
        int bad = s->gz ? gzseek(s->gz, (z_off_t)off, SEEK_SET) < 0
                        : fseeko(s->f, (off_t)off, SEEK_SET) != 0;
        if (bad)
            return qdb_err_set(e, QDB_ERR_IO, "%s: cannot seek to sample %lld", s->path,
                               (long long)idx);
    }
    size_t got;
    if (s->gz) {
        int r = gzread(s->gz, buf, (unsigned)s->sample_bytes);
        got = r < 0 ? 0 : (size_t)r;
    } else {
        got = fread(buf, 1, s->sample_bytes, s->f);
    }
    s->pos = -1;
    if (got != s->sample_bytes)
        return qdb_err_set(e, QDB_ERR_FORMAT, "%s: truncated or unreadable at sample %lld",
                           s->path, (long long)idx);
    s->pos = idx + 1;
    return QDB_OK;
}

static int64_t label_value(const source *s, const unsigned char *b)
{
    if (s->kind == EL_U8)
        return b[0];
    if (s->kind == EL_I32) {
        int32_t v;
        memcpy(&v, b, 4);
        return v;
    }
    int64_t v;
    memcpy(&v, b, 8);
    return v;
}

/* Check every label of a .npy label file is a class index (>= 0), reading
 * through it once in chunks. */
static qdb_status check_npy_labels(source *s, qdb_err *e)
{
    unsigned char buf[4096];
    size_t per = sizeof buf / s->sample_bytes;
    for (int64_t at = 0; at < s->count;) {
        size_t n = (size_t)(s->count - at) < per ? (size_t)(s->count - at) : per;
        if (fread(buf, s->sample_bytes, n, s->f) != n)
            return qdb_err_set(e, QDB_ERR_FORMAT, "%s: truncated labels", s->path);
        for (size_t k = 0; k < n; k++) {
            int64_t v = label_value(s, buf + k * s->sample_bytes);
            if (v < 0)
                return qdb_err_set(e, QDB_ERR_FORMAT,
                                   "%s: label %lld of sample %lld is negative (labels are "
                                   "class indices)",
                                   s->path, (long long)v, (long long)(at + (int64_t)k));
        }
        at += (int64_t)n;
    }
    s->pos = s->count;
    return QDB_OK;
}

static qdb_status open_idx(qdb_dataset *d, const char *images, const char *labels, qdb_err *e)
{
    int64_t dims[3];
    qdb_status st = idx_open(&d->img, images, 3, "images", dims, e);
    if (st != QDB_OK)
        return st;
    d->c = 1;
    d->h = dims[1];
    d->w = dims[2];
    if (labels) {
        int64_t ldims[1];
        if ((st = idx_open(&d->lab, labels, 1, "labels", ldims, e)) != QDB_OK)
            return st;
    }
    return QDB_OK;
}

static qdb_status open_npy(qdb_dataset *d, const char *images, const char *labels, qdb_err *e)
{
    char sb[64];
    qdb_npy_info info;
    qdb_status st = npy_open(&d->img, images, &info, e);
    if (st != QDB_OK)
        return st;
    if (!((info.kind == 'f' && info.elem_size == 4) || (info.kind == 'u' && info.elem_size == 1)))
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "%s: images must be float32 or uint8, found %s%d", images,
                           info.kind == 'f' ? "float" : info.kind == 'i' ? "int"
                           : info.kind == 'u' ? "uint" : "bool", 8 * info.elem_size);
    if (info.shape.ndim != 3 && info.shape.ndim != 4)
        return qdb_err_set(e, QDB_ERR_SHAPE,
                           "%s: images must be N x C x H x W or N x H x W, found shape %s",
                           images, qdb_shape_str(&info.shape, sb, sizeof sb));
    int four = info.shape.ndim == 4;
    d->c = four ? info.shape.d[1] : 1;
    d->h = info.shape.d[1 + four];
    d->w = info.shape.d[2 + four];
    d->img.count = info.shape.d[0];
    if (d->img.count == 0 || d->c == 0 || d->h == 0 || d->w == 0)
        return qdb_err_set(e, QDB_ERR_SHAPE, "%s: no data (shape %s)", images,
                           qdb_shape_str(&info.shape, sb, sizeof sb));
    d->img.kind = info.kind == 'f' ? EL_F32 : EL_U8;
    /* numel (checked against the file size) = count * c * h * w */
    d->img.sample_bytes = (info.numel / (size_t)d->img.count) * (size_t)info.elem_size;
    if (labels) {
        if ((st = npy_open(&d->lab, labels, &info, e)) != QDB_OK)
            return st;
        if (info.kind != 'i' || (info.elem_size != 4 && info.elem_size != 8))
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                               "%s: labels must be int32 or int64, found %s%d", labels,
                               info.kind == 'f' ? "float" : info.kind == 'u' ? "uint"
                               : info.kind == 'b' ? "bool" : "int", 8 * info.elem_size);
        if (info.shape.ndim != 1)
            return qdb_err_set(e, QDB_ERR_SHAPE, "%s: labels must be 1-D (N), found shape %s",
                               labels, qdb_shape_str(&info.shape, sb, sizeof sb));
        d->lab.count = info.shape.d[0];
        d->lab.kind = info.elem_size == 4 ? EL_I32 : EL_I64;
        d->lab.sample_bytes = (size_t)info.elem_size;
        if (d->lab.count == d->img.count && (st = check_npy_labels(&d->lab, e)) != QDB_OK)
            return st;
    }
    return QDB_OK;
}

static void free_names(char **names, size_t n)
{
    if (names)
        for (size_t i = 0; i < n; i++)
            free(names[i]);
    free(names);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name &&
           (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* The sorted names in folder `path` of sub-folders (want_dirs) or of PNG and
 * JPEG files, hidden entries skipped. */
static qdb_status list_folder(const char *path, int want_dirs, char ***names, size_t *n,
                              qdb_err *e)
{
    qdb_status st = QDB_OK;
    char *full = NULL;
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    DIR *dp = opendir(path);
    if (!dp)
        return qdb_err_set(e, QDB_ERR_IO, "%s: cannot open folder: %s", path, strerror(errno));
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dp);
        if (!de) {
            if (errno)
                st = qdb_err_set(e, QDB_ERR_IO, "%s: cannot read folder: %s", path,
                                 strerror(errno));
            break;
        }
        if (de->d_name[0] == '.' || (!want_dirs && !is_image_name(de->d_name)))
            continue;
        size_t len = strlen(path) + strlen(de->d_name) + 2;
        free(full);
        full = malloc(len);
        if (!full) {
            st = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        snprintf(full, len, "%s/%s", path, de->d_name);
        struct stat sb;
        if (stat(full, &sb) != 0 || (want_dirs ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)))
            continue;
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            char **grown = realloc(*names, nc * sizeof *grown);
            if (!grown) {
                st = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            *names = grown;
            cap = nc;
        }
        if (!((*names)[*n] = strdup(de->d_name))) {
            st = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        (*n)++;
    }
    closedir(dp);
    free(full);
    if (st != QDB_OK) {
        free_names(*names, *n);
        *names = NULL;
        *n = 0;
        return st;
    }
    if (*n > 1)
        qsort(*names, *n, sizeof **names, cmp_name);
    return QDB_OK;
}

/* Append file `name` of class folder `cdir` with label `label`. */
static qdb_status add_file(qdb_dataset *d, size_t *cap, const char *cdir, const char *name,
                           int64_t label, qdb_err *e)
{
    if ((size_t)d->img.count == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        char **f = realloc(d->files, nc * sizeof *f);
        if (f)
            d->files = f;
        int64_t *l = f ? realloc(d->file_label, nc * sizeof *l) : NULL;
        if (!l)
            return qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", d->img.path);
        d->file_label = l;
        *cap = nc;
    }
    size_t len = strlen(cdir) + strlen(name) + 2;
    char *p = malloc(len);
    if (!p)
        return qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", d->img.path);
    snprintf(p, len, "%s/%s", cdir, name);
    d->files[d->img.count] = p;
    d->file_label[d->img.count++] = label;
    return QDB_OK;
}

/* An image folder: list the classes and their images, check every image's
 * header, and set up the target sample shape. */
static qdb_status open_dir(qdb_dataset *d, const char *spec, const char *path,
                           const qdb_dataset_opts *o, qdb_err *e)
{
    qdb_status st;
    char **names = NULL, *cdir = NULL;
    size_t n_names = 0, cap = 0;
    if (o->height < 1 || o->height > QDB_IMAGE_MAX_SIDE || o->width < 1 ||
        o->width > QDB_IMAGE_MAX_SIDE || (o->channels != 1 && o->channels != 3) ||
        (o->bgr && o->channels != 3))
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "dataset '%s': an image folder needs the target height and width "
                           "(1..%d) and channels (1, or 3 for RGB/BGR); got %lld x %lld, %d "
                           "channel%s%s",
                           spec, QDB_IMAGE_MAX_SIDE, (long long)o->height, (long long)o->width,
                           o->channels, o->channels == 1 ? "" : "s",
                           o->bgr ? " (BGR)" : "");
    if ((uint64_t)o->channels * (uint64_t)o->height * (uint64_t)o->width * 4 >
        QDB_TENSOR_MAX_BYTES)
        return qdb_err_set(e, QDB_ERR_INVALID, "dataset '%s': target size %lld x %lld is too "
                           "large", spec, (long long)o->height, (long long)o->width);
    d->is_dir = 1;
    d->bgr = o->bgr;
    d->c = o->channels;
    d->h = o->height;
    d->w = o->width;
    if (!(d->img.path = strdup(path)))
        return qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
    size_t n_classes;
    if ((st = list_folder(path, 1, &d->classes, &n_classes, e)) != QDB_OK)
        return st;
    d->n_classes = (int64_t)n_classes;
    if (n_classes == 0)
        return qdb_err_set(e, QDB_ERR_FORMAT,
                           "%s: no class sub-folders (expected %s/CLASS/IMAGE.png, one "
                           "sub-folder per class)", path, path);
    for (size_t k = 0; k < n_classes; k++) {
        size_t len = strlen(path) + strlen(d->classes[k]) + 2;
        free(cdir);
        if (!(cdir = malloc(len))) {
            st = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        snprintf(cdir, len, "%s/%s", path, d->classes[k]);
        if ((st = list_folder(cdir, 0, &names, &n_names, e)) != QDB_OK)
            goto fail;
        for (size_t i = 0; i < n_names; i++)
            if ((st = add_file(d, &cap, cdir, names[i], (int64_t)k, e)) != QDB_OK)
                goto fail;
        free_names(names, n_names);
        names = NULL;
        n_names = 0;
    }
    if (d->img.count == 0) {
        st = qdb_err_set(e, QDB_ERR_FORMAT,
                         "%s: no images (*.png, *.jpg, *.jpeg) in its %zu class folder%s", path,
                         n_classes, n_classes == 1 ? "" : "s");
        goto fail;
    }
    for (int64_t i = 0; i < d->img.count; i++) {
        int64_t w, h;
        if ((st = qdb_image_probe(d->files[i], &w, &h, e)) != QDB_OK)
            goto fail;
    }
    d->img.kind = EL_F32;
    d->img.sample_bytes = (size_t)d->c * (size_t)d->h * (size_t)d->w * 4;
    d->xi = malloc((size_t)d->w * 2 * sizeof *d->xi);
    d->xf = malloc((size_t)d->w * sizeof *d->xf);
    if (!d->xi || !d->xf) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    free(cdir);
    return QDB_OK;
fail:
    free_names(names, n_names);
    free(cdir);
    return st;
}

/* Source coordinate of output position `i` (of an axis resized from `src`
 * to `dst` samples, then cropped from offset `off`), half-pixel centres,
 * as the two neighbours and the weight of the second. */
static void source_coord(int64_t i, int64_t off, int64_t src, int64_t dst, int64_t *a,
                         int64_t *b, float *f)
{
    double s = ((double)(i + off) + 0.5) * (double)src / (double)dst - 0.5;
    if (s < 0)
        s = 0;
    if (s > (double)(src - 1))
        s = (double)(src - 1);
    int64_t lo = (int64_t)s;
    *a = lo;
    *b = lo + 1 < src ? lo + 1 : lo;
    *f = (float)(s - (double)lo);
}

/* Decode image `idx` into d->raw (float32 C x H x W, values 0..255): the
 * shorter side resized (bilinear) so that the image covers H x W, then the
 * centre H x W crop; RGB, BGR or luma. */
static qdb_status load_image(qdb_dataset *d, int64_t idx, qdb_err *e)
{
    unsigned char *rgb;
    int64_t sw, sh;
    qdb_status st = qdb_image_decode(d->files[idx], &rgb, &sw, &sh, e);
    if (st != QDB_OK)
        return st;
    const int64_t H = d->h, W = d->w;
    /* scale so that both sides cover the target; the covering side rounds */
    double s = (double)H / (double)sh > (double)W / (double)sw ? (double)H / (double)sh
                                                               : (double)W / (double)sw;
    int64_t rh = llround((double)sh * s), rw = llround((double)sw * s);
    if (rh < H)
        rh = H;
    if (rw < W)
        rw = W;
    const int64_t oy = (rh - H) / 2, ox = (rw - W) / 2;
    for (int64_t x = 0; x < W; x++)
        source_coord(x, ox, sw, rw, &d->xi[2 * x], &d->xi[2 * x + 1], &d->xf[x]);
    float *out = (float *)(void *)d->raw;
    const size_t hw = (size_t)H * (size_t)W;
    for (int64_t y = 0; y < H; y++) {
        int64_t y0, y1;
        float fy;
        source_coord(y, oy, sh, rh, &y0, &y1, &fy);
        const unsigned char *r0 = rgb + (size_t)y0 * (size_t)sw * 3;
        const unsigned char *r1 = rgb + (size_t)y1 * (size_t)sw * 3;
        for (int64_t x = 0; x < W; x++) {
            const size_t a = (size_t)d->xi[2 * x] * 3, b = (size_t)d->xi[2 * x + 1] * 3;
            const float fx = d->xf[x];
            const float w00 = (1 - fy) * (1 - fx), w01 = (1 - fy) * fx;
            const float w10 = fy * (1 - fx), w11 = fy * fx;
            float v[3];
            for (int k = 0; k < 3; k++)
                v[k] = w00 * r0[a + k] + w01 * r0[b + k] + w10 * r1[a + k] + w11 * r1[b + k];
            const size_t at = (size_t)y * (size_t)W + (size_t)x;
            if (d->c == 1) {
                out[at] = 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2];
            } else {
                for (int k = 0; k < 3; k++)
                    out[(size_t)k * hw + at] = v[d->bgr ? 2 - k : k];
            }
        }
    }
    qdb_image_free(rgb);
    return QDB_OK;
}

/* Split "a,b" into a and b (b NULL without a comma). */
static qdb_status split_spec(const char *spec, const char *body, char **a, char **b, qdb_err *e)
{
    const char *comma = strchr(body, ',');
    size_t la = comma ? (size_t)(comma - body) : strlen(body);
    if (la == 0 || (comma && comma[1] == '\0'))
        return qdb_err_set(e, QDB_ERR_INVALID, "dataset '%s': empty file name", spec);
    if (comma && strchr(comma + 1, ','))
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "dataset '%s': more than two files (expected IMAGES[,LABELS])", spec);
    *a = strndup(body, la);
    if (!*a)
        return qdb_err_set(e, QDB_ERR_NOMEM, "dataset '%s': out of memory", spec);
    if (comma) {
        *b = strdup(comma + 1);
        if (!*b)
            return qdb_err_set(e, QDB_ERR_NOMEM, "dataset '%s': out of memory", spec);
    }
    return QDB_OK;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Choose n of `total` indices uniformly at random, in ascending order
 * (Knuth's selection sampling, algorithm S). */
static void select_subset(int64_t *sel, int64_t n, int64_t total, uint64_t seed)
{
    uint64_t st = seed;
    int64_t m = 0;
    for (int64_t i = 0; i < total && m < n; i++) {
        double u = (double)(splitmix64(&st) >> 11) * 0x1.0p-53;
        if ((double)(total - i) * u < (double)(n - m))
            sel[m++] = i;
    }
}

static qdb_status apply_opts(qdb_dataset *d, const qdb_dataset_opts *o, qdb_err *e)
{
    const char *p = d->img.path;
    if (!isfinite(o->scale))
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: scale %g is not finite", p, o->scale);
    if (o->n_mean < 0 || o->n_mean > QDB_DATASET_MAX_CHANNELS || o->n_std < 0 ||
        o->n_std > QDB_DATASET_MAX_CHANNELS ||
        (o->n_mean > 1 && o->n_mean != d->c) || (o->n_std > 1 && o->n_std != d->c))
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "%s: %d mean and %d std values for images with %lld channel%s "
                           "(give 1 or %lld)",
                           p, o->n_mean, o->n_std, (long long)d->c, d->c == 1 ? "" : "s",
                           (long long)d->c);
    d->per_channel = o->n_mean > 1 || o->n_std > 1;
    int np = d->per_channel ? (int)d->c : 1;
    d->scale = o->scale;
    for (int k = 0; k < np; k++) {
        d->mean[k] = o->n_mean == 0 ? 0.0f : o->mean[o->n_mean == 1 ? 0 : k];
        d->std[k] = o->n_std == 0 ? 1.0f : o->std[o->n_std == 1 ? 0 : k];
        if (!isfinite(d->mean[k]) || !isfinite(d->std[k]) || d->std[k] == 0.0f)
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "%s: channel %d: mean %g / std %g (std must be finite and "
                               "non-zero)",
                               p, k, d->mean[k], d->std[k]);
        for (int v = 0; v < 256; v++)
            d->lut[k][v] = ((float)v * d->scale - d->mean[k]) / d->std[k];
    }
    int64_t total = d->img.count;
    if (o->n < 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: negative sample count %lld", p,
                           (long long)o->n);
    if (o->n > total)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: %lld samples asked for, the file holds %lld",
                           p, (long long)o->n, (long long)total);
    d->count = o->n ? o->n : total;
    if (o->shuffle && d->count < total) {
        d->sel = malloc((size_t)d->count * sizeof *d->sel);
        if (!d->sel)
            return qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", p);
        select_subset(d->sel, d->count, total, o->seed);
    }
    return QDB_OK;
}

qdb_dataset *qdb_dataset_open(const char *spec, const qdb_dataset_opts *o, qdb_err *e)
{
    qdb_dataset_opts defaults;
    if (!o) {
        qdb_dataset_opts_init(&defaults);
        o = &defaults;
    }
    char *images = NULL, *labels = NULL;
    qdb_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        qdb_err_set(e, QDB_ERR_NOMEM, "dataset '%s': out of memory", spec);
        return NULL;
    }
    qdb_status st;
    int is_idx = !strncmp(spec, "idx:", 4), is_npy = !strncmp(spec, "npy:", 4);
    if (!strncmp(spec, "dir:", 4)) {
        if (spec[4] == '\0') {
            qdb_err_set(e, QDB_ERR_INVALID, "dataset '%s': empty folder name", spec);
            goto fail;
        }
        if (open_dir(d, spec, spec + 4, o, e) != QDB_OK)
            goto fail;
        d->has_labels = 1;
        images = strdup(spec + 4);
        if (!images) {
            qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", spec + 4);
            goto fail;
        }
        goto opened;
    }
    if (!is_idx && !is_npy) {
        qdb_err_set(e, QDB_ERR_INVALID,
                    "dataset '%s': expected idx:IMAGES[,LABELS], npy:X[,Y] or dir:PATH", spec);
        goto fail;
    }
    if (split_spec(spec, spec + 4, &images, &labels, e) != QDB_OK)
        goto fail;
    st = is_idx ? open_idx(d, images, labels, e) : open_npy(d, images, labels, e);
    if (st != QDB_OK)
        goto fail;
    d->has_labels = labels != NULL;
    if (labels && d->lab.count != d->img.count) {
        qdb_err_set(e, QDB_ERR_SHAPE, "%s: %lld labels for the %lld images of %s", labels,
                    (long long)d->lab.count, (long long)d->img.count, images);
        goto fail;
    }
    if ((size_t)d->c * (size_t)d->h * (size_t)d->w * (d->img.kind == EL_F32 ? 4 : 1) !=
        d->img.sample_bytes) {
        qdb_err_set(e, QDB_ERR_FORMAT, "%s: inconsistent sample size", images);
        goto fail;
    }
opened:
    if (apply_opts(d, o, e) != QDB_OK)
        goto fail;
    d->raw = malloc(d->img.sample_bytes);
    if (!d->raw) {
        qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", images);
        goto fail;
    }
    free(images);
    free(labels);
    return d;
fail:
    free(images);
    free(labels);
    qdb_dataset_free(d);
    return NULL;
}

int64_t qdb_dataset_count(const qdb_dataset *d)
{
    return d->count;
}

int64_t qdb_dataset_file_count(const qdb_dataset *d)
{
    return d->img.count;
}

void qdb_dataset_sample_shape(const qdb_dataset *d, int64_t chw[3])
{
    chw[0] = d->c;
    chw[1] = d->h;
    chw[2] = d->w;
}

int qdb_dataset_has_labels(const qdb_dataset *d)
{
    return d->has_labels;
}

const char *qdb_dataset_images_path(const qdb_dataset *d)
{
    return d->img.path;
}

int64_t qdb_dataset_class_count(const qdb_dataset *d)
{
    return d->n_classes;
}

const char *qdb_dataset_class_name(const qdb_dataset *d, int64_t k)
{
    return k >= 0 && k < d->n_classes ? d->classes[k] : NULL;
}

/* Preprocess one raw sample into out (C x H x W floats). */
static void preprocess(const qdb_dataset *d, float *out)
{
    size_t hw = (size_t)d->h * (size_t)d->w;
    for (int64_t c = 0; c < d->c; c++) {
        int k = d->per_channel ? (int)c : 0;
        float *o = out + (size_t)c * hw;
        if (d->img.kind == EL_U8) {
            const unsigned char *r = d->raw + (size_t)c * hw;
            const float *lut = d->lut[k];
            for (size_t i = 0; i < hw; i++)
                o[i] = lut[r[i]];
        } else {
            memcpy(o, d->raw + (size_t)c * hw * 4, hw * 4);
            const float s = d->scale, m = d->mean[k], sd = d->std[k];
            for (size_t i = 0; i < hw; i++)
                o[i] = (o[i] * s - m) / sd;
        }
    }
}

qdb_status qdb_dataset_next_batch(qdb_dataset *d, int max, qdb_tensor **images,
                                  qdb_tensor **labels, qdb_err *e)
{
    qdb_tensor *im = NULL, *lb = NULL;
    qdb_status st;
    *images = NULL;
    if (labels)
        *labels = NULL;
    if (max <= 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: batch size %d must be positive",
                           d->img.path, max);
    int64_t n = d->count - d->cursor < max ? d->count - d->cursor : max;
    if (n == 0)
        return QDB_OK;
    int64_t dims[4] = {n, d->c, d->h, d->w};
    qdb_err sub;
    im = qdb_tensor_new_dims(QDB_F32, 4, dims, &sub);
    if (!im) {
        st = qdb_err_set(e, sub.code, "%s: batch: %s", d->img.path, sub.msg);
        goto fail;
    }
    if (labels && d->has_labels) {
        lb = qdb_tensor_new_dims(QDB_I64, 1, &n, &sub);
        if (!lb) {
            st = qdb_err_set(e, sub.code, "%s: batch: %s", d->lab.path, sub.msg);
            goto fail;
        }
    }
    size_t chw = (size_t)d->c * (size_t)d->h * (size_t)d->w;
    for (int64_t j = 0; j < n; j++) {
        int64_t idx = d->sel ? d->sel[d->cursor + j] : d->cursor + j;
        st = d->is_dir ? load_image(d, idx, e) : read_sample(&d->img, idx, d->raw, e);
        if (st != QDB_OK)
            goto fail;
        preprocess(d, im->data.f + (size_t)j * chw);
        if (lb && d->is_dir) {
            lb->data.i[j] = d->file_label[idx];
        } else if (lb) {
            unsigned char b[8];
            if ((st = read_sample(&d->lab, idx, b, e)) != QDB_OK)
                goto fail;
            lb->data.i[j] = label_value(&d->lab, b);
            if (lb->data.i[j] < 0) {
                st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: label %lld of sample %lld is negative",
                                 d->lab.path, (long long)lb->data.i[j], (long long)idx);
                goto fail;
            }
        }
    }
    d->cursor += n;
    *images = im;
    if (labels)
        *labels = lb;
    return QDB_OK;
fail:
    qdb_tensor_free(im);
    qdb_tensor_free(lb);
    return st;
}

qdb_status qdb_dataset_rewind(qdb_dataset *d, qdb_err *e)
{
    (void)e;
    d->cursor = 0;
    return QDB_OK;
}

void qdb_dataset_free(qdb_dataset *d)
{
    if (!d)
        return;
    free_names(d->files, (size_t)d->img.count); /* before source_close resets count */
    source_close(&d->img);
    source_close(&d->lab);
    free(d->sel);
    free(d->raw);
    free_names(d->classes, (size_t)d->n_classes);
    free(d->file_label);
    free(d->xi);
    free(d->xf);
    free(d);
}
