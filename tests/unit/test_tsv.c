/* test_tsv.c — the TSV reader/writer: escapes round-trip, exact error messages,
 * BOM/CRLF, long lines, shortest round-trip number formatting. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tsv.h"

static char tmpfile_[256];

static void
put(const char *s, size_t n)
{
	FILE *fp = fopen(tmpfile_, "wb");

	fwrite(s, 1, n, fp);
	fclose(fp);
}

/* Reads tmpfile_ completely; returns the final status (0 end, -1 error) and the
 * row count; err receives r.err. */
static int
read_all(size_t *rows, char *err, size_t errlen)
{
	tsv_reader r;
	int rc;

	*rows = 0;
	if (tsv_reader_open(&r, tmpfile_) < 0) {
		snprintf(err, errlen, "%s", r.err);
		tsv_reader_release(&r);
		return -1;
	}
	while ((rc = tsv_reader_next(&r)) == 1)
		(*rows)++;
	snprintf(err, errlen, "%s", rc < 0 ? r.err : "");
	tsv_reader_release(&r);
	return rc;
}

static void
expect_err(const char *name, const char *data, const char *want)
{
	char err[600], full[700];
	size_t rows;
	int rc;

	put(data, strlen(data));
	rc = read_all(&rows, err, sizeof err);
	snprintf(full, sizeof full, "%s:%s", tmpfile_, want);
	CHECK(rc == -1 && strcmp(err, full) == 0, "%s: rc=%d err='%s' want '%s'", name, rc, err, full);
}

static void
test_roundtrip(void)
{
	static const char *const vals[][3] = {
		{ "plain", "tab\there", "nl\nhere" },
		{ "back\\slash", "cr\rhere", "\\t literally" },
		{ "", "caf\xc3\xa9 cr\xc3\xa8me \xf0\x9f\x93\xa6", "trailing\\" },
		{ "\t\n\r\\", "", "" },
	};
	const char *hdr[3] = { "a", "b c", "d\te" };
	FILE *fp = fopen(tmpfile_, "wb");
	tsv_reader r;
	size_t i, j;
	int rc;

	tsv_put_row(fp, hdr, 3);
	for (i = 0; i < 4; i++)
		tsv_put_row(fp, vals[i], 3);
	fclose(fp);
	CHECK(tsv_reader_open(&r, tmpfile_) == 0, "open: %s", r.err);
	CHECK(r.ncols == 3 && strcmp(r.cols[2], "d\te") == 0, "header unescaped");
	CHECK(tsv_reader_col(&r, "b c") == 1 && tsv_reader_col(&r, "x") == -1, "col lookup");
	for (i = 0; (rc = tsv_reader_next(&r)) == 1; i++) {
		CHECK(r.lineno == i + 2, "lineno %lu", r.lineno);
		for (j = 0; j < 3 && i < 4; j++)
			CHECK(strcmp(tsv_reader_field(&r, j), vals[i][j]) == 0, "row %zu field %zu: '%s'", i, j,
			    tsv_reader_field(&r, j));
		CHECK(tsv_reader_field(&r, 3) == NULL, "field out of range");
	}
	CHECK(rc == 0 && i == 4, "rows %zu: %s", i, r.err);
	tsv_reader_release(&r);
	/* the written bytes are exactly the documented escapes */
	{
		char buf[256];
		size_t n;

		fp = fopen(tmpfile_, "rb");
		n = fread(buf, 1, sizeof buf - 1, fp);
		fclose(fp);
		buf[n] = '\0';
		CHECK(strstr(buf, "a\tb c\td\\te\nplain\ttab\\there\tnl\\nhere\nback\\\\slash\tcr\\rhere\t\\\\t literally\n") == buf,
		    "bytes: %s", buf);
	}
}

