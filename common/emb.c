/* emb.c — stamps, keys and the reader front end shared by the stream
 * (emb_stream.c) and the HDF5 cache (emb_cache.c). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emb.h"
#include "emb_int.h"
#include "xalloc.h"

static const char *
nz(const char *s)
{
	return s ? s : "";
}

int
emb_stamp_compatible(const emb_stamp *a, const emb_stamp *b, char *why, size_t whylen)
{
	static const char *const names[] = { "model", "fingerprint", "preprocess" };
	const char *av[3], *bv[3];
	int i;

	av[0] = nz(a->model), av[1] = nz(a->fingerprint), av[2] = nz(a->preprocess);
	bv[0] = nz(b->model), bv[1] = nz(b->fingerprint), bv[2] = nz(b->preprocess);
	for (i = 0; i < 3; i++) {
		if (strcmp(av[i], bv[i]) != 0) {
			if (why && whylen)
				snprintf(why, whylen, "%s differs ('%s' vs '%s')", names[i], av[i], bv[i]);
			return 0;
		}
	}
	if (a->dim != b->dim) {
		if (why && whylen)
			snprintf(why, whylen, "dim differs (%u vs %u)", (unsigned)a->dim, (unsigned)b->dim);
		return 0;
	}
	if (why && whylen)
		why[0] = '\0';
	return 1;
}

void
emb_stamp_release(emb_stamp *s)
{
	if (s == NULL)
		return;
	free(s->model);
	free(s->fingerprint);
	free(s->preprocess);
	memset(s, 0, sizeof *s);
}

void
emb_stamp_copy(emb_stamp *dst, const emb_stamp *src)
{
	*dst = *src;
	dst->model = xstrdup(nz(src->model));
	dst->fingerprint = xstrdup(nz(src->fingerprint));
	dst->preprocess = xstrdup(nz(src->preprocess));
}

/* Checks a stamp is writable: 0 ok, -1 with why. */
int
emb_stamp_check(const emb_stamp *s, char *why, size_t whylen)
{
	const char *v[3];
	int i;

	if (s->dim == 0 || s->dim > EMB_MAX_DIM) {
		snprintf(why, whylen, "dimension %u out of range 1..%u", (unsigned)s->dim, EMB_MAX_DIM);
		return -1;
	}
	v[0] = nz(s->model), v[1] = nz(s->fingerprint), v[2] = nz(s->preprocess);
	for (i = 0; i < 3; i++) {
		if (strlen(v[i]) > EMB_MAX_STAMP_STR) {
			snprintf(why, whylen, "stamp string longer than %u bytes", EMB_MAX_STAMP_STR);
			return -1;
		}
	}
	if (!isfinite(s->logit_scale) || !isfinite(s->logit_bias)) {
		snprintf(why, whylen, "logit scale or bias is not finite");
		return -1;
	}
	return 0;
}

