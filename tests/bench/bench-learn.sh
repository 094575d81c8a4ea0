#!/bin/bash
# bench-learn.sh — learning from labels, side by side with scikit-learn on the same
# data (Debian's python3-sklearn):
#   1. training time, 200 / 1,000 / 10,000 labels x 1024 dims: clipsort-train -O (one
#      fit, C = 1) vs LogisticRegression(C=1); clipsort-train default (5-fold CV over
#      5 Cs, calibration, final fit) vs LogisticRegressionCV(5 Cs, 5-fold).
#   2. predicting 45,000 rows: clipsort-predict (read stream + BLAS + TSV out) vs
#      predict_proba in memory, and with the same reading and writing.
#      Target: no slower than scikit-learn (its predict takes about 0.05 s).
#   3. label efficiency (tests/bench/learn_efficiency.py): accuracy after 20..300
#      labels for random, uncertainty and the default strategy, >= 20 seeds, on
#      synthetic overlapping clusters and scikit-learn's bundled digits.
#      Target: the default reaches 95% of full-data accuracy with fewer labels
#      than random and plain uncertainty sampling.
#   4. fusion: clipsort-fuse -m learned vs each signal alone, out-of-fold on the
#      labelled images and on the unlabelled ones, for 50 / 150 / 500 labels
#      (synthetic set with prompt vectors; zero-shot by clipsort-zeroshot, the cluster
#      prior by clipsort-cluster).
# LEARN_SEEDS (default 20) and LEARN_PARTS ("train predict efficiency fusion") trim the run.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-$SRC/bin}
PY=/usr/bin/python3
H=$SRC/tests/bench
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-learn.XXXXXX")
trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PARTS=${LEARN_PARTS:-train predict efficiency fusion}
# private copies: a rebuild during the run must not swap the programs under it
mkdir -p "$W/bin"
cp "$BIN"/clipsort-labels "$BIN"/clipsort-train "$BIN"/clipsort-predict "$BIN"/clipsort-rank \
	"$BIN"/clipsort-zeroshot "$BIN"/clipsort-cluster "$BIN"/clipsort-fuse "$W/bin/" || exit 1
B=$W/bin
# secs CMD...: wall seconds; cpus CMD...: "wall (cpu)" with user + system CPU seconds
secs() { /usr/bin/time -f %e -o "$W/t" "$@" >/dev/null 2>"$W/err" || { cat "$W/err"; return 1; }; cat "$W/t"; }
cpus() { /usr/bin/time -f '%e %U %S' -o "$W/t" "$@" >/dev/null 2>"$W/err" || { cat "$W/err"; return 1; }; awk '{ printf "%.2f (%.2f)\n", $1, $2 + $3 }' "$W/t"; }

echo "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
$PY $H/learn_data.py synth "$W/big.emb" "$W/big.tsv" --n 45000 --dim 1024 --classes 2 --spread 6 --seed 7 || exit 1

case " $PARTS " in *" train "*)
	echo
	echo "1. training time, 1024 dims, 2 classes: wall seconds (CPU seconds)"
	: >"$W/agree"
	printf '%-8s %14s %14s   %16s %16s  %s\n' labels "clipsort -O" "sklearn C=1" "clipsort (CV)" "sklearn CV" "CV accuracy"
	for n in 200 1000 10000; do
		awk -F'\t' -v n=$n 'NR <= n + 1' "$W/big.tsv" >"$W/l.in"
		rm -f "$W/l$n.tsv"
		$B/clipsort-labels append -f "$W/l$n.tsv" -u bench <"$W/l.in"
		to=$(cpus $B/clipsort-train -q -O -l "$W/l$n.tsv" -o "$W/o$n.model" "$W/big.emb")
		tc=$(cpus $B/clipsort-train -q -l "$W/l$n.tsv" -o "$W/c$n.model" "$W/big.emb")
		$B/clipsort-predict -i -m "$W/o$n.model" "$W/big.emb" >"$W/o$n.tsv"
		$PY $H/learn_sklearn.py train "$W/big.emb" "$W/l$n.tsv" "$W/o$n.tsv" >"$W/sk" || exit 1
		sed -n "s/^agreement of clipsort -O with it\t/$n labels: -O agrees with LogisticRegression(C=1) on this share of 45,000 predictions: /p" "$W/sk" >>"$W/agree"
		so=$(sed -n 's/^sklearn LogisticRegression(C=1) fit\t//p' "$W/sk")
		sc=$(sed -n 's/^sklearn LogisticRegressionCV.*\t//p' "$W/sk")
		acc=$(sed -n 's/^cv_accuracy\t//p' "$W/c$n.model")
		printf '%-8s %14s %14s   %16s %16s  %.4f\n' $n "$to" "$so" "$tc" "$sc" "$acc"
	done
	echo "(clipsort times include reading the 45,000-row stream to find the labelled rows)"
	cat "$W/agree"
	;;
esac

