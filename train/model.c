/* model.c — the classifier model file and its scoring (model.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>
#include <libsvm/svm.h>

#include "exitcode.h"
#include "model.h"
#include "outfile.h"
#include "tsv.h"
#include "vec.h"
#include "xalloc.h"

#define MODEL_MAGIC "clipsort-model"
#define MODEL_VERSION 1

static const char *const solver_names[] = { "logreg", "svm-linear", "svm-rbf" };

const char *
model_solver_name(int solver)
{
	return solver >= 0 && solver <= 2 ? solver_names[solver] : "?";
}

static int
cmpoof(const void *a, const void *b)
{
	return strcmp(((const model_oof *)a)->key, ((const model_oof *)b)->key);
}

long
model_oof_find(const cs_model *m, const char *key)
{
	model_oof probe = { (char *)(uintptr_t)key, 0 };
	const model_oof *hit;

	if (m->noof == 0)
		return -1;
	hit = bsearch(&probe, m->oof, m->noof, sizeof *m->oof, cmpoof);
	return hit ? (long)(hit - m->oof) : -1;
}

/* ---- scoring ---------------------------------------------------------- */

void
model_calibrate(double *p, size_t k, double T)
{
	double mx = -INFINITY;
	size_t j;

	if (T == 1.0)
		return;
	for (j = 0; j < k; j++) {
		p[j] = log(p[j] > 1e-300 ? p[j] : 1e-300) / T;
		if (p[j] > mx)
			mx = p[j];
	}
	cs_softmax_max(p, k, mx);
}

static double
sigmoid(double z)
{
	return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

void
model_raw_probs(const cs_model *m, const float *x, size_t n, float *work, double *out)
{
	size_t i, j, k = m->nclass, d = m->stamp.dim;

	if (m->solver == SOLVER_LOGREG) {
		/* scores = X W^T (+ bias column) in one sgemm */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)k, (int)d, 1.0f, x, (int)d,
		    m->w, (int)(d + 1), 0.0f, work, (int)k);
		for (i = 0; i < n; i++) {
			double s = 0;
			for (j = 0; j < k; j++) {
				double z = (double)work[i * k + j] + (double)m->w[j * (d + 1) + d];
				out[i * k + j] = sigmoid(z);
				s += out[i * k + j];
			}
			/* liblinear's one-vs-rest normalisation (exact for two classes) */
			for (j = 0; j < k; j++)
				out[i * k + j] /= s;
		}
		return;
	}
	{
		const struct svm_model *sm = m->svm;
		struct svm_node *nodes = xcalloc(d + 1, sizeof *nodes);
		int *lab = xcalloc(k, sizeof *lab);
		double *pr = xcalloc(k, sizeof *pr);
		int nl = svm_get_nr_class(sm);

		svm_get_labels(sm, lab);
		for (i = 0; i < n; i++) {
			for (j = 0; j < d; j++) {
				nodes[j].index = (int)j + 1;
				nodes[j].value = x[i * d + j];
			}
			nodes[d].index = -1;
			svm_predict_probability(sm, nodes, pr);
			for (j = 0; j < k; j++)
				out[i * k + j] = 0;
			for (j = 0; j < (size_t)nl; j++)
				out[i * k + (size_t)lab[j]] = pr[j];
		}
		free(nodes);
		free(lab);
		free(pr);
	}
}

void
model_probs(const cs_model *m, const float *x, size_t n, float *work, double *out)
{
	size_t i;

	model_raw_probs(m, x, n, work, out);
	for (i = 0; i < n; i++)
		model_calibrate(out + i * m->nclass, m->nclass, m->temperature);
}

/* ---- writing ---------------------------------------------------------- */

static void
put_kv(FILE *fp, const char *k, const char *v)
{
	fprintf(fp, "%s\t", k);
	tsv_put_field(fp, v ? v : "");
	fputc('\n', fp);
}

static void
put_d(FILE *fp, const char *k, double v)
{
	char b[32];

	tsv_fmt_double(b, v);
	fprintf(fp, "%s\t%s\n", k, b);
}

