/* ui_journal.h — the labellers' own small append-only log next to labels.tsv
 * (LABELS.journal): submission ids, so a resent submission is not recorded twice, and
 * flags.  TSV with the header  time<TAB>kind<TAB>sub<TAB>key<TAB>class<TAB>labeller.
 *
 * A "label" line is an intent written (and fsynced) BEFORE the labels.tsv record that
 * carries the same time and key; on load an intent counts as done only when
 * labels.tsv holds a line with exactly that time and key.  So a crash between the two
 * writes leaves an intent without its record: it is ignored and the resent
 * submission is recorded then — exactly once either way.  "flag"/"unflag" lines are
 * complete by themselves.
 *
 * Appends take flock(LOCK_EX), write one whole line, fsync, unlock; a torn final line
 * (no newline) is skipped on load and the next append starts on a fresh line.
 * Fields never contain TAB, newline or backslash (callers validate them).
 * Ownership: ui_journal is caller-owned (_open/_close). */
#ifndef CS_UI_JOURNAL_H
#define CS_UI_JOURNAL_H

#include <stddef.h>

typedef struct ui_journal {
	int fd;
	char *path;
} ui_journal;

#define UI_JOURNAL_HEADER "time\tkind\tsub\tkey\tclass\tlabeller"

int ui_journal_open(ui_journal *j, const char *path, char *errbuf, size_t errlen);
void ui_journal_close(ui_journal *j);
/* Append one record durably.  0 or a cs_exit status. */
int ui_journal_append(ui_journal *j, const char *time, const char *kind, const char *sub,
		const char *key, const char *cls, const char *labeller, char *errbuf, size_t errlen);

/* Append complete lines (each ending in a newline) as one write, then fsync. */
int ui_journal_append_raw(ui_journal *j, const char *lines, size_t len, char *errbuf, size_t errlen);

/* Callback for each complete record read back: fields as in the header. */
typedef void ui_journal_fn(void *ctx, const char *time, const char *kind, const char *sub,
		const char *key, const char *cls, const char *labeller);
/* Read every complete record (a missing file is empty).  0 or a cs_exit status. */
int ui_journal_read(const char *path, ui_journal_fn *fn, void *ctx, char *errbuf, size_t errlen);

/* Scan a labels.tsv for lines whose first two fields (time, key) match; calls fn with
 * "time\tkey" for each line read.  0 or a cs_exit status. */
int ui_labels_scan(const char *path, void (*fn)(void *ctx, const char *time_key), void *ctx,
		char *errbuf, size_t errlen);

/* Small string set (open addressing), used for seen submission ids. */
typedef struct ui_strset {
	char **slot;
	size_t cap, n;
} ui_strset;
int ui_strset_has(const ui_strset *s, const char *str);
void ui_strset_add(ui_strset *s, const char *str);   /* no-op when present */
void ui_strset_release(ui_strset *s);

#endif
