/* clipsort-mkmodel — write a random-weight OpenCLIP model directory in the
 * Hugging Face hub layout OpenCLIP publishes (open_clip_config.json,
 * open_clip_model.safetensors, tokenizer files, model card), for any native-ViT
 * CLIP config.  Key names and shapes follow open_clip's model.py/transformer.py
 * (CLIP, CustomTextCLIP, VisionTransformer, TextTransformer). */
#define _GNU_SOURCE /* renameat2 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "diag.h"
#include "exitcode.h"
#include "num.h"
#include "xalloc.h"
#include "safetensors_write.h"
#ifdef CS_HAVE_BPE_TRAIN
#include "bpe_train.h"
#endif

#define DEFAULT_MERGES 1000

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-fv] [--seed N] [--dtype f32|f16|bf16] [--preset NAME | --config FILE]\n"
	    "       [--set KEY=VALUE ...] [--vocab-merges N | --vocab-from DIR | --no-vocab] OUT_DIR\n"
	    "       %s --list-presets\n", diag_prog(), diag_prog());
	exit(CS_EXIT_USAGE);
}

/* ---- presets: open_clip's model_configs/*.json, key order kept ---------- */

#define OPENAI_PP "{\"mean\": [0.48145466, 0.4578275, 0.40821073], " \
	"\"std\": [0.26862954, 0.26130258, 0.27577711], " \
	"\"interpolation\": \"bicubic\", \"resize_mode\": \"shortest\"}"

static const struct preset {
	const char *name, *model_cfg, *preprocess_cfg, *about;
} presets[] = {
	{"tiny",
	 "{\"embed_dim\": 64, \"vision_cfg\": {\"image_size\": 224, \"layers\": 2, \"width\": 128, \"patch_size\": 32},"
	 " \"text_cfg\": {\"context_length\": 77, \"vocab_size\": 49408, \"width\": 32, \"heads\": 2, \"layers\": 2}}",
	 OPENAI_PP, "ViT-B-32 layout shrunk (the conformance fixture's config), 2.4M parameters"},
	{"ViT-B-32",
	 "{\"embed_dim\": 512, \"vision_cfg\": {\"image_size\": 224, \"layers\": 12, \"width\": 768, \"patch_size\": 32},"
	 " \"text_cfg\": {\"context_length\": 77, \"vocab_size\": 49408, \"width\": 512, \"heads\": 8, \"layers\": 12}}",
	 OPENAI_PP, "open_clip ViT-B-32"},
	{"ViT-B-16",
	 "{\"embed_dim\": 512, \"vision_cfg\": {\"image_size\": 224, \"layers\": 12, \"width\": 768, \"patch_size\": 16},"
	 " \"text_cfg\": {\"context_length\": 77, \"vocab_size\": 49408, \"width\": 512, \"heads\": 8, \"layers\": 12}}",
	 OPENAI_PP, "open_clip ViT-B-16"},
	{"ViT-L-14",
	 "{\"embed_dim\": 768, \"vision_cfg\": {\"image_size\": 224, \"layers\": 24, \"width\": 1024, \"patch_size\": 14},"
	 " \"text_cfg\": {\"context_length\": 77, \"vocab_size\": 49408, \"width\": 768, \"heads\": 12, \"layers\": 12}}",
	 OPENAI_PP, "open_clip ViT-L-14"},
	{"ViT-H-14",
	 "{\"embed_dim\": 1024, \"vision_cfg\": {\"image_size\": 224, \"layers\": 32, \"width\": 1280, \"head_width\": 80,"
	 " \"patch_size\": 14}, \"text_cfg\": {\"context_length\": 77, \"vocab_size\": 49408, \"width\": 1024,"
	 " \"heads\": 16, \"layers\": 24}}",
	 OPENAI_PP, "open_clip ViT-H-14"},
	{"ViT-bigG-14",
	 "{\"embed_dim\": 1280, \"vision_cfg\": {\"image_size\": 224, \"layers\": 48, \"width\": 1664, \"head_width\": 104,"
	 " \"mlp_ratio\": 4.9231, \"patch_size\": 14}, \"text_cfg\": {\"context_length\": 77, \"vocab_size\": 49408,"
	 " \"width\": 1280, \"heads\": 20, \"layers\": 32}}",
	 OPENAI_PP, "open_clip ViT-bigG-14"},
	{"siglip-B-16",
	 "{\"embed_dim\": 768, \"init_logit_scale\": 2.302585092994046, \"init_logit_bias\": -10, \"custom_text\": true,"
	 " \"vision_cfg\": {\"image_size\": 224, \"layers\": 12, \"width\": 768, \"patch_size\": 16, \"no_ln_pre\": true,"
	 " \"pool_type\": \"avg\", \"final_ln_after_pool\": true, \"act_kwargs\": {\"approximate\": \"tanh\"},"
	 " \"norm_kwargs\": {\"eps\": 1e-06}},"
	 " \"text_cfg\": {\"context_length\": 64, \"vocab_size\": 32000, \"width\": 768, \"heads\": 12, \"layers\": 12,"
	 " \"no_causal_mask\": true, \"proj_bias\": true, \"pool_type\": \"last\","
	 " \"act_kwargs\": {\"approximate\": \"tanh\"}, \"norm_kwargs\": {\"eps\": 1e-06}}}",
	 "{\"mean\": [0.5, 0.5, 0.5], \"std\": [0.5, 0.5, 0.5], \"interpolation\": \"bicubic\","
	 " \"resize_mode\": \"squash\"}",
	 "SigLIP-like ViT-B-16 on open_clip's native towers: sigmoid-loss logit_scale/logit_bias, "
	 "bidirectional text with last-token pooling, avg-pooled vision without ln_pre, tanh GELU, eps 1e-6"},
};
#define NPRESETS (sizeof presets / sizeof presets[0])

