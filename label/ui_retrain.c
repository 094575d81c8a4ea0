/* ui_retrain.c — one retrain round (ui_retrain.h). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "num.h"
#include "tsv.h"
#include "ui_retrain.h"
#include "xalloc.h"

extern char **environ;

char *ui_tool_path(const char *tooldir, const char *name)
{
	char *p;
	if (tooldir) {
		p = xasprintf("%s/clipsort-%s", tooldir, name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	const char *path = getenv("PATH");
	if (!path)
		return NULL;
	char *dirs = xstrdup(path), *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		p = xasprintf("%s/clipsort-%s", *d ? d : ".", name);
		if (access(p, X_OK) == 0) {
			free(dirs);
			return p;
		}
		free(p);
	}
	free(dirs);
	return NULL;
}

/* Run argv with stdout → out_path, stderr → err_path.  Returns the exit status, or -1
 * when it could not be run or was killed. */
static int run_tool(const char *const *cargv, const char *out_path, const char *err_path)
{
	char *const *argv;
	memcpy(&argv, &cargv, sizeof argv);     /* posix_spawn's historical prototype */
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* First line of a tool's stderr, for the UI. */
static void first_err_line(const char *path, char *buf, size_t len)
{
	FILE *fp = fopen(path, "r");
	buf[0] = '\0';
	if (!fp)
		return;
	if (fgets(buf, (int)len, fp))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(fp);
}

int ui_read_class_tsv(const char *path, const ui_round_in *in, int *cls, double *p,
		char *msg, size_t msglen)
{
	tsv_reader r;
	static const char *const need[] = { "key", "class", "confidence" };
	int idx[3], got, rc = 0;

	if (tsv_reader_open(&r, path) != 0 || tsv_reader_require(&r, need, idx, 3) != 0) {
		snprintf(msg, msglen, "%s", r.err);
		tsv_reader_release(&r);
		return -1;
	}
	while ((got = tsv_reader_next(&r)) == 1) {
		const char *e;
		double v = num_parse_d(tsv_reader_field(&r, (size_t)idx[2]), 0, 1, &e);
		if (e) {
			snprintf(msg, msglen, "%s:%lu: confidence: %s", path, r.lineno, e);
			rc = -1;
			break;
		}
		size_t id = in->key_id(in->ctx, tsv_reader_field(&r, (size_t)idx[0]));
		if (id == (size_t)-1)
			continue;
		int k = in->class_id(in->ctx, tsv_reader_field(&r, (size_t)idx[1]));
		cls[id] = k;    /* -1 for "uncertain"/"other" rows */
		p[id] = v;
	}
	if (got < 0) {
		snprintf(msg, msglen, "%s", r.err);
		rc = -1;
	}
	tsv_reader_release(&r);
	return rc;
}

static int read_queue(const char *path, const ui_round_in *in, ui_round *out, char *msg, size_t msglen)
{
	tsv_reader r;
	static const char *const need[] = { "key" };
	int idx[1], got;
	size_t cap = 0;

	if (tsv_reader_open(&r, path) != 0 || tsv_reader_require(&r, need, idx, 1) != 0) {
		snprintf(msg, msglen, "%s", r.err);
		tsv_reader_release(&r);
		return -1;
	}
	while ((got = tsv_reader_next(&r)) == 1) {
		size_t id = in->key_id(in->ctx, tsv_reader_field(&r, (size_t)idx[0]));
		if (id == (size_t)-1)
			continue;
		xgrow(&out->queue, &cap, out->nqueue + 1, sizeof *out->queue);
		out->queue[out->nqueue++] = id;
	}
	if (got < 0)
		snprintf(msg, msglen, "%s", r.err);
	tsv_reader_release(&r);
	return got < 0 ? -1 : 0;
}

/* "5-fold cross-validated accuracy: 0.9286" in clipsort-train's report. */
static double read_cv(const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[1024];
	double v = -1;
	if (!fp)
		return -1;
	while (fgets(line, sizeof line, fp)) {
		char *k = strstr(line, "cross-validated accuracy:");
		if (!k)
			continue;
		k += strcspn(k, "0123456789");
		char *end;
		double x = strtod(k, &end);
		if (end != k && x >= 0 && x <= 1) {
			v = x;
			break;
		}
	}
	fclose(fp);
	return v;
}

int ui_retrain_round(const ui_round_in *in, ui_round *out)
{
	char *train = ui_tool_path(in->tooldir, "train");
	char *predict = ui_tool_path(in->tooldir, "predict");
	char *rank = ui_tool_path(in->tooldir, "rank");
	char *model = xasprintf("%s/model", in->workdir), *model_tmp = xasprintf("%s/model.new", in->workdir);
	char *report = xasprintf("%s/train-report.txt", in->workdir);
	char *preds = xasprintf("%s/predictions.tsv", in->workdir);
	char *queue = xasprintf("%s/queue.tsv", in->workdir);
	char *errf = xasprintf("%s/last-error.txt", in->workdir);
	char *nul = xasprintf("%s/train-stdout.txt", in->workdir);
	char line[512];
	int rc = -1;

	out->cv_accuracy = -1;
	if (!train || !predict) {
		snprintf(out->msg, sizeof out->msg, "no classifier yet: clipsort-%s not found",
				!train ? "train" : "predict");
	} else {
		const char *targv[] = { train, "-c", in->classes, "-l", in->labels, "-r", report,
			"-o", model_tmp, in->cache, NULL };
		int st = run_tool(targv, nul, errf);
		if (st != 0) {
			first_err_line(errf, line, sizeof line);
			if (st == 3)    /* too few labels, a class without labels: not trained yet */
				snprintf(out->msg, sizeof out->msg, "no classifier yet: %.200s", line);
			else
				snprintf(out->msg, sizeof out->msg, "no new classifier: train exit %d: %.200s", st, line);
		} else if (rename(model_tmp, model) != 0) {
			snprintf(out->msg, sizeof out->msg, "no new classifier: %s: %s", model, strerror(errno));
		} else {
			const char *pargv[] = { predict, "-m", model, in->cache, NULL };
			char *ptmp = xasprintf("%s.new", preds);
			st = run_tool(pargv, ptmp, errf);
			if (st != 0) {
				first_err_line(errf, line, sizeof line);
				snprintf(out->msg, sizeof out->msg, "predict failed (exit %d): %.200s", st, line);
			} else {
				out->pred = xmalloc(in->nitems * sizeof *out->pred);
				out->pred_p = xcalloc(in->nitems, sizeof *out->pred_p);
				for (size_t i = 0; i < in->nitems; i++)
					out->pred[i] = -1;
				if (ui_read_class_tsv(ptmp, in, out->pred, out->pred_p, out->msg, sizeof out->msg) == 0 &&
						rename(ptmp, preds) == 0) {
					out->has_model = 1;
					out->cv_accuracy = read_cv(report);
					snprintf(out->msg, sizeof out->msg, "classifier trained");
					rc = 0;
				}
			}
			free(ptmp);
		}
	}
	if (rank) {
		char *qtmp = xasprintf("%s.new", queue);
		char *summary = xasprintf("%s/rank-summary.tsv", in->workdir);
		const char *rargv[12];
		int k = 0;
		rargv[k++] = rank;
		rargv[k++] = "-l";
		rargv[k++] = in->labels;
		rargv[k++] = "-o";
		rargv[k++] = summary;
		if (out->has_model) {
			rargv[k++] = "-m";
			rargv[k++] = model;
		}
		rargv[k++] = in->cache;
		rargv[k] = NULL;
		int st = run_tool(rargv, qtmp, errf);
		if (st == 0 && read_queue(qtmp, in, out, line, sizeof line) == 0) {
			out->has_queue = 1;
			rename(qtmp, queue);
			rc = 0;
		} else if (st != 0) {
			first_err_line(errf, line, sizeof line);
			size_t l = strlen(out->msg);
			snprintf(out->msg + l, sizeof out->msg - l, "; rank failed: %.200s", line);
		}
		free(qtmp);
		free(summary);
	}
	free(train); free(predict); free(rank); free(model); free(model_tmp); free(report);
	free(preds); free(queue); free(errf); free(nul);
	return rc;
}

void ui_round_release(ui_round *r)
{
	free(r->pred);
	free(r->pred_p);
	free(r->queue);
	r->pred = NULL;
	r->pred_p = NULL;
	r->queue = NULL;
}
