/* preproc_bench — decode + preprocess throughput of embed/preproc.c.
 *
 *   preproc_bench [-s seconds_per_row]
 *
 * Makes synthetic photos (smooth colour fields, edges and noise, so they
 * compress like photos) with libvips: JPEG q90 RGB and PNG RGBA, 800x800,
 * 1600x1200 and 3000x2000; then for each, exact and fast mode, 1 and 2
 * threads, runs preproc_load_buffer (224, shortest, bicubic) repeatedly and
 * prints images/s.  For JPEGs it also prints how far fast mode moves the
 * pixels from exact (mean and max |difference| over the 224x224x3 bytes). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <unistd.h>

#include <vips/vips.h>

#include "diag.h"
#include "exitcode.h"
#include "num.h"
#include "xalloc.h"
#include "../../embed/preproc.h"

struct input { const char *kind; int w, h; void *buf; size_t len; };

struct run {
	const struct input *in;
	const struct preproc_params *p;
	double until;
	long done;
	int fail;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double process_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *make_image(int w, int h, int png, size_t *len)
{
	int bands = png ? 4 : 3, x, y, c;
	uint8_t *px = xmalloc((size_t)w * h * bands);
	uint32_t seed = 12345;
	VipsImage *im;
	void *buf = NULL;
	int rc;

	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++)
			for (c = 0; c < bands; c++) {
				double v = 128 + 80 * sin(x / (23.0 + 9 * c)) * cos(y / (31.0 + 5 * c));
				seed = seed * 1664525u + 1013904223u;
				v += (int)(seed >> 27) - 16;
				if (((x / 97) + (y / 61)) % 7 == c)
					v = 255 - v;
				if (c == 3)
					v = x < w / 8 ? 0 : 255 * x / w;
				px[((size_t)y * w + x) * bands + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
			}
	im = vips_image_new_from_memory_copy(px, (size_t)w * h * bands, w, h, bands, VIPS_FORMAT_UCHAR);
	free(px);
	if (!im)
		cs_die(CS_EXIT_INTERNAL, "vips: %s", vips_error_buffer());
	rc = png ? vips_pngsave_buffer(im, &buf, len, "compression", 6, NULL)
	         : vips_jpegsave_buffer(im, &buf, len, "Q", 90, NULL);
	g_object_unref(im);
	if (rc)
		cs_die(CS_EXIT_INTERNAL, "vips save: %s", vips_error_buffer());
	return buf;
}

static void *worker(void *arg)
{
	struct run *r = arg;
	uint8_t *rgb = xmalloc(PREPROC_RGB_SIZE(r->p));
	float *chw = xmalloc(PREPROC_CHW_SIZE(r->p));
	while (now() < r->until) {
		if (preproc_load_buffer(r->in->buf, r->in->len, "bench", r->p, rgb, chw)) {
			r->fail = 1;
			break;
		}
		r->done++;
	}
	free(rgb);
	free(chw);
	return NULL;
}

/* Images per wall-clock second; *cpu_ms gets the process's CPU milliseconds
 * per image (libvips' decode thread included), which other load on the
 * machine does not inflate. */
static double throughput(const struct input *in, const struct preproc_params *p, int nthreads, double secs,
                         double *cpu_ms)
{
	struct run r[8];
	pthread_t t[8];
	double t0 = now(), t1, c0 = process_cpu();
	long total = 0;
	int i;

	for (i = 0; i < nthreads; i++) {
		r[i] = (struct run){ in, p, t0 + secs, 0, 0 };
		pthread_create(&t[i], NULL, worker, &r[i]);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		if (r[i].fail)
			cs_die(CS_EXIT_INTERNAL, "%s", "preprocessing failed in the benchmark");
		total += r[i].done;
	}
	t1 = now();
	if (cpu_ms)
		*cpu_ms = total ? 1000 * (process_cpu() - c0) / total : 0;
	return total / (t1 - t0);
}

int main(int argc, char **argv)
{
	static const int sizes[][2] = { { 800, 800 }, { 1600, 1200 }, { 3000, 2000 } };
	struct input in[6];
	struct preproc_params exact, fast;
	double secs = 2.0;
	int c, i, k;

	diag_init(argv[0]);
	while ((c = getopt(argc, argv, "s:")) != -1) {
		if (c == 's')
			secs = num_arg_d("seconds", optarg, 0.1, 600);
		else {
			fprintf(stderr, "usage: %s [-s seconds_per_row]\n", diag_prog());
			return CS_EXIT_USAGE;
		}
	}
	if (preproc_global_init(argv[0]))
		cs_die(CS_EXIT_INTERNAL, "%s", preproc_errmsg());
	preproc_default_params(&exact);
	fast = exact;
	fast.mode = PREPROC_FAST;
	for (i = 0; i < 6; i++) {
		in[i].kind = i % 2 ? "PNG RGBA" : "JPEG q90";
		in[i].w = sizes[i / 2][0], in[i].h = sizes[i / 2][1];
		in[i].buf = make_image(in[i].w, in[i].h, i % 2, &in[i].len);
	}
	printf("wall-clock images/s, and CPU ms per image (1-thread runs, all threads of the process)\n");
	printf("%-9s %-10s %6s %12s %12s %12s %12s %9s %9s\n", "input", "size", "KiB",
	       "exact 1thr", "exact 2thr", "fast 1thr", "fast 2thr", "exact ms", "fast ms");
	for (i = 0; i < 6; i++) {
		double r[4], ce, cf;
		r[0] = throughput(&in[i], &exact, 1, secs, &ce);
		r[1] = throughput(&in[i], &exact, 2, secs, NULL);
		r[2] = throughput(&in[i], &fast, 1, secs, &cf);
		r[3] = throughput(&in[i], &fast, 2, secs, NULL);
		printf("%-9s %4dx%-5d %6zu", in[i].kind, in[i].w, in[i].h, in[i].len / 1024);
		for (k = 0; k < 4; k++)
			printf(" %7.1f im/s", r[k]);
		printf(" %9.1f %9.1f\n", ce, cf);
		fflush(stdout);
	}
	printf("\nfast vs exact, uint8 pixels after resize + crop (224x224x3):\n");
	for (i = 0; i < 6; i += 2) {
		uint8_t *a = xmalloc(PREPROC_RGB_SIZE(&exact)), *b = xmalloc(PREPROC_RGB_SIZE(&exact));
		size_t n = PREPROC_RGB_SIZE(&exact), j;
		double sum = 0;
		int mx = 0;
		if (preproc_load_buffer(in[i].buf, in[i].len, "bench", &exact, a, NULL) ||
		    preproc_load_buffer(in[i].buf, in[i].len, "bench", &fast, b, NULL))
			cs_die(CS_EXIT_INTERNAL, "%s", preproc_errmsg());
		for (j = 0; j < n; j++) {
			int d = abs((int)a[j] - (int)b[j]);
			sum += d;
			mx = d > mx ? d : mx;
		}
		printf("  %s %dx%d: mean |diff| %.3f, max %d\n", in[i].kind, in[i].w, in[i].h, sum / n, mx);
		free(a);
		free(b);
	}
	for (i = 0; i < 6; i++)
		g_free(in[i].buf);
	preproc_global_shutdown();
	cs_fshut(stdout, "<stdout>");
	return 0;
}
