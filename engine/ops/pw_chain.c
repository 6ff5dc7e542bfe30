/* pw_chain.c - applies a pointwise chain (see pw_chain.h). The loops
 * repeat the expressions of the operators they stand for: elementwise.c's
 * Add, Mul and PRelu, unary.c's Relu and Clip, gated_act.c's activations. */
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

/* A per-channel step on np planes of channels c, c + 1, ... (no wrap):
 * one call instead of one per plane. */
QDB_MULTIVERSION static void pw_planes(qdb_pw_kind kind, float *x, int64_t np, int64_t plane,
                                       const float *k)
{
    const float one = opaque_f(1.0f);
    for (int64_t p = 0; p < np; p++) {
        float *xp = x + p * plane;
        const float kc = k[p];
        if (kind == QDB_PW_ADD)
            QDB_VLOOP(i, plane, xp[i] = xp[i] + kc);
        else if (kind == QDB_PW_MUL)
            QDB_VLOOP(i, plane, xp[i] = xp[i] * kc);
        else
            QDB_VLOOP(i, plane, float v = xp[i]; xp[i] = (v < 0.0f ? kc : one) * v);
    }
}

QDB_MULTIVERSION static void pw_clip(float *x, size_t n, float lo, float hi)
{
    QDB_VLOOP(i, n, float v = x[i] < lo ? lo : x[i]; x[i] = v > hi ? hi : v);
}

static void apply_step(const qdb_pw_step *s, float *x, size_t n, int64_t c)
{
    const float k = s->k ? s->k[s->per_channel ? c : 0] : 0.0f;
    switch (s->kind) {
    case QDB_PW_FN: s->fn(s->ctx, x, n); break;
    case QDB_PW_GATE: qdb_gated_act_f32_ab(s->gate, s->alpha, s->beta, x, x, n); break;
    case QDB_PW_ADD: pw_add(x, n, k); break;
    case QDB_PW_MUL: pw_mul(x, n, k); break;
    case QDB_PW_PRELU: pw_prelu(x, n, k); break;
    case QDB_PW_RELU: pw_relu(x, n); break;
    case QDB_PW_CLIP: pw_clip(x, n, s->lo, s->hi); break;
    }
}

void qdb_pw_apply(const qdb_pw_chain *ch, float *x, size_t n, int64_t c)
{
    if (!ch || ch->n == 0)
        return;
    for (size_t b = 0; b < n; b += PW_SPAN) {
        size_t m = n - b < PW_SPAN ? n - b : PW_SPAN;
        for (int i = 0; i < ch->n; i++)
            apply_step(&ch->s[i], x + b, m, c);
    }
}

void qdb_pw_apply_planes(const qdb_pw_chain *ch, float *x, int64_t planes, int64_t plane,
                         int64_t c0, int64_t channels)
{
    if (!ch || ch->n == 0 || planes < 1 || plane < 1)
        return;
    /* runs of whole planes that stay in L1 from one step to the next; a
     * per-channel step goes plane by plane, the others over the whole run */
    int64_t per = plane >= PW_SPAN ? 1 : PW_SPAN / plane;
    for (int64_t p0 = 0; p0 < planes; p0 += per) {
        int64_t np = planes - p0 < per ? planes - p0 : per;
        float *run = x + p0 * plane;
        for (int i = 0; i < ch->n; i++) {
            const qdb_pw_step *s = &ch->s[i];
            if (s->per_channel) {
                int64_t c = c0 + p0, p = 0;
                while (p < np) { /* spans of consecutive channels */
                    int64_t cc = channels > 0 ? (c + p) % channels : c + p;
                    int64_t m = channels > 0 && channels - cc < np - p ? channels - cc : np - p;
                    pw_planes(s->kind, run + p * plane, m, plane, s->k + cc);
                    p += m;
                }
            } else if (np * plane <= PW_SPAN) {
                apply_step(s, run, (size_t)(np * plane), 0);
            } else { /* one plane longer than a span */
                for (int64_t b = 0; b < plane; b += PW_SPAN)
                    apply_step(s, run + b, (size_t)(plane - b < PW_SPAN ? plane - b : PW_SPAN), 0);
            }
        }
    }
}
