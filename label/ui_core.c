/* ui_core.c — the labelling loop shared by the web and desktop labellers (ui_core.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "strhash.h"
#include "emb.h"
#include "exitcode.h"
#include "labels.h"
#include "num.h"
#include "tsv.h"
#include "ui_core.h"
#include "ui_journal.h"
#include "ui_retrain.h"
#include "xalloc.h"

#define MAX_SESSIONS 1024
#define MAX_LEASED 16

typedef struct hist {
	size_t id;
	int act, cls;
	int prev;               /* label before this decision (class index, -1 none) */
} hist;

typedef struct session {
	int used;
	char name[UI_NAME_MAX + 1];
	time_t active;
	hist h[UI_HISTORY];     /* ring: newest at (hpos-1) */
	size_t hpos, hn;
	size_t *skipped;
	size_t nskipped, skipcap;
	size_t leased[MAX_LEASED];
	size_t nleased;
} session;

struct ui_core {
	ui_params p;
	char *labels_path, *journal_path, *workdir, *tooldir, *root;
	char *cache_path, *classes_path, *zs_path, *cl_path;

	size_t n;
	char (*keys)[EMB_KEY_HEX + 1];
	char **locs;
	size_t *hidx;           /* key hash → id+1 */
	size_t hcap;

	size_t ncls;
	char *cls[UI_MAX_CLASSES];

	int *zs;
	double *zs_p;
	int *cluster;
	unsigned char *flag;
	int *lease_sid;
	time_t *lease_until;

	/* swapped in by the retrain worker (under mu) */
	int *pred;
	double *pred_p;
	size_t *queue;
	size_t nqueue;
	int has_model;
	double cv;
	char model_time[32];
	char model_msg[256];
	unsigned long retrains;
	int retraining;

	pthread_mutex_t mu;     /* everything above that changes, sessions, labels view */
	pthread_mutex_t wmu;    /* the write path: seen set + journal + labels appends */
	pthread_cond_t committed;
	struct pend *pending;   /* labels waiting for the next group commit */
	struct pend *inflight;  /* the batch being written */
	labels *view;
	ui_journal jn;
	ui_strset seen;
	char last_time[LABELS_TIME_MAX];
	session *sess;

	pthread_t worker;
	pthread_cond_t wake;
	int stop, want;
	unsigned long lines_at_round;
};

void ui_params_default(ui_params *p)
{
	memset(p, 0, sizeof *p);
	p->retrain_every = 10;
	p->lease_s = 300;
	p->confident = 0.9;
}

int ui_params_option(ui_params *p, int ch, const char *arg)
{
	switch (ch) {
	case UI_O_CACHE: p->cache = arg; break;
	case UI_O_LABELS: p->labels = arg; break;
	case UI_O_CLASSES: p->classes = arg; break;
	case UI_O_ZS: p->zeroshot = arg; break;
	case UI_O_CL: p->clusters = arg; break;
	case UI_O_ROOT: p->root = arg; break;
	case UI_O_JOURNAL: p->journal = arg; break;
	case UI_O_WORK: p->workdir = arg; break;
	case UI_O_TOOLS: p->tooldir = arg; break;
	case UI_O_EVERY: p->retrain_every = (int)num_arg_ll("--retrain-every", arg, 0, 1000000); break;
	case UI_O_LEASE: p->lease_s = (int)num_arg_ll("--lease", arg, 1, 86400); break;
	default: return 0;
	}
	return 1;
}

static size_t core_key_id(void *ctx, const char *key)
{
	ui_core *c = ctx;
	for (size_t i = (size_t)cs_strhash(key) & (c->hcap - 1);; i = (i + 1) & (c->hcap - 1)) {
		if (!c->hidx[i])
			return (size_t)-1;
		if (strcmp(c->keys[c->hidx[i] - 1], key) == 0)
			return c->hidx[i] - 1;
	}
}

static int core_class_id(void *ctx, const char *name)
{
	return ui_core_class_index(ctx, name);
}

static char *dup_or(const char *s, const char *dflt)
{
	return xstrdup(s ? s : dflt);
}

