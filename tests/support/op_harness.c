/* op_harness.c - the shared harness of the operator unit tests: test nodes,
 * tensor constructors, the check / infer / forward runner and the common
 * output assertions (see op_harness.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "op_harness.h"

/* ---- test nodes ------------------------------------------------------------ */

void tn_init(tnode *t, const char *op, int opset, int n_in)
{
    assert_true(n_in >= 0 && n_in <= TN_MAX_IO);
    memset(t, 0, sizeof *t);
    t->n.name = (char *)"test";
    t->n.op_type = (char *)op;
    t->n.domain = (char *)"";
    t->n.opset = opset;
    t->n.n_in = n_in;
    t->n.in = t->in_idx;
    t->n.n_out = 1;
    t->n.out = t->out_idx;
    t->n.attr = t->attr;
    for (int i = 0; i < TN_MAX_IO; i++) {
        t->in_idx[i] = i;
        t->out_idx[i] = 10 + i;
    }
    t->n.op = qdb_op_find(op, "");
    if (!t->n.op)
        fail_msg("no operator %s", op);
}

void tn_outputs(tnode *t, int n)
{
    assert_true(n >= 0 && n <= TN_MAX_IO);
    t->n.n_out = n;
}

qdb_attr *tn_attr(tnode *t, const char *name, qdb_attr_type type)
{
    assert_true(t->n.n_attr < TN_MAX_ATTR);
    qdb_attr *a = &t->attr[t->n.n_attr++];
    a->name = (char *)name;
    a->type = type;
    return a;
}

void tn_int(tnode *t, const char *name, int64_t v)
{
    tn_attr(t, name, QDB_ATTR_INT)->i = v;
}

void tn_float(tnode *t, const char *name, float v)
{
    tn_attr(t, name, QDB_ATTR_FLOAT)->f = v;
}

void tn_str(tnode *t, const char *name, const char *s)
{
    tn_attr(t, name, QDB_ATTR_STRING)->s = (char *)s;
}

void tn_ints(tnode *t, const char *name, const int64_t *v, int n)
{
    int slot = t->n.n_attr;
    qdb_attr *a = tn_attr(t, name, QDB_ATTR_INTS);
    assert_true(n >= 0 && n <= TN_MAX_LIST);
    if (n > 0)
        memcpy(t->ints[slot], v, (size_t)n * sizeof *v);
    a->ints = t->ints[slot];
    a->n = n;
}

void tn_floats(tnode *t, const char *name, const float *v, int n)
{
    int slot = t->n.n_attr;
    qdb_attr *a = tn_attr(t, name, QDB_ATTR_FLOATS);
    assert_true(n >= 0 && n <= TN_MAX_LIST);
    if (n > 0)
        memcpy(t->floats[slot], v, (size_t)n * sizeof *v);
    a->floats = t->floats[slot];
    a->n = n;
}

/* ---- tensors --------------------------------------------------------------- */

qdb_tensor *mkf(int nd, const int64_t *d, const float *v)
{
    qdb_tensor *t = qdb_tensor_new_dims(QDB_F32, nd, d, NULL);
    assert_non_null(t);
    if (v)
        memcpy(t->data.f, v, t->numel * sizeof(float));
    return t;
}

qdb_tensor *mki(int nd, const int64_t *d, const int64_t *v)
{
    qdb_tensor *t = qdb_tensor_new_dims(QDB_I64, nd, d, NULL);
    assert_non_null(t);
    if (v)
        memcpy(t->data.i, v, t->numel * sizeof(int64_t));
    return t;
}

qdb_tensor *iota_f(int nd, const int64_t *d)
{
    qdb_tensor *t = mkf(nd, d, NULL);
    for (size_t k = 0; k < t->numel; k++)
        t->data.f[k] = (float)k;
    return t;
}

/* ---- running --------------------------------------------------------------- */

