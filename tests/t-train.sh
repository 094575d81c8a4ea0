#!/bin/bash
# clipsort-train: cross-validated C, calibration, the model file, --original against
# scikit-learn's LogisticRegression(C=1), SVMs, class weights, and bad input (too few
# labels, a single class, classes not in classes.tsv, unknown keys, bad options).
# san: yes
. "$(dirname "$0")/lib.sh"
T=$BIN/clipsort-train
P=$BIN/clipsort-predict
LA=$BIN/clipsort-labels
PY=/usr/bin/python3
GEN=$SRC/tests/bench/learn_data.py
cd "$TMP" || exit 1

$PY $GEN synth a.emb truth.tsv --n 3000 --dim 64 --classes 3 --spread 1.0 --seed 3 || exit 1
$PY $GEN synth bin.emb btruth.tsv --n 3000 --dim 64 --classes 2 --spread 1.3 --seed 4 || exit 1
printf 'class\tprompt\nc0\tzero\nc1\tone\nc2\ttwo\n' >classes.tsv

# labels FILE TRUTH N [AWK-FILTER]: the first N truth rows (after a filter) as labels
labels() {
	rm -f "$1"
	awk -F'\t' -v n="$3" "NR == 1 || (${4:-1} && c++ < n)" "$2" | $LA append -f "$1" -u test
}
# acc PRED TRUTH: accuracy on the rows without a training label
acc() {
	$PY - "$1" "$2" <<'PY'
import csv, sys
t = {r['key']: r['class'] for r in csv.DictReader(open(sys.argv[2]), delimiter='\t')}
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter='\t') if not r['label']]
print('%.4f' % (sum(r['class'] == t[r['key']] for r in rows) / len(rows)))
PY
}
ge() { $PY -c "import sys; sys.exit(0 if float('$1') >= float('$2') else 1)"; }

t_default() {
	labels l300.tsv truth.tsv 300
	run $T -l l300.tsv -o m.model a.emb
	expect "train 300 labels" 0 /dev/null || return
	check "report: cross-validated accuracy" grep -q '^5-fold cross-validated accuracy: 0\.9' "$TMP/err"
	check "report: the C grid with the chosen C marked" grep -Eq '^ +[0-9.]+ +0\.[0-9]+ +[0-9.]+  <$' "$TMP/err"
	check "report: per-class precision/recall" grep -Eq '^c2 +[0-9]+ +0\.[0-9]+ +0\.[0-9]+$' "$TMP/err"
	check "report: confusion matrix" grep -q '^confusion matrix' "$TMP/err"
	check "model records the stamp" grep -q '^model	synthetic$' m.model
	check "model records the classes" grep -q '^classes	3	c0	c1	c2$' m.model
	check "model records the training-set size" grep -q '^train_size	300$' m.model
	check "model keeps the out-of-fold probabilities of its 300 images" grep -q '^oof	300$' m.model
	check "model ends with 'end'" test "$(tail -n 1 m.model)" = end
	run $T -l l300.tsv -o m2.model -r rep.txt a.emb
	check "same inputs, same model bytes" cmp -s m.model m2.model
	check "-r: report to the file, stderr quiet" test -s rep.txt -a ! -s "$TMP/err"
	check "no temp files left" test -z "$(ls | grep tmp)"
	$P -m m.model a.emb >pred.tsv
	a=$(acc pred.tsv truth.tsv)
	if ge "$a" 0.93; then ok "held-out accuracy $a >= 0.93"; else not_ok "held-out accuracy $a"; fi
	# calibrated: on images never labelled, the mean confidence matches the accuracy
	$PY - pred.tsv truth.tsv <<'PY' >cal.txt
import csv, sys
import numpy as np
t = {r['key']: r['class'] for r in csv.DictReader(open(sys.argv[2]), delimiter='\t')}
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter='\t') if not r['label']]
conf = np.array([float(r['confidence']) for r in rows]); hit = np.array([r['class'] == t[r['key']] for r in rows])
bins = np.minimum((conf * 10).astype(int), 9)
ece = sum(abs(conf[bins == b].sum() - hit[bins == b].sum()) for b in range(10)) / len(rows)
print('%.4f %.4f %.4f' % (conf.mean(), hit.mean(), ece))
PY
	read -r mc ha ece <cal.txt
	if ge 0.03 "$ece"; then ok "calibrated on held-out images: ECE $ece, mean confidence $mc vs accuracy $ha"
	else not_ok "calibration" "ECE $ece, mean confidence $mc, accuracy $ha"; fi
	# cross-validation beats the over-regularised C = 1
	run $T -q -C 1 -l l300.tsv -o c1.model a.emb
	$P -m c1.model a.emb >c1.tsv
	b=$(acc c1.tsv truth.tsv)
	if ge "$a" "$b"; then ok "CV-chosen C ($a) at least as accurate as C = 1 ($b)"; else not_ok "CV-chosen C $a < C=1 $b"; fi
}

