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
#include "op.h"

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

/* ---- hostile files (regressions found by tests/fuzz/fuzz_onnx.c) ---------- */

static void assert_load_fails(mb *m, qdb_status code, const char *const *need, size_t n_need)
{
    qdb_err e = {0};
    qdb_graph *g = load(m, &e);
    if (g) {
        qdb_graph_free(g);
        fail_msg("a malformed model loaded");
    }
    assert_int_equal(e.code, code);
    for (size_t i = 0; i < n_need; i++)
        if (!strstr(e.msg, need[i]))
            fail_msg("'%s' lacks '%s'", e.msg, need[i]);
}

/* A value defined twice (as a graph input and as a node's output, or as two
 * graph inputs) used to leak the first definition's tensor in preparation. */
static void test_value_defined_twice(void **state)
{
    (void)state;
    int64_t d[2] = {2, 3};
    mb *m = mb_new(13);
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_input(m, "y", MB_FLOAT, 2, d);
    mb_node(m, "Relu", "relu1", "x", "y");
    mb_output(m, "y");
    const char *need1[] = {"test.onnx", "'relu1' (Relu)", "'y'", "graph input"};
    assert_load_fails(m, QDB_ERR_FORMAT, need1, 4);

    m = mb_new(13);
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_node(m, "Relu", "relu1", "x", "y");
    mb_output(m, "y");
    const char *need2[] = {"test.onnx", "input 'x'", "twice"};
    assert_load_fails(m, QDB_ERR_FORMAT, need2, 3);
}

/* A node without its first output: operators write out[0] unconditionally. */
static void test_node_without_output(void **state)
{
    (void)state;
    int64_t d[2] = {2, 3};
    mb *m = mb_new(13);
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_node(m, "PRelu", "prelu1", "x,x", "");
    mb_node(m, "Relu", "relu1", "x", "y");
    mb_output(m, "y");
    const char *need1[] = {"test.onnx", "'prelu1' (PRelu)", "no output"};
    assert_load_fails(m, QDB_ERR_FORMAT, need1, 3);

    m = mb_new(13);
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_node(m, "MaxPool", "pool1", "x", ",idx");
    mb_attr_ints(m, "kernel_shape", 1, (const int64_t[]){1});
    mb_output(m, "idx");
    const char *need2[] = {"test.onnx", "'pool1' (MaxPool)", "first output"};
    assert_load_fails(m, QDB_ERR_FORMAT, need2, 3);
}

/* Each node's opset is its domain's import (the file's first when a domain
 * is imported twice), else the default domain's; looked up by binary search
 * since a scan per node was quadratic in hostile files. */
static void test_opset_per_domain(void **state)
{
    (void)state;
    qdb_err e = {0};
    int64_t d[2] = {2, 3};
    mb *m = mb_new(13);
    mb_opset(m, "com.x", 5);
    mb_opset(m, "ai.onnx.ml", 2);
    mb_opset(m, "com.x", 7);
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_node(m, "Relu", "r", "x", "a");
    mb_node(m, "Foo", "foo", "a", "b");
    mb_domain(m, "com.x");
    mb_node(m, "Bar", "bar", "b", "c");
    mb_domain(m, "ai.onnx.ml");
    mb_node(m, "Baz", "baz", "c", "y");
    mb_domain(m, "com.y");
    mb_output(m, "y");
    size_t len;
    uint8_t *buf = mb_pack(m, &len);
    mb_free(m);
    qdb_load_opts raw = {.raw = 1};
    qdb_graph *g = qdb_onnx_load_buffer(buf, len, "test.onnx", &raw, &e);
    free(buf);
    if (!g)
        fail_msg("%s", e.msg);
    assert_int_equal(g->n_nodes, 4);
    const int want[4] = {13, 5, 2, 13};
    for (int i = 0; i < 4; i++)
        assert_int_equal(g->nodes[i].opset, want[i]);
    qdb_graph_free(g);
}

/* An integer attribute stored as a huge float is an error, not undefined
 * behaviour (see test_core's test_attr_int_saturates). */