case " $PARTS " in *" predict "*)
	echo
	echo "2. predicting 45,000 rows x 1024 dims: wall seconds (CPU seconds), best of 3 by wall"
	[ -f "$W/l1000.tsv" ] || { awk -F'\t' 'NR <= 1001' "$W/big.tsv" | $B/clipsort-labels append -f "$W/l1000.tsv" -u bench; }
	$B/clipsort-train -q -O -l "$W/l1000.tsv" -o "$W/p.model" "$W/big.emb"
	best() { local b='999 (0)' t i; for i in 1 2 3; do t=$(cpus "$@"); b=$(printf '%s\n%s\n' "$b" "$t" | sort -n | head -n 1); done; echo "$b"; }
	tp=$(best $B/clipsort-predict -m "$W/p.model" "$W/big.emb")
	tcat=$(best cat "$W/big.emb")
	$PY $H/learn_sklearn.py predict "$W/big.emb" "$W/l1000.tsv" >"$W/sk" || exit 1
	# the scoring alone, rows in memory, as scikit-learn's predict_proba is timed
	cc -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$SRC/common" -I"$SRC/train" \
		-I/usr/include/x86_64-linux-gnu/openblas-openmp -std=c11 -O2 "$H/learn_predict_core.c" \
		"$SRC/build/obj/train/model.o" "$SRC/build/obj/train/outfile.o" "$SRC/build/obj/libcommon.a" \
		-L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5 -lcrypto -lsvm \
		-L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp \
		-lopenblas -lm -o "$W/core" || exit 1
	echo "clipsort scoring alone, 45000 rows in memory (best of 5)	$("$W/core" "$W/p.model" "$W/big.emb" | cut -f2)"
	echo "clipsort-predict: read stream + score + write TSV	$tp"
	echo "  (cat of the $(du -m "$W/big.emb" | cut -f1) MB stream alone	$tcat)"
	cat "$W/sk"
	;;
esac

case " $PARTS " in *" efficiency "*)
	echo
	echo "3. label efficiency (this takes a while)"
	$PY $H/learn_efficiency.py "$B" --seeds "${LEARN_SEEDS:-20}" --work "$W" || exit 1
	;;
esac

case " $PARTS " in *" fusion "*)
	echo
	echo "4. fusion (clipsort-fuse -m learned): accuracy of each signal and of the blend"
	$PY $H/learn_data.py synth "$W/f.emb" "$W/f.tsv" --n 6000 --dim 64 --classes 4 --spread 1.6 --texts 1.0 --seed 13 || exit 1
	$B/clipsort-zeroshot "$W/f.emb" >"$W/zs.tsv" || exit 1
	$B/clipsort-cluster -k 40 -t "$W/f.emb" "$W/f.emb" >"$W/cl.tsv" 2>/dev/null || exit 1
	printf '%-7s %-13s %10s %10s %10s %10s\n' labels sample classifier zeroshot cluster blend
	for n in 50 150 500; do
		rm -f "$W/fl.tsv"
		awk -F'\t' -v n=$n 'NR <= n + 1' "$W/f.tsv" | $B/clipsort-labels append -f "$W/fl.tsv" -u bench
		$B/clipsort-train -q -l "$W/fl.tsv" -o "$W/f.model" "$W/f.emb" || exit 1
		$B/clipsort-predict -m "$W/f.model" "$W/f.emb" >"$W/fp.tsv"
		$B/clipsort-fuse -z "$W/zs.tsv" -c "$W/cl.tsv" -p "$W/fp.tsv" >"$W/fd.tsv" 2>"$W/fe.txt" || { cat "$W/fe.txt"; exit 1; }
		sed -n 's/.*out-of-fold accuracy: blend \([0-9.]*\), classifier \([0-9.]*\), zeroshot \([0-9.]*\), cluster \([0-9.]*\).*/\2 \3 \4 \1/p' "$W/fe.txt" |
			awk -v n=$n '{ printf "%-7s %-13s %10s %10s %10s %10s\n", n, "out-of-fold", $1, $2, $3, $4 }'
		$PY - "$W/f.tsv" "$W/fp.tsv" "$W/zs.tsv" "$W/cl.tsv" "$W/fd.tsv" "$W/fe.txt" <<'PY'
import csv, re, sys
rd = lambda f: list(csv.DictReader(open(f), delimiter='\t'))
t = {r['key']: r['class'] for r in rd(sys.argv[1])}
pred = rd(sys.argv[2])
lab = {r['key'] for r in pred if r['label']}
def acc(rows, ok=lambda r: True):
    rows = [r for r in rows if r['key'] not in lab and ok(r)]
    return sum(r['class'] == t[r['key']] for r in rows) / len(rows)
cl = rd(sys.argv[4])
dec = re.search(r'decision: (.*)', open(sys.argv[6]).read()).group(1)
print('%-7s %-13s %10.4f %10.4f %10.4f %10.4f   decision: %s' % ('', 'unlabelled', acc(pred), acc(rd(sys.argv[3])),
      acc(cl, lambda r: r['prior'] != 'unusable'), acc(rd(sys.argv[5])), dec))
PY
		grep 'weights' "$W/fe.txt" | sed 's/^clipsort-fuse: /        /'
	done
	echo "(out-of-fold: 5-fold over the labelled images, the blend's weights fitted without the held-out fold;"
	echo " cluster: on the images whose cluster prior is usable; the blend column of the unlabelled row is the"
	echo " decision clipsort-fuse made: the blend, or the one signal that beat it out-of-fold)"
	;;
esac
