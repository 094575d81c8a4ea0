/* test_progress.c — progress lines: off unless forced on a non-terminal, rate
 * limited, final line with counts; -q silences. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "diag.h"
#include "progress.h"

static size_t
slurp(FILE *fp, char *buf, size_t len)
{
	size_t n;

	rewind(fp);
	n = fread(buf, 1, len - 1, fp);
	buf[n] = '\0';
	return n;
}

int
main(void)
{
	char buf[4096];
	progress p;
	FILE *fp = tmpfile();
	int i;

	diag_init("clipsort-test");
	/* forced onto a file: plain lines, none before the log interval, one at the end */
	progress_init(&p, "images", 1000, PROGRESS_FORCE);
	p.fp = fp;
	p.tty = 0;
	for (i = 1; i <= 1000; i++)
		progress_update(&p, i, i / 400);
	CHECK(p.draws == 0, "rate limited: %lu draws", p.draws);
	progress_finish(&p);
	slurp(fp, buf, sizeof buf);
	CHECK(strncmp(buf, "clipsort-test: images 1000/1000 (100.0%) ", 41) == 0, "final line: %s", buf);
	CHECK(strstr(buf, " in 0:00, 2 rejected\n") != NULL && strchr(buf, '\r') == NULL, "final line: %s", buf);
	CHECK(p.draws == 1, "one line");
	progress_add(&p, 5, 0);
	progress_finish(&p);
	CHECK(p.draws == 1, "nothing after finish");

	/* on a terminal: redrawn in place, at most 4 per second */
	fp = freopen(NULL, "w+", fp);
	progress_init(&p, "images", -1, PROGRESS_FORCE);
	p.fp = fp;
	p.tty = 1;
	p.last -= 1.0;          /* as if the last draw were a second ago */
	progress_add(&p, 10, 0);
	for (i = 0; i < 10000; i++)
		progress_add(&p, 1, 0);
	CHECK(p.draws == 1, "one redraw within 250 ms: %lu", p.draws);
	progress_finish(&p);
	slurp(fp, buf, sizeof buf);
	CHECK(strncmp(buf, "\rclipsort-test: images 10 ", 26) == 0, "tty line: %s", buf);
	CHECK(strstr(buf, "\rclipsort-test: images 10010 ") != NULL && buf[strlen(buf) - 1] == '\n', "tty final: %s", buf);

	/* quiet and auto-on-a-non-terminal draw nothing */
	fp = freopen(NULL, "w+", fp);
	progress_init(&p, "images", 10, PROGRESS_QUIET);
	p.fp = fp;
	p.last -= 100;
	progress_update(&p, 5, 0);
	progress_finish(&p);
	CHECK(slurp(fp, buf, sizeof buf) == 0 && p.draws == 0, "quiet: '%s'", buf);
	return check_done();
}
