/* test_import.c - the ONNX importer, graph preparation and the executor:
 * error reporting on bad models, the folding of PyTorch's dynamic-batch
 * shape arithmetic, batch-free execution, and the per-node hook. Models are
 * built in memory (tests/support/model_builder.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "model_builder.h"
#include "onnx_import.h"

static qdb_graph *load(mb *m, qdb_err *e)
{
    size_t len;
    uint8_t *buf = mb_pack(m, &len);
    qdb_graph *g = qdb_onnx_load_buffer(buf, len, "test.onnx", NULL, e);
    free(buf);
    mb_free(m);
    return g;
}

static int count_op(const qdb_graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += strcmp(g->nodes[i].op_type, op) == 0;
    return n;
}

static void test_malformed_protobuf(void **state)
{
    (void)state;
    qdb_err e = {0};
    const char junk[] = "\xff\xff\xff\xff this is not a model";
    assert_null(qdb_onnx_load_buffer(junk, sizeof junk, "junk.onnx", NULL, &e));
    assert_int_equal(e.code, QDB_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "junk.onnx"));
    assert_non_null(strstr(e.msg, "malformed protobuf"));

    /* Every truncation of a valid model fails cleanly or loads; never crashes. */
    mb *m = mb_new(13);
    int64_t d[2] = {MB_N, 4};
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_node(m, "Relu", "r", "x", "y");
    mb_output(m, "y");
    size_t len;
    uint8_t *buf = mb_pack(m, &len);
    mb_free(m);
    for (size_t cut = 0; cut < len; cut++) {
        qdb_graph *g = qdb_onnx_load_buffer(buf, cut, "cut.onnx", NULL, &e);
        qdb_graph_free(g);
    }
    free(buf);
    assert_null(qdb_onnx_load("/nonexistent/model.onnx", NULL, &e));
    assert_int_equal(e.code, QDB_ERR_IO);
    assert_non_null(strstr(e.msg, "/nonexistent/model.onnx"));
}

static void test_unsupported_listed_at_once(void **state)
{
    (void)state;
    qdb_err e = {0};
    mb *m = mb_new(13);
    int64_t d[2] = {1, 4};
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_node(m, "FooOp", "foo_a", "x", "a");
    mb_node(m, "Relu", "r", "a", "b");
    mb_node(m, "BarOp", "bar", "b", "c");
    mb_node(m, "FooOp", "foo_b", "c", "y");
    mb_output(m, "y");
    assert_null(load(m, &e));
    assert_int_equal(e.code, QDB_ERR_UNSUPPORTED);
    const char *need[] = {"test.onnx", "3 nodes", "FooOp", "'foo_a'", "'foo_b'", "BarOp", "'bar'"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!strstr(e.msg, need[i]))
            fail_msg("'%s' lacks '%s'", e.msg, need[i]);
    assert_null(strstr(e.msg, "Relu"));
}

static void test_missing_input_and_shape_mismatch(void **state)
{
    (void)state;
    qdb_err e = {0};
    mb *m = mb_new(13);
    int64_t d[2] = {1, 4};
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_node(m, "Add", "add1", "x,bias", "y"); /* 'bias' initializer missing */
    mb_output(m, "y");
    assert_null(load(m, &e));
    assert_int_equal(e.code, QDB_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "'add1'"));
    assert_non_null(strstr(e.msg, "'bias'"));

    m = mb_new(13);
    mb_input(m, "x", MB_FLOAT, 2, d);
    int64_t bd = 3;
    float b[3] = {1, 2, 3};
    mb_init_f(m, "bias", 1, &bd, b);
    mb_node(m, "Add", "add1", "x,bias", "y"); /* [1,4] + [3] */
    mb_output(m, "y");
    assert_null(load(m, &e));
    assert_int_equal(e.code, QDB_ERR_SHAPE);
    assert_non_null(strstr(e.msg, "test.onnx"));
    assert_non_null(strstr(e.msg, "'add1' (Add)"));
}

/* x.view(x.size(0), -1) as PyTorch exports it with a dynamic batch. */
static mb *flatten_model(void)
{
    mb *m = mb_new(13);
    int64_t d[4] = {MB_N, 2, 3, 2};
    mb_input(m, "x", MB_FLOAT, 4, d);
    int64_t one = 1, zero = 0, minus1 = -1;
    mb_init_i(m, "idx0", 0, NULL, &zero);
    mb_init_i(m, "axes0", 1, &one, &zero);
    mb_init_i(m, "m1", 1, &one, &minus1);
    mb_node(m, "Relu", "relu", "x", "r");
    mb_node(m, "Shape", "shape", "r", "s");
    mb_node(m, "Gather", "gather", "s,idx0", "n");
    mb_node(m, "Unsqueeze", "unsq", "n,axes0", "n1");
    mb_node(m, "Concat", "concat", "n1,m1", "shp");
    mb_attr_i(m, "axis", 0);
    mb_node(m, "Reshape", "reshape", "r,shp", "y");
    mb_output(m, "y");
    return m;
}

