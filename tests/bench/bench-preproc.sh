#!/bin/sh
# bench-preproc — image decode + OpenCLIP preprocessing throughput
# (embed/preproc.c): JPEG q90 and PNG RGBA at 800x800, 1600x1200, 3000x2000;
# exact and fast mode; 1 and 2 threads.  PREPROC_BENCH_SECS sets the seconds
# per measurement (default 2).
#
# Targets (why: clipsort-embed must keep up with the model; a 10k-image
# vendor set on a 2-core machine in about five minutes needs ~35 images/s):
#   exact, JPEG 1600x1200, 2 threads       >= 35 images/s
#   fast,  JPEG 3000x2000, 1 thread        >= 3x exact (shrink-on-load pays)
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
$1 == "JPEG" && $3 == "1600x1200" { e2 = $7 }
$1 == "JPEG" && $3 == "3000x2000" { e1 = $5; f1 = $9 }
/mean \|diff\|/ { d = $5 + 0; if (d > dmax) dmax = d }
END {
	printf "\ntargets:\n"
	printf "  exact JPEG 1600x1200, 2 threads: %.1f images/s (target >= 35): %s\n", e2, verdict(e2 >= 35)
	printf "  fast/exact JPEG 3000x2000, 1 thread: %.1fx (target >= 3x): %s\n", f1 / e1, verdict(f1 >= 3 * e1)
	printf "  fast vs exact mean |diff|: worst %.3f (target <= 1.0): %s\n", dmax, verdict(dmax <= 1.0)
}' "$out"
