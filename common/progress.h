/* progress.h — progress on stderr for long runs: "what done/total (pct) rate/s ETA
 * rejects".  Drawn only when stderr is a terminal (PROGRESS_AUTO) unless forced;
 * PROGRESS_QUIET (the tools' -q) draws nothing.  On a terminal the line is redrawn in
 * place at most 4 times a second; when forced onto a non-terminal (a log file) a
 * plain line is written at most once every 5 seconds.  progress_finish draws the final
 * line (count, elapsed time, mean rate) and ends it with a newline.
 *
 * Ownership: a progress is caller-owned; progress_init sets it up, progress_finish
 * ends it; it holds no allocated memory.  `what` must outlive it.  Nothing here
 * goes to stdout. */
#ifndef CS_PROGRESS_H
#define CS_PROGRESS_H

#include <stdio.h>

enum progress_mode { PROGRESS_AUTO = 0, PROGRESS_FORCE = 1, PROGRESS_QUIET = 2 };

typedef struct progress {
	FILE *fp;               /* stderr; tests may point it elsewhere after init */
	const char *what;       /* e.g. "images" */
	long long total;        /* -1 when unknown */
	long long done, rejects;
	int on;                 /* drawing at all */
	int tty;                /* redraw in place */
	double t0, last;        /* monotonic seconds: start, last draw */
	int drawn;              /* a line is on screen (tty) */
	unsigned long draws;    /* lines drawn so far (for tests) */
} progress;

void progress_init(progress *p, const char *what, long long total, int mode);
void progress_set_total(progress *p, long long total);
/* Set the absolute counts; redraws when the rate limit allows. */
void progress_update(progress *p, long long done, long long rejects);
/* Add to the counts; redraws when the rate limit allows. */
void progress_add(progress *p, long long done, long long rejects);
void progress_finish(progress *p);

#endif
