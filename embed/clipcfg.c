/* clipcfg.c — see clipcfg.h.  Every key of model_cfg, vision_cfg and text_cfg is
 * either honoured, known to be irrelevant at inference, or refused by name. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clip.h"
#include "clipcfg.h"

typedef struct ctx {
	const char *name;
	char *err;
	size_t errlen;
} ctx;

static int fail(ctx *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ctx *c, int status, const char *fmt, ...)
{
	va_list ap;
	size_t o;
	if (!c->err || !c->errlen)
		return status;
	o = (size_t)snprintf(c->err, c->errlen, "%s: ", c->name);
	if (o < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + o, c->errlen - o, fmt, ap);
		va_end(ap);
	}
	return status;
}

/* Keys with no effect on inference output, accepted whatever their value. */
static const char *const ignored_keys[] = {
	"patch_dropout", "output_tokens", "attn_pooler_queries", "attn_pooler_heads",
	"timm_model_pretrained", "timm_pool", "timm_proj", "timm_proj_bias", "timm_drop", "timm_drop_path",
	"hf_tokenizer_name", "tokenizer_kwargs", "tokenizer_mode", "pad_id", "hf_model_pretrained",
	"hf_proj_type", "hf_pooler_type", "correct_cls_mask", "image_mean", "image_std",
	"image_interpolation", "image_resize_mode", "cast_dtype", "init_logit_scale", "output_dict",
	"freeze_logit_scale", NULL
};

/* Options that change the graph in ways this engine does not implement: accepted only
 * when absent, null, false, 0, "" or the default string given. */
static const struct { const char *key, *dflt; } off_keys[] = {
	{"timm_model_name", NULL}, {"hf_model_name", NULL}, {"attentional_pool", NULL},
	{"embed_cls", NULL}, {"input_patchnorm", NULL}, {"global_average_pool", NULL},
	{"ln_post_emb", NULL}, {"nonscalar_logit_scale", NULL}, {"block_type", NULL},
	{"qk_norm", NULL}, {"scaled_cosine_attn", NULL}, {"scale_heads", NULL},
	{"scale_attn_inner", NULL}, {"scale_attn", NULL}, {"scale_fc", NULL},
	{"proj_type", "linear"}, {"multimodal_cfg", NULL},
	{NULL, NULL}
};

static int is_off(json_t *v, const char *dflt)
{
	if (json_is_null(v) || json_is_false(v))
		return 1;
	if (json_is_integer(v))
		return json_integer_value(v) == 0;
	if (json_is_string(v))
		return !*json_string_value(v) || (dflt && !strcmp(json_string_value(v), dflt));
	return 0;
}

/* Refuse keys of obj (in section sect) not in `known`, ignored_keys or off_keys;
 * refuse off_keys that are on. */
static int check_keys(ctx *c, json_t *obj, const char *sect, const char *const *known)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		int ok = 0;
		for (const char *const *k = known; *k && !ok; k++)
			ok = !strcmp(key, *k);
		for (const char *const *k = ignored_keys; *k && !ok; k++)
			ok = !strcmp(key, *k);
		for (int i = 0; off_keys[i].key && !ok; i++)
			if (!strcmp(key, off_keys[i].key)) {
				if (!is_off(v, off_keys[i].dflt))
					return fail(c, CS_EUNSUPPORTED, "%s.%s: option not supported by this engine", sect, key);
				ok = 1;
			}
		if (!ok)
			return fail(c, CS_EUNSUPPORTED, "%s.%s: unknown option (not supported by this engine)", sect, key);
	}
	return 0;
}

static int get_int(ctx *c, json_t *obj, const char *sect, const char *key, int dflt, int min, int max, int *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (json_is_array(v) && json_array_size(v) == 2 && json_is_integer(json_array_get(v, 0)) &&
	    json_equal(json_array_get(v, 0), json_array_get(v, 1)))
		v = json_array_get(v, 0); /* (n, n): square */
	else if (json_is_array(v))
		return fail(c, CS_EUNSUPPORTED, "%s.%s: only a single integer or a square (n, n) pair is supported", sect, key);
	if (!json_is_integer(v))
		return fail(c, CS_EMODEL_FORMAT, "%s.%s: expected an integer", sect, key);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(c, CS_EMODEL_FORMAT, "%s.%s: %lld out of range [%d, %d]", sect, key,
		            (long long)json_integer_value(v), min, max);
	*out = (int)json_integer_value(v);
	return 0;
}

