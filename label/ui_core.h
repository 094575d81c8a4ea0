/* ui_core.h — the labelling loop shared by clipsort-label-web and clipsort-label-gtk:
 * the images (from the embedding cache), the classes and their keys, the signals
 * shown next to an image (classifier prediction, zero-shot, cluster), the
 * active-learning queue with per-user leases, durable labelling with idempotent
 * submissions, undo history, flags, statistics, the review list, and the background
 * retrain (clipsort-train / -predict / -rank run as child processes).
 *
 * Ownership: a ui_core is opaque, made by ui_core_open() and freed by
 * ui_core_free() (NULL-safe).  Every function is thread-safe.  Item ids are indexes
 * into the cache's key list (0 .. ui_core_nitems()-1): the opaque ids the UIs use
 * instead of paths.  Strings returned by ui_core_class()/ui_core_key()/ui_core_loc()
 * live as long as the core.  Snapshots (ui_item_info, ui_stats) are plain copies.
 * Functions return 0 or a cs_exit status with the message in errbuf. */
#ifndef CS_UI_CORE_H
#define CS_UI_CORE_H

#include <stddef.h>
#include <stdint.h>

#define UI_MAX_CLASSES 64
#define UI_HISTORY 10           /* decisions per user that stay editable */
#define UI_NAME_MAX 64          /* user name bytes */
#define UI_SUB_MAX 64           /* submission id bytes */

typedef struct ui_params {
	const char *cache;      /* embedding cache (or stream) — image keys and locations */
	const char *labels;     /* labels.tsv (appended to) */
	const char *classes;    /* classes.tsv: class<TAB>prompt, classes in order of first appearance */
	const char *zeroshot;   /* optional zeroshot.tsv (clipsort-zeroshot output) */
	const char *clusters;   /* optional clusters.tsv (clipsort-cluster output) */
	const char *journal;    /* submission ids and flags; NULL = LABELS.journal */
	const char *workdir;    /* retrain outputs (model, predictions, queue); NULL = LABELS.d */
	const char *root;       /* directory relative image locations are resolved in; NULL = "." */
	const char *tooldir;    /* where clipsort-train/-predict/-rank live; NULL = next to argv0, then PATH */
	int retrain_every;      /* new labels between retrains (default 10; 0 = never) */
	int lease_s;            /* how long an image handed to one user is hidden from others */
	double confident;       /* probability counted as a confident prediction (default 0.9) */
} ui_params;

void ui_params_default(ui_params *p);
/* The options both labellers take.  UI_OPTIONS expands to their struct option entries
 * (a program's own option values start at UI_O_END); ui_params_option() applies one and
 * returns 1 when ch was one of them, 0 otherwise. */
enum { UI_O_CACHE = 256, UI_O_LABELS, UI_O_CLASSES, UI_O_ZS, UI_O_CL, UI_O_ROOT, UI_O_JOURNAL,
	UI_O_WORK, UI_O_EVERY, UI_O_LEASE, UI_O_TOOLS, UI_O_END };
#define UI_OPTIONS \
	{ "cache", 1, 0, UI_O_CACHE }, { "labels", 1, 0, UI_O_LABELS }, { "classes", 1, 0, UI_O_CLASSES }, \
	{ "zeroshot", 1, 0, UI_O_ZS }, { "clusters", 1, 0, UI_O_CL }, { "root", 1, 0, UI_O_ROOT }, \
	{ "journal", 1, 0, UI_O_JOURNAL }, { "workdir", 1, 0, UI_O_WORK }, \
	{ "retrain-every", 1, 0, UI_O_EVERY }, { "lease", 1, 0, UI_O_LEASE }, { "tools", 1, 0, UI_O_TOOLS }
int ui_params_option(ui_params *p, int ch, const char *arg);

typedef struct ui_core ui_core;

/* Load everything and start the retrain worker.  argv0 locates the sibling tools.
 * NULL on error with the cs_exit status in *status and the message in errbuf. */
ui_core *ui_core_open(const ui_params *p, const char *argv0, int *status, char *errbuf, size_t errlen);
void ui_core_free(ui_core *c);

