/* classset.h — the class names of classes.tsv (class<TAB>prompt, header line
 * "class<TAB>prompt"; a class may have many prompt lines), sorted and unique.
 *
 * Ownership: a classset is caller-owned (classset_read fills it, classset_release
 * frees what it points to). */
#ifndef CS_CLASSSET_H
#define CS_CLASSSET_H

#include <stddef.h>

typedef struct classset {
	char **names;   /* sorted, unique */
	size_t n;
} classset;

/* 0 ok; CS_EXIT_IO (cannot open) or CS_EXIT_DATA (bad row, bad class name) with a
 * "FILE:LINE: reason" message in err. */
int classset_read(classset *c, const char *path, char *err, size_t errlen);
/* Build from names (copied; duplicates dropped). */
void classset_from(classset *c, const char *const *names, size_t n);
/* Index of name, or -1. */
int classset_find(const classset *c, const char *name);
void classset_release(classset *c);

#endif
