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

/* The whole file at path (malloc'd) and its length; what names the read check. */
static char *
slurp(const char *path, long *lenp, const char *what)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long len;

	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)len);
	CHECK(fread(buf, 1, (size_t)len, fp) == (size_t)len, "%s", what);
	fclose(fp);
	*lenp = len;
	return buf;
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

/* emb_block_read: blocks of cap rows in input order, the short last block, the rows
 * read before an error. */
static void
test_block(void)
{
	char err[1024], key[EMB_KEY_HEX + 1], loc[64], *buf;
	emb_reader *r;
	emb_block b;
	float v[DIM];
	long len;
	int i, rc, want[] = { 1, 1, 0 }, wantn[] = { 2, 2, 1 }, row = 0, bad = 0;
	FILE *fp;

	write_stream(tpath("b.emb"), 5);
	r = emb_reader_open(tpath("b.emb"), err, sizeof err);
	CHECK(r != NULL, "open: %s", err);
	if (r == NULL)
		return;
	emb_block_init(&b, 2, DIM);
	for (i = 0; i < 3; i++) {
		size_t j;
		rc = emb_block_read(r, &b);
		CHECK(rc == want[i] && b.n == (size_t)wantn[i], "block %d: rc %d n %zu", i, rc, b.n);
		for (j = 0; j < b.n; j++, row++) {
			mkkey(key, (unsigned)row + 100);
			mkvec(v, (unsigned)row + 100);
			snprintf(loc, sizeof loc, "vendor%d.zip!dir/%03d.jpg", row % 3, row);
			bad += strcmp(b.keys[j], key) != 0 || strcmp(b.locs[j], loc) != 0 ||
			    memcmp(b.x + j * DIM, v, sizeof v) != 0;
		}
	}
	CHECK(row == 5 && bad == 0, "rows in order with key, location, vector: %d rows, %d wrong", row, bad);
	CHECK(emb_block_read(r, &b) == 0 && b.n == 0, "end is sticky");
	emb_reader_close(r);
	emb_block_release(&b);
	/* the last byte cut (the end record truncated), blocks of 3: a full block, then
	 * the 4th and 5th images and the error */
	buf = slurp(tpath("b.emb"), &len, "read b.emb");
	fp = fopen(tpath("bcut.emb"), "wb");
	fwrite(buf, 1, (size_t)len - 1, fp);
	fclose(fp);
	free(buf);
	emb_block_init(&b, 3, DIM);
	r = emb_reader_open(tpath("bcut.emb"), err, sizeof err);
	CHECK(r != NULL, "open cut: %s", err);
	if (r != NULL) {
		rc = emb_block_read(r, &b);
		CHECK(rc == 1 && b.n == 3, "cut: first block full (rc %d n %zu)", rc, b.n);
		rc = emb_block_read(r, &b);
		CHECK(rc == -1 && b.n == 2 && strstr(emb_reader_error(r), "truncated") != NULL,
		    "cut: the row before the error, then -1 (rc %d n %zu: %s)", rc, b.n, emb_reader_error(r));
		emb_reader_close(r);
	}
	emb_block_release(&b);
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
	buf = slurp(tpath("t.emb"), &len, "read");
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
	/* errno tells I/O errors from invalid data */
	r = emb_reader_open(tmpdir, err, sizeof err);
	CHECK(r == NULL && errno == EISDIR && strstr(err, "read error: Is a directory"), "a directory: %s", err);
	r = emb_reader_open(tpath("junk"), err, sizeof err);
	CHECK(r == NULL && errno == EILSEQ, "invalid data: EILSEQ");
	/* an open stream (memory) reads like a file; an HDF5 signature there is refused */
	{
		FILE *fp2;
		char *buf;
		long len;
		emb_image img;
		int n = 0, rc;

		write_stream(tpath("m.emb"), 4);
		buf = slurp(tpath("m.emb"), &len, "read m.emb");
		fp2 = fmemopen(buf, (size_t)len, "rb");
		r = emb_reader_open_fp(fp2, "mem", err, sizeof err);
		CHECK(r != NULL, "open_fp: %s", err);
		while (r != NULL && (rc = emb_reader_next(r, &img)) == 1)
			n++;
		CHECK(n == 4, "open_fp reads 4 images");
		emb_reader_close(r);
		fclose(fp2);
		memcpy(buf, "\x89HDF\r\n\x1a\n", 8);
		fp2 = fmemopen(buf, (size_t)len, "rb");
		r = emb_reader_open_fp(fp2, "mem", err, sizeof err);
		CHECK(r == NULL && strcmp(err, "mem: an HDF5 cache cannot be read from a pipe or an open stream; "
		    "name the file instead") == 0, "open_fp of a cache: %s", err);
		fclose(fp2);
		free(buf);
	}
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

/* Builds a cache of n images added in scrambled order with a duplicate, 2 locations
 * for every third image, 2 rejects and 2 texts. */
static int
write_cache(const char *path, int n, const emb_stamp *s)
{
	char err[1024], key[EMB_KEY_HEX + 1], loc[64];
	emb_cache_writer *w;
	float v[DIM];
	int i, j, rc;

	w = emb_cache_writer_open(path, s, err, sizeof err);
	CHECK(w != NULL, "writer open: %s", err);
	if (w == NULL)
		return -1;
	for (j = 0; j < n; j++) {
		i = (j * 7) % n;        /* scrambled (n not a multiple of 7) */
		mkkey(key, (unsigned)i + 100);
		mkvec(v, (unsigned)i + 100);
		CHECK(emb_cache_add_image(w, key, v) == 0, "add %d", i);
		snprintf(loc, sizeof loc, "dir/%03d.jpg", i);
		CHECK(emb_cache_add_location(w, key, loc, (uint64_t)1000 + (uint64_t)i, 1700000000 + i) == 0, "loc");
		if (i % 3 == 0) {
			snprintf(loc, sizeof loc, "a.zip!%03d.jpg", i);
			CHECK(emb_cache_add_location(w, key, loc, 7, 8) == 0, "loc 2");
			CHECK(emb_cache_add_location(w, key, loc, 9, 9) == 0, "same loc again");
		}
	}
	/* a duplicate key with another vector: the first one stays */
	mkkey(key, 100);
	mkvec(v, 999);
	CHECK(emb_cache_add_image(w, key, v) == 0, "dup");
	CHECK(emb_cache_add_reject(w, "z.jpg", "truncated JPEG") == 0, "rej");
	CHECK(emb_cache_add_reject(w, "b.png", "not an image") == 0, "rej 2");
	mkvec(v, 1);
	CHECK(emb_cache_add_text(w, "packaged", "a product in packaging", v) == 0, "text");
	mkvec(v, 2);
	CHECK(emb_cache_add_text(w, "loose", "a loose\tproduct", v) == 0, "text 2");
	CHECK(emb_cache_writer_count(w) == n + 1, "count");
	rc = emb_cache_writer_commit(w, err, sizeof err);
	CHECK(rc == 0, "commit: %s", err);
	return rc;
}

static int
keycmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_cache_roundtrip(void)
{
	emb_stamp s = test_stamp();
	char err[1024], *want[40], key[EMB_KEY_HEX + 1], loc[64];
	emb_reader *r;
	emb_image img;
	emb_location L;
	const emb_text *t;
	const emb_reject *rj;
	size_t nt, nr;
	float v[DIM], got[DIM];
	int i, rc, n = 40, nl;
	const emb_stamp *st;

	if (write_cache(tpath("c.h5"), n, &s) != 0)
		return;
	r = emb_reader_open(tpath("c.h5"), err, sizeof err);
	CHECK(r != NULL, "open: %s", err);
	if (r == NULL)
		return;
	CHECK(emb_reader_kind(r) == EMB_KIND_CACHE, "kind");
	CHECK(emb_reader_count(r) == n, "count %lld", emb_reader_count(r));
	st = emb_reader_stamp(r);
	CHECK(emb_stamp_compatible(st, &s, err, sizeof err) && st->logit_scale == 100.0 &&
	    st->logit_bias == -10.5 && st->has_logit_bias == 1, "stamp %s", err);
	CHECK(emb_reader_texts(r, &t, &nt) == 0 && nt == 2, "texts");
	mkvec(v, 2);
	CHECK(nt == 2 && strcmp(t[1].cls, "loose") == 0 && strcmp(t[1].prompt, "a loose\tproduct") == 0 &&
	    memcmp(t[1].vec, v, sizeof v) == 0, "text content");
	for (i = 0; i < n; i++) {
		want[i] = malloc(EMB_KEY_HEX + 1);
		mkkey(want[i], (unsigned)i + 100);
	}
	qsort(want, (size_t)n, sizeof *want, keycmp);
	for (i = 0; (rc = emb_reader_next(r, &img)) == 1; i++) {
		unsigned seed = 0;
		int k;

		CHECK(i < n && strcmp(img.key, want[i]) == 0, "key order at %d", i);
		for (k = 0; k < n; k++) {
			mkkey(key, (unsigned)k + 100);
			if (strcmp(key, img.key) == 0)
				seed = (unsigned)k + 100;
		}
		mkvec(v, seed);
		CHECK(memcmp(img.vec, v, sizeof v) == 0, "vector of %s (first added wins)", img.key);
		if ((seed - 100) % 3 == 0)
			snprintf(loc, sizeof loc, "a.zip!%03u.jpg", seed - 100);
		else
			snprintf(loc, sizeof loc, "dir/%03u.jpg", seed - 100);
		CHECK(strcmp(img.location, loc) == 0, "first location %s, want %s", img.location, loc);
	}
	CHECK(rc == 0 && i == n, "end rc=%d i=%d: %s", rc, i, emb_reader_error(r));
	CHECK(emb_reader_location_count(r) == n + (n + 2) / 3, "location count %lld",
	    emb_reader_location_count(r));
	for (nl = 0; (rc = emb_reader_next_location(r, &L)) == 1; nl++) {
		int k = atoi(strchr(L.path, '/') ? strchr(L.path, '/') + 1 : strchr(L.path, '!') + 1);

		mkkey(key, (unsigned)k + 100);
		CHECK(strcmp(L.key, key) == 0, "location key of %s", L.path);
		if (L.path[0] == 'd')
			CHECK(L.size == (uint64_t)1000 + (uint64_t)k && L.mtime == 1700000000 + k, "size/mtime");
		else
			CHECK(L.size == 7 && L.mtime == 8, "first size/mtime of a repeated location wins");
	}
	CHECK(rc == 0 && nl == n + (n + 2) / 3, "locations %d", nl);
	CHECK(emb_reader_rejects(r, &rj, &nr) == 0 && nr == 2 && strcmp(rj[0].location, "b.png") == 0 &&
	    strcmp(rj[1].reason, "truncated JPEG") == 0, "rejects sorted by location");
	mkkey(key, 117);
	mkvec(v, 117);
	CHECK(emb_reader_lookup(r, key, got) == 1 && memcmp(got, v, sizeof v) == 0, "lookup");
	mkkey(key, 5000);
	CHECK(emb_reader_lookup(r, key, got) == 0, "lookup absent");
	CHECK(emb_reader_lookup(r, "nothex", got) == 0, "lookup invalid");
	emb_reader_close(r);
	for (i = 0; i < n; i++)
		free(want[i]);
}

static void
test_cache_empty_and_errors(void)
{
	emb_stamp s = test_stamp();
	char err[1024], key[EMB_KEY_HEX + 1];
	emb_cache_writer *w;
	emb_reader *r;
	emb_image img;
	float v[DIM];

	w = emb_cache_writer_open(tpath("e.h5"), &s, err, sizeof err);
	CHECK(w != NULL && emb_cache_writer_commit(w, err, sizeof err) == 0, "empty cache: %s", err);
	r = emb_reader_open(tpath("e.h5"), err, sizeof err);
	CHECK(r != NULL && emb_reader_count(r) == 0 && emb_reader_next(r, &img) == 0, "empty reads: %s", err);
	emb_reader_close(r);

	/* a location without a vector fails the commit and leaves nothing behind */
	w = emb_cache_writer_open(tpath("bad.h5"), &s, err, sizeof err);
	mkkey(key, 1);
	CHECK(emb_cache_add_location(w, key, "x.jpg", 1, 1) == 0, "add loc");
	CHECK(emb_cache_writer_commit(w, err, sizeof err) == -1 && strstr(err, "which has no vector"), "%s", err);
	CHECK(access(tpath("bad.h5"), F_OK) != 0, "no output after a failed commit");

	w = emb_cache_writer_open(tpath("bad.h5"), &s, err, sizeof err);
	mkvec(v, 1);
	CHECK(emb_cache_add_image(w, "ABC", v) == -1 && strstr(emb_cache_writer_error(w), "invalid key"), "bad key");
	v[2] = NAN;
	mkkey(key, 1);
	CHECK(emb_cache_add_image(w, key, v) == -1, "sticky failure");
	emb_cache_writer_abort(w);
	CHECK(access(tpath("bad.h5"), F_OK) != 0, "abort leaves nothing");

	w = emb_cache_writer_open(tpath("nodir/x.h5"), &s, err, sizeof err);
	CHECK(w == NULL && strstr(err, "nodir/x.h5.tmp."), "unwritable: %s", err);
	s.dim = 0;
	w = emb_cache_writer_open(tpath("x.h5"), &s, err, sizeof err);
	CHECK(w == NULL && strstr(err, "dimension 0 out of range"), "dim 0: %s", err);
	/* stdin cannot be a cache */
	{
		FILE *in = freopen(tpath("e.h5"), "rb", stdin);

		CHECK(in != NULL, "freopen");
		r = emb_reader_open("-", err, sizeof err);
		CHECK(r == NULL && strstr(err, "<stdin>: an HDF5 cache cannot be read from standard input"), "%s", err);
	}
}

/* The old cache survives a writer that dies midway (crash) or aborts. */
static void
test_cache_atomic(void)
{
	emb_stamp s = test_stamp();
	char err[1024], key[EMB_KEY_HEX + 1];
	emb_cache_writer *w;
	emb_reader *r;
	float v[DIM];
	pid_t pid;
	int st, i;

	if (write_cache(tpath("a.h5"), 10, &s) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		w = emb_cache_writer_open(tpath("a.h5"), &s, err, sizeof err);
		for (i = 0; w != NULL && i < 5000; i++) {
			mkkey(key, (unsigned)i);
			mkvec(v, (unsigned)i);
			emb_cache_add_image(w, key, v);
		}
		_exit(9);               /* dies without committing */
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 9, "child");
	r = emb_reader_open(tpath("a.h5"), err, sizeof err);
	CHECK(r != NULL && emb_reader_count(r) == 10, "old cache intact after a crash: %s", err);
	emb_reader_close(r);
	w = emb_cache_writer_open(tpath("a.h5"), &s, err, sizeof err);
	mkkey(key, 1);
	mkvec(v, 1);
	emb_cache_add_image(w, key, v);
	emb_cache_writer_abort(w);
	r = emb_reader_open(tpath("a.h5"), err, sizeof err);
	CHECK(r != NULL && emb_reader_count(r) == 10, "old cache intact after abort: %s", err);
	emb_reader_close(r);
	/* a commit replaces it */
	if (write_cache(tpath("a.h5"), 3, &s) != 0)
		return;
	r = emb_reader_open(tpath("a.h5"), err, sizeof err);
	CHECK(r != NULL && emb_reader_count(r) == 3, "replaced: %s", err);
	emb_reader_close(r);
}

static void
test_copy(void)
{
	emb_stamp s = test_stamp(), o = test_stamp();
	char err[1024];
	emb_cache_writer *w;
	emb_reader *r;
	long long n;

	write_stream(tpath("cp.emb"), 9);
	r = emb_reader_open(tpath("cp.emb"), err, sizeof err);
	w = emb_cache_writer_open(tpath("cp.h5"), &s, err, sizeof err);
	n = emb_cache_copy_images(w, r, NULL, NULL);
	CHECK(n == 9, "copied %lld: %s", n, emb_cache_writer_error(w));
	emb_reader_close(r);
	emb_cache_writer_abort(w);
	/* mixed stamps are refused */
	o.model = (char *)(uintptr_t)"RN50";
	r = emb_reader_open(tpath("cp.emb"), err, sizeof err);
	w = emb_cache_writer_open(tpath("cp.h5"), &o, err, sizeof err);
	CHECK(emb_cache_copy_images(w, r, NULL, NULL) == -1 &&
	    strstr(emb_cache_writer_error(w), "model differs ('RN50' vs 'ViT-Test')"), "%s", emb_cache_writer_error(w));
	emb_reader_close(r);
	emb_cache_writer_abort(w);
	/* read_all */
	{
		float *mat;
		char **keys, **locs;
		size_t cnt, i;

		r = emb_reader_open(tpath("cp.emb"), err, sizeof err);
		CHECK(emb_read_all(r, &mat, &keys, &locs, &cnt) == 0 && cnt == 9, "read_all");
		CHECK(strcmp(locs[8], "vendor2.zip!dir/008.jpg") == 0, "read_all loc");
		for (i = 0; i < cnt; i++) {
			free(keys[i]);
			free(locs[i]);
		}
		free(keys);
		free(locs);
		free(mat);
		emb_reader_close(r);
	}
	r = emb_reader_open(tpath("cp.emb"), err, sizeof err);
	{
		emb_location L;

		CHECK(emb_reader_next_location(r, &L) == -1 && strstr(emb_reader_error(r), "only an HDF5 cache"), "stream has no locations");
	}
	emb_reader_close(r);
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
	test_block();
	test_detect();
	test_cache_roundtrip();
	test_cache_empty_and_errors();
	test_cache_atomic();
	test_copy();
	{
		char cmd[600];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return check_done();
}
