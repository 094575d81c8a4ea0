#include <pthread.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "exitcode.h"
#include "pipeline.h"
#include "sha256.h"
#include "strmap.h"
#include "xalloc.h"

enum slot_state {
	S_EMPTY,        /* not produced yet */
	S_DECODE,       /* bytes read, waiting for a decoder */
	S_KEYED,        /* key known, nothing to embed (unchanged, duplicate, cached) */
	S_DECODED,      /* chw ready */
	S_REJECT,       /* reason set */
	S_SKIP          /* another shard's */
};

struct slot {
	enum slot_state state;
	char key[SHA256_HEX + 1];
	unsigned char *buf;
	size_t len;
	float *chw;
	char *reason;
};

struct pipe {
	const struct pipe_cfg *c;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot *slots;
	size_t window;
	size_t produced;        /* items the reader has handled */
	size_t released;        /* items the consumer is done with */
	size_t *queue;          /* decode queue (ring of item indices) */
	size_t qhead, qtail;
	int stop;
	strmap seen;            /* keys met in this run (reader thread only) */
	unsigned long nflush;   /* model calls so far */
};

static struct slot *
slot_of(struct pipe *p, size_t i)
{
	return &p->slots[i % p->window];
}

static int
in_shard(const struct pipe_cfg *c, const char *key)
{
	unsigned long v;
	char h[9];

	if (c->shard_n <= 1)
		return 1;
	memcpy(h, key, 8);
	h[8] = '\0';
	v = strtoul(h, NULL, 16);
	return (int)(v % (unsigned long)c->shard_n) == c->shard_k - 1;
}

/* Reads the bytes of item i.  ZIP members come in archive order, so one
 * zip_reader per archive walks forward; a ZIP that breaks mid-way rejects the rest
 * of its entries. */
struct zipcur {
	zip_reader *z;
	const char *path;
	int broken;
	char why[512];
};

static int
read_item(struct pipe *p, struct zipcur *zc, const struct input_item *it, unsigned char **buf,
    size_t *len, char *err, size_t errlen)
{
	const char *name;
	uint64_t size;
	int64_t mtime;
	int r;

	if (it->member == NULL)
		return input_read(p->c->in, it, buf, len, err, errlen);
	if (zc->path == NULL || strcmp(zc->path, it->path) != 0) {
		zip_reader_close(zc->z);
		zc->z = zip_reader_open(it->path, &p->c->in->lim, zc->why, sizeof zc->why);
		zc->path = it->path;
		zc->broken = zc->z == NULL;
	}
	for (;;) {
		if (zc->broken) {
			snprintf(err, errlen, "archive not read further: %s", zc->why);
			return -1;
		}
		r = zip_reader_next(zc->z, &name, &size, &mtime, zc->why, sizeof zc->why);
		if (r <= 0) {
			if (r == 0)
				snprintf(zc->why, sizeof zc->why, "entry no longer in the archive");
			zc->broken = 1;
			continue;
		}
		if (strcmp(name, it->member) != 0)
			continue;
		r = zip_reader_data(zc->z, buf, len, err, errlen);
		if (r == -2) {
			snprintf(zc->why, sizeof zc->why, "%s", err);
			zc->broken = 1;
		}
		return r == 0 ? 0 : -1;
	}
}

