#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strhash.h"
#include "strmap.h"
#include "xalloc.h"

static uint64_t
hash(const char *s)
{
	uint64_t h = cs_strhash(s);

	return h ^ (h >> 29);
}

void
strmap_init(strmap *m)
{
	memset(m, 0, sizeof *m);
}

void
strmap_release(strmap *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	free(m->hashes);
	memset(m, 0, sizeof *m);
}

static size_t
find(const strmap *m, const char *key, uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);

	while (m->keys[i] != NULL && (m->hashes[i] != h || strcmp(m->keys[i], key) != 0))
		i = (i + 1) & (m->cap - 1);
	return i;
}

void **
strmap_get(const strmap *m, const char *key)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	i = find(m, key, hash(key));
	return m->keys[i] ? &m->vals[i] : NULL;
}

static void
grow(strmap *m)
{
	strmap o = *m;
	size_t i;

	m->cap = o.cap ? o.cap * 2 : 64;
	m->keys = xcalloc(m->cap, sizeof *m->keys);
	m->vals = xcalloc(m->cap, sizeof *m->vals);
	m->hashes = xcalloc(m->cap, sizeof *m->hashes);
	for (i = 0; i < o.cap; i++) {
		if (o.keys[i]) {
			size_t j = (size_t)o.hashes[i] & (m->cap - 1);

			while (m->keys[j] != NULL)
				j = (j + 1) & (m->cap - 1);
			m->keys[j] = o.keys[i];
			m->vals[j] = o.vals[i];
			m->hashes[j] = o.hashes[i];
		}
	}
	free(o.keys);
	free(o.vals);
	free(o.hashes);
}

void **
strmap_put(strmap *m, const char *key, int *isnew)
{
	uint64_t h = hash(key);
	size_t i;

	if ((m->n + 1) * 2 > m->cap)
		grow(m);
	i = find(m, key, h);
	*isnew = m->keys[i] == NULL;
	if (*isnew) {
		m->keys[i] = xstrdup(key);
		m->hashes[i] = h;
		m->vals[i] = NULL;
		m->n++;
	}
	return &m->vals[i];
}
