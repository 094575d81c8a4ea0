/* labels.c — the labels log (see labels.h for the contract). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "errbuf.h"
#include "exitcode.h"
#include "labels.h"
#include "sbuf.h"
#include "strhash.h"
#include "tsv.h"
#include "xalloc.h"

#define LOCK_TIMEOUT_MS_DEFAULT 30000
#define KEY_MAX 256

struct lrec {
	char *buf;              /* all fields, NUL-separated; owned */
	const char *key, *path, *cls, *labeller, *time;
	unsigned long lineno, nlabels;
};

struct labels {
	struct lrec *recs;
	size_t nrecs, reccap;
	size_t *slots;          /* open addressing: rec index + 1, 0 = empty */
	size_t nslots;
	labels_entry *view;
	size_t nview;
	char *path;
	dev_t dev;
	ino_t ino;
	off_t consumed;         /* bytes parsed (up to the last complete line) */
	off_t size;             /* file size at the last read */
	struct timespec mtime;
	unsigned long lineno;   /* last complete line parsed (1 = header) */
	unsigned long nlines, nbad;
	int torn;               /* the file ends in a line without newline */
	off_t torn_warned;      /* offset of the torn line last warned about, + 1 */
	int loaded;
	labels_warn_fn *warn;
	void *warn_ctx;
};

static void
default_warn(void *ctx, const char *msg)
{
	(void)ctx;
	cs_warn("%s", msg);
}

