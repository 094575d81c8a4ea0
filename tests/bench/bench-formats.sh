#!/bin/sh
# bench-formats: the data formats of common/.  Targets: reading a 1,000,000-row TSV
# well under 1 s per 100 MB; cache and stream rates far above any embedder's
# (thousands of images/s), reader memory flat in the number of images.
set -u
: "${SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
DRV=$SRC/build/obj/tests/formats_bench
[ -x "$DRV" ] || { echo "bench-formats: $DRV not built (make $DRV)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-formats.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$DRV" tsv-write 1000000 "$tmp/a.tsv" || exit 1
"$DRV" tsv-read "$tmp/a.tsv" || exit 1
echo "target: 1,000,000 rows, well under 1 s per 100 MB"
rm -f "$tmp/a.tsv"
"$DRV" cache-write 20000 512 "$tmp/s.h5" || exit 1
"$DRV" read "$tmp/s.h5" || exit 1
"$DRV" cache-write-random 100000 512 "$tmp/c.h5" || exit 1
"$DRV" read "$tmp/c.h5" || exit 1
ls -l "$tmp/c.h5" | awk '{printf "cache size 100000 x 512: %.1f MB (vectors alone %.1f MB)\n", $5 / 1e6, 100000 * 512 * 4 / 1e6}'
rm -f "$tmp/c.h5"
"$DRV" stream-write 100000 512 "$tmp/s.emb" || exit 1
"$DRV" read "$tmp/s.emb" || exit 1
echo "target: reader max RSS about the same for 20,000 and 100,000 images"
