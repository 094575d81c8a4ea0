/* test_engine.c — the libtorch engine against the OpenCLIP fixture (reference
 * outputs computed by real OpenCLIP), plus API error handling.
 *
 * Without arguments: the unit test.  With arguments it is the helper that
 * tests/t-engine.sh drives for generated models:
 *   test_engine info DIR
 *   test_engine image DIR DTYPE N IN.f32 OUT.f32     (N x 3 x S x S -> N x D, not normalised)
 *   test_engine text DIR DTYPE N IN.i64 OUT.f32      (N x ctx ids   -> N x D, not normalised)
 *   test_engine load DIR                             (exit 0, or print the error and exit 1)
 *   test_engine tune                                 (cs_engine_tune_env, print OMP_WAIT_POLICY)
 *   test_engine faults DIR                           (minor page faults of 3 encodes of the same
 *                                                     8 random images, one line each)
 *   test_engine reuse [raw]                          (page faults of three rounds of tensor-sized
 *                                                     blocks, after cs_engine_tune_env unless raw)
 * DTYPE is f32, bf16 or auto.  Errors: "status N: message" on stderr, exit 1. */
#include <math.h>
#include <stdint.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../embed/clip.h"
#include "check.h"

static void *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, fp) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

static void *fixture(const char *name, size_t want)
{
	char path[4096];
	size_t len = 0;
	void *p;
	snprintf(path, sizeof path, "%s/expected/%s", check_fixture_dir(), name);
	p = slurp(path, &len);
	if (!p || len != want) {
		fprintf(stdout, "FAIL fixture %s: missing or %zu bytes (want %zu)\n", path, len, want);
		free(p);
		return NULL;
	}
	return p;
}

static double cosine(const float *a, const float *b, int d)
{
	double ab = 0, aa = 0, bb = 0;
	for (int i = 0; i < d; i++) {
		ab += (double)a[i] * b[i];
		aa += (double)a[i] * a[i];
		bb += (double)b[i] * b[i];
	}
	return ab / sqrt(aa * bb);
}

static double maxabs(const float *a, const float *b, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		if (fabs((double)a[i] - b[i]) > m)
			m = fabs((double)a[i] - b[i]);
	return m;
}

/* every row's cosine >= mincos and elementwise |a - b| <= tol */
static void compare(const char *what, const float *got, const float *want, int n, int d, double mincos, double tol)
{
	double worst = 1;
	for (int i = 0; i < n; i++) {
		double c = cosine(got + (size_t)i * d, want + (size_t)i * d, d);
		if (c < worst)
			worst = c;
	}
	double m = maxabs(got, want, (size_t)n * d);
	CHECK(worst >= mincos, "%s: worst cosine %.9f < %.9f", what, worst, mincos);
	CHECK(m <= tol, "%s: max abs diff %.3g > %.3g", what, m, tol);
	printf("# %s: worst cosine %.9f, max abs diff %.3g\n", what, worst, m);
}

static int dtype_arg(const char *s)
{
	return !strcmp(s, "bf16") ? CS_DTYPE_BF16 : !strcmp(s, "f16") ? CS_DTYPE_F16 :
	       !strcmp(s, "auto") ? CS_DTYPE_AUTO : CS_DTYPE_F32;
}

