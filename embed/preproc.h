/* preproc.h — image decoding and OpenCLIP preprocessing.
 *
 * Reproduces OpenCLIP's eval transform, `preprocess(Image.open(path))`
 * (open_clip 3.x image_transform on Pillow 9.4 and torchvision 0.14), byte for
 * byte: libvips only decodes; the resize (a port of Pillow's resampler, see
 * resample.h), the crop or pad, the RGB conversion and the normalisation are
 * done here, in Pillow's order and arithmetic.
 *
 * What "byte for byte" covers (each checked against Pillow 9.4 + torchvision
 * 0.14 by tests/t-preproc.sh): the file is opened in the PIL mode Pillow
 * would use, read from the file's own header where libvips hides it (PNG
 * IHDR/PLTE, GIF palettes and transparency, TIFF photometric/ColorMap):
 *   RGB, L           resized with the chosen filter
 *   RGBA, LA         resized premultiplied (RGBa/La) then unpremultiplied,
 *                    so fully transparent pixels end up black
 *   P, 1             resized nearest-neighbour (Pillow forces NEAREST), padded
 *                    with the palette colour of index fill_color
 *   CMYK             resized in CMYK, then Pillow's cmyk2rgb
 *   I (16-bit grey)  resized in 32-bit integers, then CLIPPED to 0..255 by
 *                    convert('RGB'): 16-bit grey photos come out nearly white,
 *                    exactly as OpenCLIP sees them
 *   16-bit RGB(A)    high byte of each sample, as Pillow's ;16B raw modes
 *   tRNS, GIF transparency: ignored by convert('RGB'); a transparent GIF index
 *                    shows its palette colour
 * Not applied, as in OpenCLIP: EXIF orientation (no exif_transpose) and ICC
 * profiles (libvips never converts colour on load).  Animated GIF/WebP and
 * multi-page TIFF: the first frame/page.
 *
 * Where Pillow 9.4 has no answer, a documented choice: HEIF/AVIF (Pillow
 * cannot open them) decode as 8-bit RGB(A); 16-bit grey TIFF (Pillow's
 * "I;16", which its resize rejects) is treated like 16-bit grey PNG ("I");
 * in "longest" mode a side that would round to 0 pixels becomes 1.
 * PREPROC_FAST is not exact by design: JPEGs are decoded at 1/2, 1/4 or 1/8
 * scale (never below twice the resize target) before the same resampler.
 *
 * Untrusted input: only the JPEG, PNG, WebP, GIF, TIFF and HEIF loaders can
 * run (the type comes from the bytes; anything else, e.g. an SVG named .jpg,
 * is "unsupported image type (svgload)"); width x height is checked against
 * max_pixels from the header before any pixel is decoded; truncated or
 * corrupt data fails (libvips fail_on=error), it is never padded with grey.
 * preproc_global_init's libvips settings are process-wide.
 *
 * Ownership: every pointer passed in stays the caller's; output buffers are
 * caller-allocated (PREPROC_RGB_SIZE / PREPROC_CHW_SIZE bytes).  Nothing here
 * prints or exits.  Functions return a preproc_status; on failure the message
 * (naming the input, e.g. "a.zip!x.jpg: truncated or corrupt image: ...") is
 * read with preproc_errmsg(), a thread-local string the caller never frees.
 * After preproc_global_init() the load functions are safe to call from
 * several threads at once.
 *
 *     struct preproc_params p;
 *     preproc_default_params(&p);            // or fill from preprocess_cfg
 *     if (preproc_global_init(argv[0]))
 *             cs_die(CS_EXIT_INTERNAL, "%s", preproc_errmsg());
 *     float *x = xmalloc(PREPROC_CHW_SIZE(&p));
 *     int st = preproc_load_file("a.jpg", &p, NULL, x);
 *     if (st)
 *             cs_warn("%s", preproc_errmsg()), status = preproc_exit_status(st);
 */
#ifndef CS_PREPROC_H
#define CS_PREPROC_H

#include <stddef.h>
#include <stdint.h>

