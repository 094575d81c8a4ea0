/* bpe_int.h — internals shared by bpe.c, bpe_train.c, bpe_tables.c and the tests.
 * Not part of the API.  Tables are generated (scripts/gen-bpe-tables.py). */
#ifndef CS_BPE_INT_H
#define CS_BPE_INT_H

#include <stddef.h>
#include <stdint.h>

struct bpe_entity { const char *name, *value; };     /* sorted by name (bytes) */
struct bpe_charref { uint32_t num, cp; };
struct bpe_range { uint32_t lo, hi; };               /* sorted, inclusive */

extern const struct bpe_entity bpe_html5[];
extern const size_t bpe_html5_len;
extern const struct bpe_charref bpe_invalid_charrefs[];
extern const size_t bpe_invalid_charrefs_len;
extern const uint32_t bpe_invalid_codepoints[];
extern const size_t bpe_invalid_codepoints_len;
extern const struct bpe_range bpe_space[], bpe_cased[], bpe_case_ignorable[];
extern const size_t bpe_space_len, bpe_cased_len, bpe_case_ignorable_len;

/* A growable code-point string; release with free(s->v). */
struct bpe_cps { uint32_t *v; size_t n, cap; };

/* Steps 1-5 of bpe.h's pipeline (decode, unescape x2, strip, whitespace, lower).
 * out is reset first.  -1 when out of memory. */
int bpe_clean_text(const char *utf8, struct bpe_cps *out);
/* Python's bytes.decode('utf-8', errors='replace') of s[0..len) appended to out. */
int bpe_utf8_decode(const char *s, size_t len, struct bpe_cps *out);
/* The next pre-token of cleaned text t[0..n) at or after *pos: [*start, *end).
 * Returns BPE_PIECE_* or BPE_PIECE_NONE at the end. */
enum { BPE_PIECE_NONE = -1, BPE_PIECE_WORD = 0, BPE_PIECE_SOT = 1, BPE_PIECE_EOT = 2 };
int bpe_next_piece(const uint32_t *t, size_t n, size_t *pos, size_t *start, size_t *end);

int bpe_in_ranges(const struct bpe_range *r, size_t n, uint32_t c);
int bpe_is_space(uint32_t c);                 /* Python str.isspace() */
size_t bpe_utf8_put(uint32_t cp, char *out);  /* 1..4 bytes, no NUL */
/* bytes_to_unicode(): the printable code point standing for byte b, and the byte at
 * vocabulary position i (0..255) — OpenCLIP's order of the 256 byte tokens. */
uint32_t bpe_byte_cp(unsigned b);
unsigned bpe_byte_at(unsigned i);

#endif
