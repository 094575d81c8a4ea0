/* fit.h — training a cs_model on labelled vectors: liblinear (L2-regularised
 * logistic regression) or libsvm (C-SVC, linear or RBF, with probability outputs),
 * C chosen by stratified k-fold cross-validation, probabilities calibrated by
 * temperature scaling on the out-of-fold predictions.
 *
 * Ownership: a fit_data only points at the caller's arrays; fit_result arrays are
 * the caller's (fit_result_release). */
#ifndef CS_TRAIN_FIT_H
#define CS_TRAIN_FIT_H

#include <stddef.h>

#include "model.h"

typedef struct fit_data {
	size_t n, d, k;         /* rows, dimension, classes */
	const float *x;         /* n x d */
	const int *y;           /* class index of each row, 0..k-1 */
} fit_data;

typedef struct fit_params {
	int solver;             /* SOLVER_* */
	double C;               /* > 0: fixed; 0: choose by cross-validation over grid[] */
	const double *grid;
	size_t ngrid;
	double gamma;           /* RBF; 0 = 1 / (d * var(x)) (scikit-learn's "scale") */
	double bias;            /* liblinear bias feature (-1: none) */
	double eps;             /* solver tolerance, 0 = the solver's default */
	int balanced;           /* class weights n / (k * n_c) */
	int folds;              /* k-fold cross-validation (>= 2) */
	unsigned long seed;
	int calibrate;          /* fit the temperature (else T = 1) */
} fit_params;

typedef struct fit_result {
	double C, gamma, temperature;
	double cv_accuracy, cv_logloss;         /* at C, calibrated */
	double raw_logloss, ece_raw, ece_cal;   /* before/after calibration; expected calibration error, 10 bins */
	double *grid_acc, *grid_logloss;        /* per grid value (ngrid) when C was searched */
	double *oof_p;                          /* n x k calibrated out-of-fold probabilities */
	int *fold;                              /* n: fold of each row */
} fit_result;

void fit_params_default(fit_params *p);
/* Cross-validate, calibrate, fit the final model into m (solver, C, gamma, bias,
 * weights or svm, temperature, cv figures; the caller sets stamp, classes, oof keys).
 * 0 or a cs_exit status with err. */
int fit_train(const fit_data *data, const fit_params *p, cs_model *m, fit_result *res, char *err, size_t errlen);
void fit_result_release(fit_result *r);

/* Temperature minimising the log-loss of softmax(log p / T) on labelled rows. */
double fit_temperature(const double *p, const int *y, size_t n, size_t k);
double fit_logloss(const double *p, const int *y, size_t n, size_t k);
double fit_ece(const double *p, const int *y, size_t n, size_t k, int bins);

#endif
