/* test_preproc — unit tests for embed/resample.c and embed/preproc.c: the
 * resampler's arithmetic on hand-computed cases and invariants, the
 * premultiplied-alpha resize, the buffer API, parameters, messages, and the
 * OpenCLIP fixture through preproc_load_buffer.  (tests/t-preproc.sh compares
 * against Pillow itself.) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "check.h"
#include "exitcode.h"
#include "../../embed/preproc.h"
#include "../../embed/resample.h"

/* The HEVC encoder the HEIC test uses to make its input leaks one block
 * inside libx265; not ours, so LeakSanitizer (SAN=1 build) skips it. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libx265\n";
}

static void test_resample_hand(void)
{
	/* 4 -> 2 bilinear, support 2: weights (3,3,1)/7 and (1,3,3)/7 */
	const uint8_t in[4] = { 0, 70, 140, 210 };
	uint8_t out[2] = { 0, 0 };
	/* 2 -> 4 bicubic upscale of a step: Pillow gives 0, 0+, 255-, 255 shape */
	const uint8_t step[2] = { 0, 255 };
	uint8_t up[4];

	CHECK(rs_resize_u8(in, 4, 1, 1, out, 2, 1, RS_BILINEAR) == 0, "rc");
	CHECK(out[0] == 50 && out[1] == 160, "bilinear 4->2 = %d %d, want 50 160", out[0], out[1]);
	CHECK(rs_resize_u8(in, 4, 1, 1, out, 2, 1, RS_NEAREST) == 0, "rc");
	CHECK(out[0] == 70 && out[1] == 210, "nearest 4->2 = %d %d, want 70 210 (centres 1, 3)", out[0], out[1]);
	CHECK(rs_resize_u8(step, 2, 1, 1, up, 4, 1, RS_BICUBIC) == 0, "rc");
	/* centres 0.25 and 0.75 in the 2-pixel input: cubic overshoot clipped */
	CHECK(up[0] == 0 && up[3] == 255 && up[1] < 128 && up[2] > 128, "bicubic 2->4 = %d %d %d %d",
	      up[0], up[1], up[2], up[3]);
	/* vertical-only: the same numbers on a column */
	CHECK(rs_resize_u8(in, 1, 4, 1, out, 1, 2, RS_BILINEAR) == 0 && out[0] == 50 && out[1] == 160,
	      "vertical bilinear 4->2 = %d %d", out[0], out[1]);
}

static void test_resample_invariants(void)
{
	enum { W = 97, H = 61 };
	static uint8_t in[W * H * 4], out[300 * 200 * 4];
	static int32_t i32[W * H], o32[40 * 30];
	int nb, ok, i;
	const enum rs_filter f[] = { RS_NEAREST, RS_BILINEAR, RS_BICUBIC };

	for (nb = 1; nb <= 4; nb++) {
		size_t k;
		for (k = 0; k < (size_t)W * H * nb; k++)
			in[k] = (uint8_t)(37 + 50 * (int)(k % (size_t)nb));
		for (i = 0; i < 3; i++) {
			int ow = i == 2 ? 300 : 31, oh = i == 2 ? 200 : 17;
			ok = rs_resize_u8(in, W, H, nb, out, ow, oh, f[i]) == 0;
			for (k = 0; ok && k < (size_t)ow * oh * nb; k++)
				ok = out[k] == (uint8_t)(37 + 50 * (int)(k % (size_t)nb));
			CHECK(ok, "constant %d-channel image stays constant (filter %d, %dx%d)", nb, i, ow, oh);
		}
	}
	for (i = 0; i < W * H; i++)
		in[i] = (uint8_t)(i * 7);
	CHECK(rs_resize_u8(in, W, H, 1, out, W, H, RS_BICUBIC) == 0 && !memcmp(in, out, W * H),
	      "same size is a copy");
	for (i = 0; i < W * H; i++)
		i32[i] = 40000;
	ok = rs_resize_i32(i32, W, H, o32, 40, 30, RS_BICUBIC) == 0;
	for (i = 0; ok && i < 40 * 30; i++)
		ok = o32[i] == 40000;
	CHECK(ok, "32-bit resize keeps a constant (no 8-bit clipping)");
	CHECK(rs_resize_u8(in, 0, H, 1, out, 10, 10, RS_BICUBIC) == -1, "zero width rejected");
	CHECK(rs_resize_u8(in, W, H, 5, out, 10, 10, RS_BICUBIC) == -1, "5 channels rejected");
}

