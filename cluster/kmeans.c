/* kmeans.c — k-means (kmeans.h). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "kmeans.h"
#include "rng.h"
#include "vec.h"
#include "xalloc.h"

#define KM_BLOCK 256
/* threads only pay off on large inputs (barriers cost more than small work) */
#define KM_PAR(n, d) ((size_t)(n) * (size_t)(d) >= ((size_t)1 << 20))

void
km_rng_seed(km_rng *r, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = cs_splitmix64(&seed);
}

uint64_t
km_rng_next(km_rng *r)
{
	return cs_xoshiro256ss(r->s);
}

double
km_rng_uniform(km_rng *r)
{
	return cs_unit_double(km_rng_next(r));
}

double
km_dist2(const float *a, const float *b, size_t d)
{
	return cs_dist2(a, b, d);
}

static void
row_norms(const float *x, size_t n, size_t d, float *xx)
{
	long i;

#pragma omp parallel for schedule(static) if (KM_PAR(n, d))
	for (i = 0; i < (long)n; i++) {
		const float *r = x + (size_t)i * d;
		double s = 0;
		size_t j;

		for (j = 0; j < d; j++)
			s += (double)r[j] * r[j];
		xx[i] = (float)s;
	}
}

/* Squared distances of n rows to m points y (m x d): out is n x m. */
static void
dist_block(const float *x, const float *xx, size_t n, size_t d, const float *y, const float *yy,
    size_t m, float *out)
{
	size_t i, j;

	if (m <= 4) {   /* skinny: GEMV per point reads the block without GEMM's packing copy */
		for (j = 0; j < m; j++)
			cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)d, -2.0f, x, (int)d,
			    y + j * d, 1, 0.0f, out + j, (int)m);
	} else {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)m, (int)d, -2.0f, x,
		    (int)d, y, (int)d, 0.0f, out, (int)m);
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < m; j++) {
			float v = out[i * m + j] + xx[i] + yy[j];
			out[i * m + j] = v > 0 ? v : 0;
		}
}

void
km_plusplus(const float *x, const float *xx, size_t n, size_t d, int k, km_rng *rng, float *centers,
    int *labels, float *mind)
{
	int trials = 2 + (int)floor(log((double)k)), c, t;
	double *cum = xreallocarray(NULL, n, sizeof *cum), pot = 0;
	float *closest = xreallocarray(NULL, n, sizeof *closest);
	float *cand = xreallocarray(NULL, (size_t)trials * d, sizeof *cand);
	float *cc = xreallocarray(NULL, (size_t)trials, sizeof *cc);
	float *dist = xreallocarray(NULL, n * (size_t)trials, sizeof *dist);
	double *tpot = xreallocarray(NULL, (size_t)trials, sizeof *tpot);
	size_t *idx = xreallocarray(NULL, (size_t)trials, sizeof *idx);
	size_t i, first = (size_t)(km_rng_uniform(rng) * (double)n);
	long b;

	memcpy(centers, x + first * d, d * sizeof *centers);
	cc[0] = xx[first];
#pragma omp parallel for schedule(static) if (KM_PAR(n, d))
	for (b = 0; b < (long)n; b += KM_BLOCK) {
		size_t m = n - (size_t)b < KM_BLOCK ? n - (size_t)b : KM_BLOCK;
		dist_block(x + (size_t)b * d, xx + b, m, d, centers, cc, 1, closest + b);
	}
	for (i = 0; i < n; i++)
		pot += closest[i];
	if (labels)
		memset(labels, 0, n * sizeof *labels);
	for (c = 1; c < k; c++) {
		int best = 0;

		for (i = 0, cum[0] = 0; i < n; i++)
			cum[i] = (i ? cum[i - 1] : 0) + closest[i];
		pot = cum[n - 1];
		for (t = 0; t < trials; t++) {
			double r = km_rng_uniform(rng) * pot;
			size_t lo = 0, hi = n - 1;

			while (lo < hi) {   /* first i with cum[i] > r */
				size_t mid = lo + (hi - lo) / 2;
				if (cum[mid] > r)
					hi = mid;
				else
					lo = mid + 1;
			}
			idx[t] = lo;
			memcpy(cand + (size_t)t * d, x + lo * d, d * sizeof *cand);
			cc[t] = xx[lo];
		}
#pragma omp parallel for schedule(static) if (KM_PAR(n, d))
		for (b = 0; b < (long)n; b += KM_BLOCK) {
			size_t m = n - (size_t)b < KM_BLOCK ? n - (size_t)b : KM_BLOCK;
			dist_block(x + (size_t)b * d, xx + b, m, d, cand, cc, (size_t)trials,
			    dist + (size_t)b * (size_t)trials);
		}
		for (t = 0; t < trials; t++) {
			double s = 0;
			for (i = 0; i < n; i++) {
				float v = dist[i * (size_t)trials + (size_t)t];
				s += v < closest[i] ? v : closest[i];
			}
			tpot[t] = s;
			if (s < tpot[best])
				best = t;
		}
		for (i = 0; i < n; i++) {
			float v = dist[i * (size_t)trials + (size_t)best];
			if (v < closest[i]) {
				closest[i] = v;
				if (labels)
					labels[i] = c;
			}
		}
		memcpy(centers + (size_t)c * d, x + idx[best] * d, d * sizeof *centers);
	}
	if (mind)
		memcpy(mind, closest, n * sizeof *mind);
	free(idx);
	free(tpot);
	free(dist);
	free(cc);
	free(cand);
	free(closest);
	free(cum);
}