/* ---- the configuration schema: open_clip's CLIP kwargs, CLIPVisionCfg, CLIPTextCfg ---- */

enum section { S_TOP, S_VISION, S_TEXT, S_PRE, S_FREE };

struct key {
	const char *name;
	enum section sub;       /* S_VISION/S_TEXT for the nested configs, S_FREE for kwargs dicts */
};

static const struct key top_keys[] = {
	{"embed_dim", S_TOP}, {"vision_cfg", S_VISION}, {"text_cfg", S_TEXT}, {"quick_gelu", S_TOP},
	{"custom_text", S_TOP}, {"init_logit_scale", S_TOP}, {"init_logit_bias", S_TOP},
	{"nonscalar_logit_scale", S_TOP}, {"output_dict", S_TOP}, {"multimodal_cfg", S_FREE},
	{NULL, S_TOP}
};
static const struct key vision_keys[] = {
	{"layers", S_TOP}, {"width", S_TOP}, {"head_width", S_TOP}, {"mlp_ratio", S_TOP},
	{"patch_size", S_TOP}, {"image_size", S_TOP}, {"ls_init_value", S_TOP},
	{"patch_dropout", S_TOP}, {"attentional_pool", S_TOP}, {"attn_pooler_queries", S_TOP},
	{"attn_pooler_heads", S_TOP}, {"no_ln_pre", S_TOP}, {"pos_embed_type", S_TOP},
	{"final_ln_after_pool", S_TOP}, {"pool_type", S_TOP}, {"output_tokens", S_TOP},
	{"act_kwargs", S_FREE}, {"norm_kwargs", S_FREE}, {"timm_model_name", S_TOP},
	{"timm_model_pretrained", S_TOP}, {"timm_pool", S_TOP}, {"timm_proj", S_TOP},
	{"timm_proj_bias", S_TOP}, {"timm_drop", S_TOP}, {"timm_drop_path", S_TOP},
	{NULL, S_TOP}
};
static const struct key text_keys[] = {
	{"context_length", S_TOP}, {"vocab_size", S_TOP}, {"hf_tokenizer_name", S_TOP},
	{"tokenizer_kwargs", S_FREE}, {"width", S_TOP}, {"heads", S_TOP}, {"layers", S_TOP},
	{"mlp_ratio", S_TOP}, {"ls_init_value", S_TOP}, {"embed_cls", S_TOP}, {"pad_id", S_TOP},
	{"eos_id", S_TOP}, {"no_causal_mask", S_TOP}, {"final_ln_after_pool", S_TOP},
	{"pool_type", S_TOP}, {"proj_bias", S_TOP}, {"proj_type", S_TOP}, {"output_tokens", S_TOP},
	{"act_kwargs", S_FREE}, {"norm_kwargs", S_FREE}, {"hf_model_name", S_TOP},
	{"hf_model_pretrained", S_TOP}, {"hf_proj_type", S_TOP}, {"hf_pooler_type", S_TOP},
	{NULL, S_TOP}
};
static const struct key pre_keys[] = {
	{"size", S_TOP}, {"mode", S_TOP}, {"mean", S_TOP}, {"std", S_TOP}, {"interpolation", S_TOP},
	{"resize_mode", S_TOP}, {"fill_color", S_TOP}, {NULL, S_TOP}
};

