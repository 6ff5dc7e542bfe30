/* model_builder.c - in-memory ONNX model construction for tests (see
 * model_builder.h). Every allocation is recorded in an arena and released
 * by mb_free; failures abort the test program (tests only). */
#include "model_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

struct mb {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    Onnx__OperatorSetIdProto **more_opsets; /* after mb_opset: all imports (arena) */
    void **arena;
    size_t n_arena, cap_arena;
};

static void *keep(mb *m, void *p)
{
    if (!p) {
        fprintf(stderr, "model_builder: out of memory\n");
        abort();
    }
    if (m->n_arena == m->cap_arena) {
        m->cap_arena = m->cap_arena ? 2 * m->cap_arena : 64;
        m->arena = realloc(m->arena, m->cap_arena * sizeof *m->arena);
        if (!m->arena)
            abort();
    }
    m->arena[m->n_arena++] = p;
    return p;
}

static void *alloc(mb *m, size_t n) { return keep(m, calloc(1, n ? n : 1)); }
static char *str(mb *m, const char *s) { return keep(m, strdup(s)); }

/* Append to a protobuf-c repeated field (arena-backed, grows by copying). */
static void **grow(mb *m, void **arr, size_t n)
{
    void **na = alloc(m, (n + 1) * sizeof *na);
    if (n)
        memcpy(na, arr, n * sizeof *na);
    return na;
}

mb *mb_new(int opset)
{
    mb *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    onnx__model_proto__init(&m->model);
    onnx__graph_proto__init(&m->graph);
    onnx__operator_set_id_proto__init(&m->opset);
    m->opset.domain = "";
    m->opset.has_version = 1;
    m->opset.version = opset;
    m->opsets[0] = &m->opset;
    m->model.has_ir_version = 1;
    m->model.ir_version = 7;
    m->model.n_opset_import = 1;
    m->model.opset_import = m->opsets;
    m->model.producer_name = "qdb-tests";
    m->model.graph = &m->graph;
    m->graph.name = "test";
    return m;
}

void mb_free(mb *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_arena; i++)
        free(m->arena[i]);
    free(m->arena);
    free(m);
}

