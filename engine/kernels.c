/* kernels.c - float compute kernels: sgemm over OpenBLAS, im2col / col2im,
 * depthwise convolution, pooling and per-channel affine loops (see
 * kernels.h). Everything here is allocation-free and cannot fail. */
#include "kernels.h"
#include "ops/pw_chain.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
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
    /* the executable's own path, not /proc/self/exe: the process keeps its
     * name (ps, top and pgrep show "qdb", not "exe") */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0 && (size_t)n < sizeof self - 1) {
        self[n] = '\0';
        execv(self, argv);
    }
    execv("/proc/self/exe", argv);
}

/* ----------------------------------------------------- function versions */

/* QDB_MULTIVERSION and QDB_INLINE: see kernels.h. */

/* ------------------------------------------------------------- thread pool */

/* A small persistent pool for the kernels' own loops (OpenBLAS keeps its
 * own threads for sgemm). Workers are created on first use, up to
 * qdb_kernels_threads() - 1, and sleep on a condition variable between
 * jobs. One job at a time: a caller that finds the pool busy (another
 * thread running a kernel) runs its job inline. */
#define POOL_MAX_WORKERS 63

static struct {
    pthread_mutex_t run;  /* held by the thread submitting a job */
    pthread_mutex_t mu;   /* protects the fields below */
    pthread_cond_t wake, done;
    int workers;          /* threads started */
    pid_t pid;            /* the process that started them */
    unsigned long gen;    /* job counter */
    int pending;          /* workers still on the current job */
    int parts;            /* chunks of the current job (caller takes chunk 0) */
    int64_t n;
    qdb_par_fn fn;
    void *ctx;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, NULL, NULL};

static void chunk(int64_t n, int parts, int i, int64_t *b, int64_t *e)
{
    *b = n * i / parts;
    *e = n * (i + 1) / parts;
}

static void *pool_worker(void *arg)
{
    const int id = (int)(intptr_t)arg; /* 1.. */
    unsigned long seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.gen == seen)
            pthread_cond_wait(&pool.wake, &pool.mu);
        seen = pool.gen;
        if (id >= pool.parts)
            continue;
        const int parts = pool.parts;
        const int64_t n = pool.n;
        qdb_par_fn fn = pool.fn;
        void *ctx = pool.ctx;
        pthread_mutex_unlock(&pool.mu);
        int64_t b, e;
        chunk(n, parts, id, &b, &e);
        if (e > b)
            fn(ctx, b, e);
        pthread_mutex_lock(&pool.mu);
        if (--pool.pending == 0)
            pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* Below this many multiply-adds a job runs on the calling thread. */
#define PAR_MIN_WORK ((int64_t)1 << 16)

void qdb_parallel_for(int64_t n, int64_t work, qdb_par_fn fn, void *ctx)
{
    int threads = qdb_kernels_threads();
    if (threads > POOL_MAX_WORKERS + 1)
        threads = POOL_MAX_WORKERS + 1;
    if ((int64_t)threads > n)
        threads = (int)n;
    if (threads > 1 && work / threads < PAR_MIN_WORK)
        threads = (int)(work / PAR_MIN_WORK) > 1 ? (int)(work / PAR_MIN_WORK) : 1;
    if (threads <= 1 || pthread_mutex_trylock(&pool.run) != 0) {
        if (n > 0)
            fn(ctx, 0, n);
        return;
    }
    if (pool.workers > 0 && pool.pid != getpid()) {
        /* A child after fork(): the workers stayed in the parent. */
        pthread_mutex_unlock(&pool.run);
        if (n > 0)
            fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    pool.pid = getpid();
    while (pool.workers < threads - 1) {
        pthread_t t;
        pthread_attr_t at;
        int ok = pthread_attr_init(&at) == 0;
        if (ok) {
            pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
            ok = pthread_create(&t, &at, pool_worker, (void *)(intptr_t)(pool.workers + 1)) == 0;
            pthread_attr_destroy(&at);
        }
        if (!ok)
            break;
        pool.workers++;
    }
    if (threads > pool.workers + 1)
        threads = pool.workers + 1;
    pool.parts = threads;
    pool.pending = threads - 1;
    pool.n = n;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.gen++;
    if (threads > 1)
        pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);

    int64_t b, e;
    chunk(n, threads, 0, &b, &e);
    if (e > b)
        fn(ctx, b, e);

    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0)
        pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.run);
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

/* One channel, any window: the reference loop (bias, then each tap over
 * its valid output range). */