t_original() {
	labels lb.tsv btruth.tsv 1000
	run $T -O -l lb.tsv -o o.model bin.emb
	expect "--original (-O) trains" 0 /dev/null || return
	check "-O: C = 1, bias feature 10, no calibration" \
		grep -qzP 'C\t1\ngamma\t0\nbias\t10\noriginal\t1\n' o.model
	$P -i -m o.model bin.emb >o.tsv
	$PY - o.tsv btruth.tsv lb.tsv <<'PY' >agree.txt
import csv, sys, struct
import numpy as np
from sklearn.linear_model import LogisticRegression
sys.path.insert(0, '.')
# the vectors again, from the stream the test made
def read_stream(path):
    b = open(path, 'rb').read(); o = 8
    ver, d = struct.unpack_from('<II', b, o); o += 8
    for _ in range(3):
        (n,) = struct.unpack_from('<I', b, o); o += 4 + n
    o += 17
    keys, X = [], []
    while b[o:o+1] == b'I':
        o += 1; keys.append(b[o:o+32].hex()); o += 32
        (n,) = struct.unpack_from('<I', b, o); o += 4 + n
        X.append(np.frombuffer(b, '<f4', d, o)); o += 4 * d
    return keys, np.array(X)
keys, X = read_stream('bin.emb')
lab = {r['key']: r['class'] for r in csv.DictReader(open(sys.argv[3]), delimiter='\t')}
idx = {k: i for i, k in enumerate(keys)}
tr = [idx[k] for k in lab]
clf = LogisticRegression(C=1.0, max_iter=1000).fit(X[tr], [lab[keys[i]] for i in tr])
sk = clf.predict(X)
ours = {r['key']: r['class'] for r in csv.DictReader(open(sys.argv[1]), delimiter='\t')}
agree = np.mean([ours[k] == s for k, s in zip(keys, sk)])
print('%.5f' % agree)
PY
	ag=$(cat agree.txt)
	if ge "$ag" 0.999; then ok "-O agrees with scikit-learn LogisticRegression(C=1) on $ag of 3000 predictions"
	else not_ok "-O agreement with scikit-learn" "$ag"; fi
	run $T -O -s svm-rbf -l lb.tsv -o x.model bin.emb
	expect_err_grep "-O with an SVM refused" 2 "-O trains logistic regression"
}

t_svm() {
	labels l300.tsv truth.tsv 300
	for s in svm-linear svm-rbf; do
		run $T -s $s -l l300.tsv -o $s.model a.emb
		expect "train -s $s" 0 /dev/null || continue
		check "$s: solver recorded, libsvm model embedded" grep -q "^solver	$s$" $s.model
		$P -m $s.model a.emb >$s.tsv
		a=$(acc $s.tsv truth.tsv)
		if ge "$a" 0.9; then ok "$s held-out accuracy $a"; else not_ok "$s held-out accuracy $a"; fi
	done
	check "svm-rbf: gamma chosen by the 'scale' rule and recorded" grep -Eq '^gamma	[0-9.]+$' svm-rbf.model
}

t_weights() {
	# imbalanced: 300 of c0, 15 of c1 (binary set)
	rm -f im.tsv
	{ head -n 1 btruth.tsv; awk -F'\t' 'NR > 1 && $3 == "c0"' btruth.tsv | head -n 300
	  awk -F'\t' 'NR > 1 && $3 == "c1"' btruth.tsv | head -n 15; } | $LA append -f im.tsv -u t
	$T -q -l im.tsv -o u.model bin.emb && $T -q -w -l im.tsv -o w.model bin.emb
	check "-w recorded" grep -q '^balanced	1$' w.model
	$P -m u.model bin.emb >u.tsv
	$P -m w.model bin.emb >w.tsv
	rec() { awk -F'\t' 'NR == FNR { t[$1] = $3; next } FNR > 1 && $NF == "" && t[$1] == "c1" { n++; h += ($3 == "c1") } END { printf "%.4f\n", h / n }' btruth.tsv "$1"; }
	ru=$(rec u.tsv) rw=$(rec w.tsv)
	if ge "$rw" "$ru"; then ok "class weights raise minority recall ($ru -> $rw)"
	else not_ok "class weights: minority recall $ru -> $rw"; fi
}

t_bad() {
	labels l5.tsv truth.tsv 5
	run $T -l l5.tsv -c classes.tsv -o x.model a.emb
	expect_err_grep "too few labels" 3 "cannot train: 5 usable labels \(need at least 10\)"
	check "no model written" test ! -e x.model
	labels one.tsv truth.tsv 40 '$3 == "c0"'
	run $T -l one.tsv -c classes.tsv -o x.model a.emb
	expect "a single class: what is missing is named" 3 /dev/null \
		"clipsort-train: cannot train: 40 usable labels (need at least 10); no labels for classes 'c1', 'c2'"
	run $T -l one.tsv -o x.model a.emb
	expect_err_grep "a single class, no classes file" 3 "need at least 2 classes, have 1"
	labels l60.tsv truth.tsv 60
	$LA append -f l60.tsv -u t "$(sed -n 200p truth.tsv | cut -f1)" z.jpg zebra
	$LA append -f l60.tsv -u t 0000feedface z.jpg c1
	run $T -q -l l60.tsv -c classes.tsv -o p.model a.emb
	expect "class not in classes.tsv and unknown key: reported, rest trained" 1 /dev/null \
		"clipsort-train: l60.tsv:62: class 'zebra' is not in the classes file; label ignored
clipsort-train: l60.tsv:63: key 0000feedface is not in a.emb; label ignored" || return
	check "model of the 60 good labels written" grep -q '^train_size	60$' p.model
	run $T -l l60.tsv -c classes.tsv -m 100 -o x.model a.emb
	expect_err_grep "-m raises the minimum" 3 "60 usable labels \(need at least 100\)"
	run $T -s foo -o x.model a.emb
	expect_err_grep "unknown solver" 2 "-s: foo"
	run $T a.emb
	expect_err_grep "no -o" 2 "^usage: clipsort-train"
	run $T -k 1 -o x.model a.emb
	expect_err_grep "-k 1" 2 "-k: 1"
	printf 'garbage' >g.emb
	run $T -l l60.tsv -o x.model g.emb
	expect_err_grep "not an embedding file" 3 "g.emb"
	run $T -q -l l60.tsv -c classes.tsv -o nodir/x.model a.emb
	expect_err_grep "output in a missing directory: I/O error" 4 "nodir/x.model"
}

t_default
t_original
t_svm
t_weights
t_bad
t_done
