/* check.h — tiny assertion helpers for C unit tests (tests/unit/test_*.c).
 * Each test binary ends with `return check_done();`, which prints the
 * "# counts PASS FAIL SKIP" line tests/run adds up. */
#ifndef CS_CHECK_H
#define CS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_pass_, check_fail_, check_skip_;

#define CHECK(cond, ...) do { \
	if (cond) { check_pass_++; } else { check_fail_++; \
		fprintf(stdout, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stdout, __VA_ARGS__); fputc('\n', stdout); } \
} while (0)

#define CHECK_SKIP(...) do { check_skip_++; fprintf(stdout, "SKIP "); \
	fprintf(stdout, __VA_ARGS__); fputc('\n', stdout); } while (0)

static inline const char *check_fixture_dir(void)
{
	const char *f = getenv("FIXTURE");
	return f && *f ? f : "../shared/fixtures/openclip";
}

static inline int check_done(void)
{
	printf("# counts %d %d %d\n", check_pass_, check_fail_, check_skip_);
	return check_fail_ ? 1 : 0;
}

#endif