static void test_float_attribute_out_of_range(void **state)
{
    (void)state;
    int64_t d[2] = {2, 3};
    mb *m = mb_new(13);
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_node(m, "ArgMax", "argmax1", "x", "y");
    mb_attr_f(m, "axis", -4.2e34f);
    mb_output(m, "y");
    const char *need[] = {"test.onnx", "'argmax1' (ArgMax)", "axis"};
    assert_load_fails(m, QDB_ERR_INVALID, need, 3);
}

/* An initializer whose shape claims far more elements than its data holds is
 * refused before anything is allocated (the fuzzer's 2 GiB malloc limit
 * caught a 12 GB calloc for a 100-byte file). */
static void test_initializer_size_checked_first(void **state)
{
    (void)state;
    int64_t d[2] = {1, 4};
    int64_t huge[2] = {1LL << 31, 4}; /* 32 GiB of float, under the 64 GiB cap */
    mb *m = mb_new(13);
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_init_raw(m, "w", MB_FLOAT, 2, huge, NULL, 0); /* no data at all */
    mb_node(m, "Add", "add1", "x,w", "y");
    mb_output(m, "y");
    const char *need1[] = {"test.onnx", "initializer 'w'", "0 values", "[2147483648,4]"};
    assert_load_fails(m, QDB_ERR_FORMAT, need1, 4);

    const float four[1] = {4.0f};
    m = mb_new(13);
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_init_raw(m, "w", MB_FLOAT, 2, huge, four, sizeof four); /* 4 bytes of raw data */
    mb_node(m, "Add", "add1", "x,w", "y");
    mb_output(m, "y");
    const char *need2[] = {"test.onnx", "initializer 'w'", "4 bytes of raw data",
                           "need 34359738368"};
    assert_load_fails(m, QDB_ERR_FORMAT, need2, 4);

    /* Too many values is as wrong as too few. */
    const float two[2] = {1.0f, 2.0f};
    int64_t one = 1;
    m = mb_new(13);
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_init_raw(m, "w", MB_FLOAT, 1, &one, two, sizeof two);
    mb_node(m, "Add", "add1", "x,w", "y");
    mb_output(m, "y");
    const char *need3[] = {"initializer 'w'", "8 bytes of raw data", "need 4"};
    assert_load_fails(m, QDB_ERR_FORMAT, need3, 3);
}

/* Input and output slots past a node's own count are NULL: ops must never
 * see the previous node's tensors there (an Identity with no input read the
 * previous node's input in the fuzzer's models). */
static int probe_calls, probe_clean;

static qdb_status probe_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                              qdb_err *e)
{
    (void)n;
    (void)e;
    probe_calls++;
    probe_clean += in[1] == NULL && in[2] == NULL;
    out[0].dtype = in[0]->dtype;
    out[0].shape = in[0]->shape;
    return QDB_OK;
}

static qdb_status probe_forward(const qdb_node *n, const qdb_tensor *const *in,
                                qdb_tensor *const *out, qdb_err *e)
{
    (void)n;
    (void)e;
    probe_clean += in[1] == NULL && in[2] == NULL && out[1] == NULL && out[2] == NULL;
    memcpy(out[0]->data.f, in[0]->data.f, in[0]->numel * sizeof(float));
    return QDB_OK;
}

static const qdb_op probe_op = {.type = "Probe", .infer = probe_infer, .forward = probe_forward};

