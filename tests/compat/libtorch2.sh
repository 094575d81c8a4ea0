#!/bin/sh
# libtorch2.sh — build the engine against libtorch 2.x and run its conformance tests.
#
# Debian 12 ships libtorch 1.13; Debian 13 (trixie) ships libtorch 2.6 (CPU).  This
# script debootstraps trixie into ROOT (once; later runs reuse it), installs what the
# engine and its tests need there, copies this checkout (tracked files) and the
# OpenCLIP fixture in, and inside the chroot:
#   1. builds the engine, clipsort-embed, clipsort-mkmodel and the engine tests with
#      the strict developer flags (-Werror) and g++ of that release;
#   2. runs test_engine (the OpenCLIP fixture: fused scaled_dot_product_attention and
#      the explicit path), t-engine (every config option against a float64 numpy
#      forward pass), t-mkmodel and t-demo;
#   3. builds again with LIBTORCH=/opt/libtorch, a tree laid out like the official
#      libtorch zip (include/, include/torch/csrc/api/include, lib/) pointing at the
#      same 2.6 files, and runs test_engine with that engine.
# Needs root (debootstrap, chroot, mount) and Debian's mirror; ~1.5 GB in ROOT.
# Not part of `make check`: `make check-libtorch2 [LIBTORCH2_ROOT=DIR]`.  BENCH=1 also
# times ViT-B-16 with fused against explicit attention.
#
# usage: tests/compat/libtorch2.sh [ROOT]     (default /var/tmp/clipsort-libtorch2)
# Exit: 0 all passed, 1 a test failed, 2 setup failed.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
ROOT=${1:-/var/tmp/clipsort-libtorch2}
SUITE=${SUITE:-trixie}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
FIXTURE=${FIXTURE:-$SRC/../shared/fixtures/openclip}
PKGS="build-essential pkg-config libtorch-dev libjansson-dev libssl-dev libopenblas-openmp-dev
libopenblas0-openmp libhdf5-dev hdf5-tools libarchive-dev libvips-dev libutf8proc-dev zlib1g-dev
python3 python3-numpy python3-scipy python3-h5py python3-pil python3-regex curl zip unzip time"

die() { echo "libtorch2: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
[ -f "$FIXTURE/manifest.json" ] || die "OpenCLIP fixture absent (expected at $FIXTURE)"

if [ ! -f "$ROOT/etc/debian_version" ]; then
	echo "libtorch2: debootstrap $SUITE into $ROOT"
	mkdir -p "$ROOT"
	debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 ||
		die "debootstrap failed (see $ROOT.debootstrap.log)"
fi
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT INT TERM
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
# shellcheck disable=SC2086
in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(echo $PKGS) >/dev/null" ||
	die "apt-get install in $ROOT failed"

rm -rf "$ROOT/src" && mkdir -p "$ROOT/src/clipsort" "$ROOT/src/shared/fixtures"
(cd "$SRC" && git ls-files -z | tar --null -T - -cf -) | tar -x -C "$ROOT/src/clipsort"
cp -r "$FIXTURE" "$ROOT/src/shared/fixtures/openclip"
in_root sh -c 'mkdir -p /opt/libtorch && ln -sfn /usr/include /opt/libtorch/include &&
	ln -sfn /usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu) /opt/libtorch/lib'

ver=$(sed -n 's/^#define TORCH_VERSION_[A-Z]* \([0-9]*\)$/\1/p' "$ROOT/usr/include/torch/csrc/api/include/torch/version.h" | paste -sd.)
echo "libtorch2: libtorch $ver, $(in_root g++ --version | head -n 1)"
fail=0
in_root sh -c 'cd /src/clipsort && make -j"$(nproc)" DEVELOPER=1 bin/clipsort-engine.so bin/clipsort-embed \
	bin/clipsort-mkmodel bin/clipsort-zeroshot bin/clipsort-cluster bin/clipsort-fuse bin/clipsort-sort \
	build/obj/tests/test_engine build/obj/tests/engine_bench build/obj/tests/failio.so >/tmp/build.log 2>&1' ||
	{ tail -n 30 "$ROOT/tmp/build.log"; echo "FAIL build against libtorch 2.x (-Werror)"; exit 1; }
echo "ok   build against libtorch 2.x with -Werror"
for t in test_engine t-engine t-mkmodel t-demo; do
	case $t in
	test_*) cmd="build/obj/tests/$t" ;;
	*) cmd="bash tests/$t.sh" ;;
	esac
	if in_root sh -c "cd /src/clipsort && $cmd >/tmp/$t.out 2>&1"; then r=ok; else r=FAIL; fail=1; fi
	printf '%-4s %s: %s\n' "$r" "$t" "$(grep -E '^# (counts|t-)' "$ROOT/tmp/$t.out" | tail -n 1)"
	[ "$r" = ok ] || grep -A3 '^FAIL' "$ROOT/tmp/$t.out" | head -n 20
done
grep -E '^# (image|text)_features|^# unfused' "$ROOT/tmp/test_engine.out" | sed 's/^#/    /'

if [ -n "${BENCH:-}" ]; then  # BENCH=1: ViT-B-16 f32 batch 8, fused vs explicit attention
	in_root sh -c 'cd /src/clipsort && { [ -f /tmp/b16/open_clip_model.safetensors ] ||
		bin/clipsort-mkmodel --no-vocab --preset ViT-B-16 --dtype f32 /tmp/b16 >/dev/null; } &&
		for i in 1 2; do build/obj/tests/engine_bench image /tmp/b16 f32 8 8 | sed "s/^/    fused:    /"
		ENGINE_BENCH_UNFUSED=1 build/obj/tests/engine_bench image /tmp/b16 f32 8 8 | sed "s/^/    explicit: /"; done'
fi
if in_root sh -c 'rm -rf /src/lt && cp -a /src/clipsort /src/lt && cd /src/lt && rm -rf build bin/clipsort-engine.so &&
	make -j"$(nproc)" DEVELOPER=1 LIBTORCH=/opt/libtorch bin/clipsort-engine.so build/obj/tests/test_engine >/tmp/lt.log 2>&1 &&
	readelf -d bin/clipsort-engine.so | grep -q "/opt/libtorch/lib" && build/obj/tests/test_engine >/tmp/lt.out 2>&1'; then
	echo "ok   LIBTORCH=/opt/libtorch (official-tree layout): test_engine $(grep '^# counts' "$ROOT/tmp/lt.out")"
else
	fail=1
	echo "FAIL LIBTORCH=/opt/libtorch build or test_engine"; tail -n 20 "$ROOT/tmp/lt.log" "$ROOT/tmp/lt.out" 2>/dev/null
fi
exit $fail
