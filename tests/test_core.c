/* test_core.c - tensors, shapes, broadcasting and atomic file writes, with
 * expected values worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "broadcast.h"
#include "graph.h"
#include "prepare.h"
#include "tensor.h"

static void test_shape_numel_limits(void **state)
{
    (void)state;
    qdb_err e = {0};
    size_t n;
    qdb_shape s = {.ndim = 3, .d = {2, 3, 4}};
    assert_int_equal(qdb_shape_numel(&s, &n, &e), QDB_OK);
    assert_int_equal(n, 24);
    s = (qdb_shape){.ndim = 2, .d = {0, 5}};
    assert_int_equal(qdb_shape_numel(&s, &n, &e), QDB_OK);
    assert_int_equal(n, 0);
    s = (qdb_shape){.ndim = 2, .d = {-1, 5}};
    assert_int_equal(qdb_shape_numel(&s, &n, &e), QDB_ERR_SHAPE);
    s = (qdb_shape){.ndim = 3, .d = {INT64_MAX / 2, 4, 4}};
    assert_int_equal(qdb_shape_numel(&s, &n, &e), QDB_ERR_NOMEM);
    s = (qdb_shape){.ndim = 9};
    assert_int_equal(qdb_shape_numel(&s, &n, &e), QDB_ERR_SHAPE);
    assert_null(qdb_tensor_new(QDB_F32, &(qdb_shape){.ndim = 2, .d = {1LL << 20, 1LL << 20}}, &e));
    assert_int_equal(e.code, QDB_ERR_NOMEM);
}

/* A float attribute read as an integer saturates: converting an
 * out-of-range float to int64 is undefined (found by fuzz_onnx: ArgMax with
 * axis = -4.2e34). NaN reads as INT64_MIN, which every range check rejects. */
static void test_attr_int_saturates(void **state)
{
    (void)state;
    qdb_attr a[5] = {
        {.name = "big", .type = QDB_ATTR_FLOAT, .f = 4.2e34f},
        {.name = "small", .type = QDB_ATTR_FLOAT, .f = -4.2e34f},
        {.name = "nan", .type = QDB_ATTR_FLOAT, .f = NAN},
        {.name = "edge", .type = QDB_ATTR_FLOAT, .f = 0x1p63f},
        {.name = "fine", .type = QDB_ATTR_FLOAT, .f = -2.75f},
    };
    qdb_node n = {.name = "n", .op_type = "ArgMax", .n_attr = 5, .attr = a};
    assert_true(qdb_attr_int(&n, "big", 0) == INT64_MAX);
    assert_true(qdb_attr_int(&n, "small", 0) == INT64_MIN);
    assert_true(qdb_attr_int(&n, "nan", 0) == INT64_MIN);
    assert_true(qdb_attr_int(&n, "edge", 0) == INT64_MAX);
    assert_true(qdb_attr_int(&n, "fine", 0) == -2);
    assert_true(qdb_attr_int(&n, "absent", 7) == 7);
}

/* A chain of n Relu nodes v0 -> ... -> v<n>, listed in reverse order, with
 * op types "Relu" or, when `unknown`, "Foo<i>" (all distinct). Built through
 * the graph API (the test model builder copies its node array per node). */
static qdb_graph *reversed_chain(int n, int unknown)
{
    qdb_err e = {0};
    qdb_graph *g = qdb_graph_new("chain.onnx");
    char a[32], b[32], name[32], op[32];
    snprintf(a, sizeof a, "v0");
    int v0 = qdb_graph_value(g, a, &e);
    g->values[v0].dtype = QDB_F32;
    g->values[v0].shape = (qdb_shape){.ndim = 1, .d = {4}};
    g->values[v0].shape_known = 1;
    g->inputs = malloc(sizeof *g->inputs);
    g->inputs[g->n_inputs++] = v0;
    for (int i = n - 1; i >= 0; i--) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(op, sizeof op, unknown ? "Foo%d" : "Relu", i);
        int k = qdb_graph_add_node(g, name, op, "", &e);
        assert_true(k >= 0);
        qdb_node *nd = &g->nodes[k];
        nd->opset = 13;
        nd->in = malloc(sizeof *nd->in);
        nd->out = malloc(sizeof *nd->out);
        snprintf(a, sizeof a, "v%d", i);
        snprintf(b, sizeof b, "v%d", i + 1);
        nd->in[nd->n_in++] = qdb_graph_value(g, a, &e);
        nd->out[nd->n_out++] = qdb_graph_value(g, b, &e);
    }
    snprintf(b, sizeof b, "v%d", n);
    g->outputs = malloc(sizeof *g->outputs);
    g->outputs[g->n_outputs++] = qdb_graph_find_value(g, b);
    return g;
}

/* Loading must stay near-linear in the size of the graph: value lookup by
 * name, topological sorting and the unsupported-operator report were each
 * quadratic (a 1.5 MB file of 50k nodes took 27 to 37 s per step; here
 * 200k nodes would take minutes). The bound is generous enough for
 * valgrind. */
static void test_graph_scales(void **state)
{
    (void)state;
    qdb_err e = {0};
    const int n = 200000;
    clock_t t0 = clock();
    qdb_graph *g = reversed_chain(n, 0);
    assert_int_equal(g->n_values, n + 1);
    assert_int_equal(qdb_graph_find_value(g, "v123456"), n - 123456 + 1);
    assert_int_equal(qdb_graph_find_value(g, "nope"), -1);
    assert_int_equal(qdb_graph_toposort(g, &e), QDB_OK);
    for (int i = 0; i < n; i += 9973) {
        char want[32];
        snprintf(want, sizeof want, "n%d", i);
        assert_string_equal(g->nodes[i].name, want);
    }
    qdb_graph_free(g);

    g = reversed_chain(n, 1);
    assert_int_equal(qdb_graph_prepare(g, &e), QDB_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "200000 nodes cannot run: unsupported operators: Foo199999 x1, "));
    qdb_graph_free(g);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    if (secs > 60)
        fail_msg("loading a 200k-node graph took %.1f s of CPU", secs);
}

