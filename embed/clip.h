/* clip.h — the OpenCLIP inference engine: a C API over a C++17 libtorch shim.
 * Loads an OpenCLIP Hugging Face hub model directory (open_clip_config.json +
 * open_clip_model.safetensors) and computes image and text embeddings that match
 * OpenCLIP's encode_image / encode_text.  See clipsort-models(7).
 *
 * Usage:
 *
 *     cs_engine_tune_env(argc, argv);   // first thing in main (see below)
 *     cs_model_params p = cs_model_default_params();
 *     p.device = "cpu";
 *     cs_model *m;
 *     if (cs_model_load("models/ViT-B-32", &p, &m) != 0)
 *             errx(5, "%s", cs_errmsg());
 *     cs_model_info info;
 *     cs_model_get_info(m, &info);
 *     // chw: n x 3 x S x S floats, already resized and normalised with
 *     // info.mean/info.std (S = info.image_size)
 *     float *emb = malloc((size_t)n * info.embed_dim * sizeof *emb);
 *     if (cs_encode_image(m, chw, n, emb, 1) != 0)
 *             errx(5, "%s", cs_errmsg());
 *     // tokens: n x info.context_length ids from the BPE tokenizer
 *     cs_encode_text(m, tokens, n, emb, 1);
 *     cs_model_free(m);
 *
 * Ownership: a cs_model is created by cs_model_load and destroyed by cs_model_free
 * (NULL-safe).  Input and output arrays are the caller's; the engine never keeps a
 * pointer to them after a call returns.  Strings in cs_model_info belong to the
 * model and stay valid until cs_model_free.  cs_errmsg() returns a thread-local
 * string the caller never frees, valid until the next engine call on that thread.
 *
 * cs_model_load, _get_info and the encoders return 0 on success, a negative CS_E* code on
 * error (the message, naming the file/tensor/option, is in cs_errmsg()).  The
 * engine never prints and never exits.  One cs_model may be used by one thread at
 * a time; separate models are independent. */
#ifndef CS_CLIP_H
#define CS_CLIP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cs_status {
	CS_OK              = 0,
	CS_EMODEL_MISSING  = -1, /* model directory or one of its files is missing */
	CS_EMODEL_FORMAT   = -2, /* malformed config or weights: bad JSON, truncated file, wrong shape */
	CS_EUNSUPPORTED    = -3, /* the config uses an option this engine cannot run */
	CS_EDEVICE         = -4, /* the requested device or dtype is unavailable */
	CS_EINVAL          = -5, /* bad argument (NULL pointer, n < 1, token id out of range) */
	CS_ENOMEM          = -6, /* out of memory */
	CS_EINTERNAL       = -7  /* an unexpected error inside libtorch (a bug) */
};

enum cs_dtype {
	CS_DTYPE_AUTO = 0, /* f16 on CUDA; f32 on the CPU (exact agreement with OpenCLIP) */
	CS_DTYPE_F32  = 1,
	CS_DTYPE_F16  = 2,
	CS_DTYPE_BF16 = 3  /* CPU or CUDA; LayerNorm and softmax stay f32 */
};

typedef struct cs_model cs_model;

typedef struct cs_model_params {
	const char *device;   /* "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:N" */
	int dtype;            /* enum cs_dtype; default CS_DTYPE_AUTO */
	int n_threads;        /* CPU threads (process-wide: libtorch's intra-op pool); <= 0: online CPUs */
	int fused_attention;  /* 1: scaled_dot_product_attention where libtorch has it; 0: explicit softmax(QK^T)V */
} cs_model_params;

typedef struct cs_model_info {
	int embed_dim;
	int image_size;       /* input is 3 x image_size x image_size */
	int patch_size;
	int context_length;   /* tokens per prompt */
	int vocab_size;
	double logit_scale;   /* exp() applied: the multiplier of cosine similarities */
	double logit_bias;    /* valid when has_logit_bias */
	int has_logit_bias;
	const char *name;         /* model directory's base name */
	const char *fingerprint;  /* 64 hex digits, see clipsort-models(7) */
	const char *device;       /* device actually used, e.g. "cpu", "cuda:0" */
	const char *dtype;        /* dtype actually used: "f32", "f16", "bf16" */
	/* preprocess_cfg (OpenCLIP defaults for absent keys) */
	float mean[3];
	float std[3];
	const char *interpolation; /* "bicubic", "bilinear" */
	const char *resize_mode;   /* "shortest", "longest", "squash" */
	int fill_color;            /* padding value for resize_mode "longest" */
} cs_model_info;

cs_model_params cs_model_default_params(void);

/* Load the model directory dir (a path; see modeldir.h for name resolution). */
int cs_model_load(const char *dir, const cs_model_params *params, cs_model **out);
void cs_model_free(cs_model *m);
int cs_model_get_info(const cs_model *m, cs_model_info *info);

/* chw_batch: n x 3 x S x S floats (S = image_size), normalised.
 * out: n x embed_dim floats; L2-normalised rows when normalize != 0. */
int cs_encode_image(cs_model *m, const float *chw_batch, int n, float *out, int normalize);
/* tokens: n x context_length ids (0 <= id < vocab_size).  out as above. */
int cs_encode_text(cs_model *m, const int64_t *tokens, int n, float *out, int normalize);

/* The message of the last failed call on this thread ("" when none). */
const char *cs_errmsg(void);

/* Call first thing in main (before any thread or OpenMP runtime starts).  Sets
 * glibc's malloc to keep freed blocks up to 32 MB for reuse and not to trim the
 * heap below 1 GB (so batches after the first do not fault their tensors in
 * again), then, when OMP_WAIT_POLICY is unset, sets it to PASSIVE and re-executes
 * the program so libgomp reads it at start-up.  Returns 0 when nothing had to be
 * re-executed, -1 when re-exec failed (the program just goes on). */
int cs_engine_tune_env(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
