/* bpe_train.c — classic byte-level BPE training (see bpe_train.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpe_int.h"
#include "errbuf.h"
#include "bpe_train.h"

const char *const bpe_train_corpus[] = {
	"a photo of a product in its packaging",
	"a product photo on a white background",
	"a boxed product on a retail shelf",
	"the product is still sealed in the original box",
	"a cardboard box with a printed label and a barcode",
	"an unpacked product standing alone on a table",
	"a product without packaging, photographed from the front",
	"a bottle of water with a plastic cap and a paper label",
	"a glass bottle of olive oil next to its gift box",
	"a blister pack with a small electronic device inside",
	"retail packaging with a clear plastic window",
	"a shrink wrapped bundle of paper towels",
	"a carton of milk and a carton of orange juice",
	"a jar of honey with a wooden dipper",
	"a can of soup with a colourful label",
	"a tube of toothpaste in its folded cardboard box",
	"a pair of running shoes next to the shoe box",
	"a smartphone removed from its packaging",
	"an opened parcel with bubble wrap and packing paper",
	"a plush toy in a transparent bag with a hang tag",
	"a bag of coffee beans with a resealable zip",
	"a bar of chocolate wrapped in foil and paper",
	"a kitchen kettle in a corrugated cardboard box",
	"a set of kitchen knives in a presentation case",
	"a cosmetic cream in a jar and its outer box",
	"a perfume bottle beside its decorative packaging",
	"a close up photo of a barcode on a package",
	"a stack of boxes on a wooden pallet in a warehouse",
	"an item photographed on a white sheet of paper",
	"a product shot with soft studio lighting",
	"a blurry photo of a box taken with a phone",
	"a flat lay photo of several products on a desk",
	"a product label with the brand logo and the price",
	"the back of a box with ingredients and instructions",
	"an empty box with the lid open",
	"a pack of batteries in a hanging blister card",
	"a bottle of shampoo and a bottle of conditioner",
	"a packet of seeds with a picture of flowers",
	"a box of cereal on a breakfast table",
	"a toy car still attached to its cardboard backing",
	"a watch in a gift box with a velvet cushion",
	"headphones lying next to their open case",
	"a laptop in its box with the charger and the manual",
	"a lamp without its shade, unpacked, on the floor",
	"a product photographed in a shop, in packaging",
	"packaged goods and unpackaged goods on a counter",
	"fresh fruit without packaging in a bowl",
	"vegetables packed in a plastic tray with film",
	"a bottle, a box, a bag and a can on a shelf",
	"the packaging is torn and the product is visible",
	"a picture of a parcel delivered to the door",
	"a product catalogue photo with a grey background",
	"a sealed envelope and a small padded mailer",
	"a gift wrapped present with a ribbon and a bow",
	"an unboxing photo: the box, the product and the accessories",
	"a label printer printing shipping labels for packages",
	"two identical products, one boxed and one unboxed",
	"a retail display of boxed products in a store",
	"a price tag and a barcode sticker on the packaging",
	"photos of products taken by vendors for an online shop",
};
const size_t bpe_train_corpus_len = sizeof bpe_train_corpus / sizeof *bpe_train_corpus;

struct word { int32_t *sym; size_t n; size_t freq; };

struct trainer {
	char **str;               /* symbol id -> string (byte-encoded UTF-8) */
	size_t nstr, capstr;
	struct word *w;
	size_t nw, capw;
	/* merges learned: symbol ids */
	int32_t (*merge)[2];
	size_t nmerge;
};

static int add_str(struct trainer *t, char *s)
{
	if (!s)
		return -1;
	if (t->nstr == t->capstr) {
		size_t cap = t->capstr ? 2 * t->capstr : 1024;
		char **n = realloc(t->str, cap * sizeof *n);
		if (!n) {
			free(s);
			return -1;
		}
		t->str = n;
		t->capstr = cap;
	}
	t->str[t->nstr++] = s;
	return 0;
}

static char *str_cat2(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *s = malloc(na + nb + 1);
	if (s) {
		memcpy(s, a, na);
		memcpy(s + na, b, nb + 1);
	}
	return s;
}

/* Add one word (raw UTF-8 bytes) or bump its frequency. */
static int add_word(struct trainer *t, const unsigned char *b, size_t n, const int32_t byte_sym[256])
{
	for (size_t i = 0; i < t->nw; i++) {
		struct word *w = &t->w[i];
		if (w->n != n)
			continue;
		size_t k = 0;
		for (; k < n; k++)
			if (w->sym[k] != (k + 1 < n ? byte_sym[b[k]] : 256 + byte_sym[b[k]]))
				break;
		if (k == n) {
			w->freq++;
			return 0;
		}
	}
	if (t->nw == t->capw) {
		size_t cap = t->capw ? 2 * t->capw : 256;
		struct word *nw = realloc(t->w, cap * sizeof *nw);
		if (!nw)
			return -1;
		t->w = nw;
		t->capw = cap;
	}
	struct word *w = &t->w[t->nw];
	if (!(w->sym = malloc(n * sizeof *w->sym)))
		return -1;
	for (size_t k = 0; k < n; k++)
		w->sym[k] = k + 1 < n ? byte_sym[b[k]] : 256 + byte_sym[b[k]];
	w->n = n;
	w->freq = 1;
	t->nw++;
	return 0;
}

