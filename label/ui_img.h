/* ui_img.h — images for the labellers: the bytes of a cache location (a plain file
 * "dir/a.jpg", or a ZIP member "vendor.zip!dir/a.jpg" read with libarchive), made into
 * a JPEG no larger than a bounding box with libvips, kept in a byte-bounded LRU cache.
 *
 * Ownership: ui_imgcache is opaque (_new/_free, NULL-safe); ui_img_get returns a
 * malloc'd copy the caller frees.  Thread-safe. */
#ifndef CS_UI_IMG_H
#define CS_UI_IMG_H

#include <stddef.h>

/* Initialise libvips once per process (argv0 for its messages).  0 ok. */
int ui_img_init(const char *argv0);

/* Read the raw bytes of a location, relative locations resolved in root.
 * 0 ok (*buf malloc'd), -1 with a message in errbuf. */
int ui_img_read(const char *root, const char *loc, unsigned char **buf, size_t *len,
		char *errbuf, size_t errlen);

/* Make a JPEG that fits in box x box pixels (never enlarged). */
int ui_img_thumb(const unsigned char *in, size_t inlen, int box, unsigned char **out, size_t *outlen,
		char *errbuf, size_t errlen);

typedef struct ui_imgcache ui_imgcache;
ui_imgcache *ui_imgcache_new(size_t max_bytes);
void ui_imgcache_free(ui_imgcache *c);
/* The JPEG of item id at size box, from the cache or made now. */
int ui_img_get(ui_imgcache *c, const char *root, const char *loc, size_t id, int box,
		unsigned char **out, size_t *outlen, char *errbuf, size_t errlen);

#endif
