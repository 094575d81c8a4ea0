# clipsort.mk — the cold-start workflow of clipsort as make rules:
#
#   vendor ZIPs/folders --clipsort-embed--> cache.h5 --+-- clipsort-zeroshot --> zeroshot.tsv --+
#   classes.tsv --clipsort-embed --text--> prompts.h5 -+-- clipsort-cluster ---> clusters.tsv --+
#                                                               clipsort-fuse --> decisions.tsv
#                                                               clipsort-sort --> classified/
#
# Include it from your own Makefile (installed as $(SHAREDIR)/clipsort.mk,
# /usr/local/share/clipsort/clipsort.mk by default):
#
#     CLIPSORT_MODEL  = ViT-B-32
#     CLIPSORT_INPUTS = $(wildcard drops/*.zip) photos
#     include /usr/local/share/clipsort/clipsort.mk
#
# and run `make clipsort-decisions` (review decisions.tsv, edit it if you like), then
# `make clipsort-sort`.  Each step runs only when its inputs changed (clipsort-embed
# itself embeds only images it has not seen).  Every output is written to a
# temporary name and renamed, so an interrupted run leaves no half-written file.
#
# Settings (override before or after the include, or on the command line):
CLIPSORT_BIN      ?=
CLIPSORT_MODEL    ?= ViT-B-32
CLIPSORT_INPUTS   ?=
CLIPSORT_CLASSES  ?= classes.tsv
CLIPSORT_CACHE    ?= cache.h5
CLIPSORT_PROMPTS  ?= prompts.h5
CLIPSORT_LABELS   ?= labels.tsv
CLIPSORT_OUT      ?= classified
CLIPSORT_EMBED_FLAGS    ?= -q
CLIPSORT_ZEROSHOT_FLAGS ?=
CLIPSORT_CLUSTER_FLAGS  ?= -k 2
CLIPSORT_FUSE_FLAGS     ?=
CLIPSORT_SORT_FLAGS     ?= -c 0.8

# Files the steps write (also overridable).
CLIPSORT_ZEROSHOT  ?= zeroshot.tsv
CLIPSORT_CLUSTERS  ?= clusters.tsv
CLIPSORT_SUMMARY   ?= clusters-summary.tsv
CLIPSORT_DECISIONS ?= decisions.tsv
CLIPSORT_MANIFEST  ?= manifest.tsv

# The labels log is optional: the cluster prior is checked against it when it exists.
clipsort_labels_opt = $(if $(wildcard $(CLIPSORT_LABELS)),-l $(CLIPSORT_LABELS))

# Publish $@.tmp as $@ (rename: never a half-written output).
clipsort_publish = mv -f $@.tmp $@

$(CLIPSORT_CACHE): $(CLIPSORT_INPUTS)
	$(CLIPSORT_BIN)clipsort-embed $(CLIPSORT_EMBED_FLAGS) -m $(CLIPSORT_MODEL) -o $@ $(CLIPSORT_INPUTS)

$(CLIPSORT_PROMPTS): $(CLIPSORT_CLASSES)
	$(CLIPSORT_BIN)clipsort-embed $(CLIPSORT_EMBED_FLAGS) -m $(CLIPSORT_MODEL) --text $(CLIPSORT_CLASSES) -o $@

$(CLIPSORT_ZEROSHOT): $(CLIPSORT_CACHE) $(CLIPSORT_PROMPTS)
	$(CLIPSORT_BIN)clipsort-zeroshot $(CLIPSORT_ZEROSHOT_FLAGS) -t $(CLIPSORT_PROMPTS) $(CLIPSORT_CACHE) > $@.tmp
	@$(clipsort_publish)

$(CLIPSORT_CLUSTERS): $(CLIPSORT_CACHE) $(CLIPSORT_PROMPTS) $(wildcard $(CLIPSORT_LABELS))
	$(CLIPSORT_BIN)clipsort-cluster $(CLIPSORT_CLUSTER_FLAGS) -t $(CLIPSORT_PROMPTS) \
	    $(clipsort_labels_opt) -S $(CLIPSORT_SUMMARY) $(CLIPSORT_CACHE) > $@.tmp
	@$(clipsort_publish)

$(CLIPSORT_DECISIONS): $(CLIPSORT_ZEROSHOT) $(CLIPSORT_CLUSTERS)
	$(CLIPSORT_BIN)clipsort-fuse $(CLIPSORT_FUSE_FLAGS) -z $(CLIPSORT_ZEROSHOT) -c $(CLIPSORT_CLUSTERS) > $@.tmp
	@$(clipsort_publish)

# Sorting is idempotent (clipsort-sort never overwrites and skips what is there),
# so it simply runs again; the manifest is its record.
$(CLIPSORT_MANIFEST): $(CLIPSORT_DECISIONS)
	$(CLIPSORT_BIN)clipsort-sort $(CLIPSORT_SORT_FLAGS) -M $@ $(CLIPSORT_DECISIONS) $(CLIPSORT_OUT)

clipsort-decisions: $(CLIPSORT_DECISIONS)
clipsort-sort: $(CLIPSORT_MANIFEST)
clipsort-dry-run: $(CLIPSORT_DECISIONS)
	$(CLIPSORT_BIN)clipsort-sort -n $(CLIPSORT_SORT_FLAGS) $(CLIPSORT_DECISIONS) $(CLIPSORT_OUT)

.PHONY: clipsort-decisions clipsort-sort clipsort-dry-run
.DELETE_ON_ERROR:
