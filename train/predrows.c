/* predrows.c — blockwise streaming prediction (predrows.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "exitcode.h"
#include "predrows.h"
#include "xalloc.h"

int
predrows_run(const cs_model *m, emb_reader *r, predrows_fn *fn, void *ctx, char *err, size_t errlen)
{
	const emb_stamp *st = emb_reader_stamp(r);
	size_t d = m->stamp.dim, k = m->nclass, n = 0, i;
	char why[512], (*keys)[EMB_KEY_HEX + 1];
	char **locs;
	float *x, *work;
	double *p;
	emb_image img;
	int rc;

	if (!emb_stamp_compatible(&m->stamp, st, why, sizeof why)) {
		snprintf(err, errlen, "embeddings were made with another model than the classifier: %s", why);
		return CS_EXIT_DATA;
	}
	/* (block x dim) times (dim x classes) is a thin product: one thread does it at
	 * memory speed, while OpenMP workers only spin against the reader */
	if (k <= 64)
		openblas_set_num_threads(1);
	x = xcalloc(PREDROWS_BLOCK * d, sizeof *x);
	work = xcalloc(PREDROWS_BLOCK * k, sizeof *work);
	p = xcalloc(PREDROWS_BLOCK * k, sizeof *p);
	keys = xcalloc(PREDROWS_BLOCK, sizeof *keys);
	locs = xcalloc(PREDROWS_BLOCK, sizeof *locs);
	for (;;) {
		rc = emb_reader_next(r, &img);
		if (rc == 1) {
			memcpy(x + n * d, img.vec, d * sizeof *x);
			memcpy(keys[n], img.key, sizeof keys[n]);
			free(locs[n]);
			locs[n] = xstrdup(img.location ? img.location : "");
			n++;
		}
		if ((rc != 1 && n > 0) || n == PREDROWS_BLOCK) {
			model_probs(m, x, n, work, p);
			for (i = 0; i < n; i++)
				fn(ctx, keys[i], locs[i], x + i * d, p + i * k);
			n = 0;
		}
		if (rc != 1)
			break;
	}
	if (rc < 0)
		snprintf(err, errlen, "%s", emb_reader_error(r));
	for (i = 0; i < PREDROWS_BLOCK; i++)
		free(locs[i]);
	free(locs);
	free(keys);
	free(x);
	free(work);
	free(p);
	return rc < 0 ? CS_EXIT_DATA : 0;
}