struct pslot { int32_t a, b; size_t count; };

static size_t pslot_of(int32_t a, int32_t b, size_t mask)
{
	uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k & mask;
}

static int str_exists(const struct trainer *t, const char *a, const char *b)
{
	size_t na = strlen(a);
	for (size_t i = 0; i < t->nstr; i++)
		if (strncmp(t->str[i], a, na) == 0 && strcmp(t->str[i] + na, b) == 0)
			return 1;
	return 0;
}

/* The next merge: the most frequent pair, ties by strings; -1 when none is left. */
static int best_pair(const struct trainer *t, int32_t out[2])
{
	size_t total = 0;
	for (size_t i = 0; i < t->nw; i++)
		total += t->w[i].n;
	size_t cap = 64;
	while (cap < 2 * total + 2)
		cap *= 2;
	struct pslot *tab = calloc(cap, sizeof *tab);
	if (!tab)
		return -2;
	for (size_t i = 0; i < cap; i++)
		tab[i].a = -1;
	for (size_t i = 0; i < t->nw; i++) {
		const struct word *w = &t->w[i];
		for (size_t k = 0; k + 1 < w->n; k++) {
			size_t s = pslot_of(w->sym[k], w->sym[k + 1], cap - 1);
			while (tab[s].a >= 0 && (tab[s].a != w->sym[k] || tab[s].b != w->sym[k + 1]))
				s = (s + 1) & (cap - 1);
			tab[s].a = w->sym[k];
			tab[s].b = w->sym[k + 1];
			tab[s].count += w->freq;
		}
	}
	const struct pslot *best = NULL;
	for (size_t i = 0; i < cap; i++) {
		const struct pslot *p = &tab[i];
		if (p->a < 0)
			continue;
		if (best) {
			if (p->count < best->count)
				continue;
			if (p->count == best->count) {
				int c = strcmp(t->str[p->a], t->str[best->a]);
				if (c > 0 || (c == 0 && strcmp(t->str[p->b], t->str[best->b]) >= 0))
					continue;
			}
		}
		if (str_exists(t, t->str[p->a], t->str[p->b]))
			continue;
		best = p;
	}
	int rc = -1;
	if (best) {
		out[0] = best->a;
		out[1] = best->b;
		rc = 0;
	}
	free(tab);
	return rc;
}

