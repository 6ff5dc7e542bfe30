/* test_quantizer.c - the quantizer grids value by value (power of two,
 * symmetric, uniform with the zero-point fix), the configuration (defaults,
 * parsing, error messages) and the histogram (add, merge, weighted counts,
 * z-filter, shift, degenerate input). Expected values are written by hand or
 * computed with integer formulas independent of the library's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histogram.h"
#include "quant_config.h"
#include "quantizer.h"
#include "ref_math.h"
#include "threshold.h"

/* ---- helpers ------------------------------------------------------------- */

/* Reference symmetric quantizer: integers kmin..kmax times delta. */
static double ref_sym(double x, double t, int n, int sgn)
{
    double delta = t / two_pow(n - sgn);
    double kmin = sgn ? -two_pow(n - 1) : 0.0;
    double kmax = sgn ? two_pow(n - 1) - 1.0 : two_pow(n) - 1.0;
    double k = round_he(x / delta);
    k = k < kmin ? kmin : (k > kmax ? kmax : k);
    return k * delta;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void)
{
    return sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand());
}

/* ---- grids --------------------------------------------------------------- */

static void test_pot_grid_by_hand(void **state)
{
    (void)state;
    /* 2 bits signed, t = 1: grid {-1, -0.5, 0, 0.5} */
    qdb_qparams p = {.method = QDB_QM_POWER_OF_TWO, .n_bits = 2, .is_signed = 1, .threshold = 1.0};
    qdb_qgrid g = qdb_qgrid_make(&p);
    assert_true(g.lo == -1.0f && g.delta == 0.5f && g.levels_m1 == 3.0f);
    assert_true(qdb_qgrid_hi(&g) == 0.5f);
    assert_true(qdb_quantize1(&g, 0.25f) == 0.0f);   /* 0.5 steps: tie to even 0 */
    assert_true(qdb_quantize1(&g, -0.25f) == 0.0f);  /* -0.5: tie to even 0 */
    assert_true(qdb_quantize1(&g, 0.26f) == 0.5f);
    assert_true(qdb_quantize1(&g, 0.75f) == 0.5f);   /* 1.5 -> 2, clamped to 1 */
    assert_true(qdb_quantize1(&g, -0.75f) == -1.0f); /* -1.5 -> -2 */
    assert_true(qdb_quantize1(&g, -0.7f) == -0.5f);
    assert_true(qdb_quantize1(&g, 100.0f) == 0.5f);
    assert_true(qdb_quantize1(&g, -100.0f) == -1.0f);
    /* 2 bits unsigned, t = 1: grid {0, 0.25, 0.5, 0.75} */
    p.is_signed = 0;
    g = qdb_qgrid_make(&p);
    assert_true(g.lo == 0.0f && g.delta == 0.25f && qdb_qgrid_hi(&g) == 0.75f);
    assert_true(qdb_quantize1(&g, 0.125f) == 0.0f);  /* 0.5 -> 0 */
    assert_true(qdb_quantize1(&g, 0.375f) == 0.5f);  /* 1.5 -> 2 */
    assert_true(qdb_quantize1(&g, 0.625f) == 0.5f);  /* 2.5 -> 2 */
    assert_true(qdb_quantize1(&g, -0.3f) == 0.0f);
    assert_true(qdb_quantize1(&g, 0.99f) == 0.75f);
    /* 8 bits signed, t = 4: step 1/32, range [-4, 4 - 1/32] */
    p = (qdb_qparams){.method = QDB_QM_POWER_OF_TWO, .n_bits = 8, .is_signed = 1, .threshold = 4.0};
    g = qdb_qgrid_make(&p);
    assert_true(g.delta == 0.03125f && g.lo == -4.0f && qdb_qgrid_hi(&g) == 3.96875f);
    /* 16 bits unsigned, t = 2: step 2^-15 */
    p = (qdb_qparams){.method = QDB_QM_POWER_OF_TWO, .n_bits = 16, .is_signed = 0, .threshold = 2.0};
    g = qdb_qgrid_make(&p);
    assert_true(g.delta == 1.0f / 16384.0f / 2.0f && g.lo == 0.0f && g.levels_m1 == 65535.0f);
}

/* Every level, every half-way point and points beyond the range, for
 * signed and unsigned at 2, 4, 8 and 16 bits, thresholds 1 (power of two),
 * 0.75 and 3.3 (symmetric). */
