/* tsv.c — the TSV reader and writer of tsv.h. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsv.h"
#include "xalloc.h"

static int
tsv_error(tsv_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
tsv_error(tsv_reader *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(r->err, sizeof r->err, "%s:%lu: ", r->name, r->lineno);
	if (n < 0 || (size_t)n >= sizeof r->err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Reads one raw line into r->line without its "\n" / "\r\n".  1 = line, 0 = EOF, -1 error. */
static int
read_line(tsv_reader *r, size_t *lenp)
{
	ssize_t n;

	errno = 0;
	n = getline(&r->line, &r->linecap, r->fp);
	if (n < 0) {
		if (ferror(r->fp)) {
			r->lineno++;
			return tsv_error(r, "read error: %s", strerror(errno ? errno : EIO));
		}
		return 0;
	}
	r->lineno++;
	if (n > 0 && r->line[n - 1] == '\n')
		n--;
	if (n > 0 && r->line[n - 1] == '\r')
		n--;
	r->line[n] = '\0';
	*lenp = (size_t)n;
	return 1;
}

/* Splits and unescapes r->line[0..len) in place into r->fields. */
static int
split_line(tsv_reader *r, size_t len)
{
	char *s = r->line, *end = r->line + len, *out = r->line;

	r->nfields = 0;
	for (;;) {
		if (r->nfields == r->fieldcap)
			xgrow(&r->fields, &r->fieldcap, r->nfields + 1, sizeof *r->fields);
		r->fields[r->nfields++] = out;
		for (;;) {
			/* fast path: copy ordinary bytes */
			while (s < end && *s != '\t' && *s != '\\' && *s != '\0')
				*out++ = *s++;
			if (s == end || *s == '\t')
				break;
			if (*s == '\0')
				return tsv_error(r, "NUL byte in field %zu", r->nfields);
			/* backslash */
			if (s + 1 == end)
				return tsv_error(r, "bad escape: backslash at end of line");
			switch (s[1]) {
			case 't': *out++ = '\t'; break;
			case 'n': *out++ = '\n'; break;
			case 'r': *out++ = '\r'; break;
			case '\\': *out++ = '\\'; break;
			default:
				if ((unsigned char)s[1] >= 0x21 && (unsigned char)s[1] < 0x7f)
					return tsv_error(r, "bad escape '\\%c' in field %zu", s[1], r->nfields);
				return tsv_error(r, "bad escape '\\' followed by byte 0x%02x in field %zu",
				    (unsigned char)s[1], r->nfields);
			}
			s += 2;
		}
		/* NUL-terminate the field; out <= s always, and s points at TAB or end */
		if (s == end) {
			*out = '\0';
			return 0;
		}
		*out++ = '\0';
		s++;
	}
}

int
tsv_reader_init(tsv_reader *r, FILE *fp, const char *name)
{
	size_t len, i, j;
	int rc;

	memset(r, 0, sizeof *r);
	r->fp = fp;
	r->name = xstrdup(name ? name : "<input>");
	rc = read_line(r, &len);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		r->lineno = 1;
		return tsv_error(r, "missing header line (empty input)");
	}
	if (len >= 3 && memcmp(r->line, "\xEF\xBB\xBF", 3) == 0) {
		memmove(r->line, r->line + 3, len - 3 + 1);
		len -= 3;
	}
	if (split_line(r, len) < 0)
		return -1;
	r->ncols = r->nfields;
	r->cols = xcalloc(r->ncols, sizeof *r->cols);
	for (i = 0; i < r->ncols; i++) {
		if (r->fields[i][0] == '\0')
			return tsv_error(r, "empty column name (column %zu)", i + 1);
		for (j = 0; j < i; j++)
			if (strcmp(r->cols[j], r->fields[i]) == 0)
				return tsv_error(r, "duplicate column '%s'", r->fields[i]);
		r->cols[i] = xstrdup(r->fields[i]);
	}
	return 0;
}

int
tsv_reader_open(tsv_reader *r, const char *path)
{
	FILE *fp;

	if (strcmp(path, "-") == 0)
		return tsv_reader_init(r, stdin, "<stdin>");
	fp = fopen(path, "r");
	if (fp == NULL) {
		int e = errno;

		memset(r, 0, sizeof *r);
		r->name = xstrdup(path);
		snprintf(r->err, sizeof r->err, "%s: %s", path, strerror(e));
		return -1;
	}
	if (tsv_reader_init(r, fp, path) < 0) {
		r->owns_fp = 1;
		return -1;
	}
	r->owns_fp = 1;
	return 0;
}

int
tsv_reader_col(const tsv_reader *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->ncols; i++)
		if (strcmp(r->cols[i], name) == 0)
			return (int)i;
	return -1;
}

int
tsv_reader_require(tsv_reader *r, const char *const *names, int *idx, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		idx[i] = tsv_reader_col(r, names[i]);
		if (idx[i] < 0) {
			snprintf(r->err, sizeof r->err, "%s:1: missing column '%s'", r->name, names[i]);
			return -1;
		}
	}
	return 0;
}

int
tsv_reader_next(tsv_reader *r)
{
	size_t len;
	int rc;

	if (r->cols == NULL)
		return tsv_error(r, "no header read");
	rc = read_line(r, &len);
	if (rc <= 0)
		return rc;
	if (split_line(r, len) < 0)
		return -1;
	if (r->nfields != r->ncols)
		return tsv_error(r, "expected %zu fields, got %zu", r->ncols, r->nfields);
	return 1;
}

const char *
tsv_reader_field(const tsv_reader *r, size_t i)
{
	return i < r->nfields ? r->fields[i] : NULL;
}

void
tsv_reader_release(tsv_reader *r)
{
	size_t i;

	if (r->owns_fp && r->fp != NULL)
		fclose(r->fp);
	for (i = 0; i < r->ncols; i++)
		free(r->cols[i]);
	free(r->cols);
	free(r->fields);
	free(r->line);
	free(r->buf);
	free(r->name);
	r->fp = NULL;
	r->cols = NULL;
	r->fields = NULL;
	r->line = NULL;
	r->buf = NULL;
	r->name = NULL;
	r->ncols = r->nfields = r->fieldcap = r->linecap = r->bufcap = 0;
}

void
tsv_put_field(FILE *fp, const char *s)
{
	const char *run = s;

	for (;; s++) {
		const char *esc;

		switch (*s) {
		case '\0': fwrite(run, 1, (size_t)(s - run), fp); return;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\\': esc = "\\\\"; break;
		default: continue;
		}
		fwrite(run, 1, (size_t)(s - run), fp);
		fputs(esc, fp);
		run = s + 1;
	}
}

void
tsv_put_row(FILE *fp, const char *const *fields, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			putc('\t', fp);
		tsv_put_field(fp, fields[i]);
	}
	putc('\n', fp);
}

void
tsv_fmt_double(char buf[32], double v)
{
	int prec;

	if (!isfinite(v)) {
		buf[0] = '\0';
		return;
	}
	if (v == 0) {
		strcpy(buf, signbit(v) ? "-0" : "0");
		return;
	}
	for (prec = 15; prec < 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	snprintf(buf, 32, "%.17g", v);
}

void
tsv_fmt_float(char buf[32], float v)
{
	int prec;

	if (!isfinite(v)) {
		buf[0] = '\0';
		return;
	}
	if (v == 0) {
		strcpy(buf, signbit(v) ? "-0" : "0");
		return;
	}
	for (prec = 6; prec < 9; prec++) {
		snprintf(buf, 32, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v)
			return;
	}
	snprintf(buf, 32, "%.9g", (double)v);
}
