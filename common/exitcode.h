/* exitcode.h — the one exit-status scheme of every clipsort tool.
 * Each man page's EXIT STATUS section lists these values. */
#ifndef CS_EXITCODE_H
#define CS_EXITCODE_H

enum cs_exit {
	CS_EXIT_OK       = 0, /* success */
	CS_EXIT_PARTIAL  = 1, /* ran to the end, but some inputs were rejected or skipped (each reported on stderr) */
	CS_EXIT_USAGE    = 2, /* bad command line */
	CS_EXIT_DATA     = 3, /* invalid input data: malformed TSV or embeddings, mismatched model/dimension/classes */
	CS_EXIT_IO       = 4, /* I/O or system error: cannot read, write, lock or allocate */
	CS_EXIT_MODEL    = 5, /* model files missing, malformed or using an unsupported option */
	CS_EXIT_BUSY     = 6, /* another process holds the lock on a cache, labels log or output */
	CS_EXIT_INTERNAL = 70 /* internal error (a bug) */
};

#endif
