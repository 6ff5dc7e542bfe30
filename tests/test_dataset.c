/* test_dataset.c - the dataset layer: IDX (plain and gzipped) and .npy files
 * written byte by byte into a temporary directory, read back as batches;
 * preprocessing, seeded subsets, every malformed input's message, and the
 * real Fashion-MNIST test set when it is installed. Expected values are
 * worked out by hand (first label of Fashion-MNIST checked with python's
 * gzip + numpy). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tmpdir.h"
#include "dataset.h"

/* JPEG files for the image-folder tests (PNGs are written by hand below). */
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
/* stb_image_write's JPEG encoder shifts negative ints (its bit writer);
 * that third-party code is kept out of UBSan's shift check, ours is not. */
#ifdef __clang__
#pragma clang attribute push(__attribute__((no_sanitize("shift"))), apply_to = function)
#endif
#include <stb/stb_image_write.h>
#ifdef __clang__
#pragma clang attribute pop
#endif
#pragma GCC diagnostic pop

#define dir tmpdir_path() /* the scratch directory, see tests/support/tmpdir.h */

static char *path_of(const char *name)
{
    static char bufs[64][256];
    static int k;
    char *p = bufs[k++ & 63];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *path, int gz, const unsigned char *b, size_t n)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        if (n)
            assert_int_equal(gzwrite(f, b, (unsigned)n), (int)n);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        if (n)
            assert_int_equal(fwrite(b, 1, n, f), n);
        fclose(f);
    }
}

/* An IDX file: magic 00 00 type ndim, big-endian u32 dims, then `n` data
 * bytes from data. Returns the path. */