enum preproc_resize { PREPROC_SHORTEST, PREPROC_LONGEST, PREPROC_SQUASH };
enum preproc_interp { PREPROC_BICUBIC, PREPROC_BILINEAR };
enum preproc_mode {
	PREPROC_EXACT, /* default: pixels equal OpenCLIP's */
	PREPROC_FAST   /* JPEG/WebP shrink-on-load to >= 2x the target first, then exact */
};

struct preproc_params {
	int image_size;                    /* square output side, e.g. 224 */
	enum preproc_resize resize_mode;   /* preprocess_cfg "resize_mode" */
	enum preproc_interp interpolation; /* preprocess_cfg "interpolation" */
	float mean[3], std[3];             /* preprocess_cfg "mean", "std" (std > 0) */
	int fill_color;                    /* 0..255, pad value for "longest" */
	enum preproc_mode mode;
	uint64_t max_pixels;               /* reject width*height above this (header only) */
};

enum preproc_status {
	PREPROC_OK = 0,
	PREPROC_EUNSUPPORTED, /* not an image, or a type/pixel format not accepted */
	PREPROC_ETOOBIG,      /* more pixels than max_pixels (nothing decoded) */
	PREPROC_ECORRUPT,     /* truncated or corrupt image data */
	PREPROC_EIO,          /* cannot read the file */
	PREPROC_ENOMEM,       /* out of memory */
	PREPROC_EPARAM,       /* bad parameters or preproc_global_init not called */
	PREPROC_EINTERNAL     /* a bug */
};

#define PREPROC_MAX_PIXELS_DEFAULT 100000000ULL
#define PREPROC_RGB_SIZE(p) ((size_t)(p)->image_size * (size_t)(p)->image_size * 3)
#define PREPROC_CHW_SIZE(p) ((size_t)(p)->image_size * (size_t)(p)->image_size * 3 * sizeof(float))

/* OpenAI CLIP's defaults: 224, shortest, bicubic, OPENAI mean/std, fill 0,
 * exact, 100 Mpx. */
void preproc_default_params(struct preproc_params *p);
/* Parse preprocess_cfg strings; 0 on success, -1 for an unknown name. */
int preproc_parse_resize_mode(const char *s, enum preproc_resize *out);
int preproc_parse_interpolation(const char *s, enum preproc_interp *out);
int preproc_parse_mode(const char *s, enum preproc_mode *out);
/* PREPROC_OK or PREPROC_EPARAM (message says which field). */
int preproc_check_params(const struct preproc_params *p);
/* A one-line stamp of everything that changes the pixels, for cache
 * attributes: "openclip-pil9.4 size=224 resize=shortest interp=bicubic
 * mean=... std=... fill=0 mode=exact".  Returns snprintf's count. */
int preproc_describe(const struct preproc_params *p, char *buf, size_t len);

/* Initialise libvips once per process (later calls do nothing): restrict it
 * to the JPEG, PNG, WebP, GIF, TIFF and HEIF loaders, block untrusted
 * operations, turn off its operation cache.  Not thread-safe; call it before
 * starting threads. */
int preproc_global_init(const char *argv0);
/* Shut libvips down at exit (optional; lets leak checkers see a clean exit). */
void preproc_global_shutdown(void);

/* Decode and preprocess one image.  The type is decided from the bytes, never
 * from the name.  rgb (may be NULL) receives image_size^2 x 3 uint8 HWC pixels
 * after resize + crop/pad + RGB conversion; chw (may be NULL) the normalised
 * float32 CHW model input.  name is used only in messages. */
int preproc_load_buffer(const void *buf, size_t len, const char *name,
                        const struct preproc_params *p, uint8_t *rgb, float *chw);
int preproc_load_file(const char *path, const struct preproc_params *p,
                      uint8_t *rgb, float *chw);

/* Normalise HWC RGB pixels to CHW float32 as torchvision's ToTensor +
 * Normalize do: (x / 255 - mean[c]) / std[c], each step in float32. */
void preproc_normalize(const uint8_t *rgb, int size, const float mean[3],
                       const float std[3], float *chw);

const char *preproc_errmsg(void);
/* The common/exitcode.h status for a preproc_status (CS_EXIT_DATA for a bad
 * image, CS_EXIT_IO for an unreadable file or no memory, ...). */
int preproc_exit_status(int status);

#endif
