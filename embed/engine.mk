# The OpenCLIP inference engine (clip.h): C parsers + the libtorch shim.
ENGINE_COBJS := $(O)/embed/safetensors.o $(O)/embed/clipcfg.o $(O)/embed/modeldir.o
ENGINE_OBJS  := $(ENGINE_COBJS) $(O)/embed/clip_torch.o
ENGINE_LIBS   = $(TORCH_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS) $(BLAS_LIBS)

UNIT_TESTS += $(O)/tests/test_clip_header
$(O)/tests/test_clip_header: CFLAGS += -std=c11 -pedantic
