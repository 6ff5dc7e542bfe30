/* fuzz_ops.c - structure-aware libFuzzer harness for the operators. Where
 * fuzz_onnx mutates protobuf bytes (and mostly finds the parser's edges),
 * this one reads the fuzzer's bytes as choices: an opset, one or two nodes
 * of any supported operator, their inputs (graph inputs of small shapes,
 * initializers with edge-case values, absent slots), attributes (every name
 * qdb's operators read, with extreme ints, floats, strings and lists) and
 * outputs. The model is built with tests/support/model_builder, loaded
 * through the real importer, and run when it loads, with the graph inputs
 * filled from the same edge-case tables. Every operator must answer each of
 * these with a result or a clean error. FUZZ_OPS_DUMP=file.onnx saves the
 * model a reproducer builds.
 *
 * Build and run with `make fuzz` (see the Makefile). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "model_builder.h"
#include "onnx_import.h"
#include "op.h"

#define RUN_MAX_BYTES ((size_t)16 << 20)

typedef struct src {
    const uint8_t *p;
    size_t n;
} src;

static unsigned take(src *s, unsigned bound)
{
    if (bound <= 1)
        return 0;
    unsigned v = 0;
    if (s->n) {
        v = s->p[0];
        if (bound > 256 && s->n > 1) {
            v = v << 8 | s->p[1];
            s->p++;
            s->n--;
        }
        s->p++;
        s->n--;
    }
    return v % bound;
}

static const int64_t ints[] = {0, 1, 2, 3, 4, -1, -2, -3, 5, 6, 8, 16, -4, 7, 1 << 24,
                               (int64_t)1 << 31, -((int64_t)1 << 31), (int64_t)1 << 40,
                               INT64_MAX, INT64_MIN, INT64_MAX - 1, 1000000, -1000000};
static const float floats[] = {0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 3.5f, -0.25f, 1e-6f, NAN,
                               INFINITY, -INFINITY, 1e30f, -1e30f, 1e-40f, 255.0f, 65504.0f};
static const char *const strings[] = {
    "", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "constant", "reflect", "edge",
    "wrap", "nearest", "linear", "cubic", "bilinear", "DCR", "CRD", "half_pixel",
    "align_corners", "asymmetric", "pytorch_half_pixel", "tf_crop_and_resize",
    "round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "none", "tanh",
    "stretch", "not_larger", "not_smaller", "bogus"};
static const char *const attr_names[] = {
    "allowzero", "alpha", "antialias", "approximate", "auto_pad", "axes", "axis", "beta", "bias",
    "blocksize", "broadcast", "ceil_mode", "coordinate_transformation_mode",
    "count_include_pad", "cubic_coeff_a", "dilations", "end", "ends", "epsilon",
    "exclude_outside", "extrapolation_value", "gamma", "group", "is_test",
    "keep_aspect_ratio_policy", "keepdims", "kernel_shape", "lambd", "max", "min", "mode",
    "nearest_mode", "noop_with_empty_axes", "num_outputs", "output_padding", "output_shape",
    "p", "pads", "perm", "scales", "select_last_index", "shape", "size", "spatial", "split",
    "start", "starts", "storage_order", "strides", "to", "training_mode", "transA", "transB",
    "value", "consumed_inputs", "momentum", "sizes", "largest", "sorted", "upper"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int64_t pick_int(src *s)
{
    return take(s, 4) ? (int64_t)take(s, 8) - 2 : ints[take(s, N_OF(ints))];
}

static float pick_float(src *s)
{
    return take(s, 2) ? (float)take(s, 9) - 3.0f : floats[take(s, N_OF(floats))];
}

static int pick_dims(src *s, int64_t *d)
{
    int rank = (int)take(s, 6);
    for (int k = 0; k < rank; k++)
        d[k] = take(s, 8) ? 1 + (int64_t)take(s, 4) : (int64_t)take(s, 8) - 1; /* may be 0 or -1 */
    return rank;
}

static size_t count(int rank, const int64_t *d)
{
    size_t n = 1;
    for (int k = 0; k < rank; k++)
        n *= d[k] > 0 ? (size_t)d[k] : 0;
    return n;
}