static void test_executor_clears_unused_slots(void **state)
{
    (void)state;
    qdb_err e = {0};
    int64_t d[2] = {2, 3};
    float ones[6] = {1, 1, 1, 1, 1, 1};
    mb *m = mb_new(13);
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_init_f(m, "c", 2, d, ones);
    mb_node(m, "Sum", "sum3", "x,c,x", "s"); /* three inputs */
    mb_node(m, "Split", "split3", "s", "p,q,r"); /* three outputs */
    mb_attr_i(m, "axis", 1);
    mb_node(m, "Relu", "probe", "q", "y"); /* becomes the probe */
    mb_output(m, "p");
    mb_output(m, "y");
    mb_output(m, "r");
    qdb_graph *g = load(m, &e);
    if (!g)
        fail_msg("%s", e.msg);
    int probe = -1;
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, "probe"))
            probe = i;
    assert_true(probe == g->n_nodes - 1);
    g->nodes[probe].op = &probe_op;
    qdb_exec *x = qdb_exec_new(g, &e);
    assert_non_null(x);
    qdb_tensor *in = qdb_tensor_new_dims(QDB_F32, 2, d, &e);
    for (int k = 0; k < 6; k++)
        in->data.f[k] = (float)k;
    qdb_tensor *out[3] = {NULL, NULL, NULL};
    for (int run = 0; run < 2; run++) {
        probe_calls = probe_clean = 0;
        assert_int_equal(qdb_exec_run(x, (const qdb_tensor *const *)&in, out, &e), QDB_OK);
        assert_int_equal(probe_calls, 1);
        assert_int_equal(probe_clean, 2);
        /* y = 2x + 1 at column 1 */
        assert_true(out[1]->data.f[0] == 3.0f && out[1]->data.f[1] == 9.0f);
        for (int k = 0; k < 3; k++)
            qdb_tensor_free(out[k]);
    }
    qdb_tensor_free(in);
    qdb_exec_free(x);
    qdb_graph_free(g);
}

/* Load-time folding keeps everything it computes until the end of a pass:
 * past 256 MiB in all it stops (320 MiB for small results), so that a chain
 * of nodes cannot make a small file allocate gigabytes. What is not folded
 * runs normally. */
static void test_fold_budget(void **state)
{
    (void)state;
    qdb_err e = {0};
    const int64_t n = 12LL << 20; /* 48 MiB of float per node */
    int64_t one = 1;
    mb *m = mb_new(13);
    mb_input(m, "x", MB_FLOAT, 1, &one);
    mb_init_i(m, "len", 1, &one, &n);
    mb_node(m, "ConstantOfShape", "zeros", "len", "c0"); /* 48 MiB, folded */
    mb_node(m, "Relu", "r1", "c0", "c1");                /* 96 */
    mb_node(m, "Relu", "r2", "c1", "c2");                /* 144 */
    mb_node(m, "Relu", "r3", "c2", "c3");                /* 192 */
    mb_node(m, "Relu", "r4", "c3", "c4");                /* 240 */
    mb_node(m, "Relu", "r5", "c4", "c5");                /* 288: over, runs at run time */
    mb_node(m, "Add", "add", "x,c5", "y");
    mb_output(m, "y");
    /* Small results (64 KiB here) have a 64 MiB reserve past the budget:
     * 16 MiB + 64 MiB = 1280 of them fold, the rest of a chain does not. */
    const int64_t small = 16384;
    mb_init_i(m, "slen", 1, &one, &small);
    mb_node(m, "ConstantOfShape", "s0", "slen", "z0");
    for (int k = 1; k <= 1300; k++) {
        char name[16], in[16], out[16];
        snprintf(name, sizeof name, "s%d", k);
        snprintf(in, sizeof in, "z%d", k - 1);
        snprintf(out, sizeof out, "z%d", k);
        mb_node(m, "Relu", name, in, out);
    }
    mb_output(m, "z1300");
    qdb_graph *g = load(m, &e);
    if (!g)
        fail_msg("%s", e.msg);
    assert_int_equal(g->n_nodes, 2 + 1300 - 1280 + 1);
    assert_string_equal(g->nodes[0].name, "r5");
    assert_string_equal(g->nodes[1].name, "add");
    assert_string_equal(g->nodes[2].name, "s1280");
    qdb_exec *x = qdb_exec_new(g, &e);
    qdb_tensor *in = qdb_tensor_new_dims(QDB_F32, 1, &one, &e);
    in->data.f[0] = 2.5f;
    qdb_tensor *out[2] = {NULL, NULL};
    assert_int_equal(qdb_exec_run(x, (const qdb_tensor *const *)&in, out, &e), QDB_OK);
    assert_int_equal(out[0]->numel, (size_t)n);
    assert_true(out[0]->data.f[0] == 2.5f && out[0]->data.f[n - 1] == 2.5f);
    assert_int_equal(out[1]->numel, (size_t)small);
    assert_true(out[1]->data.f[0] == 0.0f && out[1]->data.f[small - 1] == 0.0f);
    qdb_tensor_free(out[0]);
    qdb_tensor_free(out[1]);
    qdb_tensor_free(in);
    qdb_exec_free(x);
    qdb_graph_free(g);
}

