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
	size_t d = m->stamp.dim, k = m->nclass, i;
	char why[512];
	emb_block b;
	float *work;
	double *p;
	int rc;

	if (!emb_stamp_compatible(&m->stamp, st, why, sizeof why)) {
		snprintf(err, errlen, "embeddings were made with another model than the classifier: %s", why);
		return CS_EXIT_DATA;
	}
	/* (block x dim) times (dim x classes) is a thin product: one thread does it at
	 * memory speed, while OpenMP workers only spin against the reader */
	if (k <= 64)
		openblas_set_num_threads(1);
	emb_block_init(&b, PREDROWS_BLOCK, d);
	work = xcalloc(PREDROWS_BLOCK * k, sizeof *work);
	p = xcalloc(PREDROWS_BLOCK * k, sizeof *p);
	do {
		rc = emb_block_read(r, &b);
		if (b.n > 0) {   /* the rows before an error too */
			model_probs(m, b.x, b.n, work, p);
			for (i = 0; i < b.n; i++)
				fn(ctx, b.keys[i], b.locs[i], b.x + i * d, p + i * k);
		}
	} while (rc == 1);
	if (rc < 0)
		snprintf(err, errlen, "%s", emb_reader_error(r));
	emb_block_release(&b);
	free(work);
	free(p);
	return rc < 0 ? CS_EXIT_DATA : 0;
}