static const struct key *
section_keys(enum section s)
{
	switch (s) {
	case S_TOP: return top_keys;
	case S_VISION: return vision_keys;
	case S_TEXT: return text_keys;
	case S_PRE: return pre_keys;
	default: return NULL;
	}
}

static const struct key *
find_key(enum section s, const char *name)
{
	const struct key *k = section_keys(s);

	for (; k && k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* ---- the derived model ---------------------------------------------------- */

struct tower {
	long width, layers, heads, mlp;
	int has_ls;
	double ls;
};

struct model {
	long embed_dim;
	struct tower vis, txt;
	long grid_h, grid_w, patch_h, patch_w;
	int no_ln_pre;
	long ctx, vocab;
	int embed_cls, proj_bias, proj_none, custom_text, nonscalar;
	double logit_scale;
	int has_bias;
	double logit_bias;
};

/* Configuration errors name the config path and exit CS_EXIT_USAGE. */
__attribute__((format(printf, 2, 3)))
static _Noreturn void
cfg_die(const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cs_die(CS_EXIT_USAGE, "%s: %s", path, msg);
}

static char *
kpath(const char *sect, const char *key)
{
	return xasprintf("%s.%s", sect, key);
}

static long
get_int(json_t *o, const char *sect, const char *key, long def, long min, long max)
{
	json_t *v = json_object_get(o, key);
	char *p;
	long long x;

	if (v == NULL || json_is_null(v))
		return def;
	p = kpath(sect, key);
	if (!json_is_integer(v))
		cfg_die(p, "expected an integer");
	x = json_integer_value(v);
	if (x < min || x > max)
		cfg_die(p, "%lld is out of range [%ld, %ld]", x, min, max);
	free(p);
	return (long)x;
}

static double
get_num(json_t *o, const char *sect, const char *key, double def, double min, double max, int *present)
{
	json_t *v = json_object_get(o, key);
	char *p;
	double x;

	if (present)
		*present = 0;
	if (v == NULL || json_is_null(v))
		return def;
	p = kpath(sect, key);
	if (!json_is_number(v))
		cfg_die(p, "expected a number");
	x = json_number_value(v);
	if (!(x >= min && x <= max))
		cfg_die(p, "%g is out of range [%g, %g]", x, min, max);
	free(p);
	if (present)
		*present = 1;
	return x;
}

static int
get_bool(json_t *o, const char *sect, const char *key)
{
	json_t *v = json_object_get(o, key);
	char *p;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		p = kpath(sect, key);
		cfg_die(p, "expected true or false");
	}
	return json_is_true(v);
}

/* A string from a fixed set; returns its index. */
static int
get_enum(json_t *o, const char *sect, const char *key, int def, const char *const *allowed)
{
	json_t *v = json_object_get(o, key);
	char *p;
	char list[256] = "";

	if (v == NULL || json_is_null(v))
		return def;
	p = kpath(sect, key);
	if (json_is_string(v))
		for (int i = 0; allowed[i]; i++)
			if (strcmp(json_string_value(v), allowed[i]) == 0) {
				free(p);
				return i;
			}
	for (int i = 0; allowed[i]; i++) {
		strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
		strncat(list, allowed[i], sizeof list - strlen(list) - 1);
	}
	cfg_die(p, "expected one of: %s", list);
}

/* image_size / patch_size: an integer or a [height, width] pair (to_2tuple). */
static void
get_pair(json_t *o, const char *sect, const char *key, long def, long *h, long *w)
{
	json_t *v = json_object_get(o, key);
	char *p = kpath(sect, key);

	*h = *w = def;
	if (v == NULL || json_is_null(v)) {
		free(p);
		return;
	}
	if (json_is_integer(v)) {
		*h = *w = (long)json_integer_value(v);
	} else if (json_is_array(v) && json_array_size(v) == 2 && json_is_integer(json_array_get(v, 0)) &&
	    json_is_integer(json_array_get(v, 1))) {
		*h = (long)json_integer_value(json_array_get(v, 0));
		*w = (long)json_integer_value(json_array_get(v, 1));
	} else {
		cfg_die(p, "expected an integer or a [height, width] pair of integers");
	}
	if (*h < 1 || *w < 1 || *h > 65536 || *w > 65536)
		cfg_die(p, "out of range [1, 65536]");
	free(p);
}

/* Reject keys the schema does not know (a typo would otherwise be silently ignored,
 * while OpenCLIP itself fails on it). */
static void
check_keys(json_t *o, enum section s, const char *sect)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		cfg_die(sect, "expected a JSON object");
	json_object_foreach(o, k, v) {
		if (find_key(s, k) == NULL) {
			char *p = kpath(sect, k);
			cfg_die(p, "unknown key (not a field of OpenCLIP's %s)",
			    s == S_VISION ? "CLIPVisionCfg" : s == S_TEXT ? "CLIPTextCfg" :
			    s == S_PRE ? "PreprocessCfg" : "CLIP model config");
		}
	}
}