int
model_save(const cs_model *m, const char *path, char *err, size_t errlen)
{
	outfile a;
	FILE *fp;
	size_t i, j, d = m->stamp.dim;
	char b[32];
	int rc;

	if ((rc = outfile_open(&a, path, err, errlen)) != 0)
		return rc;
	fp = a.fp;
	fprintf(fp, "%s\t%d\n", MODEL_MAGIC, MODEL_VERSION);
	put_kv(fp, "solver", model_solver_name(m->solver));
	put_kv(fp, "model", m->stamp.model);
	put_kv(fp, "fingerprint", m->stamp.fingerprint);
	put_kv(fp, "preprocess", m->stamp.preprocess);
	fprintf(fp, "dim\t%u\n", m->stamp.dim);
	put_d(fp, "logit_scale", m->stamp.logit_scale);
	put_d(fp, "logit_bias", m->stamp.logit_bias);
	fprintf(fp, "has_logit_bias\t%d\n", m->stamp.has_logit_bias);
	fprintf(fp, "classes\t%zu", m->nclass);
	for (i = 0; i < m->nclass; i++)
		fprintf(fp, "\t%s", m->classes[i]);
	fputc('\n', fp);
	fprintf(fp, "train_size\t%zu\n", m->ntrain);
	put_d(fp, "C", m->C);
	put_d(fp, "gamma", m->gamma);
	put_d(fp, "bias", m->bias);
	fprintf(fp, "original\t%d\nbalanced\t%d\nfolds\t%d\n", m->original, m->balanced, m->folds);
	put_d(fp, "cv_accuracy", m->cv_accuracy);
	put_d(fp, "cv_logloss", m->cv_logloss);
	put_d(fp, "temperature", m->temperature);
	if (m->solver == SOLVER_LOGREG) {
		fprintf(fp, "weights\t%zu\t%zu\n", m->nclass, d + 1);
		for (i = 0; i < m->nclass; i++) {
			for (j = 0; j <= d; j++) {
				tsv_fmt_float(b, m->w[i * (d + 1) + j]);
				fprintf(fp, j ? "\t%s" : "%s", b);
			}
			fputc('\n', fp);
		}
	} else {
		fprintf(fp, "libsvm\t%zu\n", strlen(m->svm_text));
		fputs(m->svm_text, fp);
	}
	fprintf(fp, "oof\t%zu\n", m->noof);
	for (i = 0; i < m->noof; i++) {
		tsv_put_field(fp, m->oof[i].key);
		fprintf(fp, "\t%d", m->oof[i].label);
		for (j = 0; j < m->nclass; j++) {
			tsv_fmt_double(b, m->oof_p[i * m->nclass + j]);
			fprintf(fp, "\t%s", b);
		}
		fputc('\n', fp);
	}
	fputs("end\n", fp);
	return outfile_commit(&a, err, errlen);
}

/* ---- reading ---------------------------------------------------------- */

struct rd {
	FILE *fp;
	const char *path;
	unsigned long line;
	char *buf;
	size_t cap;
	char *f[4096];
	size_t nf;
	char *err;
	size_t errlen;
};

static int
bad(struct rd *r, const char *why)
{
	snprintf(r->err, r->errlen, "%s:%lu: %s", r->path, r->line, why);
	return CS_EXIT_MODEL;
}

/* next line split on TABs (at most 4096 fields; more is an error) */
static int
next(struct rd *r)
{
	ssize_t n = getline(&r->buf, &r->cap, r->fp);
	char *p;

	if (n < 0)
		return bad(r, "unexpected end of model file");
	r->line++;
	if (n > 0 && r->buf[n - 1] == '\n')
		r->buf[--n] = '\0';
	r->nf = 0;
	r->f[r->nf++] = r->buf;
	for (p = r->buf; *p; p++) {
		if (*p == '\t') {
			if (r->nf == 4096)
				return bad(r, "too many fields");
			*p = '\0';
			r->f[r->nf++] = p + 1;
		}
	}
	return 0;
}

static int
want(struct rd *r, const char *key, size_t nf)
{
	int rc = next(r);

	if (rc)
		return rc;
	if (strcmp(r->f[0], key) != 0 || r->nf < nf) {
		char why[128];
		snprintf(why, sizeof why, "expected '%s'", key);
		return bad(r, why);
	}
	return 0;
}

static int
get_str(struct rd *r, const char *key, char **out)
{
	int rc = want(r, key, 2);

	if (rc)
		return rc;
	if (tsv_unescape(r->f[1]) != 0)
		return bad(r, "bad escape");
	*out = xstrdup(r->f[1]);
	return 0;
}

