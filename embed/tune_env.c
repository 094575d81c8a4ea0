/* cs_engine_tune_env (clip.h): libgomp reads OMP_WAIT_POLICY when it is loaded,
 * before main, so only a re-exec makes PASSIVE take effect; without it the OpenMP
 * threads of libtorch and OpenBLAS busy-wait against the decoder threads.  Linked
 * into the engine and into programs that open the engine with dlopen. */
#include <stdlib.h>
#include <unistd.h>

#include "clip.h"

int
cs_engine_tune_env(int argc, char **argv)
{
	(void)argc;
	if (getenv("OMP_WAIT_POLICY") || !argv || !argv[0])
		return 0;
	if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0)
		return -1;
	execv("/proc/self/exe", argv);
	return -1;
}
