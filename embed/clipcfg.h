/* clipcfg.h — OpenCLIP's open_clip_config.json (model_cfg + preprocess_cfg), with
 * OpenCLIP's defaults for absent keys (CLIPVisionCfg, CLIPTextCfg, PreprocessCfg).
 * A key the engine cannot honour at inference is refused with CS_EUNSUPPORTED and
 * a message naming it, so a model is never run with a silently wrong graph.
 *
 * Ownership: clipcfg is a plain caller-owned struct with no pointers; nothing to free.
 * Functions return 0 or a negative CS_E* status (clip.h) with the message in err[]. */
#ifndef CS_CLIPCFG_H
#define CS_CLIPCFG_H

#include <stddef.h>

enum clip_act { CLIP_ACT_GELU = 0, CLIP_ACT_GELU_TANH = 1, CLIP_ACT_QUICK_GELU = 2 };
enum clip_pool {
	CLIP_POOL_TOK = 0, CLIP_POOL_AVG = 1,                       /* vision */
	CLIP_POOL_ARGMAX = 2, CLIP_POOL_EOS = 3, CLIP_POOL_LAST = 4, CLIP_POOL_FIRST = 5 /* text */
};

typedef struct clip_vision_cfg {
	int image_size, patch_size, width, layers, heads, head_width, mlp_width;
	double mlp_ratio;
	int has_ls;             /* ls_init_value set: LayerScale ls_1/ls_2 gammas */
	int no_ln_pre;
	int pool;               /* CLIP_POOL_TOK or CLIP_POOL_AVG */
	int final_ln_after_pool;
	int act;                /* enum clip_act */
	double ln_eps;
} clip_vision_cfg;

typedef struct clip_text_cfg {
	int context_length, vocab_size, width, heads, layers, mlp_width;
	double mlp_ratio;
	int has_ls;
	int causal;             /* 1 unless no_causal_mask */
	int pool;               /* CLIP_POOL_ARGMAX/EOS/LAST/FIRST */
	int eos_id;             /* for CLIP_POOL_EOS */
	int proj_bias;          /* text_projection is nn.Linear with bias */
	int act;
	double ln_eps;
} clip_text_cfg;

typedef struct clipcfg {
	int embed_dim;
	int custom_text;        /* text tower's state-dict prefix is "text." */
	int has_logit_bias;     /* init_logit_bias present (SigLIP) */
	clip_vision_cfg vision;
	clip_text_cfg text;
	/* preprocess_cfg */
	float mean[3], std[3];
	char interpolation[16]; /* "bicubic", "bilinear" */
	char resize_mode[16];   /* "shortest", "longest", "squash" */
	int fill_color;
} clipcfg;

/* Parse the JSON text (len bytes); name is used in messages. */
int clipcfg_parse(const char *json, size_t len, const char *name, clipcfg *cfg, char *err, size_t errlen);
int clipcfg_load(const char *path, clipcfg *cfg, char *err, size_t errlen);

#endif
