/* clipsort-train — train a classifier on the labelled images (clipsort-train(1)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classset.h"
#include "diag.h"
#include "emb.h"
#include "exitcode.h"
#include "fit.h"
#include "labels.h"
#include "model.h"
#include "outfile.h"
#include "num.h"
#include "xalloc.h"

#define MAX_MISSING_SHOWN 10

static _Noreturn void
usage(void)
{
	fprintf(stderr, "usage: clipsort-train [-Owq] [-s solver] [-C c] [-g gamma] [-k folds] [-m min] [-S seed]\n"
	    "                      [-c classes.tsv] [-l labels.tsv] [-r report] -o model embeddings\n");
	exit(CS_EXIT_USAGE);
}

struct opts {
	const char *out, *classes, *labels, *report, *emb;
	int original, quiet, min;
	fit_params fp;
};

/* The labelled rows: only these are read into memory. */
struct rows {
	size_t n, cap, d;
	float *x;
	int *y;
	char **keys;
};

static void
classes_from_texts(classset *cs, emb_reader *r)
{
	const emb_text *t;
	const char **names;
	size_t n = 0, i;

	if (emb_reader_texts(r, &t, &n) != 0 || n == 0) {
		memset(cs, 0, sizeof *cs);
		return;
	}
	names = xcalloc(n, sizeof *names);
	for (i = 0; i < n; i++)
		names[i] = t[i].cls;
	classset_from(cs, names, n);
	free(names);
}

static void
classes_from_labels(classset *cs, const labels *l)
{
	size_t i, n = labels_count(l);
	const char **names = xcalloc(n + 1, sizeof *names);

	for (i = 0; i < n; i++)
		names[i] = labels_at(l, i)->cls;
	classset_from(cs, names, n);
	free(names);
}

/* Stream the embeddings; keep the rows whose key has a usable label.
 * used[i]: label i of the view matched an image. */
static int
read_labelled(emb_reader *r, const labels *l, const int *lclass, struct rows *rw, unsigned char *used)
{
	emb_image img;
	int rc;
	size_t d = emb_reader_stamp(r)->dim;

	rw->d = d;
	while ((rc = emb_reader_next(r, &img)) == 1) {
		const labels_entry *e = labels_get(l, img.key);
		size_t li;
		if (e == NULL)
			continue;
		li = (size_t)(e - labels_at(l, 0));
		if (lclass[li] < 0 || used[li])
			continue;
		used[li] = 1;
		if (rw->n == rw->cap) {
			rw->cap = rw->cap ? rw->cap * 2 : 256;
			rw->x = xreallocarray(rw->x, rw->cap, d * sizeof *rw->x);
			rw->y = xreallocarray(rw->y, rw->cap, sizeof *rw->y);
			rw->keys = xreallocarray(rw->keys, rw->cap, sizeof *rw->keys);
		}
		memcpy(rw->x + rw->n * d, img.vec, d * sizeof *rw->x);
		rw->y[rw->n] = lclass[li];
		rw->keys[rw->n] = xstrdup(img.key);
		rw->n++;
	}
	return rc;
}

static void
report(FILE *fp, const struct opts *o, const cs_model *m, const fit_result *res, const struct rows *rw)
{
	size_t k = m->nclass, i, j, *conf = xcalloc(k * k, sizeof *conf), *cnt = xcalloc(k, sizeof *cnt);

	fprintf(fp, "training set: %zu labelled images, %zu classes, dim %u\n", rw->n, k, m->stamp.dim);
	fprintf(fp, "solver: %s%s%s, C = %g", model_solver_name(m->solver), o->original ? " (original workflow: C = 1)" : "",
	    m->balanced ? ", balanced class weights" : "", m->C);
	if (m->solver == SOLVER_SVM_RBF)
		fprintf(fp, ", gamma = %g", m->gamma);
	fputc('\n', fp);
	if (res->grid_acc != NULL) {
		fprintf(fp, "C chosen by %d-fold cross-validation (calibrated out-of-fold log-loss):\n", m->folds);
		fprintf(fp, "  %10s  %8s  %8s\n", "C", "accuracy", "log-loss");
		for (i = 0; i < o->fp.ngrid; i++)
			fprintf(fp, "  %10g  %8.4f  %8.4f%s\n", o->fp.grid[i], res->grid_acc[i], res->grid_logloss[i],
			    o->fp.grid[i] == m->C ? "  <" : "");
	}
	fprintf(fp, "%d-fold cross-validated accuracy: %.4f\n", m->folds, res->cv_accuracy);
	fprintf(fp, "calibration: temperature %.4f; out-of-fold log-loss %.4f -> %.4f, ECE %.4f -> %.4f\n",
	    res->temperature, res->raw_logloss, res->cv_logloss, res->ece_raw, res->ece_cal);
	for (i = 0; i < rw->n; i++) {
		size_t best = 0;
		for (j = 1; j < k; j++)
			if (res->oof_p[i * k + j] > res->oof_p[i * k + best])
				best = j;
		conf[(size_t)rw->y[i] * k + best]++;
		cnt[rw->y[i]]++;
	}
	fprintf(fp, "%-24s %7s %9s %7s\n", "class", "labels", "precision", "recall");
	for (i = 0; i < k; i++) {
		size_t tp = conf[i * k + i], pred = 0;
		for (j = 0; j < k; j++)
			pred += conf[j * k + i];
		fprintf(fp, "%-24s %7zu %9.4f %7.4f\n", m->classes[i], cnt[i], pred ? (double)tp / (double)pred : 0.0,
		    cnt[i] ? (double)tp / (double)cnt[i] : 0.0);
	}
	fprintf(fp, "confusion matrix (rows: label, columns: predicted out-of-fold):\n%-24s", "");
	for (j = 0; j < k; j++)
		fprintf(fp, " %8.8s", m->classes[j]);
	fputc('\n', fp);
	for (i = 0; i < k; i++) {
		fprintf(fp, "%-24s", m->classes[i]);
		for (j = 0; j < k; j++)
			fprintf(fp, " %8zu", conf[i * k + j]);
		fputc('\n', fp);
	}
	free(conf);
	free(cnt);
}

