/* modeldir.c — see modeldir.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "modeldir.h"

static int is_dir(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", a, b);
	return s;
}

char *modeldir_key(const char *name)
{
	int slashes = 0;
	size_t n = 0;
	char *k, *o;

	if (!*name || name[0] == '.' || name[0] == '-')
		return NULL;
	for (const char *p = name; *p; p++, n++) {
		if (*p == '/') {
			if (++slashes > 1 || p == name || !p[1] || p[1] == '.' || p[1] == '-')
				return NULL;
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		             *p == '.' || *p == '_' || *p == '-')) {
			return NULL;
		}
	}
	if (strstr(name, ".."))
		return NULL;
	if (!(k = malloc(n + 2)))
		return NULL;
	for (o = k; *name; name++)
		if (*name == '/') {
			*o++ = '-';
			*o++ = '-';
		} else {
			*o++ = *name;
		}
	*o = 0;
	return k;
}

char *modeldir_root(void)
{
	const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
	char *base, *r;

	if (x && *x == '/')
		return join(x, "clipsort/models");
	base = join(h && *h ? h : ".", ".cache");
	r = base ? join(base, "clipsort/models") : NULL;
	free(base);
	return r;
}

char *modeldir_resolve(const char *name)
{
	const char *env = getenv("CLIPSORT_MODELS");
	char *key, *p, *root;

	if (is_dir(name) || !(key = modeldir_key(name)))
		return strdup(name);
	if (env && *env) {
		if ((p = join(env, key)) && is_dir(p)) {
			free(key);
			return p;
		}
		free(p);
	}
	root = modeldir_root();
	p = root ? join(root, key) : NULL;
	free(root);
	if (p && !is_dir(p) && strchr(name, '/') && name[0] != '/') {
		/* neither installed nor cached: a relative path the user meant */
		free(p);
		p = strdup(name);
	}
	free(key);
	return p;
}