static char *write_idx(const char *name, int gz, int type, int ndim, const uint32_t *dims,
                       const unsigned char *data, size_t n)
{
    unsigned char *b = malloc(4 + 4 * (size_t)ndim + n + 1);
    assert_non_null(b);
    b[0] = 0;
    b[1] = 0;
    b[2] = (unsigned char)type;
    b[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        b[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        b[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        b[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        b[7 + 4 * i] = (unsigned char)dims[i];
    }
    if (n)
        memcpy(b + 4 + 4 * ndim, data, n);
    char *p = path_of(name);
    write_bytes(p, gz, b, 4 + 4 * (size_t)ndim + n);
    free(b);
    return p;
}

/* A v1.0 .npy file with the given header dict. */
static char *write_npy(const char *name, const char *dict, const void *data, size_t n)
{
    char *p = path_of(name);
    FILE *f = fopen(p, "wb");
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
    return p;
}

/* 5 images of 2x3: pixel k of image i = 10 i + k; label i = 2 i + 1. */
static void five_images(unsigned char *img, unsigned char *lab)
{
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < 6; k++)
            img[i * 6 + k] = (unsigned char)(10 * i + k);
        lab[i] = (unsigned char)(2 * i + 1);
    }
}

static void test_idx_plain_batches(void **state)
{
    (void)state;
    unsigned char img[30], lab[5];
    five_images(img, lab);
    uint32_t di[3] = {5, 2, 3}, dl[1] = {5};
    char *pi = write_idx("img.idx", 0, 8, 3, di, img, 30);
    char *pl = write_idx("lab.idx", 0, 8, 1, dl, lab, 5);
    char spec[600];
    snprintf(spec, sizeof spec, "idx:%s,%s", pi, pl);
    qdb_err e = {0};
    qdb_dataset *d = qdb_dataset_open(spec, NULL, &e);
    assert_non_null(d);
    assert_int_equal(qdb_dataset_count(d), 5);
    assert_int_equal(qdb_dataset_file_count(d), 5);
    assert_true(qdb_dataset_has_labels(d));
    int64_t chw[3];
    qdb_dataset_sample_shape(d, chw);
    assert_int_equal(chw[0], 1);
    assert_int_equal(chw[1], 2);
    assert_int_equal(chw[2], 3);

    for (int pass = 0; pass < 2; pass++) {
        int sizes[4] = {2, 2, 1, 0}, seen = 0;
        for (int b = 0; b < 4; b++) {
            qdb_tensor *x, *y;
            assert_int_equal(qdb_dataset_next_batch(d, 2, &x, &y, &e), QDB_OK);
            if (sizes[b] == 0) {
                assert_null(x);
                assert_null(y);
                break;
            }
            assert_int_equal(x->shape.ndim, 4);
            assert_int_equal(x->shape.d[0], sizes[b]);
            assert_int_equal(x->shape.d[1], 1);
            assert_int_equal(x->shape.d[2], 2);
            assert_int_equal(x->shape.d[3], 3);
            assert_int_equal(y->dtype, QDB_I64);
            assert_int_equal(y->shape.d[0], sizes[b]);
            for (int j = 0; j < sizes[b]; j++) {
                int i = seen + j;
                assert_int_equal(y->data.i[j], 2 * i + 1);
                for (int k = 0; k < 6; k++)
                    assert_true(x->data.f[j * 6 + k] == (float)(10 * i + k));
            }
            seen += sizes[b];
            qdb_tensor_free(x);
            qdb_tensor_free(y);
        }
        assert_int_equal(seen, 5);
        assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
    }
    qdb_dataset_free(d);

    /* without labels */
    snprintf(spec, sizeof spec, "idx:%s", pi);
    d = qdb_dataset_open(spec, NULL, &e);
    assert_non_null(d);
    assert_false(qdb_dataset_has_labels(d));
    qdb_tensor *x, *y = (qdb_tensor *)&e;
    assert_int_equal(qdb_dataset_next_batch(d, 10, &x, &y, &e), QDB_OK);
    assert_null(y);
    assert_int_equal(x->shape.d[0], 5);
    assert_true(x->data.f[29] == 45.0f);
    qdb_tensor_free(x);
    qdb_dataset_free(d);
}

static void test_idx_gzip_preprocess(void **state)
{
    (void)state;
    unsigned char img[30], lab[5];
    five_images(img, lab);
    uint32_t di[3] = {5, 2, 3}, dl[1] = {5};
    char *pi = write_idx("img.idx.gz", 1, 8, 3, di, img, 30);
    char *pl = write_idx("lab.idx.gz", 1, 8, 1, dl, lab, 5);
    char spec[600];
    snprintf(spec, sizeof spec, "idx:%s,%s", pi, pl);
    qdb_dataset_opts o;
    qdb_dataset_opts_init(&o);
    o.scale = 0.5f;
    o.n_mean = 1;
    o.mean[0] = 1.0f;
    o.n_std = 1;
    o.std[0] = 2.0f;
    qdb_err e = {0};
    qdb_dataset *d = qdb_dataset_open(spec, &o, &e);
    assert_non_null(d);
    qdb_tensor *x, *y;
    assert_int_equal(qdb_dataset_next_batch(d, 4, &x, &y, &e), QDB_OK);
    assert_int_equal(x->shape.d[0], 4);
    /* image 0 pixel 0: (0 * 0.5 - 1) / 2 = -0.5 */
    assert_true(x->data.f[0] == -0.5f);
    /* image 3 pixel 4: x = 34 -> (17 - 1) / 2 = 8 */
    assert_true(x->data.f[3 * 6 + 4] == 8.0f);
    /* image 1 pixel 5: x = 15 -> (7.5 - 1) / 2 = 3.25 */
    assert_true(x->data.f[1 * 6 + 5] == 3.25f);
    assert_int_equal(y->data.i[3], 7);
    qdb_tensor_free(x);
    qdb_tensor_free(y);
    assert_int_equal(qdb_dataset_next_batch(d, 4, &x, &y, &e), QDB_OK);
    assert_int_equal(x->shape.d[0], 1);
    /* image 4 pixel 1: x = 41 -> (20.5 - 1) / 2 = 9.75 */
    assert_true(x->data.f[1] == 9.75f);
    assert_int_equal(y->data.i[0], 9);
    qdb_tensor_free(x);
    qdb_tensor_free(y);
    assert_int_equal(qdb_dataset_next_batch(d, 4, &x, &y, &e), QDB_OK);
    assert_null(x);
    /* rewind on a gzipped file goes back to the start */
    assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
    assert_int_equal(qdb_dataset_next_batch(d, 1, &x, &y, &e), QDB_OK);
    assert_true(x->data.f[2] == 0.0f); /* x = 2 -> (1 - 1) / 2 = 0 */
    qdb_tensor_free(x);
    qdb_tensor_free(y);
    qdb_dataset_free(d);
}

static void test_npy_float_per_channel(void **state)
{
    (void)state;
    /* 2 images of 3 x 1 x 2: value of image n, channel c, pixel p = n*6 + c*2 + p */
    float xs[12];
    for (int i = 0; i < 12; i++)
        xs[i] = (float)i;
    char *px = write_npy("x.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 1, 2), }",
                         xs, sizeof xs);
    int32_t ys[2] = {4, 0};
    char *py = write_npy("y.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", ys,
                         sizeof ys);
    char spec[600];
    snprintf(spec, sizeof spec, "npy:%s,%s", px, py);
    qdb_dataset_opts o;
    qdb_dataset_opts_init(&o);
    o.scale = 2.0f;
    o.n_mean = 3;
    o.mean[0] = 0.5f;
    o.mean[1] = 1.0f;
    o.mean[2] = -1.0f;
    o.n_std = 3;
    o.std[0] = 0.5f;
    o.std[1] = 2.0f;
    o.std[2] = 4.0f;
    qdb_err e = {0};
    qdb_dataset *d = qdb_dataset_open(spec, &o, &e);
    assert_non_null(d);
    int64_t chw[3];
    qdb_dataset_sample_shape(d, chw);
    assert_int_equal(chw[0], 3);
    assert_int_equal(chw[1], 1);
    assert_int_equal(chw[2], 2);
    qdb_tensor *x, *y;
    assert_int_equal(qdb_dataset_next_batch(d, 8, &x, &y, &e), QDB_OK);
    assert_int_equal(x->shape.d[0], 2);
    assert_int_equal(x->shape.d[1], 3);
    /* n0 c0 p1: x=1 -> (2 - 0.5) / 0.5 = 3 */
    assert_true(x->data.f[1] == 3.0f);
    /* n0 c1 p0: x=2 -> (4 - 1) / 2 = 1.5 */
    assert_true(x->data.f[2] == 1.5f);
    /* n0 c2 p1: x=5 -> (10 + 1) / 4 = 2.75 */
    assert_true(x->data.f[5] == 2.75f);
    /* n1 c0 p0: x=6 -> (12 - 0.5) / 0.5 = 23 */
    assert_true(x->data.f[6] == 23.0f);
    /* n1 c2 p0: x=10 -> (20 + 1) / 4 = 5.25 */
    assert_true(x->data.f[10] == 5.25f);
    assert_int_equal(y->data.i[0], 4);
    assert_int_equal(y->data.i[1], 0);
    qdb_tensor_free(x);
    qdb_tensor_free(y);
    qdb_dataset_free(d);
}

static void test_npy_uint8_3d(void **state)
{
    (void)state;
    /* 3 images of 2 x 2, value = 100 n + p; int64 labels */
    unsigned char xs[12];
    for (int n = 0; n < 3; n++)
        for (int p = 0; p < 4; p++)
            xs[n * 4 + p] = (unsigned char)(100 * n + p);
    char *px = write_npy("u.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2, 2), }",
                         xs, sizeof xs);
    int64_t ys[3] = {7, 1LL << 33, 2};
    char *py = write_npy("l.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", ys,
                         sizeof ys);
    char spec[600];
    snprintf(spec, sizeof spec, "npy:%s,%s", px, py);
    qdb_dataset_opts o;
    qdb_dataset_opts_init(&o);
    o.scale = 0.25f;
    o.n_mean = 1;
    o.mean[0] = 10.0f;
    qdb_err e = {0};
    qdb_dataset *d = qdb_dataset_open(spec, &o, &e);
    assert_non_null(d);
    int64_t chw[3];
    qdb_dataset_sample_shape(d, chw);
    assert_int_equal(chw[0], 1);
    assert_int_equal(chw[1], 2);
    assert_int_equal(chw[2], 2);
    qdb_tensor *x, *y;
    assert_int_equal(qdb_dataset_next_batch(d, 2, &x, &y, &e), QDB_OK);
    assert_true(x->data.f[0] == -10.0f); /* 0 * 0.25 - 10 */
    assert_true(x->data.f[7] == 15.75f); /* 103 * 0.25 - 10 = 25.75 - 10 */
    assert_int_equal(y->data.i[1], 1LL << 33);
    qdb_tensor_free(x);
    qdb_tensor_free(y);
    qdb_dataset_free(d);
}

/* 50 images of 1x1 holding their own index; labels the same. */
static void subset_files(char *spec, size_t n)
{
    unsigned char v[50];
    for (int i = 0; i < 50; i++)
        v[i] = (unsigned char)i;
    uint32_t di[3] = {50, 1, 1}, dl[1] = {50};
    char *pi = write_idx("s_img.gz", 1, 8, 3, di, v, 50);
    char *pl = write_idx("s_lab", 0, 8, 1, dl, v, 50);
    snprintf(spec, n, "idx:%s,%s", pi, pl);
}

/* Read all samples (in batches of 3); returns how many, indices in out. */
static int read_all(qdb_dataset *d, int64_t *out)
{
    qdb_err e = {0};
    int k = 0;
    for (;;) {
        qdb_tensor *x, *y;
        assert_int_equal(qdb_dataset_next_batch(d, 3, &x, &y, &e), QDB_OK);
        if (!x)
            break;
        for (int64_t j = 0; j < x->shape.d[0]; j++) {
            assert_int_equal((int64_t)x->data.f[j], y->data.i[j]);
            out[k++] = y->data.i[j];
        }
        qdb_tensor_free(x);
        qdb_tensor_free(y);
    }
    return k;
}

static void test_seeded_subset(void **state)
{
    (void)state;
    char spec[600];
    subset_files(spec, sizeof spec);
    qdb_dataset_opts o;
    qdb_dataset_opts_init(&o);
    o.n = 10;
    qdb_err e = {0};
    int64_t a[50], b[50], c[50];

    /* no shuffle: the first n */
    qdb_dataset *d = qdb_dataset_open(spec, &o, &e);
    assert_non_null(d);
    assert_int_equal(qdb_dataset_count(d), 10);
    assert_int_equal(qdb_dataset_file_count(d), 50);
    assert_int_equal(read_all(d, a), 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(a[i], i);
    qdb_dataset_free(d);

    o.shuffle = 1;
    o.seed = 42;
    d = qdb_dataset_open(spec, &o, &e);
    assert_non_null(d);
    assert_int_equal(qdb_dataset_count(d), 10);
    assert_int_equal(read_all(d, a), 10);
    int contiguous = 1;
    for (int i = 0; i < 10; i++) {
        assert_true(a[i] >= 0 && a[i] < 50);
        if (i > 0)
            assert_true(a[i] > a[i - 1]); /* ascending, so each index at most once */
        if (a[i] != i)
            contiguous = 0;
    }
    assert_false(contiguous);
    /* rewind repeats it */
    assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
    assert_int_equal(read_all(d, b), 10);
    assert_memory_equal(a, b, sizeof(int64_t) * 10);
    qdb_dataset_free(d);

    /* same seed, same subset; another seed, another subset */
    d = qdb_dataset_open(spec, &o, &e);
    assert_int_equal(read_all(d, b), 10);
    assert_memory_equal(a, b, sizeof(int64_t) * 10);
    qdb_dataset_free(d);
    o.seed = 43;
    d = qdb_dataset_open(spec, &o, &e);
    assert_int_equal(read_all(d, c), 10);
    assert_memory_not_equal(a, c, sizeof(int64_t) * 10);
    qdb_dataset_free(d);

    /* n = all with shuffle: every sample once */
    o.n = 50;
    d = qdb_dataset_open(spec, &o, &e);
    assert_int_equal(read_all(d, c), 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal(c[i], i);
    qdb_dataset_free(d);
}

/* Open `spec` and expect failure with `code`, a message containing `needle`
 * and naming `file` (when not NULL). */
static void expect_fail(const char *spec, const qdb_dataset_opts *o, qdb_status code,
                        const char *needle, const char *file)
{
    qdb_err e = {0};
    qdb_dataset *d = qdb_dataset_open(spec, o, &e);
    if (d || e.code != code || !strstr(e.msg, needle) || (file && !strstr(e.msg, file)))
        fail_msg("spec %s: got %s (%d) \"%s\"; want %d with \"%s\" naming %s", spec,
                 d ? "success" : "error", e.code, e.msg, code, needle, file ? file : "-");
}

static void test_bad_idx(void **state)
{
    (void)state;
    unsigned char img[30], lab[5];
    five_images(img, lab);
    uint32_t di[3] = {5, 2, 3}, dl[1] = {5}, d4[1] = {4};
    char spec[600];
    char *good_img = write_idx("g_img", 0, 8, 3, di, img, 30);
    char *good_lab = write_idx("g_lab", 0, 8, 1, dl, lab, 5);

    /* bad magic */
    char *p = path_of("magic");
    write_bytes(p, 0, (const unsigned char *)"\x01\x02\x08\x03rest", 8);
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "bad magic", p);
    /* too short for a magic */
    p = path_of("short");
    write_bytes(p, 0, (const unsigned char *)"\x00\x00", 2);
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "not an IDX file", p);
    /* wrong type byte: float (valid IDX, unsupported) and 0x07 (invalid) */
    p = write_idx("float", 0, 0x0d, 3, di, img, 30);
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_UNSUPPORTED, "0x0d is not supported", p);
    p = write_idx("t7", 0, 0x07, 3, di, img, 30);
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "0x07 is invalid", p);
    /* wrong dims: images with 1 dimension, labels with 3 */
    snprintf(spec, sizeof spec, "idx:%s", good_lab);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "must have 3 dimensions", good_lab);
    snprintf(spec, sizeof spec, "idx:%s,%s", good_img, good_img);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "labels must have 1 dimension", good_img);
    /* a zero dimension */
    uint32_t dz[3] = {5, 0, 3};
    p = write_idx("zero", 0, 8, 3, dz, img, 0);
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "is 0", p);
    /* truncated header */
    p = write_idx("hdr", 0, 8, 3, di, NULL, 0);
    write_bytes(p, 0, (const unsigned char *)"\x00\x00\x08\x03\x00\x00\x00\x05\x00", 9);
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "truncated IDX header", p);
    /* truncated data, plain and gzipped; a huge header on a short file */
    p = write_idx("trunc", 0, 8, 3, di, img, 29);
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "truncated: the header promises 5 images of 6 bytes, "
                "the data holds 29 bytes", p);
    p = write_idx("trunc.gz", 1, 8, 3, di, img, 24);
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "holds 24 bytes", p);
    uint32_t huge[3] = {0xffffffffu, 1000, 1000};
    p = write_idx("huge", 0, 8, 3, huge, img, 30);
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "truncated", p);
    /* trailing bytes */
    p = write_idx("trail", 0, 8, 1, d4, lab, 5);
    snprintf(spec, sizeof spec, "idx:%s,%s", good_img, p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "trailing bytes after 4 labels", p);
    /* label count differs */
    p = write_idx("four", 0, 8, 1, d4, lab, 4);
    snprintf(spec, sizeof spec, "idx:%s,%s", good_img, p);
    expect_fail(spec, NULL, QDB_ERR_SHAPE, "4 labels for the 5 images", p);
    /* labels of another type */
    unsigned char l32[20] = {0};
    p = write_idx("l32", 0, 0x0c, 1, dl, l32, 20);
    snprintf(spec, sizeof spec, "idx:%s,%s", good_img, p);
    expect_fail(spec, NULL, QDB_ERR_UNSUPPORTED, "labels must be unsigned bytes", p);
    /* a corrupt gzip stream: the compressed bytes of a valid file altered */
    p = write_idx("corrupt.gz", 1, 8, 3, di, img, 30);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, -6, SEEK_END); /* inside the CRC32 / size trailer */
    fputc(0x5a, f);
    fputc(0xa5, f);
    fclose(f);
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "corrupt gzip data", p);
    /* the same far from the header, where it is found by the scan at open */
    size_t big = 5 * 400 * 400;
    unsigned char *noise = malloc(big);
    assert_non_null(noise);
    uint32_t r = 12345;
    for (size_t k = 0; k < big; k++) {
        r = r * 1103515245u + 12345u;
        noise[k] = (unsigned char)(r >> 24);
    }
    uint32_t dbig[3] = {5, 400, 400};
    p = write_idx("corrupt2.gz", 1, 8, 3, dbig, noise, big);
    free(noise);
    f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, -6, SEEK_END);
    fputc(0x5a, f);
    fputc(0xa5, f);
    fclose(f);
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "corrupt gzip data", p);
    /* a missing file */
    p = path_of("absent");
    snprintf(spec, sizeof spec, "idx:%s", p);
    expect_fail(spec, NULL, QDB_ERR_IO, "cannot open", p);
}

