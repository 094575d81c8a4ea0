PROGS += $(B)/clipsort-zeroshot
MAN1  += man/clipsort-zeroshot.1
MAN5  += man/clipsort-classes.5
ZS_OBJS := $(O)/zeroshot/classes.o
$(B)/clipsort-zeroshot: $(O)/zeroshot/main.o $(ZS_OBJS) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) $(BLAS_LIBS) -o $@

# test and benchmark data generator of the cold-start tools (tests/bench/coldstart_gen.c)
UNIT_TESTS += $(O)/tests/coldstart_gen
$(O)/tests/coldstart_gen: tests/bench/coldstart_gen.c $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) -o $@
