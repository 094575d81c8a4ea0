/* emb_stream.c — the binary embedding stream (clipsort-embeddings(5)).
 *
 *   header  "CLIPSEMB" u32 version u32 dim str model str fingerprint str preprocess
 *           f64 logit_scale f64 logit_bias u8 has_logit_bias
 *   text    'T' str class str prompt f32[dim]
 *   image   'I' u8[32] key str location f32[dim]
 *   end     'E' u64 ntexts u64 nimages "CLIPSEND"
 *
 * All integers and floats little-endian; str = u32 byte length + bytes (no NUL).
 * Texts come before images; nothing may follow the end record. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emb.h"
#include "emb_int.h"
#include "xalloc.h"

#define TAG_TEXT 'T'
#define TAG_IMAGE 'I'
#define TAG_END 'E'
#define END_MAGIC "CLIPSEND"

/* ---- little-endian helpers ---- */

static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static uint64_t
f64_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	return u;
}

static double
bits_f64(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof d);
	return d;
}

static int
host_is_le(void)
{
	const uint16_t one = 1;
	unsigned char b;

	memcpy(&b, &one, 1);
	return b == 1;
}

/* ---- reader ---- */

static int
rd(emb_reader *r, void *buf, size_t n, const char *what)
{
	size_t got = fread(buf, 1, n, r->fp);

	r->off += got;
	if (got == n)
		return 0;
	if (ferror(r->fp))
		return emb_fail(r, "read error: %s", strerror(errno ? errno : EIO));
	return emb_fail(r, "truncated stream: end of input inside %s at byte %llu",
	    what, (unsigned long long)r->off);
}

static int
rd_u32(emb_reader *r, uint32_t *v, const char *what)
{
	unsigned char b[4];

	if (rd(r, b, 4, what) < 0)
		return -1;
	*v = get_u32(b);
	return 0;
}

/* Reads a length-prefixed string into *buf (grown as needed, NUL-terminated). */
static int
rd_str(emb_reader *r, char **buf, size_t *cap, uint32_t max, const char *what)
{
	uint32_t len;
	uint64_t at = r->off;

	if (rd_u32(r, &len, what) < 0)
		return -1;
	if (len > max)
		return emb_fail(r, "corrupt stream: %s length %lu exceeds %lu at byte %llu", what,
		    (unsigned long)len, (unsigned long)max, (unsigned long long)at);
	xgrow(buf, cap, (size_t)len + 1, 1);
	if (rd(r, *buf, len, what) < 0)
		return -1;
	(*buf)[len] = '\0';
	if (memchr(*buf, '\0', len) != NULL)
		return emb_fail(r, "corrupt stream: NUL byte inside %s at byte %llu", what,
		    (unsigned long long)at);
	return 0;
}

static int
rd_vec(emb_reader *r, float *v, const char *what)
{
	uint32_t i, dim = r->stamp.dim;
	uint64_t at = r->off;

	if (rd(r, v, (size_t)dim * 4, what) < 0)
		return -1;
	if (!host_is_le()) {
		unsigned char *p = (unsigned char *)v;

		for (i = 0; i < dim; i++) {
			uint32_t u = get_u32(p + 4 * (size_t)i);

			memcpy(p + 4 * (size_t)i, &u, 4);
		}
	}
	if (!emb_vec_finite(v, dim))
		return emb_fail(r, "corrupt stream: non-finite value in %s at byte %llu", what,
		    (unsigned long long)at);
	return 0;
}

int
emb_stream_open(emb_reader *r)
{
	unsigned char b[17];
	uint32_t version, dim;
	size_t cap;

	if (rd_u32(r, &version, "header") < 0)
		return -1;
	if (version != EMB_FORMAT_VERSION)
		return emb_fail(r, "unsupported stream format version %lu (this build reads %d)",
		    (unsigned long)version, EMB_FORMAT_VERSION);
	if (rd_u32(r, &dim, "header") < 0)
		return -1;
	if (dim == 0 || dim > EMB_MAX_DIM)
		return emb_fail(r, "corrupt stream: dimension %lu out of range 1..%u",
		    (unsigned long)dim, EMB_MAX_DIM);
	r->stamp.dim = dim;
	cap = 0;
	if (rd_str(r, &r->stamp.model, &cap, EMB_MAX_STAMP_STR, "header") < 0)
		return -1;
	cap = 0;
	if (rd_str(r, &r->stamp.fingerprint, &cap, EMB_MAX_STAMP_STR, "header") < 0)
		return -1;
	cap = 0;
	if (rd_str(r, &r->stamp.preprocess, &cap, EMB_MAX_STAMP_STR, "header") < 0)
		return -1;
	if (rd(r, b, 17, "header") < 0)
		return -1;
	r->stamp.logit_scale = bits_f64(get_u64(b));
	r->stamp.logit_bias = bits_f64(get_u64(b + 8));
	if (b[16] > 1 || !isfinite(r->stamp.logit_scale) || !isfinite(r->stamp.logit_bias))
		return emb_fail(r, "corrupt stream: bad logit scale/bias in header");
	r->stamp.has_logit_bias = b[16];
	r->vec = xreallocarray(NULL, dim, sizeof *r->vec);
	return 0;
}

