#!/bin/bash
# clipsort-rank: uncertainty orders, diverse batches that skip near-duplicates, cold
# start that covers the clusters, exclusion of labelled keys, the cap, the dataset
# summary, and bad input.
# san: yes
. "$(dirname "$0")/lib.sh"
T=$BIN/clipsort-train
P=$BIN/clipsort-predict
R=$BIN/clipsort-rank
LA=$BIN/clipsort-labels
PY=/usr/bin/python3
GEN=$SRC/tests/bench/learn_data.py
cd "$TMP" || exit 1

# dup.emb: two classes along a line, plus 12 groups of 10 near-identical images right
# at the boundary (far from each other); group of each image in groups.tsv
$PY - <<'PY' || exit 1
import numpy as np
rng = np.random.default_rng(7)
d = 16
e0, e1 = np.eye(d)[0], np.eye(d)[1]
a = rng.uniform(0, 1, 1000)
X = a[:, None] * e0 + (1 - a)[:, None] * e1 + 0.25 * rng.normal(size=(1000, d)) / np.sqrt(d)
y = (a > 0.5).astype(int)
grp = [-1] * 1000
for g in range(12):
    off = 0.6 * rng.normal(size=d) / np.sqrt(d); off[:2] = 0
    base = 0.5 * e0 + 0.5 * e1 + off
    for c in range(10):
        X = np.vstack([X, base + 0.001 * rng.normal(size=d)]); y = np.append(y, g % 2); grp.append(g)
X = X / np.linalg.norm(X, axis=1, keepdims=True)
np.save('dx.npy', X.astype(np.float32)); np.save('dy.npy', y)
open('groups.txt', 'w').write(''.join('%d\n' % g for g in grp))
# labels: 20 clear images of each class
lab = [i for i in range(1000) if a[i] < 0.25][:20] + [i for i in range(1000) if a[i] > 0.75][:20]
open('dlab.txt', 'w').write(''.join('%d\n' % i for i in lab))
# six tight clusters for the cold start; cluster of each image in cl.txt
C = rng.normal(size=(6, d)); C /= np.linalg.norm(C, axis=1, keepdims=True)
cl = rng.integers(0, 6, 600)
Z = C[cl] + 0.05 * rng.normal(size=(600, d)); Z /= np.linalg.norm(Z, axis=1, keepdims=True)
np.save('cx.npy', Z.astype(np.float32)); np.save('cy.npy', cl % 2)
open('cl.txt', 'w').write(''.join('%d\n' % c for c in cl))
PY
$PY $GEN npy dup.emb dtruth.tsv dx.npy dy.npy || exit 1
$PY $GEN npy six.emb ctruth.tsv cx.npy cy.npy --model other || exit 1
# key -> group / cluster
paste <(tail -n +2 dtruth.tsv | cut -f1) groups.txt >key2grp
paste <(tail -n +2 ctruth.tsv | cut -f1) cl.txt >key2cl
{ head -n 1 dtruth.tsv; awk 'NR == FNR { l[$1 + 2] = 1; next } FNR in l' dlab.txt dtruth.tsv; } | $LA append -f dl.tsv -u t
$T -q -l dl.tsv -o d.model dup.emb || exit 1
: >none.tsv

# distinct groups among the first N queue rows
groups() { head -n $(($2 + 1)) "$1" | tail -n +2 | cut -f1 | awk 'NR == FNR { g[$1] = $2; next } g[$1] >= 0 { print g[$1] }' key2grp - | sort -u | wc -l; }

