# clipsort-cache and the unit tests of common/'s data formats (tsv, emb, fsutil, sha256, progress).
UNIT_TESTS += $(O)/tests/test_tsv $(O)/tests/test_emb $(O)/tests/test_fsutil $(O)/tests/test_sha256 $(O)/tests/test_progress
PROGS += $(B)/clipsort-cache
MAN1  += man/clipsort-cache.1
MAN5  += man/clipsort-embeddings.5
$(B)/clipsort-cache: $(O)/embed/cachetool.o $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) -o $@

# The fault-injection shim (tests/fault/failio.c), preloaded by tests/t-cache.sh.
# Built without sanitizers: it is preloaded into sanitized programs too.
UNIT_TESTS += $(O)/tests/failio.so
$(O)/tests/failio.so: tests/fault/failio.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -g -fPIC -shared -Wall -Wextra -Werror $< -ldl -o $@

# benchmark driver for tests/bench/bench-formats.sh (not a test: no test_ prefix)
UNIT_TESTS += $(O)/tests/formats_bench
$(O)/tests/formats_bench: tests/bench/formats_bench.c $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) -o $@
