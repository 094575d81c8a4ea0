/* bpe_fuzz.c — libFuzzer target for the CLIP tokenizer (embed/bpe.h).
 * The first input byte picks what the rest is:
 *   0, 1  a prompt: encoded with context length 1 + (byte % 100) by the real OpenCLIP
 *         vocabulary ($FIXTURE) or, without it, a trained one; the row's invariants are
 *         checked (start/end ids, padding, ids in range, same prefix as length 77) and
 *         it is decoded;
 *   2     a vocab.json (with the trained merges.txt);
 *   3     a merges.txt (with the trained vocab.json);
 *   4     a bpe_simple_vocab_16e6.txt.gz.
 * A vocabulary that loads must encode a fixed prompt to a valid row. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "bpe_train.h"

static bpe_tokenizer *tok;
static char dir[] = "/tmp/bpe_fuzz.XXXXXX";
static char vocab[64], merges[64], scratch[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void init(void)
{
	char err[512];
	if (!mkdtemp(dir) || bpe_train_write(bpe_train_corpus, bpe_train_corpus_len, 300, dir, err, sizeof err) < 0) {
		fprintf(stderr, "bpe_fuzz: setup: %s\n", err);
		abort();
	}
	snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
	snprintf(merges, sizeof merges, "%s/merges.txt", dir);
	snprintf(scratch, sizeof scratch, "%s/input", dir);
	const char *fx = getenv("FIXTURE");
	char gz[4096];
	snprintf(gz, sizeof gz, "%s/model/tiny-vit-b32ish/bpe_simple_vocab_16e6.txt.gz",
	         fx && *fx ? fx : "../shared/fixtures/openclip");
	tok = access(gz, R_OK) == 0 ? bpe_load_gz(gz, err, sizeof err) : NULL;
	if (!tok)
		tok = bpe_load_hf(vocab, merges, err, sizeof err);
	if (!tok) {
		fprintf(stderr, "bpe_fuzz: setup: %s\n", err);
		abort();
	}
}

static void check_row(const bpe_tokenizer *t, const char *text, size_t ctx)
{
	int64_t *ids = malloc(ctx * sizeof *ids), ref[77];
	size_t full = 0;
	int n = bpe_encode_full(t, text, ids, ctx, &full);
	if (n < 1 || (size_t)n > ctx || full < 2 || (size_t)n != (full < ctx ? full : ctx))
		abort();
	if (ids[n - 1] != bpe_eot_id(t) || (n > 1 && ids[0] != bpe_sot_id(t)))
		abort();
	for (size_t k = 0; k < ctx; k++)
		if (ids[k] < 0 || (uint64_t)ids[k] >= bpe_vocab_size(t) || (k >= (size_t)n && ids[k] != 0))
			abort();
	/* a longer context only adds ids at the end */
	int m = bpe_encode(t, text, ref, 77);
	size_t same = (size_t)(n < m ? n : m) - 1;
	if (m < 1 || memcmp(ids, ref, same * sizeof *ids) != 0)
		abort();
	free(bpe_decode(t, ids, (size_t)n));
	free(ids);
}

static int write_input(const uint8_t *d, size_t n)
{
	FILE *f = fopen(scratch, "wb");
	if (!f)
		return -1;
	fwrite(d, 1, n, f);
	return fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!tok)
		init();
	if (size < 1)
		return 0;
	unsigned mode = data[0] % 5;
	char err[512] = "";
	bpe_tokenizer *t = NULL;
	if (mode <= 1) {
		char *text = malloc(size);
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		check_row(tok, text, 1 + data[0] % 100);
		free(text);
		return 0;
	}
	if (write_input(data + 1, size - 1) < 0)
		return 0;
	if (mode == 2)
		t = bpe_load_hf(scratch, merges, err, sizeof err);
	else if (mode == 3)
		t = bpe_load_hf(vocab, scratch, err, sizeof err);
	else
		t = bpe_load_gz(scratch, err, sizeof err);
	if (t)
		check_row(t, "a product in packaging, it's 100% new! 📦", 77);
	else if (!err[0])
		abort();   /* every failure says why */
	bpe_free(t);
	return 0;
}
