/* op_harness.h - the shared harness of the operator unit tests
 * (tests/test_ops_*.c): a hand-built test node (tnode, tn_*), tensor
 * constructors and literal macros, the check / infer / forward runner
 * (run_n / run_ok / run_status) and the common output assertions. Built on
 * cmocka: include <cmocka.h> (with its prerequisites) before this file. */
#ifndef QDB_TEST_OP_HARNESS_H
#define QDB_TEST_OP_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"

#define TN_MAX_IO 8    /* inputs and outputs of a test node */
#define TN_MAX_ATTR 16 /* attributes of a test node */
#define TN_MAX_LIST 16 /* elements of one ints / floats attribute */

/* A node built by hand: inputs are values 0.., outputs values 10.. (set an
 * in_idx / out_idx to -1 to make that input / output absent). List
 * attributes are copied into the node, so their arguments may be
 * temporaries. */
typedef struct tnode {
    qdb_node n;
    int in_idx[TN_MAX_IO];
    int out_idx[TN_MAX_IO];
    qdb_attr attr[TN_MAX_ATTR];
    int64_t ints[TN_MAX_ATTR][TN_MAX_LIST];
    float floats[TN_MAX_ATTR][TN_MAX_LIST];
} tnode;

/* A node of op_type `op` (which must be registered) with n_in inputs and
 * one output. */
void tn_init(tnode *t, const char *op, int opset, int n_in);
/* Give the node n outputs. */
void tn_outputs(tnode *t, int n);
qdb_attr *tn_attr(tnode *t, const char *name, qdb_attr_type type);
void tn_int(tnode *t, const char *name, int64_t v);
void tn_float(tnode *t, const char *name, float v);
void tn_str(tnode *t, const char *name, const char *s);
void tn_ints(tnode *t, const char *name, const int64_t *v, int n);
void tn_floats(tnode *t, const char *name, const float *v, int n);

/* New tensors of shape d[0..nd); v (may be NULL: zeros) gives the values. */
qdb_tensor *mkf(int nd, const int64_t *d, const float *v);
qdb_tensor *mki(int nd, const int64_t *d, const int64_t *v);
/* A float tensor holding 0, 1, 2, ... */
qdb_tensor *iota_f(int nd, const int64_t *d);

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define F(...) ((const float[]){__VA_ARGS__})
#define I(...) ((const int64_t[]){__VA_ARGS__})
#define NF(...) (sizeof((const float[]){__VA_ARGS__}) / sizeof(float))
#define NI(...) (sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define IN(...) ((const qdb_tensor *[]){__VA_ARGS__})

/* Run a node the way the executor does: check, infer on header-only inputs
 * (load time; QDB_ERR_DYNAMIC there is fine), infer again with the data,
 * allocate the outputs uninitialised and poisoned (0x7f bytes, so an op
 * that leaves an element unwritten shows) and forward. On success out[k]
 * (k < n_out; NULL for an absent output) are new tensors; on failure they
 * are NULL and e says why. */
qdb_status run_n(tnode *t, const qdb_tensor *const *in, qdb_tensor **out, qdb_err *e);
/* Run a node expected to succeed; its first output (free the others). */
qdb_tensor *run_ok(tnode *t, const qdb_tensor *const *in);
/* Status of running a node expected to fail; every failure must say why.
 * Outputs of a successful run are freed. */
qdb_status run_status(tnode *t, const qdb_tensor *const *in);

void expect_shape(const qdb_tensor *t, int nd, const int64_t *d);
/* |got - want| <= tol * (1 + |want|); NaN matches NaN, inf matches itself. */
void expect_close(double got, double want, double tol, const char *what, size_t i);
void expect_f(const qdb_tensor *t, const float *want, size_t n, double tol);
void expect_i(const qdb_tensor *t, const int64_t *want, size_t n);
#define EXPECT_F(t, tol, ...) expect_f((t), F(__VA_ARGS__), NF(__VA_ARGS__), (tol))
#define EXPECT_I(t, ...) expect_i((t), I(__VA_ARGS__), NI(__VA_ARGS__))

void free_all(qdb_tensor **t, int n);
/* Coordinates of flat index k in shape s. */
void coords(const qdb_shape *s, size_t k, int64_t *c);

#endif
