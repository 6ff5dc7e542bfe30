/* kernels.c - float compute kernels: sgemm over OpenBLAS, im2col / col2im,
 * depthwise convolution, pooling and per-channel affine loops (see
 * kernels.h). Everything here is allocation-free and cannot fail. */
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ threads */

static int default_threads = -1;

void qdb_kernels_set_threads(int n)
{
    if (default_threads < 0)
        default_threads = openblas_get_num_threads();
    openblas_set_num_threads(n > 0 ? n : default_threads);
}

int qdb_kernels_threads(void)
{
    return openblas_get_num_threads();
}

extern char *openblas_get_corename(void);

const char *qdb_kernels_blas_coretype_hint(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (getenv("OPENBLAS_CORETYPE"))
        return NULL;
    /* The generic x86-64 targets OpenBLAS falls back to. */
    static const char *const generic[] = {"Prescott", "Core2", "Penryn", "Dunnington",
                                          "Nehalem", "Katmai", "Coppermine", "Northwood"};
    const char *core = openblas_get_corename();
    int fallback = 0;
    for (size_t i = 0; core && i < sizeof generic / sizeof generic[0]; i++)
        fallback |= strcmp(core, generic[i]) == 0;
    if (!fallback)
        return NULL;
    __builtin_cpu_init();
    /* __builtin_cpu_supports reports AVX/AVX-512 only when the OS saves
     * their registers (XCR0), so these kernels are safe to run. */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    if (__builtin_cpu_supports("avx"))
        return "Sandybridge";
#endif
    return NULL;
}

void qdb_kernels_fix_blas(char **argv)
{
    const char *core = qdb_kernels_blas_coretype_hint();
    if (!core || getenv("QDB_NO_BLAS_FIX"))
        return;
    if (setenv("OPENBLAS_CORETYPE", core, 1) != 0 || setenv("QDB_NO_BLAS_FIX", "1", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
}

/* -------------------------------------------------------------------- sgemm */

void qdb_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
               float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || alpha == 0.0f) {
        for (int64_t i = 0; i < m; i++) {
            float *row = c + i * ldc;
            if (beta == 0.0f)
                memset(row, 0, (size_t)n * sizeof *row);
            else if (beta != 1.0f)
                for (int64_t j = 0; j < n; j++)
                    row[j] *= beta;
        }
        return;
    }
    if (m == 1) {
        /* A row vector times op(B): a matrix-vector product. */
        int inc_a = trans_a ? (int)lda : 1;
        if (trans_b)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)k, alpha, b, (int)ldb, a,
                        inc_a, beta, c, 1);
        else
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)k, (int)n, alpha, b, (int)ldb, a, inc_a,
                        beta, c, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda,
                b, (int)ldb, beta, c, (int)ldc);
}

/* ------------------------------------------------------------------- window */

void qdb_window_init(qdb_window *w)
{
    for (int i = 0; i < QDB_WIN_DIMS; i++) {
        w->in[i] = w->out[i] = w->k[i] = w->stride[i] = w->dil[i] = 1;
        w->pad[i] = w->pad_end[i] = 0;
    }
}

int64_t qdb_window_in_size(const qdb_window *w)
{
    return w->in[0] * w->in[1] * w->in[2];
}

int64_t qdb_window_out_size(const qdb_window *w)
{
    return w->out[0] * w->out[1] * w->out[2];
}

int64_t qdb_window_k_size(const qdb_window *w)
{
    return w->k[0] * w->k[1] * w->k[2];
}

