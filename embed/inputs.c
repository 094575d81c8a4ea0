#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "inputs.h"
#include "xalloc.h"

struct zip_reader {
	struct archive *a;
	struct archive_entry *e;
	const struct input_limits *lim;
	char *path;
	uint64_t zip_size;
	uint64_t total;      /* decompressed bytes so far */
	uint64_t entries;
	int have_entry;
};

void
input_limits_default(struct input_limits *l)
{
	l->max_file_bytes = 256ULL << 20;
	l->max_zip_total = 64ULL << 30;
	l->max_ratio = 100.0;
	l->max_entries = 1000000;
}

void
inputs_init(struct inputs *in, const struct input_limits *lim)
{
	memset(in, 0, sizeof *in);
	if (lim)
		in->lim = *lim;
	else
		input_limits_default(&in->lim);
}

void
inputs_release(struct inputs *in)
{
	size_t i;

	for (i = 0; i < in->n; i++) {
		free(in->items[i].loc);
		free(in->items[i].path);
		free(in->items[i].member);
	}
	for (i = 0; i < in->nrej; i++) {
		free(in->rejects[i].loc);
		free(in->rejects[i].reason);
	}
	for (i = 0; i < in->nroots; i++)
		free(in->roots[i]);
	free(in->items);
	free(in->rejects);
	free(in->roots);
	memset(in, 0, sizeof *in);
}

static void
add_reject(struct inputs *in, char *loc, char *reason)
{
	xgrow(&in->rejects, &in->rejcap, in->nrej + 1, sizeof *in->rejects);
	in->rejects[in->nrej].loc = loc;
	in->rejects[in->nrej].reason = reason;
	in->nrej++;
}

static void
add_item(struct inputs *in, char *loc, const char *path, const char *member, uint64_t size,
    int64_t mtime)
{
	struct input_item *it;

	xgrow(&in->items, &in->cap, in->n + 1, sizeof *in->items);
	it = &in->items[in->n++];
	it->loc = loc;
	it->path = xstrdup(path);
	it->member = member ? xstrdup(member) : NULL;
	it->size = size;
	it->mtime = mtime;
	it->root = (int)in->nroots - 1;
}

char *
input_utf8_name(const char *raw)
{
	const unsigned char *s = (const unsigned char *)raw;
	size_t n = strlen(raw), i = 0, o = 0;
	char *out = xmalloc(n * 4 + 1);

	while (i < n) {
		unsigned c = s[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
		    (c & 0xf8) == 0xf0 ? 4 : 0;
		int valid = len > 0 && i + len <= n;
		size_t k;
		unsigned cp = 0;

		if (valid && len > 1) {
			cp = c & (0x7f >> len);
			for (k = 1; k < len; k++) {
				if ((s[i + k] & 0xc0) != 0x80) {
					valid = 0;
					break;
				}
				cp = cp << 6 | (s[i + k] & 0x3f);
			}
			/* no overlong forms, surrogates or values past U+10FFFF */
			if (valid && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
			    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
			    (cp >= 0xd800 && cp <= 0xdfff)))
				valid = 0;
		}
		if (valid && c >= 0x20 && c != 0x7f) {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		} else {
			o += (size_t)sprintf(out + o, "\\x%02x", c);
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

int
input_is_archive(const unsigned char *b, size_t n, const char **what)
{
	static const struct {
		const char *name;
		size_t off, len;
		const char *magic;
	} m[] = {
		{ "zip", 0, 4, "PK\x03\x04" }, { "zip", 0, 4, "PK\x05\x06" },
		{ "zip", 0, 4, "PK\x07\x08" }, { "gzip", 0, 2, "\x1f\x8b" },
		{ "bzip2", 0, 3, "BZh" }, { "xz", 0, 6, "\xfd" "7zXZ\x00" },
		{ "7z", 0, 6, "7z\xbc\xaf\x27\x1c" }, { "rar", 0, 6, "Rar!\x1a\x07" },
		{ "zstd", 0, 4, "\x28\xb5\x2f\xfd" }, { "tar", 257, 5, "ustar" },
	};
	size_t i;

	for (i = 0; i < sizeof m / sizeof m[0]; i++) {
		if (n >= m[i].off + m[i].len && memcmp(b + m[i].off, m[i].magic, m[i].len) == 0) {
			*what = m[i].name;
			return 1;
		}
	}
	return 0;
}

static int
sniff(int dfd, const char *name, unsigned char *b, size_t cap, size_t *n)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, b, cap);
	close(fd);
	if (r < 0)
		return -1;
	*n = (size_t)r;
	return 0;
}

/* ---- ZIP ---- */

zip_reader *
zip_reader_open(const char *path, const struct input_limits *lim, char *err, size_t errlen)
{
	zip_reader *z = xcalloc(1, sizeof *z);
	struct stat st;

	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		free(z);
		return NULL;
	}
	z->zip_size = (uint64_t)st.st_size;
	z->lim = lim;
	z->path = xstrdup(path);
	z->a = archive_read_new();
	archive_read_support_format_zip_seekable(z->a);
	archive_read_support_filter_none(z->a);
	if (archive_read_open_filename(z->a, path, 1 << 16) != ARCHIVE_OK) {
		snprintf(err, errlen, "not a readable ZIP archive: %s", archive_error_string(z->a));
		zip_reader_close(z);
		return NULL;
	}
	return z;
}

