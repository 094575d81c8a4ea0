/* fsutil.h — files that are never half-written: atomic publish (temp file in the
 * same directory, fsync, rename, fsync of the directory), lock files, durable appends.
 *
 * Ownership: an fs_atomic is caller-owned (fs_atomic_open fills it; _commit or
 * _abort releases it, exactly one of them must be called).  Functions return 0 on
 * success or a CS_EXIT_* status (exitcode.h) with a message "PATH: reason" in the
 * caller's err buffer; errno is preserved from the failing call. */
#ifndef CS_FSUTIL_H
#define CS_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

/* Write PATH atomically: fs_atomic_open creates PATH.tmp.PID (mode 0666 & ~umask, or
 * the mode of an existing PATH) and opens it as a->fp; write to a->fp, then
 * fs_atomic_commit flushes, fsyncs, closes, renames over PATH and fsyncs the
 * directory.  Any write error (sticky in a->fp) makes commit fail and remove the
 * temp file, leaving the old PATH untouched.  fs_atomic_abort removes the temp.
 * When PATH exists and is not a regular file (/dev/null, /dev/stdout, a FIFO) it is
 * written directly, never replaced; a directory is an error. */
typedef struct fs_atomic {
	FILE *fp;
	char *path;
	char *tmp;
} fs_atomic;

int fs_atomic_open(fs_atomic *a, const char *path, char *err, size_t errlen);
int fs_atomic_commit(fs_atomic *a, char *err, size_t errlen);
void fs_atomic_abort(fs_atomic *a);

/* "PATH.tmp.PID", malloc'd: the temp name fs_atomic_open and the cache writer use. */
char *fs_tmpname(const char *path);
/* fsync an existing file by name (after a library such as HDF5 wrote and closed it). */
int fs_fsync_path(const char *path, char *err, size_t errlen);
/* fsync the directory holding path (after a rename or a create). */
int fs_fsync_dir(const char *path, char *err, size_t errlen);
/* fsync tmp, rename tmp over path, fsync the directory: the publish step alone. */
int fs_publish(const char *tmp, const char *path, char *err, size_t errlen);

/* Lock PATH.lock (never through a symbolic link) with flock(LOCK_EX|LOCK_NB) and write our pid into it.  Returns 0 and
 * the descriptor in *fd; CS_EXIT_BUSY with err "PATH is locked by another process
 * (pid N)" (or without the pid when it cannot be read) when another process holds
 * it; CS_EXIT_IO on other errors.  The lock file is left in place on release (removing
 * it would race with a waiting process); its content is informational only. */
int fs_lock(const char *path, int *fd, char *err, size_t errlen);
/* Release the lock taken by fs_lock (empties the pid, closes fd; -1 is ignored). */
void fs_unlock(int fd);

/* Append buf[0..len) to path durably: open O_WRONLY|O_APPEND|O_CREAT (0666 & ~umask),
 * flock(LOCK_EX) on the file itself (waits for other appenders), one write(), fsync,
 * close.  A short write is an error (CS_EXIT_IO); the record is then truncated away
 * again when possible, so readers never see a torn record from us. */
int fs_append_durable(const char *path, const void *buf, size_t len, char *err, size_t errlen);

#endif
