/* ui_img.c — image bytes, thumbnails and their LRU cache (ui_img.h). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "ui_img.h"
#include "xalloc.h"

#define MAX_IMAGE_BYTES (256u << 20)

static const char *vips_argv0 = "clipsort";
static int vips_ok = -1;
static pthread_once_t vips_once = PTHREAD_ONCE_INIT;

static void vips_start(void)
{
	vips_ok = VIPS_INIT(vips_argv0) == 0;
	if (vips_ok)
		vips_cache_set_max(0);  /* our own cache holds the results; vips' would hold inputs */
}

/* libvips starts on the first image (it takes a good part of a second), so the
 * labellers come up at once. */
int ui_img_init(const char *argv0)
{
	vips_argv0 = argv0;
	return 0;
}

static int read_file(const char *path, unsigned char **buf, size_t *len, char *errbuf, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > MAX_IMAGE_BYTES) {
		snprintf(errbuf, errlen, "%s: not a regular file of at most %u bytes", path, MAX_IMAGE_BYTES);
		close(fd);
		return -1;
	}
	*len = (size_t)st.st_size;
	*buf = xmalloc(*len ? *len : 1);
	size_t got = 0;
	while (got < *len) {
		ssize_t r = read(fd, *buf + got, *len - got);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			snprintf(errbuf, errlen, "%s: %s", path, r < 0 ? strerror(errno) : "short read");
			free(*buf);
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	return 0;
}

static int read_member(const char *zip, const char *member, unsigned char **buf, size_t *len,
		char *errbuf, size_t errlen)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int rc = -1, r;

	archive_read_support_format_zip(a);
	if (archive_read_open_filename(a, zip, 1 << 16) != ARCHIVE_OK) {
		snprintf(errbuf, errlen, "%s: %s", zip, archive_error_string(a));
		archive_read_free(a);
		return -1;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		if (!name || strcmp(name, member) != 0)
			continue;
		la_int64_t sz = archive_entry_size(e);
		size_t cap = sz > 0 && (uint64_t)sz <= MAX_IMAGE_BYTES ? (size_t)sz : 65536, n = 0;
		unsigned char *b = xmalloc(cap);
		for (;;) {
			if (n == cap) {
				if (cap >= MAX_IMAGE_BYTES)
					break;
				cap *= 2;
				b = xrealloc(b, cap);
			}
			la_ssize_t got = archive_read_data(a, b + n, cap - n);
			if (got < 0) {
				snprintf(errbuf, errlen, "%s!%s: %s", zip, member, archive_error_string(a));
				free(b);
				goto out;
			}
			if (got == 0)
				break;
			n += (size_t)got;
		}
		*buf = b;
		*len = n;
		rc = 0;
		goto out;
	}
	snprintf(errbuf, errlen, "%s: no member %s", zip, member);
out:
	archive_read_free(a);
	return rc;
}

int ui_img_read(const char *root, const char *loc, unsigned char **buf, size_t *len,
		char *errbuf, size_t errlen)
{
	char *full = loc[0] == '/' || !root || !*root ? xstrdup(loc) : xasprintf("%s/%s", root, loc);
	char *bang = NULL;
	int rc;

	for (char *p = full; (p = strchr(p, '!')); p++)
		if (p - full >= 4 && strncasecmp(p - 4, ".zip", 4) == 0) {
			bang = p;
			break;
		}
	if (bang) {
		*bang = '\0';
		rc = read_member(full, bang + 1, buf, len, errbuf, errlen);
	} else {
		rc = read_file(full, buf, len, errbuf, errlen);
	}
	free(full);
	return rc;
}

int ui_img_thumb(const unsigned char *in, size_t inlen, int box, unsigned char **out, size_t *outlen,
		char *errbuf, size_t errlen)
{
	VipsImage *im = NULL;
	void *ob = NULL;
	size_t ol = 0;

	pthread_once(&vips_once, vips_start);
	if (!vips_ok) {
		snprintf(errbuf, errlen, "cannot initialise libvips");
		return -1;
	}

	if (vips_thumbnail_buffer((void *)(uintptr_t)in, inlen, &im, box, "height", box,
				"size", VIPS_SIZE_DOWN, NULL) != 0 ||
			vips_jpegsave_buffer(im, &ob, &ol, "Q", 85, "strip", TRUE, NULL) != 0) {
		const char *m = vips_error_buffer();
		snprintf(errbuf, errlen, "cannot decode image: %.*s", (int)strcspn(m, "\n"), m);
		vips_error_clear();
		if (im)
			g_object_unref(im);
		return -1;
	}
	g_object_unref(im);
	*out = xmalloc(ol);
	memcpy(*out, ob, ol);
	*outlen = ol;
	g_free(ob);
	return 0;
}

/* --- LRU ---------------------------------------------------------------------------- */

typedef struct ent {
	size_t id;
	int box;
	unsigned char *data;
	size_t len;
	unsigned long used;     /* clock for LRU */
} ent;

struct ui_imgcache {
	pthread_mutex_t mu;
	ent *e;
	size_t n, cap;
	size_t bytes, max_bytes;
	unsigned long clock;
};

ui_imgcache *ui_imgcache_new(size_t max_bytes)
{
	ui_imgcache *c = xcalloc(1, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
	c->max_bytes = max_bytes;
	return c;
}

void ui_imgcache_free(ui_imgcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->e[i].data);
	free(c->e);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static int lookup(ui_imgcache *c, size_t id, int box, unsigned char **out, size_t *outlen)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->e[i].id == id && c->e[i].box == box) {
			c->e[i].used = ++c->clock;
			*out = xmalloc(c->e[i].len);
			memcpy(*out, c->e[i].data, c->e[i].len);
			*outlen = c->e[i].len;
			return 1;
		}
	return 0;
}

int ui_img_get(ui_imgcache *c, const char *root, const char *loc, size_t id, int box,
		unsigned char **out, size_t *outlen, char *errbuf, size_t errlen)
{
	unsigned char *raw, *jpg;
	size_t rawlen, jpglen;

	pthread_mutex_lock(&c->mu);
	int hit = lookup(c, id, box, out, outlen);
	pthread_mutex_unlock(&c->mu);
	if (hit)
		return 0;
	if (ui_img_read(root, loc, &raw, &rawlen, errbuf, errlen) != 0)
		return -1;
	int rc = ui_img_thumb(raw, rawlen, box, &jpg, &jpglen, errbuf, errlen);
	free(raw);
	if (rc != 0)
		return -1;
	*out = xmalloc(jpglen);
	memcpy(*out, jpg, jpglen);
	*outlen = jpglen;
	unsigned char *other = NULL;
	size_t otherlen;
	pthread_mutex_lock(&c->mu);
	if (jpglen <= c->max_bytes && !lookup(c, id, box, &other, &otherlen)) {
		while (c->n > 0 && c->bytes + jpglen > c->max_bytes) {
			size_t old = 0;
			for (size_t i = 1; i < c->n; i++)
				if (c->e[i].used < c->e[old].used)
					old = i;
			c->bytes -= c->e[old].len;
			free(c->e[old].data);
			c->e[old] = c->e[--c->n];
		}
		xgrow(&c->e, &c->cap, c->n + 1, sizeof *c->e);
		c->e[c->n++] = (ent){ id, box, jpg, jpglen, ++c->clock };
		c->bytes += jpglen;
		jpg = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	free(other);
	free(jpg);
	return 0;
}
