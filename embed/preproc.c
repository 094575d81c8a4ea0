/* preproc.c — decode with libvips, then OpenCLIP's eval transform in Pillow's
 * arithmetic (see preproc.h).  The steps mirror, in order:
 *   Image.open          -> decode_image(): libvips, then the PIL mode the file
 *                          would have in Pillow 9.4 (pil_mode_for())
 *   Resize / ResizeKeepRatio -> resize_size() + pil_resize()
 *   CenterCrop / CenterCropOrPad -> crop_or_pad()
 *   _convert_to_rgb     -> to_rgb()
 *   ToTensor, Normalize -> preproc_normalize()
 * EXIF orientation is NOT applied and ICC profiles are ignored, as in
 * OpenCLIP (it never calls exif_transpose, and convert('RGB') ignores ICC). */
#include "preproc.h"
#include "resample.h"
#include "exitcode.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vips/vips.h>

#define MAX_FILE_BYTES ((off_t)1 << 31) /* 2 GiB: no image file we accept is larger */

static _Thread_local char errbuf[1024];
static int vips_ready;

const char *preproc_errmsg(void)
{
	return errbuf;
}

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	return status;
}

int preproc_exit_status(int status)
{
	switch (status) {
	case PREPROC_OK: return CS_EXIT_OK;
	case PREPROC_EUNSUPPORTED:
	case PREPROC_ETOOBIG:
	case PREPROC_ECORRUPT: return CS_EXIT_DATA;
	case PREPROC_EIO:
	case PREPROC_ENOMEM: return CS_EXIT_IO;
	case PREPROC_EPARAM: return CS_EXIT_USAGE;
	default: return CS_EXIT_INTERNAL;
	}
}

/* ---- parameters ---- */

void preproc_default_params(struct preproc_params *p)
{
	static const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
	static const float std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };

	memset(p, 0, sizeof *p);
	p->image_size = 224;
	p->resize_mode = PREPROC_SHORTEST;
	p->interpolation = PREPROC_BICUBIC;
	memcpy(p->mean, mean, sizeof mean);
	memcpy(p->std, std, sizeof std);
	p->fill_color = 0;
	p->mode = PREPROC_EXACT;
	p->max_pixels = PREPROC_MAX_PIXELS_DEFAULT;
}

int preproc_parse_resize_mode(const char *s, enum preproc_resize *out)
{
	if (!strcmp(s, "shortest"))
		*out = PREPROC_SHORTEST;
	else if (!strcmp(s, "longest"))
		*out = PREPROC_LONGEST;
	else if (!strcmp(s, "squash"))
		*out = PREPROC_SQUASH;
	else
		return -1;
	return 0;
}

int preproc_parse_interpolation(const char *s, enum preproc_interp *out)
{
	/* OpenCLIP maps "random" to bicubic at eval time. */
	if (!strcmp(s, "bicubic") || !strcmp(s, "random"))
		*out = PREPROC_BICUBIC;
	else if (!strcmp(s, "bilinear"))
		*out = PREPROC_BILINEAR;
	else
		return -1;
	return 0;
}

int preproc_parse_mode(const char *s, enum preproc_mode *out)
{
	if (!strcmp(s, "exact"))
		*out = PREPROC_EXACT;
	else if (!strcmp(s, "fast"))
		*out = PREPROC_FAST;
	else
		return -1;
	return 0;
}

int preproc_check_params(const struct preproc_params *p)
{
	int c;

	if (!p)
		return fail(PREPROC_EPARAM, "preprocessing parameters missing");
	if (p->image_size < 1 || p->image_size > 4096)
		return fail(PREPROC_EPARAM, "image_size %d out of range 1..4096", p->image_size);
	if (p->resize_mode != PREPROC_SHORTEST && p->resize_mode != PREPROC_LONGEST &&
	    p->resize_mode != PREPROC_SQUASH)
		return fail(PREPROC_EPARAM, "unknown resize_mode %d", (int)p->resize_mode);
	if (p->interpolation != PREPROC_BICUBIC && p->interpolation != PREPROC_BILINEAR)
		return fail(PREPROC_EPARAM, "unknown interpolation %d", (int)p->interpolation);
	if (p->mode != PREPROC_EXACT && p->mode != PREPROC_FAST)
		return fail(PREPROC_EPARAM, "unknown preprocessing mode %d", (int)p->mode);
	if (p->fill_color < 0 || p->fill_color > 255)
		return fail(PREPROC_EPARAM, "fill_color %d out of range 0..255", p->fill_color);
	if (p->max_pixels < 1)
		return fail(PREPROC_EPARAM, "max_pixels must be at least 1");
	for (c = 0; c < 3; c++) {
		if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || !(p->std[c] > 0))
			return fail(PREPROC_EPARAM, "mean/std[%d] invalid (std must be > 0)", c);
	}
	return PREPROC_OK;
}

