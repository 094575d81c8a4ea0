PROGS += $(B)/clipsort-sort
MAN1  += man/clipsort-sort.1
$(O)/sort/%.o: CPPFLAGS += -Ifuse
$(B)/clipsort-sort: $(O)/sort/main.o $(O)/sort/out.o $(O)/fuse/rowmap.o $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(COMMON_LIBS) $(ARCHIVE_LIBS) -o $@

# the workflow fragment users include (share/workflow/clipsort.mk, see its README.md)
install: install-workflow
install-workflow:
	install -d $(DESTDIR)$(SHAREDIR)
	install -m 644 share/workflow/clipsort.mk $(DESTDIR)$(SHAREDIR)/clipsort.mk
.PHONY: install-workflow
