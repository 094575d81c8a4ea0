/* safetensors_write.h — a streaming writer of the safetensors format
 * (https://github.com/huggingface/safetensors): 8-byte little-endian header length,
 * a compact JSON header padded with spaces to a multiple of 8 bytes, then the tensor
 * data back to back.  The file comes out exactly as the Python/Rust library writes
 * it: tensors ordered by dtype (descending, in the library's Dtype enum order) then
 * by name (byte order), data offsets contiguous in that order, header keys in that
 * order, "__metadata__" (when given) first.
 *
 * Use: declare every tensor with stw_add, call stw_begin (writes the header), then
 * write each tensor's data in file order — stw_next says which tensor is due — with
 * stw_write (raw little-endian bytes) or stw_write_f32 (floats converted to the
 * tensor's dtype, round to nearest even), any number of calls per tensor; stw_finish
 * checks that every byte was written.  Memory use is the header only, so files of
 * any size can be streamed.
 *
 * Ownership: stw_new returns a writer the caller frees with stw_free (NULL-safe);
 * names and metadata strings are copied.  The FILE stays the caller's (not closed).
 * Functions return 0 or -1 with a message in the writer (stw_errmsg). */
#ifndef CS_SAFETENSORS_WRITE_H
#define CS_SAFETENSORS_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The library's Dtype enum order (safetensors/src/tensor.rs), which the sort uses. */
enum stw_dtype {
	STW_BOOL, STW_U8, STW_I8, STW_I16, STW_U16, STW_F16, STW_BF16,
	STW_I32, STW_U32, STW_F32, STW_F64, STW_I64, STW_U64
};

#define STW_MAX_DIMS 8

typedef struct stw_writer stw_writer;

stw_writer *stw_new(void);
void stw_free(stw_writer *w);
const char *stw_errmsg(const stw_writer *w);

/* "F32", "BF16", ...; NULL for a bad value.  stw_dtype_parse returns -1 for an unknown name. */
const char *stw_dtype_name(enum stw_dtype t);
int stw_dtype_parse(const char *name);
size_t stw_dtype_size(enum stw_dtype t);

/* Optional "__metadata__" string pairs (before stw_begin). */
int stw_meta(stw_writer *w, const char *key, const char *value);
/* Declare a tensor (before stw_begin); ndim 0 is a scalar.  Duplicate names fail. */
int stw_add(stw_writer *w, const char *name, enum stw_dtype t, int ndim, const int64_t *shape);
/* Sort, lay out and write the header to fp. */
int stw_begin(stw_writer *w, FILE *fp);
/* The tensor whose data is due next (index into file order), or -1 when all are done.
 * name/dtype/numel describe it (any may be NULL). */
int stw_next(const stw_writer *w, const char **name, enum stw_dtype *t, uint64_t *numel);
/* Append bytes / floats to the due tensor; data may not run past its end. */
int stw_write(stw_writer *w, const void *data, size_t nbytes);
int stw_write_f32(stw_writer *w, const float *x, size_t n);
/* After the last tensor: checks completeness and flushes fp. */
int stw_finish(stw_writer *w);

/* Total file size once laid out (after stw_begin). */
uint64_t stw_file_size(const stw_writer *w);

/* IEEE half / bfloat16 from float, round to nearest even (NaN stays NaN). */
uint16_t stw_f32_to_f16(float f);
uint16_t stw_f32_to_bf16(float f);

#endif
