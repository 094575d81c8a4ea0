/* emb_cache.c — the HDF5 embedding cache (clipsort-embeddings(5)).
 *
 * Layout: root attributes format, format_version, model, fingerprint, preprocess,
 * dim, logit_scale, logit_bias, has_logit_bias; /images/{key,vec} sorted by key;
 * /locations/{key,path,size,mtime} sorted by (key, path); /rejects/{location,reason};
 * /texts/{class,prompt,vec}.  Every dataset is chunked with unlimited rows and no
 * filters; keys are fixed 64-byte ASCII strings, other strings variable-length UTF-8.
 *
 * The writer keeps keys, locations, rejects and texts in memory and the vectors in
 * an unlinked scratch file beside the target; commit sorts, writes PATH.tmp.PID,
 * and publishes it (fs_publish).  The reader reads in blocks of BLOCK rows. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "emb.h"
#include "emb_int.h"
#include "fsutil.h"
#include "xalloc.h"

#define BLOCK 4096              /* rows per read block */
#define VEC_CHUNK 1024          /* rows per chunk of /images/vec */
#define ROW_CHUNK 4096          /* rows per chunk of 1-D datasets */
#define FORMAT_NAME "clipsort-cache"

/* ---- HDF5 helpers ---- */

static void
h5_quiet(void)
{
	static int done;

	if (!done) {
		/* no library shutdown at exit: after a failed write HDF5 1.10 can crash
		 * closing the half-closed file again there; the kernel reclaims all */
		H5dont_atexit();
		H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
		done = 1;
	}
}

struct walk {
	char *buf;
	size_t len;
};

static herr_t
walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
	struct walk *w = data;

	const char *d = e->desc, *m;
	size_t len;

	if (n != 0 || d == NULL)
		return 0;
	/* the sec2 driver's description holds a whole report; keep its head and its errno text */
	len = strcspn(d, ":,\n");
	m = strstr(d, "error message = '");
	if (m != NULL) {
		m += strlen("error message = '");
		snprintf(w->buf, w->len, " (HDF5: %.*s: %.*s)", (int)len, d, (int)strcspn(m, "'"), m);
	} else {
		snprintf(w->buf, w->len, " (HDF5: %.*s)", (int)len, d);
	}
	return 0;
}

/* Every HDF5 call clears the error stack, so a failure is saved (h5_save) before
 * the cleanup calls that follow it, and reported from the copy. */
static hid_t saved_stack = -1;

static void
h5_save(void)
{
	if (saved_stack >= 0)
		H5Eclose_stack(saved_stack);
	saved_stack = H5Eget_current_stack();
}

/* The innermost HDF5 error description as " (HDF5: ...)", or "" — then clears it. */
static const char *
h5_detail(char *buf, size_t len)
{
	struct walk w = { buf, len };

	buf[0] = '\0';
	if (saved_stack >= 0) {
		H5Ewalk2(saved_stack, H5E_WALK_UPWARD, walk_cb, &w);
		H5Eclose_stack(saved_stack);
		saved_stack = -1;
	} else {
		H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
	}
	H5Eclear2(H5E_DEFAULT);
	return buf;
}

/* File access: HDF5's own file locks are off.  A cache is never modified in place
 * (writers build a private PATH.tmp.PID and rename it, serialised by fs_lock), and
 * those locks fail on file systems without flock (NFS, Lustre: the cluster case). */
static hid_t
file_access(void)
{
	hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);

	H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
	H5Pset_file_locking(fapl, 0, 1);
	return fapl;
}

static hid_t
key_type(void)
{
	hid_t t = H5Tcopy(H5T_C_S1);

	H5Tset_size(t, EMB_KEY_HEX);
	H5Tset_strpad(t, H5T_STR_NULLPAD);
	H5Tset_cset(t, H5T_CSET_ASCII);
	return t;
}

static hid_t
vstr_type(void)
{
	hid_t t = H5Tcopy(H5T_C_S1);

	H5Tset_size(t, H5T_VARIABLE);
	H5Tset_cset(t, H5T_CSET_UTF8);
	return t;
}

static void
h5close(hid_t *id, herr_t (*fn)(hid_t))
{
	if (*id > 0)
		fn(*id);
	*id = -1;
}

/* Selects rows [start, start+count) of a rank-1 or rank-2 dataset (cols = 0 for rank 1). */
static int
rows_io(hid_t d, hid_t memtype, hsize_t start, hsize_t count, hsize_t cols, void *buf, int write)
{
	hsize_t off[2] = { start, 0 }, cnt[2] = { count, cols };
	int rank = cols ? 2 : 1;
	hid_t fs, ms;
	herr_t rc;

	if (count == 0)
		return 0;
	fs = H5Dget_space(d);
	if (fs < 0)
		return -1;
	ms = H5Screate_simple(rank, cnt, NULL);
	if (ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0) {
		h5_save();
		H5Sclose(fs);
		if (ms >= 0)
			H5Sclose(ms);
		return -1;
	}
	if (write)
		rc = H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf);
	else
		rc = H5Dread(d, memtype, ms, fs, H5P_DEFAULT, buf);
	if (rc < 0)
		h5_save();
	H5Sclose(ms);
	H5Sclose(fs);
	return rc < 0 ? -1 : 0;
}

/* Frees the variable-length strings of a block read with vstr_type(). */
static void
vstr_reclaim(char **buf, hsize_t count)
{
	hsize_t i;

	for (i = 0; i < count; i++) {
		if (buf[i] != NULL)
			H5free_memory(buf[i]);
		buf[i] = NULL;
	}
}

/* ---- reader ---- */

struct emb_cache_rd {
	hid_t file, ikey, ivec, lkey, lpath, lsize, lmtime;
	hid_t ktype, stype;
	hsize_t n, nloc;

	/* image cursor */
	hsize_t pos, blk0, blkn;
	char *keybuf;                   /* BLOCK * 64 */
	float *vecbuf;                  /* BLOCK * dim */
	char prevkey[EMB_KEY_HEX + 1];

	/* location cursor for the first location of each image */
	hsize_t fpos, fblk0, fblkn;
	char *fkeybuf;
	char **fpathbuf;

	/* location iteration (emb_reader_next_location) */
	hsize_t lpos, lblk0, lblkn;
	char *lkeybuf;
	char **lpathbuf;
	uint64_t *lsizebuf;
	int64_t *lmtimebuf;

