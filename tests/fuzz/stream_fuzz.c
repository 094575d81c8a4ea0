/* stream_fuzz.c — libFuzzer target for the embedding stream reader
 * (common/emb_stream.c): any bytes give a reader error with the input's name, or a
 * complete stream whose vectors are finite; never a crash, never a silent short read. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024];
	emb_reader *r;
	emb_image img;
	const emb_text *t;
	size_t nt, i;
	uint32_t d, dim;
	FILE *fp;
	int rc;

	if (size == 0)
		return 0;
	fp = fmemopen((void *)(uintptr_t)data, size, "rb");
	if (fp == NULL)
		return 0;
	r = emb_reader_open_fp(fp, "fuzz", err, sizeof err);
	if (r == NULL) {
		if (strncmp(err, "fuzz: ", 6) != 0)
			abort();
		fclose(fp);
		return 0;
	}
	dim = emb_reader_stamp(r)->dim;
	if (emb_reader_texts(r, &t, &nt) == 0)
		for (i = 0; i < nt; i++)
			for (d = 0; d < dim; d++)
				if (!isfinite(t[i].vec[d]))
					abort();
	while ((rc = emb_reader_next(r, &img)) == 1) {
		if (strlen(img.key) != 64 || img.location == NULL)
			abort();
		for (d = 0; d < dim; d++)
			if (!isfinite(img.vec[d]))
				abort();
	}
	if (rc < 0 && strncmp(emb_reader_error(r), "fuzz: ", 6) != 0)
		abort();
	emb_reader_close(r);
	fclose(fp);
	return 0;
}