static void test_sym_grid_all_levels(void **state)
{
    (void)state;
    const int bits[] = {2, 4, 8, 16};
    const double ts[] = {1.0, 0.75, 3.3};
    for (int bi = 0; bi < 4; bi++)
        for (int sgn = 0; sgn <= 1; sgn++)
            for (int ti = 0; ti < 3; ti++) {
                int n = bits[bi];
                double t = ts[ti];
                qdb_qparams p = {.method = ti == 0 ? QDB_QM_POWER_OF_TWO : QDB_QM_SYMMETRIC,
                                 .n_bits = n, .is_signed = sgn, .threshold = t};
                qdb_qgrid g = qdb_qgrid_make(&p);
                double delta = t / two_pow(n - sgn);
                assert_float_equal(g.delta, delta, delta * 1e-6);
                assert_float_equal(g.lo, sgn ? -t : 0.0, t * 1e-6);
                assert_float_equal(qdb_qgrid_hi(&g), (sgn ? -t : 0.0) + (two_pow(n) - 1) * delta, t * 1e-6);
                assert_true(g.levels_m1 == (float)(two_pow(n) - 1));
                /* use the float grid's own step for the exact checks */
                double d = g.delta, lo = g.lo;
                long levels = 1L << n;
                long stride = n == 16 ? 97 : 1;
                size_t m = 0;
                float *x = malloc(sizeof(float) * (size_t)(3 * levels + 8));
                double *want = malloc(sizeof(double) * (size_t)(3 * levels + 8));
                assert_non_null(x);
                assert_non_null(want);
                for (long k = 0; k < levels; k += stride) {
                    /* grid value k in float arithmetic, as quantizer.h defines it */
                    float dk = g.delta * (float)k;
                    double v = g.lo + dk;
                    x[m] = (float)v, want[m++] = v;                       /* on the grid */
                    /* half-way: a tie (to even) when (x - lo) / delta,
                     * in float as quantizer.h defines it, is exactly
                     * k + 0.5, else the nearer level */
                    x[m] = (float)(lo + (k + 0.5) * d);
                    float fr = (x[m] - g.lo) / g.delta;
                    double r = fr;
                    long kk = r == k + 0.5 ? (k % 2 == 0 ? k : k + 1) : (r < k + 0.5 ? k : k + 1);
                    kk = kk > levels - 1 ? levels - 1 : kk;
                    dk = g.delta * (float)kk;
                    want[m++] = g.lo + dk;
                    x[m] = (float)(lo + (k + 0.3) * d), want[m++] = v;    /* below the half */
                }
                double hi = qdb_qgrid_hi(&g);
                x[m] = (float)(hi + 10 * d), want[m++] = hi;
                x[m] = (float)(lo - 10 * d), want[m++] = lo;
                x[m] = 1e30f, want[m++] = hi;
                x[m] = -1e30f, want[m++] = lo;
                for (size_t i = 0; i < m; i++) {
                    float q1 = qdb_quantize1(&g, x[i]);
                    float q2;
                    qdb_quantize(&g, &x[i], &q2, 1);
                    if (q1 != (float)want[i])
                        print_error("n=%d s=%d t=%g i=%zu x=%.9g q=%.9g want=%.9g\n", n, sgn, t, i,
                                    x[i], q1, want[i]);
                    assert_true(q1 == (float)want[i]);
                    assert_true(q2 == q1);
                    /* the integer reference on the exact threshold agrees */
                    if (ti == 0)
                        assert_true(q1 == (float)ref_sym(x[i], t, n, sgn));
                }
                /* the vector loop on the whole batch */
                float *y = malloc(sizeof(float) * m), *xs = malloc(sizeof(float) * m);
                assert_non_null(y);
                assert_non_null(xs);
                memcpy(xs, x, sizeof(float) * m);
                qdb_quantize(&g, x, y, m);
                size_t clipped = qdb_quantize_inplace(&g, x, m);
                for (size_t i = 0; i < m; i++) {
                    assert_true(x[i] == (float)want[i]);
                    assert_true(y[i] == x[i]);
                }
                /* the four far values, and the half-way point above the top
                 * level when float rounding puts it beyond half a step */
                size_t want_clipped = 0;
                for (size_t i = 0; i < m; i++) {
                    float y0 = (xs[i] - g.lo) / g.delta;
                    want_clipped += y0 < -0.5f || y0 > g.levels_m1 + 0.5f;
                }
                assert_true(want_clipped >= 4 && want_clipped <= 5);
                assert_int_equal(clipped, want_clipped);
                free(y);
                free(xs);
                free(x);
                free(want);
            }
}

static void test_quantize_batch_random(void **state)
{
    (void)state;
    /* random values against the integer reference, 4 bits signed, t = 2 */
    qdb_qparams p = {.method = QDB_QM_POWER_OF_TWO, .n_bits = 4, .is_signed = 1, .threshold = 2.0};
    qdb_qgrid g = qdb_qgrid_make(&p);
    enum { N = 10007 };
    static float x[N], y[N];
    size_t outside = 0;
    for (int i = 0; i < N; i++) {
        x[i] = (float)(nrand() * 1.5);
        /* step 2 / 2^3 = 0.25, grid [-2, 1.75]; clipped: more than half a
         * step outside, below -2.125 or above 1.875 */
        outside += x[i] < -2.125f || x[i] > 1.875f;
    }
    qdb_quantize(&g, x, y, N);
    for (int i = 0; i < N; i++)
        assert_true(y[i] == (float)ref_sym(x[i], 2.0, 4, 1));
    assert_int_equal(qdb_quantize_inplace(&g, x, N), outside);
    for (int i = 0; i < N; i++)
        assert_true(x[i] == y[i]);
    /* NaN stays NaN and is not counted as clipped; inf clamps */
    float z[3] = {NAN, INFINITY, -INFINITY};
    assert_int_equal(qdb_quantize_inplace(&g, z, 3), 2);
    assert_true(isnan(z[0]));
    assert_true(z[1] == 1.75f && z[2] == -2.0f);
}

