/* gemm.c - Gemm and MatMul (float32), both through qdb_sgemm (kernels.c).
 *
 * Gemm: Y = alpha * op(A) * op(B) + beta * C with C unidirectionally
 * broadcast to (M, N) and optional from opset 11. MatMul: numpy matmul with
 * broadcast batch dimensions and 1-D operands promoted then squeezed. */
#include <string.h>

#include "broadcast.h"
#include "kernels.h"
#include "op.h"
#include "window.h"

static qdb_status need_f32(const qdb_node *n, const qdb_tensor *t, const char *what, qdb_err *e)
{
    if (t->dtype != QDB_F32)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: input '%s' is %s, only float32 supported",
                           n->op_type, what, qdb_dtype_name(t->dtype));
    return QDB_OK;
}

static qdb_status dims_fit(const qdb_node *n, int64_t m, int64_t nn, int64_t k, qdb_err *e)
{
    if (m > QDB_SGEMM_DIM_MAX || nn > QDB_SGEMM_DIM_MAX || k > QDB_SGEMM_DIM_MAX)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: matrix dimensions exceed the BLAS limit",
                           n->op_type);
    return QDB_OK;
}

/* --------------------------------------------------------------------- Gemm */

static const char *const gemm_attrs[] = {"alpha", "beta", "transA", "transB", "broadcast", NULL};

static qdb_status gemm_check(const qdb_node *n, qdb_err *e)
{
    qdb_status st = qdb_nn_check_attrs(n, gemm_attrs, e);
    if (st != QDB_OK)
        return st;
    if (n->opset >= 7 && qdb_node_attr(n, "broadcast"))
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "Gemm: attribute 'broadcast' does not exist from opset 7");
    static const char *const ints[] = {"transA", "transB", "broadcast"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const qdb_attr *a = qdb_node_attr(n, ints[i]);
        if (a && (a->type != QDB_ATTR_INT || (a->i != 0 && a->i != 1)))
            return qdb_err_set(e, QDB_ERR_INVALID, "Gemm: %s must be 0 or 1", ints[i]);
    }
    static const char *const floats[] = {"alpha", "beta"};
    for (size_t i = 0; i < 2; i++) {
        const qdb_attr *a = qdb_node_attr(n, floats[i]);
        if (a && a->type != QDB_ATTR_FLOAT)
            return qdb_err_set(e, QDB_ERR_INVALID, "Gemm: %s must be a float", floats[i]);
    }
    return QDB_OK;
}

typedef struct gemm_geo {
    int64_t m, n, k;
    int ta, tb;
    int64_t c_rows, c_cols; /* C's extent after right-aligning to (M, N); 0 when absent */
} gemm_geo;

static qdb_status gemm_geometry(const qdb_node *n, const qdb_tensor *const *in, gemm_geo *g,
                                qdb_err *e)
{
    const qdb_tensor *a = qdb_op_in(n, in, 0), *b = qdb_op_in(n, in, 1), *c = qdb_op_in(n, in, 2);
    qdb_status st;
    if (!a || !b)
        return qdb_err_set(e, QDB_ERR_INVALID, "Gemm: inputs A and B are required");
    if ((st = need_f32(n, a, "A", e)) != QDB_OK || (st = need_f32(n, b, "B", e)) != QDB_OK ||
        (c && (st = need_f32(n, c, "C", e)) != QDB_OK))
        return st;
    if (a->shape.ndim != 2 || b->shape.ndim != 2)
        return qdb_err_set(e, QDB_ERR_SHAPE, "Gemm: A and B must be 2-D (got rank %d and %d)",
                           a->shape.ndim, b->shape.ndim);
    g->ta = (int)qdb_attr_int(n, "transA", 0);
    g->tb = (int)qdb_attr_int(n, "transB", 0);
    g->m = a->shape.d[g->ta ? 1 : 0];
    g->k = a->shape.d[g->ta ? 0 : 1];
    int64_t kb = b->shape.d[g->tb ? 1 : 0];
    g->n = b->shape.d[g->tb ? 0 : 1];
    if (kb != g->k)
        return qdb_err_set(e, QDB_ERR_SHAPE, "Gemm: inner dimensions differ (%lld vs %lld)",
                           (long long)g->k, (long long)kb);
    g->c_rows = g->c_cols = 0;
    if (c) {
        const qdb_shape *cs = &c->shape;
        if (cs->ndim > 2)
            return qdb_err_set(e, QDB_ERR_SHAPE, "Gemm: C has rank %d (at most 2)", cs->ndim);
        g->c_cols = cs->ndim >= 1 ? cs->d[cs->ndim - 1] : 1;
        g->c_rows = cs->ndim == 2 ? cs->d[0] : 1;
        if ((g->c_rows != 1 && g->c_rows != g->m) || (g->c_cols != 1 && g->c_cols != g->n))
            return qdb_err_set(e, QDB_ERR_SHAPE,
                               "Gemm: C of %lld x %lld does not broadcast to %lld x %lld",
                               (long long)g->c_rows, (long long)g->c_cols, (long long)g->m,
                               (long long)g->n);
    }
    return dims_fit(n, g->m, g->n, g->k, e);
}

