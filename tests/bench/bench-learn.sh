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
# LEARN_SEEDS (default 20) and LEARN_PARTS ("train predict efficiency") trim the run.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-$SRC/bin}
PY=/usr/bin/python3
H=$SRC/tests/bench
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-learn.XXXXXX")
trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PARTS=${LEARN_PARTS:-train predict efficiency}
# private copies: a rebuild during the run must not swap the programs under it
mkdir -p "$W/bin"
cp "$BIN"/clipsort-labels "$BIN"/clipsort-train "$BIN"/clipsort-predict "$BIN"/clipsort-rank "$W/bin/" || exit 1
B=$W/bin
# secs CMD...: wall seconds; cpus CMD...: "wall (cpu)" with user + system CPU seconds
secs() { /usr/bin/time -f %e -o "$W/t" "$@" >/dev/null 2>"$W/err" || { cat "$W/err"; return 1; }; cat "$W/t"; }
cpus() { /usr/bin/time -f '%e %U %S' -o "$W/t" "$@" >/dev/null 2>"$W/err" || { cat "$W/err"; return 1; }; awk '{ printf "%.2f (%.2f)\n", $1, $2 + $3 }' "$W/t"; }

echo "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
$PY $H/learn_data.py synth "$W/big.emb" "$W/big.tsv" --n 45000 --dim 1024 --classes 2 --spread 6 --seed 7 || exit 1

case " $PARTS " in *" train "*)
	echo
	echo "1. training time, 1024 dims, 2 classes: wall seconds (CPU seconds)"
	printf '%-8s %14s %14s   %16s %16s  %s\n' labels "clipsort -O" "sklearn C=1" "clipsort (CV)" "sklearn CV" "CV accuracy"
	for n in 200 1000 10000; do
		awk -F'\t' -v n=$n 'NR <= n + 1' "$W/big.tsv" >"$W/l.in"
		rm -f "$W/l$n.tsv"
		$B/clipsort-labels append -f "$W/l$n.tsv" -u bench <"$W/l.in"
		to=$(cpus $B/clipsort-train -q -O -l "$W/l$n.tsv" -o "$W/o$n.model" "$W/big.emb")
		tc=$(cpus $B/clipsort-train -q -l "$W/l$n.tsv" -o "$W/c$n.model" "$W/big.emb")
		$PY $H/learn_sklearn.py train "$W/big.emb" "$W/l$n.tsv" >"$W/sk" || exit 1
		so=$(sed -n 's/^sklearn LogisticRegression(C=1) fit\t//p' "$W/sk")
		sc=$(sed -n 's/^sklearn LogisticRegressionCV.*\t//p' "$W/sk")
		acc=$(sed -n 's/^cv_accuracy\t//p' "$W/c$n.model")
		printf '%-8s %14s %14s   %16s %16s  %.4f\n' $n "$to" "$so" "$tc" "$sc" "$acc"
	done
	echo "(clipsort times include reading the 45,000-row stream to find the labelled rows)"
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