static void test_uniform_grid_zero_point(void **state)
{
    (void)state;
    /* a > 0: [0.5, 2] becomes [0, 2]; 2 bits: step 2/3 */
    qdb_qparams p = {.method = QDB_QM_UNIFORM, .n_bits = 2, .min = 0.5, .max = 2.0};
    qdb_qgrid g = qdb_qgrid_make(&p);
    assert_true(g.lo == 0.0f);
    assert_float_equal(g.delta, 2.0 / 3.0, 1e-7);
    assert_float_equal(qdb_qgrid_hi(&g), 2.0, 1e-6);
    assert_true(qdb_quantize1(&g, 0.0f) == 0.0f);
    assert_float_equal(qdb_quantize1(&g, 0.9f), 2.0 / 3.0, 1e-6);
    assert_float_equal(qdb_quantize1(&g, 1.1f), 4.0 / 3.0, 1e-6);
    /* b < 0: [-3, -1] becomes [-3, 0]; 4 bits: step 3/15 = 0.2 */
    p = (qdb_qparams){.method = QDB_QM_UNIFORM, .n_bits = 4, .min = -3.0, .max = -1.0};
    g = qdb_qgrid_make(&p);
    assert_float_equal(g.lo, -3.0, 1e-6);
    assert_float_equal(g.delta, 0.2, 1e-7);
    assert_true(qdb_quantize1(&g, 0.0f) == 0.0f);
    assert_float_equal(qdb_qgrid_hi(&g), 0.0, 1e-6);
    assert_float_equal(qdb_quantize1(&g, -0.29f), -0.2, 1e-6);
    assert_float_equal(qdb_quantize1(&g, -0.31f), -0.4, 1e-6);
    /* a < 0 < b: [-0.3, 1.0], 2 bits. scale = 1.3/3; -0.3/scale = -0.692 ->
     * -1, so a' = -1.3/3, b' = 1.0 + 0.3 - 1.3/3 = 2.6/3; grid
     * {-1.3/3, 0, 1.3/3, 2.6/3} */
    p = (qdb_qparams){.method = QDB_QM_UNIFORM, .n_bits = 2, .min = -0.3, .max = 1.0};
    g = qdb_qgrid_make(&p);
    assert_float_equal(g.lo, -1.3 / 3, 1e-6);
    assert_float_equal(g.delta, 1.3 / 3, 1e-6);
    assert_float_equal(qdb_qgrid_hi(&g), 2.6 / 3, 1e-6);
    assert_true(qdb_quantize1(&g, 0.0f) == 0.0f);
    assert_float_equal(qdb_quantize1(&g, 1.0f), 2.6 / 3, 1e-6); /* 1.0 is clipped to b' */
    assert_float_equal(qdb_quantize1(&g, -0.3f), -1.3 / 3, 1e-6);
    assert_float_equal(qdb_quantize1(&g, 0.2f), 0.0, 1e-6);
    /* 8 bits, same range: scale = 1.3/255, -0.3/scale = -58.85 -> -59 */
    p.n_bits = 8;
    g = qdb_qgrid_make(&p);
    double sc = 1.3 / 255;
    assert_float_equal(g.lo, -59 * sc, 1e-6);
    assert_float_equal(g.delta, sc, 1e-8);
    assert_float_equal(qdb_qgrid_hi(&g), 196 * sc, 1e-5);
    assert_true(qdb_quantize1(&g, 0.0f) == 0.0f);
    for (int k = -59; k <= 196; k++) {
        double v = k * sc;
        assert_float_equal(qdb_quantize1(&g, (float)v), v, 1e-6);
        assert_float_equal(qdb_quantize1(&g, (float)(v + 0.4 * sc)), v, 1e-6);
    }
    /* 16 bits: zero still exact */
    p.n_bits = 16;
    g = qdb_qgrid_make(&p);
    assert_true(qdb_quantize1(&g, 0.0f) == 0.0f);
    assert_float_equal(g.delta, 1.3 / 65535, 1e-10);
    /* a tie in the zero-point rounding: [-1, 2], 2 bits: scale 1, a' = -1 */
    p = (qdb_qparams){.method = QDB_QM_UNIFORM, .n_bits = 2, .min = -1.0, .max = 2.0};
    g = qdb_qgrid_make(&p);
    assert_true(g.lo == -1.0f && g.delta == 1.0f);
    /* [-0.5, 2.5], 2 bits: scale 1, -0.5 -> tie -> 0 (even): [0, 3] */
    p = (qdb_qparams){.method = QDB_QM_UNIFORM, .n_bits = 2, .min = -0.5, .max = 2.5};
    g = qdb_qgrid_make(&p);
    assert_true(g.lo == 0.0f && g.delta == 1.0f);
    /* degenerate ranges give a usable grid */
    p = (qdb_qparams){.method = QDB_QM_UNIFORM, .n_bits = 8, .min = 0.0, .max = 0.0};
    g = qdb_qgrid_make(&p);
    assert_true(g.delta > 0.0f && qdb_quantize1(&g, 0.0f) == 0.0f);
    p = (qdb_qparams){.method = QDB_QM_UNIFORM, .n_bits = 8, .min = 2.0, .max = 2.0};
    g = qdb_qgrid_make(&p);
    assert_true(g.lo == 0.0f);
    assert_float_equal(qdb_quantize1(&g, 2.0f), 2.0, 1e-6);
    /* a zero or NaN threshold does not divide by zero */
    qdb_qparams z = {.method = QDB_QM_SYMMETRIC, .n_bits = 8, .is_signed = 1, .threshold = 0.0};
    g = qdb_qgrid_make(&z);
    assert_true(g.delta > 0.0f);
    z.threshold = NAN;
    g = qdb_qgrid_make(&z);
    assert_true(g.delta > 0.0f);
}

static void test_pow2_ceil(void **state)
{
    (void)state;
    assert_true(qdb_pow2_ceil(1.0) == 1.0);
    assert_true(qdb_pow2_ceil(1.5) == 2.0);
    assert_true(qdb_pow2_ceil(0.3) == 0.5);
    assert_true(qdb_pow2_ceil(3.0) == 4.0);
    assert_true(qdb_pow2_ceil(1024.0) == 1024.0);
    assert_true(qdb_pow2_ceil(1025.0) == 2048.0);
    assert_true(qdb_pow2_ceil(0.5000001) == 1.0);
    assert_true(qdb_pow2_ceil(ldexp(1.0, -20)) == ldexp(1.0, -20));
    assert_true(qdb_pow2_ceil(ldexp(1.0, -20) * 1.0000001) == ldexp(1.0, -19));
    assert_true(qdb_pow2_ceil(0.0) == 0.0);
}