static int get_num(ctx *c, json_t *obj, const char *sect, const char *key, double dflt, double min, double max, double *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (!json_is_number(v))
		return fail(c, CS_EMODEL_FORMAT, "%s.%s: expected a number", sect, key);
	*out = json_number_value(v);
	if (!(*out >= min && *out <= max))
		return fail(c, CS_EMODEL_FORMAT, "%s.%s: %g out of range [%g, %g]", sect, key, *out, min, max);
	return 0;
}

static int get_bool(ctx *c, json_t *obj, const char *sect, const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);
	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v) && !json_is_integer(v))
		return fail(c, CS_EMODEL_FORMAT, "%s.%s: expected true or false", sect, key);
	*out = json_is_true(v) || (json_is_integer(v) && json_integer_value(v) != 0);
	return 0;
}

/* act_kwargs / norm_kwargs */
static int get_act_norm(ctx *c, json_t *tower, const char *sect, int quick, int *act, double *eps)
{
	json_t *a = json_object_get(tower, "act_kwargs"), *n = json_object_get(tower, "norm_kwargs");
	const char *key;
	json_t *v;

	*act = quick ? CLIP_ACT_QUICK_GELU : CLIP_ACT_GELU;
	*eps = 1e-5;
	if (a && !json_is_null(a)) {
		if (!json_is_object(a))
			return fail(c, CS_EMODEL_FORMAT, "%s.act_kwargs: expected an object", sect);
		json_object_foreach(a, key, v) {
			if (strcmp(key, "approximate") || quick || !json_is_string(v) ||
			    (strcmp(json_string_value(v), "tanh") && strcmp(json_string_value(v), "none")))
				return fail(c, CS_EUNSUPPORTED, "%s.act_kwargs.%s: not supported (only GELU's approximate: \"tanh\"|\"none\")",
				            sect, key);
			if (!strcmp(json_string_value(v), "tanh"))
				*act = CLIP_ACT_GELU_TANH;
		}
	}
	if (n && !json_is_null(n)) {
		if (!json_is_object(n))
			return fail(c, CS_EMODEL_FORMAT, "%s.norm_kwargs: expected an object", sect);
		json_object_foreach(n, key, v) {
			if (!strcmp(key, "eps")) {
				if (!json_is_number(v) || !(json_number_value(v) > 0 && json_number_value(v) < 1))
					return fail(c, CS_EMODEL_FORMAT, "%s.norm_kwargs.eps: expected a number in (0, 1)", sect);
				*eps = json_number_value(v);
			} else if (!(!strcmp(key, "elementwise_affine") && json_is_true(v))) {
				return fail(c, CS_EUNSUPPORTED, "%s.norm_kwargs.%s: not supported (only eps)", sect, key);
			}
		}
	}
	return 0;
}

static int get_ls(ctx *c, json_t *tower, const char *sect, int *has)
{
	json_t *v = json_object_get(tower, "ls_init_value");
	*has = v && !json_is_null(v);
	if (*has && !json_is_number(v))
		return fail(c, CS_EMODEL_FORMAT, "%s.ls_init_value: expected a number or null", sect);
	return 0;
}

static int mlp_width(ctx *c, const char *sect, int width, double ratio, int *out)
{
	double h = (double)width * ratio;  /* int(width * mlp_ratio), as OpenCLIP */
	if (!(h >= 1 && h < 1e7))
		return fail(c, CS_EMODEL_FORMAT, "%s.mlp_ratio: %g gives no usable MLP width", sect, ratio);
	*out = (int)h;
	return 0;
}

