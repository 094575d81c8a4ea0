/* diag.h — diagnostics on stderr, prefixed with the program name.
 * A format ending in ':' appends ": strerror(errno)".  Nothing here prints to stdout. */
#ifndef CS_DIAG_H
#define CS_DIAG_H

#include <stdio.h>

void diag_init(const char *argv0);          /* program name = basename(argv0) */
const char *diag_prog(void);
void cs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void cs_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Close (or flush, for stdout/stderr) fp and die with CS_EXIT_IO naming `name` on a
 * write error, so `tool | head` or a full disk shows in the exit status. */
void cs_fshut(FILE *fp, const char *name);
/* Like cs_fshut but returns -1 after warning instead of dying. */
int cs_fclose_checked(FILE *fp, const char *name);

#endif
