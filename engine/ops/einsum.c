/* einsum.c - Einsum (opset 12) on float32: any number of inputs, subscripts
 * of ASCII letters (case-sensitive, spaces ignored), an ellipsis '...' per
 * term, implicit ("ij,jk") or explicit ("ij,jk->ik") output, repeated
 * subscripts within a term (diagonals), and size-1 dimensions broadcasting
 * like numpy.
 *
 * Every operand is a strided view: a list of labels with a size and a stride
 * each (a repeated label adds its strides, size-1 dimensions are dropped).
 * Inputs are contracted left to right, two at a time: labels only one
 * operand has and nobody needs afterwards are summed out first; then the
 * labels both share and the result keeps are a batch, the shared others the
 * contraction, and each batch entry is one qdb_sgemm call on the operands
 * as they lie in memory when their strides allow (maxvit's attention
 * "BGHID,BGHJD->BGHIJ" needs no copies), after a rearranging copy when not.
 * A single input is a sum over the labels the output drops, or a copy. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "logic_util.h"
#include "op.h"
#include "tensor_util.h"

#define MAX_IN 32                  /* inputs */
#define N_LAB (128 + QDB_MAX_DIMS) /* ASCII letters, then the ellipsis dimensions */
#define ELL(k) (128 + (k))         /* label of the k-th broadcast ellipsis dimension */
#define MAX_VIEW QDB_COPY_MAX_DIMS /* labels in one operand view */

/* ---- the equation ------------------------------------------------------------ */

typedef struct {
    int n;                    /* subscripts, the ellipsis counting as one */
    char s[QDB_MAX_DIMS + 1]; /* letters; '.' marks the ellipsis */
    int ell;                  /* has an ellipsis */
} term;

typedef struct {
    int n_in;
    term in[MAX_IN];
    term out; /* explicit, or derived for the implicit form */
} equation;

static int is_label(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* One term from src[0..len): letters and at most one "...". */
static qdb_status parse_term(const char *src, size_t len, term *t, qdb_err *e)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == ' ' || c == '\t')
            continue;
        if (t->n >= QDB_MAX_DIMS + 1)
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                               "Einsum: a term with more than %d subscripts", QDB_MAX_DIMS);
        if (c == '.') {
            if (t->ell || i + 2 >= len || src[i + 1] != '.' || src[i + 2] != '.')
                return qdb_err_set(e, QDB_ERR_INVALID,
                                   "Einsum: misplaced '.' in the equation (one '...' per term)");
            t->ell = 1;
            t->s[t->n++] = '.';
            i += 2;
            continue;
        }
        if (!is_label(c))
            return qdb_err_set(e, QDB_ERR_INVALID, "Einsum: invalid character '%c' in the equation",
                               c);
        t->s[t->n++] = c;
    }
    if (t->n - t->ell > QDB_MAX_DIMS)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Einsum: a term with more than %d subscripts",
                           QDB_MAX_DIMS);
    return QDB_OK;
}