static void test_bad_npy(void **state)
{
    (void)state;
    char spec[600];
    float xs[8] = {0};
    char *good = write_npy("gx.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 2, 2), }",
                           xs, sizeof xs);
    int32_t i32[8] = {0};
    char *p = write_npy("i.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2, 2), }",
                        i32, 32);
    snprintf(spec, sizeof spec, "npy:%s", p);
    expect_fail(spec, NULL, QDB_ERR_UNSUPPORTED, "images must be float32 or uint8, found int32", p);
    p = write_npy("2d.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", xs, 32);
    snprintf(spec, sizeof spec, "npy:%s", p);
    expect_fail(spec, NULL, QDB_ERR_SHAPE, "found shape [2,4]", p);
    p = write_npy("5d.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 1, 2, 2), }",
                  xs, 32);
    snprintf(spec, sizeof spec, "npy:%s", p);
    expect_fail(spec, NULL, QDB_ERR_SHAPE, "N x C x H x W", p);
    p = write_npy("t.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 2, 2), }", xs,
                  31);
    snprintf(spec, sizeof spec, "npy:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "truncated", p);
    p = write_npy("e.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1, 2, 2), }", xs, 0);
    snprintf(spec, sizeof spec, "npy:%s", p);
    expect_fail(spec, NULL, QDB_ERR_SHAPE, "no data", p);
    p = path_of("bad.npy");
    write_bytes(p, 0, (const unsigned char *)"NOTNUMPYATALL", 13);
    snprintf(spec, sizeof spec, "npy:%s", p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "bad magic", p);

    /* labels */
    p = write_npy("lf.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", xs, 8);
    snprintf(spec, sizeof spec, "npy:%s,%s", good, p);
    expect_fail(spec, NULL, QDB_ERR_UNSUPPORTED, "labels must be int32 or int64, found float32", p);
    p = write_npy("lu.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", xs, 2);
    snprintf(spec, sizeof spec, "npy:%s,%s", good, p);
    expect_fail(spec, NULL, QDB_ERR_UNSUPPORTED, "found uint8", p);
    p = write_npy("l2.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 1), }", i32, 8);
    snprintf(spec, sizeof spec, "npy:%s,%s", good, p);
    expect_fail(spec, NULL, QDB_ERR_SHAPE, "labels must be 1-D", p);
    p = write_npy("l3.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", i32, 12);
    snprintf(spec, sizeof spec, "npy:%s,%s", good, p);
    expect_fail(spec, NULL, QDB_ERR_SHAPE, "3 labels for the 2 images", p);
    int64_t neg[2] = {3, -1};
    p = write_npy("ln.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", neg, 16);
    snprintf(spec, sizeof spec, "npy:%s,%s", good, p);
    expect_fail(spec, NULL, QDB_ERR_FORMAT, "label -1 of sample 1 is negative", p);
}

static void test_bad_spec_and_opts(void **state)
{
    (void)state;
    expect_fail("dir:/some/folder", NULL, QDB_ERR_INVALID, "needs the target height",
                "/some/folder");
    expect_fail("png:/x", NULL, QDB_ERR_INVALID, "expected idx:", "png:/x");
    expect_fail("idx:", NULL, QDB_ERR_INVALID, "empty file name", NULL);
    expect_fail("idx:a,", NULL, QDB_ERR_INVALID, "empty file name", NULL);
    expect_fail("idx:a,b,c", NULL, QDB_ERR_INVALID, "more than two files", NULL);

    unsigned char img[30], lab[5];
    five_images(img, lab);
    uint32_t di[3] = {5, 2, 3};
    char *p = write_idx("o_img", 0, 8, 3, di, img, 30);
    char spec[600];
    snprintf(spec, sizeof spec, "idx:%s", p);
    qdb_dataset_opts o;
    qdb_dataset_opts_init(&o);
    o.n = 6;
    expect_fail(spec, &o, QDB_ERR_INVALID, "6 samples asked for, the file holds 5", p);
    o.n = -1;
    expect_fail(spec, &o, QDB_ERR_INVALID, "negative sample count", p);
    qdb_dataset_opts_init(&o);
    o.n_mean = 3;
    expect_fail(spec, &o, QDB_ERR_INVALID, "3 mean and 0 std values for images with 1 channel", p);
    qdb_dataset_opts_init(&o);
    o.n_std = 1;
    o.std[0] = 0.0f;
    expect_fail(spec, &o, QDB_ERR_INVALID, "std must be finite and non-zero", p);

    qdb_err e = {0};
    qdb_dataset *d = qdb_dataset_open(spec, NULL, &e);
    assert_non_null(d);
    qdb_tensor *x, *y;
    assert_int_equal(qdb_dataset_next_batch(d, 0, &x, &y, &e), QDB_ERR_INVALID);
    assert_non_null(strstr(e.msg, "batch size 0"));
    qdb_dataset_free(d);
}

/* ---- image folders ---- */

static void put_be32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

static void png_chunk(FILE *f, const char *type, const unsigned char *data, uint32_t n)
{
    unsigned char b[4];
    put_be32(b, n);
    assert_int_equal(fwrite(b, 1, 4, f), 4);
    assert_int_equal(fwrite(type, 1, 4, f), 4);
    if (n)
        assert_int_equal(fwrite(data, 1, n, f), n);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (n)
        crc = crc32(crc, data, n);
    put_be32(b, (uint32_t)crc);
    assert_int_equal(fwrite(b, 1, 4, f), 4);
}

/* A PNG (8-bit, RGB when comp == 3, gray when comp == 1) of the h x w x comp
 * bytes `px`. hdr_w/hdr_h (when non-zero) override the size declared in the
 * header (then px may be NULL: no pixel data); keep: bytes of the IDAT
 * chunk to keep (0 = all). */
static void write_png(const char *path, int w, int h, int comp, const unsigned char *px,
                      uint32_t hdr_w, uint32_t hdr_h, size_t keep)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_int_equal(fwrite(sig, 1, 8, f), 8);
    unsigned char ihdr[13] = {0};
    put_be32(ihdr, hdr_w || hdr_h ? hdr_w : (uint32_t)w);
    put_be32(ihdr + 4, hdr_w || hdr_h ? hdr_h : (uint32_t)h);
    ihdr[8] = 8;
    ihdr[9] = comp == 3 ? 2 : 0;
    png_chunk(f, "IHDR", ihdr, 13);
    if (px) {
        size_t row = (size_t)w * (size_t)comp + 1, n = row * (size_t)h;
        unsigned char *raw = malloc(n);
        uLongf zn = compressBound((uLong)n);
        unsigned char *z = malloc(zn);
        assert_non_null(raw);
        assert_non_null(z);
        for (int y = 0; y < h; y++) {
            raw[(size_t)y * row] = 0; /* filter: none */
            memcpy(raw + (size_t)y * row + 1, px + (size_t)y * (row - 1), row - 1);
        }
        assert_int_equal(compress(z, &zn, raw, (uLong)n), Z_OK);
        png_chunk(f, "IDAT", z, (uint32_t)(keep && keep < zn ? keep : zn));
        free(raw);
        free(z);
    }
    png_chunk(f, "IEND", NULL, 0);
    fclose(f);
}

