/* tsv.c — the TSV reader and writer of tsv.h. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
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

/* Unescapes the field at s (up to end or TAB, containing a backslash) to out;
 * returns the position of the TAB or end, or NULL after an error. */
static char *
unescape(tsv_reader *r, char *s, char *end, char **outp)
{
	char *out = *outp;

	for (;;) {
		while (s < end && *s != '\t' && *s != '\\')
			*out++ = *s++;
		if (s == end || *s == '\t')
			break;
		if (s + 1 == end) {
			tsv_error(r, "bad escape: backslash at end of line");
			return NULL;
		}
		switch (s[1]) {
		case 't': *out++ = '\t'; break;
		case 'n': *out++ = '\n'; break;
		case 'r': *out++ = '\r'; break;
		case '\\': *out++ = '\\'; break;
		default:
			if ((unsigned char)s[1] >= 0x21 && (unsigned char)s[1] < 0x7f)
				tsv_error(r, "bad escape '\\%c' in field %zu", s[1], r->nfields);
			else
				tsv_error(r, "bad escape '\\' followed by byte 0x%02x in field %zu",
				    (unsigned char)s[1], r->nfields);
			return NULL;
		}
		s += 2;
	}
	*outp = out;
	return s;
}

int
tsv_unescape(char *s)
{
	char *r = s, *w = s;

	while (*r) {
		if (*r != '\\') {
			*w++ = *r++;
			continue;
		}
		switch (r[1]) {
		case 't': *w++ = '\t'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case '\\': *w++ = '\\'; break;
		default: return -1;
		}
		r += 2;
	}
	*w = '\0';
	return 0;
}

/* Splits and unescapes r->line[0..len) in place into r->fields.  Unescaping only
 * shrinks, so fields are written back into the line buffer. */
