/* strmap.h — a string-keyed hash map (open addressing, FNV-1a), for joins and
 * de-duplication over tens of thousands to millions of keys.
 *
 * Ownership: a strmap is caller-owned (strmap_init / strmap_release).  It copies
 * each key; values are opaque pointers the caller owns. */
#ifndef CS_STRMAP_H
#define CS_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct strmap {
	char **keys;            /* cap slots; NULL = empty (iterate i < cap) */
	void **vals;
	uint64_t *hashes;       /* of each key: most probes compare 8 bytes, not strings */
	size_t cap, n;
} strmap;

void strmap_init(strmap *m);
void strmap_release(strmap *m);
/* Pointer to the value slot of key, or NULL when absent. */
void **strmap_get(const strmap *m, const char *key);
/* Insert key (copied) if absent; returns its value slot (NULL-initialised when new)
 * and sets *isnew. */
void **strmap_put(strmap *m, const char *key, int *isnew);

#endif
