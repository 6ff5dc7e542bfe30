/* window.c - attribute lists and sliding-window geometry shared by the "nn"
 * operators (see window.h). */
#include "window.h"

#include <string.h>

qdb_status qdb_nn_check_attrs(const qdb_node *n, const char *const *allowed, qdb_err *e)
{
    for (int i = 0; i < n->n_attr; i++) {
        const char *name = n->attr[i].name;
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, name) == 0;
        if (!ok)
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: attribute '%s' is not supported",
                               n->op_type, name);
    }
    return QDB_OK;
}

qdb_status qdb_nn_autopad(const qdb_node *n, qdb_autopad *ap, qdb_err *e)
{
    const qdb_attr *a = qdb_node_attr(n, "auto_pad");
    *ap = QDB_AUTOPAD_NOTSET;
    if (!a)
        return QDB_OK;
    if (a->type != QDB_ATTR_STRING || !a->s)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: attribute 'auto_pad' must be a string",
                           n->op_type);
    if (strcmp(a->s, "NOTSET") == 0 || a->s[0] == '\0')
        *ap = QDB_AUTOPAD_NOTSET;
    else if (strcmp(a->s, "SAME_UPPER") == 0)
        *ap = QDB_AUTOPAD_SAME_UPPER;
    else if (strcmp(a->s, "SAME_LOWER") == 0)
        *ap = QDB_AUTOPAD_SAME_LOWER;
    else if (strcmp(a->s, "VALID") == 0)
        *ap = QDB_AUTOPAD_VALID;
    else
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: unknown auto_pad '%s'", n->op_type, a->s);
    return QDB_OK;
}

qdb_status qdb_nn_ints_attr(const qdb_node *n, const char *name, int64_t min, int64_t max,
                            int *len, qdb_err *e)
{
    const qdb_attr *a = qdb_node_attr(n, name);
    *len = -1;
    if (!a)
        return QDB_OK;
    if (a->type != QDB_ATTR_INTS)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: attribute '%s' must be a list of ints",
                           n->op_type, name);
    for (int i = 0; i < a->n; i++)
        if (a->ints[i] < min || a->ints[i] > max)
            return qdb_err_set(e, QDB_ERR_INVALID, "%s: %s[%d] = %lld outside [%lld, %lld]",
                               n->op_type, name, i, (long long)a->ints[i], (long long)min,
                               (long long)max);
    *len = a->n;
    return QDB_OK;
}

qdb_status qdb_nn_check_window(const qdb_node *n, int allow_negative_pads, qdb_err *e)
{
    qdb_status st;
    int nk, ns, nd, np;
    qdb_autopad ap;
    if ((st = qdb_nn_autopad(n, &ap, e)) != QDB_OK ||
        (st = qdb_nn_ints_attr(n, "kernel_shape", 1, QDB_NN_ATTR_MAX, &nk, e)) != QDB_OK ||
        (st = qdb_nn_ints_attr(n, "strides", 1, QDB_NN_ATTR_MAX, &ns, e)) != QDB_OK ||
        (st = qdb_nn_ints_attr(n, "dilations", 1, QDB_NN_ATTR_MAX, &nd, e)) != QDB_OK ||
        (st = qdb_nn_ints_attr(n, "pads", allow_negative_pads ? -QDB_NN_ATTR_MAX : 0,
                               QDB_NN_ATTR_MAX, &np, e)) != QDB_OK)
        return st;
    int rank = nk;
    if (rank < 0)
        rank = ns >= 0 ? ns : nd >= 0 ? nd : np >= 0 ? np / 2 : -1;
    if (rank > QDB_WIN_DIMS)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "%s: %d spatial dimensions (at most %d supported)", n->op_type, rank,
                           QDB_WIN_DIMS);
    if ((ns >= 0 && ns != rank) || (nd >= 0 && nd != rank) || (np >= 0 && np != 2 * rank))
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "%s: kernel_shape, strides, dilations and pads lengths disagree",
                           n->op_type);
    if (ap != QDB_AUTOPAD_NOTSET && np > 0) {
        const qdb_attr *a = qdb_node_attr(n, "pads");
        for (int i = 0; i < a->n; i++)
            if (a->ints[i] != 0)
                return qdb_err_set(e, QDB_ERR_INVALID,
                                   "%s: explicit pads cannot be combined with auto_pad",
                                   n->op_type);
    }
    const qdb_attr *c = qdb_node_attr(n, "ceil_mode");
    if (c && (c->type != QDB_ATTR_INT || (c->i != 0 && c->i != 1)))
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: ceil_mode must be 0 or 1", n->op_type);
    return QDB_OK;
}

