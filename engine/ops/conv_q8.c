/* conv_q8.c - Conv on fixed-point operands (conv_q8.h): the plan (kernel
 * codes packed for the integer kernels), the input image turned into
 * codes, and the two kernels: AVX-512 VNNI, and sgemm on the codes as
 * floats (any other CPU; see "the GEMM path" below).
 *
 * VNNI layout. The input image becomes, per group of four input channels, one
 * plane of 32-bit words, each the four channels' 8-bit codes at one
 * position of the zero-padded image (rows of Wp = W + pads positions).
 * Output position (oy, ox) of a stride-1 Conv reads, at kernel tap
 * (ky, kx), the word at (oy + ky) * Wp + ox + kx: so the outputs are
 * computed at every "flat" position p = oy * Wp + ox, ox < Wp, each tap
 * being the plane shifted by ky * Wp + kx, and the columns ox >= Wout are
 * dropped. A VNNI instruction then multiplies 16 positions' four codes
 * by one output channel's four weights and adds the four products to 16
 * 32-bit sums. The kernel packs, per block of Q8_MR output channels, per
 * group of four input channels and per tap, the Q8_MR channels' words. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv_q8.h"
#include "window.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define Q8_HAVE_VNNI 1
#include <immintrin.h>
#endif

#define Q8_MR 8   /* output channels per kernel block */
#define Q8_V 16   /* positions per vector */
#define Q8_NV 3   /* vectors per kernel block */
#define Q8_TAPS_MAX 64 /* kernels up to 8 x 8 */
/* A kernel value is on its row's grid when within this many steps of a
 * code: a quantizer's float rounding is far below, any other value far
 * above (a float kernel has codes all over the step). */
#define Q8_ON_GRID 1e-3f

struct qdb_conv_q8 {
    int64_t m, c, kh, kw;
    int64_t c4;        /* input channels in groups of four */
    int64_t mb;        /* blocks of Q8_MR output channels */
    int32_t *wpack;    /* [mb][c4][kh * kw][Q8_MR]: four codes per word */
    int32_t *comp;     /* [mb * Q8_MR]: x_offset * the row's sum of codes */
    float *scale;      /* [mb * Q8_MR]: x_step * w_step[m] */
    float *wf;         /* [m][c * kh * kw]: the codes as floats (GEMM path) */
    float *w_step;     /* [m] */
    int x_pot;         /* x_step is a power of two: X / x_step is exact */
    float x_inv_step;
    int x_offset;
};

/* A usable step: positive, normal, and so is its reciprocal. */
static int good_step(float x)
{
    return isnormal(x) && x > 0 && isnormal(1.0f / x);
}

void qdb_conv_q8_free(qdb_conv_q8 *p)
{
    if (!p)
        return;
    free(p->wpack);
    free(p->comp);
    free(p->scale);
    free(p->wf);
    free(p->w_step);
    free(p);
}