	/* lookup */
	unsigned char (*raw)[32];

	/* rejects */
	emb_reject *rej;
	size_t nrej;
	int rej_loaded;
};

static int
h5fail(emb_reader *r, const char *what)
{
	char d[300];

	h5_detail(d, sizeof d);
	return emb_fail(r, "%s%s", what, d);
}

/* Reads a scalar string attribute (variable or fixed length) into a malloc'd string. */
static int
attr_str(emb_reader *r, const char *name, char **out)
{
	hid_t a, t, mt;
	int rc = -1;

	*out = NULL;
	if (H5Aexists(r->c->file, name) <= 0)
		return emb_fail(r, "not a clipsort cache: attribute '%s' missing", name);
	a = H5Aopen(r->c->file, name, H5P_DEFAULT);
	if (a < 0)
		return h5fail(r, "cannot open an attribute");
	t = H5Aget_type(a);
	if (t < 0 || H5Tget_class(t) != H5T_STRING) {
		emb_fail(r, "attribute '%s' is not a string", name);
	} else if (H5Tis_variable_str(t) > 0) {
		char *s = NULL;

		mt = vstr_type();
		if (H5Aread(a, mt, &s) < 0) {
			h5_save();
			h5fail(r, "cannot read an attribute");
		} else {
			*out = xstrdup(s ? s : "");
			H5free_memory(s);
			rc = 0;
		}
		H5Tclose(mt);
	} else {
		size_t len = H5Tget_size(t);
		char *s = xcalloc(len + 1, 1);

		mt = H5Tcopy(H5T_C_S1);
		H5Tset_size(mt, len + 1);
		H5Tset_strpad(mt, H5T_STR_NULLTERM);
		if (H5Aread(a, mt, s) < 0) {
			h5_save();
			h5fail(r, "cannot read an attribute");
			free(s);
		} else {
			*out = s;
			rc = 0;
		}
		H5Tclose(mt);
	}
	if (t >= 0)
		H5Tclose(t);
	H5Aclose(a);
	return rc;
}

static int
attr_num(emb_reader *r, const char *name, hid_t memtype, void *out)
{
	hid_t a;
	herr_t rc;

	if (H5Aexists(r->c->file, name) <= 0)
		return emb_fail(r, "not a clipsort cache: attribute '%s' missing", name);
	a = H5Aopen(r->c->file, name, H5P_DEFAULT);
	if (a < 0)
		return h5fail(r, "cannot open an attribute");
	rc = H5Aread(a, memtype, out);
	if (rc < 0)
		h5_save();
	H5Aclose(a);
	if (rc < 0) {
		char what[128];

		snprintf(what, sizeof what, "attribute '%s' is not a number", name);
		return h5fail(r, what);
	}
	return 0;
}

/* Opens dataset name, checks its rank and (for rank 2) its column count. */
static hid_t
open_dset(emb_reader *r, const char *name, int rank, hsize_t cols, hsize_t *rows)
{
	hid_t d, s;
	hsize_t dims[2] = { 0, 0 };
	int rk;

	if (H5Lexists(r->c->file, name, H5P_DEFAULT) <= 0) {
		emb_fail(r, "missing dataset %s", name);
		return -1;
	}
	d = H5Dopen2(r->c->file, name, H5P_DEFAULT);
	if (d < 0) {
		char what[128];

		snprintf(what, sizeof what, "cannot open dataset %s", name);
		h5fail(r, what);
		return -1;
	}
	s = H5Dget_space(d);
	rk = s < 0 ? -1 : H5Sget_simple_extent_ndims(s);
	if (rk == rank)
		H5Sget_simple_extent_dims(s, dims, NULL);
	if (s >= 0)
		H5Sclose(s);
	if (rk != rank) {
		emb_fail(r, "dataset %s has rank %d, expected %d", name, rk, rank);
		H5Dclose(d);
		return -1;
	}
	if (rank == 2 && dims[1] != cols) {
		emb_fail(r, "dim mismatch: dataset %s has %llu columns, the cache's dim is %llu", name,
		    (unsigned long long)dims[1], (unsigned long long)cols);
		H5Dclose(d);
		return -1;
	}
	*rows = dims[0];
	return d;
}

static int
same_rows(emb_reader *r, const char *a, hsize_t na, const char *b, hsize_t nb)
{
	if (na == nb)
		return 0;
	return emb_fail(r, "datasets %s and %s differ in length (%llu vs %llu rows)", a, b,
	    (unsigned long long)na, (unsigned long long)nb);
}

static int
load_texts(emb_reader *r)
{
	struct emb_cache_rd *c = r->c;
	hid_t dc = -1, dp = -1, dv = -1;
	hsize_t nc, np, nv, i;
	char **cls = NULL, **pr = NULL;
	float *vec = NULL;
	int rc = -1;

	if ((dc = open_dset(r, "/texts/class", 1, 0, &nc)) < 0 ||
	    (dp = open_dset(r, "/texts/prompt", 1, 0, &np)) < 0 ||
	    (dv = open_dset(r, "/texts/vec", 2, r->stamp.dim, &nv)) < 0)
		goto out;
	if (same_rows(r, "/texts/class", nc, "/texts/prompt", np) < 0 ||
	    same_rows(r, "/texts/class", nc, "/texts/vec", nv) < 0)
		goto out;
	cls = xcalloc(nc + 1, sizeof *cls);
	pr = xcalloc(nc + 1, sizeof *pr);
	vec = xreallocarray(NULL, nc + 1, r->stamp.dim * sizeof *vec);
	if (rows_io(dc, c->stype, 0, nc, 0, cls, 0) < 0 || rows_io(dp, c->stype, 0, nc, 0, pr, 0) < 0 ||
	    rows_io(dv, H5T_NATIVE_FLOAT, 0, nc, r->stamp.dim, vec, 0) < 0) {
		h5fail(r, "cannot read /texts");
		goto out;
	}
	for (i = 0; i < nc; i++) {
		if (!emb_vec_finite(vec + i * r->stamp.dim, r->stamp.dim)) {
			emb_fail(r, "non-finite value in /texts/vec row %llu", (unsigned long long)i);
			goto out;
		}
		emb_reader_add_text(r, cls[i] ? cls[i] : "", pr[i] ? pr[i] : "", vec + i * r->stamp.dim);
	}
	r->texts_done = 1;
	rc = 0;
out:
	if (cls != NULL)
		vstr_reclaim(cls, nc);
	if (pr != NULL)
		vstr_reclaim(pr, nc);
	free(cls);
	free(pr);
	free(vec);
	if (dc >= 0)
		H5Dclose(dc);
	if (dp >= 0)
		H5Dclose(dp);
	if (dv >= 0)
		H5Dclose(dv);
	return rc;
}

