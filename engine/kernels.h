/* kernels.h - qdb's float compute kernels, kept in one place so they can be
 * tuned together: a row-major sgemm over OpenBLAS, im2col / col2im for
 * convolutions, a direct depthwise convolution, pooling loops and
 * per-channel affine maps. Operators (engine/ops/) do attribute parsing and
 * shape logic and call these for the arithmetic.
 *
 * Spatial kernels work on up to three spatial dimensions described by a
 * qdb_window; 1-D and 2-D problems use leading unit dimensions (in = out =
 * k = stride = dil = 1, pads 0), see qdb_window_init(). Callers guarantee
 * sizes are consistent and buffers large enough; kernels never fail. */
#ifndef QDB_KERNELS_H
#define QDB_KERNELS_H

#include <limits.h>
#include <stdint.h>

/* Threads used by the kernels (OpenBLAS). n <= 0 restores the default (the
 * thread count in force before the first call, e.g. OPENBLAS_NUM_THREADS). */
void qdb_kernels_set_threads(int n);
int qdb_kernels_threads(void);

/* The build is portable (x86-64 baseline: SSE2); the hottest loops are
 * also compiled for AVX2 and AVX-512 machines and picked at load time
 * (GCC function multiversioning, an ifunc). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) && \
    defined(__linux__) && !defined(QDB_NO_MULTIVERSION)
#define QDB_MULTIVERSION \
    __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define QDB_MULTIVERSION
#endif
/* For helpers of a multiversioned function: inlined into each version. */
#if defined(__GNUC__)
#define QDB_INLINE inline __attribute__((always_inline))
#else
#define QDB_INLINE inline
#endif

/* Runs fn(ctx, begin, end) over disjoint ranges covering [0, n), split
 * across up to qdb_kernels_threads() threads (a persistent pool; the caller
 * takes part). work estimates the job's multiply-adds: small jobs run
 * inline. fn must not call qdb_parallel_for. */
typedef void (*qdb_par_fn)(void *ctx, int64_t begin, int64_t end);
void qdb_parallel_for(int64_t n, int64_t work, qdb_par_fn fn, void *ctx);

/* OpenBLAS picks its kernels when it is loaded, from the CPU model; on a CPU
 * model newer than the library it falls back to generic SSE3 kernels
 * ("Prescott"), several times slower. This returns the OPENBLAS_CORETYPE a
 * process should be started with to use the CPU's AVX2 / AVX-512 (the
 * features the CPU and the OS both enable), or NULL when the choice already
 * made is fine or OPENBLAS_CORETYPE is set. Front ends act on it (see
 * cli/main.c); the library never changes the environment itself. */
const char *qdb_kernels_blas_coretype_hint(void);

/* For front ends, first thing in main(): when the hint above applies,
 * restart the program once (execv of /proc/self/exe with the same argv)
 * with OPENBLAS_CORETYPE set. Returns only if no restart was needed or it
 * failed (then the slower kernels are used). QDB_NO_BLAS_FIX=1 in the
 * environment disables it. */
void qdb_kernels_fix_blas(char **argv);

/* Largest m, n, k and leading dimension qdb_sgemm accepts (BLAS int). */
#define QDB_SGEMM_DIM_MAX ((int64_t)INT_MAX)

/* Row-major C[m x n] = alpha * op(A) * op(B) + beta * C, with op(A) m x k and
 * op(B) k x n; op(X) is X^T when trans_x is non-zero. lda/ldb/ldc are row
 * strides of the matrices as stored. beta == 0 ignores C's old contents. */
void qdb_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
               float *c, int64_t ldc);

#define QDB_WIN_DIMS 3

/* A sliding window over QDB_WIN_DIMS spatial dimensions. Output position o
 * along a dimension reads input o*stride - pad + j*dil for j in [0, k);
 * positions outside [0, in) are padding. pad may be negative (ConvTranspose
 * with an explicit output_shape). pad_end only matters for AveragePool's
 * count_include_pad. */
