/* clipsort-cache — inspect, dump, import, merge and convert embedding files
 * (clipsort-cache(1), clipsort-embeddings(5)). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "emb.h"
#include "exitcode.h"
#include "fsutil.h"
#include "num.h"
#include "progress.h"
#include "tsv.h"
#include "xalloc.h"

static const char synopsis[] =
    "usage: clipsort-cache info file\n"
    "       clipsort-cache dump [-l | -r | -t] file\n"
    "       clipsort-cache import [-R] [-b logit_bias] [-d dim] [-f fingerprint] -m model\n"
    "                             [-o cache.h5] [-p preprocess] [-s logit_scale] [-t texts.tsv]\n"
    "                             [vectors.tsv]\n"
    "       clipsort-cache merge [-q] -o cache.h5 file ...\n"
    "       clipsort-cache convert [-q] [-o cache.h5] file\n";

static _Noreturn void
usage(void)
{
	fputs(synopsis, stderr);
	exit(CS_EXIT_USAGE);
}

/* The cache being written, aborted (its temp file removed) when we die or are killed. */
static emb_cache_writer *live_writer;
static char *live_tmp;

static void
abort_live(void)
{
	if (live_writer != NULL)
		emb_cache_writer_abort(live_writer);
	live_writer = NULL;
}

static void
on_signal(int sig)
{
	if (live_tmp != NULL)
		unlink(live_tmp);
	signal(sig, SIG_DFL);
	raise(sig);
}

static emb_cache_writer *
open_writer(const char *out, const emb_stamp *st)
{
	char err[1024];

	live_writer = emb_cache_writer_open(out, st, err, sizeof err);
	if (live_writer == NULL)
		cs_die(CS_EXIT_IO, "%s (%s not changed)", err, out);
	live_tmp = fs_tmpname(out);
	atexit(abort_live);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, on_signal);
	return live_writer;
}

static void
commit_writer(const char *out)
{
	char err[1024];
	emb_cache_writer *w = live_writer;

	live_writer = NULL;
	if (emb_cache_writer_commit(w, err, sizeof err) < 0)
		cs_die(CS_EXIT_IO, "%s (%s not changed)", err, out);
}

/* Dies with the writer's error: I/O (the scratch file, HDF5) or invalid data. */
static _Noreturn void
die_writer(const char *out, int status)
{
	char err[1024];

	snprintf(err, sizeof err, "%s", emb_cache_writer_error(live_writer));
	abort_live();
	cs_die(status, "%s (%s not changed)", err, out);
}

static emb_reader *
open_input(const char *path)
{
	char err[1024];
	emb_reader *r = emb_reader_open(path, err, sizeof err);

	if (r == NULL)
		cs_die(errno == EILSEQ ? CS_EXIT_DATA : CS_EXIT_IO, "%s", err);
	return r;
}

static _Noreturn void
die_reader(emb_reader *r)
{
	cs_die(emb_reader_error_is_io(r) ? CS_EXIT_IO : CS_EXIT_DATA, "%s", emb_reader_error(r));
}

static void
check_stdout(void)
{
	if (ferror(stdout))
		cs_fshut(stdout, "<stdout>");
}

/* ---- info ---- */

static void
kv(const char *k, const char *v)
{
	const char *row[2] = { k, v };

	tsv_put_row(stdout, row, 2);
}

static void
kvll(const char *k, long long v)
{
	char b[32];

	snprintf(b, sizeof b, "%lld", v);
	kv(k, b);
}

