/* resample.h — a C port of Pillow 9.4's resize (libImaging/Resample.c and the
 * nearest-neighbour scale of Geometry.c), so clipsort's pixels equal those of
 * PIL's Image.resize(size, filter) byte for byte.
 *
 * Images are packed, row-major, `nb` interleaved channels (1..4).  Every buffer
 * is the caller's: the functions allocate only scratch memory, which they free.
 * They return 0, or -1 with errno set (ENOMEM, EINVAL) and the output untouched
 * or partly written.  They keep no state and are safe to call from any thread.
 *
 * Semantics follow Pillow exactly:
 *  - same input and output size: a plain copy (Image.resize returns copy()).
 *  - RS_BILINEAR / RS_BICUBIC (a = -0.5): antialiased separable convolution whose
 *    support grows with the reduction factor; coefficients in 22-bit fixed point
 *    for 8-bit data (doubles for 32-bit integer data); the horizontal pass runs
 *    first, over only the rows the vertical pass needs, each pass rounding and
 *    clipping to the sample range.
 *  - RS_NEAREST: Pillow's affine scale (what PIL uses for modes "1" and "P").
 * Premultiplied alpha is the caller's business (see preproc.c), as in Pillow. */
#ifndef CS_RESAMPLE_H
#define CS_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

enum rs_filter { RS_NEAREST, RS_BILINEAR, RS_BICUBIC };

/* 8-bit samples, nb = 1..4 channels. */
int rs_resize_u8(const uint8_t *in, int iw, int ih, int nb,
                 uint8_t *out, int ow, int oh, enum rs_filter filter);

/* 32-bit signed integer samples, one channel (PIL mode "I"); results are
 * rounded half away from zero as Pillow's ROUND_UP, not clipped. */
int rs_resize_i32(const int32_t *in, int iw, int ih,
                  int32_t *out, int ow, int oh, enum rs_filter filter);

#endif
