/* out.c — the output tree of clipsort-sort (out.h). */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcode.h"
#include "out.h"
#include "xalloc.h"

#define TMP_PREFIX ".clipsort-tmp."
#define NAME_MAX_BYTES 200

struct out_dir {
	char *name;
	int fd;             /* -2: does not exist (dry run) */
	int dirty;
};

int
out_open(out_tree *t, const char *path, int dry, char *err, size_t errlen)
{
	memset(t, 0, sizeof *t);
	t->path = path;
	t->dry = dry;
	t->fd = -1;
	t->lockfd = -1;
	rowmap_init(&t->dirs);
	rowmap_init(&t->claimed);
	if (!dry && mkdir(path, 0777) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return CS_EXIT_IO;
	}
	t->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->fd < 0 && !(dry && errno == ENOENT)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return CS_EXIT_IO;
	}
	return 0;
}

int
out_lock(out_tree *t, char *err, size_t errlen)
{
	char pid[32];
	int n;

	t->lockfd = openat(t->fd, ".clipsort-sort.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (t->lockfd < 0) {
		snprintf(err, errlen, "%s/.clipsort-sort.lock: %s", t->path,
		    errno == ELOOP ? "a symbolic link (not followed)" : strerror(errno));
		return CS_EXIT_IO;
	}
	if (flock(t->lockfd, LOCK_EX | LOCK_NB) != 0) {
		int busy = errno == EWOULDBLOCK;
		snprintf(err, errlen, "%s: %s", t->path, busy ? "locked by another clipsort-sort" : strerror(errno));
		close(t->lockfd);
		t->lockfd = -1;
		return busy ? CS_EXIT_BUSY : CS_EXIT_IO;
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(t->lockfd, 0) != 0 || write(t->lockfd, pid, (size_t)n) != n) {
		/* the pid is informational only */
	}
	return 0;
}

int
out_close(out_tree *t, char *err, size_t errlen)
{
	size_t pos = 0;
	struct out_dir *d;
	int rc = 0;
	char **v;

	while ((d = rowmap_next(&t->dirs, &pos)) != NULL) {
		if (d->fd >= 0 && d->dirty && fsync(d->fd) != 0 && rc == 0) {
			snprintf(err, errlen, "%s/%s: fsync: %s", t->path, d->name, strerror(errno));
			rc = CS_EXIT_IO;
		}
		if (d->fd >= 0)
			close(d->fd);
		free(d->name);
		free(d);
	}
	pos = 0;
	while ((v = rowmap_next(&t->claimed, &pos)) != NULL) {
		free(v[0]);
		free(v[1]);
		free(v);
	}
	if (t->fd >= 0) {
		if (!t->dry && fsync(t->fd) != 0 && rc == 0) {
			snprintf(err, errlen, "%s: fsync: %s", t->path, strerror(errno));
			rc = CS_EXIT_IO;
		}
		close(t->fd);
	}
	if (t->lockfd >= 0)
		close(t->lockfd);
	rowmap_release(&t->dirs);
	rowmap_release(&t->claimed);
	return rc;
}

/* Remove the temporaries a killed run left behind (we hold the OUT lock). */
static void
sweep(int fd)
{
	int dfd = dup(fd);
	DIR *dp = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;

	if (dp == NULL) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((e = readdir(dp)) != NULL)
		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
			unlinkat(fd, e->d_name, 0);
	closedir(dp);
}

int
out_dir(out_tree *t, const char *dir, char *err, size_t errlen)
{
	struct out_dir *d = rowmap_get(&t->dirs, dir);
	struct stat st;

	if (d)
		return d->fd;
	d = xcalloc(1, sizeof *d);
	d->name = xstrdup(dir);
	d->fd = -2;
	if (t->fd >= 0) {
		if (!t->dry && mkdirat(t->fd, dir, 0777) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s/%s: cannot create: %s", t->path, dir, strerror(errno));
			free(d->name);
			free(d);
			return -1;
		}
		if (fstatat(t->fd, dir, &st, AT_SYMLINK_NOFOLLOW) == 0 || !t->dry) {
			d->fd = openat(t->fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (d->fd < 0) {
				snprintf(err, errlen, "%s/%s: %s", t->path, dir,
				    errno == ELOOP || errno == ENOTDIR ? "not a directory (a symbolic link "
				    "inside OUT is not followed)" : strerror(errno));
				free(d->name);
				free(d);
				return -1;
			}
			if (!t->dry)
				sweep(d->fd);
		}
	}
	rowmap_put(&t->dirs, d->name, d);
	return d->fd;
}

int
out_tmpfile(out_tree *t, int dirfd, char name[64], char *err, size_t errlen)
{
	int fd;

	snprintf(name, 64, TMP_PREFIX "%ld.%lu", (long)getpid(), t->seq++);
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0)
		snprintf(err, errlen, "%s: temporary file: %s", t->path, strerror(errno));
	return fd;
}

