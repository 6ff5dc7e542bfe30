/* test_npy.c - the .npy reader and writer: round trips, every element type
 * numpy writes, and each kind of malformed or hostile file. The byte images
 * of the files are written out by hand following numpy's format spec. */
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
#include "npy.h"

#define dir tmpdir_path() /* the scratch directory, see tests/support/tmpdir.h */

/* Write a v1.0 file with the given header dict and raw data bytes. */
static const char *write_npy(const char *name, const char *dict, const void *data, size_t n)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    size_t hl = strlen(dict) + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                             (unsigned char)(hl >> 8)};
    fwrite(pre, 1, 10, f);
    fwrite(dict, 1, strlen(dict), f);
    fputc('\n', f);
    if (n)
        fwrite(data, 1, n, f);
    fclose(f);
    return path;
}

static void test_round_trip_float(void **state)
{
    (void)state;
    qdb_err e = {0};
    int64_t dims[3] = {2, 3, 4};
    qdb_tensor *t = qdb_tensor_new_dims(QDB_F32, 3, dims, &e);
    assert_non_null(t);
    for (size_t i = 0; i < t->numel; i++)
        t->data.f[i] = (float)i * 0.5f - 3.0f;
    char path[256];
    snprintf(path, sizeof path, "%s/rt.npy", dir);
    assert_int_equal(qdb_npy_write(path, t, &e), QDB_OK);

    /* numpy's layout: 10-byte preamble + header padded to a multiple of 64. */
    FILE *f = fopen(path, "rb");
    unsigned char head[128];
    assert_int_equal(fread(head, 1, 128, f), 128);
    fclose(f);
    assert_memory_equal(head, "\x93NUMPY\x01\x00", 8);
    size_t hl = head[8] | head[9] << 8;
    assert_int_equal((10 + hl) % 64, 0);
    assert_non_null(strstr((char *)head + 10, "'descr': '<f4'"));
    assert_non_null(strstr((char *)head + 10, "'shape': (2, 3, 4)"));

    qdb_tensor *r = qdb_npy_read(path, QDB_F32, &e);
    assert_non_null(r);
    assert_int_equal(r->shape.ndim, 3);
    assert_int_equal(r->shape.d[2], 4);
    assert_memory_equal(r->data.f, t->data.f, t->numel * sizeof(float));
    qdb_tensor_free(r);
    qdb_tensor_free(t);
}

