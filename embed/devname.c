/* devname.c — see devname.h */
#include <stdlib.h>
#include <string.h>

#include "devname.h"

int
devname_parse(const char *d, int *index)
{
	size_t n;
	*index = 0;
	if (!d || !*d || !strcmp(d, "auto"))
		return DEVNAME_AUTO;
	if (!strcmp(d, "cpu"))
		return DEVNAME_CPU;
	if (!strcmp(d, "cuda"))
		return DEVNAME_CUDA;
	if (strncmp(d, "cuda:", 5) != 0)
		return DEVNAME_BAD;
	n = strspn(d + 5, "0123456789");
	if (n < 1 || n > 3 || d[5 + n] != '\0')
		return DEVNAME_BAD;
	*index = atoi(d + 5);
	return DEVNAME_CUDA;
}
