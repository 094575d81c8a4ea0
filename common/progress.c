/* progress.c — rate-limited progress lines on stderr (progress.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "progress.h"

#define TTY_INTERVAL 0.25
#define LOG_INTERVAL 5.0

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
fmt_dur(char *buf, size_t n, double s)
{
	long t = s < 0 ? 0 : (long)(s + 0.5);

	if (t >= 3600)
		snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void
progress_init(progress *p, const char *what, long long total, int mode)
{
	memset(p, 0, sizeof *p);
	p->fp = stderr;
	p->what = what;
	p->total = total;
	p->tty = isatty(STDERR_FILENO);
	p->on = mode == PROGRESS_FORCE || (mode == PROGRESS_AUTO && p->tty);
	p->t0 = p->last = now();
}

void
progress_set_total(progress *p, long long total)
{
	p->total = total;
}

static void
draw(progress *p, double t, int final)
{
	double el = t - p->t0, rate = el > 0 ? (double)p->done / el : 0;
	char eta[32], tm[32];

	fprintf(p->fp, "%s%s: %s %lld", p->tty ? "\r" : "", diag_prog(), p->what, p->done);
	if (p->total >= 0) {
		fprintf(p->fp, "/%lld", p->total);
		if (p->total > 0)
			fprintf(p->fp, " (%.1f%%)", 100.0 * (double)p->done / (double)p->total);
	}
	fprintf(p->fp, " %.1f/s", rate);
	if (final) {
		fmt_dur(tm, sizeof tm, el);
		fprintf(p->fp, " in %s", tm);
	} else if (p->total > 0 && rate > 0 && p->done <= p->total) {
		fmt_dur(eta, sizeof eta, (double)(p->total - p->done) / rate);
		fprintf(p->fp, " ETA %s", eta);
	}
	if (p->rejects > 0)
		fprintf(p->fp, ", %lld rejected", p->rejects);
	fputs(p->tty ? "\033[K" : "", p->fp);
	if (final || !p->tty)
		fputc('\n', p->fp);
	fflush(p->fp);
	p->drawn = p->tty && !final;
	p->draws++;
	p->last = t;
}

static void
maybe_draw(progress *p)
{
	double t;

	if (!p->on)
		return;
	t = now();
	if (t - p->last >= (p->tty ? TTY_INTERVAL : LOG_INTERVAL))
		draw(p, t, 0);
}

void
progress_update(progress *p, long long done, long long rejects)
{
	p->done = done;
	p->rejects = rejects;
	maybe_draw(p);
}

void
progress_add(progress *p, long long done, long long rejects)
{
	p->done += done;
	p->rejects += rejects;
	maybe_draw(p);
}

void
progress_finish(progress *p)
{
	if (p->on)
		draw(p, now(), 1);
	p->on = 0;
}
