/* pad.c - Pad: constant, reflect, edge (and from opset 19 wrap) padding,
 * with pads from the attribute (opset < 11) or a constant input (opset >=
 * 11, optionally restricted to some axes from opset 18). Negative pads crop
 * first; the remaining positive pads are then applied to the cropped
 * extent. Each axis gets a table mapping output to input coordinates (-1
 * for the constant), and forward walks the output rows through it. */
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "pad.h"
#include "tensor_util.h"

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

static int pad_mode(const qdb_node *n)
{
    const char *m = qdb_attr_string(n, "mode", "constant");
    if (strcmp(m, "constant") == 0)
        return PAD_CONSTANT;
    if (strcmp(m, "reflect") == 0)
        return PAD_REFLECT;
    if (strcmp(m, "edge") == 0)
        return PAD_EDGE;
    if (strcmp(m, "wrap") == 0 && n->opset >= 19)
        return PAD_WRAP;
    return -1;
}

static qdb_status pad_check(const qdb_node *n, qdb_err *e)
{
    if (pad_mode(n) < 0)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Pad: mode '%s' is not supported at opset %d",
                           qdb_attr_string(n, "mode", "constant"), n->opset);
    if (n->opset < 11) {
        const char *name = n->opset < 2 ? "paddings" : "pads";
        const qdb_attr *a = qdb_node_attr(n, name);
        if (!a || a->type != QDB_ATTR_INTS)
            return qdb_err_set(e, QDB_ERR_INVALID, "Pad: attribute '%s' is missing", name);
    } else if (n->n_in < 2 || n->in[1] < 0) {
        return qdb_err_set(e, QDB_ERR_INVALID, "Pad: input 'pads' is missing");
    }
    return QDB_OK;
}

/* Per-axis begin / end pads (negative = crop). */
static qdb_status pad_amounts(const qdb_node *n, const qdb_tensor *const *in, int64_t *pb,
                              int64_t *pe, qdb_err *e)
{
    const int r = in[0]->shape.ndim;
    int64_t pads[2 * QDB_MAX_DIMS], axes[QDB_MAX_DIMS];
    int np = 0, na = r;
    qdb_status st;
    for (int i = 0; i < r; i++)
        axes[i] = i;
    if (n->opset < 11) {
        const int64_t *a = qdb_attr_ints(n, n->opset < 2 ? "paddings" : "pads", &np);
        if (np > 2 * QDB_MAX_DIMS)
            return qdb_err_set(e, QDB_ERR_INVALID, "Pad: %d pads for rank %d", np, r);
        if (np)
            memcpy(pads, a, (size_t)np * sizeof *pads);
    } else {
        if ((st = qdb_const_ints(n, in[1], "pads", pads, 2 * QDB_MAX_DIMS, &np, e)) != QDB_OK)
            return st;
        const qdb_tensor *t = n->opset >= 18 ? qdb_op_in(n, in, 3) : NULL;
        if (t && (st = qdb_const_ints(n, t, "axes", axes, QDB_MAX_DIMS, &na, e)) != QDB_OK)
            return st;
    }
    if (np != 2 * na)
        return qdb_err_set(e, QDB_ERR_INVALID, "Pad: %d pads for %d axes", np, na);
    for (int i = 0; i < r; i++)
        pb[i] = pe[i] = 0;
    int seen[QDB_MAX_DIMS] = {0};
    for (int k = 0; k < na; k++) {
        int a;
        if ((st = qdb_op_axis(n, axes[k], r, &a, e)) != QDB_OK)
            return st;
        if (seen[a])
            return qdb_err_set(e, QDB_ERR_INVALID, "Pad: axis %d repeated", a);
        seen[a] = 1;
        const int64_t lim = (int64_t)1 << 40;
        if (pads[k] < -lim || pads[k] > lim || pads[na + k] < -lim || pads[na + k] > lim)
            return qdb_err_set(e, QDB_ERR_INVALID, "Pad: pad amount out of range");
        pb[a] = pads[k];
        pe[a] = pads[na + k];
    }
    return QDB_OK;
}