static void dw_generic(const float *xc, const float *wc, float b, const qdb_window *w, float *yc)
{
    const int64_t ID = w->in[0], IH = w->in[1], IW = w->in[2];
    const int64_t OD = w->out[0], OH = w->out[1], OW = w->out[2];
    const int64_t osz = OD * OH * OW, s = w->stride[2];
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

/* Output columns [lo, hi) of one row of a 3x3 window whose three input rows
 * are all inside the image and whose three columns are inside for every
 * output in the range: o[j] = b + sum of the 9 taps. S is a constant at
 * each call site so the strided loads vectorize. */
static QDB_INLINE void dw3_rows3(const float *r0, const float *r1, const float *r2, const float *k,
                             float b, int64_t S, int64_t bw, int64_t lo, int64_t hi, float *o)
{
    const float k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6],
                k7 = k[7], k8 = k[8];
    for (int64_t ow = lo; ow < hi; ow++) {
        const int64_t j = ow * S + bw;
        o[ow] = b + k0 * r0[j] + k1 * r0[j + 1] + k2 * r0[j + 2] + k3 * r1[j] + k4 * r1[j + 1] +
                k5 * r1[j + 2] + k6 * r2[j] + k7 * r2[j + 1] + k8 * r2[j + 2];
    }
}

/* The same with only `rows` rows inside the image: r is the first of them
 * and k its weights. */
static QDB_INLINE void dw3_rows_any(const float *r, int64_t IW, int64_t rows, const float *k,
                                float b, int64_t S, int64_t bw, int64_t lo, int64_t hi, float *o)
{
    for (int64_t ow = lo; ow < hi; ow++)
        o[ow] = b;
    for (int64_t kh = 0; kh < rows; kh++) {
        const float *rr = r + kh * IW;
        const float a0 = k[kh * 3], a1 = k[kh * 3 + 1], a2 = k[kh * 3 + 2];
        for (int64_t ow = lo; ow < hi; ow++) {
            const int64_t j = ow * S + bw;
            o[ow] += a0 * rr[j] + a1 * rr[j + 1] + a2 * rr[j + 2];
        }
    }
}

/* One channel of a 2-D 3x3 depthwise convolution, dilation 1, stride S
 * (1 or 2) in both directions, any padding. */
static QDB_INLINE void dw3x3(const float *xc, const float *k, float b, const qdb_window *w, int64_t S,
                         float *yc)
{
    const int64_t IH = w->in[1], IW = w->in[2], OH = w->out[1], OW = w->out[2];
    const int64_t ph = w->pad[1], bw = -w->pad[2];
    /* Output columns whose three taps are all inside [0, IW). */
    int64_t c0, c1, t0, t1;
    valid_range(IW, bw, S, OW, &c0, &c1);
    valid_range(IW, bw + 2, S, OW, &t0, &t1);
    if (t0 > c0)
        c0 = t0;
    if (t1 < c1)
        c1 = t1;
    if (c1 < c0)
        c1 = c0;
    for (int64_t oh = 0; oh < OH; oh++) {
        const int64_t ih = oh * S - ph; /* input row of kh = 0 */
        int64_t kh0 = ih < 0 ? -ih : 0, kh1 = IH - ih < 3 ? IH - ih : 3;
        float *o = yc + oh * OW;
        if (kh1 <= kh0) {
            for (int64_t ow = 0; ow < OW; ow++)
                o[ow] = b;
            continue;
        }
        const float *r = xc + (ih + kh0) * IW; /* input row of kh0 */
        if (c1 > c0) {
            if (kh0 == 0 && kh1 == 3) {
                if (S == 1)
                    dw3_rows3(r, r + IW, r + 2 * IW, k, b, 1, bw, c0, c1, o);
                else
                    dw3_rows3(r, r + IW, r + 2 * IW, k, b, 2, bw, c0, c1, o);
            } else {
                dw3_rows_any(r, IW, kh1 - kh0, k + 3 * kh0, b, S, bw, c0, c1, o);
            }
        }
        /* Edge columns: only the taps inside the row. */
        for (int64_t ow = 0; ow < OW; ow++) {
            if (ow == c0 && c1 > c0)
                ow = c1;
            if (ow >= OW)
                break;
            const int64_t iw = ow * S + bw;
            const int64_t kw0 = iw < 0 ? -iw : 0, kw1 = IW - iw < 3 ? IW - iw : 3;
            float acc = b;
            for (int64_t kh = kh0; kh < kh1; kh++)
                for (int64_t kw = kw0; kw < kw1; kw++)
                    acc += k[kh * 3 + kw] * r[(kh - kh0) * IW + iw + kw];
            o[ow] = acc;
        }
    }
}