static int
is_set(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return v != NULL && !json_is_null(v) && !json_is_false(v);
}

/* act_kwargs go to nn.GELU (approximate) or QuickGELU (none); norm_kwargs to
 * LayerNorm (eps is the one the generated layout can honour). */
static void
check_kwargs(json_t *o, const char *sect, int quick_gelu)
{
	json_t *a = json_object_get(o, "act_kwargs"), *n = json_object_get(o, "norm_kwargs");
	const char *k;
	json_t *v;
	char *p;

	if (a && !json_is_null(a)) {
		p = kpath(sect, "act_kwargs");
		if (!json_is_object(a))
			cfg_die(p, "expected a JSON object");
		json_object_foreach(a, k, v) {
			if (quick_gelu)
				cfg_die(p, "QuickGELU (quick_gelu: true) takes no arguments");
			if (strcmp(k, "approximate") != 0)
				cfg_die(p, "unsupported argument '%s' (nn.GELU takes 'approximate')", k);
			if (!json_is_string(v) || (strcmp(json_string_value(v), "none") != 0 &&
			    strcmp(json_string_value(v), "tanh") != 0))
				cfg_die(p, "approximate must be \"none\" or \"tanh\"");
		}
		free(p);
	}
	if (n && !json_is_null(n)) {
		p = kpath(sect, "norm_kwargs");
		if (!json_is_object(n))
			cfg_die(p, "expected a JSON object");
		json_object_foreach(n, k, v) {
			if (strcmp(k, "eps") != 0)
				cfg_die(p, "unsupported argument '%s' (only eps is supported)", k);
			if (!json_is_number(v) || !(json_number_value(v) > 0 && json_number_value(v) < 1))
				cfg_die(p, "eps must be a number in (0, 1)");
		}
		free(p);
	}
}

static void
check_unsupported(json_t *o, const char *sect, const char *key, const char *why)
{
	if (is_set(o, key)) {
		char *p = kpath(sect, key);
		cfg_die(p, "not supported: %s", why);
	}
}

static long
mlp_width(long width, double ratio, const char *path)
{
	double m = (double)width * ratio; /* Python: int(d_model * mlp_ratio) */

	if (!(m >= 1 && m <= 1 << 20))
		cfg_die(path, "mlp width %g out of range", m);
	return (long)m;
}

static void
derive_vision(json_t *v, int quick_gelu, struct model *m)
{
	static const char *const pools[] = {"tok", "avg", "none", NULL};
	static const char *const pos[] = {"learnable", NULL};
	const char *S = "model_cfg.vision_cfg";
	long ih, iw, head_width;
	json_t *layers;
	double ratio;
	char *p;

	check_keys(v, S_VISION, S);
	check_unsupported(v, S, "timm_model_name", "timm towers (clipsort-mkmodel writes open_clip's native ViT)");
	check_unsupported(v, S, "attentional_pool", "attentional pooling (CoCa)");
	layers = json_object_get(v, "layers");
	if (json_is_array(layers))
		cfg_die("model_cfg.vision_cfg.layers", "not supported: a list means a ModifiedResNet tower");
	get_enum(v, S, "pos_embed_type", 0, pos);
	m->vis.layers = get_int(v, S, "layers", 12, 0, 1000);
	m->vis.width = get_int(v, S, "width", 768, 1, 65536);
	head_width = get_int(v, S, "head_width", 64, 1, 65536);
	m->vis.heads = m->vis.width / head_width;
	p = kpath(S, "head_width");
	if (m->vis.heads < 1)
		cfg_die(p, "%ld is wider than width %ld (heads = width // head_width = 0)", head_width, m->vis.width);
	if (m->vis.width % m->vis.heads != 0)
		cfg_die(p, "width %ld is not divisible by heads = width // head_width = %ld",
		    m->vis.width, m->vis.heads);
	free(p);
	ratio = get_num(v, S, "mlp_ratio", 4.0, 1e-6, 1e6, NULL);
	p = kpath(S, "mlp_ratio");
	m->vis.mlp = mlp_width(m->vis.width, ratio, p);
	free(p);
	get_pair(v, S, "image_size", 224, &ih, &iw);
	get_pair(v, S, "patch_size", 16, &m->patch_h, &m->patch_w);
	m->grid_h = ih / m->patch_h;
	m->grid_w = iw / m->patch_w;
	if (m->grid_h < 1 || m->grid_w < 1)
		cfg_die("model_cfg.vision_cfg.patch_size", "larger than image_size (grid would be empty)");
	m->vis.ls = get_num(v, S, "ls_init_value", 0, -1e6, 1e6, &m->vis.has_ls);
	get_num(v, S, "patch_dropout", 0, 0, 1, NULL);
	m->no_ln_pre = get_bool(v, S, "no_ln_pre");
	get_bool(v, S, "final_ln_after_pool");
	get_bool(v, S, "output_tokens");
	get_enum(v, S, "pool_type", 0, pools);
	check_kwargs(v, S, quick_gelu);
}