static void
center_norms(const float *centers, int k, size_t d, float *cc)
{
	int j;

	for (j = 0; j < k; j++) {
		double s = 0;
		size_t e;
		for (e = 0; e < d; e++)
			s += (double)centers[(size_t)j * d + e] * centers[(size_t)j * d + e];
		cc[j] = (float)s;
	}
}

/* Adds one thread's M-step sums and counts (k x d, k) into the shared ones; the
 * caller holds the critical section. */
static void
merge_sums(double *sums, double *counts, const double *ls, const double *lc, int k, size_t d)
{
	size_t e;

	for (e = 0; e < (size_t)k * d; e++)
		sums[e] += ls[e];
	for (e = 0; e < (size_t)k; e++)
		counts[e] += lc[e];
}

/* One E-step over all rows; with sums != NULL also keeps the M-step sums (k x d
 * doubles) and counts of the current labels up to date, touching only the rows
 * that change cluster.  Returns the number of labels that changed. */
static size_t
estep(const float *x, const float *xx, size_t n, size_t d, const float *centers, const float *cc,
    int k, int *labels, float *mind, double *sums, double *counts)
{
	size_t changed = 0;
	long b;

#pragma omp parallel reduction(+:changed) if (KM_PAR(n, d))
	{
		float *g = xreallocarray(NULL, (size_t)KM_BLOCK * (size_t)k, sizeof *g);
		double *ls = sums ? xcalloc((size_t)k * d, sizeof *ls) : NULL;
		double *lc = sums ? xcalloc((size_t)k, sizeof *lc) : NULL;

#pragma omp for schedule(static)
		for (b = 0; b < (long)n; b += KM_BLOCK) {
			size_t m = n - (size_t)b < KM_BLOCK ? n - (size_t)b : KM_BLOCK, i;

			dist_block(x + (size_t)b * d, xx + b, m, d, centers, cc, (size_t)k, g);
			for (i = 0; i < m; i++) {
				size_t row = (size_t)b + i, e;
				const float *gi = g + i * (size_t)k;
				int j, best = 0;

				for (j = 1; j < k; j++)
					if (gi[j] < gi[best])
						best = j;
				if (mind)
					mind[row] = gi[best];
				if (labels[row] == best)
					continue;
				if (ls) {   /* move the row's share of the sums */
					const float *r = x + row * d;
					double *to = ls + (size_t)best * d;
					if (labels[row] >= 0) {
						double *from = ls + (size_t)labels[row] * d;
						for (e = 0; e < d; e++)
							from[e] -= r[e];
						lc[labels[row]] -= 1;
					}
					for (e = 0; e < d; e++)
						to[e] += r[e];
					lc[best] += 1;
				}
				labels[row] = best;
				changed++;
			}
		}
		if (ls) {
#pragma omp critical
			merge_sums(sums, counts, ls, lc, k, d);
		}
		free(lc);
		free(ls);
		free(g);
	}
	return changed;
}

/* The M-step sums of given labels (the first Lloyd step after k-means++, whose
 * distance passes already assigned every row to its nearest seed). */
