/* classes.h — class vectors from the prompt vectors of `clipsort-embed --text`
 * (classes.tsv, clipsort-classes(5)), and the zero-shot scoring shared by
 * clipsort-zeroshot and clipsort-cluster.
 *
 * A class vector is the L2-normalised mean of its prompt vectors (prompt
 * ensembling, as in the CLIP paper).  In max mode a class scores the best cosine of
 * any of its prompts instead.  Classes are kept sorted by name: that is the column
 * order of every p_<class> output.
 *
 * Ownership: a zs_classes is caller-owned (zs_classes_init / zs_classes_release);
 * everything it points to is its own. */
#ifndef CS_ZS_CLASSES_H
#define CS_ZS_CLASSES_H

#include <stddef.h>
#include <stdint.h>

#include "emb.h"
#include "labels.h"

#define ZS_CLASS_MAX LABELS_CLASS_MAX

typedef struct zs_classes {
	size_t n;           /* classes, sorted by name */
	char **names;
	uint32_t dim;
	float *vec;         /* n x dim: normalised mean of each class's prompts */
	size_t nprompts;
	float *pvec;        /* nprompts x dim: the prompt vectors, grouped by class */
	size_t *pcls;       /* class index of each prompt */
	double scale;       /* logit scale (exp applied) */
	double bias;        /* logit bias */
	int sigmoid;        /* model has a logit bias: independent sigmoid per class (SigLIP) */
} zs_classes;

/* 1 when name is a valid class name: [a-z0-9][a-z0-9_-]{0,63} (labels_valid_class). */
int zs_valid_class(const char *name);

/* Build the classes from n text vectors of dimension dim.  At least two classes.
 * 0 ok; -1 with a message in err. */
int zs_classes_init(zs_classes *c, const emb_text *t, size_t n, const emb_stamp *stamp,
    char *err, size_t errlen);
void zs_classes_release(zs_classes *c);

/* Open an embedding file (path "-" = stdin) or die (CS_EXIT_DATA) with the reader's
 * message. */
emb_reader *zs_open_or_die(const char *path);
/* The classes for the images of img, from the text vectors of the file texts (opened
 * and closed here) or, texts NULL, from img's own.  imgname names img in messages.
 * 1: c initialised; 0: the source holds no text vectors (c untouched; what that means
 * is the caller's to say).  Dies (CS_EXIT_DATA) when texts cannot be read, was made
 * differently from img, or its vectors do not make classes. */
int zs_classes_load(zs_classes *c, emb_reader *img, const char *imgname, const char *texts);
/* Index of class name, or -1. */
int zs_classes_find(const zs_classes *c, const char *name);

/* Cosine score of each of nimg row-major image vectors against each class
 * (out: nimg x c->n).  maxmode: best prompt cosine per class.  work must hold
 * nimg * c->nprompts floats in max mode (unused otherwise). */
void zs_classes_cosines(const zs_classes *c, const float *img, size_t nimg, int maxmode,
    float *work, float *out);
/* Class probabilities from the cosines of one image: softmax(scale * cos), or, for a
 * model with a logit bias, sigmoid(scale * cos + bias) per class. */
void zs_classes_probs(const zs_classes *c, const float *cos, double *p);

#endif
