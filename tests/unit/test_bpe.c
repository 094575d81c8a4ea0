/* test_bpe.c — the CLIP BPE tokenizer (embed/bpe.h) and the vocabulary trainer.
 *
 * Without arguments: the unit tests (fixture cases SKIP loudly without $FIXTURE).
 * With arguments it is the driver tests/t-tokenize.sh and tests/bench/bench-bpe.sh use:
 *   test_bpe --encode [-0] [-c CTX] [-t] (--dir DIR | --gz FILE | --hf VOCAB MERGES)
 * reads records (lines, or NUL-terminated with -0) on stdin and prints each one's ids
 * up to the padding, space-separated, one line per record; -t prints the load and
 * encode times on stderr.  test_bpe --train N DIR writes a vocabulary of N merges
 * learnt from the built-in corpus. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <zlib.h>

#include "check.h"
#include "bpe.h"
#include "bpe_int.h"
#include "bpe_train.h"

static char tmpdir[] = "/tmp/test_bpe.XXXXXX";
static char model[4096];
static int have_fixture;

static char *path_in(const char *dir, const char *name)
{
	static char buf[8][4096];
	static int k;
	char *p = buf[k++ % 8];
	snprintf(p, sizeof buf[0], "%s/%s", dir, name);
	return p;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
		printf("Bail out! cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void write_str(const char *path, const char *s)
{
	write_bytes(path, s, strlen(s));
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, len = 0;
	char *b = malloc(cap + 1);
	size_t r;
	while ((r = fread(b + len, 1, cap - len, f)) > 0) {
		len += r;
		if (len == cap)
			b = realloc(b, (cap *= 2) + 1);
	}
	fclose(f);
	b[len] = '\0';
	*n = len;
	return b;
}

/* the cleaned text (steps 1-5) as UTF-8 */
static char *clean(const char *s)
{
	struct bpe_cps c = {0};
	if (bpe_clean_text(s, &c) < 0)
		return NULL;
	char *o = malloc(4 * c.n + 1);
	size_t n = 0;
	for (size_t i = 0; i < c.n; i++)
		n += bpe_utf8_put(c.v[i], o + n);
	o[n] = '\0';
	free(c.v);
	return o;
}

/* pre-tokens joined by '|' */
static char *pieces(const char *s)
{
	struct bpe_cps c = {0};
	bpe_clean_text(s, &c);
	char *o = malloc(8 * c.n + 16);
	size_t n = 0, pos = 0, a, b;
	int kind;
	while ((kind = bpe_next_piece(c.v, c.n, &pos, &a, &b)) != BPE_PIECE_NONE) {
		if (n)
			o[n++] = '|';
		if (kind != BPE_PIECE_WORD)
			o[n++] = '*';
		for (size_t k = a; k < b; k++)
			n += bpe_utf8_put(c.v[k], o + n);
	}
	o[n] = '\0';
	free(c.v);
	return o;
}

#define CHECK_STR(got, want) do { char *g_ = (got); \
	CHECK(g_ && strcmp(g_, (want)) == 0, "got \"%s\", want \"%s\"", g_ ? g_ : "(null)", (want)); \
	free(g_); } while (0)

/* Expected values below come from Python 3.11 (html.unescape, str.split, str.lower),
 * evaluated independently of this code. */
