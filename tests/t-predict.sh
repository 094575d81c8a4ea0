#!/bin/bash
# clipsort-predict: columns, probabilities, out-of-fold rows of the training images,
# stdin, refusal of another embedding model or dimension, broken model files, and
# memory flat in the number of images.
# san: yes
. "$(dirname "$0")/lib.sh"
T=$BIN/clipsort-train
P=$BIN/clipsort-predict
LA=$BIN/clipsort-labels
PY=/usr/bin/python3
GEN=$SRC/tests/bench/learn_data.py
cd "$TMP" || exit 1

$PY $GEN synth a.emb truth.tsv --n 2000 --dim 64 --classes 3 --spread 1.0 --seed 5 || exit 1
awk -F'\t' 'NR <= 201' truth.tsv | $LA append -f l.tsv -u t
$T -q -l l.tsv -o m.model a.emb || exit 1

t_columns() {
	run $P -m m.model a.emb
	expect "predict" 0 || return
	cp "$TMP/out" p.tsv
	check "header" test "$(head -n 1 p.tsv)" = "$(printf 'key\tpath\tclass\tconfidence\tmargin\tp_c0\tp_c1\tp_c2\tlabel')"
	check "one row per image" test "$(tail -n +2 p.tsv | wc -l)" = 2000
	check "rows in input order" cmp -s <(tail -n +2 p.tsv | cut -f1,2) <(tail -n +2 truth.tsv | cut -f1,2)
	$PY - p.tsv <<'PY' >chk.txt
import csv, sys
bad = 0
for r in csv.DictReader(open(sys.argv[1]), delimiter='\t'):
    p = {c: float(r['p_' + c]) for c in ('c0', 'c1', 'c2')}
    s = sorted(p.values(), reverse=True)
    if abs(sum(s) - 1) > 1e-9 or max(p, key=p.get) != r['class'] or float(r['confidence']) != s[0] \
       or abs(float(r['margin']) - (s[0] - s[1])) > 1e-12:
        bad += 1
print(bad)
PY
	check "probabilities sum to 1; class, confidence and margin agree with them" test "$(cat chk.txt)" = 0
	check "the 200 training images carry their label" test "$(awk -F'\t' 'NR > 1 && $NF != ""' p.tsv | wc -l)" = 200
	check "their labels are the labelled classes" cmp -s \
		<(awk -F'\t' 'NR > 1 && $NF != "" { print $1 "\t" $NF }' p.tsv | sort) \
		<(awk -F'\t' 'NR > 1 && NR <= 201 { print $1 "\t" $3 }' truth.tsv | sort)
	run $P -i -m m.model a.emb
	check "-i: in-sample probabilities, no label column filled" test "$(awk -F'\t' 'NR > 1 && $NF != ""' "$TMP/out" | wc -l)" = 0
	# training rows: out-of-fold differs from in-sample (else the reliability is inflated)
	check "out-of-fold rows differ from in-sample ones" \
		test "$(diff <(head -n 201 p.tsv | cut -f4) <(head -n 201 "$TMP/out" | cut -f4) | grep -c '^<')" -gt 100
	check "same rows for unlabelled images with and without -i" \
		cmp -s <(awk -F'\t' 'NR > 201' p.tsv | cut -f1-8) <(awk -F'\t' 'NR > 201' "$TMP/out" | cut -f1-8)
	run -i a.emb $P -m m.model
	expect "embeddings on stdin" 0 p.tsv
}

t_mismatch() {
	$PY $GEN synth other.emb o.tsv --n 50 --dim 64 --classes 3 --model another-model || return
	run $P -m m.model other.emb
	expect "another embedding model refused" 3 /dev/null \
		"clipsort-predict: embeddings were made with another model than the classifier: model differs ('synthetic' vs 'another-model')"
	$PY $GEN synth d32.emb o.tsv --n 50 --dim 32 --classes 3 || return
	run $P -m m.model d32.emb
	expect_err_grep "dimension mismatch refused" 3 "dim differs \(64 vs 32\)"
}

t_bad_model() {
	head -n 30 m.model >trunc.model
	run $P -m trunc.model a.emb
	expect_err_grep "truncated model file" 5 "^clipsort-predict: trunc.model:[0-9]+: "
	sed 's/^temperature\t.*/temperature\t-1/' m.model >neg.model
	run $P -m neg.model a.emb
	expect_err_grep "negative temperature" 5 "neg.model:[0-9]+: temperature must be positive"
	sed 's/^classes\t3\tc0\tc1\tc2$/classes\t3\tc1\tc0\tc2/' m.model >uns.model
	run $P -m uns.model a.emb
	expect_err_grep "unsorted classes" 5 "uns.model:10: classes not sorted and unique"
	# a tiny out-of-fold probability written as a denormal still reads back
	awk -F'\t' -v OFS='\t' 'f && NF > 3 && !d { $3 = "4.9406564584124654e-324"; d = 1 } /^oof\t/ { f = 1 } 1' m.model >den.model
	run $P -m den.model a.emb
	check "denormal probability in the model file reads back" test "$status" = 0 -a "$(grep -c 4.9406564584124654e-324 den.model)" = 1
	run $P -m truth.tsv a.emb
	expect_err_grep "not a model" 5 "truth.tsv:1: not a clipsort model file"
	run $P -m none.model a.emb
	expect_err_grep "missing model" 5 "none.model: No such file"
	run $P a.emb
	expect_err_grep "no -m" 2 "^usage: clipsort-predict"
}

# peak RSS (KiB) of predicting N images of dim 256
rss() {
	$PY $GEN synth big$1.emb bt$1.tsv --n "$1" --dim 256 --classes 3 --seed 9 || return
	awk -F'\t' 'NR <= 101' bt$1.tsv >l$1.in
	rm -f l$1.tsv
	$LA append -f l$1.tsv -u t <l$1.in
	$T -q -l l$1.tsv -o b$1.model big$1.emb
	/usr/bin/time -f %M -o rss$1 $P -m b$1.model big$1.emb >/dev/null
	cat rss$1
}

t_memory() {
	if [ -n "${SAN:-}" ]; then skip "memory flat" "RSS is not meaningful under ASan"; return; fi
	local a b
	a=$(rss 2000) b=$(rss 40000)
	# 40,000 x 256 floats are 40 MB; flat means the second run is within a few MB of the first
	if [ -n "$a" ] && [ -n "$b" ] && [ $((b - a)) -lt 8000 ]; then
		ok "memory flat in the number of images: peak RSS ${a} KiB (2,000) vs ${b} KiB (40,000)"
	else
		not_ok "memory flat" "peak RSS ${a} KiB vs ${b} KiB"
	fi
}

t_columns
t_mismatch
t_bad_model
t_memory
t_done