static Onnx__ValueInfoProto *value_info(mb *m, const char *name, int elem, int ndim,
                                        const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = alloc(m, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = str(m, name);
    if (ndim < 0)
        return vi;
    Onnx__TypeProto *tp = alloc(m, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = alloc(m, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    Onnx__TensorShapeProto *sp = alloc(m, sizeof *sp);
    onnx__tensor_shape_proto__init(sp);
    sp->n_dim = (size_t)ndim;
    sp->dim = alloc(m, (size_t)(ndim + 1) * sizeof *sp->dim);
    for (int i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = alloc(m, sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = str(m, "N");
        }
        sp->dim[i] = d;
    }
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

void mb_input(mb *m, const char *name, int elem_type, int ndim, const int64_t *dims)
{
    m->graph.input = (Onnx__ValueInfoProto **)grow(m, (void **)m->graph.input, m->graph.n_input);
    m->graph.input[m->graph.n_input++] = value_info(m, name, elem_type, ndim, dims);
}

void mb_output(mb *m, const char *name)
{
    m->graph.output = (Onnx__ValueInfoProto **)grow(m, (void **)m->graph.output, m->graph.n_output);
    m->graph.output[m->graph.n_output++] = value_info(m, name, 0, -1, NULL);
}

static Onnx__TensorProto *tensor(mb *m, const char *name, int ndim, const int64_t *dims)
{
    Onnx__TensorProto *t = alloc(m, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = str(m, name);
    t->n_dims = (size_t)ndim;
    t->dims = alloc(m, (size_t)(ndim + 1) * sizeof(int64_t));
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    t->has_data_type = 1;
    return t;
}

static size_t count(int ndim, const int64_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)dims[i];
    return n;
}

static void add_init(mb *m, Onnx__TensorProto *t)
{
    m->graph.initializer =
        (Onnx__TensorProto **)grow(m, (void **)m->graph.initializer, m->graph.n_initializer);
    m->graph.initializer[m->graph.n_initializer++] = t;
}

void mb_init_f(mb *m, const char *name, int ndim, const int64_t *dims, const float *data)
{
    Onnx__TensorProto *t = tensor(m, name, ndim, dims);
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_float_data = count(ndim, dims);
    t->float_data = alloc(m, t->n_float_data * sizeof(float));
    memcpy(t->float_data, data, t->n_float_data * sizeof(float));
    add_init(m, t);
}

void mb_init_i(mb *m, const char *name, int ndim, const int64_t *dims, const int64_t *data)
{
    Onnx__TensorProto *t = tensor(m, name, ndim, dims);
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->n_int64_data = count(ndim, dims);
    t->int64_data = alloc(m, t->n_int64_data * sizeof(int64_t));
    memcpy(t->int64_data, data, t->n_int64_data * sizeof(int64_t));
    add_init(m, t);
}

void mb_init_raw(mb *m, const char *name, int elem, int ndim, const int64_t *dims,
                 const void *raw, size_t len)
{
    Onnx__TensorProto *t = tensor(m, name, ndim, dims);
    t->data_type = elem;
    add_init(m, t);
    if (!raw)
        return;
    t->has_raw_data = 1;
    t->raw_data.len = len;
    t->raw_data.data = alloc(m, len);
    if (len)
        memcpy(t->raw_data.data, raw, len);
}

static char **names(mb *m, const char *list, size_t *n)
{
    char *copy = str(m, list);
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    char **out = alloc(m, (cap + 1) * sizeof *out);
    *n = 0;
    if (!*list)
        return out;
    char *s = copy;
    for (;;) {
        char *c = strchr(s, ',');
        if (c)
            *c = '\0';
        out[(*n)++] = s;
        if (!c)
            break;
        s = c + 1;
    }
    return out;
}

void mb_node(mb *m, const char *op, const char *name, const char *inputs, const char *outputs)
{
    Onnx__NodeProto *n = alloc(m, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = str(m, op);
    n->name = str(m, name);
    n->input = names(m, inputs, &n->n_input);
    n->output = names(m, outputs, &n->n_output);
    m->graph.node = (Onnx__NodeProto **)grow(m, (void **)m->graph.node, m->graph.n_node);
    m->graph.node[m->graph.n_node++] = n;
}

void mb_opset(mb *m, const char *domain, int version)
{
    Onnx__OperatorSetIdProto *o = alloc(m, sizeof *o);
    onnx__operator_set_id_proto__init(o);
    o->domain = str(m, domain);
    o->has_version = 1;
    o->version = version;
    m->more_opsets = (Onnx__OperatorSetIdProto **)grow(m, (void **)m->model.opset_import,
                                                      m->model.n_opset_import);
    m->more_opsets[m->model.n_opset_import++] = o;
    m->model.opset_import = m->more_opsets;
}

void mb_domain(mb *m, const char *domain)
{
    m->graph.node[m->graph.n_node - 1]->domain = str(m, domain);
}

static Onnx__AttributeProto *attr(mb *m, const char *name)
{
    Onnx__NodeProto *n = m->graph.node[m->graph.n_node - 1];
    Onnx__AttributeProto *a = alloc(m, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = str(m, name);
    a->has_type = 1;
    n->attribute = (Onnx__AttributeProto **)grow(m, (void **)n->attribute, n->n_attribute);
    n->attribute[n->n_attribute++] = a;
    return a;
}

void mb_attr_i(mb *m, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr(m, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

void mb_attr_f(mb *m, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(m, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
}

void mb_attr_ints(mb *m, const char *name, int n, const int64_t *v)
{
    Onnx__AttributeProto *a = attr(m, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = (size_t)n;
    a->ints = alloc(m, (size_t)(n + 1) * sizeof(int64_t));
    memcpy(a->ints, v, (size_t)n * sizeof(int64_t));
}

void mb_attr_floats(mb *m, const char *name, int n, const float *v)
{
    Onnx__AttributeProto *a = attr(m, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    a->n_floats = (size_t)n;
    a->floats = alloc(m, (size_t)(n + 1) * sizeof(float));
    memcpy(a->floats, v, (size_t)n * sizeof(float));
}

void mb_attr_s(mb *m, const char *name, const char *v)
{
    Onnx__AttributeProto *a = attr(m, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    a->has_s = 1;
    a->s.len = strlen(v);
    a->s.data = (uint8_t *)str(m, v);
}

void mb_attr_t(mb *m, const char *name, int elem, int ndim, const int64_t *dims, const float *f,
               const int64_t *i)
{
    Onnx__AttributeProto *a = attr(m, name);
    Onnx__TensorProto *t = tensor(m, "", ndim, dims);
    size_t n = count(ndim, dims);
    t->data_type = elem;
    if (elem == MB_FLOAT) {
        t->n_float_data = n;
        t->float_data = alloc(m, n * sizeof(float));
        memcpy(t->float_data, f, n * sizeof(float));
    } else {
        t->n_int64_data = n;
        t->int64_data = alloc(m, n * sizeof(int64_t));
        memcpy(t->int64_data, i, n * sizeof(int64_t));
    }
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    a->t = t;
}

uint8_t *mb_pack(mb *m, size_t *len)
{
    *len = onnx__model_proto__get_packed_size(&m->model);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (!buf)
        abort();
    onnx__model_proto__pack(&m->model, buf);
    return buf;
}

int mb_save(mb *m, const char *path)
{
    size_t len;
    uint8_t *buf = mb_pack(m, &len);
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (f) {
        rc = fwrite(buf, 1, len, f) == len ? 0 : -1;
        if (fclose(f) != 0)
            rc = -1;
    }
    free(buf);
    return rc;
}
