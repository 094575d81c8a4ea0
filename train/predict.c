/* clipsort-predict — calibrated class probabilities for every image (clipsort-predict(1)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "emb.h"
#include "exitcode.h"
#include "model.h"
#include "predrows.h"
#include "tsv.h"
#include "xalloc.h"

static _Noreturn void
usage(void)
{
	fprintf(stderr, "usage: clipsort-predict [-i] -m model [embeddings]\n");
	exit(CS_EXIT_USAGE);
}

static void
put_row(const cs_model *m, const char *key, const char *loc, const double *p, const char *label)
{
	char b[32];
	size_t j, best = 0, second = m->nclass > 1 ? 1 : 0;

	for (j = 1; j < m->nclass; j++) {
		if (p[j] > p[best]) {
			second = best;
			best = j;
		} else if (j != best && (second == best || p[j] > p[second])) {
			second = j;
		}
	}
	tsv_put_field(stdout, key);
	putchar('\t');
	tsv_put_field(stdout, loc);
	printf("\t%s\t", m->classes[best]);
	tsv_fmt_double(b, p[best]);
	fputs(b, stdout);
	putchar('\t');
	tsv_fmt_double(b, p[best] - p[second]);
	fputs(b, stdout);
	for (j = 0; j < m->nclass; j++) {
		tsv_fmt_double(b, p[j]);
		putchar('\t');
		fputs(b, stdout);
	}
	putchar('\t');
	fputs(label, stdout);
	putchar('\n');
}

struct ctx {
	const cs_model *m;
	int insample;
};

static void
emit(void *vc, const char *key, const char *loc, const float *vec, const double *p)
{
	const struct ctx *c = vc;
	long o = c->insample ? -1 : model_oof_find(c->m, key);

	(void)vec;

	if (o >= 0)
		put_row(c->m, key, loc, c->m->oof_p + (size_t)o * c->m->nclass, c->m->classes[c->m->oof[o].label]);
	else
		put_row(c->m, key, loc, p, "");
}

int
main(int argc, char **argv)
{
	const char *mpath = NULL, *epath = "-";
	char err[1024];
	cs_model m;
	emb_reader *er;
	struct ctx c;
	size_t j;
	int ch, rc;

	diag_init(argv[0]);
	memset(&c, 0, sizeof c);
	while ((ch = getopt(argc, argv, "im:")) != -1) {
		switch (ch) {
		case 'i': c.insample = 1; break;
		case 'm': mpath = optarg; break;
		default: usage();
		}
	}
	if (mpath == NULL || argc - optind > 1)
		usage();
	if (argc - optind == 1)
		epath = argv[optind];
	if ((rc = model_load(&m, mpath, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);
	if ((er = emb_reader_open(epath, err, sizeof err)) == NULL)
		cs_die(CS_EXIT_DATA, "%s", err);
	c.m = &m;
	if (!emb_stamp_compatible(&m.stamp, emb_reader_stamp(er), err, sizeof err))
		cs_die(CS_EXIT_DATA, "embeddings were made with another model than the classifier: %s", err);

	fputs("key\tpath\tclass\tconfidence\tmargin", stdout);
	for (j = 0; j < m.nclass; j++)
		printf("\tp_%s", m.classes[j]);
	fputs("\tlabel\n", stdout);
	if ((rc = predrows_run(&m, er, emit, &c, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);
	emb_reader_close(er);
	model_release(&m);
	cs_fshut(stdout, "<stdout>");
	return CS_EXIT_OK;
}