/* classes.tsv: class<TAB>prompt lines (an optional "class" header, # comments). */
static int load_classes(ui_core *c, char *errbuf, size_t errlen)
{
	FILE *fp = fopen(c->classes_path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0;
	int rc = 0;

	if (!fp) {
		snprintf(errbuf, errlen, "%s: %s", c->classes_path, strerror(errno));
		return CS_EXIT_IO;
	}
	while ((len = getline(&line, &cap, fp)) > 0) {
		lineno++;
		line[strcspn(line, "\t\r\n")] = '\0';
		if (lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
			memmove(line, line + 3, strlen(line + 3) + 1);
		if (!*line || *line == '#' || (lineno == 1 && strcmp(line, "class") == 0))
			continue;
		if (!labels_valid_class(line, 0)) {
			snprintf(errbuf, errlen, "%s:%lu: invalid class name '%.80s'", c->classes_path, lineno, line);
			rc = CS_EXIT_DATA;
			break;
		}
		if (ui_core_class_index(c, line) >= 0)
			continue;
		if (c->ncls == UI_MAX_CLASSES) {
			snprintf(errbuf, errlen, "%s:%lu: more than %d classes", c->classes_path, lineno, UI_MAX_CLASSES);
			rc = CS_EXIT_DATA;
			break;
		}
		c->cls[c->ncls++] = xstrdup(line);
	}
	free(line);
	fclose(fp);
	if (rc == 0 && c->ncls < 2) {
		snprintf(errbuf, errlen, "%s: needs at least 2 classes, found %zu", c->classes_path, c->ncls);
		rc = CS_EXIT_DATA;
	}
	return rc;
}

static int load_cache(ui_core *c, char *errbuf, size_t errlen)
{
	emb_reader *r;
	emb_image img;
	size_t cap = 0;
	int got;

	if (access(c->cache_path, R_OK) != 0) {
		snprintf(errbuf, errlen, "%s: %s", c->cache_path, strerror(errno));
		return CS_EXIT_IO;
	}
	if (!(r = emb_reader_open(c->cache_path, errbuf, errlen)))
		return CS_EXIT_DATA;
	while ((got = emb_reader_next(r, &img)) == 1) {
		if (c->n == cap) {
			xgrow(&c->keys, &cap, c->n + 1, sizeof *c->keys);
			c->locs = xreallocarray(c->locs, cap, sizeof *c->locs);
		}
		memcpy(c->keys[c->n], img.key, sizeof c->keys[0]);
		c->locs[c->n] = xstrdup(img.location ? img.location : "");
		c->n++;
	}
	if (got < 0) {
		snprintf(errbuf, errlen, "%s", emb_reader_error(r));
		emb_reader_close(r);
		return CS_EXIT_DATA;
	}
	emb_reader_close(r);
	if (c->n == 0) {
		snprintf(errbuf, errlen, "%s: no images", c->cache_path);
		return CS_EXIT_DATA;
	}
	for (c->hcap = 16; c->hcap < c->n * 2; c->hcap *= 2)
		;
	c->hidx = xcalloc(c->hcap, sizeof *c->hidx);
	for (size_t id = 0; id < c->n; id++) {
		size_t i = (size_t)cs_strhash(c->keys[id]) & (c->hcap - 1);
		while (c->hidx[i])
			i = (i + 1) & (c->hcap - 1);
		c->hidx[i] = id + 1;
	}
	return 0;
}

static int load_clusters(ui_core *c, char *errbuf, size_t errlen)
{
	tsv_reader r;
	static const char *const need[] = { "key", "cluster" };
	int idx[2], got, rc = 0;

	if (tsv_reader_open(&r, c->cl_path) != 0 || tsv_reader_require(&r, need, idx, 2) != 0) {
		snprintf(errbuf, errlen, "%s", r.err);
		tsv_reader_release(&r);
		return CS_EXIT_DATA;
	}
	while ((got = tsv_reader_next(&r)) == 1) {
		size_t id = core_key_id(c, tsv_reader_field(&r, (size_t)idx[0]));
		const char *e;
		long long k = num_parse_ll(tsv_reader_field(&r, (size_t)idx[1]), 0, 1000000, &e);
		if (e) {
			snprintf(errbuf, errlen, "%s:%lu: cluster: %s", c->cl_path, r.lineno, e);
			rc = CS_EXIT_DATA;
			break;
		}
		if (id != (size_t)-1)
			c->cluster[id] = (int)k;
	}
	if (got < 0) {
		snprintf(errbuf, errlen, "%s", r.err);
		rc = CS_EXIT_DATA;
	}
	tsv_reader_release(&r);
	return rc;
}

struct pending { ui_strset want, found; ui_core *c; char **subs; char **tk; size_t n, cap; };

static void journal_cb(void *ctx, const char *time, const char *kind, const char *sub,
		const char *key, const char *cls, const char *labeller)
{
	struct pending *pd = ctx;
	ui_core *c = pd->c;
	(void)cls; (void)labeller;
	if (strcmp(kind, "label") == 0) {
		if (!*sub)
			return;
		if (pd->n == pd->cap) {
			xgrow(&pd->subs, &pd->cap, pd->n + 1, sizeof *pd->subs);
			pd->tk = xreallocarray(pd->tk, pd->cap, sizeof *pd->tk);
		}
		pd->subs[pd->n] = xstrdup(sub);
		pd->tk[pd->n] = xasprintf("%s\t%s", time, key);
		ui_strset_add(&pd->want, pd->tk[pd->n]);
		pd->n++;
	} else if (strcmp(kind, "flag") == 0 || strcmp(kind, "unflag") == 0) {
		size_t id = core_key_id(c, key);
		if (id != (size_t)-1)
			c->flag[id] = kind[0] == 'f';
		if (*sub)
			ui_strset_add(&c->seen, sub);
	}
}

static void scan_cb(void *ctx, const char *time_key)
{
	struct pending *pd = ctx;
	if (ui_strset_has(&pd->want, time_key))
		ui_strset_add(&pd->found, time_key);
}

/* Rebuild the seen submission ids: an intent counts only when its record exists. */
static int load_journal(ui_core *c, char *errbuf, size_t errlen)
{
	struct pending pd = { .c = c };
	int rc = ui_journal_read(c->journal_path, journal_cb, &pd, errbuf, errlen);
	if (rc == 0 && pd.n > 0)
		rc = ui_labels_scan(c->labels_path, scan_cb, &pd, errbuf, errlen);
	for (size_t i = 0; i < pd.n; i++) {
		if (rc == 0 && ui_strset_has(&pd.found, pd.tk[i]))
			ui_strset_add(&c->seen, pd.subs[i]);
		free(pd.subs[i]);
		free(pd.tk[i]);
	}
	free(pd.subs);
	free(pd.tk);
	ui_strset_release(&pd.want);
	ui_strset_release(&pd.found);
	if (rc == 0)
		rc = ui_journal_open(&c->jn, c->journal_path, errbuf, errlen);
	return rc;
}

static void utc_now(char buf[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* --- retrain worker --------------------------------------------------------- */

static void apply_round(ui_core *c, ui_round *r)
{
	pthread_mutex_lock(&c->mu);
	if (r->has_model) {
		double old = c->has_model ? c->cv : -1;
		free(c->pred);
		free(c->pred_p);
		c->pred = r->pred;
		c->pred_p = r->pred_p;
		r->pred = NULL;
		r->pred_p = NULL;
		if (!c->has_model || r->cv_accuracy < 0 || old < 0 || r->cv_accuracy > old)
			utc_now(c->model_time);
		c->has_model = 1;
		c->cv = r->cv_accuracy;
	}
	if (r->has_queue) {
		free(c->queue);
		c->queue = r->queue;
		c->nqueue = r->nqueue;
		r->queue = NULL;
	}
	snprintf(c->model_msg, sizeof c->model_msg, "%s", r->msg);
	c->retrains++;
	pthread_mutex_unlock(&c->mu);
}

static void *worker_main(void *arg)
{
	ui_core *c = arg;
	ui_round_in in = {
		.tooldir = c->tooldir, .cache = c->cache_path, .labels = c->labels_path,
		.classes = c->classes_path, .workdir = c->workdir, .zeroshot = c->zs_path,
		.clusters = c->cl_path, .nitems = c->n, .nclasses = c->ncls,
		.key_id = core_key_id, .class_id = core_class_id, .ctx = c,
	};
	int first = 1;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->stop && !c->want && !first) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&c->wake, &c->mu, &ts);
			/* labels from other labellers count too: poll the log */
			int changed;
			char err[512];
			if (labels_refresh(c->view, &changed, err, sizeof err) == 0 && c->p.retrain_every > 0 &&
					labels_nlines(c->view) >= c->lines_at_round + (unsigned long)c->p.retrain_every)
				c->want = 1;
		}
		if (c->stop)
			break;
		first = 0;
		c->want = 0;
		c->retraining = 1;
		c->lines_at_round = labels_nlines(c->view);
		pthread_mutex_unlock(&c->mu);

		ui_round r;
		memset(&r, 0, sizeof r);
		ui_retrain_round(&in, &r);
		apply_round(c, &r);
		ui_round_release(&r);

		pthread_mutex_lock(&c->mu);
		c->retraining = 0;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

void ui_core_retrain_now(ui_core *c)
{
	pthread_mutex_lock(&c->mu);
	c->want = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->mu);
}

/* --- open / free ------------------------------------------------------------- */

static char *sibling_dir(const char *argv0)
{
	if (!argv0 || !strchr(argv0, '/'))
		return NULL;
	char *d = xstrdup(argv0);
	*strrchr(d, '/') = '\0';
	return d;
}

ui_core *ui_core_open(const ui_params *p, const char *argv0, int *status, char *errbuf, size_t errlen)
{
	ui_core *c = xcalloc(1, sizeof *c);
	int rc;

	c->p = *p;
	c->cache_path = xstrdup(p->cache);
	c->classes_path = xstrdup(p->classes);
	c->labels_path = xstrdup(p->labels);
	c->zs_path = p->zeroshot ? xstrdup(p->zeroshot) : NULL;
	c->cl_path = p->clusters ? xstrdup(p->clusters) : NULL;
	c->journal_path = p->journal ? xstrdup(p->journal) : xasprintf("%s.journal", p->labels);
	c->workdir = p->workdir ? xstrdup(p->workdir) : xasprintf("%s.d", p->labels);
	c->root = dup_or(p->root, ".");
	c->tooldir = p->tooldir ? xstrdup(p->tooldir) : sibling_dir(argv0);
	c->jn.fd = -1;
	c->cv = -1;
	c->sess = xcalloc(MAX_SESSIONS, sizeof *c->sess);
	snprintf(c->model_msg, sizeof c->model_msg, "no classifier yet");
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->wmu, NULL);
	pthread_cond_init(&c->committed, NULL);
	pthread_cond_init(&c->wake, NULL);

	*status = 0;
	if ((rc = load_classes(c, errbuf, errlen)) != 0 || (rc = load_cache(c, errbuf, errlen)) != 0)
		goto fail;
	c->zs = xmalloc(c->n * sizeof *c->zs);
	c->zs_p = xcalloc(c->n, sizeof *c->zs_p);
	c->cluster = xmalloc(c->n * sizeof *c->cluster);
	c->flag = xcalloc(c->n, 1);
	c->lease_sid = xmalloc(c->n * sizeof *c->lease_sid);
	c->lease_until = xcalloc(c->n, sizeof *c->lease_until);
	for (size_t i = 0; i < c->n; i++)
		c->zs[i] = c->cluster[i] = c->lease_sid[i] = -1;
	if (c->zs_path) {
		ui_round_in in = { .nitems = c->n, .nclasses = c->ncls, .key_id = core_key_id,
				.class_id = core_class_id, .ctx = c };
		char msg[512];
		if (ui_read_class_tsv(c->zs_path, &in, c->zs, c->zs_p, msg, sizeof msg) != 0) {
			snprintf(errbuf, errlen, "%s", msg);
			rc = CS_EXIT_DATA;
			goto fail;
		}
	}
	if (c->cl_path && (rc = load_clusters(c, errbuf, errlen)) != 0)
		goto fail;
	c->view = labels_new();
	if ((rc = labels_load(c->view, c->labels_path, errbuf, errlen)) != 0)
		goto fail;
	if ((rc = load_journal(c, errbuf, errlen)) != 0)
		goto fail;
	if (mkdir(c->workdir, 0755) != 0 && errno != EEXIST) {
		snprintf(errbuf, errlen, "%s: %s", c->workdir, strerror(errno));
		rc = CS_EXIT_IO;
		goto fail;
	}
	c->queue = xmalloc(c->n * sizeof *c->queue);
	for (size_t i = 0; i < c->n; i++)
		c->queue[i] = i;
	c->nqueue = c->n;
	c->lines_at_round = labels_nlines(c->view);
	if (c->p.retrain_every > 0 && pthread_create(&c->worker, NULL, worker_main, c) != 0) {
		snprintf(errbuf, errlen, "cannot start the retrain thread");
		c->p.retrain_every = -1;
		rc = CS_EXIT_IO;
		goto fail;
	}
	return c;
fail:
	if (c->p.retrain_every > 0)
		c->p.retrain_every = -1;        /* no worker to join */
	ui_core_free(c);
	*status = rc;
	return NULL;
}