static int parse_vision(ctx *c, json_t *v, int quick, clip_vision_cfg *o)
{
	static const char *const known[] = {"layers", "width", "head_width", "mlp_ratio", "patch_size", "image_size",
		"ls_init_value", "no_ln_pre", "pool_type", "final_ln_after_pool", "act_kwargs", "norm_kwargs",
		"pos_embed_type", NULL};
	const char *s = "model_cfg.vision_cfg";
	json_t *p;
	int rc;

	if (json_is_array(json_object_get(v, "layers")))
		return fail(c, CS_EUNSUPPORTED, "%s.layers: a list (ModifiedResNet image tower) is not supported", s);
	if ((rc = check_keys(c, v, s, known)) ||
	    (rc = get_int(c, v, s, "layers", 12, 1, 1000, &o->layers)) ||
	    (rc = get_int(c, v, s, "width", 768, 1, 1 << 16, &o->width)) ||
	    (rc = get_int(c, v, s, "head_width", 64, 1, 1 << 16, &o->head_width)) ||
	    (rc = get_num(c, v, s, "mlp_ratio", 4.0, 0, 1e4, &o->mlp_ratio)) ||
	    (rc = get_int(c, v, s, "patch_size", 16, 1, 4096, &o->patch_size)) ||
	    (rc = get_int(c, v, s, "image_size", 224, 1, 16384, &o->image_size)) ||
	    (rc = get_ls(c, v, s, &o->has_ls)) ||
	    (rc = get_bool(c, v, s, "no_ln_pre", &o->no_ln_pre)) ||
	    (rc = get_bool(c, v, s, "final_ln_after_pool", &o->final_ln_after_pool)) ||
	    (rc = get_act_norm(c, v, s, quick, &o->act, &o->ln_eps)) ||
	    (rc = mlp_width(c, s, o->width, o->mlp_ratio, &o->mlp_width)))
		return rc;
	o->heads = o->width / o->head_width;
	if (o->heads < 1 || o->width % o->heads)
		return fail(c, CS_EMODEL_FORMAT, "%s: width %d is not divisible into width/head_width = %d heads",
		            s, o->width, o->heads);
	if (o->image_size % o->patch_size)
		return fail(c, CS_EUNSUPPORTED, "%s: image_size %d is not a multiple of patch_size %d",
		            s, o->image_size, o->patch_size);
	/* sin_cos_2d embeddings are a frozen Parameter: in the state dict like learnable ones */
	p = json_object_get(v, "pos_embed_type");
	if (p && !json_is_null(p) && !(json_is_string(p) && (!strcmp(json_string_value(p), "learnable") ||
	                                                     !strcmp(json_string_value(p), "sin_cos_2d"))))
		return fail(c, CS_EUNSUPPORTED, "%s.pos_embed_type: only \"learnable\" and \"sin_cos_2d\" are supported", s);
	o->pool = CLIP_POOL_TOK;
	p = json_object_get(v, "pool_type");
	if (p && !json_is_null(p)) {
		if (json_is_string(p) && !strcmp(json_string_value(p), "tok"))
			o->pool = CLIP_POOL_TOK;
		else if (json_is_string(p) && !strcmp(json_string_value(p), "avg"))
			o->pool = CLIP_POOL_AVG;
		else
			return fail(c, CS_EUNSUPPORTED, "%s.pool_type: only \"tok\" and \"avg\" are supported", s);
	}
	return 0;
}