/* Small planes (rows too short for wide vectors): copy the channel into a
 * buffer bordered with `fill` (0, or a fused Pad's value) of row pitch Wp, then run one flat loop over all
 * output rows at once, computing a few throw-away columns per row.
 * Stride 1: Wp = OW + 2; output q = oh*Wp + ow reads q + kh*Wp + kw.
 * Stride 2: the padded plane's even rows first, then its odd rows, and
 * Wp = 2*OW + 2, so that with q = oh*Wp/2 + ow, padded row 2*oh + kh is even
 * row oh (kh = 0), odd row oh (kh = 1), even row oh + 1 (kh = 2), at column
 * 2*q + kw from those. (Splitting columns by parity too, for stride-1
 * loads, measured slower: the de-interleaving copy costs more.) Buffers over
 * DW_FLAT_MAX floats return 0 (not done). */
#define DW_FLAT_MAX 8192
#define DW_FLAT_TAIL 24 /* >= 15 + 2 floats read past the buffer */

/* The buffers of dw3x3_flat. The border is the same for every channel of
 * a run: it is filled once (ready), and each channel then writes only its
 * interior. */
typedef struct dw_flat_buf {
    float xp[DW_FLAT_MAX + DW_FLAT_TAIL], op[DW_FLAT_MAX + 16];
    int ready;
} dw_flat_buf;

/* Copy n < 32 floats without a loop the compiler would turn into a
 * library call (rows here are a few floats long). */
static QDB_INLINE void copy_short(float *restrict d, const float *restrict s, int64_t n)
{
    int64_t i = 0;
    if (n - i >= 16) {
        memcpy(d + i, s + i, 16 * sizeof *d);
        i += 16;
    }
    if (n - i >= 8) {
        memcpy(d + i, s + i, 8 * sizeof *d);
        i += 8;
    }
    if (n - i >= 4) {
        memcpy(d + i, s + i, 4 * sizeof *d);
        i += 4;
    }
    if (n - i >= 2) {
        memcpy(d + i, s + i, 2 * sizeof *d);
        i += 2;
    }
    if (n - i >= 1)
        d[i] = s[i];
}

static QDB_INLINE int dw3x3_flat(const float *xc, const float *k, float b, const qdb_window *w,
                                 int64_t S, float fill, dw_flat_buf *fb, float *yc)
{
    const int64_t IH = w->in[1], IW = w->in[2], OH = w->out[1], OW = w->out[2];
    const int64_t ph = w->pad[1], pw = w->pad[2];
    const int64_t Wp = S == 1 ? OW + 2 : 2 * OW + 2, Hp = (OH - 1) * S + 3;
    const int64_t Wq = Wp / S; /* output row pitch in op */
    const int64_t used = (S == 1 ? Hp : 2 * OH + 2) * Wp;
    if (used > DW_FLAT_MAX)
        return 0;
    float *xp = fb->xp, *op = fb->op;
    int64_t c0 = pw < 0 ? 0 : pw, c1 = IW + pw < Wp ? IW + pw : Wp;
    if (c1 < c0)
        c1 = c0;
    if (!fb->ready) {
        for (int64_t i = 0; i < used; i++)
            xp[i] = fill;
        for (int64_t i = used; i < used + DW_FLAT_TAIL; i++)
            xp[i] = 0.0f;
        fb->ready = 1;
    }
    const int short_rows = c1 - c0 < 32;
    for (int64_t r = 0; r < Hp; r++) {
        const int64_t ih = r - ph;
        if (ih < 0 || ih >= IH || c1 == c0)
            continue; /* all border */
        float *row = S == 1 ? xp + r * Wp : xp + ((r & 1) * (OH + 1) + r / 2) * Wp;
        const float *src = xc + ih * IW + (c0 - pw);
        if (short_rows)
            copy_short(row + c0, src, c1 - c0);
        else
            memcpy(row + c0, src, (size_t)(c1 - c0) * sizeof *row);
    }
    const float k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6],
                k7 = k[7], k8 = k[8];
    const float *r0 = xp, *r1 = S == 1 ? xp + Wp : xp + (OH + 1) * Wp,
                *r2 = S == 1 ? xp + 2 * Wp : xp + Wp;
    /* stride 1 runs whole vectors: up to 15 throw-away outputs past the
     * last, reading into the zeroed tail (measured slower for stride 2) */
    const int64_t L0 = (OH - 1) * Wq + OW, L = S == 1 ? (L0 + 15) & ~(int64_t)15 : L0;
    for (int64_t q = 0; q < L; q++) {
        const int64_t j = q * S;
        op[q] = b + k0 * r0[j] + k1 * r0[j + 1] + k2 * r0[j + 2] + k3 * r1[j] + k4 * r1[j + 1] +
                k5 * r1[j + 2] + k6 * r2[j] + k7 * r2[j + 1] + k8 * r2[j + 2];
    }
    for (int64_t oh = 0; oh < OH; oh++) {
        if (OW < 32)
            copy_short(yc + oh * OW, op + oh * Wq, OW);
        else
            memcpy(yc + oh * OW, op + oh * Wq, (size_t)OW * sizeof *yc);
    }
    return 1;
}