static void
derive_text(json_t *t, int quick_gelu, struct model *m)
{
	static const char *const pools[] = {"first", "last", "argmax", "eos", "none", NULL};
	static const char *const projs[] = {"linear", "none", NULL};
	const char *S = "model_cfg.text_cfg";
	char *p;
	double ratio;

	check_keys(t, S_TEXT, S);
	check_unsupported(t, S, "hf_model_name", "Hugging Face text towers");
	check_unsupported(t, S, "hf_tokenizer_name",
	    "Hugging Face tokenizers (clipsort-mkmodel writes a CLIP BPE vocabulary)");
	m->ctx = get_int(t, S, "context_length", 77, 1, 1 << 16);
	m->vocab = get_int(t, S, "vocab_size", 49408, 1, 1 << 24);
	m->txt.width = get_int(t, S, "width", 512, 1, 65536);
	m->txt.heads = get_int(t, S, "heads", 8, 1, 65536);
	m->txt.layers = get_int(t, S, "layers", 12, 0, 1000);
	if (m->txt.width % m->txt.heads != 0) {
		p = kpath(S, "heads");
		cfg_die(p, "width %ld is not divisible by %ld heads", m->txt.width, m->txt.heads);
	}
	ratio = get_num(t, S, "mlp_ratio", 4.0, 1e-6, 1e6, NULL);
	p = kpath(S, "mlp_ratio");
	m->txt.mlp = mlp_width(m->txt.width, ratio, p);
	free(p);
	m->txt.ls = get_num(t, S, "ls_init_value", 0, -1e6, 1e6, &m->txt.has_ls);
	m->embed_cls = get_bool(t, S, "embed_cls");
	get_int(t, S, "pad_id", 0, 0, m->vocab - 1);
	get_int(t, S, "eos_id", 49407, 0, 1L << 30);
	get_bool(t, S, "no_causal_mask");
	get_bool(t, S, "final_ln_after_pool");
	get_bool(t, S, "output_tokens");
	get_enum(t, S, "pool_type", 2, pools);
	m->proj_none = get_enum(t, S, "proj_type", 0, projs) == 1;
	m->proj_bias = get_bool(t, S, "proj_bias");
	check_kwargs(t, S, quick_gelu);
}

static void
derive_preprocess(json_t *pp)
{
	static const char *const interp[] = {"bicubic", "bilinear", "random", NULL};
	static const char *const modes[] = {"shortest", "longest", "squash", NULL};
	const char *S = "preprocess_cfg";
	const char *names[2] = {"mean", "std"};

	check_keys(pp, S_PRE, S);
	for (int i = 0; i < 2; i++) {
		json_t *a = json_object_get(pp, names[i]);
		char *p;

		if (a == NULL)
			continue;
		p = kpath(S, names[i]);
		if (!json_is_array(a) || json_array_size(a) != 3)
			cfg_die(p, "expected an array of 3 numbers");
		for (size_t j = 0; j < 3; j++) {
			json_t *x = json_array_get(a, j);
			if (!json_is_number(x) || (i == 1 && !(json_number_value(x) > 0)))
				cfg_die(p, i ? "expected 3 positive numbers" : "expected 3 numbers");
		}
		free(p);
	}
	get_enum(pp, S, "interpolation", 0, interp);
	get_enum(pp, S, "resize_mode", 0, modes);
}

