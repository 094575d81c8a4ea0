#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors_write.h"

struct stw_tensor {
	char *name;
	enum stw_dtype dtype;
	int ndim;
	int64_t shape[STW_MAX_DIMS];
	uint64_t nbytes, begin;
};

struct stw_writer {
	struct stw_tensor *t;
	size_t n, cap;
	char **meta;            /* key, value, key, value, ... */
	size_t nmeta, capmeta;
	FILE *fp;
	int begun, failed;
	size_t cur;             /* index of the tensor being written */
	uint64_t done;          /* bytes of it written so far */
	uint64_t header_len, data_len;
	char err[256];
};

static const struct { const char *name; size_t size; } dtypes[] = {
	[STW_BOOL] = {"BOOL", 1}, [STW_U8] = {"U8", 1}, [STW_I8] = {"I8", 1},
	[STW_I16] = {"I16", 2}, [STW_U16] = {"U16", 2}, [STW_F16] = {"F16", 2},
	[STW_BF16] = {"BF16", 2}, [STW_I32] = {"I32", 4}, [STW_U32] = {"U32", 4},
	[STW_F32] = {"F32", 4}, [STW_F64] = {"F64", 8}, [STW_I64] = {"I64", 8},
	[STW_U64] = {"U64", 8},
};
#define NDTYPES (sizeof dtypes / sizeof dtypes[0])

__attribute__((format(printf, 2, 3)))
static int
fail(stw_writer *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->err, sizeof w->err, fmt, ap);
	va_end(ap);
	return -1;
}

const char *
stw_dtype_name(enum stw_dtype t)
{
	return (unsigned)t < NDTYPES ? dtypes[t].name : NULL;
}

size_t
stw_dtype_size(enum stw_dtype t)
{
	return (unsigned)t < NDTYPES ? dtypes[t].size : 0;
}

int
stw_dtype_parse(const char *name)
{
	for (size_t i = 0; i < NDTYPES; i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return (int)i;
	return -1;
}

stw_writer *
stw_new(void)
{
	return calloc(1, sizeof(stw_writer));
}

void
stw_free(stw_writer *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++)
		free(w->t[i].name);
	for (size_t i = 0; i < w->nmeta; i++)
		free(w->meta[i]);
	free(w->t);
	free(w->meta);
	free(w);
}

const char *
stw_errmsg(const stw_writer *w)
{
	return w->err;
}

static int
grow(void *pp, size_t *cap, size_t need, size_t size)
{
	void **p = pp;
	size_t c = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if ((q = realloc(*p, c * size)) == NULL)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

int
stw_meta(stw_writer *w, const char *key, const char *value)
{
	char *k, *v;

	if (w->begun)
		return fail(w, "metadata added after the header was written");
	if (grow(&w->meta, &w->capmeta, w->nmeta + 2, sizeof(char *)) != 0)
		return fail(w, "out of memory");
	if ((k = strdup(key)) == NULL || (v = strdup(value)) == NULL) {
		free(k);
		return fail(w, "out of memory");
	}
	w->meta[w->nmeta++] = k;
	w->meta[w->nmeta++] = v;
	return 0;
}

int
stw_add(stw_writer *w, const char *name, enum stw_dtype t, int ndim, const int64_t *shape)
{
	struct stw_tensor *x;
	uint64_t numel = 1;

	if (w->begun)
		return fail(w, "%s: tensor added after the header was written", name);
	if ((unsigned)t >= NDTYPES)
		return fail(w, "%s: bad dtype %d", name, (int)t);
	if (ndim < 0 || ndim > STW_MAX_DIMS)
		return fail(w, "%s: %d dimensions (at most %d)", name, ndim, STW_MAX_DIMS);
	if (*name == '\0' || strcmp(name, "__metadata__") == 0)
		return fail(w, "bad tensor name '%s'", name);
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->t[i].name, name) == 0)
			return fail(w, "%s: duplicate tensor name", name);
	for (int d = 0; d < ndim; d++) {
		if (shape[d] < 0)
			return fail(w, "%s: negative dimension", name);
		if (shape[d] != 0 && numel > UINT64_MAX / 16 / (uint64_t)shape[d])
			return fail(w, "%s: tensor too large", name);
		numel *= (uint64_t)shape[d];
	}
	if (grow(&w->t, &w->cap, w->n + 1, sizeof *w->t) != 0)
		return fail(w, "out of memory");
	x = &w->t[w->n];
	memset(x, 0, sizeof *x);
	if ((x->name = strdup(name)) == NULL)
		return fail(w, "out of memory");
	x->dtype = t;
	x->ndim = ndim;
	if (ndim > 0)
		memcpy(x->shape, shape, (size_t)ndim * sizeof *shape);
	x->nbytes = numel * dtypes[t].size;
	w->n++;
	return 0;
}