/* Integer ceil(a / b) for b > 0. */
static inline int64_t ceil_div(int64_t a, int64_t b)
{
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

/* The range [*lo, *hi) of t in [0, count) with 0 <= t*step + base < limit. */
static inline void valid_range(int64_t limit, int64_t base, int64_t step, int64_t count,
                               int64_t *lo, int64_t *hi)
{
    int64_t l = ceil_div(-base, step);
    int64_t h = ceil_div(limit - base, step);
    if (l < 0)
        l = 0;
    if (h > count)
        h = count;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* ---------------------------------------------------------- im2col / col2im */

void qdb_im2col(const float *x, int64_t channels, const qdb_window *w, float *col)
{
    const int64_t ID = w->in[0], IH = w->in[1], IW = w->in[2];
    const int64_t OD = w->out[0], OH = w->out[1], OW = w->out[2];
    const int64_t isz = ID * IH * IW, ohw = OH * OW, osz = OD * ohw;

    for (int64_t c = 0; c < channels; c++) {
        const float *xc = x + c * isz;
        for (int64_t kd = 0; kd < w->k[0]; kd++) {
            int64_t d0, d1;
            int64_t bd = kd * w->dil[0] - w->pad[0];
            valid_range(ID, bd, w->stride[0], OD, &d0, &d1);
            for (int64_t kh = 0; kh < w->k[1]; kh++) {
                int64_t h0, h1;
                int64_t bh = kh * w->dil[1] - w->pad[1];
                valid_range(IH, bh, w->stride[1], OH, &h0, &h1);
                for (int64_t kw = 0; kw < w->k[2]; kw++) {
                    int64_t w0, w1;
                    int64_t bw = kw * w->dil[2] - w->pad[2];
                    valid_range(IW, bw, w->stride[2], OW, &w0, &w1);
                    float *dst = col;
                    col += osz;
                    if (d0 > 0)
                        memset(dst, 0, (size_t)(d0 * ohw) * sizeof *dst);
                    if (d1 < OD)
                        memset(dst + d1 * ohw, 0, (size_t)((OD - d1) * ohw) * sizeof *dst);
                    for (int64_t od = d0; od < d1; od++) {
                        float *plane = dst + od * ohw;
                        const float *xp = xc + (od * w->stride[0] + bd) * IH * IW;
                        if (h0 > 0)
                            memset(plane, 0, (size_t)(h0 * OW) * sizeof *plane);
                        if (h1 < OH)
                            memset(plane + h1 * OW, 0, (size_t)((OH - h1) * OW) * sizeof *plane);
                        for (int64_t oh = h0; oh < h1; oh++) {
                            float *o = plane + oh * OW;
                            const float *xr = xp + (oh * w->stride[1] + bh) * IW;
                            if (w0 > 0)
                                memset(o, 0, (size_t)w0 * sizeof *o);
                            if (w->stride[2] == 1) {
                                if (w1 > w0)
                                    memcpy(o + w0, xr + w0 + bw, (size_t)(w1 - w0) * sizeof *o);
                            } else {
                                const int64_t s = w->stride[2];
                                for (int64_t ow = w0; ow < w1; ow++)
                                    o[ow] = xr[ow * s + bw];
                            }
                            if (w1 < OW)
                                memset(o + w1, 0, (size_t)(OW - w1) * sizeof *o);
                        }
                    }
                }
            }
        }
    }
}

void qdb_col2im(const float *col, int64_t channels, const qdb_window *w, float *x)
{
    const int64_t ID = w->in[0], IH = w->in[1], IW = w->in[2];
    const int64_t OD = w->out[0], OH = w->out[1], OW = w->out[2];
    const int64_t isz = ID * IH * IW, ohw = OH * OW, osz = OD * ohw;

    for (int64_t c = 0; c < channels; c++) {
        float *xc = x + c * isz;
        for (int64_t kd = 0; kd < w->k[0]; kd++) {
            int64_t d0, d1;
            int64_t bd = kd * w->dil[0] - w->pad[0];
            valid_range(ID, bd, w->stride[0], OD, &d0, &d1);
            for (int64_t kh = 0; kh < w->k[1]; kh++) {
                int64_t h0, h1;
                int64_t bh = kh * w->dil[1] - w->pad[1];
                valid_range(IH, bh, w->stride[1], OH, &h0, &h1);
                for (int64_t kw = 0; kw < w->k[2]; kw++) {
                    int64_t w0, w1;
                    int64_t bw = kw * w->dil[2] - w->pad[2];
                    valid_range(IW, bw, w->stride[2], OW, &w0, &w1);
                    const float *src = col;
                    col += osz;
                    const int64_t s = w->stride[2];
                    for (int64_t od = d0; od < d1; od++) {
                        const float *plane = src + od * ohw;
                        float *xp = xc + (od * w->stride[0] + bd) * IH * IW;
                        for (int64_t oh = h0; oh < h1; oh++) {
                            const float *o = plane + oh * OW;
                            float *xr = xp + (oh * w->stride[1] + bh) * IW;
                            if (s == 1)
                                for (int64_t ow = w0; ow < w1; ow++)
                                    xr[ow + bw] += o[ow];
                            else
                                for (int64_t ow = w0; ow < w1; ow++)
                                    xr[ow * s + bw] += o[ow];
                        }
                    }
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- depthwise */

void qdb_conv_depthwise(const float *x, const float *wt, const float *bias, int64_t channels,
                        const qdb_window *w, float *y)
{
    const int64_t ID = w->in[0], IH = w->in[1], IW = w->in[2];
    const int64_t OD = w->out[0], OH = w->out[1], OW = w->out[2];
    const int64_t isz = ID * IH * IW, osz = OD * OH * OW, ksz = qdb_window_k_size(w);
    const int64_t s = w->stride[2];

    for (int64_t c = 0; c < channels; c++) {
        const float *xc = x + c * isz;
        const float *wc = wt + c * ksz;
        float *yc = y + c * osz;
        float b = bias ? bias[c] : 0.0f;
        for (int64_t i = 0; i < osz; i++)
            yc[i] = b;
        for (int64_t kd = 0; kd < w->k[0]; kd++) {
            int64_t d0, d1;
            int64_t bd = kd * w->dil[0] - w->pad[0];
            valid_range(ID, bd, w->stride[0], OD, &d0, &d1);
            for (int64_t kh = 0; kh < w->k[1]; kh++) {
                int64_t h0, h1;
                int64_t bh = kh * w->dil[1] - w->pad[1];
                valid_range(IH, bh, w->stride[1], OH, &h0, &h1);
                for (int64_t kw = 0; kw < w->k[2]; kw++) {
                    int64_t w0, w1;
                    int64_t bw = kw * w->dil[2] - w->pad[2];
                    valid_range(IW, bw, s, OW, &w0, &w1);
                    const float wv = wc[(kd * w->k[1] + kh) * w->k[2] + kw];
                    for (int64_t od = d0; od < d1; od++) {
                        const float *xp = xc + (od * w->stride[0] + bd) * IH * IW;
                        float *yp = yc + od * OH * OW;
                        for (int64_t oh = h0; oh < h1; oh++) {
                            const float *xr = xp + (oh * w->stride[1] + bh) * IW;
                            float *o = yp + oh * OW;
                            if (s == 1)
                                for (int64_t ow = w0; ow < w1; ow++)
                                    o[ow] += wv * xr[ow + bw];
                            else
                                for (int64_t ow = w0; ow < w1; ow++)
                                    o[ow] += wv * xr[ow * s + bw];
                        }
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------ pooling */

/* Kernel index ranges of output position (od, oh, ow): [k0[i], k1[i]) along
 * dimension i, and the matching input base positions b[i] (input position
 * of kernel index j is b[i] + j*dil[i]). */
typedef struct win_pos {
    int64_t b[QDB_WIN_DIMS], k0[QDB_WIN_DIMS], k1[QDB_WIN_DIMS];
} win_pos;

static inline void win_dim(const qdb_window *w, int i, int64_t o, win_pos *p)
{
    p->b[i] = o * w->stride[i] - w->pad[i];
    valid_range(w->in[i], p->b[i], w->dil[i], w->k[i], &p->k0[i], &p->k1[i]);
}

/* Flat spatial index of (d, h, w), column-major when asked. */
static inline int64_t spatial_index(const qdb_window *w, int64_t d, int64_t h, int64_t x,
                                    int col_major)
{
    if (col_major)
        return (x * w->in[1] + h) * w->in[0] + d;
    return (d * w->in[1] + h) * w->in[2] + x;
}

#define MAXPOOL_BODY(T, LOWEST)                                                              \
    const int64_t isz = qdb_window_in_size(w), IH = w->in[1], IW = w->in[2];                  \
    for (int64_t pl = 0; pl < planes; pl++) {                                                 \
        const T *xc = x + pl * isz;                                                           \
        win_pos p;                                                                            \
        for (int64_t od = 0; od < w->out[0]; od++) {                                          \
            win_dim(w, 0, od, &p);                                                            \
            for (int64_t oh = 0; oh < w->out[1]; oh++) {                                      \
                win_dim(w, 1, oh, &p);                                                        \
                for (int64_t ow = 0; ow < w->out[2]; ow++) {                                  \
                    win_dim(w, 2, ow, &p);                                                    \
                    T best = LOWEST;                                                          \
                    int64_t bd = -1, bh = -1, bw = -1;                                        \
                    for (int64_t jd = p.k0[0]; jd < p.k1[0]; jd++) {                          \
                        int64_t id = p.b[0] + jd * w->dil[0];                                 \
                        for (int64_t jh = p.k0[1]; jh < p.k1[1]; jh++) {                      \
                            int64_t ih = p.b[1] + jh * w->dil[1];                             \
                            const T *xr = xc + (id * IH + ih) * IW;                           \
                            for (int64_t jw = p.k0[2]; jw < p.k1[2]; jw++) {                  \
                                T v = xr[p.b[2] + jw * w->dil[2]];                            \
                                if (v > best || bd < 0) {                                     \
                                    best = v;                                                 \
                                    bd = id;                                                  \
                                    bh = ih;                                                  \
                                    bw = p.b[2] + jw * w->dil[2];                             \
                                }                                                             \
                            }                                                                 \
                        }                                                                     \
                    }                                                                         \
                    *y++ = best;                                                              \
                    if (idx)                                                                  \
                        *idx++ = bd < 0 ? -1                                                  \
                                        : pl * isz + spatial_index(w, bd, bh, bw, col_major); \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }

void qdb_maxpool_f32(const float *x, int64_t planes, const qdb_window *w, float *y, int64_t *idx,
                     int col_major)
{
    MAXPOOL_BODY(float, -INFINITY)
}

void qdb_maxpool_i64(const int64_t *x, int64_t planes, const qdb_window *w, int64_t *y,
                     int64_t *idx, int col_major)
{
    MAXPOOL_BODY(int64_t, INT64_MIN)
}

#undef MAXPOOL_BODY

/* Number of kernel indices j in [0, k) whose position b + j*dil lies in
 * [-pad, in + pad_end). */
static inline int64_t padded_count(const qdb_window *w, int i, int64_t b)
{
    int64_t lo, hi;
    valid_range(w->in[i] + w->pad[i] + w->pad_end[i], b + w->pad[i], w->dil[i], w->k[i], &lo,
                &hi);
    return hi - lo;
}

void qdb_avgpool_f32(const float *x, int64_t planes, const qdb_window *w, int include_pad,
                     float *y)
{
    const int64_t isz = qdb_window_in_size(w), IH = w->in[1], IW = w->in[2];
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xc = x + pl * isz;
        win_pos p;
        for (int64_t od = 0; od < w->out[0]; od++) {
            win_dim(w, 0, od, &p);
            for (int64_t oh = 0; oh < w->out[1]; oh++) {
                win_dim(w, 1, oh, &p);
                for (int64_t ow = 0; ow < w->out[2]; ow++) {
                    win_dim(w, 2, ow, &p);
                    float sum = 0.0f;
                    for (int64_t jd = p.k0[0]; jd < p.k1[0]; jd++) {
                        int64_t id = p.b[0] + jd * w->dil[0];
                        for (int64_t jh = p.k0[1]; jh < p.k1[1]; jh++) {
                            int64_t ih = p.b[1] + jh * w->dil[1];
                            const float *xr = xc + (id * IH + ih) * IW;
                            for (int64_t jw = p.k0[2]; jw < p.k1[2]; jw++)
                                sum += xr[p.b[2] + jw * w->dil[2]];
                        }
                    }
                    int64_t cnt;
                    if (include_pad)
                        cnt = padded_count(w, 0, p.b[0]) * padded_count(w, 1, p.b[1]) *
                              padded_count(w, 2, p.b[2]);
                    else
                        cnt = (p.k1[0] - p.k0[0]) * (p.k1[1] - p.k0[1]) * (p.k1[2] - p.k0[2]);
                    *y++ = cnt > 0 ? sum / (float)cnt : 0.0f;
                }
            }
        }
    }
}

void qdb_lppool_f32(const float *x, int64_t planes, const qdb_window *w, float p_norm, float *y)
{
    const int64_t isz = qdb_window_in_size(w), IH = w->in[1], IW = w->in[2];
    const int mode = p_norm == 1.0f ? 1 : p_norm == 2.0f ? 2 : 0;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xc = x + pl * isz;
        win_pos p;
        for (int64_t od = 0; od < w->out[0]; od++) {
            win_dim(w, 0, od, &p);
            for (int64_t oh = 0; oh < w->out[1]; oh++) {
                win_dim(w, 1, oh, &p);
                for (int64_t ow = 0; ow < w->out[2]; ow++) {
                    win_dim(w, 2, ow, &p);
                    float sum = 0.0f;
                    for (int64_t jd = p.k0[0]; jd < p.k1[0]; jd++) {
                        int64_t id = p.b[0] + jd * w->dil[0];
                        for (int64_t jh = p.k0[1]; jh < p.k1[1]; jh++) {
                            int64_t ih = p.b[1] + jh * w->dil[1];
                            const float *xr = xc + (id * IH + ih) * IW;
                            for (int64_t jw = p.k0[2]; jw < p.k1[2]; jw++) {
                                float v = xr[p.b[2] + jw * w->dil[2]];
                                sum += mode == 1   ? fabsf(v)
                                       : mode == 2 ? v * v
                                                   : powf(fabsf(v), p_norm);
                            }
                        }
                    }
                    *y++ = mode == 1 ? sum : mode == 2 ? sqrtf(sum) : powf(sum, 1.0f / p_norm);
                }
            }
        }
    }
}

/* ------------------------------------------------------------ channel maps */

void qdb_channel_affine(const float *x, float *y, int64_t n, int64_t channels, int64_t plane,
                        const float *center, const float *scale, const float *shift)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < channels; c++) {
            const float *xs = x + (i * channels + c) * plane;
            float *ys = y + (i * channels + c) * plane;
            const float m = center ? center[c] : 0.0f, a = scale[c], b = shift ? shift[c] : 0.0f;
            for (int64_t j = 0; j < plane; j++)
                ys[j] = (xs[j] - m) * a + b;
        }
}

void qdb_add_bias(float *y, int64_t channels, int64_t plane, const float *bias)
{
    for (int64_t c = 0; c < channels; c++) {
        float *yc = y + c * plane;
        const float b = bias[c];
        for (int64_t j = 0; j < plane; j++)
            yc[j] += b;
    }
}
