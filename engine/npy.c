/* npy.c - NumPy .npy reader and writer with a strict header check (see npy.h).
 * The header is a Python dict literal; only the exact keys numpy writes
 * ('descr', 'fortran_order', 'shape') are accepted, each once. */
#include "npy.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"

#define NPY_HEADER_MAX (1u << 20)

/* Tensors are written straight from memory as little-endian data. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "qdb assumes a little-endian host");

typedef struct npy_header {
    char kind;   /* 'f', 'i', 'u', 'b' */
    int size;    /* bytes per element */
    int fortran;
    qdb_shape shape;
} npy_header;

static void skip_ws(const char **p)
{
    while (**p && isspace((unsigned char)**p))
        (*p)++;
}

static int expect(const char **p, char c)
{
    skip_ws(p);
    if (**p != c)
        return 0;
    (*p)++;
    return 1;
}

/* A quoted Python string ('...' or "...") into buf. */
static int parse_str(const char **p, char *buf, size_t n)
{
    skip_ws(p);
    char q = **p;
    if (q != '\'' && q != '"')
        return 0;
    (*p)++;
    size_t k = 0;
    while (**p && **p != q) {
        if (k + 1 >= n)
            return 0;
        buf[k++] = *(*p)++;
    }
    if (**p != q)
        return 0;
    (*p)++;
    buf[k] = '\0';
    return 1;
}

static qdb_status parse_header(const char *h, npy_header *out, const char *path, qdb_err *e)
{
    const char *p = h;
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    memset(out, 0, sizeof *out);
    if (!expect(&p, '{'))
        goto bad;
    for (;;) {
        skip_ws(&p);
        if (*p == '}')
            break;
        char key[32], val[32];
        if (!parse_str(&p, key, sizeof key) || !expect(&p, ':'))
            goto bad;
        if (!strcmp(key, "descr") && !have_descr) {
            if (!parse_str(&p, val, sizeof val))
                goto bad;
            have_descr = 1;
            if (strlen(val) < 3 || !strchr("<|=>", val[0]) || !strchr("fiub", val[1]))
                return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: unsupported element type '%s' "
                                   "(expected float or integer)", path, val);
            char *end;
            long sz = strtol(val + 2, &end, 10);
            if (*end || !(sz == 1 || sz == 2 || sz == 4 || sz == 8) || (val[1] == 'f' && sz == 1) ||
                (val[1] == 'b' && sz != 1))
                return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: unsupported element type '%s'",
                                   path, val);
            if (val[0] == '>' && sz > 1)
                return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                                   "%s: big-endian data ('%s') is not supported", path, val);
            out->kind = val[1];
            out->size = (int)sz;
        } else if (!strcmp(key, "fortran_order") && !have_fortran) {
            skip_ws(&p);
            if (!strncmp(p, "False", 5)) {
                out->fortran = 0;
                p += 5;
            } else if (!strncmp(p, "True", 4)) {
                out->fortran = 1;
                p += 4;
            } else {
                goto bad;
            }
            have_fortran = 1;
        } else if (!strcmp(key, "shape") && !have_shape) {
            if (!expect(&p, '('))
                goto bad;
            have_shape = 1;
            for (;;) {
                skip_ws(&p);
                if (*p == ')') {
                    p++;
                    break;
                }
                if (!isdigit((unsigned char)*p))
                    goto bad;
                if (out->shape.ndim == QDB_MAX_DIMS)
                    return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: more than %d dimensions",
                                       path, QDB_MAX_DIMS);
                errno = 0;
                char *end;
                long long d = strtoll(p, &end, 10);
                if (errno || d < 0)
                    goto bad;
                out->shape.d[out->shape.ndim++] = d;
                p = end;
                skip_ws(&p);
                if (*p == ',')
                    p++;
                else if (*p != ')')
                    goto bad;
            }
        } else {
            return qdb_err_set(e, QDB_ERR_FORMAT, "%s: unexpected or repeated key '%s' in the "
                               ".npy header", path, key);
        }
        skip_ws(&p);
        if (*p == ',')
            p++;
        else if (*p != '}')
            goto bad;
    }
    if (!have_descr || !have_fortran || !have_shape)
        return qdb_err_set(e, QDB_ERR_FORMAT, "%s: .npy header lacks '%s'", path,
                           !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    if (out->fortran)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "%s: Fortran-ordered arrays are not supported (save with C order)", path);
    return QDB_OK;
bad:
    return qdb_err_set(e, QDB_ERR_FORMAT, "%s: malformed .npy header near \"%.20s\"", path, p);
}

static void convert(const unsigned char *src, size_t n, const npy_header *h, qdb_tensor *t,
                    size_t at)
{
    for (size_t k = 0; k < n; k++) {
        const unsigned char *b = src + k * (size_t)h->size;
        uint64_t u = 0;
        for (int j = 0; j < h->size; j++)
            u |= (uint64_t)b[j] << (8 * j);
        double fv = 0;
        int64_t iv = 0;
        int is_float = h->kind == 'f';
        if (h->kind == 'f') {
            if (h->size == 4) {
                uint32_t w = (uint32_t)u;
                float f;
                memcpy(&f, &w, 4);
                fv = f;
            } else if (h->size == 8) {
                memcpy(&fv, &u, 8);
            } else { /* float16 */
                uint32_t sign = (uint32_t)(u & 0x8000) << 16, ex = (u >> 10) & 0x1f, man = u & 0x3ff;
                float f;
                if (ex == 0)
                    f = (float)man / 1024.0f / 16384.0f;
                else if (ex == 31)
                    f = man ? NAN : INFINITY;
                else {
                    uint32_t bits = ((ex - 15 + 127) << 23) | (man << 13);
                    memcpy(&f, &bits, 4);
                }
                fv = sign ? -f : f;
            }
        } else if (h->kind == 'i') {
            int shift = 64 - 8 * h->size;
            iv = (int64_t)(u << shift) >> shift;
        } else {
            iv = (int64_t)u;
        }
        if (t->dtype == QDB_F32)
            t->data.f[at + k] = is_float ? (float)fv : (float)iv;
        else
            t->data.i[at + k] = is_float ? (int64_t)fv : iv;
    }
}

