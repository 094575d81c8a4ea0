/* fit.c — cross-validated training with liblinear / libsvm (fit.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libsvm/svm.h>
#include <linear.h>

#include "exitcode.h"
#include "fit.h"
#include "rng.h"
#include "xalloc.h"

static const double default_grid[] = { 0.1, 1, 10, 100, 1000 };

static void
quiet(const char *s)
{
	(void)s;    /* the solvers print progress to stdout otherwise */
}

void
fit_params_default(fit_params *p)
{
	memset(p, 0, sizeof *p);
	p->solver = SOLVER_LOGREG;
	p->grid = default_grid;
	p->ngrid = sizeof default_grid / sizeof *default_grid;
	p->bias = 1;
	p->folds = 5;
	p->seed = 1;
	p->calibrate = 1;
}

/* ---- solver input: only the labelled rows, converted once ------------- */

struct solver_in {
	const fit_data *data;
	const fit_params *p;
	struct feature_node *lnodes;    /* n x (d + 2) */
	struct svm_node *snodes;        /* n x (d + 1) */
	double gamma;
};

static void
solver_in_init(struct solver_in *s, const fit_data *data, const fit_params *p)
{
	size_t i, j, d = data->d, w;

	memset(s, 0, sizeof *s);
	s->data = data;
	s->p = p;
	if (p->solver == SOLVER_LOGREG) {
		w = d + 2;
		s->lnodes = xcalloc(data->n * w, sizeof *s->lnodes);
		for (i = 0; i < data->n; i++) {
			struct feature_node *f = s->lnodes + i * w;
			for (j = 0; j < d; j++) {
				f[j].index = (int)j + 1;
				f[j].value = data->x[i * d + j];
			}
			if (p->bias >= 0) {
				f[d].index = (int)d + 1;
				f[d].value = p->bias;
				f[d + 1].index = -1;
			} else {
				f[d].index = -1;
			}
		}
	} else {
		w = d + 1;
		s->snodes = xcalloc(data->n * w, sizeof *s->snodes);
		for (i = 0; i < data->n; i++) {
			struct svm_node *f = s->snodes + i * w;
			for (j = 0; j < d; j++) {
				f[j].index = (int)j + 1;
				f[j].value = data->x[i * d + j];
			}
			f[d].index = -1;
		}
		s->gamma = p->gamma;
		if (!(s->gamma > 0)) {
			/* 1 / (d * var(x)) over all entries, as scikit-learn's gamma="scale" */
			double sum = 0, sq = 0, nn = (double)data->n * (double)d, var;
			for (i = 0; i < data->n * d; i++) {
				sum += data->x[i];
				sq += (double)data->x[i] * data->x[i];
			}
			var = sq / nn - (sum / nn) * (sum / nn);
			s->gamma = var > 0 ? 1.0 / ((double)d * var) : 1.0;
		}
	}
}

static void
solver_in_release(struct solver_in *s)
{
	free(s->lnodes);
	free(s->snodes);
}

/* class weights n / (k n_c) over the training rows */
static void
class_weights(const fit_data *data, const size_t *rows, size_t nrows, int *lab, double *wt)
{
	size_t c, i, *cnt = xcalloc(data->k, sizeof *cnt);

	for (i = 0; i < nrows; i++)
		cnt[data->y[rows[i]]]++;
	for (c = 0; c < data->k; c++) {
		lab[c] = (int)c;
		wt[c] = cnt[c] ? (double)nrows / ((double)data->k * (double)cnt[c]) : 1.0;
	}
	free(cnt);
}

/* A trained solver model, either kind. */
struct trained {
	struct model *lin;
	struct svm_model *svm;
	struct svm_problem sprob;   /* libsvm keeps pointers into it */
	double *sy;
	struct svm_node **sx;
};

static void
trained_release(struct trained *t)
{
	if (t->lin)
		free_and_destroy_model(&t->lin);
	if (t->svm)
		svm_free_and_destroy_model(&t->svm);
	free(t->sy);
	free(t->sx);
	memset(t, 0, sizeof *t);
}