int preproc_describe(const struct preproc_params *p, char *buf, size_t len)
{
	static const char *rm[] = { "shortest", "longest", "squash" };

	return snprintf(buf, len,
	    "openclip-pil9.4 size=%d resize=%s interp=%s mean=%.9g,%.9g,%.9g "
	    "std=%.9g,%.9g,%.9g fill=%d mode=%s",
	    p->image_size, rm[p->resize_mode % 3],
	    p->interpolation == PREPROC_BILINEAR ? "bilinear" : "bicubic",
	    (double)p->mean[0], (double)p->mean[1], (double)p->mean[2],
	    (double)p->std[0], (double)p->std[1], (double)p->std[2],
	    p->fill_color, p->mode == PREPROC_FAST ? "fast" : "exact");
}

/* ---- libvips setup ---- */

static void quiet_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
	(void)domain, (void)level, (void)msg, (void)data; /* the library never prints */
}

/* Loader families accepted; everything else is blocked in libvips itself
 * and again by name before any loader runs. */
static const struct { const char *cls, *base; } allowed[] = {
	{ "VipsForeignLoadJpegBuffer", "VipsForeignLoadJpeg" },
	{ "VipsForeignLoadPngBuffer", "VipsForeignLoadPng" },
	{ "VipsForeignLoadWebpBuffer", "VipsForeignLoadWebp" },
	{ "VipsForeignLoadNsgifBuffer", "VipsForeignLoadNsgif" },
	{ "VipsForeignLoadTiffBuffer", "VipsForeignLoadTiff" },
	{ "VipsForeignLoadHeifBuffer", "VipsForeignLoadHeif" },
};
enum fmt { F_JPEG, F_PNG, F_WEBP, F_GIF, F_TIFF, F_HEIF, F_NONE };

int preproc_global_init(const char *argv0)
{
	size_t i;

	if (vips_ready)
		return PREPROC_OK;
	if (VIPS_INIT(argv0 ? argv0 : "clipsort"))
		return fail(PREPROC_EINTERNAL, "cannot initialise libvips: %s", vips_error_buffer());
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO |
	                  G_LOG_LEVEL_DEBUG, quiet_log, NULL);
	vips_cache_set_max(0);
	vips_concurrency_set(1); /* callers parallelise across images */
	vips_block_untrusted_set(TRUE);
	vips_operation_block_set("VipsForeignLoad", TRUE);
	for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
		vips_operation_block_set(allowed[i].base, FALSE);
	vips_ready = 1;
	return PREPROC_OK;
}

void preproc_global_shutdown(void)
{
	if (vips_ready)
		vips_shutdown();
	vips_ready = 0;
}

/* libvips keeps one error buffer for the whole process, so with several decoder
 * threads it also holds other threads' messages.  Each caller moves the buffer's
 * lines into a shared pending list (under a lock) and claims the last line written
 * by its own format's loader, leaving the others for their threads. */
static pthread_mutex_t detail_mu = PTHREAD_MUTEX_INITIALIZER;
static GString *detail_pending;

static int line_is_from(const char *line, size_t len, enum fmt f)
{
	static const char *const dom[] = { "jpeg", "png", "webp", "gif", "tiff", "heif" };
	const char *colon = memchr(line, ':', len);
	size_t n = colon ? (size_t)(colon - line) : len, i, k = strlen(dom[f]);

	for (i = 0; i + k <= n; i++)
		if (!g_ascii_strncasecmp(line + i, dom[f], k))
			return 1;
	return 0;
}

/* Move libvips' error buffer into the pending list without claiming a line. */
static void vips_drain(void)
{
	char *e;

	pthread_mutex_lock(&detail_mu);
	if (!detail_pending)
		detail_pending = g_string_new(NULL);
	if ((e = vips_error_buffer_copy()) != NULL) {
		g_string_append(detail_pending, e);
		g_free(e);
	}
	pthread_mutex_unlock(&detail_mu);
}

