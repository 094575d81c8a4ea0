/* blend.h — the reliability-weighted log-linear blend of clipsort-fuse -m learned
 * (formula in clipsort-fuse(1) and clipsort-predict(1), FUSION).
 *
 * Each signal s (classifier, zero-shot, cluster prior) gives class probabilities
 * p_s(x).  Its evidence is the centred log-probability
 *     l_sj(x) = log p_sj(x) - (1/K) sum_i log p_si(x)        (p clipped to [1e-6, 1])
 * (for two classes, half the log-odds), 0 when the signal is missing for x.  The blend
 *     P_j(x) = softmax_j( sum_s w_s l_sj(x) + b_j )
 * has one weight w_s >= 0 per signal and one bias b_j per class, fitted on the
 * labelled images by minimising the mean log-loss of P plus (lambda/2)(|w - 1|^2 +
 * |b|^2), lambda = 1/n: with few labels the weights stay near 1 (an equal log-linear
 * pool); with many, each weight measures how reliable its signal has proven.  The
 * classifier's probabilities on labelled images are its out-of-fold ones, so its
 * weight is not inflated by having seen them.  A confident signal (large |l|)
 * dominates; a signal near 0.5 contributes little, so the others decide.
 *
 * Ownership: a blend is caller-owned (blend_fit fills it, blend_release frees b). */
#ifndef CS_FUSE_BLEND_H
#define CS_FUSE_BLEND_H

#include <stddef.h>

enum { BLEND_CLASSIFIER = 0, BLEND_ZEROSHOT = 1, BLEND_CLUSTER = 2, BLEND_NSIG = 3 };

extern const char *const blend_signal_names[BLEND_NSIG];

typedef struct blend {
	size_t k;
	double w[BLEND_NSIG];
	double *b;              /* k biases */
	int single;             /* -1: the blend; else the one signal used alone */
} blend;

/* Centred log-probabilities of one probability row (k) into l (k). */
void blend_evidence(const double *p, size_t k, double *l);
/* l: n x BLEND_NSIG x k evidence; have: n x BLEND_NSIG (0 = signal missing);
 * y: class of each labelled row.  Fits w and b (single = -1). */
void blend_fit(blend *bl, const double *l, const unsigned char *have, const int *y, size_t n, size_t k);
/* Class probabilities of one row (l: BLEND_NSIG x k, have: BLEND_NSIG) into p (k). */
void blend_apply(const blend *bl, const double *l, const unsigned char *have, double *p);
void blend_release(blend *bl);

/* Out-of-fold accuracy of the blend (weights fitted on the other folds) and the
 * accuracy of each signal alone (argmax, on the rows that have it; NAN if none). */
void blend_cv(const double *l, const unsigned char *have, const int *y, size_t n, size_t k, int folds,
    unsigned long seed, double *acc_blend, double acc_single[BLEND_NSIG]);

/* clipsort-fuse with a classifier: read zeroshot.tsv, clusters.tsv (NULL: none) and
 * predictions.tsv whole, and print decisions.tsv.  mode_learned: the blend above
 * (falls back to the best single signal when that is more accurate out-of-fold);
 * else the original workflow's "classifier first": the classifier's class for every
 * image it scored, the zero-shot/cluster rule (ratio) for the others.  Images with a
 * training label keep it (decided_by "label").  report: where the fit is described
 * (stderr).  Returns the exit status. */
int blend_fuse(const char *zpath, const char *cpath, const char *ppath, int mode_learned, double ratio);

#endif
