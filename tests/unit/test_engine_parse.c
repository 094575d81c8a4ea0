/* test_engine_parse.c — the engine's plain-C parts (safetensors reader and
 * fingerprint, open_clip_config.json parser, model-name resolution), built and run
 * under ASan/UBSan too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../embed/clip.h"
#include "../../embed/clipcfg.h"
#include "../../embed/devname.h"
#include "../../embed/modeldir.h"
#include "../../embed/safetensors.h"
#include "check.h"

static char err[1024];

/* a safetensors image: 8-byte length, header (padded), data */
static unsigned char *st_build(const char *hdr, size_t datalen, size_t *len)
{
	size_t h = strlen(hdr);
	unsigned char *b = calloc(1, 8 + h + datalen + 1);
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)h >> (8 * i));
	memcpy(b + 8, hdr, h);
	for (size_t i = 0; i < datalen; i++)
		b[8 + h + i] = (unsigned char)(i * 7 + 3);
	*len = 8 + h + datalen;
	return b;
}

static int st_try(const char *hdr, size_t datalen, const char *want)
{
	size_t len;
	unsigned char *b = st_build(hdr, datalen, &len);
	st_file *f = NULL;
	int rc = st_open_mem(b, len, "x.safetensors", &f, err, sizeof err);
	if (want && (rc == 0 || !strstr(err, want)))
		printf("# got rc %d: %s (want %s)\n", rc, err, want);
	st_close(f);
	free(b);
	return want ? rc != 0 && strstr(err, want) != NULL : rc == 0;
}