static void vips_detail(char *out, size_t n, enum fmt f)
{
	char *e;
	const char *s, *best = NULL;
	size_t bestlen = 0;

	out[0] = '\0';
	pthread_mutex_lock(&detail_mu);
	if (!detail_pending)
		detail_pending = g_string_new(NULL);
	if ((e = vips_error_buffer_copy()) != NULL) {   /* copies and clears */
		g_string_append(detail_pending, e);
		g_free(e);
	}
	for (s = detail_pending->str; *s;) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);

		if (len > 0 && line_is_from(s, len, f)) {
			best = s;
			bestlen = len;
		}
		s += len + (nl != NULL);
	}
	if (best) {
		snprintf(out, n, "%.*s", (int)bestlen, best);
		g_string_erase(detail_pending, best - detail_pending->str,
		               (gssize)(bestlen + (best[bestlen] == '\n')));
	}
	/* unclaimed lines (a thread that failed without asking) must not pile up */
	if (detail_pending->len > 16384)
		g_string_erase(detail_pending, 0, (gssize)(detail_pending->len - 8192));
	pthread_mutex_unlock(&detail_mu);
	if (!out[0])
		snprintf(out, n, "no detail from libvips");
}

/* ---- decoding: libvips image -> the PIL image Pillow 9.4 would open ---- */

enum pil_mode { M_1, M_L, M_P, M_LA, M_RGB, M_RGBA, M_CMYK, M_I };
static const int mode_bands[] = { 1, 1, 3, 2, 3, 4, 4, 1 };

struct img {
	int w, h;
	enum pil_mode m;
	uint8_t *u8;  /* w*h*mode_bands[m] samples (M_P holds its palette colours) */
	uint8_t pad[3]; /* M_P: palette colour of the pad index fill_color */
	int32_t *i32; /* M_I only */
};

static void img_release(struct img *im)
{
	free(im->u8);
	free(im->i32);
	im->u8 = NULL;
	im->i32 = NULL;
}

static int img_alloc(struct img *im, int w, int h, enum pil_mode m)
{
	im->w = w, im->h = h, im->m = m;
	im->u8 = NULL, im->i32 = NULL;
	if (m == M_I)
		im->i32 = malloc((size_t)w * h * sizeof *im->i32);
	else
		im->u8 = malloc((size_t)w * h * mode_bands[m]);
	return im->u8 || im->i32 ? 0 : -1;
}

/* PNG: IHDR is always the first chunk; bit depth at byte 24, colour type at 25. */
static enum pil_mode png_mode(const uint8_t *b, size_t len, int *ok)
{
	int depth, ct;

	*ok = len >= 26 && !memcmp(b + 12, "IHDR", 4);
	if (!*ok)
		return M_RGB;
	depth = b[24], ct = b[25];
	switch (ct) {
	case 0: return depth == 1 ? M_1 : depth == 16 ? M_I : M_L;
	case 2: return M_RGB;
	case 3: return M_P;
	case 4: return M_LA; /* 16-bit: Pillow opens RGBA from LA;16B, same pixels */
	case 6: return M_RGBA;
	default: *ok = 0; return M_RGB;
	}
}

/* GIF first frame: Pillow makes it "L" when its palette is absent or the
 * identity grey ramp (entry i == (i,i,i)), else "P" (resized nearest).  A
 * transparent index stays a palette index in Pillow, so convert('RGB') shows
 * its palette colour; *key gets that colour (libvips gives alpha 0 there). */
static enum pil_mode gif_mode(const uint8_t *b, size_t len, int *has_key, uint8_t key[3],
                              const uint8_t **palp, size_t *paln)
{
	size_t pos = 13, n;
	const uint8_t *gct = NULL, *pal;
	size_t gct_n = 0, pal_n, i;
	int trans = -1;

	*has_key = 0;
	if (len < 13)
		return M_P;
	if (b[10] & 0x80) {
		gct_n = (size_t)3 << ((b[10] & 7) + 1);
		if (13 + gct_n > len)
			return M_P;
		gct = b + 13;
		pos += gct_n;
	}
	while (pos < len) {
		if (b[pos] == 0x21 && pos + 1 < len) { /* extension: label, then sub-blocks */
			if (b[pos + 1] == 0xf9 && pos + 6 < len && b[pos + 2] >= 4)
				trans = b[pos + 3] & 1 ? b[pos + 6] : -1;
			pos += 2;
			while (pos < len && (n = b[pos]) != 0)
				pos += n + 1;
			pos++;
		} else if (b[pos] == 0x2c) { /* image descriptor */
			if (pos + 10 > len)
				break;
			pal = gct, pal_n = gct_n;
			if (b[pos + 9] & 0x80) {
				pal_n = (size_t)3 << ((b[pos + 9] & 7) + 1);
				pal = b + pos + 10;
				if (pos + 10 + pal_n > len)
					return M_P;
			}
			*palp = pal, *paln = pal_n;
			if (trans >= 0) {
				*has_key = 1;
				if (pal && (size_t)trans * 3 + 2 < pal_n)
					memcpy(key, pal + trans * 3, 3);
				else
					key[0] = key[1] = key[2] = (uint8_t)trans;
			}
			if (!pal)
				return M_L;
			for (i = 0; i < pal_n; i += 3)
				if (!(pal[i] == i / 3 && pal[i + 1] == i / 3 && pal[i + 2] == i / 3))
					return M_P;
			return M_L;
		} else {
			break;
		}
	}
	return M_P;
}