static int parse_text(ctx *c, json_t *t, int quick, clip_text_cfg *o)
{
	static const char *const known[] = {"context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio",
		"ls_init_value", "no_causal_mask", "use_pad_mask", "final_ln_after_pool", "pool_type", "proj_bias",
		"eos_id", "act_kwargs", "norm_kwargs", NULL};
	static const struct { const char *name; int pool; } pools[] = {
		{"argmax", CLIP_POOL_ARGMAX}, {"eos", CLIP_POOL_EOS}, {"last", CLIP_POOL_LAST}, {"first", CLIP_POOL_FIRST}};
	const char *s = "model_cfg.text_cfg";
	int rc, nocausal, padmask, flap;
	json_t *p;

	if ((rc = check_keys(c, t, s, known)) ||
	    (rc = get_int(c, t, s, "context_length", 77, 1, 1 << 16, &o->context_length)) ||
	    (rc = get_int(c, t, s, "vocab_size", 49408, 1, 1 << 30, &o->vocab_size)) ||
	    (rc = get_int(c, t, s, "width", 512, 1, 1 << 16, &o->width)) ||
	    (rc = get_int(c, t, s, "heads", 8, 1, 1 << 12, &o->heads)) ||
	    (rc = get_int(c, t, s, "layers", 12, 1, 1000, &o->layers)) ||
	    (rc = get_num(c, t, s, "mlp_ratio", 4.0, 0, 1e4, &o->mlp_ratio)) ||
	    (rc = get_ls(c, t, s, &o->has_ls)) ||
	    (rc = get_bool(c, t, s, "no_causal_mask", &nocausal)) ||
	    (rc = get_bool(c, t, s, "use_pad_mask", &padmask)) ||
	    (rc = get_bool(c, t, s, "final_ln_after_pool", &flap)) ||
	    (rc = get_bool(c, t, s, "proj_bias", &o->proj_bias)) ||
	    (rc = get_int(c, t, s, "eos_id", 2, 0, 1 << 30, &o->eos_id)) ||
	    (rc = get_act_norm(c, t, s, quick, &o->act, &o->ln_eps)) ||
	    (rc = mlp_width(c, s, o->width, o->mlp_ratio, &o->mlp_width)))
		return rc;
	o->causal = !nocausal;
	if (padmask && nocausal) /* OpenCLIP applies the pad mask only without the causal mask */
		return fail(c, CS_EUNSUPPORTED, "%s.use_pad_mask: padding mask not supported", s);
	if (o->width % o->heads)
		return fail(c, CS_EMODEL_FORMAT, "%s: width %d is not divisible by heads %d", s, o->width, o->heads);
	o->pool = CLIP_POOL_ARGMAX;
	p = json_object_get(t, "pool_type");
	if (p && !json_is_null(p)) {
		o->pool = -1;
		for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++)
			if (json_is_string(p) && !strcmp(json_string_value(p), pools[i].name))
				o->pool = pools[i].pool;
		if (o->pool < 0)
			return fail(c, CS_EUNSUPPORTED, "%s.pool_type: only argmax, eos, last and first are supported", s);
	}
	return 0;
}

static int get_triple(ctx *c, json_t *pp, const char *key, const float dflt[3], float out[3])
{
	json_t *v = json_object_get(pp, key);
	memcpy(out, dflt, 3 * sizeof *out);
	if (!v || json_is_null(v))
		return 0;
	if (json_is_number(v)) { /* a scalar applies to all channels */
		out[0] = out[1] = out[2] = (float)json_number_value(v);
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) != 3)
		return fail(c, CS_EMODEL_FORMAT, "preprocess_cfg.%s: expected 3 numbers", key);
	for (int i = 0; i < 3; i++) {
		if (!json_is_number(json_array_get(v, (size_t)i)))
			return fail(c, CS_EMODEL_FORMAT, "preprocess_cfg.%s: expected 3 numbers", key);
		out[i] = (float)json_number_value(json_array_get(v, (size_t)i));
	}
	return 0;
}

static int get_choice(ctx *c, json_t *pp, const char *key, const char *const *choices, char *out, size_t outlen)
{
	json_t *v = json_object_get(pp, key);
	if (!v || json_is_null(v)) {
		snprintf(out, outlen, "%s", choices[0]);
		return 0;
	}
	for (const char *const *ch = choices; *ch; ch++)
		if (json_is_string(v) && !strcmp(json_string_value(v), *ch)) {
			snprintf(out, outlen, "%s", *ch);
			return 0;
		}
	return fail(c, CS_EUNSUPPORTED, "preprocess_cfg.%s: unsupported value (supported: %s%s%s)", key,
	            choices[0], choices[1] ? ", " : "", choices[1] ? choices[1] : "");
}

