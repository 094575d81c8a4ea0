/* check.c — cluster prior check (check.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kmeans.h"
#include "xalloc.h"

static double
choose2(double x)
{
	return x * (x - 1) / 2;
}

static double
ari(const int *cl, const int *lab, size_t m, int k, int nlab)
{
	double *t = xcalloc((size_t)k * (size_t)nlab, sizeof *t);
	double *a = xcalloc((size_t)k, sizeof *a), *b = xcalloc((size_t)nlab, sizeof *b);
	double sij = 0, sa = 0, sb = 0, expct, mx, r;
	size_t i;
	int j, l;

	for (i = 0; i < m; i++) {
		t[(size_t)cl[i] * (size_t)nlab + (size_t)lab[i]] += 1;
		a[cl[i]] += 1;
		b[lab[i]] += 1;
	}
	for (j = 0; j < k; j++)
		for (l = 0; l < nlab; l++)
			sij += choose2(t[(size_t)j * (size_t)nlab + (size_t)l]);
	for (j = 0; j < k; j++)
		sa += choose2(a[j]);
	for (l = 0; l < nlab; l++)
		sb += choose2(b[l]);
	expct = m > 1 ? sa * sb / choose2((double)m) : 0;
	mx = (sa + sb) / 2;
	r = mx - expct != 0 ? (sij - expct) / (mx - expct) : (sij == expct ? 1.0 : 0.0);
	free(t);
	free(a);
	free(b);
	return r;
}

static size_t
agreements(const int *cl, const int *lab, size_t m, const int *prior)
{
	size_t i, n = 0;

	for (i = 0; i < m; i++)
		n += prior[cl[i]] == lab[i];
	return n;
}

void
pc_check(const int *cl, const int *lab, size_t m, int k, int nlab, const int *prior,
    uint64_t seed, pc_verdict *v)
{
	double *nc = xcalloc((size_t)k, sizeof *nc), *nl = xcalloc((size_t)nlab + 1, sizeof *nl);
	int *perm;
	size_t i, ge = 0;
	km_rng rng;
	int j, r;

	memset(v, 0, sizeof *v);
	v->labelled = m;
	v->p_value = 1;
	if (m == 0) {
		free(nc);
		free(nl);
		return;
	}
	for (i = 0; i < m; i++) {
		nc[cl[i]] += 1;
		nl[lab[i]] += 1;
	}
	for (j = 0; j < k; j++)
		if (prior[j] >= 0)
			v->chance += nc[j] / (double)m * nl[prior[j]] / (double)m;
	v->agree = agreements(cl, lab, m, prior);
	v->accuracy = (double)v->agree / (double)m;
	v->ari = ari(cl, lab, m, k, nlab);
	perm = xreallocarray(NULL, m, sizeof *perm);
	memcpy(perm, lab, m * sizeof *perm);
	km_rng_seed(&rng, seed ^ 0x5eedc0de);
	for (r = 0; r < PC_PERMUTATIONS; r++) {
		for (i = m - 1; i > 0; i--) {
			size_t s = (size_t)(km_rng_uniform(&rng) * (double)(i + 1));
			int t = perm[i];
			perm[i] = perm[s];
			perm[s] = t;
		}
		ge += agreements(cl, perm, m, prior) >= v->agree;
	}
	v->p_value = (double)(1 + ge) / (PC_PERMUTATIONS + 1);
	v->usable = v->p_value <= PC_ALPHA && v->accuracy >= v->chance + PC_MIN_GAIN;
	free(perm);
	free(nc);
	free(nl);
}