static qdb_status parse(const qdb_node *n, equation *q, qdb_err *e)
{
    const char *eq = qdb_attr_string(n, "equation", NULL);
    if (!eq)
        return qdb_err_set(e, QDB_ERR_INVALID, "Einsum: attribute 'equation' is missing");
    memset(q, 0, sizeof *q);
    const char *arrow = strstr(eq, "->");
    const size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
    if (arrow && strstr(arrow + 2, "->"))
        return qdb_err_set(e, QDB_ERR_INVALID, "Einsum: more than one '->' in '%s'", eq);
    qdb_status s;
    size_t start = 0;
    for (size_t i = 0; i <= lhs_len; i++) {
        if (i < lhs_len && eq[i] != ',')
            continue;
        if (q->n_in == MAX_IN)
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Einsum: more than %d operands", MAX_IN);
        if ((s = parse_term(eq + start, i - start, &q->in[q->n_in], e)) != QDB_OK)
            return s;
        q->n_in++;
        start = i + 1;
    }
    if (q->n_in != n->n_in)
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "Einsum: the equation '%s' has %d operands, the node "
                           "%d inputs",
                           eq, q->n_in, n->n_in);
    int count[128] = {0}, any_ell = 0;
    for (int k = 0; k < q->n_in; k++) {
        any_ell |= q->in[k].ell;
        for (int i = 0; i < q->in[k].n; i++)
            if (q->in[k].s[i] != '.')
                count[(unsigned char)q->in[k].s[i]]++;
    }
    if (arrow) {
        if ((s = parse_term(arrow + 2, strlen(arrow + 2), &q->out, e)) != QDB_OK)
            return s;
        int seen[128] = {0};
        for (int i = 0; i < q->out.n; i++) {
            unsigned char c = (unsigned char)q->out.s[i];
            if (c == '.')
                continue;
            if (seen[c]++)
                return qdb_err_set(e, QDB_ERR_INVALID, "Einsum: output subscript '%c' repeated", c);
            if (!count[c])
                return qdb_err_set(e, QDB_ERR_INVALID,
                                   "Einsum: output subscript '%c' is in no input", c);
        }
    } else {
        /* Implicit: the ellipsis, then the subscripts used once, in ASCII
         * order (numpy's rule). */
        term *o = &q->out;
        if (any_ell) {
            o->ell = 1;
            o->s[o->n++] = '.';
        }
        for (int c = 0; c < 128; c++)
            if (count[c] == 1) {
                if (o->n - o->ell >= QDB_MAX_DIMS)
                    return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Einsum: output rank above %d",
                                       QDB_MAX_DIMS);
                o->s[o->n++] = (char)c;
            }
    }
    return QDB_OK;
}

static qdb_status einsum_check(const qdb_node *n, qdb_err *e)
{
    if (n->n_in < 1)
        return qdb_err_set(e, QDB_ERR_INVALID, "Einsum: needs at least one input");
    qdb_status s = qdb_logic_inputs(n, n->n_in, n->n_in, e);
    if (s != QDB_OK)
        return s;
    equation q;
    return parse(n, &q, e);
}

/* ---- labels and sizes ------------------------------------------------------- */

typedef struct {
    equation q;
    int n_ell;                     /* broadcast ellipsis rank */
    int64_t size[N_LAB];           /* -1: unused */
    int lab[MAX_IN][QDB_MAX_DIMS]; /* label of each input dimension */
    int out_rank;
    int out_lab[2 * QDB_MAX_DIMS]; /* letters + ellipsis, checked against QDB_MAX_DIMS */
} plan;

/* Labels of the dimensions of a term for a tensor of rank r. */
static qdb_status term_labels(const qdb_node *n, const term *t, int r, int n_ell_total, int *lab,
                              int *rank_out, qdb_err *e)
{
    const int letters = t->n - t->ell;
    const int ne = t->ell ? r - letters : 0;
    if (r >= 0 && ((!t->ell && r != letters) || ne < 0))
        return qdb_err_set(e, QDB_ERR_SHAPE, "Einsum: term '%.*s' does not fit a tensor of rank %d",
                           t->n, t->s, r);
    int j = 0;
    for (int i = 0; i < t->n; i++) {
        if (t->s[i] != '.') {
            lab[j++] = (unsigned char)t->s[i];
            continue;
        }
        /* Ellipsis dimensions align to the right of the broadcast ellipsis. */
        const int ned = r >= 0 ? ne : n_ell_total;
        for (int k = 0; k < ned; k++)
            lab[j++] = ELL(n_ell_total - ned + k);
    }
    if (rank_out)
        *rank_out = j;
    (void)n;
    return QDB_OK;
}

