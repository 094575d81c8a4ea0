/* sbuf.h — a growable, NUL-terminated byte buffer for building a file's contents in
 * memory before it is written in one go.
 *
 * Ownership: a cs_sbuf is caller-owned; initialise it to { 0 } (empty, s NULL until
 * the first add) and free(b.s) when done. */
#ifndef CS_SBUF_H
#define CS_SBUF_H

#include <stddef.h>

typedef struct cs_sbuf {
	char *s;            /* len bytes, then a NUL */
	size_t len, cap;
} cs_sbuf;

/* Append n bytes of s (which may contain NULs). */
void cs_sbuf_add(cs_sbuf *b, const char *s, size_t n);
/* Append the string s. */
void cs_sbuf_str(cs_sbuf *b, const char *s);

#endif
