PROGS += $(B)/clipsort-sort
MAN1  += man/clipsort-sort.1
$(O)/sort/%.o: CPPFLAGS += -Ifuse
$(B)/clipsort-sort: $(O)/sort/main.o $(O)/sort/out.o $(O)/fuse/rowmap.o $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) $(ARCHIVE_LIBS) -o $@