static void
produce(struct pipe *p, struct zipcur *zc, size_t i)
{
	const struct pipe_cfg *c = p->c;
	const struct input_item *it = &c->in->items[i];
	struct slot s = { S_EMPTY, "", NULL, 0, NULL, NULL };
	char err[512];
	const char *what;
	int isnew;

	if (c->known_loc && c->known_loc(c->ctx, it, s.key)) {
		s.state = in_shard(c, s.key) ? S_KEYED : S_SKIP;
	} else if (read_item(p, zc, it, &s.buf, &s.len, err, sizeof err) != 0) {
		s.state = S_REJECT;
		s.reason = xstrdup(err);
	} else if (sha256_hex(s.buf, s.len, s.key) != 0) {
		s.state = S_REJECT;
		s.reason = xstrdup("cannot hash (libcrypto failure)");
	} else if (!in_shard(c, s.key)) {
		s.state = S_SKIP;
	} else if (strmap_put(&p->seen, s.key, &isnew), !isnew ||
	    (c->key_exists && c->key_exists(c->ctx, s.key))) {
		s.state = S_KEYED;      /* identical bytes embedded once */
	} else if (it->member && input_is_archive(s.buf, s.len, &what)) {
		s.state = S_REJECT;
		s.reason = xasprintf("nested %s archive not opened", what);
	} else {
		s.state = S_DECODE;
	}
	if (s.state != S_DECODE) {
		free(s.buf);
		s.buf = NULL;
	}
	pthread_mutex_lock(&p->mu);
	{
		struct slot *d = slot_of(p, i);
		float *chw = d->chw;

		*d = s;
		d->chw = chw;
	}
	if (s.state == S_DECODE)
		p->queue[p->qtail++ % p->window] = i;
	p->produced = i + 1;
	/* items known from the old cache come by the thousand: wake the others for a
	 * decode job, every 64 items and at the end (and before the reader waits) */
	if (s.state == S_DECODE || (i + 1) % 64 == 0 || i + 1 == c->in->n)
		pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void *
reader_main(void *arg)
{
	struct pipe *p = arg;
	struct zipcur zc = { NULL, NULL, 0, "" };
	size_t i, n = p->c->in->n;

	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&p->mu);
		if (!p->stop && i >= p->released + p->window)
			pthread_cond_broadcast(&p->cv);
		while (!p->stop && i >= p->released + p->window)
			pthread_cond_wait(&p->cv, &p->mu);
		pthread_mutex_unlock(&p->mu);
		if (p->stop)
			break;
		produce(p, &zc, i);
	}
	zip_reader_close(zc.z);
	return NULL;
}

static void *
decoder_main(void *arg)
{
	struct pipe *p = arg;
	const struct pipe_cfg *c = p->c;
	size_t n = c->in->n;

	for (;;) {
		size_t i;
		struct slot *s;
		int st;

		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->qhead == p->qtail && p->produced < n)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop || p->qhead == p->qtail) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		i = p->queue[p->qhead++ % p->window];
		s = slot_of(p, i);
		pthread_mutex_unlock(&p->mu);

		/* the slot is ours until we publish its state */
		st = preproc_load_buffer(s->buf, s->len, c->in->items[i].loc, c->pp, NULL, s->chw);
		pthread_mutex_lock(&p->mu);
		free(s->buf);
		s->buf = NULL;
		if (st == PREPROC_OK) {
			s->state = S_DECODED;
		} else {
			const char *m = preproc_errmsg();
			size_t ll = strlen(c->in->items[i].loc);

			/* the message names the input; keep only the reason */
			if (strncmp(m, c->in->items[i].loc, ll) == 0 && m[ll] == ':' && m[ll + 1] == ' ')
				m += ll + 2;
			s->reason = xstrdup(m);
			s->state = S_REJECT;
		}
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
}

struct batch {
	size_t n;
	size_t *idx;
	char (*keys)[SHA256_HEX + 1];
	float *chw;
	float *out;
};

static int
flush(struct pipe *p, struct batch *b, int *status)
{
	const struct pipe_cfg *c = p->c;
	size_t k;

	if (b->n == 0)
		return 0;
	if (c->model == NULL) {
		cs_warn("internal error: an image to embed but no model loaded");
		*status = CS_EXIT_INTERNAL;
		return -1;
	}
	if (cs_encode_image(c->model, b->chw, (int)b->n, b->out, 1) != 0) {
		cs_warn("model: %s", cs_errmsg());
		*status = CS_EXIT_MODEL;
		return -1;
	}
	for (k = 0; k < b->n; k++) {
		const struct input_item *it = &c->in->items[b->idx[k]];

		if (c->on_location(c->ctx, it, b->keys[k]) != 0 ||
		    c->on_vector(c->ctx, it, b->keys[k], b->out + k * (size_t)c->dim) != 0) {
			*status = CS_EXIT_IO;
			return -1;
		}
	}
	b->n = 0;
#ifdef __GLIBC__
	/* The model's transient buffers (128 KiB..10 MiB) and the cache's per-location
	 * strings share this thread's heap; freed holes between long-lived strings are
	 * not returned by free() and RSS would grow with every batch (1.4 GB at 45k
	 * inputs).  Handing free pages back keeps it flat at a small cost. */
	if (++p->nflush % 16 == 0)
		malloc_trim(0);
#endif
	return 0;
}