void ui_core_free(ui_core *c)
{
	if (!c)
		return;
	if (c->p.retrain_every > 0) {
		pthread_mutex_lock(&c->mu);
		c->stop = 1;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->worker, NULL);
	}
	for (size_t i = 0; i < c->n; i++)
		free(c->locs[i]);
	for (size_t i = 0; i < c->ncls; i++)
		free(c->cls[i]);
	for (size_t i = 0; i < MAX_SESSIONS; i++)
		free(c->sess[i].skipped);
	free(c->sess);
	free(c->keys); free(c->locs); free(c->hidx);
	free(c->zs); free(c->zs_p); free(c->cluster); free(c->flag);
	free(c->lease_sid); free(c->lease_until);
	free(c->pred); free(c->pred_p); free(c->queue);
	labels_free(c->view);
	ui_journal_close(&c->jn);
	ui_strset_release(&c->seen);
	free(c->labels_path); free(c->journal_path); free(c->workdir); free(c->tooldir);
	free(c->root); free(c->cache_path); free(c->classes_path); free(c->zs_path); free(c->cl_path);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->wmu);
	pthread_cond_destroy(&c->committed);
	pthread_cond_destroy(&c->wake);
	free(c);
}

/* --- accessors ----------------------------------------------------------------- */

size_t ui_core_nitems(const ui_core *c) { return c->n; }
size_t ui_core_nclasses(const ui_core *c) { return c->ncls; }
const char *ui_core_class(const ui_core *c, size_t i) { return i < c->ncls ? c->cls[i] : NULL; }
char ui_core_class_key(const ui_core *c, size_t i) { return i < c->ncls && i < 9 ? (char)('1' + i) : 0; }
const char *ui_core_key(const ui_core *c, size_t id) { return id < c->n ? c->keys[id] : NULL; }
const char *ui_core_loc(const ui_core *c, size_t id) { return id < c->n ? c->locs[id] : NULL; }
const char *ui_core_root(const ui_core *c) { return c->root; }

