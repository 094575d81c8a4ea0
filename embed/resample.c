/* resample.c — Pillow 9.4's Image.resize in C; see resample.h for the contract.
 * Names follow libImaging/Resample.c so the two can be read side by side. */
#include "resample.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 8 bits of result, 2 bits of headroom for filters with negative lobes. */
#define PRECISION_BITS (32 - 8 - 2)

/* Pillow's ROUND_UP: half away from zero, through a float 0.5. */
#define ROUND_UP(f) ((int)((f) >= 0.0 ? (f) + 0.5F : (f) - 0.5F))

struct filter {
	double (*fn)(double x);
	double support;
};

static double bilinear_filter(double x)
{
	if (x < 0.0)
		x = -x;
	if (x < 1.0)
		return 1.0 - x;
	return 0.0;
}

static double bicubic_filter(double x)
{
	const double a = -0.5;

	if (x < 0.0)
		x = -x;
	if (x < 1.0)
		return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
	if (x < 2.0)
		return (((x - 5) * x + 8) * x - 4) * a;
	return 0.0;
}

static const struct filter BILINEAR = { bilinear_filter, 1.0 };
static const struct filter BICUBIC = { bicubic_filter, 2.0 };

/* Pillow's clip8(): the lookup table indexed by in >> PRECISION_BITS. */
static inline uint8_t clip8(int in)
{
	int v;

	if (in < 0)
		return 0;
	v = in >> PRECISION_BITS;
	return v > 255 ? 255 : (uint8_t)v;
}

/* Filter weights for one axis: for each output position its first input
 * index and count (bounds) and `ksize` weights normalised to sum 1.
 * The input box is always the whole axis [0, inSize), as Image.resize
 * passes it (in float, as Pillow does). */
struct coeffs {
	int ksize;
	int *bounds; /* 2 per output position: xmin, count */
	double *kk;  /* ksize per output position */
	int32_t *ik; /* fixed-point copy for 8-bit data, or NULL */
};

static void coeffs_release(struct coeffs *c)
{
	free(c->bounds);
	free(c->kk);
	free(c->ik);
	memset(c, 0, sizeof *c);
}

static int precompute_coeffs(int inSize, int outSize, const struct filter *f, struct coeffs *c)
{
	float in0 = 0.0f, in1 = (float)inSize;
	double support, scale, filterscale, center, ww, ss;
	int xx, x, ksize, xmin, xmax;

	memset(c, 0, sizeof *c);
	filterscale = scale = (double)(in1 - in0) / outSize;
	if (filterscale < 1.0)
		filterscale = 1.0;
	support = f->support * filterscale;
	if (support > INT_MAX / 4) {
		errno = EINVAL;
		return -1;
	}
	ksize = (int)ceil(support) * 2 + 1;
	c->ksize = ksize;
	c->kk = calloc((size_t)outSize * (size_t)ksize, sizeof *c->kk);
	c->bounds = calloc((size_t)outSize * 2, sizeof *c->bounds);
	if (!c->kk || !c->bounds) {
		coeffs_release(c);
		errno = ENOMEM;
		return -1;
	}
	for (xx = 0; xx < outSize; xx++) {
		double *k = &c->kk[(size_t)xx * ksize];

		center = in0 + (xx + 0.5) * scale;
		ww = 0.0;
		ss = 1.0 / filterscale;
		xmin = (int)(center - support + 0.5);
		if (xmin < 0)
			xmin = 0;
		xmax = (int)(center + support + 0.5);
		if (xmax > inSize)
			xmax = inSize;
		xmax -= xmin;
		for (x = 0; x < xmax; x++) {
			double w = f->fn((x + xmin - center + 0.5) * ss);
			k[x] = w;
			ww += w;
		}
		for (x = 0; x < xmax; x++)
			if (ww != 0.0)
				k[x] /= ww;
		c->bounds[xx * 2] = xmin;
		c->bounds[xx * 2 + 1] = xmax;
	}
	return 0;
}

/* normalize_coeffs_8bpc: weights to 22-bit fixed point, rounded half away from 0. */
static int fixed_coeffs(struct coeffs *c, int outSize)
{
	size_t i, n = (size_t)outSize * (size_t)c->ksize;

	c->ik = malloc(n * sizeof *c->ik);
	if (!c->ik) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < n; i++) {
		double v = c->kk[i];
		c->ik[i] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
		                 : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
	}
	return 0;
}

/* One pass over 8-bit rows.  Horizontal: out row y reads in row y + offset,
 * taps step by nb samples; one accumulator per channel, in registers.
 * Vertical: taps step by a whole row. */
