/* modeldir.h — resolve a model name given on the command line (-m NAME) to a model
 * directory (clipsort-models(7)):
 *   1. NAME containing '/' that exists, or any existing NAME: that directory;
 *   2. $CLIPSORT_MODELS/KEY when that exists;
 *   3. ${XDG_CACHE_HOME:-$HOME/.cache}/clipsort/models/KEY
 * where KEY is NAME with every '/' replaced by "--" (hub repo "laion/CLIP-ViT-B-32"
 * -> "laion--CLIP-ViT-B-32").  A NAME that is neither a path nor a valid hub-style
 * name ([A-Za-z0-9._-]+ with at most one '/') is returned as a path unchanged.
 *
 * Ownership: the returned string is malloc'd and the caller's to free(). */
#ifndef CS_MODELDIR_H
#define CS_MODELDIR_H

/* The directory for name (it may not exist: loading then reports it); NULL only
 * when out of memory. */
char *modeldir_resolve(const char *name);
/* The models directory where clipsort-fetch-model stores models; malloc'd. */
char *modeldir_root(void);
/* KEY for a hub name ("a/b" -> "a--b"); malloc'd; NULL when name is not hub-style. */
char *modeldir_key(const char *name);

#endif
