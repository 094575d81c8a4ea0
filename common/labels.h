/* labels.h — the labels log, labels.tsv (DESIGN.md, clipsort-labels(5)).
 *
 * An append-only TSV log with the header line
 *     time<TAB>key<TAB>path<TAB>class<TAB>labeller
 * and one record per line.  time is ISO-8601 UTC with fractional seconds
 * ("2026-12-04T21:05:33.123456Z"), key the image's content key, path where the
 * labeller saw it, class a class name ([a-z0-9][a-z0-9_-]{0,63}) or LABELS_RETRACT
 * ("-"), which takes the key's label back.  The newest line for a key wins, by file
 * order (= append order).
 *
 * Writers (labels_append) take flock(LOCK_EX), write every record of a call in ONE
 * write(), fsync, unlock.  Readers (labels_load / labels_refresh) take LOCK_SH, so
 * they never see half a record from a live writer.  A final line without a newline
 * (a writer killed mid-write on a filesystem that tore the write) is ignored with a
 * warning; the next append starts on a fresh line so it cannot glue onto it.
 * A malformed line is reported as "FILE:LINE: reason" and skipped.
 *
 * Ownership: a `labels` view is opaque, made by labels_new() and freed by
 * labels_free() (NULL-safe).  Entries and strings returned by labels_get()/
 * labels_at() belong to the view and stay valid until the next labels_load()/
 * labels_refresh()/labels_free() on it.  Records passed to labels_append() stay the
 * caller's.  Nothing here exits; warnings go through the view's warn callback
 * (default: cs_warn, i.e. "prog: FILE:LINE: reason" on stderr).
 *
 * Status returns are 0 or a cs_exit value (exitcode.h): CS_EXIT_DATA (invalid
 * record given to append), CS_EXIT_IO (cannot open/read/write/fsync), CS_EXIT_BUSY
 * (lock not obtained within the timeout), with the message in errbuf.
 *
 * Example — a labeller appending one label, a trainer polling for new ones:
 *
 *     labels_rec r = { .key = key, .path = "a.jpg", .cls = "packaged", .labeller = "ann" };
 *     char err[512];
 *     if (labels_append("labels.tsv", &r, 1, err, sizeof err) != 0) cs_warn("%s", err);
 *
 *     labels *l = labels_new();
 *     if (labels_load(l, "labels.tsv", err, sizeof err) != 0) cs_die(CS_EXIT_IO, "%s", err);
 *     for (size_t i = 0; i < labels_count(l); i++) use(labels_at(l, i));
 *     ... later:  int changed; labels_refresh(l, &changed, err, sizeof err);
 *     labels_free(l);
 */
#ifndef CS_LABELS_H
#define CS_LABELS_H

#include <stddef.h>

#define LABELS_RETRACT "-"
#define LABELS_HEADER "time\tkey\tpath\tclass\tlabeller"
#define LABELS_TIME_MAX 40          /* buffer size for labels_now() */
#define LABELS_CLASS_MAX 64         /* longest class name */

/* One record to append.  time NULL = now (labels_now()). */
typedef struct labels_rec {
	const char *key;
	const char *path;       /* may be "" */
	const char *cls;        /* class name or LABELS_RETRACT */
	const char *labeller;   /* non-empty, no TAB/newline needed (escaped anyway) */
	const char *time;       /* ISO-8601 UTC, or NULL */
} labels_rec;

/* The winning (newest) label of one key in the current view. */
typedef struct labels_entry {
	const char *key;
	const char *path;
	const char *cls;        /* never LABELS_RETRACT: retracted keys are not in the view */
	const char *labeller;
	const char *time;
	unsigned long lineno;   /* line of labels.tsv it came from */
	unsigned long nlabels;  /* how many lines (labels and retractions) this key has had */
} labels_entry;

typedef struct labels labels;

typedef void labels_warn_fn(void *ctx, const char *msg);

/* Append n records as one locked, whole, fsynced write.  Creates the file (with its
 * header) if missing.  Every record is validated first; nothing is written when one
 * is invalid.  0 or a cs_exit status (errbuf says why). */
int labels_append(const char *path, const labels_rec *recs, size_t n, char *errbuf, size_t errlen);

/* Current time as ISO-8601 UTC with microseconds into buf[LABELS_TIME_MAX]. */
void labels_now(char buf[LABELS_TIME_MAX]);

/* Validators (1 = valid).  labels_valid_class accepts LABELS_RETRACT only when
 * allow_retract is set. */
int labels_valid_class(const char *cls, int allow_retract);
int labels_valid_key(const char *key);      /* non-empty, no whitespace/control chars, <= 256 bytes */
int labels_valid_time(const char *t);       /* YYYY-MM-DDTHH:MM:SS[.frac]Z */

labels *labels_new(void);
void labels_free(labels *l);
/* Replace the warning sink (NULL fn = silent).  Messages are "FILE:LINE: reason". */
void labels_set_warn(labels *l, labels_warn_fn *fn, void *ctx);

/* Read path into the view, replacing what it held.  A missing file is an empty log
 * (not an error).  Malformed lines are warned about, counted and skipped.
 * 0 or a cs_exit status. */
int labels_load(labels *l, const char *path, char *errbuf, size_t errlen);
/* Cheap re-check of the file last loaded: when its identity and size are unchanged
 * nothing is read (*changed = 0); when it only grew, only the new bytes are parsed;
 * otherwise (replaced, truncated) it is loaded afresh.  *changed = 1 when the view
 * may differ.  0 or a cs_exit status. */
int labels_refresh(labels *l, int *changed, char *errbuf, size_t errlen);

/* The current view: keys whose newest line is a label (not a retraction), in the
 * order of those newest lines in the file (oldest first). */
size_t labels_count(const labels *l);
const labels_entry *labels_at(const labels *l, size_t i);
/* NULL when the key has no current label (never labelled, or retracted). */
const labels_entry *labels_get(const labels *l, const char *key);

/* Counters over the whole log as read so far (a refresh that only read new bytes
 * adds to them; a reload starts over): record lines (excluding the header), and
 * malformed lines skipped (including a torn last line). */
unsigned long labels_nlines(const labels *l);
unsigned long labels_nbad(const labels *l);

#endif
