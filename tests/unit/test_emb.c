/* test_emb.c — the embedding stream and HDF5 cache: round trips, truncation at
 * every byte, format detection, stamps, atomic publish, incremental-update helpers. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "emb.h"

#define DIM 5

static char tmpdir[256];

static void
mkkey(char key[EMB_KEY_HEX + 1], unsigned seed)
{
	static const char d[] = "0123456789abcdef";
	int i;

	for (i = 0; i < EMB_KEY_HEX; i++) {
		seed = seed * 1103515245u + 12345u;
		key[i] = d[(seed >> 16) & 15];
	}
	key[EMB_KEY_HEX] = '\0';
}

static void
mkvec(float *v, unsigned seed)
{
	int i;
	double n = 0;

	for (i = 0; i < DIM; i++) {
		seed = seed * 1103515245u + 12345u;
		v[i] = (float)((int)((seed >> 8) % 2001) - 1000) / 1000.0f;
		n += (double)v[i] * v[i];
	}
	for (i = 0; i < DIM; i++)
		v[i] = (float)(v[i] / sqrt(n > 0 ? n : 1));
}

static emb_stamp
test_stamp(void)
{
	emb_stamp s;

	memset(&s, 0, sizeof s);
	s.model = (char *)(uintptr_t)"ViT-Test";
	s.fingerprint = (char *)(uintptr_t)"abc123";
	s.preprocess = (char *)(uintptr_t)"size=224;resize=shortest";
	s.dim = DIM;
	s.logit_scale = 100.0;
	s.logit_bias = -10.5;
	s.has_logit_bias = 1;
	return s;
}

static char *
tpath(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", tmpdir, name);
	return buf[i];
}

/* Writes a stream with 2 texts and n images to path. */
static void
write_stream(const char *path, int n)
{
	emb_stamp s = test_stamp();
	FILE *fp = fopen(path, "wb");
	emb_stream_writer *w;
	float v[DIM];
	char key[EMB_KEY_HEX + 1], loc[64];
	int i;

	w = emb_stream_writer_open(fp, &s);
	mkvec(v, 1);
	CHECK(emb_stream_write_text(w, "packaged", "a product in packaging", v) == 0, "text");
	mkvec(v, 2);
	CHECK(emb_stream_write_text(w, "loose", "a loose\tproduct", v) == 0, "text 2");
	for (i = 0; i < n; i++) {
		mkkey(key, (unsigned)i + 100);
		mkvec(v, (unsigned)i + 100);
		snprintf(loc, sizeof loc, "vendor%d.zip!dir/%03d.jpg", i % 3, i);
		CHECK(emb_stream_write_image(w, key, loc, v) == 0, "image %d", i);
	}
	mkvec(v, 3);
	CHECK(emb_stream_write_text(w, "late", "text after images", v) == -1, "text after images refused");
	CHECK(emb_stream_write_image(w, "XYZ", "bad", v) == -1, "bad key refused");
	CHECK(emb_stream_writer_close(w) == 0, "close");
	fclose(fp);
}

static void
test_stream_roundtrip(void)
{
	char err[1024];
	emb_reader *r;
	const emb_text *t;
	size_t nt;
	emb_image img;
	float v[DIM];
	char key[EMB_KEY_HEX + 1], loc[64];
	int i, rc;
	const emb_stamp *st;

	write_stream(tpath("s.emb"), 7);
	r = emb_reader_open(tpath("s.emb"), err, sizeof err);
	CHECK(r != NULL, "open: %s", err);
	if (r == NULL)
		return;
	CHECK(emb_reader_kind(r) == EMB_KIND_STREAM, "kind");
	CHECK(emb_reader_count(r) == -1, "count unknown");
	st = emb_reader_stamp(r);
	CHECK(strcmp(st->model, "ViT-Test") == 0 && strcmp(st->fingerprint, "abc123") == 0 &&
	    strcmp(st->preprocess, "size=224;resize=shortest") == 0 && st->dim == DIM &&
	    st->logit_scale == 100.0 && st->logit_bias == -10.5 && st->has_logit_bias == 1, "stamp");
	CHECK(emb_reader_texts(r, &t, &nt) == 0 && nt == 2, "texts %zu", nt);
	mkvec(v, 2);
	CHECK(nt == 2 && strcmp(t[1].cls, "loose") == 0 && strcmp(t[1].prompt, "a loose\tproduct") == 0 &&
	    memcmp(t[1].vec, v, sizeof v) == 0, "text 2 content");
	for (i = 0; (rc = emb_reader_next(r, &img)) == 1; i++) {
		mkkey(key, (unsigned)i + 100);
		mkvec(v, (unsigned)i + 100);
		snprintf(loc, sizeof loc, "vendor%d.zip!dir/%03d.jpg", i % 3, i);
		CHECK(strcmp(img.key, key) == 0 && strcmp(img.location, loc) == 0 &&
		    memcmp(img.vec, v, sizeof v) == 0, "image %d", i);
	}
	CHECK(rc == 0 && i == 7, "end rc=%d i=%d %s", rc, i, emb_reader_error(r));
	CHECK(emb_reader_next(r, &img) == 0, "end is sticky");
	emb_reader_close(r);
}