int
emb_cache_open(emb_reader *r, const char *path)
{
	struct emb_cache_rd *c;
	char *fmt = NULL;
	int version = 0, hasb = 0;
	unsigned dim = 0;
	hsize_t nv, nl[4];
	hid_t fapl;

	h5_quiet();
	c = r->c = xcalloc(1, sizeof *c);
	c->file = c->ikey = c->ivec = c->lkey = c->lpath = c->lsize = c->lmtime = -1;
	c->ktype = key_type();
	c->stype = vstr_type();
	fapl = file_access();
	c->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
	if (c->file < 0)
		h5_save();
	H5Pclose(fapl);
	if (c->file < 0)
		return h5fail(r, "cannot open the HDF5 file");
	if (attr_str(r, "format", &fmt) < 0)
		return -1;
	if (strcmp(fmt, FORMAT_NAME) != 0) {
		emb_fail(r, "not a clipsort cache (format attribute is '%s')", fmt);
		free(fmt);
		return -1;
	}
	free(fmt);
	if (attr_num(r, "format_version", H5T_NATIVE_INT, &version) < 0)
		return -1;
	if (version != EMB_FORMAT_VERSION)
		return emb_fail(r, "unsupported cache format version %d (this build reads %d)", version,
		    EMB_FORMAT_VERSION);
	if (attr_str(r, "model", &r->stamp.model) < 0 ||
	    attr_str(r, "fingerprint", &r->stamp.fingerprint) < 0 ||
	    attr_str(r, "preprocess", &r->stamp.preprocess) < 0 ||
	    attr_num(r, "dim", H5T_NATIVE_UINT, &dim) < 0 ||
	    attr_num(r, "logit_scale", H5T_NATIVE_DOUBLE, &r->stamp.logit_scale) < 0 ||
	    attr_num(r, "logit_bias", H5T_NATIVE_DOUBLE, &r->stamp.logit_bias) < 0 ||
	    attr_num(r, "has_logit_bias", H5T_NATIVE_INT, &hasb) < 0)
		return -1;
	if (dim == 0 || dim > EMB_MAX_DIM)
		return emb_fail(r, "dim attribute %u out of range 1..%u", dim, EMB_MAX_DIM);
	r->stamp.dim = dim;
	r->stamp.has_logit_bias = hasb != 0;
	if ((c->ikey = open_dset(r, "/images/key", 1, 0, &c->n)) < 0 ||
	    (c->ivec = open_dset(r, "/images/vec", 2, dim, &nv)) < 0 ||
	    same_rows(r, "/images/key", c->n, "/images/vec", nv) < 0)
		return -1;
	if ((c->lkey = open_dset(r, "/locations/key", 1, 0, &nl[0])) < 0 ||
	    (c->lpath = open_dset(r, "/locations/path", 1, 0, &nl[1])) < 0 ||
	    (c->lsize = open_dset(r, "/locations/size", 1, 0, &nl[2])) < 0 ||
	    (c->lmtime = open_dset(r, "/locations/mtime", 1, 0, &nl[3])) < 0 ||
	    same_rows(r, "/locations/key", nl[0], "/locations/path", nl[1]) < 0 ||
	    same_rows(r, "/locations/key", nl[0], "/locations/size", nl[2]) < 0 ||
	    same_rows(r, "/locations/key", nl[0], "/locations/mtime", nl[3]) < 0)
		return -1;
	c->nloc = nl[0];
	if (load_texts(r) < 0)
		return -1;
	c->keybuf = xmalloc((size_t)BLOCK * EMB_KEY_HEX);
	c->vecbuf = xreallocarray(NULL, BLOCK, dim * sizeof(float));
	r->vec = xreallocarray(NULL, dim, sizeof(float));
	return 0;
}

/* Loads the block of location keys/paths holding row `at` into (kbuf, pbuf). */
static int
load_loc_block(emb_reader *r, hsize_t at, hsize_t *blk0, hsize_t *blkn, char **kbuf, char ***pbuf)
{
	struct emb_cache_rd *c = r->c;
	hsize_t n = c->nloc - at < BLOCK ? c->nloc - at : BLOCK;

	if (*kbuf == NULL) {
		*kbuf = xmalloc((size_t)BLOCK * EMB_KEY_HEX);
		*pbuf = xcalloc(BLOCK, sizeof **pbuf);
	}
	vstr_reclaim(*pbuf, *blkn);
	*blkn = 0;
	if (rows_io(c->lkey, c->ktype, at, n, 0, *kbuf, 0) < 0 ||
	    rows_io(c->lpath, c->stype, at, n, 0, *pbuf, 0) < 0)
		return h5fail(r, "cannot read /locations");
	*blk0 = at;
	*blkn = n;
	return 0;
}

/* First (smallest) location of key, advancing the merge-join cursor; "" when none. */
static int
first_location(emb_reader *r, const char *key, const char **loc)
{
	struct emb_cache_rd *c = r->c;

	*loc = "";
	while (c->fpos < c->nloc) {
		const char *k;
		int cmp;

		if (c->fpos >= c->fblk0 + c->fblkn || c->fpos < c->fblk0 || c->fblkn == 0)
			if (load_loc_block(r, c->fpos, &c->fblk0, &c->fblkn, &c->fkeybuf, &c->fpathbuf) < 0)
				return -1;
		k = c->fkeybuf + (c->fpos - c->fblk0) * EMB_KEY_HEX;
		cmp = memcmp(k, key, EMB_KEY_HEX);
		if (cmp > 0)
			return 0;
		if (cmp == 0) {
			const char *p = c->fpathbuf[c->fpos - c->fblk0];

			*loc = p ? p : "";
			return 0;
		}
		c->fpos++;
	}
	return 0;
}

