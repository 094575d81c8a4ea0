/* check.h — is a cluster prior worth trusting?  Compares the prior class of each
 * labelled image's cluster with its label.
 *
 * accuracy = share of labelled images whose cluster prior equals their label;
 * chance   = the accuracy expected when clusters are independent of the labels
 *            (the mean over permutations of the labels);
 * p_value  = one-sided permutation test (labels shuffled, R permutations,
 *            (1 + #{perm >= observed}) / (R + 1));
 * ari      = adjusted Rand index of clusters against labels (information).
 * The prior is usable when p_value <= PC_ALPHA and accuracy >= chance + PC_MIN_GAIN. */
#ifndef CS_PRIOR_CHECK_H
#define CS_PRIOR_CHECK_H

#include <stddef.h>
#include <stdint.h>

#define PC_ALPHA 0.01
#define PC_MIN_GAIN 0.10
#define PC_PERMUTATIONS 999

typedef struct pc_verdict {
	size_t labelled;
	size_t agree;
	double accuracy, chance, p_value, ari;
	int usable;
} pc_verdict;

/* m labelled images: cl[i] their cluster (0..k-1), lab[i] their label (0..nlab-1);
 * prior[j] the label index of cluster j's prior class (-1: none of the labels). */
void pc_check(const int *cl, const int *lab, size_t m, int k, int nlab, const int *prior,
    uint64_t seed, pc_verdict *v);

#endif
