/* preproc_dump — test driver for embed/preproc: decode and preprocess each
 * file operand and write the raw result to stdout, one image after another.
 *
 *   preproc_dump [-F] [-f fill] [-i interp] [-m max_pixels] [-o rgb|f32|both]
 *                [-r resize_mode] [-s size] [-t threads] file ...
 *
 * -o rgb: size*size*3 uint8 HWC (default); f32: 3*size*size float32 CHW;
 * both: rgb then f32.  -t N decodes the operands on N threads (output order
 * unchanged).  A bad image is reported on stderr and skipped; the exit status
 * is that of the last failure (preproc_exit_status). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "exitcode.h"
#include "num.h"
#include "xalloc.h"
#include "../../embed/preproc.h"

struct job {
	const char *path;
	uint8_t *rgb;
	float *chw;
	int st;
	char msg[1024];
};

static struct preproc_params params;
static struct job *jobs;
static int njobs, next_job;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void usage(void)
{
	fprintf(stderr, "usage: %s [-F] [-f fill] [-i interp] [-m max_pixels] [-o rgb|f32|both]\n"
	                "       [-r resize_mode] [-s size] [-t threads] file ...\n", diag_prog());
	exit(CS_EXIT_USAGE);
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct job *j;
		pthread_mutex_lock(&lock);
		j = next_job < njobs ? &jobs[next_job++] : NULL;
		pthread_mutex_unlock(&lock);
		if (!j)
			return NULL;
		j->rgb = xmalloc(PREPROC_RGB_SIZE(&params));
		j->chw = xmalloc(PREPROC_CHW_SIZE(&params));
		j->st = preproc_load_file(j->path, &params, j->rgb, j->chw);
		if (j->st)
			snprintf(j->msg, sizeof j->msg, "%s", preproc_errmsg());
	}
}

int main(int argc, char **argv)
{
	const char *out = "rgb";
	int c, i, nthreads = 1, status = CS_EXIT_OK;
	pthread_t *tid;

	diag_init(argv[0]);
	preproc_default_params(&params);
	while ((c = getopt(argc, argv, "Ff:i:m:o:r:s:t:")) != -1) {
		switch (c) {
		case 'F': params.mode = PREPROC_FAST; break;
		case 'f': params.fill_color = (int)num_arg_ll("fill", optarg, 0, 255); break;
		case 'i':
			if (preproc_parse_interpolation(optarg, &params.interpolation))
				cs_die(CS_EXIT_USAGE, "unknown interpolation: %s", optarg);
			break;
		case 'm': params.max_pixels = (uint64_t)num_arg_ll("max_pixels", optarg, 1, (long long)1 << 40); break;
		case 'o': out = optarg; break;
		case 'r':
			if (preproc_parse_resize_mode(optarg, &params.resize_mode))
				cs_die(CS_EXIT_USAGE, "unknown resize mode: %s", optarg);
			break;
		case 's': params.image_size = (int)num_arg_ll("size", optarg, 1, 4096); break;
		case 't': nthreads = (int)num_arg_ll("threads", optarg, 1, 64); break;
		default: usage();
		}
	}
	if (strcmp(out, "rgb") && strcmp(out, "f32") && strcmp(out, "both"))
		usage();
	argc -= optind, argv += optind;
	if (argc < 1)
		usage();
	if (preproc_global_init(diag_prog()))
		cs_die(CS_EXIT_INTERNAL, "%s", preproc_errmsg());

	njobs = argc;
	jobs = xcalloc((size_t)njobs, sizeof *jobs);
	for (i = 0; i < njobs; i++)
		jobs[i].path = argv[i];
	tid = xcalloc((size_t)nthreads, sizeof *tid);
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&tid[i], NULL, worker, NULL))
			cs_die(CS_EXIT_IO, "cannot start a thread");
	for (i = 0; i < nthreads; i++)
		pthread_join(tid[i], NULL);

	for (i = 0; i < njobs; i++) {
		struct job *j = &jobs[i];
		if (j->st) {
			cs_warn("%s", j->msg);
			status = preproc_exit_status(j->st);
		} else {
			if (strcmp(out, "f32"))
				fwrite(j->rgb, 1, PREPROC_RGB_SIZE(&params), stdout);
			if (strcmp(out, "rgb"))
				fwrite(j->chw, 1, PREPROC_CHW_SIZE(&params), stdout);
		}
		free(j->rgb);
		free(j->chw);
	}
	free(jobs);
	free(tid);
	preproc_global_shutdown();
	cs_fshut(stdout, "<stdout>");
	return status;
}
