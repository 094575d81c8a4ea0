#!/bin/bash
# clipsort-fuse with a classifier (-p predictions.tsv): the reliability-weighted blend
# (-m learned) is at least as accurate out-of-fold as the best single signal and beats
# each signal on images nobody labelled; a useless signal gets a small weight; the
# original workflow's -m classifier-first; labelled images keep their label; bad input.
# san: yes
. "$(dirname "$0")/lib.sh"
F=$BIN/clipsort-fuse
T=$BIN/clipsort-train
P=$BIN/clipsort-predict
LA=$BIN/clipsort-labels
PY=/usr/bin/python3
GEN=$SRC/tests/bench/learn_data.py
cd "$TMP" || exit 1

$PY $GEN synth a.emb truth.tsv --n 3000 --dim 64 --classes 3 --spread 1.6 --seed 11 || exit 1
# zero-shot and cluster-prior stand-ins with known, independent errors
$PY - truth.tsv <<'PY' || exit 1
import csv, sys
import numpy as np
rng = np.random.default_rng(3)
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
cls = ['c0', 'c1', 'c2']
def sm(z):
    e = np.exp(z - z.max()); return e / e.sum()
def put(f, extra_cols, make):
    f.write('key\tpath\tclass\tconfidence\t' + ''.join(c + '\t' for c in extra_cols) + '\t'.join('p_' + c for c in cls) + '\n')
    for r in rows:
        y = cls.index(r['class'])
        p, extra = make(y)
        j = int(np.argmax(p))
        f.write('%s\t%s\t%s\t%r\t%s%s\n' % (r['key'], r['path'], cls[j], p[j], ''.join(e + '\t' for e in extra), '\t'.join(repr(v) for v in p)))
with open('zs.tsv', 'w') as f:
    put(f, ['margin'], lambda y: (sm(2.0 * np.eye(3)[y] + 1.3 * rng.normal(size=3)), ['0']))
with open('zrand.tsv', 'w') as f:
    put(f, ['margin'], lambda y: (sm(0.3 * rng.normal(size=3)), ['0']))
with open('cl.tsv', 'w') as f:
    put(f, ['prior'], lambda y: (sm(1.5 * np.eye(3)[y] + 1.3 * rng.normal(size=3)),
                                 ['usable' if rng.uniform() < 0.7 else 'unusable']))
PY
awk -F'\t' 'NR <= 151' truth.tsv | $LA append -f l.tsv -u t
$T -q -l l.tsv -o m.model a.emb || exit 1
$P -m m.model a.emb >pred.tsv || exit 1

# acc FILE: accuracy of column 3 on images without a training label
acc() {
	awk -F'\t' 'NR == FNR { t[$1] = $3; next } FNR == 1 { next } FILENAME == ARGV[2] && $NF != "" { lab[$1] = 1; next }
		FILENAME == ARGV[3] && !($1 in lab) { n++; h += ($3 == t[$1]) } END { printf "%.4f\n", h / n }' \
		truth.tsv pred.tsv "$1"
}
ge() { $PY -c "import sys; sys.exit(0 if float('$1') >= float('$2') - ${3:-0} else 1)"; }

t_learned() {
	run $F -z zs.tsv -c cl.tsv -p pred.tsv
	expect "-p: the learned blend by default" 0 || return
	cp "$TMP/out" dec.tsv
	cp "$TMP/err" fit.txt
	check "header as without a classifier" test "$(head -n 1 dec.tsv)" = "$(printf 'key\tpath\tclass\tconfidence\tdecided_by')"
	check "one decision per image" test "$(tail -n +2 dec.tsv | wc -l)" = 3000
	check "fit reported: weights" grep -Eq '^clipsort-fuse: blend of 150 labelled images: weights classifier [0-9.]+, zeroshot [0-9.]+, cluster [0-9.]+$' fit.txt
	read -r ab ac az aq < <(sed -n 's/.*out-of-fold accuracy: blend \([0-9.]*\), classifier \([0-9.]*\), zeroshot \([0-9.]*\), cluster \([0-9.]*\)/\1 \2 \3 \4/p' fit.txt)
	if [ -n "$ab" ] && ge "$ab" "$ac" && ge "$ab" "$az"; then
		ok "out-of-fold on the labelled images: blend $ab >= classifier $ac, zeroshot $az (cluster $aq, where usable)"
	else
		not_ok "blend out-of-fold at least the best single signal" "$(cat fit.txt)"
	fi
	local fb fc fz
	fb=$(acc dec.tsv) fc=$(acc pred.tsv) fz=$(acc zs.tsv)
	if ge "$fb" "$fc" && ge "$fb" "$fz" && $PY -c "import sys; sys.exit(0 if $fb > $fc + 0.01 else 1)"; then
		ok "on 2,850 unlabelled images: blend $fb > classifier $fc, zeroshot $fz"
	else
		not_ok "blend beats each signal on unlabelled images" "blend $fb classifier $fc zeroshot $fz" "$(cat fit.txt)"
	fi
	check "labelled images keep their label" \
		test "$(awk -F'\t' '$5 == "label" { print $1 "\t" $3 }' dec.tsv | sort)" = "$(awk -F'\t' 'NR > 1 && NR <= 151 { print $1 "\t" $3 }' truth.tsv | sort)"
	check "the others are decided by the blend" test "$(awk -F'\t' 'NR > 1 && $5 != "label" { print $5 }' dec.tsv | sort -u)" = blend
	check "confidence is a probability" awk -F'\t' 'NR > 1 && ($4 < 0 || $4 > 1) { exit 1 }' dec.tsv
	run $F -z zs.tsv -c cl.tsv -p pred.tsv
	check "deterministic" cmp -s dec.tsv "$TMP/out"
}