void
zip_reader_close(zip_reader *z)
{
	if (z == NULL)
		return;
	if (z->a)
		archive_read_free(z->a);
	free(z->path);
	free(z);
}

int
zip_reader_next(zip_reader *z, const char **name, uint64_t *size, int64_t *mtime, char *err,
    size_t errlen)
{
	for (;;) {
		int r = archive_read_next_header(z->a, &z->e);

		z->have_entry = 0;
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN) {
			snprintf(err, errlen, "corrupt ZIP archive: %s", archive_error_string(z->a));
			return -1;
		}
		if (++z->entries > z->lim->max_entries) {
			snprintf(err, errlen, "more than %llu entries (possible zip bomb); rest not read",
			    (unsigned long long)z->lim->max_entries);
			return -1;
		}
		if (archive_entry_filetype(z->e) == AE_IFDIR)
			continue;
		{
			const char *u = archive_entry_pathname_utf8(z->e);
			*name = u ? u : archive_entry_pathname(z->e);
		}
		if (*name == NULL)
			*name = "";
		*size = archive_entry_size_is_set(z->e) ? (uint64_t)archive_entry_size(z->e) : 0;
		*mtime = archive_entry_mtime_is_set(z->e) ? (int64_t)archive_entry_mtime(z->e) : 0;
		z->have_entry = 1;
		return 1;
	}
}

int
zip_reader_data(zip_reader *z, unsigned char **buf, size_t *len, char *err, size_t errlen)
{
	const struct input_limits *l = z->lim;
	size_t cap = 1 << 16, n = 0;
	unsigned char *b;

	*buf = NULL;
	*len = 0;
	if (!z->have_entry) {
		snprintf(err, errlen, "no current entry");
		return -2;
	}
	z->have_entry = 0;
	if (archive_entry_filetype(z->e) != AE_IFREG) {
		snprintf(err, errlen, "not a regular file");
		return -1;
	}
	if (archive_entry_is_encrypted(z->e)) {
		snprintf(err, errlen, "encrypted entry not read");
		return -1;
	}
	if (archive_entry_size_is_set(z->e) && (uint64_t)archive_entry_size(z->e) > l->max_file_bytes) {
		snprintf(err, errlen, "entry of %lld bytes is over the %llu-byte limit",
		    (long long)archive_entry_size(z->e), (unsigned long long)l->max_file_bytes);
		return -1;
	}
	b = xmalloc(cap);
	for (;;) {
		la_ssize_t r;

		if (n == cap) {
			cap *= 2;
			b = xrealloc(b, cap);
		}
		r = archive_read_data(z->a, b + n, cap - n);
		if (r == 0)
			break;
		if (r < 0) {
			snprintf(err, errlen, "cannot decompress entry: %s", archive_error_string(z->a));
			free(b);
			return r == ARCHIVE_FATAL ? -2 : -1;
		}
		n += (size_t)r;
		z->total += (uint64_t)r;
		/* caps on what was actually decompressed, not on what the headers claim */
		if (n > l->max_file_bytes) {
			snprintf(err, errlen, "entry decompresses to more than %llu bytes (possible zip bomb)",
			    (unsigned long long)l->max_file_bytes);
			free(b);
			return -1;
		}
		if (z->total > l->max_zip_total ||
		    (z->total > (16ULL << 20) && (double)z->total > l->max_ratio * (double)z->zip_size)) {
			snprintf(err, errlen, "archive decompresses to more than %g times its size "
			    "(zip bomb, overlapping entries?); rest not read", l->max_ratio);
			free(b);
			return -2;
		}
	}
	*buf = b;
	*len = n;
	return 0;
}