typedef struct dw_task {
    const float *x, *wt, *bias;
    const qdb_window *w;
    float *y;
    int mode; /* 0 generic, 1 3x3 stride 1, 2 3x3 stride 2 */
    const qdb_dw_extra *ex;
    int failed; /* out of memory for a padded plane */
} dw_task;

/* One channel. */
static QDB_INLINE void dw_channel(int mode, const float *xc, const float *wc, float b,
                                  const qdb_window *w, dw_flat_buf *fb, float *yc)
{
    if (mode == 1) {
        if (!dw3x3_flat(xc, wc, b, w, 1, 0.0f, fb, yc))
            dw3x3(xc, wc, b, w, 1, yc);
    } else if (mode == 2) {
        if (!dw3x3_flat(xc, wc, b, w, 2, 0.0f, fb, yc))
            dw3x3(xc, wc, b, w, 2, yc);
    } else {
        dw_generic(xc, wc, b, w, yc);
    }
}

/* With a fill value: the window's padding holds ex->fill instead of being
 * left out, exactly as if the input had been padded first (2-D only). The
 * small-plane path borders its buffer with the value; the others run on a
 * padded copy of the plane with an unpadded window. */
static QDB_INLINE void dw_filled(const dw_task *t, int64_t c_begin, int64_t c_end, float *plane,
                                 dw_flat_buf *fb)
{
    const qdb_window *w = t->w;
    qdb_window wp = *w;
    wp.in[1] = w->in[1] + w->pad[1] + w->pad_end[1];
    wp.in[2] = w->in[2] + w->pad[2] + w->pad_end[2];
    wp.pad[1] = wp.pad[2] = wp.pad_end[1] = wp.pad_end[2] = 0;
    const int64_t isz = qdb_window_in_size(w), osz = qdb_window_out_size(w),
                  ksz = qdb_window_k_size(w), IH = w->in[1], IW = w->in[2], PW = wp.in[2];
    const float f = t->ex->fill_value;
    for (int64_t c = c_begin; c < c_end; c++) {
        const float *xc = t->x + c * isz, *wc = t->wt + c * ksz;
        float *yc = t->y + c * osz;
        const float b = t->bias ? t->bias[c] : 0.0f;
        /* constant strides, so that each version gets its own loop */
        if (t->mode == 1 && dw3x3_flat(xc, wc, b, w, 1, f, fb, yc))
            continue;
        if (t->mode == 2 && dw3x3_flat(xc, wc, b, w, 2, f, fb, yc))
            continue;
        for (int64_t r = 0; r < wp.in[1]; r++) {
            float *row = plane + r * PW;
            const int64_t ih = r - w->pad[1];
            for (int64_t i = 0; i < PW; i++) {
                const int64_t iw = i - w->pad[2];
                row[i] = ih >= 0 && ih < IH && iw >= 0 && iw < IW ? xc[ih * IW + iw] : f;
            }
        }
        dw_channel(t->mode, plane, wc, b, &wp, fb, yc);
    }
}

