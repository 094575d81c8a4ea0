/* model.h — clipsort's classifier model: what clipsort-train writes and
 * clipsort-predict / clipsort-rank read (format in clipsort-train(1), MODEL FILE).
 *
 * A model holds the embedding stamp it was trained on, the sorted class names, the
 * training-set size and cross-validation figures, a temperature that calibrates its
 * probabilities, and either linear weights (one row per class, bias last; scored
 * with BLAS) or a libsvm model.  It also keeps the out-of-fold probabilities of its
 * training images, so downstream tools can measure its reliability honestly.
 *
 * Ownership: a cs_model is caller-owned (model_load fills it; model_release frees
 * what it points to).  Functions return 0 or a cs_exit status with the message in
 * err. */
#ifndef CS_TRAIN_MODEL_H
#define CS_TRAIN_MODEL_H

#include <stddef.h>

#include "emb.h"

enum model_solver { SOLVER_LOGREG = 0, SOLVER_SVM_LINEAR = 1, SOLVER_SVM_RBF = 2 };

typedef struct model_oof {
	char *key;
	int label;              /* class index */
} model_oof;

typedef struct cs_model {
	int solver;
	emb_stamp stamp;
	size_t nclass;
	char **classes;         /* sorted */
	size_t ntrain;
	double C, gamma, bias;  /* bias: liblinear bias feature value (-1: none) */
	int folds;              /* 0: no cross-validation was run */
	double cv_accuracy, cv_logloss;
	double temperature;     /* calibration: p = softmax(log p_raw / T) */
	int original;           /* trained in --original mode */
	int balanced;           /* class weights n / (K n_k) */
	float *w;               /* nclass x (dim + 1): weights, bias term last (linear solvers) */
	void *svm;              /* struct svm_model * (svm solvers) */
	char *svm_text;         /* its libsvm text form */
	size_t noof;
	model_oof *oof;         /* training images: key, label */
	double *oof_p;          /* noof x nclass calibrated out-of-fold probabilities */
} cs_model;

const char *model_solver_name(int solver);

/* Write atomically (temp, fsync, rename). */
int model_save(const cs_model *m, const char *path, char *err, size_t errlen);
int model_load(cs_model *m, const char *path, char *err, size_t errlen);
void model_release(cs_model *m);

/* Raw (uncalibrated) class probabilities of n row-major vectors: out n x nclass.
 * work: n x nclass floats (linear solvers). */
void model_raw_probs(const cs_model *m, const float *x, size_t n, float *work, double *out);
/* Calibrate one probability row in place with temperature T. */
void model_calibrate(double *p, size_t k, double T);
/* raw probs + calibration. */
void model_probs(const cs_model *m, const float *x, size_t n, float *work, double *out);

/* Index of the out-of-fold record of key, or -1 (hash built lazily). */
long model_oof_find(const cs_model *m, const char *key);

#endif
