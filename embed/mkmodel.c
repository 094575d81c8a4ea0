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
#include <stdarg.h>
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
#include "rng.h"
#include "sbuf.h"
#include "strhash.h"
#include "xalloc.h"
#include "safetensors_write.h"
#ifdef CS_HAVE_BPE_TRAIN
#include "bpe_train.h"
#endif

#define DEFAULT_MERGES 500

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-fnv] [--seed N] [--dtype f32 | f16 | bf16] [--preset NAME | --config FILE]\n"
	    "           [--set KEY=VALUE ...] [--vocab-merges N | --vocab-from DIR | --no-vocab] OUT_DIR\n"
	    "       %s --list-presets\n", diag_prog(), diag_prog());
	exit(CS_EXIT_USAGE);
}

/* ---- presets: open_clip's model_configs JSON files, key order kept ---------- */

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

/* ---- random numbers: xoshiro256** (rng.h) seeded per tensor with splitmix64 ----- */

/* Each tensor has its own stream, from the seed and its name, so a tensor's values
 * do not depend on which other tensors the config has. */
static void
seed_stream(uint64_t s[4], uint64_t seed, const char *name)
{
	uint64_t h = cs_strhash_from(CS_FNV64_BASIS, name); /* FNV-1a */

	h ^= seed * 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 4; i++)
		s[i] = cs_splitmix64(&h);
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
py_str(cs_sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;

	cs_sbuf_add(b, "\"", 1);
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
		case '"': cs_sbuf_str(b, "\\\""); continue;
		case '\\': cs_sbuf_str(b, "\\\\"); continue;
		case '\n': cs_sbuf_str(b, "\\n"); continue;
		case '\r': cs_sbuf_str(b, "\\r"); continue;
		case '\t': cs_sbuf_str(b, "\\t"); continue;
		case '\b': cs_sbuf_str(b, "\\b"); continue;
		case '\f': cs_sbuf_str(b, "\\f"); continue;
		default: break;
		}
		if (cp >= 0x20 && cp < 0x7f) {
			char c = (char)cp;
			cs_sbuf_add(b, &c, 1);
		} else if (cp < 0x10000) {
			snprintf(e, sizeof e, "\\u%c%c%c%c", hex[cp >> 12], hex[(cp >> 8) & 15],
			    hex[(cp >> 4) & 15], hex[cp & 15]);
			cs_sbuf_str(b, e);
		} else {
			uint32_t v = cp - 0x10000, hi = 0xd800 + (v >> 10), lo = 0xdc00 + (v & 0x3ff);
			snprintf(e, sizeof e, "\\u%04x\\u%04x", (unsigned)hi, (unsigned)lo);
			cs_sbuf_str(b, e);
		}
	}
	cs_sbuf_add(b, "\"", 1);
}

static void
py_indent(cs_sbuf *b, int level)
{
	cs_sbuf_add(b, "\n", 1);
	for (int i = 0; i < level; i++)
		cs_sbuf_add(b, "  ", 2);
}