/* Every proper prefix of a valid stream is an error, never a crash or a short success. */
static void
test_stream_truncated(void)
{
	char err[1024], *buf;
	FILE *fp;
	long len, cut;
	int bad = 0, okfull = 0;

	write_stream(tpath("t.emb"), 3);
	fp = fopen(tpath("t.emb"), "rb");
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)len);
	CHECK(fread(buf, 1, (size_t)len, fp) == (size_t)len, "read");
	fclose(fp);
	for (cut = 0; cut <= len; cut++) {
		emb_reader *r;
		emb_image img;
		const emb_text *t;
		size_t nt;
		int rc = -1;

		fp = fopen(tpath("cut.emb"), "wb");
		fwrite(buf, 1, (size_t)cut, fp);
		fclose(fp);
		r = emb_reader_open(tpath("cut.emb"), err, sizeof err);
		if (r != NULL) {
			if (emb_reader_texts(r, &t, &nt) == 0)
				while ((rc = emb_reader_next(r, &img)) == 1)
					;
			if (rc < 0 && strstr(emb_reader_error(r), "cut.emb: ") == NULL)
				bad++;
			emb_reader_close(r);
		} else if (strstr(err, "cut.emb: ") == NULL) {
			bad++;
		}
		if (cut < len && rc == 0)
			bad++;
		if (cut == len && rc == 0)
			okfull = 1;
	}
	CHECK(bad == 0, "%d of %ld truncations not reported as errors", bad, len);
	CHECK(okfull, "the full stream reads");
	/* trailing garbage after the end record */
	fp = fopen(tpath("cut.emb"), "wb");
	fwrite(buf, 1, (size_t)len, fp);
	fputc('x', fp);
	fclose(fp);
	{
		emb_reader *r = emb_reader_open(tpath("cut.emb"), err, sizeof err);
		emb_image img;
		int rc;

		while ((rc = emb_reader_next(r, &img)) == 1)
			;
		CHECK(rc == -1 && strstr(emb_reader_error(r), "data after the end record"), "trailing: %s",
		    emb_reader_error(r));
		emb_reader_close(r);
	}
	free(buf);
}

static void
test_detect(void)
{
	char err[1024];
	FILE *fp;
	emb_reader *r;

	fp = fopen(tpath("junk"), "wb");
	fputs("key\tpath\nabc\tdef\n", fp);
	fclose(fp);
	r = emb_reader_open(tpath("junk"), err, sizeof err);
	CHECK(r == NULL && strstr(err, "junk: not an embedding file"), "junk: %s", err);
	fp = fopen(tpath("empty"), "wb");
	fclose(fp);
	r = emb_reader_open(tpath("empty"), err, sizeof err);
	CHECK(r == NULL && strstr(err, "empty: empty input"), "empty: %s", err);
	r = emb_reader_open(tpath("missing"), err, sizeof err);
	CHECK(r == NULL && strstr(err, "missing: No such file"), "missing: %s", err);
	/* version 2 */
	fp = fopen(tpath("v2"), "wb");
	fwrite("CLIPSEMB\x02\0\0\0", 1, 12, fp);
	fclose(fp);
	r = emb_reader_open(tpath("v2"), err, sizeof err);
	CHECK(r == NULL && strstr(err, "unsupported stream format version 2"), "v2: %s", err);
}

static void
test_stamp_compat(void)
{
	emb_stamp a = test_stamp(), b = test_stamp(), c;
	char why[256];

	CHECK(emb_stamp_compatible(&a, &b, why, sizeof why) == 1, "same");
	b.logit_scale = 50;
	CHECK(emb_stamp_compatible(&a, &b, why, sizeof why) == 1, "logit scale does not matter");
	b.fingerprint = (char *)(uintptr_t)"def456";
	CHECK(emb_stamp_compatible(&a, &b, why, sizeof why) == 0 &&
	    strcmp(why, "fingerprint differs ('abc123' vs 'def456')") == 0, "%s", why);
	b = test_stamp();
	b.dim = 7;
	CHECK(emb_stamp_compatible(&a, &b, why, sizeof why) == 0 && strcmp(why, "dim differs (5 vs 7)") == 0,
	    "%s", why);
	emb_stamp_copy(&c, &a);
	CHECK(c.model != a.model && strcmp(c.model, a.model) == 0 && c.dim == a.dim, "copy");
	emb_stamp_release(&c);
	CHECK(c.model == NULL, "release");
}

int
main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof tmpdir, "%s/test_emb.XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_stamp_compat();
	test_stream_roundtrip();
	test_stream_truncated();
	test_detect();
	{
		char cmd[600];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return check_done();
}
