/* onnx_import.c - ONNX ModelProto -> qdb_graph. Parsing is protobuf-c's
 * (code generated from Debian's onnx.proto at build time); this file turns
 * the messages into qdb's own structures: initializers become float32 or
 * int64 constants, attributes become typed qdb_attrs, graph inputs get their
 * static shapes (a free first dimension is the batch). Preparation (operator
 * resolution, shapes, folding) is prepare.c's. */
#include "onnx_import.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "prepare.h"

#define MODEL_MAX_BYTES ((size_t)2 << 30) /* protobuf's own 2 GiB limit */

qdb_status qdb_read_file(const char *path, size_t max, void **buf, size_t *len, qdb_err *e)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return qdb_err_set(e, QDB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    qdb_status st = QDB_OK;
    char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            if (ncap > max + 1)
                ncap = max + 1;
            if (ncap <= cap) {
                st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: file larger than %zu bytes", path, max);
                goto fail;
            }
            char *nd = realloc(data, ncap);
            if (!nd) {
                st = qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory reading the file", path);
                goto fail;
            }
            data = nd;
            cap = ncap;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                st = qdb_err_set(e, QDB_ERR_IO, "%s: read error: %s", path, strerror(errno));
                goto fail;
            }
            break;
        }
    }
    if (n > max) {
        st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: file larger than %zu bytes", path, max);
        goto fail;
    }
    fclose(f);
    *buf = data;
    *len = n;
    return QDB_OK;
fail:
    fclose(f);
    free(data);
    return st;
}

/* ---- element types ---------------------------------------------------- */

static const char *elem_name(int t)
{
    static const char *const names[] = {"undefined", "float", "uint8", "int8", "uint16",
                                        "int16", "int32", "int64", "string", "bool",
                                        "float16", "double", "uint32", "uint64", "complex64",
                                        "complex128", "bfloat16"};
    return (t >= 0 && t < (int)(sizeof names / sizeof names[0])) ? names[t] : "unknown";
}

/* qdb dtype for an ONNX element type; -1 when qdb cannot hold it. */
static int elem_dtype(int t)
{
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
        return QDB_F32;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        return QDB_I64;
    default:
        return -1;
    }
}

static size_t elem_size(int t)
{
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        return 1;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16:
        return 2;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
        return 4;
    default:
        return 8;
    }
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp - 15 + 127) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Element k of little-endian raw bytes of ONNX type t, as double/int64. */
static void raw_elem(const uint8_t *p, int t, double *fv, int64_t *iv)
{
    uint64_t u = 0;
    size_t sz = elem_size(t);
    for (size_t b = 0; b < sz; b++)
        u |= (uint64_t)p[b] << (8 * b);
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, sizeof f);
        *fv = f;
        break;
    }
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        memcpy(fv, &u, sizeof *fv);
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
        *fv = half_to_float((uint16_t)u);
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
        *iv = (int8_t)u;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
        *iv = (int16_t)u;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
        *iv = (int32_t)u;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        *iv = u != 0;
        break;
    default: /* unsigned types and int64 */
        *iv = (int64_t)u;
        break;
    }
}

/* Number of values of ONNX type t held in the typed (non-raw) field of tp. */
static size_t proto_count(const Onnx__TensorProto *tp, int t)
{
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        return tp->n_float_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        return tp->n_double_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        return tp->n_int64_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        return tp->n_uint64_data;
    default: /* float16, int32, int16, int8, uint16, uint8, bool */
        return tp->n_int32_data;
    }
}

