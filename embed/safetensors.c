/* safetensors.c — see safetensors.h.  Every offset and size read from the file is
 * checked before use: the header lies inside the file, each tensor's range lies
 * inside the data section, ranges do not overlap, and shape × dtype size equals
 * the range's length. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "clip.h"
#include "safetensors.h"

struct st_file {
	char *name;
	const unsigned char *base;  /* whole file */
	uint64_t size;
	uint64_t hlen;              /* JSON header length */
	const unsigned char *data;  /* data section */
	uint64_t dlen;
	int mapped;
	size_t n;
	st_tensor *t;
	char *names;                /* backing store for tensor names */
};

static int fail(char *err, size_t errlen, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return status;
}

static const struct { const char *name; size_t size; } dtypes[] = {
	[ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
	[ST_F64] = {"F64", 8}, [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4},
	[ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1}, [ST_U8] = {"U8", 1}, [ST_BOOL] = {"BOOL", 1},
};

size_t st_dtype_size(int dtype)
{
	return dtype >= 0 && dtype <= ST_BOOL ? dtypes[dtype].size : 0;
}

const char *st_dtype_name(int dtype)
{
	return dtype >= 0 && dtype <= ST_BOOL ? dtypes[dtype].name : "?";
}

uint64_t st_numel(const st_tensor *t)
{
	uint64_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= (uint64_t)t->shape[i];
	return n;
}

void st_shape_str(const int64_t *shape, int ndim, char *buf, size_t len)
{
	size_t o = 0;
	if (!len)
		return;
	buf[0] = 0;
	o += (size_t)snprintf(buf + o, len - o, "[");
	for (int i = 0; i < ndim && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int by_begin(const void *a, const void *b)
{
	const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
	return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static int parse_tensor(st_file *f, const char *key, json_t *v, st_tensor *t, char *err, size_t errlen)
{
	json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape");
	json_t *off = json_object_get(v, "data_offsets");
	const char *dts;
	size_t i;
	uint64_t numel = 1, bytes;

	if (!json_is_object(v) || !json_is_string(dt) || !json_is_array(sh) || !json_is_array(off))
		return fail(err, errlen, CS_EMODEL_FORMAT, "%s: tensor %s: header entry needs dtype, shape and data_offsets",
		            f->name, key);
	dts = json_string_value(dt);
	t->dtype = -1;
	for (i = 0; i <= ST_BOOL; i++)
		if (!strcmp(dts, dtypes[i].name))
			t->dtype = (int)i;
	if (t->dtype < 0)
		return fail(err, errlen, CS_EMODEL_FORMAT, "%s: tensor %s: unknown dtype \"%s\"", f->name, key, dts);
	if (json_array_size(sh) > ST_MAX_DIMS)
		return fail(err, errlen, CS_EMODEL_FORMAT, "%s: tensor %s: %zu dimensions (at most %d)",
		            f->name, key, json_array_size(sh), ST_MAX_DIMS);
	t->ndim = (int)json_array_size(sh);
	for (i = 0; i < json_array_size(sh); i++) {
		json_t *d = json_array_get(sh, i);
		json_int_t x = json_is_integer(d) ? json_integer_value(d) : -1;
		if (x < 0 || x > ((json_int_t)1 << 40))
			return fail(err, errlen, CS_EMODEL_FORMAT, "%s: tensor %s: bad shape entry %zu", f->name, key, i);
		t->shape[i] = x;
		if (x && numel > UINT64_MAX / (uint64_t)x / 8)
			return fail(err, errlen, CS_EMODEL_FORMAT, "%s: tensor %s: shape too large", f->name, key);
		numel *= (uint64_t)x;
	}
	if (json_array_size(off) != 2 || !json_is_integer(json_array_get(off, 0)) ||
	    !json_is_integer(json_array_get(off, 1)) || json_integer_value(json_array_get(off, 0)) < 0 ||
	    json_integer_value(json_array_get(off, 1)) < json_integer_value(json_array_get(off, 0)))
		return fail(err, errlen, CS_EMODEL_FORMAT, "%s: tensor %s: data_offsets must be [begin, end] with 0 <= begin <= end",
		            f->name, key);
	t->begin = (uint64_t)json_integer_value(json_array_get(off, 0));
	t->end = (uint64_t)json_integer_value(json_array_get(off, 1));
	if (t->end > f->dlen)
		return fail(err, errlen, CS_EMODEL_FORMAT,
		            "%s: tensor %s: data ends at byte %llu of a %llu-byte data section (file truncated?)",
		            f->name, key, (unsigned long long)t->end, (unsigned long long)f->dlen);
	bytes = numel * dtypes[t->dtype].size;
	if (bytes != t->end - t->begin) {
		char s[160];
		st_shape_str(t->shape, t->ndim, s, sizeof s);
		return fail(err, errlen, CS_EMODEL_FORMAT, "%s: tensor %s: shape %s of %s needs %llu bytes, data_offsets give %llu",
		            f->name, key, s, dts, (unsigned long long)bytes, (unsigned long long)(t->end - t->begin));
	}
	t->data = f->data + t->begin;
	return 0;
}

static int parse(st_file *f, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root, *v;
	const char *key;
	size_t namesz = 0, i, k = 0;
	st_tensor **order = NULL;
	int rc = 0;

	if (f->size < 8)
		return fail(err, errlen, CS_EMODEL_FORMAT, "%s: truncated: %llu bytes, no safetensors header",
		            f->name, (unsigned long long)f->size);
	f->hlen = 0;
	for (i = 0; i < 8; i++)
		f->hlen |= (uint64_t)f->base[i] << (8 * i);
	if (f->hlen < 2 || f->hlen > ST_MAX_HEADER || f->hlen > f->size - 8)
		return fail(err, errlen, CS_EMODEL_FORMAT, "%s: header length %llu does not fit a %llu-byte file (not safetensors, or truncated)",
		            f->name, (unsigned long long)f->hlen, (unsigned long long)f->size);
	f->data = f->base + 8 + f->hlen;
	f->dlen = f->size - 8 - f->hlen;
	root = json_loadb((const char *)f->base + 8, (size_t)f->hlen, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return fail(err, errlen, CS_EMODEL_FORMAT, "%s: header is not valid JSON: %s (byte %d of the header)",
		            f->name, je.text, je.position);
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(err, errlen, CS_EMODEL_FORMAT, "%s: header is not a JSON object", f->name);
	}
	json_object_foreach(root, key, v) {
		if (!strcmp(key, "__metadata__"))
			continue;
		namesz += strlen(key) + 1;
		f->n++;
	}
	f->t = calloc(f->n ? f->n : 1, sizeof *f->t);
	f->names = malloc(namesz ? namesz : 1);
	order = calloc(f->n ? f->n : 1, sizeof *order);
	if (!f->t || !f->names || !order) {
		rc = fail(err, errlen, CS_ENOMEM, "%s: out of memory", f->name);
		goto out;
	}
	namesz = 0;
	json_object_foreach(root, key, v) {
		if (!strcmp(key, "__metadata__")) {
			if (!json_is_object(v)) {
				rc = fail(err, errlen, CS_EMODEL_FORMAT, "%s: __metadata__ is not an object", f->name);
				goto out;
			}
			continue;
		}
		if ((rc = parse_tensor(f, key, v, &f->t[k], err, errlen)) != 0)
			goto out;
		strcpy(f->names + namesz, key);
		f->t[k].name = f->names + namesz;
		namesz += strlen(key) + 1;
		k++;
	}
	for (i = 0; i < f->n; i++)
		order[i] = &f->t[i];
	qsort(order, f->n, sizeof *order, by_begin);
	for (i = 1; i < f->n; i++)
		if (order[i]->begin < order[i - 1]->end) {
			rc = fail(err, errlen, CS_EMODEL_FORMAT, "%s: tensors %s and %s overlap in the data section",
			          f->name, order[i - 1]->name, order[i]->name);
			goto out;
		}
	qsort(f->t, f->n, sizeof *f->t, by_name);
out:
	free(order);
	json_decref(root);
	return rc;
}

static st_file *st_new(const char *name)
{
	st_file *f = calloc(1, sizeof *f);
	if (f && !(f->name = strdup(name))) {
		free(f);
		f = NULL;
	}
	return f;
}

int st_open_mem(const void *buf, size_t len, const char *name, st_file **out, char *err, size_t errlen)
{
	st_file *f;
	int rc;

	*out = NULL;
	if (!(f = st_new(name)))
		return fail(err, errlen, CS_ENOMEM, "%s: out of memory", name);
	f->base = buf;
	f->size = len;
	if ((rc = parse(f, err, errlen)) != 0) {
		st_close(f);
		return rc;
	}
	*out = f;
	return 0;
}

int st_open(const char *path, st_file **out, char *err, size_t errlen)
{
	struct stat sb;
	st_file *f;
	void *p;
	int fd, rc;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return fail(err, errlen, errno == ENOENT ? CS_EMODEL_MISSING : CS_EMODEL_FORMAT, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = fail(err, errlen, CS_EMODEL_FORMAT, "%s: %s", path, S_ISREG(sb.st_mode) ? strerror(errno) : "not a regular file");
		close(fd);
		return rc;
	}
	if (sb.st_size < 8) {
		close(fd);
		return fail(err, errlen, CS_EMODEL_FORMAT, "%s: truncated: %lld bytes, no safetensors header", path, (long long)sb.st_size);
	}
	p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return fail(err, errlen, errno == ENOMEM ? CS_ENOMEM : CS_EMODEL_FORMAT, "%s: mmap: %s", path, strerror(errno));
	if (!(f = st_new(path))) {
		munmap(p, (size_t)sb.st_size);
		return fail(err, errlen, CS_ENOMEM, "%s: out of memory", path);
	}
	f->base = p;
	f->size = (uint64_t)sb.st_size;
	f->mapped = 1;
	if ((rc = parse(f, err, errlen)) != 0) {
		st_close(f);
		return rc;
	}
	*out = f;
	return 0;
}

void st_close(st_file *f)
{
	if (!f)
		return;
	if (f->mapped)
		munmap((void *)(uintptr_t)f->base, (size_t)f->size);
	free(f->t);
	free(f->names);
	free(f->name);
	free(f);
}

size_t st_count(const st_file *f) { return f->n; }
uint64_t st_file_size(const st_file *f) { return f->size; }

const st_tensor *st_at(const st_file *f, size_t i)
{
	return i < f->n ? &f->t[i] : NULL;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
	st_tensor key;
	key.name = name;
	return bsearch(&key, f->t, f->n, sizeof *f->t, by_name);
}

int st_fingerprint(const st_file *f, char hex[65], char *err, size_t errlen)
{
	enum { SLICES = 256, SLICE = 4096 };
	unsigned char md[EVP_MAX_MD_SIZE], sz[8];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok;

	if (!c)
		return fail(err, errlen, CS_ENOMEM, "%s: out of memory", f->name);
	for (int i = 0; i < 8; i++)
		sz[i] = (unsigned char)(f->size >> (8 * i));
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(c, f->base, (size_t)(8 + f->hlen)) &&
	     EVP_DigestUpdate(c, sz, sizeof sz);
	if (ok && f->dlen <= (uint64_t)SLICES * SLICE) {
		ok = EVP_DigestUpdate(c, f->data, (size_t)f->dlen);
	} else {
		for (uint64_t i = 0; ok && i < SLICES; i++) {
			uint64_t off = i * (f->dlen - SLICE) / (SLICES - 1);
			ok = EVP_DigestUpdate(c, f->data + off, SLICE);
		}
	}
	ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) && mdlen == 32;
	EVP_MD_CTX_free(c);
	if (!ok)
		return fail(err, errlen, CS_EINTERNAL, "%s: SHA-256 failed", f->name);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}
