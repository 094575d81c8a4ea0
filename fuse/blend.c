/* blend.c — reliability-weighted log-linear fusion of classifier, zero-shot and
 * cluster prior (blend.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blend.h"
#include "diag.h"
#include "exitcode.h"
#include "num.h"
#include "strhash.h"
#include "tsv.h"
#include "vec.h"
#include "xalloc.h"

#define EPS 1e-6
#define MIN_FIT 10

const char *const blend_signal_names[BLEND_NSIG] = { "classifier", "zeroshot", "cluster" };

void
blend_evidence(const double *p, size_t k, double *l)
{
	double m = 0;
	size_t j;

	for (j = 0; j < k; j++) {
		l[j] = log(p[j] > EPS ? p[j] : EPS);
		m += l[j];
	}
	m /= (double)k;
	for (j = 0; j < k; j++)
		l[j] -= m;
}

void
blend_apply(const blend *bl, const double *l, const unsigned char *have, double *p)
{
	double mx = -INFINITY;
	size_t j, k = bl->k;
	int sg;

	for (j = 0; j < k; j++) {
		double z;
		if (bl->single >= 0) {
			z = have[bl->single] ? l[(size_t)bl->single * k + j] : 0;
		} else {
			z = bl->b ? bl->b[j] : 0;
			for (sg = 0; sg < BLEND_NSIG; sg++)
				if (have[sg])
					z += bl->w[sg] * l[(size_t)sg * k + j];
		}
		p[j] = z;
		if (z > mx)
			mx = z;
	}
	cs_softmax_max(p, k, mx);
}

/* objective and gradient at theta = (w[3], b[k]) */
static double
objective(const double *th, const double *l, const unsigned char *have, const int *y, const size_t *rows,
    size_t n, size_t k, double lambda, double *g)
{
	double f = 0, *z = xcalloc(k, sizeof *z);
	size_t r, j;
	int s;

	if (g)
		memset(g, 0, (BLEND_NSIG + k) * sizeof *g);
	for (r = 0; r < n; r++) {
		size_t i = rows[r];
		const double *li = l + i * BLEND_NSIG * k;
		const unsigned char *hi = have + i * BLEND_NSIG;
		double mx = -INFINITY, sum = 0;
		for (j = 0; j < k; j++) {
			z[j] = th[BLEND_NSIG + j];
			for (s = 0; s < BLEND_NSIG; s++)
				if (hi[s])
					z[j] += th[s] * li[(size_t)s * k + j];
			if (z[j] > mx)
				mx = z[j];
		}
		for (j = 0; j < k; j++)
			sum += exp(z[j] - mx);
		f -= z[y[i]] - mx - log(sum);
		if (g) {
			for (j = 0; j < k; j++) {
				double d = exp(z[j] - mx) / sum - ((size_t)y[i] == j);
				g[BLEND_NSIG + j] += d;
				for (s = 0; s < BLEND_NSIG; s++)
					if (hi[s])
						g[s] += d * li[(size_t)s * k + j];
			}
		}
	}
	f /= (double)n;
	for (s = 0; s < BLEND_NSIG; s++)
		f += lambda / 2 * (th[s] - 1) * (th[s] - 1);
	for (j = 0; j < k; j++)
		f += lambda / 2 * th[BLEND_NSIG + j] * th[BLEND_NSIG + j];
	if (g) {
		for (j = 0; j < BLEND_NSIG + k; j++)
			g[j] /= (double)n;
		for (s = 0; s < BLEND_NSIG; s++)
			g[s] += lambda * (th[s] - 1);
		for (j = 0; j < k; j++)
			g[BLEND_NSIG + j] += lambda * th[BLEND_NSIG + j];
	}
	free(z);
	return f;
}

