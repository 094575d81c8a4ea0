/* bpe.c — vocabulary loading and byte-pair encoding (see bpe.h for the pipeline).
 *
 * A symbol is represented by its vocabulary id.  That is exact because OpenCLIP's
 * string -> id map is a function (a string listed twice keeps its last id, as with
 * Python's dict) and every symbol BPE can form is a vocabulary string.  The merge
 * table maps (left id, right id) to (rank, merged id); merges whose halves can never
 * be formed are dropped, and a pair listed twice keeps its last rank, as with
 * OpenCLIP's dict(zip(merges, range(...))). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include <zlib.h>

#include "bpe.h"
#include "bpe_int.h"
#include "errbuf.h"
#include "strhash.h"

#define BPE_GZ_MAX_MERGES (49152 - 256 - 2)   /* OpenCLIP: merges[1:49152-256-2+1] */
#define BPE_MAX_ID (1 << 24)

struct mslot { uint64_t key; int32_t rank, res; };   /* rank < 0: empty */

struct arena_blk { struct arena_blk *next; size_t used, cap; char data[]; };

struct bpe_tokenizer {
	size_t vocab_size;
	char **tok;                        /* id -> vocabulary string, NULL for an unused id */
	int32_t byte_id[256], byte_eow_id[256];
	int64_t sot, eot;
	struct mslot *mt;
	size_t mmask;
	struct arena_blk *arena;
};

static char *arena_alloc(struct bpe_tokenizer *t, size_t n)
{
	struct arena_blk *b = t->arena;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		b = malloc(sizeof *b + cap);
		if (!b)
			return NULL;
		b->next = t->arena;
		b->used = 0;
		b->cap = cap;
		t->arena = b;
	}
	char *p = b->data + b->used;
	b->used += n;
	return p;
}

static char *arena_str2(struct bpe_tokenizer *t, const char *a, size_t na, const char *b, size_t nb)
{
	char *p = arena_alloc(t, na + nb + 1);
	if (p) {
		memcpy(p, a, na);
		memcpy(p + na, b, nb);
		p[na + nb] = '\0';
	}
	return p;
}

/* ---- string -> id map (load time only) --------------------------------------- */

struct smap { const char **key; int32_t *val; size_t mask, n; };

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = cs_memhash_from(CS_STRHASH_START, s, n);
	return h ^ h >> 29;
}

static int smap_init(struct smap *m, size_t n)
{
	size_t cap = 1024;
	while (cap < 2 * n + 16)
		cap *= 2;
	m->key = calloc(cap, sizeof *m->key);
	m->val = malloc(cap * sizeof *m->val);
	m->mask = cap - 1;
	m->n = 0;
	return m->key && m->val ? 0 : -1;
}

static void smap_release(struct smap *m)
{
	free(m->key);
	free(m->val);
}

/* key must stay valid while the map lives; a key already present gets the new id */
static void smap_put(struct smap *m, const char *key, int32_t id)
{
	size_t len = strlen(key), i = hash_bytes(key, len) & m->mask;
	while (m->key[i] && strcmp(m->key[i], key) != 0)
		i = (i + 1) & m->mask;
	if (!m->key[i]) {
		m->key[i] = key;
		m->n++;
	}
	m->val[i] = id;
}

static int32_t smap_get(const struct smap *m, const char *key, size_t len)
{
	size_t i = hash_bytes(key, len) & m->mask;
	for (; m->key[i]; i = (i + 1) & m->mask)
		if (strncmp(m->key[i], key, len) == 0 && m->key[i][len] == '\0')
			return m->val[i];
	return -1;
}

/* ---- merge table --------------------------------------------------------------- */

static uint64_t pair_key(int32_t a, int32_t b)
{
	return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static size_t pair_slot(uint64_t k, size_t mask)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k & mask;
}

