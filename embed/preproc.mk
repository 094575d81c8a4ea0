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
