/* conv.c - Conv and ConvTranspose (1-D to 3-D, NCHW float32, groups).
 *
 * Conv runs im2col + sgemm per image and group (1x1 / stride 1 / no pad
 * convolutions skip im2col), or the direct depthwise kernel when every
 * group has one input and one output channel. The executor's fused groups
 * run a Conv through qdb_conv_run_fused (conv.h). ConvTranspose runs sgemm +
 * col2im per image and group. The arithmetic lives in kernels.c. */
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "conv_q8.h"
#include "kernels.h"
#include "op.h"
#include "pw_chain.h"
#include "window.h"

/* Geometry of one Conv / ConvTranspose node on concrete input shapes. */
typedef struct conv_geo {
    int nsp;
    int64_t n;       /* batch */
    int64_t c_in;    /* input channels */
    int64_t c_out;   /* output channels */
    int64_t group;
    int64_t ksz;     /* kernel positions */
    int64_t x_sz;    /* spatial size of an input image */
    int64_t y_sz;    /* spatial size of an output image */
    int64_t y_sp[QDB_WIN_DIMS];
    qdb_window w;    /* Conv: x -> y; ConvTranspose: y -> x (the adjoint) */
} conv_geo;

static qdb_status check_f32(const qdb_node *n, const qdb_tensor *t, const char *what, qdb_err *e)
{
    if (t->dtype != QDB_F32)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: input '%s' is %s, only float32 supported",
                           n->op_type, what, qdb_dtype_name(t->dtype));
    return QDB_OK;
}

/* Common input checks: X, W (rank of X), optional B of `bias_len` entries,
 * and the kernel size from W (matching kernel_shape when given). */
static qdb_status conv_inputs(const qdb_node *n, const qdb_tensor *const *in, int64_t *k,
                              int *nsp, qdb_err *e)
{
    const qdb_tensor *x = qdb_op_in(n, in, 0), *w = qdb_op_in(n, in, 1);
    qdb_status st;
    if (!x || !w)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: inputs X and W are required", n->op_type);
    if ((st = check_f32(n, x, "X", e)) != QDB_OK || (st = check_f32(n, w, "W", e)) != QDB_OK)
        return st;
    if ((st = qdb_nn_spatial_rank(n, &x->shape, nsp, e)) != QDB_OK)
        return st;
    if (w->shape.ndim != x->shape.ndim)
        return qdb_err_set(e, QDB_ERR_SHAPE, "%s: W has rank %d but X has rank %d", n->op_type,
                           w->shape.ndim, x->shape.ndim);
    int nk;
    const int64_t *ks = qdb_attr_ints(n, "kernel_shape", &nk);
    for (int i = 0; i < *nsp; i++) {
        k[i] = w->shape.d[2 + i];
        if (k[i] < 1)
            return qdb_err_set(e, QDB_ERR_SHAPE, "%s: empty kernel in W", n->op_type);
        if (ks && (nk != *nsp || ks[i] != k[i]))
            return qdb_err_set(e, QDB_ERR_SHAPE,
                               "%s: kernel_shape attribute disagrees with the shape of W",
                               n->op_type);
    }
    return QDB_OK;
}

static qdb_status bias_input(const qdb_node *n, const qdb_tensor *const *in, int64_t m,
                             qdb_err *e)
{
    const qdb_tensor *b = qdb_op_in(n, in, 2);
    if (!b)
        return QDB_OK;
    qdb_status st = check_f32(n, b, "B", e);
    if (st != QDB_OK)
        return st;
    if (b->shape.ndim != 1 || b->shape.d[0] != m)
        return qdb_err_set(e, QDB_ERR_SHAPE, "%s: bias B must have shape [%lld]", n->op_type,
                           (long long)m);
    return QDB_OK;
}

static qdb_status group_attr(const qdb_node *n, int64_t *g, qdb_err *e)
{
    const qdb_attr *a = qdb_node_attr(n, "group");
    *g = 1;
    if (!a)
        return QDB_OK;
    if (a->type != QDB_ATTR_INT || a->i < 1 || a->i > QDB_NN_ATTR_MAX)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: group must be an int in [1, %lld]",
                           n->op_type, (long long)QDB_NN_ATTR_MAX);
    *g = a->i;
    return QDB_OK;
}

