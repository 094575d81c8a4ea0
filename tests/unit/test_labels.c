/* test_labels.c — the labels log API (common/labels.h). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "exitcode.h"
#include "labels.h"

static char dir[256];
static char warnings[8192];
static int nwarn;

static void
collect(void *ctx, const char *msg)
{
	(void)ctx;
	nwarn++;
	strncat(warnings, msg, sizeof warnings - strlen(warnings) - 2);
	strcat(warnings, "\n");
}

static char *
tpath(const char *name)
{
	static char buf[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

static void
put(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	fputs(text, fp);
	fclose(fp);
}

static char *
slurp(const char *path)
{
	static char buf[65536];
	FILE *fp = fopen(path, "r");
	size_t n;

	buf[0] = '\0';
	if (fp == NULL)
		return buf;
	n = fread(buf, 1, sizeof buf - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static labels *
load(const char *path, int *rc)
{
	labels *l = labels_new();
	char err[512];

	warnings[0] = '\0';
	nwarn = 0;
	labels_set_warn(l, collect, NULL);
	*rc = labels_load(l, path, err, sizeof err);
	return l;
}

static void
test_validators(void)
{
	char now[LABELS_TIME_MAX];

	CHECK(labels_valid_class("packaged", 0), "plain class");
	CHECK(labels_valid_class("a_b-9", 0), "class with _ and -");
	CHECK(!labels_valid_class("Packaged", 0), "upper case refused");
	CHECK(!labels_valid_class("_x", 0), "leading _ refused");
	CHECK(!labels_valid_class("", 0), "empty refused");
	CHECK(!labels_valid_class("a b", 0), "space refused");
	CHECK(!labels_valid_class("-", 0), "retract refused when not allowed");
	CHECK(labels_valid_class("-", 1), "retract allowed");
	{
		char c[70];
		memset(c, 'a', 64);
		c[64] = '\0';
		CHECK(labels_valid_class(c, 0), "64 chars accepted");
		c[64] = 'b';
		c[65] = '\0';
		CHECK(!labels_valid_class(c, 0), "65 chars refused");
	}
	CHECK(labels_valid_key("ab12"), "key");
	CHECK(!labels_valid_key("a b"), "key with space");
	CHECK(!labels_valid_key(""), "empty key");
	CHECK(labels_valid_time("2026-12-04T21:05:33.123456Z"), "time with fraction");
	CHECK(labels_valid_time("2026-12-04T21:05:33Z"), "time without fraction");
	CHECK(!labels_valid_time("2026-12-04 21:05:33Z"), "space instead of T");
	CHECK(!labels_valid_time("2026-12-04T21:05:33.Z"), "empty fraction");
	CHECK(!labels_valid_time("2026-12-04T21:05:33"), "no zone");
	labels_now(now);
	CHECK(labels_valid_time(now), "labels_now is valid: %s", now);
	CHECK(strlen(now) == 27, "labels_now has microseconds: %s", now);
}

static void
test_append_and_view(void)
{
	const char *p = tpath("a.tsv");
	labels_rec r[3] = {
		{ .key = "k1", .path = "dir/a\tb.jpg", .cls = "cat", .labeller = "ann", .time = NULL },
		{ .key = "k2", .path = "b.jpg", .cls = "dog", .labeller = "bob", .time = "2026-01-01T00:00:00Z" },
		{ .key = "k1", .path = "a.jpg", .cls = "dog", .labeller = "bob", .time = NULL },
	};
	labels_rec bad = { .key = "k9", .path = "", .cls = "Not A Class", .labeller = "x", .time = NULL };
	labels_rec retract = { .key = "k2", .path = "b.jpg", .cls = "-", .labeller = "ann", .time = NULL };
	const labels_entry *e;
	char err[512];
	labels *l;
	int rc;

	CHECK(labels_append(p, r, 3, err, sizeof err) == 0, "append 3: %s", err);
	CHECK(strncmp(slurp(p), LABELS_HEADER "\n", strlen(LABELS_HEADER) + 1) == 0, "header written first");
	CHECK(strstr(slurp(p), "dir/a\\tb.jpg") != NULL, "TAB in path escaped");
	CHECK(labels_append(p, &bad, 1, err, sizeof err) == CS_EXIT_DATA, "bad class refused");
	CHECK(strstr(err, "invalid class name 'Not A Class'") != NULL, "message names the class: %s", err);
	CHECK(strstr(slurp(p), "k9") == NULL, "nothing written for a refused record");

	l = load(p, &rc);
	CHECK(rc == 0, "load");
	CHECK(labels_count(l) == 2, "two keys, got %zu", labels_count(l));
	CHECK(labels_nlines(l) == 3, "three lines, got %lu", labels_nlines(l));
	CHECK(labels_nbad(l) == 0 && nwarn == 0, "no warnings: %s", warnings);
	e = labels_get(l, "k1");
	CHECK(e && strcmp(e->cls, "dog") == 0 && strcmp(e->labeller, "bob") == 0, "newest line wins for k1");
	CHECK(e && e->nlabels == 2 && e->lineno == 4, "k1 had 2 lines, newest at line 4");
	e = labels_get(l, "k2");
	CHECK(e && strcmp(e->time, "2026-01-01T00:00:00Z") == 0, "given time kept");
	CHECK(labels_at(l, 0) && strcmp(labels_at(l, 0)->key, "k2") == 0, "view in order of newest lines");
	CHECK(labels_at(l, 1) && strcmp(labels_at(l, 1)->key, "k1") == 0, "k1 last");
	CHECK(labels_at(l, 2) == NULL, "past the end");
	CHECK(labels_get(l, "nope") == NULL, "unknown key");
	labels_free(l);

	CHECK(labels_append(p, &retract, 1, err, sizeof err) == 0, "retract");
	l = load(p, &rc);
	CHECK(labels_count(l) == 1 && labels_get(l, "k2") == NULL, "k2 retracted");
	CHECK(labels_get(l, "k1") != NULL, "k1 still there");
	labels_free(l);

	/* path with a newline round-trips */
	{
		labels_rec nl = { .key = "k3", .path = "we\nird\\name", .cls = "cat", .labeller = "ann", .time = NULL };
		CHECK(labels_append(p, &nl, 1, err, sizeof err) == 0, "append newline path");
		l = load(p, &rc);
		e = labels_get(l, "k3");
		CHECK(e && strcmp(e->path, "we\nird\\name") == 0, "escaped path round-trips");
		labels_free(l);
	}
}

