/* engine_bench — speed of the OpenCLIP engine (clip.h) on this machine.
 *
 *   engine_bench gen DIR b32|b16   write a random-weight ViT-B-32/-16 model dir
 *                                  (used when clipsort-mkmodel is not built)
 *   engine_bench sgemm             fp32 GFLOP/s of a 2048^2 sgemm (the roofline)
 *   engine_bench peak              fp32 FMA peak of all CPUs together (independent
 *                                  AVX-512 or AVX2 FMAs, no memory traffic): the
 *                                  ceiling no GEMM can pass
 *   engine_bench load DIR          model load time (run twice: the second is from page cache)
 *   engine_bench image DIR DTYPE BATCH SECONDS
 *   engine_bench text DIR DTYPE BATCH SECONDS
 *   engine_bench cos DIR           bf16 vs fp32 cosine (images and prompts)
 * It calls cs_engine_tune_env() first, as clipsort-embed does, unless
 * ENGINE_BENCH_RAW is set.  ENGINE_BENCH_THREADS=N sets the engine's threads;
 * ENGINE_BENCH_UNFUSED=1 turns fused attention off (libtorch 2.x).
 * Each prints one line "key value ...". */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <pthread.h>
#include <unistd.h>

#include <cblas.h>
#include <immintrin.h>

