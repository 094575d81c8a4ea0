# clipsort-embed: inputs (files, directories, ZIPs), the decode/embed pipeline and
# the incremental cache update, over the engine, the tokenizer and preprocessing.
#
# The engine (libtorch) is not linked into the program: it is the shared object
# clipsort-engine.so, built from the engine's sources compiled position-independent,
# opened with dlopen() only when an image or prompt has to be embedded
# (embed/engine_dl.c).  It lives next to the program in the tree and in
# $(PREFIX)/lib/clipsort once installed.
EMBED_OBJS := $(O)/embed/main.o $(O)/embed/pipeline.o $(O)/embed/inputs.o $(O)/embed/engine_dl.o
ENGINE_SO  := $(B)/clipsort-engine.so
ENGINE_PIC_OBJS := $(patsubst $(O)/%,$(O)/pic/%,$(ENGINE_OBJS))
LIBDIR_CS  ?= $(PREFIX)/lib/clipsort

TORCH_PROGS += $(B)/clipsort-embed
MAN1 += man/clipsort-embed.1
$(B)/clipsort-embed: $(EMBED_OBJS) $(BPE_OBJS) $(PREPROC_OBJS) $(ENGINE_COBJS) $(LIBCOMMON) $(ENGINE_SO)
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter-out %.so,$^) $(COMMON_LIBS) $(ARCHIVE_LIBS) $(PREPROC_LIBS) $(BPE_LIBS) \
	    $(JANSSON_LIBS) $(CRYPTO_LIBS) -ldl -lm -o $@

$(ENGINE_SO): $(ENGINE_PIC_OBJS)
	$(CXX) -shared $(CXXFLAGS) $(LDFLAGS) -Wl,-Bsymbolic -Wl,-z,defs $^ $(ENGINE_LIBS) -o $@

$(O)/pic/%.o: %.c
	@mkdir -p $(@D)
	$(if $(V),,@echo "  CC -fPIC $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(O)/pic/%.o: %.cpp
	@mkdir -p $(@D)
	$(if $(V),,@echo "  CXX -fPIC $<")
	$(Q)$(CXX) $(CPPFLAGS) $(TORCH_CFLAGS) $(CXXFLAGS) -fPIC -MMD -MP -c $< -o $@

install: install-engine
install-engine: $(if $(SAN),,$(ENGINE_SO))
	install -d $(DESTDIR)$(LIBDIR_CS)
	install -m 755 $(ENGINE_SO) $(DESTDIR)$(LIBDIR_CS)
.PHONY: install-engine

MAN7 += man/clipsort-models.7

# common/strmap.c: used only by clipsort-embed; plain C, also under ASan/UBSan
UNIT_TESTS += $(O)/tests/test_strmap