static void
test_malformed(void)
{
	const char *p = tpath("bad.tsv");
	labels *l;
	int rc;

	put(p, LABELS_HEADER "\n"
	       "2026-01-01T00:00:00Z\tk1\ta.jpg\tcat\tann\n"
	       "2026-01-01T00:00:00Z\tk2\tb.jpg\tcat\n"
	       "yesterday\tk3\tc.jpg\tcat\tann\n"
	       "2026-01-01T00:00:00Z\tk4\td.jpg\tCat\tann\n"
	       "2026-01-01T00:00:00Z\tk5\te.jpg\tdog\tann\r\n"
	       "2026-01-01T00:00:00Z\tk6\tf\\q.jpg\tdog\tann\n"
	       "2026-01-01T00:00:00Z\tk7\tg.jpg\tdog\tann");
	l = load(p, &rc);
	CHECK(rc == 0, "malformed lines are not fatal");
	CHECK(labels_count(l) == 2, "k1 and k5 survive, got %zu", labels_count(l));
	CHECK(labels_get(l, "k5") && strcmp(labels_get(l, "k5")->labeller, "ann") == 0, "CR before newline tolerated");
	CHECK(labels_nbad(l) == 5, "4 malformed + 1 torn, got %lu", labels_nbad(l));
	CHECK(strstr(warnings, "bad.tsv:3: 4 fields, expected 5") != NULL, "line 3 named: %s", warnings);
	CHECK(strstr(warnings, "bad.tsv:4: bad time 'yesterday'") != NULL, "line 4 named");
	CHECK(strstr(warnings, "bad.tsv:5: bad class name 'Cat'") != NULL, "line 5 named");
	CHECK(strstr(warnings, "bad.tsv:7: bad escape") != NULL, "line 7 named");
	CHECK(strstr(warnings, "bad.tsv:8: incomplete last line") != NULL, "torn line 8 named");
	CHECK(labels_get(l, "k7") == NULL, "torn record not used");
	labels_free(l);

	put(p, "key\tclass\nk1\tcat\n");
	l = load(p, &rc);
	CHECK(rc == CS_EXIT_DATA, "wrong header is a data error");
	labels_free(l);

	l = load(tpath("missing.tsv"), &rc);
	CHECK(rc == 0 && labels_count(l) == 0, "missing file = empty log");
	labels_free(l);
}

static void
test_torn_then_append(void)
{
	const char *p = tpath("torn.tsv");
	labels_rec r = { .key = "k2", .path = "b.jpg", .cls = "dog", .labeller = "ann", .time = NULL };
	char err[512];
	labels *l;
	int rc;

	put(p, LABELS_HEADER "\n2026-01-01T00:00:00Z\tk1\ta.jpg\tcat\tann\n2026-01-01T00:00:00Z\tk9\tx.j");
	CHECK(labels_append(p, &r, 1, err, sizeof err) == 0, "append after torn line");
	l = load(p, &rc);
	CHECK(labels_get(l, "k2") != NULL, "new record intact after a torn line");
	CHECK(labels_get(l, "k9") == NULL, "torn record never read as a label");
	CHECK(strstr(warnings, "torn.tsv:3: 3 fields") != NULL, "torn line now a malformed line 3: %s", warnings);
	CHECK(labels_count(l) == 2, "k1 + k2");
	labels_free(l);
}