static qdb_status gemm_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                             qdb_err *e)
{
    gemm_geo g;
    qdb_status st = gemm_geometry(n, in, &g, e);
    if (st != QDB_OK)
        return st;
    int64_t d[2] = {g.m, g.n};
    out[0].dtype = QDB_F32;
    out[0].shape = qdb_shape_make(2, d);
    return QDB_OK;
}

static qdb_status gemm_forward(const qdb_node *n, const qdb_tensor *const *in,
                               qdb_tensor *const *out, qdb_err *e)
{
    gemm_geo g;
    qdb_status st = gemm_geometry(n, in, &g, e);
    if (st != QDB_OK)
        return st;
    const float alpha = qdb_attr_float(n, "alpha", 1.0f);
    float beta = qdb_attr_float(n, "beta", 1.0f);
    const qdb_tensor *c = qdb_op_in(n, in, 2);
    float *y = out[0]->data.f;
    if (c && beta != 0.0f && c->numel > 0) {
        const float *cv = c->data.f;
        for (int64_t i = 0; i < g.m; i++) {
            float *row = y + i * g.n;
            const float *crow = cv + (g.c_rows == 1 ? 0 : i * g.c_cols);
            if (g.c_cols == 1)
                for (int64_t j = 0; j < g.n; j++)
                    row[j] = crow[0];
            else
                memcpy(row, crow, (size_t)g.n * sizeof *row);
        }
    } else {
        beta = 0.0f;
    }
    qdb_sgemm(g.ta, g.tb, g.m, g.n, g.k, alpha, in[0]->data.f, in[0]->shape.d[1], in[1]->data.f,
              in[1]->shape.d[1], beta, y, g.n);
    return QDB_OK;
}

const qdb_op qdb_op_gemm = {
    .type = "Gemm",
    .check = gemm_check,
    .infer = gemm_infer,
    .forward = gemm_forward,
};

/* ------------------------------------------------------------------- MatMul */

static const char *const no_attrs[] = {NULL};

static qdb_status matmul_check(const qdb_node *n, qdb_err *e)
{
    return qdb_nn_check_attrs(n, no_attrs, e);
}

typedef struct matmul_geo {
    int64_t m, n, k;
    qdb_shape a_batch, b_batch, batch; /* batch dims of A, B and the output */
    int64_t nb;                        /* output batch count */
    qdb_shape out;
} matmul_geo;