/* projected gradient descent with backtracking (w >= 0) */
static void
fit_rows(blend *bl, const double *l, const unsigned char *have, const int *y, const size_t *rows, size_t n, size_t k)
{
	size_t np = BLEND_NSIG + k, j;
	double *th = xcalloc(np, sizeof *th), *g = xcalloc(np, sizeof *g), *nt = xcalloc(np, sizeof *nt);
	double lambda = 1.0 / (double)(n ? n : 1), f, nf, t = 1.0;
	int it, s;

	for (s = 0; s < BLEND_NSIG; s++)
		th[s] = 1;
	f = objective(th, l, have, y, rows, n, k, lambda, g);
	for (it = 0; it < 500; it++) {
		double step2 = 0;
		for (;;) {
			step2 = 0;
			for (j = 0; j < np; j++) {
				nt[j] = th[j] - t * g[j];
				if (j < BLEND_NSIG && nt[j] < 0)
					nt[j] = 0;
				step2 += (nt[j] - th[j]) * (nt[j] - th[j]);
			}
			nf = objective(nt, l, have, y, rows, n, k, lambda, NULL);
			if (nf <= f - step2 / (2 * t) || t < 1e-12)
				break;
			t /= 2;
		}
		memcpy(th, nt, np * sizeof *th);
		f = objective(th, l, have, y, rows, n, k, lambda, g);
		t *= 1.5;
		if (step2 < 1e-16)
			break;
	}
	bl->k = k;
	for (s = 0; s < BLEND_NSIG; s++)
		bl->w[s] = th[s];
	free(bl->b);
	bl->b = xcalloc(k, sizeof *bl->b);
	for (j = 0; j < k; j++)
		bl->b[j] = th[BLEND_NSIG + j];
	bl->single = -1;
	free(th);
	free(g);
	free(nt);
}

void
blend_fit(blend *bl, const double *l, const unsigned char *have, const int *y, size_t n, size_t k)
{
	size_t *rows = xcalloc(n + 1, sizeof *rows), i;

	for (i = 0; i < n; i++)
		rows[i] = i;
	fit_rows(bl, l, have, y, rows, n, k);
	free(rows);
}

void
blend_release(blend *bl)
{
	free(bl->b);
	bl->b = NULL;
}

static size_t
argmax(const double *v, size_t k)
{
	size_t j, b = 0;

	for (j = 1; j < k; j++)
		if (v[j] > v[b])
			b = j;
	return b;
}

void
blend_cv(const double *l, const unsigned char *have, const int *y, size_t n, size_t k, int folds,
    unsigned long seed, double *acc_blend, double acc_single[BLEND_NSIG])
{
	size_t *perm = xcalloc(n + 1, sizeof *perm), *tr = xcalloc(n + 1, sizeof *tr), i, good = 0;
	double *p = xcalloc(k, sizeof *p);
	unsigned long s = seed * 0x9e3779b97f4a7c15UL + 7;
	int f, sg;

	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n; i > 1; i--) {
		size_t j, t;
		s = s * 6364136223846793005UL + 1442695040888963407UL;
		j = (size_t)(s >> 33) % i;
		t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	for (f = 0; f < folds; f++) {
		blend bl = { 0 };
		size_t ntr = 0;
		for (i = 0; i < n; i++)
			if ((int)(i % (size_t)folds) != f)
				tr[ntr++] = perm[i];
		fit_rows(&bl, l, have, y, tr, ntr, k);
		for (i = 0; i < n; i++) {
			size_t r = perm[i];
			if ((int)(i % (size_t)folds) != f)
				continue;
			blend_apply(&bl, l + r * BLEND_NSIG * k, have + r * BLEND_NSIG, p);
			good += argmax(p, k) == (size_t)y[r];
		}
		blend_release(&bl);
	}
	*acc_blend = n ? (double)good / (double)n : NAN;
	for (sg = 0; sg < BLEND_NSIG; sg++) {
		size_t m = 0, ok = 0;
		for (i = 0; i < n; i++) {
			if (!have[i * BLEND_NSIG + (size_t)sg])
				continue;
			m++;
			ok += argmax(l + (i * BLEND_NSIG + (size_t)sg) * k, k) == (size_t)y[i];
		}
		acc_single[sg] = m ? (double)ok / (double)m : NAN;
	}
	free(perm);
	free(tr);
	free(p);
}

/* ---- the three-input fuse --------------------------------------------- */