static int
cmd_info(int argc, char **argv)
{
	emb_reader *r;
	const emb_stamp *s;
	const emb_text *t;
	const emb_reject *rj;
	emb_image img;
	size_t nt, nr;
	long long n = 0;
	char b[32];
	int rc;

	if (argc != 2)
		usage();
	r = open_input(argv[1]);
	s = emb_reader_stamp(r);
	if (emb_reader_texts(r, &t, &nt) < 0)
		die_reader(r);
	while ((rc = emb_reader_next(r, &img)) == 1)
		n++;
	if (rc < 0)
		die_reader(r);
	kv("field", "value");
	kv("file", argv[1]);
	kv("format", emb_reader_kind(r) == EMB_KIND_CACHE ? "cache" : "stream");
	kvll("format_version", EMB_FORMAT_VERSION);
	kv("model", s->model);
	kv("fingerprint", s->fingerprint);
	kv("preprocess", s->preprocess);
	kvll("dim", s->dim);
	tsv_fmt_double(b, s->logit_scale);
	kv("logit_scale", b);
	tsv_fmt_double(b, s->logit_bias);
	kv("logit_bias", s->has_logit_bias ? b : "none");
	kvll("images", n);
	kvll("texts", (long long)nt);
	if (emb_reader_kind(r) == EMB_KIND_CACHE) {
		kvll("locations", emb_reader_location_count(r));
		if (emb_reader_rejects(r, &rj, &nr) < 0)
			die_reader(r);
		kvll("rejects", (long long)nr);
	}
	emb_reader_close(r);
	cs_fshut(stdout, "<stdout>");
	return CS_EXIT_OK;
}

/* ---- dump ---- */

static void
put_vec(const float *v, uint32_t dim)
{
	char b[32];
	uint32_t i;

	for (i = 0; i < dim; i++) {
		tsv_fmt_float(b, v[i]);
		putchar('\t');
		fputs(b, stdout);
	}
	putchar('\n');
}

static void
vec_header(const char *a, const char *b, uint32_t dim)
{
	uint32_t i;

	printf("%s\t%s", a, b);
	for (i = 0; i < dim; i++)
		printf("\tv%u", (unsigned)i);
	putchar('\n');
}