static int
consume(struct pipe *p, int *status)
{
	const struct pipe_cfg *c = p->c;
	size_t n = c->in->n, i, chwn = PREPROC_CHW_SIZE(c->pp) / sizeof(float);
	struct batch b;
	strmap bad;             /* keys whose first copy was rejected: later copies share its fate */
	long long rejects = 0;
	int rc = 0;

	strmap_init(&bad);

	b.n = 0;
	b.idx = xcalloc((size_t)c->batch, sizeof *b.idx);
	b.keys = xcalloc((size_t)c->batch, sizeof *b.keys);
	b.chw = xmalloc((size_t)c->batch * chwn * sizeof(float));
	b.out = xmalloc((size_t)c->batch * (size_t)c->dim * sizeof(float));
	for (i = 0; i < n && rc == 0; i++) {
		struct slot *s = slot_of(p, i);
		const struct input_item *it = &c->in->items[i];

		pthread_mutex_lock(&p->mu);
		while (p->produced <= i || s->state == S_DECODE)
			pthread_cond_wait(&p->cv, &p->mu);
		pthread_mutex_unlock(&p->mu);
		switch (s->state) {
		case S_KEYED: {
			void **why = strmap_get(&bad, s->key);

			if (why != NULL) {
				c->on_reject(c->ctx, it->loc, *why);
				rejects++;
				break;
			}
			if (c->on_location(c->ctx, it, s->key) != 0) {
				*status = CS_EXIT_IO;
				rc = -1;
			}
			break;
		}
		case S_DECODED:
			memcpy(b.chw + b.n * chwn, s->chw, chwn * sizeof(float));
			b.idx[b.n] = i;
			memcpy(b.keys[b.n], s->key, sizeof b.keys[0]);
			if (++b.n == (size_t)c->batch)
				rc = flush(p, &b, status);
			break;
		case S_REJECT:
			c->on_reject(c->ctx, it->loc, s->reason);
			rejects++;
			if (s->key[0] != '\0') {
				int isnew;
				void **why = strmap_put(&bad, s->key, &isnew);

				if (isnew)
					*why = xstrdup(s->reason);
			}
			break;
		default:
			break;
		}
		pthread_mutex_lock(&p->mu);
		free(s->reason);
		s->reason = NULL;
		s->state = S_EMPTY;
		p->released = i + 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (c->prog)
			progress_update(c->prog, (long long)i + 1, rejects);
	}
	if (rc == 0)
		rc = flush(p, &b, status);
	for (i = 0; i < bad.cap; i++)
		free(bad.vals[i]);
	strmap_release(&bad);
	free(b.idx);
	free(b.keys);
	free(b.chw);
	free(b.out);
	return rc;
}

int
pipeline_run(const struct pipe_cfg *c, int *status)
{
	struct pipe p;
	pthread_t reader, *dec;
	size_t i, chwn = PREPROC_CHW_SIZE(c->pp);
	int k, nt = c->nthreads > 0 ? c->nthreads : 1, rc;

	memset(&p, 0, sizeof p);
	p.c = c;
	p.window = (size_t)c->batch * 2 + (size_t)nt * 2 + 2;
	p.slots = xcalloc(p.window, sizeof *p.slots);
	p.queue = xcalloc(p.window, sizeof *p.queue);
	for (i = 0; i < p.window; i++)
		p.slots[i].chw = xmalloc(chwn);
	strmap_init(&p.seen);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	dec = xcalloc((size_t)nt, sizeof *dec);
	if (pthread_create(&reader, NULL, reader_main, &p) != 0)
		cs_die(CS_EXIT_IO, "cannot start a thread:");
	for (k = 0; k < nt; k++)
		if (pthread_create(&dec[k], NULL, decoder_main, &p) != 0)
			cs_die(CS_EXIT_IO, "cannot start a thread:");
	rc = consume(&p, status);
	pthread_mutex_lock(&p.mu);
	p.stop = 1;
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.mu);
	pthread_join(reader, NULL);
	for (k = 0; k < nt; k++)
		pthread_join(dec[k], NULL);
	for (i = 0; i < p.window; i++) {
		free(p.slots[i].chw);
		free(p.slots[i].buf);
		free(p.slots[i].reason);
	}
	free(p.slots);
	free(p.queue);
	free(dec);
	strmap_release(&p.seen);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	return rc;
}