static char **sort_keys;

static int
cmpidx(const void *a, const void *b)
{
	return strcmp(sort_keys[*(const size_t *)a], sort_keys[*(const size_t *)b]);
}

static void
parse(int argc, char **argv, struct opts *o)
{
	int ch;

	memset(o, 0, sizeof *o);
	fit_params_default(&o->fp);
	o->labels = "labels.tsv";
	o->min = 10;
	while ((ch = getopt(argc, argv, "C:c:g:k:l:m:Oo:qr:S:s:w")) != -1) {
		switch (ch) {
		case 'C': o->fp.C = num_arg_d("-C", optarg, 1e-6, 1e9); break;
		case 'c': o->classes = optarg; break;
		case 'g': o->fp.gamma = num_arg_d("-g", optarg, 1e-9, 1e9); break;
		case 'k': o->fp.folds = (int)num_arg_ll("-k", optarg, 2, 100); break;
		case 'l': o->labels = optarg; break;
		case 'm': o->min = (int)num_arg_ll("-m", optarg, 2, 1000000000); break;
		case 'O': o->original = 1; break;
		case 'o': o->out = optarg; break;
		case 'q': o->quiet = 1; break;
		case 'r': o->report = optarg; break;
		case 'S': o->fp.seed = (unsigned long)num_arg_ll("-S", optarg, 0, 1LL << 62); break;
		case 's':
			if (strcmp(optarg, "logreg") == 0)
				o->fp.solver = SOLVER_LOGREG;
			else if (strcmp(optarg, "svm-linear") == 0)
				o->fp.solver = SOLVER_SVM_LINEAR;
			else if (strcmp(optarg, "svm-rbf") == 0)
				o->fp.solver = SOLVER_SVM_RBF;
			else
				cs_die(CS_EXIT_USAGE, "-s: %s: want logreg, svm-linear or svm-rbf", optarg);
			break;
		case 'w': o->fp.balanced = 1; break;
		default: usage();
		}
	}
	if (argc - optind != 1 || o->out == NULL)
		usage();
	o->emb = argv[optind];
	if (o->original) {
		/* scikit-learn LogisticRegression(C=1): an unpenalised-in-effect intercept
		 * (bias feature 10, so its penalty is 1/100 of a weight's), tight tolerance */
		if (o->fp.solver != SOLVER_LOGREG)
			cs_die(CS_EXIT_USAGE, "-O trains logistic regression; it cannot be combined with -s %s",
			    model_solver_name(o->fp.solver));
		if (o->fp.C == 0)
			o->fp.C = 1;
		o->fp.bias = 10;
		o->fp.eps = 1e-4;
		o->fp.calibrate = 0;
	}
}