/* PNG PLTE chunk (before IDAT), or NULL. */
static const uint8_t *png_palette(const uint8_t *b, size_t len, size_t *n)
{
	size_t pos = 8;

	while (pos + 12 <= len) {
		uint32_t clen = (uint32_t)b[pos] << 24 | (uint32_t)b[pos + 1] << 16 |
		                (uint32_t)b[pos + 2] << 8 | b[pos + 3];
		if (clen > len - pos - 12)
			return NULL;
		if (!memcmp(b + pos + 4, "PLTE", 4)) {
			*n = clen - clen % 3;
			return b + pos + 8;
		}
		if (!memcmp(b + pos + 4, "IDAT", 4))
			return NULL;
		pos += 12 + clen;
	}
	return NULL;
}

/* TIFF: Pillow opens PhotometricInterpretation 3 as "P" and 1-bit grey as
 * "1" (both resized nearest); libvips expands both, so read IFD0 here.
 * Returns -1 to let the libvips bands decide.  For "P" the pad colour is
 * ColorMap[fill] (16-bit entries, Pillow keeps the high byte). */
static uint32_t tiff_get(const uint8_t *p, int n, int be)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v |= (uint32_t)p[be ? i : n - 1 - i] << (8 * (n - 1 - i));
	return v;
}

static int tiff_mode(const uint8_t *b, size_t len, int fill, uint8_t pad[3])
{
	uint32_t ifd, photometric = 2, bits = 1, spp = 1, cmap = 0, cmap_n = 0; /* TIFF defaults */
	int be, n, i;

	if (len < 8 || (b[0] != b[1]) || (b[0] != 'I' && b[0] != 'M'))
		return -1;
	be = b[0] == 'M';
	ifd = tiff_get(b + 4, 4, be);
	if (ifd > len - 2 || len < 2)
		return -1;
	n = (int)tiff_get(b + ifd, 2, be);
	for (i = 0; i < n; i++) {
		size_t off = (size_t)ifd + 2 + (size_t)i * 12;
		const uint8_t *e;
		uint32_t tag, type, count;
		if (off + 12 > len)
			return -1;
		e = b + off;
		tag = tiff_get(e, 2, be), type = tiff_get(e + 2, 2, be), count = tiff_get(e + 4, 4, be);
		if (tag == 262 && type == 3)
			photometric = tiff_get(e + 8, 2, be);
		else if (tag == 258 && type == 3 && count <= 2)
			bits = tiff_get(e + 8, 2, be);
		else if (tag == 258)
			bits = 8; /* several samples: not bilevel */
		else if (tag == 277 && type == 3)
			spp = tiff_get(e + 8, 2, be);
		else if (tag == 320 && type == 3)
			cmap = tiff_get(e + 8, 4, be), cmap_n = count;
	}
	if (photometric == 3) {
		uint32_t third = cmap_n / 3;
		int c;
		memset(pad, fill, 3);
		if (cmap && (uint32_t)fill < third && cmap <= len && (size_t)cmap_n * 2 <= len - cmap)
			for (c = 0; c < 3; c++)
				pad[c] = (uint8_t)(tiff_get(b + cmap + ((size_t)c * third + (uint32_t)fill) * 2, 2, be) >> 8);
		return M_P;
	}
	if (bits == 1 && spp == 1 && photometric <= 1)
		return M_1;
	return -1;
}

/* The PIL mode Pillow 9.4 opens the file in, from the file's own header
 * where libvips hides it; pad[] gets the colour a pad with fill_color
 * shows after convert('RGB') for "P" images (grey fill otherwise). */
static enum pil_mode pil_mode_for(enum fmt f, const uint8_t *b, size_t len, VipsImage *v, int fill,
                                  int *has_key, uint8_t key[3], uint8_t pad[3])
{
	int bands = vips_image_get_bands(v), ok, t;
	int sixteen = vips_image_get_format(v) == VIPS_FORMAT_USHORT;
	const uint8_t *pal = NULL;
	size_t paln = 0;
	enum pil_mode m = M_RGB;

	*has_key = 0;
	memset(pad, fill, 3);
	if (f == F_PNG) {
		m = png_mode(b, len, &ok);
		if (ok && m == M_P)
			pal = png_palette(b, len, &paln);
		if (!ok)
			goto from_bands;
	} else if (f == F_GIF) {
		m = gif_mode(b, len, has_key, key, &pal, &paln);
	} else if (f == F_TIFF && (t = tiff_mode(b, len, fill, pad)) >= 0) {
		return (enum pil_mode)t;
	} else {
		goto from_bands;
	}
	/* Pillow pads a P image with palette index fill_color; entries past the
	 * palette's end read as the default grey ramp. */
	if (m == M_P && pal && (size_t)fill * 3 + 2 < paln)
		memcpy(pad, pal + fill * 3, 3);
	return m;
from_bands:
	switch (bands) {
	case 1: return sixteen ? M_I : M_L;
	case 2: return M_LA;
	case 3: return M_RGB;
	default:
		return vips_image_get_interpretation(v) == VIPS_INTERPRETATION_CMYK ? M_CMYK : M_RGBA;
	}
}

