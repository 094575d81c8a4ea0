/* fsutil.c — atomic publish, lock files, durable appends (fsutil.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcode.h"
#include "fsutil.h"
#include "xalloc.h"

static int
fail(char *err, size_t errlen, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Formats "fmt: strerror(errno)" into err and returns status, errno preserved. */
static int
fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	int n;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		n = vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < errlen && e != 0)
			snprintf(err + n, errlen - (size_t)n, ": %s", strerror(e));
	}
	errno = e;
	return status;
}

char *
fs_tmpname(const char *path)
{
	return xasprintf("%s.tmp.%ld", path, (long)getpid());
}

int
fs_fsync_path(const char *path, char *err, size_t errlen)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, CS_EXIT_IO, "%s", path);
	rc = fsync(fd);
	if (rc != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return fail(err, errlen, CS_EXIT_IO, "%s: fsync", path);
	}
	close(fd);
	return 0;
}

int
fs_fsync_dir(const char *path, char *err, size_t errlen)
{
	char *dir = xstrdup(path), *slash;
	int fd, rc = 0;

	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = fail(err, errlen, CS_EXIT_IO, "%s", dir);
	} else {
		/* some file systems cannot fsync a directory; that is not our failure */
		if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
			rc = fail(err, errlen, CS_EXIT_IO, "%s: fsync", dir);
		close(fd);
	}
	free(dir);
	return rc;
}

int
fs_publish(const char *tmp, const char *path, char *err, size_t errlen)
{
	int rc;

	if ((rc = fs_fsync_path(tmp, err, errlen)) != 0)
		return rc;
	if (rename(tmp, path) != 0)
		return fail(err, errlen, CS_EXIT_IO, "%s: cannot rename %s over it", path, tmp);
	return fs_fsync_dir(path, err, errlen);
}

int
fs_atomic_open(fs_atomic *a, const char *path, char *err, size_t errlen)
{
	struct stat st;
	mode_t mode = 0666;
	int fd;

	memset(a, 0, sizeof *a);
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		/* a device, FIFO or terminal (-o /dev/null, -o /dev/stdout): write to it
		 * directly; renaming over it would replace the device with a file */
		if (S_ISDIR(st.st_mode)) {
			errno = EISDIR;
			return fail(err, errlen, CS_EXIT_IO, "%s", path);
		}
		a->fp = fopen(path, "w");
		if (a->fp == NULL)
			return fail(err, errlen, CS_EXIT_IO, "%s", path);
		a->path = xstrdup(path);
		a->tmp = NULL;
		return 0;
	}
	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	a->path = xstrdup(path);
	a->tmp = fs_tmpname(path);
	fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		int rc = fail(err, errlen, CS_EXIT_IO, "%s", a->tmp);

		free(a->path);
		free(a->tmp);
		memset(a, 0, sizeof *a);
		return rc;
	}
	if (fchmod(fd, mode) != 0) {
		/* only matters when PATH existed with a mode the umask would change */
	}
	a->fp = fdopen(fd, "w");
	if (a->fp == NULL) {
		int rc = fail(err, errlen, CS_EXIT_IO, "%s", a->tmp);

		close(fd);
		unlink(a->tmp);
		free(a->path);
		free(a->tmp);
		memset(a, 0, sizeof *a);
		return rc;
	}
	return 0;
}