qdb_conv_q8 *qdb_conv_q8_new(const qdb_tensor *w, const float *w_step, float x_step, int x_offset,
                             qdb_err *e)
{
    if (!w || w->dtype != QDB_F32 || w->shape.ndim != 4) {
        qdb_err_set(e, QDB_ERR_UNSUPPORTED, "integer Conv: the kernel must be 4-D float32");
        return NULL;
    }
    if (!good_step(x_step) || x_offset < 0 || x_offset > 255) {
        qdb_err_set(e, QDB_ERR_UNSUPPORTED, "integer Conv: X's grid is not one of 8-bit codes");
        return NULL;
    }
    const int64_t m = w->shape.d[0], c = w->shape.d[1], kh = w->shape.d[2], kw = w->shape.d[3];
    const int64_t taps = kh * kw, c4 = (c + 3) / 4, mb = (m + Q8_MR - 1) / Q8_MR;
    /* |sum| <= K * 255 * 128 must fit in int32 */
    if (m < 1 || c < 1 || taps < 1 || taps > Q8_TAPS_MAX || c4 * 4 * taps > 65000) {
        qdb_err_set(e, QDB_ERR_UNSUPPORTED, "integer Conv: a kernel over 8 x 8 or a reduction too long "
                                            "for 32-bit sums");
        return NULL;
    }
    qdb_conv_q8 *p = calloc(1, sizeof *p);
    if (!p) {
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->m = m;
    p->c = c;
    p->kh = kh;
    p->kw = kw;
    p->c4 = c4;
    p->mb = mb;
    p->x_inv_step = 1.0f / x_step;
    int ex;
    p->x_pot = frexpf(x_step, &ex) == 0.5f;
    p->x_offset = x_offset;
    p->wpack = calloc((size_t)(mb * c4 * taps * Q8_MR), sizeof *p->wpack);
    p->comp = calloc((size_t)(mb * Q8_MR), sizeof *p->comp);
    p->scale = calloc((size_t)(mb * Q8_MR), sizeof *p->scale);
    p->wf = malloc((size_t)(m * c * taps) * sizeof *p->wf);
    p->w_step = malloc((size_t)m * sizeof *p->w_step);
    if (!p->wpack || !p->comp || !p->scale || !p->wf || !p->w_step) {
        qdb_conv_q8_free(p);
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int64_t o = 0; o < m; o++) {
        const float step = w_step[o];
        const float sc = step * x_step;
        if (!good_step(step) || !good_step(sc)) {
            qdb_conv_q8_free(p);
            qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                        "integer Conv: the step of output channel %lld is out of range",
                        (long long)o);
            return NULL;
        }
        const float inv = 1.0f / step;
        int64_t sum = 0;
        for (int64_t ci = 0; ci < c; ci++)
            for (int64_t t = 0; t < taps; t++) {
                const float v = w->data.f[(o * c + ci) * taps + t];
                const float k = nearbyintf(v * inv);
                if (!(k >= -128.0f && k <= 127.0f) || !(fabsf(v * inv - k) <= Q8_ON_GRID)) {
                    qdb_conv_q8_free(p);
                    qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                                "integer Conv: kernel value %g of output channel %lld is not an "
                                "8-bit multiple of its step %g",
                                (double)v, (long long)o, (double)step);
                    return NULL;
                }
                const int code = (int)k;
                sum += code;
                p->wf[(o * c + ci) * taps + t] = (float)code;
                /* channel ci % 4 in bits 8 (ci % 4) up, as the input's words */
                int32_t *word = &p->wpack[(((o / Q8_MR) * c4 + ci / 4) * taps + t) * Q8_MR +
                                          o % Q8_MR];
                *word = (int32_t)((uint32_t)*word | (uint32_t)(uint8_t)(int8_t)code << (8 * (ci % 4)));
            }
        p->comp[o] = (int32_t)(sum * x_offset);
        p->scale[o] = sc;
        p->w_step[o] = step;
    }
    return p;
}

int qdb_conv_q8_fits(const qdb_conv_q8 *p, const qdb_window *w, int64_t c_in, int64_t c_out,
                     int64_t group)
{
    if (!p || group != 1 || c_in != p->c || c_out != p->m)
        return 0;
    for (int d = 0; d < QDB_WIN_DIMS - 2; d++)
        if (w->k[d] != 1 || w->in[d] != 1 || w->out[d] != 1 || w->pad[d] || w->pad_end[d])
            return 0;
    const int h = QDB_WIN_DIMS - 2, x = QDB_WIN_DIMS - 1;
    const int64_t k[2] = {p->kh, p->kw};
    for (int i = 0; i < 2; i++) {
        const int d = h + i;
        if (w->k[d] != k[i] || w->stride[d] != 1 || w->dil[d] != 1 || w->pad[d] < 0 ||
            w->pad_end[d] < 0 || w->out[d] != w->in[d] + w->pad[d] + w->pad_end[d] - k[i] + 1 ||
            w->out[d] < 1)
            return 0;
    }
    (void)x;
    return 1;
}

/* The flat geometry of one image. */
typedef struct q8_geo {
    int64_t h, w, pt, pl, wp, hout, wout;
    int64_t nvec;      /* vectors of flat positions: ceil(hout * wp / Q8_V) */
    int64_t plane;     /* words per plane of codes, reads past the end included */
} q8_geo;