static qdb_status make_plan(const qdb_node *n, const qdb_tensor *const *in, plan *p, qdb_err *e)
{
    qdb_status s = parse(n, &p->q, e);
    if (s != QDB_OK)
        return s;
    p->n_ell = 0;
    for (int k = 0; k < p->q.n_in; k++) {
        const term *t = &p->q.in[k];
        if (in[k]->dtype != QDB_F32)
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Einsum: %s inputs are not supported",
                               qdb_dtype_name(in[k]->dtype));
        const int ne = in[k]->shape.ndim - (t->n - t->ell);
        if (t->ell && ne > p->n_ell)
            p->n_ell = ne;
    }
    for (int l = 0; l < N_LAB; l++)
        p->size[l] = -1;
    for (int k = 0; k < p->q.n_in; k++) {
        const qdb_shape *sh = &in[k]->shape;
        if ((s = term_labels(n, &p->q.in[k], sh->ndim, p->n_ell, p->lab[k], NULL, e)) != QDB_OK)
            return s;
        for (int i = 0; i < sh->ndim; i++) {
            const int l = p->lab[k][i];
            const int64_t d = sh->d[i];
            /* A repeated subscript in one term: a diagonal of equal sizes. */
            for (int j = 0; j < i; j++)
                if (p->lab[k][j] == l && sh->d[j] != d)
                    return qdb_err_set(e, QDB_ERR_SHAPE,
                                       "Einsum: input %d repeats a subscript over dimensions of "
                                       "sizes %lld and %lld",
                                       k, (long long)sh->d[j], (long long)d);
            if (p->size[l] < 0 || p->size[l] == 1)
                p->size[l] = d;
            else if (d != 1 && d != p->size[l])
                return qdb_err_set(e, QDB_ERR_SHAPE,
                                   "Einsum: a subscript has sizes %lld and %lld across inputs",
                                   (long long)p->size[l], (long long)d);
        }
    }
    if ((s = term_labels(n, &p->q.out, -1, p->n_ell, p->out_lab, &p->out_rank, e)) != QDB_OK)
        return s;
    if (p->out_rank > QDB_MAX_DIMS)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Einsum: output rank %d above %d", p->out_rank,
                           QDB_MAX_DIMS);
    for (int i = 0; i < p->out_rank; i++)
        if (p->size[p->out_lab[i]] < 0)
            p->size[p->out_lab[i]] = 1; /* an ellipsis dimension no input has */
    return QDB_OK;
}

static qdb_status einsum_infer(const qdb_node *n, const qdb_tensor *const *in, qdb_tensor *out,
                               qdb_err *e)
{
    plan *p = malloc(sizeof *p);
    if (!p)
        return qdb_err_set(e, QDB_ERR_NOMEM, "Einsum: out of memory");
    qdb_status s = make_plan(n, in, p, e);
    if (s == QDB_OK) {
        qdb_shape o;
        memset(&o, 0, sizeof o);
        o.ndim = p->out_rank;
        for (int i = 0; i < o.ndim; i++)
            o.d[i] = p->size[p->out_lab[i]];
        s = qdb_out_set(n, &out[0], QDB_F32, &o, e);
    }
    free(p);
    return s;
}

/* ---- strided views and their contraction ----------------------------------- */

typedef struct {
    int n;
    int lab[MAX_VIEW];
    int64_t st[MAX_VIEW];
    const float *p;
} view;

static int view_find(const view *v, int l)
{
    for (int i = 0; i < v->n; i++)
        if (v->lab[i] == l)
            return i;
    return -1;
}

/* A contiguous buffer holding labels lab[0..nl) in that order. */
typedef struct {
    int n;
    int lab[MAX_VIEW];
    float *p;
} dense;

static qdb_status dense_alloc(const int64_t *size, dense *d, qdb_err *e)
{
    int64_t numel = 1;
    for (int i = 0; i < d->n; i++) {
        if (size[d->lab[i]] &&
            numel > (int64_t)(QDB_TENSOR_MAX_BYTES / sizeof(float)) / size[d->lab[i]])
            return qdb_err_set(e, QDB_ERR_NOMEM, "Einsum: intermediate result too large");
        numel *= size[d->lab[i]];
    }
    d->p = calloc(numel ? (size_t)numel : 1, sizeof(float));
    if (!d->p)
        return qdb_err_set(e, QDB_ERR_NOMEM, "Einsum: out of memory");
    return QDB_OK;
}

