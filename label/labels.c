/* clipsort-labels — append to and read the labels log (clipsort-labels(1), (5)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../train/classset.h"
#include "diag.h"
#include "exitcode.h"
#include "labels.h"
#include "tsv.h"
#include "xalloc.h"

static const char *logpath = "labels.tsv";
static const char *classpath;
static const char *labeller;
static classset classes;
static int have_classes;

static _Noreturn void
usage(void)
{
	fprintf(stderr,
	    "usage: clipsort-labels append [-f labels.tsv] [-c classes.tsv] [-u labeller] [key path class | -]\n"
	    "       clipsort-labels current [-f labels.tsv] [-c classes.tsv]\n"
	    "       clipsort-labels stats [-f labels.tsv] [-c classes.tsv]\n");
	exit(CS_EXIT_USAGE);
}

static const char *
default_labeller(void)
{
	const char *s = getenv("CLIPSORT_LABELLER");

	if (s == NULL || *s == '\0')
		s = getenv("USER");
	if (s == NULL || *s == '\0')
		s = getenv("LOGNAME");
	return s && *s ? s : "unknown";
}

/* 0 when cls may be appended (a class of classes.tsv, or the retraction). */
static int
class_ok(const char *cls, const char *where)
{
	if (!labels_valid_class(cls, 1)) {
		cs_warn("%s: invalid class name '%s' (want [a-z0-9][a-z0-9_-]{0,63}, or '-' to retract)", where, cls);
		return -1;
	}
	if (have_classes && strcmp(cls, LABELS_RETRACT) != 0 && classset_find(&classes, cls) < 0) {
		cs_warn("%s: class '%s' is not in %s", where, cls, classpath);
		return -1;
	}
	return 0;
}