static void add_attr(mb *m, src *s)
{
    const char *name = attr_names[take(s, N_OF(attr_names))];
    int64_t iv[8];
    float fv[8];
    int n = (int)take(s, 9);
    switch (take(s, 6)) {
    case 0:
        mb_attr_i(m, name, pick_int(s));
        break;
    case 1:
        mb_attr_f(m, name, pick_float(s));
        break;
    case 2:
        mb_attr_s(m, name, strings[take(s, N_OF(strings))]);
        break;
    case 3:
        for (int k = 0; k < n; k++)
            iv[k] = pick_int(s);
        mb_attr_ints(m, name, n, iv);
        break;
    case 4:
        for (int k = 0; k < n; k++)
            fv[k] = pick_float(s);
        mb_attr_floats(m, name, n, fv);
        break;
    default: {
        int64_t d[8];
        int rank = take(s, 3) ? (int)take(s, 2) : pick_dims(s, d);
        if (rank == 1)
            d[0] = 1 + (int64_t)take(s, 4);
        for (int k = 0; k < rank; k++)
            if (d[k] < 0)
                d[k] = 0;
        size_t cnt = count(rank, d);
        if (cnt > 64)
            break;
        int elem = take(s, 2) ? MB_FLOAT : MB_INT64;
        for (size_t k = 0; k < cnt && k < 8; k++) {
            iv[k] = pick_int(s);
            fv[k] = pick_float(s);
        }
        float fbuf[64];
        int64_t ibuf[64];
        for (size_t k = 0; k < cnt; k++) {
            fbuf[k] = fv[k % 8];
            ibuf[k] = iv[k % 8];
        }
        mb_attr_t(m, name, elem, rank, d, fbuf, ibuf);
        break;
    }
    }
}

/* Adds an initializer named `name`. */
static void add_init(mb *m, src *s, const char *name)
{
    int64_t d[8];
    int rank = take(s, 2) ? (int)take(s, 2) : pick_dims(s, d);
    if (rank == 1)
        d[0] = take(s, 4) ? 1 + (int64_t)take(s, 5) : 0;
    if (rank == 0)
        d[0] = 1;
    for (int k = 0; k < rank; k++)
        if (d[k] < 0) { /* a negative dimension: the file is malformed */
            mb_init_raw(m, name, MB_FLOAT, rank, d, NULL, 0);
            return;
        }
    size_t cnt = count(rank, d);
    if (cnt > 256) {
        rank = 1;
        d[0] = 4;
        cnt = 4;
    }
    float f[256];
    int64_t v[256];
    int fixed = (int)take(s, 2);
    int64_t iv = pick_int(s);
    float fv = pick_float(s);
    for (size_t k = 0; k < cnt; k++) {
        v[k] = fixed ? iv : pick_int(s);
        f[k] = fixed ? fv : pick_float(s);
    }
    if (take(s, 2))
        mb_init_i(m, name, rank, d, v);
    else
        mb_init_f(m, name, rank, d, f);
}

static void fill(qdb_tensor *t, src *s)
{
    int64_t iv = pick_int(s);
    float fv = pick_float(s);
    unsigned mode = take(s, 3);
    for (size_t k = 0; k < t->numel; k++) {
        if (t->dtype == QDB_I64)
            t->data.i[k] = mode == 0 ? iv : mode == 1 ? (int64_t)(k % 5) - 1 : 0;
        else
            t->data.f[k] = mode == 0 ? fv : mode == 1 ? (float)k * 0.25f - 1.0f : 0.0f;
    }
}