static int geo_of(const qdb_conv_q8 *p, const qdb_window *win, q8_geo *g)
{
    const int h = QDB_WIN_DIMS - 2, x = QDB_WIN_DIMS - 1;
    g->h = win->in[h];
    g->w = win->in[x];
    g->pt = win->pad[h];
    g->pl = win->pad[x];
    g->wp = g->w + g->pl + win->pad_end[x];
    g->hout = win->out[h];
    g->wout = win->out[x];
    if (g->wp > ((int64_t)1 << 24) || g->hout > ((int64_t)1 << 24))
        return -1;
    g->nvec = (g->hout * g->wp + Q8_V - 1) / Q8_V;
    /* the last vector's last tap reads up to nvec * V - 1 + (kh - 1) * wp + kw - 1 */
    int64_t need = g->nvec * Q8_V + (p->kh - 1) * g->wp + p->kw;
    g->plane = (need + Q8_V - 1) / Q8_V * Q8_V;
    return 0;
}

/* Does the GEMM path read the input codes as they are (1 x 1, no pads)? */
static int gemm_direct(const qdb_conv_q8 *p, const q8_geo *g)
{
    return p->kh == 1 && p->kw == 1 && g->wp == g->w && g->hout == g->h;
}

size_t qdb_conv_q8_scratch(const qdb_conv_q8 *p, const qdb_window *w)
{
    q8_geo g;
    if (geo_of(p, w, &g))
        return 0;
    const uint64_t hw = (uint64_t)(g.h * g.w), n = (uint64_t)(g.hout * g.wout),
                   k = (uint64_t)(p->c * p->kh * p->kw);
    /* VNNI: codes, a plane of zeros, per vector an int64 and a uint16 */
    uint64_t v = (uint64_t)p->c4 * (uint64_t)g.plane + hw + 1 + 3 * (uint64_t)g.nvec;
    /* GEMM: the centred codes, their columns, a product block and the sums */
    uint64_t m = (uint64_t)p->c * hw + (gemm_direct(p, &g) ? 0 : k * n) + 2 * (uint64_t)p->m * n;
    uint64_t need = v > m ? v : m;
    if (need > QDB_TENSOR_MAX_BYTES / sizeof(float) || k > (uint64_t)QDB_SGEMM_DIM_MAX ||
        n > (uint64_t)QDB_SGEMM_DIM_MAX)
        return 0;
    return (size_t)need;
}

/* The code of value v: rounded, clamped to [0, 255] (NaN: 0, and the
 * caller is told). */
static QDB_INLINE uint32_t code_of(float v, float inv, float off)
{
    float u = v * inv + off + 0.5f;
    u = u >= 0.0f ? u : 0.0f; /* NaN too */
    u = u <= 255.0f ? u : 255.0f;
    return (uint32_t)(int32_t)u;
}

#ifdef Q8_HAVE_VNNI
/* One row of n positions of four channels (rows r0..r3) into words, each
 * value's code as code_of gives it; returns 1 on a NaN. */
__attribute__((target("avx512f"))) static int pack_row4_avx512(const float *r0, const float *r1,
                                                               const float *r2, const float *r3,
                                                               int64_t n, float inv, float off,
                                                               uint32_t *dst)
{
    __mmask16 nan = 0;
    const float *r[4] = {r0, r1, r2, r3};
    const __m512 vinv = _mm512_set1_ps(inv), voff = _mm512_set1_ps(off),
                 half = _mm512_set1_ps(0.5f), lo = _mm512_setzero_ps(),
                 hi = _mm512_set1_ps(255.0f);
    for (int64_t i = 0; i < n; i += Q8_V) {
        const __mmask16 m = n - i >= Q8_V ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512i word = _mm512_setzero_si512();
        for (int j = 0; j < 4; j++) {
            __m512 u = _mm512_maskz_loadu_ps(m, r[j] + i);
            nan |= _mm512_cmp_ps_mask(u, u, _CMP_UNORD_Q);
            u = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(u, vinv), voff), half);
            u = _mm512_min_ps(_mm512_max_ps(u, lo), hi); /* max(NaN, 0) is 0 */
            word = _mm512_or_si512(word, _mm512_slli_epi32(_mm512_cvttps_epi32(u), 8 * j));
        }
        _mm512_mask_storeu_epi32(dst + i, m, word);
    }
    return nan != 0;
}

/* Codes of image x, one plane of words per four channels; the padding
 * and channels past C hold the code of 0 (`zeros`: a plane of 0s).
 * Returns 1 when x holds a NaN (which has no code). */
