/* test_calib_stats.c - calibration statistics as a blob (engine/quant/
 * calib_stats.h) on the MobileNetV2-style demo model, whose quantization
 * adds shift-negative layers between its own: statistics taken from a
 * calibrated and quantized model and installed into a fresh one give the
 * very same quantization (every threshold, every method's threshold, every
 * weight channel); damaged, truncated or foreign blobs are refused and
 * leave the model as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "calib_stats.h"
#include "dataset.h"
#include "onnx_import.h"
#include "profile.h"
#include "qmodel.h"
#include "session_fixture.h"

#define MODEL "models/demo_mbv2.onnx"

typedef struct {
    qdb_graph *g;
    qdb_dataset *d;
    qdb_quant_config cfg;
} demo;

static void demo_open(demo *x)
{
    qdb_err e = {0};
    qdb_profile p;
    if (qdb_profile_load(MODEL, &p, &e) != QDB_OK || !p.calib)
        fail_msg("%s: %s", MODEL, e.msg);
    qdb_dataset_opts o;
    qdb_dataset_opts_init(&o);
    qdb_profile_apply(&p, &o);
    o.n = 64;
    if (!(x->g = qdb_onnx_load(MODEL, NULL, &e)) || !(x->d = qdb_dataset_open(p.calib, &o, &e)))
        fail_msg("%s", e.msg);
    qdb_profile_free(&p);
    qdb_quant_config_init(&x->cfg);
}

static void demo_close(demo *x)
{
    qdb_dataset_free(x->d);
    qdb_graph_free(x->g);
}

static qdb_qmodel *calibrated(demo *x)
{
    qdb_err e = {0};
    qdb_qmodel *q = qdb_qmodel_new(x->g, &x->cfg, &e);
    qdb_run_opts ro = {.batch = 32};
    if (!q || qdb_dataset_rewind(x->d, &e) || qdb_qmodel_calibrate(q, x->d, &ro, &e) ||
        qdb_qmodel_quantize(q, &e))
        fail_msg("%s", e.msg);
    return q;
}

/* Every chosen parameter of a and b is the same. */
static void same_quantization(const qdb_qmodel *a, const qdb_qmodel *b)
{
    assert_int_equal(a->n_layers, b->n_layers);
    assert_int_equal(a->calib_samples, b->calib_samples);
    int snc = 0;
    for (int i = 0; i < a->n_layers; i++) {
        const qdb_qlayer *x = &a->layers[i], *y = &b->layers[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->act_active, y->act_active);
        assert_int_equal(x->act_signed, y->act_signed);
        assert_memory_equal(&x->act_qp, &y->act_qp, sizeof x->act_qp);
        assert_memory_equal(x->thr_by_method, y->thr_by_method, sizeof x->thr_by_method);
        assert_int_equal(x->n_w_qp, y->n_w_qp);
        if (x->n_w_qp)
            assert_memory_equal(x->w_qp, y->w_qp, (size_t)x->n_w_qp * sizeof *x->w_qp);
        assert_true(x->bias_shift_norm == y->bias_shift_norm);
        snc += x->shift_of >= 0;
    }
    assert_true(snc > 0); /* the model's quantization adds correction layers */
}

static void test_round_trip(void **state)
{
    (void)state;
    demo x;
    demo_open(&x);
    qdb_qmodel *a = calibrated(&x);
    void *blob;
    size_t len;
    qdb_err e = {0};
    assert_int_equal(qdb_calib_stats_encode(a, &blob, &len, &e), QDB_OK);
    assert_true(len > 20 && len < 4u << 20);

    /* into a fresh model of the same graph: no calibration, the same result */
    qdb_qmodel *b = qdb_qmodel_new(x.g, &x.cfg, &e);
    assert_non_null(b);
    assert_false(b->calibrated);
    assert_int_equal(qdb_calib_stats_decode(b, blob, len, "blob", &e), QDB_OK);
    assert_true(b->calibrated);
    assert_int_equal(qdb_qmodel_quantize(b, &e), QDB_OK);
    same_quantization(a, b);

    /* into a quantized model: it is reset and quantizes the same again */
    assert_int_equal(qdb_calib_stats_decode(a, blob, len, "blob", &e), QDB_OK);
    assert_int_equal(qdb_qmodel_quantize(a, &e), QDB_OK);
    same_quantization(a, b);

    /* the same statistics encode to the same bytes */
    void *blob2;
    size_t len2;
    assert_int_equal(qdb_calib_stats_encode(b, &blob2, &len2, &e), QDB_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(blob2, blob, len);
    free(blob2);
    free(blob);
    qdb_qmodel_free(a);
    qdb_qmodel_free(b);
    demo_close(&x);
}

static void test_refused(void **state)
{
    (void)state;
    demo x;
    demo_open(&x);
    qdb_qmodel *a = calibrated(&x);
    void *blob;
    size_t len;
    qdb_err e = {0};
    assert_int_equal(qdb_calib_stats_encode(a, &blob, &len, &e), QDB_OK);
    qdb_qmodel *b = qdb_qmodel_new(x.g, &x.cfg, &e);
    assert_non_null(b);
    unsigned char *c = malloc(len);
    assert_non_null(c);

    /* a flipped byte anywhere after the magic: damaged or inconsistent */
    for (size_t at = 8; at < len; at += len / 37 + 1) {
        memcpy(c, blob, len);
        c[at] ^= 0x5a;
        qdb_err_clear(&e);
        assert_int_not_equal(qdb_calib_stats_decode(b, c, len, "blob", &e), QDB_OK);
        assert_non_null(strstr(e.msg, "blob: "));
        assert_false(b->calibrated);
    }
    /* truncated */
    for (size_t n = 0; n < len; n += len / 23 + 1) {
        qdb_err_clear(&e);
        assert_int_not_equal(qdb_calib_stats_decode(b, blob, n, "blob", &e), QDB_OK);
        assert_false(b->calibrated);
    }
    /* not statistics at all */
    assert_int_equal(qdb_calib_stats_decode(b, "hello, world, not stats", 23, "blob", &e),
                     QDB_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "not qdb calibration statistics"));

    /* another model's statistics */
    qdb_graph *g2 = sf_build_model("head");
    qdb_qmodel *o = qdb_qmodel_new(g2, &x.cfg, &e);
    assert_non_null(o);
    assert_int_equal(qdb_calib_stats_decode(o, blob, len, "blob", &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "the model has"));
    assert_false(o->calibrated);

    /* an uncalibrated model has none to give */
    void *none;
    size_t nn;
    assert_int_equal(qdb_calib_stats_encode(o, &none, &nn, &e), QDB_ERR_INVALID);

    /* a refused blob leaves a calibrated model as it was */
    memcpy(c, blob, len);
    c[len / 2] ^= 1;
    const qdb_histogram *h0 = a->layers[1].hist;
    assert_int_not_equal(qdb_calib_stats_decode(a, c, len, "blob", &e), QDB_OK);
    assert_true(a->calibrated && a->quantized);
    assert_ptr_equal(a->layers[1].hist, h0);

    qdb_qmodel_free(o);
    qdb_graph_free(g2);
    free(c);
    free(blob);
    qdb_qmodel_free(a);
    qdb_qmodel_free(b);
    demo_close(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