/* The library's order: dtype descending, then name ascending (bytewise). */
static int
cmp_tensor(const void *a, const void *b)
{
	const struct stw_tensor *x = a, *y = b;

	if (x->dtype != y->dtype)
		return x->dtype > y->dtype ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* A growing byte buffer for the header. */
struct buf {
	char *p;
	size_t n, cap;
	int oom;
};

static void
buf_put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (grow(&b->p, &b->cap, b->n + n + 1, 1) != 0) {
		b->oom = 1;
		return;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

__attribute__((format(printf, 2, 3)))
static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string as serde_json writes it: ", \\ and control characters escaped,
 * everything else (UTF-8 included) as is. */
static void
buf_jstr(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	buf_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[7] = "\\u00";

		switch (c) {
		case '"': buf_put(b, "\\\"", 2); break;
		case '\\': buf_put(b, "\\\\", 2); break;
		case '\n': buf_put(b, "\\n", 2); break;
		case '\r': buf_put(b, "\\r", 2); break;
		case '\t': buf_put(b, "\\t", 2); break;
		case '\b': buf_put(b, "\\b", 2); break;
		case '\f': buf_put(b, "\\f", 2); break;
		default:
			if (c < 0x20) {
				e[4] = hex[c >> 4];
				e[5] = hex[c & 15];
				buf_put(b, e, 6);
			} else {
				buf_put(b, (const char *)&c, 1);
			}
		}
	}
	buf_put(b, "\"", 1);
}

static void
put_le64(unsigned char out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(v >> (8 * i));
}

int
stw_begin(stw_writer *w, FILE *fp)
{
	struct buf b = {0};
	unsigned char len[8];
	uint64_t off = 0;

	if (w->begun)
		return fail(w, "header already written");
	qsort(w->t, w->n, sizeof *w->t, cmp_tensor);
	buf_put(&b, "{", 1);
	if (w->nmeta > 0) {
		buf_put(&b, "\"__metadata__\":{", 16);
		for (size_t i = 0; i < w->nmeta; i += 2) {
			if (i > 0)
				buf_put(&b, ",", 1);
			buf_jstr(&b, w->meta[i]);
			buf_put(&b, ":", 1);
			buf_jstr(&b, w->meta[i + 1]);
		}
		buf_put(&b, "}", 1);
	}
	for (size_t i = 0; i < w->n; i++) {
		struct stw_tensor *x = &w->t[i];

		if (i > 0 || w->nmeta > 0)
			buf_put(&b, ",", 1);
		buf_jstr(&b, x->name);
		buf_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", dtypes[x->dtype].name);
		for (int d = 0; d < x->ndim; d++)
			buf_printf(&b, d ? ",%lld" : "%lld", (long long)x->shape[d]);
		x->begin = off;
		off += x->nbytes;
		buf_printf(&b, "],\"data_offsets\":[%llu,", (unsigned long long)x->begin);
		buf_printf(&b, "%llu]}", (unsigned long long)off);
	}
	buf_put(&b, "}", 1);
	while (!b.oom && b.n % 8 != 0)
		buf_put(&b, " ", 1);
	if (b.oom) {
		free(b.p);
		return fail(w, "out of memory");
	}
	w->header_len = b.n;
	w->data_len = off;
	put_le64(len, b.n);
	w->fp = fp;
	w->begun = 1;
	if (fwrite(len, 1, 8, fp) != 8 || fwrite(b.p, 1, b.n, fp) != b.n) {
		free(b.p);
		w->failed = 1;
		return fail(w, "write error");
	}
	free(b.p);
	w->cur = 0;
	w->done = 0;
	/* skip leading empty tensors so stw_next names the first one with data */
	while (w->cur < w->n && w->t[w->cur].nbytes == 0)
		w->cur++;
	return 0;
}

uint64_t
stw_file_size(const stw_writer *w)
{
	return 8 + w->header_len + w->data_len;
}

int
stw_next(const stw_writer *w, const char **name, enum stw_dtype *t, uint64_t *numel)
{
	const struct stw_tensor *x;

	if (!w->begun || w->cur >= w->n)
		return -1;
	x = &w->t[w->cur];
	if (name)
		*name = x->name;
	if (t)
		*t = x->dtype;
	if (numel)
		*numel = x->nbytes / dtypes[x->dtype].size;
	return (int)w->cur;
}

static void
advance(stw_writer *w, uint64_t n)
{
	w->done += n;
	while (w->cur < w->n && w->done == w->t[w->cur].nbytes) {
		w->cur++;
		w->done = 0;
	}
}

int
stw_write(stw_writer *w, const void *data, size_t nbytes)
{
	if (!w->begun)
		return fail(w, "data written before the header");
	if (w->failed)
		return fail(w, "write error");
	if (nbytes == 0)
		return 0;
	if (w->cur >= w->n || nbytes > w->t[w->cur].nbytes - w->done)
		return fail(w, "%s: more data than the tensor holds",
		    w->cur < w->n ? w->t[w->cur].name : "(all tensors complete)");
	if (fwrite(data, 1, nbytes, w->fp) != nbytes) {
		w->failed = 1;
		return fail(w, "write error");
	}
	advance(w, nbytes);
	return 0;
}

uint16_t
stw_f32_to_bf16(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)        /* NaN: keep it quiet, never round to Inf */
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

uint16_t
stw_f32_to_f16(float f)
{
	uint32_t u, sign, mant;
	int32_t exp;

	memcpy(&u, &f, 4);
	sign = (u >> 16) & 0x8000u;
	mant = u & 0x7fffffffu;
	if (mant >= 0x38800000u && mant < 0x477ff000u) { /* normal half, no overflow: rebias, round */
		mant -= 0x38000000u;
		mant += 0xfffu + ((mant >> 13) & 1);
		return (uint16_t)(sign | (mant >> 13));
	}
	exp = (int32_t)((u >> 23) & 0xff);
	mant = u & 0x7fffffu;
	if (exp == 0xff)                            /* Inf, NaN */
		return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
	exp = exp - 127 + 15;
	if (exp >= 0x1f)                            /* overflow */
		return (uint16_t)(sign | 0x7c00u);
	if (exp <= 0) {                             /* subnormal half or zero */
		uint32_t shift, half, rem, m;

		if (exp < -10)
			return (uint16_t)sign;
		m = mant | 0x800000u;
		shift = (uint32_t)(14 - exp);
		half = 1u << (shift - 1);
		rem = m & ((1u << shift) - 1);
		m >>= shift;
		if (rem > half || (rem == half && (m & 1)))
			m++;
		return (uint16_t)(sign | m);
	}
	{
		uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);
		uint32_t rem = mant & 0x1fffu;

		if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
			h++;                        /* may carry into the exponent: correct */
		return (uint16_t)h;
	}
}