static void make_dir(const char *p)
{
    assert_int_equal(mkdir(p, 0755), 0);
}

/* RGB pixel (y, x) of the 4 x 6 test images, channel k, image variant v. */
static unsigned char px46(int v, int y, int x, int k)
{
    return (unsigned char)(v * 100 + 30 * k + 6 * y + x);
}

static void open_ok(qdb_dataset **d, const char *spec, const qdb_dataset_opts *o)
{
    qdb_err e = {0};
    *d = qdb_dataset_open(spec, o, &e);
    if (!*d)
        fail_msg("open %s: %s", spec, e.msg);
}

/* The next batch; fails the test on error. */
static void batch_ok(qdb_dataset *d, int max, qdb_tensor **x, qdb_tensor **y)
{
    qdb_err e = {0};
    if (qdb_dataset_next_batch(d, max, x, y, &e) != QDB_OK)
        fail_msg("batch: %s", e.msg);
}

/* Layout: root/b_cls (created first), root/a_cls, a hidden folder, stray
 * files. Sorted: a_cls = 0 {X.PNG, y.png}, b_cls = 1 {g.png, k.JPG}. */
static char *make_folder(void)
{
    char *root = path_of("imgs");
    char p[512];
    make_dir(root);
    snprintf(p, sizeof p, "%s/b_cls", root);
    make_dir(p);
    snprintf(p, sizeof p, "%s/a_cls", root);
    make_dir(p);
    snprintf(p, sizeof p, "%s/.hidden", root);
    make_dir(p);
    snprintf(p, sizeof p, "%s/notes.txt", root);
    write_bytes(p, 0, (const unsigned char *)"x", 1);
    snprintf(p, sizeof p, "%s/a_cls/readme.txt", root);
    write_bytes(p, 0, (const unsigned char *)"x", 1);
    unsigned char rgb[4 * 6 * 3];
    for (int v = 0; v < 2; v++) {
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 6; x++)
                for (int k = 0; k < 3; k++)
                    rgb[(y * 6 + x) * 3 + k] = px46(v, y, x, k);
        snprintf(p, sizeof p, "%s/a_cls/%s", root, v == 0 ? "y.png" : "X.PNG");
        write_png(p, 6, 4, 3, rgb, 0, 0, 0);
    }
    unsigned char gray[4 * 4];
    for (int i = 0; i < 16; i++)
        gray[i] = (unsigned char)(10 * i);
    snprintf(p, sizeof p, "%s/b_cls/g.png", root);
    write_png(p, 4, 4, 1, gray, 0, 0, 0);
    unsigned char flat[8 * 8 * 3];
    for (int i = 0; i < 64; i++) {
        flat[3 * i] = 50;
        flat[3 * i + 1] = 100;
        flat[3 * i + 2] = 150;
    }
    snprintf(p, sizeof p, "%s/b_cls/k.JPG", root);
    assert_int_not_equal(stbi_write_jpg(p, 8, 8, 3, flat, 95), 0);
    return root;
}

