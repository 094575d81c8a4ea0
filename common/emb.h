/* emb.h — clipsort's embedding formats (DESIGN.md, clipsort-embeddings(5)):
 *   - the HDF5 cache (a named file, random access, written by clipsort-embed -o);
 *   - the binary stream (pipes; written by clipsort-embed without -o).
 * One reader accepts both and tells them apart by the first bytes.
 *
 * Ownership: emb_reader / emb_stream_writer are opaque, created by _open and
 * destroyed by _close (NULL-safe).  Records and stamps returned by a reader belong
 * to it and stay valid until the next call on that reader (stamp: until _close).
 * Functions return 0 on success and -1 on error with a message "NAME: reason"
 * (NAME is the file, or "<stdin>") available from emb_reader_error() or written
 * into the caller's errbuf. */
#ifndef CS_EMB_H
#define CS_EMB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EMB_KEY_HEX 64          /* content key: lowercase hex SHA-256 of the image bytes */
#define EMB_FORMAT_VERSION 1

/* What the vectors were made with.  Two inputs may be combined only when
 * emb_stamp_compatible() says so (model, weights fingerprint, preprocessing, dim). */
typedef struct emb_stamp {
	char *model;            /* model name or directory name, e.g. "ViT-B-32" */
	char *fingerprint;      /* hex digest of the weights (see clipsort-embeddings(5)) */
	char *preprocess;       /* canonical preprocessing string, e.g. "size=224;resize=shortest;..." */
	uint32_t dim;           /* embedding dimension */
	double logit_scale;     /* exp() already applied: the multiplier of cosine similarities */
	double logit_bias;      /* 0 when the model has none */
	int has_logit_bias;
} emb_stamp;

/* 1 when a and b may be mixed; else 0 and why[] says what differs. */
int emb_stamp_compatible(const emb_stamp *a, const emb_stamp *b, char *why, size_t whylen);
void emb_stamp_release(emb_stamp *s);
void emb_stamp_copy(emb_stamp *dst, const emb_stamp *src);

/* One image: its content key, its first location (sorted), and its L2-normalised vector. */
typedef struct emb_image {
	char key[EMB_KEY_HEX + 1];
	const char *location;   /* "dir/a.jpg" or "vendor.zip!dir/a.jpg" */
	const float *vec;       /* dim floats */
} emb_image;

/* One class prompt vector (from clipsort-embed --text classes.tsv). */
typedef struct emb_text {
	const char *cls;
	const char *prompt;
	const float *vec;       /* dim floats, L2-normalised */
} emb_text;

typedef struct emb_reader emb_reader;

enum emb_kind { EMB_KIND_CACHE = 1, EMB_KIND_STREAM = 2 };

/* Open path ("-" = stdin; stdin may only be a stream).  NULL on error with the
 * message in errbuf. */
emb_reader *emb_reader_open(const char *path, char *errbuf, size_t errlen);
/* A stream already open (a pipe, a socket, memory); name is used in messages.  fp
 * stays the caller's (not closed by _close).  An HDF5 cache is refused: it needs a
 * path.  (Addition.) */
emb_reader *emb_reader_open_fp(FILE *fp, const char *name, char *errbuf, size_t errlen);
int emb_reader_kind(const emb_reader *r);
const emb_stamp *emb_reader_stamp(const emb_reader *r);
/* All text vectors.  A stream carries its texts before its images, so this may be
 * called before the first emb_reader_next().  *n may be 0. */
int emb_reader_texts(emb_reader *r, const emb_text **texts, size_t *n);
/* Next image: 1 = got one, 0 = end, -1 = error (a truncated stream is an error).
 * Images come in key order from a cache, in written order from a stream. */
int emb_reader_next(emb_reader *r, emb_image *img);
/* Number of images when known in advance (cache), else -1. */
long long emb_reader_count(const emb_reader *r);
const char *emb_reader_error(const emb_reader *r);
void emb_reader_close(emb_reader *r);

/* Stream writer (to a FILE, usually stdout).  Write order: header, texts, images, end. */
typedef struct emb_stream_writer emb_stream_writer;
emb_stream_writer *emb_stream_writer_open(FILE *fp, const emb_stamp *stamp);
int emb_stream_write_text(emb_stream_writer *w, const char *cls, const char *prompt, const float *vec);
int emb_stream_write_image(emb_stream_writer *w, const char *key, const char *location, const float *vec);
/* Writes the end record with counts and flushes; -1 on any write error so far.  Frees w. */
int emb_stream_writer_close(emb_stream_writer *w);
/* Frees w without the end record, so a reader sees the stream as truncated (for a
 * writer that failed midway).  NULL-safe.  (Addition.) */
void emb_stream_writer_abort(emb_stream_writer *w);

/* Cache writer: builds a complete new cache file and publishes it atomically
 * (written to PATH.tmp.PID, fsynced, renamed over PATH; the directory is fsynced).
 * Until _commit the old file at PATH, if any, is untouched; _abort removes the temp.
 * The incremental update logic (what to re-embed) lives in clipsort-embed; this is
 * only the writer. */