static view dense_view(const int64_t *size, const dense *d)
{
    view v;
    v.n = d->n;
    v.p = d->p;
    int64_t st = 1;
    for (int i = d->n - 1; i >= 0; i--) {
        v.lab[i] = d->lab[i];
        v.st[i] = st;
        st *= size[d->lab[i]];
    }
    return v;
}

/* dst (labels d->lab, contiguous) = src summed over the labels dst lacks. */
static void reduce_into(const int64_t *size, const view *src, const dense *dst)
{
    int64_t kd[MAX_VIEW], ks[MAX_VIEW], sd[MAX_VIEW], ss[MAX_VIEW];
    int nk = 0, ns = 0;
    for (int i = 0; i < dst->n; i++) {
        int j = view_find(src, dst->lab[i]);
        kd[nk] = size[dst->lab[i]];
        ks[nk++] = j >= 0 ? src->st[j] : 0;
    }
    for (int j = 0; j < src->n; j++) {
        int keep = 0;
        for (int i = 0; i < dst->n; i++)
            keep |= dst->lab[i] == src->lab[j];
        if (!keep) {
            sd[ns] = size[src->lab[j]];
            ss[ns++] = src->st[j];
        }
    }
    if (ns == 0) {
        qdb_strided_copy(dst->p, src->p, sizeof(float), nk, kd, ks);
        return;
    }
    int64_t total = 1;
    for (int i = 0; i < nk; i++)
        total *= kd[i];
    int64_t ki[MAX_VIEW] = {0}, koff = 0;
    for (int64_t o = 0; o < total; o++) {
        /* sum over the dropped labels, innermost the last one */
        int64_t si[MAX_VIEW] = {0}, soff = 0;
        double acc = 0.0;
        const float *base = src->p + koff;
        const int64_t inner = sd[ns - 1], is = ss[ns - 1];
        for (;;) {
            const float *q = base + soff;
            for (int64_t t = 0; t < inner; t++)
                acc += q[t * is];
            int d = ns - 2;
            for (; d >= 0; d--) {
                soff += ss[d];
                if (++si[d] < sd[d])
                    break;
                soff -= ss[d] * sd[d];
                si[d] = 0;
            }
            if (d < 0)
                break;
        }
        dst->p[o] = (float)acc;
        for (int d = nk - 1; d >= 0; d--) {
            koff += ks[d];
            if (++ki[d] < kd[d])
                break;
            koff -= ks[d] * kd[d];
            ki[d] = 0;
        }
    }
}

/* A group of labels as one matrix dimension: total size and stride, or 0
 * when their strides do not nest. */
static int collapse(const int64_t *size, const view *v, const int *labs, int nl, int64_t *sz,
                    int64_t *st)
{
    *sz = 1;
    *st = 0;
    int64_t prev = -1;
    for (int i = 0; i < nl; i++) {
        const int64_t s = v->st[view_find(v, labs[i])];
        if (prev >= 0 && prev != s * size[labs[i]])
            return 0;
        prev = s;
        *sz *= size[labs[i]];
        *st = s;
    }
    return 1;
}

/* How BLAS reads a rows x cols matrix with element (i, j) at i*rs + j*cs:
 * *trans and *ld, or 0 when neither layout fits. */
static int mat_form(int64_t rows, int64_t cols, int64_t rs, int64_t cs, int *trans, int64_t *ld)
{
    if (rows <= 1 && cols <= 1) {
        *trans = 0;
        *ld = 1;
    } else if (rows <= 1) {
        *trans = cs != 1;
        *ld = cs == 1 ? cols : cs;
    } else if (cols <= 1) {
        *trans = 0;
        *ld = rs;
    } else if (cs == 1 && rs >= cols) {
        *trans = 0;
        *ld = rs;
    } else if (rs == 1 && cs >= rows) {
        *trans = 1;
        *ld = cs;
    } else {
        return 0;
    }
    return *ld >= 1 && *ld <= QDB_SGEMM_DIM_MAX;
}