static void
test_refresh(void)
{
	const char *p = tpath("r.tsv");
	labels_rec r = { .key = "k1", .path = "a.jpg", .cls = "cat", .labeller = "ann", .time = NULL };
	char err[512];
	labels *l;
	int rc, changed = -1;

	l = load(p, &rc);
	CHECK(rc == 0 && labels_count(l) == 0, "empty before");
	CHECK(labels_refresh(l, &changed, err, sizeof err) == 0 && changed == 0, "no file, no change");
	labels_append(p, &r, 1, err, sizeof err);
	CHECK(labels_refresh(l, &changed, err, sizeof err) == 0 && changed == 1, "file appeared");
	CHECK(labels_count(l) == 1, "k1 seen");
	CHECK(labels_refresh(l, &changed, err, sizeof err) == 0 && changed == 0, "unchanged");
	r.key = "k2";
	labels_append(p, &r, 1, err, sizeof err);
	r.key = "k1";
	r.cls = "dog";
	labels_append(p, &r, 1, err, sizeof err);
	CHECK(labels_refresh(l, &changed, err, sizeof err) == 0 && changed == 1, "grew");
	CHECK(labels_count(l) == 2 && strcmp(labels_get(l, "k1")->cls, "dog") == 0, "incremental update applied");
	CHECK(labels_nlines(l) == 3, "3 lines counted once each, got %lu", labels_nlines(l));
	/* replaced by a different file */
	put(tpath("r2.tsv"), LABELS_HEADER "\n2026-01-01T00:00:00Z\tk7\ta.jpg\tcat\tann\n");
	rename(tpath("r2.tsv"), p);
	CHECK(labels_refresh(l, &changed, err, sizeof err) == 0 && changed == 1, "replaced");
	CHECK(labels_count(l) == 1 && labels_get(l, "k7") != NULL && labels_get(l, "k1") == NULL,
	      "replaced file reloaded from scratch");
	labels_free(l);
}

static void
test_concurrent(void)
{
	const char *p = tpath("c.tsv");
	enum { NPROC = 6, NEACH = 100 };
	int i, ok = 1, rc;
	labels *l;

	for (i = 0; i < NPROC; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			int j;
			for (j = 0; j < NEACH; j++) {
				char key[32], err[256];
				labels_rec r = { .key = key, .path = "x.jpg", .cls = "cat", .labeller = "w", .time = NULL };
				snprintf(key, sizeof key, "p%d-%d", i, j);
				if (labels_append(p, &r, 1, err, sizeof err) != 0)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (i = 0; i < NPROC; i++) {
		int st;
		wait(&st);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			ok = 0;
	}
	CHECK(ok, "every writer succeeded");
	l = load(p, &rc);
	CHECK(labels_count(l) == NPROC * NEACH, "%d labels, got %zu", NPROC * NEACH, labels_count(l));
	CHECK(labels_nlines(l) == NPROC * NEACH && labels_nbad(l) == 0, "no torn or lost lines");
	{
		char *s = slurp(p), *q = s;
		int headers = 0;
		while ((q = strstr(q, "time\tkey")) != NULL) {
			headers++;
			q++;
		}
		CHECK(headers == 1, "exactly one header, got %d", headers);
	}
	labels_free(l);
}

/* a writer looping over labels_append, killed with SIGKILL: every record whole */
static void
test_killed(void)
{
	const char *p = tpath("k.tsv");
	pid_t pid = fork();
	labels *l;
	int rc, st;

	if (pid == 0) {
		long j;
		for (j = 0;; j++) {
			char key[32], err[256], path[600];
			labels_rec r = { .key = key, .path = path, .cls = "cat", .labeller = "w", .time = NULL };
			snprintf(key, sizeof key, "k%ld", j);
			memset(path, 'x', 512);
			snprintf(path + 512, 64, "-%ld.jpg", j);
			labels_append(p, &r, 1, err, sizeof err);
		}
	}
	usleep(300000);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	l = load(p, &rc);
	CHECK(rc == 0 && labels_count(l) > 0, "some labels written before the kill: %zu", labels_count(l));
	CHECK(labels_nbad(l) == 0, "no torn record after SIGKILL: %s", warnings);
	CHECK(labels_count(l) == labels_nlines(l), "every line a whole label");
	labels_free(l);
}

int
main(void)
{
	snprintf(dir, sizeof dir, "%s/test_labels.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_validators();
	test_append_and_view();
	test_malformed();
	test_torn_then_append();
	test_refresh();
	test_concurrent();
	test_killed();
	{
		char cmd[512];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return check_done();
}
