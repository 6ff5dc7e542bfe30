/* data_flags.h - the data options every command that needs data shares:
 *   --calib SPEC  --eval SPEC  --calib-n N  --eval-n N  --seed S
 *   --scale S  --mean M[,M,M]  --std S[,S,S]
 * SPEC is idx:IMAGES[,LABELS], npy:X[,Y] or dir:PATH. Values left unset
 * come from the model's profile (MODEL.qdb.json). */
#ifndef QDB_CLI_DATA_FLAGS_H
#define QDB_CLI_DATA_FLAGS_H

#include <stdint.h>

#include "dataset.h"
#include "graph.h"
#include "profile.h"

typedef struct data_flags {
    const char *calib, *eval;
    int64_t calib_n, eval_n;
    uint64_t seed;
    int have_scale, n_mean, n_std, bgr;
    float scale, mean[QDB_DATASET_MAX_CHANNELS], std[QDB_DATASET_MAX_CHANNELS];
} data_flags;

void data_flags_init(data_flags *f);
/* If argv[*i] is a data flag, consume it (and its value), return 1; return
 * 0 if it is not one; -1 (message printed) if its value is invalid. */
int data_flags_parse(data_flags *f, int argc, char **argv, int *i);
/* Dataset options for the evaluation (eval = 1) or calibration set: the
 * profile's preprocessing, then the flags on top. */
void data_flags_opts(const data_flags *f, const qdb_profile *p, int eval, qdb_dataset_opts *o);
/* Image folders are resized and cropped to the model's input: take its
 * channels, height and width (from a [N,C,H,W] first input). */
void data_flags_fit_model(const qdb_graph *g, qdb_dataset_opts *o);

#define DATA_FLAGS_HELP                                                                       \
    "  --calib SPEC, --eval SPEC   datasets: idx:IMAGES[,LABELS] | npy:X[,Y] | dir:PATH\n"    \
    "  --calib-n N, --eval-n N     samples to use (calibration: a seeded random subset)\n"    \
    "  --seed S                    seed of that subset (default 0)\n"                         \
    "  --scale S --mean M[,M,M] --std S[,S,S]   preprocessing x' = (x*S - M[c]) / S[c]\n"      \
    "  --bgr                       image folders: channels in BGR order (default RGB)\n"     \
    "  (defaults from MODEL.qdb.json beside the model; flags override it)\n"

#endif
