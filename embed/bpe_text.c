/* bpe_text.c — the text side of the CLIP tokenizer: Python's UTF-8 decoding with
 * errors='replace', html.unescape, str.strip/split/lower, and the pre-tokenizer regex.
 * Each function copies one Python behaviour; the tables it needs are generated from
 * Python itself (scripts/gen-bpe-tables.py). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bpe_int.h"

static int cps_reserve(struct bpe_cps *s, size_t extra)
{
	if (s->cap - s->n >= extra)
		return 0;
	size_t cap = s->cap ? s->cap : 64;
	while (cap - s->n < extra) {
		if (cap > SIZE_MAX / 2 / sizeof *s->v)
			return -1;
		cap *= 2;
	}
	uint32_t *v = realloc(s->v, cap * sizeof *v);
	if (!v)
		return -1;
	s->v = v;
	s->cap = cap;
	return 0;
}

static int cps_push(struct bpe_cps *s, uint32_t c)
{
	if (cps_reserve(s, 1) < 0)
		return -1;
	s->v[s->n++] = c;
	return 0;
}

int bpe_in_ranges(const struct bpe_range *r, size_t n, uint32_t c)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c < r[mid].lo)
			hi = mid;
		else if (c > r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

int bpe_is_space(uint32_t c)
{
	if (c < 0x80)
		return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
	return bpe_in_ranges(bpe_space, bpe_space_len, c);
}

size_t bpe_utf8_put(uint32_t c, char *o)
{
	unsigned char *u = (unsigned char *)o;
	if (c < 0x80) {
		u[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		u[0] = (unsigned char)(0xC0 | c >> 6);
		u[1] = (unsigned char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		u[0] = (unsigned char)(0xE0 | c >> 12);
		u[1] = (unsigned char)(0x80 | (c >> 6 & 0x3F));
		u[2] = (unsigned char)(0x80 | (c & 0x3F));
		return 3;
	}
	u[0] = (unsigned char)(0xF0 | c >> 18);
	u[1] = (unsigned char)(0x80 | (c >> 12 & 0x3F));
	u[2] = (unsigned char)(0x80 | (c >> 6 & 0x3F));
	u[3] = (unsigned char)(0x80 | (c & 0x3F));
	return 4;
}

/* Python's decoder: a maximal prefix of a valid sequence that is cut short, or a byte
 * that cannot start one, becomes one U+FFFD (Unicode's "maximal subpart" practice). */
int bpe_utf8_decode(const char *str, size_t len, struct bpe_cps *out)
{
	const unsigned char *s = (const unsigned char *)str;
	if (cps_reserve(out, len) < 0)
		return -1;
	size_t i = 0;
	while (i < len) {
		unsigned b = s[i];
		if (b < 0x80) {
			out->v[out->n++] = b;
			i++;
			continue;
		}
		int need;
		uint32_t c;
		unsigned lo = 0x80, hi = 0xBF;
		if (b >= 0xC2 && b <= 0xDF) {
			need = 1; c = b & 0x1F;
		} else if (b >= 0xE0 && b <= 0xEF) {
			need = 2; c = b & 0x0F;
			if (b == 0xE0) lo = 0xA0;
			if (b == 0xED) hi = 0x9F;
		} else if (b >= 0xF0 && b <= 0xF4) {
			need = 3; c = b & 0x07;
			if (b == 0xF0) lo = 0x90;
			if (b == 0xF4) hi = 0x8F;
		} else {
			out->v[out->n++] = 0xFFFD;
			i++;
			continue;
		}
		size_t j = i + 1;
		int k;
		for (k = 0; k < need && j < len; k++, j++) {
			unsigned t = s[j];
			if (t < lo || t > hi)
				break;
			c = c << 6 | (t & 0x3F);
			lo = 0x80;
			hi = 0xBF;
		}
		out->v[out->n++] = k == need ? c : 0xFFFD;
		i = j;
	}
	return 0;
}

/* ---- html.unescape ---------------------------------------------------------- */

static int cmp_entity(const char *key, size_t klen, const char *name)
{
	size_t nlen = strlen(name);
	int c = memcmp(key, name, klen < nlen ? klen : nlen);
	if (c)
		return c;
	return klen < nlen ? -1 : klen > nlen;
}

static const char *entity_lookup(const char *key, size_t klen)
{
	size_t lo = 0, hi = bpe_html5_len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_entity(key, klen, bpe_html5[mid].name);
		if (c == 0)
			return bpe_html5[mid].value;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int push_utf8(struct bpe_cps *out, const char *s)
{
	return bpe_utf8_decode(s, strlen(s), out);
}

static int push_numeric(struct bpe_cps *out, uint32_t num)
{
	for (size_t i = 0; i < bpe_invalid_charrefs_len; i++)
		if (bpe_invalid_charrefs[i].num == num)
			return cps_push(out, bpe_invalid_charrefs[i].cp);
	if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF)
		return cps_push(out, 0xFFFD);
	size_t lo = 0, hi = bpe_invalid_codepoints_len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bpe_invalid_codepoints[mid] == num)
			return 0;
		if (bpe_invalid_codepoints[mid] < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return cps_push(out, num);
}

