# The CLIP BPE tokenizer (bpe.h) and the vocabulary generator (bpe_train.h).
# Users link $(BPE_OBJS) and $(BPE_LIBS).
BPE_OBJS := $(O)/embed/bpe.o $(O)/embed/bpe_text.o $(O)/embed/bpe_tables.o $(O)/embed/bpe_train.o
BPE_LIBS  = $(JANSSON_LIBS) $(ZLIB_LIBS) -lutf8proc

UNIT_TESTS += $(O)/tests/test_bpe
$(O)/tests/test_bpe: $(BPE_OBJS)
UNIT_LIBS_test_bpe = $(BPE_LIBS)
$(O)/tests/test_bpe: CPPFLAGS += -Iembed

# regenerate by hand: scripts/gen-bpe-tables.py > embed/bpe_tables.c