struct frow {
	char *key, *path;
	int zcls;               /* class index, -1 _uncertain, -2 _other */
	double zconf;
	int ccls, cprior;       /* cprior: 1 usable/unchecked, 0 unusable, -1 no row */
	double cconf;
	int pcls, label;        /* -1: none */
	double pconf;
	unsigned char have[BLEND_NSIG];
	double *l;              /* BLEND_NSIG x k evidence */
};

struct tab {
	struct frow *r;
	size_t n, cap;
	size_t *slot, nslot;
	char **cls;
	size_t k;
};

static size_t
findslot(const struct tab *t, const char *key)
{
	size_t m = t->nslot - 1, i = (size_t)cs_strhash(key) & m;

	while (t->slot[i] && strcmp(t->r[t->slot[i] - 1].key, key) != 0)
		i = (i + 1) & m;
	return i;
}

static void
regrow(struct tab *t)
{
	size_t i;

	t->nslot = t->nslot ? t->nslot * 2 : 1024;
	free(t->slot);
	t->slot = xcalloc(t->nslot, sizeof *t->slot);
	for (i = 0; i < t->n; i++)
		t->slot[findslot(t, t->r[i].key)] = i + 1;
}

static long
lookup(const struct tab *t, const char *key)
{
	size_t s = findslot(t, key);

	return t->slot[s] ? (long)t->slot[s] - 1 : -1;
}

static int
cls_index(const struct tab *t, const char *name)
{
	size_t j;

	for (j = 0; j < t->k; j++)
		if (strcmp(t->cls[j], name) == 0)
			return (int)j;
	return -1;
}

struct in {
	tsv_reader r;
	const char *name;
	int ikey, ipath, icls, iconf, iextra;
	int *pcol;
};

/* Open an input; its p_<class> columns must be the class set (or define it). */
static void
in_open(struct in *in, struct tab *t, const char *path, const char *const *cols, size_t ncols, int optional_p)
{
	int idx[5];
	size_t c, np = 0;

	memset(in, 0, sizeof *in);
	in->name = path;
	if (tsv_reader_open(&in->r, path) != 0)
		cs_die(CS_EXIT_DATA, "%s", in->r.err);
	if (tsv_reader_require(&in->r, cols, idx, ncols) != 0)
		cs_die(CS_EXIT_DATA, "%s", in->r.err);
	in->ikey = idx[0];
	in->ipath = idx[1];
	in->icls = idx[2];
	in->iconf = idx[3];
	in->iextra = ncols > 4 ? idx[4] : -1;
	for (c = 0; c < in->r.ncols; c++)
		np += strncmp(in->r.cols[c], "p_", 2) == 0;
	if (t->k == 0) {
		if (np < 2)
			cs_die(CS_EXIT_DATA, "%s:1: fewer than two p_<class> columns", path);
		t->cls = xcalloc(np, sizeof *t->cls);
		for (c = 0; c < in->r.ncols; c++)
			if (strncmp(in->r.cols[c], "p_", 2) == 0)
				t->cls[t->k++] = xstrdup(in->r.cols[c] + 2);
	}
	if (np == 0 && optional_p)
		return;
	if (np != t->k)
		cs_die(CS_EXIT_DATA, "%s:1: %zu p_<class> columns, but the zero-shot input has %zu classes "
		    "(mismatched class sets)", path, np, t->k);
	in->pcol = xcalloc(t->k, sizeof *in->pcol);
	for (c = 0; c < in->r.ncols; c++) {
		int j;
		if (strncmp(in->r.cols[c], "p_", 2) != 0)
			continue;
		if ((j = cls_index(t, in->r.cols[c] + 2)) < 0)
			cs_die(CS_EXIT_DATA, "%s:1: class '%s' is not among the zero-shot classes (mismatched class sets)",
			    path, in->r.cols[c] + 2);
		in->pcol[j] = (int)c;
	}
}

/* End of an input: its read error (rc < 0) is fatal. */
static void
in_close(struct in *in, int rc)
{
	if (rc < 0)
		cs_die(CS_EXIT_DATA, "%s", in->r.err);
	tsv_reader_release(&in->r);
	free(in->pcol);
}