static void test_tensor_clone_convert(void **state)
{
    (void)state;
    qdb_err e = {0};
    int64_t d[2] = {2, 2};
    qdb_tensor *t = qdb_tensor_new_dims(QDB_F32, 2, d, &e);
    float v[4] = {1.5f, -2.7f, 3.0f, 0.2f};
    memcpy(t->data.f, v, sizeof v);
    qdb_tensor *i = qdb_tensor_convert(t, QDB_I64, &e);
    assert_int_equal(i->data.i[0], 1);
    assert_int_equal(i->data.i[1], -2); /* truncation toward zero */
    qdb_tensor *c = qdb_tensor_clone(t, &e);
    assert_memory_equal(c->data.f, v, sizeof v);
    char buf[32];
    assert_string_equal(qdb_shape_str(&t->shape, buf, sizeof buf), "[2,2]");
    qdb_tensor_free(t);
    qdb_tensor_free(i);
    qdb_tensor_free(c);
}

static void test_broadcast(void **state)
{
    (void)state;
    qdb_err e = {0};
    qdb_shape a = {.ndim = 3, .d = {2, 3, 4}}, b = {.ndim = 2, .d = {3, 1}}, c = {.ndim = 1, .d = {4}};
    const qdb_shape *in[3] = {&a, &b, &c};
    qdb_shape out;
    assert_int_equal(qdb_broadcast_shape(in, 3, &out, &e), QDB_OK);
    assert_int_equal(out.ndim, 3);
    assert_true(out.d[0] == 2 && out.d[1] == 3 && out.d[2] == 4);

    /* Offsets into b ([3,1]) follow the middle index; into c ([4]) the last. */
    qdb_bcast_iter it;
    qdb_bcast_init(&it, &out, in, 3);
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 3; j++)
            for (int64_t k = 0; k < 4; k++) {
                assert_int_equal(it.off[0], i * 12 + j * 4 + k);
                assert_int_equal(it.off[1], j);
                assert_int_equal(it.off[2], k);
                qdb_bcast_next(&it);
            }

    qdb_shape bad = {.ndim = 1, .d = {3}};
    const qdb_shape *in2[2] = {&a, &bad};
    assert_int_equal(qdb_broadcast_shape(in2, 2, &out, &e), QDB_ERR_SHAPE);
    assert_non_null(strstr(e.msg, "[2,3,4]"));
    assert_non_null(strstr(e.msg, "[3]"));
}

static void test_atomic_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/qdb-test-atomic-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/f.txt", dir);
    qdb_err e = {0};
    qdb_atomic_file af;
    assert_int_equal(qdb_atomic_open(&af, path, &e), QDB_OK);
    fputs("first", af.f);
    assert_int_equal(qdb_atomic_commit(&af, &e), QDB_OK);

    /* A new file gets the mode a plain create gives (0666 less the umask),
     * not mkstemp's private 0600; a replaced file keeps its own mode. */
    struct stat sb;
    mode_t mask = umask(022);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0666 & ~mask);
    umask(mask);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(qdb_atomic_open(&af, path, &e), QDB_OK);
    fputs("first", af.f);
    assert_int_equal(qdb_atomic_commit(&af, &e), QDB_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);

    /* An aborted write leaves the old content and no temporary file. */
    assert_int_equal(qdb_atomic_open(&af, path, &e), QDB_OK);
    fputs("second, never committed", af.f);
    qdb_atomic_abort(&af);
    char buf[64] = {0};
    FILE *f = fopen(path, "r");
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "first");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);

    /* Temporaries a killed writer left: removed by the next commit once
     * stale; a fresh one (a writer still at work) and other files stay. */
    char stale[300], fresh[300], other[300];
    snprintf(stale, sizeof stale, "%s.tmp.AbC123", path);
    snprintf(fresh, sizeof fresh, "%s.tmp.XyZ789", path);
    snprintf(other, sizeof other, "%s/g.txt.tmp.AbC123", dir);
    const char *made[] = {stale, fresh, other};
    for (int k = 0; k < 3; k++) {
        FILE *t = fopen(made[k], "w");
        assert_non_null(t);
        fputs("partial", t);
        fclose(t);
    }
    struct timespec old[2] = {{.tv_sec = time(NULL) - QDB_ATOMIC_STALE_SECONDS - 60},
                              {.tv_sec = time(NULL) - QDB_ATOMIC_STALE_SECONDS - 60}};
    assert_int_equal(utimensat(AT_FDCWD, stale, old, 0), 0);
    assert_int_equal(utimensat(AT_FDCWD, other, old, 0), 0);
    assert_int_equal(qdb_atomic_open(&af, path, &e), QDB_OK);
    fputs("third", af.f);
    assert_int_equal(qdb_atomic_commit(&af, &e), QDB_OK);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(fresh, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
    unlink(fresh);
    unlink(other);

    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing-dir/f.txt", dir);
    assert_int_equal(qdb_atomic_open(&af, bad, &e), QDB_ERR_IO);
    assert_non_null(strstr(e.msg, "missing-dir"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_numel_limits),
        cmocka_unit_test(test_attr_int_saturates),
        cmocka_unit_test(test_graph_scales),
        cmocka_unit_test(test_tensor_clone_convert),
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_atomic_file),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
