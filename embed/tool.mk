# clipsort-embed: inputs (files, directories, ZIPs), the decode/embed pipeline and
# the incremental cache update, over the engine, the tokenizer and preprocessing.
EMBED_OBJS := $(O)/embed/main.o $(O)/embed/pipeline.o $(O)/embed/inputs.o
TORCH_PROGS += $(B)/clipsort-embed
MAN1 += man/clipsort-embed.1
$(B)/clipsort-embed: $(EMBED_OBJS) $(BPE_OBJS) $(PREPROC_OBJS) $(ENGINE_OBJS) $(LIBCOMMON)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) $(ARCHIVE_LIBS) $(PREPROC_LIBS) $(BPE_LIBS) $(ENGINE_LIBS) -o $@
MAN7 += man/clipsort-models.7