static void
lwarn(labels *l, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (l->warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	l->warn(l->warn_ctx, msg);
}

/* ---- validation ------------------------------------------------------- */

int
labels_valid_class(const char *cls, int allow_retract)
{
	size_t i;

	if (cls == NULL)
		return 0;
	if (strcmp(cls, LABELS_RETRACT) == 0)
		return allow_retract;
	if (!((cls[0] >= 'a' && cls[0] <= 'z') || (cls[0] >= '0' && cls[0] <= '9')))
		return 0;
	for (i = 1; cls[i] != '\0'; i++) {
		char c = cls[i];
		if (i >= LABELS_CLASS_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int
labels_valid_key(const char *key)
{
	size_t i;

	if (key == NULL || key[0] == '\0')
		return 0;
	for (i = 0; key[i] != '\0'; i++) {
		unsigned char c = (unsigned char)key[i];
		if (i >= KEY_MAX || c <= ' ' || c == 0x7f)
			return 0;
	}
	return 1;
}

static int
digits(const char *s, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int
labels_valid_time(const char *t)
{
	const char *p;

	if (t == NULL || strlen(t) < 20)
		return 0;
	if (!digits(t, 4) || t[4] != '-' || !digits(t + 5, 2) || t[7] != '-' || !digits(t + 8, 2) ||
	    t[10] != 'T' || !digits(t + 11, 2) || t[13] != ':' || !digits(t + 14, 2) || t[16] != ':' ||
	    !digits(t + 17, 2))
		return 0;
	p = t + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p[0] == 'Z' && p[1] == '\0';
}

void
labels_now(char buf[LABELS_TIME_MAX])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, LABELS_TIME_MAX - 10, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 10, ".%06dZ", (int)(ts.tv_nsec / 1000) % 1000000);
}

/* ---- locking ---------------------------------------------------------- */

static long
lock_timeout_ms(void)
{
	const char *s = getenv("CLIPSORT_LOCK_TIMEOUT");
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return LOCK_TIMEOUT_MS_DEFAULT;
	v = strtod(s, &end);
	if (*end != '\0' || !(v >= 0) || v > 86400)
		return LOCK_TIMEOUT_MS_DEFAULT;
	return (long)(v * 1000);
}

/* flock with a timeout (CLIPSORT_LOCK_TIMEOUT seconds, default 30).
 * 0 locked, CS_EXIT_BUSY timed out, CS_EXIT_IO other error. */
static int
lock_fd(int fd, int op)
{
	long waited = 0, limit = lock_timeout_ms(), step = 1, ms;
	unsigned long seed = (unsigned long)getpid() * 2654435761UL;
	struct timespec ts;

	for (;;) {
		if (flock(fd, op | LOCK_NB) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return CS_EXIT_IO;
		if (waited >= limit)
			return CS_EXIT_BUSY;
		/* jittered backoff, 1..16 ms, so many writers take turns */
		seed = seed * 1103515245UL + 12345UL;
		ms = step + (long)((seed >> 16) % (unsigned long)step);
		ts.tv_sec = 0;
		ts.tv_nsec = ms * 1000000L;
		nanosleep(&ts, NULL);
		waited += ms;
		if (step < 16)
			step *= 2;
	}
}

/* ---- appending -------------------------------------------------------- */

static void
sb_field(cs_sbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\t': cs_sbuf_add(b, "\\t", 2); break;
		case '\n': cs_sbuf_add(b, "\\n", 2); break;
		case '\r': cs_sbuf_add(b, "\\r", 2); break;
		case '\\': cs_sbuf_add(b, "\\\\", 2); break;
		default:   cs_sbuf_add(b, s, 1); break;
		}
	}
}

static int
check_rec(const labels_rec *r, size_t i, char *errbuf, size_t errlen)
{
	if (!labels_valid_key(r->key)) {
		cs_errbuf(errbuf, errlen, "record %zu: invalid key '%s'", i + 1, r->key ? r->key : "");
		return CS_EXIT_DATA;
	}
	if (!labels_valid_class(r->cls, 1)) {
		cs_errbuf(errbuf, errlen, "record %zu: invalid class name '%s' (want [a-z0-9][a-z0-9_-]{0,63}, or '%s' to retract)",
		       i + 1, r->cls ? r->cls : "", LABELS_RETRACT);
		return CS_EXIT_DATA;
	}
	if (r->labeller == NULL || r->labeller[0] == '\0') {
		cs_errbuf(errbuf, errlen, "record %zu: empty labeller", i + 1);
		return CS_EXIT_DATA;
	}
	if (r->time != NULL && !labels_valid_time(r->time)) {
		cs_errbuf(errbuf, errlen, "record %zu: invalid time '%s' (want YYYY-MM-DDTHH:MM:SS[.frac]Z)", i + 1, r->time);
		return CS_EXIT_DATA;
	}
	return 0;
}

static int
write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
fsync_dir_of(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int fd;

	if (slash == NULL) {
		free(dir);
		dir = xstrdup(".");
	} else if (slash == dir) {
		slash[1] = '\0';
	} else {
		*slash = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

int
labels_append(const char *path, const labels_rec *recs, size_t n, char *errbuf, size_t errlen)
{
	cs_sbuf b = { NULL, 0, 0 };
	char now[LABELS_TIME_MAX], last;
	struct stat st;
	int fd, rc, created = 0, saved;
	size_t i;

	for (i = 0; i < n; i++)
		if ((rc = check_rec(&recs[i], i, errbuf, errlen)) != 0)
			return rc;
	if (n == 0)
		return 0;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0)
		created = 1;
	else if (errno == EEXIST)
		fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		cs_errbuf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return CS_EXIT_IO;
	}
	if ((rc = lock_fd(fd, LOCK_EX)) != 0) {
		cs_errbuf(errbuf, errlen, rc == CS_EXIT_BUSY ? "%s: locked by another process (timed out)" : "%s: cannot lock: %s",
		       path, strerror(errno));
		close(fd);
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		cs_errbuf(errbuf, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return CS_EXIT_IO;
	}
	if (st.st_size == 0) {
		cs_sbuf_add(&b, LABELS_HEADER "\n", strlen(LABELS_HEADER) + 1);
	} else {
		/* a torn last line (writer killed, disk full) stays its own line */
		ssize_t got;
		int rfd = open(path, O_RDONLY | O_CLOEXEC);
		last = '\n';
		if (rfd >= 0) {
			got = pread(rfd, &last, 1, st.st_size - 1);
			if (got != 1)
				last = '\n';
			close(rfd);
		}
		if (last != '\n')
			cs_sbuf_add(&b, "\n", 1);
	}
	labels_now(now);
	for (i = 0; i < n; i++) {
		cs_sbuf_add(&b, recs[i].time ? recs[i].time : now, strlen(recs[i].time ? recs[i].time : now));
		cs_sbuf_add(&b, "\t", 1);
		sb_field(&b, recs[i].key);
		cs_sbuf_add(&b, "\t", 1);
		sb_field(&b, recs[i].path ? recs[i].path : "");
		cs_sbuf_add(&b, "\t", 1);
		sb_field(&b, recs[i].cls);
		cs_sbuf_add(&b, "\t", 1);
		sb_field(&b, recs[i].labeller);
		cs_sbuf_add(&b, "\n", 1);
	}
	rc = 0;
	if (write_all(fd, b.s, b.len) != 0) {
		saved = errno;
		/* never leave half a record: cut back to where we started */
		if (ftruncate(fd, st.st_size) != 0) {
			/* nothing more to do; the reader reports the torn line */
		}
		cs_errbuf(errbuf, errlen, "%s: write: %s", path, strerror(saved));
		rc = CS_EXIT_IO;
	} else if (fsync(fd) != 0) {
		cs_errbuf(errbuf, errlen, "%s: fsync: %s", path, strerror(errno));
		rc = CS_EXIT_IO;
	}
	if (close(fd) != 0 && rc == 0) {
		cs_errbuf(errbuf, errlen, "%s: close: %s", path, strerror(errno));
		rc = CS_EXIT_IO;
	}
	if (created && rc == 0)
		fsync_dir_of(path);
	free(b.s);
	return rc;
}

/* ---- the view --------------------------------------------------------- */

labels *
labels_new(void)
{
	labels *l = xcalloc(1, sizeof *l);

	l->warn = default_warn;
	return l;
}

static void
clear(labels *l)
{
	size_t i;

	for (i = 0; i < l->nrecs; i++)
		free(l->recs[i].buf);
	free(l->recs);
	free(l->slots);
	free(l->view);
	l->recs = NULL;
	l->nrecs = l->reccap = 0;
	l->slots = NULL;
	l->nslots = 0;
	l->view = NULL;
	l->nview = 0;
	l->consumed = 0;
	l->size = 0;
	l->lineno = 0;
	l->nlines = l->nbad = 0;
	l->torn = 0;
	l->loaded = 0;
}

void
labels_free(labels *l)
{
	if (l == NULL)
		return;
	clear(l);
	free(l->path);
	free(l);
}

void
labels_set_warn(labels *l, labels_warn_fn *fn, void *ctx)
{
	l->warn = fn;
	l->warn_ctx = ctx;
}

/* slot for key: either holding it or the empty one where it goes */
static size_t
find_slot(const labels *l, const char *key)
{
	size_t mask = l->nslots - 1, i = (size_t)cs_strhash(key) & mask;

	while (l->slots[i] != 0 && strcmp(l->recs[l->slots[i] - 1].key, key) != 0)
		i = (i + 1) & mask;
	return i;
}

static void
rehash(labels *l)
{
	size_t i, n = l->nslots ? l->nslots * 2 : 64;

	free(l->slots);
	l->slots = xcalloc(n, sizeof *l->slots);
	l->nslots = n;
	for (i = 0; i < l->nrecs; i++)
		l->slots[find_slot(l, l->recs[i].key)] = i + 1;
}

/* Parse one complete line (no newline; a trailing CR is dropped). */
static void
parse_line(labels *l, char *line, size_t len, unsigned long lineno)
{
	char *f[5], *p = line, *buf;
	size_t nf = 0, i, slot;
	struct lrec *r;

	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	l->nlines++;
	if (memchr(line, '\0', len) != NULL) {
		lwarn(l, "%s:%lu: NUL byte in record", l->path, lineno);
		l->nbad++;
		return;
	}
	f[nf++] = p;
	for (; *p; p++) {
		if (*p == '\t') {
			*p = '\0';
			if (nf == 5) {
				nf = 6;
				break;
			}
			f[nf++] = p + 1;
		}
	}
	if (nf != 5) {
		lwarn(l, "%s:%lu: %s fields, expected 5 (time, key, path, class, labeller)", l->path, lineno,
		      nf > 5 ? "more than 5" : nf == 1 ? "1" : nf == 2 ? "2" : nf == 3 ? "3" : "4");
		l->nbad++;
		return;
	}
	for (i = 0; i < 5; i++) {
		if (tsv_unescape(f[i]) != 0) {
			lwarn(l, "%s:%lu: bad escape in field %zu", l->path, lineno, i + 1);
			l->nbad++;
			return;
		}
	}
	if (!labels_valid_time(f[0])) {
		lwarn(l, "%s:%lu: bad time '%s' (want YYYY-MM-DDTHH:MM:SS[.frac]Z)", l->path, lineno, f[0]);
		l->nbad++;
		return;
	}
	if (!labels_valid_key(f[1])) {
		lwarn(l, "%s:%lu: bad key '%s'", l->path, lineno, f[1]);
		l->nbad++;
		return;
	}
	if (!labels_valid_class(f[3], 1)) {
		lwarn(l, "%s:%lu: bad class name '%s'", l->path, lineno, f[3]);
		l->nbad++;
		return;
	}
	if (f[4][0] == '\0') {
		lwarn(l, "%s:%lu: empty labeller", l->path, lineno);
		l->nbad++;
		return;
	}

	if (l->nslots == 0 || (l->nrecs + 1) * 2 > l->nslots)
		rehash(l);
	slot = find_slot(l, f[1]);
	if (l->slots[slot] == 0) {
		xgrow(&l->recs, &l->reccap, l->nrecs + 1, sizeof *l->recs);
		r = &l->recs[l->nrecs++];
		memset(r, 0, sizeof *r);
		l->slots[slot] = l->nrecs;
	} else {
		r = &l->recs[l->slots[slot] - 1];
		free(r->buf);
	}
	{
		size_t n0 = strlen(f[0]) + 1, n1 = strlen(f[1]) + 1, n2 = strlen(f[2]) + 1,
		       n3 = strlen(f[3]) + 1, n4 = strlen(f[4]) + 1;
		buf = xmalloc(n0 + n1 + n2 + n3 + n4);
		memcpy(buf, f[0], n0);
		memcpy(buf + n0, f[1], n1);
		memcpy(buf + n0 + n1, f[2], n2);
		memcpy(buf + n0 + n1 + n2, f[3], n3);
		memcpy(buf + n0 + n1 + n2 + n3, f[4], n4);
		r->buf = buf;
		r->time = buf;
		r->key = buf + n0;
		r->path = buf + n0 + n1;
		r->cls = buf + n0 + n1 + n2;
		r->labeller = buf + n0 + n1 + n2 + n3;
	}
	r->lineno = lineno;
	r->nlabels++;
}

static int
cmp_line(const void *a, const void *b)
{
	const labels_entry *x = a, *y = b;

	return x->lineno < y->lineno ? -1 : x->lineno > y->lineno;
}

static void
build_view(labels *l)
{
	size_t i, n = 0;

	free(l->view);
	l->view = xcalloc(l->nrecs ? l->nrecs : 1, sizeof *l->view);
	for (i = 0; i < l->nrecs; i++) {
		const struct lrec *r = &l->recs[i];
		labels_entry *e;
		if (strcmp(r->cls, LABELS_RETRACT) == 0)
			continue;
		e = &l->view[n++];
		e->key = r->key;
		e->path = r->path;
		e->cls = r->cls;
		e->labeller = r->labeller;
		e->time = r->time;
		e->lineno = r->lineno;
		e->nlabels = r->nlabels;
	}
	l->nview = n;
	qsort(l->view, n, sizeof *l->view, cmp_line);
}

/* Parse buf[0..len) which starts at file offset l->consumed.  Complete lines
 * only; a final line without newline is reported as torn and left unconsumed. */
static int
parse_chunk(labels *l, char *buf, size_t len, int at_eof, char *errbuf, size_t errlen)
{
	size_t pos = 0;

	l->torn = 0;
	while (pos < len) {
		char *nl = memchr(buf + pos, '\n', len - pos);
		size_t linelen;
		if (nl == NULL) {
			if (at_eof) {
				l->torn = 1;
				if (l->torn_warned != l->consumed + 1)
					lwarn(l, "%s:%lu: incomplete last line (no newline; torn write?) ignored", l->path,
					      l->lineno + 1);
				l->torn_warned = l->consumed + 1;
			}
			break;
		}
		linelen = (size_t)(nl - (buf + pos));
		*nl = '\0';
		l->lineno++;
		if (l->lineno == 1) {
			char *h = buf + pos;
			size_t hl = linelen;
			if (hl >= 3 && memcmp(h, "\xef\xbb\xbf", 3) == 0) {
				h += 3;
				hl -= 3;
			}
			if (hl > 0 && h[hl - 1] == '\r')
				h[--hl] = '\0';
			if (strcmp(h, LABELS_HEADER) != 0) {
				cs_errbuf(errbuf, errlen, "%s:1: not a labels log: header must be '%s'", l->path,
				       "time<TAB>key<TAB>path<TAB>class<TAB>labeller");
				return CS_EXIT_DATA;
			}
		} else {
			parse_line(l, buf + pos, linelen, l->lineno);
		}
		pos += linelen + 1;
		l->consumed += (off_t)(linelen + 1);
	}
	return 0;
}

/* Read from l->consumed to EOF under LOCK_SH and parse. */
static int
read_tail(labels *l, int fd, char *errbuf, size_t errlen)
{
	struct stat st;
	char *buf;
	size_t len, got = 0;
	int rc;

	if ((rc = lock_fd(fd, LOCK_SH)) != 0) {
		cs_errbuf(errbuf, errlen, rc == CS_EXIT_BUSY ? "%s: locked by another process (timed out)" : "%s: cannot lock: %s",
		       l->path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		cs_errbuf(errbuf, errlen, "%s: %s", l->path, strerror(errno));
		return CS_EXIT_IO;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	l->size = st.st_size;
	l->mtime = st.st_mtim;
	if (st.st_size <= l->consumed)
		return 0;
	len = (size_t)(st.st_size - l->consumed);
	buf = xmalloc(len + 1);
	while (got < len) {
		ssize_t r = pread(fd, buf + got, len - got, l->consumed + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cs_errbuf(errbuf, errlen, "%s: read: %s", l->path, strerror(errno));
			free(buf);
			return CS_EXIT_IO;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	(void)flock(fd, LOCK_UN);
	buf[got] = '\0';
	rc = parse_chunk(l, buf, got, 1, errbuf, errlen);
	free(buf);
	return rc;
}

int
labels_load(labels *l, const char *path, char *errbuf, size_t errlen)
{
	int fd, rc;

	clear(l);
	if (path != l->path) {
		free(l->path);
		l->path = xstrdup(path);
	}
	fd = open(l->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			l->loaded = 1;
			l->dev = 0;
			l->ino = 0;
			build_view(l);
			return 0;
		}
		cs_errbuf(errbuf, errlen, "%s: %s", l->path, strerror(errno));
		return CS_EXIT_IO;
	}
	rc = read_tail(l, fd, errbuf, errlen);
	close(fd);
	if (rc == 0)
		l->loaded = 1;
	build_view(l);
	return rc;
}

int
labels_refresh(labels *l, int *changed, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd, rc;

	*changed = 0;
	if (l->path == NULL) {
		cs_errbuf(errbuf, errlen, "labels_refresh before labels_load");
		return CS_EXIT_INTERNAL;
	}
	if (!l->loaded) {
		*changed = 1;
		return labels_load(l, l->path, errbuf, errlen);
	}
	if (stat(l->path, &st) != 0) {
		if (errno != ENOENT) {
			cs_errbuf(errbuf, errlen, "%s: %s", l->path, strerror(errno));
			return CS_EXIT_IO;
		}
		if (l->ino == 0)
			return 0;       /* still no file */
		*changed = 1;
		return labels_load(l, l->path, errbuf, errlen);
	}
	if (st.st_dev == l->dev && st.st_ino == l->ino && st.st_size == l->size &&
	    st.st_mtim.tv_sec == l->mtime.tv_sec && st.st_mtim.tv_nsec == l->mtime.tv_nsec)
		return 0;
	if (st.st_dev != l->dev || st.st_ino != l->ino || st.st_size <= l->size) {
		/* replaced, truncated or rewritten in place: the log is append-only, so start over */
		*changed = 1;
		return labels_load(l, l->path, errbuf, errlen);
	}
	fd = open(l->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cs_errbuf(errbuf, errlen, "%s: %s", l->path, strerror(errno));
		return CS_EXIT_IO;
	}
	rc = read_tail(l, fd, errbuf, errlen);
	close(fd);
	if (rc == 0 && (l->dev != st.st_dev || l->ino != st.st_ino)) {
		*changed = 1;
		return labels_load(l, l->path, errbuf, errlen);
	}
	build_view(l);
	*changed = 1;
	return rc;
}

size_t
labels_count(const labels *l)
{
	return l->nview;
}

const labels_entry *
labels_at(const labels *l, size_t i)
{
	return i < l->nview ? &l->view[i] : NULL;
}

const labels_entry *
labels_get(const labels *l, const char *key)
{
	size_t s;
	const struct lrec *r;

	if (l->nslots == 0 || key == NULL)
		return NULL;
	s = find_slot(l, key);
	if (l->slots[s] == 0)
		return NULL;
	r = &l->recs[l->slots[s] - 1];
	if (strcmp(r->cls, LABELS_RETRACT) == 0)
		return NULL;
	/* the view entry of this record: binary search by line */
	{
		size_t lo = 0, hi = l->nview;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (l->view[mid].lineno < r->lineno)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo < l->nview && l->view[lo].lineno == r->lineno ? &l->view[lo] : NULL;
	}
}

unsigned long
labels_nlines(const labels *l)
{
	return l->nlines;
}

unsigned long
labels_nbad(const labels *l)
{
	return l->nbad + (unsigned long)l->torn;
}
