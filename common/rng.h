/* rng.h — the small deterministic generators the tools share: splitmix64 (Steele,
 * Lea & Flood 2014) and xoshiro256** (Blackman & Vigna 2018).  Header-only
 * (static inline) so hot loops keep inlining them.  A stream for a given state is
 * fixed forever: seeds written into tests, models and outputs depend on it.
 *
 * Ownership: every state is caller-owned plain data. */
#ifndef CS_RNG_H
#define CS_RNG_H

#include <stdint.h>

/* Advances *x by the golden-ratio increment and returns the mixed value. */
static inline uint64_t
cs_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t
cs_rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: next output of state s (not all zero). */
static inline uint64_t
cs_xoshiro256ss(uint64_t s[4])
{
	uint64_t r = cs_rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = cs_rotl64(s[3], 45);
	return r;
}

/* The top 53 bits of r as a double in [0, 1). */
static inline double
cs_unit_double(uint64_t r)
{
	return (double)(r >> 11) * 0x1.0p-53;
}

#endif
