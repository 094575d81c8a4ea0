/* outfile.h — an output file named on the command line: a regular file (or a new
 * one) is written atomically (fsutil's temp + fsync + rename); anything else that
 * exists (/dev/null, /dev/stdout, a FIFO, a terminal) is opened and written in place,
 * never renamed over.
 *
 * Ownership: an outfile is caller-owned; outfile_open fills it, and exactly one of
 * outfile_commit / outfile_abort releases it.  0 or a cs_exit status with err. */
#ifndef CS_TRAIN_OUTFILE_H
#define CS_TRAIN_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

#include "fsutil.h"

typedef struct outfile {
	FILE *fp;
	fs_atomic a;
	int atomic;
	char *path;
} outfile;

int outfile_open(outfile *o, const char *path, char *err, size_t errlen);
int outfile_commit(outfile *o, char *err, size_t errlen);
void outfile_abort(outfile *o);

#endif
