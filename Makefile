# clipsort — plain Makefile; paths and flags are in config.mk, each directory's
# programs and tests in its own module.mk.
#
#   make            build every tool into bin/
#   make check      unit and tool tests, then the ASan/UBSan build of the C parts
#   make bench      benchmarks (speed targets live here, never in tests)
#   make demo       the whole pipeline on a bundled generated sample
#   make install PREFIX=/usr/local

include config.mk

SAN ?=
ifeq ($(SAN),)
O := build/obj
B := bin
else
O := build/san/obj
B := build/san/bin
CFLAGS   += $(SANFLAGS)
CXXFLAGS += $(SANFLAGS)
LDFLAGS  += $(SANFLAGS)
endif
ifneq ($(DEVELOPER),)
CFLAGS   += $(DEVWARN)
CXXFLAGS += $(DEVWARNXX)
endif

CPPFLAGS += $(VIPS_CFLAGS) $(HDF5_CFLAGS) $(ARCHIVE_CFLAGS) $(JANSSON_CFLAGS) $(BLAS_CFLAGS)

PROGS      :=
TORCH_PROGS :=
UNIT_TESTS :=
SCRIPTS    :=
MAN1       :=
MAN5       :=
MAN7       :=
LIBCOMMON  := $(O)/libcommon.a
COMMON_LIBS = $(HDF5_LIBS) $(CRYPTO_LIBS) -lm

all: deps

include $(sort $(wildcard */*.mk tests/fuzz/*.mk))

all: $(PROGS) $(if $(SAN),,$(TORCH_PROGS)) $(UNIT_TESTS)

# make V=1 shows the full command lines
V ?=
Q  = $(if $(V),,@)
$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(if $(V),,@echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(O)/%.o: %.cpp
	@mkdir -p $(@D)
	$(if $(V),,@echo "  CXX     $<")
	$(Q)$(CXX) $(CPPFLAGS) $(TORCH_CFLAGS) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(O)/tests/%: tests/unit/%.c $(LIBCOMMON)
	@mkdir -p $(@D)
	$(if $(V),,@echo "  TEST    $@")
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) $(filter %.c %.o %.a,$^) $(COMMON_LIBS) $(UNIT_LIBS_$*) -o $@

$(LIBCOMMON): $(COMMON_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

# The install step: apt-installs every Debian package the project needs when one
# is missing (checked once, then remembered in .deps-ok until the list changes).
deps: .deps-ok
.deps-ok: scripts/install-deps
	scripts/install-deps
	@touch $@

check: all
	$(MAKE) --no-print-directory SAN=1 all
	tests/run bin build/obj/tests build/san/bin build/san/obj/tests

check-fast: all
	tests/run bin build/obj/tests

bench: all
	tests/bench/run

# the engine built and tested against libtorch 2.x in a Debian 13 chroot (root, network)
LIBTORCH2_ROOT ?= /var/tmp/clipsort-libtorch2
check-libtorch2:
	tests/compat/libtorch2.sh $(LIBTORCH2_ROOT)

demo: all
	scripts/demo

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(PROGS) $(TORCH_PROGS) $(SCRIPTS) $(DESTDIR)$(BINDIR)
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7

manlint:
	mandoc -Tlint -Wwarning $(MAN1) $(MAN5) $(MAN7)

clean:
	rm -rf build $(filter bin/clipsort-%,$(PROGS) $(TORCH_PROGS))

.PHONY: all deps check check-fast check-libtorch2 bench demo install manlint clean fuzz
.DELETE_ON_ERROR:

-include $(shell find build -name '*.d' 2>/dev/null)
