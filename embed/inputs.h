/* inputs.h — what clipsort-embed reads: files, directories (recursive), ZIP archives
 * (read in memory with libarchive; entry names are never used as paths) and lists of
 * paths on stdin.  Every input becomes an item with a location string: "dir/a.jpg"
 * or "vendor.zip!dir/a.jpg" (always valid UTF-8: bytes that are not are written as
 * "\xNN").  Type is decided from the bytes, never the name.
 *
 * Ownership: an inputs set is caller-owned (inputs_init / inputs_release) and owns
 * every string in its items.  Reported problems (unreadable paths, zip bombs,
 * encrypted or nested entries) become rejects in the set, never aborts. */
#ifndef CS_INPUTS_H
#define CS_INPUTS_H

#include <stddef.h>
#include <stdint.h>

struct input_limits {
	uint64_t max_file_bytes;    /* a plain file or a ZIP entry larger than this is rejected */
	uint64_t max_zip_total;     /* decompressed bytes of one ZIP, all entries together */
	double max_ratio;           /* decompressed / compressed bytes of an entry, and of a whole ZIP vs its size */
	uint64_t max_entries;       /* entries in one ZIP */
};

void input_limits_default(struct input_limits *l);

struct input_item {
	char *loc;          /* location string, valid UTF-8 */
	char *path;         /* the file on disk: the image itself, or the ZIP holding it */
	char *member;       /* raw entry name inside the ZIP, NULL for a plain file */
	uint64_t size;      /* bytes (entry's uncompressed size for a ZIP member) */
	int64_t mtime;      /* seconds (entry's mtime for a ZIP member) */
	int root;           /* index of the operand it came from */
};

struct input_reject {
	char *loc;
	char *reason;
};

struct inputs {
	struct input_item *items;
	size_t n, cap;
	struct input_reject *rejects;
	size_t nrej, rejcap;
	char **roots;       /* operands as given (directories without a trailing '/') */
	size_t nroots, rootcap;
	struct input_limits lim;
	/* Optional (set after inputs_init): 1 when plain file loc with this size and
	 * mtime is known, unchanged, as an image (say from an earlier run), so its first
	 * bytes need not be read again to tell an image from an archive. */
	int (*known)(void *ctx, const char *loc, uint64_t size, int64_t mtime);
	void *known_ctx;
};

void inputs_init(struct inputs *in, const struct input_limits *lim);
void inputs_release(struct inputs *in);
/* Add one operand: a file, a directory or a ZIP; "-" reads newline-separated paths
 * from stdin, each added as an operand.  Problems become rejects. */
void inputs_add(struct inputs *in, const char *operand);
/* Sort items by location and drop exact duplicates (the same location named twice). */
void inputs_finish(struct inputs *in);
/* 1 when location loc falls under operand root r (r itself, r/..., or r!...). */
int inputs_under_root(const char *loc, const char *root);

/* Read the bytes of one item into *buf (malloc'd, caller frees).  For ZIP members
 * the archive is opened and scanned to the entry (use inputs_zip_* for bulk reads).
 * 0 ok; -1 with reason in err. */
int input_read(const struct inputs *in, const struct input_item *it, unsigned char **buf,
    size_t *len, char *err, size_t errlen);

/* Sequential reader over the members of one ZIP, in archive order, with the safety
 * caps of the limits.  Used by the pipeline so a ZIP is decompressed once. */
typedef struct zip_reader zip_reader;
zip_reader *zip_reader_open(const char *path, const struct input_limits *lim, char *err, size_t errlen);
/* Next regular entry: 1 with *name (raw, owned by the reader until the next call),
 * 0 at the end, -1 error for the whole archive (err). */
int zip_reader_next(zip_reader *z, const char **name, uint64_t *size, int64_t *mtime,
    char *err, size_t errlen);
/* Data of the current entry (malloc'd).  0 ok; -1 with the reason the entry is
 * rejected (the reader stays usable unless the archive itself is broken: then -2). */
int zip_reader_data(zip_reader *z, unsigned char **buf, size_t *len, char *err, size_t errlen);
void zip_reader_close(zip_reader *z);

/* Valid UTF-8 copy of raw bytes: invalid bytes become "\xNN". malloc'd. */
char *input_utf8_name(const char *raw);
/* 1 when the bytes start like an archive or compressed file (zip, gzip, bzip2, xz,
 * 7z, rar, tar), with its name in *what. */
int input_is_archive(const unsigned char *b, size_t n, const char **what);

#endif
