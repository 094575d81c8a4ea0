/* test_fsutil.c — atomic publish, lock files, durable appends. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "exitcode.h"
#include "fsutil.h"

static char dir[256];

static char *
p(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
	return buf[i];
}

static char *
slurp(const char *path)
{
	static char buf[1 << 16];
	FILE *fp = fopen(path, "rb");
	size_t n;

	if (fp == NULL)
		return NULL;
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return buf;
}

static int
count_entries(void)
{
	char cmd[600];
	FILE *fp;
	int n = -1;

	snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
	fp = popen(cmd, "r");
	if (fp != NULL && fscanf(fp, "%d", &n) != 1)
		n = -1;
	if (fp != NULL)
		pclose(fp);
	return n;
}

static void
test_atomic(void)
{
	fs_atomic a;
	char err[600];
	struct stat st;
	int fd;

	CHECK(fs_atomic_open(&a, p("out.tsv"), err, sizeof err) == 0, "open: %s", err);
	fputs("one\n", a.fp);
	CHECK(access(p("out.tsv"), F_OK) != 0, "invisible before commit");
	CHECK(fs_atomic_commit(&a, err, sizeof err) == 0, "commit: %s", err);
	CHECK(strcmp(slurp(p("out.tsv")), "one\n") == 0, "content");
	chmod(p("out.tsv"), 0640);
	/* abort keeps the old file */
	CHECK(fs_atomic_open(&a, p("out.tsv"), err, sizeof err) == 0, "open 2");
	fputs("two\n", a.fp);
	fs_atomic_abort(&a);
	CHECK(strcmp(slurp(p("out.tsv")), "one\n") == 0 && count_entries() == 1, "abort: old kept, temp gone");
	/* a write error (disk full) fails the commit and keeps the old file */
	CHECK(fs_atomic_open(&a, p("out.tsv"), err, sizeof err) == 0, "open 3");
	fd = open("/dev/full", O_WRONLY);
	dup2(fd, fileno(a.fp));
	close(fd);
	fputs("three\n", a.fp);
	CHECK(fs_atomic_commit(&a, err, sizeof err) == CS_EXIT_IO, "full disk fails");
	{
		char want[700];

		snprintf(want, sizeof want, "%s: write error: No space left on device", p("out.tsv"));
		CHECK(strcmp(err, want) == 0, "message: %s", err);
	}
	CHECK(strcmp(slurp(p("out.tsv")), "one\n") == 0 && count_entries() == 1, "old kept, temp gone");
	/* the mode of the file being replaced is kept */
	CHECK(fs_atomic_open(&a, p("out.tsv"), err, sizeof err) == 0, "open 4");
	fputs("four\n", a.fp);
	CHECK(fs_atomic_commit(&a, err, sizeof err) == 0, "commit 4");
	CHECK(stat(p("out.tsv"), &st) == 0 && (st.st_mode & 0777) == 0640, "mode kept: %o", st.st_mode & 0777);
	CHECK(fs_atomic_open(&a, p("nodir/x"), err, sizeof err) == CS_EXIT_IO && strstr(err, "nodir/x.tmp."),
	    "unwritable: %s", err);
	CHECK(fs_fsync_dir("relative-name", err, sizeof err) == 0, "fsync_dir of a bare name is cwd");
	/* a device is written, never replaced (/dev/zero: like /dev/null, it takes any write) */
	{
		struct stat before, after;

		CHECK(stat("/dev/zero", &before) == 0 && S_ISCHR(before.st_mode), "/dev/zero is a device");
		CHECK(fs_atomic_open(&a, "/dev/zero", err, sizeof err) == 0, "open /dev/zero: %s", err);
		fputs("x\n", a.fp);
		CHECK(fs_atomic_commit(&a, err, sizeof err) == 0, "commit /dev/zero: %s", err);
		CHECK(stat("/dev/zero", &after) == 0 && S_ISCHR(after.st_mode) && after.st_rdev == before.st_rdev,
		    "/dev/zero is still the device");
		CHECK(fs_atomic_open(&a, "/dev/full", err, sizeof err) == 0, "open /dev/full");
		fputs("x\n", a.fp);
		CHECK(fs_atomic_commit(&a, err, sizeof err) == CS_EXIT_IO &&
		    strcmp(err, "/dev/full: write error: No space left on device") == 0, "/dev/full: %s", err);
		CHECK(fs_atomic_open(&a, dir, err, sizeof err) == CS_EXIT_IO && strstr(err, "Is a directory"),
		    "a directory: %s", err);
	}
}

