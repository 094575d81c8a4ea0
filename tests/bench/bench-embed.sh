#!/bin/sh
# bench-embed: clipsort-embed end to end (read, hash, decode, preprocess, model, cache)
# on a generated corpus of vendor-sized images, next to the model-only rate of the same
# model; the re-run over an unchanged 45,000-entry cache; peak memory for 1k vs 45k
# inputs.  Targets (the issue): end-to-end >= 90% of model-only for ViT-B-16-sized;
# ViT-B-32 >= 2x OpenCLIP's own path here (Pillow + OpenCLIP, batch 16: 11.1 images/s
# default, 18.9 tuned) and ahead of the tuned figure; unchanged re-run < 2 s.
# Measured 2026-12-04 (300 images, load 3-4 from other jobs; CPU shares are the
# load-independent figures): ViT-B-16 exact 95% of model-only CPU per image (94%
# wall), fast 100%; ViT-B-32 fast 91% (15.8/s), exact 71% (11.4/s) against a
# model-only 19.7/s, so on 2 cores ViT-B-32 stays below OpenCLIP's tuned 18.9/s
# (its model alone is 96 CPU-ms/image: 2 cores cannot exceed ~21/s).  Unchanged
# 45k re-run 0.36 s (0.35 s CPU); peak RSS 265 MB at 1k inputs, 350 MB at 45k.
# Idle machine (load ~1, 22:50): ViT-B-32 bf16 --fast 28.7 images/s (63 CPU-ms), bf16 exact
# 24.1/s (79), f32 --fast 18.5/s (103), f32 exact 15.3/s (126): the bf16 modes pass 22.2.
set -u
: "${SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
BIN=$SRC/bin
EB=$SRC/build/obj/tests/engine_bench
OUT=$SRC/build/bench
NIMG=${EMBED_BENCH_IMAGES:-300}
mkdir -p "$OUT"
TIME=/usr/bin/time
[ -x $TIME ] || TIME=

corpus=$OUT/vendor-corpus-$NIMG
if [ ! -d "$corpus" ]; then
	echo "generating $NIMG vendor-sized images (800..3000 px, 10% PNG with alpha) in $corpus"
	/usr/bin/python3 "$SRC/scripts/gen-images" --seed 42 --count "$NIMG" --min-size 800 \
	    --max-size 3000 --png-share 0.1 "$corpus.tmp" && mv "$corpus.tmp" "$corpus" || exit 1
fi
echo "corpus: $(find "$corpus" -type f | wc -l) files, $(du -sh "$corpus" | cut -f1); $(nproc) CPUs; load $(cut -d' ' -f1 /proc/loadavg)"

model() { # DIR PRESET
	[ -f "$1/open_clip_model.safetensors" ] && return 0
	rm -rf "$1"
	"$BIN/clipsort-mkmodel" --no-vocab --preset "$2" --dtype f32 "$1" >/dev/null
}

now() { date +%s.%N; }

e2e() { # MODEL EXTRA-ARGS: "images/s CPU-ms/image" over the corpus, fresh cache each time
	rm -f "$OUT/e2e.h5"
	if [ -n "$TIME" ]; then
		$TIME -f "%e %U %S" -o "$OUT/e2e.time" "$BIN/clipsort-embed" -q -b 16 -m "$1" $2 -o "$OUT/e2e.h5" "$corpus" || return 1
	else
		t0=$(now)
		"$BIN/clipsort-embed" -q -b 16 -m "$1" $2 -o "$OUT/e2e.h5" "$corpus" || return 1
		echo "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }') 0 0" >"$OUT/e2e.time"
	fi
	awk -v n="$NIMG" '{ printf "%.2f %.0f", n / $1, 1000 * ($2 + $3) / n }' "$OUT/e2e.time"
}

# images/s is wall time (it depends on the machine's load, printed with each row);
# CPU ms/image (user + sys of the whole run) does not: the CPU ratio is model-only
# CPU ms/image over end-to-end CPU ms/image, the share of the work that is the model.
printf '%-14s %-5s %9s %10s | %12s %10s | %9s %9s %5s\n' model "mode" "images/s" "CPU-ms/img" \
    "model-only/s" "CPU-ms/img" "wall e2e/" "CPU e2e/" load
