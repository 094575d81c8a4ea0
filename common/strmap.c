#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "xalloc.h"

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
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
	memset(m, 0, sizeof *m);
}

static size_t
find(const strmap *m, const char *key)
{
	size_t i = (size_t)hash(key) & (m->cap - 1);

	while (m->keys[i] != NULL && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

void **
strmap_get(const strmap *m, const char *key)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	i = find(m, key);
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
	for (i = 0; i < o.cap; i++) {
		if (o.keys[i]) {
			size_t j = find(m, o.keys[i]);
			m->keys[j] = o.keys[i];
			m->vals[j] = o.vals[i];
		}
	}
	free(o.keys);
	free(o.vals);
}

void **
strmap_put(strmap *m, const char *key, int *isnew)
{
	size_t i;

	if ((m->n + 1) * 4 > m->cap * 3)
		grow(m);
	i = find(m, key);
	*isnew = m->keys[i] == NULL;
	if (*isnew) {
		m->keys[i] = xstrdup(key);
		m->vals[i] = NULL;
		m->n++;
	}
	return &m->vals[i];
}