static int mtab_init(struct bpe_tokenizer *t, size_t n)
{
	size_t cap = 1024;
	while (cap < 2 * n + 16)
		cap *= 2;
	t->mt = malloc(cap * sizeof *t->mt);
	if (!t->mt)
		return -1;
	for (size_t i = 0; i < cap; i++)
		t->mt[i].rank = -1;
	t->mmask = cap - 1;
	return 0;
}

static void mtab_put(struct bpe_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t res)
{
	uint64_t k = pair_key(a, b);
	size_t i = pair_slot(k, t->mmask);
	while (t->mt[i].rank >= 0 && t->mt[i].key != k)
		i = (i + 1) & t->mmask;
	t->mt[i].key = k;
	t->mt[i].rank = rank;
	t->mt[i].res = res;
}

static const struct mslot *mtab_get(const struct bpe_tokenizer *t, int32_t a, int32_t b)
{
	uint64_t k = pair_key(a, b);
	size_t i = pair_slot(k, t->mmask);
	for (; t->mt[i].rank >= 0; i = (i + 1) & t->mmask)
		if (t->mt[i].key == k)
			return &t->mt[i];
	return NULL;
}

void bpe_free(bpe_tokenizer *t)
{
	if (!t)
		return;
	while (t->arena) {
		struct arena_blk *n = t->arena->next;
		free(t->arena);
		t->arena = n;
	}
	free(t->tok);
	free(t->mt);
	free(t);
}

size_t bpe_vocab_size(const bpe_tokenizer *t) { return t->vocab_size; }
int64_t bpe_sot_id(const bpe_tokenizer *t) { return t->sot; }
int64_t bpe_eot_id(const bpe_tokenizer *t) { return t->eot; }

/* ---- file reading ------------------------------------------------------------- */

/* One strictly valid UTF-8 character at s[i..n): its length (0 if invalid) and *cp. */
static size_t utf8_next(const char *str, size_t n, size_t i, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned b = s[i];
	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	size_t len = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
	if (!len || len > n - i)
		return 0;
	struct bpe_cps c = {0};
	/* bpe_utf8_decode cannot need more room: len bytes decode to 1..len code points,
	 * and only a single one (not U+FFFD) means valid */
	uint32_t tmp[4];
	c.v = tmp;
	c.cap = 4;
	bpe_utf8_decode(str + i, len, &c);
	if (c.n != 1 || c.v[0] == 0xFFFD)
		return 0;
	*cp = c.v[0];
	return len;
}

/* First byte offset of invalid UTF-8 (or a NUL) in s[0..n), or n. */
static size_t utf8_invalid_at(const char *s, size_t n)
{
	uint32_t cp;
	for (size_t i = 0, l; i < n; i += l)
		if (!(l = utf8_next(s, n, i, &cp)) || cp == 0)
			return i;
	return n;
}

static size_t line_of(const char *s, size_t off)
{
	size_t line = 1;
	for (size_t i = 0; i < off; i++)
		line += s[i] == '\n';
	return line;
}

