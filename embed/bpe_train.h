/* bpe_train.h — learn a small byte-level BPE vocabulary, for demo and test models
 * (clipsort-mkmodel).  Nothing here allocates anything the caller frees.
 *
 *     char err[256];
 *     if (bpe_train_write(bpe_train_corpus, bpe_train_corpus_len, 600, "demo-model",
 *                         err, sizeof err) < 0)
 *             cs_die(CS_EXIT_IO, "%s", err);
 *     // demo-model/vocab.json + merges.txt load with bpe_load_hf(); 512 + 600 + 2 ids
 *
 * Training is the classic one: each text goes through the tokenizer's own cleaning
 * and pre-tokenizer (bpe.h); words are byte symbols with "</w>" on the last; the most
 * frequent adjacent pair (counted over word frequencies) is merged everywhere, ties
 * going to the pair whose (left, right) strings sort first; a pair whose merged string
 * is already a token is passed over, so every id is a distinct string. */
#ifndef CS_BPE_TRAIN_H
#define CS_BPE_TRAIN_H

#include <stddef.h>

/* A built-in English corpus of product-photo captions (a few hundred words). */
extern const char *const bpe_train_corpus[];
extern const size_t bpe_train_corpus_len;

/* Learn n_merges merges from corpus[0..n) and write out_dir/vocab.json and
 * out_dir/merges.txt in the Hugging Face hub's format (ids: 256 byte tokens, the same
 * with "</w>", the merges in order, "<|startoftext|>", "<|endoftext|>"; vocabulary
 * size 512 + n_merges + 2).  out_dir is created if missing; each file is written to
 * a temporary name, synced and renamed, so an old vocabulary is never half replaced.
 * Returns 0, or -1 with a message in errbuf (also when the corpus has fewer than
 * n_merges distinct pairs to merge). */
int bpe_train_write(const char *const *corpus, size_t n, size_t n_merges, const char *out_dir,
                    char *errbuf, size_t errlen);

#endif