QDB_MULTIVERSION static void dw_run(void *arg, int64_t c_begin, int64_t c_end)
{
    dw_task *t = arg;
    const qdb_window *w = t->w;
    const int64_t isz = qdb_window_in_size(w), osz = qdb_window_out_size(w),
                  ksz = qdb_window_k_size(w);
    const qdb_dw_extra *ex = t->ex;
    dw_flat_buf fb;
    fb.ready = 0;
    if (ex && ex->fill) {
        float *plane = malloc((size_t)((w->in[1] + w->pad[1] + w->pad_end[1]) *
                                       (w->in[2] + w->pad[2] + w->pad_end[2])) * sizeof *plane);
        if (!plane) {
            t->failed = 1;
            return;
        }
        dw_filled(t, c_begin, c_end, plane, &fb);
        free(plane);
    } else {
        for (int64_t c = c_begin; c < c_end; c++)
            dw_channel(t->mode, t->x + c * isz, t->wt + c * ksz, t->bias ? t->bias[c] : 0.0f, w,
                       &fb, t->y + c * osz);
    }
    if (ex && ex->chain)
        qdb_pw_apply_planes(ex->chain, t->y + c_begin * osz, c_end - c_begin, osz, c_begin, 0);
}

int qdb_conv_depthwise_ex(const float *x, const float *wt, const float *bias, int64_t channels,
                          const qdb_window *w, const qdb_dw_extra *ex, float *y)
{
    dw_task t = {x, wt, bias, w, y, 0, ex, 0};
    if (w->in[0] == 1 && w->out[0] == 1 && w->k[0] == 1 && w->pad[0] == 0 && w->k[1] == 3 &&
        w->k[2] == 3 && w->dil[1] == 1 && w->dil[2] == 1 && w->stride[1] == w->stride[2] &&
        (w->stride[1] == 1 || w->stride[1] == 2))
        t.mode = (int)w->stride[1];
    const int64_t work = channels * qdb_window_out_size(w) * qdb_window_k_size(w);
    qdb_parallel_for(channels, work, dw_run, &t);
    return t.failed ? -1 : 0;
}