int
emb_cache_next(emb_reader *r, emb_image *img)
{
	struct emb_cache_rd *c = r->c;
	hsize_t i, n;
	const char *loc;
	uint32_t dim = r->stamp.dim;

	if (c->pos >= c->n)
		return 0;
	if (c->pos >= c->blk0 + c->blkn || c->blkn == 0) {
		n = c->n - c->pos < BLOCK ? c->n - c->pos : BLOCK;
		if (rows_io(c->ikey, c->ktype, c->pos, n, 0, c->keybuf, 0) < 0 ||
		    rows_io(c->ivec, H5T_NATIVE_FLOAT, c->pos, n, dim, c->vecbuf, 0) < 0)
			return h5fail(r, "cannot read /images");
		c->blk0 = c->pos;
		c->blkn = n;
	}
	i = c->pos - c->blk0;
	memcpy(img->key, c->keybuf + i * EMB_KEY_HEX, EMB_KEY_HEX);
	img->key[EMB_KEY_HEX] = '\0';
	if (!emb_key_valid(img->key))
		return emb_fail(r, "/images/key row %llu is not a 64-digit lowercase hex key",
		    (unsigned long long)c->pos);
	if (c->pos > 0 && strcmp(c->prevkey, img->key) >= 0)
		return emb_fail(r, "/images/key is not sorted (or has duplicates) at row %llu",
		    (unsigned long long)c->pos);
	memcpy(c->prevkey, img->key, sizeof c->prevkey);
	memcpy(r->vec, c->vecbuf + i * dim, dim * sizeof(float));
	if (!emb_vec_finite(r->vec, dim))
		return emb_fail(r, "non-finite value in /images/vec row %llu", (unsigned long long)c->pos);
	if (first_location(r, img->key, &loc) < 0)
		return -1;
	xgrow(&r->loc, &r->loccap, strlen(loc) + 1, 1);
	strcpy(r->loc, loc);
	img->location = r->loc;
	img->vec = r->vec;
	c->pos++;
	return 1;
}

long long
emb_cache_count(const emb_reader *r)
{
	return (long long)r->c->n;
}

void
emb_cache_close(emb_reader *r)
{
	struct emb_cache_rd *c = r->c;
	size_t i;

	if (c == NULL)
		return;
	if (c->fpathbuf != NULL)
		vstr_reclaim(c->fpathbuf, c->fblkn);
	if (c->lpathbuf != NULL)
		vstr_reclaim(c->lpathbuf, c->lblkn);
	free(c->fkeybuf);
	free(c->fpathbuf);
	free(c->lkeybuf);
	free(c->lpathbuf);
	free(c->lsizebuf);
	free(c->lmtimebuf);
	free(c->keybuf);
	free(c->vecbuf);
	free(c->raw);
	for (i = 0; i < c->nrej; i++) {
		free((char *)(uintptr_t)c->rej[i].location);
		free((char *)(uintptr_t)c->rej[i].reason);
	}
	free(c->rej);
	h5close(&c->ikey, H5Dclose);
	h5close(&c->ivec, H5Dclose);
	h5close(&c->lkey, H5Dclose);
	h5close(&c->lpath, H5Dclose);
	h5close(&c->lsize, H5Dclose);
	h5close(&c->lmtime, H5Dclose);
	h5close(&c->ktype, H5Tclose);
	h5close(&c->stype, H5Tclose);
	h5close(&c->file, H5Fclose);
	H5Eclear2(H5E_DEFAULT);
	free(c);
	r->c = NULL;
}

static int
need_cache(emb_reader *r, const char *what)
{
	if (r->failed)
		return -1;
	if (r->kind != EMB_KIND_CACHE)
		return emb_fail(r, "only an HDF5 cache has %s", what);
	return 0;
}

long long
emb_reader_location_count(const emb_reader *r)
{
	return r->kind == EMB_KIND_CACHE ? (long long)r->c->nloc : -1;
}

int
emb_reader_next_location(emb_reader *r, emb_location *loc)
{
	struct emb_cache_rd *c;
	hsize_t i, n;
	const char *p;

	if (need_cache(r, "locations") < 0)
		return -1;
	c = r->c;
	if (c->lpos >= c->nloc)
		return 0;
	if (c->lpos >= c->lblk0 + c->lblkn || c->lblkn == 0) {
		if (load_loc_block(r, c->lpos, &c->lblk0, &c->lblkn, &c->lkeybuf, &c->lpathbuf) < 0)
			return -1;
		if (c->lsizebuf == NULL) {
			c->lsizebuf = xreallocarray(NULL, BLOCK, sizeof *c->lsizebuf);
			c->lmtimebuf = xreallocarray(NULL, BLOCK, sizeof *c->lmtimebuf);
		}
		n = c->lblkn;
		if (rows_io(c->lsize, H5T_NATIVE_UINT64, c->lpos, n, 0, c->lsizebuf, 0) < 0 ||
		    rows_io(c->lmtime, H5T_NATIVE_INT64, c->lpos, n, 0, c->lmtimebuf, 0) < 0)
			return h5fail(r, "cannot read /locations");
	}
	i = c->lpos - c->lblk0;
	memcpy(loc->key, c->lkeybuf + i * EMB_KEY_HEX, EMB_KEY_HEX);
	loc->key[EMB_KEY_HEX] = '\0';
	if (!emb_key_valid(loc->key))
		return emb_fail(r, "/locations/key row %llu is not a 64-digit lowercase hex key",
		    (unsigned long long)c->lpos);
	p = c->lpathbuf[i];
	loc->path = p ? p : "";
	loc->size = c->lsizebuf[i];
	loc->mtime = c->lmtimebuf[i];
	c->lpos++;
	return 1;
}