qdb_status qdb_nn_spatial_rank(const qdb_node *n, const qdb_shape *x, int *nsp, qdb_err *e)
{
    if (x->ndim < 3)
        return qdb_err_set(e, QDB_ERR_SHAPE,
                           "%s: input of rank %d, expected (N, C, spatial...) of rank >= 3",
                           n->op_type, x->ndim);
    if (x->ndim - 2 > QDB_WIN_DIMS)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                           "%s: %d spatial dimensions (at most %d supported)", n->op_type,
                           x->ndim - 2, QDB_WIN_DIMS);
    *nsp = x->ndim - 2;
    return QDB_OK;
}

qdb_status qdb_nn_ints(const qdb_node *n, const char *name, int count, int64_t def, int64_t *out,
                       qdb_err *e)
{
    int len;
    const int64_t *v = qdb_attr_ints(n, name, &len);
    if (!v) {
        for (int i = 0; i < count; i++)
            out[i] = def;
        return QDB_OK;
    }
    if (len != count)
        return qdb_err_set(e, QDB_ERR_INVALID, "%s: attribute '%s' has %d entries, expected %d",
                           n->op_type, name, len, count);
    memcpy(out, v, (size_t)count * sizeof *out);
    return QDB_OK;
}

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

qdb_status qdb_nn_window(const qdb_node *n, const qdb_shape *x, int nsp, const int64_t *k,
                         qdb_window *w, qdb_err *e)
{
    qdb_status st;
    qdb_autopad ap;
    int64_t s[QDB_WIN_DIMS], d[QDB_WIN_DIMS], p[2 * QDB_WIN_DIMS];
    if ((st = qdb_nn_autopad(n, &ap, e)) != QDB_OK ||
        (st = qdb_nn_ints(n, "strides", nsp, 1, s, e)) != QDB_OK ||
        (st = qdb_nn_ints(n, "dilations", nsp, 1, d, e)) != QDB_OK ||
        (st = qdb_nn_ints(n, "pads", 2 * nsp, 0, p, e)) != QDB_OK)
        return st;
    const int ceil_mode = qdb_attr_int(n, "ceil_mode", 0) != 0;
    qdb_window_init(w);
    for (int i = 0; i < nsp; i++) {
        const int j = qdb_nn_wdim(nsp, i);
        const int64_t in = x->d[2 + i];
        const int64_t dk = (k[i] - 1) * d[i] + 1;
        int64_t out, pb = 0, pe = 0;
        if (k[i] < 1 || s[i] < 1 || d[i] < 1)
            return qdb_err_set(e, QDB_ERR_INVALID,
                               "%s: kernel, strides and dilations must be positive",
                               n->op_type);
        switch (ap) {
        case QDB_AUTOPAD_NOTSET: {
            pb = p[i];
            pe = p[i + nsp];
            int64_t span = in + pb + pe - dk;
            if (span < 0)
                goto empty;
            if (ceil_mode) {
                out = (span + s[i] - 1) / s[i] + 1;
                /* A last window starting in the end padding is dropped. */
                if ((out - 1) * s[i] >= in + pb)
                    out--;
            } else {
                out = span / s[i] + 1;
            }
            break;
        }
        case QDB_AUTOPAD_VALID:
            if (in < dk)
                goto empty;
            out = (in - dk) / s[i] + 1;
            break;
        default: { /* SAME_UPPER / SAME_LOWER */
            out = (in + s[i] - 1) / s[i];
            int64_t total = (out - 1) * s[i] + dk - in;
            if (total < 0)
                total = 0;
            pb = ap == QDB_AUTOPAD_SAME_UPPER ? floor_div(total, 2) : total - floor_div(total, 2);
            pe = total - pb;
            break;
        }
        }
        if (out < 1)
            goto empty;
        w->in[j] = in;
        w->out[j] = out;
        w->k[j] = k[i];
        w->stride[j] = s[i];
        w->dil[j] = d[i];
        w->pad[j] = pb;
        w->pad_end[j] = pe;
        continue;
    empty:
        return qdb_err_set(e, QDB_ERR_SHAPE,
                           "%s: kernel extent %lld does not fit spatial dimension %d of size "
                           "%lld (with padding)",
                           n->op_type, (long long)dk, i, (long long)in);
    }
    qdb_shape o = *x;
    for (int i = 0; i < nsp; i++)
        o.d[2 + i] = w->out[qdb_nn_wdim(nsp, i)];
    return qdb_nn_check_size(n, &o, e);
}

qdb_status qdb_nn_check_size(const qdb_node *n, const qdb_shape *s, qdb_err *e)
{
    size_t numel;
    qdb_status st = qdb_shape_numel(s, &numel, e);
    if (st != QDB_OK)
        qdb_err_prefix(e, "%s: output: ", n->op_type);
    return st;
}
