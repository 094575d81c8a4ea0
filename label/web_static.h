/* web_static.h — the page's files, embedded at build time (label/web-static.sh). */
#ifndef CS_WEB_STATIC_H
#define CS_WEB_STATIC_H

#include <stddef.h>

struct web_static_file {
	const char *url, *type;
	const unsigned char *data;
	size_t len;
};
extern const struct web_static_file web_static[];
extern const size_t web_static_n;

#endif