/* An RGBA PNG: left half fully transparent *red*, right half opaque green. */
static void *make_rgba_png(size_t *len)
{
	enum { S = 448 };
	uint8_t *px = malloc((size_t)S * S * 4);
	VipsImage *im;
	void *buf = NULL;
	int x, y;

	for (y = 0; y < S; y++)
		for (x = 0; x < S; x++) {
			uint8_t *p = px + ((size_t)y * S + x) * 4;
			p[0] = x < S / 2 ? 255 : 0, p[1] = x < S / 2 ? 0 : 255, p[2] = 0;
			p[3] = x < S / 2 ? 0 : 255;
		}
	im = vips_image_new_from_memory_copy(px, (size_t)S * S * 4, S, S, 4, VIPS_FORMAT_UCHAR);
	free(px);
	if (!im || vips_pngsave_buffer(im, &buf, len, NULL))
		buf = NULL;
	if (im)
		g_object_unref(im);
	return buf;
}

static void test_alpha(const struct preproc_params *p)
{
	size_t len = 0;
	void *png = make_rgba_png(&len);
	uint8_t *rgb = malloc(PREPROC_RGB_SIZE(p));
	int st;

	CHECK(png != NULL, "libvips made the test PNG");
	if (!png)
		return;
	st = preproc_load_buffer(png, len, "mem.png", p, rgb, NULL);
	CHECK(st == PREPROC_OK, "RGBA PNG from memory: %s", preproc_errmsg());
	if (st == PREPROC_OK) {
		const uint8_t *l = rgb + (100 * 224 + 10) * 3, *r = rgb + (100 * 224 + 200) * 3;
		const uint8_t *e = rgb + (100 * 224 + 111) * 3; /* just left of the edge */
		CHECK(l[0] == 0 && l[1] == 0 && l[2] == 0, "transparent red became black: %d %d %d", l[0], l[1], l[2]);
		CHECK(r[0] == 0 && r[1] == 255 && r[2] == 0, "opaque green kept: %d %d %d", r[0], r[1], r[2]);
		/* premultiplied: no red bleeds into the edge from the invisible pixels */
		CHECK(e[0] == 0 && e[1] > 0, "no colour bleeds from transparent pixels at the edge: %d %d %d",
		      e[0], e[1], e[2]);
	}
	g_free(png);
	free(rgb);
}

/* HEIF and AVIF (Pillow 9.4 cannot open them: no reference) decode through
 * the allowed heifload: a flat colour stays that colour within lossy error. */