static int hexval(uint32_t c)
{
	if (c >= '0' && c <= '9') return (int)(c - '0');
	if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
	return -1;
}

/* A numeric reference &#DDD;? / &#xHHH;? at in[i] ('&'); returns the index after it,
 * or 0 when none starts there.  Values past U+10FFFF saturate (Python 3.11 raises
 * ValueError for a decimal reference of more than 4300 digits; we give U+FFFD). */
static size_t numeric_ref(const uint32_t *in, size_t n, size_t i, struct bpe_cps *out, int *err)
{
	size_t j = i + 2, k;
	int base = 10;
	if (j < n && (in[j] == 'x' || in[j] == 'X')) {
		base = 16;
		j++;
	}
	uint32_t num = 0;
	for (k = j; k < n; k++) {
		int d = base == 16 ? hexval(in[k]) : (in[k] >= '0' && in[k] <= '9' ? (int)(in[k] - '0') : -1);
		if (d < 0)
			break;
		num = num > 0x110000 ? 0x110001 : num * (uint32_t)base + (uint32_t)d;
	}
	if (k == j)
		return 0;
	if (k < n && in[k] == ';')
		k++;
	if (push_numeric(out, num) < 0)
		*err = 1;
	return k;
}

static int named_excluded(uint32_t c)
{
	return c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' ||
	       c == '#' || c == ';';
}

/* Python's html.unescape of in[0..n), appended to out. */
static int html_unescape(const uint32_t *in, size_t n, struct bpe_cps *out)
{
	char key[34];
	size_t i = 0;
	int err = 0;
	while (i < n && !err) {
		if (in[i] != '&') {
			err = cps_push(out, in[i++]) < 0;
			continue;
		}
		if (i + 1 < n && in[i + 1] == '#') {
			size_t e = numeric_ref(in, n, i, out, &err);
			if (e) {
				i = e;
			} else {
				err = cps_push(out, '&') < 0;
				i++;
			}
			continue;
		}
		size_t j = i + 1, k = j;
		while (k < n && k - j < 32 && !named_excluded(in[k]))
			k++;
		if (k == j) {
			err = cps_push(out, '&') < 0;
			i++;
			continue;
		}
		size_t end = k < n && in[k] == ';' ? k + 1 : k, len = end - j;
		for (size_t m = 0; m < len; m++)   /* names are ASCII; 0x01 never matches */
			key[m] = in[j + m] < 0x80 ? (char)in[j + m] : '\001';
		const char *v = entity_lookup(key, len);
		size_t x = len;
		for (; !v && x > 2; ) {
			x--;
			v = entity_lookup(key, x);
		}
		if (v) {
			err = push_utf8(out, v) < 0;
			for (size_t m = j + x; m < end && !err; m++)
				err = cps_push(out, in[m]) < 0;
		} else {
			for (size_t m = i; m < end && !err; m++)
				err = cps_push(out, in[m]) < 0;
		}
		i = end;
	}
	return err ? -1 : 0;
}

/* ---- str.lower --------------------------------------------------------------- */

static int is_cased(uint32_t c)
{
	return bpe_in_ranges(bpe_cased, bpe_cased_len, c);
}

static int is_case_ignorable(uint32_t c)
{
	return bpe_in_ranges(bpe_case_ignorable, bpe_case_ignorable_len, c);
}

/* CPython's handle_capital_sigma: U+03A3 at t[i] lowers to final sigma after a cased
 * letter (skipping case-ignorables) that is not followed by one. */
static uint32_t lower_sigma(const uint32_t *t, size_t n, size_t i)
{
	size_t j = i;
	uint32_t c = 0;
	while (j > 0) {
		c = t[--j];
		if (!is_case_ignorable(c))
			goto found;
	}
	return 0x3C3;
found:
	if (!is_cased(c))
		return 0x3C3;
	for (j = i + 1; j < n; j++) {
		c = t[j];
		if (!is_case_ignorable(c))
			return is_cased(c) ? 0x3C3 : 0x3C2;
	}
	return 0x3C2;
}

/* ---- the pipeline ------------------------------------------------------------ */

