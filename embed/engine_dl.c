/* engine_dl.c — clip.h for clipsort-embed, with the engine loaded on demand.
 *
 * libtorch costs about half a CPU-second at every process start (relocations and
 * operator registration) even when no model is run, and a re-run over an unchanged
 * cache never runs one.  So clipsort-embed does not link libtorch: the engine is a
 * shared object (clipsort-engine.so, built from the same engine sources) that the
 * first cs_model_load() opens with dlopen(), looked for next to the executable,
 * then in ../lib/clipsort relative to it (`make install`).  Every other clip.h
 * function forwards to it; before the engine is loaded they fail with CS_EINVAL
 * (no model can exist yet), cs_model_free() is a no-op and cs_errmsg() reports why
 * the engine could not be loaded.  Nothing else of the engine's (its C++ runtime,
 * libtorch, OpenBLAS) is in the program until then. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip.h"

#define ENGINE_SO "clipsort-engine.so"

static struct {
	void *h;
	int (*load)(const char *, const cs_model_params *, cs_model **);
	void (*free_)(cs_model *);
	int (*info)(const cs_model *, cs_model_info *);
	int (*image)(cs_model *, const float *, int, float *, int);
	int (*text)(cs_model *, const int64_t *, int, float *, int);
	const char *(*errmsg)(void);
} eng;

static char dl_err[2048];

/* Directory of the running executable, with a trailing '/'; "" when unknown. */
static void
exe_dir(char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	char *slash;

	buf[0] = '\0';
	if (n <= 0)
		return;
	path[n] = '\0';
	if ((slash = strrchr(path, '/')) == NULL)
		return;
	slash[1] = '\0';
	snprintf(buf, len, "%s", path);
}

static int
engine_open(void)
{
	static const char *const where[] = { "", "../lib/clipsort/" };
	char dir[PATH_MAX], path[PATH_MAX + 64], tried[2][PATH_MAX + 300];
	size_t i;

	if (eng.h != NULL)
		return 0;
	exe_dir(dir, sizeof dir);
	for (i = 0; i < 2 && eng.h == NULL; i++) {
		const char *e;

		snprintf(path, sizeof path, "%s%s%s", dir, where[i], ENGINE_SO);
		if ((eng.h = dlopen(path, RTLD_LAZY | RTLD_LOCAL)) == NULL) {
			e = dlerror();
			snprintf(tried[i], sizeof tried[i], "%s", e ? e : path);
		}
	}
	if (eng.h == NULL) {
		snprintf(dl_err, sizeof dl_err, "cannot load the OpenCLIP engine: %.900s; %.900s "
		    "(install it with `make install`, next to the program or in PREFIX/lib/clipsort)",
		    tried[0], tried[1]);
		return -1;
	}
	*(void **)&eng.load = dlsym(eng.h, "cs_model_load");
	*(void **)&eng.free_ = dlsym(eng.h, "cs_model_free");
	*(void **)&eng.info = dlsym(eng.h, "cs_model_get_info");
	*(void **)&eng.image = dlsym(eng.h, "cs_encode_image");
	*(void **)&eng.text = dlsym(eng.h, "cs_encode_text");
	*(void **)&eng.errmsg = dlsym(eng.h, "cs_errmsg");
	if (!eng.load || !eng.free_ || !eng.info || !eng.image || !eng.text || !eng.errmsg) {
		snprintf(dl_err, sizeof dl_err, "cannot load the OpenCLIP engine: %s lacks a clip.h function",
		    ENGINE_SO);
		dlclose(eng.h);
		memset(&eng, 0, sizeof eng);
		return -1;
	}
	dl_err[0] = '\0';
	return 0;
}

cs_model_params
cs_model_default_params(void)
{
	cs_model_params p;

	p.device = "auto";
	p.dtype = CS_DTYPE_AUTO;
	p.n_threads = 0;
	p.fused_attention = 1;
	return p;
}

int
cs_model_load(const char *dir, const cs_model_params *params, cs_model **out)
{
	if (out)
		*out = NULL;
	if (engine_open() != 0)
		return CS_EINTERNAL;
	return eng.load(dir, params, out);
}

void
cs_model_free(cs_model *m)
{
	if (eng.h && m)
		eng.free_(m);
}

static int
not_loaded(const char *fn)
{
	snprintf(dl_err, sizeof dl_err, "%s: no model loaded", fn);
	return CS_EINVAL;
}

int
cs_model_get_info(const cs_model *m, cs_model_info *info)
{
	return eng.h ? eng.info(m, info) : not_loaded("cs_model_get_info");
}

int
cs_encode_image(cs_model *m, const float *chw_batch, int n, float *out, int normalize)
{
	return eng.h ? eng.image(m, chw_batch, n, out, normalize) : not_loaded("cs_encode_image");
}

int
cs_encode_text(cs_model *m, const int64_t *tokens, int n, float *out, int normalize)
{
	return eng.h ? eng.text(m, tokens, n, out, normalize) : not_loaded("cs_encode_text");
}

const char *
cs_errmsg(void)
{
	return eng.h ? eng.errmsg() : dl_err;
}

