/* test_sha256.c — content keys: FIPS 180-2 vectors, streaming == one call, files. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "sha256.h"

int
main(void)
{
	char hex[SHA256_HEX + 1], hex2[SHA256_HEX + 1], path[256];
	sha256_ctx c;
	char *mill = malloc(1000000);
	uint64_t n = 0;
	size_t i;
	FILE *fp;
	const char *t = getenv("TMPDIR");

	CHECK(sha256_hex("", 0, hex) == 0 &&
	    strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "empty: %s", hex);
	CHECK(sha256_hex("abc", 3, hex) == 0 &&
	    strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "abc: %s", hex);
	memset(mill, 'a', 1000000);
	CHECK(sha256_init(&c) == 0, "init");
	for (i = 0; i < 1000000; i += 999)
		sha256_update(&c, mill + i, i + 999 <= 1000000 ? 999 : 1000000 - i);
	CHECK(c.bytes == 1000000, "byte count");
	CHECK(sha256_final(&c, hex) == 0 &&
	    strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
	    "million a in pieces: %s", hex);
	CHECK(c.md == NULL, "final releases");
	sha256_release(&c);     /* NULL-safe after final */
	snprintf(path, sizeof path, "%s/test_sha256.%ld", t && *t ? t : "/tmp", (long)getpid());
	fp = fopen(path, "wb");
	fwrite(mill, 1, 300000, fp);
	fclose(fp);
	CHECK(sha256_file(path, hex, &n) == 0 && n == 300000, "file");
	sha256_hex(mill, 300000, hex2);
	CHECK(strcmp(hex, hex2) == 0, "file == buffer");
	remove(path);
	CHECK(sha256_file(path, hex, &n) == -1, "missing file fails");
	free(mill);
	return check_done();
}