/* Copy decoded vips samples into the PIL-mode image.  16-bit samples keep
 * their high byte (Pillow's ;16B raw modes) except for mode I; an alpha band
 * libvips adds (PNG tRNS, GIF transparency) is dropped, as Pillow keeps it
 * in info["transparency"], which convert('RGB') ignores.  With a colour key,
 * pixels libvips made fully transparent get the key colour instead. */
static int fill_from_vips(struct img *im, const void *mem, int w, int h, int vb, int sixteen,
                          const uint8_t *key)
{
	const uint8_t *s8 = mem;
	const uint16_t *s16 = mem;
	int nb = mode_bands[im->m], c;
	size_t i, n = (size_t)w * h;

	if (img_alloc(im, w, h, im->m))
		return -1;
	if (im->m == M_I) {
		for (i = 0; i < n; i++)
			im->i32[i] = sixteen ? s16[i * vb] : s8[i * vb];
		return 0;
	}
	if (!sixteen && vb == nb && !key) {
		memcpy(im->u8, s8, n * nb);
		return 0;
	}
	for (i = 0; i < n; i++) {
		for (c = 0; c < nb; c++) {
			int sc = c;
			if (nb == 2 && c == 1)
				sc = vb == 2 ? 1 : vb - 1; /* alpha of LA */
			else if (sc >= vb)
				sc = vb == 2 ? 0 : vb - 1; /* grey expanded to RGB */
			im->u8[i * nb + c] = sixteen ? (uint8_t)(s16[i * vb + sc] >> 8) : s8[i * vb + sc];
		}
		if (key && !sixteen && (vb == 2 || vb == 4) && s8[i * vb + vb - 1] == 0)
			for (c = 0; c < nb && c < 3; c++)
				im->u8[i * nb + c] = key[c];
	}
	return 0;
}

/* ---- the transform ---- */

/* Output size of Resize / ResizeKeepRatio / squash for a w x h input. */
static void resize_size(const struct preproc_params *p, int w, int h, int *ow, int *oh)
{
	int s = p->image_size;

	if (p->resize_mode == PREPROC_SQUASH) {
		*ow = *oh = s;
	} else if (p->resize_mode == PREPROC_SHORTEST) {
		/* torchvision _compute_resized_output_size: int(size * long / short) */
		int shrt = w <= h ? w : h, lng = w <= h ? h : w;
		int nl = (int)((double)((long long)s * lng) / shrt);
		if (w <= h)
			*ow = s, *oh = nl;
		else
			*ow = nl, *oh = s;
	} else {
		/* ResizeKeepRatio(longest=1): ratio = max(h/s, w/s);
		 * size = round(x / ratio), Python's round (half to even).  Pillow
		 * cannot make a 0-pixel side; clamp to 1 instead of failing. */
		double rh = (double)h / s, rw = (double)w / s;
		double r = rh > rw ? rh : rw;
		double nh = nearbyint((double)h / r), nw = nearbyint((double)w / r);
		*oh = nh < 1 ? 1 : (int)nh;
		*ow = nw < 1 ? 1 : (int)nw;
	}
}

/* Pillow's MULDIV255: a * b / 255, rounded, in integers. */
static inline unsigned muldiv255(unsigned a, unsigned b)
{
	unsigned t = a * b + 128;
	return ((t >> 8) + t) >> 8;
}

/* RGBA -> RGBa and LA -> La (Convert.c rgbA2rgba, lA2la). */
static void premultiply(uint8_t *px, size_t n, int nb)
{
	size_t i;
	int c;

	for (i = 0; i < n; i++, px += nb) {
		unsigned a = px[nb - 1];
		for (c = 0; c < nb - 1; c++)
			px[c] = (uint8_t)muldiv255(px[c], a);
	}
}