static void
accumulate(const float *x, size_t n, size_t d, int k, const int *labels, double *sums, double *counts)
{
	long b;

#pragma omp parallel if (KM_PAR(n, d))
	{
		double *ls = xcalloc((size_t)k * d, sizeof *ls), *lc = xcalloc((size_t)k, sizeof *lc);

#pragma omp for schedule(static)
		for (b = 0; b < (long)n; b += KM_BLOCK) {
			size_t m = n - (size_t)b < KM_BLOCK ? n - (size_t)b : KM_BLOCK, i, e;

			for (i = 0; i < m; i++) {
				size_t row = (size_t)b + i;
				double *sj = ls + (size_t)labels[row] * d;
				const float *r = x + row * d;
				for (e = 0; e < d; e++)
					sj[e] += r[e];
				lc[labels[row]] += 1;
			}
		}
#pragma omp critical
		merge_sums(sums, counts, ls, lc, k, d);
		free(lc);
		free(ls);
	}
}

/* Empty clusters take the rows farthest from their centres (as scikit-learn). */
static void
relocate_empty(const float *x, size_t n, size_t d, int k, int *labels, const float *mind,
    double *sums, double *counts)
{
	int j;
	unsigned char *used = NULL;

	for (j = 0; j < k; j++) {
		size_t i, far = 0;
		float best = -1;
		size_t e;

		if (counts[j] > 0)
			continue;
		if (used == NULL)
			used = xcalloc(n, 1);
		for (i = 0; i < n; i++)
			if (!used[i] && counts[labels[i]] > 1 && mind[i] > best) {
				best = mind[i];
				far = i;
			}
		if (best < 0)
			continue;
		used[far] = 1;
		for (e = 0; e < d; e++) {
			sums[(size_t)labels[far] * d + e] -= x[far * d + e];
			sums[(size_t)j * d + e] = x[far * d + e];
		}
		counts[labels[far]] -= 1;
		counts[j] = 1;
		labels[far] = j;
	}
	free(used);
}

static double
mean_variance(const float *x, size_t n, size_t d)
{
	double *m = xcalloc(d, sizeof *m), *q = xcalloc(d, sizeof *q), tot = 0;
	size_t e;
	long b;

#pragma omp parallel if (KM_PAR(n, d))
	{
		double *lm = xcalloc(d, sizeof *lm), *lq = xcalloc(d, sizeof *lq);

#pragma omp for schedule(static)
		for (b = 0; b < (long)n; b += KM_BLOCK) {
			size_t i, j, end = (size_t)b + KM_BLOCK < n ? (size_t)b + KM_BLOCK : n;
			for (i = (size_t)b; i < end; i++)
				for (j = 0; j < d; j++) {
					double v = x[i * d + j];
					lm[j] += v;
					lq[j] += v * v;
				}
		}
#pragma omp critical
		{
			size_t j;
			for (j = 0; j < d; j++) {
				m[j] += lm[j];
				q[j] += lq[j];
			}
		}
		free(lm);
		free(lq);
	}
	for (e = 0; e < d; e++) {
		double mu = m[e] / (double)n, v = q[e] / (double)n - mu * mu;
		tot += v > 0 ? v : 0;
	}
	free(m);
	free(q);
	return tot / (double)d;
}

/* One Lloyd run from the given centres, whose nearest-centre labels and distances
 * are already in labels and mind; returns iterations; labels filled. */
static int
lloyd(const float *x, const float *xx, size_t n, size_t d, int k, int max_iter, double tol_abs,
    float *centers, int *labels, float *mind)
{
	double *sums = xreallocarray(NULL, (size_t)k * d, sizeof *sums);
	double *counts = xreallocarray(NULL, (size_t)k, sizeof *counts);
	float *cc = xreallocarray(NULL, (size_t)k, sizeof *cc);
	int it, strict = 0;

	for (it = 0; it < max_iter; it++) {
		double shift = 0;
		size_t changed, e;
		int j;

		if (it == 0) {
			memset(sums, 0, (size_t)k * d * sizeof *sums);
			memset(counts, 0, (size_t)k * sizeof *counts);
			accumulate(x, n, d, k, labels, sums, counts);
			changed = n;
		} else {
			center_norms(centers, k, d, cc);
			changed = estep(x, xx, n, d, centers, cc, k, labels, mind, sums, counts);
		}
		if (it > 0 && changed == 0) {
			strict = 1;
			it++;
			break;
		}
		relocate_empty(x, n, d, k, labels, mind, sums, counts);
		for (j = 0; j < k; j++) {
			if (counts[j] == 0)
				continue;
			for (e = 0; e < d; e++) {
				float nv = (float)(sums[(size_t)j * d + e] / counts[j]);
				double t = (double)nv - centers[(size_t)j * d + e];
				shift += t * t;
				centers[(size_t)j * d + e] = nv;
			}
		}
		if (shift <= tol_abs) {
			it++;
			break;
		}
	}
	if (!strict) {   /* labels must match the final centres */
		center_norms(centers, k, d, cc);
		estep(x, xx, n, d, centers, cc, k, labels, mind, NULL, NULL);
	}
	free(cc);
	free(counts);
	free(sums);
	return it;
}