/* ---- config -------------------------------------------------------------- */

static void test_config_defaults(void **state)
{
    (void)state;
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    assert_int_equal(c.activation_error_method, QDB_EM_MSE);
    assert_int_equal(c.weights_error_method, QDB_EM_MSE);
    assert_int_equal(c.activation_quantization_method, QDB_QM_POWER_OF_TWO);
    assert_int_equal(c.weights_quantization_method, QDB_QM_SYMMETRIC);
    assert_int_equal(c.activation_n_bits, 8);
    assert_int_equal(c.weights_n_bits, 8);
    assert_true(c.weights_per_channel_threshold && c.enable_weights_quantization &&
                c.enable_activation_quantization && c.weights_bias_correction &&
                c.shift_negative_activation_correction);
    assert_true(c.shift_negative_ratio == 0.05);
    assert_true(isinf(c.z_threshold) && c.z_threshold > 0);
    assert_true(c.min_threshold == 1.0 / 65536);
    assert_true(c.l_p_value == 2.0);
    assert_false(c.shift_negative_threshold_recalculation || c.shift_negative_params_search ||
                 c.relu_unbound_correction || c.input_scaling || c.activation_channel_equalization);
    qdb_err e = {0};
    assert_int_equal(qdb_quant_config_check(&c, &e), QDB_OK);

    qdb_act_config a;
    qdb_weight_config w;
    qdb_act_config_from_global(&c, &a);
    qdb_weight_config_from_global(&c, &w);
    assert_true(a.enabled && a.n_bits == 8 && a.method == QDB_QM_POWER_OF_TWO &&
                a.error_method == QDB_EM_MSE && a.signedness == QDB_SIGN_AUTO && a.shift_negative);
    assert_false(a.fixed_threshold > 0);
    assert_true(isinf(a.z_threshold) && a.min_threshold == c.min_threshold && a.l_p_value == 2.0);
    assert_true(w.enabled && w.n_bits == 8 && w.method == QDB_QM_SYMMETRIC && w.error_method == QDB_EM_MSE &&
                w.per_channel && w.bias_correction);
    assert_false(w.fixed_threshold > 0);

    /* every key has a one-sentence help and prints */
    int n = qdb_config_key_count();
    assert_int_equal(n, 20);
    for (int i = 0; i < n; i++) {
        const qdb_config_key *k = qdb_config_key_at(i);
        assert_non_null(k);
        assert_true(strlen(k->help) > 10 && k->help[strlen(k->help) - 1] == '.');
        assert_ptr_equal(qdb_config_key_find(k->name), k);
        char buf[64];
        qdb_quant_config_get(&c, k, buf, sizeof buf);
        assert_true(buf[0] != '\0');
    }
    assert_null(qdb_config_key_at(n));
    char buf[64];
    qdb_quant_config_get(&c, qdb_config_key_find("z_threshold"), buf, sizeof buf);
    assert_string_equal(buf, "inf");
    qdb_quant_config_get(&c, qdb_config_key_find("shift_negative_ratio"), buf, sizeof buf);
    assert_string_equal(buf, "0.05");
    qdb_quant_config_get(&c, qdb_config_key_find("min_threshold"), buf, sizeof buf);
    assert_true(strtod(buf, NULL) == 1.0 / 65536);
    qdb_quant_config_get(&c, qdb_config_key_find("weights_quantization_method"), buf, sizeof buf);
    assert_string_equal(buf, "SYMMETRIC");
    qdb_quant_config_get(&c, qdb_config_key_find("input_scaling"), buf, sizeof buf);
    assert_string_equal(buf, "false");
    qdb_quant_config_get(&c, qdb_config_key_find("activation_n_bits"), buf, sizeof buf);
    assert_string_equal(buf, "8");
}

