/* cs_engine_tune_env (clip.h): process settings the engine needs to run at the
 * speed of its matrix products.  Linked into the engine and into programs that open
 * the engine with dlopen.
 *
 * Memory: one batch allocates and frees the same tensors every time (B-16 at batch
 * 8: ~560 MB per batch in blocks of 2-20 MB).  With glibc's defaults the top of the
 * heap is trimmed after each batch and blocks above the dynamic mmap threshold are
 * unmapped, so the next batch faults every page in again and the kernel zeroes it:
 * ~140,000 minor faults per B-16 batch, 8-10% of the time.  Keeping blocks up to
 * 32 MB (glibc's largest mmap threshold on 64-bit) in the heap and not trimming below
 * 1 GB makes every batch after the first reuse the same memory; RSS stays at the
 * working set of one batch, which it reaches anyway.
 *
 * Threads: libgomp reads OMP_WAIT_POLICY when it is loaded, before main, so only a
 * re-exec makes PASSIVE take effect; without it the OpenMP threads of libtorch and
 * OpenBLAS busy-wait against the decoder threads. */
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include "clip.h"

int
cs_engine_tune_env(int argc, char **argv)
{
	(void)argc;
#ifdef M_MMAP_THRESHOLD
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
	if (getenv("OMP_WAIT_POLICY") || !argv || !argv[0])
		return 0;
	if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0)
		return -1;
	execv("/proc/self/exe", argv);
	return -1;
}
