/* clipsort-zeroshot — zero-shot classification of image vectors against the class
 * prompt vectors: one TSV row per image, in input order, streaming in blocks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classes.h"
#include "diag.h"
#include "emb.h"
#include "exitcode.h"
#include "num.h"
#include "tsv.h"
#include "xalloc.h"

#define BLOCK 4096

struct opts {
	int maxmode;
	double minprob;
	const char *other;
	const char *texts;
};

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-x] [-p min-prob] [-R class] [-t texts] [images]\n", diag_prog());
	exit(CS_EXIT_USAGE);
}

static void
put_header(const zs_classes *c)
{
	size_t j;

	fputs("key\tpath\tclass\tconfidence\tmargin", stdout);
	for (j = 0; j < c->n; j++) {
		fputs("\tp_", stdout);
		fputs(c->names[j], stdout);
	}
	fputc('\n', stdout);
}

/* One output row from the class cosines of one image. */
static void
put_row(const zs_classes *c, const struct opts *o, int other, const char *key,
    const char *loc, const float *cos, double *p)
{
	size_t j, best = 0, second = 1;
	const char *cls;
	char num[32];

	zs_classes_probs(c, cos, p);
	if (p[1] > p[0]) {
		best = 1;
		second = 0;
	}
	for (j = 2; j < c->n; j++) {
		if (p[j] > p[best]) {
			second = best;
			best = j;
		} else if (p[j] > p[second]) {
			second = j;
		}
	}
	if (other >= 0 && (int)best == other)
		cls = "_other";
	else if (p[best] < o->minprob)
		cls = "_uncertain";
	else
		cls = c->names[best];
	tsv_put_field(stdout, key);
	fputc('\t', stdout);
	tsv_put_field(stdout, loc);
	fputc('\t', stdout);
	fputs(cls, stdout);
	tsv_fmt_double(num, p[best]);
	fputc('\t', stdout);
	fputs(num, stdout);
	tsv_fmt_double(num, p[best] - p[second]);
	fputc('\t', stdout);
	fputs(num, stdout);
	for (j = 0; j < c->n; j++) {
		tsv_fmt_double(num, p[j]);
		fputc('\t', stdout);
		fputs(num, stdout);
	}
	fputc('\n', stdout);
}

static void
classify(emb_reader *img, const zs_classes *c, const struct opts *o, int other)
{
	size_t i;
	float *cos = xreallocarray(NULL, (size_t)BLOCK * c->n, sizeof *cos);
	float *work = o->maxmode ? xreallocarray(NULL, (size_t)BLOCK * c->nprompts, sizeof *work) : NULL;
	double *p = xreallocarray(NULL, c->n, sizeof *p);
	emb_block b;
	int rc;

	emb_block_init(&b, BLOCK, c->dim);
	do {
		rc = emb_block_read(img, &b);
		if (rc < 0)
			cs_die(CS_EXIT_DATA, "%s", emb_reader_error(img));
		if (b.n > 0) {
			zs_classes_cosines(c, b.x, b.n, o->maxmode, work, cos);
			for (i = 0; i < b.n; i++)
				put_row(c, o, other, b.keys[i], b.locs[i], cos + i * c->n, p);
			if (ferror(stdout))
				cs_fshut(stdout, "<stdout>");
		}
	} while (rc == 1);
	emb_block_release(&b);
	free(p);
	free(work);
	free(cos);
}

int
main(int argc, char *argv[])
{
	struct opts o = { 0, 0.0, NULL, NULL };
	const char *ipath = "-";
	emb_reader *img;
	zs_classes c;
	int ch, other = -1;

	diag_init(argv[0]);
	while ((ch = getopt(argc, argv, "xp:R:t:")) != -1) {
		switch (ch) {
		case 'x': o.maxmode = 1; break;
		case 'p': o.minprob = num_arg_d("min-prob", optarg, 0.0, 1.0); break;
		case 'R': o.other = optarg; break;
		case 't': o.texts = optarg; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		usage();
	if (argc == 1)
		ipath = argv[0];
	if (o.texts && strcmp(o.texts, "-") == 0 && strcmp(ipath, "-") == 0)
		cs_die(CS_EXIT_USAGE, "texts and images cannot both come from stdin");

	img = zs_open_or_die(ipath);
	/* stdin is "<stdin>" where images and texts are named together, "-" alone */
	if (!zs_classes_load(&c, img, o.texts && strcmp(ipath, "-") == 0 ? "<stdin>" : ipath, o.texts))
		cs_die(CS_EXIT_DATA, "%s: no class prompt vectors (make them with clipsort-embed --text classes.tsv%s)",
		    o.texts ? o.texts : ipath, o.texts ? "" : ", then pass them with -t");
	if (o.other) {
		other = zs_classes_find(&c, o.other);
		if (other < 0)
			cs_die(CS_EXIT_USAGE, "-R %s: no such class among the prompt vectors", o.other);
	}
	put_header(&c);
	classify(img, &c, &o, other);
	cs_fshut(stdout, "<stdout>");
	zs_classes_release(&c);
	emb_reader_close(img);
	return CS_EXIT_OK;
}