static void test_config_set(void **state)
{
    (void)state;
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    qdb_err e = {0};
    assert_int_equal(qdb_quant_config_set_kv(&c, "activation_error_method=kl", &e), QDB_OK);
    assert_int_equal(c.activation_error_method, QDB_EM_KL);
    assert_int_equal(qdb_quant_config_set(&c, "activation_threshold_method", "Lp", &e), QDB_OK);
    assert_int_equal(c.activation_error_method, QDB_EM_LP);
    assert_int_equal(qdb_quant_config_set_kv(&c, " weights_threshold_method = noclipping ", &e), QDB_OK);
    assert_int_equal(c.weights_error_method, QDB_EM_NOCLIPPING);
    assert_int_equal(qdb_quant_config_set_kv(&c, "weights_quantization_method=pot", &e), QDB_OK);
    assert_int_equal(c.weights_quantization_method, QDB_QM_POWER_OF_TWO);
    assert_int_equal(qdb_quant_config_set_kv(&c, "weights_quantization_method=Symmetric_Uniform", &e), QDB_OK);
    assert_int_equal(c.weights_quantization_method, QDB_QM_SYMMETRIC);
    assert_int_equal(qdb_quant_config_set_kv(&c, "ACTIVATION_QUANTIZATION_METHOD=uniform", &e), QDB_OK);
    assert_int_equal(c.activation_quantization_method, QDB_QM_UNIFORM);
    assert_int_equal(qdb_quant_config_set_kv(&c, "activation_error_method=hmse", &e), QDB_OK);
    assert_int_equal(c.activation_error_method, QDB_EM_HMSE);
    assert_int_equal(qdb_quant_config_set_kv(&c, "activation_error_method=MAE", &e), QDB_OK);
    assert_int_equal(c.activation_error_method, QDB_EM_MAE);
    /* booleans */
    const char *t[] = {"true", "1", "on", "yes", "TRUE", "Yes"};
    const char *f[] = {"false", "0", "off", "no", "False", "OFF"};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(qdb_quant_config_set(&c, "input_scaling", t[i], &e), QDB_OK);
        assert_int_equal(c.input_scaling, 1);
        assert_int_equal(qdb_quant_config_set(&c, "input_scaling", f[i], &e), QDB_OK);
        assert_int_equal(c.input_scaling, 0);
    }
    assert_int_equal(qdb_quant_config_set(&c, "input_scaling", "maybe", &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "input_scaling"));
    assert_non_null(strstr(e.msg, "boolean"));
    /* bits */
    assert_int_equal(qdb_quant_config_set_kv(&c, "weights_n_bits=4", &e), QDB_OK);
    assert_int_equal(c.weights_n_bits, 4);
    assert_int_equal(qdb_quant_config_set_kv(&c, "weights_n_bits=2", &e), QDB_OK);
    assert_int_equal(qdb_quant_config_set_kv(&c, "weights_n_bits=16", &e), QDB_OK);
    assert_int_equal(qdb_quant_config_set_kv(&c, "weights_n_bits=1", &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "2 to 16"));
    assert_int_equal(qdb_quant_config_set_kv(&c, "weights_n_bits=17", &e), QDB_ERR_INVALID);
    assert_int_equal(qdb_quant_config_set_kv(&c, "weights_n_bits=8.5", &e), QDB_ERR_INVALID);
    assert_int_equal(c.weights_n_bits, 16);
    /* reals */
    assert_int_equal(qdb_quant_config_set_kv(&c, "shift_negative_ratio=1", &e), QDB_OK);
    assert_int_equal(qdb_quant_config_set_kv(&c, "shift_negative_ratio=0", &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "(0, 1]"));
    assert_int_equal(qdb_quant_config_set_kv(&c, "shift_negative_ratio=1.5", &e), QDB_ERR_INVALID);
    assert_true(c.shift_negative_ratio == 1.0);
    assert_int_equal(qdb_quant_config_set_kv(&c, "z_threshold=3", &e), QDB_OK);
    assert_true(c.z_threshold == 3.0);
    assert_int_equal(qdb_quant_config_set_kv(&c, "z_threshold=inf", &e), QDB_OK);
    assert_true(isinf(c.z_threshold));
    assert_int_equal(qdb_quant_config_set_kv(&c, "z_threshold=-1", &e), QDB_ERR_INVALID);
    assert_int_equal(qdb_quant_config_set_kv(&c, "z_threshold=nan", &e), QDB_ERR_INVALID);
    assert_int_equal(qdb_quant_config_set_kv(&c, "min_threshold=0", &e), QDB_ERR_INVALID);
    assert_int_equal(qdb_quant_config_set_kv(&c, "min_threshold=inf", &e), QDB_ERR_INVALID);
    assert_int_equal(qdb_quant_config_set_kv(&c, "min_threshold=1e-3", &e), QDB_OK);
    assert_true(c.min_threshold == 1e-3);
    assert_int_equal(qdb_quant_config_set_kv(&c, "l_p_value=0.5", &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, ">= 1"));
    assert_int_equal(qdb_quant_config_set_kv(&c, "l_p_value=3", &e), QDB_OK);
    assert_true(c.l_p_value == 3.0);
    assert_int_equal(qdb_quant_config_set_kv(&c, "l_p_value=3x", &e), QDB_ERR_INVALID);
    /* enums */
    assert_int_equal(qdb_quant_config_set_kv(&c, "activation_error_method=MSA", &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "NOCLIPPING"));
    assert_int_equal(qdb_quant_config_set_kv(&c, "weights_quantization_method=LUT", &e), QDB_ERR_INVALID);
    /* malformed and unknown */
    assert_int_equal(qdb_quant_config_set_kv(&c, "z_threshold", &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "key=value"));
    assert_int_equal(qdb_quant_config_set_kv(&c, "=3", &e), QDB_ERR_INVALID);
    assert_int_equal(qdb_quant_config_set_kv(&c, "z_threshold=", &e), QDB_ERR_INVALID);
    assert_int_equal(qdb_quant_config_set_kv(&c, "activation_nbits=4", &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "'activation_nbits'"));
    assert_non_null(strstr(e.msg, "did you mean 'activation_n_bits'"));
    assert_non_null(strstr(e.msg, "valid keys:"));
    assert_non_null(strstr(e.msg, "activation_channel_equalization")); /* the last key is listed */
    assert_int_equal(qdb_quant_config_set_kv(&c, "shift_negativ_ratio=0.1", &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "did you mean 'shift_negative_ratio'"));
    assert_int_equal(qdb_quant_config_set_kv(&c, "banana=1", &e), QDB_ERR_INVALID);
    assert_null(strstr(e.msg, "did you mean"));
    assert_non_null(strstr(e.msg, "valid keys:"));
    assert_null(qdb_config_key_find("banana"));
    assert_non_null(qdb_config_key_find("Weights_Threshold_Method"));
    assert_string_equal(qdb_config_key_find("weights_threshold_method")->name, "weights_error_method");
    /* names and parsing */
    assert_string_equal(qdb_error_method_name(QDB_EM_NOCLIPPING), "NOCLIPPING");
    assert_string_equal(qdb_quant_method_name(QDB_QM_POWER_OF_TWO), "POWER_OF_TWO");
    assert_string_equal(qdb_signedness_name(QDB_SIGN_UNSIGNED), "UNSIGNED");
    assert_int_equal(qdb_signedness_parse("signed"), QDB_SIGN_SIGNED);
    assert_int_equal(qdb_signedness_parse("sign"), -1);
    assert_int_equal(qdb_error_method_parse("KLD"), -1);
    for (int m = 0; m < QDB_EM_COUNT; m++)
        assert_int_equal(qdb_error_method_parse(qdb_error_method_name(m)), m);
    for (int m = 0; m < QDB_QM_COUNT; m++)
        assert_int_equal(qdb_quant_method_parse(qdb_quant_method_name(m)), m);
    /* check() catches a hand-edited struct */
    qdb_quant_config_init(&c);
    c.activation_n_bits = 40;
    assert_int_equal(qdb_quant_config_check(&c, &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "activation_n_bits"));
    qdb_quant_config_init(&c);
    c.l_p_value = 0;
    assert_int_equal(qdb_quant_config_check(&c, &e), QDB_ERR_INVALID);
    /* get / set round trip on every key */
    qdb_quant_config d;
    qdb_quant_config_init(&c);
    c.z_threshold = 2.75;
    c.l_p_value = 1.0 / 3.0 + 1.0;
    memset(&d, 0, sizeof d);
    for (int i = 0; i < qdb_config_key_count(); i++) {
        const qdb_config_key *k = qdb_config_key_at(i);
        char buf[64];
        qdb_quant_config_get(&c, k, buf, sizeof buf);
        assert_int_equal(qdb_quant_config_set(&d, k->name, buf, &e), QDB_OK);
    }
    assert_memory_equal(&c, &d, sizeof c);
}