static void
derive(json_t *cfg, json_t *pp, struct model *m)
{
	const char *S = "model_cfg";
	json_t *v, *t;
	int quick;

	memset(m, 0, sizeof *m);
	check_keys(cfg, S_TOP, S);
	check_unsupported(cfg, S, "multimodal_cfg", "CoCa models");
	m->embed_dim = get_int(cfg, S, "embed_dim", 0, 1, 65536);
	if (json_object_get(cfg, "embed_dim") == NULL)
		cfg_die("model_cfg.embed_dim", "missing");
	quick = get_bool(cfg, S, "quick_gelu");
	m->custom_text = get_bool(cfg, S, "custom_text");
	m->nonscalar = get_bool(cfg, S, "nonscalar_logit_scale");
	get_bool(cfg, S, "output_dict");
	m->logit_scale = get_num(cfg, S, "init_logit_scale", log(1 / 0.07), -1e3, 1e3, NULL);
	m->logit_bias = get_num(cfg, S, "init_logit_bias", 0, -1e6, 1e6, &m->has_bias);
	v = json_object_get(cfg, "vision_cfg");
	t = json_object_get(cfg, "text_cfg");
	if (v == NULL)
		cfg_die("model_cfg.vision_cfg", "missing");
	if (t == NULL)
		cfg_die("model_cfg.text_cfg", "missing");
	derive_vision(v, quick, m);
	derive_text(t, quick, m);
	if (m->embed_cls && !m->custom_text)
		cfg_die("model_cfg.text_cfg.embed_cls", "needs custom_text: true (OpenCLIP's CLIP class drops "
		    "cls_emb but keeps context_length + 1 positions, so encode_text would fail)");
	derive_preprocess(pp);
}

/* ---- tensors ---------------------------------------------------------------- */

struct tspec {
	char *name;
	int ndim;
	int64_t shape[4];
	float mean, std;        /* value = mean + std * N(0,1); std 0 = constant */
};

struct tlist {
	struct tspec *t;
	size_t n, cap;
};

#define LN_STD 0.05f    /* LayerNorm weight 1 + N(0, LN_STD) */
#define BIAS_STD 0.02f  /* every bias N(0, BIAS_STD) */

static void
add(struct tlist *l, const char *prefix, const char *name, float mean, float std, int ndim, ...)
{
	struct tspec *t;
	va_list ap;

	xgrow(&l->t, &l->cap, l->n + 1, sizeof *l->t);
	t = &l->t[l->n++];
	t->name = xasprintf("%s%s", prefix, name);
	t->ndim = ndim;
	t->mean = mean;
	t->std = std;
	va_start(ap, ndim);
	for (int i = 0; i < ndim; i++)
		t->shape[i] = va_arg(ap, long);
	va_end(ap);
}

static void
add_ln(struct tlist *l, const char *prefix, const char *ln, long width)
{
	char *w = xasprintf("%s.weight", ln), *b = xasprintf("%s.bias", ln);

	add(l, prefix, w, 1, LN_STD, 1, width);
	add(l, prefix, b, 0, BIAS_STD, 1, width);
	free(w);
	free(b);
}

/* OpenCLIP's ResidualAttentionBlock; stds follow CLIP.init_parameters. */
static void
add_blocks(struct tlist *l, const char *prefix, const struct tower *tw)
{
	float w = (float)tw->width, L = (float)(tw->layers > 0 ? tw->layers : 1);
	float attn_std = 1 / sqrtf(w), proj_std = 1 / sqrtf(w) / sqrtf(2 * L), fc_std = 1 / sqrtf(2 * w);

	for (long i = 0; i < tw->layers; i++) {
		char *p = xasprintf("%stransformer.resblocks.%ld.", prefix, i);

		add_ln(l, p, "ln_1", tw->width);
		add(l, p, "attn.in_proj_weight", 0, attn_std, 2, 3 * tw->width, tw->width);
		add(l, p, "attn.in_proj_bias", 0, BIAS_STD, 1, 3 * tw->width);
		add(l, p, "attn.out_proj.weight", 0, proj_std, 2, tw->width, tw->width);
		add(l, p, "attn.out_proj.bias", 0, BIAS_STD, 1, tw->width);
		add_ln(l, p, "ln_2", tw->width);
		add(l, p, "mlp.c_fc.weight", 0, fc_std, 2, tw->mlp, tw->width);
		add(l, p, "mlp.c_fc.bias", 0, BIAS_STD, 1, tw->mlp);
		add(l, p, "mlp.c_proj.weight", 0, proj_std, 2, tw->width, tw->mlp);
		add(l, p, "mlp.c_proj.bias", 0, BIAS_STD, 1, tw->width);
		if (tw->has_ls) { /* LayerScale gamma = ls_init_value (± 10 % so a wrong axis shows) */
			add(l, p, "ls_1.gamma", (float)tw->ls, (float)fabs(tw->ls) * 0.1f, 1, tw->width);
			add(l, p, "ls_2.gamma", (float)tw->ls, (float)fabs(tw->ls) * 0.1f, 1, tw->width);
		}
		free(p);
	}
}

