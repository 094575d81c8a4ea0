# clipsort-label-gtk: the desktop labeller (GTK 4) over the shared UI core (label/web.mk).
# Built only where GTK 4 is installed (libgtk-4-dev, scripts/debian-packages).
ifneq ($(GTK_LIBS),)
PROGS += $(B)/clipsort-label-gtk
UI_CORE_OBJS := $(O)/label/ui_core.o $(O)/label/ui_journal.o $(O)/label/ui_retrain.o $(O)/label/ui_img.o
$(O)/label/gtk.o: CPPFLAGS += $(GTK_CFLAGS)
$(B)/clipsort-label-gtk: $(O)/label/gtk.o $(UI_CORE_OBJS) $(LIBCOMMON)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(GTK_LIBS) $(VIPS_LIBS) $(ARCHIVE_LIBS) $(COMMON_LIBS) -o $@
endif
MAN1 += man/clipsort-label-gtk.1