static void test_dynamic_batch_shape_chain_folds(void **state)
{
    (void)state;
    qdb_err e = {0};
    qdb_graph *g = load(flatten_model(), &e);
    if (!g)
        fail_msg("%s", e.msg);
    /* Only Relu and Reshape remain: the shape arithmetic became a constant. */
    assert_int_equal(g->n_nodes, 2);
    assert_int_equal(count_op(g, "Relu"), 1);
    assert_int_equal(count_op(g, "Reshape"), 1);
    assert_true(g->batch_free);
    char buf[64];
    assert_string_equal(qdb_value_shape_str(&g->values[g->outputs[0]], buf, sizeof buf), "[N,12]");

    qdb_exec *x = qdb_exec_new(g, &e);
    assert_non_null(x);
    for (int64_t batch = 1; batch <= 5; batch += 4) {
        int64_t d[4] = {batch, 2, 3, 2};
        qdb_tensor *in = qdb_tensor_new_dims(QDB_F32, 4, d, &e);
        for (size_t k = 0; k < in->numel; k++)
            in->data.f[k] = (float)k - 20.0f;
        qdb_tensor *out = NULL;
        assert_int_equal(qdb_exec_run(x, (const qdb_tensor *const *)&in, &out, &e), QDB_OK);
        assert_int_equal(out->shape.ndim, 2);
        assert_int_equal(out->shape.d[0], batch);
        assert_int_equal(out->shape.d[1], 12);
        for (size_t k = 0; k < out->numel; k++)
            assert_true(out->data.f[k] == ((float)k - 20.0f > 0 ? (float)k - 20.0f : 0.0f));
        qdb_tensor_free(in);
        qdb_tensor_free(out);
    }
    /* A wrong non-batch dimension is refused with both shapes named. */
    int64_t bad[4] = {2, 2, 3, 3};
    qdb_tensor *in = qdb_tensor_new_dims(QDB_F32, 4, bad, &e);
    qdb_tensor *out = NULL;
    assert_int_equal(qdb_exec_run(x, (const qdb_tensor *const *)&in, &out, &e), QDB_ERR_SHAPE);
    assert_non_null(strstr(e.msg, "[2,2,3,3]"));
    assert_non_null(strstr(e.msg, "[N,2,3,2]"));
    assert_null(out);
    qdb_tensor_free(in);
    qdb_exec_free(x);
    qdb_graph_free(g);
}

typedef struct hook_state {
    int calls;
    int stop_at;
} hook_state;

static int zero_hook(void *user, const qdb_graph *g, int node, int slot, qdb_tensor *t)
{
    hook_state *h = user;
    h->calls++;
    if (h->stop_at >= 0 && h->calls > h->stop_at)
        return 1;
    if (!strcmp(g->nodes[node].op_type, "Relu") && slot == 0) /* replace the output */
        for (size_t k = 0; k < t->numel; k++)
            t->data.f[k] = 1.0f;
    return 0;
}

static void test_hook_observes_and_replaces(void **state)
{
    (void)state;
    qdb_err e = {0};
    qdb_graph *g = load(flatten_model(), &e);
    assert_non_null(g);
    qdb_exec *x = qdb_exec_new(g, &e);
    hook_state h = {0, -1};
    qdb_exec_set_hook(x, zero_hook, &h);
    int64_t d[4] = {3, 2, 3, 2};
    qdb_tensor *in = qdb_tensor_new_dims(QDB_F32, 4, d, &e);
    qdb_tensor *out = NULL;
    assert_int_equal(qdb_exec_run(x, (const qdb_tensor *const *)&in, &out, &e), QDB_OK);
    assert_int_equal(h.calls, 2); /* Relu and Reshape */
    for (size_t k = 0; k < out->numel; k++)
        assert_true(out->data.f[k] == 1.0f);
    qdb_tensor_free(out);

    h = (hook_state){0, 0}; /* stop at the first node */
    assert_int_equal(qdb_exec_run(x, (const qdb_tensor *const *)&in, &out, &e), QDB_ERR_CANCELLED);
    assert_null(out);
    assert_non_null(strstr(e.msg, "relu"));
    qdb_tensor_free(in);
    qdb_exec_free(x);
    qdb_graph_free(g);
}

static void test_static_graph_folds_constants(void **state)
{
    (void)state;
    qdb_err e = {0};
    mb *m = mb_new(13);
    int64_t d[2] = {2, 2};
    mb_input(m, "x", MB_FLOAT, 2, d);
    float a[4] = {1, 2, 3, 4}, b[4] = {10, 20, 30, 40};
    mb_init_f(m, "a", 2, d, a);
    mb_init_f(m, "b", 2, d, b);
    mb_node(m, "Add", "const_add", "a,b", "ab"); /* folded at load */
    mb_node(m, "Mul", "mul", "x,ab", "y");
    mb_output(m, "y");
    qdb_graph *g = load(m, &e);
    if (!g)
        fail_msg("%s", e.msg);
    assert_int_equal(g->n_nodes, 1);
    assert_false(g->batch_free);
    qdb_exec *x = qdb_exec_new(g, &e);
    qdb_tensor *in = qdb_tensor_new_dims(QDB_F32, 2, d, &e);
    for (int k = 0; k < 4; k++)
        in->data.f[k] = (float)(k + 1);
    qdb_tensor *out = NULL;
    assert_int_equal(qdb_exec_run(x, (const qdb_tensor *const *)&in, &out, &e), QDB_OK);
    const float want[4] = {11, 44, 99, 176};
    assert_memory_equal(out->data.f, want, sizeof want);
    qdb_tensor_free(in);
    qdb_tensor_free(out);
    qdb_exec_free(x);
    qdb_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_protobuf),
        cmocka_unit_test(test_unsupported_listed_at_once),
        cmocka_unit_test(test_missing_input_and_shape_mismatch),
        cmocka_unit_test(test_dynamic_batch_shape_chain_folds),
        cmocka_unit_test(test_hook_observes_and_replaces),
        cmocka_unit_test(test_static_graph_folds_constants),
    };
    return cmocka_run_group_tests_name("import", tests, NULL, NULL);
}
