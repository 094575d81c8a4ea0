/* failio.c — an LD_PRELOAD shim that makes output fail, to test that every tool
 * reports a full disk or an I/O error (exit 4) and leaves no damaged output.
 *
 *   FAILIO_AFTER=N     let N bytes through, then fail every write (default: no
 *                      write fails)
 *   FAILIO_ERRNO=E     ENOSPC (default), EIO or EDQUOT
 *   FAILIO_MATCH=GLOB  only descriptors whose path (/proc/self/fd) matches the
 *                      fnmatch(3) pattern; default: every regular file
 *   FAILIO_FSYNC=1     fsync/fdatasync fail too (on matching descriptors)
 *
 * Intercepted: write, pwrite, pwrite64, writev, fwrite, fsync, fdatasync, fclose
 * (fclose fails after a failed fwrite on that stream, as a real flush would).
 * Writes to standard error and to non-regular files always pass. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long budget = -1;   /* bytes still allowed; -1 = not read yet */
static int fail_errno = ENOSPC;
static const char *match;
static int fail_fsync;
static FILE *failed_fp[64];

static void
init(void)
{
	const char *s;

	if (budget >= 0)
		return;
	s = getenv("FAILIO_AFTER");
	budget = s ? atoll(s) : (1LL << 62);
	s = getenv("FAILIO_ERRNO");
	if (s && strcmp(s, "EIO") == 0)
		fail_errno = EIO;
	else if (s && strcmp(s, "EDQUOT") == 0)
		fail_errno = EDQUOT;
	match = getenv("FAILIO_MATCH");
	s = getenv("FAILIO_FSYNC");
	fail_fsync = s && *s == '1';
}

static int
targeted(int fd)
{
	char link[64], path[4096];
	struct stat st;
	ssize_t n;

	if (fd == STDERR_FILENO || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	if (match == NULL)
		return 1;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof path - 1);
	if (n < 0)
		return 0;
	path[n] = '\0';
	return fnmatch(match, path, 0) == 0;
}

/* How many of n bytes may go through (0 = fail now). */
static size_t
allow(int fd, size_t n)
{
	init();
	if (!targeted(fd))
		return n;
	if ((long long)n <= budget) {
		budget -= (long long)n;
		return n;
	}
	n = (size_t)budget;
	budget = 0;
	return n;
}

#define REAL(ret, name, args) \
	static ret (*real_##name) args; \
	if (real_##name == NULL) \
		*(void **)&real_##name = dlsym(RTLD_NEXT, #name)

ssize_t
write(int fd, const void *buf, size_t n)
{
	REAL(ssize_t, write, (int, const void *, size_t));
	size_t ok = allow(fd, n);

	if (ok == 0 && n > 0) {
		errno = fail_errno;
		return -1;
	}
	return real_write(fd, buf, ok);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite, (int, const void *, size_t, off_t));
	size_t ok = allow(fd, n);

	if (ok == 0 && n > 0) {
		errno = fail_errno;
		return -1;
	}
	return real_pwrite(fd, buf, ok, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	REAL(ssize_t, writev, (int, const struct iovec *, int));
	size_t total = 0;
	int i;

	for (i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	if (allow(fd, total) < total) {
		errno = fail_errno;
		return -1;
	}
	return real_writev(fd, iov, cnt);
}

size_t
fwrite(const void *buf, size_t size, size_t nmemb, FILE *fp)
{
	REAL(size_t, fwrite, (const void *, size_t, size_t, FILE *));
	size_t n = size * nmemb, ok;
	int i;

	if (n == 0)
		return 0;
	ok = allow(fileno(fp), n);
	if (ok < n) {
		for (i = 0; i < 64; i++)
			if (failed_fp[i] == NULL || failed_fp[i] == fp) {
				failed_fp[i] = fp;
				break;
			}
		real_fwrite(buf, 1, ok, fp);
		errno = fail_errno;
		return ok / size;
	}
	return real_fwrite(buf, size, nmemb, fp);
}

int
fclose(FILE *fp)
{
	REAL(int, fclose, (FILE *));
	int i, failed = 0, rc;

	for (i = 0; i < 64; i++)
		if (failed_fp[i] == fp) {
			failed_fp[i] = NULL;
			failed = 1;
		}
	rc = real_fclose(fp);
	if (failed) {
		errno = fail_errno;
		return EOF;
	}
	return rc;
}

int
fsync(int fd)
{
	REAL(int, fsync, (int));

	init();
	if (fail_fsync && targeted(fd)) {
		errno = EIO;
		return -1;
	}
	return real_fsync(fd);
}

int
fdatasync(int fd)
{
	REAL(int, fdatasync, (int));

	init();
	if (fail_fsync && targeted(fd)) {
		errno = EIO;
		return -1;
	}
	return real_fdatasync(fd);
}
