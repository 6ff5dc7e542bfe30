/* calib_stats.c - calibration statistics to and from a compact blob (see
 * calib_stats.h). */
#include "calib_stats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "histogram.h"
#include "quant_internal.h"

#define MAGIC "QDBSTAT1"
#define MAX_RAW ((uint64_t)1 << 30)
#define MAX_BINS_READ (1 << 20)
#define MAX_CHANNELS (1 << 20)

/* ---- writing ---- */

typedef struct {
    unsigned char *p;
    size_t len, cap;
    int oom;
} wbuf;

static void wbytes(wbuf *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *t = realloc(b->p, cap);
        if (!t) {
            b->oom = 1;
            return;
        }
        b->p = t;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void wu64(wbuf *b, uint64_t v)
{
    unsigned char c[8];
    for (int i = 0; i < 8; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    wbytes(b, c, 8);
}

static void wu32(wbuf *b, uint32_t v)
{
    unsigned char c[4];
    for (int i = 0; i < 4; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    wbytes(b, c, 4);
}

static void wf64(wbuf *b, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    wu64(b, v);
}

qdb_status qdb_calib_stats_encode(const qdb_qmodel *q, void **buf, size_t *len, qdb_err *e)
{
    *buf = NULL;
    *len = 0;
    if (!q->calibrated)
        return qdb_err_set(e, QDB_ERR_INVALID, "the model is not calibrated");
    wbuf raw = {0};
    wu32(&raw, (uint32_t)q->n_base_layers);
    wu64(&raw, (uint64_t)q->calib_samples);
    for (int i = 0; i < q->n_base_layers; i++) {
        /* the model's own layers in their order (a quantized model has
         * correction layers between them) */
        const qdb_qlayer *l = qdb_qmodel_own_layer(q, i);
        uint32_t n = (uint32_t)strlen(l->name);
        wu32(&raw, n);
        wbytes(&raw, l->name, n);
        const qdb_histogram *h = l->hist;
        unsigned char flag = h ? (h->wcount ? 2 : 1) : 0;
        wbytes(&raw, &flag, 1);
        if (h) {
            wu32(&raw, (uint32_t)h->n_bins);
            wf64(&raw, h->lo);
            wf64(&raw, h->hi);
            wf64(&raw, h->min);
            wf64(&raw, h->max);
            wf64(&raw, h->total);
            wf64(&raw, h->sum);
            wf64(&raw, h->sumsq);
            wu64(&raw, (uint64_t)h->nonfinite);
            for (int k = 0; k < h->n_bins; k++)
                wf64(&raw, h->count[k]);
            for (int k = 0; h->wcount && k < h->n_bins; k++)
                wf64(&raw, h->wcount[k]);
        }
        int ch = l->in_mean && l->in_sqmean ? l->in_channels : 0;
        wu32(&raw, (uint32_t)ch);
        for (int k = 0; k < ch; k++)
            wf64(&raw, l->in_mean[k]);
        for (int k = 0; k < ch; k++)
            wf64(&raw, l->in_sqmean[k]);
    }
    if (raw.oom) {
        free(raw.p);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    uLongf clen = compressBound((uLong)raw.len);
    unsigned char *out = malloc(8 + 8 + 4 + clen);
    if (!out) {
        free(raw.p);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    memcpy(out, MAGIC, 8);
    for (int i = 0; i < 8; i++)
        out[8 + i] = (unsigned char)((uint64_t)raw.len >> (8 * i));
    uint32_t crc = (uint32_t)crc32(0L, raw.p, (uInt)raw.len);
    for (int i = 0; i < 4; i++)
        out[16 + i] = (unsigned char)(crc >> (8 * i));
    int zr = compress2(out + 20, &clen, raw.p, (uLong)raw.len, 6);
    free(raw.p);
    if (zr != Z_OK) {
        free(out);
        return qdb_err_set(e, QDB_ERR_NOMEM, "compressing the statistics failed (zlib %d)", zr);
    }
    *buf = out;
    *len = 20 + clen;
    return QDB_OK;
}

/* ---- reading ---- */

typedef struct {
    const unsigned char *p;
    size_t len, at;
    int bad;
} rbuf;

static const unsigned char *rbytes(rbuf *b, size_t n)
{
    if (b->bad || n > b->len - b->at) {
        b->bad = 1;
        return NULL;
    }
    const unsigned char *p = b->p + b->at;
    b->at += n;
    return p;
}

static uint64_t ru64(rbuf *b)
{
    const unsigned char *c = rbytes(b, 8);
    uint64_t v = 0;
    for (int i = 0; c && i < 8; i++)
        v |= (uint64_t)c[i] << (8 * i);
    return v;
}

static uint32_t ru32(rbuf *b)
{
    const unsigned char *c = rbytes(b, 4);
    uint32_t v = 0;
    for (int i = 0; c && i < 4; i++)
        v |= (uint32_t)c[i] << (8 * i);
    return v;
}

static double rf64(rbuf *b)
{
    uint64_t v = ru64(b);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

typedef struct {
    qdb_histogram *hist;
    int channels;
    double *mean, *sqmean;
} layer_stats;

static void stats_free(layer_stats *ls, int n)
{
    for (int i = 0; ls && i < n; i++) {
        qdb_histogram_free(ls[i].hist);
        free(ls[i].mean);
        free(ls[i].sqmean);
    }
    free(ls);
}

qdb_status qdb_calib_stats_decode(qdb_qmodel *q, const void *buf, size_t len, const char *what,
                                  qdb_err *e)
{
    const unsigned char *in = buf;
    if (len < 20 || memcmp(in, MAGIC, 8))
        return qdb_err_set(e, QDB_ERR_FORMAT, "%s: not qdb calibration statistics", what);
    uint64_t raw_len = 0;
    uint32_t crc = 0;
    for (int i = 0; i < 8; i++)
        raw_len |= (uint64_t)in[8 + i] << (8 * i);
    for (int i = 0; i < 4; i++)
        crc |= (uint32_t)in[16 + i] << (8 * i);
    /* zlib expands at most about 1032:1: a larger claim is a damaged header */
    if (raw_len == 0 || raw_len > MAX_RAW || raw_len > (uint64_t)(len - 20) * 1032)
        return qdb_err_set(e, QDB_ERR_FORMAT, "%s: statistics of %llu bytes (at most %llu)", what,
                           (unsigned long long)raw_len, (unsigned long long)MAX_RAW);
    unsigned char *raw = malloc((size_t)raw_len);
    if (!raw)
        return qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory for %llu bytes of statistics",
                           what, (unsigned long long)raw_len);
    uLongf got = (uLongf)raw_len;
    int zr = uncompress(raw, &got, in + 20, (uLong)(len - 20));
    if (zr != Z_OK || got != raw_len || (uint32_t)crc32(0L, raw, (uInt)got) != crc) {
        free(raw);
        return qdb_err_set(e, QDB_ERR_FORMAT, "%s: the statistics are damaged (%s)", what,
                           zr != Z_OK ? "cannot be decompressed" : "checksum mismatch");
    }
    rbuf b = {raw, (size_t)raw_len, 0, 0};
    qdb_status st = QDB_OK;
    uint32_t n = ru32(&b);
    uint64_t samples = ru64(&b);
    layer_stats *ls = NULL;
    if (b.bad || (int)n != q->n_base_layers) {
        st = qdb_err_set(e, QDB_ERR_INVALID, "%s: statistics of %u layers, the model has %d", what,
                         n, q->n_base_layers);
        goto done;
    }
    if (!(ls = calloc((size_t)(n ? n : 1), sizeof *ls))) {
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < n; i++) {
        const qdb_qlayer *l = qdb_qmodel_own_layer(q, (int)i);
        uint32_t nl = ru32(&b);
        const unsigned char *name = nl < 65536 ? rbytes(&b, nl) : NULL;
        if (!name || nl != strlen(l->name) || memcmp(name, l->name, nl)) {
            st = qdb_err_set(e, QDB_ERR_INVALID,
                             "%s: layer %u of the statistics is not '%s' of the model", what, i,
                             l->name);
            goto done;
        }
        const unsigned char *flag = rbytes(&b, 1);
        if (!flag || *flag > 2)
            goto corrupt;
        if (*flag) {
            uint32_t nb = ru32(&b);
            if (b.bad || nb == 0 || nb > MAX_BINS_READ || (size_t)nb * 8 > b.len - b.at)
                goto corrupt;
            qdb_histogram *h = qdb_histogram_new((int)nb, *flag == 2, e);
            if (!h) {
                st = e && e->code ? e->code : QDB_ERR_NOMEM;
                goto done;
            }
            ls[i].hist = h;
            h->lo = rf64(&b);
            h->hi = rf64(&b);
            h->min = rf64(&b);
            h->max = rf64(&b);
            h->total = rf64(&b);
            h->sum = rf64(&b);
            h->sumsq = rf64(&b);
            h->nonfinite = (int64_t)ru64(&b);
            int ok = isfinite(h->lo) && isfinite(h->hi) && h->lo <= h->hi && isfinite(h->total) &&
                     h->total >= 0 && isfinite(h->sum) && isfinite(h->sumsq) && h->nonfinite >= 0 &&
                     (h->total == 0 || (isfinite(h->min) && isfinite(h->max) && h->min <= h->max));
            for (uint32_t k = 0; k < nb; k++) {
                h->count[k] = rf64(&b);
                ok &= isfinite(h->count[k]) && h->count[k] >= 0;
            }
            for (uint32_t k = 0; h->wcount && k < nb; k++) {
                h->wcount[k] = rf64(&b);
                ok &= isfinite(h->wcount[k]);
            }
            if (!ok)
                goto corrupt;
        }
        uint32_t ch = ru32(&b);
        if (b.bad || ch > MAX_CHANNELS || (size_t)ch * 16 > b.len - b.at)
            goto corrupt;
        if (ch) {
            ls[i].channels = (int)ch;
            ls[i].mean = malloc(ch * sizeof *ls[i].mean);
            ls[i].sqmean = malloc(ch * sizeof *ls[i].sqmean);
            if (!ls[i].mean || !ls[i].sqmean) {
                st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
                goto done;
            }
            int ok = 1;
            for (uint32_t k = 0; k < ch; k++)
                ok &= isfinite(ls[i].mean[k] = rf64(&b));
            for (uint32_t k = 0; k < ch; k++)
                ok &= isfinite(ls[i].sqmean[k] = rf64(&b)) && ls[i].sqmean[k] >= 0;
            if (!ok)
                goto corrupt;
        }
    }
    if (b.bad || b.at != b.len)
        goto corrupt;
    /* everything checked: install, as a calibration would (after the reset
     * the own layers are q->layers[0 .. n_base_layers) again) */
    qdb_qmodel_reset(q);
    if ((st = qdb_qmodel_map_values(q, e)) != QDB_OK)
        goto done;
    for (uint32_t i = 0; i < n; i++) {
        qdb_qlayer *l = &q->layers[i];
        qdb_qlayer_refresh_weights(q->g0, l);
        qdb_histogram_free(l->hist);
        free(l->in_mean);
        free(l->in_sqmean);
        l->hist = ls[i].hist;
        l->in_channels = ls[i].channels;
        l->in_mean = ls[i].mean;
        l->in_sqmean = ls[i].sqmean;
        ls[i].hist = NULL;
        ls[i].mean = ls[i].sqmean = NULL;
        l->memo_act = l->memo_w = 0;
    }
    q->calib_samples = (int64_t)samples;
    q->calibrated = 1;
    q->quantized = 0;
    goto done;
corrupt:
    st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: the statistics are inconsistent (byte %zu of %zu)",
                     what, b.at, b.len);
done:
    stats_free(ls, (int)n);
    free(raw);
    return st;
}
