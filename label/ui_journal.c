/* ui_journal.c — see ui_journal.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strhash.h"
#include "exitcode.h"
#include "ui_journal.h"
#include "xalloc.h"

int ui_journal_open(ui_journal *j, const char *path, char *errbuf, size_t errlen)
{
	int created = 1;
	j->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (j->fd < 0 && errno == EEXIST) {
		created = 0;
		j->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	}
	if (j->fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return CS_EXIT_IO;
	}
	j->path = xstrdup(path);
	if (created) {  /* the new name must survive a crash too: fsync its directory */
		char *dir = xstrdup(path), *slash = strrchr(dir, '/');
		if (slash)
			slash[slash == dir] = '\0';
		int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	return 0;
}

void ui_journal_close(ui_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	free(j->path);
	j->path = NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ui_journal_append_raw(ui_journal *j, const char *lines, size_t len, char *errbuf, size_t errlen)
{
	struct stat st;
	char last = '\n';
	int rc = 0;

	if (flock(j->fd, LOCK_EX) != 0) {
		snprintf(errbuf, errlen, "%s: lock: %s", j->path, strerror(errno));
		return CS_EXIT_IO;
	}
	if (fstat(j->fd, &st) != 0) {
		snprintf(errbuf, errlen, "%s: %s", j->path, strerror(errno));
		rc = CS_EXIT_IO;
		goto out;
	}
	if (st.st_size > 0 && pread(j->fd, &last, 1, st.st_size - 1) != 1)
		last = '\n';
	char *buf = xasprintf("%s%s%.*s", last != '\n' ? "\n" : "", st.st_size == 0 ? UI_JOURNAL_HEADER "\n" : "",
			(int)len, lines);
	if (write_all(j->fd, buf, strlen(buf)) != 0 || fdatasync(j->fd) != 0) {
		snprintf(errbuf, errlen, "%s: %s", j->path, strerror(errno));
		rc = CS_EXIT_IO;
	}
	free(buf);
out:
	flock(j->fd, LOCK_UN);
	return rc;
}

int ui_journal_append(ui_journal *j, const char *time, const char *kind, const char *sub,
		const char *key, const char *cls, const char *labeller, char *errbuf, size_t errlen)
{
	char *line = xasprintf("%s\t%s\t%s\t%s\t%s\t%s\n", time, kind, sub ? sub : "", key, cls, labeller);
	int rc = ui_journal_append_raw(j, line, strlen(line), errbuf, errlen);
	free(line);
	return rc;
}

/* End a locked scan: unlock, close, free; CS_EXIT_IO if reading failed. */
static int scan_done(FILE *fp, char *line, const char *path, char *errbuf, size_t errlen)
{
	int bad = ferror(fp);

	flock(fileno(fp), LOCK_UN);
	fclose(fp);
	free(line);
	if (bad) {
		snprintf(errbuf, errlen, "%s: read error", path);
		return CS_EXIT_IO;
	}
	return 0;
}

/* Split line (no newline) at TABs into at most max fields; returns the count. */
static size_t split_tabs(char *line, char **f, size_t max)
{
	size_t n = 0;
	f[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == '\t') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

int ui_journal_read(const char *path, ui_journal_fn *fn, void *ctx, char *errbuf, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL, *f[7];
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0;

	if (!fp) {
		if (errno == ENOENT)
			return 0;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return CS_EXIT_IO;
	}
	flock(fileno(fp), LOCK_SH);
	while ((len = getline(&line, &cap, fp)) > 0) {
		lineno++;
		if (line[len - 1] != '\n')
			break;          /* torn last line: never acknowledged */
		line[len - 1] = '\0';
		if (lineno == 1 && strcmp(line, UI_JOURNAL_HEADER) == 0)
			continue;
		if (split_tabs(line, f, 7) != 6)
			continue;       /* not ours: ignore */
		fn(ctx, f[0], f[1], f[2], f[3], f[4], f[5]);
	}
	return scan_done(fp, line, path, errbuf, errlen);
}

int ui_labels_scan(const char *path, void (*fn)(void *ctx, const char *time_key), void *ctx,
		char *errbuf, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!fp) {
		if (errno == ENOENT)
			return 0;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return CS_EXIT_IO;
	}
	flock(fileno(fp), LOCK_SH);
	while ((len = getline(&line, &cap, fp)) > 0) {
		if (line[len - 1] != '\n')
			break;
		char *t1 = strchr(line, '\t');
		if (!t1)
			continue;
		char *t2 = strchr(t1 + 1, '\t');
		if (!t2)
			continue;
		*t2 = '\0';
		fn(ctx, line);
	}
	return scan_done(fp, line, path, errbuf, errlen);
}

int ui_strset_has(const ui_strset *s, const char *str)
{
	if (s->cap == 0)
		return 0;
	for (size_t i = (size_t)cs_strhash(str) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (!s->slot[i])
			return 0;
		if (strcmp(s->slot[i], str) == 0)
			return 1;
	}
}

static void strset_put(char **slot, size_t cap, char *str)
{
	size_t i = (size_t)cs_strhash(str) & (cap - 1);
	while (slot[i])
		i = (i + 1) & (cap - 1);
	slot[i] = str;
}

void ui_strset_add(ui_strset *s, const char *str)
{
	if (ui_strset_has(s, str))
		return;
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		char **ns = xcalloc(ncap, sizeof *ns);
		for (size_t i = 0; i < s->cap; i++)
			if (s->slot[i])
				strset_put(ns, ncap, s->slot[i]);
		free(s->slot);
		s->slot = ns;
		s->cap = ncap;
	}
	strset_put(s->slot, s->cap, xstrdup(str));
	s->n++;
}

void ui_strset_release(ui_strset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	s->slot = NULL;
	s->cap = s->n = 0;
}
