/* The safetensors writer (embed/safetensors_write.h): half and bfloat16 rounding at
 * every rounding boundary, the library's layout with mixed dtypes and metadata, and
 * misuse reported as errors. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "safetensors_write.h"

static float
bits_f(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static uint32_t
f_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

/* Exact value of a half, independent of the encoder. */
static double
half_value(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 1023;
	double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);

	return h & 0x8000 ? -v : v;
}

static void
test_f16(void)
{
	long bad = 0, n = 0;

	/* every finite half h: h itself, the midpoint to h+1 (ties to even) and one float
	 * ulp either side of it */
	for (uint32_t h = 0; h < 0x7c00; h++) {
		/* past the largest half the next step would be 65536: its midpoint 65520 and
		 * above round to infinity (0x7c00, "even") */
		double a = half_value((uint16_t)h), b = h + 1 == 0x7c00 ? 65536.0 : half_value((uint16_t)(h + 1));
		double mid = (a + b) / 2;
		float fm = (float)mid; /* exact: a half midpoint needs 12 significant bits */
		uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
		struct { float x; uint16_t want; } c[] = {
			{(float)a, (uint16_t)h}, {fm, even},
			{bits_f(f_bits(fm) - 1), (uint16_t)h}, {bits_f(f_bits(fm) + 1), (uint16_t)(h + 1)},
		};
		for (int i = 0; i < 4; i++) {
			if (h == 0 && i == 2)
				continue;       /* below +0: the float before 0 is negative */
			for (int s = 0; s < 2; s++) {
				float x = s ? -c[i].x : c[i].x;
				uint16_t want = (uint16_t)(c[i].want | (s ? 0x8000 : 0)), got = stw_f32_to_f16(x);
				n++;
				if (got != want && bad++ < 5)
					printf("f16(%a) = %04x, want %04x\n", (double)x, got, want);
			}
		}
	}
	CHECK(bad == 0, "%ld of %ld half roundings wrong", bad, n);
	CHECK(stw_f32_to_f16(65504.0f) == 0x7bff, "max half");
	CHECK(stw_f32_to_f16(65519.99f) == 0x7bff, "just below the overflow threshold");
	CHECK(stw_f32_to_f16(65520.0f) == 0x7c00, "65520 rounds to infinity");
	CHECK(stw_f32_to_f16(1e10f) == 0x7c00 && stw_f32_to_f16(-1e10f) == 0xfc00, "overflow to ±inf");
	CHECK(stw_f32_to_f16(INFINITY) == 0x7c00, "inf");
	CHECK((stw_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (stw_f32_to_f16(NAN) & 0x3ff) != 0, "NaN stays NaN");
	CHECK(stw_f32_to_f16(ldexpf(1, -25)) == 0, "2^-25 ties to even 0");
	CHECK(stw_f32_to_f16(ldexpf(1.0001f, -25)) == 1, "just above 2^-25 rounds up to the smallest subnormal");
	CHECK(stw_f32_to_f16(1e-30f) == 0 && stw_f32_to_f16(-1e-30f) == 0x8000, "underflow to ±0");
}

static void
test_bf16(void)
{
	long bad = 0, n = 0;

	for (uint32_t h = 0; h < 0x7f80; h++) {
		uint32_t base = h << 16, mid = base | 0x8000;
		uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
		struct { uint32_t x; uint16_t want; } c[] = {
			{base, (uint16_t)h}, {mid, even}, {mid - 1, (uint16_t)h}, {mid + 1, (uint16_t)(h + 1)},
		};
		for (int i = 0; i < 4; i++) {
			uint16_t got = stw_f32_to_bf16(bits_f(c[i].x));
			n++;
			if (got != c[i].want && bad++ < 5)
				printf("bf16(%08x) = %04x, want %04x\n", c[i].x, got, c[i].want);
		}
	}
	CHECK(bad == 0, "%ld of %ld bfloat16 roundings wrong", bad, n);
	CHECK(stw_f32_to_bf16(-1.0f) == 0xbf80, "-1");
	CHECK(stw_f32_to_bf16(bits_f(0x7f7fffff)) == 0x7f80, "FLT_MAX rounds to inf");
	CHECK((stw_f32_to_bf16(NAN) & 0x7f80) == 0x7f80 && (stw_f32_to_bf16(NAN) & 0x7f) != 0, "NaN stays NaN");
	CHECK((stw_f32_to_bf16(bits_f(0x7fffffff)) & 0x7f) != 0, "a NaN that would round to inf stays NaN");
}

/* Read a whole memory stream. */
static char *
file_text(FILE *fp, size_t *n)
{
	static char buf[4096];

	fflush(fp);
	rewind(fp);
	*n = fread(buf, 1, sizeof buf, fp);
	return buf;
}

static void
test_layout(void)
{
	stw_writer *w = stw_new();
	FILE *fp = tmpfile();
	int64_t s23[] = {2, 3}, s2[] = {2}, s0[] = {0};
	const char *name;
	enum stw_dtype t;
	uint64_t numel, hlen;
	float six[6] = {1, 2, 3, 4, 5, 6}, two[2] = {1.5f, -2};
	uint16_t hb[2];
	size_t n;
	char *p;
	const char *want = "{\"__metadata__\":{\"format\":\"pt\",\"q\\\"\\\\\":\"\\n\"},"
	    "\"b\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
	    "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[24,28]},"
	    "\"z\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[28,32]},"
	    "\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[32,36]},"
	    "\"e\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[36,36]}}";

	CHECK(w && fp, "setup");
	CHECK(stw_meta(w, "format", "pt") == 0 && stw_meta(w, "q\"\\", "\n") == 0, "metadata");
	CHECK(stw_add(w, "z", STW_BF16, 1, s2) == 0, "add z");
	CHECK(stw_add(w, "a", STW_F16, 1, s2) == 0, "add a");
	CHECK(stw_add(w, "b", STW_F32, 2, s23) == 0, "add b");
	CHECK(stw_add(w, "s", STW_F32, 0, NULL) == 0, "add scalar");
	CHECK(stw_add(w, "e", STW_F16, 1, s0) == 0, "add empty");
	CHECK(stw_add(w, "a", STW_F32, 1, s2) == -1 && strstr(stw_errmsg(w), "duplicate"), "duplicate refused");
	CHECK(stw_add(w, "__metadata__", STW_F32, 1, s2) == -1, "reserved name refused");
	CHECK(stw_begin(w, fp) == 0, "begin: %s", stw_errmsg(w));
	CHECK(stw_add(w, "late", STW_F32, 1, s2) == -1, "add after begin refused");
	CHECK(stw_next(w, &name, &t, &numel) == 0 && strcmp(name, "b") == 0 && t == STW_F32 && numel == 6,
	    "F32 first (largest dtype), then by name");
	CHECK(stw_write_f32(w, six, 4) == 0 && stw_write_f32(w, six + 4, 2) == 0, "b in two writes");
	CHECK(stw_next(w, &name, NULL, NULL) == 1 && strcmp(name, "s") == 0, "then the scalar");
	CHECK(stw_write_f32(w, six, 2) == -1 && strstr(stw_errmsg(w), "more data"), "overrun refused");
	CHECK(stw_write_f32(w, six, 1) == 0, "s");
	CHECK(stw_next(w, &name, NULL, NULL) == 2 && strcmp(name, "z") == 0, "then BF16");
	CHECK(stw_write_f32(w, two, 2) == 0, "z");
	CHECK(stw_next(w, &name, NULL, NULL) == 3 && strcmp(name, "a") == 0, "then F16");
	CHECK(stw_finish(w) == -1 && strstr(stw_errmsg(w), "incomplete"), "early finish refused");
	hb[0] = 0x3c00;
	hb[1] = 0xc000;
	CHECK(stw_write(w, hb, 4) == 0, "a raw");
	CHECK(stw_next(w, NULL, NULL, NULL) == -1, "the empty tensor needs no data");
	CHECK(stw_finish(w) == 0, "finish: %s", stw_errmsg(w));
	p = file_text(fp, &n);
	hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | (unsigned char)p[i];
	CHECK(hlen % 8 == 0 && hlen >= strlen(want) && hlen < strlen(want) + 8, "header length %llu",
	    (unsigned long long)hlen);
	CHECK(memcmp(p + 8, want, strlen(want)) == 0, "header: %.*s", (int)hlen, p + 8);
	for (size_t i = strlen(want); i < hlen; i++)
		CHECK(p[8 + i] == ' ', "padded with spaces");
	CHECK(n == 8 + hlen + 36 && stw_file_size(w) == n, "file size %zu", n);
	CHECK(memcmp(p + 8 + hlen, "\0\0\x80\x3f", 4) == 0, "F32 little-endian 1.0");
	CHECK((unsigned char)p[8 + hlen + 28] == 0xc0 && (unsigned char)p[8 + hlen + 29] == 0x3f,
	    "BF16 1.5 = 0x3fc0 little-endian");
	stw_free(w);
	fclose(fp);
	stw_free(NULL);
	CHECK(stw_dtype_parse("BF16") == STW_BF16 && stw_dtype_parse("X") == -1, "dtype names");
}

int
main(void)
{
	test_f16();
	test_bf16();
	test_layout();
	return check_done();
}