int ui_core_class_index(const ui_core *c, const char *name)
{
	for (size_t i = 0; i < c->ncls; i++)
		if (strcmp(c->cls[i], name) == 0)
			return (int)i;
	return -1;
}

static void refresh_view(ui_core *c)
{
	int changed;
	char err[512];
	labels_refresh(c->view, &changed, err, sizeof err);
}

static int label_of(ui_core *c, size_t id, const char **who)
{
	const labels_entry *e = labels_get(c->view, c->keys[id]);
	if (who)
		*who = e ? e->labeller : "";
	return e ? ui_core_class_index(c, e->cls) : -1;
}

void ui_core_info(ui_core *c, size_t id, ui_item_info *o)
{
	const char *who;
	memset(o, 0, sizeof *o);
	o->id = id;
	pthread_mutex_lock(&c->mu);
	o->label = label_of(c, id, &who);
	snprintf(o->labeller, sizeof o->labeller, "%s", who);
	o->pred = c->has_model ? c->pred[id] : -1;
	o->pred_p = c->has_model ? c->pred_p[id] : 0;
	o->zs = c->zs[id];
	o->zs_p = c->zs_p[id];
	o->cluster = c->cluster[id];
	o->flagged = c->flag[id];
	pthread_mutex_unlock(&c->mu);
}