t_uncertainty() {
	local s
	for s in least margin entropy; do
		run $R -s $s -n 50 -m d.model -l dl.tsv -o sum.tsv dup.emb
		expect "-s $s" 0 || continue
		cp "$TMP/out" q.tsv
		check "$s: header" test "$(head -n 1 q.tsv)" = "$(printf 'key\tpath\trank\tuncertainty\tclass\tconfidence\tmargin\treason')"
		check "$s: capped at -n 50" test "$(tail -n +2 q.tsv | wc -l)" = 50
		check "$s: ranks 1..50" test "$(tail -n +2 q.tsv | cut -f3 | tr '\n' ' ')" = "$(seq 1 50 | tr '\n' ' ')"
		check "$s: uncertainty never increases down the queue" \
			awk -F'\t' 'NR > 2 && $4 > prev + 1e-15 { exit 1 } { prev = $4 }' q.tsv
		check "$s: labelled keys excluded" test -z "$(tail -n +2 q.tsv | cut -f1 | grep -Fxf <(tail -n +2 dl.tsv | cut -f2))"
	done
	run $R -s least -n 5 -m d.model -l dl.tsv -o sum.tsv dup.emb
	check "least: uncertainty = 1 - confidence" awk -F'\t' 'NR > 1 { d = $4 - (1 - $6); if (d > 1e-12 || d < -1e-12) exit 1 }' "$TMP/out"
	run $R -s margin -n 5 -m d.model -l dl.tsv -o sum.tsv dup.emb
	check "margin: uncertainty = 1 - margin" awk -F'\t' 'NR > 1 { d = $4 - (1 - $7); if (d > 1e-12 || d < -1e-12) exit 1 }' "$TMP/out"
	run $R -s entropy -n 2000 -m d.model -l dl.tsv -o sum.tsv dup.emb
	check "entropy: normalised to 0..1, every unlabelled image ranked" \
		awk -F'\t' 'NR > 1 && ($4 < 0 || $4 > 1 + 1e-12) { exit 1 } END { exit NR - 1 != 1080 }' "$TMP/out"
}

t_diverse() {
	run $R -n 12 -b 12 -m d.model -l dl.tsv -o sum.tsv dup.emb
	expect "default strategy with a model: diverse" 0 || return
	check "diverse: reason column" test "$(tail -n +2 "$TMP/out" | cut -f8 | sort -u)" = diverse
	cp "$TMP/out" div.tsv
	$R -s margin -n 12 -m d.model -l dl.tsv -o sum.tsv dup.emb >mar.tsv
	local gd gm
	gd=$(groups div.tsv 12) gm=$(groups mar.tsv 12)
	if [ "$gd" -ge 10 ] && [ "$gd" -gt "$gm" ]; then
		ok "12 picks cover $gd of 12 near-duplicate groups (plain margin: $gm)"
	else
		not_ok "diverse picks skip near-duplicates" "diverse covers $gd groups, margin $gm"
	fi
	run $R -n 12 -b 12 -m d.model -l dl.tsv -o sum2.tsv dup.emb
	check "deterministic" cmp -s div.tsv "$TMP/out"
}

t_summary() {
	$R -n 10 -t 0.9 -m d.model -l dl.tsv -o sum.tsv dup.emb >/dev/null
	$P -m d.model dup.emb | awk -F'\t' 'NR > 1 && $NF == ""' >unl.tsv
	check "summary: labelled per class" grep -qzP 'labelled\t40\nlabelled:c0\t20\nlabelled:c1\t20\n' sum.tsv
	check "summary: unlabelled count" grep -qx 'unlabelled	1080' sum.tsv
	$PY - sum.tsv unl.tsv <<'PY' >s.txt
import sys
s = dict(l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if not l.startswith('what'))
rows = [l.split('\t') for l in open(sys.argv[2])]
n = len(rows)
pred = {c: sum(r[2] == c for r in rows) / n for c in ('c0', 'c1')}
conf = sum(float(r[3]) >= 0.9 for r in rows) / n
marg = sum(float(r[4]) for r in rows) / n
ok = abs(float(s['predicted:c0']) - pred['c0']) < 1e-12 and abs(float(s['predicted:c1']) - pred['c1']) < 1e-12 \
     and abs(float(s['confident_share']) - conf) < 1e-12 and abs(float(s['average_margin']) - marg) < 1e-9
print('ok' if ok else 'bad %r vs pred %r conf %r marg %r' % (s, pred, conf, marg))
PY
	check "summary: predicted ratio, confident share and average margin match the predictions" test "$(cat s.txt)" = ok
	# -o onto something that is not a regular file (a FIFO, /dev/null) writes into
	# it, never renames a temp file over it
	mkfifo sum.fifo
	cat sum.fifo >fifo.out &
	run $R -n 3 -m d.model -l dl.tsv -o sum.fifo dup.emb
	wait
	check "-o onto a FIFO: written through, the FIFO stays a FIFO" test -p sum.fifo -a "$(head -n 1 fifo.out)" = "$(printf 'what\tvalue')"
	run $R -n 3 -m d.model -l dl.tsv dup.emb
	check "summary on stderr without -o, stdout only the queue" \
		test "$(head -n 1 "$TMP/err")" = "$(printf 'what\tvalue')" -a "$(wc -l <"$TMP/out")" = 4
}

