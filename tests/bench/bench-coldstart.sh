#!/bin/sh
# bench-coldstart: speed of clipsort-zeroshot, -cluster and -fuse on 45,000 x 1024
# clustered unit vectors, side by side with scikit-learn's KMeans (n_init 10 and 1)
# and a numpy cosine/softmax on the same data; zeroshot and fuse streaming over
# 1,000,000 rows with their peak memory.
#
# Targets: cluster >= 2x faster than scikit-learn with the same restarts, inertia
# within 0.1%; zeroshot and fuse memory flat from 100,000 to 1,000,000 rows.
# Environment: BIN (programs), TOBJ (coldstart_gen), N (45000), DIM (1024), BIG (1000000).
set -u
: "${SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BIN:=$SRC/bin}"
: "${TOBJ:=$SRC/build/obj/tests}"
: "${N:=45000}" "${DIM:=1024}" "${BIG:=1000000}"
GEN=$TOBJ/coldstart_gen
REF=$SRC/tests/bench/coldstart_ref.py
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/bench-coldstart.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
for f in "$GEN" "$BIN/clipsort-zeroshot" "$BIN/clipsort-cluster" "$BIN/clipsort-fuse"; do
	[ -x "$f" ] || { echo "bench-coldstart: $f missing (make first)"; exit 1; }
done
[ -x /usr/bin/time ] || { echo "bench-coldstart: /usr/bin/time missing (Debian package time)"; exit 1; }

# timed LABEL CMD...: runs CMD with stdout to $T/o, prints wall seconds and peak RSS
timed() {
	label=$1; shift
	/usr/bin/time -f '%e %M' -o tm "$@" >o 2>e || { echo "$label: failed: $(cat e)"; return 1; }
	set -- $(tail -1 tm)
	printf '%-50s %8.2f s %9d KB\n' "$label" "$1" "$2"
}

echo "data: $N x $DIM vectors, 2 classes + noise (coldstart_gen), $(nproc) cores"
"$GEN" -n "$N" -d "$DIM" -C 2 -N 1.5 -s 1 -I -r x.f32 >images.emb
"$GEN" -n 0 -d "$DIM" -C 2 -N 1.5 -s 1 -T -r c.f32 >prompts.emb
echo
echo "--- zero-shot ($N rows)"
timed "clipsort-zeroshot (read+score+write)" "$BIN/clipsort-zeroshot" -t prompts.emb images.emb
cp o z.tsv
echo "numpy cosine/softmax (compute only, data in RAM): $($PY "$REF" zeroshot x.f32 c.f32 "$DIM" 100)"
echo
echo "--- k-means, k = 2 (all cores, then one thread each: fairer on a busy machine)"
for th in all 1; do
for r in 10 1; do
	if [ "$th" = 1 ]; then export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1; else unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS; fi
	timed "clipsort-cluster -r $r, threads $th (whole run)" "$BIN/clipsort-cluster" -v -r "$r" -t prompts.emb images.emb
	[ "$r" = 10 ] && cp o c.tsv
	ours_fit=$(sed -n 's/.*fit in \([0-9.]*\) s.*/\1/p' e)
	ours_in=$(sed -n 's/.*inertia \([^,]*\),.*/\1/p' e)
	sk=$($PY "$REF" kmeans x.f32 "$DIM" 2 "$r")
	sk_fit=$(echo "$sk" | sed -n 's/.*fit_s=\([0-9.]*\).*/\1/p')
	sk_in=$(echo "$sk" | sed -n 's/.*inertia=\([^ ]*\).*/\1/p')
	$PY - "$r" "$ours_fit" "$ours_in" "$sk_fit" "$sk_in" <<'PY'
import sys
r, of, oi, sf, si = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
speed = sf / of; dev = (oi - si) / si
print('  n_init=%s: fit ours %.3f s, scikit-learn %.3f s -> %.2fx (target >= 2x: %s)' % (r, of, sf, speed, 'met' if speed >= 2 else 'NOT met'))
print('  inertia ours %.10g, scikit-learn %.10g, difference %+.5f%% (target within 0.1%%: %s)' % (oi, si, 100 * dev, 'met' if abs(dev) <= 1e-3 else 'NOT met'))
PY
done
done
unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS
echo
echo "--- fuse ($N rows)"
timed "clipsort-fuse (rule)" "$BIN/clipsort-fuse" -z z.tsv -c c.tsv
timed "clipsort-fuse (blend)" "$BIN/clipsort-fuse" -m blend -z z.tsv -c c.tsv
echo
echo "--- streaming: memory must not grow with the rows"
for n in 100000 "$BIG"; do
	"$GEN" -n "$n" -d "$DIM" -C 2 -s 1 -I | /usr/bin/time -f '%e %M' -o tm2 "$BIN/clipsort-zeroshot" -t prompts.emb >zs.tsv
	set -- $(tail -1 tm2)
	printf '%-50s %8.2f s %9d KB, %d rows\n' "gen | clipsort-zeroshot, $n x $DIM" "$1" "$2" "$(($(wc -l <zs.tsv) - 1))"
	awk -F'\t' -v OFS='\t' 'NR == 1 { print "key", "path", "cluster", "distance", "class", "confidence", "similarity", "prior", "p_class0", "p_class1"; next }
		{ c = NR % 2; print $1, $2, c, 0.5, "class" c, 0.8, 0.3, "unchecked", (c ? 0.2 : 0.8), (c ? 0.8 : 0.2) }' zs.tsv >cl.tsv
	/usr/bin/time -f '%e %M' -o tm3 "$BIN/clipsort-fuse" -z zs.tsv -c cl.tsv >dec.tsv
	set -- $(tail -1 tm3)
	printf '%-50s %8.2f s %9d KB, %d rows\n' "clipsort-fuse (rule), $n rows" "$1" "$2" "$(($(wc -l <dec.tsv) - 1))"
	rm -f zs.tsv cl.tsv dec.tsv
done
echo
echo "--- mini-batch k-means (-b 1000, k = 2): memory must not grow with the rows"
for n in 100000 "$BIG"; do
	"$GEN" -n "$n" -d 128 -C 2 -N 1.5 -s 2 >mb.emb
	/usr/bin/time -f '%e %M' -o tm4 "$BIN/clipsort-cluster" -b 1000 mb.emb >mb.tsv
	set -- $(tail -1 tm4)
	printf '%-50s %8.2f s %9d KB, %d rows\n' "clipsort-cluster -b 1000, $n x 128 (file)" "$1" "$2" "$(($(wc -l <mb.tsv) - 1))"
	rm -f mb.emb mb.tsv
done
