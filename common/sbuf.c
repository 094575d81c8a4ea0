/* sbuf.c — the growable byte buffer of sbuf.h. */
#include <string.h>

#include "sbuf.h"
#include "xalloc.h"

void
cs_sbuf_add(cs_sbuf *b, const char *s, size_t n)
{
	xgrow(&b->s, &b->cap, b->len + n + 1, 1);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
cs_sbuf_str(cs_sbuf *b, const char *s)
{
	cs_sbuf_add(b, s, strlen(s));
}