/* Expected (before preprocessing) value of channel k (source order) at
 * (y, x) of sample s (of the make_folder layout) for a 4 x 4 target. */
static float folder_expect(int s, int y, int x, int k)
{
    if (s < 2) /* 4 x 6 -> scale 1, crop columns 1..4 */
        return px46(s == 0 ? 1 : 0, y, x + 1, k);
    if (s == 2) /* gray 4 x 4, unchanged, R = G = B */
        return (float)(10 * (4 * y + x));
    return k == 0 ? 50.0f : k == 1 ? 100.0f : 150.0f; /* flat JPEG 8 x 8 -> 4 x 4 */
}

static void test_dir_labels_order(void **state)
{
    (void)state;
    char *root = make_folder();
    char spec[600];
    snprintf(spec, sizeof spec, "dir:%s", root);
    qdb_dataset_opts o;
    for (int mode = 0; mode < 3; mode++) { /* RGB, BGR, gray */
        qdb_dataset_opts_init(&o);
        o.height = 4;
        o.width = 4;
        o.channels = mode == 2 ? 1 : 3;
        o.bgr = mode == 1;
        o.scale = 2.0f;
        o.n_mean = 1;
        o.mean[0] = 3.0f;
        o.n_std = 1;
        o.std[0] = 4.0f;
        qdb_dataset *d;
        open_ok(&d, spec, &o);
        assert_int_equal(qdb_dataset_count(d), 4);
        assert_int_equal(qdb_dataset_has_labels(d), 1);
        assert_int_equal(qdb_dataset_class_count(d), 2);
        assert_string_equal(qdb_dataset_class_name(d, 0), "a_cls");
        assert_string_equal(qdb_dataset_class_name(d, 1), "b_cls");
        assert_null(qdb_dataset_class_name(d, 2));
        int64_t chw[3];
        qdb_dataset_sample_shape(d, chw);
        assert_int_equal(chw[0], o.channels);
        assert_int_equal(chw[1], 4);
        assert_int_equal(chw[2], 4);
        static const int64_t want_label[4] = {0, 0, 1, 1};
        int s = 0;
        for (int b = 0; b < 2; b++) {
            qdb_tensor *x, *y;
            batch_ok(d, 3, &x, &y);
            int n = b == 0 ? 3 : 1;
            assert_int_equal(x->shape.d[0], n);
            assert_int_equal(x->shape.d[1], o.channels);
            assert_int_equal(y->shape.d[0], n);
            for (int j = 0; j < n; j++, s++) {
                assert_int_equal(y->data.i[j], want_label[s]);
                double tol = s == 3 ? 4.0 : 1e-3; /* JPEG is lossy */
                for (int c = 0; c < o.channels; c++)
                    for (int yy = 0; yy < 4; yy++)
                        for (int xx = 0; xx < 4; xx++) {
                            float raw;
                            if (mode == 2)
                                raw = 0.299f * folder_expect(s, yy, xx, 0) +
                                      0.587f * folder_expect(s, yy, xx, 1) +
                                      0.114f * folder_expect(s, yy, xx, 2);
                            else
                                raw = folder_expect(s, yy, xx, mode == 1 ? 2 - c : c);
                            float got = x->data.f[((j * o.channels + c) * 4 + yy) * 4 + xx];
                            float want = (raw * 2.0f - 3.0f) / 4.0f;
                            if (fabs(got - want) > tol / 2)
                                fail_msg("mode %d sample %d c%d (%d,%d): got %g want %g", mode,
                                         s, c, yy, xx, got, want);
                        }
            }
            qdb_tensor_free(x);
            qdb_tensor_free(y);
        }
        qdb_tensor *x, *y;
        batch_ok(d, 3, &x, &y);
        assert_null(x);
        assert_null(y);
        qdb_dataset_free(d);
    }
}