t_useless_signal() {
	# a zero-shot that knows nothing: its weight drops, the result stays as good
	run $F -z zrand.tsv -c cl.tsv -p pred.tsv
	expect "useless zero-shot" 0 || return
	local wz wc fb fc
	wz=$(sed -n 's/.*zeroshot \([0-9.]*\), cluster.*/\1/p' "$TMP/err" | head -n 1)
	wc=$(sed -n 's/.*weights classifier \([0-9.]*\),.*/\1/p' "$TMP/err")
	if $PY -c "import sys; sys.exit(0 if $wz < 0.5 * $wc else 1)"; then ok "weight of a useless signal $wz << classifier $wc"
	else not_ok "useless signal weight" "$(cat "$TMP/err")"; fi
	cp "$TMP/out" decr.tsv
	fb=$(acc decr.tsv) fc=$(acc pred.tsv)
	if ge "$fb" "$fc" 0.01; then ok "blend with a useless signal $fb vs classifier $fc"
	else not_ok "blend with a useless signal" "$fb vs $fc"; fi
}

t_classifier_first() {
	run $F -m classifier-first -z zs.tsv -c cl.tsv -p pred.tsv
	expect "-m classifier-first" 0 || return
	check "classifier-first: the classifier's class for every unlabelled image" \
		cmp -s <(awk -F'\t' 'NR > 1 && $5 != "label" { print $1 "\t" $3 }' "$TMP/out") \
		<(awk -F'\t' 'NR > 1 && $NF == "" { print $1 "\t" $3 }' pred.tsv)
	# images the classifier did not score fall back to the zero-shot/cluster rule
	head -n 2001 pred.tsv >part.tsv
	run $F -m classifier-first -z zs.tsv -c cl.tsv -p part.tsv
	check "classifier-first: unscored images by the original rule" \
		test "$(awk -F'\t' 'NR > 2001 { print $5 }' "$TMP/out" | sort -u | tr '\n' ' ')" = "$(awk -F'\t' 'NR > 2001 { print $5 }' "$TMP/out" | grep -E '^(agree|zeroshot|cluster|uncertain)$' | sort -u | tr '\n' ' ')"
	check "... and exactly the decisions of -m rule there" \
		cmp -s <(awk 'NR > 2001' "$TMP/out") <($F -m rule -z zs.tsv -c cl.tsv | awk 'NR > 2001')
}

t_few_labels() {
	awk -F'\t' 'NR <= 6' pred.tsv >few.tsv
	awk -F'\t' -v OFS='\t' 'NR > 6 { $NF = "" } NR > 6' pred.tsv >>few.tsv
	run $F -z zs.tsv -c cl.tsv -p few.tsv
	expect_err_grep "fewer than 10 labelled images: equal weights" 0 "5 labelled images \(< 10\): equal weights, not fitted"
}

t_bad() {
	sed '1s/p_c2/p_c9/' pred.tsv >other.tsv
	run $F -z zs.tsv -p other.tsv
	expect_err_grep "mismatched class sets" 3 "other.tsv:1: class 'c9' is not among the zero-shot classes"
	run $F -m learned -z zs.tsv
	expect_err_grep "-m learned without -p" 2 "need -p predictions.tsv"
	run $F -m blend -z zs.tsv -p pred.tsv
	expect_err_grep "-m blend with -p" 2 "use -m learned or -m classifier-first"
	{ cat pred.tsv; printf 'feed\tx.jpg\tc0\t1\t1\t1\t0\t0\t\n'; } >extra.tsv
	run $F -z zs.tsv -p extra.tsv
	expect_err_grep "prediction without a zero-shot row" 1 "extra.tsv:3002: key feed has no row in zs.tsv"
	sed '5s/\t0\.[0-9]*\t/\t1.5\t/' pred.tsv >badp.tsv
	run $F -z zs.tsv -p badp.tsv
	expect_err_grep "probability out of range" 3 "badp.tsv:5: '1.5'"
}

t_learned
t_useless_signal
t_classifier_first
t_few_labels
t_bad
t_done