typedef struct qdb_window {
    int64_t in[QDB_WIN_DIMS];
    int64_t out[QDB_WIN_DIMS];
    int64_t k[QDB_WIN_DIMS];
    int64_t stride[QDB_WIN_DIMS];
    int64_t dil[QDB_WIN_DIMS];
    int64_t pad[QDB_WIN_DIMS];
    int64_t pad_end[QDB_WIN_DIMS];
} qdb_window;

/* Reset to the identity window (all sizes 1, pads 0). */
void qdb_window_init(qdb_window *w);
int64_t qdb_window_in_size(const qdb_window *w);  /* product of in[] */
int64_t qdb_window_out_size(const qdb_window *w); /* product of out[] */
int64_t qdb_window_k_size(const qdb_window *w);   /* product of k[] */

/* col[(c * ksize + kpos) * out_size + opos] = x[c][input position], zero for
 * padding. x holds `channels` planes of in_size floats. */
void qdb_im2col(const float *x, int64_t channels, const qdb_window *w, float *col);
/* The adjoint of qdb_im2col: accumulates (+=) col into x; padding dropped. */
void qdb_col2im(const float *col, int64_t channels, const qdb_window *w, float *x);

/* Depthwise convolution of one image: y[c] = bias[c] + x[c] (*) wt[c] for
 * each of `channels` channels; wt holds channels * k_size floats, bias may be
 * NULL. */
void qdb_conv_depthwise(const float *x, const float *wt, const float *bias, int64_t channels,
                        const qdb_window *w, float *y);
/* The same, with what a fused group adds (NULL: nothing): `fill` makes the
 * window's padding hold fill_value, as if a Pad with that constant had run
 * first (2-D windows); `chain` runs on each output channel once computed.
 * Returns -1 when out of memory, else 0. */
struct qdb_pw_chain;
typedef struct qdb_dw_extra {
    int fill;
    float fill_value;
    const struct qdb_pw_chain *chain;
} qdb_dw_extra;
int qdb_conv_depthwise_ex(const float *x, const float *wt, const float *bias, int64_t channels,
                          const qdb_window *w, const qdb_dw_extra *ex, float *y);

/* Max pooling of `planes` planes. idx (may be NULL) receives, per output, the
 * flat index of the maximum in the whole input (plane * in_size + position),
 * the position row-major or, when col_major, column-major over the spatial
 * dimensions. A window with no input position gives the lowest value and
 * index -1. */
void qdb_maxpool_f32(const float *x, int64_t planes, const qdb_window *w, float *y, int64_t *idx,
                     int col_major);
void qdb_maxpool_i64(const int64_t *x, int64_t planes, const qdb_window *w, int64_t *y,
                     int64_t *idx, int col_major);
/* Average pooling. include_pad: divide by the window positions inside the
 * padded input [-pad, in + pad_end) instead of the real input positions. */
void qdb_avgpool_f32(const float *x, int64_t planes, const qdb_window *w, int include_pad,
                     float *y);
/* Lp pooling: (sum |x|^p)^(1/p) over the window, padding contributing 0. */
void qdb_lppool_f32(const float *x, int64_t planes, const qdb_window *w, float p, float *y);

/* y[i][c][j] = (x[i][c][j] - center[c]) * scale[c] + shift[c] for i < n,
 * c < channels, j < plane. x and y may alias; center and shift may be NULL
 * (0). Centering first keeps precision when |center| >> the spread. */
void qdb_channel_affine(const float *x, float *y, int64_t n, int64_t channels, int64_t plane,
                        const float *center, const float *scale, const float *shift);
/* y[c][j] = bias[c] for c < channels, j < plane. */
void qdb_fill_bias(float *y, int64_t channels, int64_t plane, const float *bias);
/* y[c][j] += bias[c] for c < channels, j < plane. */
void qdb_add_bias(float *y, int64_t channels, int64_t plane, const float *bias);

#endif