#include "../../embed/clip.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float nrand(void)
{
	double u = urand() + 1e-12, v = urand();
	return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

/* ---- a random-weight model in OpenCLIP's layout (state-dict names of CLIP) ---- */
struct tens { char name[96]; int nd; long shape[4]; float scale, add; };
static struct tens T[512];
static int nt;

static void add(const char *name, int nd, long a, long b, long c, long d, float scale, float addv)
{
	struct tens *t = &T[nt++];
	snprintf(t->name, sizeof t->name, "%s", name);
	t->nd = nd;
	t->shape[0] = a; t->shape[1] = b; t->shape[2] = c; t->shape[3] = d;
	t->scale = scale;
	t->add = addv;
}

static void add_tower(const char *prefix, int layers, long w)
{
	char n[96];
	for (int i = 0; i < layers; i++) {
#define B(s) (snprintf(n, sizeof n, "%stransformer.resblocks.%d.%s", prefix, i, s), n)
		add(B("ln_1.weight"), 1, w, 0, 0, 0, 0, 1);
		add(B("ln_1.bias"), 1, w, 0, 0, 0, 0, 0);
		add(B("ln_2.weight"), 1, w, 0, 0, 0, 0, 1);
		add(B("ln_2.bias"), 1, w, 0, 0, 0, 0, 0);
		add(B("attn.in_proj_weight"), 2, 3 * w, w, 0, 0, (float)(1 / sqrt((double)w)), 0);
		add(B("attn.in_proj_bias"), 1, 3 * w, 0, 0, 0, 0, 0);
		add(B("attn.out_proj.weight"), 2, w, w, 0, 0, (float)(1 / sqrt((double)w)), 0);
		add(B("attn.out_proj.bias"), 1, w, 0, 0, 0, 0, 0);
		add(B("mlp.c_fc.weight"), 2, 4 * w, w, 0, 0, (float)(1 / sqrt((double)w)), 0);
		add(B("mlp.c_fc.bias"), 1, 4 * w, 0, 0, 0, 0, 0);
		add(B("mlp.c_proj.weight"), 2, w, 4 * w, 0, 0, (float)(1 / sqrt(4.0 * w)), 0);
		add(B("mlp.c_proj.bias"), 1, w, 0, 0, 0, 0, 0);
#undef B
	}
}

static int cmp_tens(const void *a, const void *b)
{
	return strcmp(((const struct tens *)a)->name, ((const struct tens *)b)->name);
}

static int gen(const char *dir, const char *which)
{
	int patch = !strcmp(which, "b16") ? 16 : 32;
	long vw = 768, tw = 512, E = 512, G = 224 / patch;
	char path[4096];
	FILE *fp;
	uint64_t off = 0;

	mkdir(dir, 0777);
	snprintf(path, sizeof path, "%s/open_clip_config.json", dir);
	if (!(fp = fopen(path, "w")))
		return perror(path), 1;
	fprintf(fp, "{\"model_cfg\": {\"embed_dim\": 512, \"vision_cfg\": {\"image_size\": 224, \"layers\": 12, "
	            "\"width\": 768, \"patch_size\": %d}, \"text_cfg\": {\"context_length\": 77, \"vocab_size\": 49408, "
	            "\"width\": 512, \"heads\": 8, \"layers\": 12}}, \"preprocess_cfg\": {}}\n", patch);
	fclose(fp);
	nt = 0;
	add("visual.conv1.weight", 4, vw, 3, patch, patch, (float)(1 / sqrt(3.0 * patch * patch)), 0);
	add("visual.class_embedding", 1, vw, 0, 0, 0, 0.03f, 0);
	add("visual.positional_embedding", 2, G * G + 1, vw, 0, 0, 0.03f, 0);
	add("visual.ln_pre.weight", 1, vw, 0, 0, 0, 0, 1);
	add("visual.ln_pre.bias", 1, vw, 0, 0, 0, 0, 0);
	add_tower("visual.", 12, vw);
	add("visual.ln_post.weight", 1, vw, 0, 0, 0, 0, 1);
	add("visual.ln_post.bias", 1, vw, 0, 0, 0, 0, 0);
	add("visual.proj", 2, vw, E, 0, 0, (float)(1 / sqrt((double)vw)), 0);
	add("token_embedding.weight", 2, 49408, tw, 0, 0, 0.02f, 0);
	add("positional_embedding", 2, 77, tw, 0, 0, 0.01f, 0);
	add_tower("", 12, tw);
	add("ln_final.weight", 1, tw, 0, 0, 0, 0, 1);
	add("ln_final.bias", 1, tw, 0, 0, 0, 0, 0);
	add("text_projection", 2, tw, E, 0, 0, (float)(1 / sqrt((double)tw)), 0);
	add("logit_scale", 0, 0, 0, 0, 0, 0, 4.6052f);
	qsort(T, (size_t)nt, sizeof T[0], cmp_tens);

	char *hdr = malloc(1 << 20);
	size_t h = 0;
	h += (size_t)sprintf(hdr + h, "{");
	for (int i = 0; i < nt; i++) {
		uint64_t n = 1;
		h += (size_t)sprintf(hdr + h, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "", T[i].name);
		for (int d = 0; d < T[i].nd; d++) {
			n *= (uint64_t)T[i].shape[d];
			h += (size_t)sprintf(hdr + h, "%s%ld", d ? "," : "", T[i].shape[d]);
		}
		h += (size_t)sprintf(hdr + h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
		                     (unsigned long long)(off + 4 * n));
		off += 4 * n;
	}
	h += (size_t)sprintf(hdr + h, "}");
	while (h % 8)
		hdr[h++] = ' ';
	snprintf(path, sizeof path, "%s/open_clip_model.safetensors", dir);
	if (!(fp = fopen(path, "wb")))
		return perror(path), 1;
	uint64_t hl = h;
	fwrite(&hl, 8, 1, fp);
	fwrite(hdr, 1, h, fp);
	for (int i = 0; i < nt; i++) {
		uint64_t n = 1;
		for (int d = 0; d < T[i].nd; d++)
			n *= (uint64_t)T[i].shape[d];
		for (uint64_t k = 0; k < n; k++) {
			float x = T[i].scale ? T[i].scale * nrand() + T[i].add : T[i].add;
			fwrite(&x, 4, 1, fp);
		}
	}
	free(hdr);
	return fclose(fp) != 0;
}

/* ---- measurements ---- */
static cs_model *open_model(const char *dir, const char *dtype)
{
	cs_model_params p = cs_model_default_params();
	cs_model *m;
	p.device = "cpu";
	p.dtype = !strcmp(dtype, "bf16") ? CS_DTYPE_BF16 : CS_DTYPE_F32;
	if (getenv("ENGINE_BENCH_THREADS"))
		p.n_threads = atoi(getenv("ENGINE_BENCH_THREADS"));
	if (getenv("ENGINE_BENCH_UNFUSED"))  /* explicit softmax(QK^T)V even where libtorch fuses it */
		p.fused_attention = 0;
	if (cs_model_load(dir, &p, &m) != 0) {
		fprintf(stderr, "engine_bench: %s\n", cs_errmsg());
		exit(1);
	}
	return m;
}

static float *rand_images(int n, int S)
{
	size_t k = (size_t)n * 3 * S * S;
	float *x = malloc(k * sizeof *x);
	for (size_t i = 0; i < k; i++)
		x[i] = nrand();
	return x;
}

/* prompts of 8-15 tokens: SOT, ids, EOT, zero padding */
static int64_t *rand_prompts(int n, int ctx, int vocab)
{
	int64_t *t = calloc((size_t)n * ctx, sizeof *t);
	for (int i = 0; i < n; i++) {
		int len = 8 + (int)(urand() * 8), j;
		t[(size_t)i * ctx] = vocab - 2;
		for (j = 1; j < len - 1; j++)
			t[(size_t)i * ctx + j] = 1 + (int64_t)(urand() * (vocab - 4));
		t[(size_t)i * ctx + j] = vocab - 1;
	}
	return t;
}

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static int bench(const char *what, const char *dir, const char *dtype, int batch, double secs)
{
	cs_model *m = open_model(dir, dtype);
	cs_model_info info;
	float *out;
	void *in;
	int iters = 0, rc;
	double t0, t1, c0, c1;

	cs_model_get_info(m, &info);
	out = malloc((size_t)batch * info.embed_dim * sizeof *out);
	in = !strcmp(what, "image") ? (void *)rand_images(batch, info.image_size)
	                            : (void *)rand_prompts(batch, info.context_length, info.vocab_size);
#define ENC() (!strcmp(what, "image") ? cs_encode_image(m, in, batch, out, 1) : cs_encode_text(m, in, batch, out, 1))
	if ((rc = ENC()) != 0) { /* warm-up */
		fprintf(stderr, "engine_bench: %s\n", cs_errmsg());
		return 1;
	}
	long f0 = minor_faults();
	t0 = now();
	c0 = cpu_now();
	do {
		ENC();
		iters++;
		t1 = now();
	} while (t1 - t0 < secs);
	c1 = cpu_now();
#undef ENC
	printf("%s %s batch %d: %.2f per second (%d batches in %.2f s; %.2f per CPU-second; %ld page faults/batch)\n",
	       what, dtype, batch, iters * batch / (t1 - t0), iters, t1 - t0, iters * batch / (c1 - c0),
	       (minor_faults() - f0) / iters);
	free(in);
	free(out);
	cs_model_free(m);
	return 0;
}

static int cosines(const char *dir)
{
	cs_model *a = open_model(dir, "f32"), *b = open_model(dir, "bf16");
	cs_model_info info;
	int n = 8;
	double worst_i = 1, worst_t = 1;
	cs_model_get_info(a, &info);
	float *img = rand_images(n, info.image_size);
	int64_t *tok = rand_prompts(n, info.context_length, info.vocab_size);
	float *oa = malloc((size_t)n * info.embed_dim * sizeof *oa), *ob = malloc((size_t)n * info.embed_dim * sizeof *ob);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 0) {
			cs_encode_image(a, img, n, oa, 1);
			cs_encode_image(b, img, n, ob, 1);
		} else {
			cs_encode_text(a, tok, n, oa, 1);
			cs_encode_text(b, tok, n, ob, 1);
		}
		for (int i = 0; i < n; i++) {
			double c = 0;
			for (int k = 0; k < info.embed_dim; k++)
				c += (double)oa[i * info.embed_dim + k] * ob[i * info.embed_dim + k];
			double *w = pass ? &worst_t : &worst_i;
			if (c < *w)
				*w = c;
		}
	}
	printf("bf16-vs-f32 cosine: images %.6f, prompts %.6f (worst of %d)\n", worst_i, worst_t, n);
	cs_model_free(a);
	cs_model_free(b);
	return 0;
}