int
emb_key_valid(const char *hex)
{
	int i;

	if (hex == NULL)
		return 0;
	for (i = 0; i < EMB_KEY_HEX; i++) {
		char c = hex[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return hex[EMB_KEY_HEX] == '\0';
}

static int
hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

void
emb_key_to_raw(const char *hex, unsigned char raw[32])
{
	int i;

	for (i = 0; i < 32; i++)
		raw[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
}

void
emb_key_to_hex(const unsigned char raw[32], char hex[EMB_KEY_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 15];
	}
	hex[EMB_KEY_HEX] = '\0';
}

int
emb_vec_finite(const float *v, uint32_t dim)
{
	uint32_t i;

	for (i = 0; i < dim; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

int
emb_fail(emb_reader *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->failed)
		return -1;              /* keep the first message */
	r->failed = 1;
	r->io = strncmp(fmt, "read error", 10) == 0;
	n = snprintf(r->err, sizeof r->err, "%s: ", r->name);
	if (n < 0 || (size_t)n >= sizeof r->err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

void
emb_reader_add_text(emb_reader *r, const char *cls, const char *prompt, const float *vec)
{
	emb_text *t;
	float *v;

	xgrow(&r->texts, &r->textcap, r->ntexts + 1, sizeof *r->texts);
	t = &r->texts[r->ntexts++];
	t->cls = xstrdup(cls);
	t->prompt = xstrdup(prompt);
	v = xreallocarray(NULL, r->stamp.dim, sizeof *v);
	memcpy(v, vec, r->stamp.dim * sizeof *v);
	t->vec = v;
}

/* Opens on r->fp (path NULL: an open stream that cannot be a cache). */
static emb_reader *
open_common(emb_reader *r, const char *path, char *errbuf, size_t errlen)
{
	unsigned char magic[8];
	size_t got;
	int e = EILSEQ;

	got = fread(magic, 1, sizeof magic, r->fp);
	if (got < sizeof magic && ferror(r->fp)) {
		e = errno ? errno : EIO;
		cs_errbuf(errbuf, errlen, "%s: read error: %s", r->name, strerror(e));
		goto fail;
	}
	r->off = got;
	if (got == 0) {
		cs_errbuf(errbuf, errlen, "%s: empty input, not an embedding file", r->name);
		goto fail;
	}
	if (got == sizeof magic && memcmp(magic, EMB_STREAM_MAGIC, 8) == 0) {
		r->kind = EMB_KIND_STREAM;
		if (emb_stream_open(r) < 0) {
			e = r->io ? EIO : EILSEQ;
			cs_errbuf(errbuf, errlen, "%s", r->err);
			goto fail;
		}
		return r;
	}
	if (got == sizeof magic && memcmp(magic, EMB_HDF5_MAGIC, 8) == 0) {
		if (path == NULL) {
			cs_errbuf(errbuf, errlen, "%s: an HDF5 cache cannot be read from %s; "
			    "name the file instead", r->name,
			    r->fp == stdin ? "standard input" : "a pipe or an open stream");
			goto fail;
		}
		fclose(r->fp);
		r->fp = NULL;
		r->owns_fp = 0;
		r->kind = EMB_KIND_CACHE;
		if (emb_cache_open(r, path) < 0) {
			cs_errbuf(errbuf, errlen, "%s", r->err);
			goto fail;
		}
		return r;
	}
	cs_errbuf(errbuf, errlen, "%s: not an embedding file (neither a clipsort stream nor an HDF5 cache)",
	    r->name);
fail:
	emb_reader_close(r);
	errno = e;
	return NULL;
}

emb_reader *
emb_reader_open(const char *path, char *errbuf, size_t errlen)
{
	emb_reader *r;
	int e;

	if (strcmp(path, "-") == 0)
		return emb_reader_open_fp(stdin, "<stdin>", errbuf, errlen);
	r = xcalloc(1, sizeof *r);
	r->name = xstrdup(path);
	r->pending = -1;
	r->fp = fopen(path, "rb");
	if (r->fp == NULL) {
		e = errno;
		cs_errbuf(errbuf, errlen, "%s: %s", path, strerror(e));
		emb_reader_close(r);
		errno = e;
		return NULL;
	}
	r->owns_fp = 1;
	return open_common(r, path, errbuf, errlen);
}

emb_reader *
emb_reader_open_fp(FILE *fp, const char *name, char *errbuf, size_t errlen)
{
	emb_reader *r = xcalloc(1, sizeof *r);

	r->name = xstrdup(name ? name : "<input>");
	r->pending = -1;
	r->fp = fp;
	return open_common(r, NULL, errbuf, errlen);
}

int
emb_reader_kind(const emb_reader *r)
{
	return r->kind;
}

const emb_stamp *
emb_reader_stamp(const emb_reader *r)
{
	return &r->stamp;
}

int
emb_reader_texts(emb_reader *r, const emb_text **texts, size_t *n)
{
	if (r->failed)
		return -1;
	if (!r->texts_done && r->kind == EMB_KIND_STREAM && emb_stream_texts(r) < 0)
		return -1;
	*texts = r->texts;
	*n = r->ntexts;
	return 0;
}

int
emb_reader_next(emb_reader *r, emb_image *img)
{
	if (r->failed)
		return -1;
	return r->kind == EMB_KIND_STREAM ? emb_stream_next(r, img) : emb_cache_next(r, img);
}

long long
emb_reader_count(const emb_reader *r)
{
	return r->kind == EMB_KIND_CACHE ? emb_cache_count(r) : -1;
}

int
emb_reader_error_is_io(const emb_reader *r)
{
	return r->io;
}

const char *
emb_reader_error(const emb_reader *r)
{
	return r->err;
}

void
emb_reader_close(emb_reader *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->kind == EMB_KIND_CACHE)
		emb_cache_close(r);
	if (r->owns_fp && r->fp != NULL)
		fclose(r->fp);
	for (i = 0; i < r->ntexts; i++) {
		free((char *)(uintptr_t)r->texts[i].cls);
		free((char *)(uintptr_t)r->texts[i].prompt);
		free((float *)(uintptr_t)r->texts[i].vec);
	}
	free(r->texts);
	free(r->loc);
	free(r->vec);
	emb_stamp_release(&r->stamp);
	free(r->name);
	free(r);
}

int
emb_read_all(emb_reader *r, float **mat, char ***keys, char ***locs, size_t *n)
{
	size_t cap = 0, cnt = 0, i, dim = r->stamp.dim;
	float *m = NULL;
	char **k = NULL, **l = NULL;
	emb_image img;
	int rc;
	long long known = emb_reader_count(r);

	if (known > 0)
		cap = (size_t)known;
	if (cap) {
		m = xreallocarray(NULL, cap, dim * sizeof *m);
		k = xreallocarray(NULL, cap, sizeof *k);
		l = xreallocarray(NULL, cap, sizeof *l);
	}
	while ((rc = emb_reader_next(r, &img)) == 1) {
		if (cnt == cap) {
			size_t c1 = cap, c2 = cap;

			xgrow(&m, &cap, cnt + 1, dim * sizeof *m);
			xgrow(&k, &c1, cnt + 1, sizeof *k);
			xgrow(&l, &c2, cnt + 1, sizeof *l);
		}
		memcpy(m + cnt * dim, img.vec, dim * sizeof *m);
		k[cnt] = xstrdup(img.key);
		l[cnt] = xstrdup(img.location);
		cnt++;
	}
	if (rc < 0) {
		for (i = 0; i < cnt; i++) {
			free(k[i]);
			free(l[i]);
		}
		free(k);
		free(l);
		free(m);
		*mat = NULL, *keys = NULL, *locs = NULL, *n = 0;
		return -1;
	}
	*mat = m, *keys = k, *locs = l, *n = cnt;
	return 0;
}

void
emb_block_init(emb_block *b, size_t cap, size_t dim)
{
	b->cap = cap;
	b->dim = dim;
	b->n = 0;
	b->x = xcalloc(cap * dim, sizeof *b->x);
	b->keys = xcalloc(cap, sizeof *b->keys);
	b->locs = xcalloc(cap, sizeof *b->locs);
}

int
emb_block_read(emb_reader *r, emb_block *b)
{
	emb_image im;
	int rc;

	for (b->n = 0; b->n < b->cap; b->n++) {
		if ((rc = emb_reader_next(r, &im)) != 1)
			return rc < 0 ? -1 : 0;
		memcpy(b->x + b->n * b->dim, im.vec, b->dim * sizeof *b->x);
		memcpy(b->keys[b->n], im.key, sizeof b->keys[b->n]);
		free(b->locs[b->n]);
		b->locs[b->n] = xstrdup(im.location ? im.location : "");
	}
	return 1;
}

void
emb_block_release(emb_block *b)
{
	size_t i;

	for (i = 0; i < b->cap; i++)
		free(b->locs[i]);
	free(b->locs);
	free(b->keys);
	free(b->x);
	memset(b, 0, sizeof *b);
}