static void
test_errors(void)
{
	tsv_reader r;
	static const char *const need[] = { "key", "path", "score" };
	int idx[3];

	expect_err("bad escape", "a\tb\nx\ty\nx\\q\ty\n", "3: bad escape '\\q' in field 1");
	expect_err("escape at end", "a\tb\nx\ty\\\n", "2: bad escape: backslash at end of line");
	expect_err("escape of a control byte", "a\nx\\\x01y\n", "2: bad escape '\\' followed by byte 0x01 in field 1");
	expect_err("too few fields", "a\tb\tc\n1\t2\t3\n1\t2\n", "3: expected 3 fields, got 2");
	expect_err("too many fields", "a\tb\n1\t2\t3\n", "2: expected 2 fields, got 3");
	expect_err("blank line", "a\tb\n1\t2\n\n3\t4\n", "3: expected 2 fields, got 1");
	expect_err("empty input", "", "1: missing header line (empty input)");
	expect_err("duplicate column", "a\tb\ta\n", "1: duplicate column 'a'");
	expect_err("empty column name", "a\t\tb\n", "1: empty column name (column 2)");
	{
		static const char nul[] = "a\tb\nx\ty\nx\0z\ty\n";
		char err[600], full[700];
		size_t rows;
		int rc;

		put(nul, sizeof nul - 1);
		rc = read_all(&rows, err, sizeof err);
		snprintf(full, sizeof full, "%s:3: NUL byte in field 1", tmpfile_);
		CHECK(rc == -1 && rows == 1 && strcmp(err, full) == 0, "NUL: %s", err);
	}
	put("key\tpath\n", 9);
	CHECK(tsv_reader_open(&r, tmpfile_) == 0, "open");
	CHECK(tsv_reader_require(&r, need, idx, 3) == -1, "require fails");
	{
		char full[700];

		snprintf(full, sizeof full, "%s:1: missing column 'score'", tmpfile_);
		CHECK(strcmp(r.err, full) == 0, "require message: %s", r.err);
	}
	CHECK(tsv_reader_require(&r, need, idx, 2) == 0 && idx[0] == 0 && idx[1] == 1, "require ok");
	tsv_reader_release(&r);
	CHECK(tsv_reader_open(&r, "/nonexistent/x.tsv") == -1 &&
	    strcmp(r.err, "/nonexistent/x.tsv: No such file or directory") == 0, "missing file: %s", r.err);
	tsv_reader_release(&r);
}

static void
test_bom_crlf(void)
{
	static const char data[] = "\xEF\xBB\xBFkey\tpath\r\nk1\tp\\r1\r\nk2\tp2";   /* no final newline */
	tsv_reader r;
	int rc;

	put(data, sizeof data - 1);
	CHECK(tsv_reader_open(&r, tmpfile_) == 0, "open");
	CHECK(r.ncols == 2 && strcmp(r.cols[0], "key") == 0 && strcmp(r.cols[1], "path") == 0, "BOM and CR stripped");
	CHECK(tsv_reader_next(&r) == 1 && strcmp(tsv_reader_field(&r, 1), "p\r1") == 0, "CRLF row, escaped CR kept");
	CHECK(tsv_reader_next(&r) == 1 && strcmp(tsv_reader_field(&r, 0), "k2") == 0 &&
	    strcmp(tsv_reader_field(&r, 1), "p2") == 0, "last line without newline");
	rc = tsv_reader_next(&r);
	CHECK(rc == 0, "end");
	tsv_reader_release(&r);
	/* a BOM only counts at the very start */
	put("a\n\xEF\xBB\xBFx\n", 8);
	CHECK(tsv_reader_open(&r, tmpfile_) == 0 && tsv_reader_next(&r) == 1 &&
	    strcmp(tsv_reader_field(&r, 0), "\xEF\xBB\xBFx") == 0, "BOM inside data is data");
	tsv_reader_release(&r);
}