/* min(N, 4) agrees with N at batch 2 and 3: folding must not turn it into
 * the batch size (it would give 8 at batch 8). */
static void test_batch_lookalike_not_folded(void **state)
{
    (void)state;
    qdb_err e = {0};
    mb *m = mb_new(13);
    int64_t d[2] = {MB_N, 4};
    mb_input(m, "x", MB_FLOAT, 2, d);
    int64_t one = 1, zero = 0, four = 4;
    mb_init_i(m, "idx0", 0, NULL, &zero);
    mb_init_i(m, "four", 1, &one, &four);
    mb_node(m, "Shape", "shape", "x", "s");
    mb_node(m, "Gather", "gather", "s,idx0", "n");
    mb_node(m, "Min", "min", "n,four", "y");
    mb_output(m, "y");
    qdb_graph *g = load(m, &e);
    if (!g)
        fail_msg("%s", e.msg);
    qdb_exec *x = qdb_exec_new(g, &e);
    const int64_t batches[3] = {1, 3, 8}, want[3] = {1, 3, 4};
    for (int b = 0; b < 3; b++) {
        int64_t dims[2] = {batches[b], 4};
        qdb_tensor *in = qdb_tensor_new_dims(QDB_F32, 2, dims, &e);
        qdb_tensor *out = NULL;
        assert_int_equal(qdb_exec_run(x, (const qdb_tensor *const *)&in, &out, &e), QDB_OK);
        assert_int_equal(out->dtype, QDB_I64);
        assert_int_equal(out->data.i[0], want[b]);
        qdb_tensor_free(in);
        qdb_tensor_free(out);
    }
    qdb_exec_free(x);
    qdb_graph_free(g);
}

/* Operators read their first input unconditionally: a node without one is
 * refused at load, naming the node. */
static void test_first_input_required(void **state)
{
    (void)state;
    const char *ops[] = {"Relu", "Reshape", "Shape", "Transpose", "Size", "Identity", "Flatten"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        qdb_err e = {0};
        mb *m = mb_new(13);
        int64_t d[2] = {1, 4};
        mb_input(m, "x", MB_FLOAT, 2, d);
        mb_node(m, ops[i], "bad", "", "y");
        mb_output(m, "y");
        qdb_graph *g = load(m, &e);
        if (g)
            fail_msg("%s without input loaded", ops[i]);
        if (!strstr(e.msg, "'bad'") || !strstr(e.msg, "input"))
            fail_msg("%s: message '%s'", ops[i], e.msg);
    }
    qdb_err e = {0};
    mb *m = mb_new(13);
    int64_t d[2] = {1, 4};
    mb_input(m, "x", MB_FLOAT, 2, d);
    mb_node(m, "Reshape", "bad", ",x", "y");
    mb_output(m, "y");
    assert_null(load(m, &e));
    assert_int_equal(e.code, QDB_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "first input is absent"));
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
        cmocka_unit_test(test_value_defined_twice),
        cmocka_unit_test(test_node_without_output),
        cmocka_unit_test(test_opset_per_domain),
        cmocka_unit_test(test_float_attribute_out_of_range),
        cmocka_unit_test(test_initializer_size_checked_first),
        cmocka_unit_test(test_executor_clears_unused_slots),
        cmocka_unit_test(test_fold_budget),
        cmocka_unit_test(test_batch_lookalike_not_folded),
        cmocka_unit_test(test_first_input_required),
    };
    return cmocka_run_group_tests_name("import", tests, NULL, NULL);
}