static char *read_gz(const char *path, size_t *len, char *errbuf, size_t errlen)
{
	gzFile f = gzopen(path, "rb");
	if (!f) {
		cs_errbuf(errbuf, errlen, "%s: %s", path, errno ? strerror(errno) : "cannot open");
		return NULL;
	}
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap + 1);
	int err = 0;
	for (;;) {
		if (!buf) {
			cs_errbuf(errbuf, errlen, "%s: out of memory", path);
			break;
		}
		if (cap - n < 65536) {
			char *nb = cap < (size_t)1 << 30 ? realloc(buf, 2 * cap + 1) : NULL;
			if (!nb) {
				free(buf);
				buf = NULL;
				continue;
			}
			buf = nb;
			cap *= 2;
		}
		int r = gzread(f, buf + n, 65536);
		if (r < 0 || (r == 0 && gzerror(f, &err) && err != Z_OK)) {
			const char *msg = gzerror(f, &err);
			cs_errbuf(errbuf, errlen, "%s: corrupt or truncated gzip data (%s)", path,
			       err == Z_ERRNO ? strerror(errno) : msg);
			free(buf);
			buf = NULL;
			break;
		}
		if (n == 0 && r > 0 && gzdirect(f)) {
			cs_errbuf(errbuf, errlen, "%s: not a gzip file", path);
			free(buf);
			buf = NULL;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	gzclose(f);
	if (buf && n == 0) {
		cs_errbuf(errbuf, errlen, "%s: empty file", path);
		free(buf);
		buf = NULL;
	}
	if (buf) {
		buf[n] = '\0';
		*len = n;
	}
	return buf;
}

static char *read_file(const char *path, size_t *len, char *errbuf, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		cs_errbuf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		if (n == cap) {
			char *nb = cap < (size_t)1 << 30 ? realloc(buf, 2 * cap + 1) : NULL;
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (!buf)
		cs_errbuf(errbuf, errlen, "%s: out of memory", path);
	else if (ferror(f)) {
		cs_errbuf(errbuf, errlen, "%s: read error: %s", path, strerror(errno));
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		*len = n;
	}
	return buf;
}

/* Split a (valid UTF-8) merges line on Python whitespace, as str.split() does:
 * the first two fields as [start, end) byte offsets; returns the field count,
 * 3 meaning three or more. */
static int split_fields(const char *line, size_t len, size_t fs[2], size_t fe[2])
{
	int nf = 0, in = 0;
	uint32_t cp = 0;
	for (size_t i = 0, l; i < len; i += l) {
		l = utf8_next(line, len, i, &cp);
		if (!l) {
			l = 1;
			cp = (unsigned char)line[i];
		}
		if (bpe_is_space(cp)) {
			if (in && nf <= 2)
				fe[nf - 1] = i;
			in = 0;
		} else if (!in) {
			if (++nf > 2)
				return 3;
			fs[nf - 1] = i;
			in = 1;
		}
	}
	if (in)
		fe[nf - 1] = len;
	return nf;
}

static struct bpe_tokenizer *tok_new(size_t vocab_size)
{
	struct bpe_tokenizer *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->vocab_size = vocab_size;
	t->tok = calloc(vocab_size ? vocab_size : 1, sizeof *t->tok);
	if (!t->tok) {
		free(t);
		return NULL;
	}
	return t;
}

static int byte_ids(struct bpe_tokenizer *t, const struct smap *enc, const char *what,
                    char *errbuf, size_t errlen)
{
	for (unsigned b = 0; b < 256; b++) {
		char s[8];
		size_t n = bpe_utf8_put(bpe_byte_cp(b), s);
		memcpy(s + n, "</w>", 5);
		t->byte_id[b] = smap_get(enc, s, n);
		t->byte_eow_id[b] = smap_get(enc, s, n + 4);
		if (t->byte_id[b] < 0 || t->byte_eow_id[b] < 0) {
			s[t->byte_id[b] < 0 ? n : n + 4] = '\0';
			cs_errbuf(errbuf, errlen, "%s: no token \"%s\" for byte 0x%02x", what, s, b);
			return -1;
		}
	}
	return 0;
}

/* ---- OpenCLIP's gzip vocabulary ------------------------------------------------ */

struct gzmerge { const char *a, *b; size_t line; };

bpe_tokenizer *bpe_load_gz(const char *path, char *errbuf, size_t errlen)
{
	size_t len = 0;
	char *buf = read_gz(path, &len, errbuf, errlen);
	if (!buf)
		return NULL;
	struct bpe_tokenizer *t = NULL;
	struct gzmerge *mg = NULL;
	struct smap enc = {0};
	size_t bad = utf8_invalid_at(buf, len);
	if (bad < len) {
		cs_errbuf(errbuf, errlen, "%s:%zu: invalid UTF-8 (or a NUL byte)", path, line_of(buf, bad));
		goto fail;
	}
	/* lines 1 .. BPE_GZ_MAX_MERGES of buf.split('\n'); like Python, the empty
	 * string after a final newline is a line (an empty placeholder merge) */
	char *p = memchr(buf, '\n', len);
	if (!p) {
		cs_errbuf(errbuf, errlen, "%s: no merges after the header line", path);
		goto fail;
	}
	mg = malloc(BPE_GZ_MAX_MERGES * sizeof *mg);
	if (!mg)
		goto oom;
	size_t nm = 0, lineno = 1;
	char *end = buf + len;
	for (p++; nm < BPE_GZ_MAX_MERGES; lineno++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *le = nl ? nl : end;
		size_t fs[2], fe[2];
		int nf = split_fields(p, (size_t)(le - p), fs, fe);
		if (nf == 0 && !nl) {
			mg[nm].a = mg[nm].b = NULL;           /* placeholder: id reserved */
		} else if (nf != 2) {
			cs_errbuf(errbuf, errlen, "%s:%zu: malformed merge: expected two symbols, found %s",
			       path, lineno + 1, nf == 0 ? "an empty line" : nf == 1 ? "one" : "three or more");
			goto fail;
		} else {
			p[fe[0]] = '\0';
			p[fe[1]] = '\0';
			mg[nm].a = p + fs[0];
			mg[nm].b = p + fs[1];
		}
		mg[nm++].line = lineno + 1;
		if (!nl)
			break;
		p = nl + 1;
	}
	t = tok_new(512 + nm + 2);
	if (!t || smap_init(&enc, t->vocab_size) < 0 || mtab_init(t, nm) < 0)
		goto oom;
	for (unsigned i = 0; i < 256; i++) {
		char s[8];
		size_t n = bpe_utf8_put(bpe_byte_cp(bpe_byte_at(i)), s);
		if (!(t->tok[i] = arena_str2(t, s, n, "", 0)) ||
		    !(t->tok[256 + i] = arena_str2(t, s, n, "</w>", 4)))
			goto oom;
	}
	for (size_t i = 0; i < nm; i++) {
		const char *a = mg[i].a ? mg[i].a : "", *b = mg[i].b ? mg[i].b : "";
		if (!(t->tok[512 + i] = arena_str2(t, a, strlen(a), b, strlen(b))))
			goto oom;
	}
	t->tok[512 + nm] = arena_str2(t, "<start_of_text>", 15, "", 0);
	t->tok[513 + nm] = arena_str2(t, "<end_of_text>", 13, "", 0);
	if (!t->tok[512 + nm] || !t->tok[513 + nm])
		goto oom;
	for (size_t i = 0; i < t->vocab_size; i++)
		smap_put(&enc, t->tok[i], (int32_t)i);
	t->sot = (int64_t)(512 + nm);
	t->eot = (int64_t)(513 + nm);
	if (byte_ids(t, &enc, path, errbuf, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < nm; i++) {
		if (!mg[i].a)
			continue;
		int32_t ia = smap_get(&enc, mg[i].a, strlen(mg[i].a));
		int32_t ib = smap_get(&enc, mg[i].b, strlen(mg[i].b));
		if (ia < 0 || ib < 0)
			continue;   /* a half no merge forms: this merge can never apply */
		mtab_put(t, ia, ib, (int32_t)i, smap_get(&enc, t->tok[512 + i], strlen(t->tok[512 + i])));
	}
	smap_release(&enc);
	free(mg);
	free(buf);
	return t;
oom:
	cs_errbuf(errbuf, errlen, "%s: out of memory", path);
fail:
	smap_release(&enc);
	free(mg);
	free(buf);
	bpe_free(t);
	return NULL;
}

/* ---- the hub's vocab.json + merges.txt ------------------------------------------ */

static int load_vocab_json(struct bpe_tokenizer **tp, struct smap *enc, const char *path,
                           char *errbuf, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		if (je.line > 0)
			cs_errbuf(errbuf, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		else
			cs_errbuf(errbuf, errlen, "%s: %s", path, je.text);
		return -1;
	}
	int rc = -1;
	const char *key;
	json_t *v;
	if (!json_is_object(root)) {
		cs_errbuf(errbuf, errlen, "%s: not a JSON object (token -> id)", path);
		goto done;
	}
	json_int_t max = -1;
	json_object_foreach(root, key, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= BPE_MAX_ID) {
			cs_errbuf(errbuf, errlen, "%s: token \"%.64s\": id is not an integer in 0..%d",
			       path, key, BPE_MAX_ID - 1);
			goto done;
		}
		if (json_integer_value(v) > max)
			max = json_integer_value(v);
	}
	struct bpe_tokenizer *t = *tp = tok_new((size_t)(max + 1));
	if (!t || smap_init(enc, json_object_size(root)) < 0) {
		cs_errbuf(errbuf, errlen, "%s: out of memory", path);
		goto done;
	}
	json_object_foreach(root, key, v) {
		size_t id = (size_t)json_integer_value(v);
		if (t->tok[id]) {
			cs_errbuf(errbuf, errlen, "%s: id %zu given to both \"%.64s\" and \"%.64s\"",
			       path, id, t->tok[id], key);
			goto done;
		}
		if (!(t->tok[id] = arena_str2(t, key, strlen(key), "", 0))) {
			cs_errbuf(errbuf, errlen, "%s: out of memory", path);
			goto done;
		}
		smap_put(enc, t->tok[id], (int32_t)id);
	}
	rc = 0;
done:
	json_decref(root);
	return rc;
}

bpe_tokenizer *bpe_load_hf(const char *vocab_json, const char *merges_txt, char *errbuf, size_t errlen)
{
	struct bpe_tokenizer *t = NULL;
	struct smap enc = {0};
	size_t len = 0;
	char *buf = NULL;
	if (load_vocab_json(&t, &enc, vocab_json, errbuf, errlen) < 0)
		goto fail;
	int32_t sot = smap_get(&enc, "<|startoftext|>", 15), eot = smap_get(&enc, "<|endoftext|>", 13);
	if (sot < 0 || eot < 0) {
		cs_errbuf(errbuf, errlen, "%s: no \"%s\" token", vocab_json,
		       sot < 0 ? "<|startoftext|>" : "<|endoftext|>");
		goto fail;
	}
	t->sot = sot;
	t->eot = eot;
	if (byte_ids(t, &enc, vocab_json, errbuf, errlen) < 0)
		goto fail;
	if (!(buf = read_file(merges_txt, &len, errbuf, errlen)))
		goto fail;
	size_t bad = utf8_invalid_at(buf, len);
	if (bad < len) {
		cs_errbuf(errbuf, errlen, "%s:%zu: invalid UTF-8 (or a NUL byte)", merges_txt, line_of(buf, bad));
		goto fail;
	}
	/* trailing blank lines are dropped (the hub's reader strips the text) */
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
	                   buf[len - 1] == '\t'))
		buf[--len] = '\0';
	size_t nlines = 1;
	for (size_t i = 0; i < len; i++)
		nlines += buf[i] == '\n';
	if (mtab_init(t, nlines) < 0) {
		cs_errbuf(errbuf, errlen, "%s: out of memory", merges_txt);
		goto fail;
	}
	char *p = buf, *end = buf + len;
	size_t lineno = 1;
	int32_t rank = 0;
	if (strncmp(p, "#version", 8) == 0) {
		char *nl = memchr(p, '\n', len);
		p = nl ? nl + 1 : end;
		lineno++;
	}
	for (; p < end; lineno++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *le = nl ? nl : end;
		size_t fs[2], fe[2];
		int nf = split_fields(p, (size_t)(le - p), fs, fe);
		if (nf != 2) {
			cs_errbuf(errbuf, errlen, "%s:%zu: malformed merge: expected two symbols, found %s",
			       merges_txt, lineno, nf == 0 ? "an empty line" : nf == 1 ? "one" : "three or more");
			goto fail;
		}
		const char *a = p + fs[0], *b = p + fs[1];
		size_t na = fe[0] - fs[0], nb = fe[1] - fs[1];
		p[fe[0]] = p[fe[1]] = '\0';
		char *cat = arena_str2(t, a, na, b, nb);
		if (!cat) {
			cs_errbuf(errbuf, errlen, "%s: out of memory", merges_txt);
			goto fail;
		}
		int32_t ia = smap_get(&enc, a, na), ib = smap_get(&enc, b, nb);
		int32_t ir = smap_get(&enc, cat, na + nb);
		if (ia < 0 || ib < 0 || ir < 0) {
			cs_errbuf(errbuf, errlen, "%s:%zu: \"%.64s\" is not in %s", merges_txt, lineno,
			       ia < 0 ? a : ib < 0 ? b : cat, vocab_json);
			goto fail;
		}
		mtab_put(t, ia, ib, rank++, ir);
		p = nl ? nl + 1 : end;
	}
	smap_release(&enc);
	free(buf);
	return t;
fail:
	smap_release(&enc);
	free(buf);
	bpe_free(t);
	return NULL;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bpe_tokenizer *bpe_load_dir(const char *dir, char *errbuf, size_t errlen)
{
	size_t n = strlen(dir) + 64;
	char *vj = malloc(n), *mt = malloc(n), *gz = malloc(n);
	bpe_tokenizer *t = NULL;
	if (!vj || !mt || !gz) {
		cs_errbuf(errbuf, errlen, "%s: out of memory", dir);
		goto done;
	}
	snprintf(vj, n, "%s/vocab.json", dir);
	snprintf(mt, n, "%s/merges.txt", dir);
	snprintf(gz, n, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
	if (file_exists(vj) && file_exists(mt))
		t = bpe_load_hf(vj, mt, errbuf, errlen);
	else if (file_exists(gz))
		t = bpe_load_gz(gz, errbuf, errlen);
	else
		cs_errbuf(errbuf, errlen, "%s: no tokenizer vocabulary (vocab.json and merges.txt, "
		       "or bpe_simple_vocab_16e6.txt.gz)", dir);
done:
	free(vj);
	free(mt);
	free(gz);
	return t;
}

/* ---- encoding ------------------------------------------------------------------ */

struct hent { int32_t rank, pos, a, b; };

struct work {
	struct bpe_cps text;
	unsigned char *bytes;
	int32_t *sym, *prev, *next;
	struct hent *heap, *batch;
	size_t cap, hn, hcap;
	int64_t *body;
	size_t nbody, bcap;
};

static int work_reserve(struct work *w, size_t n)
{
	if (n <= w->cap)
		return 0;
	size_t cap = w->cap ? w->cap : 64;
	while (cap < n)
		cap *= 2;
	unsigned char *by = realloc(w->bytes, cap);
	if (by) w->bytes = by;
	int32_t *s = realloc(w->sym, cap * sizeof *s);
	if (s) w->sym = s;
	int32_t *p = realloc(w->prev, cap * sizeof *p);
	if (p) w->prev = p;
	int32_t *nx = realloc(w->next, cap * sizeof *nx);
	if (nx) w->next = nx;
	if (!by || !s || !p || !nx)
		return -1;
	w->cap = cap;
	return 0;
}

static int body_push(struct work *w, int64_t id)
{
	if (w->nbody == w->bcap) {
		size_t cap = w->bcap ? 2 * w->bcap : 128;
		int64_t *b = realloc(w->body, cap * sizeof *b);
		if (!b)
			return -1;
		w->body = b;
		w->bcap = cap;
	}
	w->body[w->nbody++] = id;
	return 0;
}

static int hless(const struct hent *x, const struct hent *y)
{
	return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static int heap_push(struct work *w, struct hent e)
{
	if (w->hn == w->hcap) {
		size_t cap = w->hcap ? 2 * w->hcap : 64;
		struct hent *h = realloc(w->heap, cap * sizeof *h);
		if (h)
			w->heap = h;
		struct hent *b = realloc(w->batch, cap * sizeof *b);   /* a batch <= the heap */
		if (b)
			w->batch = b;
		if (!h || !b)
			return -1;
		w->hcap = cap;
	}
	size_t i = w->hn++;
	while (i > 0 && hless(&e, &w->heap[(i - 1) / 2])) {
		w->heap[i] = w->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	w->heap[i] = e;
	return 0;
}

static struct hent heap_pop(struct work *w)
{
	struct hent top = w->heap[0], last = w->heap[--w->hn];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= w->hn)
			break;
		if (c + 1 < w->hn && hless(&w->heap[c + 1], &w->heap[c]))
			c++;
		if (!hless(&w->heap[c], &last))
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (w->hn)
		w->heap[i] = last;
	return top;
}

static int push_pair(const bpe_tokenizer *t, struct work *w, int32_t i)
{
	if (i < 0 || w->next[i] < 0)
		return 0;
	const struct mslot *m = mtab_get(t, w->sym[i], w->sym[w->next[i]]);
	if (!m)
		return 0;
	struct hent e = { m->rank, i, w->sym[i], w->sym[w->next[i]] };
	return heap_push(w, e);
}

/* OpenCLIP's bpe(): repeatedly take the lowest-ranked adjacent pair and merge every
 * occurrence of it, left to right, in one pass.  Pairs a pass creates wait for the
 * next pass (the batch), as in the Python loop. */
static int bpe_word(const bpe_tokenizer *t, struct work *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		w->sym[i] = i + 1 < n ? t->byte_id[w->bytes[i]] : t->byte_eow_id[w->bytes[i]];
		w->prev[i] = (int32_t)i - 1;
		w->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
	}
	w->hn = 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (push_pair(t, w, (int32_t)i) < 0)
			return -1;
	while (w->hn) {
		int32_t rank = w->heap[0].rank;
		size_t nb = 0;
		while (w->hn && w->heap[0].rank == rank)
			w->batch[nb++] = heap_pop(w);
		const struct mslot *m = NULL;
		for (size_t k = 0; k < nb; k++) {
			struct hent e = w->batch[k];
			int32_t i = e.pos, j = w->next[i];
			if (w->sym[i] != e.a || j < 0 || w->sym[j] != e.b || w->prev[j] != i)
				continue;
			if (!m && !(m = mtab_get(t, e.a, e.b)))
				return -1;   /* cannot happen: e came from the table */
			w->sym[i] = m->res;
			w->next[i] = w->next[j];
			if (w->next[j] >= 0)
				w->prev[w->next[j]] = i;
			w->prev[j] = w->next[j] = -2;   /* dead */
			w->sym[j] = -1;
			if (push_pair(t, w, w->prev[i]) < 0 || push_pair(t, w, i) < 0)
				return -1;
		}
	}
	for (int32_t i = 0; i >= 0; i = w->next[i])
		if (body_push(w, w->sym[i]) < 0)
			return -1;
	return 0;
}

static void work_release(struct work *w)
{
	free(w->text.v);
	free(w->bytes);
	free(w->sym);
	free(w->prev);
	free(w->next);
	free(w->heap);
	free(w->batch);
	free(w->body);
}

int bpe_encode_full(const bpe_tokenizer *t, const char *utf8, int64_t *ids,
                    size_t ctx, size_t *n_full)
{
	struct work w = {0};
	int rc = -1;
	if (!t || !utf8 || !ids || ctx == 0 || ctx > INT32_MAX || bpe_clean_text(utf8, &w.text) < 0)
		goto done;
	size_t pos = 0, s, e;
	int kind;
	while ((kind = bpe_next_piece(w.text.v, w.text.n, &pos, &s, &e)) != BPE_PIECE_NONE) {
		if (!n_full && w.nbody >= ctx)
			break;   /* the rest would be cut off anyway */
		if (kind == BPE_PIECE_SOT || kind == BPE_PIECE_EOT) {
			if (body_push(&w, kind == BPE_PIECE_SOT ? t->sot : t->eot) < 0)
				goto done;
			continue;
		}
		if (work_reserve(&w, 4 * (e - s)) < 0)
			goto done;
		size_t nb = 0;
		for (size_t k = s; k < e; k++)
			nb += bpe_utf8_put(w.text.v[k], (char *)w.bytes + nb);
		if (bpe_word(t, &w, nb) < 0)
			goto done;
	}
	size_t total = w.nbody + 2, n = total < ctx ? total : ctx;
	ids[0] = t->sot;
	for (size_t k = 1; k + 1 < n; k++)
		ids[k] = w.body[k - 1];
	ids[n - 1] = t->eot;
	for (size_t k = n; k < ctx; k++)
		ids[k] = 0;
	if (n_full)
		*n_full = total;
	rc = (int)n;
done:
	work_release(&w);
	return rc;
}

int bpe_encode(const bpe_tokenizer *t, const char *utf8, int64_t *ids, size_t ctx)
{
	return bpe_encode_full(t, utf8, ids, ctx, NULL);
}

/* ---- decoding ------------------------------------------------------------------ */

static int cp_to_byte(uint32_t c)
{
	if (c < 256)
		return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE) ? (int)c : -1;
	if (c < 256 + 68) {
		unsigned k = c - 256;
		for (unsigned x = 0; x < 256; x++)
			if (bpe_byte_cp(x) >= 256 && k-- == 0)
				return (int)x;
	}
	return -1;
}

char *bpe_decode(const bpe_tokenizer *t, const int64_t *ids, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n && ids[i] != t->eot; i++) {
		if (ids[i] < 0 || (uint64_t)ids[i] >= t->vocab_size || !t->tok[ids[i]])
			return NULL;
		if (ids[i] != t->sot)
			len += strlen(t->tok[ids[i]]);
	}
	struct bpe_cps c = {0};
	char *raw = malloc(len + 1), *out = NULL;
	if (!raw)
		return NULL;
	len = 0;
	for (size_t i = 0; i < n && ids[i] != t->eot; i++)
		if (ids[i] != t->sot) {
			size_t l = strlen(t->tok[ids[i]]);
			memcpy(raw + len, t->tok[ids[i]], l);
			len += l;
		}
	if (bpe_utf8_decode(raw, len, &c) < 0)
		goto done;
	/* token characters back to bytes: reuse raw, which is at least as long */
	size_t nb = 0;
	for (size_t i = 0; i < c.n; i++) {
		int b = cp_to_byte(c.v[i]);
		if (b < 0)
			goto done;
		raw[nb++] = (char)b;
	}
	c.n = 0;
	if (bpe_utf8_decode(raw, nb, &c) < 0 || !(out = malloc(4 * c.n + 1)))
		goto done;
	size_t o = 0;
	for (size_t i = 0; i < c.n; i++)
		o += bpe_utf8_put(c.v[i], out + o);
	out[o] = '\0';
	/* "</w>" -> " " */
	char *r = out, *wp = out;
	while (*r) {
		if (strncmp(r, "</w>", 4) == 0) {
			*wp++ = ' ';
			r += 4;
		} else {
			*wp++ = *r++;
		}
	}
	*wp = '\0';
done:
	free(c.v);
	free(raw);
	return out;
}