static void test_dir_resize_crop(void **state)
{
    (void)state;
    char *root = path_of("resize");
    char p[512];
    make_dir(root);
    snprintf(p, sizeof p, "%s/only", root);
    make_dir(p);
    /* 4 x 8, column x has value 10 * x (R), 10 * x + 1 (G), 10 * x + 2 (B) */
    unsigned char wide[4 * 8 * 3];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 8; x++)
            for (int k = 0; k < 3; k++)
                wide[(y * 8 + x) * 3 + k] = (unsigned char)(10 * x + k);
    snprintf(p, sizeof p, "%s/only/a_wide.png", root);
    write_png(p, 8, 4, 3, wide, 0, 0, 0);
    /* 2 x 2 gray [[0, 100], [200, 40]], upscaled to 4 x 4 */
    unsigned char tiny[4] = {0, 100, 200, 40};
    snprintf(p, sizeof p, "%s/only/b_tiny.png", root);
    write_png(p, 2, 2, 1, tiny, 0, 0, 0);
    /* 8 x 4 (tall): scale 1, rows 2..5 kept */
    unsigned char tall[8 * 4];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 4; x++)
            tall[y * 4 + x] = (unsigned char)(20 * y + x);
    snprintf(p, sizeof p, "%s/only/c_tall.jpeg.png", root);
    write_png(p, 4, 8, 1, tall, 0, 0, 0);

    char spec[600];
    snprintf(spec, sizeof spec, "dir:%s", root);
    qdb_dataset_opts o;
    qdb_dataset_opts_init(&o);
    o.height = 4;
    o.width = 4;
    o.channels = 3;
    qdb_dataset *d;
    open_ok(&d, spec, &o);
    qdb_tensor *x, *y;
    batch_ok(d, 8, &x, &y);
    assert_int_equal(x->shape.d[0], 3);
    const float *f = x->data.f;
    for (int c = 0; c < 3; c++)
        for (int yy = 0; yy < 4; yy++)
            for (int xx = 0; xx < 4; xx++) {
                /* the middle columns 2..5 */
                assert_float_equal(f[(c * 4 + yy) * 4 + xx], 10 * (xx + 2) + c, 1e-4);
                /* source positions along each axis: 0, 0.25, 0.75, 1 */
                static const float t[4] = {0.0f, 0.25f, 0.75f, 1.0f};
                float a = t[yy], b = t[xx];
                float want = (1 - a) * (1 - b) * 0 + (1 - a) * b * 100 + a * (1 - b) * 200 +
                             a * b * 40;
                assert_float_equal(f[48 + (c * 4 + yy) * 4 + xx], want, 1e-3);
                assert_float_equal(f[96 + (c * 4 + yy) * 4 + xx], 20 * (yy + 2) + xx, 1e-4);
            }
    for (int j = 0; j < 3; j++)
        assert_int_equal(y->data.i[j], 0);
    qdb_tensor_free(x);
    qdb_tensor_free(y);

    /* a non-square target: 4 x 8 -> 2 x 2 scales by 1/2 (to 2 x 4) and keeps
     * the middle columns: source x = (x + 1 + 0.5) * 2 - 0.5 = 2.5, 4.5 */
    qdb_dataset_opts_init(&o);
    o.height = 2;
    o.width = 2;
    o.channels = 3;
    o.n = 1;
    qdb_dataset_free(d);
    open_ok(&d, spec, &o);
    batch_ok(d, 8, &x, &y);
    assert_int_equal(x->shape.d[0], 1);
    for (int c = 0; c < 3; c++)
        for (int yy = 0; yy < 2; yy++) {
            assert_float_equal(x->data.f[(c * 2 + yy) * 2 + 0], 25 + c, 1e-3);
            assert_float_equal(x->data.f[(c * 2 + yy) * 2 + 1], 45 + c, 1e-3);
        }
    qdb_tensor_free(x);
    qdb_tensor_free(y);
    qdb_dataset_free(d);
}