static void
py_json(cs_sbuf *b, json_t *v, int level)
{
	char num[40];
	const char *k;
	json_t *x;
	size_t i;
	int first = 1;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (json_object_size(v) == 0) {
			cs_sbuf_str(b, "{}");
			break;
		}
		cs_sbuf_add(b, "{", 1);
		json_object_foreach(v, k, x) {
			if (!first)
				cs_sbuf_add(b, ",", 1);
			first = 0;
			py_indent(b, level + 1);
			py_str(b, k);
			cs_sbuf_add(b, ": ", 2);
			py_json(b, x, level + 1);
		}
		py_indent(b, level);
		cs_sbuf_add(b, "}", 1);
		break;
	case JSON_ARRAY:
		if (json_array_size(v) == 0) {
			cs_sbuf_str(b, "[]");
			break;
		}
		cs_sbuf_add(b, "[", 1);
		json_array_foreach(v, i, x) {
			if (i > 0)
				cs_sbuf_add(b, ",", 1);
			py_indent(b, level + 1);
			py_json(b, x, level + 1);
		}
		py_indent(b, level);
		cs_sbuf_add(b, "]", 1);
		break;
	case JSON_STRING:
		py_str(b, json_string_value(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		cs_sbuf_str(b, num);
		break;
	case JSON_REAL:
		py_float(num, json_real_value(v));
		cs_sbuf_str(b, num);
		break;
	case JSON_TRUE: cs_sbuf_str(b, "true"); break;
	case JSON_FALSE: cs_sbuf_str(b, "false"); break;
	case JSON_NULL: cs_sbuf_str(b, "null"); break;
	}
}

static char *
py_dumps(json_t *v)
{
	cs_sbuf b = {0};

	py_json(&b, v, 0);
	return b.s;
}

/* ---- loading and editing the configuration -------------------------------------- */

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *p = NULL;
	size_t n = 0, cap = 0, r;

	if (fp == NULL)
		cs_die(CS_EXIT_IO, "%s: cannot open:", path);
	do {
		xgrow(&p, &cap, n + 65536, 1);
		r = fread(p + n, 1, cap - n, fp);
		n += r;
	} while (r > 0);
	if (ferror(fp))
		cs_die(CS_EXIT_IO, "%s: read error:", path);
	fclose(fp);
	*len = n;
	return p;
}

static json_t *
parse_json_file(const char *path)
{
	json_error_t err;
	size_t len;
	char *text = slurp(path, &len);
	json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);

	if (v == NULL)
		cs_die(CS_EXIT_DATA, "%s:%d:%d: invalid JSON: %s", path, err.line, err.column, err.text);
	free(text);
	return v;
}

static json_t *
parse_json_text(const char *text, const char *what)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &err);

	if (v == NULL)
		cs_die(CS_EXIT_INTERNAL, "%s: %s", what, err.text);
	return v;
}

/* --config FILE: a hub open_clip_config.json ({"model_cfg", "preprocess_cfg"}) or a
 * bare open_clip model config (a model_configs JSON file). */
static void
load_config(const char *path, json_t **cfg, json_t **pp)
{
	json_t *root = parse_json_file(path), *m;
	const char *k;
	json_t *v;

	if (!json_is_object(root))
		cs_die(CS_EXIT_DATA, "%s: not a JSON object", path);
	if ((m = json_object_get(root, "model_cfg")) != NULL) {
		json_object_foreach(root, k, v)
			if (strcmp(k, "model_cfg") != 0 && strcmp(k, "preprocess_cfg") != 0)
				cs_die(CS_EXIT_DATA, "%s: unknown top-level key '%s' (expected model_cfg, preprocess_cfg)",
				    path, k);
		if (!json_is_object(m))
			cs_die(CS_EXIT_DATA, "%s: model_cfg is not a JSON object", path);
		*cfg = json_incref(m);
		*pp = json_incref(json_object_get(root, "preprocess_cfg"));
		json_decref(root);
	} else {
		*pp = json_incref(json_object_get(root, "preprocess_cfg"));
		json_object_del(root, "preprocess_cfg");
		*cfg = root;
	}
	if (*pp == NULL)
		*pp = parse_json_text(OPENAI_PP, "default preprocess_cfg");
	else if (!json_is_object(*pp))
		cs_die(CS_EXIT_DATA, "%s: preprocess_cfg is not a JSON object", path);
}

static const struct preset *
find_preset(const char *name)
{
	for (size_t i = 0; i < NPRESETS; i++)
		if (strcmp(presets[i].name, name) == 0)
			return &presets[i];
	return NULL;
}

