/* test_dataset.c - the dataset layer: IDX (plain and gzipped) and .npy files
 * written byte by byte into a temporary directory, read back as batches;
 * preprocessing, seeded subsets, every malformed input's message, and the
 * real Fashion-MNIST test set when it is installed. Expected values are
 * worked out by hand (first label of Fashion-MNIST checked with python's
 * gzip + numpy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "dataset.h"

static char dir[] = "/tmp/qdb-test-dataset-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

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
    expect_fail("dir:/some/folder", NULL, QDB_ERR_UNSUPPORTED, "not yet", "/some/folder");
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
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