static void run(const qdb_graph *g, src *s, int64_t batch)
{
    for (int v = 0; v < g->n_values; v++) { /* known shapes only: dynamic ones are small here */
        size_t n;
        if (g->values[v].shape_known &&
            (qdb_shape_numel(&g->values[v].shape, &n, NULL) != QDB_OK || n > RUN_MAX_BYTES / 8))
            return;
    }
    qdb_err e = {0};
    qdb_exec *x = qdb_exec_new(g, &e);
    qdb_tensor *in[8] = {0}, *out[8] = {0};
    if (!x || g->n_inputs > 8 || g->n_outputs > 8)
        goto done;
    for (int k = 0; k < g->n_inputs; k++) {
        const qdb_value *v = &g->values[g->inputs[k]];
        qdb_shape sh = v->shape;
        for (int d = 0; d < sh.ndim; d++)
            if (v->batch_dims & (1u << d))
                sh.d[d] *= batch;
        in[k] = qdb_tensor_new(v->dtype, &sh, &e);
        if (!in[k])
            goto done;
        fill(in[k], s);
    }
    if (qdb_exec_run(x, (const qdb_tensor *const *)in, out, &e) == QDB_OK)
        for (int k = 0; k < g->n_outputs; k++)
            qdb_tensor_free(out[k]);
done:
    for (int k = 0; k < 8; k++)
        qdb_tensor_free(in[k]);
    qdb_exec_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *ops[256];
    static int n_ops;
    if (!n_ops)
        n_ops = qdb_op_list(ops, 256);
    src s = {data, size};
    static const int opsets[] = {13, 11, 7, 18, 9, 6, 10, 12, 1, 17, 19};
    mb *m = mb_new(opsets[take(&s, N_OF(opsets))]);

    /* Graph inputs x0..x2. */
    int n_in = 1 + (int)take(&s, 3);
    for (int k = 0; k < n_in; k++) {
        char name[8];
        int64_t d[8];
        snprintf(name, sizeof name, "x%d", k);
        int rank = pick_dims(&s, d);
        for (int j = 0; j < rank; j++)
            if (d[j] < 0)
                d[j] = j == 0 ? MB_N : 1;
        mb_input(m, name, take(&s, 4) ? MB_FLOAT : MB_INT64, rank, d);
    }
    /* Initializers c0..c3. */
    int n_init = (int)take(&s, 5);
    for (int k = 0; k < n_init; k++) {
        char name[8];
        snprintf(name, sizeof name, "c%d", k);
        add_init(m, &s, name);
    }
    /* One or two nodes; the second may read the first's outputs. */
    int n_nodes = 1 + (int)take(&s, 2);
    char outs_all[64] = "";
    for (int i = 0; i < n_nodes; i++) {
        const char *op = ops[take(&s, (unsigned)n_ops)];
        char ins[96] = "", outs[64] = "";
        int ni = (int)take(&s, 5);
        for (int k = 0; k < ni; k++) {
            char one[16];
            unsigned kind = take(&s, 8);
            if (kind == 0)
                one[0] = '\0'; /* absent */
            else if (kind <= 3 || (kind <= 5 && n_init == 0))
                snprintf(one, sizeof one, "x%u", take(&s, (unsigned)n_in));
            else if (kind <= 5)
                snprintf(one, sizeof one, "c%u", take(&s, (unsigned)n_init));
            else
                snprintf(one, sizeof one, i ? "y0_%u" : "x%u", i ? take(&s, 2) : 0);
            snprintf(ins + strlen(ins), sizeof ins - strlen(ins), "%s%s", k ? "," : "", one);
        }
        int no = 1 + (int)take(&s, 3);
        for (int k = 0; k < no; k++)
            snprintf(outs + strlen(outs), sizeof outs - strlen(outs), "%sy%d_%d", k ? "," : "",
                     i, k);
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        mb_node(m, op, name, ins, outs);
        int na = (int)take(&s, 5);
        for (int k = 0; k < na; k++)
            add_attr(m, &s);
        if (i == n_nodes - 1 || take(&s, 2))
            snprintf(outs_all + strlen(outs_all), sizeof outs_all - strlen(outs_all), "%s%s",
                     outs_all[0] ? "," : "", outs);
    }
    /* Graph outputs: the outputs of the last node (and maybe the first's). */
    char *save, *tok = strtok_r(outs_all, ",", &save);
    while (tok) {
        mb_output(m, tok);
        tok = strtok_r(NULL, ",", &save);
    }
    size_t len;
    uint8_t *buf = mb_pack(m, &len);
    mb_free(m);
    const char *dump = getenv("FUZZ_OPS_DUMP"); /* to look at a reproducer's model */
    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (f) {
            fwrite(buf, 1, len, f);
            fclose(f);
        }
    }
    qdb_err e = {0};
    qdb_graph *g = qdb_onnx_load_buffer(buf, len, "fuzz_ops.onnx", NULL, &e);
    free(buf);
    if (g)
        run(g, &s, 1);
    if (g && g->batch_free)
        run(g, &s, 3);
    qdb_graph_free(g);
    return 0;
}