static int
bare_word(const char *s)
{
	if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
		return 0;
	for (; *s; s++)
		if (!(*s == '_' || *s == '-' || *s == '.' || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

/* --set PATH=VALUE: PATH is dotted, relative to model_cfg unless it starts with
 * model_cfg. or preprocess_cfg.; VALUE is JSON, or a bare word taken as a string. */
static void
apply_set(json_t *cfg, json_t *pp, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *path, *comp, *save = NULL, *next;
	json_t *val, *cur;
	enum section sec = S_TOP;
	json_error_t err;
	char where[256] = "model_cfg";

	if (eq == NULL || eq == arg)
		cs_die(CS_EXIT_USAGE, "--set %s: expected KEY=VALUE (e.g. vision_cfg.layers=2)", arg);
	path = xstrndup(arg, (size_t)(eq - arg));
	if (strstr(path, "..") != NULL || path[0] == '.' || eq[-1] == '.')
		cs_die(CS_EXIT_USAGE, "--set %s: bad key path", arg);
	val = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
	if (val == NULL) {
		if (!bare_word(eq + 1))
			cs_die(CS_EXIT_USAGE, "--set %s: value is not JSON (%s); quote strings as '\"text\"'",
			    arg, err.text);
		val = json_string(eq + 1);
	}
	cur = cfg;
	comp = strtok_r(path, ".", &save);
	if (comp != NULL && strcmp(comp, "preprocess_cfg") == 0) {
		cur = pp;
		sec = S_PRE;
		snprintf(where, sizeof where, "preprocess_cfg");
		comp = strtok_r(NULL, ".", &save);
	} else if (comp != NULL && strcmp(comp, "model_cfg") == 0) {
		comp = strtok_r(NULL, ".", &save);
	}
	if (comp == NULL)
		cs_die(CS_EXIT_USAGE, "--set %s: bad key path", arg);
	for (; comp != NULL; comp = next) {
		const struct key *k = NULL;
		json_t *child;

		next = strtok_r(NULL, ".", &save);
		if (sec != S_FREE && (k = find_key(sec, comp)) == NULL)
			cs_die(CS_EXIT_USAGE, "--set %s: unknown key '%s' in %s (not a field of OpenCLIP's %s)",
			    arg, comp, where, sec == S_VISION ? "CLIPVisionCfg" : sec == S_TEXT ? "CLIPTextCfg" :
			    sec == S_PRE ? "PreprocessCfg" : "CLIP model config");
		if (next == NULL) {
			json_object_set_new(cur, comp, val);
			break;
		}
		if (k != NULL && k->sub == S_TOP)
			cs_die(CS_EXIT_USAGE, "--set %s: %s.%s is not an object", arg, where, comp);
		child = json_object_get(cur, comp);
		if (child == NULL || json_is_null(child)) {
			child = json_object();
			json_object_set_new(cur, comp, child);
		} else if (!json_is_object(child)) {
			cs_die(CS_EXIT_USAGE, "--set %s: %s.%s is not an object", arg, where, comp);
		}
		if (k != NULL)
			sec = k->sub;
		strncat(where, ".", sizeof where - strlen(where) - 1);
		strncat(where, comp, sizeof where - strlen(where) - 1);
		cur = child;
	}
	free(path);
}

/* ---- the output directory: built in OUT.tmp.PID, then renamed into place ---------- */

static const char *const out_files[] = {
	"open_clip_config.json", "open_clip_model.safetensors", "vocab.json", "merges.txt",
	"tokenizer_config.json", "special_tokens_map.json", "README.md",
};
#define NOUT (sizeof out_files / sizeof out_files[0])

static char *g_tmp;             /* the temporary directory while it is ours */
static char *g_tmp_files[NOUT];

/* Async-signal-safe: unlink and rmdir only. */
static void
remove_tmp(void)
{
	if (g_tmp == NULL)
		return;
	for (size_t i = 0; i < NOUT; i++)
		unlink(g_tmp_files[i]);
	rmdir(g_tmp);
}

static void remove_old(const char *dir);

/* At exit (after cs_die): remove everything in the temporary directory. */
static void
remove_tmp_all(void)
{
	if (g_tmp == NULL)
		return;
	remove_tmp();
	if (access(g_tmp, F_OK) == 0)
		remove_old(g_tmp);
}

static void
on_signal(int sig)
{
	remove_tmp();
	signal(sig, SIG_DFL);
	raise(sig);
}

static char *
join(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static void
write_all(int fd, const char *path, const void *data, size_t n)
{
	const char *p = data;

	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			cs_die(CS_EXIT_IO, "%s: write error:", path);
		}
		p += r;
		n -= (size_t)r;
	}
}

static void
write_file(const char *dir, const char *name, const void *data, size_t n)
{
	char *path = join(dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);

	if (fd < 0)
		cs_die(CS_EXIT_IO, "%s: cannot create:", path);
	write_all(fd, path, data, n);
	if (fsync(fd) != 0 || close(fd) != 0)
		cs_die(CS_EXIT_IO, "%s: write error:", path);
	free(path);
}

static void
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd < 0 || fsync(fd) != 0)
		cs_die(CS_EXIT_IO, "%s: cannot sync:", dir);
	close(fd);
}

