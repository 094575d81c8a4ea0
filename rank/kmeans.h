/* kmeans.h — weighted k-means (k-means++ seeding, Lloyd iterations with one sgemm
 * per iteration for the distances) over row-major float vectors.  Deterministic for
 * a given seed.  Used by clipsort-rank for diverse batches and cold-start picks.
 *
 * Ownership: all arrays are the caller's. */
#ifndef CS_RANK_KMEANS_H
#define CS_RANK_KMEANS_H

#include <stddef.h>

/* x: n x d; w: n weights (NULL = 1); k <= n clusters.  Fills cent (k x d) and
 * assign (n).  Returns the number of Lloyd iterations run. */
int kmeans(const float *x, const double *w, size_t n, size_t d, size_t k, unsigned long seed, int maxit,
    float *cent, int *assign);
/* Index of the member of each cluster nearest its centre (-1 for an empty cluster). */
void kmeans_medoids(const float *x, size_t n, size_t d, const float *cent, size_t k, const int *assign, long *pick);

#endif
