/* sha256.c — SHA-256 content keys over OpenSSL EVP (sha256.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "sha256.h"

int
sha256_init(sha256_ctx *c)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	c->md = NULL;
	c->bytes = 0;
	if (md == NULL)
		return -1;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return -1;
	}
	c->md = md;
	return 0;
}

int
sha256_update(sha256_ctx *c, const void *data, size_t n)
{
	if (c->md == NULL)
		return -1;
	if (n == 0)
		return 0;
	if (EVP_DigestUpdate(c->md, data, n) != 1)
		return -1;
	c->bytes += n;
	return 0;
}

void
sha256_release(sha256_ctx *c)
{
	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
}

int
sha256_final_raw(sha256_ctx *c, unsigned char raw[32])
{
	unsigned int len = 0;
	int ok;

	if (c->md == NULL)
		return -1;
	ok = EVP_DigestFinal_ex(c->md, raw, &len) == 1 && len == 32;
	sha256_release(c);
	return ok ? 0 : -1;
}

int
sha256_final(sha256_ctx *c, char hex[SHA256_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[32];
	int i;

	if (sha256_final_raw(c, raw) != 0)
		return -1;
	for (i = 0; i < 32; i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 15];
	}
	hex[SHA256_HEX] = '\0';
	return 0;
}

int
sha256_hex(const void *data, size_t n, char hex[SHA256_HEX + 1])
{
	sha256_ctx c;

	if (sha256_init(&c) != 0)
		return -1;
	if (sha256_update(&c, data, n) != 0) {
		sha256_release(&c);
		return -1;
	}
	return sha256_final(&c, hex);
}

int
sha256_fd(int fd, char hex[SHA256_HEX + 1], uint64_t *nbytes)
{
	unsigned char buf[1 << 16];
	sha256_ctx c;
	ssize_t n;

	if (sha256_init(&c) != 0)
		return -1;
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (sha256_update(&c, buf, (size_t)n) != 0) {
			sha256_release(&c);
			return -1;
		}
	}
	if (n < 0) {
		int e = errno;

		sha256_release(&c);
		errno = e;
		return -1;
	}
	if (nbytes != NULL)
		*nbytes = c.bytes;
	return sha256_final(&c, hex);
}

int
sha256_file(const char *path, char hex[SHA256_HEX + 1], uint64_t *nbytes)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc, e;

	if (fd < 0)
		return -1;
	rc = sha256_fd(fd, hex, nbytes);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}
