/* coldstart_gen — test and benchmark data for the cold-start tools: writes an
 * embedding stream (clipsort-embeddings(5)) to stdout, either generated or imported.
 *
 *   coldstart_gen [-n images] [-d dim] [-C classes] [-P prompts] [-s seed] [-a class-weight]
 *                 [-g background-weight] [-N noise] [-M model] [-x logit-scale] [-b logit-bias]
 *                 [-T] [-I] [-l labels.tsv [-e every]] [-r raw.f32]
 *   coldstart_gen -i vectors.tsv [-M model] [-x scale] [-b bias]   (import)
 *
 * Generated: class j has a random unit direction c_j; image i belongs to class
 * i mod C and is a_weight*c_y + g_weight*bg_(random side) + noise*gaussian, normalised;
 * "bg" is one random direction shared by all images, so a large -g makes the
 * dominant split independent of the classes (the background-colour case).  Prompts:
 * P per class, c_j plus a little noise.  Keys are 64 hex digits of the index (sorted).
 * -T: texts only; -I: images only.  -l writes true labels of every e-th image.
 * -r FILE also writes raw float32: the C class directions (with texts), then the images.
 * Import TSV rows: "text<TAB>class<TAB>prompt<TAB>v..." or "image<TAB>key<TAB>location<TAB>v...". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "emb.h"
#include "exitcode.h"
#include "num.h"
#include "xalloc.h"

static uint64_t rs = 88172645463325252ULL;

static double
urand(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (double)(rs >> 11) * 0x1.0p-53;
}

static double
gauss(void)
{
	double u = urand(), v = urand();
	return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

static void
unit(float *v, size_t d)
{
	double s = 0;
	size_t j;

	for (j = 0; j < d; j++)
		s += (double)v[j] * v[j];
	s = sqrt(s);
	for (j = 0; j < d; j++)
		v[j] = (float)(v[j] / s);
}

static void
import(const char *path, emb_stamp *st)
{
	FILE *fp = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *line = NULL, *f[4], *save;
	size_t cap = 0, j;
	float *v = NULL;
	emb_stream_writer *w = NULL;
	unsigned long ln = 0;

	if (fp == NULL)
		cs_die(CS_EXIT_IO, "%s:", path);
	while (getline(&line, &cap, fp) > 0) {
		char *p;
		ln++;
		line[strcspn(line, "\n")] = '\0';
		f[0] = strtok_r(line, "\t", &save);
		f[1] = strtok_r(NULL, "\t", &save);
		f[2] = strtok_r(NULL, "\t", &save);
		if (!f[0] || !f[1] || !f[2])
			cs_die(CS_EXIT_DATA, "%s:%lu: short line", path, ln);
		if (w == NULL) {   /* dimension from the first row */
			st->dim = 0;
			for (p = save; p && *p; p++)
				st->dim += *p == '\t';
			st->dim += 1;
			w = emb_stream_writer_open(stdout, st);
			v = xcalloc(st->dim, sizeof *v);
		}
		for (j = 0; j < st->dim; j++) {
			char *t = strtok_r(NULL, "\t", &save);
			if (t == NULL)
				cs_die(CS_EXIT_DATA, "%s:%lu: want %u values", path, ln, st->dim);
			v[j] = strtof(t, NULL);
		}
		if (strcmp(f[0], "text") == 0)
			emb_stream_write_text(w, f[1], f[2], v);
		else
			emb_stream_write_image(w, f[1], f[2], v);
	}
	if (w == NULL)
		w = emb_stream_writer_open(stdout, st);
	if (emb_stream_writer_close(w) != 0)
		cs_die(CS_EXIT_IO, "<stdout>: write error");
	free(v);
	free(line);
}

