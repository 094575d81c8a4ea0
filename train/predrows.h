/* predrows.h — stream every image of an embedding reader through a model in blocks
 * (one BLAS call per block for linear models), memory flat in the number of images.
 * Refuses vectors whose stamp (model, weights, preprocessing, dim) differs from the
 * model's.  The callback gets each image in input order with its calibrated class
 * probabilities (m->nclass); pointers are valid only during the call. */
#ifndef CS_TRAIN_PREDROWS_H
#define CS_TRAIN_PREDROWS_H

#include <stddef.h>

#include "emb.h"
#include "model.h"

#define PREDROWS_BLOCK 2048

typedef void predrows_fn(void *ctx, const char *key, const char *loc, const float *vec, const double *p);

/* 0, or CS_EXIT_DATA (stamp mismatch, bad input) with err. */
int predrows_run(const cs_model *m, emb_reader *r, predrows_fn *fn, void *ctx, char *err, size_t errlen);

#endif
