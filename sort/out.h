/* out.h — the output tree of clipsort-sort: OUT/<dir>/<name>, written only through
 * directory descriptors (openat, O_NOFOLLOW), never following a symbolic link that
 * is already inside OUT, never replacing an existing entry.
 *
 * A name that is taken by different content gets a distinct name (a.jpg, a-1.jpg,
 * a-2.jpg, ...); an entry with the same content (SHA-256) means the image is already
 * there, which makes a re-run a no-op.  Data is written to a temporary name
 * (.clipsort-tmp.*), fsynced and renamed with RENAME_NOREPLACE, so a file appears
 * whole or not at all; stale temporaries of a killed run are removed when their
 * directory is first opened (the caller holds the OUT lock).
 *
 * Ownership: an out_tree is caller-owned (out_open / out_close). */
#ifndef CS_SORT_OUT_H
#define CS_SORT_OUT_H

#include <stddef.h>

#include "rowmap.h"
#include "sha256.h"

typedef struct out_tree {
	const char *path;    /* OUT as given */
	int fd;              /* -1 in a dry run when OUT does not exist yet */
	int dry;
	int lockfd;          /* -1: not locked */
	rowmap dirs;         /* dir name -> struct out_dir */
	rowmap claimed;      /* "dir/name" -> content hash, names given out by this run */
	unsigned long seq;
} out_tree;

enum out_result { OUT_PLACED, OUT_EXISTS, OUT_FAILED };

/* 0 ok, else a CS_EXIT_* status with err set. */
int out_open(out_tree *t, const char *path, int dry, char *err, size_t errlen);
/* Take OUT/.clipsort-sort.lock (flock, not following a symbolic link): 0,
 * CS_EXIT_BUSY when another run holds it, else CS_EXIT_IO.  Released by out_close. */
int out_lock(out_tree *t, char *err, size_t errlen);
/* fsync every directory written to; 0 ok, else CS_EXIT_IO. */
int out_close(out_tree *t, char *err, size_t errlen);

/* Directory descriptor of OUT/dir (created when missing), -1 with err on failure
 * (for instance OUT/dir is a symbolic link).  In a dry run may return -2: the
 * directory does not exist yet. */
int out_dir(out_tree *t, const char *dir, char *err, size_t errlen);

/* A fresh temporary file in dirfd: fd returned, its name in name[64]. */
int out_tmpfile(out_tree *t, int dirfd, char name[64], char *err, size_t errlen);

/* How the entry is created once a free name is chosen. */
enum out_how { HOW_RENAME_TMP, HOW_LINK, HOW_SYMLINK, HOW_RENAME_SRC, HOW_NONE };

/* Choose a name for content `hash` (SHA-256 hex) based on `name` in OUT/dir and
 * create it: HOW_RENAME_TMP renames tmp (in the same dir); HOW_LINK hardlinks src;
 * HOW_SYMLINK makes a symlink to src (an absolute path); HOW_RENAME_SRC renames src;
 * HOW_NONE creates nothing (dry run).  final[] receives "dir/chosen-name". */
enum out_result out_place(out_tree *t, const char *dir, const char *name, const char *hash,
    enum out_how how, const char *tmp, const char *src, char *final, size_t finallen,
    char *err, size_t errlen);

/* A safe file name from a location: its basename, control characters replaced,
 * a leading dot made visible, at most 200 bytes.  Caller frees. */
char *out_safe_name(const char *location);

#endif