static void
add_zip(struct inputs *in, const char *path)
{
	char err[512];
	zip_reader *z = zip_reader_open(path, &in->lim, err, sizeof err);
	const char *name;
	uint64_t size;
	int64_t mtime;
	int r;

	if (z == NULL) {
		add_reject(in, xstrdup(path), xstrdup(err));
		return;
	}
	while ((r = zip_reader_next(z, &name, &size, &mtime, err, sizeof err)) == 1) {
		char *u = input_utf8_name(name);
		char *loc = xasprintf("%s!%s", path, u);

		free(u);
		if (archive_entry_is_encrypted(z->e)) {
			add_reject(in, loc, xstrdup("encrypted entry not read"));
			continue;
		}
		if (archive_entry_filetype(z->e) != AE_IFREG) {
			add_reject(in, loc, xstrdup("not a regular file"));
			continue;
		}
		add_item(in, loc, path, name, size, mtime);
	}
	if (r < 0)
		add_reject(in, xstrdup(path), xstrdup(err));
	zip_reader_close(z);
}

/* ---- files and directories ---- */

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_path(struct inputs *in, int dfd, const char *name, const char *path, int depth);

/* Directory path (name relative to dfd), entries in byte order; names are resolved
 * relative to the open directory, so a deep tree costs no repeated path walks. */
static void
add_dir(struct inputs *in, int dfd, const char *name, const char *path, int depth)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0, i, pl = strlen(path);

	if (d == NULL) {
		add_reject(in, input_utf8_name(path), xasprintf("cannot open directory: %s", strerror(errno)));
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		xgrow(&names, &cap, n + 1, sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	qsort(names, n, sizeof *names, cmpstr);
	for (i = 0; i < n; i++) {
		char *p = xasprintf("%s%s%s", path, pl && path[pl - 1] == '/' ? "" : "/", names[i]);

		add_path(in, dirfd(d), names[i], p, depth + 1);
		free(p);
		free(names[i]);
	}
	closedir(d);
	free(names);
}

static void
add_path(struct inputs *in, int dfd, const char *name, const char *path, int depth)
{
	struct stat st;
	unsigned char head[512];
	size_t hn = 0;
	const char *what;
	char *loc;
	int islink;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    ((islink = S_ISLNK(st.st_mode)) && fstatat(dfd, name, &st, 0) != 0)) {
		add_reject(in, input_utf8_name(path), xasprintf("%s", strerror(errno)));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		/* never descend through a symbolic link: no loops, no escapes */
		if (depth > 0 && islink)
			return;
		if (depth > 64) {
			add_reject(in, input_utf8_name(path), xstrdup("directories nested too deeply"));
			return;
		}
		add_dir(in, dfd, name, path, depth);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		if (depth == 0)
			add_reject(in, input_utf8_name(path), xstrdup("not a regular file"));
		return;
	}
	loc = input_utf8_name(path);
	/* a file known unchanged as an image need not be sniffed again */
	if (!(in->known && in->known(in->known_ctx, loc, (uint64_t)st.st_size, (int64_t)st.st_mtime))) {
		if (sniff(dfd, name, head, sizeof head, &hn) != 0) {
			add_reject(in, loc, xasprintf("%s", strerror(errno)));
			return;
		}
		if (input_is_archive(head, hn, &what)) {
			if (strcmp(what, "zip") == 0)
				add_zip(in, path);
			else
				add_reject(in, xstrdup(loc),
				    xasprintf("%s archive not read: only ZIP archives are supported", what));
			free(loc);
			return;
		}
	}
	add_item(in, loc, path, NULL, (uint64_t)st.st_size, (int64_t)st.st_mtime);
}

static void
add_root(struct inputs *in, const char *operand)
{
	char *r = xstrdup(operand);
	size_t n = strlen(r);

	while (n > 1 && r[n - 1] == '/')
		r[--n] = '\0';
	xgrow(&in->roots, &in->rootcap, in->nroots + 1, sizeof *in->roots);
	in->roots[in->nroots++] = r;
}