static qdb_status matmul_geometry(const qdb_node *n, const qdb_tensor *const *in, matmul_geo *g,
                                  qdb_err *e)
{
    const qdb_tensor *a = qdb_op_in(n, in, 0), *b = qdb_op_in(n, in, 1);
    qdb_status st;
    if (!a || !b)
        return qdb_err_set(e, QDB_ERR_INVALID, "MatMul: inputs A and B are required");
    if ((st = need_f32(n, a, "A", e)) != QDB_OK || (st = need_f32(n, b, "B", e)) != QDB_OK)
        return st;
    const qdb_shape *as = &a->shape, *bs = &b->shape;
    if (as->ndim < 1 || bs->ndim < 1)
        return qdb_err_set(e, QDB_ERR_SHAPE, "MatMul: operands must have rank >= 1");
    memset(g, 0, sizeof *g);
    if (as->ndim == 1) {
        g->m = 1;
        g->k = as->d[0];
    } else {
        g->m = as->d[as->ndim - 2];
        g->k = as->d[as->ndim - 1];
        g->a_batch = qdb_shape_make(as->ndim - 2, as->d);
    }
    int64_t kb;
    if (bs->ndim == 1) {
        kb = bs->d[0];
        g->n = 1;
    } else {
        kb = bs->d[bs->ndim - 2];
        g->n = bs->d[bs->ndim - 1];
        g->b_batch = qdb_shape_make(bs->ndim - 2, bs->d);
    }
    if (kb != g->k)
        return qdb_err_set(e, QDB_ERR_SHAPE, "MatMul: inner dimensions differ (%lld vs %lld)",
                           (long long)g->k, (long long)kb);
    const qdb_shape *bb[2] = {&g->a_batch, &g->b_batch};
    if ((st = qdb_broadcast_shape(bb, 2, &g->batch, e)) != QDB_OK) {
        qdb_err_prefix(e, "MatMul: batch dimensions: ");
        return st;
    }
    g->out = g->batch;
    if (g->batch.ndim + 2 > QDB_MAX_DIMS)
        return qdb_err_set(e, QDB_ERR_SHAPE, "MatMul: result rank too large");
    if (as->ndim > 1)
        g->out.d[g->out.ndim++] = g->m;
    if (bs->ndim > 1)
        g->out.d[g->out.ndim++] = g->n;
    if ((st = qdb_nn_check_size(n, &g->out, e)) != QDB_OK)
        return st;
    g->nb = 1;
    for (int i = 0; i < g->batch.ndim; i++)
        g->nb *= g->batch.d[i];
    return dims_fit(n, g->m, g->n, g->k, e);
}

static qdb_status matmul_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                               qdb_err *e)
{
    matmul_geo g;
    qdb_status st = matmul_geometry(n, in, &g, e);
    if (st != QDB_OK)
        return st;
    out[0].dtype = QDB_F32;
    out[0].shape = g.out;
    return QDB_OK;
}

static qdb_status matmul_forward(const qdb_node *n, const qdb_tensor *const *in,
                                 qdb_tensor *const *out, qdb_err *e)
{
    matmul_geo g;
    qdb_status st = matmul_geometry(n, in, &g, e);
    if (st != QDB_OK)
        return st;
    const float *a = in[0]->data.f, *b = in[1]->data.f;
    float *y = out[0]->data.f;
    const int64_t a_sz = g.m * g.k, b_sz = g.k * g.n, y_sz = g.m * g.n;
    int64_t b_count = 1;
    for (int i = 0; i < g.b_batch.ndim; i++)
        b_count *= g.b_batch.d[i];

    if (b_count == 1 && g.nb * g.m <= QDB_SGEMM_DIM_MAX) {
        /* One B for every batch: stack A's rows into a single product. */
        qdb_sgemm(0, 0, g.nb * g.m, g.n, g.k, 1.0f, a, g.k, b, g.n, 0.0f, y, g.n);
        return QDB_OK;
    }
    qdb_bcast_iter it;
    const qdb_shape *bb[2] = {&g.a_batch, &g.b_batch};
    qdb_bcast_init(&it, &g.batch, bb, 2);
    for (int64_t i = 0; i < g.nb; i++) {
        qdb_sgemm(0, 0, g.m, g.n, g.k, 1.0f, a + it.off[0] * a_sz, g.k, b + it.off[1] * b_sz, g.n,
                  0.0f, y + i * y_sz, g.n);
        qdb_bcast_next(&it);
    }
    return QDB_OK;
}

const qdb_op qdb_op_matmul = {
    .type = "MatMul",
    .check = matmul_check,
    .infer = matmul_infer,
    .forward = matmul_forward,
};
