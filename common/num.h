/* num.h — checked number parsing (strtonum-like): never atoi.
 * On error the return is 0 and *errstr points to a static message
 * ("invalid", "too small", "too large"); on success *errstr is NULL. */
#ifndef CS_NUM_H
#define CS_NUM_H

long long num_parse_ll(const char *s, long long min, long long max, const char **errstr);
double num_parse_d(const char *s, double min, double max, const char **errstr);
/* Parse or die with CS_EXIT_USAGE: "<what>: <s>: <errstr>". */
long long num_arg_ll(const char *what, const char *s, long long min, long long max);
double num_arg_d(const char *what, const char *s, double min, double max);

#endif