static int
train_rows(const struct solver_in *s, const size_t *rows, size_t nrows, double C, struct trained *t,
    char *err, size_t errlen)
{
	const fit_data *data = s->data;
	const fit_params *p = s->p;
	int *lab = xcalloc(data->k, sizeof *lab);
	double *wt = xcalloc(data->k, sizeof *wt);
	size_t i;
	const char *msg;

	memset(t, 0, sizeof *t);
	if (p->balanced)
		class_weights(data, rows, nrows, lab, wt);
	if (p->solver == SOLVER_LOGREG) {
		struct problem prob;
		struct parameter par;
		struct feature_node **x = xcalloc(nrows, sizeof *x);
		double *y = xcalloc(nrows, sizeof *y);

		for (i = 0; i < nrows; i++) {
			x[i] = s->lnodes + rows[i] * (data->d + 2);
			y[i] = data->y[rows[i]];
		}
		memset(&prob, 0, sizeof prob);
		prob.l = (int)nrows;
		prob.n = (int)data->d + (p->bias >= 0 ? 1 : 0);
		prob.x = x;
		prob.y = y;
		prob.bias = p->bias;
		memset(&par, 0, sizeof par);
		par.solver_type = L2R_LR;
		par.C = C;
		par.eps = p->eps > 0 ? p->eps : 0.01;
		par.p = 0.1;
		if (p->balanced) {
			par.nr_weight = (int)data->k;
			par.weight_label = lab;
			par.weight = wt;
		}
		if ((msg = check_parameter(&prob, &par)) != NULL) {
			snprintf(err, errlen, "liblinear: %s", msg);
			free(x), free(y), free(lab), free(wt);
			return CS_EXIT_INTERNAL;
		}
		set_print_string_function(quiet);
		t->lin = train(&prob, &par);
		free(x);
		free(y);
	} else {
		struct svm_parameter par;

		t->sx = xcalloc(nrows, sizeof *t->sx);
		t->sy = xcalloc(nrows, sizeof *t->sy);
		for (i = 0; i < nrows; i++) {
			t->sx[i] = s->snodes + rows[i] * (data->d + 1);
			t->sy[i] = data->y[rows[i]];
		}
		t->sprob.l = (int)nrows;
		t->sprob.x = t->sx;
		t->sprob.y = t->sy;
		memset(&par, 0, sizeof par);
		par.svm_type = C_SVC;
		par.kernel_type = p->solver == SOLVER_SVM_RBF ? RBF : LINEAR;
		par.gamma = s->gamma;
		par.C = C;
		par.eps = p->eps > 0 ? p->eps : 1e-3;
		par.cache_size = 200;
		par.shrinking = 1;
		par.probability = 1;
		if (p->balanced) {
			par.nr_weight = (int)data->k;
			par.weight_label = lab;
			par.weight = wt;
		}
		if ((msg = svm_check_parameter(&t->sprob, &par)) != NULL) {
			snprintf(err, errlen, "libsvm: %s", msg);
			free(lab), free(wt);
			trained_release(t);
			return CS_EXIT_INTERNAL;
		}
		svm_set_print_string_function(quiet);
		t->svm = svm_train(&t->sprob, &par);
		if (t->svm != NULL && !svm_check_probability_model(t->svm)) {
			/* too few rows for libsvm's internal probability fit */
			snprintf(err, errlen, "libsvm: could not fit probability outputs (too few labels per class)");
			free(lab), free(wt);
			trained_release(t);
			return CS_EXIT_DATA;
		}
	}
	free(lab);
	free(wt);
	if (t->lin == NULL && t->svm == NULL) {
		snprintf(err, errlen, "solver failed");
		return CS_EXIT_INTERNAL;
	}
	return 0;
}