/* -f replaces OUT only when it is a model directory (it holds open_clip_config.json)
 * or empty, and holds plain files only: nothing else is ever deleted. */
static void
check_replaceable(const char *out)
{
	DIR *d = opendir(out);
	struct dirent *e;
	int n = 0, model = 0;

	if (d == NULL)
		cs_die(CS_EXIT_IO, "%s: exists and is not a directory; not replacing it", out);
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char *p;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		p = join(out, e->d_name);
		if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode))
			cs_die(CS_EXIT_IO, "%s: holds %s, which is not a plain file; not replacing it", out, e->d_name);
		free(p);
		n++;
		if (strcmp(e->d_name, "open_clip_config.json") == 0)
			model = 1;
	}
	closedir(d);
	if (n > 0 && !model)
		cs_die(CS_EXIT_IO, "%s: not a model directory (no open_clip_config.json); not replacing it", out);
}

static void
remove_old(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL) {
		cs_warn("%s: cannot remove the replaced model:", dir);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char *p;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		p = join(dir, e->d_name);
		if (unlink(p) != 0)
			cs_warn("%s: cannot remove:", p);
		free(p);
	}
	closedir(d);
	if (rmdir(dir) != 0)
		cs_warn("%s: cannot remove:", dir);
}

static char *
parent_dir(const char *path)
{
	const char *s = strrchr(path, '/');

	if (s == NULL)
		return xstrdup(".");
	if (s == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(s - path));
}

/* Move the finished tmp directory to out (swapping atomically with an old one). */
static void
commit_dir(const char *tmp, const char *out, int exists)
{
	char *parent = parent_dir(out);

	fsync_dir(tmp);
	if (!exists) {
		if (rename(tmp, out) != 0)
			cs_die(CS_EXIT_IO, "%s: cannot rename to %s:", tmp, out);
	} else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_EXCHANGE) == 0) {
		g_tmp = NULL;  /* tmp now names the old model */
		remove_old(tmp);
	} else if (errno == EINVAL || errno == ENOSYS) {
		char *old = xasprintf("%s.old.%ld", out, (long)getpid());

		if (rename(out, old) != 0)
			cs_die(CS_EXIT_IO, "%s: cannot rename to %s:", out, old);
		if (rename(tmp, out) != 0) {
			int saved = errno;
			rename(old, out);
			errno = saved;
			cs_die(CS_EXIT_IO, "%s: cannot rename to %s:", tmp, out);
		}
		remove_old(old);
		free(old);
	} else {
		cs_die(CS_EXIT_IO, "%s: cannot replace %s:", tmp, out);
	}
	g_tmp = NULL;
	fsync_dir(parent);
	free(parent);
}

/* ---- writing the files ------------------------------------------------------------ */

#define CHUNK 65536

