# clipsort-cache and the unit tests of common/'s data formats (tsv, emb, fsutil, sha256, progress).
UNIT_TESTS += $(O)/tests/test_tsv $(O)/tests/test_emb