static void test_one_dim_and_scalar(void **state)
{
    (void)state;
    qdb_err e = {0};
    int64_t d = 3;
    qdb_tensor *t = qdb_tensor_new_dims(QDB_I64, 1, &d, &e);
    t->data.i[0] = -1;
    t->data.i[1] = 1LL << 40;
    t->data.i[2] = 7;
    char path[256];
    snprintf(path, sizeof path, "%s/v.npy", dir);
    assert_int_equal(qdb_npy_write(path, t, &e), QDB_OK);
    qdb_tensor *r = qdb_npy_read(path, QDB_I64, &e);
    assert_non_null(r);
    assert_int_equal(r->shape.ndim, 1);
    assert_int_equal(r->data.i[1], 1LL << 40);
    qdb_tensor_free(r);
    qdb_tensor_free(t);

    float v = 2.5f;
    const char *p = write_npy("s.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &v, 4);
    r = qdb_npy_read(p, QDB_F32, &e);
    assert_non_null(r);
    assert_int_equal(r->shape.ndim, 0);
    assert_int_equal(r->numel, 1);
    assert_true(r->data.f[0] == 2.5f);
    qdb_tensor_free(r);
}

static void test_element_types(void **state)
{
    (void)state;
    qdb_err e = {0};
    double dv[2] = {1.25, -3.5};
    const char *p = write_npy("d.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", dv, 16);
    qdb_tensor *r = qdb_npy_read(p, QDB_F32, &e);
    assert_non_null(r);
    assert_true(r->data.f[0] == 1.25f && r->data.f[1] == -3.5f);
    qdb_tensor_free(r);

    unsigned char u8[3] = {0, 128, 255};
    p = write_npy("u8.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", u8, 3);
    r = qdb_npy_read(p, QDB_F32, &e);
    assert_non_null(r);
    assert_true(r->data.f[1] == 128.0f && r->data.f[2] == 255.0f);
    qdb_tensor_free(r);

    int16_t i16[2] = {-2, 300};
    p = write_npy("i16.npy", "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", i16, 4);
    r = qdb_npy_read(p, QDB_I64, &e);
    assert_non_null(r);
    assert_int_equal(r->data.i[0], -2);
    assert_int_equal(r->data.i[1], 300);
    qdb_tensor_free(r);

    /* float16: 0x3c00 = 1.0, 0xc000 = -2.0, 0x0001 = 2^-24 (subnormal) */
    uint16_t h[3] = {0x3c00, 0xc000, 0x0001};
    p = write_npy("h.npy", "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", h, 6);
    r = qdb_npy_read(p, QDB_F32, &e);
    assert_non_null(r);
    assert_true(r->data.f[0] == 1.0f && r->data.f[1] == -2.0f);
    assert_true(r->data.f[2] == 5.9604644775390625e-08f);
    qdb_tensor_free(r);
}

static void expect_error(const char *name, const char *dict, const void *data, size_t n,
                         qdb_status code, const char *needle)
{
    qdb_err e = {0};
    const char *p = write_npy(name, dict, data, n);
    qdb_tensor *r = qdb_npy_read(p, QDB_F32, &e);
    assert_null(r);
    assert_int_equal(e.code, code);
    assert_non_null(strstr(e.msg, name)); /* names the file */
    if (!strstr(e.msg, needle))
        fail_msg("message '%s' lacks '%s'", e.msg, needle);
}

static void test_bad_files(void **state)
{
    (void)state;
    float v[4] = {0};
    expect_error("trunc.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", v, 12,
                 QDB_ERR_FORMAT, "truncated");
    expect_error("trail.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", v, 16,
                 QDB_ERR_FORMAT, "trailing");
    /* A short file claiming 32 GB is refused before anything is allocated
     * (found by tests/fuzz/fuzz_npy.c: a 4 GB calloc for a 130-byte file). */
    expect_error("huge.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (8000000000,), }",
                 v, 4, QDB_ERR_FORMAT, "truncated: 1 of 8000000000 elements");
    expect_error("fort.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", v, 16,
                 QDB_ERR_UNSUPPORTED, "Fortran");
    expect_error("be.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", v, 16,
                 QDB_ERR_UNSUPPORTED, "big-endian");
    expect_error("obj.npy", "{'descr': '|O', 'fortran_order': False, 'shape': (4,), }", v, 16,
                 QDB_ERR_UNSUPPORTED, "element type");
    expect_error("nokey.npy", "{'descr': '<f4', 'shape': (4,), }", v, 16, QDB_ERR_FORMAT,
                 "fortran_order");
    expect_error("extra.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", v,
                 16, QDB_ERR_FORMAT, "'x'");
    expect_error("dup.npy", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}",
                 v, 16, QDB_ERR_FORMAT, "repeated");
    expect_error("garbage.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,x), }", v, 16,
                 QDB_ERR_FORMAT, "malformed");
    /* A hostile shape must be refused before allocating. */
    expect_error("huge.npy",
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 1000000000), }",
                 v, 16, QDB_ERR_NOMEM, "too large");

    char path[256];
    snprintf(path, sizeof path, "%s/magic.npy", dir);
    FILE *f = fopen(path, "wb");
    fputs("PK\x03\x04 not numpy", f);
    fclose(f);
    qdb_err e = {0};
    assert_null(qdb_npy_read(path, QDB_F32, &e));
    assert_non_null(strstr(e.msg, "bad magic"));

    assert_null(qdb_npy_read("/nonexistent/x.npy", QDB_F32, &e));
    assert_int_equal(e.code, QDB_ERR_IO);
}

static void test_write_failure_keeps_old_file(void **state)
{
    (void)state;
    qdb_err e = {0};
    int64_t d = 2;
    qdb_tensor *t = qdb_tensor_new_dims(QDB_F32, 1, &d, &e);
    assert_int_not_equal(qdb_npy_write("/nonexistent-dir/y.npy", t, &e), QDB_OK);
    assert_int_equal(e.code, QDB_ERR_IO);
    assert_non_null(strstr(e.msg, "/nonexistent-dir/y.npy"));
    qdb_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_float),
        cmocka_unit_test(test_one_dim_and_scalar),
        cmocka_unit_test(test_element_types),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_write_failure_keeps_old_file),
    };
    return cmocka_run_group_tests_name("npy", tests, tmpdir_setup, tmpdir_teardown);
}