# model:dir:dtype — bf16 where the CPU has it (AVX512-BF16 here): the engine's
# bf16 path is ~2x f32 per CPU-second with cosine >= 0.9999 to f32 (bench-engine)
for m in ViT-B-32:vit-b-32:f32 ViT-B-32:vit-b-32:bf16 ViT-B-16:vit-b-16:f32; do
	preset=${m%%:*} rest=${m#*:} dir=$OUT/engine-${rest%%:*} dt=${m##*:}
	model "$dir" "$preset" || { echo "cannot make $preset"; exit 1; }
	# "image f32 batch 16: R per second (...; C per CPU-second)"
	set -- $("$EB" image "$dir" "$dt" 16 6 | awk '{ for (i = 1; i <= NF; i++) if ($i == "per") printf "%s ", $(i - 1) }')
	mo=$1 mocpu=$(awk -v c="${2:-0}" 'BEGIN { printf "%.0f", (c > 0 ? 1000 / c : 0) }')
	for mode in exact fast; do
		args="--dtype $dt"; [ $mode = fast ] && args="$args --fast"
		r=$(e2e "$dir" "$args") || { echo "embed failed"; exit 1; }
		set -- $r
		printf '%-14s %-5s %9s %10s | %12s %10s | %8.0f%% %8.0f%% %5s\n' "$preset/$dt" "$mode" "$1" "$2" "$mo" "$mocpu" \
		    "$(awk -v a="$1" -v b="$mo" 'BEGIN { print 100 * a / b }')" \
		    "$(awk -v a="$2" -v b="$mocpu" 'BEGIN { print (a > 0 ? 100 * b / a : 0) }')" "$(cut -d' ' -f1 /proc/loadavg)"
	done
done
echo "OpenCLIP here (Pillow + OpenCLIP, ViT-B-32, batch 16): 11.1 images/s default, 18.9 tuned"

# ---- many small inputs: unchanged re-run and memory ----
tiny=$OUT/embed-tiny
model "$tiny" tiny || exit 1
many() { # N: a directory of N distinct small PNGs
	d=$OUT/small-$1
	[ -d "$d" ] && return 0
	/usr/bin/python3 - "$d.tmp" "$1" <<'PY' && mv "$d.tmp" "$d"
import os, sys, zlib, struct
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
for i in range(n):
    w = h = 16
    rows = b"".join(b"\x00" + bytes(v for x in range(w) for v in ((x * 7 + y * 13 + i) % 256, (i >> 8) % 256, (x * y + i) % 256)) for y in range(h))
    sub = os.path.join(out, "%03d" % (i // 1000))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "%06d.png" % i), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
}
for n in ${EMBED_BENCH_MANY:-1000 45000}; do
	many $n || exit 1
	rm -f "$OUT/small-$n.h5"
	t0=$(now)
	if [ -n "$TIME" ]; then
		rss=$($TIME -f %M "$BIN/clipsort-embed" -q -m "$tiny" -o "$OUT/small-$n.h5" "$OUT/small-$n" 2>&1 >/dev/null | tail -n 1)
	else
		"$BIN/clipsort-embed" -q -m "$tiny" -o "$OUT/small-$n.h5" "$OUT/small-$n"; rss=?
	fi
	t1=$(now)
	"$BIN/clipsort-embed" -q -m "$tiny" -o "$OUT/small-$n.h5" "$OUT/small-$n"   # warm the page cache
	t2=$(now)
	cpu=?
	if [ -n "$TIME" ]; then
		$TIME -f "%U %S" -o "$OUT/rerun.time" "$BIN/clipsort-embed" -q -m "$tiny" -o "$OUT/small-$n.h5" "$OUT/small-$n"
		cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$OUT/rerun.time")
	else
		"$BIN/clipsort-embed" -q -m "$tiny" -o "$OUT/small-$n.h5" "$OUT/small-$n"
	fi
	t3=$(now)
	awk -v n=$n -v a=$t0 -v b=$t1 -v c=$t2 -v d=$t3 -v rss="$rss" -v cpu="$cpu" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
		printf "%6d inputs: first run %.1f s (tiny model), peak RSS %s KiB; unchanged re-run %.2f s, %s s CPU (target < 2 s); load %s\n", n, b - a, rss, d - c, cpu, load }'
done
