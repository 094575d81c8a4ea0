/* image_fuzz — libFuzzer target for embed/preproc.c + embed/resample.c: any
 * byte string through preproc_load_buffer, with the preprocessing parameters
 * (resize mode, interpolation, exact/fast, fill) taken from the last byte.
 * Besides crashes and sanitizer reports it aborts when a failure has no
 * message naming the input or is reported as an internal error.
 * Build and run: make fuzz [FUZZ_TIME=seconds]  (needs clang with libFuzzer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../embed/preproc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	if (preproc_global_init((*argv)[0]))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t rgb[32 * 32 * 3];
	static float chw[3 * 32 * 32];
	struct preproc_params p;
	int st;

	preproc_default_params(&p);
	p.image_size = 32;
	p.max_pixels = (uint64_t)1 << 22; /* keep each run small */
	if (size > 0) {
		uint8_t sel = data[size - 1];
		p.resize_mode = (enum preproc_resize)(sel % 3);
		p.interpolation = (sel >> 2) & 1 ? PREPROC_BILINEAR : PREPROC_BICUBIC;
		p.mode = (sel >> 3) & 1 ? PREPROC_FAST : PREPROC_EXACT;
		p.fill_color = sel;
	}
	st = preproc_load_buffer(data, size, "fuzz", &p, rgb, chw);
	if (st != PREPROC_OK && strncmp(preproc_errmsg(), "fuzz: ", 6) != 0)
		abort();
	if (st == PREPROC_EINTERNAL || st == PREPROC_EPARAM || st < 0 || st > PREPROC_EINTERNAL)
		abort();
	return 0;
}
