/* classes.c — class vectors and zero-shot scoring (classes.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "classes.h"
#include "diag.h"
#include "exitcode.h"
#include "labels.h"
#include "vec.h"
#include "xalloc.h"

int
zs_valid_class(const char *s)
{
	return labels_valid_class(s, 0);
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
zs_classes_find(const zs_classes *c, const char *name)
{
	char *const *hit = bsearch(&name, c->names, c->n, sizeof *c->names, cmpstr);

	return hit ? (int)(hit - c->names) : -1;
}

int
zs_classes_init(zs_classes *c, const emb_text *t, size_t n, const emb_stamp *stamp,
    char *err, size_t errlen)
{
	size_t i, j, k, d = stamp->dim;
	double *acc;

	memset(c, 0, sizeof *c);
	c->dim = stamp->dim;
	c->scale = stamp->logit_scale;
	c->bias = stamp->has_logit_bias ? stamp->logit_bias : 0.0;
	c->sigmoid = stamp->has_logit_bias;
	if (!(c->scale > 0) || !isfinite(c->scale) || !isfinite(c->bias)) {
		snprintf(err, errlen, "model stamp has an invalid logit scale %g or bias %g",
		    c->scale, c->bias);
		return -1;
	}
	c->names = xcalloc(n ? n : 1, sizeof *c->names);
	for (i = 0; i < n; i++) {
		if (!zs_valid_class(t[i].cls)) {
			snprintf(err, errlen, "invalid class name '%.80s' (want [a-z0-9][a-z0-9_-]{0,63})",
			    t[i].cls);
			zs_classes_release(c);
			return -1;
		}
		c->names[c->n++] = xstrdup(t[i].cls);
	}
	qsort(c->names, c->n, sizeof *c->names, cmpstr);
	for (i = j = 0; i < c->n; i++)
		if (j == 0 || strcmp(c->names[j - 1], c->names[i]) != 0)
			c->names[j++] = c->names[i];
		else
			free(c->names[i]);
	c->n = j;
	if (c->n < 2) {
		snprintf(err, errlen, "%zu class%s among %zu prompt vectors: at least 2 are needed",
		    c->n, c->n == 1 ? "" : "es", n);
		zs_classes_release(c);
		return -1;
	}
	c->nprompts = n;
	c->pvec = xreallocarray(NULL, n * d, sizeof *c->pvec);
	c->pcls = xreallocarray(NULL, n, sizeof *c->pcls);
	c->vec = xcalloc(c->n * d, sizeof *c->vec);
	acc = xcalloc(d, sizeof *acc);
	/* prompts grouped by class (stable within a class), class means in double */
	for (k = 0, i = 0; i < c->n; i++) {
		double norm = 0;

		memset(acc, 0, d * sizeof *acc);
		for (j = 0; j < n; j++) {
			size_t e;

			if (strcmp(t[j].cls, c->names[i]) != 0)
				continue;
			for (e = 0; e < d; e++) {
				if (!isfinite(t[j].vec[e])) {
					snprintf(err, errlen, "prompt vector of class '%s' (\"%.60s\") is not finite",
					    t[j].cls, t[j].prompt);
					free(acc);
					zs_classes_release(c);
					return -1;
				}
				acc[e] += t[j].vec[e];
			}
			memcpy(c->pvec + k * d, t[j].vec, d * sizeof *c->pvec);
			c->pcls[k++] = i;
		}
		for (j = 0; j < d; j++)
			norm += acc[j] * acc[j];
		norm = sqrt(norm);
		if (!(norm > 0)) {
			snprintf(err, errlen, "class '%s': the mean of its prompt vectors is zero", c->names[i]);
			free(acc);
			zs_classes_release(c);
			return -1;
		}
		for (j = 0; j < d; j++)
			c->vec[i * d + j] = (float)(acc[j] / norm);
	}
	free(acc);
	return 0;
}

void
zs_classes_release(zs_classes *c)
{
	size_t i;

	if (c->names)
		for (i = 0; i < c->n; i++)
			free(c->names[i]);
	free(c->names);
	free(c->vec);
	free(c->pvec);
	free(c->pcls);
	memset(c, 0, sizeof *c);
}

void
zs_classes_cosines(const zs_classes *c, const float *img, size_t nimg, int maxmode,
    float *work, float *out)
{
	size_t i, j, d = c->dim;

	if (nimg == 0)
		return;
	if (!maxmode) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nimg, (int)c->n, (int)d,
		    1.0f, img, (int)d, c->vec, (int)d, 0.0f, out, (int)c->n);
		return;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nimg, (int)c->nprompts, (int)d,
	    1.0f, img, (int)d, c->pvec, (int)d, 0.0f, work, (int)c->nprompts);
	for (i = 0; i < nimg; i++) {
		float *o = out + i * c->n;
		const float *w = work + i * c->nprompts;

		for (j = 0; j < c->n; j++)
			o[j] = -INFINITY;
		for (j = 0; j < c->nprompts; j++)
			if (w[j] > o[c->pcls[j]])
				o[c->pcls[j]] = w[j];
	}
}

void
zs_classes_probs(const zs_classes *c, const float *cos, double *p)
{
	size_t j;
	double mx = -INFINITY;

	if (c->sigmoid) {
		for (j = 0; j < c->n; j++)
			p[j] = 1.0 / (1.0 + exp(-(c->scale * cos[j] + c->bias)));
		return;
	}
	for (j = 0; j < c->n; j++) {
		p[j] = c->scale * cos[j];
		if (p[j] > mx)
			mx = p[j];
	}
	cs_softmax_max(p, c->n, mx);
}

emb_reader *
zs_open_or_die(const char *path)
{
	char err[512];
	emb_reader *r = emb_reader_open(path, err, sizeof err);

	if (r == NULL)
		cs_die(CS_EXIT_DATA, "%s", err);
	return r;
}

int
zs_classes_load(zs_classes *c, emb_reader *img, const char *imgname, const char *texts)
{
	emb_reader *txt = texts ? zs_open_or_die(texts) : img;
	const emb_text *t;
	size_t n;
	char err[512];

	if (txt != img && !emb_stamp_compatible(emb_reader_stamp(img), emb_reader_stamp(txt), err, sizeof err))
		cs_die(CS_EXIT_DATA, "%s and %s were made differently: %s", imgname, texts, err);
	if (emb_reader_texts(txt, &t, &n) != 0)
		cs_die(CS_EXIT_DATA, "%s", emb_reader_error(txt));
	if (n > 0 && zs_classes_init(c, t, n, emb_reader_stamp(txt), err, sizeof err) != 0)
		cs_die(CS_EXIT_DATA, "%s: %s", texts ? texts : imgname, err);
	if (txt != img)
		emb_reader_close(txt);
	return n > 0;
}
