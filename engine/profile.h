/* profile.h - a model's profile: the small JSON file beside it
 * (MODEL.qdb.json) naming its default datasets, preprocessing, class names
 * and the float accuracy its framework recorded, so that commands need no
 * flags for it. Command-line flags override what it says. */
#ifndef QDB_PROFILE_H
#define QDB_PROFILE_H

#include "dataset.h"
#include "status.h"

#define QDB_PROFILE_MAX_CLASSES 1000

typedef struct qdb_profile {
    char *path;             /* the profile file, NULL when there is none */
    char *calib;            /* dataset specs, NULL when not given */
    char *eval;
    int has_preprocess;
    float scale;
    int n_mean, n_std;
    float mean[QDB_DATASET_MAX_CHANNELS], std[QDB_DATASET_MAX_CHANNELS];
    int n_classes;
    char **classes;
    /* The framework's own float results on the evaluation set. */
    char *ref_framework;
    double ref_top1, ref_top5; /* fractions; negative when absent */
    long ref_n;
    char *ref_predictions;  /* .npy of predicted labels, resolved beside the profile */
} qdb_profile;

/* The profile path of a model: "dir/name.onnx" -> "dir/name.qdb.json". */
char *qdb_profile_path_for(const char *model_path);

/* Load the profile beside `model_path`. A missing file is not an error: the
 * profile is then empty (path NULL). A file that exists but is not valid
 * gives one message naming the file and the field. Relative dataset and
 * prediction paths are taken relative to the profile's directory. */
qdb_status qdb_profile_load(const char *model_path, qdb_profile *p, qdb_err *e);
void qdb_profile_free(qdb_profile *p);

/* Copy the profile's preprocessing into dataset options (when it has any). */
void qdb_profile_apply(const qdb_profile *p, qdb_dataset_opts *o);

#endif