/* Raw probabilities (k per row, in class-index order) of rows with t. */
static void
predict_rows(const struct solver_in *s, const struct trained *t, const size_t *rows, size_t nrows, double *out)
{
	size_t k = s->data->k, i, j;
	int nl, *lab;
	double *pr;

	nl = t->lin ? get_nr_class(t->lin) : svm_get_nr_class(t->svm);
	lab = xcalloc((size_t)nl, sizeof *lab);
	pr = xcalloc((size_t)nl, sizeof *pr);
	if (t->lin)
		get_labels(t->lin, lab);
	else
		svm_get_labels(t->svm, lab);
	for (i = 0; i < nrows; i++) {
		double *o = out + i * k;
		for (j = 0; j < k; j++)
			o[j] = 0;
		if (nl == 1) {
			o[lab[0]] = 1;
			continue;
		}
		if (t->lin)
			predict_probability(t->lin, s->lnodes + rows[i] * (s->data->d + 2), pr);
		else
			svm_predict_probability(t->svm, s->snodes + rows[i] * (s->data->d + 1), pr);
		for (j = 0; j < (size_t)nl; j++)
			o[lab[j]] = pr[j];
	}
	free(lab);
	free(pr);
}

/* ---- folds and metrics ------------------------------------------------ */

/* stratified: rows of each class shuffled, then dealt round-robin to folds */
static void
make_folds(const fit_data *data, int folds, unsigned long seed, int *fold)
{
	size_t i, c, *perm = xcalloc(data->n, sizeof *perm), next = 0;
	uint64_t s = (uint64_t)seed * 2654435761UL + 17;

	for (i = 0; i < data->n; i++)
		perm[i] = i;
	for (i = data->n; i > 1; i--) {
		size_t j = (size_t)(cs_splitmix64(&s) % i), t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	for (c = 0; c < data->k; c++)
		for (i = 0; i < data->n; i++)
			if ((size_t)data->y[perm[i]] == c)
				fold[perm[i]] = (int)(next++ % (size_t)folds);
	free(perm);
}

double
fit_logloss(const double *p, const int *y, size_t n, size_t k)
{
	double s = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		double q = p[i * k + (size_t)y[i]];
		s -= log(q > 1e-15 ? q : 1e-15);
	}
	return n ? s / (double)n : 0;
}

static double
accuracy(const double *p, const int *y, size_t n, size_t k)
{
	size_t i, j, good = 0;

	for (i = 0; i < n; i++) {
		size_t best = 0;
		for (j = 1; j < k; j++)
			if (p[i * k + j] > p[i * k + best])
				best = j;
		good += best == (size_t)y[i];
	}
	return n ? (double)good / (double)n : 0;
}

double
fit_ece(const double *p, const int *y, size_t n, size_t k, int bins)
{
	double *conf = xcalloc((size_t)bins, sizeof *conf), *hit = xcalloc((size_t)bins, sizeof *hit), e = 0;
	size_t *cnt = xcalloc((size_t)bins, sizeof *cnt), i, j;
	int b;

	for (i = 0; i < n; i++) {
		size_t best = 0;
		for (j = 1; j < k; j++)
			if (p[i * k + j] > p[i * k + best])
				best = j;
		b = (int)(p[i * k + best] * bins);
		if (b >= bins)
			b = bins - 1;
		conf[b] += p[i * k + best];
		hit[b] += best == (size_t)y[i];
		cnt[b]++;
	}
	for (b = 0; b < bins; b++)
		if (cnt[b])
			e += fabs(conf[b] - hit[b]);
	free(conf);
	free(hit);
	free(cnt);
	return n ? e / (double)n : 0;
}

static double
tloss(const double *p, const int *y, size_t n, size_t k, double T)
{
	double *row = xcalloc(k, sizeof *row), s = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		memcpy(row, p + i * k, k * sizeof *row);
		model_calibrate(row, k, T);
		s -= log(row[y[i]] > 1e-15 ? row[y[i]] : 1e-15);
	}
	free(row);
	return s;
}

double
fit_temperature(const double *p, const int *y, size_t n, size_t k)
{
	/* golden-section search on log T in [log 0.02, log 50]; the loss is unimodal in T */
	double a = log(0.02), b = log(50), g = (sqrt(5) - 1) / 2, c, d, fc, fd;
	int it;

	c = b - g * (b - a);
	d = a + g * (b - a);
	fc = tloss(p, y, n, k, exp(c));
	fd = tloss(p, y, n, k, exp(d));
	for (it = 0; it < 60; it++) {
		if (fc < fd) {
			b = d;
			d = c;
			fd = fc;
			c = b - g * (b - a);
			fc = tloss(p, y, n, k, exp(c));
		} else {
			a = c;
			c = d;
			fc = fd;
			d = a + g * (b - a);
			fd = tloss(p, y, n, k, exp(d));
		}
	}
	return exp((a + b) / 2);
}

