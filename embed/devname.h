/* devname.h — the --device grammar: auto, cpu, cuda or cuda:N (N up to 3 digits).
 * One parser for clipsort-embed's option check (before the engine is loaded) and
 * the engine's device selection. */
#ifndef CS_DEVNAME_H
#define CS_DEVNAME_H

#ifdef __cplusplus
extern "C" {
#endif

enum { DEVNAME_BAD = -1, DEVNAME_AUTO, DEVNAME_CPU, DEVNAME_CUDA };

/* The kind of device name d names; for DEVNAME_CUDA *index is N (0 for "cuda").
 * NULL and "" are auto. */
int devname_parse(const char *d, int *index);

#ifdef __cplusplus
}
#endif

#endif
