/* clipsort-embed — images (files, directories, ZIPs) and class prompts into
 * OpenCLIP embeddings: an incremental HDF5 cache (-o FILE) or a stream (stdout). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpe.h"
#include "clip.h"
#include "clipcfg.h"
#include "devname.h"
#include "diag.h"
#include "emb.h"
#include "exitcode.h"
#include "fsutil.h"
#include "inputs.h"
#include "modeldir.h"
#include "num.h"
#include "pipeline.h"
#include "preproc.h"
#include "progress.h"
#include "safetensors.h"
#include "strmap.h"
#include "tsv.h"
#include "xalloc.h"

struct opts {
	const char *model, *out, *text, *device;
	int dtype, batch, threads, tokenize, quiet, rebuild, prune;
	int shard_k, shard_n;
	enum preproc_mode mode;
	uint64_t max_pixels;
	struct input_limits lim;
};

/* An old cache location: what its key was when size and mtime were recorded. */
struct oldloc {
	char key[EMB_KEY_HEX + 1];
	uint64_t size;
	int64_t mtime;
	int seen;
};

struct run {
	const struct opts *o;
	struct inputs in;
	emb_stamp stamp;
	emb_reader *old;            /* the existing cache, NULL when none */
	strmap oldloc;              /* location -> struct oldloc */
	strmap keep;                /* keys that still have a location */
	emb_cache_writer *w;        /* cache mode: opened at the first change */
	emb_stream_writer *sw;      /* stream mode */
	/* until the writer is opened: what it will be given first */
	struct pend_loc { const struct input_item *it; char key[EMB_KEY_HEX + 1]; } *pend;
	size_t npend, pendcap;
	struct input_reject *rej;   /* this run's rejects, in order */
	size_t nrej, rejcap;
	int changed;
	long long embedded, located, rejected;
};

static _Noreturn void
usage(void)
{
	fprintf(stderr,
	    "usage: clipsort-embed -m model [-q] [-o cache.h5 | -o -] [-b batch] [-j threads]\n"
	    "                      [--device dev] [--dtype type] [--fast] [--max-pixels n]\n"
	    "                      [--shard k/n] [--prune] [--rebuild] [--text classes.tsv]\n"
	    "                      [file | directory | archive.zip | -] ...\n"
	    "       clipsort-embed -m model --tokenize\n");
	exit(CS_EXIT_USAGE);
}

static void
parse_shard(struct opts *o, const char *s)
{
	const char *slash = strchr(s, '/');
	char k[32];

	if (slash == NULL || (size_t)(slash - s) >= sizeof k)
		cs_die(CS_EXIT_USAGE, "--shard: %s: expected K/N, e.g. 1/4", s);
	memcpy(k, s, (size_t)(slash - s));
	k[slash - s] = '\0';
	o->shard_n = (int)num_arg_ll("--shard N", slash + 1, 1, 1000000);
	o->shard_k = (int)num_arg_ll("--shard K", k, 1, o->shard_n);
}