/* RGBa -> RGBA and La -> LA (Convert.c rgba2rgbA, la2lA). */
static void unpremultiply(uint8_t *px, size_t n, int nb)
{
	size_t i;
	int c;

	for (i = 0; i < n; i++, px += nb) {
		unsigned a = px[nb - 1];
		if (a == 255 || a == 0)
			continue;
		for (c = 0; c < nb - 1; c++) {
			unsigned v = 255u * px[c] / a;
			px[c] = v > 255 ? 255 : (uint8_t)v;
		}
	}
}

/* Image.resize(size, filter) for the PIL mode of im. */
static int pil_resize(struct img *im, int ow, int oh, enum preproc_interp interp)
{
	struct img out;
	enum rs_filter f = interp == PREPROC_BILINEAR ? RS_BILINEAR : RS_BICUBIC;
	int nb = mode_bands[im->m], rc;

	if (ow == im->w && oh == im->h)
		return 0;
	if (im->m == M_1 || im->m == M_P)
		f = RS_NEAREST;
	if (img_alloc(&out, ow, oh, im->m))
		return -1;
	memcpy(out.pad, im->pad, 3);
	if (im->m == M_I) {
		rc = rs_resize_i32(im->i32, im->w, im->h, out.i32, ow, oh, f);
	} else {
		int alpha = (im->m == M_LA || im->m == M_RGBA) && f != RS_NEAREST;
		if (alpha)
			premultiply(im->u8, (size_t)im->w * im->h, nb);
		rc = rs_resize_u8(im->u8, im->w, im->h, nb, out.u8, ow, oh, f);
		if (alpha)
			unpremultiply(out.u8, (size_t)ow * oh, nb);
	}
	img_release(im);
	*im = out;
	return rc;
}

/* torchvision center_crop (CenterCrop) and open_clip center_crop_or_pad:
 * pad to at least s x s with `fill` on every band, then crop at
 * int(round((size - s) / 2.0)). */
static int crop_or_pad(struct img *im, int s, int fill)
{
	struct img out;
	int nb = mode_bands[im->m], w = im->w, h = im->h;
	int padl = 0, padt = 0, pw = w, ph = h, top, left, y, x;
	size_t px = im->m == M_I ? sizeof(int32_t) : (size_t)nb;

	if (s > w) {
		padl = (s - w) / 2;
		pw = s;
	}
	if (s > h) {
		padt = (s - h) / 2;
		ph = s;
	}
	top = (int)nearbyint((ph - s) / 2.0) - padt;
	left = (int)nearbyint((pw - s) / 2.0) - padl;
	if (w == s && h == s)
		return 0;
	if (img_alloc(&out, s, s, im->m))
		return -1;
	memcpy(out.pad, im->pad, 3);
	if (im->m == M_I) {
		for (x = 0; x < s * s; x++)
			out.i32[x] = fill;
	} else if (im->m == M_P) {
		for (x = 0; x < s * s; x++)
			memcpy(out.u8 + (size_t)x * 3, im->pad, 3);
	} else {
		memset(out.u8, im->m == M_1 ? (fill ? 255 : 0) : fill, (size_t)s * s * nb);
	}
	/* out(y, x) = in(y + top, x + left) where inside the input */
	for (y = 0; y < s; y++) {
		int sy = y + top, x0 = left < 0 ? -left : 0, x1 = w - left < s ? w - left : s;
		const uint8_t *src;
		uint8_t *dst;
		if (sy < 0 || sy >= h || x1 <= x0)
			continue;
		src = (im->m == M_I ? (const uint8_t *)im->i32 : im->u8) + ((size_t)sy * w + x0 + left) * px;
		dst = (im->m == M_I ? (uint8_t *)out.i32 : out.u8) + ((size_t)y * s + x0) * px;
		memcpy(dst, src, (size_t)(x1 - x0) * px);
	}
	img_release(im);
	*im = out;
	return 0;
}

/* convert('RGB') (Convert.c: l2rgb, la2rgb, rgba2rgb, cmyk2rgb, i2rgb, bit2rgb). */
static void to_rgb(const struct img *im, uint8_t *rgb)
{
	size_t i, n = (size_t)im->w * im->h;
	const uint8_t *s = im->u8;

	for (i = 0; i < n; i++, rgb += 3) {
		switch (im->m) {
		case M_1:
		case M_L:
			rgb[0] = rgb[1] = rgb[2] = s[i];
			break;
		case M_LA:
			rgb[0] = rgb[1] = rgb[2] = s[i * 2];
			break;
		case M_P:
		case M_RGB:
			memcpy(rgb, s + i * 3, 3);
			break;
		case M_RGBA:
			memcpy(rgb, s + i * 4, 3);
			break;
		case M_CMYK: {
			int nk = 255 - s[i * 4 + 3], c, v;
			for (c = 0; c < 3; c++) {
				v = nk - (int)muldiv255(s[i * 4 + c], (unsigned)nk);
				rgb[c] = v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
			}
			break;
		}
		case M_I: {
			int32_t v = im->i32[i];
			rgb[0] = rgb[1] = rgb[2] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
			break;
		}
		}
	}
}

