/* safetensors.h — a defensive reader for the safetensors format (8-byte LE header
 * length, JSON header, raw little-endian data), mmapped read-only.
 *
 * Ownership: an st_file is created by st_open/st_open_mem and destroyed by st_close
 * (NULL-safe).  Tensors and their data pointers belong to the st_file and stay
 * valid until st_close.  Functions return 0 or a negative CS_E* status (clip.h)
 * with a message naming the file in err[]. */
#ifndef CS_SAFETENSORS_H
#define CS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20)  /* larger headers are refused as malformed */

enum st_dtype { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL };

typedef struct st_tensor {
	const char *name;
	int dtype;                 /* enum st_dtype */
	int ndim;
	int64_t shape[ST_MAX_DIMS];
	uint64_t begin, end;       /* byte range in the data section */
	const void *data;          /* start of the tensor's bytes (any alignment) */
} st_tensor;

typedef struct st_file st_file;

int st_open(const char *path, st_file **out, char *err, size_t errlen);
/* Parse a buffer the caller keeps alive until st_close (for tests and fuzzing);
 * name is used in messages. */
int st_open_mem(const void *buf, size_t len, const char *name, st_file **out, char *err, size_t errlen);
void st_close(st_file *f);

size_t st_count(const st_file *f);
const st_tensor *st_at(const st_file *f, size_t i);    /* sorted by name */
const st_tensor *st_find(const st_file *f, const char *name);
uint64_t st_numel(const st_tensor *t);
size_t st_dtype_size(int dtype);
const char *st_dtype_name(int dtype);
uint64_t st_file_size(const st_file *f);

/* Weights fingerprint, 64 lowercase hex digits + NUL: SHA-256 over the 8 length
 * bytes and the header, the file size (8 bytes LE), and the data section — all of
 * it when it is at most 1 MiB, else 256 slices of 4 KiB evenly spaced from its
 * first to its last byte (clipsort-models(7)). */
int st_fingerprint(const st_file *f, char hex[65], char *err, size_t errlen);

/* "[a, b, c]" into buf. */
void st_shape_str(const int64_t *shape, int ndim, char *buf, size_t len);

#endif