static int
cmd_dump(int argc, char **argv)
{
	emb_reader *r;
	const emb_stamp *s;
	int c, mode = 'i', rc;
	long long n = 0;

	while ((c = getopt(argc, argv, "lrt")) != -1) {
		switch (c) {
		case 'l': case 'r': case 't':
			if (mode != 'i' && mode != c)
				usage();
			mode = c;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	r = open_input(argv[optind]);
	s = emb_reader_stamp(r);
	if (mode == 't') {
		const emb_text *t;
		size_t nt, i;

		if (emb_reader_texts(r, &t, &nt) < 0)
			die_reader(r);
		vec_header("class", "prompt", s->dim);
		for (i = 0; i < nt; i++) {
			tsv_put_field(stdout, t[i].cls);
			putchar('\t');
			tsv_put_field(stdout, t[i].prompt);
			put_vec(t[i].vec, s->dim);
		}
	} else if (mode == 'l') {
		emb_location L;

		fputs("key\tpath\tsize\tmtime\n", stdout);
		while ((rc = emb_reader_next_location(r, &L)) == 1) {
			fputs(L.key, stdout);
			putchar('\t');
			tsv_put_field(stdout, L.path);
			printf("\t%llu\t%lld\n", (unsigned long long)L.size, (long long)L.mtime);
			if ((++n & 4095) == 0)
				check_stdout();
		}
		if (rc < 0)
			die_reader(r);
	} else if (mode == 'r') {
		const emb_reject *rj;
		size_t nr, i;

		if (emb_reader_rejects(r, &rj, &nr) < 0)
			die_reader(r);
		fputs("path\treason\n", stdout);
		for (i = 0; i < nr; i++) {
			const char *row[2] = { rj[i].location, rj[i].reason };

			tsv_put_row(stdout, row, 2);
		}
	} else {
		emb_image img;

		vec_header("key", "path", s->dim);
		while ((rc = emb_reader_next(r, &img)) == 1) {
			fputs(img.key, stdout);
			putchar('\t');
			tsv_put_field(stdout, img.location);
			put_vec(img.vec, s->dim);
			if ((++n & 1023) == 0)
				check_stdout();
		}
		if (rc < 0)
			die_reader(r);
	}
	emb_reader_close(r);
	cs_fshut(stdout, "<stdout>");
	return CS_EXIT_OK;
}

/* ---- import ---- */

struct vcols {
	int vec;                /* index of a comma-separated "vec" column, or -1 */
	int v0;                 /* index of v0 (v0..v{n-1} consecutive), or -1 */
	uint32_t n;             /* number of v columns */
};

static int
find_vec_cols(tsv_reader *t, struct vcols *vc)
{
	char name[32];
	uint32_t i;

	vc->vec = tsv_reader_col(t, "vec");
	vc->v0 = tsv_reader_col(t, "v0");
	vc->n = 0;
	if (vc->v0 >= 0) {
		for (i = 0; ; i++) {
			snprintf(name, sizeof name, "v%u", (unsigned)i);
			if (tsv_reader_col(t, name) != vc->v0 + (int)i)
				break;
		}
		vc->n = i;
	}
	if (vc->vec < 0 && vc->v0 < 0) {
		cs_warn("%s:1: no vector columns (expected 'vec' or v0, v1, ...)", t->name);
		return -1;
	}
	return 0;
}

static int
parse_float(const char *s, float *out)
{
	char *end;
	float v;

	errno = 0;
	v = strtof(s, &end);
	if (end == s || *end != '\0' || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* Parses the vector of the current row into *vec (grown), fixing *dim on first use.
 * Returns 0, or -1 after a warning naming file:line. */
static int
row_vec(tsv_reader *t, const struct vcols *vc, uint32_t *dim, float **vec, int raw)
{
	uint32_t n = 0, i;
	double norm = 0;

	if (vc->vec >= 0) {
		const char *s = tsv_reader_field(t, (size_t)vc->vec);
		char *copy = xstrdup(s), *p = copy, *tok;

		while ((tok = strsep(&p, ",")) != NULL) {
			float f;

			if (parse_float(tok, &f) < 0) {
				cs_warn("%s:%lu: vec: '%.40s' is not a finite number", t->name, t->lineno, tok);
				free(copy);
				return -1;
			}
			*vec = xreallocarray(*vec, n + 1, sizeof **vec);
			(*vec)[n++] = f;
		}
		free(copy);
	} else {
		*vec = xreallocarray(*vec, vc->n ? vc->n : 1, sizeof **vec);
		for (i = 0; i < vc->n; i++) {
			const char *s = tsv_reader_field(t, (size_t)vc->v0 + i);

			if (parse_float(s, &(*vec)[i]) < 0) {
				cs_warn("%s:%lu: v%u: '%.40s' is not a finite number", t->name, t->lineno,
				    (unsigned)i, s);
				return -1;
			}
		}
		n = vc->n;
	}
	if (*dim == 0) {
		if (n == 0 || n > 65536) {
			cs_warn("%s:%lu: vector has %u values (expected 1..65536)", t->name, t->lineno, (unsigned)n);
			return -1;
		}
		*dim = n;
	}
	if (n != *dim) {
		cs_warn("%s:%lu: vector has %u values, expected %u", t->name, t->lineno, (unsigned)n,
		    (unsigned)*dim);
		return -1;
	}
	if (raw)
		return 0;
	for (i = 0; i < n; i++)
		norm += (double)(*vec)[i] * (*vec)[i];
	if (norm == 0) {
		cs_warn("%s:%lu: zero vector cannot be normalised", t->name, t->lineno);
		return -1;
	}
	norm = sqrt(norm);
	for (i = 0; i < n; i++)
		(*vec)[i] = (float)((*vec)[i] / norm);
	return 0;
}

struct imp_text {
	char *cls, *prompt;
	float *vec;
};

struct imp_img {
	char key[EMB_KEY_HEX + 1];
	char *path;
	uint64_t size;
	int64_t mtime;
	float *vec;
};

/* Opens a TSV; 1 ok, 0 empty input (no header), -1 error (warned). */
static int
open_tsv(tsv_reader *t, const char *path, int allow_empty)
{
	FILE *fp;
	int c;

	if (strcmp(path, "-") == 0) {
		fp = stdin;
	} else if ((fp = fopen(path, "r")) == NULL) {
		cs_die(CS_EXIT_IO, "%s:", path);
	}
	if (allow_empty) {
		c = getc(fp);
		if (c == EOF && !ferror(fp)) {
			if (fp != stdin)
				fclose(fp);
			return 0;
		}
		ungetc(c, fp);
	}
	if (tsv_reader_init(t, fp, strcmp(path, "-") == 0 ? "<stdin>" : path) < 0) {
		cs_warn("%s", t->err);
		if (fp != stdin)
			fclose(fp);
		tsv_reader_release(t);
		return -1;
	}
	t->owns_fp = fp != stdin;
	return 1;
}

static int
read_texts(const char *path, uint32_t *dim, int raw, struct imp_text **out, size_t *nout)
{
	static const char *const need[] = { "class", "prompt" };
	tsv_reader t;
	struct vcols vc;
	int idx[2], rc, bad = 0;
	size_t cap = 0;
	float *vec = NULL;

	if (open_tsv(&t, path, 0) < 0)
		return -1;
	if (tsv_reader_require(&t, need, idx, 2) < 0) {
		cs_warn("%s", t.err);
		tsv_reader_release(&t);
		return -1;
	}
	if (find_vec_cols(&t, &vc) < 0) {
		tsv_reader_release(&t);
		return -1;
	}
	while ((rc = tsv_reader_next(&t)) == 1) {
		struct imp_text *x;

		if (row_vec(&t, &vc, dim, &vec, raw) < 0) {
			bad = 1;
			continue;
		}
		xgrow(out, &cap, *nout + 1, sizeof **out);
		x = &(*out)[(*nout)++];
		x->cls = xstrdup(tsv_reader_field(&t, (size_t)idx[0]));
		x->prompt = xstrdup(tsv_reader_field(&t, (size_t)idx[1]));
		x->vec = xreallocarray(NULL, *dim, sizeof *x->vec);
		memcpy(x->vec, vec, *dim * sizeof *vec);
	}
	if (rc < 0) {
		cs_warn("%s", t.err);
		bad = 1;
	}
	free(vec);
	tsv_reader_release(&t);
	return bad ? -1 : 0;
}

/* Parses the current row of the vectors TSV into *x; -1 after a warning. */
static int
image_row(tsv_reader *t, const int *idx, int isize, int imtime, const struct vcols *vc, uint32_t *dim,
    float **vec, int raw, struct imp_img *x)
{
	const char *key = tsv_reader_field(t, (size_t)idx[0]), *e;

	if (!emb_key_valid(key)) {
		cs_warn("%s:%lu: key '%.80s' is not 64 lowercase hex digits", t->name, t->lineno, key);
		return -1;
	}
	memcpy(x->key, key, sizeof x->key);
	x->size = 0;
	x->mtime = 0;
	if (isize >= 0 && *tsv_reader_field(t, (size_t)isize) != '\0') {
		x->size = (uint64_t)num_parse_ll(tsv_reader_field(t, (size_t)isize), 0, INT64_MAX, &e);
		if (e != NULL) {
			cs_warn("%s:%lu: size: %s", t->name, t->lineno, e);
			return -1;
		}
	}
	if (imtime >= 0 && *tsv_reader_field(t, (size_t)imtime) != '\0') {
		x->mtime = num_parse_ll(tsv_reader_field(t, (size_t)imtime), INT64_MIN, INT64_MAX, &e);
		if (e != NULL) {
			cs_warn("%s:%lu: mtime: %s", t->name, t->lineno, e);
			return -1;
		}
	}
	if (row_vec(t, vc, dim, vec, raw) < 0)
		return -1;
	x->path = (char *)(uintptr_t)tsv_reader_field(t, (size_t)idx[1]);
	x->vec = *vec;
	return 0;
}

struct sink {
	emb_stream_writer *sw;
	emb_cache_writer *cw;
	const char *out;
};

static int
sink_image(struct sink *k, const struct imp_img *x)
{
	if (k->sw != NULL)
		return emb_stream_write_image(k->sw, x->key, x->path, x->vec);
	if (emb_cache_add_image(k->cw, x->key, x->vec) < 0 ||
	    emb_cache_add_location(k->cw, x->key, x->path, x->size, x->mtime) < 0)
		return -1;
	return 0;
}

static int
cmd_import(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "fingerprint", required_argument, NULL, 'f' },
		{ "preprocess", required_argument, NULL, 'p' },
		{ "dim", required_argument, NULL, 'd' },
		{ "logit-scale", required_argument, NULL, 's' },
		{ "logit-bias", required_argument, NULL, 'b' },
		{ "texts", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "raw", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const need[] = { "key", "path" };
	emb_stamp st;
	struct sink k = { NULL, NULL, NULL };
	struct imp_text *texts = NULL;
	size_t ntexts = 0, i;
	const char *textpath = NULL, *in = "-";
	uint32_t dim = 0;
	int c, raw = 0, bad = 0, idx[2], isize, imtime, rc, lockfd = -1, have;
	tsv_reader t;
	struct vcols vc;
	float *vec = NULL;
	char err[1024];
	long long nimg = 0;

	memset(&st, 0, sizeof st);
	st.logit_scale = 100.0;
	while ((c = getopt_long(argc, argv, "b:d:f:m:o:p:Rs:t:", lopts, NULL)) != -1) {
		switch (c) {
		case 'm': st.model = optarg; break;
		case 'f': st.fingerprint = optarg; break;
		case 'p': st.preprocess = optarg; break;
		case 'd': dim = (uint32_t)num_arg_ll("dim", optarg, 1, 65536); break;
		case 's': st.logit_scale = num_arg_d("logit scale", optarg, 0, 1e12); break;
		case 'b':
			st.logit_bias = num_arg_d("logit bias", optarg, -1e12, 1e12);
			st.has_logit_bias = 1;
			break;
		case 't': textpath = optarg; break;
		case 'o': k.out = optarg; break;
		case 'R': raw = 1; break;
		default: usage();
		}
	}
	if (st.model == NULL || argc - optind > 1)
		usage();
	if (argc - optind == 1)
		in = argv[optind];
	if (st.fingerprint == NULL)
		st.fingerprint = (char *)(uintptr_t)"";
	if (st.preprocess == NULL)
		st.preprocess = (char *)(uintptr_t)"";
	if (k.out == NULL && isatty(STDOUT_FILENO))
		cs_die(CS_EXIT_USAGE, "refusing to write a binary stream to a terminal (use -o cache.h5 or a pipe)");
	if (textpath != NULL && read_texts(textpath, &dim, raw, &texts, &ntexts) < 0)
		exit(CS_EXIT_DATA);
	have = open_tsv(&t, in, textpath != NULL);
	if (have < 0)
		exit(CS_EXIT_DATA);
	if (have) {
		if (tsv_reader_require(&t, need, idx, 2) < 0)
			cs_die(CS_EXIT_DATA, "%s", t.err);
		if (find_vec_cols(&t, &vc) < 0)
			exit(CS_EXIT_DATA);
		if (dim == 0 && vc.vec < 0)
			dim = vc.n;
		if (vc.vec < 0 && vc.n != dim)
			cs_die(CS_EXIT_DATA, "%s:1: %u vector columns, expected %u", t.name, (unsigned)vc.n,
			    (unsigned)dim);
	}
	isize = have ? tsv_reader_col(&t, "size") : -1;
	imtime = have ? tsv_reader_col(&t, "mtime") : -1;
	/* the dimension may still be unknown (comma-separated vectors): read the first row */
	rc = have ? tsv_reader_next(&t) : 0;
	if (dim == 0 && rc == 1) {
		float *tmp = NULL;

		if (row_vec(&t, &vc, &dim, &tmp, 1) < 0)
			exit(CS_EXIT_DATA);
		free(tmp);
	}
	if (dim == 0)
		cs_die(CS_EXIT_DATA, "%s: no vectors to take the dimension from (give -d)", t.name ? t.name : in);
	st.dim = dim;
	if (k.out != NULL) {
		if ((c = fs_lock(k.out, &lockfd, err, sizeof err)) != 0)
			cs_die(c, "%s", err);
		k.cw = open_writer(k.out, &st);
	} else {
		k.sw = emb_stream_writer_open(stdout, &st);
		if (k.sw == NULL)
			cs_die(CS_EXIT_USAGE, "invalid stamp");
	}
	for (i = 0; i < ntexts; i++) {
		if (k.sw != NULL && emb_stream_write_text(k.sw, texts[i].cls, texts[i].prompt, texts[i].vec) < 0)
			cs_die(CS_EXIT_IO, "<stdout>: write error:");
		if (k.cw != NULL && emb_cache_add_text(k.cw, texts[i].cls, texts[i].prompt, texts[i].vec) < 0)
			die_writer(k.out, CS_EXIT_IO);
		free(texts[i].cls);
		free(texts[i].prompt);
		free(texts[i].vec);
	}
	free(texts);
	for (; rc == 1; rc = tsv_reader_next(&t)) {
		struct imp_img x;

		if (image_row(&t, idx, isize, imtime, &vc, &dim, &vec, raw, &x) < 0) {
			bad = CS_EXIT_DATA;
			continue;
		}
		if (sink_image(&k, &x) < 0) {
			if (k.sw != NULL)
				cs_die(CS_EXIT_IO, "<stdout>: write error:");
			die_writer(k.out, CS_EXIT_IO);
		}
		nimg++;
	}
	if (rc < 0) {
		cs_warn("%s", t.err);
		bad = bad ? bad : CS_EXIT_DATA;
	}
	free(vec);
	if (have)
		tsv_reader_release(&t);
	if (k.cw != NULL) {
		if (bad) {
			abort_live();
			cs_die(bad, "%s: not changed", k.out);
		}
		commit_writer(k.out);
		fs_unlock(lockfd);
		return CS_EXIT_OK;
	}
	if (bad) {
		/* no end record: a reader of this stream sees it as truncated, never as complete */
		emb_stream_writer_abort(k.sw);
		return bad;
	}
	if (emb_stream_writer_close(k.sw) < 0)
		cs_die(CS_EXIT_IO, "<stdout>: write error:");
	cs_fshut(stdout, "<stdout>");
	return CS_EXIT_OK;
}

/* ---- merge / convert ---- */

struct textset {
	char **cls, **prompt;
	size_t n, cap;
};

static int
text_seen(struct textset *ts, const char *cls, const char *prompt)
{
	size_t i, c2;

	for (i = 0; i < ts->n; i++)
		if (strcmp(ts->cls[i], cls) == 0 && strcmp(ts->prompt[i], prompt) == 0)
			return 1;
	c2 = ts->cap;
	xgrow(&ts->cls, &ts->cap, ts->n + 1, sizeof *ts->cls);
	xgrow(&ts->prompt, &c2, ts->n + 1, sizeof *ts->prompt);
	ts->cls[ts->n] = xstrdup(cls);
	ts->prompt[ts->n] = xstrdup(prompt);
	ts->n++;
	return 0;
}

static void
textset_release(struct textset *ts)
{
	size_t i;

	for (i = 0; i < ts->n; i++) {
		free(ts->cls[i]);
		free(ts->prompt[i]);
	}
	free(ts->cls);
	free(ts->prompt);
}

struct rejset {
	char **loc, **reason;
	size_t n, cap;
};

/* Copies everything of r into the cache writer w: texts (not already seen), images,
 * locations (a stream's one location per image, with size and mtime 0), rejects. */
static int
copy_into(emb_cache_writer *w, emb_reader *r, struct textset *ts, struct rejset *rs, progress *pg)
{
	const emb_text *t;
	const emb_reject *rj;
	size_t nt, nr, i, j;
	emb_image img;
	emb_location L;
	int rc;

	if (emb_reader_texts(r, &t, &nt) < 0)
		die_reader(r);
	for (i = 0; i < nt; i++)
		if (!text_seen(ts, t[i].cls, t[i].prompt) && emb_cache_add_text(w, t[i].cls, t[i].prompt, t[i].vec) < 0)
			return -1;
	if (emb_reader_kind(r) == EMB_KIND_STREAM) {
		while ((rc = emb_reader_next(r, &img)) == 1) {
			if (emb_cache_add_image(w, img.key, img.vec) < 0 ||
			    emb_cache_add_location(w, img.key, img.location, 0, 0) < 0)
				return -1;
			progress_add(pg, 1, 0);
		}
		if (rc < 0)
			die_reader(r);
		return 0;
	}
	while ((rc = emb_reader_next(r, &img)) == 1) {
		if (emb_cache_add_image(w, img.key, img.vec) < 0)
			return -1;
		progress_add(pg, 1, 0);
	}
	if (rc < 0)
		die_reader(r);
	while ((rc = emb_reader_next_location(r, &L)) == 1)
		if (emb_cache_add_location(w, L.key, L.path, L.size, L.mtime) < 0)
			return -1;
	if (rc < 0)
		die_reader(r);
	if (emb_reader_rejects(r, &rj, &nr) < 0)
		die_reader(r);
	for (i = 0; i < nr; i++) {
		for (j = 0; j < rs->n; j++)
			if (strcmp(rs->loc[j], rj[i].location) == 0 && strcmp(rs->reason[j], rj[i].reason) == 0)
				break;
		if (j < rs->n)
			continue;
		if (emb_cache_add_reject(w, rj[i].location, rj[i].reason) < 0)
			return -1;
		{
			size_t c2 = rs->cap;

			xgrow(&rs->loc, &rs->cap, rs->n + 1, sizeof *rs->loc);
			xgrow(&rs->reason, &c2, rs->n + 1, sizeof *rs->reason);
		}
		rs->loc[rs->n] = xstrdup(rj[i].location);
		rs->reason[rs->n] = xstrdup(rj[i].reason);
		rs->n++;
	}
	return 0;
}

/* Writes the cache out from inputs in[0..n): shared by merge and convert -o.  Every
 * stamp is checked before any work, so a mismatch is reported at once. */
static int
build_cache(const char *out, char **in, int n, int quiet)
{
	emb_reader *r, *r0;
	emb_cache_writer *w;
	emb_stamp st;
	struct textset ts = { NULL, NULL, 0, 0 };
	struct rejset rs = { NULL, NULL, 0, 0 };
	progress pg;
	char err[1024], why[512];
	int i, lockfd, c, nstdin = 0;
	long long total;
	size_t j;

	for (i = 0; i < n; i++)
		nstdin += strcmp(in[i], "-") == 0;
	if (nstdin > 1)
		cs_die(CS_EXIT_USAGE, "standard input can be given only once");
	if ((c = fs_lock(out, &lockfd, err, sizeof err)) != 0)
		cs_die(c, "%s", err);
	r0 = open_input(in[0]);
	emb_stamp_copy(&st, emb_reader_stamp(r0));
	total = emb_reader_count(r0);
	for (i = 1; i < n; i++) {
		if (strcmp(in[i], "-") == 0) {
			total = -1;
			continue;       /* a stream on stdin is checked when read */
		}
		r = open_input(in[i]);
		if (!emb_stamp_compatible(&st, emb_reader_stamp(r), why, sizeof why)) {
			emb_reader_close(r);
			emb_reader_close(r0);
			cs_die(CS_EXIT_DATA, "%s: cannot merge with %s: %s", in[i], in[0], why);
		}
		total = total < 0 || emb_reader_count(r) < 0 ? -1 : total + emb_reader_count(r);
		emb_reader_close(r);
	}
	w = open_writer(out, &st);
	progress_init(&pg, "images", total, quiet ? PROGRESS_QUIET : PROGRESS_AUTO);
	for (i = 0; i < n; i++) {
		r = i == 0 ? r0 : open_input(in[i]);
		if (!emb_stamp_compatible(&st, emb_reader_stamp(r), why, sizeof why)) {
			emb_reader_close(r);
			cs_die(CS_EXIT_DATA, "%s: cannot merge with %s: %s", in[i], in[0], why);
		}
		if (copy_into(w, r, &ts, &rs, &pg) < 0)
			die_writer(out, CS_EXIT_IO);
		emb_reader_close(r);
	}
	progress_finish(&pg);
	commit_writer(out);
	fs_unlock(lockfd);
	textset_release(&ts);
	for (j = 0; j < rs.n; j++) {
		free(rs.loc[j]);
		free(rs.reason[j]);
	}
	free(rs.loc);
	free(rs.reason);
	emb_stamp_release(&st);
	return CS_EXIT_OK;
}

static int
cmd_merge(int argc, char **argv)
{
	const char *out = NULL;
	int c, quiet = 0;

	while ((c = getopt(argc, argv, "o:q")) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'q': quiet = 1; break;
		default: usage();
		}
	}
	if (out == NULL || optind >= argc)
		usage();
	return build_cache(out, argv + optind, argc - optind, quiet);
}

static int
cmd_convert(int argc, char **argv)
{
	const char *out = NULL;
	int c, quiet = 0, rc;
	emb_reader *r;
	emb_stream_writer *w;
	const emb_text *t;
	emb_image img;
	size_t nt, i;
	long long n = 0;

	while ((c = getopt(argc, argv, "o:q")) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'q': quiet = 1; break;
		default: usage();
		}
	}
	if (argc - optind != 1)
		usage();
	if (out != NULL)
		return build_cache(out, argv + optind, 1, quiet);
	if (isatty(STDOUT_FILENO))
		cs_die(CS_EXIT_USAGE, "refusing to write a binary stream to a terminal (use -o cache.h5 or a pipe)");
	r = open_input(argv[optind]);
	if (emb_reader_texts(r, &t, &nt) < 0)
		die_reader(r);
	w = emb_stream_writer_open(stdout, emb_reader_stamp(r));
	if (w == NULL)
		cs_die(CS_EXIT_DATA, "%s: invalid stamp", argv[optind]);
	for (i = 0; i < nt; i++)
		if (emb_stream_write_text(w, t[i].cls, t[i].prompt, t[i].vec) < 0)
			cs_die(CS_EXIT_IO, "<stdout>: write error:");
	while ((rc = emb_reader_next(r, &img)) == 1) {
		if (emb_stream_write_image(w, img.key, img.location, img.vec) < 0)
			cs_die(CS_EXIT_IO, "<stdout>: write error:");
		n++;
	}
	if (rc < 0)
		die_reader(r);
	if (emb_stream_writer_close(w) < 0)
		cs_die(CS_EXIT_IO, "<stdout>: write error:");
	emb_reader_close(r);
	cs_fshut(stdout, "<stdout>");
	(void)n;
	return CS_EXIT_OK;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "info", cmd_info }, { "dump", cmd_dump }, { "import", cmd_import },
		{ "merge", cmd_merge }, { "convert", cmd_convert },
	};
	size_t i;

	diag_init(argv[0]);
	if (argc < 2)
		usage();
	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			optind = 1;
			return cmds[i].fn(argc - 1, argv + 1);
		}
	}
	cs_warn("unknown command '%s'", argv[1]);
	usage();
}
