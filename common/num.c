#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "diag.h"
#include "exitcode.h"
#include "num.h"

long long
num_parse_ll(const char *s, long long min, long long max, const char **errstr)
{
	char *end;
	long long v;

	*errstr = NULL;
	if (s == NULL || *s == '\0' || min > max) {
		*errstr = "invalid";
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0') {
		*errstr = "invalid";
		return 0;
	}
	if ((errno == ERANGE && v == LLONG_MIN) || v < min) {
		*errstr = "too small";
		return 0;
	}
	if ((errno == ERANGE && v == LLONG_MAX) || v > max) {
		*errstr = "too large";
		return 0;
	}
	return v;
}

double
num_parse_d(const char *s, double min, double max, const char **errstr)
{
	char *end;
	double v;

	*errstr = NULL;
	if (s == NULL || *s == '\0') {
		*errstr = "invalid";
		return 0;
	}
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || isnan(v)) {
		*errstr = "invalid";
		return 0;
	}
	if (v < min) {
		*errstr = "too small";
		return 0;
	}
	if (v > max) {
		*errstr = "too large";
		return 0;
	}
	return v;
}

long long
num_arg_ll(const char *what, const char *s, long long min, long long max)
{
	const char *e;
	long long v = num_parse_ll(s, min, max, &e);

	if (e != NULL)
		cs_die(CS_EXIT_USAGE, "%s: %s: %s (expected %lld..%lld)", what, s, e, min, max);
	return v;
}

double
num_arg_d(const char *what, const char *s, double min, double max)
{
	const char *e;
	double v = num_parse_d(s, min, max, &e);

	if (e != NULL)
		cs_die(CS_EXIT_USAGE, "%s: %s: %s (expected %g..%g)", what, s, e, min, max);
	return v;
}