void
km_assign(const float *x, const float *xx, size_t n, size_t d, const float *centers, int k,
    int *labels, double *dist2)
{
	float *own = NULL, *cc = xreallocarray(NULL, (size_t)k, sizeof *cc);
	long i;

	openblas_set_num_threads(1);
	if (xx == NULL) {
		own = xreallocarray(NULL, n ? n : 1, sizeof *own);
		row_norms(x, n, d, own);
		xx = own;
	}
	center_norms(centers, k, d, cc);
	for (i = 0; i < (long)n; i++)
		labels[i] = -1;
	estep(x, xx, n, d, centers, cc, k, labels, NULL, NULL, NULL);
	if (dist2) {
#pragma omp parallel for schedule(static) if (KM_PAR(n, d))
		for (i = 0; i < (long)n; i++)
			dist2[i] = km_dist2(x + (size_t)i * d, centers + (size_t)labels[i] * d, d);
	}
	free(cc);
	free(own);
}

void
km_fit(const float *x, size_t n, size_t d, const km_params *p, km_result *res)
{
	float *xx = xreallocarray(NULL, n, sizeof *xx);
	float *centers = xreallocarray(NULL, (size_t)p->k * d, sizeof *centers);
	float *mind = xreallocarray(NULL, n, sizeof *mind);
	int *labels = xreallocarray(NULL, n, sizeof *labels);
	double *dist2 = xreallocarray(NULL, n, sizeof *dist2);
	double tol_abs = p->tol * mean_variance(x, n, d);
	km_rng rng;
	int r;

	/* our own OpenMP loops split the work; BLAS runs single-threaded inside them
	 * (and a threaded BLAS on tiny blocks costs more in barriers than it saves) */
	openblas_set_num_threads(1);
	memset(res, 0, sizeof *res);
	res->centers = xreallocarray(NULL, (size_t)p->k * d, sizeof *res->centers);
	res->labels = xreallocarray(NULL, n, sizeof *res->labels);
	res->inertia = INFINITY;
	row_norms(x, n, d, xx);
	km_rng_seed(&rng, p->seed);
	for (r = 0; r < p->restarts; r++) {
		double inertia = 0;
		size_t i;
		int it;

		km_plusplus(x, xx, n, d, p->k, &rng, centers, labels, mind);
		it = lloyd(x, xx, n, d, p->k, p->max_iter, tol_abs, centers, labels, mind);
		for (i = 0; i < n; i++)   /* GEMM distances of the final E-step: to pick the best run */
			inertia += mind[i];
		if (inertia < res->inertia) {
			res->inertia = inertia;
			res->iters = it;
			res->restart = r;
			memcpy(res->centers, centers, (size_t)p->k * d * sizeof *centers);
			memcpy(res->labels, labels, n * sizeof *labels);
		}
	}
	{   /* the winner's inertia exactly, in double */
		long li;
#pragma omp parallel for schedule(static) if (KM_PAR(n, d))
		for (li = 0; li < (long)n; li++)
			dist2[li] = km_dist2(x + (size_t)li * d, res->centers + (size_t)res->labels[li] * d, d);
		res->inertia = 0;
		for (li = 0; li < (long)n; li++)
			res->inertia += dist2[li];
	}
	free(dist2);
	free(labels);
	free(mind);
	free(centers);
	free(xx);
}

void
km_result_release(km_result *res)
{
	free(res->centers);
	free(res->labels);
	memset(res, 0, sizeof *res);
}

void
km_minibatch_step(const float *x, size_t n, size_t d, float *centers, int k, double *counts,
    int *labels_work)
{
	size_t i, e;

	km_assign(x, NULL, n, d, centers, k, labels_work, NULL);
	for (i = 0; i < n; i++) {
		int j = labels_work[i];
		float *c = centers + (size_t)j * d;
		double eta;

		counts[j] += 1;
		eta = 1.0 / counts[j];
		for (e = 0; e < d; e++)
			c[e] = (float)((1 - eta) * c[e] + eta * x[i * d + e]);
	}
}
