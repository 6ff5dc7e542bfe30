/* window.h - attribute handling shared by the "nn" operators: allowed
 * attribute lists, and the sliding-window attributes (kernel_shape, strides,
 * dilations, pads, auto_pad, ceil_mode) of Conv, ConvTranspose and the
 * pooling operators, turned into a qdb_window (kernels.h). */
#ifndef QDB_OPS_WINDOW_H
#define QDB_OPS_WINDOW_H

#include "kernels.h"
#include "op.h"

typedef enum {
    QDB_AUTOPAD_NOTSET,
    QDB_AUTOPAD_SAME_UPPER,
    QDB_AUTOPAD_SAME_LOWER,
    QDB_AUTOPAD_VALID
} qdb_autopad;

/* Bound on kernel sizes, strides, dilations, pads, groups and the like: far
 * beyond any real model, small enough that size arithmetic cannot overflow. */
#define QDB_NN_ATTR_MAX ((int64_t)1 << 24)

/* QDB_ERR_UNSUPPORTED naming the first attribute of n not in `allowed`
 * (NULL-terminated). */
qdb_status qdb_nn_check_attrs(const qdb_node *n, const char *const *allowed, qdb_err *e);

/* The auto_pad attribute ("" counts as NOTSET). */
qdb_status qdb_nn_autopad(const qdb_node *n, qdb_autopad *ap, qdb_err *e);

/* Load-time checks of the window attributes present on n: types, positive
 * kernel_shape / strides / dilations, non-negative pads (unless
 * allow_negative_pads), matching lengths, pads not mixed with auto_pad. */
qdb_status qdb_nn_check_window(const qdb_node *n, int allow_negative_pads, qdb_err *e);

/* Ints attribute `name` if present: its length in *len (-1 when absent),
 * QDB_ERR_INVALID unless it is a list of ints within [min, max]. */
qdb_status qdb_nn_ints_attr(const qdb_node *n, const char *name, int64_t min, int64_t max,
                            int *len, qdb_err *e);

/* QDB_ERR_SHAPE / QDB_ERR_NOMEM when an output of shape s would be invalid
 * or too large (see qdb_shape_numel). */
qdb_status qdb_nn_check_size(const qdb_node *n, const qdb_shape *s, qdb_err *e);

/* Spatial rank of x (N, C, spatial...): 1..QDB_WIN_DIMS. */
qdb_status qdb_nn_spatial_rank(const qdb_node *n, const qdb_shape *x, int *nsp, qdb_err *e);

/* Ints attribute `name` of exactly `count` entries into out, or `def`
 * everywhere when absent. */
qdb_status qdb_nn_ints(const qdb_node *n, const char *name, int count, int64_t def, int64_t *out,
                       qdb_err *e);

/* Window of a forward sliding operator (Conv, pooling) over the spatial dims
 * of x with kernel k[nsp]: strides, dilations, pads / auto_pad and ceil_mode
 * read from n (absent ones take their defaults; an operator's attribute list
 * keeps out those it does not have). The output spatial size is computed;
 * QDB_ERR_SHAPE when it would be empty. */
qdb_status qdb_nn_window(const qdb_node *n, const qdb_shape *x, int nsp, const int64_t *k,
                         qdb_window *w, qdb_err *e);

/* Window dimension i (0-based over the nsp spatial dims) in w's fixed
 * QDB_WIN_DIMS layout. */
static inline int qdb_nn_wdim(int nsp, int i)
{
    return QDB_WIN_DIMS - nsp + i;
}

#endif