static int pack_input(const qdb_conv_q8 *p, const q8_geo *g, const float *x, uint32_t *codes,
                      const float *zeros)
{
    int nan = 0;
    const float inv = p->x_inv_step, off = (float)p->x_offset;
    /* without left and right pads the rows follow one another in both */
    const int whole = g->wp == g->w;
    const int64_t rows = whole ? 1 : g->h, len = whole ? g->h * g->w : g->w, cs = g->h * g->w;
    for (int64_t c4 = 0; c4 < p->c4; c4++) {
        const int64_t c0 = c4 * 4;
        uint32_t *plane = codes + c4 * g->plane;
        if (whole) { /* only the pads and the tail read past the end */
            const int64_t end = (g->pt + g->h) * g->wp;
            memset(plane, p->x_offset, (size_t)(g->pt * g->wp) * 4);
            memset(plane + end, p->x_offset, (size_t)(g->plane - end) * 4);
        } else {
            memset(plane, p->x_offset, (size_t)g->plane * 4);
        }
        for (int64_t y = 0; y < rows; y++) {
            uint32_t *dst = plane + (y + g->pt) * g->wp + g->pl;
            const float *src = x + (c0 * g->h + y) * g->w;
            const float *r[4];
            for (int64_t j = 0; j < 4; j++) /* a last, partial group reads zeros */
                r[j] = c0 + j < p->c ? src + j * cs : zeros;
            nan |= pack_row4_avx512(r[0], r[1], r[2], r[3], len, inv, off, dst);
        }
    }
    return nan;
}
#endif

/* The arguments of one block of Q8_MR output channels. */
typedef struct q8_block {
    const int32_t *x;      /* codes, c4 planes */
    int64_t plane;
    int64_t c4;
    int taps;
    const int64_t *toff;   /* per tap: ky * wp + kx */
    const int32_t *w;      /* the block's packed words */
    const int32_t *comp;   /* the block's Q8_MR entries */
    const float *scale;
    const float *bias;     /* the block's Q8_MR entries, or NULL */
    float *out;            /* the block's first output plane */
    int64_t oplane;        /* floats per output plane */
    int rows;              /* output channels in the block */
    const uint16_t *keep;  /* per vector: its positions with ox < Wout */
    const int64_t *at;     /* per vector: where they go in an output plane */
} q8_block;

#ifdef Q8_HAVE_VNNI
/* VNNI kernel: NV vectors from v0, Q8_MR x NV sums held in registers. */
#define Q8_BLOCK_VNNI(NV)                                                                        \
    __attribute__((target("avx512f,avx512vnni"))) static void block_vnni##NV(const q8_block *b,   \
                                                                              int64_t v0)          \
    {                                                                                            \
        const int64_t p0 = v0 * Q8_V;                                                            \
        __m512i acc[Q8_MR][NV];                                                                  \
        _Pragma("GCC unroll 8") for (int r = 0; r < Q8_MR; r++)                                  \
            _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) acc[r][j] =                     \
            _mm512_setzero_si512();                                                              \
        const int32_t *w = b->w;                                                                 \
        for (int64_t c = 0; c < b->c4; c++) {                                                    \
            const int32_t *xc = b->x + c * b->plane + p0;                                        \
            for (int t = 0; t < b->taps; t++, w += Q8_MR) {                                      \
                const int32_t *xp = xc + b->toff[t];                                             \
                __m512i xv[NV];                                                                  \
                _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) xv[j] =                     \
                    _mm512_loadu_si512((const void *)(xp + j * Q8_V));                           \
                _Pragma("GCC unroll 8") for (int r = 0; r < Q8_MR; r++)                          \
                {                                                                                \
                    const __m512i wv = _mm512_set1_epi32(w[r]);                                  \
                    _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) acc[r][j] =             \
                        _mm512_dpbusd_epi32(acc[r][j], xv[j], wv);                               \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        _Pragma("GCC unroll 8") for (int r = 0; r < Q8_MR; r++)                                  \
        {                                                                                        \
            if (r >= b->rows)                                                                    \
                break;                                                                           \
            const __m512i comp = _mm512_set1_epi32(b->comp[r]);                                  \
            const __m512 sc = _mm512_set1_ps(b->scale[r]);                                       \
            const __m512 bias = _mm512_set1_ps(b->bias[r]);                                      \
            float *y = b->out + r * b->oplane;                                                   \
            _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                                 \
            {                                                                                    \
                __m512 s = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][j], comp));                \
                s = _mm512_mul_ps(s, sc);                                                        \
                /* the positions kept, packed together: the output row */                        \
                _mm512_mask_compressstoreu_ps(y + b->at[v0 + j], b->keep[v0 + j],                 \
                                              _mm512_add_ps(s, bias));                           \
            }                                                                                    \
        }                                                                                        \
    }
