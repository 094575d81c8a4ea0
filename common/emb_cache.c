/* emb_cache.c — the HDF5 cache (clipsort-embeddings(5)).  Being written: until it
 * lands every call reports that the cache is not available yet. */
#include <stdlib.h>

#include "emb.h"
#include "emb_int.h"

int
emb_cache_open(emb_reader *r, const char *path)
{
	(void)path;
	return emb_fail(r, "HDF5 caches are not supported by this build yet");
}

int
emb_cache_next(emb_reader *r, emb_image *img)
{
	(void)img;
	return emb_fail(r, "HDF5 caches are not supported by this build yet");
}

long long
emb_cache_count(const emb_reader *r)
{
	(void)r;
	return -1;
}

void
emb_cache_close(emb_reader *r)
{
	(void)r;
}

emb_cache_writer *
emb_cache_writer_open(const char *path, const emb_stamp *stamp, char *errbuf, size_t errlen)
{
	(void)stamp;
	emb_errbuf(errbuf, errlen, "%s: HDF5 caches are not supported by this build yet", path);
	return NULL;
}

int emb_cache_add_image(emb_cache_writer *w, const char *key, const float *vec) { (void)w; (void)key; (void)vec; return -1; }
int emb_cache_add_location(emb_cache_writer *w, const char *key, const char *location, uint64_t size, int64_t mtime) { (void)w; (void)key; (void)location; (void)size; (void)mtime; return -1; }
int emb_cache_add_reject(emb_cache_writer *w, const char *location, const char *reason) { (void)w; (void)location; (void)reason; return -1; }
int emb_cache_add_text(emb_cache_writer *w, const char *cls, const char *prompt, const float *vec) { (void)w; (void)cls; (void)prompt; (void)vec; return -1; }
int emb_cache_writer_commit(emb_cache_writer *w, char *errbuf, size_t errlen) { (void)w; emb_errbuf(errbuf, errlen, "HDF5 caches are not supported by this build yet"); return -1; }
void emb_cache_writer_abort(emb_cache_writer *w) { (void)w; }