/* --- sessions and the queue ------------------------------------------------------ */

int ui_core_session(ui_core *c, const char *name)
{
	time_t now = time(NULL);
	int best = -1;
	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < MAX_SESSIONS; i++) {
		if (!c->sess[i].used) {
			best = i;
			break;
		}
		if (now - c->sess[i].active > c->p.lease_s &&
				(best < 0 || c->sess[i].active < c->sess[best].active))
			best = i;
	}
	if (best >= 0) {
		session *s = &c->sess[best];
		free(s->skipped);
		memset(s, 0, sizeof *s);
		s->used = 1;
		s->active = now;
		snprintf(s->name, sizeof s->name, "%s", name);
		for (size_t i = 0; i < c->n; i++)
			if (c->lease_sid[i] == best)
				c->lease_sid[i] = -1;
	}
	pthread_mutex_unlock(&c->mu);
	return best;
}

const char *ui_core_session_name(ui_core *c, int sid, char buf[UI_NAME_MAX + 1])
{
	pthread_mutex_lock(&c->mu);
	snprintf(buf, UI_NAME_MAX + 1, "%s", sid >= 0 && sid < MAX_SESSIONS ? c->sess[sid].name : "");
	pthread_mutex_unlock(&c->mu);
	return buf;
}

static int skipped_by(const session *s, size_t id)
{
	for (size_t i = 0; i < s->nskipped; i++)
		if (s->skipped[i] == id)
			return 1;
	return 0;
}

static void unskip(session *s, size_t id)
{
	for (size_t i = 0; i < s->nskipped; i++)
		if (s->skipped[i] == id) {
			s->skipped[i] = s->skipped[--s->nskipped];
			return;
		}
}

static int eligible(ui_core *c, int sid, size_t id, time_t now)
{
	if (c->flag[id] || labels_get(c->view, c->keys[id]))
		return 0;
	return c->lease_sid[id] < 0 || c->lease_sid[id] == sid || c->lease_until[id] <= now;
}

size_t ui_core_next(ui_core *c, int sid, size_t *ids, size_t n)
{
	time_t now = time(NULL);
	size_t got = 0;

	if (n > MAX_LEASED)
		n = MAX_LEASED;
	pthread_mutex_lock(&c->mu);
	session *s = &c->sess[sid];
	s->active = now;
	refresh_view(c);
	/* an image brought back by undo comes first */
	for (size_t i = 0; i < s->nleased && got < n; i++) {
		size_t id = s->leased[i];
		if (i == 0 && c->lease_sid[id] == sid && eligible(c, sid, id, now) && !skipped_by(s, id))
			ids[got++] = id;
		break;
	}
	for (int pass = 0; pass < 2 && got < n; pass++)
		for (size_t q = 0; q < c->nqueue && got < n; q++) {
			size_t id = c->queue[q];
			if (!eligible(c, sid, id, now) || skipped_by(s, id) != pass)
				continue;
			size_t k;
			for (k = 0; k < got && ids[k] != id; k++)
				;
			if (k == got)
				ids[got++] = id;
		}
	/* the queue from rank may omit images: fall back to every image */
	for (size_t id = 0; id < c->n && got < n; id++) {
		if (!eligible(c, sid, id, now))
			continue;
		size_t k;
		for (k = 0; k < got && ids[k] != id; k++)
			;
		if (k == got)
			ids[got++] = id;
	}
	for (size_t i = 0; i < s->nleased; i++)
		if (c->lease_sid[s->leased[i]] == sid)
			c->lease_sid[s->leased[i]] = -1;
	for (size_t i = 0; i < got; i++) {
		c->lease_sid[ids[i]] = sid;
		c->lease_until[ids[i]] = now + c->p.lease_s;
		s->leased[i] = ids[i];
	}
	s->nleased = got;
	pthread_mutex_unlock(&c->mu);
	return got;
}

