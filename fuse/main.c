/* clipsort-fuse — join the per-image signals on `key` and decide a class for each
 * image: decisions.tsv (key, path, class, confidence, decided_by).
 *
 * Inputs are read in lockstep; a row waits in a pending table only until its partner
 * from the other input arrives, so inputs in the same order (as zeroshot and cluster
 * write them from one embedding file) are joined in constant memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blend.h"
#include "diag.h"
#include "exitcode.h"
#include "num.h"
#include "rowmap.h"
#include "tsv.h"
#include "xalloc.h"

#define CLS_UNCERTAIN (-1)
#define CLS_OTHER (-2)
#define MAX_REPORT 20

enum mode { MODE_RULE, MODE_BLEND, MODE_LEARNED, MODE_CLASSIFIER_FIRST };
enum prior { PRIOR_NONE, PRIOR_UNCHECKED, PRIOR_USABLE, PRIOR_UNUSABLE };

struct row {
	char *key, *path;
	int cls;              /* class index, CLS_UNCERTAIN or CLS_OTHER */
	double conf;
	double *p;            /* nclasses, or NULL */
	int prior;
	unsigned long line;
};

struct input {
	tsv_reader r;
	const char *name;
	int zs;               /* 1: zeroshot.tsv, 0: clusters.tsv */
	int ikey, ipath, icls, iconf, iprior;
	int *pcol;            /* column of p_<class j>, or NULL */
	int eof;
	char *prev;
	rowmap pending;
};

static char **classes;
static size_t ncls;
static double ratio = 1.10;
static enum mode mode = MODE_RULE;

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-m rule|blend|learned|classifier-first] [-r ratio] -z zeroshot.tsv [-c clusters.tsv]\n"
	    "       [-p predictions.tsv]\n", diag_prog());
	exit(CS_EXIT_USAGE);
}

static int
class_index(const char *name)
{
	size_t j;

	for (j = 0; j < ncls; j++)
		if (strcmp(classes[j], name) == 0)
			return (int)j;
	return -1;
}

static void
open_input(struct input *in, const char *path, int zs)
{
	static const char *const zcols[] = { "key", "path", "class", "confidence" };
	static const char *const ccols[] = { "key", "path", "class", "confidence", "prior" };
	int idx[5];
	size_t c, np = 0;

	memset(in, 0, sizeof *in);
	in->name = path;
	in->zs = zs;
	rowmap_init(&in->pending);
	if (tsv_reader_open(&in->r, path) != 0)
		cs_die(CS_EXIT_DATA, "%s", in->r.err);
	if (tsv_reader_require(&in->r, zs ? zcols : ccols, idx, zs ? 4 : 5) != 0)
		cs_die(CS_EXIT_DATA, "%s%s", in->r.err, zs ? "" : " (is this the output of clipsort-cluster -t?)");
	in->ikey = idx[0];
	in->ipath = idx[1];
	in->icls = idx[2];
	in->iconf = idx[3];
	in->iprior = zs ? -1 : idx[4];
	for (c = 0; c < in->r.ncols; c++)
		np += strncmp(in->r.cols[c], "p_", 2) == 0;
	if (zs) {   /* the zero-shot p_<class> columns define the class set */
		if (np < 2)
			cs_die(CS_EXIT_DATA, "%s:1: fewer than two p_<class> columns", path);
		classes = xcalloc(np, sizeof *classes);
		for (c = 0; c < in->r.ncols; c++)
			if (strncmp(in->r.cols[c], "p_", 2) == 0) {
				if (class_index(in->r.cols[c] + 2) >= 0)
					cs_die(CS_EXIT_DATA, "%s:1: duplicate column %s", path, in->r.cols[c]);
				classes[ncls++] = xstrdup(in->r.cols[c] + 2);
			}
	} else if (np > 0 && np != ncls) {
		cs_die(CS_EXIT_DATA, "%s:1: %zu classes, but %s has %zu", path, np, "the zero-shot input", ncls);
	}
	if (np > 0) {
		in->pcol = xcalloc(ncls, sizeof *in->pcol);
		for (c = 0; c < ncls; c++)
			in->pcol[c] = -1;
		for (c = 0; c < in->r.ncols; c++) {
			int j;
			if (strncmp(in->r.cols[c], "p_", 2) != 0)
				continue;
			if ((j = class_index(in->r.cols[c] + 2)) < 0)
				cs_die(CS_EXIT_DATA, "%s:1: class '%s' is not among the zero-shot classes "
				    "(mismatched class sets)", path, in->r.cols[c] + 2);
			in->pcol[j] = (int)c;
		}
	}
}