static void test_safetensors(void)
{
	size_t len;
	unsigned char *b;
	st_file *f = NULL;
	const st_tensor *t;
	char fp1[65], fp2[65], s[64];

	b = st_build("{\"__metadata__\": {\"format\": \"pt\"}, \"b\": {\"dtype\": \"F32\", \"shape\": [2, 3], "
	             "\"data_offsets\": [8, 32]}, \"a\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [0, 8]},"
	             " \"s\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [32, 36]}}  ", 36, &len);
	CHECK(st_open_mem(b, len, "ok.safetensors", &f, err, sizeof err) == 0, "valid file: %s", err);
	if (f) {
		CHECK(st_count(f) == 3, "3 tensors (metadata skipped)");
		CHECK(!strcmp(st_at(f, 0)->name, "a") && !strcmp(st_at(f, 2)->name, "s"), "sorted by name");
		t = st_find(f, "b");
		CHECK(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[1] == 3 && st_numel(t) == 6, "tensor b");
		CHECK(t && (const unsigned char *)t->data == b + len - 36 + 8, "b's data pointer");
		t = st_find(f, "s");
		CHECK(t && t->ndim == 0 && st_numel(t) == 1, "scalar");
		CHECK(st_find(f, "nope") == NULL, "absent tensor");
		CHECK(st_fingerprint(f, fp1, err, sizeof err) == 0 && strlen(fp1) == 64, "fingerprint");
		st_close(f);
		b[len - 1] ^= 1; /* small data section: every byte is hashed */
		CHECK(st_open_mem(b, len, "ok.safetensors", &f, err, sizeof err) == 0, "reopen");
		CHECK(f && st_fingerprint(f, fp2, err, sizeof err) == 0 && strcmp(fp1, fp2), "fingerprint sees a data byte");
		st_close(f);
		f = NULL;
	}
	free(b);
	st_shape_str((const int64_t[]){768, 3, 32, 32}, 4, s, sizeof s);
	CHECK(!strcmp(s, "[768, 3, 32, 32]"), "shape string %s", s);

	CHECK(st_try("{}", 0, NULL), "empty header is a valid (empty) file");
	CHECK(st_try("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 4, "file truncated"),
	      "offsets past the end");
	CHECK(st_try("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8,
	             "shape [3] of F32 needs 12 bytes, data_offsets give 8"), "shape x dtype != length");
	CHECK(st_try("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
	             "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12, "overlap"), "overlap");
	CHECK(st_try("{\"a\": {\"dtype\": \"Q4\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "unknown dtype"),
	      "unknown dtype");
	CHECK(st_try("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, "bad shape"),
	      "negative dim");
	CHECK(st_try("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8, "data_offsets"),
	      "reversed offsets");
	CHECK(st_try("{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], "
	             "\"data_offsets\": [0, 8]}}", 8, "shape"), "overflowing shape");
	CHECK(st_try("{\"a\": 1}", 0, "needs dtype"), "entry not an object");
	CHECK(st_try("{\"a\": {\"dtype\": \"F32\"}}", 0, "needs dtype, shape"), "entry incomplete");
	CHECK(st_try("[1, 2]", 0, "not a JSON object"), "header array");
	CHECK(st_try("{\"a\": {,}", 0, "not valid JSON"), "bad JSON");
	CHECK(st_try("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
	             "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "not valid JSON"),
	      "duplicate tensor names");
	CHECK(st_try("{\"__metadata__\": 3}", 0, "__metadata__"), "metadata not an object");
	{
		unsigned char tiny[5] = {1, 2, 3, 4, 5};
		CHECK(st_open_mem(tiny, 5, "t", &f, err, sizeof err) == CS_EMODEL_FORMAT && strstr(err, "truncated"),
		      "5-byte file: %s", err);
		unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
		CHECK(st_open_mem(big, 16, "t", &f, err, sizeof err) == CS_EMODEL_FORMAT && strstr(err, "does not fit"),
		      "huge header length: %s", err);
	}
	CHECK(st_open("/nonexistent.safetensors", &f, err, sizeof err) == CS_EMODEL_MISSING && f == NULL,
	      "missing file: %s", err);
	CHECK(st_open("/", &f, err, sizeof err) == CS_EMODEL_FORMAT, "a directory: %s", err);

	/* the fingerprint samples large data sections: a byte in a sampled slice counts */
	{
		size_t n = 4u << 20;
		char hdr[200];
		snprintf(hdr, sizeof hdr, "{\"w\": {\"dtype\": \"U8\", \"shape\": [%zu], \"data_offsets\": [0, %zu]}}", n, n);
		b = st_build(hdr, n, &len);
		CHECK(st_open_mem(b, len, "big", &f, err, sizeof err) == 0, "4 MiB file: %s", err);
		st_fingerprint(f, fp1, err, sizeof err);
		st_close(f);
		b[len - 1] ^= 0x55; /* the last slice ends at the last byte */
		st_open_mem(b, len, "big", &f, err, sizeof err);
		st_fingerprint(f, fp2, err, sizeof err);
		CHECK(strcmp(fp1, fp2) != 0, "last byte is sampled");
		st_close(f);
		free(b);
	}
}

static int cfg_try(const char *json, int want_rc, const char *want_msg)
{
	clipcfg c;
	int rc = clipcfg_parse(json, strlen(json), "cfg.json", &c, err, sizeof err);
	if (rc != want_rc || (want_msg && !strstr(err, want_msg)))
		printf("# got rc %d: %s (want %d %s)\n", rc, err, want_rc, want_msg ? want_msg : "");
	return rc == want_rc && (!want_msg || strstr(err, want_msg));
}

static void test_config(void)
{
	clipcfg c;
	const char *j = "{\"model_cfg\": {\"embed_dim\": 1024, \"quick_gelu\": true, \"vision_cfg\": {\"image_size\": 224,"
	                " \"layers\": 32, \"width\": 1280, \"head_width\": 80, \"patch_size\": 14, \"mlp_ratio\": 4.9231,"
	                " \"ls_init_value\": 1e-5}, \"text_cfg\": {\"context_length\": 77, \"vocab_size\": 49408,"
	                " \"width\": 1024, \"heads\": 16, \"layers\": 24}}}";
	CHECK(clipcfg_parse(j, strlen(j), "h14", &c, err, sizeof err) == 0, "ViT-H-like: %s", err);
	CHECK(c.embed_dim == 1024 && c.vision.heads == 16 && c.vision.patch_size == 14 && c.vision.layers == 32, "vision");
	CHECK(c.vision.mlp_width == 6301, "int(1280 * 4.9231) = 6301, got %d", c.vision.mlp_width);
	CHECK(c.vision.act == CLIP_ACT_QUICK_GELU && c.text.act == CLIP_ACT_QUICK_GELU, "quick_gelu both towers");
	CHECK(c.vision.has_ls && !c.text.has_ls, "LayerScale");
	CHECK(c.text.causal && c.text.pool == CLIP_POOL_ARGMAX && c.text.eos_id == 2 && c.text.mlp_width == 4096,
	      "text defaults");
	CHECK(c.vision.ln_eps == 1e-5 && c.vision.pool == CLIP_POOL_TOK && !c.vision.no_ln_pre, "vision defaults");
	CHECK(!strcmp(c.interpolation, "bicubic") && !strcmp(c.resize_mode, "shortest") && c.fill_color == 0 &&
	      c.mean[0] == 0.48145466f && c.std[2] == 0.27577711f, "preprocess defaults");
	CHECK(!c.has_logit_bias && !c.custom_text, "flags");

	j = "{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}}}";
	CHECK(clipcfg_parse(j, strlen(j), "d", &c, err, sizeof err) == 0 && c.vision.width == 768 &&
	      c.vision.layers == 12 && c.vision.patch_size == 16 && c.vision.image_size == 224 &&
	      c.text.width == 512 && c.text.heads == 8 && c.text.context_length == 77 && c.text.vocab_size == 49408,
	      "OpenCLIP dataclass defaults: %s", err);

	j = "{\"model_cfg\": {\"embed_dim\": 8, \"init_logit_bias\": -10, \"custom_text\": true, \"vision_cfg\": "
	    "{\"image_size\": [256, 256], \"patch_size\": 16, \"width\": 64, \"head_width\": 32, \"no_ln_pre\": true, "
	    "\"pool_type\": \"avg\", \"final_ln_after_pool\": true, \"act_kwargs\": {\"approximate\": \"tanh\"}, "
	    "\"norm_kwargs\": {\"eps\": 1e-6}}, \"text_cfg\": {\"no_causal_mask\": true, \"proj_bias\": true, "
	    "\"pool_type\": \"last\", \"width\": 64, \"heads\": 4, \"mlp_ratio\": 2.5}}, \"preprocess_cfg\": {\"size\": 256, "
	    "\"mean\": [0.5, 0.5, 0.5], \"std\": 0.5, \"interpolation\": \"bilinear\", \"resize_mode\": \"squash\", "
	    "\"fill_color\": 128, \"mode\": \"RGB\"}}";
	CHECK(clipcfg_parse(j, strlen(j), "s", &c, err, sizeof err) == 0, "SigLIP-like: %s", err);
	CHECK(c.vision.image_size == 256 && c.vision.no_ln_pre && c.vision.pool == CLIP_POOL_AVG &&
	      c.vision.final_ln_after_pool && c.vision.act == CLIP_ACT_GELU_TANH && c.vision.ln_eps == 1e-6 &&
	      c.vision.heads == 2, "vision options");
	CHECK(!c.text.causal && c.text.proj_bias && c.text.pool == CLIP_POOL_LAST && c.text.mlp_width == 160 &&
	      c.text.act == CLIP_ACT_GELU && c.text.ln_eps == 1e-5, "text options");
	CHECK(c.has_logit_bias && c.custom_text, "bias, custom_text");
	CHECK(c.std[1] == 0.5f && !strcmp(c.interpolation, "bilinear") && !strcmp(c.resize_mode, "squash") &&
	      c.fill_color == 128, "preprocess_cfg");

#define M(v, t) "{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {" v "}, \"text_cfg\": {" t "}}}"
	CHECK(cfg_try("{\"model_cfg\": {", CS_EMODEL_FORMAT, "cfg.json: line 1: invalid JSON"), "bad JSON");
	CHECK(cfg_try("{\"a\": 1}", CS_EMODEL_FORMAT, "no \"model_cfg\""), "no model_cfg");
	CHECK(cfg_try("{\"model_cfg\": {\"vision_cfg\": {}, \"text_cfg\": {}}}", CS_EMODEL_FORMAT, "embed_dim is missing"),
	      "no embed_dim");
	CHECK(cfg_try(M("\"layers\": [3, 4, 6, 3]", ""), CS_EUNSUPPORTED, "ModifiedResNet"), "ResNet");
	CHECK(cfg_try(M("\"timm_model_name\": \"convnext_base\"", ""), CS_EUNSUPPORTED, "vision_cfg.timm_model_name"),
	      "timm");
	CHECK(cfg_try(M("\"timm_model_name\": null, \"timm_pool\": \"avg\"", ""), 0, NULL), "timm off accepted");
	CHECK(cfg_try(M("\"attentional_pool\": true", ""), CS_EUNSUPPORTED, "attentional_pool"), "attn pool");
	CHECK(cfg_try(M("\"pos_embed_type\": \"learnable\"", ""), 0, NULL), "learnable pos embed");
	CHECK(cfg_try(M("\"pos_embed_type\": \"sin_cos_2d\"", ""), 0, NULL), "sin_cos_2d pos embed (a saved Parameter)");
	CHECK(cfg_try(M("\"pos_embed_type\": \"rope\"", ""), CS_EUNSUPPORTED, "pos_embed_type"), "rope refused");
	CHECK(cfg_try(M("", "\"hf_model_name\": \"xlm-roberta-base\""), CS_EUNSUPPORTED, "text_cfg.hf_model_name"), "hf");
	CHECK(cfg_try(M("", "\"embed_cls\": true"), CS_EUNSUPPORTED, "embed_cls"), "embed_cls");
	CHECK(cfg_try(M("", "\"pool_type\": \"mean\""), CS_EUNSUPPORTED, "text_cfg.pool_type"), "text pool");
	CHECK(cfg_try(M("\"pool_type\": \"none\"", ""), CS_EUNSUPPORTED, "vision_cfg.pool_type"), "vision pool");
	CHECK(cfg_try(M("", "\"act_kwargs\": {\"approximate\": \"sigmoid\"}"), CS_EUNSUPPORTED, "act_kwargs.approximate"),
	      "bad approximate");
	CHECK(cfg_try("{\"model_cfg\": {\"embed_dim\": 8, \"quick_gelu\": true, \"vision_cfg\": {\"act_kwargs\": "
	              "{\"approximate\": \"tanh\"}}, \"text_cfg\": {}}}", CS_EUNSUPPORTED, "act_kwargs"),
	      "QuickGELU takes no kwargs");
	CHECK(cfg_try(M("\"norm_kwargs\": {\"eps\": 0}", ""), CS_EMODEL_FORMAT, "norm_kwargs.eps"), "eps 0");
	CHECK(cfg_try(M("\"frobnicate\": 1", ""), CS_EUNSUPPORTED, "vision_cfg.frobnicate: unknown option"), "unknown key");
	CHECK(cfg_try(M("\"width\": \"wide\"", ""), CS_EMODEL_FORMAT, "vision_cfg.width: expected an integer"),
	      "wrong type");
	CHECK(cfg_try(M("\"width\": 0", ""), CS_EMODEL_FORMAT, "out of range"), "zero width");
	CHECK(cfg_try(M("\"image_size\": [224, 192]", ""), CS_EUNSUPPORTED, "square"), "non-square");
	CHECK(cfg_try(M("\"image_size\": 225, \"patch_size\": 16", ""), CS_EUNSUPPORTED, "not a multiple"), "ragged");
	CHECK(cfg_try(M("", "\"width\": 100, \"heads\": 3"), CS_EMODEL_FORMAT, "not divisible by heads"), "heads");
	CHECK(cfg_try(M("\"mlp_ratio\": 0", ""), CS_EMODEL_FORMAT, "mlp_ratio"), "mlp_ratio 0");
	CHECK(cfg_try("{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}}, \"preprocess_cfg\": "
	              "{\"resize_mode\": \"crop\"}}", CS_EUNSUPPORTED, "preprocess_cfg.resize_mode"), "resize mode");
	CHECK(cfg_try("{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}}, \"preprocess_cfg\": "
	              "{\"size\": 256}}", CS_EMODEL_FORMAT, "differs"), "size mismatch");
	CHECK(cfg_try("{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}}, \"preprocess_cfg\": "
	              "{\"std\": [1, 0, 1]}}", CS_EMODEL_FORMAT, "positive"), "std 0");
	CHECK(cfg_try("{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}}, \"preprocess_cfg\": "
	              "{\"mode\": \"L\"}}", CS_EUNSUPPORTED, "mode"), "grey mode");
	CHECK(cfg_try("{\"model_cfg\": {\"embed_dim\": 8, \"multimodal_cfg\": {}, \"vision_cfg\": {}, \"text_cfg\": {}}}",
	              CS_EUNSUPPORTED, "multimodal_cfg"), "multimodal_cfg (CoCa) refused");
#undef M
	CHECK(clipcfg_load("/nonexistent/open_clip_config.json", &c, err, sizeof err) == CS_EMODEL_MISSING,
	      "missing config: %s", err);
}

static void test_modeldir(void)
{
	char tmpl[] = "/tmp/test_engine_parse.XXXXXX", path[512], *r, *k;
	char *d = mkdtemp(tmpl);

	k = modeldir_key("laion/CLIP-ViT-B-32-laion2B-s34B-b79K");
	CHECK(k && !strcmp(k, "laion--CLIP-ViT-B-32-laion2B-s34B-b79K"), "key %s", k ? k : "(null)");
	free(k);
	k = modeldir_key("ViT-B-32");
	CHECK(k && !strcmp(k, "ViT-B-32"), "plain name");
	free(k);
	CHECK(modeldir_key("../x") == NULL && modeldir_key("a/b/c") == NULL && modeldir_key("a/") == NULL &&
	      modeldir_key("a b") == NULL && modeldir_key("") == NULL && modeldir_key("a/..") == NULL, "bad names");
	if (!d) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof path, "%s/models/org--m", d);
	mkdir(strcat(strcpy((char[512]){0}, d), "/models"), 0777);
	mkdir(path, 0777);
	setenv("CLIPSORT_MODELS", strcat(strcpy((char[512]){0}, d), "/models"), 1);
	r = modeldir_resolve("org/m");
	CHECK(r && !strcmp(r, path), "CLIPSORT_MODELS: %s", r ? r : "(null)");
	free(r);
	unsetenv("CLIPSORT_MODELS");
	setenv("XDG_CACHE_HOME", d, 1);
	r = modeldir_resolve("other/model");
	snprintf(path, sizeof path, "other/model");
	CHECK(r && !strcmp(r, "other/model"), "absent hub-style name stays a relative path: %s", r ? r : "(null)");
	free(r);
	r = modeldir_resolve("ViT-X");
	snprintf(path, sizeof path, "%s/clipsort/models/ViT-X", d);
	CHECK(r && !strcmp(r, path), "cache dir: %s", r ? r : "(null)");
	free(r);
	r = modeldir_resolve(d);
	CHECK(r && !strcmp(r, d), "an existing directory is itself");
	free(r);
	unsetenv("XDG_CACHE_HOME");
	setenv("HOME", "/home/u", 1);
	r = modeldir_root();
	CHECK(r && !strcmp(r, "/home/u/.cache/clipsort/models"), "root from HOME: %s", r ? r : "(null)");
	free(r);
	snprintf(path, sizeof path, "%s/models/org--m", d);
	rmdir(path);
	snprintf(path, sizeof path, "%s/models", d);
	rmdir(path);
	rmdir(d);
}

static void test_devname(void)
{
	static const struct { const char *name; int kind, index; } ok[] = {
		{ NULL, DEVNAME_AUTO, 0 }, { "", DEVNAME_AUTO, 0 }, { "auto", DEVNAME_AUTO, 0 },
		{ "cpu", DEVNAME_CPU, 0 }, { "cuda", DEVNAME_CUDA, 0 }, { "cuda:0", DEVNAME_CUDA, 0 },
		{ "cuda:7", DEVNAME_CUDA, 7 }, { "cuda:123", DEVNAME_CUDA, 123 },
	};
	static const char *bad[] = { "gpu", "CPU", "cuda:", "cuda:x", "cuda:1x", "cuda:-1", "cuda:1234", "cuda0", "cpu:0" };
	int idx;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int k = devname_parse(ok[i].name, &idx);
		CHECK(k == ok[i].kind && idx == ok[i].index, "device %s: kind %d index %d", ok[i].name ? ok[i].name : "(null)", k,
		      idx);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(devname_parse(bad[i], &idx) == DEVNAME_BAD, "device %s refused", bad[i]);
}

int main(void)
{
	test_safetensors();
	test_config();
	test_modeldir();
	test_devname();
	return check_done();
}