static int
num(struct rd *r, const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	/* underflow to a denormal or 0 is fine (tiny probabilities); overflow is not */
	if (end == s || *end != '\0' || !isfinite(*v) || (errno == ERANGE && fabs(*v) >= 1))
		return bad(r, "bad number");
	return 0;
}

static int
get_d(struct rd *r, const char *key, double *v)
{
	int rc = want(r, key, 2);

	return rc ? rc : num(r, r->f[1], v);
}

static int
get_l(struct rd *r, const char *key, long lo, long hi, long *v)
{
	double d;
	int rc = get_d(r, key, &d);

	if (rc)
		return rc;
	if (d != floor(d) || d < (double)lo || d > (double)hi)
		return bad(r, "number out of range");
	*v = (long)d;
	return 0;
}

static int
load_svm(struct rd *r, cs_model *m, size_t nbytes)
{
	char tmpl[] = "/tmp/clipsort-svm.XXXXXX";
	int fd;
	FILE *tf;

	m->svm_text = xmalloc(nbytes + 1);
	if (fread(m->svm_text, 1, nbytes, r->fp) != nbytes)
		return bad(r, "truncated libsvm model");
	m->svm_text[nbytes] = '\0';
	r->line += 0;
	{
		size_t i;
		for (i = 0; i < nbytes; i++)
			if (m->svm_text[i] == '\n')
				r->line++;
	}
	fd = mkstemp(tmpl);
	if (fd < 0 || (tf = fdopen(fd, "w")) == NULL) {
		snprintf(r->err, r->errlen, "%s: temporary file: %s", r->path, strerror(errno));
		return CS_EXIT_IO;
	}
	fwrite(m->svm_text, 1, nbytes, tf);
	if (fclose(tf) != 0) {
		unlink(tmpl);
		snprintf(r->err, r->errlen, "%s: temporary file: %s", r->path, strerror(errno));
		return CS_EXIT_IO;
	}
	m->svm = svm_load_model(tmpl);
	unlink(tmpl);
	if (m->svm == NULL)
		return bad(r, "libsvm cannot read the embedded model");
	return 0;
}