static qdb_status pad_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                            qdb_err *e)
{
    const qdb_shape *s = &in[0]->shape;
    int64_t pb[QDB_MAX_DIMS], pe[QDB_MAX_DIMS];
    qdb_status st = pad_amounts(n, in, pb, pe, e);
    if (st != QDB_OK)
        return st;
    const int mode = pad_mode(n);
    qdb_shape o = *s;
    for (int i = 0; i < s->ndim; i++) {
        o.d[i] = s->d[i] + pb[i] + pe[i];
        if (o.d[i] < 0)
            return qdb_err_set(e, QDB_ERR_SHAPE, "Pad: pads crop more than axis %d holds", i);
        int64_t kept = s->d[i] - (pb[i] < 0 ? -pb[i] : 0) - (pe[i] < 0 ? -pe[i] : 0);
        if (mode != PAD_CONSTANT && kept <= 0 && o.d[i] > 0)
            return qdb_err_set(e, QDB_ERR_SHAPE, "Pad: cannot %s-pad an empty axis %d",
                               qdb_attr_string(n, "mode", "constant"), i);
    }
    const qdb_tensor *cv = n->opset >= 11 ? qdb_op_in(n, in, 2) : NULL;
    if (cv && cv->numel > 0 && cv->dtype != in[0]->dtype)
        return qdb_err_set(e, QDB_ERR_INVALID, "Pad: constant_value is %s, data is %s",
                           qdb_dtype_name(cv->dtype), qdb_dtype_name(in[0]->dtype));
    return qdb_out_set(n, &out[0], in[0]->dtype, &o, e);
}

/* Input coordinate of output coordinate o: -1 for the constant. */
static int64_t pad_map(int mode, int64_t o, int64_t pb, int64_t lo, int64_t m)
{
    int64_t c = o - (pb > 0 ? pb : 0); /* coordinate in the cropped extent [0, m) */
    if (c >= 0 && c < m)
        return lo + c;
    switch (mode) {
    case PAD_EDGE:
        return lo + (c < 0 ? 0 : m - 1);
    case PAD_WRAP:
        return lo + ((c % m) + m) % m;
    case PAD_REFLECT: {
        if (m == 1)
            return lo;
        int64_t period = 2 * (m - 1);
        c = ((c % period) + period) % period;
        return lo + (c < m ? c : period - c);
    }
    default:
        return -1;
    }
}

