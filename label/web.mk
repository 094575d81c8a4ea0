# clipsort-label-web: the web labeller (libmicrohttpd) over the shared UI core.
PROGS += $(B)/clipsort-label-web
MAN1  += man/clipsort-label-web.1
WEB_STATIC := $(wildcard label/static/*)
UI_CORE_OBJS := $(O)/label/ui_core.o $(O)/label/ui_journal.o $(O)/label/ui_retrain.o $(O)/label/ui_img.o

$(O)/label/web_static.c: label/web-static.sh $(WEB_STATIC)
	@mkdir -p $(@D)
	label/web-static.sh $@ $(WEB_STATIC)
$(O)/label/web_static.o: $(O)/label/web_static.c
	$(CC) $(CPPFLAGS) -Ilabel $(CFLAGS) -c $< -o $@
$(O)/label/web.o: CPPFLAGS += $(MHD_CFLAGS) $(JANSSON_CFLAGS)

$(B)/clipsort-label-web: $(O)/label/web.o $(O)/label/web_static.o $(UI_CORE_OBJS) $(LIBCOMMON)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(MHD_LIBS) $(JANSSON_LIBS) $(VIPS_LIBS) $(ARCHIVE_LIBS) $(COMMON_LIBS) -o $@