static double
prob(const struct input *in, int col, const char *what)
{
	const char *e;
	double v = num_parse_d(tsv_reader_field(&in->r, (size_t)col), 0.0, 1.0, &e);

	if (e)
		cs_die(CS_EXIT_DATA, "%s:%lu: %s '%s': %s (want a probability 0..1)", in->name,
		    in->r.lineno, what, tsv_reader_field(&in->r, (size_t)col), e);
	return v;
}

/* Next row of in, or NULL at its end. */
static struct row *
read_row(struct input *in)
{
	struct row *w;
	const char *cls, *key, *pr;
	int rc;
	size_t j;

	if (in->eof)
		return NULL;
	rc = tsv_reader_next(&in->r);
	if (rc < 0)
		cs_die(CS_EXIT_DATA, "%s", in->r.err);
	if (rc == 0) {
		in->eof = 1;
		return NULL;
	}
	key = tsv_reader_field(&in->r, (size_t)in->ikey);
	if (*key == '\0')
		cs_die(CS_EXIT_DATA, "%s:%lu: empty key", in->name, in->r.lineno);
	if (in->prev) {
		int c = strcmp(key, in->prev);
		if (c == 0)
			cs_die(CS_EXIT_DATA, "%s:%lu: duplicate key %s", in->name, in->r.lineno, key);
	}
	free(in->prev);
	in->prev = xstrdup(key);
	w = xcalloc(1, sizeof *w);
	w->key = xstrdup(key);
	w->path = xstrdup(tsv_reader_field(&in->r, (size_t)in->ipath));
	w->line = in->r.lineno;
	cls = tsv_reader_field(&in->r, (size_t)in->icls);
	if (in->zs && strcmp(cls, "_uncertain") == 0)
		w->cls = CLS_UNCERTAIN;
	else if (in->zs && strcmp(cls, "_other") == 0)
		w->cls = CLS_OTHER;
	else if ((w->cls = class_index(cls)) < 0)
		cs_die(CS_EXIT_DATA, "%s:%lu: unknown class '%s' (not among the p_<class> columns of %s)",
		    in->name, in->r.lineno, cls, in->zs ? in->name : "the zero-shot input");
	w->conf = prob(in, in->iconf, "confidence");
	if (in->pcol) {
		w->p = xcalloc(ncls, sizeof *w->p);
		for (j = 0; j < ncls; j++)
			w->p[j] = prob(in, in->pcol[j], classes[j]);
	}
	w->prior = PRIOR_NONE;
	if (!in->zs) {
		pr = tsv_reader_field(&in->r, (size_t)in->iprior);
		if (strcmp(pr, "usable") == 0)
			w->prior = PRIOR_USABLE;
		else if (strcmp(pr, "unusable") == 0)
			w->prior = PRIOR_UNUSABLE;
		else if (strcmp(pr, "unchecked") == 0)
			w->prior = PRIOR_UNCHECKED;
		else
			cs_die(CS_EXIT_DATA, "%s:%lu: prior '%s': want usable, unusable or unchecked",
			    in->name, in->r.lineno, pr);
	}
	return w;
}

static void
free_row(struct row *w)
{
	if (w == NULL)
		return;
	free(w->key);
	free(w->path);
	free(w->p);
	free(w);
}