static void test_clean(void)
{
	CHECK_STR(clean("  A   Product\t\nIN  packaging  "), "a product in packaging");
	CHECK_STR(clean(""), "");
	CHECK_STR(clean(" \t\n "), "");
	CHECK_STR(clean("caf&eacute; &amp; cr&egrave;me"), "café & crème");
	CHECK_STR(clean("&amp;amp;"), "&");                 /* unescaped twice */
	CHECK_STR(clean("&amp;amp;amp;"), "&amp;");
	CHECK_STR(clean("&notit; &not &notin;"), "¬it; ¬ ∉");
	CHECK_STR(clean("&AMP &ampx &lt3 &LT;"), "& &x <3 <");
	CHECK_STR(clean("&#65;&#x42;&#X43&#0;&#x80;&#13;x"), "abc\xef\xbf\xbd\xe2\x82\xac x");
	CHECK_STR(clean("&#1;a&#xD800;b&#x110000;c&#xFFFF;d"), "a\xef\xbf\xbd" "b\xef\xbf\xbd" "cd");
	CHECK_STR(clean("&#99999999999999999999;"), "\xef\xbf\xbd");
	CHECK_STR(clean("& &# &#x &#; &; &foo; &x"), "& &# &#x &#; &; &foo; &x");
	CHECK_STR(clean("&nbsp;a&nbsp;&#32;b"), "a b");      /* U+00A0 is whitespace */
	CHECK_STR(clean("a\x1c" "b\xe2\x80\xa8" "c\xe3\x80\x80" "d\xc2\x85" "e"), "a b c d e");
	CHECK_STR(clean("a\xe2\x80\x8b" "b"), "a\xe2\x80\x8b" "b");   /* U+200B is not */
	CHECK_STR(clean("\xc4\xb0stanbul"), "i\xcc\x87stanbul");      /* U+0130 -> i U+0307 */
	CHECK_STR(clean("\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3"), "οδος σ");   /* final sigma */
	CHECK_STR(clean("\xce\x91\xce\xa3\xce\x91"), "ασα");
	CHECK_STR(clean("\xce\x91\xce\xa3'"), "ας'");       /* ' is case-ignorable */
	CHECK_STR(clean("\xce\x91\xce\xa3'\xce\x91"), "ασ'α");
	CHECK_STR(clean("STRASSE Stra\xc3\x9f" "e \xe1\xba\x9e"), "strasse straße ß");
	CHECK_STR(clean("a\xff" "b\xe2\x82" "c\xed\xa0\x80" "d\xf0\x9f\x98"), "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "d\xef\xbf\xbd");
	CHECK_STR(clean("\xc0\xaf\xe0\x80\xaf"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(clean("&amp;#65;"), "a");                 /* the second pass sees &#65; */
	char long_name[64];
	snprintf(long_name, sizeof long_name, "&%s;", "abcdefghijklmnopqrstuvwxyzabcdefghij");
	CHECK_STR(clean(long_name), "&abcdefghijklmnopqrstuvwxyzabcdefghij;");
}

static void test_pieces(void)
{
	CHECK_STR(pieces("it's 2024, we'll see!!"), "it|'s|2|0|2|4|,|we|'ll|see|!!");
	CHECK_STR(pieces("don't DON'T o'neill 'S"), "don|'t|don|'t|o|'|neill|'s");
	CHECK_STR(pieces("x'\xc5\xbf y"), "x|'\xc5\xbf|y");  /* long s matches 's under IGNORECASE */
	CHECK_STR(pieces("<start_of_text>a<end_of_text> <|endoftext|>"),
	          "*<start_of_text>|a|*<end_of_text>|<||endoftext||>");
	CHECK_STR(pieces("<\xc5\xbftart_of_text>"), "<\xc5\xbftart_of_text>");
	CHECK_STR(pieces("<START_OF_TEXT>"), "*<start_of_text>");
	CHECK_STR(pieces("caf\xc3\xa9\xe2\x98\x95 \xc2\xbd \xe2\x85\xab 42"), "café|☕|½|ⅻ|4|2");
	CHECK_STR(pieces("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x82"), "日本語|。");
	CHECK_STR(pieces("e\xcc\x81t\xc3\xa9"), "e|\xcc\x81|té");   /* a combining mark is not \p{L} */
	CHECK_STR(pieces("...?!--'"), "...?!--'");
	/* U+0345 matches no alternative under the regex module's IGNORECASE (its upper
	 * case U+0399 is a letter, so the negated set refuses it): it is stepped over */
	CHECK_STR(pieces("a\xcd\x85" "b .\xcd\x85."), "a|b|.|.");
}

static int64_t fixture_tokens[9][77];
static char *fixture_prompts[9];

static int load_fixture(void)
{
	const char *fx = check_fixture_dir();
	snprintf(model, sizeof model, "%s/model/tiny-vit-b32ish", fx);
	size_t n;
	char *raw = slurp(path_in(fx, "expected/text_tokens.i64"), &n);
	if (!raw || n != sizeof fixture_tokens) {
		free(raw);
		return 0;
	}
	for (size_t i = 0; i < 9 * 77; i++) {   /* little-endian int64 */
		uint64_t v = 0;
		for (int b = 7; b >= 0; b--)
			v = v << 8 | (unsigned char)raw[8 * i + (size_t)b];
		fixture_tokens[i / 77][i % 77] = (int64_t)v;
	}
	free(raw);
	json_error_t je;
	json_t *p = json_load_file(path_in(fx, "expected/prompts.json"), 0, &je);
	if (!p || json_array_size(p) != 9)
		return 0;
	for (size_t i = 0; i < 9; i++)
		fixture_prompts[i] = strdup(json_string_value(json_array_get(p, i)));
	json_decref(p);
	return 1;
}

static void check_fixture_rows(bpe_tokenizer *t, const char *what)
{
	for (int i = 0; i < 9; i++) {
		int64_t ids[77];
		size_t full = 0;
		int n = bpe_encode_full(t, fixture_prompts[i], ids, 77, &full);
		int same = n > 0 && memcmp(ids, fixture_tokens[i], sizeof ids) == 0;
		CHECK(same, "%s: prompt %d \"%.40s\" differs from OpenCLIP (n=%d)", what, i, fixture_prompts[i], n);
		if (i == 8)
			CHECK(n == 77 && full > 77 && ids[76] == 49407, "%s: long prompt: n=%d full=%zu", what, n, full);
	}
}

static void test_fixture(bpe_tokenizer *hf, bpe_tokenizer *gz)
{
	CHECK(bpe_vocab_size(hf) == 49408 && bpe_vocab_size(gz) == 49408, "vocab sizes %zu %zu",
	      bpe_vocab_size(hf), bpe_vocab_size(gz));
	CHECK(bpe_sot_id(hf) == 49406 && bpe_eot_id(hf) == 49407, "hub special ids");
	CHECK(bpe_sot_id(gz) == 49406 && bpe_eot_id(gz) == 49407, "gz special ids");
	check_fixture_rows(hf, "vocab.json+merges.txt");
	check_fixture_rows(gz, "bpe_simple_vocab_16e6.txt.gz");
	bpe_tokenizer *d = bpe_load_dir(model, NULL, 0);
	CHECK(d != NULL, "bpe_load_dir");
	if (d)
		check_fixture_rows(d, "bpe_load_dir");
	bpe_free(d);
}

/* Strings that stress every stage; hub and gz vocabularies must agree on all of them,
 * and on random mixtures of their pieces. */
static const char *const stress[] = {
	"", " ", "a", "A", "!", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", "'s", "'", "''''", "'S'T'RE",
	"it's", "It'S", "you'll've'd", "rock'n'roll", "1234567890", "3.14159", "1,000,000", "٣٤٥ ۱۲ ߁",
	"½ ¼ Ⅻ ⅻ ① ⑩ ²³", "café crème brûlée", "Ǆ ǅ ǆ", "İstanbul", "ΟΔΟΣ ΣΑΣ σσ Σ", "straße STRASSE ẞ",
	"日本語のテキスト、句読点。", "中文字符和标点！", "한국어 텍스트", "עברית וערבית العربية",
	"📦 a parcel 🎁", "👩‍👩‍👧‍👦 family", "🇩🇪🇫🇷 flags", "e\xcc\x81 combining \xcc\x81\xcc\x82",
	"&amp; &lt;tag&gt; &quot;quoted&quot; &#39;apos&#39; &#x1F4E6; &copy 2024",
	"&amp;amp;lt; &notin &notit &ampamp", "tab\there\nnewline\r\nwindows\x0b\x0c\x1c\x1d\x1e\x1f",
	"nbsp\xc2\xa0here ideographic\xe3\x80\x80space line\xe2\x80\xa8sep", "zero\xe2\x80\x8bwidth",
	"<start_of_text> <end_of_text> <|startoftext|> <|endoftext|>", "</w> <w> </w></w>",
	"invalid \xff\xfe bytes \xc3 and \xe2\x82 and \xed\xa0\x80 and \xf4\x90\x80\x80",
	"emoji\xf0\x9f\x98\x80skin\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbdtone", "mixed123abc456DEF",
	"snake_case_name kebab-case-name CamelCaseName", "http://example.com/a?b=c&d=e#f",
	"e-mail: someone@example.com", "C++ and C# and F#", "$100 €200 £300 ¥400",
	"a\x01" "b\x7f" "c", "\xc2\x80\xc2\x9f control", "ſ 's 'ſ 'K", "ÅÆØ åæø Ǻ", "ﬁ ﬂ ﬀ ligatures",
	"ＡＢＣ full width １２３", "𝐁𝐨𝐥𝐝 math 𝟏𝟐", "\xe2\x80\x8e\xe2\x80\x8f bidi marks",
};

static void test_agree(bpe_tokenizer *hf, bpe_tokenizer *gz)
{
	size_t ns = sizeof stress / sizeof *stress, bad = 0;
	int64_t a[77], b[77];
	for (size_t i = 0; i < ns; i++) {
		int na = bpe_encode(hf, stress[i], a, 77), nb = bpe_encode(gz, stress[i], b, 77);
		if (na < 2 || na != nb || memcmp(a, b, sizeof a) != 0) {
			bad++;
			CHECK(0, "hub and gz disagree on \"%s\"", stress[i]);
		}
	}
	/* random mixtures: 3000 strings of up to 8 pieces, a fixed seed */
	unsigned seed = 12345;
	char buf[2048];
	for (int k = 0; k < 3000; k++) {
		size_t len = 0;
		int parts = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 8;
		for (int p = 0; p < parts; p++) {
			const char *s = stress[((seed = seed * 1103515245 + 12345) >> 16) % ns];
			size_t l = strlen(s);
			if (len + l + 1 >= sizeof buf)
				break;
			memcpy(buf + len, s, l);
			len += l;
			if (((seed = seed * 1103515245 + 12345) >> 16) % 2)
				buf[len++] = ' ';
		}
		buf[len] = '\0';
		int na = bpe_encode(hf, buf, a, 77), nb = bpe_encode(gz, buf, b, 77);
		if (na < 2 || na != nb || memcmp(a, b, sizeof a) != 0) {
			if (bad++ < 5)
				CHECK(0, "hub and gz disagree on mixture \"%s\"", buf);
		}
	}
	CHECK(bad == 0, "%zu disagreements", bad);
}

static int row_eq(const int64_t *got, int n, const int64_t *want, size_t nw)
{
	return n == (int)nw && memcmp(got, want, nw * sizeof *want) == 0;
}

static void test_encode_rules(bpe_tokenizer *t)
{
	int64_t ids[77];
	/* digits one per token; "a" = 320, "1" = 272 etc. are checked through decode */
	int n = bpe_encode(t, "2024", ids, 77);
	CHECK(n == 6, "2024 -> 4 digit tokens, n=%d", n);
	char *d = bpe_decode(t, ids, 77);
	CHECK_STR(d, "2 0 2 4 ");
	n = bpe_encode(t, "", ids, 77);
	const int64_t empty[] = { 49406, 49407, 0, 0 };
	CHECK(row_eq(ids, n, empty, 2) && ids[2] == 0 && ids[76] == 0, "empty string -> sot eot 0...");
	n = bpe_encode(t, "   \t\n", ids, 77);
	CHECK(row_eq(ids, n, empty, 2), "whitespace only -> sot eot");
	/* the special-token text in a prompt becomes the special id, as in OpenCLIP */
	n = bpe_encode(t, "a <start_of_text> <end_of_text>", ids, 77);
	const int64_t sp[] = { 49406, 320, 49406, 49407, 49407 };
	CHECK(row_eq(ids, n, sp, 5), "special-token text, n=%d", n);
	/* invalid UTF-8 = the same text with U+FFFD */
	int64_t r2[77];
	n = bpe_encode(t, "box \xff\xfe done \xe2\x82", ids, 77);
	int n2 = bpe_encode(t, "box \xef\xbf\xbd\xef\xbf\xbd done \xef\xbf\xbd", r2, 77);
	CHECK(n > 0 && n == n2 && memcmp(ids, r2, sizeof ids) == 0, "invalid UTF-8 == U+FFFD");
	/* decode(encode(x)) gives the pre-tokens, each followed by a space */
	n = bpe_encode(t, "It's a BOXED product, 100% new!", ids, 77);
	d = bpe_decode(t, ids, (size_t)n);
	CHECK_STR(d, "it 's a boxed product , 1 0 0 % new ! ");
	n = bpe_encode(t, "café crème 📦", ids, 77);
	d = bpe_decode(t, ids, 77);
	CHECK_STR(d, "café crème 📦 ");
	/* truncation keeps the end id last, at every context length */
	const char *longp = "one two three four five six seven eight nine ten";
	int64_t full[77], cut[77];
	size_t nf = 0;
	n = bpe_encode_full(t, longp, full, 77, &nf);
	CHECK(n == 12 && nf == 12, "10 words -> 12 ids, n=%d", n);
	for (size_t ctx = 1; ctx <= 14; ctx++) {
		size_t nf2 = 0;
		int m = bpe_encode_full(t, longp, cut, ctx, &nf2);
		size_t want = ctx < 12 ? ctx : 12;
		int ok = m == (int)want && nf2 == 12 && cut[want - 1] == 49407;
		for (size_t k = 0; ok && k + 1 < want; k++)
			ok = cut[k] == full[k];
		for (size_t k = want; ok && k < ctx; k++)
			ok = cut[k] == 0;
		CHECK(ok, "context_length %zu: n=%d", ctx, m);
	}
	CHECK(bpe_encode(t, "x", ids, 0) == -1, "context_length 0 is an error");
	/* a very long input: no crash, eot last, and the same prefix as a shorter one */
	size_t big = 1 << 20;
	char *s = malloc(big + 1);
	for (size_t i = 0; i < big; i++)
		s[i] = "packaging box "[i % 14];
	s[big] = '\0';
	n = bpe_encode_full(t, s, ids, 77, &nf);
	CHECK(n == 77 && ids[76] == 49407 && nf == 2 + 2 * (big / 14) + 1, "1 MiB prompt: n=%d full=%zu", n, nf);
	memset(s, 'a', big);   /* one 1 MiB word */
	n = bpe_encode_full(t, s, ids, 77, &nf);
	CHECK(n == 77 && ids[76] == 49407 && nf > 77, "1 MiB word: n=%d full=%zu", n, nf);
	free(s);
}

struct thr { bpe_tokenizer *t; int ok; };

static void *thread_main(void *arg)
{
	struct thr *th = arg;
	th->ok = 1;
	for (int r = 0; r < 30; r++)
		for (int i = 0; i < 9; i++) {
			int64_t ids[77];
			if (bpe_encode(th->t, fixture_prompts[i], ids, 77) < 0 ||
			    memcmp(ids, fixture_tokens[i], sizeof ids) != 0)
				th->ok = 0;
		}
	return NULL;
}

static void test_threads(bpe_tokenizer *t)
{
	pthread_t th[4];
	struct thr a[4];
	for (int i = 0; i < 4; i++) {
		a[i].t = t;
		pthread_create(&th[i], NULL, thread_main, &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(a[i].ok, "thread %d got different ids", i);
	}
}

/* ---- bad vocabularies ------------------------------------------------------------ */

static void expect_load_error(bpe_tokenizer *t, const char *err, const char *want, const char *what)
{
	CHECK(t == NULL && strstr(err, want) != NULL, "%s: error \"%s\", want \"%s\"", what, err, want);
	bpe_free(t);
}

static void gz_write(const char *path, const char *data, size_t n)
{
	gzFile g = gzopen(path, "wb");
	gzwrite(g, data, (unsigned)n);
	gzclose(g);
}

static void test_bad_files(void)
{
	char err[512];
	const char *d = tmpdir;
	/* a minimal valid hub pair, built by the trainer */
	char *vj = strdup(path_in(d, "ok/vocab.json")), *mt = strdup(path_in(d, "ok/merges.txt"));
	bpe_tokenizer *t;
	CHECK(bpe_train_write(bpe_train_corpus, bpe_train_corpus_len, 20, path_in(d, "ok"), err, sizeof err) == 0,
	      "train: %s", err);

	err[0] = '\0';
	t = bpe_load_hf(path_in(d, "missing.json"), mt, err, sizeof err);
	expect_load_error(t, err, "missing.json: No such file", "missing vocab.json");
	write_str(path_in(d, "arr.json"), "[1, 2, 3]");
	t = bpe_load_hf(path_in(d, "arr.json"), mt, err, sizeof err);
	expect_load_error(t, err, "arr.json: not a JSON object", "vocab.json an array");
	write_str(path_in(d, "broken.json"), "{\"a\": 1,\n \"b\": }");
	t = bpe_load_hf(path_in(d, "broken.json"), mt, err, sizeof err);
	expect_load_error(t, err, "broken.json:2:", "vocab.json syntax error");
	write_str(path_in(d, "neg.json"), "{\"a\": -1}");
	t = bpe_load_hf(path_in(d, "neg.json"), mt, err, sizeof err);
	expect_load_error(t, err, "token \"a\": id is not an integer", "negative id");
	write_str(path_in(d, "str.json"), "{\"a\": \"1\"}");
	t = bpe_load_hf(path_in(d, "str.json"), mt, err, sizeof err);
	expect_load_error(t, err, "token \"a\": id is not an integer", "string id");
	write_str(path_in(d, "dupid.json"), "{\"a\": 1, \"b\": 1}");
	t = bpe_load_hf(path_in(d, "dupid.json"), mt, err, sizeof err);
	expect_load_error(t, err, "id 1 given to both", "duplicate id");

	/* vocab.json without the special tokens */
	size_t n;
	char *v = slurp(vj, &n);
	char *cut = strstr(v, "\"<|startoftext|>\"");
	CHECK(cut != NULL, "trained vocab.json has <|startoftext|>");
	if (cut) {
		memcpy(cut, "\"<|startoftexx|>\"", 17);
		write_str(path_in(d, "nosot.json"), v);
		t = bpe_load_hf(path_in(d, "nosot.json"), mt, err, sizeof err);
		expect_load_error(t, err, "no \"<|startoftext|>\" token", "missing <|startoftext|>");
		memcpy(cut, "\"<|startoftext|>\"", 17);
	}
	cut = strstr(v, "\"<|endoftext|>\"");
	if (cut) {
		memcpy(cut, "\"<|endoftexx|>\"", 15);
		write_str(path_in(d, "noeot.json"), v);
		t = bpe_load_hf(path_in(d, "noeot.json"), mt, err, sizeof err);
		expect_load_error(t, err, "no \"<|endoftext|>\" token", "missing <|endoftext|>");
	}
	free(v);
	write_str(path_in(d, "nobytes.json"), "{\"<|startoftext|>\": 0, \"<|endoftext|>\": 1}");
	t = bpe_load_hf(path_in(d, "nobytes.json"), mt, err, sizeof err);
	expect_load_error(t, err, "no token \"Ā\" for byte 0x00", "no byte tokens");

	/* merges.txt problems */
	write_str(path_in(d, "m1.txt"), "#version: 0.2\nc\na b\n");
	t = bpe_load_hf(vj, path_in(d, "m1.txt"), err, sizeof err);
	expect_load_error(t, err, "m1.txt:2: malformed merge: expected two symbols, found one", "one-symbol merge");
	write_str(path_in(d, "m2.txt"), "#version: 0.2\na b c\n");
	t = bpe_load_hf(vj, path_in(d, "m2.txt"), err, sizeof err);
	expect_load_error(t, err, "m2.txt:2: malformed merge: expected two symbols, found three or more", "three-symbol merge");
	write_str(path_in(d, "m3.txt"), "#version: 0.2\n\nc d\n");
	t = bpe_load_hf(vj, path_in(d, "m3.txt"), err, sizeof err);
	expect_load_error(t, err, "m3.txt:2: malformed merge: expected two symbols, found an empty line", "blank line");
	write_str(path_in(d, "m4.txt"), "#version: 0.2\nq z\n");
	t = bpe_load_hf(vj, path_in(d, "m4.txt"), err, sizeof err);
	expect_load_error(t, err, "m4.txt:2: \"qz\" is not in", "merge result not in vocab");
	write_str(path_in(d, "m5.txt"), "#version: 0.2\nab\xff c\n");
	t = bpe_load_hf(vj, path_in(d, "m5.txt"), err, sizeof err);
	expect_load_error(t, err, "m5.txt:2: invalid UTF-8", "merges.txt not UTF-8");
	write_str(path_in(d, "m6.txt"), "#version: 0.2\n");
	t = bpe_load_hf(vj, path_in(d, "m6.txt"), err, sizeof err);
	CHECK(t != NULL, "merges.txt with no merges loads: %s", err);
	if (t) {
		int64_t ids[8];
		int k = bpe_encode(t, "ab", ids, 8);
		CHECK(k == 4, "no merges: one id per byte, n=%d", k);
	}
	bpe_free(t);

	/* gz problems */
	t = bpe_load_gz(path_in(d, "none.gz"), err, sizeof err);
	expect_load_error(t, err, "none.gz: No such file", "missing gz");
	write_str(path_in(d, "plain.gz"), "header\na b\n");
	t = bpe_load_gz(path_in(d, "plain.gz"), err, sizeof err);
	expect_load_error(t, err, "plain.gz: not a gzip file", "uncompressed gz");
	write_str(path_in(d, "empty.gz"), "");
	t = bpe_load_gz(path_in(d, "empty.gz"), err, sizeof err);
	expect_load_error(t, err, "empty.gz: empty file", "empty gz");
	if (have_fixture) {
		size_t gn;
		char *g = slurp(path_in(model, "bpe_simple_vocab_16e6.txt.gz"), &gn);
		write_bytes(path_in(d, "trunc.gz"), g, gn / 2);
		t = bpe_load_gz(path_in(d, "trunc.gz"), err, sizeof err);
		expect_load_error(t, err, "trunc.gz: corrupt or truncated gzip data", "truncated gz");
		g[gn / 2] ^= 0x55;
		g[gn / 2 + 1] ^= 0x55;
		write_bytes(path_in(d, "flip.gz"), g, gn);
		t = bpe_load_gz(path_in(d, "flip.gz"), err, sizeof err);
		expect_load_error(t, err, "flip.gz: corrupt or truncated gzip data", "corrupt gz");
		free(g);
	} else {
		CHECK_SKIP("truncated real gz: OpenCLIP fixture absent (%s)", check_fixture_dir());
	}
	const char bad1[] = "hdr\na b\nc\n";
	gz_write(path_in(d, "bad1.gz"), bad1, sizeof bad1 - 1);
	t = bpe_load_gz(path_in(d, "bad1.gz"), err, sizeof err);
	expect_load_error(t, err, "bad1.gz:3: malformed merge", "gz one-symbol merge");
	const char bad2[] = "hdr\na \xc3(\n";
	gz_write(path_in(d, "bad2.gz"), bad2, sizeof bad2 - 1);
	t = bpe_load_gz(path_in(d, "bad2.gz"), err, sizeof err);
	expect_load_error(t, err, "bad2.gz:2: invalid UTF-8", "gz not UTF-8");
	/* a small valid gz: ids follow OpenCLIP's list, incl. the empty last "merge" */
	const char small[] = "hdr\nh e\nl l\nhe ll\no</w> x\n";
	gz_write(path_in(d, "small.gz"), small, sizeof small - 1);
	t = bpe_load_gz(path_in(d, "small.gz"), err, sizeof err);
	CHECK(t != NULL, "small gz: %s", err);
	if (t) {
		CHECK(bpe_vocab_size(t) == 512 + 5 + 2 && bpe_sot_id(t) == 517 && bpe_eot_id(t) == 518,
		      "small gz: vocab %zu sot %lld", bpe_vocab_size(t), (long long)bpe_sot_id(t));
		int64_t ids[8];
		int k = bpe_encode(t, "hello", ids, 8);
		/* he ll -> "hell" (514), then o</w>: 256 + index of 'o' in the byte order */
		const int64_t want[] = { 517, 514, 256 + ('o' - '!'), 518 };
		CHECK(row_eq(ids, k, want, 4), "small gz: hello -> %lld %lld %lld %lld", (long long)ids[0],
		      (long long)ids[1], (long long)ids[2], (long long)ids[3]);
	}
	bpe_free(t);

	/* bpe_load_dir */
	t = bpe_load_dir(path_in(d, "nodir"), err, sizeof err);
	expect_load_error(t, err, "no tokenizer vocabulary", "empty model dir");
	t = bpe_load_dir(path_in(d, "ok"), err, sizeof err);
	CHECK(t != NULL && bpe_vocab_size(t) == 512 + 20 + 2, "load_dir of trained vocab: %s", err);
	bpe_free(t);
	bpe_free(NULL);
	free(vj);
	free(mt);
}

/* ---- the trainer ----------------------------------------------------------------- */

static void test_train(void)
{
	char err[512];
	char *dir = path_in(tmpdir, "train");
	int rc = bpe_train_write(bpe_train_corpus, bpe_train_corpus_len, 300, dir, err, sizeof err);
	CHECK(rc == 0, "bpe_train_write: %s", err);
	bpe_tokenizer *t = bpe_load_hf(path_in(dir, "vocab.json"), path_in(dir, "merges.txt"), err, sizeof err);
	CHECK(t != NULL, "trained vocabulary loads: %s", err);
	if (!t)
		return;
	CHECK(bpe_vocab_size(t) == 512 + 300 + 2, "vocab size %zu", bpe_vocab_size(t));
	CHECK(bpe_sot_id(t) == 812 && bpe_eot_id(t) == 813, "special ids %lld %lld",
	      (long long)bpe_sot_id(t), (long long)bpe_eot_id(t));
	size_t n;
	char *m = slurp(path_in(dir, "merges.txt"), &n);
	size_t lines = 0;
	for (size_t i = 0; i < n; i++)
		lines += m[i] == '\n';
	CHECK(lines == 301 && strncmp(m, "#version: 0.2\n", 14) == 0, "merges.txt: %zu lines", lines);
	free(m);
	/* common corpus words become single tokens; the ids decode back to the text */
	int64_t ids[77];
	int k = bpe_encode(t, "a product in packaging", ids, 77);
	CHECK(k == 6, "\"a product in packaging\" -> %d ids", k);
	char *d = bpe_decode(t, ids, 77);
	CHECK_STR(d, "a product in packaging ");
	k = bpe_encode(t, "zygote quixotic", ids, 77);   /* unseen words: split, never lost */
	d = bpe_decode(t, ids, 77);
	CHECK(k > 4, "unseen words split into several ids (%d)", k);
	CHECK_STR(d, "zygote quixotic ");
	k = bpe_encode(t, "Ünïcödé 📦 \xff", ids, 77);
	d = bpe_decode(t, ids, 77);
	CHECK_STR(d, "ünïcödé 📦 \xef\xbf\xbd ");
	bpe_free(t);
	/* deterministic: training again gives the same bytes */
	char *dir2 = path_in(tmpdir, "train2");
	bpe_train_write(bpe_train_corpus, bpe_train_corpus_len, 300, dir2, err, sizeof err);
	size_t n1, n2;
	char *a = slurp(path_in(dir, "vocab.json"), &n1), *b = slurp(path_in(dir2, "vocab.json"), &n2);
	CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0, "vocab.json differs between runs");
	free(a);
	free(b);
	a = slurp(path_in(dir, "merges.txt"), &n1);
	b = slurp(path_in(dir2, "merges.txt"), &n2);
	CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0, "merges.txt differs between runs");
	free(a);
	free(b);
	/* the first merge is the most frequent pair of the corpus, by hand:
	 * words aaa x2, ab x1 -> pairs (a,a) 2, (a,a</w>) 2, (a,b</w>) 1: the tie goes
	 * to (a,a) ("a" < "a</w>"); then (aa,a</w>) 2 beats (a,b</w>) 1 */
	const char *tiny[] = { "aaa aaa", "ab" };
	char *dir3 = path_in(tmpdir, "tiny");
	rc = bpe_train_write(tiny, 2, 2, dir3, err, sizeof err);
	m = slurp(path_in(dir3, "merges.txt"), &n);
	CHECK(rc == 0 && m && strcmp(m, "#version: 0.2\na a\naa a</w>\n") == 0, "tiny merges: %s", m ? m : "(none)");
	free(m);
	rc = bpe_train_write(tiny, 2, 50, path_in(tmpdir, "tiny2"), err, sizeof err);
	CHECK(rc == -1 && strstr(err, "supports only"), "too many merges: %s", err);
	struct stat st;
	CHECK(stat(path_in(tmpdir, "tiny2/vocab.json"), &st) != 0, "nothing written on failure");
	rc = bpe_train_write(tiny, 2, 1, "/proc/no/such/dir", err, sizeof err);
	CHECK(rc == -1 && strstr(err, "/proc/no/such/dir"), "unwritable dir: %s", err);
}

/* ---- driver ------------------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int driver(int argc, char **argv)
{
	int nul = 0, timing = 0;
	size_t ctx = 77;
	bpe_tokenizer *t = NULL;
	char err[512] = "no vocabulary given";
	double t0 = now();
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-0"))
			nul = 1;
		else if (!strcmp(argv[i], "-t"))
			timing = 1;
		else if (!strcmp(argv[i], "-c") && i + 1 < argc)
			ctx = (size_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			t = bpe_load_dir(argv[++i], err, sizeof err);
		else if (!strcmp(argv[i], "--gz") && i + 1 < argc)
			t = bpe_load_gz(argv[++i], err, sizeof err);
		else if (!strcmp(argv[i], "--hf") && i + 2 < argc) {
			t = bpe_load_hf(argv[i + 1], argv[i + 2], err, sizeof err);
			i += 2;
		} else {
			fprintf(stderr, "usage: test_bpe --encode [-0] [-c CTX] [-t] (--dir DIR | --gz FILE | --hf VOCAB MERGES)\n");
			return 2;
		}
	}
	if (!t) {
		fprintf(stderr, "test_bpe: %s\n", err);
		return 5;
	}
	double t1 = now();
	int64_t *ids = malloc((ctx ? ctx : 1) * sizeof *ids);
	char *line = NULL;
	size_t cap = 0, records = 0;
	ssize_t len;
	int rc = 0;
	while ((len = getdelim(&line, &cap, nul ? '\0' : '\n', stdin)) >= 0) {
		if (len > 0 && line[len - 1] == (nul ? '\0' : '\n'))
			line[len - 1] = '\0';
		int n = bpe_encode(t, line, ids, ctx);
		if (n < 0) {
			fprintf(stderr, "test_bpe: record %zu: encode failed\n", records + 1);
			rc = 1;
			n = 0;
		}
		for (int k = 0; k < n; k++)
			printf(k ? " %lld" : "%lld", (long long)ids[k]);
		putchar('\n');
		records++;
	}
	double t2 = now();
	if (timing)
		fprintf(stderr, "load %.1f ms, %zu records in %.1f ms (%.2f us each)\n", (t1 - t0) * 1e3,
		        records, (t2 - t1) * 1e3, records ? (t2 - t1) * 1e6 / (double)records : 0.0);
	free(line);
	free(ids);
	bpe_free(t);
	if (fflush(stdout) != 0 || ferror(stdout))
		return 4;
	return rc;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--encode"))
		return driver(argc, argv);
	if (argc == 4 && !strcmp(argv[1], "--train")) {
		char err[512];
		if (bpe_train_write(bpe_train_corpus, bpe_train_corpus_len, strtoul(argv[2], NULL, 10),
		                    argv[3], err, sizeof err) == 0)
			return 0;
		fprintf(stderr, "test_bpe: %s\n", err);
		return 4;
	}
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	mkdir(path_in(tmpdir, "ok"), 0777);
	have_fixture = load_fixture();
	test_clean();
	test_pieces();
	if (have_fixture) {
		char err[512];
		bpe_tokenizer *hf = bpe_load_hf(path_in(model, "vocab.json"), path_in(model, "merges.txt"), err, sizeof err);
		CHECK(hf != NULL, "hub vocabulary: %s", err);
		bpe_tokenizer *gz = bpe_load_gz(path_in(model, "bpe_simple_vocab_16e6.txt.gz"), err, sizeof err);
		CHECK(gz != NULL, "gz vocabulary: %s", err);
		if (hf && gz) {
			test_fixture(hf, gz);
			test_agree(hf, gz);
			test_encode_rules(gz);
			test_threads(hf);
		}
		bpe_free(hf);
		bpe_free(gz);
	} else {
		CHECK_SKIP("OpenCLIP token ids, hub/gz agreement, encode rules, threads: "
		           "OpenCLIP fixture absent (%s)", check_fixture_dir());
	}
	test_bad_files();
	test_train();
	char cmd[sizeof tmpdir + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return check_done();
}