t_cold() {
	run $R -n 6 -l none.tsv -o cs.tsv six.emb
	expect "cold start (no model)" 0 || return
	check "cold: reason typical" test "$(tail -n +2 "$TMP/out" | cut -f8 | sort -u)" = typical
	local n
	n=$(tail -n +2 "$TMP/out" | cut -f1 | awk 'NR == FNR { c[$1] = $2; next } { print c[$1] }' key2cl - | sort -u | wc -l)
	if [ "$n" = 6 ]; then ok "cold start: 6 picks, one in each of the 6 clusters"
	else not_ok "cold start covers the clusters" "$n distinct clusters"; fi
	# label one image in each of clusters 0..2: the next picks go to clusters 3..5
	{ head -n 1 ctruth.tsv; paste <(tail -n +2 ctruth.tsv) cl.txt | awk -F'\t' '$4 <= 2 && !s[$4]++' | cut -f1-3; } |
		$LA append -f cl3.tsv -u t
	run $R -n 3 -l cl3.tsv -o cs.tsv six.emb
	n=$(tail -n +2 "$TMP/out" | cut -f1 | awk 'NR == FNR { c[$1] = $2; next } { print c[$1] }' key2cl - | sort -n | tr '\n' ' ')
	if [ "$n" = "3 4 5 " ]; then ok "cold start avoids the clusters already labelled"
	else not_ok "cold start avoids labelled clusters" "picked clusters: $n"; fi
	run $R -s random -n 5 -S 1 -l none.tsv -o cs.tsv six.emb
	cp "$TMP/out" r1
	run $R -s random -n 5 -S 2 -l none.tsv -o cs.tsv six.emb
	check "random: seeded, differs across seeds" test "$(cut -f1 r1)" != "$(cut -f1 "$TMP/out")"
	run $R -s random -n 5 -S 1 -l none.tsv -o cs.tsv six.emb
	check "random: same seed, same queue" cmp -s r1 "$TMP/out"
}

t_bad() {
	run $R -s margin -l none.tsv six.emb
	expect_err_grep "uncertainty without a model" 2 "-s margin needs a model"
	run $R -s nope -m d.model dup.emb
	expect_err_grep "unknown strategy" 2 "-s: nope"
	run $R -m d.model -l none.tsv six.emb
	expect_err_grep "model of another embedding" 3 "another model than the classifier"
	printf 'time\tkey\tpath\tclass\tlabeller\nbroken line\n' >bad.tsv
	run $R -n 3 -m d.model -l bad.tsv -o s.tsv dup.emb
	expect_err_grep "malformed labels: reported, queue still printed" 1 "bad.tsv:2: "
	run $R -n 0 -m d.model dup.emb
	expect_err_grep "-n 0" 2 "-n: 0"
}

t_uncertainty
t_diverse
t_summary
t_cold
t_bad
t_done