/* --------------------------------------------------------------------- Conv */

static const char *const conv_attrs[] = {"auto_pad", "dilations", "group", "kernel_shape",
                                         "pads", "strides", NULL};

static qdb_status conv_check(const qdb_node *n, qdb_err *e)
{
    qdb_status st;
    int64_t g;
    if ((st = qdb_nn_check_attrs(n, conv_attrs, e)) != QDB_OK ||
        (st = qdb_nn_check_window(n, 0, e)) != QDB_OK || (st = group_attr(n, &g, e)) != QDB_OK)
        return st;
    return QDB_OK;
}

static qdb_status conv_geometry(const qdb_node *n, const qdb_tensor *const *in, conv_geo *g,
                                qdb_err *e)
{
    int64_t k[QDB_WIN_DIMS];
    qdb_status st;
    memset(g, 0, sizeof *g);
    if ((st = conv_inputs(n, in, k, &g->nsp, e)) != QDB_OK ||
        (st = group_attr(n, &g->group, e)) != QDB_OK)
        return st;
    const qdb_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    g->n = xs->d[0];
    g->c_in = xs->d[1];
    g->c_out = ws->d[0];
    if (g->c_in % g->group != 0 || g->c_out % g->group != 0 || ws->d[1] != g->c_in / g->group)
        return qdb_err_set(e, QDB_ERR_SHAPE,
                           "Conv: %lld input channels, W of %lld x %lld channels and group %lld "
                           "do not fit",
                           (long long)g->c_in, (long long)ws->d[0], (long long)ws->d[1],
                           (long long)g->group);
    if ((st = bias_input(n, in, g->c_out, e)) != QDB_OK ||
        (st = qdb_nn_window(n, xs, g->nsp, k, &g->w, e)) != QDB_OK)
        return st;
    g->ksz = qdb_window_k_size(&g->w);
    g->x_sz = qdb_window_in_size(&g->w);
    g->y_sz = qdb_window_out_size(&g->w);
    for (int i = 0; i < g->nsp; i++)
        g->y_sp[i] = g->w.out[qdb_nn_wdim(g->nsp, i)];
    return QDB_OK;
}

static qdb_status conv_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                             qdb_err *e)
{
    conv_geo g;
    qdb_status st = conv_geometry(n, in, &g, e);
    if (st != QDB_OK)
        return st;
    out[0].dtype = QDB_F32;
    out[0].shape = in[0]->shape;
    out[0].shape.d[1] = g.c_out;
    for (int i = 0; i < g.nsp; i++)
        out[0].shape.d[2 + i] = g.y_sp[i];
    return QDB_OK;
}

/* The convolution proper on geometry g; `ex` (may be NULL) is what a fused
 * group adds: a fill value for the depthwise window's padding and the
 * pointwise chain run on each output image once computed. */
static qdb_status conv_compute(const qdb_node *n, const conv_geo *gp, const qdb_tensor *const *in,
                               const qdb_dw_extra *ex, float *y, qdb_err *e);

/* The integer plan's run (conv_q8.h), image by image, with the chain.
 * Returns 0, or 1 when the float Conv must run instead (X holds a NaN, or
 * no memory for the plan's scratch: the float path may still fit). */
static int conv_compute_q8(const qdb_conv_q8 *q8, const conv_geo *g, const qdb_tensor *const *in,
                           const qdb_node *n, const qdb_pw_chain *chain, float *y)
{
    const qdb_tensor *bt = qdb_op_in(n, in, 2);
    size_t ns = qdb_conv_q8_scratch(q8, &g->w);
    float *scratch = ns ? malloc(ns * sizeof *scratch) : NULL;
    if (!scratch)
        return 1;
    for (int64_t i = 0; i < g->n; i++) {
        float *yi = y + i * g->c_out * g->y_sz;
        if (qdb_conv_q8_image(q8, &g->w, in[0]->data.f + i * g->c_in * g->x_sz,
                              bt ? bt->data.f : NULL, yi, scratch)) {
            free(scratch);
            return 1;
        }
        if (chain)
            qdb_pw_apply_planes(chain, yi, g->c_out, g->y_sz, 0, g->c_out);
    }
    free(scratch);
    return 0;
}