static int
load_body(struct rd *r, cs_model *m)
{
	char *s = NULL;
	long v;
	double d;
	size_t i, j, dim;
	int rc;

	if ((rc = next(r)) != 0)
		return rc;
	if (strcmp(r->f[0], MODEL_MAGIC) != 0 || r->nf != 2)
		return bad(r, "not a clipsort model file");
	if (strcmp(r->f[1], "1") != 0)
		return bad(r, "unsupported model file version");
	if ((rc = get_str(r, "solver", &s)) != 0)
		return rc;
	for (m->solver = 0; m->solver < 3; m->solver++)
		if (strcmp(s, solver_names[m->solver]) == 0)
			break;
	free(s);
	if (m->solver == 3)
		return bad(r, "unknown solver");
	if ((rc = get_str(r, "model", &m->stamp.model)) || (rc = get_str(r, "fingerprint", &m->stamp.fingerprint)) ||
	    (rc = get_str(r, "preprocess", &m->stamp.preprocess)) || (rc = get_l(r, "dim", 1, 1 << 20, &v)))
		return rc;
	m->stamp.dim = (uint32_t)v;
	dim = m->stamp.dim;
	if ((rc = get_d(r, "logit_scale", &m->stamp.logit_scale)) || (rc = get_d(r, "logit_bias", &m->stamp.logit_bias)) ||
	    (rc = get_l(r, "has_logit_bias", 0, 1, &v)))
		return rc;
	m->stamp.has_logit_bias = (int)v;
	if ((rc = want(r, "classes", 2)) != 0)
		return rc;
	if (num(r, r->f[1], &d) || d < 2 || d > 4000 || (size_t)d + 2 != r->nf)
		return bad(r, "bad class list");
	m->nclass = (size_t)d;
	m->classes = xcalloc(m->nclass, sizeof *m->classes);
	for (i = 0; i < m->nclass; i++) {
		m->classes[i] = xstrdup(r->f[i + 2]);
		if (i > 0 && strcmp(m->classes[i - 1], m->classes[i]) >= 0)
			return bad(r, "classes not sorted and unique");
	}
	if ((rc = get_l(r, "train_size", 0, 1L << 40, &v)))
		return rc;
	m->ntrain = (size_t)v;
	if ((rc = get_d(r, "C", &m->C)) || (rc = get_d(r, "gamma", &m->gamma)) || (rc = get_d(r, "bias", &m->bias)))
		return rc;
	if ((rc = get_l(r, "original", 0, 1, &v)))
		return rc;
	m->original = (int)v;
	if ((rc = get_l(r, "balanced", 0, 1, &v)))
		return rc;
	m->balanced = (int)v;
	if ((rc = get_l(r, "folds", 0, 1000, &v)))
		return rc;
	m->folds = (int)v;
	if ((rc = get_d(r, "cv_accuracy", &m->cv_accuracy)) || (rc = get_d(r, "cv_logloss", &m->cv_logloss)) ||
	    (rc = get_d(r, "temperature", &m->temperature)))
		return rc;
	if (!(m->temperature > 0))
		return bad(r, "temperature must be positive");
	if (m->solver == SOLVER_LOGREG) {
		if ((rc = want(r, "weights", 3)) != 0)
			return rc;
		if (strtoul(r->f[1], NULL, 10) != m->nclass || strtoul(r->f[2], NULL, 10) != dim + 1)
			return bad(r, "weights shape does not match classes and dim");
		m->w = xcalloc(m->nclass * (dim + 1), sizeof *m->w);
		for (i = 0; i < m->nclass; i++) {
			if ((rc = next(r)) != 0)
				return rc;
			if (r->nf != dim + 1)
				return bad(r, "wrong number of weights");
			for (j = 0; j <= dim; j++) {
				if ((rc = num(r, r->f[j], &d)) != 0)
					return rc;
				m->w[i * (dim + 1) + j] = (float)d;
			}
		}
	} else {
		if ((rc = want(r, "libsvm", 2)) != 0)
			return rc;
		if ((rc = num(r, r->f[1], &d)) != 0 || d < 1 || d > 1e12)
			return rc ? rc : bad(r, "bad libsvm size");
		if ((rc = load_svm(r, m, (size_t)d)) != 0)
			return rc;
	}
	if ((rc = want(r, "oof", 2)) != 0)
		return rc;
	if (num(r, r->f[1], &d) || d < 0 || d > 1e9)
		return bad(r, "bad oof count");
	m->noof = (size_t)d;
	m->oof = xcalloc(m->noof ? m->noof : 1, sizeof *m->oof);
	m->oof_p = xcalloc(m->noof * m->nclass + 1, sizeof *m->oof_p);
	for (i = 0; i < m->noof; i++) {
		if ((rc = next(r)) != 0)
			return rc;
		if (r->nf != m->nclass + 2 || tsv_unescape(r->f[0]) != 0)
			return bad(r, "bad out-of-fold record");
		m->oof[i].key = xstrdup(r->f[0]);
		if ((rc = num(r, r->f[1], &d)) != 0)
			return rc;
		if (d < 0 || d >= (double)m->nclass)
			return bad(r, "out-of-fold label out of range");
		m->oof[i].label = (int)d;
		for (j = 0; j < m->nclass; j++)
			if ((rc = num(r, r->f[j + 2], &m->oof_p[i * m->nclass + j])) != 0)
				return rc;
		if (i > 0 && strcmp(m->oof[i - 1].key, m->oof[i].key) >= 0)
			return bad(r, "out-of-fold records not sorted by key");
	}
	if ((rc = next(r)) != 0)
		return rc;
	if (strcmp(r->f[0], "end") != 0)
		return bad(r, "expected 'end'");
	return 0;
}

int
model_load(cs_model *m, const char *path, char *err, size_t errlen)
{
	struct rd r;
	int rc;

	memset(m, 0, sizeof *m);
	memset(&r, 0, sizeof r);
	r.path = path;
	r.err = err;
	r.errlen = errlen;
	r.fp = fopen(path, "r");
	if (r.fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return CS_EXIT_MODEL;
	}
	rc = load_body(&r, m);
	free(r.buf);
	fclose(r.fp);
	if (rc != 0)
		model_release(m);
	return rc;
}

void
model_release(cs_model *m)
{
	size_t i;

	emb_stamp_release(&m->stamp);
	for (i = 0; i < m->nclass && m->classes; i++)
		free(m->classes[i]);
	free(m->classes);
	free(m->w);
	if (m->svm != NULL) {
		struct svm_model *sm = m->svm;
		svm_free_and_destroy_model(&sm);
	}
	free(m->svm_text);
	for (i = 0; i < m->noof; i++)
		free(m->oof[i].key);
	free(m->oof);
	free(m->oof_p);
	memset(m, 0, sizeof *m);
}