static void
test_long_lines(void)
{
	size_t n = 3u << 20, i;
	char *big = malloc(n + 1), *esc;
	FILE *fp = fopen(tmpfile_, "wb");
	tsv_reader r;
	const char *row[2];

	for (i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	big[n] = '\0';
	big[1000] = '\t';
	big[n - 5] = '\n';
	fputs("x\ty\n", fp);
	row[0] = "short";
	row[1] = big;
	for (i = 0; i < 3; i++)
		tsv_put_row(fp, row, 2);
	fclose(fp);
	CHECK(tsv_reader_open(&r, tmpfile_) == 0, "open");
	for (i = 0; i < 3; i++)
		CHECK(tsv_reader_next(&r) == 1 && strcmp(tsv_reader_field(&r, 1), big) == 0, "3 MiB field %zu", i);
	CHECK(tsv_reader_next(&r) == 0, "end");
	tsv_reader_release(&r);
	esc = big;
	free(esc);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t
next64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Significant digits in a %g string. */
static int
sigdigits(const char *s)
{
	int n = 0, started = 0;

	for (; *s && *s != 'e'; s++) {
		if (*s >= '1' && *s <= '9')
			started = 1;
		if (started && *s >= '0' && *s <= '9')
			n++;
	}
	return n;
}

static void
test_fmt(void)
{
	char b[32], c[400];
	int i, bad = 0, notshort = 0, badf = 0;

	tsv_fmt_double(b, 0.1);
	CHECK(strcmp(b, "0.1") == 0, "0.1: %s", b);
	tsv_fmt_double(b, 1.0 / 3);
	CHECK(strcmp(b, "0.3333333333333333") == 0, "1/3: %s", b);
	tsv_fmt_double(b, 100);
	CHECK(strcmp(b, "100") == 0, "100: %s", b);
	tsv_fmt_double(b, 1e-5);
	CHECK(strcmp(b, "1e-05") == 0, "1e-5: %s", b);
	tsv_fmt_double(b, -0.0);
	CHECK(strcmp(b, "-0") == 0, "-0: %s", b);
	tsv_fmt_double(b, DBL_MAX);
	CHECK(strtod(b, NULL) == DBL_MAX, "DBL_MAX: %s", b);
	tsv_fmt_double(b, 5e-324);
	CHECK(strtod(b, NULL) == 5e-324, "denormal min: %s", b);
	tsv_fmt_double(b, NAN);
	CHECK(b[0] == '\0', "nan -> empty");
	tsv_fmt_double(b, -INFINITY);
	CHECK(b[0] == '\0', "-inf -> empty");
	tsv_fmt_float(b, 0.1f);
	CHECK(strcmp(b, "0.1") == 0, "0.1f: %s", b);
	tsv_fmt_float(b, 0.70710677f);
	CHECK(strcmp(b, "0.70710677") == 0, "sqrt(.5)f: %s", b);
	tsv_fmt_float(b, INFINITY);
	CHECK(b[0] == '\0', "inf f -> empty");
	tsv_fmt_float(b, NAN);
	CHECK(b[0] == '\0', "nan f -> empty");
	tsv_fmt_float(b, -0.0f);
	CHECK(strcmp(b, "-0") == 0, "-0f: %s", b);
	tsv_fmt_float(b, 0.0f);
	CHECK(strcmp(b, "0") == 0, "0f: %s", b);
	tsv_fmt_double(b, 0.0);
	CHECK(strcmp(b, "0") == 0, "0: %s", b);
	for (i = 0; i < 200000; i++) {
		uint64_t u = next64();
		double d;
		float f;
		uint32_t v = (uint32_t)u;

		memcpy(&d, &u, sizeof d);
		if (!isfinite(d))
			continue;
		tsv_fmt_double(b, d);
		if (strtod(b, NULL) != d || (d != 0 && signbit(strtod(b, NULL)) != signbit(d)))
			bad++;
		/* shortest: one digit fewer does not round-trip (when above 15 digits) */
		if (sigdigits(b) > 15) {
			snprintf(c, sizeof c, "%.*g", sigdigits(b) - 1, d);
			if (strtod(c, NULL) == d)
				notshort++;
		}
		memcpy(&f, &v, sizeof f);
		if (!isfinite(f))
			continue;
		tsv_fmt_float(b, f);
		if (strtof(b, NULL) != f)
			badf++;
		if (sigdigits(b) > 6) {
			snprintf(c, sizeof c, "%.*g", sigdigits(b) - 1, (double)f);
			if (strtof(c, NULL) == f)
				notshort++;
		}
	}
	/* values in everyday ranges (the fast paths) print exactly as the %.Ng reference */
	{
		int diff = 0, difff = 0, e, pr;

		for (i = 0; i < 300000; i++) {
			double u = (double)(next64() >> 11) / 9007199254740992.0;
			double d;

			e = (int)(next64() % 40) - 20;
			d = (u * 2 - 1) * pow(10, e);
			float f;

			if (i % 5 == 0)
				d = round(d * 1000) / 1000;     /* short decimals */
			for (pr = 15; pr < 17; pr++) {
				snprintf(c, sizeof c, "%.*g", pr, d);
				if (strtod(c, NULL) == d)
					break;
			}
			if (pr == 17)
				snprintf(c, sizeof c, "%.17g", d);
			tsv_fmt_double(b, d);
			if (d != 0 && strcmp(b, c) != 0)
				diff++;
			f = (float)d;
			if (f == 0 || !isfinite(f))
				continue;
			for (pr = 6; pr < 9; pr++) {
				snprintf(c, sizeof c, "%.*g", pr, (double)f);
				if (strtof(c, NULL) == f)
					break;
			}
			if (pr == 9)
				snprintf(c, sizeof c, "%.9g", (double)f);
			tsv_fmt_float(b, f);
			if (strcmp(b, c) != 0)
				difff++;
		}
		/* powers of two and their neighbours (the uneven rounding interval), short decimals */
		for (e = -40; e <= 60; e++) {
			double t = ldexp(1, e), vs[4];
			int j;

			vs[0] = t, vs[1] = nextafter(t, 0), vs[2] = nextafter(t, INFINITY), vs[3] = -t / 3;
			for (j = 0; j < 4; j++) {
				for (pr = 15; pr < 17; pr++) {
					snprintf(c, sizeof c, "%.*g", pr, vs[j]);
					if (strtod(c, NULL) == vs[j])
						break;
				}
				if (pr == 17)
					snprintf(c, sizeof c, "%.17g", vs[j]);
				tsv_fmt_double(b, vs[j]);
				if (strcmp(b, c) != 0)
					diff++;
			}
		}
		for (i = 1; i < 20000; i++) {
			tsv_fmt_double(b, i / 1000.0);
			snprintf(c, sizeof c, "%.15g", i / 1000.0);
			if (strcmp(b, c) != 0)
				diff++;
		}
		CHECK(diff == 0, "%d doubles differ from the %%.Ng reference", diff);
		CHECK(difff == 0, "%d floats differ from the %%.Ng reference", difff);
	}
	CHECK(bad == 0, "%d random doubles did not round-trip", bad);
	CHECK(badf == 0, "%d random floats did not round-trip", badf);
	CHECK(notshort == 0, "%d outputs were not the shortest", notshort);
	/* deterministic */
	tsv_fmt_double(b, 0.123456789012345678);
	tsv_fmt_double(c, 0.123456789012345678);
	CHECK(strcmp(b, c) == 0, "deterministic");
}

static void
test_unescape(void)
{
	char ok[] = "a\\tb\\nc\\rd\\\\e", end[] = "x\\", other[] = "x\\qy", plain[] = "p q";

	CHECK(tsv_unescape(ok) == 0 && strcmp(ok, "a\tb\nc\rd\\e") == 0, "unescape: '%s'", ok);
	CHECK(tsv_unescape(plain) == 0 && strcmp(plain, "p q") == 0, "plain field unchanged");
	CHECK(tsv_unescape(end) == -1, "backslash at the end rejected");
	CHECK(tsv_unescape(other) == -1, "unknown escape rejected");
}

int
main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpfile_, sizeof tmpfile_, "%s/test_tsv.%ld.tsv", t && *t ? t : "/tmp", (long)getpid());
	test_roundtrip();
	test_errors();
	test_bom_crlf();
	test_long_lines();
	test_fmt();
	test_unescape();
	remove(tmpfile_);
	return check_done();
}
