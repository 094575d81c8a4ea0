/* clipsort-rank — the queue of unlabelled images to label next (clipsort-rank(1)). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "emb.h"
#include "exitcode.h"
#include "kmeans.h"
#include "labels.h"
#include "../train/model.h"
#include "../train/outfile.h"
#include "../train/predrows.h"
#include "num.h"
#include "strhash.h"
#include "tsv.h"
#include "xalloc.h"

enum strategy { S_DIVERSE, S_LEAST, S_MARGIN, S_ENTROPY, S_RANDOM, S_COLD };
static const char *const snames[] = { "diverse", "least", "margin", "entropy", "random", "cold" };

static _Noreturn void
usage(void)
{
	fprintf(stderr, "usage: clipsort-rank [-s strategy] [-n cap] [-b batch] [-P pool] [-R sample] [-t threshold]\n"
	    "                     [-S seed] [-m model] [-l labels.tsv] [-o summary] [embeddings]\n");
	exit(CS_EXIT_USAGE);
}

struct img {
	char key[EMB_KEY_HEX + 1];
	char *loc;
	double unc;             /* uncertainty: higher = less certain */
	double conf, margin;
	int cls;                /* predicted class, -1 without a model */
	long vec;               /* row in the vector pool, -1 if not kept */
	unsigned long rnd;
	int picked;
	const char *reason;
};

struct st {
	enum strategy strat;
	size_t cap, batch, poolf, sample;
	double thresh;
	unsigned long seed;
	const cs_model *m;
	const labels *l;
	size_t d;
	struct img *im;
	size_t n, ncap;
	/* vector pool: the most uncertain (model) or a seeded sample (cold start) */
	float *pv;
	size_t *pimg;           /* pool row -> image index (or SIZE_MAX for a labelled vector) */
	size_t np, pcap;
	/* summary */
	size_t *pred_cnt, nconf;
	double sum_margin;
};

static unsigned long
hashkey(const char *s, unsigned long seed)
{
	unsigned long h = cs_strhash_from(CS_STRHASH_START ^ (seed * 0x9e3779b97f4a7c15UL), s);

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9UL;
	return h ^ (h >> 32);
}

static double
uncertainty(enum strategy s, const double *p, size_t k, double *conf, double *margin, int *cls)
{
	size_t j, b = 0, s2 = k > 1 ? 1 : 0;
	double h = 0;

	for (j = 1; j < k; j++) {
		if (p[j] > p[b]) {
			s2 = b;
			b = j;
		} else if (j != b && (s2 == b || p[j] > p[s2])) {
			s2 = j;
		}
	}
	*conf = p[b];
	*margin = p[b] - p[s2];
	*cls = (int)b;
	switch (s) {
	case S_LEAST:
		return 1 - p[b];
	case S_ENTROPY:
		for (j = 0; j < k; j++)
			if (p[j] > 0)
				h -= p[j] * log(p[j]);
		return h / log((double)k);
	default:
		return 1 - *margin;
	}
}

/* pool as a min-heap on uncertainty (model mode): keeps the P most uncertain */
static int
heap_less(const struct st *t, size_t a, size_t b)
{
	const struct img *x = &t->im[t->pimg[a]], *y = &t->im[t->pimg[b]];

	if (x->unc != y->unc)
		return x->unc < y->unc;
	return x->rnd > y->rnd;
}

static void
heap_swap(struct st *t, size_t a, size_t b)
{
	size_t ti = t->pimg[a], j;

	t->pimg[a] = t->pimg[b];
	t->pimg[b] = ti;
	for (j = 0; j < t->d; j++) {
		float f = t->pv[a * t->d + j];
		t->pv[a * t->d + j] = t->pv[b * t->d + j];
		t->pv[b * t->d + j] = f;
	}
}

static void
heap_down(struct st *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < t->np && heap_less(t, l, m))
			m = l;
		if (r < t->np && heap_less(t, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(t, i, m);
		i = m;
	}
}

