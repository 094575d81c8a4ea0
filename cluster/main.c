/* clipsort-cluster — k-means over image vectors, with a per-cluster class prior
 * (the class whose prompt vector is nearest the centroid) that is checked against
 * labelled images before it is trusted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "classes.h"
#include "diag.h"
#include "emb.h"
#include "exitcode.h"
#include "fsutil.h"
#include "kmeans.h"
#include "labels.h"
#include "num.h"
#include "tsv.h"
#include "xalloc.h"

struct opts {
	km_params km;
	long batch;          /* 0: full batch */
	int epochs;
	int verbose;
	const char *texts, *labels, *summary, *input;
};

struct prior {
	int have;            /* class vectors known */
	zs_classes cls;
	int *cls_of;         /* k: prior class index */
	double *sim, *conf;  /* k */
	double *p;           /* k x classes: zero-shot probabilities of each centroid */
	const char *verdict; /* "usable", "unusable", "unchecked" */
	pc_verdict v;
	char **labnames;     /* label index space: classes, then other label names */
	int nlab;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-v] [-k clusters] [-r restarts] [-s seed] [-i max-iter] "
	    "[-b batch [-e epochs]] [-t texts] [-l labels] [-S summary] [images]\n", diag_prog());
	exit(CS_EXIT_USAGE);
}

static void
load_classes(struct prior *pr, const struct opts *o, emb_reader *img)
{
	if (!zs_classes_load(&pr->cls, img, o->input, o->texts)) {
		if (o->texts)
			cs_die(CS_EXIT_DATA, "%s: no class prompt vectors", o->texts);
		pr->have = 0;
	} else {
		pr->have = 1;
		pr->nlab = (int)pr->cls.n;   /* label indices 0..n-1 are the classes */
		pr->labnames = xcalloc(pr->cls.n, sizeof *pr->labnames);
	}
}

static void
compute_prior(struct prior *pr, const float *centers, int k, size_t d)
{
	float *cn = xreallocarray(NULL, (size_t)k * d, sizeof *cn);
	float *cos;
	double *p;
	int j;

	pr->cls_of = xcalloc((size_t)k, sizeof *pr->cls_of);
	pr->sim = xcalloc((size_t)k, sizeof *pr->sim);
	pr->conf = xcalloc((size_t)k, sizeof *pr->conf);
	if (!pr->have) {
		free(cn);
		return;
	}
	cos = xreallocarray(NULL, (size_t)k * pr->cls.n, sizeof *cos);
	pr->p = xcalloc((size_t)k * pr->cls.n, sizeof *pr->p);
	p = xreallocarray(NULL, pr->cls.n, sizeof *p);
	for (j = 0; j < k; j++) {
		double s = 0;
		size_t e;
		for (e = 0; e < d; e++)
			s += (double)centers[(size_t)j * d + e] * centers[(size_t)j * d + e];
		s = s > 0 ? 1 / sqrt(s) : 0;
		for (e = 0; e < d; e++)
			cn[(size_t)j * d + e] = (float)(centers[(size_t)j * d + e] * s);
	}
	zs_classes_cosines(&pr->cls, cn, (size_t)k, 0, NULL, cos);
	for (j = 0; j < k; j++) {
		const float *cj = cos + (size_t)j * pr->cls.n;
		size_t c, best = 0;

		for (c = 1; c < pr->cls.n; c++)
			if (cj[c] > cj[best])
				best = c;
		zs_classes_probs(&pr->cls, cj, p);
		memcpy(pr->p + (size_t)j * pr->cls.n, p, pr->cls.n * sizeof *p);
		pr->cls_of[j] = (int)best;
		pr->sim[j] = cj[best];
		pr->conf[j] = p[best];
	}
	free(p);
	free(cos);
	free(cn);
}

/* Label index of class name cls in the label space (classes first, then others). */
static int
label_index(struct prior *pr, const char *cls)
{
	int i = pr->have ? zs_classes_find(&pr->cls, cls) : -1;

	if (i >= 0)
		return i;
	for (i = pr->have ? (int)pr->cls.n : 0; i < pr->nlab; i++)
		if (strcmp(pr->labnames[i], cls) == 0)
			return i;
	pr->labnames = xreallocarray(pr->labnames, (size_t)pr->nlab + 1, sizeof *pr->labnames);
	pr->labnames[pr->nlab] = xstrdup(cls);
	return pr->nlab++;
}