int
main(int argc, char *argv[])
{
	long n = 100, d = 16, C = 2, P = 2, every = 1, i, j, e;
	double aw = 1, gw = 0, noise = 0.5;
	int ch, texts = 1, images = 1;
	const char *labfile = NULL, *in = NULL, *rawfile = NULL;
	FILE *raw = NULL;
	emb_stamp st = { 0 };
	emb_stream_writer *w;
	float *cls, *bg, *v;
	FILE *lf = NULL;
	char key[EMB_KEY_HEX + 1], loc[64];

	diag_init(argv[0]);
	st.model = (char *)(uintptr_t)"gen-model";
	st.fingerprint = (char *)(uintptr_t)"0123456789abcdef";
	st.preprocess = (char *)(uintptr_t)"size=224;gen";
	st.logit_scale = 100;
	while ((ch = getopt(argc, argv, "n:d:C:P:s:a:g:N:M:x:b:TIl:e:i:r:")) != -1) {
		switch (ch) {
		case 'n': n = num_arg_ll("n", optarg, 0, 100000000); break;
		case 'd': d = num_arg_ll("d", optarg, 1, 65536); break;
		case 'C': C = num_arg_ll("C", optarg, 1, 1000); break;
		case 'P': P = num_arg_ll("P", optarg, 1, 1000); break;
		case 's': rs ^= (uint64_t)num_arg_ll("s", optarg, 0, 1000000000) * 0x9e3779b97f4a7c15ULL; break;
		case 'a': aw = num_arg_d("a", optarg, 0, 1e6); break;
		case 'g': gw = num_arg_d("g", optarg, 0, 1e6); break;
		case 'N': noise = num_arg_d("N", optarg, 0, 1e6); break;
		case 'M': st.model = optarg; break;
		case 'x': st.logit_scale = num_arg_d("x", optarg, 1e-6, 1e6); break;
		case 'b': st.logit_bias = num_arg_d("b", optarg, -1e6, 1e6); st.has_logit_bias = 1; break;
		case 'T': images = 0; break;
		case 'I': texts = 0; break;
		case 'l': labfile = optarg; break;
		case 'e': every = num_arg_ll("e", optarg, 1, 1000000000); break;
		case 'i': in = optarg; break;
		case 'r': rawfile = optarg; break;
		default:
			fprintf(stderr, "usage: see the comment at the top of coldstart_gen.c\n");
			return CS_EXIT_USAGE;
		}
	}
	if (in) {
		import(in, &st);
		return 0;
	}
	st.dim = (uint32_t)d;
	cls = xcalloc((size_t)(C * d), sizeof *cls);
	bg = xcalloc((size_t)d, sizeof *bg);
	v = xcalloc((size_t)d, sizeof *v);
	for (j = 0; j < C * d; j++)
		cls[j] = (float)gauss();
	for (j = 0; j < C; j++)
		unit(cls + j * d, (size_t)d);
	for (j = 0; j < d; j++)
		bg[j] = (float)gauss();
	unit(bg, (size_t)d);
	w = emb_stream_writer_open(stdout, &st);
	for (j = 0; j < C; j++)   /* drawn even with -I, so -I and -T data match a full run */
		for (i = 0; i < P; i++) {
			char name[32], prompt[96];
			for (e = 0; e < d; e++)
				v[e] = (float)(cls[j * d + e] + 0.2 * gauss() / sqrt((double)d));
			unit(v, (size_t)d);
			snprintf(name, sizeof name, "class%ld", j);
			snprintf(prompt, sizeof prompt, "a photo of class %ld, variant %ld", j, i);
			if (texts)
				emb_stream_write_text(w, name, prompt, v);
		}
	if (labfile && (lf = fopen(labfile, "w")) == NULL)
		cs_die(CS_EXIT_IO, "%s:", labfile);
	if (rawfile && (raw = fopen(rawfile, "wb")) == NULL)
		cs_die(CS_EXIT_IO, "%s:", rawfile);
	if (raw && texts) {   /* the class vectors first: C x d, then the images */
		for (j = 0; j < C; j++) {
			memcpy(v, cls + j * d, (size_t)d * sizeof *v);
			fwrite(v, sizeof *v, (size_t)d, raw);
		}
	}
	if (lf)
		fputs("time\tkey\tpath\tclass\tlabeller\n", lf);
	if (images)
		for (i = 0; i < n; i++) {
			long y = i % C;
			double side = urand() < 0.5 ? -1 : 1;
			for (e = 0; e < d; e++)
				v[e] = (float)(aw * cls[y * d + e] + gw * side * bg[e] + noise * gauss() / sqrt((double)d));
			unit(v, (size_t)d);
			snprintf(key, sizeof key, "%064lx", (unsigned long)i);
			snprintf(loc, sizeof loc, "img/%06ld.jpg", i);
			if (emb_stream_write_image(w, key, loc, v) != 0)
				break;
			if (raw)
				fwrite(v, sizeof *v, (size_t)d, raw);
			if (lf && i % every == 0)
				fprintf(lf, "2026-12-04T21:00:00.000000Z\t%s\t%s\tclass%ld\tgen\n", key, loc, y);
		}
	if (raw && fclose(raw) != 0)
		cs_die(CS_EXIT_IO, "%s:", rawfile);
	if (lf && fclose(lf) != 0)
		cs_die(CS_EXIT_IO, "%s:", labfile);
	if (emb_stream_writer_close(w) != 0)
		cs_die(CS_EXIT_IO, "<stdout>: write error");
	free(cls);
	free(bg);
	free(v);
	return 0;
}