/* TensorProto -> qdb_tensor. `what` names the tensor in messages. */
static qdb_tensor *tensor_from_proto(const Onnx__TensorProto *tp, const char *what, qdb_err *e)
{
    int t = tp->has_data_type ? tp->data_type : 0;
    int dt = elem_dtype(t);
    if (dt < 0) {
        qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: element type %s is not supported", what,
                    elem_name(t));
        return NULL;
    }
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                    "%s: data stored in an external file is not supported", what);
        return NULL;
    }
    if (tp->segment) {
        qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: segmented tensors are not supported", what);
        return NULL;
    }
    if (tp->n_dims > QDB_MAX_DIMS) {
        qdb_err_set(e, QDB_ERR_UNSUPPORTED, "%s: rank %zu exceeds qdb's limit of %d", what,
                    tp->n_dims, QDB_MAX_DIMS);
        return NULL;
    }
    qdb_shape s = qdb_shape_make((int)tp->n_dims, tp->dims);
    qdb_err sub;
    size_t n;
    char sb[128];
    if (qdb_shape_numel(&s, &n, &sub) != QDB_OK) {
        qdb_err_set(e, sub.code, "%s: %s", what, sub.msg);
        return NULL;
    }
    /* The data present must match the shape before anything is allocated:
     * a few bytes of protobuf must not claim gigabytes. */
    size_t sz = elem_size(t);
    if (tp->has_raw_data ? tp->raw_data.len != n * sz : proto_count(tp, t) != n) {
        if (tp->has_raw_data)
            qdb_err_set(e, QDB_ERR_FORMAT, "%s: %zu bytes of raw data for shape %s of %s (need %zu)",
                        what, tp->raw_data.len, qdb_shape_str(&s, sb, sizeof sb), elem_name(t),
                        n * sz);
        else
            qdb_err_set(e, QDB_ERR_FORMAT, "%s: %zu values for shape %s (need %zu)", what,
                        proto_count(tp, t), qdb_shape_str(&s, sb, sizeof sb), n);
        return NULL;
    }
    qdb_tensor *x = qdb_tensor_new(dt, &s, &sub);
    if (!x) {
        qdb_err_set(e, sub.code, "%s: %s", what, sub.msg);
        return NULL;
    }
    if (tp->has_raw_data) {
        for (size_t k = 0; k < n; k++) {
            double fv = 0;
            int64_t iv = 0;
            raw_elem(tp->raw_data.data + k * sz, t, &fv, &iv);
            if (dt == QDB_F32)
                x->data.f[k] = (float)fv;
            else
                x->data.i[k] = iv;
        }
        return x;
    }
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        if (n)
            memcpy(x->data.f, tp->float_data, n * sizeof(float));
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        for (size_t k = 0; k < n; k++)
            x->data.f[k] = (float)tp->double_data[k];
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        if (n)
            memcpy(x->data.i, tp->int64_data, n * sizeof(int64_t));
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        for (size_t k = 0; k < n; k++)
            x->data.i[k] = (int64_t)tp->uint64_data[k];
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
        for (size_t k = 0; k < n; k++)
            x->data.f[k] = half_to_float((uint16_t)tp->int32_data[k]);
        break;
    default: /* int32, int16, int8, uint16, uint8, bool */
        for (size_t k = 0; k < n; k++)
            x->data.i[k] = t == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL ? tp->int32_data[k] != 0
                                                                    : tp->int32_data[k];
        break;
    }
    return x;
}

qdb_tensor *qdb_onnx_load_tensor(const char *path, char **name, qdb_err *e)
{
    void *buf;
    size_t len;
    if (name)
        *name = NULL;
    if (qdb_read_file(path, MODEL_MAX_BYTES, &buf, &len, e) != QDB_OK)
        return NULL;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (!tp) {
        qdb_err_set(e, QDB_ERR_FORMAT, "%s: not a valid serialized TensorProto", path);
        return NULL;
    }
    qdb_tensor *t = tensor_from_proto(tp, path, e);
    if (t && name && tp->name) {
        *name = strdup(tp->name);
        if (!*name) {
            qdb_tensor_free(t);
            t = NULL;
            qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
        }
    }
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return t;
}

/* ---- attributes --------------------------------------------------------- */

