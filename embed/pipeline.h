/* pipeline.h — clipsort-embed's work loop: one thread reads and hashes inputs in
 * order (a ZIP is decompressed once, sequentially), decoder threads decode and
 * preprocess the images that need embedding, and the calling thread batches them
 * through the model.  Results come back in input order, so output is deterministic
 * whatever the thread timing; memory is bounded by a window of in-flight items.
 *
 * Ownership: the caller owns everything in pipe_cfg; callbacks receive borrowed
 * pointers valid only during the call. */
#ifndef CS_PIPELINE_H
#define CS_PIPELINE_H

#include "clip.h"
#include "inputs.h"
#include "preproc.h"
#include "progress.h"

struct pipe_cfg {
	struct inputs *in;
	const struct preproc_params *pp;
	cs_model *model;
	int dim;
	int batch;              /* images per model call */
	int nthreads;           /* decoder threads */
	int shard_k, shard_n;   /* embed only keys with key mod n == k-1 (n = 0: all) */
	void *ctx;
	/* 1 when the item's location is known unchanged (same size and mtime) in the
	 * old cache: key is filled in and the file is not read. */
	int (*known_loc)(void *ctx, const struct input_item *it, char key[65]);
	/* 1 when the old cache already has a vector for key. */
	int (*key_exists)(void *ctx, const char *key);
	/* Every item that has a key (in input order, shard members only). */
	int (*on_location)(void *ctx, const struct input_item *it, const char *key);
	/* Each newly embedded image, once per key, in input order. */
	int (*on_vector)(void *ctx, const struct input_item *it, const char *key, const float *vec);
	void (*on_reject)(void *ctx, const char *loc, const char *reason);
	progress *prog;
};

/* 0 when every item was handled (some may have been rejected); -1 when a callback
 * or the model failed (message already reported, *status set). */
int pipeline_run(const struct pipe_cfg *c, int *status);

#endif