static qdb_status conv_compute(const qdb_node *n, const conv_geo *gp, const qdb_tensor *const *in,
                               const qdb_dw_extra *ex, float *y, qdb_err *e)
{
    const conv_geo g = *gp;
    float *col = NULL;
    const float *x = in[0]->data.f, *wt = in[1]->data.f;
    const qdb_tensor *bt = qdb_op_in(n, in, 2);
    const float *bias = bt ? bt->data.f : NULL;
    const int64_t cg = g.c_in / g.group, mg = g.c_out / g.group, kdim = cg * g.ksz;
    const qdb_window *w = &g.w;

    if (cg == 1 && mg == 1) { /* depthwise */
        for (int64_t i = 0; i < g.n; i++)
            if (qdb_conv_depthwise_ex(x + i * g.c_in * g.x_sz, wt, bias, g.c_in, w, ex,
                                      y + i * g.c_out * g.y_sz))
                return qdb_err_set(e, QDB_ERR_NOMEM, "Conv: out of memory for a padded plane");
        return QDB_OK;
    }
    if (ex && ex->fill)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Conv: a folded Pad needs a depthwise Conv");
    if (kdim > QDB_SGEMM_DIM_MAX || mg > QDB_SGEMM_DIM_MAX || g.y_sz > QDB_SGEMM_DIM_MAX)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Conv: matrix dimensions exceed the BLAS limit");

    int pointwise = 1;
    for (int i = 0; i < QDB_WIN_DIMS; i++)
        if (w->k[i] != 1 || w->stride[i] != 1 || w->pad[i] != 0 || w->out[i] != w->in[i])
            pointwise = 0;
    if (!pointwise && kdim > 0 && g.y_sz > 0) {
        if ((uint64_t)g.y_sz > (QDB_TENSOR_MAX_BYTES / sizeof(float)) / (uint64_t)kdim)
            return qdb_err_set(e, QDB_ERR_NOMEM, "Conv: im2col buffer too large");
        col = malloc((size_t)(kdim * g.y_sz) * sizeof *col);
        if (!col)
            return qdb_err_set(e, QDB_ERR_NOMEM, "Conv: out of memory for the im2col buffer");
    }
    for (int64_t i = 0; i < g.n; i++) {
        for (int64_t grp = 0; grp < g.group; grp++) {
            const float *xg = x + (i * g.c_in + grp * cg) * g.x_sz;
            float *yg = y + (i * g.c_out + grp * mg) * g.y_sz;
            const float *b = xg;
            if (col) {
                qdb_im2col(xg, cg, w, col);
                b = col;
            }
            /* The bias goes in first and the product is added to it (beta
             * 1): one pass over the output fewer than adding it afterwards.
             * (Adding it after a beta-0 product is not the same: sgemm adds
             * each block of K's partial sum into C in turn.) */
            if (bias)
                qdb_fill_bias(yg, mg, g.y_sz, bias + grp * mg);
            qdb_sgemm(0, 0, mg, g.y_sz, kdim, 1.0f, wt + grp * mg * kdim, kdim, b, g.y_sz,
                      bias ? 1.0f : 0.0f, yg, g.y_sz);
        }
        if (ex && ex->chain) /* the image is still in cache */
            qdb_pw_apply_planes(ex->chain, y + i * g.c_out * g.y_sz, g.c_out, g.y_sz, 0,
                                g.c_out);
    }
    free(col);
    return QDB_OK;
}

