/* formats_bench.c — driver for tests/bench/bench-formats.sh: times the TSV reader
 * and writer, the stream and the HDF5 cache on generated data.  Prints one line per
 * measurement: "what  seconds  rate". */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "diag.h"
#include "emb.h"
#include "exitcode.h"
#include "num.h"
#include "tsv.h"
#include "xalloc.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
maxrss_mb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024;
}

static void
mkkey(char key[EMB_KEY_HEX + 1], uint64_t i)
{
	snprintf(key, EMB_KEY_HEX + 1, "%016llx%016llx%016llx%016llx", (unsigned long long)(i * 0x9E3779B97F4A7C15ull),
	    (unsigned long long)i, (unsigned long long)~i, (unsigned long long)(i ^ 0xabcdefull));
}

/* Vectors come from a pool of 1024 made up front, so generating them is not timed. */
static float *pool;
static uint32_t pooldim;

static void
mkvec(float *v, uint32_t dim, uint64_t i)
{
	uint32_t d, j;
	double n;

	if (pool == NULL || pooldim != dim) {
		free(pool);
		pool = xreallocarray(NULL, 1024, dim * sizeof *pool);
		pooldim = dim;
		for (j = 0; j < 1024; j++) {
			float *p = pool + (size_t)j * dim;

			n = 0;
			for (d = 0; d < dim; d++) {
				p[d] = (float)sin((double)(j * 31 + d));
				n += (double)p[d] * p[d];
			}
			for (d = 0; d < dim; d++)
				p[d] = (float)(p[d] / sqrt(n));
		}
	}
	memcpy(v, pool + (size_t)(i % 1024) * dim, dim * sizeof *v);
}

static emb_stamp
stamp(uint32_t dim)
{
	emb_stamp s;

	memset(&s, 0, sizeof s);
	s.model = xstrdup("ViT-B-32");
	s.fingerprint = xstrdup("0123456789abcdef");
	s.preprocess = xstrdup("size=224;resize=shortest;crop=center");
	s.dim = dim;
	s.logit_scale = 100;
	return s;
}

/* TSV of n rows: key, path, class, score, margin (about 100 bytes a row). */
static void
tsv_write(long long n, const char *path)
{
	FILE *fp = fopen(path, "w");
	char key[EMB_KEY_HEX + 1], p[64], s1[32], s2[32];
	const char *row[5];
	double t0 = now();
	long long i;

	if (fp == NULL)
		cs_die(CS_EXIT_IO, "%s:", path);
	fputs("key\tpath\tclass\tscore\tmargin\n", fp);
	for (i = 0; i < n; i++) {
		mkkey(key, (uint64_t)i);
		snprintf(p, sizeof p, "vendor%03lld.zip!img/%07lld.jpg", i % 100, i);
		tsv_fmt_double(s1, sin((double)i));
		tsv_fmt_double(s2, cos((double)i) / 3);
		row[0] = key, row[1] = p, row[2] = i % 3 ? "packaged" : "loose", row[3] = s1, row[4] = s2;
		tsv_put_row(fp, row, 5);
	}
	cs_fshut(fp, path);
	printf("tsv write %lld rows (fmt_double x2)\t%.3f s\t%.0f rows/s\n", n, now() - t0, (double)n / (now() - t0));
}

static void
tsv_read(const char *path)
{
	tsv_reader r;
	double t0 = now(), bytes;
	long long n = 0;
	size_t sum = 0;
	int rc;
	FILE *fp;

	if (tsv_reader_open(&r, path) < 0)
		cs_die(CS_EXIT_DATA, "%s", r.err);
	while ((rc = tsv_reader_next(&r)) == 1) {
		sum += strlen(tsv_reader_field(&r, 1));
		n++;
	}
	if (rc < 0)
		cs_die(CS_EXIT_DATA, "%s", r.err);
	tsv_reader_release(&r);
	fp = fopen(path, "r");
	fseek(fp, 0, SEEK_END);
	bytes = (double)ftell(fp);
	fclose(fp);
	printf("tsv read %lld rows, %.0f MB\t%.3f s\t%.0f MB/s (%.3f s per 100 MB)\n", n, bytes / 1e6, now() - t0,
	    bytes / 1e6 / (now() - t0), (now() - t0) * 100e6 / bytes);
	(void)sum;
}