static void
parse_opts(struct opts *o, int argc, char **argv)
{
	enum { O_DEVICE = 256, O_DTYPE, O_FAST, O_MAXPX, O_SHARD, O_REBUILD, O_PRUNE, O_TEXT,
		O_TOKENIZE, O_MAXFILE, O_MAXRATIO };
	static const struct option lo[] = {
		{ "model", required_argument, NULL, 'm' }, { "output", required_argument, NULL, 'o' },
		{ "batch", required_argument, NULL, 'b' }, { "threads", required_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' }, { "device", required_argument, NULL, O_DEVICE },
		{ "dtype", required_argument, NULL, O_DTYPE }, { "fast", no_argument, NULL, O_FAST },
		{ "max-pixels", required_argument, NULL, O_MAXPX },
		{ "max-file-bytes", required_argument, NULL, O_MAXFILE },
		{ "max-ratio", required_argument, NULL, O_MAXRATIO },
		{ "shard", required_argument, NULL, O_SHARD }, { "rebuild", no_argument, NULL, O_REBUILD },
		{ "prune", no_argument, NULL, O_PRUNE }, { "text", required_argument, NULL, O_TEXT },
		{ "tokenize", no_argument, NULL, O_TOKENIZE }, { NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	o->device = "auto";
	o->dtype = CS_DTYPE_AUTO;
	o->mode = PREPROC_EXACT;
	o->max_pixels = PREPROC_MAX_PIXELS_DEFAULT;
	input_limits_default(&o->lim);
	while ((c = getopt_long(argc, argv, "m:o:b:j:q", lo, NULL)) != -1) {
		switch (c) {
		case 'm': o->model = optarg; break;
		case 'o': o->out = optarg; break;
		case 'b': o->batch = (int)num_arg_ll("-b", optarg, 1, 4096); break;
		case 'j': o->threads = (int)num_arg_ll("-j", optarg, 1, 1024); break;
		case 'q': o->quiet = 1; break;
		case O_DEVICE: {
			int idx;
			o->device = optarg;
			if (devname_parse(optarg, &idx) == DEVNAME_BAD)
				cs_die(CS_EXIT_USAGE, "--device: %s: expected auto, cpu, cuda or cuda:N", optarg);
			break;
		}
		case O_DTYPE:
			if (strcmp(optarg, "auto") == 0) o->dtype = CS_DTYPE_AUTO;
			else if (strcmp(optarg, "f32") == 0) o->dtype = CS_DTYPE_F32;
			else if (strcmp(optarg, "f16") == 0) o->dtype = CS_DTYPE_F16;
			else if (strcmp(optarg, "bf16") == 0) o->dtype = CS_DTYPE_BF16;
			else cs_die(CS_EXIT_USAGE, "--dtype: %s: expected auto, f32, f16 or bf16", optarg);
			break;
		case O_FAST: o->mode = PREPROC_FAST; break;
		case O_MAXPX: o->max_pixels = (uint64_t)num_arg_ll("--max-pixels", optarg, 1, 1LL << 40); break;
		case O_MAXFILE: o->lim.max_file_bytes = (uint64_t)num_arg_ll("--max-file-bytes", optarg, 1, 1LL << 40); break;
		case O_MAXRATIO: o->lim.max_ratio = num_arg_d("--max-ratio", optarg, 1, 1e9); break;
		case O_SHARD: parse_shard(o, optarg); break;
		case O_REBUILD: o->rebuild = 1; break;
		case O_PRUNE: o->prune = 1; break;
		case O_TEXT: o->text = optarg; break;
		case O_TOKENIZE: o->tokenize = 1; break;
		default: usage();
		}
	}
	if (o->model == NULL)
		usage();
	if (o->tokenize && (optind < argc || o->out || o->text))
		usage();
}

/* --tokenize: one text per line on stdin, one line of ids per text on stdout. */
static int
tokenize(const char *dir)
{
	char err[512], *cfgpath = xasprintf("%s/open_clip_config.json", dir);
	clipcfg cfg;
	bpe_tokenizer *t;
	char *line = NULL;
	size_t cap = 0, n_full;
	ssize_t len;
	unsigned long lineno = 0;
	int64_t *ids;
	int status = CS_EXIT_OK;

	if (clipcfg_load(cfgpath, &cfg, err, sizeof err) != 0)
		cs_die(CS_EXIT_MODEL, "%s", err);
	free(cfgpath);
	if ((t = bpe_load_dir(dir, err, sizeof err)) == NULL)
		cs_die(CS_EXIT_MODEL, "%s", err);
	ids = xcalloc((size_t)cfg.text.context_length, sizeof *ids);
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		int n, k;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if ((size_t)len != strlen(line)) {
			cs_warn("<stdin>:%lu: NUL byte in text", lineno);
			status = CS_EXIT_DATA;
			continue;
		}
		n = bpe_encode_full(t, line, ids, (size_t)cfg.text.context_length, &n_full);
		if (n < 0)
			cs_die(CS_EXIT_IO, "out of memory");
		if (n_full > (size_t)cfg.text.context_length)
			cs_warn("<stdin>:%lu: text cut to %d tokens (it has %zu)", lineno,
			    cfg.text.context_length, n_full);
		for (k = 0; k < n; k++)
			printf(k ? " %lld" : "%lld", (long long)ids[k]);
		putchar('\n');
	}
	if (ferror(stdin))
		cs_die(CS_EXIT_IO, "<stdin>: read error:");
	free(line);
	free(ids);
	bpe_free(t);
	cs_fshut(stdout, "<stdout>");
	return status;
}

/* The model's base name, as the engine reports it (cs_model_info.name). */
static char *
model_name(const char *dir)
{
	size_t n = strlen(dir), b;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	for (b = n; b > 0 && dir[b - 1] != '/'; b--)
		;
	return xstrndup(dir + b, n - b);
}

/* Preprocessing from the model's config (what cs_model_info reports once loaded). */
static void
params_from_cfg(struct preproc_params *pp, const clipcfg *cfg, const char *name, const struct opts *o)
{
	preproc_default_params(pp);
	pp->image_size = cfg->vision.image_size;
	memcpy(pp->mean, cfg->mean, sizeof pp->mean);
	memcpy(pp->std, cfg->std, sizeof pp->std);
	pp->fill_color = cfg->fill_color;
	if (preproc_parse_resize_mode(cfg->resize_mode, &pp->resize_mode) != 0)
		cs_die(CS_EXIT_MODEL, "%s: unsupported resize_mode \"%s\"", name, cfg->resize_mode);
	if (preproc_parse_interpolation(cfg->interpolation, &pp->interpolation) != 0)
		cs_die(CS_EXIT_MODEL, "%s: unsupported interpolation \"%s\"", name, cfg->interpolation);
	pp->mode = o->mode;
	pp->max_pixels = o->max_pixels;
	if (preproc_check_params(pp) != PREPROC_OK)
		cs_die(CS_EXIT_MODEL, "%s: %s", name, preproc_errmsg());
}

/* The stamp and preprocessing of model directory dir without loading the model
 * (no libtorch): config, name and weights fingerprint.  logit_scale/bias come from
 * the weights once the model is loaded, or from a compatible old cache. */
static void
stamp_from_dir(emb_stamp *s, struct preproc_params *pp, const char *dir, const struct opts *o)
{
	char err[1024], fp[65], buf[512], *path;
	clipcfg cfg;
	st_file *st;
	int rc;

	memset(s, 0, sizeof *s);
	if (access(dir, F_OK) != 0)
		cs_die(CS_EXIT_MODEL, "%s: model directory not found (see clipsort-models(7))", dir);
	path = xasprintf("%s/open_clip_config.json", dir);
	if (clipcfg_load(path, &cfg, err, sizeof err) != 0)
		cs_die(CS_EXIT_MODEL, "%s", err);
	free(path);
	path = xasprintf("%s/open_clip_model.safetensors", dir);
	if ((rc = st_open(path, &st, err, sizeof err)) != 0 || (rc = st_fingerprint(st, fp, err, sizeof err)) != 0)
		cs_die(CS_EXIT_MODEL, "%s", err);
	st_close(st);
	free(path);
	s->model = model_name(dir);
	s->fingerprint = xstrdup(fp);
	params_from_cfg(pp, &cfg, s->model, o);
	preproc_describe(pp, buf, sizeof buf);
	s->preprocess = xstrdup(buf);
	s->dim = (uint32_t)cfg.embed_dim;
}

/* Load the model; it must be the one the stamp describes. */
static cs_model *
load_model(const char *dir, const struct opts *o, emb_stamp *s, cs_model_info *info)
{
	cs_model_params mp = cs_model_default_params();
	cs_model *m;
	int rc;

	mp.device = o->device;
	mp.dtype = o->dtype;
	mp.n_threads = 0;
	if ((rc = cs_model_load(dir, &mp, &m)) != 0)
		cs_die(rc == CS_EDEVICE ? CS_EXIT_USAGE : rc == CS_EINTERNAL ? CS_EXIT_INTERNAL : CS_EXIT_MODEL,
		    "%s", cs_errmsg());
	cs_model_get_info(m, info);
	if (strcmp(info->name, s->model) != 0 || strcmp(info->fingerprint, s->fingerprint) != 0 ||
	    (uint32_t)info->embed_dim != s->dim)
		cs_die(CS_EXIT_INTERNAL, "%s: the engine loaded %s (%s, dim %d), not %s (%s, dim %u)", dir,
		    info->name, info->fingerprint, info->embed_dim, s->model, s->fingerprint, (unsigned)s->dim);
	s->logit_scale = info->logit_scale;
	s->logit_bias = info->has_logit_bias ? info->logit_bias : 0;
	s->has_logit_bias = info->has_logit_bias;
	return m;
}

/* ---- texts ---- */

struct prompts {
	char **cls, **prompt;
	size_t n, cap;
};

static int
valid_class(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (i = 1; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return i <= 64;
}

static void
read_prompts(struct prompts *p, const char *path)
{
	static const char *const cols[] = { "class", "prompt" };
	tsv_reader r;
	int idx[2], rc;
	size_t nclass = 0, i;

	memset(p, 0, sizeof *p);
	if (tsv_reader_open(&r, path) != 0 || tsv_reader_require(&r, cols, idx, 2) != 0)
		cs_die(errno && r.fp == NULL ? CS_EXIT_IO : CS_EXIT_DATA, "%s", r.err);
	while ((rc = tsv_reader_next(&r)) == 1) {
		const char *c = tsv_reader_field(&r, (size_t)idx[0]);
		const char *t = tsv_reader_field(&r, (size_t)idx[1]);

		if (!valid_class(c))
			cs_die(CS_EXIT_DATA, "%s:%lu: invalid class name \"%s\" (want [a-z0-9][a-z0-9_-]{0,63})",
			    path, r.lineno, c);
		if (*t == '\0')
			cs_die(CS_EXIT_DATA, "%s:%lu: empty prompt", path, r.lineno);
		xgrow(&p->cls, &p->cap, p->n + 1, sizeof *p->cls);
		p->prompt = xreallocarray(p->prompt, p->cap, sizeof *p->prompt);
		p->cls[p->n] = xstrdup(c);
		p->prompt[p->n] = xstrdup(t);
		p->n++;
	}
	if (rc < 0)
		cs_die(CS_EXIT_DATA, "%s", r.err);
	tsv_reader_release(&r);
	for (i = 0; i < p->n; i++) {
		size_t j;

		for (j = 0; j < i && strcmp(p->cls[j], p->cls[i]) != 0; j++)
			;
		nclass += j == i;
	}
	if (nclass < 2)
		cs_die(CS_EXIT_DATA, "%s: needs at least two classes (has %zu)", path, nclass);
}

static void
prompts_release(struct prompts *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->cls[i]);
		free(p->prompt[i]);
	}
	free(p->cls);
	free(p->prompt);
}

/* Embeds every prompt; vec receives n x dim floats. */
static void
embed_prompts(cs_model *m, const char *dir, const cs_model_info *info, const struct prompts *p,
    const char *path, float *vec)
{
	size_t ctx = (size_t)info->context_length, i, nfull;
	int64_t *ids = xcalloc(p->n * ctx, sizeof *ids);
	char err[512];
	bpe_tokenizer *t = bpe_load_dir(dir, err, sizeof err);

	if (t == NULL)
		cs_die(CS_EXIT_MODEL, "%s", err);
	for (i = 0; i < p->n; i++) {
		if (bpe_encode_full(t, p->prompt[i], ids + i * ctx, ctx, &nfull) < 0)
			cs_die(CS_EXIT_IO, "out of memory");
		if (nfull > ctx)
			cs_warn("%s: prompt %zu of class %s cut to %zu tokens (it has %zu)", path, i + 1,
			    p->cls[i], ctx, nfull);
	}
	for (i = 0; i < p->n; i += 64) {
		int nb = (int)(p->n - i < 64 ? p->n - i : 64);

		if (cs_encode_text(m, ids + i * ctx, nb, vec + i * (size_t)info->embed_dim, 1) != 0)
			cs_die(CS_EXIT_MODEL, "%s", cs_errmsg());
	}
	bpe_free(t);
	free(ids);
}

/* ---- cache bookkeeping (pipeline callbacks) ---- */

static int
cb_known_loc(void *ctx, const struct input_item *it, char key[65])
{
	struct run *r = ctx;
	void **v = strmap_get(&r->oldloc, it->loc);
	struct oldloc *ol;

	if (v == NULL)
		return 0;
	ol = *v;
	if (ol->size != it->size || ol->mtime != it->mtime)
		return 0;
	memcpy(key, ol->key, EMB_KEY_HEX + 1);
	return 1;
}

static int
known_plain(void *ctx, const char *loc, uint64_t size, int64_t mtime)
{
	struct run *r = ctx;
	void **v = strmap_get(&r->oldloc, loc);
	const struct oldloc *ol = v ? *v : NULL;

	return ol != NULL && ol->size == size && ol->mtime == mtime;
}

static int
cb_key_exists(void *ctx, const char *key)
{
	struct run *r = ctx;

	return r->old && emb_reader_lookup(r->old, key, NULL) == 1;
}

/* Open the new cache at the first change, and give it what came before. */
static void
writer_open(struct run *r)
{
	char err[1024];
	size_t i;
	int isnew;

	if (r->w != NULL)
		return;
	r->changed = 1;
	if ((r->w = emb_cache_writer_open(r->o->out, &r->stamp, err, sizeof err)) == NULL)
		cs_die(CS_EXIT_IO, "%s", err);
	for (i = 0; i < r->npend; i++) {
		const struct input_item *it = r->pend[i].it;

		strmap_put(&r->keep, r->pend[i].key, &isnew);
		if (emb_cache_add_location(r->w, r->pend[i].key, it->loc, it->size, it->mtime) != 0)
			cs_die(CS_EXIT_IO, "%s: %s", r->o->out, emb_cache_writer_error(r->w));
	}
	free(r->pend);
	r->pend = NULL;
	r->npend = r->pendcap = 0;
	for (i = 0; i < r->nrej; i++)
		if (emb_cache_add_reject(r->w, r->rej[i].loc, r->rej[i].reason) != 0)
			cs_die(CS_EXIT_IO, "%s: %s", r->o->out, emb_cache_writer_error(r->w));
}

static int
cb_location(void *ctx, const struct input_item *it, const char *key)
{
	struct run *r = ctx;
	void **v;
	int isnew;

	r->located++;
	if (r->sw)
		return 0;
	v = strmap_get(&r->oldloc, it->loc);
	if (v == NULL) {
		writer_open(r);
	} else {
		struct oldloc *ol = *v;

		ol->seen = 1;
		if (strcmp(ol->key, key) != 0 || ol->size != it->size || ol->mtime != it->mtime)
			writer_open(r);
	}
	if (r->w == NULL) {
		struct pend_loc *pl;

		xgrow(&r->pend, &r->pendcap, r->npend + 1, sizeof *r->pend);
		pl = &r->pend[r->npend++];
		pl->it = it;
		memcpy(pl->key, key, sizeof pl->key);
		return 0;
	}
	strmap_put(&r->keep, key, &isnew);
	if (emb_cache_add_location(r->w, key, it->loc, it->size, it->mtime) != 0) {
		cs_warn("%s: %s", r->o->out, emb_cache_writer_error(r->w));
		return -1;
	}
	return 0;
}

static int
cb_vector(void *ctx, const struct input_item *it, const char *key, const float *vec)
{
	struct run *r = ctx;

	r->embedded++;
	if (r->sw) {
		if (emb_stream_write_image(r->sw, key, it->loc, vec) != 0) {
			cs_warn("<stdout>: write error:");
			return -1;
		}
		return 0;
	}
	writer_open(r);
	if (emb_cache_add_image(r->w, key, vec) != 0) {
		cs_warn("%s: %s", r->o->out, emb_cache_writer_error(r->w));
		return -1;
	}
	return 0;
}

static void
cb_reject(void *ctx, const char *loc, const char *reason)
{
	struct run *r = ctx;

	cs_warn("%s: %s", loc, reason);
	r->rejected++;
	if (r->sw)
		return;
	xgrow(&r->rej, &r->rejcap, r->nrej + 1, sizeof *r->rej);
	r->rej[r->nrej].loc = xstrdup(loc);
	r->rej[r->nrej].reason = xstrdup(reason);
	r->nrej++;
	if (r->w && emb_cache_add_reject(r->w, loc, reason) != 0)
		cs_die(CS_EXIT_IO, "%s: %s", r->o->out, emb_cache_writer_error(r->w));
}

static int
under_any_root(const struct run *r, const char *loc)
{
	size_t i;

	for (i = 0; i < r->in.nroots; i++)
		if (inputs_under_root(loc, r->in.roots[i]))
			return 1;
	return 0;
}

/* Open the existing cache (if any) and index its locations. */
static void
open_old(struct run *r)
{
	char err[1024], why[1024];
	emb_location loc;
	int rc;

	if (r->o->rebuild || access(r->o->out, F_OK) != 0)
		return;
	if ((r->old = emb_reader_open(r->o->out, err, sizeof err)) == NULL)
		cs_die(CS_EXIT_DATA, "%s (remove it, or write to another file)", err);
	if (emb_reader_kind(r->old) != EMB_KIND_CACHE)
		cs_die(CS_EXIT_DATA, "%s: is a stream, not an HDF5 cache; use another -o file", r->o->out);
	if (!emb_stamp_compatible(emb_reader_stamp(r->old), &r->stamp, why, sizeof why))
		cs_die(CS_EXIT_DATA, "%s: made with another model or preprocessing (%s); "
		    "write to a new file, or pass --rebuild to re-embed everything into it", r->o->out, why);
	while ((rc = emb_reader_next_location(r->old, &loc)) == 1) {
		int isnew;
		void **v = strmap_put(&r->oldloc, loc.path, &isnew);
		struct oldloc *ol;

		if (!isnew)
			continue;
		ol = xcalloc(1, sizeof *ol);
		memcpy(ol->key, loc.key, sizeof ol->key);
		ol->size = loc.size;
		ol->mtime = loc.mtime;
		*v = ol;
	}
	if (rc < 0)
		cs_die(CS_EXIT_DATA, "%s", emb_reader_error(r->old));
}

static int
keep_key(void *ctx, const char *key)
{
	return strmap_get(ctx, key) != NULL;
}

/* 1 when this run's rejects differ from the old cache's within its operands. */
static int
rejects_changed(const struct run *r, const emb_reject *rej, size_t nrej)
{
	strmap m;
	size_t i, nold = 0;
	int changed = 0;

	strmap_init(&m);
	for (i = 0; i < nrej; i++) {
		if (r->o->prune || under_any_root(r, rej[i].location)) {
			char *k = xasprintf("%s\t%s", rej[i].location, rej[i].reason);
			int isnew;
			void **v = strmap_put(&m, k, &isnew);

			*v = (void *)((uintptr_t)*v + 1);    /* a count */
			nold++;
			free(k);
		}
	}
	changed = nold != r->nrej;
	for (i = 0; i < r->nrej && !changed; i++) {
		char *k = xasprintf("%s\t%s", r->rej[i].loc, r->rej[i].reason);
		void **v = strmap_get(&m, k);

		if (v == NULL || *v == NULL)
			changed = 1;
		else
			*v = (void *)((uintptr_t)*v - 1);
		free(k);
	}
	strmap_release(&m);
	return changed;
}

/* Carry over what this run did not touch and publish; when nothing changed, the
 * old cache stays as it is and nothing is written. */
static void
finish_cache(struct run *r, const struct prompts *pr, const float *tvec)
{
	char err[1024];
	size_t i;

	if (r->old) {
		const emb_reject *rej;
		const emb_text *tx;
		size_t nrej, ntx;

		if (emb_reader_rejects(r->old, &rej, &nrej) != 0)
			cs_die(CS_EXIT_DATA, "%s", emb_reader_error(r->old));
		/* a location that disappeared, a different outcome for a re-tried reject */
		for (i = 0; i < r->oldloc.cap && !r->changed; i++) {
			const struct oldloc *ol = r->oldloc.vals[i];

			if (r->oldloc.keys[i] != NULL && !ol->seen &&
			    (r->o->prune || under_any_root(r, r->oldloc.keys[i])))
				r->changed = 1;
		}
		if (!r->changed && (pr != NULL || rejects_changed(r, rej, nrej)))
			r->changed = 1;
		if (!r->changed)
			return;
		writer_open(r);
		/* old locations outside this run's operands stay (unless --prune) */
		for (i = 0; i < r->oldloc.cap; i++) {
			const char *path = r->oldloc.keys[i];
			struct oldloc *ol = r->oldloc.vals[i];
			int isnew;

			if (path == NULL || ol->seen || r->o->prune || under_any_root(r, path))
				continue;
			strmap_put(&r->keep, ol->key, &isnew);
			if (emb_cache_add_location(r->w, ol->key, path, ol->size, ol->mtime) != 0)
				cs_die(CS_EXIT_IO, "%s: %s", r->o->out, emb_cache_writer_error(r->w));
		}
		for (i = 0; i < nrej; i++) {
			if (r->o->prune || under_any_root(r, rej[i].location))
				continue;       /* this run re-tried it */
			if (emb_cache_add_reject(r->w, rej[i].location, rej[i].reason) != 0)
				cs_die(CS_EXIT_IO, "%s: %s", r->o->out, emb_cache_writer_error(r->w));
		}
		if (pr == NULL) {
			if (emb_reader_texts(r->old, &tx, &ntx) != 0)
				cs_die(CS_EXIT_DATA, "%s", emb_reader_error(r->old));
			for (i = 0; i < ntx; i++)
				if (emb_cache_add_text(r->w, tx[i].cls, tx[i].prompt, tx[i].vec) != 0)
					cs_die(CS_EXIT_IO, "%s: %s", r->o->out, emb_cache_writer_error(r->w));
		}
		if (emb_cache_copy_images(r->w, r->old, keep_key, &r->keep) < 0)
			cs_die(CS_EXIT_IO, "%s: %s", r->o->out, emb_cache_writer_error(r->w));
	} else {
		writer_open(r);
	}
	for (i = 0; pr && i < pr->n; i++)
		if (emb_cache_add_text(r->w, pr->cls[i], pr->prompt[i], tvec + i * r->stamp.dim) != 0)
			cs_die(CS_EXIT_IO, "%s: %s", r->o->out, emb_cache_writer_error(r->w));
	if (emb_cache_writer_commit(r->w, err, sizeof err) != 0)
		cs_die(CS_EXIT_IO, "%s", err);
	r->w = NULL;
}

/* 1 when some input is not known unchanged in the old cache, so the model may be
 * needed; an unchanged re-run never loads it. */
static int
may_embed(struct run *r)
{
	char key[EMB_KEY_HEX + 1];
	size_t i;

	if (r->old == NULL)
		return 1;
	for (i = 0; i < r->in.n; i++)
		if (!cb_known_loc(r, &r->in.items[i], key))
			return 1;
	return 0;
}

static void
run_release(struct run *r)
{
	size_t k;

	emb_reader_close(r->old);
	for (k = 0; k < r->oldloc.cap; k++)
		free(r->oldloc.vals[k]);
	strmap_release(&r->oldloc);
	strmap_release(&r->keep);
	for (k = 0; k < r->nrej; k++) {
		free(r->rej[k].loc);
		free(r->rej[k].reason);
	}
	free(r->rej);
	free(r->pend);
	inputs_release(&r->in);
	emb_stamp_release(&r->stamp);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct run r;
	struct preproc_params pp;
	struct prompts pr;
	cs_model_info info;
	cs_model *model = NULL;
	char *dir, err[1024];
	float *tvec = NULL;
	progress prog;
	int i, status = CS_EXIT_OK, lockfd = -1, rc;

	cs_engine_tune_env(argc, argv);
	diag_init(argv[0]);
	parse_opts(&o, argc, argv);
	dir = modeldir_resolve(o.model);
	if (o.tokenize)
		return tokenize(dir);
	if (o.text)
		read_prompts(&pr, o.text);
	if (o.out && strcmp(o.out, "-") == 0)
		o.out = NULL;
	if (o.out == NULL && isatty(STDOUT_FILENO))
		cs_die(CS_EXIT_USAGE, "not writing binary embeddings to a terminal; use -o FILE or a pipe");
	if (o.out) {
		struct stat st;

		/* the cache is replaced by rename: never do that to a device or a directory */
		if (stat(o.out, &st) == 0 && !S_ISREG(st.st_mode))
			cs_die(CS_EXIT_USAGE, "%s: not a regular file; the cache must be a file (use -o - for a stream)",
			    o.out);
	}
	if (o.out && (rc = fs_lock(o.out, &lockfd, err, sizeof err)) != 0)
		cs_die(rc, "%s", err);

	memset(&r, 0, sizeof r);
	r.o = &o;
	stamp_from_dir(&r.stamp, &pp, dir, &o);
	strmap_init(&r.keep);
	strmap_init(&r.oldloc);
	if (optind == argc && o.text == NULL)
		cs_die(CS_EXIT_USAGE, "nothing to embed: name files, directories, ZIPs or - (paths on stdin), or --text");
	if (o.out) {
		open_old(&r);
		if (r.old) {
			const emb_stamp *os = emb_reader_stamp(r.old);

			r.stamp.logit_scale = os->logit_scale;
			r.stamp.logit_bias = os->logit_bias;
			r.stamp.has_logit_bias = os->has_logit_bias;
		}
	}
	inputs_init(&r.in, &o.lim);
	if (r.old) {
		r.in.known = known_plain;
		r.in.known_ctx = &r;
	}
	for (i = optind; i < argc; i++)
		inputs_add(&r.in, argv[i]);
	inputs_finish(&r.in);
	if (o.out == NULL || o.text || may_embed(&r))
		model = load_model(dir, &o, &r.stamp, &info);
	if (preproc_global_init(argv[0]) != 0)
		cs_die(CS_EXIT_INTERNAL, "%s", preproc_errmsg());

	if (o.text) {
		tvec = xcalloc(pr.n * r.stamp.dim, sizeof *tvec);
		embed_prompts(model, dir, &info, &pr, o.text, tvec);
	}
	if (o.out == NULL) {
		size_t k;

		if ((r.sw = emb_stream_writer_open(stdout, &r.stamp)) == NULL)
			cs_die(CS_EXIT_IO, "<stdout>: cannot start the stream");
		for (k = 0; o.text && k < pr.n; k++)
			if (emb_stream_write_text(r.sw, pr.cls[k], pr.prompt[k], tvec + k * r.stamp.dim) != 0)
				cs_die(CS_EXIT_IO, "<stdout>: write error:");
	}
	/* inputs that could not even be listed */
	for (size_t k = 0; k < r.in.nrej; k++)
		cb_reject(&r, r.in.rejects[k].loc, r.in.rejects[k].reason);

	{
		struct pipe_cfg pc;
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		memset(&pc, 0, sizeof pc);
		pc.in = &r.in;
		pc.pp = &pp;
		pc.model = model;
		pc.dim = (int)r.stamp.dim;
		pc.batch = o.batch ? o.batch : model && strncmp(info.device, "cuda", 4) == 0 ? 64 : 16;
		pc.nthreads = o.threads ? o.threads : ncpu > 0 ? (int)ncpu : 1;
		pc.shard_k = o.shard_k;
		pc.shard_n = o.shard_n;
		pc.ctx = &r;
		pc.known_loc = r.old ? cb_known_loc : NULL;
		pc.key_exists = r.old ? cb_key_exists : NULL;
		pc.on_location = cb_location;
		pc.on_vector = cb_vector;
		pc.on_reject = cb_reject;
		progress_init(&prog, "images", (long long)r.in.n, o.quiet ? PROGRESS_QUIET : PROGRESS_AUTO);
		pc.prog = &prog;
		if (pipeline_run(&pc, &status) != 0) {
			emb_cache_writer_abort(r.w);
			cs_die(status, "stopped; %s", o.out ? "the cache was not changed" : "the stream is incomplete");
		}
		progress_finish(&prog);
	}
	if (r.sw) {
		if (emb_stream_writer_close(r.sw) != 0)
			cs_die(CS_EXIT_IO, "<stdout>: write error:");
		cs_fshut(stdout, "<stdout>");
	} else {
		finish_cache(&r, o.text ? &pr : NULL, tvec);
	}
	if (!o.quiet && o.out)
		cs_warn("%s: %lld images embedded, %lld locations, %lld rejected%s", o.out, r.embedded,
		    r.located, r.rejected, r.changed ? "" : " (cache unchanged)");

	if (r.rejected)
		status = CS_EXIT_PARTIAL;
	run_release(&r);
	if (o.text)
		prompts_release(&pr);
	free(tvec);
	cs_model_free(model);
	fs_unlock(lockfd);
	free(dir);
	return status;
}
