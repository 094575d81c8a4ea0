/* xalloc.h — allocation helpers that die (CS_EXIT_IO, "out of memory") on failure.
 * Memory they return is the caller's, freed with free(). */
#ifndef CS_XALLOC_H
#define CS_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Grow *p (holding *cap elements of `size`) so it holds at least `need`. */
void xgrow(void *pp, size_t *cap, size_t need, size_t size);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