typedef struct emb_cache_writer emb_cache_writer;
emb_cache_writer *emb_cache_writer_open(const char *path, const emb_stamp *stamp, char *errbuf, size_t errlen);
int emb_cache_add_image(emb_cache_writer *w, const char *key, const float *vec);
/* size in bytes and mtime (seconds) of the source; for ZIP members the member's. */
int emb_cache_add_location(emb_cache_writer *w, const char *key, const char *location, uint64_t size, int64_t mtime);
int emb_cache_add_reject(emb_cache_writer *w, const char *location, const char *reason);
int emb_cache_add_text(emb_cache_writer *w, const char *cls, const char *prompt, const float *vec);
/* Images may be added in any order; the cache stores them sorted by key.  A key added
 * twice keeps its first vector; a (key, location) pair added twice keeps its first
 * size/mtime.  Every location's key must have a vector by commit time.  The add
 * functions return -1 on an invalid key, a non-finite vector, a string longer than
 * 1 MiB or an I/O error (emb_cache_writer_error()); the writer then only aborts.
 * The caller serialises writers of one PATH (fs_lock() in fsutil.h). */
int emb_cache_writer_commit(emb_cache_writer *w, char *errbuf, size_t errlen);  /* frees w */
void emb_cache_writer_abort(emb_cache_writer *w);                               /* frees w, NULL-safe */

/* ---- Additions for incremental updates and cache tools (clipsort-embed, clipsort-cache) ----
 * These work on an HDF5 cache reader; on a stream they fail with "NAME: only an HDF5
 * cache has ..." (a stream carries one location per image and no rejects). */

/* One location of an image: where its bytes were found, with the source's size and
 * mtime when they were recorded (0 when unknown, e.g. converted from a stream). */
typedef struct emb_location {
	char key[EMB_KEY_HEX + 1];
	const char *path;       /* belongs to the reader, valid until the next call */
	uint64_t size;
	int64_t mtime;
} emb_location;

/* Every location, in (key, path) order, independent of emb_reader_next()'s cursor:
 * 1 = got one, 0 = end, -1 = error.  Reads in blocks; memory does not grow with N. */
int emb_reader_next_location(emb_reader *r, emb_location *loc);
/* Number of locations in a cache, else -1. */
long long emb_reader_location_count(const emb_reader *r);

/* Look a key up (binary search; the cache's keys, 32 bytes each, are loaded on the
 * first call).  1 = found and, when vec is not NULL, its dim floats copied to vec;
 * 0 = absent; -1 = error. */
int emb_reader_lookup(emb_reader *r, const char *key, float *vec);

/* Files the embedder could not read, as recorded in the cache. */
typedef struct emb_reject {
	const char *location;
	const char *reason;
} emb_reject;
/* All rejects (loaded on the first call; valid until _close).  *n may be 0. */
int emb_reader_rejects(emb_reader *r, const emb_reject **rej, size_t *n);

/* Copy the remaining images of r (cache or stream; from its current emb_reader_next
 * position) into w, those for which keep(ctx, key) returns non-zero (keep NULL = all).
 * Vectors only: locations, rejects and texts are added separately.  The stamps must
 * be compatible.  Returns the number of images copied, or -1 (message from
 * emb_reader_error() or emb_cache_writer_error()). */
long long emb_cache_copy_images(emb_cache_writer *w, emb_reader *r,
    int (*keep)(void *ctx, const char *key), void *ctx);
/* The writer's first error after an emb_cache_add_*() or copy returned -1. */
const char *emb_cache_writer_error(const emb_cache_writer *w);
/* Images added so far (before duplicates are merged at commit). */
long long emb_cache_writer_count(const emb_cache_writer *w);

/* 1 when the reader's error was an I/O error (a failed read), 0 when the input is
 * invalid (corrupt, truncated, wrong version or dimension): CS_EXIT_IO vs CS_EXIT_DATA.
 * After emb_reader_open() returns NULL, errno tells the same: EILSEQ for invalid data,
 * else the system error (ENOENT, EACCES, EIO, ...). */
int emb_reader_error_is_io(const emb_reader *r);

/* Key helpers: 1 when s is 64 lowercase hex digits. */
int emb_key_valid(const char *s);

/* Read vectors into a dense row-major matrix (n x dim) with keys and locations, for
 * tools that need everything in memory (cluster, train).  Arrays are malloc'd and the
 * caller frees keys[i], locs[i], keys, locs, and mat. */
int emb_read_all(emb_reader *r, float **mat, char ***keys, char ***locs, size_t *n);

/* Reading images in blocks, for tools that score a block at a time (one BLAS call per
 * block) with memory flat in the number of images.  An emb_block is caller-owned
 * (emb_block_init / emb_block_release); its arrays are its own and are reused by each
 * read. */
typedef struct emb_block {
	size_t cap, dim;                /* rows, floats per row (the reader's dim) */
	size_t n;                       /* rows filled by the last emb_block_read */
	float *x;                       /* cap x dim, row-major */
	char (*keys)[EMB_KEY_HEX + 1];  /* cap */
	char **locs;                    /* cap; "" for an image without a location */
} emb_block;
void emb_block_init(emb_block *b, size_t cap, size_t dim);
/* Refill b with the next images of r, up to cap: 1 = b is full (more may follow),
 * 0 = end of input, -1 = error (emb_reader_error(r)); b->n rows are valid in
 * every case (those read before the end or the error). */
int emb_block_read(emb_reader *r, emb_block *b);
void emb_block_release(emb_block *b);

#endif