/* Out-of-fold raw probabilities at C. */
static int
cross_val(const struct solver_in *s, const int *fold, int folds, double C, double *oof, char *err, size_t errlen)
{
	const fit_data *data = s->data;
	size_t *tr = xcalloc(data->n, sizeof *tr), *te = xcalloc(data->n, sizeof *te), ntr, nte, i, j;
	double *pp = xcalloc(data->n * data->k, sizeof *pp);
	int f, rc = 0;

	for (f = 0; f < folds && rc == 0; f++) {
		struct trained t;
		ntr = nte = 0;
		for (i = 0; i < data->n; i++) {
			if (fold[i] == f)
				te[nte++] = i;
			else
				tr[ntr++] = i;
		}
		if (nte == 0 || ntr == 0)
			continue;
		if ((rc = train_rows(s, tr, ntr, C, &t, err, errlen)) != 0)
			break;
		predict_rows(s, &t, te, nte, pp);
		for (i = 0; i < nte; i++)
			for (j = 0; j < data->k; j++)
				oof[te[i] * data->k + j] = pp[i * data->k + j];
		trained_release(&t);
	}
	free(tr);
	free(te);
	free(pp);
	return rc;
}

/* Copy the final solver model into m. */
static void
export_model(const struct solver_in *s, struct trained *t, cs_model *m, char *err, size_t errlen)
{
	size_t k = s->data->k, d = s->data->d, j;
	int l, nl;

	(void)err;
	(void)errlen;
	if (t->lin) {
		int *lab;
		nl = get_nr_class(t->lin);
		lab = xcalloc((size_t)nl, sizeof *lab);
		get_labels(t->lin, lab);
		m->w = xcalloc(k * (d + 1), sizeof *m->w);
		/* a class the solver never saw scores -inf-like: large negative bias */
		for (j = 0; j < k; j++)
			m->w[j * (d + 1) + d] = -50.0f;
		for (l = 0; l < nl; l++) {
			float *row = m->w + (size_t)lab[l] * (d + 1);
			for (j = 0; j < d; j++)
				row[j] = (float)get_decfun_coef(t->lin, (int)j + 1, l);
			row[d] = (float)get_decfun_bias(t->lin, l);
		}
		free(lab);
	} else {
		char tmpl[] = "/tmp/clipsort-svm.XXXXXX";
		int fd = mkstemp(tmpl);
		FILE *fp;
		long len;

		if (fd >= 0)
			close(fd);
		if (fd < 0 || svm_save_model(tmpl, t->svm) != 0 || (fp = fopen(tmpl, "r")) == NULL) {
			unlink(tmpl);
			m->svm_text = NULL;
			return;
		}
		fseek(fp, 0, SEEK_END);
		len = ftell(fp);
		rewind(fp);
		m->svm_text = xmalloc((size_t)len + 1);
		if (fread(m->svm_text, 1, (size_t)len, fp) != (size_t)len)
			len = 0;
		m->svm_text[len] = '\0';
		fclose(fp);
		unlink(tmpl);
	}
}

