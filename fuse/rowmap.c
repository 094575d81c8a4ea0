/* rowmap.c — string-keyed hash map (rowmap.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rowmap.h"
#include "strhash.h"
#include "xalloc.h"

static uint64_t
hash(const char *s)
{
	uint64_t h = cs_strhash(s);   /* then a final mix */

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	return h ^ (h >> 33);
}

void
rowmap_init(rowmap *m)
{
	memset(m, 0, sizeof *m);
}

void
rowmap_release(rowmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

static size_t
slot(const rowmap *m, const char *key)
{
	size_t i = (size_t)hash(key) & (m->cap - 1);

	while (m->keys[i] && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *
rowmap_get(const rowmap *m, const char *key)
{
	size_t i;

	if (m->n == 0)
		return NULL;
	i = slot(m, key);
	return m->keys[i] ? m->vals[i] : NULL;
}

static void
grow(rowmap *m)
{
	rowmap old = *m;
	size_t i;

	m->cap = old.cap ? old.cap * 2 : 64;
	m->keys = xcalloc(m->cap, sizeof *m->keys);
	m->vals = xcalloc(m->cap, sizeof *m->vals);
	m->n = 0;
	for (i = 0; i < old.cap; i++)
		if (old.keys[i])
			rowmap_put(m, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
}

void
rowmap_put(rowmap *m, const char *key, void *val)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap)
		grow(m);
	i = slot(m, key);
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
}

void *
rowmap_del(rowmap *m, const char *key)
{
	size_t i, j, h;
	void *v;

	if (m->n == 0)
		return NULL;
	i = slot(m, key);
	if (m->keys[i] == NULL)
		return NULL;
	v = m->vals[i];
	m->keys[i] = NULL;
	m->n--;
	for (j = (i + 1) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1)) {
		h = (size_t)hash(m->keys[j]) & (m->cap - 1);
		/* move j back to i unless its home lies cyclically in (i, j] */
		if ((i <= j) ? (i < h && h <= j) : (i < h || h <= j))
			continue;
		m->keys[i] = m->keys[j];
		m->vals[i] = m->vals[j];
		m->keys[j] = NULL;
		i = j;
	}
	return v;
}

void *
rowmap_next(const rowmap *m, size_t *pos)
{
	for (; *pos < m->cap; (*pos)++)
		if (m->keys[*pos])
			return m->vals[(*pos)++];
	return NULL;
}