static int tool(int argc, char **argv)
{
	cs_model_params p = cs_model_default_params();
	cs_model *m = NULL;
	cs_model_info info;
	int rc, n;

	if (argc < 3)
		return 2;
	p.device = "cpu";
	if (argc >= 4)
		p.dtype = dtype_arg(argv[3]);
	if ((rc = cs_model_load(argv[2], &p, &m)) != 0) {
		fprintf(stderr, "status %d: %s\n", rc, cs_errmsg());
		return 1;
	}
	cs_model_get_info(m, &info);
	if (!strcmp(argv[1], "info")) {
		printf("embed_dim %d\nimage_size %d\npatch_size %d\ncontext_length %d\nvocab_size %d\n"
		       "logit_scale %.9g\nhas_logit_bias %d\nlogit_bias %.9g\nname %s\nfingerprint %s\n"
		       "device %s\ndtype %s\nmean %.8g %.8g %.8g\nstd %.8g %.8g %.8g\ninterpolation %s\n"
		       "resize_mode %s\nfill_color %d\n",
		       info.embed_dim, info.image_size, info.patch_size, info.context_length, info.vocab_size,
		       info.logit_scale, info.has_logit_bias, info.logit_bias, info.name, info.fingerprint,
		       info.device, info.dtype, info.mean[0], info.mean[1], info.mean[2], info.std[0], info.std[1],
		       info.std[2], info.interpolation, info.resize_mode, info.fill_color);
	} else if ((!strcmp(argv[1], "image") || !strcmp(argv[1], "text")) && argc == 7) {
		int img = !strcmp(argv[1], "image");
		size_t len = 0, per = img ? (size_t)3 * info.image_size * info.image_size * sizeof(float)
		                          : (size_t)info.context_length * sizeof(int64_t);
		void *in;
		float *out;
		FILE *fp;
		n = atoi(argv[4]);
		in = slurp(argv[5], &len);
		if (!in || n < 1 || len != per * (size_t)n) {
			fprintf(stderr, "%s: missing or not %d inputs\n", argv[5], n);
			return 1;
		}
		out = malloc((size_t)n * info.embed_dim * sizeof *out);
		rc = img ? cs_encode_image(m, in, n, out, 0) : cs_encode_text(m, in, n, out, 0);
		if (rc != 0) {
			fprintf(stderr, "status %d: %s\n", rc, cs_errmsg());
			return 1;
		}
		if (!(fp = fopen(argv[6], "wb")) || fwrite(out, sizeof *out, (size_t)n * info.embed_dim, fp) !=
		    (size_t)n * info.embed_dim || fclose(fp) != 0) {
			fprintf(stderr, "%s: write failed\n", argv[6]);
			return 1;
		}
		free(in);
		free(out);
	} else if (strcmp(argv[1], "load")) {
		return 2;
	}
	cs_model_free(m);
	return 0;
}

