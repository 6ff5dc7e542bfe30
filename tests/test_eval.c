/* test_eval.c - model profiles (MODEL.qdb.json) and evaluation over a
 * dataset: top-1 / top-5 and predictions worked out by hand on a tiny
 * linear model, the fit check, and every profile error naming its field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmpdir.h"
#include "eval.h"
#include "model_builder.h"
#include "npy.h"
#include "onnx_import.h"
#include "profile.h"

#define dir tmpdir_path() /* the scratch directory, see tests/support/tmpdir.h */

static void write_text(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* scores = flatten(x) [N,4] x W [4,6]: W picks pixel j into class j (j < 4),
 * class 4 = sum of pixels / 2, class 5 = 0. */
static qdb_graph *linear_model(void)
{
    mb *m = mb_new(13);
    int64_t d[4] = {MB_N, 1, 2, 2};
    mb_input(m, "x", MB_FLOAT, 4, d);
    float w[24] = {0};
    for (int j = 0; j < 4; j++) {
        w[j * 6 + j] = 1.0f;
        w[j * 6 + 4] = 0.5f;
    }
    int64_t wd[2] = {4, 6};
    mb_init_f(m, "w", 2, wd, w);
    mb_node(m, "Flatten", "flat", "x", "f");
    mb_node(m, "MatMul", "mm", "f,w", "y");
    mb_output(m, "y");
    size_t len;
    uint8_t *buf = mb_pack(m, &len);
    mb_free(m);
    qdb_err e = {0};
    qdb_graph *g = qdb_onnx_load_buffer(buf, len, "linear.onnx", NULL, &e);
    free(buf);
    if (!g)
        fail_msg("%s", e.msg);
    return g;
}

static void write_npy(const char *name, qdb_dtype t, int nd, const int64_t *dims, const void *v)
{
    qdb_err e = {0};
    qdb_tensor *x = qdb_tensor_new_dims(t, nd, dims, &e);
    memcpy(x->data.p, v, x->numel * qdb_dtype_size(t));
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(qdb_npy_write(path, x, &e), QDB_OK);
    qdb_tensor_free(x);
}

static void test_eval_top1_top5(void **state)
{
    (void)state;
    /* Five samples. Scores (classes 0..5) by hand:
     *  s0 = [4,0,0,0, 2,0]  pred 0
     *  s1 = [0,3,0,0, 1.5,0] pred 1
     *  s2 = [1,1,1,1, 2,0]  pred 4
     *  s3 = [0,0,0,0, 0,0]  pred 0 (first of ties)
     *  s4 = [0,0,0,-2,-1,0] pred 0
     * Labels 0, 2, 4, 5, 3: s0 top-1; s1 label 2 (score 0) beaten by 3 and
     * 1.5 only -> top-5; s2 top-1; s3 label 5 ties with classes 0..4, which
     * come first (as in the prediction: arg max, first on ties) -> rank 5, a miss;
     * s4 label 3 (-2) beaten by 0,0,0,-1,0 = 5 scores -> miss. */
    const float x[20] = {4, 0, 0, 0, 0, 3, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, -2};
    const int64_t y[5] = {0, 2, 4, 5, 3};
    int64_t xd[4] = {5, 1, 2, 2}, yd[1] = {5};
    write_npy("x.npy", QDB_F32, 4, xd, x);
    write_npy("y.npy", QDB_I64, 1, yd, y);
    char spec[512];
    snprintf(spec, sizeof spec, "npy:%s/x.npy,%s/y.npy", dir, dir);
    qdb_err e = {0};
    qdb_graph *g = linear_model();
    for (int batch = 1; batch <= 4; batch += 3) {
        qdb_dataset *d = qdb_dataset_open(spec, NULL, &e);
        if (!d)
            fail_msg("%s", e.msg);
        qdb_eval_opts o = {.batch = batch};
        qdb_eval_result r;
        assert_int_equal(qdb_eval_run(g, d, &o, &r, &e), QDB_OK);
        assert_int_equal(r.n, 5);
        assert_int_equal(r.n_classes, 6);
        assert_true(r.labelled);
        assert_int_equal(r.top1, 2);
        assert_int_equal(r.top5, 3);
        const int64_t pred[5] = {0, 1, 4, 0, 0};
        assert_memory_equal(r.pred, pred, sizeof pred);
        qdb_eval_result_free(&r);
        qdb_dataset_free(d);
    }
    qdb_graph_free(g);
}

static int cancel_after_first(void *user, int64_t done, int64_t total)
{
    (void)total;
    *(int64_t *)user = done;
    return 1;
}

static void test_eval_cancel_and_fit(void **state)
{
    (void)state;
    qdb_err e = {0};
    char spec[512];
    snprintf(spec, sizeof spec, "npy:%s/x.npy,%s/y.npy", dir, dir);
    qdb_graph *g = linear_model();
    qdb_dataset *d = qdb_dataset_open(spec, NULL, &e);
    int64_t seen = 0;
    qdb_eval_opts o = {.batch = 2, .progress = cancel_after_first, .user = &seen};
    qdb_eval_result r;
    assert_int_equal(qdb_eval_run(g, d, &o, &r, &e), QDB_ERR_CANCELLED);
    assert_int_equal(seen, 2);
    assert_null(r.pred);
    qdb_dataset_free(d);

    /* Samples of another shape: the message names the file and both shapes. */
    const float x[9] = {0};
    int64_t xd[4] = {1, 1, 3, 3};
    write_npy("x33.npy", QDB_F32, 4, xd, x);
    snprintf(spec, sizeof spec, "npy:%s/x33.npy", dir);
    d = qdb_dataset_open(spec, NULL, &e);
    assert_non_null(d);
    assert_int_equal(qdb_eval_check_fit(g, d, &e), QDB_ERR_SHAPE);
    assert_non_null(strstr(e.msg, "x33.npy"));
    assert_non_null(strstr(e.msg, "[1,3,3]"));
    assert_non_null(strstr(e.msg, "[N,1,2,2]"));
    qdb_dataset_free(d);
    qdb_graph_free(g);
}

static void test_profile(void **state)
{
    (void)state;
    qdb_err e = {0};
    qdb_profile p;
    char model[256];
    snprintf(model, sizeof model, "%s/net.onnx", dir);
    /* No profile: empty, not an error. */
    assert_int_equal(qdb_profile_load(model, &p, &e), QDB_OK);
    assert_null(p.path);
    qdb_profile_free(&p);

    write_text("net.qdb.json",
               "{\"datasets\": {\"eval\": \"npy:x.npy,/abs/y.npy\"},"
               " \"preprocess\": {\"scale\": 0.5, \"mean\": [0.25], \"std\": [2, 4, 8]},"
               " \"classes\": [\"a\", \"b\"],"
               " \"reference\": {\"framework\": \"pytorch 1.13\", \"top1\": 0.9, \"n\": 10,"
               " \"predictions\": \"pred.npy\"}}");
    assert_int_equal(qdb_profile_load(model, &p, &e), QDB_OK);
    char want[512];
    snprintf(want, sizeof want, "npy:%s/x.npy,/abs/y.npy", dir);
    assert_string_equal(p.eval, want);
    assert_null(p.calib);
    assert_true(p.scale == 0.5f && p.n_mean == 1 && p.n_std == 3 && p.std[2] == 8.0f);
    assert_int_equal(p.n_classes, 2);
    assert_string_equal(p.classes[1], "b");
    assert_true(p.ref_top1 == 0.9 && p.ref_top5 < 0 && p.ref_n == 10);
    snprintf(want, sizeof want, "%s/pred.npy", dir);
    assert_string_equal(p.ref_predictions, want);
    qdb_dataset_opts o;
    qdb_dataset_opts_init(&o);
    qdb_profile_apply(&p, &o);
    assert_true(o.scale == 0.5f && o.mean[0] == 0.25f && o.n_std == 3);
    qdb_profile_free(&p);

    const struct {
        const char *text, *needle;
    } bad[] = {
        {"{\"datasets\": {\"eval\": 3}}", "'datasets.eval'"},
        {"{\"preprocess\": {\"std\": [1, 0]}}", "'preprocess.std'"},
        {"{\"preprocess\": {\"mean\": [1, 2, 3, 4, 5]}}", "'preprocess.mean'"},
        {"{\"reference\": {\"top1\": 91.2}}", "'reference.top1'"},
        {"{\"classes\": [1, 2]}", "'classes'"},
        {"[1, 2]", "not a JSON object"},
        {"{\"datasets\": {\"eval\": \"npy:x.npy\"", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text("net.qdb.json", bad[i].text);
        assert_int_equal(qdb_profile_load(model, &p, &e), QDB_ERR_FORMAT);
        if (!strstr(e.msg, bad[i].needle) || !strstr(e.msg, "net.qdb.json"))
            fail_msg("case %zu: '%s'", i, e.msg);
        assert_null(p.path);
    }
    char *pp = qdb_profile_path_for("models/demo.onnx");
    assert_string_equal(pp, "models/demo.qdb.json");
    free(pp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_top1_top5),
        cmocka_unit_test(test_eval_cancel_and_fit),
        cmocka_unit_test(test_profile),
    };
    return cmocka_run_group_tests_name("eval", tests, tmpdir_setup, tmpdir_teardown);
}