typedef struct {
    int64_t rows, cols, rs, cs;
} matrix;

static int groups_ok(const int64_t *size, const view *v, const int *ra, int nr, const int *ca,
                     int nc, matrix *m)
{
    return collapse(size, v, ra, nr, &m->rows, &m->rs) &&
           collapse(size, v, ca, nc, &m->cols, &m->cs);
}

/* Copy v (summed over the labels `order` lacks) into a new contiguous
 * buffer with labels order[0..n); it replaces *tmp, which may hold v's data. */
static qdb_status relayout(const int64_t *size, view *v, const int *order, int n, dense *tmp,
                           qdb_err *e)
{
    dense nd;
    nd.n = n;
    memcpy(nd.lab, order, (size_t)n * sizeof *order);
    qdb_status s = dense_alloc(size, &nd, e);
    if (s != QDB_OK)
        return s;
    reduce_into(size, v, &nd);
    free(tmp->p);
    *tmp = nd;
    *v = dense_view(size, tmp);
    return QDB_OK;
}

/* dst = contraction of a and b over the labels dst lacks (see the top). */
static qdb_status contract(const int64_t *size, view a, view b, const dense *dst, qdb_err *e)
{
    dense ta = {0}, tb = {0}, tc = {0};
    qdb_status s = QDB_OK;
    view *ops[2] = {&a, &b};
    dense *tmps[2] = {&ta, &tb};
    /* Sum out the labels only one operand has and dst does not keep. */
    for (int k = 0; k < 2; k++) {
        view *v = ops[k];
        const view *other = ops[1 - k];
        int keep[MAX_VIEW], nk = 0;
        for (int i = 0; i < v->n; i++) {
            int l = v->lab[i], in_d = 0;
            for (int j = 0; j < dst->n; j++)
                in_d |= dst->lab[j] == l;
            if (in_d || view_find(other, l) >= 0)
                keep[nk++] = l;
        }
        if (nk < v->n && (s = relayout(size, v, keep, nk, tmps[k], e)) != QDB_OK)
            goto out;
    }
    int bat[MAX_VIEW], M[MAX_VIEW], N[MAX_VIEW], K[MAX_VIEW], nb = 0, nm = 0, nn = 0, nkk = 0;
    for (int j = 0; j < dst->n; j++) {
        const int l = dst->lab[j], ia = view_find(&a, l), ib = view_find(&b, l);
        if (ia >= 0 && ib >= 0)
            bat[nb++] = l;
        else if (ia >= 0)
            M[nm++] = l;
        else if (ib >= 0)
            N[nn++] = l;
        else {
            s = qdb_err_set(e, QDB_ERR_INVALID,
                            "Einsum: internal error: output label in no operand");
            goto out;
        }
    }
    for (int i = 0; i < a.n; i++)
        if (view_find(&b, a.lab[i]) >= 0) {
            int in_d = 0;
            for (int j = 0; j < dst->n; j++)
                in_d |= dst->lab[j] == a.lab[i];
            if (!in_d)
                K[nkk++] = a.lab[i];
        }
    /* Operands and result as matrices; rearrange what BLAS cannot read. */
    matrix ma, mb, mc;
    int ta_, tb_, tc_;
    int64_t lda, ldb, ldc;
    if (!groups_ok(size, &a, M, nm, K, nkk, &ma) ||
        !mat_form(ma.rows, ma.cols, ma.rs, ma.cs, &ta_, &lda)) {
        int order[MAX_VIEW], no = 0;
        for (int i = 0; i < nb; i++)
            order[no++] = bat[i];
        for (int i = 0; i < nm; i++)
            order[no++] = M[i];
        for (int i = 0; i < nkk; i++)
            order[no++] = K[i];
        if ((s = relayout(size, &a, order, no, &ta, e)) != QDB_OK)
            goto out;
        groups_ok(size, &a, M, nm, K, nkk, &ma);
        mat_form(ma.rows, ma.cols, ma.rs, ma.cs, &ta_, &lda);
    }
    if (!groups_ok(size, &b, K, nkk, N, nn, &mb) ||
        !mat_form(mb.rows, mb.cols, mb.rs, mb.cs, &tb_, &ldb)) {
        int order[MAX_VIEW], no = 0;
        for (int i = 0; i < nb; i++)
            order[no++] = bat[i];
        for (int i = 0; i < nkk; i++)
            order[no++] = K[i];
        for (int i = 0; i < nn; i++)
            order[no++] = N[i];
        if ((s = relayout(size, &b, order, no, &tb, e)) != QDB_OK)
            goto out;
        groups_ok(size, &b, K, nkk, N, nn, &mb);
        mat_form(mb.rows, mb.cols, mb.rs, mb.cs, &tb_, &ldb);
    }
    view c = dense_view(size, dst);
    int swap = 0, direct = 1;
    if (!groups_ok(size, &c, M, nm, N, nn, &mc) ||
        !mat_form(mc.rows, mc.cols, mc.rs, mc.cs, &tc_, &ldc)) {
        direct = 0;
    } else if (tc_) {
        /* dst holds C^T: compute it as B^T A^T. */
        swap = 1;
    }
    if (!direct) {
        tc.n = 0;
        for (int i = 0; i < nb; i++)
            tc.lab[tc.n++] = bat[i];
        for (int i = 0; i < nm; i++)
            tc.lab[tc.n++] = M[i];
        for (int i = 0; i < nn; i++)
            tc.lab[tc.n++] = N[i];
        if ((s = dense_alloc(size, &tc, e)) != QDB_OK)
            goto out;
        c = dense_view(size, &tc);
        groups_ok(size, &c, M, nm, N, nn, &mc);
        mat_form(mc.rows, mc.cols, mc.rs, mc.cs, &tc_, &ldc);
    }
    const int64_t m = ma.rows, nn_ = mb.cols, kk = ma.cols;
    /* The batch, walked with an odometer over each operand's strides. */
    int64_t bd[MAX_VIEW], bsa[MAX_VIEW], bsb[MAX_VIEW], bsc[MAX_VIEW], bi[MAX_VIEW] = {0};
    int64_t nbatch = 1;
    for (int i = 0; i < nb; i++) {
        bd[i] = size[bat[i]];
        bsa[i] = a.st[view_find(&a, bat[i])];
        bsb[i] = b.st[view_find(&b, bat[i])];
        bsc[i] = c.st[view_find(&c, bat[i])];
        nbatch *= bd[i];
    }
    if (m > QDB_SGEMM_DIM_MAX || nn_ > QDB_SGEMM_DIM_MAX || kk > QDB_SGEMM_DIM_MAX) {
        s = qdb_err_set(e, QDB_ERR_UNSUPPORTED, "Einsum: matrix dimensions above the BLAS limit");
        goto out;
    }
    int64_t oa = 0, ob = 0, oc = 0;
    for (int64_t t = 0; t < nbatch; t++) {
        if (swap)
            qdb_sgemm(!tb_, !ta_, nn_, m, kk, 1.0f, b.p + ob, ldb, a.p + oa, lda, 0.0f,
                      (float *)c.p + oc, ldc);
        else
            qdb_sgemm(ta_, tb_, m, nn_, kk, 1.0f, a.p + oa, lda, b.p + ob, ldb, 0.0f,
                      (float *)c.p + oc, ldc);
        for (int d = nb - 1; d >= 0; d--) {
            oa += bsa[d];
            ob += bsb[d];
            oc += bsc[d];
            if (++bi[d] < bd[d])
                break;
            oa -= bsa[d] * bd[d];
            ob -= bsb[d] * bd[d];
            oc -= bsc[d] * bd[d];
            bi[d] = 0;
        }
    }
    if (!direct)
        reduce_into(size, &c, dst);
out:
    free(ta.p);
    free(tb.p);
    free(tc.p);
    return s;
}

