/* dataset.c - the dataset layer (see dataset.h): opens and validates IDX and
 * .npy image/label files and streams them as preprocessed batches, one
 * sample read at a time. IDX files go through zlib's gz* functions (plain
 * and gzipped alike); .npy files through stdio with npy.c's header check. */
#include "dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

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
        qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                    "dataset '%s': image folders (dir:) are not yet supported", spec);
        goto fail;
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
        if ((st = read_sample(&d->img, idx, d->raw, e)) != QDB_OK)
            goto fail;
        preprocess(d, im->data.f + (size_t)j * chw);
        if (lb) {
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
    source_close(&d->img);
    source_close(&d->lab);
    free(d->sel);
    free(d->raw);
    free(d);
}