Q8_BLOCK_VNNI(3)
Q8_BLOCK_VNNI(1)

#endif

/* ---- the GEMM path: the same integers through OpenBLAS ----
 *
 * The codes, centred (u - x_offset, |.| <= 255) and the kernel's (|.| <=
 * 128), are small integers in float: each product is exact, and so is
 * every partial sum below 2^24, in whatever order and blocking the sgemm
 * adds them. A reduction of at most Q8_GEMM_K terms stays below that
 * (512 * 255 * 128 < 2^24); longer ones are cut into such blocks, each
 * block's exact sum added in int32. With a power-of-two step X itself is
 * its codes times the step, exactly: the product is S * x_step, exact
 * too, and X needs no pass of its own. */
#define Q8_GEMM_K 512

QDB_MULTIVERSION static void centre_codes(const float *x, int64_t n, float inv, float off,
                                          float *xc)
{
    for (int64_t i = 0; i < n; i++)
        xc[i] = (float)code_of(x[i], inv, off) - off;
}

/* y[r][i] = bias[r] + s[r][i] * scale[r]; returns 1 when s holds a NaN
 * (X did: it has no code) */
QDB_MULTIVERSION static int epilogue_f(const float *s, int64_t rows, int64_t n, const float *scale,
                                       const float *bias, float *y)
{
    int nan = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float sc = scale[r], b = bias ? bias[r] : 0.0f;
        for (int64_t i = 0; i < n; i++) {
            float v = s[r * n + i] * sc;
            y[r * n + i] = v + b;
            nan |= s[r * n + i] != s[r * n + i];
        }
    }
    return nan;
}

/* acc += s * unit (exact integers); returns 1 on a NaN, which it skips */
QDB_MULTIVERSION static int add_block(const float *s, size_t n, float unit, int32_t *acc)
{
    int nan = 0;
    for (size_t i = 0; i < n; i++) {
        const float v = s[i] * unit;
        const int bad = v != v;
        nan |= bad;
        acc[i] += (int32_t)(bad ? 0.0f : v);
    }
    return nan;
}

QDB_MULTIVERSION static void int_to_float(const int32_t *acc, size_t n, float *s)
{
    for (size_t i = 0; i < n; i++)
        s[i] = (float)acc[i];
}

static int image_gemm(const qdb_conv_q8 *p, const qdb_window *win, const q8_geo *g, const float *x,
                      const float *bias, float *y, float *scratch)
{
    const int64_t k = p->c * p->kh * p->kw, n = g->hout * g->wout, hw = g->h * g->w;
    const float *src = x; /* X, or its centred codes */
    float *free_at = scratch;
    if (!p->x_pot) {
        centre_codes(x, p->c * hw, p->x_inv_step, (float)p->x_offset, scratch);
        src = scratch;
        free_at += p->c * hw;
    }
    const float *col = src;
    if (!gemm_direct(p, g)) {
        qdb_im2col(src, p->c, win, free_at);
        col = free_at;
        free_at += k * n;
    }
    float *blk = free_at;
    if (k <= Q8_GEMM_K) {
        qdb_sgemm(0, 0, p->m, n, k, 1.0f, p->wf, k, col, n, 0.0f, blk, n);
        /* blk = S (codes) or S * x_step (X): times the rest of the scale */
        return epilogue_f(blk, p->m, n, p->x_pot ? p->w_step : p->scale, bias, y);
    }
    int32_t *acc = (int32_t *)(void *)(blk + p->m * n);
    memset(acc, 0, (size_t)(p->m * n) * sizeof *acc);
    int nan = 0;
    for (int64_t k0 = 0; k0 < k; k0 += Q8_GEMM_K) {
        const int64_t kc = k - k0 < Q8_GEMM_K ? k - k0 : Q8_GEMM_K;
        qdb_sgemm(0, 0, p->m, n, kc, 1.0f, p->wf + k0, k, col + k0 * n, n, 0.0f, blk, n);
        nan |= add_block(blk, (size_t)(p->m * n), p->x_pot ? p->x_inv_step : 1.0f, acc);
    }
    if (nan)
        return 1;
    int_to_float(acc, (size_t)(p->m * n), blk); /* rounded as VNNI's conversion */
    return epilogue_f(blk, p->m, n, p->scale, bias, y);
}