/* ---- histogram ----------------------------------------------------------- */

static void test_histogram_add_counts(void **state)
{
    (void)state;
    qdb_err e = {0};
    qdb_histogram *h = qdb_histogram_new(0, 0, &e);
    assert_non_null(h);
    assert_int_equal(h->n_bins, QDB_HIST_BINS);
    enum { N = 50000 };
    static float x[N];
    double mn = INFINITY, mx = -INFINITY, s = 0;
    for (int i = 0; i < N; i++) {
        x[i] = (float)nrand();
        mn = fmin(mn, x[i]), mx = fmax(mx, x[i]), s += x[i];
    }
    assert_int_equal(qdb_histogram_add(h, x, N, 1, 1, NULL, &e), QDB_OK);
    assert_float_equal(qdb_histogram_mass(h), N, 1e-9);
    assert_true(h->min == mn && h->max == mx && h->lo == mn && h->hi == mx);
    assert_float_equal(h->sum, s, 1e-6);
    assert_true(h->total == N);
    assert_true(qdb_histogram_nz_min(h) == mn && qdb_histogram_nz_max(h) == mx);
    assert_true(qdb_histogram_max_abs(h) == fmax(-mn, mx));
    assert_true(qdb_histogram_has_negative(h));
    /* each value lands in the bin floor((x - lo) / w) (the max in the last) */
    double w = (mx - mn) / QDB_HIST_BINS;
    static double ref[QDB_HIST_BINS];
    for (int i = 0; i < N; i++) {
        long k = (long)floor((x[i] - mn) / w);
        ref[k >= QDB_HIST_BINS ? QDB_HIST_BINS - 1 : k] += 1;
    }
    for (int i = 0; i < QDB_HIST_BINS; i++)
        assert_true(h->count[i] == ref[i]);
    /* a second batch inside the range: no re-binning */
    assert_int_equal(qdb_histogram_add(h, x, 100, 1, 1, NULL, &e), QDB_OK);
    assert_float_equal(qdb_histogram_mass(h), N + 100, 1e-9);
    assert_true(h->lo == mn && h->hi == mx);
    /* bad arguments */
    assert_int_equal(qdb_histogram_add(h, NULL, 3, 1, 1, NULL, &e), QDB_ERR_INVALID);
    assert_int_equal(qdb_histogram_add(NULL, x, 3, 1, 1, NULL, &e), QDB_ERR_INVALID);
    assert_int_equal(qdb_histogram_add(h, x, 0, 1, 1, NULL, &e), QDB_OK);
    qdb_histogram_free(h);
    assert_null(qdb_histogram_new(1 << 30, 0, &e));
    assert_int_equal(e.code, QDB_ERR_INVALID);
}

/* Cumulative count of h at x, by linear interpolation inside bins. */
static double cdf_at(const qdb_histogram *h, double x)
{
    double w = (h->hi - h->lo) / h->n_bins, c = 0;
    for (int i = 0; i < h->n_bins; i++) {
        double l = h->lo + i * w;
        if (x >= l + w)
            c += h->count[i];
        else if (x > l)
            c += h->count[i] * (x - l) / w;
    }
    return c;
}

static void test_histogram_merge(void **state)
{
    (void)state;
    qdb_err e = {0};
    enum { NA = 40000, NB = 60000 };
    static float all[NA + NB];
    for (int i = 0; i < NA; i++)
        all[i] = (float)nrand(); /* N(0, 1) */
    for (int i = 0; i < NB; i++)
        all[NA + i] = (float)(3.0 + 2.5 * nrand()); /* N(3, 2.5): wider on both sides */
    qdb_histogram *one = qdb_histogram_new(0, 0, &e), *two = qdb_histogram_new(0, 0, &e);
    assert_non_null(one);
    assert_non_null(two);
    assert_int_equal(qdb_histogram_add(one, all, NA + NB, 1, 1, NULL, &e), QDB_OK);
    /* in three batches, each widening the range */
    assert_int_equal(qdb_histogram_add(two, all, NA, 1, 1, NULL, &e), QDB_OK);
    assert_int_equal(qdb_histogram_add(two, all + NA, NB / 2, 1, 1, NULL, &e), QDB_OK);
    assert_int_equal(qdb_histogram_add(two, all + NA + NB / 2, NB / 2, 1, 1, NULL, &e), QDB_OK);
    assert_float_equal(qdb_histogram_mass(two), NA + NB, 1e-6);
    assert_true(two->total == NA + NB);
    assert_true(two->lo == one->lo && two->hi == one->hi);
    assert_true(two->min == one->min && two->max == one->max);
    /* the distributions agree to within a few bins' mass everywhere */
    double worst = 0;
    for (int k = 0; k <= 200; k++) {
        double x = one->lo + (one->hi - one->lo) * k / 200.0;
        double d = fabs(cdf_at(one, x) - cdf_at(two, x));
        worst = d > worst ? d : worst;
    }
    assert_true(worst < 0.002 * (NA + NB));
    /* and the re-binned histogram is not just the second batch */
    assert_float_equal(cdf_at(two, 0.0), 0.5 * NA + 0.1151 * NB, 0.01 * (NA + NB)); /* Phi(0), Phi(-1.2) */
    for (int i = 0; i < two->n_bins; i++)
        assert_true(two->count[i] >= 0.0);
    qdb_histogram_free(one);
    qdb_histogram_free(two);
}