/* The table row of the current input row's key, or -1 when the zero-shot input
 * (zpath) has none: counted in *unmatched, the first 20 warned about. */
static long
in_lookup(const struct in *in, const struct tab *t, const char *zpath, size_t *unmatched)
{
	long i = lookup(t, tsv_reader_field(&in->r, (size_t)in->ikey));

	if (i < 0 && (*unmatched)++ < 20)
		cs_warn("%s:%lu: key %s has no row in %s", in->name, in->r.lineno,
		    tsv_reader_field(&in->r, (size_t)in->ikey), zpath);
	return i;
}

static double
in_prob(struct in *in, int col)
{
	const char *e, *s = tsv_reader_field(&in->r, (size_t)col);
	double v = num_parse_d(s, 0.0, 1.0, &e);

	if (e)
		cs_die(CS_EXIT_DATA, "%s:%lu: '%s': %s (want a probability 0..1)", in->name, in->r.lineno, s, e);
	return v;
}

/* p row of the current line into out (k): its p_ columns, or, without them, conf on
 * its class and the rest spread evenly */
static void
in_probs(struct in *in, const struct tab *t, int cls, double conf, double *out)
{
	size_t j;

	if (in->pcol) {
		for (j = 0; j < t->k; j++)
			out[j] = in_prob(in, in->pcol[j]);
		return;
	}
	for (j = 0; j < t->k; j++)
		out[j] = cls < 0 ? 1.0 / (double)t->k : (int)j == cls ? conf : (1 - conf) / (double)(t->k - 1);
}

static int
in_class(struct in *in, const struct tab *t, int allow_special)
{
	const char *s = tsv_reader_field(&in->r, (size_t)in->icls);
	int c = cls_index(t, s);

	if (c >= 0)
		return c;
	if (allow_special && strcmp(s, "_uncertain") == 0)
		return -1;
	if (allow_special && strcmp(s, "_other") == 0)
		return -2;
	cs_die(CS_EXIT_DATA, "%s:%lu: unknown class '%s'", in->name, in->r.lineno, s);
}

static void
put(const char *key, const char *path, const char *cls, double conf, const char *by)
{
	char b[32];

	tsv_put_field(stdout, key);
	fputc('\t', stdout);
	tsv_put_field(stdout, path);
	tsv_fmt_double(b, conf);
	printf("\t%s\t%s\t%s\n", cls, b, by);
}

/* the zero-shot + cluster rule of the original workflow (as clipsort-fuse -m rule) */
static void
rule(const struct tab *t, const struct frow *w, double ratio)
{
	const char *zc = w->zcls >= 0 ? t->cls[w->zcls] : w->zcls == -2 ? "_other" : "_uncertain";

	if (w->cprior <= 0)
		put(w->key, w->path, zc, w->zconf, "zeroshot");
	else if (w->zcls == -1)
		put(w->key, w->path, t->cls[w->ccls], w->cconf, "cluster");
	else if (w->zcls == w->ccls)
		put(w->key, w->path, zc, w->zconf > w->cconf ? w->zconf : w->cconf, "agree");
	else if (w->zconf >= ratio * w->cconf)
		put(w->key, w->path, zc, w->zconf, "zeroshot");
	else if (w->cconf >= ratio * w->zconf)
		put(w->key, w->path, t->cls[w->ccls], w->cconf, "cluster");
	else
		put(w->key, w->path, "_uncertain", w->zconf > w->cconf ? w->zconf : w->cconf, "uncertain");
}