qdb_status qdb_npy_read_header(FILE *f, const char *path, qdb_npy_info *info, qdb_err *e)
{
    char *hdr = NULL;
    qdb_status st;
    unsigned char pre[12];
    memset(info, 0, sizeof *info);
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto fail;
    }
    int major = pre[6];
    size_t hlen;
    if (major == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: truncated .npy header", path);
            goto fail;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        st = qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: .npy format version %d is not supported",
                         path, major);
        goto fail;
    }
    if (hlen > NPY_HEADER_MAX) {
        st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: .npy header of %zu bytes is implausible", path,
                         hlen);
        goto fail;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: truncated .npy header", path);
        goto fail;
    }
    hdr[hlen] = '\0';
    if (memchr(hdr, '\0', hlen)) {
        st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: NUL byte in the .npy header", path);
        goto fail;
    }
    npy_header h;
    if ((st = parse_header(hdr, &h, path, e)) != QDB_OK)
        goto fail;
    qdb_err sub;
    size_t numel;
    if (qdb_shape_numel(&h.shape, &numel, &sub) != QDB_OK) {
        st = qdb_err_set(e, sub.code, "%s: %s", path, sub.msg);
        goto fail;
    }
    /* A regular file must hold exactly the data its header promises: check
     * before anyone allocates, so a short file cannot claim gigabytes.
     * (Pipes are checked while reading.) */
    struct stat sb;
    long pos = ftell(f);
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && pos >= 0) {
        size_t data = sb.st_size > pos ? (size_t)(sb.st_size - pos) : 0;
        size_t need = numel * (size_t)h.size;
        if (data < need) {
            st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: truncated: %zu of %zu elements present",
                             path, data / (size_t)h.size, numel);
            goto fail;
        }
        if (data > need) {
            st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: trailing bytes after %zu elements", path,
                             numel);
            goto fail;
        }
    }
    info->kind = h.kind;
    info->elem_size = h.size;
    info->shape = h.shape;
    info->numel = numel;
    info->data_offset = pos;
    free(hdr);
    return QDB_OK;
fail:
    free(hdr);
    return st;
}

qdb_tensor *qdb_npy_read(const char *path, qdb_dtype want, qdb_err *e)
{
    qdb_tensor *t = NULL;
    unsigned char *chunk = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        qdb_err_set(e, QDB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    qdb_npy_info info;
    if (qdb_npy_read_header(f, path, &info, e) != QDB_OK)
        goto fail;
    npy_header h = {.kind = info.kind, .size = info.elem_size, .shape = info.shape};
    if (h.kind == 'f')
        want = QDB_F32;
    qdb_err sub;
    t = qdb_tensor_new(want, &h.shape, &sub);
    if (!t) {
        qdb_err_set(e, sub.code, "%s: %s", path, sub.msg);
        goto fail;
    }
    const size_t per = 1 << 14;
    chunk = malloc(per * (size_t)h.size);
    if (!chunk) {
        qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (size_t at = 0; at < t->numel;) {
        size_t n = t->numel - at < per ? t->numel - at : per;
        size_t got = fread(chunk, (size_t)h.size, n, f);
        if (got != n) {
            qdb_err_set(e, QDB_ERR_FORMAT, "%s: truncated: %zu of %zu elements present", path,
                        at + got, t->numel);
            goto fail;
        }
        convert(chunk, n, &h, t, at);
        at += n;
    }
    if (fgetc(f) != EOF) {
        qdb_err_set(e, QDB_ERR_FORMAT, "%s: trailing bytes after %zu elements", path, t->numel);
        goto fail;
    }
    free(chunk);
    fclose(f);
    return t;
fail:
    free(chunk);
    qdb_tensor_free(t);
    fclose(f);
    return NULL;
}

qdb_status qdb_npy_write(const char *path, const qdb_tensor *t, qdb_err *e)
{
    char dict[512];
    size_t off = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                                  t->dtype == QDB_F32 ? "<f4" : "<i8");
    for (int i = 0; i < t->shape.ndim; i++)
        off += (size_t)snprintf(dict + off, sizeof dict - off, "%lld%s", (long long)t->shape.d[i],
                                t->shape.ndim == 1 ? "," : i + 1 < t->shape.ndim ? ", " : "");
    off += (size_t)snprintf(dict + off, sizeof dict - off, "), }");
    /* Pad with spaces so that magic + length + header is a multiple of 64. */
    size_t total = 10 + off + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = off + pad + 1;
    qdb_atomic_file af;
    qdb_status st = qdb_atomic_open(&af, path, e);
    if (st != QDB_OK)
        return st;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    fwrite(pre, 1, sizeof pre, af.f);
    fwrite(dict, 1, off, af.f);
    for (size_t k = 0; k < pad; k++)
        fputc(' ', af.f);
    fputc('\n', af.f);
    fwrite(t->data.p, qdb_dtype_size(t->dtype), t->numel, af.f);
    return qdb_atomic_commit(&af, e);
}