static int isa_forced_portable = -1;

int qdb_conv_q8_isa(void)
{
#ifdef Q8_HAVE_VNNI
    static int have = -1; /* workers may ask at once: the same answer, stored atomically */
    int h = __atomic_load_n(&have, __ATOMIC_RELAXED);
    if (h < 0) {
        __builtin_cpu_init();
        h = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
        __atomic_store_n(&have, h, __ATOMIC_RELAXED);
    }
    return __atomic_load_n(&isa_forced_portable, __ATOMIC_RELAXED) == 1 ? 0 : h;
#else
    return 0;
#endif
}

void qdb_conv_q8_force_portable(int force_portable)
{
    __atomic_store_n(&isa_forced_portable, force_portable, __ATOMIC_RELAXED);
}

int qdb_conv_q8_image(const qdb_conv_q8 *p, const qdb_window *win, const float *x,
                      const float *bias, float *y, float *scratch)
{
    q8_geo g;
    if (geo_of(p, win, &g))
        return -1; /* qdb_conv_q8_scratch refused this geometry */
    if (!qdb_conv_q8_isa())
        return image_gemm(p, win, &g, x, bias, y, scratch);
#ifdef Q8_HAVE_VNNI
    int32_t *codes = (int32_t *)(void *)scratch;
    const int64_t taps = p->kh * p->kw, oplane = g.hout * g.wout;
    float *zeros = scratch + p->c4 * g.plane;
    const size_t at_off = ((size_t)(zeros - scratch) + (size_t)(g.h * g.w) + 1) & ~(size_t)1;
    int64_t *at = (int64_t *)(void *)(scratch + at_off); /* 8-byte aligned */
    uint16_t *keep = (uint16_t *)(at + g.nvec);
    int64_t to[Q8_TAPS_MAX];
    for (int64_t ky = 0; ky < p->kh; ky++)
        for (int64_t kx = 0; kx < p->kw; kx++)
            to[ky * p->kw + kx] = ky * g.wp + kx;
    if (p->c % 4)
        memset(zeros, 0, (size_t)(g.h * g.w) * sizeof *zeros);
    if (pack_input(p, &g, x, (uint32_t *)codes, zeros))
        return 1;
    /* flat position f = oy * wp + ox goes to oy * wout + ox when ox < wout */
    for (int64_t v = 0; v < g.nvec; v++) {
        const int64_t f0 = v * Q8_V, oy = f0 / g.wp, ox = f0 % g.wp;
        at[v] = oy * g.wout + (ox < g.wout ? ox : g.wout);
        keep[v] = 0;
        for (int i = 0; i < Q8_V; i++)
            if ((f0 + i) % g.wp < g.wout && f0 + i < g.hout * g.wp)
                keep[v] |= (uint16_t)(1u << i);
    }
    for (int64_t mb = 0; mb < p->mb; mb++) {
        const int64_t m0 = mb * Q8_MR, rows = p->m - m0 < Q8_MR ? p->m - m0 : Q8_MR;
        float bb[Q8_MR];
        for (int r = 0; r < Q8_MR; r++)
            bb[r] = bias && r < rows ? bias[m0 + r] : 0.0f;
        q8_block b = {codes, g.plane, p->c4, (int)taps, to,
                      p->wpack + mb * p->c4 * taps * Q8_MR, p->comp + m0, p->scale + m0,
                      bb, y + m0 * oplane, oplane, (int)rows, keep, at};
        int64_t v = 0;
        for (; v + Q8_NV <= g.nvec; v += Q8_NV)
            block_vnni3(&b, v);
        for (; v < g.nvec; v++)
            block_vnni1(&b, v);
    }
#endif
    return 0;
}