static qdb_status conv_forward(const qdb_node *n, const qdb_tensor *const *in,
                               qdb_tensor *const *out, qdb_err *e)
{
    conv_geo g;
    qdb_status st = conv_geometry(n, in, &g, e);
    if (st != QDB_OK)
        return st;
    return conv_compute(n, &g, in, NULL, out[0]->data.f, e);
}

qdb_status qdb_conv_run_fused(const qdb_node *n, const qdb_tensor *const *in,
                              const qdb_conv_fuse *f, qdb_tensor **out, qdb_err *e)
{
    *out = NULL;
    const qdb_tensor *vin[3] = {NULL, NULL, NULL};
    qdb_tensor xv;
    if (n->n_in < 2 || n->n_in > 3)
        return qdb_err_set(e, QDB_ERR_INVALID, "Conv: %d inputs", n->n_in);
    for (int k = 0; k < n->n_in; k++)
        vin[k] = in[k];
    if (!in[0])
        return qdb_err_set(e, QDB_ERR_INVALID, "Conv: input X is required");
    if (f->pad) { /* the geometry of the padded input the Pad would have made */
        if (in[0]->shape.ndim != 4)
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Conv: a folded Pad needs a 2-D Conv");
        xv = *in[0];
        for (int i = 0; i < 2; i++)
            xv.shape.d[2 + i] += f->pad_begin[i] + f->pad_end[i];
        vin[0] = &xv;
    }
    conv_geo g;
    qdb_status st = conv_geometry(n, vin, &g, e);
    if (st != QDB_OK)
        return st;
    qdb_dw_extra ex = {0, 0.0f, f->chain};
    if (f->pad) {
        for (int i = 0; i < 2; i++) {
            const int j = qdb_nn_wdim(2, i);
            if (g.w.pad[j] || g.w.pad_end[j])
                return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                                   "Conv: a folded Pad needs an unpadded Conv");
            g.w.in[j] = in[0]->shape.d[2 + i];
            g.w.pad[j] = f->pad_begin[i];
            g.w.pad_end[j] = f->pad_end[i];
        }
        g.x_sz = qdb_window_in_size(&g.w);
        ex.fill = 1;
        ex.fill_value = f->pad_value;
    }
    qdb_shape ys = in[0]->shape;
    ys.d[1] = g.c_out;
    for (int i = 0; i < g.nsp; i++)
        ys.d[2 + i] = g.y_sp[i];
    qdb_tensor *t = qdb_tensor_new_uninit(QDB_F32, &ys, e);
    if (!t)
        return e && e->code ? e->code : QDB_ERR_NOMEM;
    if (f->q8 && !f->pad && qdb_conv_q8_fits(f->q8, &g.w, g.c_in, g.c_out, g.group) &&
        conv_compute_q8(f->q8, &g, in, n, f->chain, t->data.f) == 0)
        st = QDB_OK;
    else /* in float, the whole batch again (the chain ran on a prefix) */
        st = conv_compute(n, &g, in, &ex, t->data.f, e);
    if (st != QDB_OK) {
        qdb_tensor_free(t);
        return st;
    }
    *out = t;
    return QDB_OK;
}

const qdb_op qdb_op_conv = {
    .type = "Conv",
    .check = conv_check,
    .infer = conv_infer,
    .forward = conv_forward,
};

/* ------------------------------------------------------------ ConvTranspose */

static const char *const convt_attrs[] = {"auto_pad",       "dilations",    "group",
                                          "kernel_shape",   "output_padding", "output_shape",
                                          "pads",           "strides",      NULL};

static qdb_status convt_check(const qdb_node *n, qdb_err *e)
{
    qdb_status st;
    int64_t g;
    if ((st = qdb_nn_check_attrs(n, convt_attrs, e)) != QDB_OK ||
        (st = qdb_nn_check_window(n, 0, e)) != QDB_OK || (st = group_attr(n, &g, e)) != QDB_OK)
        return st;
    int len;
    if ((st = qdb_nn_ints_attr(n, "output_padding", 0, QDB_NN_ATTR_MAX, &len, e)) != QDB_OK ||
        (st = qdb_nn_ints_attr(n, "output_shape", 1, QDB_TENSOR_MAX_BYTES, &len, e)) != QDB_OK)
        return st;
    return QDB_OK;
}