static void test_dir_errors(void **state)
{
    (void)state;
    char p[512], spec[600];
    qdb_dataset_opts o;
    qdb_dataset_opts_init(&o);
    o.height = 4;
    o.width = 4;
    o.channels = 3;
    expect_fail("dir:", &o, QDB_ERR_INVALID, "empty folder name", NULL);

    char *missing = path_of("dir_no_such_folder");
    snprintf(spec, sizeof spec, "dir:%s", missing);
    expect_fail(spec, &o, QDB_ERR_IO, "cannot open folder", missing);

    o.channels = 2;
    expect_fail(spec, &o, QDB_ERR_INVALID, "needs the target height", missing);
    o.channels = 1;
    o.bgr = 1;
    expect_fail(spec, &o, QDB_ERR_INVALID, "needs the target height", missing);
    o.bgr = 0;
    o.channels = 3;
    o.height = 20000;
    expect_fail(spec, &o, QDB_ERR_INVALID, "needs the target height", missing);
    o.height = 4;

    /* files but no class sub-folders */
    char *flat = path_of("dir_flat");
    make_dir(flat);
    unsigned char px[3] = {1, 2, 3};
    snprintf(p, sizeof p, "%s/a.png", flat);
    write_png(p, 1, 1, 3, px, 0, 0, 0);
    snprintf(spec, sizeof spec, "dir:%s", flat);
    expect_fail(spec, &o, QDB_ERR_FORMAT, "no class sub-folders", flat);

    /* class folders, all empty (or holding no images) */
    char *empty = path_of("dir_empty");
    make_dir(empty);
    snprintf(p, sizeof p, "%s/c0", empty);
    make_dir(p);
    snprintf(p, sizeof p, "%s/c1", empty);
    make_dir(p);
    snprintf(p, sizeof p, "%s/c1/x.gif", empty);
    write_bytes(p, 0, px, 3);
    snprintf(spec, sizeof spec, "dir:%s", empty);
    expect_fail(spec, &o, QDB_ERR_FORMAT, "no images (*.png, *.jpg, *.jpeg) in its 2 class", empty);
    /* an empty class beside a non-empty one is fine */
    snprintf(p, sizeof p, "%s/c1/ok.png", empty);
    write_png(p, 1, 1, 3, px, 0, 0, 0);
    qdb_dataset *d;
    open_ok(&d, spec, &o);
    assert_int_equal(qdb_dataset_count(d), 1);
    qdb_tensor *x, *y;
    batch_ok(d, 4, &x, &y);
    assert_int_equal(y->data.i[0], 1);
    for (int c = 0; c < 3; c++)
        assert_float_equal(x->data.f[c * 16 + 5], c + 1, 1e-5);
    qdb_tensor_free(x);
    qdb_tensor_free(y);
    qdb_dataset_free(d);

    struct {
        const char *name, *needle;
        qdb_status code;
    } bad[] = {
        {"dir_garbage", "cannot decode: unknown image type", QDB_ERR_FORMAT},
        {"dir_zero", "image of 0 size", QDB_ERR_FORMAT},
        {"dir_huge", "larger than 16384 x 16384", QDB_ERR_FORMAT},
        {"dir_huge2", "larger than 16384 x 16384", QDB_ERR_FORMAT},
        {"dir_dangling", "no images", QDB_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char root[300], img[400];
        snprintf(root, sizeof root, "%s", path_of(bad[i].name));
        make_dir(root);
        snprintf(p, sizeof p, "%s/cls", root);
        make_dir(p);
        snprintf(img, sizeof img, "%s/cls/im.png", root);
        if (i == 0)
            write_bytes(img, 0, (const unsigned char *)"not an image at all", 19);
        else if (i == 1)
            write_png(img, 0, 0, 3, NULL, 0, 4, 0);
        else if (i == 2)
            write_png(img, 0, 0, 3, NULL, 100000, 100000, 0);
        else if (i == 3)
            write_png(img, 0, 0, 3, NULL, 16385, 2, 0);
        else /* a dangling link is no image file: no images at all */
            assert_int_equal(symlink("/nonexistent/qdb-image.png", img), 0);
        snprintf(spec, sizeof spec, "dir:%s", root);
        expect_fail(spec, &o, bad[i].code, bad[i].needle, i == 4 ? root : img);
    }

    /* a truncated PNG: the header is fine, the pixel data is not; the error
     * comes with the batch that decodes it */
    char *trunc = path_of("dir_trunc");
    make_dir(trunc);
    snprintf(p, sizeof p, "%s/cls", trunc);
    make_dir(p);
    unsigned char big[16 * 16 * 3];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7);
    char img[400];
    snprintf(img, sizeof img, "%s/cls/t.png", trunc);
    write_png(img, 16, 16, 3, big, 0, 0, 20);
    snprintf(spec, sizeof spec, "dir:%s", trunc);
    open_ok(&d, spec, &o);
    qdb_err e = {0};
    assert_int_equal(qdb_dataset_next_batch(d, 2, &x, &y, &e), QDB_ERR_FORMAT);
    assert_null(x);
    assert_non_null(strstr(e.msg, img));
    assert_non_null(strstr(e.msg, "cannot decode"));
    qdb_dataset_free(d);
}

