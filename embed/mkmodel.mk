# clipsort-mkmodel: random-weight OpenCLIP model directories (plain C + jansson).
# The vocabulary generator (embed/bpe_train.c, from embed/bpe.mk) is linked once it exists.
MKMODEL_OBJS := $(O)/embed/mkmodel.o $(O)/embed/safetensors_write.o
MKMODEL_LIBS  = $(JANSSON_LIBS)
ifneq ($(wildcard embed/bpe_train.c),)
MKMODEL_OBJS += $(BPE_OBJS)
MKMODEL_LIBS += $(BPE_LIBS)
$(O)/embed/mkmodel.o: CPPFLAGS += -DCS_HAVE_BPE_TRAIN
$(O)/embed/mkmodel.o: embed/bpe_train.h embed/mkmodel.mk
endif

PROGS += $(B)/clipsort-mkmodel
MAN1  += man/clipsort-mkmodel.1
$(B)/clipsort-mkmodel: $(MKMODEL_OBJS) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(MKMODEL_LIBS) $(COMMON_LIBS) -o $@

UNIT_TESTS += $(O)/tests/test_safetensors_write
$(O)/tests/test_safetensors_write: $(O)/embed/safetensors_write.o
$(O)/tests/test_safetensors_write: CPPFLAGS += -Iembed