/* The view of input k: size-1 dimensions dropped, repeated labels merged. */
static view input_view(const plan *p, int k, const qdb_tensor *t)
{
    view v;
    v.n = 0;
    v.p = t->data.f;
    int64_t st[QDB_MAX_DIMS];
    qdb_shape_strides(&t->shape, st);
    for (int i = 0; i < t->shape.ndim; i++) {
        if (t->shape.d[i] == 1)
            continue;
        const int l = p->lab[k][i];
        const int j = view_find(&v, l);
        if (j >= 0) {
            v.st[j] += st[i];
            continue;
        }
        v.lab[v.n] = l;
        v.st[v.n++] = st[i];
    }
    return v;
}

static qdb_status einsum_forward(const qdb_node *n, const qdb_tensor *const *in,
                                 qdb_tensor *const *out, qdb_err *e)
{
    qdb_tensor *y = out[0];
    dense cur = {0}, next = {0};
    plan *p = malloc(sizeof *p);
    if (!p)
        return qdb_err_set(e, QDB_ERR_NOMEM, "Einsum: out of memory");
    qdb_status s = make_plan(n, in, p, e);
    if (s != QDB_OK)
        goto out;
    if (y->numel == 0)
        goto out;
    for (int k = 0; k < p->q.n_in; k++)
        if (in[k]->numel == 0) { /* sums over nothing: zeros */
            memset(y->data.p, 0, y->numel * qdb_dtype_size(y->dtype));
            goto out;
        }
    /* The output as a dense buffer: its labels of size > 1, in order. */
    dense res;
    res.n = 0;
    res.p = y->data.f;
    for (int i = 0; i < p->out_rank; i++)
        if (p->size[p->out_lab[i]] != 1)
            res.lab[res.n++] = p->out_lab[i];
    view a = input_view(p, 0, in[0]);
    if (p->q.n_in == 1) {
        reduce_into(p->size, &a, &res);
        goto out;
    }
    for (int k = 1; k < p->q.n_in; k++) {
        view b = input_view(p, k, in[k]);
        if (k == p->q.n_in - 1) {
            s = contract(p->size, a, b, &res, e);
            break;
        }
        /* Keep the labels of a and b that the output or a later input uses. */
        next.n = 0;
        for (int side = 0; side < 2; side++) {
            const view *v = side ? &b : &a;
            for (int i = 0; i < v->n; i++) {
                const int l = v->lab[i];
                if (side && view_find(&a, l) >= 0)
                    continue; /* listed with a's */
                int used = 0;
                for (int j = 0; j < res.n; j++)
                    used |= res.lab[j] == l;
                for (int j = k + 1; j < p->q.n_in && !used; j++)
                    for (int d = 0; d < in[j]->shape.ndim; d++)
                        used |= p->lab[j][d] == l && in[j]->shape.d[d] != 1;
                if (!used)
                    continue;
                if (next.n == MAX_VIEW) {
                    s = qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                                    "Einsum: more than %d subscripts in an intermediate result",
                                    MAX_VIEW);
                    goto out;
                }
                next.lab[next.n++] = l;
            }
        }
        if ((s = dense_alloc(p->size, &next, e)) != QDB_OK)
            goto out;
        if ((s = contract(p->size, a, b, &next, e)) != QDB_OK)
            goto out;
        free(cur.p);
        cur = next;
        next.p = NULL;
        a = dense_view(p->size, &cur);
    }
out:
    free(cur.p);
    free(next.p);
    free(p);
    return s;
}

const qdb_op qdb_logic_einsum = {
    .type = "Einsum",
    .check = einsum_check,
    .infer = einsum_infer,
    .forward = einsum_forward,
};
