/* kmeans.c — weighted k-means (kmeans.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "kmeans.h"
#include "rng.h"
#include "vec.h"
#include "xalloc.h"

/* squared distance of every row to centre c, via one sgemv: |x|^2 + |c|^2 - 2 x.c */
static void
dist_to(const float *x, const float *xx, size_t n, size_t d, const float *c, float *dots, double *out)
{
	double cc = 0;
	size_t i;

	for (i = 0; i < d; i++)
		cc += (double)c[i] * c[i];
	cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)d, 1.0f, x, (int)d, c, 1, 0.0f, dots, 1);
	for (i = 0; i < n; i++) {
		double t = (double)xx[i] + cc - 2.0 * dots[i];
		out[i] = t > 0 ? t : 0;
	}
}

/* k-means++: next centre drawn with probability w * D^2 */
static void
seed_pp(const float *x, const double *w, size_t n, size_t d, size_t k, uint64_t *s, float *cent)
{
	double *dist = xcalloc(n, sizeof *dist), *nd = xcalloc(n, sizeof *nd), tot = 0, r;
	float *xx = xcalloc(n, sizeof *xx), *dots = xcalloc(n, sizeof *dots);
	size_t i, j, c, pick;

	for (i = 0; i < n; i++) {
		double t = 0;
		for (j = 0; j < d; j++)
			t += (double)x[i * d + j] * x[i * d + j];
		xx[i] = (float)t;
		tot += w ? w[i] : 1;
	}
	r = cs_unit_double(cs_splitmix64(s)) * tot;
	for (pick = 0; pick + 1 < n; pick++) {
		r -= w ? w[pick] : 1;
		if (r <= 0)
			break;
	}
	memcpy(cent, x + pick * d, d * sizeof *cent);
	dist_to(x, xx, n, d, cent, dots, dist);
	for (c = 1; c < k; c++) {
		tot = 0;
		for (i = 0; i < n; i++)
			tot += (w ? w[i] : 1) * dist[i];
		if (tot <= 0) {
			pick = (size_t)(cs_splitmix64(s) % n);
		} else {
			r = cs_unit_double(cs_splitmix64(s)) * tot;
			for (pick = 0; pick + 1 < n; pick++) {
				r -= (w ? w[pick] : 1) * dist[pick];
				if (r <= 0)
					break;
			}
		}
		memcpy(cent + c * d, x + pick * d, d * sizeof *cent);
		dist_to(x, xx, n, d, cent + c * d, dots, nd);
		for (i = 0; i < n; i++)
			if (nd[i] < dist[i])
				dist[i] = nd[i];
	}
	free(dist);
	free(nd);
	free(xx);
	free(dots);
}

/* assign by max(x.c - |c|^2/2), block by block */
static int
assign_all(const float *x, size_t n, size_t d, const float *cent, size_t k, float *dots, int *assign)
{
	double *half = xcalloc(k, sizeof *half);
	size_t i, c, b, B = 4096;
	int changed = 0;

	for (c = 0; c < k; c++) {
		double s = 0;
		size_t j;
		for (j = 0; j < d; j++)
			s += (double)cent[c * d + j] * cent[c * d + j];
		half[c] = s / 2;
	}
	for (b = 0; b < n; b += B) {
		size_t m = n - b < B ? n - b : B;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, (int)d, 1.0f, x + b * d, (int)d,
		    cent, (int)d, 0.0f, dots, (int)k);
		for (i = 0; i < m; i++) {
			int best = 0;
			double bv = -INFINITY;
			for (c = 0; c < k; c++) {
				double v = dots[i * k + c] - half[c];
				if (v > bv) {
					bv = v;
					best = (int)c;
				}
			}
			if (assign[b + i] != best) {
				assign[b + i] = best;
				changed = 1;
			}
		}
	}
	free(half);
	return changed;
}

int
kmeans(const float *x, const double *w, size_t n, size_t d, size_t k, unsigned long seed, int maxit,
    float *cent, int *assign)
{
	uint64_t s = (uint64_t)seed * 0x2545F4914F6CDD1DULL + 1;
	float *dots = xcalloc((n < 4096 ? n : 4096) * k, sizeof *dots);
	double *acc = xcalloc(k * d, sizeof *acc), *wsum = xcalloc(k, sizeof *wsum);
	size_t i, c, j;
	int it;

	if (k > n)
		k = n;
	seed_pp(x, w, n, d, k, &s, cent);
	for (i = 0; i < n; i++)
		assign[i] = -1;
	for (it = 0; it < maxit; it++) {
		if (!assign_all(x, n, d, cent, k, dots, assign))
			break;
		memset(acc, 0, k * d * sizeof *acc);
		memset(wsum, 0, k * sizeof *wsum);
		for (i = 0; i < n; i++) {
			double wi = w ? w[i] : 1;
			c = (size_t)assign[i];
			wsum[c] += wi;
			for (j = 0; j < d; j++)
				acc[c * d + j] += wi * x[i * d + j];
		}
		for (c = 0; c < k; c++) {
			if (wsum[c] <= 0)
				continue;   /* empty cluster keeps its centre */
			for (j = 0; j < d; j++)
				cent[c * d + j] = (float)(acc[c * d + j] / wsum[c]);
		}
	}
	free(dots);
	free(acc);
	free(wsum);
	return it;
}

void
kmeans_medoids(const float *x, size_t n, size_t d, const float *cent, size_t k, const int *assign, long *pick)
{
	double *best = xcalloc(k, sizeof *best);
	size_t i, c;

	for (c = 0; c < k; c++) {
		pick[c] = -1;
		best[c] = INFINITY;
	}
	for (i = 0; i < n; i++) {
		double t;
		c = (size_t)assign[i];
		t = cs_dist2(x + i * d, cent + c * d, d);
		if (t < best[c]) {
			best[c] = t;
			pick[c] = (long)i;
		}
	}
	free(best);
}