void preproc_normalize(const uint8_t *rgb, int size, const float mean[3], const float std[3], float *chw)
{
	size_t i, n = (size_t)size * size;
	int c;

	for (c = 0; c < 3; c++) {
		float *o = chw + (size_t)c * n;
		for (i = 0; i < n; i++) {
			float v = (float)rgb[i * 3 + c] / 255.0f;
			v = v - mean[c];
			o[i] = v / std[c];
		}
	}
}

/* ---- loading ---- */

static enum fmt sniff(const void *buf, size_t len, const char *name)
{
	const char *cls = vips_foreign_find_load_buffer(buf, len);
	const char *nick;
	char tmp[64];
	size_t i, n;

	if (!cls) {
		vips_drain();   /* never clear: other threads' messages are in there too */
		fail(PREPROC_EUNSUPPORTED, "%s: not a recognised image format", name);
		return F_NONE;
	}
	for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
		if (!strcmp(cls, allowed[i].cls))
			return (enum fmt)i;
	nick = vips_nickname_find(g_type_from_name(cls));
	snprintf(tmp, sizeof tmp, "%s", nick ? nick : cls);
	n = strlen(tmp);
	if (n > 7 && !strcmp(tmp + n - 7, "_buffer"))
		tmp[n - 7] = '\0';
	fail(PREPROC_EUNSUPPORTED, "%s: unsupported image type (%s)", name, tmp);
	return F_NONE;
}

/* Open lazily (header only); shrink > 1 asks the JPEG decoder to scale down. */
static VipsImage *open_vips(enum fmt f, const void *cbuf, size_t len, int shrink)
{
	void *buf = (void *)(uintptr_t)cbuf; /* libvips does not write to it */
	VipsImage *v = NULL;
	int r = -1;
	VipsFailOn fo = VIPS_FAIL_ON_ERROR;
	VipsAccess seq = VIPS_ACCESS_SEQUENTIAL;

	switch (f) {
	case F_JPEG:
		r = shrink > 1
		    ? vips_jpegload_buffer(buf, len, &v, "fail_on", fo, "access", seq, "shrink", shrink, NULL)
		    : vips_jpegload_buffer(buf, len, &v, "fail_on", fo, "access", seq, NULL);
		break;
	case F_PNG: r = vips_pngload_buffer(buf, len, &v, "fail_on", fo, "access", seq, NULL); break;
	case F_WEBP: r = vips_webpload_buffer(buf, len, &v, "fail_on", fo, "access", seq, NULL); break;
	case F_GIF: r = vips_gifload_buffer(buf, len, &v, "fail_on", fo, "access", seq, NULL); break;
	case F_TIFF: r = vips_tiffload_buffer(buf, len, &v, "fail_on", fo, "access", seq, NULL); break;
	case F_HEIF: r = vips_heifload_buffer(buf, len, &v, "fail_on", fo, "access", seq, NULL); break;
	case F_NONE: break;
	}
	return r ? NULL : v;
}

/* Fast mode: the largest JPEG shrink (2, 4, 8) that keeps both sides at
 * least twice the resize target. */
static int fast_shrink(const struct preproc_params *p, int w, int h)
{
	int ow, oh, s;

	resize_size(p, w, h, &ow, &oh);
	for (s = 8; s > 1; s /= 2)
		if ((w + s - 1) / s >= 2 * ow && (h + s - 1) / s >= 2 * oh)
			return s;
	return 1;
}

