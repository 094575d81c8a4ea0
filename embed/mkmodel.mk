# clipsort-mkmodel: random-weight OpenCLIP model directories (plain C + jansson).
# The vocabulary generator (embed/bpe_train.c, the tokenizer's) is linked when present.
MKMODEL_OBJS := $(O)/embed/mkmodel.o $(O)/embed/safetensors_write.o
ifneq ($(wildcard embed/bpe_train.c),)
MKMODEL_OBJS += $(patsubst %.c,$(O)/%.o,$(wildcard embed/bpe*.c))
$(O)/embed/mkmodel.o: CPPFLAGS += -DCS_HAVE_BPE_TRAIN
$(O)/embed/mkmodel.o: embed/bpe_train.h
endif

PROGS += $(B)/clipsort-mkmodel
MAN1  += man/clipsort-mkmodel.1
$(B)/clipsort-mkmodel: $(MKMODEL_OBJS) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(JANSSON_LIBS) $(COMMON_LIBS) -o $@