static qdb_status pad_forward(const qdb_node *n, const qdb_tensor *const *in,
                              qdb_tensor *const *out, qdb_err *e)
{
    const qdb_tensor *x = in[0];
    qdb_tensor *y = out[0];
    const int r = x->shape.ndim, mode = pad_mode(n);
    int64_t pb[QDB_MAX_DIMS], pe[QDB_MAX_DIMS];
    qdb_status st = pad_amounts(n, in, pb, pe, e);
    if (st != QDB_OK)
        return st;
    if (y->numel == 0)
        return QDB_OK;
    if (r == 0) {
        memcpy(y->data.p, x->data.p, qdb_dtype_size(x->dtype));
        return QDB_OK;
    }
    /* The constant, as the bits of one element. */
    uint64_t c8 = 0;
    uint32_t c4 = 0;
    const qdb_tensor *cv = n->opset >= 11 ? qdb_op_in(n, in, 2) : NULL;
    if (x->dtype == QDB_F32) {
        float v = cv && cv->numel ? cv->data.f[0]
                   : n->opset < 11 ? qdb_attr_float(n, "value", 0)
                                   : 0;
        memcpy(&c4, &v, sizeof v);
    } else {
        int64_t v = cv && cv->numel ? cv->data.i[0]
                                    : n->opset < 11 ? (int64_t)qdb_attr_float(n, "value", 0) : 0;
        memcpy(&c8, &v, sizeof v);
    }

    size_t total = 0;
    for (int i = 0; i < r; i++)
        total += (size_t)y->shape.d[i];
    int64_t *maps = malloc(total * sizeof *maps);
    if (!maps)
        return qdb_err_set(e, QDB_ERR_NOMEM, "Pad: out of memory");
    int64_t *map[QDB_MAX_DIMS], xs[QDB_MAX_DIMS];
    qdb_shape_strides(&x->shape, xs);
    size_t at = 0;
    for (int i = 0; i < r; i++) {
        map[i] = maps + at;
        at += (size_t)y->shape.d[i];
        int64_t lo = pb[i] < 0 ? -pb[i] : 0;
        int64_t m = x->shape.d[i] - lo - (pe[i] < 0 ? -pe[i] : 0);
        for (int64_t o = 0; o < y->shape.d[i]; o++) {
            int64_t j = pad_map(mode, o, pb[i], lo, m);
            map[i][o] = j < 0 ? -1 : j * xs[i];
        }
    }

    const int64_t inner = y->shape.d[r - 1];
    const int64_t *im = map[r - 1];
    /* the common case (shift-negative correction's padding, PyTorch's
     * ZeroPad2d): constant mode, no cropping of the last axis */
    const int fast_rows = mode == PAD_CONSTANT && pb[r - 1] >= 0 && pe[r - 1] >= 0;
    int64_t pos[QDB_MAX_DIMS] = {0};
    size_t row = 0;
    for (;;) {
        int64_t off = 0;
        int outside = 0;
        for (int i = 0; i < r - 1; i++) {
            int64_t j = map[i][pos[i]];
            if (j < 0)
                outside = 1;
            off += j;
        }
        if (x->dtype == QDB_F32) {
            uint32_t *o = (uint32_t *)y->data.p + row;
            if (outside) {
                for (int64_t k = 0; k < inner; k++)
                    o[k] = c4;
            } else if (fast_rows) {
                /* constant padding of the last axis: fill, copy, fill */
                const uint32_t *s = (const uint32_t *)x->data.p + off;
                for (int64_t k = 0; k < pb[r - 1]; k++)
                    o[k] = c4;
                memcpy(o + pb[r - 1], s, (size_t)x->shape.d[r - 1] * sizeof *o);
                for (int64_t k = pb[r - 1] + x->shape.d[r - 1]; k < inner; k++)
                    o[k] = c4;
            } else {
                const uint32_t *s = (const uint32_t *)x->data.p + off;
                for (int64_t k = 0; k < inner; k++)
                    o[k] = im[k] < 0 ? c4 : s[im[k]];
            }
        } else {
            uint64_t *o = (uint64_t *)y->data.p + row;
            if (outside) {
                for (int64_t k = 0; k < inner; k++)
                    o[k] = c8;
            } else {
                const uint64_t *s = (const uint64_t *)x->data.p + off;
                for (int64_t k = 0; k < inner; k++)
                    o[k] = im[k] < 0 ? c8 : s[im[k]];
            }
        }
        row += (size_t)inner;
        int i = r - 2;
        for (; i >= 0; i--) {
            if (++pos[i] < y->shape.d[i])
                break;
            pos[i] = 0;
        }
        if (i < 0)
            break;
    }
    free(maps);
    return QDB_OK;
}

const qdb_op qdb_op_pad = {
    .type = "Pad",
    .check = pad_check,
    .infer = pad_infer,
    .forward = pad_forward,
};

qdb_status qdb_pad_constant_spatial(const qdb_node *n, const qdb_tensor *const *in,
                                    int64_t *pb, int64_t *pe, float *value, qdb_err *e)
{
    int64_t b[QDB_MAX_DIMS], en[QDB_MAX_DIMS];
    const qdb_tensor *x = in[0];
    if (!x || x->dtype != QDB_F32 || x->shape.ndim != 4 || pad_mode(n) != PAD_CONSTANT)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Pad: not a constant float 2-D padding");
    qdb_status st = pad_amounts(n, in, b, en, e);
    if (st != QDB_OK)
        return st;
    if (b[0] || en[0] || b[1] || en[1])
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Pad: pads the batch or channel axis");
    for (int i = 0; i < 2; i++) {
        if (b[2 + i] < 0 || en[2 + i] < 0)
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Pad: crops");
        pb[i] = b[2 + i];
        pe[i] = en[2 + i];
    }
    const qdb_tensor *cv = n->opset >= 11 ? qdb_op_in(n, in, 2) : NULL;
    if (cv && cv->numel && cv->dtype != QDB_F32)
        return qdb_err_set(e, QDB_ERR_INVALID, "Pad: constant_value is %s, data is float32",
                           qdb_dtype_name(cv->dtype));
    *value = cv && cv->numel ? cv->data.f[0] : n->opset < 11 ? qdb_attr_float(n, "value", 0) : 0;
    return QDB_OK;
}