static void push_hist(session *s, size_t id, int act, int cls, int prev)
{
	s->h[s->hpos] = (hist){ .id = id, .act = act, .cls = cls, .prev = prev };
	s->hpos = (s->hpos + 1) % UI_HISTORY;
	if (s->hn < UI_HISTORY)
		s->hn++;
}

/* The time of a new record: now, strictly after the last one this process wrote, so
 * (time, key) identifies a record. */
static void next_time(ui_core *c, char t[LABELS_TIME_MAX])
{
	do
		labels_now(t);
	while (strcmp(t, c->last_time) <= 0 && (usleep(1), 1));
	memcpy(c->last_time, t, LABELS_TIME_MAX);
}

/* Group commit: labels waiting to be written.  Each waiting thread owns its pend (on
 * its stack); the first one to find no commit running writes the whole batch — the
 * intents in one journal write + fdatasync, the records in one labels_append (one
 * write + fsync) — so concurrent labellers share the cost of the syncs. */
typedef struct pend {
	const char *key, *path, *cls, *user, *sub;
	char time[LABELS_TIME_MAX];
	int done, rc, dup;
	char err[512];
	struct pend *next;
} pend;

static void commit_batch(ui_core *c, pend *batch)
{
	size_t n = 0, k = 0;
	char err[512];
	int rc = 0;
	for (pend *p = batch; p; p = p->next)
		n++;
	labels_rec *recs = xmalloc(n * sizeof *recs);
	char *intents = NULL;
	size_t ilen = 0, icap = 0;
	for (pend *p = batch; p; p = p->next) {
		recs[k++] = (labels_rec){ .key = p->key, .path = p->path, .cls = p->cls, .labeller = p->user, .time = p->time };
		if (p->sub && *p->sub) {
			char *line = xasprintf("%s\tlabel\t%s\t%s\t%s\t%s\n", p->time, p->sub, p->key, p->cls, p->user);
			size_t l = strlen(line);
			xgrow(&intents, &icap, ilen + l + 1, 1);
			memcpy(intents + ilen, line, l + 1);
			ilen += l;
			free(line);
		}
	}
	if (ilen)
		rc = ui_journal_append_raw(&c->jn, intents, ilen, err, sizeof err);
	if (rc == 0)
		rc = labels_append(c->labels_path, recs, n, err, sizeof err);
	for (pend *p = batch; p; p = p->next) {
		p->rc = rc;
		if (rc)
			snprintf(p->err, sizeof p->err, "%s", err);
	}
	free(intents);
	free(recs);
}

/* Durable label (or retraction) record with its intent; caller holds wmu (released
 * while waiting).  *dup = 1 when the same submission was already on its way. */
static int write_label(ui_core *c, const char *user, size_t id, const char *cls, const char *sub,
		int *dup, char *errbuf, size_t errlen)
{
	if (sub && *sub)
		for (;;) {      /* the same submission on its way already (a resend racing the first)? */
			int busy = 0;
			if (ui_strset_has(&c->seen, sub)) {
				*dup = 1;
				return 0;
			}
			for (int l = 0; l < 2 && !busy; l++)
				for (pend *p = l ? c->inflight : c->pending; p && !busy; p = p->next)
					busy = p->sub && strcmp(p->sub, sub) == 0;
			if (!busy)
				break;
			pthread_cond_wait(&c->committed, &c->wmu);
		}

	pend *me = xcalloc(1, sizeof *me);
	*me = (pend){ .key = c->keys[id], .path = c->locs[id], .cls = cls, .user = user,
		.sub = sub && *sub ? sub : NULL };
	next_time(c, me->time);
	me->next = c->pending;
	c->pending = me;
	while (!me->done) {
		if (c->inflight) {
			pthread_cond_wait(&c->committed, &c->wmu);
			continue;
		}
		pend *batch = c->inflight = c->pending;
		c->pending = NULL;
		pthread_mutex_unlock(&c->wmu);
		commit_batch(c, batch);
		pthread_mutex_lock(&c->wmu);
		c->inflight = NULL;
		for (pend *p = batch, *nx; p; p = nx) {
			nx = p->next;
			if (p->rc == 0 && p->sub)
				ui_strset_add(&c->seen, p->sub);
			p->done = 1;    /* from here on p is its owner's alone */
		}
		pthread_cond_broadcast(&c->committed);
	}
	int rc = me->rc;
	if (rc)
		snprintf(errbuf, errlen, "%s", me->err);
	free(me);
	return rc;
}