static qdb_status attr_from_proto(qdb_attr *a, const Onnx__AttributeProto *ap, const char *where,
                                  qdb_err *e)
{
    memset(a, 0, sizeof *a);
    a->name = strdup(ap->name ? ap->name : "");
    if (!a->name)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    int type = ap->has_type ? (int)ap->type : 0;
    if (type == 0) { /* IR < 3 files carry no type: infer it from the field in use */
        if (ap->has_f)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        else if (ap->has_i)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        else if (ap->has_s)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
        else if (ap->t)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
        else if (ap->n_floats)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
        else if (ap->n_ints)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        else if (ap->n_strings)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    }
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        a->type = QDB_ATTR_FLOAT;
        a->f = ap->f;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        a->type = QDB_ATTR_INT;
        a->i = ap->i;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        a->type = QDB_ATTR_STRING;
        a->s = malloc(ap->s.len + 1);
        if (!a->s)
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        if (ap->s.len)
            memcpy(a->s, ap->s.data, ap->s.len);
        a->s[ap->s.len] = '\0';
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        a->type = QDB_ATTR_TENSOR;
        if (!ap->t)
            return qdb_err_set(e, QDB_ERR_FORMAT, "%s: attribute '%s' has no tensor", where,
                               a->name);
        char what[512];
        snprintf(what, sizeof what, "%s: attribute '%s'", where, a->name);
        a->t = tensor_from_proto(ap->t, what, e);
        if (!a->t)
            return e ? e->code : QDB_ERR_FORMAT;
        break;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        a->type = QDB_ATTR_FLOATS;
        a->n = (int)ap->n_floats;
        a->floats = malloc((ap->n_floats + 1) * sizeof(float));
        if (!a->floats)
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        if (ap->n_floats)
            memcpy(a->floats, ap->floats, ap->n_floats * sizeof(float));
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        a->type = QDB_ATTR_INTS;
        a->n = (int)ap->n_ints;
        a->ints = malloc((ap->n_ints + 1) * sizeof(int64_t));
        if (!a->ints)
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        if (ap->n_ints)
            memcpy(a->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        a->type = QDB_ATTR_STRINGS;
        a->strings = calloc(ap->n_strings + 1, sizeof(char *));
        if (!a->strings)
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        for (size_t k = 0; k < ap->n_strings; k++) {
            a->strings[k] = malloc(ap->strings[k].len + 1);
            if (!a->strings[k])
                return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
            a->n = (int)k + 1;
            if (ap->strings[k].len)
                memcpy(a->strings[k], ap->strings[k].data, ap->strings[k].len);
            a->strings[k][ap->strings[k].len] = '\0';
        }
        break;
    default:
        a->type = QDB_ATTR_OTHER;
        break;
    }
    return QDB_OK;
}

/* ---- graph ---------------------------------------------------------------- */

static qdb_status add_input(qdb_graph *g, const Onnx__ValueInfoProto *vi, qdb_err *e)
{
    const char *name = vi->name ? vi->name : "";
    int n_before = g->n_values;
    int v = qdb_graph_value(g, name, e);
    if (v < 0)
        return QDB_ERR_NOMEM;
    qdb_value *val = &g->values[v];
    if (val->constant) /* IR < 4: initializers are listed as inputs too */
        return QDB_OK;
    if (v < n_before) /* only initializers and inputs exist yet */
        return qdb_err_set(e, QDB_ERR_FORMAT, "input '%s' is declared twice", name);
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "input '%s' is not a tensor", name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int et = tt->has_elem_type ? tt->elem_type : 0;
    int dt = elem_dtype(et);
    if (dt < 0)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "input '%s' has element type %s, not supported",
                           name, elem_name(et));
    val->dtype = dt;
    if (!tt->shape)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "input '%s' has no declared shape", name);
    if (tt->shape->n_dim > QDB_MAX_DIMS)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "input '%s' has rank %zu, over qdb's limit of %d",
                           name, tt->shape->n_dim, QDB_MAX_DIMS);
    val->shape.ndim = (int)tt->shape->n_dim;
    for (size_t k = 0; k < tt->shape->n_dim; k++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
        int fixed = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                    d->dim_value >= 0;
        if (fixed) {
            val->shape.d[k] = d->dim_value;
        } else if (k == 0) {
            val->shape.d[k] = 1; /* the batch: shapes are kept at batch 1 */
            val->batch_dims |= 1u;
            g->batch_free = 1;
        } else {
            return qdb_err_set(e, QDB_ERR_UNSUPPORTED,
                               "input '%s': dimension %zu is not fixed (%s); only the first "
                               "(batch) dimension may be free",
                               name,
                               k, d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                                      ? d->dim_param : "unknown");
        }
    }
    val->shape_known = 1;
    int *ni = realloc(g->inputs, ((size_t)g->n_inputs + 1) * sizeof *ni);
    if (!ni)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    g->inputs = ni;
    g->inputs[g->n_inputs++] = v;
    return QDB_OK;
}