int bpe_clean_text(const char *utf8, struct bpe_cps *out)
{
	struct bpe_cps a = {0}, b = {0};
	int rc = -1;
	out->n = 0;
	if (bpe_utf8_decode(utf8, strlen(utf8), &a) < 0)
		goto done;
	/* ftfy.fix_text: identity (see bpe.h) */
	if (html_unescape(a.v, a.n, &b) < 0)
		goto done;
	a.n = 0;
	if (html_unescape(b.v, b.n, &a) < 0)
		goto done;
	/* strip(), then " ".join(split()): together, whitespace runs -> one ' ', none at
	 * either end */
	b.n = 0;
	if (cps_reserve(&b, a.n + 1) < 0)
		goto done;
	int pending = 0;
	for (size_t i = 0; i < a.n; i++) {
		if (bpe_is_space(a.v[i])) {
			pending = b.n > 0;
			continue;
		}
		if (pending)
			b.v[b.n++] = ' ';
		pending = 0;
		b.v[b.n++] = a.v[i];
	}
	/* lower() */
	if (cps_reserve(out, b.n + 16) < 0)
		goto done;
	for (size_t i = 0; i < b.n; i++) {
		uint32_t c = b.v[i];
		if (c == 0x130) {
			if (cps_reserve(out, b.n - i + 2) < 0)
				goto done;
			out->v[out->n++] = 'i';
			out->v[out->n++] = 0x307;
		} else if (c == 0x3A3) {
			out->v[out->n++] = lower_sigma(b.v, b.n, i);
		} else {
			out->v[out->n++] = c < 0x80 ? (c >= 'A' && c <= 'Z' ? c + 32 : c)
			                            : (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
		}
	}
	rc = 0;
done:
	free(a.v);
	free(b.v);
	return rc;
}

static int is_letter(uint32_t c)
{
	if (c < 0x80)
		return (c | 32) >= 'a' && (c | 32) <= 'z';
	switch (utf8proc_category((utf8proc_int32_t)c)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
		return 1;
	default:
		return 0;
	}
}

static int is_number(uint32_t c)
{
	if (c < 0x80)
		return c >= '0' && c <= '9';
	switch (utf8proc_category((utf8proc_int32_t)c)) {
	case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
		return 1;
	default:
		return 0;
	}
}

/* A literal under the regex module's IGNORECASE: after lower() the only other
 * character matching one of the pattern's letters is U+017F (long s) for 's'. */
static int lit_eq(uint32_t c, char lit)
{
	return c == (uint32_t)(unsigned char)lit || (lit == 's' && c == 0x17F) ||
	       (lit >= 'a' && lit <= 'z' && c == (uint32_t)(lit - 32));
}

static size_t lit_match(const uint32_t *t, size_t n, size_t p, const char *lit)
{
	size_t k = 0;
	for (; lit[k]; k++)
		if (p + k >= n || !lit_eq(t[p + k], lit[k]))
			return 0;
	return k;
}

static int lit_exact(const uint32_t *t, size_t len, const char *lit)
{
	for (size_t k = 0; k < len; k++)
		if (t[k] != (uint32_t)(unsigned char)lit[k])
			return 0;
	return 1;
}

/* Under IGNORECASE the regex module tests a set such as [^\s\p{L}\p{N}] against every
 * case variant of the character (but a lone \p{L} against the character itself).  The
 * one character outside \s, L and N with a case variant in them is U+0345 (its upper
 * case is U+0399): it matches no alternative, so findall() steps over it. */
static int matches_nothing(uint32_t c)
{
	return bpe_is_space(c) || c == 0x345;
}

int bpe_next_piece(const uint32_t *t, size_t n, size_t *pos, size_t *start, size_t *end)
{
	static const char *const contr[] = { "'s", "'t", "'re", "'ve", "'m", "'ll", "'d" };
	size_t p = *pos, m;
	while (p < n && matches_nothing(t[p]))
		p++;
	if (p >= n) {
		*pos = n;
		return BPE_PIECE_NONE;
	}
	*start = p;
	int kind = BPE_PIECE_WORD;
	if ((m = lit_match(t, n, p, "<start_of_text>")) != 0) {
		/* the cache maps only the exact spelling to the special id */
		if (lit_exact(t + p, m, "<start_of_text>"))
			kind = BPE_PIECE_SOT;
		p += m;
	} else if ((m = lit_match(t, n, p, "<end_of_text>")) != 0) {
		if (lit_exact(t + p, m, "<end_of_text>"))
			kind = BPE_PIECE_EOT;
		p += m;
	} else {
		m = 0;
		for (size_t k = 0; k < sizeof contr / sizeof *contr && !m; k++)
			m = lit_match(t, n, p, contr[k]);
		if (m) {
			p += m;
		} else if (is_letter(t[p])) {
			while (p < n && is_letter(t[p]))
				p++;
		} else if (is_number(t[p])) {
			p++;
		} else {
			while (p < n && !matches_nothing(t[p]) && !is_letter(t[p]) && !is_number(t[p]))
				p++;
		}
	}
	*end = *pos = p;
	return kind;
}

uint32_t bpe_byte_cp(unsigned b)
{
	if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
		return b;
	/* the others, in byte order, get 256, 257, ... */
	unsigned n = 0;
	for (unsigned x = 0; x < b; x++)
		if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)))
			n++;
	return 256 + n;
}

unsigned bpe_byte_at(unsigned i)
{
	/* printable bytes first, in order: '!'..'~' (94), 0xA1..0xAC (12), 0xAE..0xFF (82) */
	if (i < 94)
		return '!' + i;
	if (i < 106)
		return 0xA1 + (i - 94);
	if (i < 188)
		return 0xAE + (i - 106);
	unsigned k = i - 188;
	for (unsigned x = 0; x < 256; x++)
		if (bpe_byte_cp(x) >= 256 && k-- == 0)
			return x;
	return 0;
}