/* floor(a / 2) */
static int64_t half_floor(int64_t a)
{
    return a >= 0 ? a / 2 : -((-a + 1) / 2);
}

static qdb_status convt_geometry(const qdb_node *n, const qdb_tensor *const *in, conv_geo *g,
                                 qdb_err *e)
{
    int64_t k[QDB_WIN_DIMS], s[QDB_WIN_DIMS], d[QDB_WIN_DIMS], p[2 * QDB_WIN_DIMS],
        opad[QDB_WIN_DIMS];
    qdb_autopad ap;
    qdb_status st;
    memset(g, 0, sizeof *g);
    if ((st = conv_inputs(n, in, k, &g->nsp, e)) != QDB_OK ||
        (st = group_attr(n, &g->group, e)) != QDB_OK || (st = qdb_nn_autopad(n, &ap, e)) != QDB_OK)
        return st;
    const int nsp = g->nsp;
    if ((st = qdb_nn_ints(n, "strides", nsp, 1, s, e)) != QDB_OK ||
        (st = qdb_nn_ints(n, "dilations", nsp, 1, d, e)) != QDB_OK ||
        (st = qdb_nn_ints(n, "pads", 2 * nsp, 0, p, e)) != QDB_OK ||
        (st = qdb_nn_ints(n, "output_padding", nsp, 0, opad, e)) != QDB_OK)
        return st;
    int nos;
    const int64_t *os = qdb_attr_ints(n, "output_shape", &nos);
    if (os && nos != nsp && nos != nsp + 2)
        return qdb_err_set(e, QDB_ERR_INVALID, "ConvTranspose: output_shape has %d entries for "
                           "%d spatial dimensions", nos, nsp);
    if (os)
        os += nos - nsp;

    const qdb_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    g->n = xs->d[0];
    g->c_in = xs->d[1];
    if (g->c_in % g->group != 0 || ws->d[0] != g->c_in)
        return qdb_err_set(e, QDB_ERR_SHAPE,
                           "ConvTranspose: %lld input channels, W with %lld rows and group %lld "
                           "do not fit",
                           (long long)g->c_in, (long long)ws->d[0], (long long)g->group);
    g->c_out = ws->d[1] * g->group;
    if ((st = bias_input(n, in, g->c_out, e)) != QDB_OK)
        return st;

    qdb_window_init(&g->w);
    for (int i = 0; i < nsp; i++) {
        const int j = qdb_nn_wdim(nsp, i);
        const int64_t xin = xs->d[2 + i];
        if (s[i] < 1 || d[i] < 1)
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "ConvTranspose: strides and dilations must be positive");
        const int64_t full = s[i] * (xin - 1) + opad[i] + (k[i] - 1) * d[i] + 1;
        int64_t out, pb;
        if (os || ap == QDB_AUTOPAD_SAME_UPPER || ap == QDB_AUTOPAD_SAME_LOWER) {
            out = os ? os[i] : xin * s[i];
            const int64_t total = full - out;
            if (ap == QDB_AUTOPAD_SAME_UPPER)
                pb = half_floor(total);
            else
                pb = total - half_floor(total);
        } else if (ap == QDB_AUTOPAD_VALID) {
            out = full;
            pb = 0;
        } else {
            out = full - p[i] - p[i + nsp];
            pb = p[i];
        }
        if (out < 1)
            return qdb_err_set(e, QDB_ERR_SHAPE,
                               "ConvTranspose: empty output along spatial dimension %d", i);
        g->y_sp[i] = out;
        g->w.in[j] = out;
        g->w.out[j] = xin;
        g->w.k[j] = k[i];
        g->w.stride[j] = s[i];
        g->w.dil[j] = d[i];
        g->w.pad[j] = pb;
    }
    qdb_shape ys = *xs;
    ys.d[1] = g->c_out;
    for (int i = 0; i < nsp; i++)
        ys.d[2 + i] = g->y_sp[i];
    if ((st = qdb_nn_check_size(n, &ys, e)) != QDB_OK)
        return st;
    g->ksz = qdb_window_k_size(&g->w);
    g->x_sz = qdb_window_out_size(&g->w);
    g->y_sz = qdb_window_in_size(&g->w);
    return QDB_OK;
}