static void
heap_up(struct st *t, size_t i)
{
	while (i > 0 && heap_less(t, i, (i - 1) / 2)) {
		heap_swap(t, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static struct img *
add_img(struct st *t, const char *key, const char *loc)
{
	struct img *x;

	xgrow(&t->im, &t->ncap, t->n + 1, sizeof *t->im);
	x = &t->im[t->n++];
	memset(x, 0, sizeof *x);
	snprintf(x->key, sizeof x->key, "%s", key);
	x->loc = xstrdup(loc ? loc : "");
	x->cls = -1;
	x->vec = -1;
	x->rnd = hashkey(key, t->seed);
	return x;
}

static void
on_pred(void *ctx, const char *key, const char *loc, const float *vec, const double *p)
{
	struct st *t = ctx;
	struct img *x;
	size_t cap;

	if (labels_get(t->l, key) != NULL)
		return;
	x = add_img(t, key, loc);
	x->unc = uncertainty(t->strat, p, t->m->nclass, &x->conf, &x->margin, &x->cls);
	t->pred_cnt[x->cls]++;
	t->nconf += x->conf >= t->thresh;
	t->sum_margin += x->margin;
	if (t->strat != S_DIVERSE)
		return;
	cap = t->poolf * t->cap;
	if (t->np < cap) {
		xgrow(&t->pimg, &t->pcap, t->np + 1, sizeof *t->pimg);
		t->pv = xreallocarray(t->pv, t->pcap, t->d * sizeof *t->pv);
		t->pimg[t->np] = t->n - 1;
		memcpy(t->pv + t->np * t->d, vec, t->d * sizeof *t->pv);
		t->np++;
		heap_up(t, t->np - 1);
	} else if (x->unc > t->im[t->pimg[0]].unc) {
		t->pimg[0] = t->n - 1;
		memcpy(t->pv, vec, t->d * sizeof *t->pv);
		heap_down(t, 0);
	}
}

/* cold start: a seeded sample of up to `sample` vectors (bottom-k of a key hash,
 * so the sample does not depend on input order), labelled ones included.  A max-heap
 * of row ids on the hash finds the row to replace. */
static void
hv_down(size_t *h, size_t n, const unsigned long *hv, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i, t;
		if (l < n && hv[h[l]] > hv[h[m]])
			m = l;
		if (r < n && hv[h[r]] > hv[h[m]])
			m = r;
		if (m == i)
			return;
		t = h[i], h[i] = h[m], h[m] = t;
		i = m;
	}
}

static void
hv_up(size_t *h, const unsigned long *hv, size_t i)
{
	while (i > 0 && hv[h[i]] > hv[h[(i - 1) / 2]]) {
		size_t p = (i - 1) / 2, t = h[i];
		h[i] = h[p], h[p] = t;
		i = p;
	}
}

static int
read_cold(struct st *t, emb_reader *r)
{
	emb_image img;
	int rc;
	unsigned long *hv = NULL;
	size_t hcap = 0, *heap = NULL, heapcap = 0;

	while ((rc = emb_reader_next(r, &img)) == 1) {
		int lab = labels_get(t->l, img.key) != NULL;
		unsigned long h = hashkey(img.key, t->seed);
		size_t row;
		if (!lab)
			add_img(t, img.key, img.location);
		if (t->np < t->sample) {
			xgrow(&t->pimg, &t->pcap, t->np + 1, sizeof *t->pimg);
			t->pv = xreallocarray(t->pv, t->pcap, t->d * sizeof *t->pv);
			xgrow(&hv, &hcap, t->np + 1, sizeof *hv);
			xgrow(&heap, &heapcap, t->np + 1, sizeof *heap);
			row = t->np++;
			hv[row] = h;
			heap[row] = row;
			hv_up(heap, hv, row);
		} else {
			if (h >= hv[heap[0]])
				continue;
			row = heap[0];
			hv[row] = h;
			hv_down(heap, t->np, hv, 0);
		}
		t->pimg[row] = lab ? (size_t)-1 : t->n - 1;
		memcpy(t->pv + row * t->d, img.vec, t->d * sizeof *t->pv);
	}
	free(hv);
	free(heap);
	return rc;
}

static int
cmp_unc(const void *a, const void *b)
{
	const struct img *x = *(struct img *const *)a, *y = *(struct img *const *)b;

	if (x->unc != y->unc)
		return x->unc > y->unc ? -1 : 1;
	return x->rnd < y->rnd ? -1 : x->rnd > y->rnd;
}

static int
cmp_rnd(const void *a, const void *b)
{
	const struct img *x = *(struct img *const *)a, *y = *(struct img *const *)b;

	return x->rnd < y->rnd ? -1 : x->rnd > y->rnd;
}

/* Diverse batches: each round takes the P*b most uncertain not yet picked, clusters
 * them into b groups (k-means weighted by uncertainty) and picks the member nearest
 * each centre, so near-duplicates share one pick. */
static size_t
pick_diverse(struct st *t, struct img **out)
{
	size_t nout = 0, *cand = xcalloc(t->np + 1, sizeof *cand), i, j, r = 0;
	struct img **order = xcalloc(t->np + 1, sizeof *order);
	float *x = xcalloc((t->np + 1) * t->d, sizeof *x), *cent;
	double *w = xcalloc(t->np + 1, sizeof *w);
	int *as = xcalloc(t->np + 1, sizeof *as);
	long *pick;

	/* pool rows sorted by uncertainty */
	for (i = 0; i < t->np; i++) {
		t->im[t->pimg[i]].vec = (long)i;
		order[i] = &t->im[t->pimg[i]];
	}
	qsort(order, t->np, sizeof *order, cmp_unc);
	cent = xcalloc(t->batch * t->d, sizeof *cent);
	pick = xcalloc(t->batch, sizeof *pick);
	while (nout < t->cap) {
		size_t b = t->cap - nout < t->batch ? t->cap - nout : t->batch, nc = 0, first = nout;
		for (i = 0; i < t->np && nc < t->poolf * b; i++)
			if (!order[i]->picked)
				cand[nc++] = i;
		if (nc == 0)
			break;
		if (b > nc)
			b = nc;
		for (i = 0; i < nc; i++) {
			memcpy(x + i * t->d, t->pv + (size_t)order[cand[i]]->vec * t->d, t->d * sizeof *x);
			w[i] = order[cand[i]]->unc + 1e-6;
		}
		kmeans(x, w, nc, t->d, b, t->seed + r++, 20, cent, as);
		kmeans_medoids(x, nc, t->d, cent, b, as, pick);
		for (j = 0; j < b; j++) {
			if (pick[j] < 0)
				continue;
			order[cand[pick[j]]]->picked = 1;
			order[cand[pick[j]]]->reason = "diverse";
			out[nout++] = order[cand[pick[j]]];
		}
		if (nout == first)
			break;
		qsort(out + first, nout - first, sizeof *out, cmp_unc);
	}
	free(cand);
	free(order);
	free(x);
	free(w);
	free(as);
	free(cent);
	free(pick);
	return nout;
}

struct cl {
	size_t size;
	int has_label;
	long best;              /* pool row of the unlabelled member nearest the centre */
	double bestd;
};

static int
cmp_cl(const void *a, const void *b)
{
	const struct cl *x = a, *y = b;

	if (x->has_label != y->has_label)
		return x->has_label - y->has_label;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return x->best < y->best ? -1 : x->best > y->best;
}

/* Cold start: k-means of the sample with k = (labelled in sample) + cap; one typical
 * pick (nearest the centre) per cluster, clusters without a labelled member first,
 * larger clusters first. */
static size_t
pick_cold(struct st *t, struct img **out)
{
	size_t nlab = 0, k, i, j, nout = 0;
	float *cent;
	int *as;
	struct cl *cl;

	for (i = 0; i < t->np; i++)
		nlab += t->pimg[i] == (size_t)-1;
	k = nlab + t->cap;
	if (k > t->np)
		k = t->np;
	if (k == 0)
		return 0;
	cent = xcalloc(k * t->d, sizeof *cent);
	as = xcalloc(t->np, sizeof *as);
	cl = xcalloc(k, sizeof *cl);
	kmeans(t->pv, NULL, t->np, t->d, k, t->seed, 20, cent, as);
	for (j = 0; j < k; j++) {
		cl[j].best = -1;
		cl[j].bestd = INFINITY;
	}
	for (i = 0; i < t->np; i++) {
		struct cl *c = &cl[as[i]];
		double dd = 0;
		size_t q;
		c->size++;
		if (t->pimg[i] == (size_t)-1) {
			c->has_label = 1;
			continue;
		}
		for (q = 0; q < t->d; q++) {
			double e = (double)t->pv[i * t->d + q] - cent[(size_t)as[i] * t->d + q];
			dd += e * e;
		}
		if (dd < c->bestd) {
			c->bestd = dd;
			c->best = (long)i;
		}
	}
	qsort(cl, k, sizeof *cl, cmp_cl);
	for (j = 0; j < k && nout < t->cap; j++) {
		struct img *x;
		if (cl[j].best < 0)
			continue;
		x = &t->im[t->pimg[cl[j].best]];
		x->picked = 1;
		x->reason = cl[j].has_label ? "typical-near-labelled" : "typical";
		out[nout++] = x;
	}
	free(cent);
	free(as);
	free(cl);
	return nout;
}

static void
summary(FILE *fp, const struct st *t, size_t nq)
{
	size_t i, k = t->m ? t->m->nclass : 0, nl = labels_count(t->l);
	char b[32];

	fprintf(fp, "what\tvalue\n");
	fprintf(fp, "strategy\t%s\n", snames[t->strat]);
	fprintf(fp, "queue\t%zu\n", nq);
	fprintf(fp, "labelled\t%zu\n", nl);
	if (t->m) {
		size_t *lc = xcalloc(k, sizeof *lc), other = 0;
		for (i = 0; i < nl; i++) {
			const char *c = labels_at(t->l, i)->cls;
			size_t j;
			for (j = 0; j < k && strcmp(t->m->classes[j], c) != 0; j++)
				;
			if (j < k)
				lc[j]++;
			else
				other++;
		}
		for (i = 0; i < k; i++)
			fprintf(fp, "labelled:%s\t%zu\n", t->m->classes[i], lc[i]);
		if (other)
			fprintf(fp, "labelled:(not a model class)\t%zu\n", other);
		free(lc);
	}
	fprintf(fp, "unlabelled\t%zu\n", t->n);
	if (t->m && t->n > 0) {
		for (i = 0; i < k; i++) {
			tsv_fmt_double(b, (double)t->pred_cnt[i] / (double)t->n);
			fprintf(fp, "predicted:%s\t%s\n", t->m->classes[i], b);
		}
		tsv_fmt_double(b, t->thresh);
		fprintf(fp, "confident_threshold\t%s\n", b);
		tsv_fmt_double(b, (double)t->nconf / (double)t->n);
		fprintf(fp, "confident_share\t%s\n", b);
		tsv_fmt_double(b, t->sum_margin / (double)t->n);
		fprintf(fp, "average_margin\t%s\n", b);
		tsv_fmt_double(b, t->m->cv_accuracy);
		fprintf(fp, "model_cv_accuracy\t%s\n", b);
		fprintf(fp, "model_train_size\t%zu\n", t->m->ntrain);
	}
}

static void
put_queue(const struct st *t, struct img **q, size_t nq)
{
	size_t i;
	char b[32];

	fputs("key\tpath\trank\tuncertainty\tclass\tconfidence\tmargin\treason\n", stdout);
	for (i = 0; i < nq; i++) {
		const struct img *x = q[i];
		tsv_put_field(stdout, x->key);
		putchar('\t');
		tsv_put_field(stdout, x->loc);
		printf("\t%zu\t", i + 1);
		if (x->cls >= 0) {
			tsv_fmt_double(b, x->unc);
			printf("%s\t%s\t", b, t->m->classes[x->cls]);
			tsv_fmt_double(b, x->conf);
			printf("%s\t", b);
			tsv_fmt_double(b, x->margin);
			printf("%s\t", b);
		} else {
			fputs("\t\t\t\t", stdout);
		}
		printf("%s\n", x->reason);
	}
}

int
main(int argc, char **argv)
{
	const char *mpath = NULL, *lpath = "labels.tsv", *epath = "-", *spath = NULL, *sname = NULL;
	struct st t;
	cs_model m;
	labels *l;
	emb_reader *er;
	struct img **q;
	char err[1024];
	size_t nq = 0, i;
	int ch, rc, status = CS_EXIT_OK;

	diag_init(argv[0]);
	memset(&t, 0, sizeof t);
	t.cap = 1000;
	t.batch = 100;
	t.poolf = 10;
	t.sample = 10000;
	t.thresh = 0.9;
	t.seed = 1;
	while ((ch = getopt(argc, argv, "b:l:m:n:o:P:R:S:s:t:")) != -1) {
		switch (ch) {
		case 'b': t.batch = (size_t)num_arg_ll("-b", optarg, 1, 100000); break;
		case 'l': lpath = optarg; break;
		case 'm': mpath = optarg; break;
		case 'n': t.cap = (size_t)num_arg_ll("-n", optarg, 1, 100000000); break;
		case 'o': spath = optarg; break;
		case 'P': t.poolf = (size_t)num_arg_ll("-P", optarg, 1, 1000); break;
		case 'R': t.sample = (size_t)num_arg_ll("-R", optarg, 10, 10000000); break;
		case 'S': t.seed = (unsigned long)num_arg_ll("-S", optarg, 0, 1LL << 62); break;
		case 's': sname = optarg; break;
		case 't': t.thresh = num_arg_d("-t", optarg, 0, 1); break;
		default: usage();
		}
	}
	if (argc - optind > 1)
		usage();
	if (argc - optind == 1)
		epath = argv[optind];
	t.strat = mpath ? S_DIVERSE : S_COLD;
	if (sname != NULL) {
		for (i = 0; i < 6 && strcmp(sname, snames[i]) != 0; i++)
			;
		if (i == 6)
			cs_die(CS_EXIT_USAGE, "-s: %s: want diverse, least, margin, entropy, random or cold", sname);
		t.strat = (enum strategy)i;
	}
	if (mpath == NULL && t.strat != S_COLD && t.strat != S_RANDOM)
		cs_die(CS_EXIT_USAGE, "-s %s needs a model (-m); without one use -s cold or -s random", snames[t.strat]);
	if (t.batch > t.cap)
		t.batch = t.cap;

	l = labels_new();
	if ((rc = labels_load(l, lpath, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);
	if (labels_nbad(l) > 0)
		status = CS_EXIT_PARTIAL;
	t.l = l;
	if ((er = emb_reader_open(epath, err, sizeof err)) == NULL)
		cs_die(CS_EXIT_DATA, "%s", err);
	t.d = emb_reader_stamp(er)->dim;
	if (mpath != NULL && t.strat != S_COLD) {
		if ((rc = model_load(&m, mpath, err, sizeof err)) != 0)
			cs_die(rc, "%s", err);
		t.m = &m;
		t.pred_cnt = xcalloc(m.nclass, sizeof *t.pred_cnt);
		if ((rc = predrows_run(&m, er, on_pred, &t, err, sizeof err)) != 0)
			cs_die(rc, "%s", err);
	} else if (t.strat == S_COLD) {
		if (read_cold(&t, er) < 0)
			cs_die(CS_EXIT_DATA, "%s", emb_reader_error(er));
	} else {
		emb_image img;
		while ((rc = emb_reader_next(er, &img)) == 1)
			if (labels_get(l, img.key) == NULL)
				add_img(&t, img.key, img.location);
		if (rc < 0)
			cs_die(CS_EXIT_DATA, "%s", emb_reader_error(er));
	}

	q = xcalloc(t.n + 1, sizeof *q);
	switch (t.strat) {
	case S_DIVERSE:
		nq = pick_diverse(&t, q);
		break;
	case S_COLD:
		nq = pick_cold(&t, q);
		break;
	default:
		for (i = 0; i < t.n; i++) {
			q[i] = &t.im[i];
			q[i]->reason = snames[t.strat];
		}
		qsort(q, t.n, sizeof *q, t.strat == S_RANDOM ? cmp_rnd : cmp_unc);
		nq = t.n < t.cap ? t.n : t.cap;
		break;
	}
	put_queue(&t, q, nq);

	if (spath != NULL) {
		outfile a;
		if ((rc = outfile_open(&a, spath, err, sizeof err)) != 0)
			cs_die(rc, "%s", err);
		summary(a.fp, &t, nq);
		if ((rc = outfile_commit(&a, err, sizeof err)) != 0)
			cs_die(rc, "%s", err);
	} else {
		summary(stderr, &t, nq);
	}
	for (i = 0; i < t.n; i++)
		free(t.im[i].loc);
	free(t.im);
	free(t.pv);
	free(t.pimg);
	free(t.pred_cnt);
	free(q);
	if (t.m)
		model_release(&m);
	emb_reader_close(er);
	labels_free(l);
	cs_fshut(stdout, "<stdout>");
	return status;
}
