/* bpe.h — the CLIP byte-level BPE tokenizer, identical to OpenCLIP's SimpleTokenizer.
 *
 * Ownership: bpe_load_* return a tokenizer the caller frees with bpe_free() (NULL-safe);
 * every other function borrows it.  After loading, a tokenizer is read-only, so any
 * number of threads may call bpe_encode() on one tokenizer at once.  The library never
 * prints and never exits: failures return NULL or -1 with a message in errbuf.
 *
 *     char err[256];
 *     bpe_tokenizer *t = bpe_load_dir("models/ViT-B-32", err, sizeof err);
 *     if (!t) cs_die(CS_EXIT_MODEL, "%s", err);
 *     int64_t ids[77];
 *     if (bpe_encode(t, "a product in packaging", ids, 77) < 0) cs_die(CS_EXIT_IO, "out of memory");
 *     // ids = 49406 320 4306 530 11658 49407 0 0 ...
 *     bpe_free(t);
 *
 * The text pipeline is OpenCLIP's (open_clip 3.x, clean='lower'):
 *   1. bytes -> code points; invalid UTF-8 becomes U+FFFD per maximal invalid
 *      subsequence, as Python's bytes.decode('utf-8', errors='replace') does;
 *   2. ftfy.fix_text: NOT reimplemented (identity; mojibake is not repaired);
 *   3. html.unescape twice (all HTML5 named references, including the legacy ones
 *      without ';', numeric references with Python's replacements), then strip();
 *   4. whitespace_clean: " ".join(text.split()) (Python's str.isspace set);
 *   5. str.lower(): full lowercase, i.e. U+0130 -> "i" U+0307 and the final-sigma rule;
 *   6. the pre-tokenizer regex <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|
 *      [\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+ (the `regex` module, IGNORECASE): special-token
 *      text inside a prompt becomes the start/end id, whichever vocabulary is loaded;
 *   7. bytes_to_unicode, BPE merges by rank with the "</w>" end-of-word mark.
 *
 * Where this differs from OpenCLIP (open_clip 3.3.0 on Python 3.11, regex module):
 *   - ftfy.fix_text is not applied (the reference fixture was made with ftfy stubbed
 *     to identity); text that ftfy would repair (mojibake, e.g. "cafÃ©") is encoded as
 *     it is;
 *   - letters and numbers (\p{L}, \p{N}) come from utf8proc (Unicode 15.0), lower-case
 *     mappings from utf8proc plus CPython's two special cases (U+0130, final sigma),
 *     whitespace and the sigma context from tables generated from Python 3.11
 *     (Unicode 14.0): code points first assigned in Unicode 15.0 may differ;
 *   - a decimal reference of more than 4300 digits is decoded by its value (U+FFFD
 *     when past U+10FFFF) where Python 3.11's int() raises ValueError;
 *   - a merges line that is not exactly two symbols is an error (OpenCLIP keeps it as
 *     an unusable merge); the one exception is the empty line after a final newline of
 *     a short .gz, which OpenCLIP and this loader both count as a merge (so it takes an
 *     id);
 *   - in the hub format every merge is used (no 48894 cap), and the "#version" first
 *     line is skipped only when present. */
#ifndef CS_BPE_H
#define CS_BPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct bpe_tokenizer bpe_tokenizer;

/* OpenCLIP's bpe_simple_vocab_16e6.txt.gz: gzip, line 0 a header, then one merge
 * "a b" per line; like OpenCLIP, at most the 48894 merges of lines 1..48894 are used.
 * Ids: 256 byte tokens, the same 256 + "</w>", one per merge, <start_of_text>,
 * <end_of_text>. */
bpe_tokenizer *bpe_load_gz(const char *path, char *errbuf, size_t errlen);

/* The Hugging Face hub's vocab.json (token -> id) and merges.txt ("#version" header
 * line, then one merge per line).  Ids come from vocab.json; the start and end ids are
 * those of "<|startoftext|>" and "<|endoftext|>".  Every byte token, merge part and
 * merge result must be in vocab.json. */
bpe_tokenizer *bpe_load_hf(const char *vocab_json, const char *merges_txt,
                           char *errbuf, size_t errlen);

/* A model directory: vocab.json + merges.txt when both exist, else
 * bpe_simple_vocab_16e6.txt.gz. */
bpe_tokenizer *bpe_load_dir(const char *model_dir, char *errbuf, size_t errlen);

void bpe_free(bpe_tokenizer *t);

/* Number of ids (the text model's embedding rows must cover 0 .. size-1). */
size_t bpe_vocab_size(const bpe_tokenizer *t);
int64_t bpe_sot_id(const bpe_tokenizer *t);
int64_t bpe_eot_id(const bpe_tokenizer *t);

/* One row of OpenCLIP's tokenize(): start id, BPE ids, end id, then 0 up to
 * context_length.  A longer text is cut to context_length ids with the end id last.
 * utf8 is NUL-terminated.  Returns the number of ids before the padding
 * (<= context_length), or -1 (a NULL argument, context_length 0, or out of memory). */
int bpe_encode(const bpe_tokenizer *t, const char *utf8, int64_t *ids, size_t context_length);

/* As bpe_encode; *n_full (if not NULL) receives the untruncated length including the
 * start and end ids, so a caller can report a truncated prompt. */
int bpe_encode_full(const bpe_tokenizer *t, const char *utf8, int64_t *ids,
                    size_t context_length, size_t *n_full);

/* OpenCLIP's decode(): token strings joined, mapped back to bytes, "</w>" -> " ";
 * the start id is skipped and decoding stops at the end id.  Returns a malloc'd
 * string the caller frees, or NULL (out of memory, or an id out of range). */
char *bpe_decode(const bpe_tokenizer *t, const int64_t *ids, size_t n);

#endif
