/* sha256.h — the content key of DESIGN.md: lowercase hex SHA-256 (OpenSSL libcrypto
 * EVP underneath), streaming or in one call.
 *
 * Ownership: a sha256_ctx is caller-owned: sha256_init sets it up, sha256_final
 * writes the digest and releases it (sha256_release releases without a digest,
 * NULL-safe).  Functions return 0 on success, -1 on failure (out of memory in
 * libcrypto, or a read error with errno set for sha256_fd/sha256_file). */
#ifndef CS_SHA256_H
#define CS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX 64

typedef struct sha256_ctx {
	void *md;               /* EVP_MD_CTX */
	uint64_t bytes;         /* bytes hashed so far */
} sha256_ctx;

int sha256_init(sha256_ctx *c);
int sha256_update(sha256_ctx *c, const void *data, size_t n);
/* Writes 64 lowercase hex digits and a NUL; releases c. */
int sha256_final(sha256_ctx *c, char hex[SHA256_HEX + 1]);
/* Writes the 32 raw bytes; releases c. */
int sha256_final_raw(sha256_ctx *c, unsigned char raw[32]);
void sha256_release(sha256_ctx *c);

/* One call over a buffer. */
int sha256_hex(const void *data, size_t n, char hex[SHA256_HEX + 1]);
/* Everything readable from fd (to EOF); *nbytes (may be NULL) receives the length. */
int sha256_fd(int fd, char hex[SHA256_HEX + 1], uint64_t *nbytes);
int sha256_file(const char *path, char hex[SHA256_HEX + 1], uint64_t *nbytes);

#endif
