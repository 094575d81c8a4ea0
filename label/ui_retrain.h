/* ui_retrain.h — one retrain round of the labellers, run by ui_core's worker thread:
 * clipsort-train (labels → model + report), clipsort-predict (model → predictions),
 * clipsort-rank (predictions → the queue), each as a child process (posix_spawn,
 * stdin /dev/null, stdout/stderr to files in the work directory), results written to
 * temporary names and parsed only after every step succeeded, so a failed round leaves
 * the previous model, predictions and queue in use.
 *
 * Ownership: ui_round is caller-owned; ui_round_release frees its arrays. */
#ifndef CS_UI_RETRAIN_H
#define CS_UI_RETRAIN_H

#include <stddef.h>

typedef struct ui_round_in {
	const char *tooldir;    /* directory of the clipsort tools, or NULL = PATH */
	const char *cache, *labels, *classes, *workdir;
	const char *zeroshot, *clusters;        /* optional inputs for clipsort-rank */
	size_t nitems, nclasses;
	/* item id of a key, or (size_t)-1 */
	size_t (*key_id)(void *ctx, const char *key);
	/* class index of a name, or -1 */
	int (*class_id)(void *ctx, const char *name);
	void *ctx;
} ui_round_in;

typedef struct ui_round {
	int has_model;          /* a classifier was trained: pred/pred_p valid */
	int *pred;              /* nitems entries, -1 = no prediction */
	double *pred_p;
	size_t *queue;          /* item ids in labelling order */
	size_t nqueue;
	int has_queue;
	double cv_accuracy;     /* -1 unknown */
	char msg[256];          /* what happened, in words (shown in the UI) */
} ui_round;

/* Path of a tool: DIR/clipsort-NAME when dir has it, else the first PATH match.
 * Returns a malloc'd string or NULL when not found. */
char *ui_tool_path(const char *tooldir, const char *name);

/* Run one round.  0 = something usable in *out (a model and/or a queue), else -1 with
 * out->msg saying why. */
int ui_retrain_round(const ui_round_in *in, ui_round *out);
void ui_round_release(ui_round *r);

/* Parse a predictions/zeroshot TSV (key, class, confidence columns): for each row
 * whose key is known, cls[id] and p[id] are set.  0 or -1 with msg. */
int ui_read_class_tsv(const char *path, const ui_round_in *in, int *cls, double *p,
		char *msg, size_t msglen);

#endif