#define H_LOOP(NB, BODY_INIT, BODY_ACC, BODY_OUT)                                        \
	for (yy = 0; yy < rows; yy++) {                                                  \
		const uint8_t *row = in + ((size_t)(yy + offset) * iw) * NB;             \
		uint8_t *o = out + (size_t)yy * ow * NB;                                 \
		for (xx = 0; xx < ow; xx++) {                                            \
			int xmin = c->bounds[xx * 2], xmax = c->bounds[xx * 2 + 1];      \
			const int32_t *k = &c->ik[(size_t)xx * c->ksize];                \
			const uint8_t *p = row + (size_t)xmin * NB;                      \
			BODY_INIT;                                                       \
			for (x = 0; x < xmax; x++, p += NB) {                            \
				int kx = k[x];                                           \
				BODY_ACC;                                                \
			}                                                                \
			BODY_OUT;                                                        \
			o += NB;                                                         \
		}                                                                        \
	}

static void pass_h_u8_any(const uint8_t *in, int iw, int offset, int nb,
                          uint8_t *out, int ow, int rows, const struct coeffs *c)
{
	const int half = 1 << (PRECISION_BITS - 1);
	int yy, xx, x;

	switch (nb) {
	case 1:
		H_LOOP(1, int s0 = half, s0 += p[0] * kx, o[0] = clip8(s0))
		break;
	case 2:
		H_LOOP(2, int s0 = half; int s1 = half, (s0 += p[0] * kx, s1 += p[1] * kx),
		       (o[0] = clip8(s0), o[1] = clip8(s1)))
		break;
	case 3:
		H_LOOP(3, int s0 = half; int s1 = half; int s2 = half,
		       (s0 += p[0] * kx, s1 += p[1] * kx, s2 += p[2] * kx),
		       (o[0] = clip8(s0), o[1] = clip8(s1), o[2] = clip8(s2)))
		break;
	default:
		H_LOOP(4, int s0 = half; int s1 = half; int s2 = half; int s3 = half,
		       (s0 += p[0] * kx, s1 += p[1] * kx, s2 += p[2] * kx, s3 += p[3] * kx),
		       (o[0] = clip8(s0), o[1] = clip8(s1), o[2] = clip8(s2), o[3] = clip8(s3)))
		break;
	}
}

static inline void pass_v_u8(const uint8_t *in, int w, int nb,
                             uint8_t *out, int oh, const struct coeffs *c)
{
	size_t stride = (size_t)w * nb;
	int yy, y, i;

	for (yy = 0; yy < oh; yy++) {
		int ymin = c->bounds[yy * 2], ymax = c->bounds[yy * 2 + 1];
		const int32_t *k = &c->ik[(size_t)yy * c->ksize];
		uint8_t *o = out + (size_t)yy * stride;
		for (i = 0; i < (int)stride; i++) {
			const uint8_t *p = in + (size_t)ymin * stride + i;
			int ss = 1 << (PRECISION_BITS - 1);
			for (y = 0; y < ymax; y++, p += stride)
				ss += *p * k[y];
			o[i] = clip8(ss);
		}
	}
}

static void pass_h_i32(const int32_t *in, int iw, int offset,
                       int32_t *out, int ow, int rows, const struct coeffs *c)
{
	int yy, xx, x;

	for (yy = 0; yy < rows; yy++) {
		const int32_t *row = in + (size_t)(yy + offset) * iw;
		for (xx = 0; xx < ow; xx++) {
			int xmin = c->bounds[xx * 2], xmax = c->bounds[xx * 2 + 1];
			const double *k = &c->kk[(size_t)xx * c->ksize];
			double ss = 0.0;
			for (x = 0; x < xmax; x++)
				ss += row[x + xmin] * k[x];
			out[(size_t)yy * ow + xx] = ROUND_UP(ss);
		}
	}
}

static void pass_v_i32(const int32_t *in, int w, int32_t *out, int oh, const struct coeffs *c)
{
	int yy, xx, y;

	for (yy = 0; yy < oh; yy++) {
		int ymin = c->bounds[yy * 2], ymax = c->bounds[yy * 2 + 1];
		const double *k = &c->kk[(size_t)yy * c->ksize];
		for (xx = 0; xx < w; xx++) {
			double ss = 0.0;
			for (y = 0; y < ymax; y++)
				ss += in[(size_t)(y + ymin) * w + xx] * k[y];
			out[(size_t)yy * w + xx] = ROUND_UP(ss);
		}
	}
}

/* Pillow's ImagingScaleAffine with a = (iw/ow, 0, 0, 0, ih/oh, 0): positions
 * accumulate in double from the first pixel centre, as Pillow's loop does. */
static int scale_nearest(const uint8_t *in, int iw, int ih, size_t px,
                         uint8_t *out, int ow, int oh)
{
	double a0 = (double)(float)iw / ow, a4 = (double)(float)ih / oh;
	double xo = a0 * 0.5, yo = a4 * 0.5;
	int *xintab, x, y;

	xintab = calloc((size_t)ow, sizeof *xintab);
	if (!xintab) {
		errno = ENOMEM;
		return -1;
	}
	for (x = 0; x < ow; x++) {
		int xin = xo < 0.0 ? -1 : (int)xo;
		xintab[x] = xin >= 0 && xin < iw ? xin : -1;
		xo += a0;
	}
	for (y = 0; y < oh; y++) {
		int yi = yo < 0.0 ? -1 : (int)yo;
		uint8_t *o = out + (size_t)y * ow * px;
		memset(o, 0, (size_t)ow * px);
		if (yi >= 0 && yi < ih) {
			const uint8_t *row = in + (size_t)yi * iw * px;
			for (x = 0; x < ow; x++)
				if (xintab[x] >= 0)
					memcpy(o + (size_t)x * px, row + (size_t)xintab[x] * px, px);
		}
		yo += a4;
	}
	free(xintab);
	return 0;
}

