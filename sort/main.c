/* clipsort-sort — put each image of decisions.tsv into OUT/<class>/ (or
 * OUT/_review/), from plain files or from inside vendor ZIPs, never overwriting,
 * never writing outside OUT, each file whole or not at all. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "diag.h"
#include "exitcode.h"
#include "fsutil.h"
#include "labels.h"
#include "num.h"
#include "out.h"
#include "rowmap.h"
#include "sha256.h"
#include "tsv.h"
#include "xalloc.h"

enum mode { M_COPY, M_LINK, M_SYMLINK, M_MOVE };
static const char *const mode_name[] = { "copy", "link", "symlink", "move" };

struct ent {
	char *key, *loc, *dir;
	char *archive, *member;   /* ZIP member, else NULL */
	unsigned long line;
	int done;
};

struct ctx {
	enum mode mode;
	out_tree out;
	FILE *man;                /* manifest (or stdout in a dry run), may be NULL */
	int status;
};

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-n] [-m copy|link|symlink|move] [-c min-confidence] "
	    "[-M manifest] decisions OUT\n", diag_prog());
	exit(CS_EXIT_USAGE);
}

/* "vendor.zip!dir/a.jpg" -> archive and member. */
static void
split_location(struct ent *e)
{
	const char *s;

	for (s = e->loc; (s = strchr(s, '!')) != NULL; s++)
		if (s - e->loc >= 4 && strncasecmp(s - 4, ".zip", 4) == 0 && s[1] != '\0') {
			e->archive = xstrndup(e->loc, (size_t)(s - e->loc));
			e->member = xstrdup(s + 1);
			return;
		}
}

static int
is_key(const char *k)
{
	size_t i;

	for (i = 0; k[i]; i++)
		if (!((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'f')))
			return 0;
	return i == SHA256_HEX;
}

/* Read and check every decision before touching anything. */
static struct ent *
read_decisions(const char *path, double minconf, size_t *np)
{
	static const char *const cols[] = { "key", "path", "class", "confidence" };
	tsv_reader r;
	int idx[4], rc;
	struct ent *v = NULL;
	size_t n = 0, cap = 0;
	rowmap seen;

	rowmap_init(&seen);
	if (tsv_reader_open(&r, path) != 0 || tsv_reader_require(&r, cols, idx, 4) != 0)
		cs_die(CS_EXIT_DATA, "%s", r.err);
	while ((rc = tsv_reader_next(&r)) > 0) {
		const char *cls = tsv_reader_field(&r, (size_t)idx[2]), *e;
		double conf = num_parse_d(tsv_reader_field(&r, (size_t)idx[3]), 0, 1, &e);
		struct ent *x;
		void *dup;

		if (e)
			cs_die(CS_EXIT_DATA, "%s:%lu: confidence '%s': %s", path, r.lineno,
			    tsv_reader_field(&r, (size_t)idx[3]), e);
		if (strcmp(cls, "_uncertain") != 0 && strcmp(cls, "_other") != 0 && !labels_valid_class(cls, 0))
			cs_die(CS_EXIT_DATA, "%s:%lu: invalid class name '%s' (want [a-z0-9][a-z0-9_-]{0,63}, "
			    "_uncertain or _other)", path, r.lineno, cls);
		if (*tsv_reader_field(&r, (size_t)idx[1]) == '\0')
			cs_die(CS_EXIT_DATA, "%s:%lu: empty path", path, r.lineno);
		xgrow(&v, &cap, n + 1, sizeof *v);
		x = &v[n];
		memset(x, 0, sizeof *x);
		x->key = xstrdup(tsv_reader_field(&r, (size_t)idx[0]));
		x->loc = xstrdup(tsv_reader_field(&r, (size_t)idx[1]));
		x->line = r.lineno;
		if (strcmp(cls, "_uncertain") == 0 || conf < minconf)
			x->dir = xstrdup("_review");
		else
			x->dir = xstrdup(cls);
		if ((dup = rowmap_get(&seen, x->key)) != NULL)
			cs_die(CS_EXIT_DATA, "%s:%lu: duplicate key %s (first on line %lu)", path, r.lineno,
			    x->key, (unsigned long)(uintptr_t)dup);
		rowmap_put(&seen, x->key, (void *)(uintptr_t)x->line);
		split_location(x);
		n++;
	}
	if (rc < 0)
		cs_die(CS_EXIT_DATA, "%s", r.err);
	tsv_reader_release(&r);
	rowmap_release(&seen);
	*np = n;
	return v;
}

static void
manifest(struct ctx *c, const struct ent *e, const char *dest, const char *action)
{
	const char *f[4] = { e->key, e->loc, dest, action };

	if (c->man)
		tsv_put_row(c->man, f, 4);
}

static void
fail(struct ctx *c, const struct ent *e, const char *what)
{
	cs_warn("%s: %s", e->loc, what);
	c->status = CS_EXIT_PARTIAL;
}

/* The content key is the SHA-256 of the bytes: a mismatch means the source changed
 * since it was embedded (or the row belongs to another file). */
