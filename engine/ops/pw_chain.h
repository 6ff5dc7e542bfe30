/* pw_chain.h - a chain of pointwise steps applied to a span of a tensor
 * while it is still in cache: what the executor runs after a fused
 * producer (a Conv) in place of the separate nodes that followed it - an
 * x * gate(x) activation, PRelu, Relu, Clip, a product or sum with a constant
 * (scalar or per channel), and the hook's own pointwise work (fake
 * quantization). Every step computes the same expression as the node it
 * stands for, so the result is bit-identical to running the nodes. */
#ifndef QDB_OPS_PW_CHAIN_H
#define QDB_OPS_PW_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "gated_act.h"

/* Pointwise work done in place on x[0..n); ctx is the provider's. */
typedef void (*qdb_pw_fn)(const void *ctx, float *x, size_t n);

typedef enum {
    QDB_PW_FN,      /* fn(ctx, x, n) */
    QDB_PW_GATE,    /* x * gate(x) */
    QDB_PW_ADD,     /* x + k */
    QDB_PW_MUL,     /* x * k */
    QDB_PW_PRELU,   /* (x < 0 ? k : 1) * x */
    QDB_PW_RELU,    /* x > 0 ? x : 0 */
    QDB_PW_CLIP     /* min(max(x, lo), hi) */
} qdb_pw_kind;

typedef struct qdb_pw_step {
    qdb_pw_kind kind;
    qdb_gate gate;        /* GATE */
    float alpha, beta;    /* GATE: HardSigmoid's */
    const float *k;       /* ADD, MUL, PRELU: k[0], or k[channel] */
    float lo, hi;         /* CLIP */
    int per_channel;
    qdb_pw_fn fn;         /* FN */
    const void *ctx;
} qdb_pw_step;

#define QDB_PW_MAX 24

typedef struct qdb_pw_chain {
    int n;
    qdb_pw_step s[QDB_PW_MAX];
} qdb_pw_chain;

/* Run the chain on x[0..n), all of channel `c` (for per-channel
 * constants). Spans longer than a few thousand values go in pieces. */
void qdb_pw_apply(const qdb_pw_chain *ch, float *x, size_t n, int64_t c);

/* The chain on `planes` consecutive planes of `plane` values, the first
 * of channel c0 (channels wrap at `channels`, for a batch of images; 0:
 * no wrap). */
void qdb_pw_apply_planes(const qdb_pw_chain *ch, float *x, int64_t planes, int64_t plane,
                         int64_t c0, int64_t channels);

#endif