static uint64_t
write_weights(const char *dir, struct tlist *l, enum stw_dtype dt, uint64_t seed)
{
	static float buf[CHUNK];
	static stw_writer *w;   /* static: still reachable if an error exits */
	char *path = join(dir, "open_clip_model.safetensors");
	FILE *fp;
	const char *name;
	uint64_t numel, size;
	int i;

	if ((w = stw_new()) == NULL)
		cs_die(CS_EXIT_IO, "out of memory");
	if ((fp = fopen(path, "wbx")) == NULL)
		cs_die(CS_EXIT_IO, "%s: cannot create:", path);
	setvbuf(fp, NULL, _IOFBF, 1 << 20);
	for (size_t j = 0; j < l->n; j++)
		if (stw_add(w, l->t[j].name, dt, l->t[j].ndim, l->t[j].shape) != 0)
			cs_die(CS_EXIT_INTERNAL, "%s: %s", path, stw_errmsg(w));
	qsort(l->t, l->n, sizeof *l->t, cmp_spec); /* one dtype: the writer's order is by name */
	if (stw_begin(w, fp) != 0)
		cs_die(CS_EXIT_IO, "%s: %s", path, stw_errmsg(w));
	while ((i = stw_next(w, &name, NULL, &numel)) >= 0) {
		const struct tspec *t = &l->t[i];
		uint64_t s[4];

		if (strcmp(t->name, name) != 0)
			cs_die(CS_EXIT_INTERNAL, "tensor order mismatch: %s / %s", t->name, name);
		seed_stream(s, seed, name);
		for (uint64_t done = 0; done < numel;) {
			size_t k = numel - done < CHUNK ? (size_t)(numel - done) : CHUNK;

			if (t->std == 0) {
				for (size_t j = 0; j < k; j++)
					buf[j] = t->mean;
			} else {
				for (size_t j = 0; j < k; j++)
					buf[j] = t->mean + t->std * approx_normal(cs_xoshiro256ss(s));
			}
			if (stw_write_f32(w, buf, k) != 0)
				cs_die(CS_EXIT_IO, "%s: %s:", path, stw_errmsg(w));
			done += k;
		}
	}
	if (stw_finish(w) != 0)
		cs_die(CS_EXIT_IO, "%s: %s:", path, stw_errmsg(w));
	size = stw_file_size(w);
	if (fsync(fileno(fp)) != 0)
		cs_die(CS_EXIT_IO, "%s: write error:", path);
	if (cs_fclose_checked(fp, path) != 0)
		exit(CS_EXIT_IO);
	stw_free(w);
	w = NULL;
	free(path);
	return size;
}

static const char tok_special[] =
	"{\"bos_token\": {\"content\": \"<|startoftext|>\", \"single_word\": false, \"lstrip\": false, "
	"\"rstrip\": false, \"normalized\": true}, \"eos_token\": {\"content\": \"<|endoftext|>\", "
	"\"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": true}, "
	"\"unk_token\": {\"content\": \"<|endoftext|>\", \"single_word\": false, \"lstrip\": false, "
	"\"rstrip\": false, \"normalized\": true}, \"pad_token\": \"<|endoftext|>\"}";

static void
write_tokenizer_meta(const char *dir, const char *model_name, long ctx)
{
	cs_sbuf b = {0};
	char num[32];

	cs_sbuf_str(&b, "{\"errors\": \"replace\", \"unk_token\": {\"content\": \"<|endoftext|>\", \"single_word\": false, "
	    "\"lstrip\": false, \"rstrip\": false, \"normalized\": true, \"__type\": \"AddedToken\"}, "
	    "\"bos_token\": {\"content\": \"<|startoftext|>\", \"single_word\": false, \"lstrip\": false, "
	    "\"rstrip\": false, \"normalized\": true, \"__type\": \"AddedToken\"}, \"eos_token\": {\"content\": "
	    "\"<|endoftext|>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": true, "
	    "\"__type\": \"AddedToken\"}, \"pad_token\": \"<|endoftext|>\", \"add_prefix_space\": false, "
	    "\"do_lower_case\": true, \"model_max_length\": ");
	snprintf(num, sizeof num, "%ld", ctx);
	cs_sbuf_str(&b, num);
	cs_sbuf_str(&b, ", \"name_or_path\": ");
	py_str(&b, model_name);
	cs_sbuf_str(&b, ", \"special_tokens_map_file\": \"./special_tokens_map.json\", \"tokenizer_class\": \"CLIPTokenizer\"}");
	write_file(dir, "tokenizer_config.json", b.s, b.len);
	write_file(dir, "special_tokens_map.json", tok_special, sizeof tok_special - 1);
	free(b.s);
}