static void test_heif(const struct preproc_params *p)
{
	const char *kind[2] = { "HEIC", "AVIF" };
	uint8_t *rgb = malloc(PREPROC_RGB_SIZE(p));
	int k;

	for (k = 0; k < 2; k++) {
		VipsImage *im;
		void *buf = NULL;
		size_t len = 0, i;
		int st, worst = 0;
		uint8_t *px = malloc(300 * 200 * 3);
		for (i = 0; i < 300 * 200; i++)
			px[i * 3] = 100, px[i * 3 + 1] = 150, px[i * 3 + 2] = 200;
		im = vips_image_new_from_memory_copy(px, 300 * 200 * 3, 300, 200, 3, VIPS_FORMAT_UCHAR);
		free(px);
		if (!im || vips_heifsave_buffer(im, &buf, &len, "compression",
		                                k ? VIPS_FOREIGN_HEIF_COMPRESSION_AV1 : VIPS_FOREIGN_HEIF_COMPRESSION_HEVC,
		                                NULL)) {
			CHECK_SKIP("%s: libvips has no %s encoder here", kind[k], kind[k]);
			vips_error_clear();
			if (im)
				g_object_unref(im);
			continue;
		}
		g_object_unref(im);
		st = preproc_load_buffer(buf, len, kind[k], p, rgb, NULL);
		CHECK(st == PREPROC_OK, "%s decodes: %s", kind[k], preproc_errmsg());
		for (i = 0; st == PREPROC_OK && i < PREPROC_RGB_SIZE(p); i++) {
			int d = abs((int)rgb[i] - (int)(100 + 50 * (int)(i % 3)));
			worst = d > worst ? d : worst;
		}
		CHECK(st != PREPROC_OK || worst <= 4, "%s: flat (100,150,200) kept within 4, worst %d", kind[k], worst);
		g_free(buf);
	}
	free(rgb);
}

static void test_params(void)
{
	struct preproc_params p;
	enum preproc_resize r;
	enum preproc_interp in;
	enum preproc_mode m;
	char buf[512];

	preproc_default_params(&p);
	CHECK(p.image_size == 224 && p.resize_mode == PREPROC_SHORTEST && p.interpolation == PREPROC_BICUBIC &&
	      p.max_pixels == 100000000ULL && p.mode == PREPROC_EXACT, "defaults");
	CHECK(preproc_check_params(&p) == PREPROC_OK, "defaults are valid");
	CHECK(preproc_parse_resize_mode("longest", &r) == 0 && r == PREPROC_LONGEST, "longest");
	CHECK(preproc_parse_resize_mode("squash", &r) == 0 && r == PREPROC_SQUASH, "squash");
	CHECK(preproc_parse_resize_mode("Shortest", &r) == -1, "names are case-sensitive");
	CHECK(preproc_parse_interpolation("bilinear", &in) == 0 && in == PREPROC_BILINEAR, "bilinear");
	CHECK(preproc_parse_interpolation("random", &in) == 0 && in == PREPROC_BICUBIC, "random = bicubic at eval");
	CHECK(preproc_parse_interpolation("lanczos", &in) == -1, "lanczos is not an OpenCLIP option");
	CHECK(preproc_parse_mode("fast", &m) == 0 && m == PREPROC_FAST, "fast");
	p.std[1] = 0;
	CHECK(preproc_check_params(&p) == PREPROC_EPARAM && strstr(preproc_errmsg(), "std"), "std 0: %s",
	      preproc_errmsg());
	preproc_default_params(&p);
	p.fill_color = 256;
	CHECK(preproc_check_params(&p) == PREPROC_EPARAM, "fill 256 rejected");
	preproc_default_params(&p);
	preproc_describe(&p, buf, sizeof buf);
	CHECK(!strcmp(buf, "openclip-pil9.4 size=224 resize=shortest interp=bicubic "
	                   "mean=0.48145467,0.457827508,0.408210725 std=0.268629551,0.26130259,0.275777102 "
	                   "fill=0 mode=exact"), "describe: %s", buf);
	CHECK(preproc_exit_status(PREPROC_ECORRUPT) == CS_EXIT_DATA && preproc_exit_status(PREPROC_EIO) == CS_EXIT_IO &&
	      preproc_exit_status(PREPROC_OK) == CS_EXIT_OK, "exit statuses");
}

static void test_normalize(void)
{
	const uint8_t px[3] = { 255, 0, 128 };
	const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
	const float std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };
	float out[3];
	float want0 = (1.0f - mean[0]) / std[0], want1 = (0.0f - mean[1]) / std[1];
	float want2 = ((float)128 / 255.0f - mean[2]) / std[2];

	preproc_normalize(px, 1, mean, std, out);
	CHECK(out[0] == want0 && out[1] == want1 && out[2] == want2, "normalize: %.9g %.9g %.9g", out[0], out[1], out[2]);
}