/* FMA peak: 12 independent accumulators (more than latency x ports on current
 * x86 cores), 0.25e9 FMA instructions per thread. */
#define PEAK_ITERS 20000000L
__attribute__((target("avx512f"))) static float peak512(void)
{
	__m512 a[12], b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
	float r = 0;
#pragma GCC unroll 12
	for (int i = 0; i < 12; i++)
		a[i] = _mm512_set1_ps((float)i);
	for (long k = 0; k < PEAK_ITERS; k++)
#pragma GCC unroll 12
		for (int i = 0; i < 12; i++)
			a[i] = _mm512_fmadd_ps(a[i], b, c);
	for (int i = 0; i < 12; i++)
		r += _mm512_reduce_add_ps(a[i]);
	return r;
}

__attribute__((target("avx2,fma"))) static float peak256(void)
{
	__m256 a[12], b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
	float r = 0, v[8];
#pragma GCC unroll 12
	for (int i = 0; i < 12; i++)
		a[i] = _mm256_set1_ps((float)i);
	for (long k = 0; k < PEAK_ITERS; k++)
#pragma GCC unroll 12
		for (int i = 0; i < 12; i++)
			a[i] = _mm256_fmadd_ps(a[i], b, c);
	for (int i = 0; i < 12; i++) {
		_mm256_storeu_ps(v, a[i]);
		for (int j = 0; j < 8; j++)
			r += v[j];
	}
	return r;
}