static void test_fixture(void)
{
	char dir[4096];
	cs_model_params p = cs_model_default_params();
	cs_model *m = NULL;
	cs_model_info info;
	enum { NI = 5, NT = 9, D = 64, S = 224, CTX = 77 };
	float *inputs, *feat, *emb, *tfeat, *temb, *ls, *logits;
	float out[NT * D], out1[D], outn[NT * D];
	int rc;

	snprintf(dir, sizeof dir, "%s/model/tiny-vit-b32ish", check_fixture_dir());
	p.device = "cpu";
	rc = cs_model_load(dir, &p, &m);
	CHECK(rc == 0, "load %s: %s", dir, cs_errmsg());
	if (rc)
		return;
	CHECK(cs_model_get_info(m, &info) == 0, "info");
	CHECK(info.embed_dim == D && info.image_size == S && info.patch_size == 32 && info.context_length == CTX &&
	      info.vocab_size == 49408, "dims %d %d %d %d %d", info.embed_dim, info.image_size, info.patch_size,
	      info.context_length, info.vocab_size);
	CHECK(!strcmp(info.device, "cpu") && !strcmp(info.dtype, "f32"), "device %s dtype %s", info.device, info.dtype);
	CHECK(!strcmp(info.name, "tiny-vit-b32ish"), "name %s", info.name);
	CHECK(strlen(info.fingerprint) == 64 && strspn(info.fingerprint, "0123456789abcdef") == 64, "fingerprint %s",
	      info.fingerprint);
	CHECK(fabsf(info.mean[0] - 0.48145466f) < 1e-7f && fabsf(info.std[2] - 0.27577711f) < 1e-7f, "mean/std");
	CHECK(!strcmp(info.interpolation, "bicubic") && !strcmp(info.resize_mode, "shortest") && info.fill_color == 0,
	      "preprocess %s %s %d", info.interpolation, info.resize_mode, info.fill_color);
	CHECK(!info.has_logit_bias, "no logit bias");

	inputs = fixture("image_inputs.f32", (size_t)NI * 3 * S * S * 4);
	feat = fixture("image_features.f32", NI * D * 4);
	emb = fixture("image_embeddings.f32", NI * D * 4);
	tfeat = fixture("text_features.f32", NT * D * 4);
	temb = fixture("text_embeddings.f32", NT * D * 4);
	ls = fixture("logit_scale.f32", 4);
	logits = fixture("logits_per_image.f32", NI * NT * 4);
	int64_t *tokens = fixture("text_tokens.i64", NT * CTX * 8);
	if (!inputs || !feat || !emb || !tfeat || !temb || !ls || !logits || !tokens) {
		CHECK(0, "fixture arrays unreadable");
		goto out;
	}
	CHECK(fabs(info.logit_scale - exp((double)ls[0])) < 1e-4, "logit_scale %.7f vs exp(%.7f)", info.logit_scale, ls[0]);

	CHECK(cs_encode_image(m, inputs, NI, out, 0) == 0, "encode_image: %s", cs_errmsg());
	compare("image_features", out, feat, NI, D, 0.99999, 1e-4);
	CHECK(cs_encode_image(m, inputs, NI, outn, 1) == 0, "encode_image: %s", cs_errmsg());
	compare("image_embeddings", outn, emb, NI, D, 0.99999, 2e-5);
	/* batch-size invariance: each image alone */
	for (int i = 0; i < NI; i++) {
		CHECK(cs_encode_image(m, inputs + (size_t)i * 3 * S * S, 1, out1, 0) == 0, "image %d alone", i);
		CHECK(maxabs(out1, out + (size_t)i * D, D) < 1e-4, "image %d alone differs by %.3g", i,
		      maxabs(out1, out + (size_t)i * D, D));
	}

	CHECK(cs_encode_text(m, tokens, NT, out, 0) == 0, "encode_text: %s", cs_errmsg());
	compare("text_features", out, tfeat, NT, D, 0.99999, 1e-4);
	CHECK(cs_encode_text(m, tokens, NT, outn, 1) == 0, "encode_text: %s", cs_errmsg());
	compare("text_embeddings", outn, temb, NT, D, 0.99999, 2e-5);
	/* each prompt alone (the batch's longest prompt no longer sets the length) */
	for (int i = 0; i < NT; i++) {
		CHECK(cs_encode_text(m, tokens + (size_t)i * CTX, 1, out1, 0) == 0, "prompt %d alone", i);
		CHECK(maxabs(out1, out + (size_t)i * D, D) < 1e-4, "prompt %d alone differs by %.3g", i,
		      maxabs(out1, out + (size_t)i * D, D));
	}

	/* logits_per_image = exp(logit_scale) * img_emb @ txt_emb^T */
	{
		float img[NI * D], lg[NI * NT];
		CHECK(cs_encode_image(m, inputs, NI, img, 1) == 0, "encode_image");
		for (int i = 0; i < NI; i++)
			for (int j = 0; j < NT; j++) {
				double s = 0;
				for (int k = 0; k < D; k++)
					s += (double)img[i * D + k] * outn[j * D + k];
				lg[i * NT + j] = (float)(info.logit_scale * s);
			}
		CHECK(maxabs(lg, logits, NI * NT) < 2e-3, "logits_per_image differ by %.3g", maxabs(lg, logits, NI * NT));
		printf("# logits_per_image: max abs diff %.3g\n", maxabs(lg, logits, NI * NT));
	}

	/* bad arguments */
	CHECK(cs_encode_image(m, inputs, 0, out, 0) == CS_EINVAL && *cs_errmsg(), "n = 0");
	CHECK(cs_encode_text(m, NULL, 1, out, 0) == CS_EINVAL, "NULL tokens");
	{
		int64_t bad[CTX] = {49406, 49408, 49407};
		rc = cs_encode_text(m, bad, 1, out, 0);
		CHECK(rc == CS_EINVAL && strstr(cs_errmsg(), "49408"), "token out of range: %d %s", rc, cs_errmsg());
		bad[1] = -1;
		CHECK(cs_encode_text(m, bad, 1, out, 0) == CS_EINVAL, "negative token");
	}
	/* bf16 on the CPU: close to fp32 */
	{
		cs_model *mb = NULL;
		float fb[NI * D];
		p.dtype = CS_DTYPE_BF16;
		rc = cs_model_load(dir, &p, &mb);
		CHECK(rc == 0, "load bf16: %s", cs_errmsg());
		if (mb) {
			cs_model_info ib;
			cs_model_get_info(mb, &ib);
			CHECK(!strcmp(ib.dtype, "bf16"), "dtype %s", ib.dtype);
			CHECK(!strcmp(ib.fingerprint, info.fingerprint), "fingerprint independent of dtype");
			CHECK(cs_encode_image(mb, inputs, NI, fb, 1) == 0, "bf16 image: %s", cs_errmsg());
			double worst = 1;
			for (int i = 0; i < NI; i++)
				if (cosine(fb + i * D, emb + i * D, D) < worst)
					worst = cosine(fb + i * D, emb + i * D, D);
			CHECK(worst > 0.99, "bf16 image cosine %.6f", worst);
			printf("# bf16 image embeddings: worst cosine vs OpenCLIP fp32 %.6f\n", worst);
			CHECK(cs_encode_text(mb, tokens, NT, fb, 1) == 0, "bf16 text: %s", cs_errmsg());
			worst = 1;
			for (int i = 0; i < NT; i++)
				if (cosine(fb + i * D, temb + i * D, D) < worst)
					worst = cosine(fb + i * D, temb + i * D, D);
			CHECK(worst > 0.99, "bf16 text cosine %.6f", worst);
			printf("# bf16 text embeddings: worst cosine vs OpenCLIP fp32 %.6f\n", worst);
		}
		cs_model_free(mb);
		p.dtype = CS_DTYPE_AUTO;
	}
	/* unfused attention path gives the same answer */
	{
		cs_model *mu = NULL;
		p.fused_attention = 0;
		CHECK(cs_model_load(dir, &p, &mu) == 0, "load unfused: %s", cs_errmsg());
		if (mu) {
			CHECK(cs_encode_image(mu, inputs, NI, out, 0) == 0, "unfused image");
			compare("unfused image_features", out, feat, NI, D, 0.99999, 1e-4);
		}
		cs_model_free(mu);
		p.fused_attention = 1;
	}
	/* devices and dtypes that are not there */
	{
		cs_model *mx = NULL;
		p.device = "cuda:0";
		rc = cs_model_load(dir, &p, &mx);
		CHECK(rc == CS_EDEVICE && mx == NULL && strstr(cs_errmsg(), "cuda:0"), "cuda: %d %s", rc, cs_errmsg());
		p.device = "tpu";
		rc = cs_model_load(dir, &p, &mx);
		CHECK(rc == CS_EINVAL && strstr(cs_errmsg(), "tpu"), "bad device: %d %s", rc, cs_errmsg());
		p.device = "cpu";
		p.dtype = CS_DTYPE_F16;
		rc = cs_model_load(dir, &p, &mx);
		CHECK(rc == CS_EDEVICE && strstr(cs_errmsg(), "f16"), "f16 on cpu: %d %s", rc, cs_errmsg());
		p.dtype = CS_DTYPE_AUTO;
		p.device = "auto";
		rc = cs_model_load(dir, &p, &mx);
		CHECK(rc == 0, "auto: %s", cs_errmsg());
		if (mx) {
			cs_model_info ia;
			cs_model_get_info(mx, &ia);
			CHECK(!strcmp(ia.device, "cpu") || !strncmp(ia.device, "cuda:", 5), "auto device %s", ia.device);
		}
		cs_model_free(mx);
	}
out:
	free(inputs); free(feat); free(emb); free(tfeat); free(temb); free(ls); free(logits); free(tokens);
	cs_model_free(m);
}

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* A batch allocates, writes and frees the same tensors each time (sizes here as
 * in a ViT-B-16 block at batch 8): after the first round the memory should be
 * found already mapped. */
