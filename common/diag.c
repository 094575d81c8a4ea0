#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "exitcode.h"

static const char *prog = "clipsort";

void
diag_init(const char *argv0)
{
	const char *s;

	if (argv0 == NULL || *argv0 == '\0')
		return;
	s = strrchr(argv0, '/');
	prog = s ? s + 1 : argv0;
}

const char *
diag_prog(void)
{
	return prog;
}

static void
vmsg(const char *fmt, va_list ap)
{
	int saved = errno;
	size_t n = strlen(fmt);

	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	if (n > 0 && fmt[n - 1] == ':')
		fprintf(stderr, " %s", strerror(saved));
	fputc('\n', stderr);
	errno = saved;
}

void
cs_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void
cs_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	exit(status);
}

int
cs_fclose_checked(FILE *fp, const char *name)
{
	int bad;

	errno = 0;
	bad = fflush(fp) != 0 || ferror(fp);
	if (fp == stdout || fp == stderr) {
		/* leave the stream open for atexit handlers; fsync is not ours to do */
	} else if (fclose(fp) != 0) {
		bad = 1;
	}
	if (bad) {
		if (errno != 0)
			cs_warn("%s: write error:", name);
		else
			cs_warn("%s: write error", name);
		return -1;
	}
	return 0;
}

void
cs_fshut(FILE *fp, const char *name)
{
	if (cs_fclose_checked(fp, name) != 0)
		exit(CS_EXIT_IO);
}