static size_t
read_inputs(struct tab *t, const char *zpath, const char *cpath, const char *ppath)
{
	static const char *const zc[] = { "key", "path", "class", "confidence" };
	static const char *const cc[] = { "key", "path", "class", "confidence", "prior" };
	static const char *const pc[] = { "key", "path", "class", "confidence", "label" };
	struct in in;
	double *p;
	size_t unmatched = 0;
	int rc;

	in_open(&in, t, zpath, zc, 4, 0);
	p = xcalloc(t->k, sizeof *p);
	while ((rc = tsv_reader_next(&in.r)) == 1) {
		const char *key = tsv_reader_field(&in.r, (size_t)in.ikey);
		struct frow *w;
		if (t->nslot == 0 || (t->n + 1) * 2 > t->nslot)
			regrow(t);
		if (lookup(t, key) >= 0)
			cs_die(CS_EXIT_DATA, "%s:%lu: duplicate key %s", zpath, in.r.lineno, key);
		xgrow(&t->r, &t->cap, t->n + 1, sizeof *t->r);
		w = &t->r[t->n];
		memset(w, 0, sizeof *w);
		w->key = xstrdup(key);
		w->path = xstrdup(tsv_reader_field(&in.r, (size_t)in.ipath));
		w->zcls = in_class(&in, t, 1);
		w->zconf = in_prob(&in, in.iconf);
		w->cprior = -1;
		w->pcls = w->label = -1;
		w->l = xcalloc(BLEND_NSIG * t->k, sizeof *w->l);
		in_probs(&in, t, w->zcls, w->zconf, p);
		blend_evidence(p, t->k, w->l + BLEND_ZEROSHOT * t->k);
		w->have[BLEND_ZEROSHOT] = 1;
		t->slot[findslot(t, key)] = ++t->n;
	}
	in_close(&in, rc);

	if (cpath != NULL) {
		in_open(&in, t, cpath, cc, 5, 1);
		while ((rc = tsv_reader_next(&in.r)) == 1) {
			long i = in_lookup(&in, t, zpath, &unmatched);
			const char *pr = tsv_reader_field(&in.r, (size_t)in.iextra);
			struct frow *w;
			if (i < 0)
				continue;
			w = &t->r[i];
			w->ccls = in_class(&in, t, 0);
			w->cconf = in_prob(&in, in.iconf);
			if (strcmp(pr, "unusable") == 0)
				w->cprior = 0;
			else if (strcmp(pr, "usable") == 0 || strcmp(pr, "unchecked") == 0)
				w->cprior = 1;
			else
				cs_die(CS_EXIT_DATA, "%s:%lu: prior '%s': want usable, unusable or unchecked", cpath,
				    in.r.lineno, pr);
			if (w->cprior > 0) {
				in_probs(&in, t, w->ccls, w->cconf, p);
				blend_evidence(p, t->k, w->l + BLEND_CLUSTER * t->k);
				w->have[BLEND_CLUSTER] = 1;
			}
		}
		in_close(&in, rc);
	}

	in_open(&in, t, ppath, pc, 5, 0);
	while ((rc = tsv_reader_next(&in.r)) == 1) {
		long i = in_lookup(&in, t, zpath, &unmatched);
		const char *lab = tsv_reader_field(&in.r, (size_t)in.iextra);
		struct frow *w;
		if (i < 0)
			continue;
		w = &t->r[i];
		w->pcls = in_class(&in, t, 0);
		w->pconf = in_prob(&in, in.iconf);
		if (*lab != '\0' && (w->label = cls_index(t, lab)) < 0)
			cs_die(CS_EXIT_DATA, "%s:%lu: label '%s' is not a class", ppath, in.r.lineno, lab);
		in_probs(&in, t, w->pcls, w->pconf, p);
		blend_evidence(p, t->k, w->l + BLEND_CLASSIFIER * t->k);
		w->have[BLEND_CLASSIFIER] = 1;
	}
	in_close(&in, rc);
	free(p);
	if (unmatched > 20)
		cs_warn("... %zu rows in all have no zero-shot row", unmatched);
	return unmatched;
}