static void apply_merge(struct trainer *t, int32_t a, int32_t b, int32_t ab)
{
	for (size_t i = 0; i < t->nw; i++) {
		struct word *w = &t->w[i];
		size_t o = 0;
		for (size_t k = 0; k < w->n; ) {
			if (k + 1 < w->n && w->sym[k] == a && w->sym[k + 1] == b) {
				w->sym[o++] = ab;
				k += 2;
			} else {
				w->sym[o++] = w->sym[k++];
			}
		}
		w->n = o;
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

struct vent { const char *s; size_t id; };

static int cmp_vent(const void *x, const void *y)
{
	return strcmp(((const struct vent *)x)->s, ((const struct vent *)y)->s);
}

/* Write path via a synced temporary file and rename(). */
static int write_atomic(const char *dir, const char *name, int (*fill)(FILE *, const struct trainer *),
                        const struct trainer *t, char *errbuf, size_t errlen)
{
	size_t n = strlen(dir) + strlen(name) + 16;
	char *path = malloc(n), *tmp = malloc(n);
	int rc = -1, fd = -1;
	FILE *f = NULL;
	if (!path || !tmp) {
		cs_errbuf(errbuf, errlen, "%s: out of memory", dir);
		goto done;
	}
	snprintf(path, n, "%s/%s", dir, name);
	snprintf(tmp, n, "%s/.%s.XXXXXX", dir, name);
	if ((fd = mkstemp(tmp)) < 0) {
		cs_errbuf(errbuf, errlen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	if (fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
		cs_errbuf(errbuf, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto done;
	}
	int werr = fill(f, t) < 0 || fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0;
	int saved = errno;
	if (fclose(f) != 0 && !werr) {
		werr = 1;
		saved = errno;
	}
	if (werr || rename(tmp, path) < 0) {
		cs_errbuf(errbuf, errlen, "%s: %s", werr ? tmp : path, strerror(werr ? saved : errno));
		unlink(tmp);
		goto done;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
done:
	free(path);
	free(tmp);
	return rc;
}

static int fill_vocab(FILE *f, const struct trainer *t)
{
	struct vent *v = malloc((t->nstr + 2) * sizeof *v);
	if (!v)
		return -1;
	for (size_t i = 0; i < t->nstr; i++)
		v[i] = (struct vent){ t->str[i], i };
	v[t->nstr] = (struct vent){ "<|startoftext|>", t->nstr };
	v[t->nstr + 1] = (struct vent){ "<|endoftext|>", t->nstr + 1 };
	qsort(v, t->nstr + 2, sizeof *v, cmp_vent);
	fputc('{', f);
	for (size_t i = 0; i < t->nstr + 2; i++) {
		if (i)
			fputs(", ", f);
		json_str(f, v[i].s);
		fprintf(f, ": %zu", v[i].id);
	}
	fputs("}\n", f);
	free(v);
	return 0;
}

static int fill_merges(FILE *f, const struct trainer *t)
{
	fputs("#version: 0.2\n", f);
	for (size_t i = 0; i < t->nmerge; i++)
		fprintf(f, "%s %s\n", t->str[t->merge[i][0]], t->str[t->merge[i][1]]);
	return 0;
}

static void trainer_release(struct trainer *t)
{
	for (size_t i = 0; i < t->nstr; i++)
		free(t->str[i]);
	free(t->str);
	for (size_t i = 0; i < t->nw; i++)
		free(t->w[i].sym);
	free(t->w);
	free(t->merge);
}

int bpe_train_write(const char *const *corpus, size_t n, size_t n_merges, const char *out_dir,
                    char *errbuf, size_t errlen)
{
	struct trainer t = {0};
	struct bpe_cps text = {0};
	unsigned char *bytes = NULL;
	int32_t byte_sym[256];
	int rc = -1;
	if (n_merges > 1000000) {
		cs_errbuf(errbuf, errlen, "%zu merges: too many", n_merges);
		return -1;
	}
	for (unsigned i = 0; i < 512; i++) {
		char s[8];
		size_t l = bpe_utf8_put(bpe_byte_cp(bpe_byte_at(i % 256)), s);
		memcpy(s + l, i < 256 ? "" : "</w>", i < 256 ? 1 : 5);
		if (add_str(&t, str_cat2(s, "")) < 0)
			goto oom;
		if (i < 256)
			byte_sym[bpe_byte_at(i)] = (int32_t)i;
	}
	for (size_t c = 0; c < n; c++) {
		if (bpe_clean_text(corpus[c], &text) < 0)
			goto oom;
		size_t pos = 0, s, e;
		int kind;
		while ((kind = bpe_next_piece(text.v, text.n, &pos, &s, &e)) != BPE_PIECE_NONE) {
			if (kind != BPE_PIECE_WORD)
				continue;
			unsigned char *nb = realloc(bytes, 4 * (e - s));
			if (!nb)
				goto oom;
			bytes = nb;
			size_t len = 0;
			for (size_t k = s; k < e; k++)
				len += bpe_utf8_put(text.v[k], (char *)bytes + len);
			if (add_word(&t, bytes, len, byte_sym) < 0)
				goto oom;
		}
	}
	if (n_merges && !(t.merge = malloc(n_merges * sizeof *t.merge)))
		goto oom;
	while (t.nmerge < n_merges) {
		int32_t p[2];
		int r = best_pair(&t, p);
		if (r == -2)
			goto oom;
		if (r < 0) {
			cs_errbuf(errbuf, errlen, "the corpus supports only %zu merges, %zu asked for",
			       t.nmerge, n_merges);
			goto done;
		}
		if (add_str(&t, str_cat2(t.str[p[0]], t.str[p[1]])) < 0)
			goto oom;
		apply_merge(&t, p[0], p[1], (int32_t)(t.nstr - 1));
		t.merge[t.nmerge][0] = p[0];
		t.merge[t.nmerge][1] = p[1];
		t.nmerge++;
	}
	if (mkdir(out_dir, 0777) < 0 && errno != EEXIST) {
		cs_errbuf(errbuf, errlen, "%s: %s", out_dir, strerror(errno));
		goto done;
	}
	if (write_atomic(out_dir, "merges.txt", fill_merges, &t, errbuf, errlen) < 0 ||
	    write_atomic(out_dir, "vocab.json", fill_vocab, &t, errbuf, errlen) < 0)
		goto done;
	rc = 0;
	goto done;
oom:
	cs_errbuf(errbuf, errlen, "out of memory");
done:
	free(text.v);
	free(bytes);
	trainer_release(&t);
	return rc;
}