int
stw_write_f32(stw_writer *w, const float *x, size_t n)
{
	unsigned char tmp[8192];
	enum stw_dtype t;
	size_t sz, per;

	if (!w->begun || w->cur >= w->n)
		return stw_write(w, x, n * 4);      /* reports the error */
	t = w->t[w->cur].dtype;
	if (t != STW_F32 && t != STW_F16 && t != STW_BF16)
		return fail(w, "%s: stw_write_f32 on a %s tensor", w->t[w->cur].name, dtypes[t].name);
	sz = dtypes[t].size;
	if (n > (w->t[w->cur].nbytes - w->done) / sz)
		return fail(w, "%s: more data than the tensor holds", w->t[w->cur].name);
	per = sizeof tmp / sz;
	while (n > 0) {
		size_t k = n < per ? n : per;

		for (size_t j = 0; j < k; j++) {
			uint32_t u;
			uint16_t h;

			if (t == STW_F32) {
				memcpy(&u, &x[j], 4);
				tmp[4 * j] = (unsigned char)u;
				tmp[4 * j + 1] = (unsigned char)(u >> 8);
				tmp[4 * j + 2] = (unsigned char)(u >> 16);
				tmp[4 * j + 3] = (unsigned char)(u >> 24);
			} else {
				h = t == STW_F16 ? stw_f32_to_f16(x[j]) : stw_f32_to_bf16(x[j]);
				tmp[2 * j] = (unsigned char)h;
				tmp[2 * j + 1] = (unsigned char)(h >> 8);
			}
		}
		if (stw_write(w, tmp, k * sz) != 0)
			return -1;
		x += k;
		n -= k;
	}
	return 0;
}

int
stw_finish(stw_writer *w)
{
	if (!w->begun)
		return fail(w, "header not written");
	if (w->failed)
		return fail(w, "write error");
	if (w->cur < w->n)
		return fail(w, "%s: tensor data incomplete", w->t[w->cur].name);
	if (fflush(w->fp) != 0 || ferror(w->fp)) {
		w->failed = 1;
		return fail(w, "write error");
	}
	return 0;
}
