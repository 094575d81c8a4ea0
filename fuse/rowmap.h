/* rowmap.h — a string-keyed hash map (open addressing, linear probing, deletion by
 * backward shift) for joining TSV inputs on `key`.
 *
 * Ownership: a rowmap is caller-owned (rowmap_init / rowmap_release).  Keys are
 * borrowed: the value must own its key string and outlive its entry.  Values are the
 * caller's; rowmap_release frees neither keys nor values. */
#ifndef CS_ROWMAP_H
#define CS_ROWMAP_H

#include <stddef.h>

typedef struct rowmap {
	const char **keys;
	void **vals;
	size_t cap, n;
} rowmap;

void rowmap_init(rowmap *m);
void rowmap_release(rowmap *m);
void *rowmap_get(const rowmap *m, const char *key);
/* Insert; the key must not be present. */
void rowmap_put(rowmap *m, const char *key, void *val);
/* Remove and return the value, or NULL. */
void *rowmap_del(rowmap *m, const char *key);
/* Iterate: *pos starts at 0; returns the next value or NULL at the end. */
void *rowmap_next(const rowmap *m, size_t *pos);

#endif