static int
key_ok(struct ctx *c, const struct ent *e, const char *hex)
{
	if (!is_key(e->key) || strcmp(e->key, hex) == 0)
		return 1;
	fail(c, e, "content differs from its key (changed since it was embedded?); skipped");
	return 0;
}

/* Copy fd (or an archive's current entry) into a temp file in OUT/dir, hashing. */
static int
copy_to_tmp(struct ctx *c, const struct ent *e, int dirfd, int srcfd, struct archive *a,
    char tmp[64], char hex[SHA256_HEX + 1])
{
	char err[512], buf[1 << 16];
	sha256_ctx h;
	int fd = -1;
	ssize_t n;

	if (sha256_init(&h) != 0)
		cs_die(CS_EXIT_IO, "out of memory");
	if (dirfd >= 0 && !c->out.dry && (fd = out_tmpfile(&c->out, dirfd, tmp, err, sizeof err)) < 0) {
		sha256_release(&h);
		fail(c, e, err);
		return -1;
	}
	for (;;) {
		n = a ? archive_read_data(a, buf, sizeof buf) : read(srcfd, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0) {
			if (a)
				fail(c, e, archive_error_string(a) ? archive_error_string(a) : "read error");
			else
				fail(c, e, strerror(errno));
			goto bad;
		}
		sha256_update(&h, buf, (size_t)n);
		if (fd >= 0) {
			const char *p = buf;
			while (n > 0) {
				ssize_t w = write(fd, p, (size_t)n);
				if (w < 0) {
					if (errno == EINTR)
						continue;
					cs_warn("%s/%s: write: %s", c->out.path, e->dir, strerror(errno));
					c->status = CS_EXIT_IO;
					goto bad;
				}
				p += w;
				n -= w;
			}
		}
	}
	sha256_final(&h, hex);
	if (fd >= 0 && (fsync(fd) != 0 || close(fd) != 0)) {
		fd = -1;
		cs_warn("%s/%s: fsync: %s", c->out.path, e->dir, strerror(errno));
		c->status = CS_EXIT_IO;
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	return 0;
bad:
	sha256_release(&h);
	if (fd >= 0) {
		close(fd);
		unlinkat(dirfd, tmp, 0);
	}
	return -1;
}

/* Place content already hashed (hex) and, for a copy, sitting in tmp. */
static void
place(struct ctx *c, const struct ent *e, const char *hex, enum out_how how, const char *tmp,
    const char *src, const char *action)
{
	char err[512], final[PATH_MAX], *name = out_safe_name(e->member ? e->member : e->loc);
	int dirfd = out_dir(&c->out, e->dir, err, sizeof err);
	enum out_result r;

	r = out_place(&c->out, e->dir, name, hex, c->out.dry ? HOW_NONE : how, tmp, src, final,
	    sizeof final, err, sizeof err);
	if (r == OUT_FAILED)
		fail(c, e, err);
	else
		manifest(c, e, final, r == OUT_EXISTS ? "exists" : action);
	if (how == HOW_RENAME_TMP && !c->out.dry && dirfd >= 0 && r != OUT_PLACED)
		unlinkat(dirfd, tmp, 0);
	if (r == OUT_EXISTS && how == HOW_RENAME_SRC && !c->out.dry && unlink(src) != 0)
		fail(c, e, "moved already; cannot remove the source");
	free(name);
}

static void
do_plain(struct ctx *c, struct ent *e)
{
	char err[512], tmp[64] = "", hex[SHA256_HEX + 1], *abs = NULL;
	int fd, dirfd;
	struct stat st;
	enum out_how how;

	if ((dirfd = out_dir(&c->out, e->dir, err, sizeof err)) == -1) {
		fail(c, e, err);
		return;
	}
	if ((fd = open(e->loc, O_RDONLY | O_CLOEXEC)) < 0) {
		fail(c, e, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		fail(c, e, "not a regular file");
		return;
	}
	if (c->mode == M_COPY || c->out.dry) {
		int rc = copy_to_tmp(c, e, c->mode == M_COPY ? dirfd : -1, fd, NULL, tmp, hex);
		close(fd);
		if (rc != 0)
			return;
		if (!key_ok(c, e, hex)) {
			if (tmp[0] && dirfd >= 0)
				unlinkat(dirfd, tmp, 0);
			return;
		}
	} else {
		int rc = sha256_fd(fd, hex, NULL);
		close(fd);
		if (rc != 0) {
			fail(c, e, strerror(errno));
			return;
		}
		if (!key_ok(c, e, hex))
			return;
	}
	switch (c->mode) {
	case M_COPY: how = HOW_RENAME_TMP; break;
	case M_LINK: how = HOW_LINK; break;
	case M_MOVE: how = HOW_RENAME_SRC; break;
	default:
		how = HOW_SYMLINK;
		if ((abs = realpath(e->loc, NULL)) == NULL) {
			fail(c, e, strerror(errno));
			return;
		}
	}
	if (how == HOW_RENAME_SRC && !c->out.dry) {   /* across filesystems: copy, then remove */
		struct stat ds;
		if (dirfd >= 0 && fstat(dirfd, &ds) == 0 && ds.st_dev != st.st_dev) {
			if ((fd = open(e->loc, O_RDONLY | O_CLOEXEC)) < 0 ||
			    copy_to_tmp(c, e, dirfd, fd, NULL, tmp, hex) != 0) {
				if (fd >= 0)
					close(fd);
				return;
			}
			close(fd);
			place(c, e, hex, HOW_RENAME_TMP, tmp, NULL, "move");
			if (unlink(e->loc) != 0)
				fail(c, e, "copied, but cannot remove the source");
			return;
		}
	}
	place(c, e, hex, how, tmp, abs ? abs : e->loc, mode_name[c->mode]);
	free(abs);
}

/* Every wanted member of one archive, in one pass over it. */
static void
do_archive(struct ctx *c, struct ent *v, size_t n, size_t first)
{
	const char *name = v[first].archive;
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	rowmap want;
	size_t i;
	int rc;

	rowmap_init(&want);
	for (i = first; i < n; i++)
		if (v[i].archive && !v[i].done && strcmp(v[i].archive, name) == 0 &&
		    rowmap_get(&want, v[i].member) == NULL)
			rowmap_put(&want, v[i].member, &v[i]);
	archive_read_support_format_zip(a);
	if (archive_read_open_filename(a, name, 1 << 16) != ARCHIVE_OK) {
		for (i = first; i < n; i++)
			if (v[i].archive && strcmp(v[i].archive, name) == 0 && !v[i].done) {
				fail(c, &v[i], archive_error_string(a));
				v[i].done = 1;
			}
		archive_read_free(a);
		rowmap_release(&want);
		return;
	}
	while ((rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
		struct ent *e = rowmap_get(&want, archive_entry_pathname(ae));
		char err[512], tmp[64] = "", hex[SHA256_HEX + 1];
		int dirfd;

		if (e == NULL || archive_entry_filetype(ae) != AE_IFREG)
			continue;
		rowmap_del(&want, e->member);
		e->done = 1;
		if ((dirfd = out_dir(&c->out, e->dir, err, sizeof err)) == -1) {
			fail(c, e, err);
			continue;
		}
		if (copy_to_tmp(c, e, dirfd, -1, a, tmp, hex) != 0)
			continue;
		if (!key_ok(c, e, hex)) {
			if (tmp[0] && dirfd >= 0)
				unlinkat(dirfd, tmp, 0);
			continue;
		}
		place(c, e, hex, HOW_RENAME_TMP, tmp, NULL, "copy");
	}
	if (rc != ARCHIVE_EOF)
		cs_warn("%s: %s", name, archive_error_string(a));
	for (i = first; i < n; i++)
		if (v[i].archive && strcmp(v[i].archive, name) == 0 && !v[i].done) {
			fail(c, &v[i], "no such member in the archive (or an earlier row names it too)");
			v[i].done = 1;
		}
	archive_read_free(a);
	rowmap_release(&want);
}

int
main(int argc, char *argv[])
{
	struct ctx c;
	const char *manpath = NULL;
	double minconf = 0;
	struct ent *v;
	size_t n, i;
	int ch, dry = 0, rc;
	char err[512];
	fs_atomic man;

	diag_init(argv[0]);
	memset(&c, 0, sizeof c);
	while ((ch = getopt(argc, argv, "nm:c:M:")) != -1) {
		switch (ch) {
		case 'n': dry = 1; break;
		case 'm':
			for (i = 0; i < 4 && strcmp(optarg, mode_name[i]) != 0; i++)
				;
			if (i == 4)
				cs_die(CS_EXIT_USAGE, "-m %s: want copy, link, symlink or move", optarg);
			c.mode = (enum mode)i;
			break;
		case 'c': minconf = num_arg_d("min-confidence", optarg, 0, 1); break;
		case 'M': manpath = optarg; break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	v = read_decisions(argv[optind], minconf, &n);
	if ((rc = out_open(&c.out, argv[optind + 1], dry, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);
	if (!dry && (rc = out_lock(&c.out, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);
	if (dry) {
		c.man = stdout;
	} else if (manpath) {
		if ((rc = fs_atomic_open(&man, manpath, err, sizeof err)) != 0)
			cs_die(rc, "%s", err);
		c.man = man.fp;
	}
	if (c.man)
		fputs("key\tpath\tdestination\taction\n", c.man);
	for (i = 0; i < n; i++)
		if (!v[i].archive) {
			do_plain(&c, &v[i]);
			v[i].done = 1;
		}
	for (i = 0; i < n; i++)   /* ZIP members are always copied out */
		if (v[i].archive && !v[i].done)
			do_archive(&c, v, n, i);
	if ((rc = out_close(&c.out, err, sizeof err)) != 0) {
		cs_warn("%s", err);
		c.status = rc;
	}
	if (dry)
		cs_fshut(stdout, "<stdout>");
	else if (manpath && (rc = fs_atomic_commit(&man, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);
	for (i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].loc);
		free(v[i].dir);
		free(v[i].archive);
		free(v[i].member);
	}
	free(v);
	return c.status;
}