static void
write_card(const char *dir, const char *model_name, const char *source, const char *dtype, uint64_t seed,
    const char *vocab)
{
	char *card = xasprintf(
	    "---\ntags:\n- clip\nlibrary_name: open_clip\npipeline_tag: zero-shot-image-classification\n"
	    "license: mit\n---\n# Model card for %s\n\n"
	    "RANDOM WEIGHTS: this model was generated by clipsort-mkmodel (%s, seed %llu, dtype %s) and was "
	    "never trained. Its embeddings mean nothing; it exists to test, demonstrate and benchmark "
	    "software that loads OpenCLIP models.\n\n"
	    "%s\n",
	    model_name, source, (unsigned long long)seed, dtype, vocab);

	write_file(dir, "README.md", card, strlen(card));
	free(card);
}

/* Count the tokens of a vocab.json and return the largest id + 1. */
static long
vocab_json_size(const char *path)
{
	json_t *v = parse_json_file(path);
	const char *k;
	json_t *x;
	long long maxid = -1;

	if (!json_is_object(v))
		cs_die(CS_EXIT_DATA, "%s: not a JSON object", path);
	json_object_foreach(v, k, x) {
		if (!json_is_integer(x) || json_integer_value(x) < 0)
			cs_die(CS_EXIT_DATA, "%s: token '%s': id is not a non-negative integer", path, k);
		if (json_integer_value(x) > maxid)
			maxid = json_integer_value(x);
	}
	if (json_object_get(v, "<|endoftext|>") == NULL || json_object_get(v, "<|startoftext|>") == NULL)
		cs_die(CS_EXIT_DATA, "%s: no <|startoftext|> / <|endoftext|> tokens", path);
	json_decref(v);
	return (long)(maxid + 1);
}

static void
copy_file(const char *from_dir, const char *to_dir, const char *name)
{
	char *src = join(from_dir, name);
	size_t n;
	char *data = slurp(src, &n);

	write_file(to_dir, name, data, n);
	free(data);
	free(src);
}

/* ---- main --------------------------------------------------------------------- */

struct opts {
	int force, verbose, no_vocab, dry_run;
	uint64_t seed;
	enum stw_dtype dtype;
	const char *dtype_name, *preset, *config, *vocab_from;
	long merges;
	char **sets;
	size_t nsets, capsets;
};

static void
list_presets(void)
{
	for (size_t i = 0; i < NPRESETS; i++)
		printf("%s\t%s\n", presets[i].name, presets[i].about);
	cs_fshut(stdout, "<stdout>");
	exit(CS_EXIT_OK);
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_SEED = 256, O_DTYPE, O_PRESET, O_CONFIG, O_SET, O_MERGES, O_VFROM, O_NOVOCAB, O_LIST };
	static const struct option lo[] = {
		{"seed", required_argument, NULL, O_SEED}, {"dtype", required_argument, NULL, O_DTYPE},
		{"preset", required_argument, NULL, O_PRESET}, {"config", required_argument, NULL, O_CONFIG},
		{"set", required_argument, NULL, O_SET}, {"vocab-merges", required_argument, NULL, O_MERGES},
		{"vocab-from", required_argument, NULL, O_VFROM}, {"no-vocab", no_argument, NULL, O_NOVOCAB},
		{"list-presets", no_argument, NULL, O_LIST}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int c, nv = 0;

	memset(o, 0, sizeof *o);
	o->dtype = STW_F32;
	o->dtype_name = "f32";
	o->merges = -1;
	while ((c = getopt_long(argc, argv, "fnvh", lo, NULL)) != -1) {
		switch (c) {
		case 'f': o->force = 1; break;
		case 'n': o->dry_run = 1; break;
		case 'v': o->verbose = 1; break;
		case O_SEED: o->seed = (uint64_t)num_arg_ll("--seed", optarg, 0, INT64_MAX); break;
		case O_DTYPE:
			if (strcasecmp(optarg, "f32") == 0)
				o->dtype = STW_F32;
			else if (strcasecmp(optarg, "f16") == 0)
				o->dtype = STW_F16;
			else if (strcasecmp(optarg, "bf16") == 0)
				o->dtype = STW_BF16;
			else
				cs_die(CS_EXIT_USAGE, "--dtype: %s: expected f32, f16 or bf16", optarg);
			o->dtype_name = optarg;
			break;
		case O_PRESET: o->preset = optarg; break;
		case O_CONFIG: o->config = optarg; break;
		case O_SET:
			xgrow(&o->sets, &o->capsets, o->nsets + 1, sizeof *o->sets);
			o->sets[o->nsets++] = optarg;
			break;
		case O_MERGES: o->merges = (long)num_arg_ll("--vocab-merges", optarg, 0, 1000000); nv++; break;
		case O_VFROM: o->vocab_from = optarg; nv++; break;
		case O_NOVOCAB: o->no_vocab = 1; nv++; break;
		case O_LIST: list_presets(); break;
		default: usage();
		}
	}
	if (argc - optind != 1)
		usage();
	if (o->preset && o->config)
		cs_die(CS_EXIT_USAGE, "--preset and --config exclude each other");
	if (nv > 1)
		cs_die(CS_EXIT_USAGE, "--vocab-merges, --vocab-from and --no-vocab exclude each other");
	if (o->merges < 0)
		o->merges = DEFAULT_MERGES;
}