struct tl_arg { const struct preproc_params *p; const char *name; int same; };

static void *tl_worker(void *a)
{
	struct tl_arg *t = a;
	int i;

	t->same = 1;
	for (i = 0; i < 200; i++) {
		preproc_load_buffer("garbage bytes", 13, t->name, t->p, NULL, NULL);
		t->same &= strncmp(preproc_errmsg(), t->name, strlen(t->name)) == 0;
	}
	return NULL;
}

static void test_threads(const struct preproc_params *p)
{
	struct tl_arg a = { p, "first-thread", 0 }, b = { p, "second-thread", 0 };
	pthread_t ta, tb;

	pthread_create(&ta, NULL, tl_worker, &a);
	pthread_create(&tb, NULL, tl_worker, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(a.same && b.same, "each thread reads its own message");
}

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = malloc(n > 0 ? (size_t)n : 1);
	*len = fread(b, 1, (size_t)n, f);
	fclose(f);
	return b;
}

static void test_fixture(const struct preproc_params *p)
{
	const char *dir = check_fixture_dir();
	char path[4096], name[256];
	FILE *names;
	size_t plen = 0, flen = 0, n = PREPROC_RGB_SIZE(p);
	uint8_t *pix, *rgb = malloc(n);
	float *inp, *chw = malloc(PREPROC_CHW_SIZE(p));
	int i = 0;

	snprintf(path, sizeof path, "%s/expected/image_names.txt", dir);
	if (!(names = fopen(path, "r"))) {
		CHECK_SKIP("OpenCLIP fixture absent (%s)", dir);
		free(rgb), free(chw);
		return;
	}
	snprintf(path, sizeof path, "%s/expected/image_pixels.u8", dir);
	pix = slurp(path, &plen);
	snprintf(path, sizeof path, "%s/expected/image_inputs.f32", dir);
	inp = slurp(path, &flen);
	CHECK(pix && inp && plen == 5 * n && flen == 5 * PREPROC_CHW_SIZE(p), "fixture arrays readable");
	while (pix && inp && i < 5 && fscanf(names, "%255s", name) == 1) {
		size_t len = 0;
		void *img;
		int st;
		snprintf(path, sizeof path, "%s/images/%s", dir, name);
		img = slurp(path, &len);
		st = preproc_load_buffer(img, len, name, p, rgb, chw);
		CHECK(st == PREPROC_OK, "%s: %s", name, preproc_errmsg());
		CHECK(!memcmp(rgb, pix + i * n, n), "%s: pixels equal image_pixels.u8 from a buffer", name);
		CHECK(!memcmp(chw, (char *)inp + i * PREPROC_CHW_SIZE(p), PREPROC_CHW_SIZE(p)),
		      "%s: inputs equal image_inputs.f32", name);
		free(img);
		i++;
	}
	fclose(names);
	free(pix), free(inp), free(rgb), free(chw);
}

int main(int argc, char **argv)
{
	struct preproc_params p;
	(void)argc;

	preproc_default_params(&p);
	CHECK(preproc_load_buffer("x", 1, "early", &p, NULL, NULL) == PREPROC_EPARAM &&
	      strstr(preproc_errmsg(), "preproc_global_init"), "use before init is refused: %s", preproc_errmsg());
	CHECK(preproc_global_init(argv[0]) == PREPROC_OK, "init: %s", preproc_errmsg());
	CHECK(preproc_global_init(argv[0]) == PREPROC_OK, "second init is a no-op");
	test_resample_hand();
	test_resample_invariants();
	test_params();
	test_normalize();
	test_alpha(&p);
	test_heif(&p);
	test_threads(&p);
	test_fixture(&p);
	preproc_global_shutdown();
	return check_done();
}
