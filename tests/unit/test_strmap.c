/* test_strmap: the string map behind clipsort-embed's location and key indexes —
 * insert/lookup agree with a brute-force model through many growths, keys are
 * copies, values start NULL, iteration over keys[]/vals[] sees each key once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "strmap.h"

#define N 20000

int
main(void)
{
	strmap m;
	char key[64], *shared;
	int isnew, i, bad = 0, seen = 0;
	size_t k;
	void **v;

	strmap_init(&m);
	CHECK(strmap_get(&m, "x") == NULL, "empty map finds nothing");
	/* paths with a long common prefix, as directory listings give */
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof key, "/data/vendor/drop-%d/%06d.jpg", i % 7, i);
		v = strmap_put(&m, key, &isnew);
		if (!isnew || *v != NULL)
			bad++;
		*v = (void *)(size_t)(i + 1);
	}
	CHECK(bad == 0, "%d inserts were not new or not NULL-initialised", bad);
	CHECK(m.n == N, "n = %zu", m.n);
	CHECK(m.cap >= 2 * m.n, "load factor stays <= 1/2 (cap %zu for %zu)", m.cap, m.n);
	for (i = bad = 0; i < N; i++) {
		snprintf(key, sizeof key, "/data/vendor/drop-%d/%06d.jpg", i % 7, i);
		v = strmap_get(&m, key);
		if (v == NULL || *v != (void *)(size_t)(i + 1))
			bad++;
		v = strmap_put(&m, key, &isnew);
		if (isnew)
			bad++;
	}
	CHECK(bad == 0, "%d lookups failed after growth", bad);
	CHECK(m.n == N, "re-putting existing keys adds nothing (n = %zu)", m.n);
	for (i = bad = 0; i < N; i++) {
		snprintf(key, sizeof key, "/data/vendor/drop-%d/%06d.jpg", (i + 1) % 7, i);
		if (strmap_get(&m, key) != NULL)
			bad++;
	}
	CHECK(bad == 0, "%d absent keys were found", bad);
	/* the map keeps its own copy of a key */
	shared = strdup("temporary");
	strmap_put(&m, shared, &isnew);
	memcpy(shared, "overwrite", 9);
	CHECK(strmap_get(&m, "temporary") != NULL && strmap_get(&m, "overwrite") == NULL,
	    "keys are copied");
	free(shared);
	/* the empty string is a key like any other */
	strmap_put(&m, "", &isnew);
	CHECK(isnew && strmap_get(&m, "") != NULL, "empty key");
	for (k = 0; k < m.cap; k++)
		seen += m.keys[k] != NULL;
	CHECK(seen == N + 2 && (size_t)seen == m.n, "iteration sees %d keys", seen);
	strmap_release(&m);
	CHECK(m.cap == 0 && m.n == 0 && m.keys == NULL, "released");
	return check_done();
}