/* Values below n_pre were created by the initializers and graph inputs. */
static qdb_status add_node(qdb_graph *g, const Onnx__NodeProto *np, int index, int n_pre,
                           qdb_err *e)
{
    char autoname[96];
    const char *op = np->op_type ? np->op_type : "";
    const char *name = np->name;
    if (!name || !name[0]) {
        snprintf(autoname, sizeof autoname, "%.60s_%d", op[0] ? op : "node", index);
        name = autoname;
    }
    if (!op[0])
        return qdb_err_set(e, QDB_ERR_FORMAT, "node '%s' has no op_type", name);
    int ni = qdb_graph_add_node(g, name, op, np->domain ? np->domain : "", e);
    if (ni < 0)
        return QDB_ERR_NOMEM;
    qdb_node *n = &g->nodes[ni];
    n->in = malloc((np->n_input + 1) * sizeof(int));
    n->out = malloc((np->n_output + 1) * sizeof(int));
    n->attr = calloc(np->n_attribute + 1, sizeof(qdb_attr));
    if (!n->in || !n->out || !n->attr)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < np->n_input; k++) {
        n->in[k] = -1;
        n->n_in = (int)k + 1;
        if (np->input[k] && np->input[k][0]) {
            int v = qdb_graph_value(g, np->input[k], e);
            if (v < 0)
                return QDB_ERR_NOMEM;
            n->in[k] = v;
        }
    }
    for (size_t k = 0; k < np->n_output; k++) {
        n->out[k] = -1;
        n->n_out = (int)k + 1;
        if (np->output[k] && np->output[k][0]) {
            int v = qdb_graph_value(g, np->output[k], e);
            if (v < 0)
                return QDB_ERR_NOMEM;
            if (g->values[v].producer >= 0 || g->values[v].constant)
                return qdb_err_set(e, QDB_ERR_FORMAT, "node '%s' (%s): output '%s' is produced twice",
                                   name, op, np->output[k]);
            if (v < n_pre) /* not a constant (tested above): a graph input */
                return qdb_err_set(e, QDB_ERR_FORMAT,
                                   "node '%s' (%s): output '%s' is also a graph input", name, op,
                                   np->output[k]);
            g->values[v].producer = ni;
            n->out[k] = v;
        }
    }
    for (size_t k = 0; k < np->n_attribute; k++) {
        char where[256];
        snprintf(where, sizeof where, "node '%.100s' (%.60s)", name, op);
        qdb_status st = attr_from_proto(&n->attr[k], np->attribute[k], where, e);
        n->n_attr = (int)k + 1;
        if (st != QDB_OK) {
            if (e && !strstr(e->msg, "node '"))
                qdb_err_prefix(e, "%s: ", where);
            return st;
        }
    }
    return QDB_OK;
}

static int64_t default_opset(const Onnx__ModelProto *m, const char *domain)
{
    for (size_t k = 0; k < m->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[k];
        const char *d = o->domain ? o->domain : "";
        if ((strcmp(d, domain) == 0 || (!domain[0] && strcmp(d, "ai.onnx") == 0)) && o->has_version)
            return o->version;
    }
    return -1;
}

/* An opset import: its domain, version and position in the file. */
typedef struct opset_ent {
    const char *domain;
    int64_t version;
    size_t k;
} opset_ent;

static int cmp_opset_domain(const void *a, const void *b)
{
    return strcmp(((const opset_ent *)a)->domain, ((const opset_ent *)b)->domain);
}

static int cmp_opset_ent(const void *a, const void *b)
{
    int c = cmp_opset_domain(a, b);
    size_t x = ((const opset_ent *)a)->k, y = ((const opset_ent *)b)->k;
    return c ? c : (x > y) - (x < y);
}