static int
split_line(tsv_reader *r, size_t len)
{
	char *s = r->line, *end = r->line + len, *out = r->line, *tab, *bs, *nul;

	r->nfields = 0;
	nul = memchr(s, '\0', len);
	if (nul != NULL) {
		size_t f = 1;

		for (; s < nul; s++)
			f += *s == '\t';
		return tsv_error(r, "NUL byte in field %zu", f);
	}
	for (;;) {
		if (r->nfields == r->fieldcap)
			xgrow(&r->fields, &r->fieldcap, r->nfields + 1, sizeof *r->fields);
		r->fields[r->nfields++] = out;
		tab = memchr(s, '\t', (size_t)(end - s));
		if (tab == NULL)
			tab = end;
		bs = memchr(s, '\\', (size_t)(tab - s));
		if (bs == NULL) {
			if (out != s)
				memmove(out, s, (size_t)(tab - s));
			out += tab - s;
			s = tab;
		} else if ((s = unescape(r, s, end, &out)) == NULL) {
			return -1;
		}
		/* out <= s, and s points at the TAB or the end */
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

/* ---- shortest round-trip numbers ----
 * The output is exactly what printf("%.*g", p, v) prints for the smallest p in
 * 15..17 (floats: 6..9) whose result reads back as v.
 * Doubles of everyday size: exact 128-bit integer arithmetic (fmt_double_exact).
 * Other doubles: one "%.16e" gives the 17 correctly rounded digits; the 15- and 16-digit
 * candidates are rounded from them (exact unless the dropped digits are exactly
 * "5"/"50", then snprintf decides) and checked with strtod.
 * Floats: the digits come from double arithmetic with exact powers of ten (one
 * rounding, far below a float's precision) and the candidate is checked against the
 * float's rounding interval; anything too close to call goes to snprintf/strtof. */

static const double pow10d[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Writes m (exactly p digits) with decimal exponent x as %.{p}g would. */
static void
put_g(char *buf, int neg, unsigned long long m, int p, int x)
{
	char d[24], *o = buf;
	int i, n;

	for (i = p - 1; i >= 0; i--) {
		d[i] = (char)('0' + m % 10);
		m /= 10;
	}
	n = p;
	while (n > 1 && d[n - 1] == '0')        /* %g strips trailing zeros */
		n--;
	if (neg)
		*o++ = '-';
	if (x < -4 || x >= p) {
		*o++ = d[0];
		if (n > 1) {
			*o++ = '.';
			memcpy(o, d + 1, (size_t)n - 1);
			o += n - 1;
		}
		*o++ = 'e';
		*o++ = x < 0 ? '-' : '+';
		if (x < 0)
			x = -x;
		if (x >= 100)
			*o++ = (char)('0' + x / 100);
		*o++ = (char)('0' + x / 10 % 10);
		*o++ = (char)('0' + x % 10);
	} else if (x >= 0) {
		for (i = 0; i <= x; i++)
			*o++ = i < n ? d[i] : '0';
		if (n > x + 1) {
			*o++ = '.';
			memcpy(o, d + x + 1, (size_t)(n - x - 1));
			o += n - x - 1;
		}
	} else {
		*o++ = '0';
		*o++ = '.';
		for (i = 0; i < -x - 1; i++)
			*o++ = '0';
		memcpy(o, d, (size_t)n);
		o += n;
	}
	*o = '\0';
}

/* Rounds the 17 digits d17 to p digits (half up on the decimal string, which equals
 * rounding the exact value unless the dropped part is exactly half: then 0). */
static int
round_digits(const char *d17, int p, int x17, unsigned long long *m, int *x)
{
	unsigned long long v = 0;
	int i, half = 1, up;

	for (i = 0; i < p; i++)
		v = v * 10 + (unsigned long long)(d17[i] - '0');
	up = d17[p] >= '5';
	if (d17[p] != '5')
		half = 0;
	for (i = p + 1; i < 17 && half; i++)
		if (d17[i] != '0')
			half = 0;
	if (half)
		return 0;
	*x = x17;
	if (up && ++v == (unsigned long long)pow10d[p]) {
		v /= 10;
		(*x)++;
	}
	*m = v;
	return 1;
}

/* Exact fast path for doubles of everyday size (about 1.5e-5 .. 9e15): with
 * v = M * 2^E, the p-digit decimal and the round-trip test are done in 128-bit
 * integers, ties to even as printf and strtod do.  1 = done, 0 = not in range. */
typedef unsigned __int128 u128;

#define E19 ((u128)10000000000000000000ull)
static const u128 p10[23] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
	100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
	10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
	100000000000000000ull, 1000000000000000000ull, E19, E19 * 10, E19 * 100, E19 * 1000,
};

static int
fmt_double_exact(char buf[32], double v)
{
	uint64_t u, M;
	int be, sh, p, e10, k, tries, x;
	u128 num, q, rem, half, C, V, H, Hlo;

	memcpy(&u, &v, sizeof u);
	be = (int)((u >> 52) & 0x7ff);
	if (be == 0 || be == 0x7ff)
		return 0;
	M = (u & ((1ull << 52) - 1)) | (1ull << 52);
	sh = 1075 - be;                 /* v = M / 2^sh */
	if (sh < 1 || sh > 68)
		return 0;
	e10 = (int)floor(log10(fabs(v)));
	for (p = 15; p <= 17; p++) {
		for (tries = 0; ; tries++) {
			k = p - 1 - e10;        /* scale by 10^k, k >= 0 */
			if (tries == 3 || k < 0 || k > 21)
				return 0;
			num = (u128)M * p10[k];
			q = num >> sh;
			if (q < p10[p - 1])
				e10--;
			else if (q >= p10[p])
				e10++;
			else
				break;
		}
		rem = num & (((u128)1 << sh) - 1);
		half = (u128)1 << (sh - 1);
		if (rem > half || (rem == half && (q & 1)))
			q++;
		x = e10;
		if (q == p10[p]) {
			q /= 10;
			x++;
			k--;
		}
		/* q / 10^k reads back as v iff it is inside v's rounding interval:
		 * compare q * 2^(sh+2) with (4M +- 2 or 1) * 10^k */
		if (k < 0)
			return 0;
		C = q << (sh + 2);
		V = (u128)M * 4 * p10[k];
		H = 2 * p10[k];
		Hlo = (M == 1ull << 52 && be > 1) ? p10[k] : H;
		if ((C > V - Hlo && C < V + H) || ((C == V - Hlo || C == V + H) && (M & 1) == 0)) {
			put_g(buf, v < 0, (unsigned long long)q, p, x);
			return 1;
		}
	}
	return 0;                       /* unreachable: 17 digits always round-trip */
}

/* The values written the same way for doubles and floats: "" for a non-finite one,
 * "0" / "-0".  1 when v was one of them (buf written). */
static int
fmt_special(char buf[32], double v)
{
	if (!isfinite(v)) {
		buf[0] = '\0';
		return 1;
	}
	if (v == 0) {
		strcpy(buf, signbit(v) ? "-0" : "0");
		return 1;
	}
	return 0;
}

void
tsv_fmt_double(char buf[32], double v)
{
	char e[40], d17[18];
	unsigned long long m;
	int prec, x17, x, i;

	if (fmt_special(buf, v) || fmt_double_exact(buf, v))
		return;
	/* "-d.dddddddddddddddde+XX" */
	snprintf(e, sizeof e, "%.16e", fabs(v));
	d17[0] = e[0];
	memcpy(d17 + 1, e + 2, 16);
	d17[17] = '\0';
	x17 = atoi(e + 19);
	for (prec = 15; prec < 17; prec++) {
		if (round_digits(d17, prec, x17, &m, &x))
			put_g(buf, v < 0, m, prec, x);
		else
			snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	for (m = 0, i = 0; i < 17; i++)
		m = m * 10 + (unsigned long long)(d17[i] - '0');
	put_g(buf, v < 0, m, 17, x17);
}

/* 1 = the float nearest to c is f, 0 = it is not, -1 = too close to tell. */
static int
float_interval(double c, double lo, double hi, int even)
{
	const double eps = 1e-15;

	if (c > lo * (1 + eps) && c < hi * (1 - eps))
		return 1;
	if (c < lo * (1 - eps) || c > hi * (1 + eps))
		return 0;
	(void)even;             /* a tie on the boundary: let strtof decide */
	return -1;
}

/* The fast path for a float: 1 done, 0 use the slow path. */
static int
fmt_float_fast(char buf[32], float f)
{
	double d = fabs((double)f), lo, hi, sc, fr, c;
	float next = nextafterf(fabsf(f), INFINITY), prev = nextafterf(fabsf(f), 0);
	unsigned long long m;
	uint32_t bits;
	int p, e10, k, x, tries, ok;

	if (isinf(next))
		return 0;
	lo = (d + (double)prev) / 2;
	hi = (d + (double)next) / 2;
	memcpy(&bits, &f, sizeof bits);
	e10 = (int)floor(log10(d));
	for (p = 6; p <= 9; p++) {
		for (tries = 0; tries < 3; tries++) {
			k = e10 - p + 1;
			if (k > 22 || k < -22)
				return 0;
			sc = k >= 0 ? d / pow10d[k] : d * pow10d[-k];
			if (sc < pow10d[p - 1] - 0.5)
				e10--;
			else if (sc >= pow10d[p] - 0.5 + 1e-6 && sc >= pow10d[p])
				e10++;
			else
				break;
		}
		if (tries == 3)
			return 0;
		fr = sc - floor(sc);
		if (fabs(fr - 0.5) < 1e-6)
			return 0;
		m = (unsigned long long)llround(sc);
		x = e10;
		if (m >= (unsigned long long)pow10d[p]) {
			m /= 10;
			x++;
		}
		k = x - p + 1;
		if (k > 22 || k < -22)
			return 0;
		c = k >= 0 ? (double)m * pow10d[k] : (double)m / pow10d[-k];
		ok = float_interval(c, lo, hi, (bits & 1) == 0);
		if (ok < 0)
			return 0;
		if (ok) {
			put_g(buf, f < 0, m, p, x);
			return 1;
		}
	}
	return 0;
}

void
tsv_fmt_float(char buf[32], float v)
{
	int prec;

	if (fmt_special(buf, v) || fmt_float_fast(buf, v))
		return;
	for (prec = 6; prec < 9; prec++) {
		snprintf(buf, 32, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v)
			return;
	}
	snprintf(buf, 32, "%.9g", (double)v);
}
