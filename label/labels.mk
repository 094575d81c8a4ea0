# label/labels.mk — clipsort-labels: append to / read the labels log (common/labels.c).
PROGS += $(B)/clipsort-labels
MAN1  += man/clipsort-labels.1
MAN5  += man/clipsort-labels.5
UNIT_TESTS += $(O)/tests/test_labels

$(B)/clipsort-labels: $(O)/label/labels.o $(O)/train/classset.o $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) -o $@