static void
put_decision(const char *key, const char *path, int cls, double conf, const char *by)
{
	char num[32];

	tsv_put_field(stdout, key);
	fputc('\t', stdout);
	tsv_put_field(stdout, path);
	fputc('\t', stdout);
	fputs(cls >= 0 ? classes[cls] : cls == CLS_OTHER ? "_other" : "_uncertain", stdout);
	tsv_fmt_double(num, conf);
	printf("\t%s\t%s\n", num, by);
}

/* The zero-shot + cluster rule of the original workflow. */
static void
decide_rule(const struct row *z, const struct row *c)
{
	if (c == NULL || c->prior == PRIOR_UNUSABLE) {
		put_decision(z->key, z->path, z->cls, z->conf, "zeroshot");
	} else if (z->cls == CLS_UNCERTAIN) {
		put_decision(z->key, z->path, c->cls, c->conf, "cluster");
	} else if (z->cls == c->cls) {
		put_decision(z->key, z->path, z->cls, z->conf > c->conf ? z->conf : c->conf, "agree");
	} else if (z->conf >= ratio * c->conf) {
		put_decision(z->key, z->path, z->cls, z->conf, "zeroshot");
	} else if (c->conf >= ratio * z->conf) {
		put_decision(z->key, z->path, c->cls, c->conf, "cluster");
	} else {
		put_decision(z->key, z->path, CLS_UNCERTAIN, z->conf > c->conf ? z->conf : c->conf, "uncertain");
	}
}

/* Blend: the normalised geometric mean of the two class distributions (a log-linear
 * pool with equal weights); an unusable prior has weight 0. */
static void
decide_blend(const struct row *z, const struct row *c)
{
	double *lp, mx = -INFINITY, sum = 0;
	size_t j, best = 0;
	int use = c != NULL && c->prior != PRIOR_UNUSABLE;

	if (z->cls == CLS_OTHER) {
		put_decision(z->key, z->path, CLS_OTHER, z->conf, "zeroshot");
		return;
	}
	lp = xcalloc(ncls, sizeof *lp);
	for (j = 0; j < ncls; j++) {
		lp[j] = log(z->p[j] > 1e-300 ? z->p[j] : 1e-300);
		if (use)
			lp[j] = 0.5 * lp[j] + 0.5 * log(c->p[j] > 1e-300 ? c->p[j] : 1e-300);
		if (lp[j] > mx)
			mx = lp[j];
	}
	for (j = 0; j < ncls; j++) {
		sum += lp[j] = exp(lp[j] - mx);
		if (lp[j] > lp[best])
			best = j;
	}
	put_decision(z->key, z->path, (int)best, lp[best] / sum, use ? "blend" : "zeroshot");
	free(lp);
}

static void
decide(const struct row *z, const struct row *c)
{
	if (mode == MODE_BLEND)
		decide_blend(z, c);
	else
		decide_rule(z, c);
}

/* A row from side `in` arrived: pair it with the other side's pending row or wait. */
static void
arrive(struct input *in, struct input *other, struct row *w)
{
	struct row *mate = rowmap_del(&other->pending, w->key), *dup;

	if (mate) {
		decide(in->zs ? w : mate, in->zs ? mate : w);
		free_row(mate);
		free_row(w);
		return;
	}
	if ((dup = rowmap_get(&in->pending, w->key)) != NULL)
		cs_die(CS_EXIT_DATA, "%s:%lu: duplicate key %s (first on line %lu)", in->name, w->line,
		    w->key, dup->line);
	rowmap_put(&in->pending, w->key, w);
}

static int
by_line(const void *a, const void *b)
{
	const struct row *x = *(struct row *const *)a, *y = *(struct row *const *)b;

	return (x->line > y->line) - (x->line < y->line);
}

/* Rows still waiting for a partner, reported in file order. */
static size_t
report_unmatched(struct input *in, const char *othername, size_t told)
{
	size_t pos = 0, n = 0, i;
	struct row *w, **all = xcalloc(in->pending.n + 1, sizeof *all);

	while ((w = rowmap_next(&in->pending, &pos)) != NULL)
		all[n++] = w;
	qsort(all, n, sizeof *all, by_line);
	for (i = 0; i < n; i++) {
		if (told + i < MAX_REPORT)
			cs_warn("%s:%lu: key %s has no row in %s (a missing row, or a key repeated in one input)",
			    in->name, all[i]->line, all[i]->key, othername);
		free_row(all[i]);
	}
	free(all);
	return n;
}

