/* pw_chain.c - applies a pointwise chain (see pw_chain.h). The loops
 * repeat the expressions of the operators they stand for: elementwise.c's
 * Add, Mul and PRelu, unary.c's Relu, gated_act.c's activations. */
#include "pw_chain.h"

#include "fast_math.h"
#include "kernels.h"

/* Long enough for wide vectors, short enough to stay in L1 between steps. */
#define PW_SPAN 4096

QDB_MULTIVERSION static void pw_add(float *x, size_t n, float k)
{
    QDB_VLOOP(i, n, x[i] = x[i] + k);
}

QDB_MULTIVERSION static void pw_mul(float *x, size_t n, float k)
{
    QDB_VLOOP(i, n, x[i] = x[i] * k);
}

QDB_MULTIVERSION static void pw_prelu(float *x, size_t n, float k)
{
    const float one = opaque_f(1.0f);
    QDB_VLOOP(i, n, float v = x[i]; x[i] = (v < 0.0f ? k : one) * v);
}

QDB_MULTIVERSION static void pw_relu(float *x, size_t n)
{
    QDB_VLOOP(i, n, float v = x[i]; x[i] = v > 0.0f ? v : 0.0f);
}

static void apply_span(const qdb_pw_chain *ch, float *x, size_t n, int64_t c)
{
    for (int i = 0; i < ch->n; i++) {
        const qdb_pw_step *s = &ch->s[i];
        const float k = s->k ? s->k[s->per_channel ? c : 0] : 0.0f;
        switch (s->kind) {
        case QDB_PW_FN: s->fn(s->ctx, x, n); break;
        case QDB_PW_GATE: qdb_gated_act_f32_ab(s->gate, s->alpha, s->beta, x, x, n); break;
        case QDB_PW_ADD: pw_add(x, n, k); break;
        case QDB_PW_MUL: pw_mul(x, n, k); break;
        case QDB_PW_PRELU: pw_prelu(x, n, k); break;
        case QDB_PW_RELU: pw_relu(x, n); break;
        }
    }
}

void qdb_pw_apply(const qdb_pw_chain *ch, float *x, size_t n, int64_t c)
{
    if (!ch || ch->n == 0)
        return;
    for (size_t b = 0; b < n; b += PW_SPAN)
        apply_span(ch, x + b, n - b < PW_SPAN ? n - b : PW_SPAN, c);
}

void qdb_pw_apply_planes(const qdb_pw_chain *ch, float *x, int64_t planes, int64_t plane,
                         int64_t c0, int64_t channels)
{
    if (!ch || ch->n == 0)
        return;
    int per_channel = 0;
    for (int i = 0; i < ch->n; i++)
        per_channel |= ch->s[i].per_channel;
    if (!per_channel) { /* one long run: fewer short loops */
        qdb_pw_apply(ch, x, (size_t)(planes * plane), 0);
        return;
    }
    for (int64_t p = 0; p < planes; p++)
        qdb_pw_apply(ch, x + p * plane, (size_t)plane, channels > 0 ? (c0 + p) % channels : c0 + p);
}