static int
cmp_raw(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

int
emb_reader_lookup(emb_reader *r, const char *key, float *vec)
{
	struct emb_cache_rd *c;
	unsigned char want[32], (*hit)[32];
	hsize_t at, n, i;

	if (need_cache(r, "random access"))
		return -1;
	c = r->c;
	if (!emb_key_valid(key))
		return 0;
	if (c->raw == NULL && c->n > 0) {
		char *kb = xmalloc((size_t)BLOCK * EMB_KEY_HEX);
		char hex[EMB_KEY_HEX + 1];

		c->raw = xreallocarray(NULL, c->n, 32);
		for (at = 0; at < c->n; at += n) {
			n = c->n - at < BLOCK ? c->n - at : BLOCK;
			if (rows_io(c->ikey, c->ktype, at, n, 0, kb, 0) < 0) {
				free(kb);
				free(c->raw);
				c->raw = NULL;
				return h5fail(r, "cannot read /images/key");
			}
			for (i = 0; i < n; i++) {
				memcpy(hex, kb + i * EMB_KEY_HEX, EMB_KEY_HEX);
				hex[EMB_KEY_HEX] = '\0';
				if (!emb_key_valid(hex)) {
					free(kb);
					free(c->raw);
					c->raw = NULL;
					return emb_fail(r, "/images/key row %llu is not a 64-digit lowercase hex key",
					    (unsigned long long)(at + i));
				}
				emb_key_to_raw(hex, c->raw[at + i]);
				if (at + i > 0 && memcmp(c->raw[at + i - 1], c->raw[at + i], 32) >= 0) {
					free(kb);
					free(c->raw);
					c->raw = NULL;
					return emb_fail(r, "/images/key is not sorted (or has duplicates) at row %llu",
					    (unsigned long long)(at + i));
				}
			}
		}
		free(kb);
	}
	if (c->n == 0)
		return 0;
	emb_key_to_raw(key, want);
	hit = bsearch(want, c->raw, c->n, 32, cmp_raw);
	if (hit == NULL)
		return 0;
	if (vec != NULL) {
		at = (hsize_t)(hit - c->raw);
		if (rows_io(c->ivec, H5T_NATIVE_FLOAT, at, 1, r->stamp.dim, vec, 0) < 0)
			return h5fail(r, "cannot read /images/vec");
	}
	return 1;
}

int
emb_reader_rejects(emb_reader *r, const emb_reject **rej, size_t *n)
{
	struct emb_cache_rd *c;
	hid_t dl = -1, dr = -1;
	hsize_t nl = 0, nr = 0, i;
	char **lb = NULL, **rb = NULL;
	int rc = -1;

	if (need_cache(r, "rejects"))
		return -1;
	c = r->c;
	if (!c->rej_loaded) {
		if ((dl = open_dset(r, "/rejects/location", 1, 0, &nl)) < 0 ||
		    (dr = open_dset(r, "/rejects/reason", 1, 0, &nr)) < 0 ||
		    same_rows(r, "/rejects/location", nl, "/rejects/reason", nr) < 0)
			goto out;
		lb = xcalloc(nl + 1, sizeof *lb);
		rb = xcalloc(nl + 1, sizeof *rb);
		if (rows_io(dl, c->stype, 0, nl, 0, lb, 0) < 0 || rows_io(dr, c->stype, 0, nl, 0, rb, 0) < 0) {
			h5fail(r, "cannot read /rejects");
			goto out;
		}
		c->rej = xcalloc(nl + 1, sizeof *c->rej);
		for (i = 0; i < nl; i++) {
			c->rej[i].location = xstrdup(lb[i] ? lb[i] : "");
			c->rej[i].reason = xstrdup(rb[i] ? rb[i] : "");
		}
		c->nrej = nl;
		c->rej_loaded = 1;
	}
	*rej = c->rej;
	*n = c->nrej;
	rc = 0;
out:
	if (lb != NULL)
		vstr_reclaim(lb, nl);
	if (rb != NULL)
		vstr_reclaim(rb, nl);
	free(lb);
	free(rb);
	if (dl >= 0)
		H5Dclose(dl);
	if (dr >= 0)
		H5Dclose(dr);
	return rc;
}

/* ---- writer ---- */

struct wloc {
	unsigned char key[32];
	char *path;
	uint64_t size;
	int64_t mtime;
	size_t seq;
};

struct wrej {
	char *location, *reason;
	size_t seq;
};

struct emb_cache_writer {
	char *path, *tmp;
	emb_stamp stamp;
	hid_t file;
	char err[1024];
	int bad;

	unsigned char (*keys)[32];      /* images in arrival order */
	size_t nimg, imgcap;
	FILE *scratch;                  /* their vectors, unlinked */
	int scratch_fd;

	struct wloc *locs;
	size_t nloc, loccap;
	struct wrej *rejs;
	size_t nrej, rejcap;
	char **tcls, **tprompt;
	float *tvec;
	size_t ntext, textcap;
};

static int
wfail(emb_cache_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
wfail(emb_cache_writer *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->bad)
		return -1;
	w->bad = 1;
	n = snprintf(w->err, sizeof w->err, "%s: ", w->path);
	if (n > 0 && (size_t)n < sizeof w->err) {
		va_start(ap, fmt);
		vsnprintf(w->err + n, sizeof w->err - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
wh5fail(emb_cache_writer *w, const char *what)
{
	char d[300];

	h5_detail(d, sizeof d);
	return wfail(w, "%s%s", what, d);
}

const char *
emb_cache_writer_error(const emb_cache_writer *w)
{
	return w->err;
}

long long
emb_cache_writer_count(const emb_cache_writer *w)
{
	return (long long)w->nimg;
}

static void
writer_free(emb_cache_writer *w)
{
	size_t i;

	if (w->file >= 0) {
		H5Fclose(w->file);
		w->file = -1;
	}
	H5Eclear2(H5E_DEFAULT);
	if (w->scratch != NULL)
		fclose(w->scratch);
	for (i = 0; i < w->nloc; i++)
		free(w->locs[i].path);
	for (i = 0; i < w->nrej; i++) {
		free(w->rejs[i].location);
		free(w->rejs[i].reason);
	}
	for (i = 0; i < w->ntext; i++) {
		free(w->tcls[i]);
		free(w->tprompt[i]);
	}
	free(w->locs);
	free(w->rejs);
	free(w->tcls);
	free(w->tprompt);
	free(w->tvec);
	free(w->keys);
	emb_stamp_release(&w->stamp);
	free(w->tmp);
	free(w->path);
	free(w);
}

emb_cache_writer *
emb_cache_writer_open(const char *path, const emb_stamp *stamp, char *errbuf, size_t errlen)
{
	emb_cache_writer *w;
	char why[256], d[300], *sname;
	hid_t fapl;
	int fd;

	h5_quiet();
	if (emb_stamp_check(stamp, why, sizeof why) < 0) {
		cs_errbuf(errbuf, errlen, "%s: %s", path, why);
		return NULL;
	}
	{
		struct stat st;

		if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			/* renaming over a device (/dev/null) would replace it with a file */
			cs_errbuf(errbuf, errlen, "%s: not a regular file (a cache must be a named file)", path);
			errno = EINVAL;
			return NULL;
		}
	}
	w = xcalloc(1, sizeof *w);
	w->file = -1;
	w->scratch_fd = -1;
	w->path = xstrdup(path);
	w->tmp = fs_tmpname(path);
	emb_stamp_copy(&w->stamp, stamp);
	sname = xasprintf("%s.vec", w->tmp);
	fd = open(sname, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		cs_errbuf(errbuf, errlen, "%s: %s", sname, strerror(errno));
		free(sname);
		free(w->tmp);
		w->tmp = NULL;
		writer_free(w);
		return NULL;
	}
	unlink(sname);
	free(sname);
	w->scratch_fd = fd;
	w->scratch = fdopen(fd, "w+b");
	if (w->scratch == NULL) {
		cs_errbuf(errbuf, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		free(w->tmp);
		w->tmp = NULL;
		writer_free(w);
		return NULL;
	}
	fapl = file_access();
	w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
	if (w->file < 0)
		h5_save();
	H5Pclose(fapl);
	if (w->file < 0) {
		int e = errno;

		h5_detail(d, sizeof d);
		cs_errbuf(errbuf, errlen, "%s: cannot create %s: %s%s", path, w->tmp, strerror(e ? e : EIO), d);
		unlink(w->tmp);
		writer_free(w);
		return NULL;
	}
	return w;
}

int
emb_cache_add_image(emb_cache_writer *w, const char *key, const float *vec)
{
	if (w->bad)
		return -1;
	if (!emb_key_valid(key))
		return wfail(w, "invalid key '%.80s' (expected 64 lowercase hex digits)", key);
	if (!emb_vec_finite(vec, w->stamp.dim))
		return wfail(w, "non-finite value in the vector of %s", key);
	if (w->nimg == w->imgcap)
		xgrow(&w->keys, &w->imgcap, w->nimg + 1, sizeof *w->keys);
	emb_key_to_raw(key, w->keys[w->nimg]);
	if (fwrite(vec, sizeof *vec, w->stamp.dim, w->scratch) != w->stamp.dim)
		return wfail(w, "cannot write the scratch file: %s", strerror(errno ? errno : EIO));
	w->nimg++;
	return 0;
}

int
emb_cache_add_location(emb_cache_writer *w, const char *key, const char *location, uint64_t size, int64_t mtime)
{
	struct wloc *l;

	if (w->bad)
		return -1;
	if (!emb_key_valid(key))
		return wfail(w, "invalid key '%.80s' (expected 64 lowercase hex digits)", key);
	if (location == NULL || strlen(location) > EMB_MAX_STR)
		return wfail(w, "location missing or longer than %u bytes", EMB_MAX_STR);
	xgrow(&w->locs, &w->loccap, w->nloc + 1, sizeof *w->locs);
	l = &w->locs[w->nloc];
	emb_key_to_raw(key, l->key);
	l->path = xstrdup(location);
	l->size = size;
	l->mtime = mtime;
	l->seq = w->nloc++;
	return 0;
}

int
emb_cache_add_reject(emb_cache_writer *w, const char *location, const char *reason)
{
	struct wrej *j;

	if (w->bad)
		return -1;
	if (location == NULL || reason == NULL || strlen(location) > EMB_MAX_STR || strlen(reason) > EMB_MAX_STR)
		return wfail(w, "reject location or reason missing or longer than %u bytes", EMB_MAX_STR);
	xgrow(&w->rejs, &w->rejcap, w->nrej + 1, sizeof *w->rejs);
	j = &w->rejs[w->nrej];
	j->location = xstrdup(location);
	j->reason = xstrdup(reason);
	j->seq = w->nrej++;
	return 0;
}

int
emb_cache_add_text(emb_cache_writer *w, const char *cls, const char *prompt, const float *vec)
{
	size_t c1, c2;

	if (w->bad)
		return -1;
	if (cls == NULL || prompt == NULL || strlen(cls) > EMB_MAX_STR || strlen(prompt) > EMB_MAX_STR)
		return wfail(w, "text class or prompt missing or longer than %u bytes", EMB_MAX_STR);
	if (!emb_vec_finite(vec, w->stamp.dim))
		return wfail(w, "non-finite value in the vector of prompt '%.80s'", prompt);
	if (w->ntext == w->textcap) {
		c1 = c2 = w->textcap;
		xgrow(&w->tcls, &c1, w->ntext + 1, sizeof *w->tcls);
		xgrow(&w->tprompt, &c2, w->ntext + 1, sizeof *w->tprompt);
		xgrow(&w->tvec, &w->textcap, w->ntext + 1, w->stamp.dim * sizeof *w->tvec);
	}
	w->tcls[w->ntext] = xstrdup(cls);
	w->tprompt[w->ntext] = xstrdup(prompt);
	memcpy(w->tvec + w->ntext * w->stamp.dim, vec, w->stamp.dim * sizeof *vec);
	w->ntext++;
	return 0;
}

long long
emb_cache_copy_images(emb_cache_writer *w, emb_reader *r, int (*keep)(void *ctx, const char *key), void *ctx)
{
	char why[512];
	emb_image img;
	long long n = 0;
	int rc;

	if (w->bad)
		return -1;
	if (!emb_stamp_compatible(&w->stamp, emb_reader_stamp(r), why, sizeof why))
		return wfail(w, "cannot copy from %s: %s", r->name, why);
	while ((rc = emb_reader_next(r, &img)) == 1) {
		if (keep != NULL && !keep(ctx, img.key))
			continue;
		if (emb_cache_add_image(w, img.key, img.vec) < 0)
			return -1;
		n++;
	}
	return rc < 0 ? -1 : n;
}

/* ---- commit ---- */

static const unsigned char (*sort_keys)[32];

static int
cmp_img(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = memcmp(sort_keys[i], sort_keys[j], 32);

	return c ? c : (i > j) - (i < j);
}

static int
cmp_loc(const void *a, const void *b)
{
	const struct wloc *x = a, *y = b;
	int c = memcmp(x->key, y->key, 32);

	if (c == 0)
		c = strcmp(x->path, y->path);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static int
cmp_rej(const void *a, const void *b)
{
	const struct wrej *x = a, *y = b;
	int c = strcmp(x->location, y->location);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static hid_t
mk_dset(emb_cache_writer *w, const char *name, hid_t type, hsize_t n, hsize_t cols, hsize_t chunkrows)
{
	hsize_t dims[2] = { n, cols }, maxd[2] = { H5S_UNLIMITED, cols }, chunk[2];
	int rank = cols ? 2 : 1;
	hid_t space, dcpl, lcpl, d;

	chunk[0] = n < chunkrows ? (n ? n : 1) : chunkrows;
	chunk[1] = cols;
	space = H5Screate_simple(rank, dims, maxd);
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	lcpl = H5Pcreate(H5P_LINK_CREATE);
	H5Pset_create_intermediate_group(lcpl, 1);
	H5Pset_chunk(dcpl, rank, chunk);
	d = H5Dcreate2(w->file, name, type, space, lcpl, dcpl, H5P_DEFAULT);
	if (d < 0)
		h5_save();
	H5Pclose(dcpl);
	H5Pclose(lcpl);
	H5Sclose(space);
	if (d < 0) {
		char what[128];

		snprintf(what, sizeof what, "cannot create dataset %s", name);
		wh5fail(w, what);
	}
	return d;
}

static int
put_attr(emb_cache_writer *w, const char *name, hid_t filetype, hid_t memtype, const void *val)
{
	hid_t sp = H5Screate(H5S_SCALAR), a;
	herr_t rc = -1;

	a = H5Acreate2(w->file, name, filetype, sp, H5P_DEFAULT, H5P_DEFAULT);
	if (a >= 0) {
		rc = H5Awrite(a, memtype, val);
		if (rc < 0)
			h5_save();
		H5Aclose(a);
	} else {
		h5_save();
	}
	H5Sclose(sp);
	if (rc < 0)
		return wh5fail(w, "cannot write the root attributes");
	return 0;
}

static int
put_str_attr(emb_cache_writer *w, const char *name, const char *val)
{
	hid_t t = vstr_type();
	const char *v = val ? val : "";
	int rc = put_attr(w, name, t, t, &v);

	H5Tclose(t);
	return rc;
}

static int
write_attrs(emb_cache_writer *w)
{
	int version = EMB_FORMAT_VERSION, hasb = w->stamp.has_logit_bias ? 1 : 0;
	unsigned dim = w->stamp.dim;

	if (put_str_attr(w, "format", FORMAT_NAME) < 0 ||
	    put_attr(w, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, &version) < 0 ||
	    put_str_attr(w, "model", w->stamp.model) < 0 ||
	    put_str_attr(w, "fingerprint", w->stamp.fingerprint) < 0 ||
	    put_str_attr(w, "preprocess", w->stamp.preprocess) < 0 ||
	    put_attr(w, "dim", H5T_STD_U32LE, H5T_NATIVE_UINT, &dim) < 0 ||
	    put_attr(w, "logit_scale", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &w->stamp.logit_scale) < 0 ||
	    put_attr(w, "logit_bias", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &w->stamp.logit_bias) < 0 ||
	    put_attr(w, "has_logit_bias", H5T_STD_I8LE, H5T_NATIVE_INT, &hasb) < 0)
		return -1;
	return 0;
}

/* Writes /images from the unique sorted order idx[0..n). */
static int
write_images(emb_cache_writer *w, const size_t *idx, size_t n)
{
	hid_t kt = key_type(), dk, dv;
	const float *vecs = NULL;
	size_t maplen = w->nimg * (size_t)w->stamp.dim * sizeof(float), at, i, cnt;
	char *kb = NULL, hex[EMB_KEY_HEX + 1];
	float *vb = NULL;
	int rc = -1;
	uint32_t dim = w->stamp.dim;

	dk = mk_dset(w, "/images/key", kt, n, 0, ROW_CHUNK);
	dv = mk_dset(w, "/images/vec", H5T_IEEE_F32LE, n, dim, VEC_CHUNK);
	if (dk < 0 || dv < 0)
		goto out;
	if (maplen > 0) {
		if (fflush(w->scratch) != 0 || ferror(w->scratch)) {
			wfail(w, "cannot write the scratch file: %s", strerror(errno ? errno : EIO));
			goto out;
		}
		vecs = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, w->scratch_fd, 0);
		if (vecs == MAP_FAILED) {
			vecs = NULL;
			wfail(w, "cannot map the scratch file: %s", strerror(errno));
			goto out;
		}
	}
	kb = xmalloc((size_t)VEC_CHUNK * EMB_KEY_HEX);
	vb = xreallocarray(NULL, VEC_CHUNK, dim * sizeof *vb);
	for (at = 0; at < n; at += cnt) {
		cnt = n - at < VEC_CHUNK ? n - at : VEC_CHUNK;
		for (i = 0; i < cnt; i++) {
			size_t j = idx[at + i];

			emb_key_to_hex(w->keys[j], hex);
			memcpy(kb + i * EMB_KEY_HEX, hex, EMB_KEY_HEX);
			memcpy(vb + i * dim, vecs + j * dim, dim * sizeof *vb);
		}
		if (rows_io(dk, kt, at, cnt, 0, kb, 1) < 0 || rows_io(dv, H5T_NATIVE_FLOAT, at, cnt, dim, vb, 1) < 0) {
			wh5fail(w, "cannot write /images");
			goto out;
		}
	}
	rc = 0;
out:
	if (vecs != NULL)
		munmap((void *)(uintptr_t)vecs, maplen);
	free(kb);
	free(vb);
	if (dk >= 0)
		H5Dclose(dk);
	if (dv >= 0)
		H5Dclose(dv);
	H5Tclose(kt);
	return rc;
}

static int
write_locations(emb_cache_writer *w, const unsigned char (*ukeys)[32], size_t nu)
{
	hid_t kt = key_type(), st = vstr_type(), d[4] = { -1, -1, -1, -1 };
	size_t i, n = 0;
	char *kb = NULL, hex[EMB_KEY_HEX + 1];
	const char **pb = NULL;
	uint64_t *sb = NULL;
	int64_t *mb = NULL;
	int rc = -1;

	if (w->nloc > 1)
		qsort(w->locs, w->nloc, sizeof *w->locs, cmp_loc);
	/* drop repeated (key, path) pairs, keeping the first added */
	for (i = 0; i < w->nloc; i++) {
		if (n > 0 && memcmp(w->locs[n - 1].key, w->locs[i].key, 32) == 0 &&
		    strcmp(w->locs[n - 1].path, w->locs[i].path) == 0) {
			free(w->locs[i].path);
			continue;
		}
		w->locs[n++] = w->locs[i];
	}
	w->nloc = n;
	for (i = 0; i < n; i++) {
		if (bsearch(w->locs[i].key, ukeys, nu, 32, cmp_raw) == NULL) {
			emb_key_to_hex(w->locs[i].key, hex);
			wfail(w, "location '%.200s' refers to key %s, which has no vector", w->locs[i].path, hex);
			goto out;
		}
	}
	d[0] = mk_dset(w, "/locations/key", kt, n, 0, ROW_CHUNK);
	d[1] = mk_dset(w, "/locations/path", st, n, 0, ROW_CHUNK);
	d[2] = mk_dset(w, "/locations/size", H5T_STD_U64LE, n, 0, ROW_CHUNK);
	d[3] = mk_dset(w, "/locations/mtime", H5T_STD_I64LE, n, 0, ROW_CHUNK);
	if (d[0] < 0 || d[1] < 0 || d[2] < 0 || d[3] < 0)
		goto out;
	kb = xmalloc(n * EMB_KEY_HEX + 1);
	pb = xcalloc(n + 1, sizeof *pb);
	sb = xcalloc(n + 1, sizeof *sb);
	mb = xcalloc(n + 1, sizeof *mb);
	for (i = 0; i < n; i++) {
		emb_key_to_hex(w->locs[i].key, hex);
		memcpy(kb + i * EMB_KEY_HEX, hex, EMB_KEY_HEX);
		pb[i] = w->locs[i].path;
		sb[i] = w->locs[i].size;
		mb[i] = w->locs[i].mtime;
	}
	if (rows_io(d[0], kt, 0, n, 0, kb, 1) < 0 || rows_io(d[1], st, 0, n, 0, pb, 1) < 0 ||
	    rows_io(d[2], H5T_NATIVE_UINT64, 0, n, 0, sb, 1) < 0 ||
	    rows_io(d[3], H5T_NATIVE_INT64, 0, n, 0, mb, 1) < 0) {
		wh5fail(w, "cannot write /locations");
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i < 4; i++)
		if (d[i] >= 0)
			H5Dclose(d[i]);
	free(kb);
	free(pb);
	free(sb);
	free(mb);
	H5Tclose(kt);
	H5Tclose(st);
	return rc;
}

static int
write_rest(emb_cache_writer *w)
{
	hid_t st = vstr_type(), d[5] = { -1, -1, -1, -1, -1 };
	const char **lb, **rb;
	size_t i, n = w->nrej;
	int rc = -1;

	if (n > 1)
		qsort(w->rejs, n, sizeof *w->rejs, cmp_rej);
	lb = xcalloc(n + 1, sizeof *lb);
	rb = xcalloc(n + 1, sizeof *rb);
	for (i = 0; i < n; i++) {
		lb[i] = w->rejs[i].location;
		rb[i] = w->rejs[i].reason;
	}
	d[0] = mk_dset(w, "/rejects/location", st, n, 0, ROW_CHUNK);
	d[1] = mk_dset(w, "/rejects/reason", st, n, 0, ROW_CHUNK);
	d[2] = mk_dset(w, "/texts/class", st, w->ntext, 0, ROW_CHUNK);
	d[3] = mk_dset(w, "/texts/prompt", st, w->ntext, 0, ROW_CHUNK);
	d[4] = mk_dset(w, "/texts/vec", H5T_IEEE_F32LE, w->ntext, w->stamp.dim, VEC_CHUNK);
	for (i = 0; i < 5; i++)
		if (d[i] < 0)
			goto out;
	if (rows_io(d[0], st, 0, n, 0, lb, 1) < 0 || rows_io(d[1], st, 0, n, 0, rb, 1) < 0) {
		wh5fail(w, "cannot write /rejects");
		goto out;
	}
	if (rows_io(d[2], st, 0, w->ntext, 0, w->tcls, 1) < 0 ||
	    rows_io(d[3], st, 0, w->ntext, 0, w->tprompt, 1) < 0 ||
	    rows_io(d[4], H5T_NATIVE_FLOAT, 0, w->ntext, w->stamp.dim, w->tvec, 1) < 0) {
		wh5fail(w, "cannot write /texts");
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i < 5; i++)
		if (d[i] >= 0)
			H5Dclose(d[i]);
	free(lb);
	free(rb);
	H5Tclose(st);
	return rc;
}

int
emb_cache_writer_commit(emb_cache_writer *w, char *errbuf, size_t errlen)
{
	size_t *idx = NULL, nu = 0, i;
	unsigned char (*ukeys)[32] = NULL;
	char err[1024];
	int rc = -1;

	if (w->bad)
		goto out;
	idx = xreallocarray(NULL, w->nimg + 1, sizeof *idx);
	for (i = 0; i < w->nimg; i++)
		idx[i] = i;
	sort_keys = (const unsigned char (*)[32])w->keys;
	qsort(idx, w->nimg, sizeof *idx, cmp_img);
	for (i = 0; i < w->nimg; i++)
		if (nu == 0 || memcmp(w->keys[idx[nu - 1]], w->keys[idx[i]], 32) != 0)
			idx[nu++] = idx[i];
	ukeys = xreallocarray(NULL, nu + 1, 32);
	for (i = 0; i < nu; i++)
		memcpy(ukeys[i], w->keys[idx[i]], 32);
	if (write_attrs(w) < 0 || write_images(w, idx, nu) < 0 ||
	    write_locations(w, (const unsigned char (*)[32])ukeys, nu) < 0 || write_rest(w) < 0)
		goto out;
	if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0) {
		wh5fail(w, "cannot flush the new cache");
		goto out;
	}
	if (H5Fclose(w->file) < 0) {
		w->file = -1;
		wh5fail(w, "cannot close the new cache");
		goto out;
	}
	w->file = -1;
	if (fs_publish(w->tmp, w->path, err, sizeof err) != 0) {
		w->bad = 1;
		snprintf(w->err, sizeof w->err, "%s", err);
		goto out;
	}
	free(w->tmp);
	w->tmp = NULL;
	rc = 0;
out:
	if (rc < 0) {
		cs_errbuf(errbuf, errlen, "%s", w->err);
		if (w->file >= 0) {
			H5Fclose(w->file);
			w->file = -1;
		}
		if (w->tmp != NULL)
			unlink(w->tmp);
	}
	free(idx);
	free(ukeys);
	writer_free(w);
	return rc;
}

void
emb_cache_writer_abort(emb_cache_writer *w)
{
	if (w == NULL)
		return;
	if (w->file >= 0) {
		H5Fclose(w->file);
		w->file = -1;
	}
	if (w->tmp != NULL)
		unlink(w->tmp);
	writer_free(w);
}
