/* dataset.h - image datasets read as a stream of preprocessed batches: IDX
 * files (the MNIST family, plain or gzipped), NumPy .npy arrays and image
 * folders. Only one batch is ever held in decoded form. Every error names
 * the file at fault.
 *
 * SPEC strings:  idx:IMAGES[,LABELS]   IDX ubyte images N x H x W (C = 1) and
 *                                      IDX ubyte labels N
 *                npy:X[,Y]             X: N x C x H x W or N x H x W (C = 1),
 *                                      float32 or uint8; Y: N, int32 or int64
 *                dir:PATH              image folders, one sub-folder per class
 *                                      (Keras image_dataset_from_directory):
 *                                      labels = indices of the sorted
 *                                      sub-folder names; in each, *.png, *.jpg,
 *                                      *.jpeg (any case) sorted by name (hidden
 *                                      entries and other files skipped, no
 *                                      recursion). Each image is decoded when
 *                                      its batch is read, its shorter side
 *                                      resized (bilinear, half-pixel centres)
 *                                      so that it covers height x width, then
 *                                      centre-cropped; RGB, BGR or grayscale
 *                                      (ITU-R 601 luma) by opts; values 0..255.
 * Preprocessing: x' = (x * scale - mean[c]) / std[c], computed in float32. */
#ifndef QDB_DATASET_H
#define QDB_DATASET_H

#include <stdint.h>

#include "tensor.h"

#define QDB_DATASET_MAX_CHANNELS 4

typedef struct qdb_dataset_opts {
    float scale;                            /* default 1 */
    int n_mean;                             /* 0: all 0; 1: every channel; or C */
    float mean[QDB_DATASET_MAX_CHANNELS];
    int n_std;                              /* 0: all 1; 1: every channel; or C */
    float std[QDB_DATASET_MAX_CHANNELS];
    int64_t n;                              /* samples to use; 0 = all */
    int shuffle;                            /* choose the n samples at random ... */
    uint64_t seed;                          /* ... with this seed (deterministic) */
    /* Image folders (dir:) only, and required there; 0 = not set. */
    int64_t height, width;                  /* target size, 1..QDB_IMAGE_MAX_SIDE */
    int channels;                           /* 1 (grayscale) or 3 */
    int bgr;                                /* channels == 3: B, G, R order */
} qdb_dataset_opts;

typedef struct qdb_dataset qdb_dataset;

/* Defaults: scale 1, mean 0, std 1, every sample, no shuffle. */
void qdb_dataset_opts_init(qdb_dataset_opts *o);

/* Open and validate (headers, sizes, whole-file integrity of gzipped data,
 * label range, counts). `o` may be NULL (defaults). With o->n > 0 the
 * dataset yields n samples: the first n, or with o->shuffle a seeded
 * random subset (each index at most once). Samples always come in file
 * order. */
qdb_dataset *qdb_dataset_open(const char *spec, const qdb_dataset_opts *o, qdb_err *e);

/* Samples the dataset yields (after the n selection). */
int64_t qdb_dataset_count(const qdb_dataset *d);
/* Samples in the file. */
int64_t qdb_dataset_file_count(const qdb_dataset *d);
/* Shape of one sample: chw[0] = C, chw[1] = H, chw[2] = W. */
void qdb_dataset_sample_shape(const qdb_dataset *d, int64_t chw[3]);
int qdb_dataset_has_labels(const qdb_dataset *d);
/* The images file (for messages such as "does not fit the model's input"). */
const char *qdb_dataset_images_path(const qdb_dataset *d);
/* Image folders: the number of classes and the name of class k (its
 * sub-folder); 0 and NULL for other datasets. */
int64_t qdb_dataset_class_count(const qdb_dataset *d);
const char *qdb_dataset_class_name(const qdb_dataset *d, int64_t k);

/* The next batch of at most `max` samples: *images float32 [N,C,H,W]
 * (preprocessed), *labels int64 [N] (NULL without labels); the caller frees
 * both. At the end, a batch of 0: *images and *labels are set to NULL and
 * QDB_OK is returned. `labels` may be NULL when the caller does not want
 * them. On error nothing is returned. */
qdb_status qdb_dataset_next_batch(qdb_dataset *d, int max, qdb_tensor **images,
                                  qdb_tensor **labels, qdb_err *e);
/* Start again from the first (selected) sample. */
qdb_status qdb_dataset_rewind(qdb_dataset *d, qdb_err *e);
void qdb_dataset_free(qdb_dataset *d);

#endif