static void
cache_write(long long n, uint32_t dim, const char *path, int shuffled)
{
	emb_stamp s = stamp(dim);
	char err[1024], key[EMB_KEY_HEX + 1], loc[64];
	emb_cache_writer *w = emb_cache_writer_open(path, &s, err, sizeof err);
	float *v = xreallocarray(NULL, dim, sizeof *v);
	double t0;
	long long i;

	mkvec(v, dim, 0);
	t0 = now();
	if (w == NULL)
		cs_die(CS_EXIT_IO, "%s", err);
	for (i = 0; i < n; i++) {
		uint64_t j = shuffled ? (uint64_t)((i * 7919) % n) : (uint64_t)i;

		mkkey(key, j);
		mkvec(v, dim, j);
		snprintf(loc, sizeof loc, "vendor%03llu.zip!img/%07llu.jpg", (unsigned long long)(j % 100),
		    (unsigned long long)j);
		if (emb_cache_add_image(w, key, v) < 0 || emb_cache_add_location(w, key, loc, 1000 + j, 1700000000) < 0)
			cs_die(CS_EXIT_IO, "%s", emb_cache_writer_error(w));
	}
	if (emb_cache_writer_commit(w, err, sizeof err) < 0)
		cs_die(CS_EXIT_IO, "%s", err);
	printf("cache write %lld x %u (%s order)\t%.3f s\t%.0f images/s, max RSS %ld MB\n", n, dim,
	    shuffled ? "random" : "key", now() - t0, (double)n / (now() - t0), maxrss_mb());
	free(v);
	emb_stamp_release(&s);
}

static void
read_all(const char *path, const char *what)
{
	char err[1024];
	emb_reader *r = emb_reader_open(path, err, sizeof err);
	emb_image img;
	double t0 = now(), sum = 0;
	long long n = 0;
	int rc;

	if (r == NULL)
		cs_die(CS_EXIT_DATA, "%s", err);
	while ((rc = emb_reader_next(r, &img)) == 1) {
		sum += img.vec[0];
		n++;
	}
	if (rc < 0)
		cs_die(CS_EXIT_DATA, "%s", emb_reader_error(r));
	printf("%s read %lld x %u\t%.3f s\t%.0f images/s, max RSS %ld MB\n", what, n,
	    (unsigned)emb_reader_stamp(r)->dim, now() - t0, (double)n / (now() - t0), maxrss_mb());
	emb_reader_close(r);
	(void)sum;
}

static void
stream_write(long long n, uint32_t dim, const char *path)
{
	emb_stamp s = stamp(dim);
	FILE *fp = fopen(path, "wb");
	emb_stream_writer *w;
	char key[EMB_KEY_HEX + 1], loc[64];
	float *v = xreallocarray(NULL, dim, sizeof *v);
	double t0;
	long long i;

	mkvec(v, dim, 0);
	t0 = now();
	if (fp == NULL)
		cs_die(CS_EXIT_IO, "%s:", path);
	w = emb_stream_writer_open(fp, &s);
	for (i = 0; i < n; i++) {
		mkkey(key, (uint64_t)i);
		mkvec(v, dim, (uint64_t)i);
		snprintf(loc, sizeof loc, "vendor%03lld.zip!img/%07lld.jpg", i % 100, i);
		if (emb_stream_write_image(w, key, loc, v) < 0)
			cs_die(CS_EXIT_IO, "%s: write error:", path);
	}
	if (emb_stream_writer_close(w) < 0)
		cs_die(CS_EXIT_IO, "%s: write error:", path);
	cs_fshut(fp, path);
	printf("stream write %lld x %u\t%.3f s\t%.0f images/s\n", n, dim, now() - t0, (double)n / (now() - t0));
	free(v);
	emb_stamp_release(&s);
}

int
main(int argc, char **argv)
{
	diag_init(argv[0]);
	if (argc == 4 && strcmp(argv[1], "tsv-write") == 0)
		tsv_write(num_arg_ll("rows", argv[2], 1, 1LL << 40), argv[3]);
	else if (argc == 3 && strcmp(argv[1], "tsv-read") == 0)
		tsv_read(argv[2]);
	else if (argc == 5 && (strcmp(argv[1], "cache-write") == 0 || strcmp(argv[1], "cache-write-random") == 0))
		cache_write(num_arg_ll("images", argv[2], 0, 1LL << 40), (uint32_t)num_arg_ll("dim", argv[3], 1, 65536),
		    argv[4], argv[1][11] == '-');
	else if (argc == 5 && strcmp(argv[1], "stream-write") == 0)
		stream_write(num_arg_ll("images", argv[2], 0, 1LL << 40), (uint32_t)num_arg_ll("dim", argv[3], 1, 65536),
		    argv[4]);
	else if (argc == 3 && strcmp(argv[1], "read") == 0)
		read_all(argv[2], "embeddings");
	else {
		fputs("usage: formats_bench tsv-write N FILE | tsv-read FILE | cache-write[-random] N DIM FILE |\n"
		    "       stream-write N DIM FILE | read FILE\n", stderr);
		return CS_EXIT_USAGE;
	}
	fflush(stdout);
	return 0;
}