/* -n: the state dict's tensors in file order as TSV (name, dtype, shape), nothing written. */
static _Noreturn void
dry_run(struct tlist *l, enum stw_dtype dt)
{
	qsort(l->t, l->n, sizeof *l->t, cmp_spec);
	printf("name\tdtype\tshape\n");
	for (size_t i = 0; i < l->n; i++) {
		printf("%s\t%s\t", l->t[i].name, stw_dtype_name(dt));
		for (int d = 0; d < l->t[i].ndim; d++)
			printf(d ? ",%lld" : "%lld", (long long)l->t[i].shape[d]);
		putchar('\n');
	}
	cs_fshut(stdout, "<stdout>");
	exit(CS_EXIT_OK);
}

/* Tokens of the vocabulary the model will ship, or 0 with --no-vocab. */
static long
plan_vocab(const struct opts *o)
{
	if (o->no_vocab)
		return 0;
	if (o->vocab_from) {
		char *p = join(o->vocab_from, "vocab.json"), *q = join(o->vocab_from, "merges.txt");
		long n;

		if (access(q, R_OK) != 0)
			cs_die(CS_EXIT_IO, "%s: cannot read:", q);
		n = vocab_json_size(p);
		free(p);
		free(q);
		return n;
	}
#ifdef CS_HAVE_BPE_TRAIN
	return 512 + o->merges + 2;
#else
	cs_die(CS_EXIT_USAGE, "this build has no vocabulary generator (embed/bpe_train.c); "
	    "use --vocab-from DIR (a model directory's vocab.json + merges.txt) or --no-vocab");
#endif
}

static void
write_vocab(const struct opts *o, const char *dir)
{
	if (o->vocab_from) {
		copy_file(o->vocab_from, dir, "vocab.json");
		copy_file(o->vocab_from, dir, "merges.txt");
		return;
	}
#ifdef CS_HAVE_BPE_TRAIN
	{
		char err[256];

		if (bpe_train_write(bpe_train_corpus, bpe_train_corpus_len, (size_t)o->merges, dir, err,
		    sizeof err) != 0)
			cs_die(CS_EXIT_IO, "%s: vocabulary: %s", dir, err);
	}
#endif
}

