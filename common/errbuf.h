/* errbuf.h — formatting a message into a caller's optional error buffer, the
 * convention of the functions that report failure through (char *err, size_t errlen):
 * a NULL buffer or zero length means the caller does not want the text.  Header-only
 * so the standalone tokenizer objects (linked without libcommon, e.g. in the fuzz
 * build) can use it too.
 *
 * Ownership: the buffer is the caller's. */
#ifndef CS_ERRBUF_H
#define CS_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void cs_errbuf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* printf into buf[len] (truncated), unless buf is NULL or len is 0. */
static inline void
cs_errbuf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

#endif
