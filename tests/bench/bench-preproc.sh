#!/bin/sh
# bench-preproc — image decode + OpenCLIP preprocessing throughput
# (embed/preproc.c): JPEG q90 and PNG RGBA at 800x800, 1600x1200, 3000x2000;
# exact and fast mode; 1 and 2 threads.  PREPROC_BENCH_SECS sets the seconds
# per measurement (default 2).
#
# Targets (why: clipsort-embed must keep up with the model; a 10k-image
# vendor set on a 2-core machine in about five minutes needs ~35 images/s,
# i.e. <= 57 ms of CPU per typical 1600x1200 photo).  CPU ms per image is
# the figure to judge: wall-clock rates depend on what else the machine runs.
#   exact, JPEG 1600x1200                  <= 57 ms CPU per image
#   fast,  JPEG 3000x2000                  >= 2x less CPU than exact (DCT
#          scaling skips the IDCT and upsampling work, not the entropy
#          decoding, which bounds the gain; fast mode is worth its
#          inexactness only if it at least halves the cost)
#   fast vs exact, mean |pixel difference| <= 1.0 uint8 level
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
prog=$SRC/build/obj/tests/preproc_bench
if [ ! -x "$prog" ]; then
	make -C "$SRC" -s build/obj/tests/preproc_bench >/dev/null || exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$prog" -s "${PREPROC_BENCH_SECS:-2}" | tee "$out" || exit 1
awk '
function verdict(ok) { return ok ? "met" : "MISSED" }
$1 == "JPEG" && $3 == "1600x1200" { em = $13 }
$1 == "JPEG" && $3 == "3000x2000" { e3 = $13; f3 = $14 }
/mean \|diff\|/ { d = $6 + 0; if (d > dmax) dmax = d }
END {
	printf "\ntargets:\n"
	printf "  exact JPEG 1600x1200: %.1f ms CPU per image (target <= 57): %s\n", em, verdict(em <= 57)
	printf "  JPEG 3000x2000 exact/fast CPU: %.1fx (target >= 2x): %s\n", e3 / f3, verdict(e3 >= 2 * f3)
	printf "  fast vs exact mean |diff|: worst %.3f (target <= 1.0): %s\n", dmax, verdict(dmax <= 1.0)
}' "$out"