static int check_args(const void *in, int iw, int ih, const void *out, int ow, int oh)
{
	if (!in || !out || iw <= 0 || ih <= 0 || ow <= 0 || oh <= 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ImagingResampleInner: horizontal pass over rows [ybox_first, ybox_last)
 * into a temporary image, then the vertical pass; a pass whose size does not
 * change is skipped. */
int rs_resize_u8(const uint8_t *in, int iw, int ih, int nb,
                 uint8_t *out, int ow, int oh, enum rs_filter filter)
{
	const struct filter *f = filter == RS_BILINEAR ? &BILINEAR : &BICUBIC;
	struct coeffs ch, cv;
	uint8_t *tmp = NULL;
	const uint8_t *src = in;
	int srcw = iw, need_h = ow != iw, need_v = oh != ih, rc = -1;
	int ybox_first, ybox_last, i;

	if (check_args(in, iw, ih, out, ow, oh) || nb < 1 || nb > 4) {
		errno = EINVAL;
		return -1;
	}
	if (!need_h && !need_v) {
		memcpy(out, in, (size_t)iw * ih * nb);
		return 0;
	}
	if (filter == RS_NEAREST)
		return scale_nearest(in, iw, ih, (size_t)nb, out, ow, oh);

	memset(&ch, 0, sizeof ch);
	if (precompute_coeffs(ih, oh, f, &cv))
		return -1;
	ybox_first = cv.bounds[0];
	ybox_last = cv.bounds[oh * 2 - 2] + cv.bounds[oh * 2 - 1];
	if (need_h) {
		if (precompute_coeffs(iw, ow, f, &ch) || fixed_coeffs(&ch, ow))
			goto out;
		for (i = 0; i < oh; i++)
			cv.bounds[i * 2] -= ybox_first;
		if (!need_v) {
			pass_h_u8_any(in, iw, ybox_first, nb, out, ow, ybox_last - ybox_first, &ch);
			rc = 0;
			goto out;
		}
		tmp = malloc((size_t)ow * (size_t)(ybox_last - ybox_first) * nb);
		if (!tmp) {
			errno = ENOMEM;
			goto out;
		}
		pass_h_u8_any(in, iw, ybox_first, nb, tmp, ow, ybox_last - ybox_first, &ch);
		src = tmp;
		srcw = ow;
	}
	if (fixed_coeffs(&cv, oh))
		goto out;
	pass_v_u8(src, srcw, nb, out, oh, &cv);
	rc = 0;
out:
	free(tmp);
	coeffs_release(&ch);
	coeffs_release(&cv);
	return rc;
}

int rs_resize_i32(const int32_t *in, int iw, int ih,
                  int32_t *out, int ow, int oh, enum rs_filter filter)
{
	const struct filter *f = filter == RS_BILINEAR ? &BILINEAR : &BICUBIC;
	struct coeffs ch, cv;
	int32_t *tmp = NULL;
	const int32_t *src = in;
	int srcw = iw, need_h = ow != iw, need_v = oh != ih, rc = -1;
	int ybox_first, ybox_last, i;

	if (check_args(in, iw, ih, out, ow, oh))
		return -1;
	if (!need_h && !need_v) {
		memcpy(out, in, (size_t)iw * ih * sizeof *in);
		return 0;
	}
	if (filter == RS_NEAREST)
		return scale_nearest((const uint8_t *)in, iw, ih, sizeof *in, (uint8_t *)out, ow, oh);

	memset(&ch, 0, sizeof ch);
	if (precompute_coeffs(ih, oh, f, &cv))
		return -1;
	ybox_first = cv.bounds[0];
	ybox_last = cv.bounds[oh * 2 - 2] + cv.bounds[oh * 2 - 1];
	if (need_h) {
		if (precompute_coeffs(iw, ow, f, &ch))
			goto out;
		for (i = 0; i < oh; i++)
			cv.bounds[i * 2] -= ybox_first;
		if (!need_v) {
			pass_h_i32(in, iw, ybox_first, out, ow, ybox_last - ybox_first, &ch);
			rc = 0;
			goto out;
		}
		tmp = malloc((size_t)ow * (size_t)(ybox_last - ybox_first) * sizeof *tmp);
		if (!tmp) {
			errno = ENOMEM;
			goto out;
		}
		pass_h_i32(in, iw, ybox_first, tmp, ow, ybox_last - ybox_first, &ch);
		src = tmp;
		srcw = ow;
	}
	pass_v_i32(src, srcw, out, oh, &cv);
	rc = 0;
out:
	free(tmp);
	coeffs_release(&ch);
	coeffs_release(&cv);
	return rc;
}