static int decode_image(const void *buf, size_t len, const char *name,
                        const struct preproc_params *p, struct img *im)
{
	static const char *typename[] = { "JPEG", "PNG", "WebP", "GIF", "TIFF", "HEIF" };
	char detail[512];
	enum fmt f;
	VipsImage *v;
	VipsBandFormat bf;
	void *mem;
	size_t memlen;
	int w, h, vb, shrink = 1, rc, has_key;
	uint8_t key[3];

	if (len == 0)
		return fail(PREPROC_EUNSUPPORTED, "%s: empty file", name);
	if ((f = sniff(buf, len, name)) == F_NONE)
		return PREPROC_EUNSUPPORTED;
	if (!(v = open_vips(f, buf, len, 1))) {
		vips_detail(detail, sizeof detail, f);
		return fail(PREPROC_ECORRUPT, "%s: corrupt %s header: %s", name, typename[f], detail);
	}
	w = vips_image_get_width(v), h = vips_image_get_height(v);
	if ((uint64_t)w * (uint64_t)h > p->max_pixels) {
		g_object_unref(v);
		return fail(PREPROC_ETOOBIG, "%s: image too large: %dx%d is more than %llu pixels",
		            name, w, h, (unsigned long long)p->max_pixels);
	}
	bf = vips_image_get_format(v);
	vb = vips_image_get_bands(v);
	if ((bf != VIPS_FORMAT_UCHAR && bf != VIPS_FORMAT_USHORT) || vb < 1 || vb > 4) {
		g_object_unref(v);
		return fail(PREPROC_EUNSUPPORTED, "%s: unsupported pixel format (%d x %s)", name, vb,
		            vips_enum_nick(VIPS_TYPE_BAND_FORMAT, bf));
	}
	im->m = pil_mode_for(f, buf, len, v, p->fill_color, &has_key, key, im->pad);
	if (p->mode == PREPROC_FAST && f == F_JPEG && (shrink = fast_shrink(p, w, h)) > 1) {
		g_object_unref(v);
		if (!(v = open_vips(f, buf, len, shrink))) {
			vips_detail(detail, sizeof detail, f);
			return fail(PREPROC_ECORRUPT, "%s: corrupt JPEG header: %s", name, detail);
		}
		w = vips_image_get_width(v), h = vips_image_get_height(v);
	}
	mem = vips_image_write_to_memory(v, &memlen);
	g_object_unref(v);
	if (!mem) {
		vips_detail(detail, sizeof detail, f);
		return fail(PREPROC_ECORRUPT, "%s: truncated or corrupt %s data: %s", name, typename[f], detail);
	}
	if (memlen != (size_t)w * h * vb * (bf == VIPS_FORMAT_USHORT ? 2 : 1)) {
		g_free(mem);
		return fail(PREPROC_EINTERNAL, "%s: libvips returned %zu bytes for %dx%dx%d", name, memlen, w, h, vb);
	}
	rc = fill_from_vips(im, mem, w, h, vb, bf == VIPS_FORMAT_USHORT, has_key ? key : NULL);
	g_free(mem);
	if (rc)
		return fail(PREPROC_ENOMEM, "%s: out of memory for %dx%d pixels", name, w, h);
	return PREPROC_OK;
}

int preproc_load_buffer(const void *buf, size_t len, const char *name,
                        const struct preproc_params *p, uint8_t *rgb, float *chw)
{
	struct img im;
	uint8_t *pix = rgb;
	int rc, ow, oh;

	if (!name)
		name = "<buffer>";
	if (!vips_ready)
		return fail(PREPROC_EPARAM, "%s: preproc_global_init was not called", name);
	if ((rc = preproc_check_params(p)))
		return rc;
	if (!buf && len)
		return fail(PREPROC_EPARAM, "%s: no buffer", name);
	memset(&im, 0, sizeof im);
	if ((rc = decode_image(buf, len, name, p, &im)))
		return rc;
	resize_size(p, im.w, im.h, &ow, &oh);
	if (pil_resize(&im, ow, oh, p->interpolation) ||
	    crop_or_pad(&im, p->image_size, p->fill_color)) {
		img_release(&im);
		return fail(PREPROC_ENOMEM, "%s: out of memory while resizing", name);
	}
	if (!pix && !(pix = malloc(PREPROC_RGB_SIZE(p)))) {
		img_release(&im);
		return fail(PREPROC_ENOMEM, "%s: out of memory", name);
	}
	to_rgb(&im, pix);
	img_release(&im);
	if (chw)
		preproc_normalize(pix, p->image_size, p->mean, p->std, chw);
	if (pix != rgb)
		free(pix);
	return PREPROC_OK;
}

int preproc_load_file(const char *path, const struct preproc_params *p, uint8_t *rgb, float *chw)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return fail(PREPROC_EIO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = fail(PREPROC_EIO, "%s: cannot stat: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(PREPROC_EIO, "%s: not a regular file", path);
	}
	if (st.st_size > MAX_FILE_BYTES) {
		close(fd);
		return fail(PREPROC_ETOOBIG, "%s: file too large (%lld bytes)", path, (long long)st.st_size);
	}
	if (!(buf = malloc(st.st_size ? (size_t)st.st_size : 1))) {
		close(fd);
		return fail(PREPROC_ENOMEM, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? fail(PREPROC_EIO, "%s: read error: %s", path, strerror(errno))
			           : fail(PREPROC_EIO, "%s: file shrank while reading", path);
			free(buf);
			close(fd);
			return rc;
		}
		got += (size_t)r;
	}
	close(fd);
	rc = preproc_load_buffer(buf, got, path, p, rgb, chw);
	free(buf);
	return rc;
}
