# The OpenCLIP inference engine (clip.h): C parsers + the libtorch shim.
# A program using the engine links $(ENGINE_OBJS) with $(ENGINE_LIBS) (C++ runtime
# included, so $(CC) can link it).
ENGINE_COBJS := $(O)/embed/safetensors.o $(O)/embed/clipcfg.o $(O)/embed/modeldir.o $(O)/embed/tune_env.o \
                $(O)/embed/devname.o
ENGINE_OBJS  := $(ENGINE_COBJS) $(O)/embed/clip_torch.o
ENGINE_LIBS   = $(TORCH_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS) $(BLAS_LIBS) -lstdc++ -lm

SCRIPTS += bin/clipsort-fetch-model

UNIT_TESTS += $(O)/tests/test_clip_header
$(O)/tests/test_clip_header: CFLAGS += -std=c11 -pedantic

# the C parsers alone: also built and run under ASan/UBSan
UNIT_TESTS += $(O)/tests/test_engine_parse
$(O)/tests/test_engine_parse: $(ENGINE_COBJS)
UNIT_LIBS_test_engine_parse = $(JANSSON_LIBS) $(CRYPTO_LIBS)

# the libtorch shim: not in the sanitizer build
ifeq ($(SAN),)
UNIT_TESTS += $(O)/tests/test_engine $(O)/tests/engine_bench
$(O)/tests/test_engine: $(ENGINE_OBJS)
UNIT_LIBS_test_engine = $(ENGINE_LIBS)
endif

$(O)/tests/engine_bench: tests/bench/engine_bench.c $(ENGINE_OBJS) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(filter %.c %.o %.a,$^) $(COMMON_LIBS) $(ENGINE_LIBS) -o $@