void
inputs_add(struct inputs *in, const char *operand)
{
	if (strcmp(operand, "-") == 0) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;

		while ((len = getline(&line, &cap, stdin)) > 0) {
			while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				line[--len] = '\0';
			if (len == 0)
				continue;
			inputs_add(in, line);
		}
		free(line);
		return;
	}
	add_root(in, operand);
	add_path(in, AT_FDCWD, in->roots[in->nroots - 1], in->roots[in->nroots - 1], 0);
}

int
inputs_under_root(const char *loc, const char *root)
{
	size_t n = strlen(root);

	if (strncmp(loc, root, n) != 0)
		return 0;
	return loc[n] == '\0' || loc[n] == '/' || loc[n] == '!' || (n > 0 && root[n - 1] == '/');
}

static int
cmploc(const void *a, const void *b)
{
	const struct input_item *x = *(const struct input_item *const *)a;
	const struct input_item *y = *(const struct input_item *const *)b;
	int c = strcmp(x->loc, y->loc);

	return c ? c : (x < y ? -1 : x > y);
}

void
inputs_finish(struct inputs *in)
{
	/* The same location named twice (an operand and a directory holding it) is
	 * kept once, at its first place: item order stays operand order, with
	 * directories sorted and ZIP members in archive order. */
	struct input_item **ord;
	unsigned char *drop;
	size_t i, o;

	if (in->n < 2)
		return;
	ord = xcalloc(in->n, sizeof *ord);
	drop = xcalloc(in->n, 1);
	for (i = 0; i < in->n; i++)
		ord[i] = &in->items[i];
	qsort(ord, in->n, sizeof *ord, cmploc);
	for (i = 1; i < in->n; i++)
		if (strcmp(ord[i]->loc, ord[i - 1]->loc) == 0)
			drop[ord[i] - in->items] = 1;
	for (i = o = 0; i < in->n; i++) {
		if (drop[i]) {
			free(in->items[i].loc);
			free(in->items[i].path);
			free(in->items[i].member);
			continue;
		}
		in->items[o++] = in->items[i];
	}
	in->n = o;
	free(ord);
	free(drop);
}

int
input_read(const struct inputs *in, const struct input_item *it, unsigned char **buf, size_t *len,
    char *err, size_t errlen)
{
	if (it->member == NULL) {
		int fd = open(it->path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		size_t cap, n = 0;
		unsigned char *b;

		if (fd < 0 || fstat(fd, &st) != 0) {
			snprintf(err, errlen, "%s", strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		if ((uint64_t)st.st_size > in->lim.max_file_bytes) {
			snprintf(err, errlen, "file of %lld bytes is over the %llu-byte limit",
			    (long long)st.st_size, (unsigned long long)in->lim.max_file_bytes);
			close(fd);
			return -1;
		}
		cap = (size_t)st.st_size + 1;
		b = xmalloc(cap);
		for (;;) {
			ssize_t r = read(fd, b + n, cap - n);

			if (r < 0) {
				if (errno == EINTR)
					continue;
				snprintf(err, errlen, "read error: %s", strerror(errno));
				free(b);
				close(fd);
				return -1;
			}
			if (r == 0)
				break;
			n += (size_t)r;
			if (n == cap) {
				if (n > in->lim.max_file_bytes) {
					snprintf(err, errlen, "file grew over the %llu-byte limit",
					    (unsigned long long)in->lim.max_file_bytes);
					free(b);
					close(fd);
					return -1;
				}
				cap *= 2;
				b = xrealloc(b, cap);
			}
		}
		close(fd);
		*buf = b;
		*len = n;
		return 0;
	} else {
		zip_reader *z = zip_reader_open(it->path, &in->lim, err, errlen);
		const char *name;
		uint64_t size;
		int64_t mtime;
		int r;

		if (z == NULL)
			return -1;
		while ((r = zip_reader_next(z, &name, &size, &mtime, err, errlen)) == 1) {
			if (strcmp(name, it->member) == 0) {
				r = zip_reader_data(z, buf, len, err, errlen);
				zip_reader_close(z);
				return r == 0 ? 0 : -1;
			}
		}
		if (r == 0)
			snprintf(err, errlen, "entry no longer in the archive");
		zip_reader_close(z);
		return -1;
	}
}