static int
append_args(char **argv)
{
	labels_rec r = { .key = argv[0], .path = argv[1], .cls = argv[2], .labeller = labeller, .time = NULL };
	char err[512];
	int rc;

	if (class_ok(r.cls, "argument") != 0)
		return CS_EXIT_DATA;
	if ((rc = labels_append(logpath, &r, 1, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);
	return CS_EXIT_OK;
}

/* TSV on stdin: columns key, class; optional path, labeller, time.  Good rows are
 * appended in one locked write; bad rows are reported and skipped. */
static int
append_stdin(void)
{
	static const char *const need[] = { "key", "class" };
	tsv_reader r;
	labels_rec *recs = NULL;
	char **store = NULL, where[600], err[512];
	size_t n = 0, cap = 0, scap = 0, ns = 0, i;
	int idx[2], ipath, ilab, itime, rc, status = CS_EXIT_OK;

	if (tsv_reader_open(&r, "-") != 0)
		cs_die(CS_EXIT_DATA, "%s", r.err);
	if (tsv_reader_require(&r, need, idx, 2) != 0)
		cs_die(CS_EXIT_DATA, "%s", r.err);
	ipath = tsv_reader_col(&r, "path");
	ilab = tsv_reader_col(&r, "labeller");
	itime = tsv_reader_col(&r, "time");
	while ((rc = tsv_reader_next(&r)) == 1) {
		const char *f[5];
		f[0] = tsv_reader_field(&r, (size_t)idx[0]);
		f[1] = ipath >= 0 ? tsv_reader_field(&r, (size_t)ipath) : "";
		f[2] = tsv_reader_field(&r, (size_t)idx[1]);
		f[3] = ilab >= 0 && *tsv_reader_field(&r, (size_t)ilab) ? tsv_reader_field(&r, (size_t)ilab) : labeller;
		f[4] = itime >= 0 && *tsv_reader_field(&r, (size_t)itime) ? tsv_reader_field(&r, (size_t)itime) : NULL;
		snprintf(where, sizeof where, "%s:%lu", r.name, r.lineno);
		if (class_ok(f[2], where) != 0) {
			status = CS_EXIT_PARTIAL;
			continue;
		}
		if (!labels_valid_key(f[0])) {
			cs_warn("%s: invalid key '%s'", where, f[0]);
			status = CS_EXIT_PARTIAL;
			continue;
		}
		if (f[4] != NULL && !labels_valid_time(f[4])) {
			cs_warn("%s: invalid time '%s' (want YYYY-MM-DDTHH:MM:SS[.frac]Z)", where, f[4]);
			status = CS_EXIT_PARTIAL;
			continue;
		}
		xgrow(&recs, &cap, n + 1, sizeof *recs);
		xgrow(&store, &scap, ns + 5, sizeof *store);
		for (i = 0; i < 5; i++)
			store[ns + i] = f[i] ? xstrdup(f[i]) : NULL;
		recs[n].key = store[ns];
		recs[n].path = store[ns + 1];
		recs[n].cls = store[ns + 2];
		recs[n].labeller = store[ns + 3];
		recs[n].time = store[ns + 4];
		ns += 5;
		n++;
	}
	if (rc < 0) {
		cs_warn("%s", r.err);
		status = CS_EXIT_DATA;
	}
	tsv_reader_release(&r);
	if (status == CS_EXIT_DATA) {
		cs_warn("nothing appended");
	} else if ((rc = labels_append(logpath, recs, n, err, sizeof err)) != 0) {
		cs_warn("%s", err);
		status = rc;
	}
	for (i = 0; i < ns; i++)
		free(store[i]);
	free(store);
	free(recs);
	return status;
}

static labels *
load(int *status)
{
	labels *l = labels_new();
	char err[512];
	int rc;

	if ((rc = labels_load(l, logpath, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);
	if (labels_nbad(l) > 0)
		*status = CS_EXIT_PARTIAL;
	return l;
}

/* A current label whose class classes.tsv lacks is reported and left out. */
static int
usable(const labels_entry *e, int *status)
{
	if (have_classes && classset_find(&classes, e->cls) < 0) {
		cs_warn("%s:%lu: class '%s' is not in %s", logpath, e->lineno, e->cls, classpath);
		*status = CS_EXIT_PARTIAL;
		return 0;
	}
	return 1;
}

static int
cmd_current(void)
{
	int status = CS_EXIT_OK;
	labels *l = load(&status);
	size_t i;

	puts("key\tpath\tclass\tlabeller\ttime");
	for (i = 0; i < labels_count(l); i++) {
		const labels_entry *e = labels_at(l, i);
		const char *row[5] = { e->key, e->path, e->cls, e->labeller, e->time };
		if (usable(e, &status))
			tsv_put_row(stdout, row, 5);
	}
	labels_free(l);
	return status;
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmd_stats(void)
{
	int status = CS_EXIT_OK;
	labels *l = load(&status);
	size_t i, n = labels_count(l), nused = 0, j;
	const char **cls = xcalloc(n + classes.n + 1, sizeof *cls), **lab = xcalloc(n + 1, sizeof *lab);
	size_t nlab = 0;

	for (i = 0; i < n; i++) {
		const labels_entry *e = labels_at(l, i);
		if (!usable(e, &status))
			continue;
		cls[nused++] = e->cls;
		lab[nlab++] = e->labeller;
	}
	printf("what\tcount\n");
	printf("lines\t%lu\nmalformed\t%lu\nlabelled\t%zu\n", labels_nlines(l), labels_nbad(l), nused);
	qsort(lab, nlab, sizeof *lab, cmpstr);
	for (i = 0, j = 0; i < nlab; i = j) {
		for (j = i; j < nlab && strcmp(lab[i], lab[j]) == 0; j++)
			;
		printf("labeller:");
		tsv_put_field(stdout, lab[i]);
		printf("\t%zu\n", j - i);
	}
	for (i = 0; i < classes.n; i++)
		cls[nused + i] = classes.names[i];   /* classes with no label show as 0 */
	qsort(cls, nused + classes.n, sizeof *cls, cmpstr);
	for (i = 0, j = 0; i < nused + classes.n; i = j) {
		size_t c = 0;
		for (j = i; j < nused + classes.n && strcmp(cls[i], cls[j]) == 0; j++)
			;
		c = j - i - (have_classes ? 1 : 0);
		printf("class:%s\t%zu\n", cls[i], c);
	}
	free(cls);
	free(lab);
	labels_free(l);
	return status;
}

int
main(int argc, char **argv)
{
	const char *cmd;
	char err[512];
	int ch, rc, status;

	diag_init(argv[0]);
	if (argc < 2)
		usage();
	cmd = argv[1];
	if (strcmp(cmd, "append") != 0 && strcmp(cmd, "current") != 0 && strcmp(cmd, "stats") != 0)
		usage();
	argc--;
	argv++;
	labeller = default_labeller();
	while ((ch = getopt(argc, argv, "c:f:u:")) != -1) {
		switch (ch) {
		case 'c': classpath = optarg; break;
		case 'f': logpath = optarg; break;
		case 'u': labeller = optarg; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (classpath != NULL) {
		if ((rc = classset_read(&classes, classpath, err, sizeof err)) != 0)
			cs_die(rc, "%s", err);
		have_classes = 1;
	}
	if (strcmp(cmd, "append") == 0) {
		if (*labeller == '\0')
			cs_die(CS_EXIT_USAGE, "-u: empty labeller");
		if (argc == 3)
			status = append_args(argv);
		else if (argc == 0 || (argc == 1 && strcmp(argv[0], "-") == 0))
			status = append_stdin();
		else
			usage();
	} else if (argc != 0) {
		usage();
	} else if (strcmp(cmd, "current") == 0) {
		status = cmd_current();
	} else {
		status = cmd_stats();
	}
	classset_release(&classes);
	cs_fshut(stdout, "<stdout>");
	return status;
}