qdb_status run_n(tnode *t, const qdb_tensor *const *in, qdb_tensor **out, qdb_err *e)
{
    const qdb_op *op = t->n.op;
    const int ni = t->n.n_in, no = t->n.n_out;
    assert_non_null(op);
    assert_true(ni <= TN_MAX_IO && no <= TN_MAX_IO);
    for (int k = 0; k < no; k++)
        out[k] = NULL;
    qdb_status s;
    if (op->check && (s = op->check(&t->n, e)) != QDB_OK)
        return s;

    /* load time: the same inputs without their data */
    qdb_tensor hdr[TN_MAX_IO];
    const qdb_tensor *hin[TN_MAX_IO] = {NULL};
    for (int i = 0; i < ni; i++)
        if (in[i]) {
            hdr[i] = *in[i];
            hdr[i].data.p = NULL;
            hin[i] = &hdr[i];
        }
    qdb_tensor res[TN_MAX_IO];
    memset(res, 0, sizeof res);
    s = op->infer(&t->n, hin, res, e);
    if (s == QDB_ERR_DYNAMIC) {
        if (e) {
            assert_true(e->msg[0] != '\0'); /* names the input it needs */
            qdb_err_clear(e);
        }
    } else if (s != QDB_OK) {
        return s;
    }

    /* run time */
    memset(res, 0, sizeof res);
    if ((s = op->infer(&t->n, in, res, e)) != QDB_OK)
        return s;
    qdb_tensor *outs[TN_MAX_IO] = {NULL};
    for (int k = 0; k < no; k++) {
        assert_null(res[k].data.p);
        if (t->out_idx[k] < 0)
            continue;
        outs[k] = qdb_tensor_new_uninit(res[k].dtype, &res[k].shape, e);
        assert_non_null(outs[k]);
        memset(outs[k]->data.p, 0x7f, outs[k]->numel * qdb_dtype_size(outs[k]->dtype));
    }
    if ((s = op->forward(&t->n, in, outs, e)) != QDB_OK) {
        free_all(outs, no);
        return s;
    }
    for (int k = 0; k < no; k++)
        out[k] = outs[k];
    return QDB_OK;
}

qdb_tensor *run_ok(tnode *t, const qdb_tensor *const *in)
{
    qdb_err e;
    qdb_err_clear(&e);
    qdb_tensor *o[TN_MAX_IO] = {NULL};
    if (run_n(t, in, o, &e) != QDB_OK)
        fail_msg("%s failed: %s", t->n.op_type, e.msg);
    free_all(o + 1, t->n.n_out - 1);
    return o[0];
}

qdb_status run_status(tnode *t, const qdb_tensor *const *in)
{
    qdb_err e;
    qdb_err_clear(&e);
    qdb_tensor *o[TN_MAX_IO] = {NULL};
    qdb_status s = run_n(t, in, o, &e);
    if (s == QDB_OK)
        free_all(o, t->n.n_out);
    else
        assert_true(e.msg[0] != '\0'); /* every failure says why */
    return s;
}

/* ---- assertions ------------------------------------------------------------ */

void expect_shape(const qdb_tensor *t, int nd, const int64_t *d)
{
    assert_int_equal(t->shape.ndim, nd);
    for (int i = 0; i < nd; i++)
        if (t->shape.d[i] != d[i])
            fail_msg("dimension %d is %lld, expected %lld", i, (long long)t->shape.d[i],
                     (long long)d[i]);
}

void expect_close(double got, double want, double tol, const char *what, size_t i)
{
    if (isnan(want) && isnan(got))
        return;
    if (isinf(want) && got == want)
        return;
    if (!(fabs(got - want) <= tol * (1.0 + fabs(want))))
        fail_msg("%s[%zu]: got %.9g, want %.9g", what, i, got, want);
}

void expect_f(const qdb_tensor *t, const float *want, size_t n, double tol)
{
    assert_int_equal(t->dtype, QDB_F32);
    assert_int_equal(t->numel, n);
    for (size_t i = 0; i < n; i++)
        expect_close(t->data.f[i], want[i], tol, "out", i);
}

void expect_i(const qdb_tensor *t, const int64_t *want, size_t n)
{
    assert_int_equal(t->dtype, QDB_I64);
    assert_int_equal(t->numel, n);
    for (size_t i = 0; i < n; i++)
        if (t->data.i[i] != want[i])
            fail_msg("out[%zu]: got %lld, want %lld", i, (long long)t->data.i[i],
                     (long long)want[i]);
}

void free_all(qdb_tensor **t, int n)
{
    for (int i = 0; i < n; i++)
        qdb_tensor_free(t[i]);
}

void coords(const qdb_shape *s, size_t k, int64_t *c)
{
    for (int i = s->ndim - 1; i >= 0; i--) {
        c[i] = (int64_t)(k % (size_t)s->d[i]);
        k /= (size_t)s->d[i];
    }
}
