/* session_fixture.c - a small session for the tests (see session_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "quant_fixtures.h"
#include "session_fixture.h"

mb *sf_model_builder(const char *head)
{
    mb *m = mb_new(13);
    int64_t in[4] = {MB_N, 4, 2, 2};
    mb_input(m, "x", MB_FLOAT, 4, in);
    float w1[6 * 4 * 9], b1[6], w2[N_CLASS * 6], b2[N_CLASS];
    qf_fill(w1, sizeof w1 / sizeof *w1, 0.4f, 0.0f);
    qf_fill(b1, 6, 0.2f, 0.1f);
    qf_fill(w2, sizeof w2 / sizeof *w2, 1.0f, 0.0f);
    qf_fill(b2, N_CLASS, 0.1f, 0.0f);
    int64_t dw1[4] = {6, 4, 3, 3}, d6[1] = {6}, dw2[4] = {N_CLASS, 6, 1, 1}, d5[1] = {N_CLASS},
            pads[4] = {1, 1, 1, 1};
    mb_init_f(m, "w1", 4, dw1, w1);
    mb_init_f(m, "b1", 1, d6, b1);
    mb_init_f(m, "w2", 4, dw2, w2);
    mb_init_f(m, "b2", 1, d5, b2);
    mb_node(m, "Conv", "conv1", "x,w1,b1", "c1");
    mb_attr_ints(m, "pads", 4, pads);
    mb_node(m, "Relu", "relu1", "c1", "r1");
    mb_node(m, "GlobalAveragePool", "gap", "r1", "p1");
    mb_node(m, "Conv", head, "p1,w2,b2", "y");
    mb_output(m, "y");
    return m;
}

qdb_graph *sf_build_model(const char *head)
{
    return qf_load(sf_model_builder(head));
}

static int file_no;

qdb_dataset *sf_open_set(const qdb_tensor *x, const qdb_tensor *y)
{
    char name[64];
    snprintf(name, sizeof name, "set%d.npy", file_no++);
    return qf_dataset(name, x, y);
}

int64_t sf_arg_max(const float *p, int64_t k)
{
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
        if (p[j] > p[best])
            best = j;
    return best;
}

void sf_new(sf_fixture *f, const char *head)
{
    sf_new_from(f, sf_build_model(head), "test.onnx");
}

void sf_new_from(sf_fixture *f, qdb_graph *g, const char *model_path)
{
    memset(f, 0, sizeof *f);
    f->xc = qf_random_input(N_CALIB, 4, 2, 2, 1.0f, 0.0f);
    f->xe = qf_random_input(N_EVAL, 4, 2, 2, 1.0f, 0.0f);
    qdb_tensor *y = qf_run(g, f->xe);
    assert_int_equal(y->numel, (size_t)(N_EVAL * N_CLASS));
    int64_t dl[1] = {N_EVAL};
    f->ye = qdb_tensor_new_dims(QDB_I64, 1, dl, NULL);
    assert_non_null(f->ye);
    for (int64_t i = 0; i < N_EVAL; i++) {
        int64_t best = sf_arg_max(y->data.f + i * N_CLASS, N_CLASS);
        f->ye->data.i[i] = i % 4 == 3 ? (best + 1) % N_CLASS : best;
        f->float_top1 += i % 4 != 3;
    }
    int classes[N_CLASS] = {0}, distinct = 0;
    for (int64_t i = 0; i < N_EVAL; i++)
        classes[sf_arg_max(y->data.f + i * N_CLASS, N_CLASS)]++;
    for (int k = 0; k < N_CLASS; k++)
        distinct += classes[k] > 0;
    assert_true(distinct >= 2); /* not a constant prediction */
    qdb_tensor_free(y);
    qdb_dataset *dc = sf_open_set(f->xc, NULL), *de = sf_open_set(f->xe, f->ye);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    qdb_err e = {0};
    f->s = qdb_session_new(model_path, "calib", "eval", g, dc, de, &c, NULL, BATCH, &e);
    if (!f->s)
        fail_msg("%s", e.msg);
    assert_int_equal(f->s->q->n_layers, 4);
}

void sf_prepare(sf_fixture *f, qdb_session_progress progress, void *user)
{
    qdb_err e = {0};
    if (qdb_session_prepare(f->s, progress, user, &e) != QDB_OK)
        fail_msg("prepare: %s", e.msg);
    assert_int_equal(f->s->ready, 1);
}

void sf_open(sf_fixture *f, const char *head)
{
    sf_new(f, head);
    sf_prepare(f, NULL, NULL);
}

void sf_twin(const sf_fixture *f, sf_fixture *t)
{
    memset(t, 0, sizeof *t);
    qdb_err e = {0};
    qdb_graph *g = qdb_graph_clone(f->s->g, &e);
    if (!g)
        fail_msg("%s", e.msg);
    t->xc = qdb_tensor_clone(f->xc, NULL);
    t->xe = qdb_tensor_clone(f->xe, NULL);
    t->ye = qdb_tensor_clone(f->ye, NULL);
    assert_true(t->xc && t->xe && t->ye);
    t->float_top1 = f->float_top1;
    qdb_dataset *dc = sf_open_set(t->xc, NULL), *de = sf_open_set(t->xe, t->ye);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    t->s = qdb_session_new("test.onnx", "calib", "eval", g, dc, de, &c, NULL, BATCH, &e);
    if (!t->s)
        fail_msg("%s", e.msg);
    assert_int_equal(t->s->q->n_layers, f->s->q->n_layers);
}

void sf_free(sf_fixture *f)
{
    qdb_session_free(f->s);
    qdb_tensor_free(f->xc);
    qdb_tensor_free(f->xe);
    qdb_tensor_free(f->ye);
}

int sf_layer(const qdb_session *s, const char *name)
{
    for (int i = 0; i < s->q->n_layers; i++)
        if (!strcmp(s->q->layers[i].name, name))
            return i;
    fail_msg("no layer %s", name);
    return -1;
}