static void
build_tensors(const struct model *m, struct tlist *l)
{
	long W = m->vis.width, T = m->txt.width, E = m->embed_dim;
	const char *tp = m->custom_text ? "text." : "";
	float vscale = 1 / sqrtf((float)W);

	/* VisionTransformer */
	add(l, "visual.", "class_embedding", 0, vscale, 1, W);
	add(l, "visual.", "positional_embedding", 0, vscale, 2, m->grid_h * m->grid_w + 1, W);
	add(l, "visual.", "conv1.weight", 0, 1 / sqrtf((float)(3 * m->patch_h * m->patch_w)), 4,
	    W, 3L, m->patch_h, m->patch_w);
	if (!m->no_ln_pre)
		add_ln(l, "visual.", "ln_pre", W);
	add_blocks(l, "visual.", &m->vis);
	add_ln(l, "visual.", "ln_post", W);
	add(l, "visual.", "proj", 0, vscale, 2, W, E);

	/* TextTransformer (CLIP copies its parts to the top level; CustomTextCLIP keeps "text.") */
	add(l, tp, "token_embedding.weight", 0, 0.02f, 2, m->vocab, T);
	add(l, tp, "positional_embedding", 0, 0.01f, 2, m->ctx + (m->embed_cls ? 1 : 0), T);
	if (m->embed_cls)
		add(l, tp, "cls_emb", 0, 0.01f, 1, T);
	add_blocks(l, tp, &m->txt);
	add_ln(l, tp, "ln_final", T);
	if (!m->proj_none) {
		if (m->proj_bias) {
			add(l, tp, "text_projection.weight", 0, 1 / sqrtf((float)T), 2, E, T);
			add(l, tp, "text_projection.bias", 0, BIAS_STD, 1, E);
		} else {
			add(l, tp, "text_projection", 0, 1 / sqrtf((float)T), 2, T, E);
		}
	}
	if (m->nonscalar)
		add(l, "", "logit_scale", (float)m->logit_scale, 0, 1, 1L);
	else
		add(l, "", "logit_scale", (float)m->logit_scale, 0, 0);
	if (m->has_bias) {
		if (m->nonscalar)
			add(l, "", "logit_bias", (float)m->logit_bias, 0, 1, 1L);
		else
			add(l, "", "logit_bias", (float)m->logit_bias, 0, 0);
	}
}

static int
cmp_spec(const void *a, const void *b)
{
	return strcmp(((const struct tspec *)a)->name, ((const struct tspec *)b)->name);
}

/* ---- random numbers: xoshiro256** seeded per tensor with splitmix64 ----------- */

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t
xoshiro(uint64_t s[4])
{
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

/* Each tensor has its own stream, from the seed and its name, so a tensor's values
 * do not depend on which other tensors the config has. */
static void
seed_stream(uint64_t s[4], uint64_t seed, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
	h ^= seed * 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 4; i++)
		s[i] = splitmix64(&h);
}

/* Approximately N(0,1): the sum of four uniforms (16-bit lanes of one draw), centred
 * and scaled to unit variance (Irwin-Hall, tails cut at ±2√3). */
static inline float
approx_normal(uint64_t r)
{
	int32_t s = (int32_t)(r & 0xffff) + (int32_t)((r >> 16) & 0xffff) +
	    (int32_t)((r >> 32) & 0xffff) + (int32_t)(r >> 48) + 2 - 131072;

	return (float)s * (1.7320508f / 65536.0f);
}

/* ---- Python-compatible JSON output (json.dump(obj, f, indent=2)) --------------- */

struct sbuf {
	char *p;
	size_t n, cap;
};

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	xgrow(&b->p, &b->cap, b->n + n + 1, 1);
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* float.__repr__: the shortest digits that round-trip, fixed notation for
 * decimal exponents in [-4, 16), else d.ddde±XX. */