int
blend_fuse(const char *zpath, const char *cpath, const char *ppath, int mode_learned, double ratio)
{
	struct tab t;
	blend bl = { 0 };
	size_t i, j, nl = 0, unmatched;
	double *l = NULL, *p;
	unsigned char *have = NULL;
	int *y = NULL;

	memset(&t, 0, sizeof t);
	unmatched = read_inputs(&t, zpath, cpath, ppath);
	p = xcalloc(t.k, sizeof *p);

	if (mode_learned) {
		for (i = 0; i < t.n; i++)
			nl += t.r[i].label >= 0;
		l = xcalloc(nl * BLEND_NSIG * t.k + 1, sizeof *l);
		have = xcalloc(nl * BLEND_NSIG + 1, 1);
		y = xcalloc(nl + 1, sizeof *y);
		for (i = 0, j = 0; i < t.n; i++) {
			if (t.r[i].label < 0)
				continue;
			memcpy(l + j * BLEND_NSIG * t.k, t.r[i].l, BLEND_NSIG * t.k * sizeof *l);
			memcpy(have + j * BLEND_NSIG, t.r[i].have, BLEND_NSIG);
			y[j++] = t.r[i].label;
		}
		bl.k = t.k;
		bl.single = -1;
		if (nl < MIN_FIT) {
			int s;
			for (s = 0; s < BLEND_NSIG; s++)
				bl.w[s] = 1;
			bl.b = xcalloc(t.k, sizeof *bl.b);
			fprintf(stderr, "%s: %zu labelled images (< %d): equal weights, not fitted\n", diag_prog(), nl,
			    MIN_FIT);
		} else {
			double ab, as[BLEND_NSIG];
			int s, best = -1;
			blend_cv(l, have, y, nl, t.k, nl >= 50 ? 5 : 2, 1, &ab, as);
			blend_fit(&bl, l, have, y, nl, t.k);
			for (s = 0; s < BLEND_NSIG; s++) {
				size_t m = 0;
				for (j = 0; j < nl; j++)
					m += have[j * BLEND_NSIG + (size_t)s];
				if (m == nl && (best < 0 || as[s] > as[best]))
					best = s;
			}
			fprintf(stderr, "%s: blend of %zu labelled images: weights classifier %.3f, zeroshot %.3f, "
			    "cluster %.3f\n", diag_prog(), nl, bl.w[0], bl.w[1], bl.w[2]);
			fprintf(stderr, "%s: out-of-fold accuracy: blend %.4f, classifier %.4f, zeroshot %.4f, cluster %.4f\n",
			    diag_prog(), ab, as[0], as[1], as[2]);
			if (best >= 0 && as[best] > ab) {
				bl.single = best;
				fprintf(stderr, "%s: decision: %s alone, more accurate out-of-fold (%.4f)\n", diag_prog(),
				    blend_signal_names[best], as[best]);
			} else {
				fprintf(stderr, "%s: decision: the blend (out-of-fold %.4f)\n", diag_prog(), ab);
			}
		}
	}

	fputs("key\tpath\tclass\tconfidence\tdecided_by\n", stdout);
	for (i = 0; i < t.n; i++) {
		struct frow *w = &t.r[i];
		if (w->label >= 0) {
			put(w->key, w->path, t.cls[w->label], 1.0, "label");
		} else if (!mode_learned) {
			if (w->pcls >= 0)
				put(w->key, w->path, t.cls[w->pcls], w->pconf, "classifier");
			else
				rule(&t, w, ratio);
		} else if (w->zcls == -2 && !w->have[BLEND_CLASSIFIER]) {
			put(w->key, w->path, "_other", w->zconf, "zeroshot");
		} else {
			size_t b;
			blend_apply(&bl, w->l, w->have, p);
			b = argmax(p, t.k);
			put(w->key, w->path, t.cls[b], p[b], bl.single >= 0 ? blend_signal_names[bl.single] : "blend");
		}
		if (ferror(stdout))
			cs_fshut(stdout, "<stdout>");
	}
	cs_fshut(stdout, "<stdout>");
	for (i = 0; i < t.n; i++) {
		free(t.r[i].key);
		free(t.r[i].path);
		free(t.r[i].l);
	}
	for (j = 0; j < t.k; j++)
		free(t.cls[j]);
	free(t.cls);
	free(t.r);
	free(t.slot);
	free(l);
	free(have);
	free(y);
	free(p);
	blend_release(&bl);
	return unmatched ? CS_EXIT_PARTIAL : CS_EXIT_OK;
}