int
main(int argc, char **argv)
{
	struct opts o;
	char err[1024];
	emb_reader *er;
	labels *l;
	classset cs;
	int *lclass, rc, status = CS_EXIT_OK;
	unsigned char *used;
	size_t i, nl, missing = 0, *cnt;
	struct rows rw;
	cs_model m;
	fit_result res;
	fit_data fd;

	diag_init(argv[0]);
	parse(argc, argv, &o);

	if ((er = emb_reader_open(o.emb, err, sizeof err)) == NULL)
		cs_die(CS_EXIT_DATA, "%s", err);
	l = labels_new();
	if ((rc = labels_load(l, o.labels, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);
	if (labels_nbad(l) > 0)
		status = CS_EXIT_PARTIAL;
	if (o.classes != NULL) {
		if ((rc = classset_read(&cs, o.classes, err, sizeof err)) != 0)
			cs_die(rc, "%s", err);
	} else {
		classes_from_texts(&cs, er);
		if (cs.n == 0)
			classes_from_labels(&cs, l);
	}
	if (cs.n < 2)
		cs_die(CS_EXIT_DATA, "need at least 2 classes, have %zu%s", cs.n,
		    o.classes ? "" : " (pass -c classes.tsv, or label images of a second class)");

	nl = labels_count(l);
	lclass = xcalloc(nl + 1, sizeof *lclass);
	used = xcalloc(nl + 1, 1);
	for (i = 0; i < nl; i++) {
		const labels_entry *e = labels_at(l, i);
		lclass[i] = classset_find(&cs, e->cls);
		if (lclass[i] < 0) {
			cs_warn("%s:%lu: class '%s' is not %s; label ignored", o.labels, e->lineno, e->cls,
			    o.classes ? "in the classes file" : "a class of the embeddings' prompts");
			status = CS_EXIT_PARTIAL;
		}
	}
	memset(&rw, 0, sizeof rw);
	if (read_labelled(er, l, lclass, &rw, used) < 0)
		cs_die(CS_EXIT_DATA, "%s", emb_reader_error(er));
	for (i = 0; i < nl; i++) {
		if (lclass[i] >= 0 && !used[i]) {
			const labels_entry *e = labels_at(l, i);
			if (missing < MAX_MISSING_SHOWN)
				cs_warn("%s:%lu: key %s is not in %s; label ignored", o.labels, e->lineno, e->key, o.emb);
			missing++;
		}
	}
	if (missing > 0) {
		if (missing > MAX_MISSING_SHOWN)
			cs_warn("... %zu labels in all name keys not in %s", missing, o.emb);
		status = CS_EXIT_PARTIAL;
	}

	/* the minimum: enough labels, and every class present */
	cnt = xcalloc(cs.n, sizeof *cnt);
	for (i = 0; i < rw.n; i++)
		cnt[rw.y[i]]++;
	{
		char why[2048] = "";
		size_t c, off = 0, absent = 0;
		for (c = 0; c < cs.n; c++) {
			if (cnt[c] == 0 && off < sizeof why - 100) {
				off += (size_t)snprintf(why + off, sizeof why - off, "%s'%s'", absent ? ", " : "", cs.names[c]);
				absent++;
			}
		}
		if (rw.n < (size_t)o.min || absent > 0) {
			free(cnt);
			cs_die(CS_EXIT_DATA, "cannot train: %zu usable labels (need at least %d)%s%s%s", rw.n, o.min,
			    absent ? "; no labels for class" : "", absent > 1 ? "es " : absent ? " " : "", why);
		}
	}

	memset(&m, 0, sizeof m);
	emb_stamp_copy(&m.stamp, emb_reader_stamp(er));
	m.nclass = cs.n;
	m.classes = xcalloc(cs.n, sizeof *m.classes);
	for (i = 0; i < cs.n; i++)
		m.classes[i] = xstrdup(cs.names[i]);
	m.original = o.original;
	fd.n = rw.n;
	fd.d = rw.d;
	fd.k = cs.n;
	fd.x = rw.x;
	fd.y = rw.y;
	if ((rc = fit_train(&fd, &o.fp, &m, &res, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);

	/* keep the out-of-fold probabilities, sorted by key */
	{
		size_t *idx = xcalloc(rw.n, sizeof *idx), j;
		for (i = 0; i < rw.n; i++)
			idx[i] = i;
		sort_keys = rw.keys;
		qsort(idx, rw.n, sizeof *idx, cmpidx);
		m.noof = rw.n;
		m.oof = xcalloc(rw.n, sizeof *m.oof);
		m.oof_p = xcalloc(rw.n * cs.n, sizeof *m.oof_p);
		for (i = 0; i < rw.n; i++) {
			m.oof[i].key = xstrdup(rw.keys[idx[i]]);
			m.oof[i].label = rw.y[idx[i]];
			for (j = 0; j < cs.n; j++)
				m.oof_p[i * cs.n + j] = res.oof_p[idx[i] * cs.n + j];
		}
		free(idx);
	}
	if ((rc = model_save(&m, o.out, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);

	if (o.report != NULL) {
		outfile a;
		if ((rc = outfile_open(&a, o.report, err, sizeof err)) != 0)
			cs_die(rc, "%s", err);
		report(a.fp, &o, &m, &res, &rw);
		if ((rc = outfile_commit(&a, err, sizeof err)) != 0)
			cs_die(rc, "%s", err);
	} else if (!o.quiet) {
		report(stderr, &o, &m, &res, &rw);
	}

	fit_result_release(&res);
	model_release(&m);
	for (i = 0; i < rw.n; i++)
		free(rw.keys[i]);
	free(rw.keys);
	free(rw.x);
	free(rw.y);
	free(cnt);
	free(lclass);
	free(used);
	classset_release(&cs);
	labels_free(l);
	emb_reader_close(er);
	cs_fshut(stdout, "<stdout>");
	return status;
}