static int
next_tag(emb_reader *r)
{
	int c;

	if (r->pending >= 0) {
		c = r->pending;
		r->pending = -1;
		return c;
	}
	c = getc(r->fp);
	if (c == EOF) {
		if (ferror(r->fp))
			return emb_fail(r, "read error: %s", strerror(errno ? errno : EIO));
		return emb_fail(r, "truncated stream: no end record after %llu images (byte %llu)",
		    (unsigned long long)r->nimages, (unsigned long long)r->off);
	}
	r->off++;
	return c;
}

static int
read_text(emb_reader *r)
{
	char *cls = NULL, *prompt = NULL;
	size_t c1 = 0, c2 = 0;
	int rc = -1;

	if (r->nimages > 0) {
		emb_fail(r, "corrupt stream: text record after image records at byte %llu",
		    (unsigned long long)r->off - 1);
		return -1;
	}
	if (rd_str(r, &cls, &c1, EMB_MAX_STR, "text record") == 0 &&
	    rd_str(r, &prompt, &c2, EMB_MAX_STR, "text record") == 0 &&
	    rd_vec(r, r->vec, "text record") == 0) {
		emb_reader_add_text(r, cls, prompt, r->vec);
		rc = 0;
	}
	free(cls);
	free(prompt);
	return rc;
}

static int
read_end(emb_reader *r)
{
	unsigned char b[24];
	uint64_t nt, ni;

	if (rd(r, b, 24, "end record") < 0)
		return -1;
	nt = get_u64(b);
	ni = get_u64(b + 8);
	if (memcmp(b + 16, END_MAGIC, 8) != 0)
		return emb_fail(r, "corrupt stream: bad end record");
	if (nt != r->ntexts || ni != r->nimages)
		return emb_fail(r, "corrupt stream: end record counts %llu texts, %llu images; "
		    "read %llu texts, %llu images", (unsigned long long)nt, (unsigned long long)ni,
		    (unsigned long long)r->ntexts, (unsigned long long)r->nimages);
	if (getc(r->fp) != EOF)
		return emb_fail(r, "corrupt stream: data after the end record at byte %llu",
		    (unsigned long long)r->off);
	if (ferror(r->fp))
		return emb_fail(r, "read error: %s", strerror(errno ? errno : EIO));
	r->ended = 1;
	r->texts_done = 1;
	return 0;
}

int
emb_stream_texts(emb_reader *r)
{
	int tag;

	while (!r->texts_done) {
		if ((tag = next_tag(r)) < 0)
			return -1;
		if (tag == TAG_TEXT) {
			if (read_text(r) < 0)
				return -1;
		} else if (tag == TAG_IMAGE) {
			r->pending = tag;
			r->texts_done = 1;
		} else if (tag == TAG_END) {
			if (read_end(r) < 0)
				return -1;
		} else {
			return emb_fail(r, "corrupt stream: unknown record type 0x%02x at byte %llu",
			    tag, (unsigned long long)r->off - 1);
		}
	}
	return 0;
}

int
emb_stream_next(emb_reader *r, emb_image *img)
{
	unsigned char raw[32];
	int tag;

	if (r->ended)
		return 0;
	for (;;) {
		if ((tag = next_tag(r)) < 0)
			return -1;
		if (tag == TAG_TEXT) {
			if (read_text(r) < 0)
				return -1;
			continue;
		}
		if (tag == TAG_END)
			return read_end(r) < 0 ? -1 : 0;
		if (tag != TAG_IMAGE)
			return emb_fail(r, "corrupt stream: unknown record type 0x%02x at byte %llu",
			    tag, (unsigned long long)r->off - 1);
		break;
	}
	r->texts_done = 1;
	if (rd(r, raw, 32, "image record") < 0 ||
	    rd_str(r, &r->loc, &r->loccap, EMB_MAX_STR, "image record") < 0 ||
	    rd_vec(r, r->vec, "image record") < 0)
		return -1;
	r->nimages++;
	emb_key_to_hex(raw, img->key);
	img->location = r->loc;
	img->vec = r->vec;
	return 1;
}