static int parse_preprocess(ctx *c, json_t *pp, int image_size, clipcfg *cfg)
{
	static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
	static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
	static const char *const interp[] = {"bicubic", "bilinear", NULL};
	static const char *const modes[] = {"shortest", "longest", "squash", NULL};
	int rc, size;
	json_t *m;

	if (pp && !json_is_object(pp))
		return fail(c, CS_EMODEL_FORMAT, "preprocess_cfg: expected an object");
	if (!pp)
		pp = json_object(); /* all defaults */
	else
		json_incref(pp);
	m = json_object_get(pp, "mode");
	if (m && !json_is_null(m) && !(json_is_string(m) && !strcmp(json_string_value(m), "RGB")))
		rc = fail(c, CS_EUNSUPPORTED, "preprocess_cfg.mode: only \"RGB\" is supported");
	else if (!(rc = get_int(c, pp, "preprocess_cfg", "size", image_size, 1, 16384, &size)) && size != image_size)
		rc = fail(c, CS_EMODEL_FORMAT, "preprocess_cfg.size %d differs from vision_cfg.image_size %d", size, image_size);
	if (!rc && !(rc = get_triple(c, pp, "mean", mean, cfg->mean)) && !(rc = get_triple(c, pp, "std", std, cfg->std)) &&
	    !(rc = get_choice(c, pp, "interpolation", interp, cfg->interpolation, sizeof cfg->interpolation)) &&
	    !(rc = get_choice(c, pp, "resize_mode", modes, cfg->resize_mode, sizeof cfg->resize_mode)))
		rc = get_int(c, pp, "preprocess_cfg", "fill_color", 0, 0, 255, &cfg->fill_color);
	for (int i = 0; !rc && i < 3; i++)
		if (!(cfg->std[i] > 0))
			rc = fail(c, CS_EMODEL_FORMAT, "preprocess_cfg.std: values must be positive");
	json_decref(pp);
	return rc;
}

int clipcfg_parse(const char *json, size_t len, const char *name, clipcfg *cfg, char *err, size_t errlen)
{
	static const char *const known[] = {"embed_dim", "vision_cfg", "text_cfg", "quick_gelu", "custom_text",
		"init_logit_bias", NULL};
	ctx c = {name, err, errlen};
	json_error_t je;
	json_t *root, *mc, *v, *t, *b;
	int rc, quick;

	memset(cfg, 0, sizeof *cfg);
	if (!(root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je)))
		return fail(&c, CS_EMODEL_FORMAT, "line %d: invalid JSON: %s", je.line, je.text);
	mc = json_object_get(root, "model_cfg");
	if (!json_is_object(root) || !json_is_object(mc)) {
		rc = fail(&c, CS_EMODEL_FORMAT, "no \"model_cfg\" object (not an OpenCLIP hub config)");
		goto out;
	}
	v = json_object_get(mc, "vision_cfg");
	t = json_object_get(mc, "text_cfg");
	if (!json_is_object(v) || !json_is_object(t)) {
		rc = fail(&c, CS_EMODEL_FORMAT, "model_cfg needs vision_cfg and text_cfg objects");
		goto out;
	}
	if (!json_object_get(mc, "embed_dim")) {
		rc = fail(&c, CS_EMODEL_FORMAT, "model_cfg.embed_dim is missing");
		goto out;
	}
	b = json_object_get(mc, "init_logit_bias");
	if ((rc = check_keys(&c, mc, "model_cfg", known)) ||
	    (rc = get_int(&c, mc, "model_cfg", "embed_dim", 0, 1, 1 << 16, &cfg->embed_dim)) ||
	    (rc = get_bool(&c, mc, "model_cfg", "quick_gelu", &quick)) ||
	    (rc = get_bool(&c, mc, "model_cfg", "custom_text", &cfg->custom_text)) ||
	    (rc = parse_vision(&c, v, quick, &cfg->vision)) ||
	    (rc = parse_text(&c, t, quick, &cfg->text)))
		goto out;
	cfg->has_logit_bias = b && !json_is_null(b);
	rc = parse_preprocess(&c, json_object_get(root, "preprocess_cfg"), cfg->vision.image_size, cfg);
out:
	json_decref(root);
	return rc;
}

int clipcfg_load(const char *path, clipcfg *cfg, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (!fp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? CS_EMODEL_MISSING : CS_EMODEL_FORMAT;
	}
	for (;;) {
		if (n == cap) {
			char *nb;
			if (cap >= (16u << 20)) {
				free(buf);
				fclose(fp);
				snprintf(err, errlen, "%s: larger than 16 MiB, not a model config", path);
				return CS_EMODEL_FORMAT;
			}
			cap = cap ? 2 * cap : 8192;
			if (!(nb = realloc(buf, cap))) {
				free(buf);
				fclose(fp);
				snprintf(err, errlen, "%s: out of memory", path);
				return CS_ENOMEM;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n, fp);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		free(buf);
		fclose(fp);
		return CS_EMODEL_FORMAT;
	}
	fclose(fp);
	rc = clipcfg_parse(buf, n, path, cfg, err, errlen);
	free(buf);
	return rc;
}