static void test_fashion_mnist(void **state)
{
    (void)state;
    const char *img = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    const char *lab = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    if (access(img, R_OK) != 0 || access(lab, R_OK) != 0)
        skip();
    char spec[256];
    snprintf(spec, sizeof spec, "idx:%s,%s", img, lab);
    qdb_err e = {0};
    qdb_dataset *d = qdb_dataset_open(spec, NULL, &e);
    if (!d)
        fail_msg("%s", e.msg);
    assert_int_equal(qdb_dataset_count(d), 10000);
    int64_t chw[3];
    qdb_dataset_sample_shape(d, chw);
    assert_int_equal(chw[0], 1);
    assert_int_equal(chw[1], 28);
    assert_int_equal(chw[2], 28);
    qdb_tensor *x, *y;
    assert_int_equal(qdb_dataset_next_batch(d, 64, &x, &y, &e), QDB_OK);
    assert_int_equal(x->shape.d[0], 64);
    /* from python: labels[:5] = 9 2 1 1 6; image 0 sums to 33456 and row 10,
     * columns 10..13 hold 0 0 0 4 */
    assert_int_equal(y->data.i[0], 9);
    assert_int_equal(y->data.i[1], 2);
    assert_int_equal(y->data.i[4], 6);
    double sum = 0;
    for (int k = 0; k < 784; k++)
        sum += x->data.f[k];
    assert_true(sum == 33456.0);
    assert_true(x->data.f[10 * 28 + 13] == 4.0f);
    qdb_tensor_free(x);
    qdb_tensor_free(y);
    qdb_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_plain_batches),
        cmocka_unit_test(test_idx_gzip_preprocess),
        cmocka_unit_test(test_npy_float_per_channel),
        cmocka_unit_test(test_npy_uint8_3d),
        cmocka_unit_test(test_seeded_subset),
        cmocka_unit_test(test_bad_idx),
        cmocka_unit_test(test_bad_npy),
        cmocka_unit_test(test_bad_spec_and_opts),
        cmocka_unit_test(test_dir_labels_order),
        cmocka_unit_test(test_dir_resize_crop),
        cmocka_unit_test(test_dir_errors),
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