int
main(int argc, char **argv)
{
	struct opts o;
	json_t *cfg, *pp, *hub;
	struct model m;
	struct tlist tl = {0};
	struct stat st;
	char *out, *tmp, *cfgtext, *source, *vocab_note;
	const char *base;
	long ntok;
	int exists;
	uint64_t bytes, nparam = 0;
	struct timespec t0, t1;

	diag_init(argv[0]);
	parse_args(argc, argv, &o);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	if (o.config) {
		load_config(o.config, &cfg, &pp);
		source = xasprintf("config %s", o.config);
	} else {
		const struct preset *p = find_preset(o.preset ? o.preset : "tiny");

		if (p == NULL)
			cs_die(CS_EXIT_USAGE, "--preset %s: unknown preset (--list-presets lists them)", o.preset);
		cfg = parse_json_text(p->model_cfg, p->name);
		pp = parse_json_text(p->preprocess_cfg, p->name);
		source = xasprintf("preset %s", p->name);
	}
	for (size_t i = 0; i < o.nsets; i++)
		apply_set(cfg, pp, o.sets[i]);
	derive(cfg, pp, &m);
	build_tensors(&m, &tl);
	if (o.dry_run)
		dry_run(&tl, o.dtype);
	ntok = plan_vocab(&o);
	if (ntok > m.vocab)
		cs_die(CS_EXIT_USAGE, "model_cfg.text_cfg.vocab_size %ld is smaller than the vocabulary (%ld tokens); "
		    "raise it (--set text_cfg.vocab_size=%ld) or use fewer --vocab-merges", m.vocab, ntok, ntok);
	for (size_t i = 0; i < tl.n; i++) {
		uint64_t k = 1;
		for (int d = 0; d < tl.t[i].ndim; d++)
			k *= (uint64_t)tl.t[i].shape[d];
		nparam += k;
	}

	out = xstrdup(argv[optind]);
	for (size_t n = strlen(out); n > 1 && out[n - 1] == '/'; n--)
		out[n - 1] = '\0';
	base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
	exists = lstat(out, &st) == 0;
	if (exists && !o.force)
		cs_die(CS_EXIT_IO, "%s: exists (-f replaces a model directory)", out);
	if (exists && S_ISLNK(st.st_mode))
		cs_die(CS_EXIT_IO, "%s: is a symbolic link; not replacing it", out);
	if (exists)
		check_replaceable(out);

	tmp = xasprintf("%s.tmp.%ld", out, (long)getpid());
	for (size_t i = 0; i < NOUT; i++)
		g_tmp_files[i] = join(tmp, out_files[i]);
	if (mkdir(tmp, 0777) != 0)
		cs_die(CS_EXIT_IO, "%s: cannot create:", tmp);
	g_tmp = tmp;
	atexit(remove_tmp_all);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	hub = json_pack("{sOsO}", "model_cfg", cfg, "preprocess_cfg", pp);
	cfgtext = py_dumps(hub);
	write_file(g_tmp, "open_clip_config.json", cfgtext, strlen(cfgtext));
	bytes = write_weights(g_tmp, &tl, o.dtype, o.seed);
	if (ntok > 0) {
		write_vocab(&o, g_tmp);
		write_tokenizer_meta(g_tmp, base, m.ctx);
	}
	vocab_note = ntok == 0 ? xstrdup("No tokenizer files were written (--no-vocab).") :
	    o.vocab_from ? xasprintf("The tokenizer files (vocab.json, merges.txt) are copies of %s's.", o.vocab_from) :
	    xasprintf("The tokenizer files (vocab.json, merges.txt) hold a small generated BPE vocabulary "
	    "(%ld merges, %ld tokens), not OpenAI's CLIP vocabulary.", o.merges, ntok);
	write_card(g_tmp, base, source, stw_dtype_name(o.dtype), o.seed, vocab_note);
	free(vocab_note);
	commit_dir(tmp, out, exists);
	free(tmp);
	for (size_t i = 0; i < NOUT; i++)
		free(g_tmp_files[i]);

	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (o.verbose)
		cs_warn("%s: %zu tensors, %llu parameters, %llu bytes of weights (%s), %.2f s", out, tl.n,
		    (unsigned long long)nparam, (unsigned long long)bytes, stw_dtype_name(o.dtype),
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	for (size_t i = 0; i < tl.n; i++)
		free(tl.t[i].name);
	free(tl.t);
	free(cfgtext);
	free(source);
	free(out);
	free(o.sets);
	json_decref(hub);
	json_decref(cfg);
	json_decref(pp);
	return CS_EXIT_OK;
}