static int peak_wide;
static void *peak_thread(void *arg)
{
	*(float *)arg = peak_wide ? peak512() : peak256();
	return NULL;
}

static int peak(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t th[256];
	float sink[256];
	if (n < 1 || n > 256)
		n = 1;
	__builtin_cpu_init();
	peak_wide = __builtin_cpu_supports("avx512f");
	if (!peak_wide && !__builtin_cpu_supports("fma")) {
		printf("fp32 FMA peak: not measured (no FMA)\n");
		return 0;
	}
	double t = 1e30, flop = 2.0 * (peak_wide ? 16 : 8) * 12 * PEAK_ITERS * n;
	for (int rep = 0; rep < 3; rep++) {  // the best of three: other load only slows it down
		double t0 = now();
		for (long i = 0; i < n; i++)
			pthread_create(&th[i], NULL, peak_thread, &sink[i]);
		for (long i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		if (now() - t0 < t)
			t = now() - t0;
	}
	printf("fp32 FMA peak %s x %ld threads: %.1f GFLOP/s (%.1f per core)%s\n", peak_wide ? "AVX-512" : "AVX2", n,
	       flop / t / 1e9, flop / t / 1e9 / n, sink[0] == 12345.f ? " " : "");
	return 0;
}

int main(int argc, char **argv)
{
	/* as clipsort-embed does; ENGINE_BENCH_RAW=1 measures libgomp's own default */
	if (!getenv("ENGINE_BENCH_RAW"))
		cs_engine_tune_env(argc, argv);
	if (argc == 4 && !strcmp(argv[1], "gen"))
		return gen(argv[2], argv[3]);
	if (argc == 2 && !strcmp(argv[1], "sgemm")) {
		int n = 2048, reps = 0;
		float *a = rand_images(1, 1), *A = malloc(sizeof(float) * n * n), *B = malloc(sizeof(float) * n * n),
		      *C = calloc((size_t)n * n, sizeof(float));
		free(a);
		for (long i = 0; i < (long)n * n; i++) {
			A[i] = nrand();
			B[i] = nrand();
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, A, n, B, n, 0, C, n);
		double t0 = now(), t1, c0 = cpu_now();
		do {
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, A, n, B, n, 0, C, n);
			reps++;
			t1 = now();
		} while (t1 - t0 < 3);
		printf("sgemm 2048^2 fp32: %.1f GFLOP/s (%.1f per CPU-second)\n", 2.0 * n * n * n * reps / (t1 - t0) / 1e9,
		       2.0 * n * n * n * reps / (cpu_now() - c0) / 1e9);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "peak"))
		return peak();
	if (argc == 3 && !strcmp(argv[1], "load")) {
		double t0 = now();
		cs_model *m = open_model(argv[2], "f32");
		double t1 = now();
		printf("load %.3f s\n", t1 - t0);
		cs_model_free(m);
		return 0;
	}
	if (argc == 6 && (!strcmp(argv[1], "image") || !strcmp(argv[1], "text")))
		return bench(argv[1], argv[2], argv[3], atoi(argv[4]), atof(argv[5]));
	if (argc == 3 && !strcmp(argv[1], "cos"))
		return cosines(argv[2]);
	fprintf(stderr, "usage: engine_bench gen DIR b32|b16 | sgemm | peak | load DIR | image|text DIR f32|bf16 BATCH SECONDS | cos DIR\n");
	return 2;
}
