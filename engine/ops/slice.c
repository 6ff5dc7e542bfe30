/* slice.c - Slice: per-axis start/end/step selection, from attributes
 * (opset < 10) or constant inputs (opset >= 10), with the ONNX clamping
 * rules and negative steps. Forward is a strided copy. */
#include <string.h>

#include "op.h"
#include "tensor_util.h"

typedef struct {
    int64_t start[QDB_MAX_DIMS], step[QDB_MAX_DIMS], len[QDB_MAX_DIMS];
} slice_plan;

static qdb_status slice_check(const qdb_node *n, qdb_err *e)
{
    if (n->opset < 10) {
        if (!qdb_node_attr(n, "starts") || !qdb_node_attr(n, "ends"))
            return qdb_err_set(e, QDB_ERR_INVALID, "Slice: attributes 'starts' and 'ends' needed");
        return QDB_OK;
    }
    if (n->n_in < 3 || n->in[1] < 0 || n->in[2] < 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "Slice: inputs 'starts' and 'ends' needed");
    return QDB_OK;
}

static qdb_status attr_list(const qdb_node *n, const char *name, int64_t *buf, int *cnt,
                            qdb_err *e)
{
    const int64_t *a = qdb_attr_ints(n, name, cnt);
    if (*cnt > QDB_MAX_DIMS)
        return qdb_err_set(e, QDB_ERR_INVALID, "Slice: '%s' has %d entries (at most %d)", name,
                           *cnt, QDB_MAX_DIMS);
    if (*cnt)
        memcpy(buf, a, (size_t)*cnt * sizeof *buf);
    return QDB_OK;
}

static qdb_status slice_plan_make(const qdb_node *n, const qdb_tensor *const *in, slice_plan *p,
                                  qdb_err *e)
{
    const qdb_shape *s = &in[0]->shape;
    int64_t starts[QDB_MAX_DIMS], ends[QDB_MAX_DIMS], axes[QDB_MAX_DIMS], steps[QDB_MAX_DIMS];
    int ns = 0, ne = 0, na = -1, nst = -1;
    qdb_status st;
    if (n->opset < 10) {
        if ((st = attr_list(n, "starts", starts, &ns, e)) != QDB_OK ||
            (st = attr_list(n, "ends", ends, &ne, e)) != QDB_OK)
            return st;
        if (qdb_node_attr(n, "axes") && (st = attr_list(n, "axes", axes, &na, e)) != QDB_OK)
            return st;
    } else {
        const qdb_tensor *t;
        if ((st = qdb_const_ints(n, in[1], "starts", starts, QDB_MAX_DIMS, &ns, e)) != QDB_OK ||
            (st = qdb_const_ints(n, in[2], "ends", ends, QDB_MAX_DIMS, &ne, e)) != QDB_OK)
            return st;
        if ((t = qdb_op_in(n, in, 3)) &&
            (st = qdb_const_ints(n, t, "axes", axes, QDB_MAX_DIMS, &na, e)) != QDB_OK)
            return st;
        if ((t = qdb_op_in(n, in, 4)) &&
            (st = qdb_const_ints(n, t, "steps", steps, QDB_MAX_DIMS, &nst, e)) != QDB_OK)
            return st;
    }
    if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "Slice: starts, ends, axes and steps differ in length");
    for (int i = 0; i < s->ndim; i++) {
        p->start[i] = 0;
        p->step[i] = 1;
        p->len[i] = s->d[i];
    }
    int seen[QDB_MAX_DIMS] = {0};
    for (int k = 0; k < ns; k++) {
        int a = k;
        if (na >= 0 && (st = qdb_op_axis(n, axes[k], s->ndim, &a, e)) != QDB_OK)
            return st;
        if (a >= s->ndim)
            return qdb_err_set(e, QDB_ERR_INVALID, "Slice: %d starts for rank %d", ns, s->ndim);
        if (seen[a])
            return qdb_err_set(e, QDB_ERR_INVALID, "Slice: axis %d repeated", a);
        seen[a] = 1;
        const int64_t dim = s->d[a];
        const int64_t step = nst >= 0 ? steps[k] : 1;
        if (step == 0)
            return qdb_err_set(e, QDB_ERR_INVALID, "Slice: step 0 on axis %d", a);
        int64_t b = starts[k], en = ends[k];
        if (b < 0)
            b += dim;
        if (en < 0)
            en += dim;
        int64_t len;
        if (step > 0) {
            b = b < 0 ? 0 : b > dim ? dim : b;
            en = en < 0 ? 0 : en > dim ? dim : en;
            len = en > b ? (en - b - 1) / step + 1 : 0;
        } else {
            b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b;
            en = en < -1 ? -1 : en > dim - 1 ? dim - 1 : en;
            uint64_t ms = (uint64_t)0 - (uint64_t)step; /* -step without overflow */
            len = b > en ? (int64_t)((uint64_t)(b - en - 1) / ms) + 1 : 0;
        }
        p->start[a] = len ? b : 0;
        p->step[a] = len > 1 ? step : 1; /* keeps step * stride in range */
        p->len[a] = len;
    }
    return QDB_OK;
}

static qdb_status slice_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                              qdb_err *e)
{
    slice_plan p;
    qdb_status st = slice_plan_make(n, in, &p, e);
    if (st != QDB_OK)
        return st;
    qdb_shape o = in[0]->shape;
    for (int i = 0; i < o.ndim; i++)
        o.d[i] = p.len[i];
    return qdb_out_set(n, &out[0], in[0]->dtype, &o, e);
}

static qdb_status slice_forward(const qdb_node *n, const qdb_tensor *const *in,
                                qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    slice_plan p;
    qdb_status st = slice_plan_make(n, in, &p, e);
    if (st != QDB_OK)
        return st;
    if (out[0]->numel == 0)
        return QDB_OK;
    int64_t xs[QDB_MAX_DIMS], strides[QDB_MAX_DIMS], off = 0;
    qdb_shape_strides(&x->shape, xs);
    for (int i = 0; i < x->shape.ndim; i++) {
        off += p.start[i] * xs[i];
        strides[i] = p.step[i] * xs[i];
    }
    const size_t es = qdb_dtype_size(x->dtype);
    qdb_strided_copy(out[0]->data.p, (const char *)x->data.p + off * (int64_t)es, es,
                     x->shape.ndim, p.len, strides);
    return QDB_OK;
}

const qdb_op qdb_op_slice = {
    .type = "Slice",
    .check = slice_check,
    .infer = slice_infer,
    .forward = slice_forward,
    .moves_values = 1,
};