int
fs_atomic_commit(fs_atomic *a, char *err, size_t errlen)
{
	int rc = 0;

	errno = 0;
	if (a->tmp == NULL) {           /* not a regular file: no temp, no rename */
		if (fflush(a->fp) != 0 || ferror(a->fp)) {
			if (errno == 0)
				errno = EIO;
			rc = fail(err, errlen, CS_EXIT_IO, "%s: write error", a->path);
			fclose(a->fp);
		} else if (fclose(a->fp) != 0) {
			rc = fail(err, errlen, CS_EXIT_IO, "%s: write error", a->path);
		}
		free(a->path);
		memset(a, 0, sizeof *a);
		return rc;
	}
	if (fflush(a->fp) != 0 || ferror(a->fp)) {
		if (errno == 0)
			errno = EIO;
		rc = fail(err, errlen, CS_EXIT_IO, "%s: write error", a->path);
		fclose(a->fp);
	} else if (fsync(fileno(a->fp)) != 0) {
		rc = fail(err, errlen, CS_EXIT_IO, "%s: fsync", a->path);
		fclose(a->fp);
	} else if (fclose(a->fp) != 0) {
		rc = fail(err, errlen, CS_EXIT_IO, "%s: write error", a->path);
	} else if (rename(a->tmp, a->path) != 0) {
		rc = fail(err, errlen, CS_EXIT_IO, "%s: cannot rename %s over it", a->path, a->tmp);
	} else {
		rc = fs_fsync_dir(a->path, err, errlen);
		free(a->tmp);
		a->tmp = NULL;
	}
	if (a->tmp != NULL) {
		int e = errno;

		unlink(a->tmp);
		errno = e;
	}
	free(a->tmp);
	free(a->path);
	memset(a, 0, sizeof *a);
	return rc;
}

void
fs_atomic_abort(fs_atomic *a)
{
	if (a == NULL || a->path == NULL)
		return;
	if (a->fp != NULL)
		fclose(a->fp);
	if (a->tmp != NULL)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	memset(a, 0, sizeof *a);
}

int
fs_lock(const char *path, int *fd, char *err, size_t errlen)
{
	char *lock = xasprintf("%s.lock", path);
	char buf[32];
	int l, rc = 0;

	*fd = -1;
	l = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (l < 0) {
		rc = fail(err, errlen, CS_EXIT_IO, "%s", lock);
		free(lock);
		return rc;
	}
	if (flock(l, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			ssize_t n = pread(l, buf, sizeof buf - 1, 0);
			long pid = 0;

			if (n > 0) {
				buf[n] = '\0';
				pid = strtol(buf, NULL, 10);
			}
			errno = 0;
			if (pid > 0)
				rc = fail(err, errlen, CS_EXIT_BUSY,
				    "%s is locked by another process (pid %ld)", path, pid);
			else
				rc = fail(err, errlen, CS_EXIT_BUSY, "%s is locked by another process", path);
			errno = EWOULDBLOCK;
		} else {
			rc = fail(err, errlen, CS_EXIT_IO, "%s: flock", lock);
		}
		close(l);
		free(lock);
		return rc;
	}
	/* informational: the holder's pid, for the message above */
	if (ftruncate(l, 0) == 0) {
		int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());

		if (pwrite(l, buf, (size_t)n, 0) != n) {
			/* the lock holds without the pid */
		}
	}
	free(lock);
	*fd = l;
	return 0;
}

void
fs_unlock(int fd)
{
	if (fd < 0)
		return;
	/* clear our pid while we still hold the lock, so it never names a past holder */
	if (ftruncate(fd, 0) != 0) {
		/* informational content only */
	}
	close(fd);
}

int
fs_append_durable(const char *path, const void *buf, size_t len, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return fail(err, errlen, CS_EXIT_IO, "%s", path);
	if (flock(fd, LOCK_EX) != 0) {
		rc = fail(err, errlen, CS_EXIT_IO, "%s: flock", path);
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = fail(err, errlen, CS_EXIT_IO, "%s", path);
		goto out;
	}
	n = write(fd, buf, len);
	if (n < 0 || (size_t)n != len) {
		if (n >= 0)
			errno = ENOSPC;
		rc = fail(err, errlen, CS_EXIT_IO, "%s: write error", path);
		if (n > 0 && ftruncate(fd, st.st_size) != 0) {
			/* best effort: the torn tail stays; readers must cope */
		}
		goto out;
	}
	if (fsync(fd) != 0)
		rc = fail(err, errlen, CS_EXIT_IO, "%s: fsync", path);
out:
	if (close(fd) != 0 && rc == 0)
		rc = fail(err, errlen, CS_EXIT_IO, "%s: close", path);
	return rc;
}
