/* quant_fixtures.h - shared helpers of the quantization and editor tests:
 * a seeded random source, models built with model_builder and loaded,
 * float runs, and .npy datasets in the scratch directory. Built on cmocka
 * (failures end the test): include <cmocka.h> with its prerequisites first. */
#ifndef QDB_TEST_QUANT_FIXTURES_H
#define QDB_TEST_QUANT_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "graph.h"
#include "model_builder.h"

/* xorshift64, seeded identically in every test program */
double qf_urand(void);
/* standard normal (Box-Muller) */
float qf_nrand(void);
/* p[i] = N(0,1) * scale + offset */
void qf_fill(float *p, size_t n, float scale, float offset);
/* Pack, free the builder, load and prepare; fails the test on error. */
qdb_graph *qf_load(mb *m);
/* Float run of a one-input graph: its first output. */
qdb_tensor *qf_run(const qdb_graph *g, const qdb_tensor *x);
/* max |a - b| / max |a| */
double qf_rel_diff(const qdb_tensor *a, const qdb_tensor *b);
/* N x C x H x W of N(0,1) * scale + offset */
qdb_tensor *qf_random_input(int64_t n, int64_t c, int64_t h, int64_t w, float scale, float off);
/* Write x (and labels y, may be NULL) under the scratch directory and open
 * them as a dataset. */
qdb_dataset *qf_dataset(const char *name, const qdb_tensor *x, const qdb_tensor *y);

/* input [N,ch,1,1] -> conv0 -> ... -> conv(n-1), 1x1 kernels I + 0.05 noise:
 * a chain with a cut after every layer. */
qdb_graph *qf_chain(int n, int ch);

#endif