size_t ui_core_nitems(const ui_core *c);
size_t ui_core_nclasses(const ui_core *c);
const char *ui_core_class(const ui_core *c, size_t i);
char ui_core_class_key(const ui_core *c, size_t i);   /* '1'..'9', or 0 */
int ui_core_class_index(const ui_core *c, const char *name); /* -1 if unknown */
const char *ui_core_key(const ui_core *c, size_t id);
const char *ui_core_loc(const ui_core *c, size_t id);
const char *ui_core_root(const ui_core *c);

/* What the UIs show about one image. */
typedef struct ui_item_info {
	size_t id;
	int label;              /* current label (class index) or -1 */
	char labeller[UI_NAME_MAX + 1];
	int pred;               /* classifier prediction (class index) or -1 */
	double pred_p;          /* its probability */
	int zs;                 /* zero-shot best class or -1 */
	double zs_p;
	int cluster;            /* cluster number or -1 */
	int flagged;
} ui_item_info;

void ui_core_info(ui_core *c, size_t id, ui_item_info *out);

/* A user's session.  Sessions are identified by an index; names are display names. */
int ui_core_session(ui_core *c, const char *name);  /* new session id, -1 if the table is full */
const char *ui_core_session_name(ui_core *c, int sid, char buf[UI_NAME_MAX + 1]);

/* The next n images for session sid (leased to it): ids[0] is the one to show.  Returns
 * how many were found (0 = queue done). */
size_t ui_core_next(ui_core *c, int sid, size_t *ids, size_t n);

enum ui_act { UI_ACT_LABEL = 1, UI_ACT_SKIP, UI_ACT_FLAG };

/* Label id as class cls for session sid.  sub (may be NULL) is a client submission id:
 * a repeated sub is acknowledged without a second record (*dup = 1).  Returns only
 * after the record is durably appended.  0 or a cs_exit status. */
int ui_core_label(ui_core *c, int sid, size_t id, int cls, const char *sub, int *dup,
		char *errbuf, size_t errlen);
int ui_core_skip(ui_core *c, int sid, size_t id);
int ui_core_flag(ui_core *c, int sid, size_t id, const char *sub, int *dup, char *errbuf, size_t errlen);
/* Take back the session's last decision (label → previous label or retraction, flag →
 * unflag, skip → forgotten); *id receives the image, which is shown again next.
 * 1 = nothing to undo. */
int ui_core_undo(ui_core *c, int sid, const char *sub, size_t *id, int *dup, char *errbuf, size_t errlen);

typedef struct ui_decision {
	size_t id;
	int act;                /* enum ui_act */
	int cls;                /* for labels */
} ui_decision;
/* The session's last decisions, newest first; returns how many (<= UI_HISTORY). */
size_t ui_core_history(ui_core *c, int sid, ui_decision out[UI_HISTORY]);

typedef struct ui_stats {
	size_t nitems, nlabelled, nflagged;
	size_t labelled[UI_MAX_CLASSES];
	size_t predicted[UI_MAX_CLASSES];   /* predicted class counts (classifier, else zero-shot) */
	size_t npredicted, nconfident;
	int has_model;
	double cv_accuracy;                 /* -1 when unknown */
	char model_time[32];                /* when the model last improved (UTC), "" = never */
	char model_msg[256];                /* state of the classifier in words */
	unsigned long retrains;             /* completed retrains */
	int retraining;                     /* one is running */
	size_t labels_since;                /* new labels since the last retrain started */
} ui_stats;

void ui_core_stats(ui_core *c, ui_stats *s);

/* Review: images whose current class (label, else prediction, else zero-shot) is cls,
 * lowest confidence first.  conf[i] receives the confidence (1 for a human label).
 * Returns how many were written (<= max). */
size_t ui_core_review(ui_core *c, int cls, size_t *ids, double *conf, size_t max);

/* Wake the retrain worker now (used by tests and a UI button). */
void ui_core_retrain_now(ui_core *c);

#endif