/* ---- writer ---- */

struct emb_stream_writer {
	FILE *fp;
	uint32_t dim;
	uint64_t ntexts, nimages;
	int bad;                        /* a record was refused or a write failed */
	unsigned char *buf;             /* one record */
	size_t bufcap;
};

static void
w_bytes(emb_stream_writer *w, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, w->fp) != n)
		w->bad = 1;
}

static void
w_u32(emb_stream_writer *w, uint32_t v)
{
	unsigned char b[4];

	put_u32(b, v);
	w_bytes(w, b, 4);
}

static void
w_str(emb_stream_writer *w, const char *s)
{
	size_t n = strlen(s);

	w_u32(w, (uint32_t)n);
	w_bytes(w, s, n);
}

static void
w_vec(emb_stream_writer *w, const float *v)
{
	uint32_t i;

	if (host_is_le()) {
		w_bytes(w, v, (size_t)w->dim * 4);
		return;
	}
	for (i = 0; i < w->dim; i++) {
		uint32_t u;

		memcpy(&u, &v[i], 4);
		w_u32(w, u);
	}
}

emb_stream_writer *
emb_stream_writer_open(FILE *fp, const emb_stamp *stamp)
{
	emb_stream_writer *w;
	unsigned char b[17];
	char why[128];

	if (emb_stamp_check(stamp, why, sizeof why) < 0) {
		errno = EINVAL;
		return NULL;
	}
	w = xcalloc(1, sizeof *w);
	w->fp = fp;
	w->dim = stamp->dim;
	w_bytes(w, EMB_STREAM_MAGIC, 8);
	w_u32(w, EMB_FORMAT_VERSION);
	w_u32(w, stamp->dim);
	w_str(w, stamp->model ? stamp->model : "");
	w_str(w, stamp->fingerprint ? stamp->fingerprint : "");
	w_str(w, stamp->preprocess ? stamp->preprocess : "");
	put_u64(b, f64_bits(stamp->logit_scale));
	put_u64(b + 8, f64_bits(stamp->logit_bias));
	b[16] = stamp->has_logit_bias ? 1 : 0;
	w_bytes(w, b, 17);
	return w;
}

static int
str_ok(const char *s)
{
	return s != NULL && strlen(s) <= EMB_MAX_STR;
}

int
emb_stream_write_text(emb_stream_writer *w, const char *cls, const char *prompt, const float *vec)
{
	if (w->nimages > 0 || !str_ok(cls) || !str_ok(prompt) || !emb_vec_finite(vec, w->dim)) {
		errno = EINVAL;
		return -1;
	}
	w_bytes(w, "T", 1);
	w_str(w, cls);
	w_str(w, prompt);
	w_vec(w, vec);
	w->ntexts++;
	return w->bad ? -1 : 0;
}

int
emb_stream_write_image(emb_stream_writer *w, const char *key, const char *location, const float *vec)
{
	unsigned char raw[32];

	if (!emb_key_valid(key) || !str_ok(location) || !emb_vec_finite(vec, w->dim)) {
		errno = EINVAL;
		return -1;
	}
	emb_key_to_raw(key, raw);
	w_bytes(w, "I", 1);
	w_bytes(w, raw, 32);
	w_str(w, location);
	w_vec(w, vec);
	w->nimages++;
	return w->bad ? -1 : 0;
}

int
emb_stream_writer_close(emb_stream_writer *w)
{
	unsigned char b[16];
	int bad;

	if (w == NULL)
		return -1;
	w_bytes(w, "E", 1);
	put_u64(b, w->ntexts);
	put_u64(b + 8, w->nimages);
	w_bytes(w, b, 16);
	w_bytes(w, END_MAGIC, 8);
	if (fflush(w->fp) != 0 || ferror(w->fp))
		w->bad = 1;
	bad = w->bad;
	free(w->buf);
	free(w);
	return bad ? -1 : 0;
}

void
emb_stream_writer_abort(emb_stream_writer *w)
{
	if (w == NULL)
		return;
	fflush(w->fp);
	free(w->buf);
	free(w);
}
