/* vec.h — small numeric kernels several tools share, header-only (static inline)
 * so they inline into hot loops.  Each sums in index order in double: results are
 * bit-for-bit what the loops they replaced gave.
 *
 * Ownership: none; every array is the caller's. */
#ifndef CS_VEC_H
#define CS_VEC_H

#include <math.h>
#include <stddef.h>

/* Squared Euclidean distance of two float vectors of length d. */
static inline double
cs_dist2(const float *a, const float *b, size_t d)
{
	double s = 0;
	size_t j;

	for (j = 0; j < d; j++) {
		double t = (double)a[j] - b[j];
		s += t * t;
	}
	return s;
}

/* Softmax of the k logits in p, in place, given their maximum mx:
 * p[j] = exp(p[j] - mx) / sum. */
static inline void
cs_softmax_max(double *p, size_t k, double mx)
{
	double s = 0;
	size_t j;

	for (j = 0; j < k; j++)
		s += p[j] = exp(p[j] - mx);
	for (j = 0; j < k; j++)
		p[j] /= s;
}

#endif
