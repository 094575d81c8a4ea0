/* emb_int.h — private to common/emb*.c: the reader object shared by the stream and
 * the HDF5 halves.  Not for tools; they use emb.h. */
#ifndef CS_EMB_INT_H
#define CS_EMB_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "emb.h"
#include "errbuf.h"

#define EMB_STREAM_MAGIC "CLIPSEMB"
#define EMB_HDF5_MAGIC "\x89HDF\r\n\x1a\n"
#define EMB_MAX_DIM 65536u
#define EMB_MAX_STAMP_STR 65536u        /* model, fingerprint, preprocess */
#define EMB_MAX_STR (1u << 20)          /* class, prompt, location */

struct emb_cache_rd;                    /* emb_cache.c */

struct emb_reader {
	int kind;
	char *name;
	emb_stamp stamp;
	char err[1024];
	int failed;                     /* sticky: an error was reported */
	int io;                         /* ... and it was a read error */

	/* texts, both kinds */
	emb_text *texts;
	size_t ntexts, textcap;
	int texts_done;                 /* all texts known */

	/* current image */
	char *loc;
	size_t loccap;
	float *vec;

	/* stream */
	FILE *fp;
	int owns_fp;
	uint64_t off;                   /* bytes consumed so far */
	int pending;                    /* a record tag read ahead, or -1 */
	uint64_t nimages;               /* image records read */
	int ended;

	/* cache */
	struct emb_cache_rd *c;
};

int emb_fail(emb_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* key helpers: 64 lowercase hex <-> 32 raw bytes (emb_key_valid is in emb.h) */
void emb_key_to_raw(const char *hex, unsigned char raw[32]);
void emb_key_to_hex(const unsigned char raw[32], char hex[EMB_KEY_HEX + 1]);
int emb_stamp_check(const emb_stamp *s, char *why, size_t whylen);
int emb_vec_finite(const float *v, uint32_t dim);

void emb_reader_add_text(emb_reader *r, const char *cls, const char *prompt, const float *vec);

/* stream half (emb_stream.c) */
int emb_stream_open(emb_reader *r);              /* magic already consumed */
int emb_stream_texts(emb_reader *r);
int emb_stream_next(emb_reader *r, emb_image *img);

/* cache half (emb_cache.c) */
int emb_cache_open(emb_reader *r, const char *path);
int emb_cache_next(emb_reader *r, emb_image *img);
long long emb_cache_count(const emb_reader *r);
void emb_cache_close(emb_reader *r);

#endif