int ui_core_label(ui_core *c, int sid, size_t id, int cls, const char *sub, int *dup,
		char *errbuf, size_t errlen)
{
	char user[UI_NAME_MAX + 1];
	int rc, prev;

	*dup = 0;
	if (id >= c->n || cls < 0 || (size_t)cls >= c->ncls) {
		snprintf(errbuf, errlen, "no such image or class");
		return CS_EXIT_USAGE;
	}
	ui_core_session_name(c, sid, user);
	pthread_mutex_lock(&c->wmu);
	if (sub && ui_strset_has(&c->seen, sub)) {
		*dup = 1;
		pthread_mutex_unlock(&c->wmu);
		return 0;
	}
	pthread_mutex_lock(&c->mu);
	refresh_view(c);
	prev = label_of(c, id, NULL);
	pthread_mutex_unlock(&c->mu);
	rc = write_label(c, user, id, c->cls[cls], sub, dup, errbuf, errlen);
	if (rc == 0) {
		pthread_mutex_lock(&c->mu);
		session *s = &c->sess[sid];
		s->active = time(NULL);
		unskip(s, id);
		push_hist(s, id, UI_ACT_LABEL, cls, prev);
		if (c->lease_sid[id] == sid)
			c->lease_sid[id] = -1;
		refresh_view(c);
		if (c->p.retrain_every > 0 && labels_nlines(c->view) >= c->lines_at_round + (unsigned long)c->p.retrain_every) {
			c->want = 1;
			pthread_cond_signal(&c->wake);
		}
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_unlock(&c->wmu);
	return rc;
}

int ui_core_skip(ui_core *c, int sid, size_t id)
{
	if (id >= c->n)
		return CS_EXIT_USAGE;
	pthread_mutex_lock(&c->mu);
	session *s = &c->sess[sid];
	if (!skipped_by(s, id)) {
		xgrow(&s->skipped, &s->skipcap, s->nskipped + 1, sizeof *s->skipped);
		s->skipped[s->nskipped++] = id;
	}
	push_hist(s, id, UI_ACT_SKIP, -1, -1);
	if (c->lease_sid[id] == sid)
		c->lease_sid[id] = -1;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int set_flag(ui_core *c, int sid, size_t id, int on, const char *sub, int *dup, int record,
		char *errbuf, size_t errlen)
{
	char user[UI_NAME_MAX + 1], t[LABELS_TIME_MAX];
	int rc;

	*dup = 0;
	if (id >= c->n) {
		snprintf(errbuf, errlen, "no such image");
		return CS_EXIT_USAGE;
	}
	ui_core_session_name(c, sid, user);
	pthread_mutex_lock(&c->wmu);
	if (sub && ui_strset_has(&c->seen, sub)) {
		*dup = 1;
		pthread_mutex_unlock(&c->wmu);
		return 0;
	}
	next_time(c, t);
	rc = ui_journal_append(&c->jn, t, on ? "flag" : "unflag", sub, c->keys[id], "", user, errbuf, errlen);
	if (rc == 0) {
		if (sub && *sub)
			ui_strset_add(&c->seen, sub);
		pthread_mutex_lock(&c->mu);
		c->flag[id] = (unsigned char)on;
		if (record)
			push_hist(&c->sess[sid], id, UI_ACT_FLAG, -1, -1);
		if (c->lease_sid[id] == sid)
			c->lease_sid[id] = -1;
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_unlock(&c->wmu);
	return rc;
}

int ui_core_flag(ui_core *c, int sid, size_t id, const char *sub, int *dup, char *errbuf, size_t errlen)
{
	return set_flag(c, sid, id, 1, sub, dup, 1, errbuf, errlen);
}

int ui_core_undo(ui_core *c, int sid, const char *sub, size_t *id, int *dup, char *errbuf, size_t errlen)
{
	char user[UI_NAME_MAX + 1];
	hist h;
	int rc = 0;

	*dup = 0;
	ui_core_session_name(c, sid, user);
	pthread_mutex_lock(&c->wmu);
	if (sub && ui_strset_has(&c->seen, sub)) {
		*dup = 1;
		pthread_mutex_unlock(&c->wmu);
		return 0;
	}
	pthread_mutex_lock(&c->mu);
	session *s = &c->sess[sid];
	if (s->hn == 0) {
		pthread_mutex_unlock(&c->mu);
		pthread_mutex_unlock(&c->wmu);
		return 1;
	}
	h = s->h[(s->hpos + UI_HISTORY - 1) % UI_HISTORY];
	pthread_mutex_unlock(&c->mu);
	*id = h.id;
	if (h.act == UI_ACT_LABEL)
		rc = write_label(c, user, h.id, h.prev >= 0 ? c->cls[h.prev] : LABELS_RETRACT, sub, dup, errbuf, errlen);
	else if (h.act == UI_ACT_FLAG) {
		pthread_mutex_unlock(&c->wmu);
		rc = set_flag(c, sid, h.id, 0, sub, dup, 0, errbuf, errlen);
		pthread_mutex_lock(&c->wmu);
	}
	if (rc == 0) {
		pthread_mutex_lock(&c->mu);
		s->hpos = (s->hpos + UI_HISTORY - 1) % UI_HISTORY;
		s->hn--;
		unskip(s, h.id);
		refresh_view(c);
		/* show it again first: lease it and put it at the head of the session's list */
		c->lease_sid[h.id] = sid;
		c->lease_until[h.id] = time(NULL) + c->p.lease_s;
		memmove(s->leased + 1, s->leased, (MAX_LEASED - 1) * sizeof *s->leased);
		s->leased[0] = h.id;
		if (s->nleased < MAX_LEASED)
			s->nleased++;
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_unlock(&c->wmu);
	return rc;
}

size_t ui_core_history(ui_core *c, int sid, ui_decision out[UI_HISTORY])
{
	pthread_mutex_lock(&c->mu);
	session *s = &c->sess[sid];
	size_t n = s->hn;
	for (size_t i = 0; i < n; i++) {
		hist *h = &s->h[(s->hpos + UI_HISTORY - 1 - i) % UI_HISTORY];
		out[i] = (ui_decision){ .id = h->id, .act = h->act, .cls = h->cls };
	}
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* --- stats and review -------------------------------------------------------------- */

void ui_core_stats(ui_core *c, ui_stats *st)
{
	memset(st, 0, sizeof *st);
	pthread_mutex_lock(&c->mu);
	refresh_view(c);
	st->nitems = c->n;
	for (size_t i = 0; i < labels_count(c->view); i++) {
		const labels_entry *e = labels_at(c->view, i);
		int k = ui_core_class_index(c, e->cls);
		if (k >= 0 && core_key_id(c, e->key) != (size_t)-1) {
			st->labelled[k]++;
			st->nlabelled++;
		}
	}
	for (size_t id = 0; id < c->n; id++) {
		int k = c->has_model ? c->pred[id] : c->zs[id];
		double p = c->has_model ? c->pred_p[id] : c->zs_p[id];
		st->nflagged += c->flag[id];
		if (k < 0)
			continue;
		st->predicted[k]++;
		st->npredicted++;
		st->nconfident += p >= c->p.confident;
	}
	st->has_model = c->has_model;
	st->cv_accuracy = c->has_model ? c->cv : -1;
	memcpy(st->model_time, c->model_time, sizeof st->model_time);
	memcpy(st->model_msg, c->model_msg, sizeof st->model_msg);
	st->retrains = c->retrains;
	st->retraining = c->retraining;
	st->labels_since = labels_nlines(c->view) - c->lines_at_round;
	pthread_mutex_unlock(&c->mu);
}

typedef struct rv { size_t id; double conf; } rv;

static int rv_cmp(const void *a, const void *b)
{
	const rv *x = a, *y = b;
	if (x->conf != y->conf)
		return x->conf < y->conf ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

size_t ui_core_review(ui_core *c, int cls, size_t *ids, double *conf, size_t max)
{
	rv *v = xmalloc(c->n * sizeof *v);
	size_t nv = 0;

	pthread_mutex_lock(&c->mu);
	refresh_view(c);
	for (size_t id = 0; id < c->n; id++) {
		int k = label_of(c, id, NULL);
		double p = 1;
		if (k < 0 && c->has_model && c->pred[id] >= 0) {
			k = c->pred[id];
			p = c->pred_p[id];
		} else if (k < 0 && c->zs[id] >= 0) {
			k = c->zs[id];
			p = c->zs_p[id];
		}
		if (k == cls)
			v[nv++] = (rv){ id, p };
	}
	pthread_mutex_unlock(&c->mu);
	qsort(v, nv, sizeof *v, rv_cmp);
	if (nv > max)
		nv = max;
	for (size_t i = 0; i < nv; i++) {
		ids[i] = v[i].id;
		conf[i] = v[i].conf;
	}
	free(v);
	return nv;
}