static void
test_lock(void)
{
	char err[600], want[700];
	int fd, fd2, st, pfd[2];
	pid_t pid;

	CHECK(fs_lock(p("cache.h5"), &fd, err, sizeof err) == 0, "lock: %s", err);
	CHECK(pipe(pfd) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		int rc = fs_lock(p("cache.h5"), &fd2, err, sizeof err);

		if (write(pfd[1], err, strlen(err)) < 0)
			_exit(99);
		_exit(rc);
	}
	close(pfd[1]);
	waitpid(pid, &st, 0);
	memset(err, 0, sizeof err);
	if (read(pfd[0], err, sizeof err - 1) < 0)
		err[0] = '\0';
	close(pfd[0]);
	snprintf(want, sizeof want, "%s is locked by another process (pid %ld)", p("cache.h5"), (long)getpid());
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == CS_EXIT_BUSY, "busy status");
	CHECK(strcmp(err, want) == 0, "busy message: '%s'", err);
	fs_unlock(fd);
	pid = fork();
	if (pid == 0)
		_exit(fs_lock(p("cache.h5"), &fd2, err, sizeof err));
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "free after unlock");
	CHECK(fs_lock(p("nodir/c.h5"), &fd, err, sizeof err) == CS_EXIT_IO, "lock in a missing dir: %s", err);
}

static void
test_append(void)
{
	char err[600], line[256], *s;
	int k, i, st, n = 0, bad = 0;
	pid_t pids[4];

	for (k = 0; k < 4; k++) {
		pids[k] = fork();
		if (pids[k] == 0) {
			for (i = 0; i < 100; i++) {
				int len = snprintf(line, sizeof line, "w%d\t%03d\t%.*s\n", k, i, 10 + (i * 37) % 150,
				    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");

				if (fs_append_durable(p("labels.tsv"), line, (size_t)len, err, sizeof err) != 0)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (k = 0; k < 4; k++) {
		waitpid(pids[k], &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "appender %d", k);
	}
	s = slurp(p("labels.tsv"));
	while (s && *s) {
		char *nl = strchr(s, '\n');
		int kk, ii, len;
		char xs[200];

		if (nl == NULL || sscanf(s, "w%d\t%d\t%199s", &kk, &ii, xs) != 3)
			bad++;
		else if ((len = (int)strlen(xs)) != 10 + (ii * 37) % 150 || (int)(nl - s) != (int)strlen("w0\t000\t") + len)
			bad++;
		n++;
		s = nl ? nl + 1 : NULL;
	}
	CHECK(n == 400 && bad == 0, "400 whole records from 4 writers: %d, %d torn", n, bad);

	/* a short write (file size limit) leaves no torn record */
	{
		pid_t pid;
		int fd = open(p("short.tsv"), O_WRONLY | O_CREAT | O_TRUNC, 0644);

		CHECK(write(fd, "0123456789", 10) == 10, "seed");
		close(fd);
		pid = fork();
		if (pid == 0) {
			struct rlimit rl = { 15, 15 };

			signal(SIGXFSZ, SIG_IGN);
			setrlimit(RLIMIT_FSIZE, &rl);
			_exit(fs_append_durable(p("short.tsv"), "abcdefghij", 10, err, sizeof err));
		}
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == CS_EXIT_IO, "short write fails with CS_EXIT_IO");
		CHECK(strcmp(slurp(p("short.tsv")), "0123456789") == 0, "partial record truncated away: %s",
		    slurp(p("short.tsv")));
	}
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char cmd[600];

	snprintf(dir, sizeof dir, "%s/test_fsutil.XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(dir) == NULL)
		return 1;
	test_atomic();
	test_lock();
	test_append();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return check_done();
}
