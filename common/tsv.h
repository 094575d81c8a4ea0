/* tsv.h — the TSV of DESIGN.md: UTF-8, one header line, TAB-separated; TAB, newline
 * and backslash inside a field are written \t, \n, \\ (and read back); a carriage
 * return is written \r (also accepted on input).  Any other escape is an error.
 * A UTF-8 BOM before the header and a CR before each newline are tolerated on
 * input (files edited on Windows), never written.  The last line may lack its
 * newline.  Column names must be non-empty and distinct.
 *
 * Ownership: a tsv_reader is caller-owned (tsv_reader_init/_release); the strings
 * returned by tsv_reader_field() and the column names belong to the reader and are
 * valid until the next tsv_reader_next() / _release(). */
#ifndef CS_TSV_H
#define CS_TSV_H

#include <stddef.h>
#include <stdio.h>

typedef struct tsv_reader {
	FILE *fp;
	char *name;            /* for messages: the path, or "<stdin>" */
	int owns_fp;
	unsigned long lineno;  /* line number of the row last read (1 = header) */
	char *line;            /* raw line buffer */
	size_t linecap;
	char *buf;             /* unescaped fields, NUL-separated */
	size_t bufcap;
	char **fields;
	size_t nfields, fieldcap;
	char **cols;           /* header names (copies) */
	size_t ncols;
	char err[512];         /* "NAME:LINE: reason" after a -1 return */
} tsv_reader;

/* Open path ("-" = stdin) and read the header line.  0 ok, -1 error (r->err). */
int tsv_reader_open(tsv_reader *r, const char *path);
/* Use an open stream; name is used in messages.  Reads the header. */
int tsv_reader_init(tsv_reader *r, FILE *fp, const char *name);
/* Index of column `name`, or -1. */
int tsv_reader_col(const tsv_reader *r, const char *name);
/* Require columns: returns -1 with r->err "NAME:1: missing column 'x'" if any is absent.
 * idx[i] receives the index of names[i]. */
int tsv_reader_require(tsv_reader *r, const char *const *names, int *idx, size_t n);
/* Next row: 1 row read, 0 end of input, -1 error (wrong field count, bad escape,
 * read error, NUL byte) with r->err set as "NAME:LINE: reason". */
int tsv_reader_next(tsv_reader *r);
const char *tsv_reader_field(const tsv_reader *r, size_t i);
/* Unescape one already-split field in place (the escapes above: \t \n \r \\).
 * 0 ok, -1 on any other escape or a backslash at the end (s is then partly
 * rewritten).  For readers that split lines themselves. */
int tsv_unescape(char *s);
void tsv_reader_release(tsv_reader *r);

/* Writing.  Fields are escaped; rows end with "\n".  Write errors are sticky in the
 * FILE and caught by cs_fshut(). */
void tsv_put_field(FILE *fp, const char *s);
void tsv_put_row(FILE *fp, const char *const *fields, size_t n);
/* Shortest decimal that reads back as the same double (%.15g..%.17g), "nan"/"inf" never:
 * a non-finite value (a caller's bug) is written as the empty string. */
void tsv_fmt_double(char buf[32], double v);
/* Same for a float (round-trips as float). */
void tsv_fmt_float(char buf[32], float v);

#endif
