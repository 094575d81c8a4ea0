/* learn_predict_core.c — bench-learn's in-memory scoring time of clipsort's predict
 * path (train/model.c: one sgemm per 2,048-row block + calibration), the part that
 * corresponds to scikit-learn's predict_proba on an array already in memory.
 *   learn_predict_core MODEL EMBEDDINGS  ->  "rows<TAB>wall (CPU) seconds", best of 5 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>

#include "emb.h"
#include "model.h"
#include "predrows.h"
#include "xalloc.h"

static double
now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	char err[1024];
	cs_model m;
	emb_reader *r;
	float *x, *work;
	double *p, best = 1e9, bestc = 0;
	char **keys, **locs;
	size_t n, i, b;
	int rep;

	if (argc != 3 || model_load(&m, argv[1], err, sizeof err) != 0 ||
	    (r = emb_reader_open(argv[2], err, sizeof err)) == NULL ||
	    emb_read_all(r, &x, &keys, &locs, &n) != 0) {
		fprintf(stderr, "usage: learn_predict_core MODEL EMBEDDINGS (%s)\n", argc == 3 ? err : "");
		return 2;
	}
	work = xcalloc(PREDROWS_BLOCK * m.nclass, sizeof *work);
	p = xcalloc(PREDROWS_BLOCK * m.nclass, sizeof *p);
	if (m.nclass <= 64)
		openblas_set_num_threads(1);   /* as predrows_run */
	for (rep = 0; rep < 5; rep++) {
		double t = now(CLOCK_MONOTONIC), c = now(CLOCK_PROCESS_CPUTIME_ID);
		for (b = 0; b < n; b += PREDROWS_BLOCK) {
			size_t k = n - b < PREDROWS_BLOCK ? n - b : PREDROWS_BLOCK;
			model_probs(&m, x + b * m.stamp.dim, k, work, p);
		}
		t = now(CLOCK_MONOTONIC) - t;
		c = now(CLOCK_PROCESS_CPUTIME_ID) - c;
		if (t < best) {
			best = t;
			bestc = c;
		}
	}
	printf("%zu\t%.4f (%.4f)\n", n, best, bestc);
	for (i = 0; i < n; i++) {
		free(keys[i]);
		free(locs[i]);
	}
	free(keys);
	free(locs);
	free(x);
	free(work);
	free(p);
	emb_reader_close(r);
	model_release(&m);
	return 0;
}
