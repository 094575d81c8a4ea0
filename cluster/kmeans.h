/* kmeans.h — k-means (Lloyd) with greedy k-means++ initialisation and restarts,
 * deterministic for a seed; distances by BLAS GEMM (||x||² - 2 x·c + ||c||²),
 * the E-step parallel over row blocks (OpenMP).  The mini-batch variant
 * (Sculley 2010, per-centre learning rate 1/count) updates centres one batch at a
 * time, for inputs that do not fit in memory.
 *
 * Ownership: the caller owns every array passed in and every array a km_* call
 * fills; km_result is caller-owned (km_result_release frees its contents). */
#ifndef CS_KMEANS_H
#define CS_KMEANS_H

#include <stddef.h>
#include <stdint.h>

typedef struct km_params {
	int k;              /* clusters, >= 1 */
	int restarts;       /* independent k-means++ + Lloyd runs; the lowest inertia wins */
	int max_iter;       /* Lloyd iterations per run */
	double tol;         /* convergence: total squared centre shift <= tol * mean feature variance */
	uint64_t seed;
} km_params;

typedef struct km_result {
	float *centers;     /* k x d */
	int *labels;        /* n (NULL for the mini-batch fit) */
	double inertia;     /* sum of squared distances to the assigned centre */
	int iters;          /* Lloyd iterations of the winning run */
	int restart;        /* index of the winning run */
} km_result;

typedef struct km_rng { uint64_t s[4]; } km_rng;
void km_rng_seed(km_rng *r, uint64_t seed);
uint64_t km_rng_next(km_rng *r);
double km_rng_uniform(km_rng *r);          /* [0, 1) */

/* Full-batch fit of n x d row-major x.  n >= k. */
void km_fit(const float *x, size_t n, size_t d, const km_params *p, km_result *res);
void km_result_release(km_result *res);

/* k-means++ (greedy, 2 + ln k candidates per step) seeding of k centres from x;
 * labels and mind (each may be NULL) receive every row's nearest seed and its
 * squared distance, which the seeding computes anyway. */
void km_plusplus(const float *x, const float *xx, size_t n, size_t d, int k, km_rng *rng, float *centers,
    int *labels, float *mind);

/* Nearest centre of each of n rows (labels) and its exact squared distance (dist2,
 * may be NULL).  xx: squared row norms or NULL. */
void km_assign(const float *x, const float *xx, size_t n, size_t d, const float *centers, int k,
    int *labels, double *dist2);

/* One mini-batch step: move each centre toward the batch rows nearest it with
 * learning rate 1/count; counts (k) persist between steps. */
void km_minibatch_step(const float *x, size_t n, size_t d, float *centers, int k, double *counts,
    int *labels_work);

/* Squared Euclidean distance in double. */
double km_dist2(const float *a, const float *b, size_t d);

#endif