char *
out_safe_name(const char *loc)
{
	const char *b = strrchr(loc, '/'), *bang = strrchr(loc, '!');
	char *s, *p;
	size_t n;

	if (bang && (b == NULL || bang > b))
		b = bang;
	b = b ? b + 1 : loc;
	if (*b == '\0' || strcmp(b, ".") == 0 || strcmp(b, "..") == 0)
		return xstrdup("unnamed");
	s = xasprintf("%s%s", *b == '.' ? "_" : "", b);
	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			*p = '_';
	n = strlen(s);
	if (n > NAME_MAX_BYTES) {   /* keep a short extension */
		const char *dot = strrchr(s, '.');
		size_t el = dot && strlen(dot) <= 16 ? strlen(dot) : 0;
		memmove(s + NAME_MAX_BYTES - el, s + n - el, el + 1);
	}
	return s;
}

/* Candidate i: name, name-1.ext, name-2.ext, ... */
static char *
candidate(const char *name, unsigned i)
{
	const char *dot = strrchr(name, '.');

	if (i == 0)
		return xstrdup(name);
	if (dot == NULL || dot == name)
		return xasprintf("%s-%u", name, i);
	return xasprintf("%.*s-%u%s", (int)(dot - name), name, i, dot);
}

/* Does the existing entry dirfd/name hold our content?  1 yes, 0 no. */
static int
same_content(int dirfd, const char *name, const char *hash, enum out_how how, const char *src)
{
	struct stat st;
	char hex[SHA256_HEX + 1];
	int fd, same = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	if (S_ISLNK(st.st_mode)) {
		char buf[4096];
		ssize_t n;
		if (how != HOW_SYMLINK || (n = readlinkat(dirfd, name, buf, sizeof buf - 1)) < 0)
			return 0;
		buf[n] = '\0';
		return strcmp(buf, src) == 0;
	}
	if (!S_ISREG(st.st_mode) || how == HOW_SYMLINK)
		return 0;
	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return 0;
	if (sha256_fd(fd, hex, NULL) == 0 && strcmp(hex, hash) == 0)
		same = 1;
	close(fd);
	return same;
}

static int
create(int dirfd, const char *cand, enum out_how how, const char *tmp, const char *src)
{
	switch (how) {
	case HOW_RENAME_TMP:
		return renameat2(dirfd, tmp, dirfd, cand, RENAME_NOREPLACE);
	case HOW_RENAME_SRC:
		return renameat2(AT_FDCWD, src, dirfd, cand, RENAME_NOREPLACE);
	case HOW_LINK:
		return linkat(AT_FDCWD, src, dirfd, cand, 0);
	case HOW_SYMLINK:
		return symlinkat(src, dirfd, cand);
	case HOW_NONE:
		return 0;
	}
	return -1;
}

enum out_result
out_place(out_tree *t, const char *dir, const char *name, const char *hash, enum out_how how,
    const char *tmp, const char *src, char *final, size_t finallen, char *err, size_t errlen)
{
	int dirfd = out_dir(t, dir, err, errlen);
	struct out_dir *d = rowmap_get(&t->dirs, dir);
	unsigned i;

	if (dirfd == -1)
		return OUT_FAILED;
	for (i = 0; i < 100000; i++) {
		char *cand = candidate(name, i), *full = xasprintf("%s/%s", dir, cand);
		char **mine = rowmap_get(&t->claimed, full);
		struct stat st;
		int taken;

		if (mine) {   /* given out earlier in this run (matters in a dry run) */
			int same = strcmp(mine[1], hash) == 0;
			if (same)
				snprintf(final, finallen, "%s", full);
			free(cand);
			free(full);
			if (same)
				return OUT_EXISTS;
			continue;
		}
		taken = dirfd >= 0 && fstatat(dirfd, cand, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (taken && same_content(dirfd, cand, hash, how, src)) {
			snprintf(final, finallen, "%s", full);
			free(cand);
			free(full);
			return OUT_EXISTS;
		}
		if (!taken) {
			if (t->dry || create(dirfd, cand, t->dry ? HOW_NONE : how, tmp, src) == 0) {
				char **v = xcalloc(2, sizeof *v);
				v[0] = full;
				v[1] = xstrdup(hash);
				rowmap_put(&t->claimed, full, v);
				snprintf(final, finallen, "%s", full);
				if (d)
					d->dirty = 1;
				free(cand);
				return OUT_PLACED;
			}
			if (errno != EEXIST) {
				snprintf(err, errlen, "%s/%s: %s", t->path, full, strerror(errno));
				free(cand);
				free(full);
				return OUT_FAILED;
			}
			/* someone else created it meanwhile: look at it again */
			i--;
		}
		free(cand);
		free(full);
	}
	snprintf(err, errlen, "%s/%s/%s: too many name collisions", t->path, dir, name);
	return OUT_FAILED;
}