static labels *
load_labels(const char *path)
{
	labels *l = labels_new();
	char err[512];
	int rc = labels_load(l, path, err, sizeof err);

	if (rc != 0)
		cs_die(rc, "%s", err);
	return l;
}

/* Check the prior against the labelled pairs (cl, lab) and set the verdict. */
static void
judge(struct prior *pr, const struct opts *o, const int *cl, const int *lab, size_t m, int k)
{
	int *pri = xreallocarray(NULL, (size_t)k, sizeof *pri);
	int j;

	if (!pr->have || o->labels == NULL) {
		pr->verdict = "unchecked";
		free(pri);
		return;
	}
	if (m == 0) {
		cs_warn("%s: no labelled image among the inputs: the cluster prior stays unchecked", o->labels);
		pr->verdict = "unchecked";
		free(pri);
		return;
	}
	for (j = 0; j < k; j++)
		pri[j] = pr->cls_of[j];
	pc_check(cl, lab, m, k, pr->nlab > 0 ? pr->nlab : 1, pri, o->km.seed, &pr->v);
	pr->verdict = pr->v.usable ? "usable" : "unusable";
	if (!pr->v.usable)
		cs_warn("%s: cluster prior unusable: it agrees with %zu of %zu labelled images "
		    "(%.3f; chance %.3f, permutation p = %.3g)", o->labels, pr->v.agree, pr->v.labelled,
		    pr->v.accuracy, pr->v.chance, pr->v.p_value);
	free(pri);
}

static void
put_header(const struct prior *pr)
{
	fputs("key\tpath\tcluster\tdistance", stdout);
	size_t j;

	if (pr->have) {
		fputs("\tclass\tconfidence\tsimilarity\tprior", stdout);
		for (j = 0; j < pr->cls.n; j++)
			printf("\tp_%s", pr->cls.names[j]);
	}
	fputc('\n', stdout);
}

static void
put_row(const struct prior *pr, const char *key, const char *loc, int c, double dist2)
{
	char num[32];
	size_t j;

	tsv_put_field(stdout, key);
	fputc('\t', stdout);
	tsv_put_field(stdout, loc);
	printf("\t%d\t", c);
	tsv_fmt_double(num, sqrt(dist2));
	fputs(num, stdout);
	if (pr->have) {
		fputc('\t', stdout);
		fputs(pr->cls.names[pr->cls_of[c]], stdout);
		tsv_fmt_double(num, pr->conf[c]);
		printf("\t%s", num);
		tsv_fmt_double(num, pr->sim[c]);
		printf("\t%s\t%s", num, pr->verdict);
		for (j = 0; j < pr->cls.n; j++) {
			tsv_fmt_double(num, pr->p[(size_t)c * pr->cls.n + j]);
			printf("\t%s", num);
		}
	}
	fputc('\n', stdout);
}