static void
close_input(struct input *in)
{
	tsv_reader_release(&in->r);
	rowmap_release(&in->pending);
	free(in->pcol);
	free(in->prev);
}

int
main(int argc, char *argv[])
{
	const char *zpath = NULL, *cpath = NULL, *ppath = NULL;
	struct input z, c;
	struct row *w;
	size_t missing, j;
	int ch;

	diag_init(argv[0]);
	while ((ch = getopt(argc, argv, "m:r:z:c:p:")) != -1) {
		switch (ch) {
		case 'm':
			if (strcmp(optarg, "rule") == 0)
				mode = MODE_RULE;
			else if (strcmp(optarg, "blend") == 0)
				mode = MODE_BLEND;
			else if (strcmp(optarg, "learned") == 0)
				mode = MODE_LEARNED;
			else if (strcmp(optarg, "classifier-first") == 0)
				mode = MODE_CLASSIFIER_FIRST;
			else
				cs_die(CS_EXIT_USAGE, "-m %s: want rule, blend, learned or classifier-first", optarg);
			break;
		case 'r': ratio = num_arg_d("ratio", optarg, 1.0, 1e6); break;
		case 'z': zpath = optarg; break;
		case 'c': cpath = optarg; break;
		case 'p': ppath = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || zpath == NULL)
		usage();
	if (cpath && strcmp(zpath, "-") == 0 && strcmp(cpath, "-") == 0)
		cs_die(CS_EXIT_USAGE, "only one input can come from stdin");
	/* with the classifier's predictions: fuse/blend.c (default -m learned) */
	if ((mode == MODE_LEARNED || mode == MODE_CLASSIFIER_FIRST) && ppath == NULL)
		cs_die(CS_EXIT_USAGE, "-m learned and -m classifier-first need -p predictions.tsv");
	if (ppath != NULL) {
		if (mode == MODE_BLEND)
			cs_die(CS_EXIT_USAGE, "-p: use -m learned or -m classifier-first with a classifier");
		return blend_fuse(zpath, cpath, ppath, mode != MODE_CLASSIFIER_FIRST, ratio);
	}
	open_input(&z, zpath, 1);
	if (cpath) {
		open_input(&c, cpath, 0);
		if (mode == MODE_BLEND && c.pcol == NULL)
			cs_die(CS_EXIT_DATA, "%s:1: no p_<class> columns: -m blend needs the class "
			    "probabilities of the cluster prior", cpath);
	}
	if (mode == MODE_BLEND && z.pcol == NULL)
		cs_die(CS_EXIT_DATA, "%s:1: no p_<class> columns", zpath);
	fputs("key\tpath\tclass\tconfidence\tdecided_by\n", stdout);
	if (cpath == NULL) {
		while ((w = read_row(&z)) != NULL) {
			decide(w, NULL);
			free_row(w);
		}
		missing = 0;
	} else {
		while (!z.eof || !c.eof) {
			if ((w = read_row(&z)) != NULL)
				arrive(&z, &c, w);
			if ((w = read_row(&c)) != NULL)
				arrive(&c, &z, w);
			if (ferror(stdout))
				cs_fshut(stdout, "<stdout>");
		}
		missing = report_unmatched(&z, cpath, 0);
		missing += report_unmatched(&c, zpath, missing);
		close_input(&c);
	}
	close_input(&z);
	cs_fshut(stdout, "<stdout>");
	for (j = 0; j < ncls; j++)
		free(classes[j]);
	free(classes);
	if (missing) {
		if (missing > MAX_REPORT)
			cs_warn("... %zu rows without a partner in all", missing);
		return CS_EXIT_DATA;
	}
	return CS_EXIT_OK;
}