static qdb_status convt_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                              qdb_err *e)
{
    conv_geo g;
    qdb_status st = convt_geometry(n, in, &g, e);
    if (st != QDB_OK)
        return st;
    out[0].dtype = QDB_F32;
    out[0].shape = in[0]->shape;
    out[0].shape.d[1] = g.c_out;
    for (int i = 0; i < g.nsp; i++)
        out[0].shape.d[2 + i] = g.y_sp[i];
    return QDB_OK;
}

static qdb_status convt_forward(const qdb_node *n, const qdb_tensor *const *in,
                                qdb_tensor *const *out, qdb_err *e)
{
    conv_geo g;
    float *col = NULL;
    qdb_status st = convt_geometry(n, in, &g, e);
    if (st != QDB_OK)
        return st;
    const float *x = in[0]->data.f, *wt = in[1]->data.f;
    const qdb_tensor *bt = qdb_op_in(n, in, 2);
    float *y = out[0]->data.f;
    const int64_t cg = g.c_in / g.group, mg = g.c_out / g.group, rows = mg * g.ksz;
    const qdb_window *w = &g.w;
    if (rows > QDB_SGEMM_DIM_MAX || cg > QDB_SGEMM_DIM_MAX || g.x_sz > QDB_SGEMM_DIM_MAX ||
        g.y_sz > QDB_SGEMM_DIM_MAX)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "ConvTranspose: matrix dimensions exceed the BLAS limit");

    /* A 1x1, stride 1, unpadded kernel maps columns straight to outputs. */
    int pointwise = 1;
    for (int i = 0; i < QDB_WIN_DIMS; i++)
        if (w->k[i] != 1 || w->stride[i] != 1 || w->pad[i] != 0 || w->out[i] != w->in[i])
            pointwise = 0;
    if (!pointwise && rows > 0 && g.x_sz > 0) {
        if ((uint64_t)g.x_sz > (QDB_TENSOR_MAX_BYTES / sizeof(float)) / (uint64_t)rows)
            return qdb_err_set(e, QDB_ERR_NOMEM, "ConvTranspose: column buffer too large");
        col = malloc((size_t)(rows * g.x_sz) * sizeof *col);
        if (!col)
            return qdb_err_set(e, QDB_ERR_NOMEM,
                               "ConvTranspose: out of memory for the column buffer");
    }
    for (int64_t i = 0; i < g.n; i++) {
        float *yi = y + i * g.c_out * g.y_sz;
        for (int64_t grp = 0; grp < g.group; grp++) {
            const float *xg = x + (i * g.c_in + grp * cg) * g.x_sz;
            float *yg = yi + grp * mg * g.y_sz;
            const float *wg = wt + grp * cg * rows;
            if (!col) {
                if (pointwise)
                    qdb_sgemm(1, 0, mg, g.x_sz, cg, 1.0f, wg, rows, xg, g.x_sz, 0.0f, yg,
                              g.x_sz);
                else
                    memset(yg, 0, (size_t)(mg * g.y_sz) * sizeof *yg);
            } else {
                qdb_sgemm(1, 0, rows, g.x_sz, cg, 1.0f, wg, rows, xg, g.x_sz, 0.0f, col, g.x_sz);
                memset(yg, 0, (size_t)(mg * g.y_sz) * sizeof *yg);
                qdb_col2im(col, mg, w, yg);
            }
        }
        if (bt)
            qdb_add_bias(yi, g.c_out, g.y_sz, bt->data.f);
    }
    free(col);
    return QDB_OK;
}

const qdb_op qdb_op_conv_transpose = {
    .type = "ConvTranspose",
    .check = convt_check,
    .infer = convt_infer,
    .forward = convt_forward,
};
