/* transpose.c - operators that permute elements: Transpose, DepthToSpace and
 * SpaceToDepth. Each is expressed as a strided view of the input walked in
 * output order (qdb_strided_copy). */
#include <string.h>

#include "op.h"
#include "tensor_util.h"

/* ---- Transpose -------------------------------------------------------- */

static qdb_status get_perm(const qdb_node *n, int rank, int *perm, qdb_err *e)
{
    int cnt;
    const int64_t *p = qdb_attr_ints(n, "perm", &cnt);
    if (!p) {
        for (int i = 0; i < rank; i++)
            perm[i] = rank - 1 - i;
        return QDB_OK;
    }
    if (cnt != rank)
        return qdb_err_set(e, QDB_ERR_INVALID, "Transpose: perm has %d entries for rank %d", cnt,
                           rank);
    int seen[QDB_MAX_DIMS] = {0};
    for (int i = 0; i < rank; i++) {
        if (p[i] < 0 || p[i] >= rank || seen[p[i]])
            return qdb_err_set(e, QDB_ERR_INVALID, "Transpose: perm is not a permutation of 0..%d",
                               rank - 1);
        seen[p[i]] = 1;
        perm[i] = (int)p[i];
    }
    return QDB_OK;
}

static qdb_status transpose_infer(const qdb_node *n, const qdb_tensor *const *in,
                                  qdb_tensor *out, qdb_err *e)
{
    const qdb_shape *s = &in[0]->shape;
    int perm[QDB_MAX_DIMS];
    qdb_status st = get_perm(n, s->ndim, perm, e);
    if (st != QDB_OK)
        return st;
    qdb_shape o = *s;
    for (int i = 0; i < s->ndim; i++)
        o.d[i] = s->d[perm[i]];
    return qdb_out_set(n, &out[0], in[0]->dtype, &o, e);
}

static qdb_status transpose_forward(const qdb_node *n, const qdb_tensor *const *in,
                                    qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    int perm[QDB_MAX_DIMS];
    qdb_status st = get_perm(n, x->shape.ndim, perm, e);
    if (st != QDB_OK)
        return st;
    int64_t st_in[QDB_MAX_DIMS], dims[QDB_MAX_DIMS], strides[QDB_MAX_DIMS];
    qdb_shape_strides(&x->shape, st_in);
    for (int i = 0; i < x->shape.ndim; i++) {
        dims[i] = x->shape.d[perm[i]];
        strides[i] = st_in[perm[i]];
    }
    qdb_strided_copy(out[0]->data.p, x->data.p, qdb_dtype_size(x->dtype), x->shape.ndim, dims,
                     strides);
    return QDB_OK;
}

const qdb_op qdb_op_transpose = {
    .type = "Transpose",
    .infer = transpose_infer,
    .forward = transpose_forward,
    .moves_values = 1,
};

/* ---- DepthToSpace / SpaceToDepth -------------------------------------- */

static int is_crd(const qdb_node *n)
{
    return strcmp(qdb_attr_string(n, "mode", "DCR"), "CRD") == 0;
}

static qdb_status d2s_check(const qdb_node *n, qdb_err *e)
{
    const char *mode = qdb_attr_string(n, "mode", "DCR");
    if (strcmp(n->op_type, "DepthToSpace") == 0 && strcmp(mode, "DCR") != 0 &&
        strcmp(mode, "CRD") != 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "DepthToSpace: unknown mode '%s'", mode);
    if (qdb_attr_int(n, "blocksize", 0) <= 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: attribute 'blocksize' must be positive",
                           n->op_type);
    return QDB_OK;
}

static qdb_status d2s_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                            qdb_err *e)
{
    const qdb_shape *s = &in[0]->shape;
    int64_t b = qdb_attr_int(n, "blocksize", 0);
    if (s->ndim != 4)
        return qdb_err_set(e, QDB_ERR_SHAPE, "%s: input must be 4-D, not of rank %d", n->op_type,
                           s->ndim);
    if (b <= 0 || b > (int64_t)1 << 20)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: invalid blocksize %lld", n->op_type,
                           (long long)b);
    qdb_shape o = *s;
    if (strcmp(n->op_type, "DepthToSpace") == 0) {
        if (s->d[1] % (b * b))
            return qdb_err_set(e, QDB_ERR_SHAPE,
                               "DepthToSpace: %lld channels not divisible by blocksize^2 = %lld",
                               (long long)s->d[1], (long long)(b * b));
        o.d[1] = s->d[1] / (b * b);
        o.d[2] = s->d[2] * b;
        o.d[3] = s->d[3] * b;
    } else {
        if (s->d[2] % b || s->d[3] % b)
            return qdb_err_set(e, QDB_ERR_SHAPE,
                               "SpaceToDepth: spatial size %lldx%lld not divisible by "
                               "blocksize %lld",
                               (long long)s->d[2], (long long)s->d[3], (long long)b);
        o.d[1] = s->d[1] * b * b;
        o.d[2] = s->d[2] / b;
        o.d[3] = s->d[3] / b;
    }
    return qdb_out_set(n, &out[0], in[0]->dtype, &o, e);
}

static qdb_status d2s_forward(const qdb_node *n, const qdb_tensor *const *in,
                              qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    const int64_t b = qdb_attr_int(n, "blocksize", 1);
    const int64_t N = x->shape.d[0], C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
    int64_t dims[6], st[6];
    if (strcmp(n->op_type, "DepthToSpace") == 0) {
        /* Output [N, C', H, b1, W, b2] in row-major order is exactly the
         * output tensor [N, C', H*b, W*b]. */
        const int64_t Co = C / (b * b), HW = H * W;
        int64_t dd[6] = {N, Co, H, b, W, b};
        memcpy(dims, dd, sizeof dims);
        st[0] = C * HW;
        st[2] = W;
        st[4] = 1;
        if (is_crd(n)) { /* input channel = c'*b*b + b1*b + b2 */
            st[1] = b * b * HW;
            st[3] = b * HW;
            st[5] = HW;
        } else { /* DCR: input channel = (b1*b + b2)*C' + c' */
            st[1] = HW;
            st[3] = b * Co * HW;
            st[5] = Co * HW;
        }
    } else {
        /* Output [N, b1, b2, C, H', W'] = [N, C*b*b, H/b, W/b], output
         * channel (b1*b + b2)*C + c. */
        const int64_t Ho = H / b, Wo = W / b;
        int64_t dd[6] = {N, b, b, C, Ho, Wo};
        memcpy(dims, dd, sizeof dims);
        st[0] = C * H * W;
        st[1] = W;
        st[2] = 1;
        st[3] = H * W;
        st[4] = b * W;
        st[5] = b;
    }
    (void)e;
    qdb_strided_copy(out[0]->data.p, x->data.p, qdb_dtype_size(x->dtype), 6, dims, st);
    return QDB_OK;
}

const qdb_op qdb_op_depth_to_space = {
    .type = "DepthToSpace",
    .check = d2s_check,
    .infer = d2s_infer,
    .forward = d2s_forward,
    .moves_values = 1,
};

const qdb_op qdb_op_space_to_depth = {
    .type = "SpaceToDepth",
    .check = d2s_check,
    .infer = d2s_infer,
    .forward = d2s_forward,
    .moves_values = 1,
};
