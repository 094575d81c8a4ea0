/* outfile.c — atomic for regular files, in place for devices and pipes (outfile.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exitcode.h"
#include "outfile.h"
#include "xalloc.h"

int
outfile_open(outfile *o, const char *path, char *err, size_t errlen)
{
	struct stat st;
	int rc;

	memset(o, 0, sizeof *o);
	o->path = xstrdup(path);
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: is a directory", path);
			free(o->path);
			return CS_EXIT_IO;
		}
		if ((o->fp = fopen(path, "w")) == NULL) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			free(o->path);
			return CS_EXIT_IO;
		}
		return 0;
	}
	if ((rc = fs_atomic_open(&o->a, path, err, errlen)) != 0) {
		free(o->path);
		return rc;
	}
	o->atomic = 1;
	o->fp = o->a.fp;
	return 0;
}

int
outfile_commit(outfile *o, char *err, size_t errlen)
{
	int rc = 0;

	if (o->atomic) {
		rc = fs_atomic_commit(&o->a, err, errlen);
	} else {
		errno = 0;
		if (fflush(o->fp) != 0 || ferror(o->fp)) {
			snprintf(err, errlen, "%s: write error: %s", o->path, strerror(errno));
			rc = CS_EXIT_IO;
		}
		if (fclose(o->fp) != 0 && rc == 0) {
			snprintf(err, errlen, "%s: %s", o->path, strerror(errno));
			rc = CS_EXIT_IO;
		}
	}
	free(o->path);
	memset(o, 0, sizeof *o);
	return rc;
}

void
outfile_abort(outfile *o)
{
	if (o->atomic)
		fs_atomic_abort(&o->a);
	else if (o->fp)
		fclose(o->fp);
	free(o->path);
	memset(o, 0, sizeof *o);
}
