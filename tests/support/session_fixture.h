/* session_fixture.h - a small prepared-or-not session for the tests of the
 * session, the command language, scripts and the TUI state: the model
 *
 *   x [N,4,2,2] -> conv1 (3x3 pad 1) + Relu -> gap (GlobalAveragePool) ->
 *   HEAD (1x1 Conv, 6 -> 5): scores [N,5,1,1]
 *
 * (layers: x, conv1, gap and the head, whose name the caller gives), random
 * representative and evaluation sets (quant_fixtures.h's seeded source)
 * written as .npy files under the scratch directory (tmpdir.h), and labels
 * that are the float model's predictions with every fourth one moved to the
 * next class, so that the float accuracy is exactly 48 / 64. Built on cmocka
 * (failures end the test): include <cmocka.h> with its prerequisites first,
 * and run the tests with tmpdir_setup / tmpdir_teardown as group fixtures. */
#ifndef QDB_TEST_SESSION_FIXTURE_H
#define QDB_TEST_SESSION_FIXTURE_H

#include <stdint.h>

#include "dataset.h"
#include "graph.h"
#include "session.h"

#define N_CALIB 48  /* representative samples */
#define N_EVAL 64   /* evaluation samples */
#define N_CLASS 5   /* the head's outputs */
#define BATCH 16    /* the session's batch */

/* A session with its data kept for independent evaluations. */
typedef struct sf_fixture {
    qdb_session *s;
    qdb_tensor *xc, *xe, *ye; /* representative images, evaluation images, labels */
    int64_t float_top1;       /* float model's correct answers, worked out by hand (48) */
} sf_fixture;

/* The model above, its last Conv named `head`. */
qdb_graph *sf_build_model(const char *head);
/* The same model as a builder, to save as a file (mb_save). */
struct mb *sf_model_builder(const char *head);
/* Write x (and labels y, may be NULL) as a new pair of .npy files under the
 * scratch directory and open them as a dataset. */
qdb_dataset *sf_open_set(const qdb_tensor *x, const qdb_tensor *y);
/* Index of the largest of p[0..k) (the first on ties). */
int64_t sf_arg_max(const float *p, int64_t k);
/* A new, unprepared session (default configuration, no rules) over a fresh
 * model and data; the float model's predictions are checked not to be
 * constant. */
void sf_new(sf_fixture *f, const char *head);
/* sf_new over a given graph (owned by the session) that the session names
 * `model_path`. */
void sf_new_from(sf_fixture *f, qdb_graph *g, const char *model_path);
/* qdb_session_prepare (progress may be NULL); fails the test on error. */
void sf_prepare(sf_fixture *f, qdb_session_progress progress, void *user);
/* sf_new, then sf_prepare without progress. */
void sf_open(sf_fixture *f, const char *head);
/* t: a second, unprepared session like the one sf_new made for f (default
 * configuration, no rules) over copies of f's float graph and data, so that
 * the same commands give the same results on both. */
void sf_twin(const sf_fixture *f, sf_fixture *t);
void sf_free(sf_fixture *f);
/* Position in s->q->layers of the layer named `name`; fails the test when
 * there is none. */
int sf_layer(const qdb_session *s, const char *name);

#endif