static void test_histogram_weighted(void **state)
{
    (void)state;
    qdb_err e = {0};
    qdb_histogram *h = qdb_histogram_new(16, 1, &e);
    assert_non_null(h);
    /* layout [batch 2, channels 3, plane 2]; channel weights 1, 10, 100 */
    float x[12] = {0, 15, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    float cw[3] = {1, 10, 100};
    assert_int_equal(qdb_histogram_add(h, x, 12, 2, 3, cw, &e), QDB_OK);
    /* range [0, 15], 16 bins of 15/16: value v in bin floor(v * 16 / 15) */
    double want[16] = {0};
    for (int i = 0; i < 12; i++) {
        int k = (int)floor(x[i] * 16.0 / 15.0);
        k = k > 15 ? 15 : k;
        want[k] += cw[(i / 2) % 3];
    }
    for (int i = 0; i < 16; i++)
        assert_float_equal(h->wcount[i], want[i], 1e-12);
    assert_float_equal(qdb_histogram_mass(h), 12, 1e-12);
    assert_int_equal(qdb_histogram_add(h, x, 12, 0, 3, cw, &e), QDB_ERR_INVALID);
    /* without channel weights, the weight is 1 */
    qdb_histogram *u = qdb_histogram_new(16, 1, &e);
    assert_int_equal(qdb_histogram_add(u, x, 12, 1, 1, NULL, &e), QDB_OK);
    for (int i = 0; i < 16; i++)
        assert_true(u->wcount[i] == u->count[i]);
    qdb_histogram *c = qdb_histogram_clone(h, &e);
    assert_non_null(c);
    assert_memory_equal(c->wcount, h->wcount, 16 * sizeof(double));
    assert_ptr_not_equal(c->wcount, h->wcount);
    qdb_histogram_free(c);
    qdb_histogram_free(u);
    qdb_histogram_free(h);
}

static void test_histogram_zfilter_shift(void **state)
{
    (void)state;
    qdb_err e = {0};
    qdb_histogram *h = qdb_histogram_new(8, 0, &e);
    /* range [0, 8], 8 bins of width 1: one value at 0 (bin 0, left edge 0),
     * ten at 3.5 (bin 3, edge 3), ten at 4.5 (bin 4, edge 4), one at 8 (bin
     * 7, edge 7). mean = (0 + 30 + 40 + 7) / 22 = 3.5; var = (2 * 12.25 + 20 * 0.25) / 22
     * = 29.5 / 22; z of bins 0 and 7 = 3.5 / sqrt(29.5 / 22) = 3.0224. */
    float x[22];
    x[0] = 0.0f, x[1] = 8.0f;
    for (int i = 0; i < 10; i++)
        x[2 + i] = 3.5f, x[12 + i] = 4.5f;
    assert_int_equal(qdb_histogram_add(h, x, 22, 1, 1, NULL, &e), QDB_OK);
    assert_true(h->count[0] == 1 && h->count[3] == 10 && h->count[4] == 10 && h->count[7] == 1);
    double zedge = 3.5 / sqrt(29.5 / 22.0);
    qdb_histogram *f = qdb_histogram_zfilter(h, 3.0, &e);
    assert_non_null(f);
    assert_true(zedge > 3.0);
    assert_true(f->count[0] == 0 && f->count[7] == 0 && f->count[3] == 10 && f->count[4] == 10);
    assert_float_equal(qdb_histogram_mass(f), 20, 0);
    assert_true(f->min == 3.0 && f->max == 5.0);
    assert_true(qdb_histogram_max_abs(f) == 5.0);
    qdb_histogram_free(f);
    f = qdb_histogram_zfilter(h, zedge + 1e-6, &e); /* just above: nothing removed */
    assert_float_equal(qdb_histogram_mass(f), 22, 0);
    qdb_histogram_free(f);
    f = qdb_histogram_zfilter(h, 0.4, &e); /* bins 3, 4 have z = 0.5 / 1.158 = 0.432 */
    assert_float_equal(qdb_histogram_mass(f), 0, 0);
    qdb_histogram_free(f);
    f = qdb_histogram_zfilter(h, INFINITY, &e);
    assert_memory_equal(f->count, h->count, 8 * sizeof(double));
    qdb_histogram_free(f);
    assert_null(qdb_histogram_zfilter(h, 0.0, &e));
    assert_int_equal(e.code, QDB_ERR_INVALID);

    /* shift by -4.5: range [-4.5, 3.5], counts unchanged */
    qdb_histogram *s = qdb_histogram_shifted(h, -4.5, &e);
    assert_non_null(s);
    assert_true(s->lo == -4.5 && s->hi == 3.5 && s->min == -4.5 && s->max == 3.5);
    assert_memory_equal(s->count, h->count, 8 * sizeof(double));
    assert_true(qdb_histogram_bin_value(s, 3) == -1.5);
    assert_float_equal(s->sum / s->total, h->sum / h->total - 4.5, 1e-12);
    double var_h = h->sumsq / h->total - pow(h->sum / h->total, 2);
    double var_s = s->sumsq / s->total - pow(s->sum / s->total, 2);
    assert_float_equal(var_s, var_h, 1e-9);
    assert_true(qdb_histogram_has_negative(s) && !qdb_histogram_has_negative(h));
    assert_true(qdb_histogram_nz_min(s) == -4.5 && qdb_histogram_nz_max(s) == 3.5);
    assert_true(qdb_histogram_max_abs(s) == 4.5);
    assert_null(qdb_histogram_shifted(h, NAN, &e));
    qdb_histogram_free(s);
    qdb_histogram_free(h);
}

static void test_histogram_degenerate(void **state)
{
    (void)state;
    qdb_err e = {0};
    qdb_search_opts o = {.method = QDB_QM_POWER_OF_TWO, .error_method = QDB_EM_NOCLIPPING, .n_bits = 8,
                         .is_signed = 0, .min_threshold = 1.0 / 65536, .l_p_value = 2};
    qdb_qparams q;
    /* empty */
    qdb_histogram *h = qdb_histogram_new(0, 0, &e);
    assert_true(qdb_histogram_mass(h) == 0 && qdb_histogram_max_abs(h) == 0);
    assert_false(qdb_histogram_has_negative(h));
    for (int m = 0; m < QDB_EM_COUNT; m++) {
        o.error_method = m;
        assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_OK);
        assert_true(q.threshold == 1.0 / 65536);
    }
    /* only NaN and inf */
    float bad[4] = {NAN, INFINITY, -INFINITY, NAN};
    assert_int_equal(qdb_histogram_add(h, bad, 4, 1, 1, NULL, &e), QDB_OK);
    assert_true(h->nonfinite == 4 && qdb_histogram_mass(h) == 0);
    /* all values equal (2.5), with NaN mixed in */
    float c[1000];
    for (int i = 0; i < 1000; i++)
        c[i] = i % 100 == 7 ? NAN : 2.5f;
    assert_int_equal(qdb_histogram_add(h, c, 1000, 1, 1, NULL, &e), QDB_OK);
    assert_true(h->nonfinite == 14);
    assert_float_equal(qdb_histogram_mass(h), 990, 0);
    assert_true(qdb_histogram_max_abs(h) == 2.5 && qdb_histogram_nz_max(h) == 2.5);
    assert_true(qdb_histogram_nz_min(h) < 2.5 && qdb_histogram_nz_min(h) > 2.49);
    assert_false(qdb_histogram_has_negative(h));
    for (int m = 0; m < QDB_EM_COUNT; m++) {
        o.error_method = m;
        assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_OK);
        assert_true(q.threshold >= 2.5 && q.threshold <= 8.0); /* never clip the only value */
    }
    o.error_method = QDB_EM_NOCLIPPING;
    assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_OK);
    assert_true(q.threshold == 4.0);
    qdb_histogram *z = qdb_histogram_zfilter(h, 3.0, &e); /* std 0: nothing removed */
    assert_float_equal(qdb_histogram_mass(z), 990, 0);
    qdb_histogram_free(z);
    /* a later, wider batch merges normally */
    float more[3] = {-1.0f, 2.5f, 4.0f};
    assert_int_equal(qdb_histogram_add(h, more, 3, 1, 1, NULL, &e), QDB_OK);
    assert_float_equal(qdb_histogram_mass(h), 993, 1e-9);
    assert_true(h->lo == -1.0 && h->hi == 4.0 && h->min == -1.0 && h->max == 4.0);
    assert_true(qdb_histogram_has_negative(h));
    qdb_histogram_free(h);
    /* all equal to a negative number, and to zero */
    h = qdb_histogram_new(0, 0, &e);
    float neg[5] = {-3, -3, -3, -3, -3};
    assert_int_equal(qdb_histogram_add(h, neg, 5, 1, 1, NULL, &e), QDB_OK);
    assert_true(qdb_histogram_max_abs(h) == 3.0 && qdb_histogram_has_negative(h));
    qdb_histogram_free(h);
    h = qdb_histogram_new(0, 0, &e);
    float zero[5] = {0};
    assert_int_equal(qdb_histogram_add(h, zero, 5, 1, 1, NULL, &e), QDB_OK);
    assert_false(qdb_histogram_has_negative(h));
    assert_true(qdb_histogram_max_abs(h) < 1.0 / 65536);
    o.error_method = QDB_EM_MSE;
    assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_OK);
    assert_true(q.threshold == 1.0 / 65536);
    o.method = QDB_QM_UNIFORM;
    assert_int_equal(qdb_select_act(h, &o, &q, &e), QDB_OK);
    qdb_qgrid g = qdb_qgrid_make(&q);
    assert_true(qdb_quantize1(&g, 0.0f) == 0.0f);
    qdb_histogram_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pot_grid_by_hand),
        cmocka_unit_test(test_sym_grid_all_levels),
        cmocka_unit_test(test_quantize_batch_random),
        cmocka_unit_test(test_uniform_grid_zero_point),
        cmocka_unit_test(test_pow2_ceil),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_set),
        cmocka_unit_test(test_histogram_add_counts),
        cmocka_unit_test(test_histogram_merge),
        cmocka_unit_test(test_histogram_weighted),
        cmocka_unit_test(test_histogram_zfilter_shift),
        cmocka_unit_test(test_histogram_degenerate),
    };
    return cmocka_run_group_tests_name("quantizer", tests, NULL, NULL);
}