void qdb_conv_depthwise(const float *x, const float *wt, const float *bias, int64_t channels,
                        const qdb_window *w, float *y)
{
    qdb_conv_depthwise_ex(x, wt, bias, channels, w, NULL, y);
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

/* 2-D max pooling of one plane, dilation 1, no indices, stride S. The same
 * comparisons in the same order as MAXPOOL_BODY (the first tap inside the
 * input, then v > best), so NaN handling is identical; the columns whose
 * window is inside the row run as vector loops over the output row. */
static QDB_INLINE void maxpool2d_plane(const float *xc, const qdb_window *w, int64_t S,
                                       float *yc)
{
    const int64_t IH = w->in[1], IW = w->in[2], OH = w->out[1], OW = w->out[2];
    const int64_t KH = w->k[1], KW = w->k[2], sh = w->stride[1], bw = -w->pad[2];
    int64_t c0, c1, t0, t1;
    valid_range(IW, bw, S, OW, &c0, &c1);
    valid_range(IW, bw + KW - 1, S, OW, &t0, &t1);
    if (t0 > c0)
        c0 = t0;
    if (t1 < c1)
        c1 = t1;
    if (c1 < c0)
        c1 = c0;
    if (KH == 2 && KW == 2 && S == 2 && sh == 2 && w->pad[1] == 0 && bw == 0 &&
        2 * OH <= IH && 2 * OW <= IW) {
        /* 2 x 2, stride 2, inside the plane (the common case): the same
         * comparisons in the same order as below, four loads per output */
        for (int64_t oh = 0; oh < OH; oh++) {
            const float *r0 = xc + 2 * oh * IW, *r1 = r0 + IW;
            float *o = yc + oh * OW;
            for (int64_t ow = 0; ow < OW; ow++) {
                float m = r0[2 * ow];
                m = r0[2 * ow + 1] > m ? r0[2 * ow + 1] : m;
                m = r1[2 * ow] > m ? r1[2 * ow] : m;
                o[ow] = r1[2 * ow + 1] > m ? r1[2 * ow + 1] : m;
            }
        }
        return;
    }
    for (int64_t oh = 0; oh < OH; oh++) {
        const int64_t ih = oh * sh - w->pad[1];
        int64_t kh0 = ih < 0 ? -ih : 0, kh1 = IH - ih < KH ? IH - ih : KH;
        float *o = yc + oh * OW;
        if (kh1 <= kh0) {
            for (int64_t ow = 0; ow < OW; ow++)
                o[ow] = -INFINITY;
            continue;
        }
        const float *r = xc + (ih + kh0) * IW; /* input row of kh0 */
        if (c1 > c0) {
            for (int64_t ow = c0; ow < c1; ow++)
                o[ow] = r[ow * S + bw];
            for (int64_t kh = 0; kh < kh1 - kh0; kh++) {
                const float *rr = r + kh * IW;
                for (int64_t kw = kh == 0 ? 1 : 0; kw < KW; kw++)
                    for (int64_t ow = c0; ow < c1; ow++) {
                        const float v = rr[ow * S + bw + kw];
                        o[ow] = v > o[ow] ? v : o[ow];
                    }
            }
        }
        for (int64_t ow = 0; ow < OW; ow++) {
            if (ow == c0 && c1 > c0)
                ow = c1;
            if (ow >= OW)
                break;
            const int64_t iw = ow * S + bw;
            const int64_t kw0 = iw < 0 ? -iw : 0, kw1 = IW - iw < KW ? IW - iw : KW;
            float best = -INFINITY;
            int first = 1;
            for (int64_t kh = 0; kh < kh1 - kh0; kh++)
                for (int64_t kw = kw0; kw < kw1; kw++) {
                    const float v = r[kh * IW + iw + kw];
                    if (v > best || first)
                        best = v;
                    first = 0;
                }
            o[ow] = best;
        }
    }
}

typedef struct maxpool_task {
    const float *x;
    const qdb_window *w;
    float *y;
} maxpool_task;

QDB_MULTIVERSION static void maxpool2d_run(void *arg, int64_t p_begin, int64_t p_end)
{
    const maxpool_task *t = arg;
    const qdb_window *w = t->w;
    const int64_t isz = qdb_window_in_size(w), osz = qdb_window_out_size(w);
    for (int64_t p = p_begin; p < p_end; p++) {
        if (w->stride[2] == 1)
            maxpool2d_plane(t->x + p * isz, w, 1, t->y + p * osz);
        else if (w->stride[2] == 2)
            maxpool2d_plane(t->x + p * isz, w, 2, t->y + p * osz);
        else
            maxpool2d_plane(t->x + p * isz, w, w->stride[2], t->y + p * osz);
    }
}

void qdb_maxpool_f32(const float *x, int64_t planes, const qdb_window *w, float *y, int64_t *idx,
                     int col_major)
{
    if (!idx && w->in[0] == 1 && w->out[0] == 1 && w->k[0] == 1 && w->pad[0] == 0 &&
        w->dil[1] == 1 && w->dil[2] == 1) {
        maxpool_task t = {x, w, y};
        qdb_parallel_for(planes, planes * qdb_window_out_size(w) * qdb_window_k_size(w),
                         maxpool2d_run, &t);
        return;
    }
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

/* Global average (one window over the whole plane, no padding): each
 * plane's sum in the same order as the general loop below, eight planes'
 * independent sums interleaved instead of one long chain of additions. */
static int avgpool_global(const float *x, int64_t planes, const qdb_window *w, float *y)
{
    for (int i = 0; i < QDB_WIN_DIMS; i++)
        if (w->out[i] != 1 || w->k[i] != w->in[i] || w->dil[i] != 1 || w->pad[i] != 0)
            return 0;
    const int64_t isz = qdb_window_in_size(w);
    if (isz < 1)
        return 0;
    int64_t pl = 0;
    for (; pl + 8 <= planes; pl += 8) {
        float acc[8] = {0};
        const float *xc = x + pl * isz;
        for (int64_t i = 0; i < isz; i++)
            for (int p = 0; p < 8; p++)
                acc[p] += xc[p * isz + i];
        for (int p = 0; p < 8; p++)
            y[pl + p] = acc[p] / (float)isz;
    }
    for (; pl < planes; pl++) {
        float sum = 0.0f;
        for (int64_t i = 0; i < isz; i++)
            sum += x[pl * isz + i];
        y[pl] = sum / (float)isz;
    }
    return 1;
}

void qdb_avgpool_f32(const float *x, int64_t planes, const qdb_window *w, int include_pad,
                     float *y)
{
    if (avgpool_global(x, planes, w, y))
        return;
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

QDB_MULTIVERSION void qdb_fill_bias(float *y, int64_t channels, int64_t plane, const float *bias)
{
    for (int64_t c = 0; c < channels; c++) {
        float *yc = y + c * plane;
        const float b = bias[c];
        for (int64_t j = 0; j < plane; j++)
            yc[j] = b;
    }
}

QDB_MULTIVERSION void qdb_add_bias(float *y, int64_t channels, int64_t plane, const float *bias)
{
    for (int64_t c = 0; c < channels; c++) {
        float *yc = y + c * plane;
        const float b = bias[c];
        for (int64_t j = 0; j < plane; j++)
            yc[j] += b;
    }
}
