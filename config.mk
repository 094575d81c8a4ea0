# clipsort build configuration: paths and flags live here, rules in Makefile.

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
SHAREDIR ?= $(PREFIX)/share/clipsort

CC       ?= cc
CXX      ?= c++
PKG_CONFIG ?= pkg-config

OPT      ?= -O2
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Icommon
CFLAGS   += -std=c11 $(OPT) -g -pthread
CXXFLAGS += -std=c++17 $(OPT) -g -pthread
LDFLAGS  += -pthread

# Developer mode: strict warnings as errors; on by default in a git checkout
# (so in CI), off in a release tree; make DEVELOPER= turns it off.
DEVELOPER ?= $(if $(wildcard .git),1,)
DEVWARN   = -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wvla \
            -Wwrite-strings -Wshadow -Wpointer-arith -Wformat=2 -Wundef \
            -Wcast-qual -Wnull-dereference -Werror
DEVWARNXX = -Wall -Wextra -Wvla -Wshadow -Wpointer-arith -Wformat=2 -Werror

# Sanitizer build (make SAN=1): ASan + UBSan for the C parts, in build/san.
SANFLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Optimised BLAS.  libtorch and clipsort's own BLAS calls resolve libblas.so.3 to
# OpenBLAS's OpenMP build, which shares libtorch's OpenMP runtime (the pthread
# build busy-waits against it).  DT_RPATH (not RUNPATH) so the choice also holds
# for libtorch's own dependency on libblas.so.3, whatever the system alternative.
BLASDIR  ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
BLAS_CFLAGS ?= -I/usr/include/x86_64-linux-gnu/openblas-openmp
BLAS_LIBS ?= -L$(BLASDIR) -Wl,--disable-new-dtags -Wl,-rpath,$(BLASDIR) -lopenblas

# libtorch: Debian's libtorch-dev by default; LIBTORCH=/path for an official tree.
LIBTORCH ?=
ifeq ($(LIBTORCH),)
TORCH_CFLAGS ?= -I/usr/include/torch/csrc/api/include
TORCH_LIBS   ?= -ltorch -ltorch_cpu -lc10
else
TORCH_CFLAGS ?= -I$(LIBTORCH)/include -I$(LIBTORCH)/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=1
TORCH_LIBS   ?= -L$(LIBTORCH)/lib -Wl,-rpath,$(LIBTORCH)/lib -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 \
                $(if $(wildcard $(LIBTORCH)/lib/libtorch_cuda.so),-ltorch_cuda -lc10_cuda) -Wl,--as-needed
endif

VIPS_CFLAGS    ?= $(shell $(PKG_CONFIG) --cflags vips 2>/dev/null)
VIPS_LIBS      ?= $(shell $(PKG_CONFIG) --libs vips 2>/dev/null)
HDF5_CFLAGS    ?= $(shell $(PKG_CONFIG) --cflags hdf5 2>/dev/null)
HDF5_LIBS      ?= $(shell $(PKG_CONFIG) --libs hdf5 2>/dev/null)
ARCHIVE_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libarchive 2>/dev/null)
ARCHIVE_LIBS   ?= $(shell $(PKG_CONFIG) --libs libarchive 2>/dev/null)
JANSSON_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags jansson 2>/dev/null)
JANSSON_LIBS   ?= $(shell $(PKG_CONFIG) --libs jansson 2>/dev/null)
MHD_CFLAGS     ?= $(shell $(PKG_CONFIG) --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS       ?= $(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null)
GTK_CFLAGS     ?= $(shell $(PKG_CONFIG) --cflags gtk4 2>/dev/null)
GTK_LIBS       ?= $(shell $(PKG_CONFIG) --libs gtk4 2>/dev/null)
ZLIB_LIBS      ?= -lz
CRYPTO_LIBS    ?= -lcrypto
SVM_LIBS       ?= -lsvm
LINEAR_LIBS    ?= -llinear
