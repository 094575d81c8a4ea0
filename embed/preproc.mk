# embed/preproc.mk — image decoding and OpenCLIP preprocessing (libvips + a
# port of Pillow's resampler).  Link $(PREPROC_OBJS) with $(PREPROC_LIBS).
PREPROC_OBJS := $(O)/embed/preproc.o $(O)/embed/resample.o
PREPROC_LIBS  = $(VIPS_LIBS) -lm

# preproc_dump: the test driver behind tests/t-preproc.sh (dumps pixels/floats)
UNIT_TESTS += $(O)/tests/test_preproc $(O)/tests/preproc_dump
$(O)/tests/test_preproc: $(PREPROC_OBJS)
$(O)/tests/preproc_dump: $(PREPROC_OBJS)
UNIT_LIBS_test_preproc = $(PREPROC_LIBS)
UNIT_LIBS_preproc_dump = $(PREPROC_LIBS)

# preproc_bench: tests/bench/bench-preproc.sh's program (built with `all`, not a test)
UNIT_TESTS += $(O)/tests/preproc_bench
$(O)/tests/preproc_bench: tests/bench/preproc_bench.c $(PREPROC_OBJS) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) $(PREPROC_LIBS) -o $@