int
fit_train(const fit_data *data, const fit_params *p, cs_model *m, fit_result *res, char *err, size_t errlen)
{
	struct solver_in s;
	struct trained t;
	size_t g, i, *all;
	double *oof, best = INFINITY;
	int rc = 0, folds = p->folds;

	memset(res, 0, sizeof *res);
	solver_in_init(&s, data, p);
	res->gamma = s.gamma;
	res->fold = xcalloc(data->n, sizeof *res->fold);
	oof = xcalloc(data->n * data->k, sizeof *oof);
	res->oof_p = xcalloc(data->n * data->k, sizeof *res->oof_p);
	if ((size_t)folds > data->n)
		folds = (int)data->n;
	make_folds(data, folds, p->seed, res->fold);

	if (p->C > 0) {
		res->C = p->C;
		rc = cross_val(&s, res->fold, folds, res->C, res->oof_p, err, errlen);
	} else {
		res->grid_acc = xcalloc(p->ngrid, sizeof *res->grid_acc);
		res->grid_logloss = xcalloc(p->ngrid, sizeof *res->grid_logloss);
		for (g = 0; g < p->ngrid && rc == 0; g++) {
			if ((rc = cross_val(&s, res->fold, folds, p->grid[g], oof, err, errlen)) != 0)
				break;
			res->grid_acc[g] = accuracy(oof, data->y, data->n, data->k);
			/* selection by the calibrated out-of-fold log-loss: a proper score,
			 * smoother than accuracy on few labels */
			{
				double T = fit_temperature(oof, data->y, data->n, data->k), ll;
				double *c = xcalloc(data->n * data->k, sizeof *c);
				memcpy(c, oof, data->n * data->k * sizeof *c);
				for (i = 0; i < data->n; i++)
					model_calibrate(c + i * data->k, data->k, T);
				ll = fit_logloss(c, data->y, data->n, data->k);
				free(c);
				res->grid_logloss[g] = ll;
				if (ll < best - 1e-12) {
					best = ll;
					res->C = p->grid[g];
					memcpy(res->oof_p, oof, data->n * data->k * sizeof *oof);
				}
			}
		}
	}
	free(oof);
	if (rc != 0) {
		solver_in_release(&s);
		return rc;
	}
	res->raw_logloss = fit_logloss(res->oof_p, data->y, data->n, data->k);
	res->ece_raw = fit_ece(res->oof_p, data->y, data->n, data->k, 10);
	res->temperature = p->calibrate ? fit_temperature(res->oof_p, data->y, data->n, data->k) : 1.0;
	for (i = 0; i < data->n; i++)
		model_calibrate(res->oof_p + i * data->k, data->k, res->temperature);
	res->cv_accuracy = accuracy(res->oof_p, data->y, data->n, data->k);
	res->cv_logloss = fit_logloss(res->oof_p, data->y, data->n, data->k);
	res->ece_cal = fit_ece(res->oof_p, data->y, data->n, data->k, 10);

	all = xcalloc(data->n, sizeof *all);
	for (i = 0; i < data->n; i++)
		all[i] = i;
	rc = train_rows(&s, all, data->n, res->C, &t, err, errlen);
	free(all);
	if (rc == 0) {
		m->solver = p->solver;
		m->C = res->C;
		m->gamma = p->solver == SOLVER_SVM_RBF ? s.gamma : 0;
		m->bias = p->solver == SOLVER_LOGREG ? p->bias : -1;
		m->balanced = p->balanced;
		m->folds = folds;
		m->cv_accuracy = res->cv_accuracy;
		m->cv_logloss = res->cv_logloss;
		m->temperature = res->temperature;
		m->ntrain = data->n;
		export_model(&s, &t, m, err, errlen);
		if (!t.lin) {
			if (m->svm_text == NULL) {
				snprintf(err, errlen, "cannot serialise the libsvm model: %s", strerror(errno));
				rc = CS_EXIT_IO;
			} else {
				/* the trained model points into s.snodes: load a copy from its
				 * text so the exported one owns its support vectors */
				char tmpl[] = "/tmp/clipsort-svm.XXXXXX";
				int fd = mkstemp(tmpl);
				FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
				m->svm = NULL;
				if (fp != NULL) {
					fputs(m->svm_text, fp);
					fclose(fp);
					m->svm = svm_load_model(tmpl);
				}
				if (fd >= 0)
					unlink(tmpl);
				if (m->svm == NULL) {
					snprintf(err, errlen, "cannot reload the libsvm model");
					rc = CS_EXIT_IO;
				}
			}
		}
		trained_release(&t);
	}
	solver_in_release(&s);
	return rc;
}

void
fit_result_release(fit_result *r)
{
	free(r->grid_acc);
	free(r->grid_logloss);
	free(r->oof_p);
	free(r->fold);
	memset(r, 0, sizeof *r);
}