static qdb_status build_graph(qdb_graph *g, const Onnx__ModelProto *m, qdb_err *e)
{
    const Onnx__GraphProto *gp = m->graph;
    if (!gp)
        return qdb_err_set(e, QDB_ERR_FORMAT, "the model has no graph");
    /* Models of IR version 1-2 predate opset_import and mean opset 1; a
     * model importing only other domains has no default-domain nodes that
     * could run, and its nodes are reported as unsupported. */
    g->opset = default_opset(m, "");
    if (g->opset < 0)
        g->opset = m->n_opset_import ? 0 : 1;
    g->name = strdup(gp->name ? gp->name : "");
    char prod[256];
    snprintf(prod, sizeof prod, "%s%s%s", m->producer_name ? m->producer_name : "",
             m->producer_version && m->producer_version[0] ? " " : "",
             m->producer_version ? m->producer_version : "");
    g->producer = strdup(prod);
    if (!g->name || !g->producer)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    if (gp->n_sparse_initializer)
        return qdb_err_set(e, QDB_ERR_UNSUPPORTED, "sparse initializers are not supported");

    for (size_t k = 0; k < gp->n_initializer; k++) {
        const Onnx__TensorProto *tp = gp->initializer[k];
        const char *name = tp->name ? tp->name : "";
        char what[512];
        snprintf(what, sizeof what, "initializer '%.400s'", name);
        int v = qdb_graph_value(g, name, e);
        if (v < 0)
            return QDB_ERR_NOMEM;
        if (g->values[v].constant)
            return qdb_err_set(e, QDB_ERR_FORMAT, "initializer '%s' appears twice", name);
        qdb_tensor *t = tensor_from_proto(tp, what, e);
        if (!t)
            return e ? e->code : QDB_ERR_FORMAT;
        g->values[v].constant = t;
        g->values[v].dtype = t->dtype;
        g->values[v].shape = t->shape;
        g->values[v].shape_known = 1;
    }
    for (size_t k = 0; k < gp->n_input; k++) {
        qdb_status st = add_input(g, gp->input[k], e);
        if (st != QDB_OK)
            return st;
    }
    const int n_pre = g->n_values;
    /* The opset imports sorted by domain (then file order), for a binary
     * search per node: a scan per node is quadratic in a hostile file. */
    opset_ent *imp = malloc((m->n_opset_import + 1) * sizeof *imp);
    if (!imp)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    size_t n_imp = 0;
    for (size_t k = 0; k < m->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[k];
        if (o->has_version)
            imp[n_imp++] = (opset_ent){o->domain ? o->domain : "", o->version, k};
    }
    qsort(imp, n_imp, sizeof *imp, cmp_opset_ent);
    size_t n_uniq = 0; /* keep the file's first import of each domain */
    for (size_t k = 0; k < n_imp; k++)
        if (n_uniq == 0 || cmp_opset_domain(&imp[n_uniq - 1], &imp[k]) != 0)
            imp[n_uniq++] = imp[k];
    qdb_status st = QDB_OK;
    for (size_t k = 0; k < gp->n_node; k++) {
        st = add_node(g, gp->node[k], (int)k, n_pre, e);
        if (st != QDB_OK)
            break;
        qdb_node *n = &g->nodes[g->n_nodes - 1];
        n->opset = (int)g->opset;
        if (n->domain[0]) {
            opset_ent key = {.domain = n->domain};
            const opset_ent *hit = bsearch(&key, imp, n_uniq, sizeof *imp, cmp_opset_domain);
            if (hit)
                n->opset = (int)hit->version;
        }
    }
    free(imp);
    if (st != QDB_OK)
        return st;
    g->outputs = malloc((gp->n_output + 1) * sizeof(int));
    if (!g->outputs)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < gp->n_output; k++) {
        const char *name = gp->output[k]->name ? gp->output[k]->name : "";
        int v = qdb_graph_find_value(g, name);
        if (v < 0)
            return qdb_err_set(e, QDB_ERR_FORMAT, "graph output '%s' is produced by no node", name);
        g->outputs[g->n_outputs++] = v;
    }
    if (g->n_outputs == 0)
        return qdb_err_set(e, QDB_ERR_FORMAT, "the graph has no outputs");
    return QDB_OK;
}

qdb_graph *qdb_onnx_load_buffer(const void *buf, size_t len, const char *what,
                                const qdb_load_opts *opts, qdb_err *e)
{
    qdb_graph *g = NULL;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    if (!m) {
        qdb_err_set(e, QDB_ERR_FORMAT, "%s: not a valid ONNX model (malformed protobuf)", what);
        return NULL;
    }
    g = qdb_graph_new(what);
    if (!g) {
        qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    if (build_graph(g, m, e) != QDB_OK) {
        qdb_err_prefix(e, "%s: ", what);
        goto fail;
    }
    onnx__model_proto__free_unpacked(m, NULL);
    m = NULL;
    if (!(opts && opts->raw) && qdb_graph_prepare(g, e) != QDB_OK) {
        qdb_err_prefix(e, "%s: ", what);
        goto fail;
    }
    return g;
fail:
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);
    qdb_graph_free(g);
    return NULL;
}

qdb_graph *qdb_onnx_load(const char *path, const qdb_load_opts *opts, qdb_err *e)
{
    void *buf;
    size_t len;
    if (qdb_read_file(path, MODEL_MAX_BYTES, &buf, &len, e) != QDB_OK)
        return NULL;
    qdb_graph *g = qdb_onnx_load_buffer(buf, len, path, opts, e);
    free(buf);
    return g;
}