/* The summary: one row per cluster and a row "all", written whole (fs_atomic). */
static void
write_summary(const char *path, const struct prior *pr, int k, const double *size,
    const double *inertia, const size_t *lab_n, const size_t *lab_agree)
{
	fs_atomic at;
	FILE *fp;
	char a[32], b[32], c[32], d[32], err[512];
	double tot = 0, tin = 0;
	int j, rc;

	if ((rc = fs_atomic_open(&at, path, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);
	fp = at.fp;
	fputs("cluster\tsize\tinertia\tclass\tsimilarity\tconfidence\tlabelled\tagree\taccuracy"
	    "\tchance\tp_value\tari\tprior\n", fp);
	for (j = 0; j < k; j++) {
		tot += size[j];
		tin += inertia[j];
		tsv_fmt_double(a, inertia[j]);
		fprintf(fp, "%d\t%.0f\t%s\t%s\t", j, size[j], a, pr->have ? pr->cls.names[pr->cls_of[j]] : "-");
		tsv_fmt_double(a, pr->sim[j]);
		tsv_fmt_double(b, pr->conf[j]);
		tsv_fmt_double(c, lab_n[j] ? (double)lab_agree[j] / (double)lab_n[j] : 0);
		fprintf(fp, "%s\t%s\t%zu\t%zu\t%s\t-\t-\t-\t%s\n", pr->have ? a : "-", pr->have ? b : "-",
		    lab_n[j], lab_agree[j], lab_n[j] ? c : "-", pr->verdict);
	}
	tsv_fmt_double(a, tin);
	fprintf(fp, "all\t%.0f\t%s\t-\t-\t-\t%zu\t%zu\t", tot, a, pr->v.labelled, pr->v.agree);
	if (pr->v.labelled) {
		tsv_fmt_double(a, pr->v.accuracy);
		tsv_fmt_double(b, pr->v.chance);
		tsv_fmt_double(c, pr->v.p_value);
		tsv_fmt_double(d, pr->v.ari);
		fprintf(fp, "%s\t%s\t%s\t%s\t%s\n", a, b, c, d, pr->verdict);
	} else {
		fprintf(fp, "-\t-\t-\t-\t%s\n", pr->verdict);
	}
	if ((rc = fs_atomic_commit(&at, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);
}

/* Labelled pairs, their per-cluster tallies, for the images known to labels. */
struct lpairs {
	int *cl, *lab;
	size_t m, cap;
	size_t *n, *agree;   /* per cluster */
};

static void
lpairs_add(struct lpairs *lp, struct prior *pr, const labels *l, const char *key, int c)
{
	const labels_entry *e;

	if (l == NULL || (e = labels_get(l, key)) == NULL)
		return;
	if (lp->m == lp->cap) {
		lp->cap = lp->cap ? 2 * lp->cap : 256;
		lp->cl = xreallocarray(lp->cl, lp->cap, sizeof *lp->cl);
		lp->lab = xreallocarray(lp->lab, lp->cap, sizeof *lp->lab);
	}
	lp->cl[lp->m] = c;
	lp->lab[lp->m] = label_index(pr, e->cls);
	lp->m++;
}

static void
lpairs_tally(struct lpairs *lp, const struct prior *pr, int k)
{
	size_t i;

	lp->n = xcalloc((size_t)k, sizeof *lp->n);
	lp->agree = xcalloc((size_t)k, sizeof *lp->agree);
	for (i = 0; i < lp->m; i++) {
		lp->n[lp->cl[i]]++;
		if (pr->have && pr->cls_of[lp->cl[i]] == lp->lab[i])
			lp->agree[lp->cl[i]]++;
	}
}

static void
run_full(const struct opts *o, struct prior *pr, labels *l)
{
	emb_reader *r = zs_open_or_die(o->input);
	float *x;
	char **keys, **locs;
	size_t n, d, i;
	int k = o->km.k;
	km_result res;
	double *dist2, *size, *inert;
	struct lpairs lp = { 0 };

	load_classes(pr, o, r);
	d = emb_reader_stamp(r)->dim;
	if (emb_read_all(r, &x, &keys, &locs, &n) != 0)
		cs_die(CS_EXIT_DATA, "%s", emb_reader_error(r));
	if (n > 0 && n < (size_t)k)
		cs_die(CS_EXIT_DATA, "%s: %zu images, fewer than the %d clusters asked for", o->input, n, k);
	memset(&res, 0, sizeof res);
	dist2 = xcalloc(n ? n : 1, sizeof *dist2);
	size = xcalloc((size_t)k, sizeof *size);
	inert = xcalloc((size_t)k, sizeof *inert);
	if (n > 0) {
		double t0 = now();
		km_fit(x, n, d, &o->km, &res);
		if (o->verbose)
			fprintf(stderr, "%s: %zu x %zu: fit in %.3f s (%d restarts), inertia %.17g, "
			    "best run %d took %d iterations\n", diag_prog(), n, d, now() - t0,
			    o->km.restarts, res.inertia, res.restart, res.iters);
		km_assign(x, NULL, n, d, res.centers, k, res.labels, dist2);
	} else {
		res.centers = xcalloc((size_t)k * d, sizeof *res.centers);
	}
	compute_prior(pr, res.centers, k, d);
	for (i = 0; i < n; i++) {
		size[res.labels[i]] += 1;
		inert[res.labels[i]] += dist2[i];
		lpairs_add(&lp, pr, l, keys[i], res.labels[i]);
	}
	judge(pr, o, lp.cl, lp.lab, lp.m, k);
	lpairs_tally(&lp, pr, k);
	put_header(pr);
	for (i = 0; i < n; i++)
		put_row(pr, keys[i], locs[i], res.labels[i], dist2[i]);
	cs_fshut(stdout, "<stdout>");
	if (o->summary)
		write_summary(o->summary, pr, k, size, inert, lp.n, lp.agree);
	for (i = 0; i < n; i++) {
		free(keys[i]);
		free(locs[i]);
	}
	free(keys);
	free(locs);
	free(x);
	free(dist2);
	free(size);
	free(inert);
	free(lp.cl);
	free(lp.lab);
	free(lp.n);
	free(lp.agree);
	km_result_release(&res);
	emb_reader_close(r);
}

/* Mini-batch: reads the named input several times, holding one batch and a sample. */
static size_t
read_batch(emb_reader *r, emb_block *b)
{
	if (emb_block_read(r, b) < 0)
		cs_die(CS_EXIT_DATA, "%s", emb_reader_error(r));
	return b->n;
}

static emb_reader *
reopen(const struct opts *o, const emb_stamp *first)
{
	emb_reader *r = zs_open_or_die(o->input);
	char err[512];

	if (!emb_stamp_compatible(first, emb_reader_stamp(r), err, sizeof err))
		cs_die(CS_EXIT_DATA, "%s changed while being read: %s", o->input, err);
	return r;
}

static void
run_minibatch(const struct opts *o, struct prior *pr, labels *l)
{
	emb_reader *r = zs_open_or_die(o->input);
	emb_stamp st;
	emb_block b;
	size_t d, n = 0, ns = 0, scap, i;
	int k = o->km.k, ep, *lw;
	float *sample, *centers;
	double *counts, *size, *inert, *dist2;
	km_rng rng;
	km_result res;
	struct lpairs lp = { 0 };
	emb_image im;
	int rc;

	if (strcmp(o->input, "-") == 0)
		cs_die(CS_EXIT_USAGE, "-b: mini-batch mode reads its input several times: give a file, not stdin");
	emb_stamp_copy(&st, emb_reader_stamp(r));
	d = st.dim;
	load_classes(pr, o, r);
	scap = (size_t)(3 * o->batch > 10 * k ? 3 * o->batch : 10 * k);
	sample = xreallocarray(NULL, scap * d, sizeof *sample);
	km_rng_seed(&rng, o->km.seed ^ 0xb47c4ULL);
	while ((rc = emb_reader_next(r, &im)) > 0) {   /* pass 1: reservoir sample */
		size_t slot = ns < scap ? ns++ : (size_t)(km_rng_uniform(&rng) * (double)(n + 1));
		if (slot < scap)
			memcpy(sample + slot * d, im.vec, d * sizeof *sample);
		n++;
	}
	if (rc < 0)
		cs_die(CS_EXIT_DATA, "%s", emb_reader_error(r));
	emb_reader_close(r);
	if (n > 0 && n < (size_t)k)
		cs_die(CS_EXIT_DATA, "%s: %zu images, fewer than the %d clusters asked for", o->input, n, k);
	emb_block_init(&b, (size_t)o->batch, d);
	lw = xreallocarray(NULL, b.cap, sizeof *lw);
	counts = xcalloc((size_t)k, sizeof *counts);
	size = xcalloc((size_t)k, sizeof *size);
	inert = xcalloc((size_t)k, sizeof *inert);
	dist2 = xreallocarray(NULL, b.cap, sizeof *dist2);
	centers = xcalloc((size_t)k * d, sizeof *centers);
	if (n > 0) {
		km_fit(sample, ns, d, &o->km, &res);   /* restarts on the sample */
		memcpy(centers, res.centers, (size_t)k * d * sizeof *centers);
		km_result_release(&res);
		for (ep = 0; ep < o->epochs; ep++) {
			r = reopen(o, &st);
			while (read_batch(r, &b) > 0)
				km_minibatch_step(b.x, b.n, d, centers, k, counts, lw);
			emb_reader_close(r);
		}
	}
	compute_prior(pr, centers, k, d);
	if (l != NULL && pr->have) {   /* labelled images, before any row is written */
		r = reopen(o, &st);
		while (read_batch(r, &b) > 0) {
			km_assign(b.x, NULL, b.n, d, centers, k, lw, NULL);
			for (i = 0; i < b.n; i++)
				lpairs_add(&lp, pr, l, b.keys[i], lw[i]);
		}
		emb_reader_close(r);
	}
	judge(pr, o, lp.cl, lp.lab, lp.m, k);
	lpairs_tally(&lp, pr, k);
	put_header(pr);
	r = reopen(o, &st);
	while (read_batch(r, &b) > 0) {
		km_assign(b.x, NULL, b.n, d, centers, k, lw, dist2);
		for (i = 0; i < b.n; i++) {
			size[lw[i]] += 1;
			inert[lw[i]] += dist2[i];
			put_row(pr, b.keys[i], b.locs[i], lw[i], dist2[i]);
		}
		if (ferror(stdout))
			cs_fshut(stdout, "<stdout>");
	}
	emb_reader_close(r);
	cs_fshut(stdout, "<stdout>");
	if (o->summary)
		write_summary(o->summary, pr, k, size, inert, lp.n, lp.agree);
	emb_block_release(&b);
	free(lw);
	free(counts);
	free(size);
	free(inert);
	free(dist2);
	free(centers);
	free(sample);
	free(lp.cl);
	free(lp.lab);
	free(lp.n);
	free(lp.agree);
	emb_stamp_release(&st);
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct prior pr;
	labels *l = NULL;
	int ch, i;

	diag_init(argv[0]);
	memset(&o, 0, sizeof o);
	memset(&pr, 0, sizeof pr);
	o.km.k = 2;
	o.km.restarts = 10;
	o.km.max_iter = 300;
	o.km.tol = 1e-4;
	o.epochs = 3;
	o.input = "-";
	while ((ch = getopt(argc, argv, "k:r:s:i:b:e:t:l:S:v")) != -1) {
		switch (ch) {
		case 'k': o.km.k = (int)num_arg_ll("clusters", optarg, 1, 100000); break;
		case 'r': o.km.restarts = (int)num_arg_ll("restarts", optarg, 1, 100000); break;
		case 's': o.km.seed = (uint64_t)num_arg_ll("seed", optarg, 0, 0x7fffffffffffffffLL); break;
		case 'i': o.km.max_iter = (int)num_arg_ll("max-iter", optarg, 1, 1000000); break;
		case 'b': o.batch = (long)num_arg_ll("batch", optarg, 1, 100000000); break;
		case 'e': o.epochs = (int)num_arg_ll("epochs", optarg, 1, 100000); break;
		case 't': o.texts = optarg; break;
		case 'l': o.labels = optarg; break;
		case 'S': o.summary = optarg; break;
		case 'v': o.verbose = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		usage();
	if (argc == 1)
		o.input = argv[0];
	if (o.texts && strcmp(o.texts, "-") == 0 && strcmp(o.input, "-") == 0)
		cs_die(CS_EXIT_USAGE, "texts and images cannot both come from stdin");
	if (o.labels)
		l = load_labels(o.labels);
	if (o.batch)
		run_minibatch(&o, &pr, l);
	else
		run_full(&o, &pr, l);
	labels_free(l);
	for (i = 0; i < pr.nlab; i++)
		free(pr.labnames[i]);
	free(pr.labnames);
	free(pr.cls_of);
	free(pr.sim);
	free(pr.conf);
	free(pr.p);
	if (pr.have)
		zs_classes_release(&pr.cls);
	return CS_EXIT_OK;
}