static void
py_float(char out[40], double v)
{
	char tmp[40], digits[24];
	int prec, exp, nd = 0;
	char *e;

	if (v == 0) {
		strcpy(out, signbit(v) ? "-0.0" : "0.0");
		return;
	}
	for (prec = 0; prec < 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*e", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	e = strchr(tmp, 'e');
	exp = atoi(e + 1);
	for (char *c = tmp; c < e; c++)
		if (*c >= '0' && *c <= '9')
			digits[nd++] = *c;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	{
		char *o = out;

		if (v < 0)
			*o++ = '-';
		if (exp < -4 || exp >= 16) {
			*o++ = digits[0];
			if (nd > 1) {
				*o++ = '.';
				memcpy(o, digits + 1, (size_t)nd - 1);
				o += nd - 1;
			}
			sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
		} else if (exp < 0) {
			*o++ = '0';
			*o++ = '.';
			for (int i = -1; i > exp; i--)
				*o++ = '0';
			memcpy(o, digits, (size_t)nd);
			o[nd] = '\0';
		} else {
			for (int i = 0; i <= exp; i++)
				*o++ = i < nd ? digits[i] : '0';
			*o++ = '.';
			if (nd > exp + 1) {
				memcpy(o, digits + exp + 1, (size_t)(nd - exp - 1));
				o += nd - exp - 1;
			} else {
				*o++ = '0';
			}
			*o = '\0';
		}
	}
}

/* json.dumps string with ensure_ascii=True. */
static void
py_str(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;

	sb_put(b, "\"", 1);
	while (*u) {
		uint32_t cp = *u;
		int len = 1;
		char e[16];

		if (cp >= 0x80) { /* jansson has validated the UTF-8 */
			len = cp >= 0xf0 ? 4 : cp >= 0xe0 ? 3 : 2;
			cp &= len == 4 ? 0x07 : len == 3 ? 0x0f : 0x1f;
			for (int i = 1; i < len; i++)
				cp = (cp << 6) | (u[i] & 0x3f);
		}
		u += len;
		switch (cp) {
		case '"': sb_str(b, "\\\""); continue;
		case '\\': sb_str(b, "\\\\"); continue;
		case '\n': sb_str(b, "\\n"); continue;
		case '\r': sb_str(b, "\\r"); continue;
		case '\t': sb_str(b, "\\t"); continue;
		case '\b': sb_str(b, "\\b"); continue;
		case '\f': sb_str(b, "\\f"); continue;
		default: break;
		}
		if (cp >= 0x20 && cp < 0x7f) {
			char c = (char)cp;
			sb_put(b, &c, 1);
		} else if (cp < 0x10000) {
			snprintf(e, sizeof e, "\\u%c%c%c%c", hex[cp >> 12], hex[(cp >> 8) & 15],
			    hex[(cp >> 4) & 15], hex[cp & 15]);
			sb_str(b, e);
		} else {
			uint32_t v = cp - 0x10000, hi = 0xd800 + (v >> 10), lo = 0xdc00 + (v & 0x3ff);
			snprintf(e, sizeof e, "\\u%04x\\u%04x", (unsigned)hi, (unsigned)lo);
			sb_str(b, e);
		}
	}
	sb_put(b, "\"", 1);
}

static void
py_indent(struct sbuf *b, int level)
{
	sb_put(b, "\n", 1);
	for (int i = 0; i < level; i++)
		sb_put(b, "  ", 2);
}

static void
py_json(struct sbuf *b, json_t *v, int level)
{
	char num[40];
	const char *k;
	json_t *x;
	size_t i;
	int first = 1;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (json_object_size(v) == 0) {
			sb_str(b, "{}");
			break;
		}
		sb_put(b, "{", 1);
		json_object_foreach(v, k, x) {
			if (!first)
				sb_put(b, ",", 1);
			first = 0;
			py_indent(b, level + 1);
			py_str(b, k);
			sb_put(b, ": ", 2);
			py_json(b, x, level + 1);
		}
		py_indent(b, level);
		sb_put(b, "}", 1);
		break;
	case JSON_ARRAY:
		if (json_array_size(v) == 0) {
			sb_str(b, "[]");
			break;
		}
		sb_put(b, "[", 1);
		json_array_foreach(v, i, x) {
			if (i > 0)
				sb_put(b, ",", 1);
			py_indent(b, level + 1);
			py_json(b, x, level + 1);
		}
		py_indent(b, level);
		sb_put(b, "]", 1);
		break;
	case JSON_STRING:
		py_str(b, json_string_value(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		sb_str(b, num);
		break;
	case JSON_REAL:
		py_float(num, json_real_value(v));
		sb_str(b, num);
		break;
	case JSON_TRUE: sb_str(b, "true"); break;
	case JSON_FALSE: sb_str(b, "false"); break;
	case JSON_NULL: sb_str(b, "null"); break;
	}
}
