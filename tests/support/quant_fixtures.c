/* quant_fixtures.c - helpers of the quantization and editor tests (see
 * quant_fixtures.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "executor.h"
#include "npy.h"
#include "onnx_import.h"
#include "quant_fixtures.h"
#include "tmpdir.h"

static uint64_t rng = 88172645463325252ull;

double qf_urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

float qf_nrand(void)
{
    double u = qf_urand() + 1e-12, v = qf_urand();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

void qf_fill(float *p, size_t n, float scale, float offset)
{
    for (size_t i = 0; i < n; i++)
        p[i] = qf_nrand() * scale + offset;
}

qdb_graph *qf_load(mb *m)
{
    size_t len;
    uint8_t *buf = mb_pack(m, &len);
    mb_free(m);
    qdb_err e = {0};
    qdb_graph *g = qdb_onnx_load_buffer(buf, len, "test.onnx", NULL, &e);
    free(buf);
    if (!g)
        fail_msg("%s", e.msg);
    return g;
}

qdb_tensor *qf_run(const qdb_graph *g, const qdb_tensor *x)
{
    qdb_err e = {0};
    qdb_exec *ex = qdb_exec_new(g, &e);
    assert_non_null(ex);
    qdb_tensor *out = NULL;
    if (qdb_exec_run_first(ex, (const qdb_tensor *const *)&x, &out, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    qdb_exec_free(ex);
    return out;
}

double qf_rel_diff(const qdb_tensor *a, const qdb_tensor *b)
{
    assert_int_equal(a->numel, b->numel);
    double m = 0, d = 0;
    for (size_t i = 0; i < a->numel; i++) {
        m = fmax(m, fabs(a->data.f[i]));
        d = fmax(d, fabs((double)a->data.f[i] - b->data.f[i]));
    }
    return m > 0 ? d / m : d;
}

qdb_tensor *qf_random_input(int64_t n, int64_t c, int64_t h, int64_t w, float scale, float off)
{
    int64_t d[4] = {n, c, h, w};
    qdb_tensor *x = qdb_tensor_new_dims(QDB_F32, 4, d, NULL);
    assert_non_null(x);
    qf_fill(x->data.f, x->numel, scale, off);
    return x;
}

qdb_dataset *qf_dataset(const char *name, const qdb_tensor *x, const qdb_tensor *y)
{
    char path[300], ypath[320], spec[700];
    snprintf(path, sizeof path, "%s/%s", tmpdir_path(), name);
    qdb_err e = {0};
    assert_int_equal(qdb_npy_write(path, x, &e), QDB_OK);
    if (y) {
        snprintf(ypath, sizeof ypath, "%s.labels.npy", path);
        assert_int_equal(qdb_npy_write(ypath, y, &e), QDB_OK);
        snprintf(spec, sizeof spec, "npy:%s,%s", path, ypath);
    } else {
        snprintf(spec, sizeof spec, "npy:%s", path);
    }
    qdb_dataset *d = qdb_dataset_open(spec, NULL, &e);
    if (!d)
        fail_msg("%s", e.msg);
    return d;
}

qdb_graph *qf_chain(int n, int ch)
{
    mb *m = mb_new(13);
    int64_t in[4] = {MB_N, ch, 1, 1}, dw[4] = {ch, ch, 1, 1};
    mb_input(m, "x", MB_FLOAT, 4, in);
    char prev[32] = "x";
    float *w = malloc((size_t)(ch * ch) * sizeof *w);
    assert_non_null(w);
    for (int i = 0; i < n; i++) {
        qf_fill(w, (size_t)(ch * ch), 0.05f, 0.0f);
        for (int k = 0; k < ch; k++)
            w[k * ch + k] += 1.0f;
        char wn[32], nn[32], out[32], ins[80];
        snprintf(wn, sizeof wn, "w%d", i);
        snprintf(nn, sizeof nn, "conv%d", i);
        snprintf(out, sizeof out, "y%d", i);
        mb_init_f(m, wn, 4, dw, w);
        snprintf(ins, sizeof ins, "%s,%s", prev, wn);
        mb_node(m, "Conv", nn, ins, out);
        snprintf(prev, sizeof prev, "%s", out);
    }
    free(w);
    mb_output(m, prev);
    return qf_load(m);
}