static int reuse(int tuned, int argc, char **argv)
{
	static const size_t mb[] = {5, 15, 19, 5, 2, 9};
	enum { NB = sizeof mb / sizeof mb[0] };
	volatile char *p[NB];
	if (tuned)
		cs_engine_tune_env(argc, argv);
	for (int round = 0; round < 3; round++) {
		long f0 = minor_faults();
		for (int i = 0; i < NB; i++) {
			if (!(p[i] = malloc(mb[i] << 20)))
				return 1;
			for (size_t off = 0; off < mb[i] << 20; off += 4096)
				p[i][off] = (char)round;
		}
		for (int i = 0; i < NB; i++)
			free((void *)(uintptr_t)p[i]);
		printf("round %d: %ld faults\n", round, minor_faults() - f0);
	}
	return 0;
}

/* The engine's own buffers: the second and third batch should fault next to nothing. */
static int encode_faults(const char *dir)
{
	cs_model *m;
	cs_model_info info;
	cs_model_params p = cs_model_default_params();
	p.device = "cpu";
	p.dtype = CS_DTYPE_F32;
	if (cs_model_load(dir, &p, &m) != 0) {
		fprintf(stderr, "%s\n", cs_errmsg());
		return 1;
	}
	cs_model_get_info(m, &info);
	const int n = 8;
	size_t px = (size_t)n * 3 * info.image_size * info.image_size;
	float *in = malloc(px * sizeof *in), *out = malloc((size_t)n * info.embed_dim * sizeof *out);
	if (!in || !out)
		return 1;
	for (size_t i = 0; i < px; i++)
		in[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
	for (int round = 0; round < 3; round++) {
		long f0 = minor_faults();
		if (cs_encode_image(m, in, n, out, 1) != 0) {
			fprintf(stderr, "%s\n", cs_errmsg());
			return 1;
		}
		printf("round %d: %ld faults\n", round, minor_faults() - f0);
	}
	free(in);
	free(out);
	cs_model_free(m);
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096];
	FILE *fp;
	cs_model *m = (cs_model *)1;

	if (argc == 2 && !strcmp(argv[1], "tune")) { /* cs_engine_tune_env, then the policy in effect */
		cs_engine_tune_env(argc, argv);
		printf("%s\n", getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(unset)");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "faults"))
		return encode_faults(argv[2]);
	if (argc >= 2 && argc <= 3 && !strcmp(argv[1], "reuse"))
		return reuse(argc == 2, argc, argv);
	if (argc > 1)
		return tool(argc, argv);
	cs_model_free(NULL);
	CHECK(cs_model_load("/nonexistent/model", NULL, &m) == CS_EMODEL_MISSING && m == NULL &&
	      strstr(cs_errmsg(), "/nonexistent/model"), "missing dir: %s", cs_errmsg());
	CHECK(cs_model_load(NULL, NULL, &m) == CS_EINVAL, "NULL dir");
	CHECK(cs_model_get_info(NULL, NULL) == CS_EINVAL, "NULL info");
	snprintf(path, sizeof path, "%s/manifest.json", check_fixture_dir());
	if (!(fp = fopen(path, "r"))) {
		CHECK_SKIP("OpenCLIP conformance: fixture absent (expected at %s)", check_fixture_dir());
	} else {
		fclose(fp);
		test_fixture();
	}
	return check_done();
}
