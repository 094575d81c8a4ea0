PROGS += $(B)/clipsort-fuse
MAN1  += man/clipsort-fuse.1
$(B)/clipsort-fuse: $(O)/fuse/main.o $(O)/fuse/rowmap.o $(O)/fuse/blend.o $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) -o $@
