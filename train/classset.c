/* classset.c — class names from classes.tsv (classset.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classset.h"
#include "exitcode.h"
#include "labels.h"
#include "tsv.h"
#include "xalloc.h"

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
finish(classset *c)
{
	size_t i, w = 0;

	qsort(c->names, c->n, sizeof *c->names, cmpstr);
	for (i = 0; i < c->n; i++) {
		if (w > 0 && strcmp(c->names[w - 1], c->names[i]) == 0)
			free(c->names[i]);
		else
			c->names[w++] = c->names[i];
	}
	c->n = w;
}

void
classset_from(classset *c, const char *const *names, size_t n)
{
	size_t i;

	c->names = xcalloc(n ? n : 1, sizeof *c->names);
	for (i = 0; i < n; i++)
		c->names[i] = xstrdup(names[i]);
	c->n = n;
	finish(c);
}

int
classset_read(classset *c, const char *path, char *err, size_t errlen)
{
	static const char *const need[] = { "class" };
	tsv_reader r;
	size_t cap = 0;
	int idx, rc;

	memset(c, 0, sizeof *c);
	if (tsv_reader_open(&r, path) != 0) {
		snprintf(err, errlen, "%s", r.err);
		tsv_reader_release(&r);
		return CS_EXIT_IO;
	}
	if (tsv_reader_require(&r, need, &idx, 1) != 0) {
		snprintf(err, errlen, "%s", r.err);
		tsv_reader_release(&r);
		return CS_EXIT_DATA;
	}
	while ((rc = tsv_reader_next(&r)) == 1) {
		const char *name = tsv_reader_field(&r, (size_t)idx);
		if (!labels_valid_class(name, 0)) {
			snprintf(err, errlen, "%s:%lu: invalid class name '%s'", path, r.lineno, name);
			tsv_reader_release(&r);
			classset_release(c);
			return CS_EXIT_DATA;
		}
		xgrow(&c->names, &cap, c->n + 1, sizeof *c->names);
		c->names[c->n++] = xstrdup(name);
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s", r.err);
		tsv_reader_release(&r);
		classset_release(c);
		return CS_EXIT_DATA;
	}
	tsv_reader_release(&r);
	finish(c);
	return 0;
}

int
classset_find(const classset *c, const char *name)
{
	char *const *hit = bsearch(&name, c->names, c->n, sizeof *c->names, cmpstr);

	return hit ? (int)(hit - c->names) : -1;
}

void
classset_release(classset *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->names[i]);
	free(c->names);
	c->names = NULL;
	c->n = 0;
}
