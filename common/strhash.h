/* strhash.h — the FNV-1a step (xor a byte, multiply by the 64-bit FNV prime) that the
 * hash tables and seeded streams share.  Each caller picks its start value and any
 * final mix.  Note: the tables start from CS_STRHASH_START, 1469598103934665603 —
 * FNV's 64-bit offset basis (14695981039346656037) with its last digit missing.  It
 * hashes as well; it is kept because rank's sample order and mkmodel's weights are
 * fixed by what the hashes were (mkmodel starts from the real basis).
 *
 * Ownership: none (pure functions). */
#ifndef CS_STRHASH_H
#define CS_STRHASH_H

#include <stddef.h>
#include <stdint.h>

#define CS_STRHASH_START 1469598103934665603ULL
#define CS_FNV64_BASIS   14695981039346656037ULL
#define CS_FNV64_PRIME   1099511628211ULL

/* h advanced over the bytes of the NUL-terminated s. */
static inline uint64_t
cs_strhash_from(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * CS_FNV64_PRIME;
	return h;
}

/* h advanced over n bytes at s. */
static inline uint64_t
cs_memhash_from(uint64_t h, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * CS_FNV64_PRIME;
	return h;
}

/* The plain table hash of s. */
static inline uint64_t
cs_strhash(const char *s)
{
	return cs_strhash_from(CS_STRHASH_START, s);
}

#endif
