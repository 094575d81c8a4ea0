#!/bin/bash
# clipsort-cluster: k-means finds generated clusters, matches scikit-learn's inertia,
# is deterministic, mini-batch mode, the cluster prior and its check against labels
# (a prior that follows "background colour" must be marked unusable).
# san: yes
. "$(dirname "$0")/lib.sh"
: "${TOBJ:=$SRC/build/obj/tests}"
case $TOBJ in /*) ;; *) TOBJ=$SRC/$TOBJ ;; esac
GEN=$TOBJ/coldstart_gen
CL=$BIN/clipsort-cluster
PY=/usr/bin/python3
cd "$TMP" || exit 1

summary_all() { grep '^all' "$1"; }
col() { # col FILE NAME: values of column NAME (rows after the header)
	awk -F'\t' -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) c = i; next } { print $c }' "$1"
}

t_three() {
	$GEN -n 600 -d 32 -C 3 -s 5 -l lab.tsv -e 4 >three.emb
	run "$CL" -k 3 -l lab.tsv -S sum.tsv three.emb
	expect "3 clusters: runs" 0 || return
	check "3 clusters: header" grep -q '^key	path	cluster	distance	class	confidence	similarity	prior	p_class0	p_class1	p_class2$' "$TMP/out"
	check "3 clusters: 600 rows" test "$(tail -n +2 "$TMP/out" | wc -l)" -eq 600
	# every cluster is pure and its prior names the true class
	check "3 clusters: prior class = true class of every image" $PY -c "
rows = [r.split('\t') for r in open('$TMP/out').read().split('\n')[1:-1]]
for r in rows:
    assert r[4] == 'class%d' % (int(r[0], 16) % 3), r
    assert r[7] == 'usable', r
"
	check "summary: labelled 150, all agree, usable" grep -Eq '^all	600	[^	]+	-	-	-	150	150	1	[^	]+	0\.001	1	usable$' sum.tsv
	check "summary: 3 cluster rows + all" test "$(wc -l <sum.tsv)" -eq 5
	check "distance = |x - centroid| (finite, > 0)" $PY -c "
import math
d = [float(x) for x in open('$TMP/out').read().split('\n')[1:-1] for x in [x.split('\t')[3]]]
assert all(0 < v < 2 for v in d)
"
}

t_deterministic() {
	$GEN -n 500 -d 16 -C 4 -s 9 -N 2 >d.emb
	run "$CL" -k 4 -s 42 d.emb; cp "$TMP/out" a
	run "$CL" -k 4 -s 42 d.emb
	expect "same seed: same bytes" 0 a
	run -i d.emb "$CL" -k 4 -s 42
	expect "stdin = file" 0 a
}

t_sklearn() {   # same inertia as scikit-learn's KMeans (n_init=10) within 0.1%
	$GEN -n 2000 -d 16 -C 5 -s 11 -N 3 -I -r x.f32 >x.emb
	run "$CL" -v -k 5 -r 10 x.emb
	expect "vs sklearn: runs" 0 || return
	ours=$(sed -n 's/.*inertia \([^,]*\),.*/\1/p' "$TMP/err")
	check "vs sklearn: inertia within 0.1% (ours $ours)" $PY -c "
import numpy as np
from sklearn.cluster import KMeans
X = np.fromfile('x.f32', np.float32).reshape(-1, 16).astype(np.float64)
km = KMeans(5, n_init=10, random_state=0).fit(X)
ours = float('$ours')
assert abs(ours - km.inertia_) <= 1e-3 * km.inertia_, (ours, km.inertia_)
"
	check "vs sklearn: reported inertia = sum of squared distances printed" $PY -c "
d = [float(r.split('\t')[3]) for r in open('$TMP/out').read().split('\n')[1:-1]]
s = sum(v * v for v in d); assert abs(s - float('$ours')) < 1e-6 * s, (s, '$ours')
"
}

t_background() {   # clusters split along a direction unrelated to the classes
	$GEN -n 1000 -d 32 -C 2 -a 0.3 -g 3 -N 0.5 -s 13 -l bl.tsv -e 5 >bg.emb
	run "$CL" -l bl.tsv -S bs.tsv bg.emb
	expect_err_grep "background: warns the prior is unusable" 0 'cluster prior unusable'
	check "background: every row marked unusable" test "$(col "$TMP/out" prior | sort -u)" = unusable
	check "background: summary verdict unusable, accuracy near chance" $PY -c "
f = [l for l in open('bs.tsv').read().split('\n') if l.startswith('all')][0].split('\t')
acc, chance, p = float(f[8]), float(f[9]), float(f[10])
assert f[12] == 'unusable' and abs(acc - chance) < 0.1 and p > 0.01, f
"
	# same data without the background direction: the prior is usable
	$GEN -n 1000 -d 32 -C 2 -a 0.3 -g 0 -N 0.5 -s 13 -l gl.tsv -e 5 >good.emb
	run "$CL" -l gl.tsv good.emb
	expect "no background: no warning" 0 - ""
	check "no background: usable" test "$(col "$TMP/out" prior | sort -u)" = usable
	run "$CL" good.emb
	check "no labels: unchecked" test "$(col "$TMP/out" prior | sort -u)" = unchecked
}

t_few_labels() {   # 4 labels cannot show anything: unusable, not trusted
	$GEN -n 400 -d 16 -C 2 -s 3 -l fl.tsv -e 100 >f.emb
	run "$CL" -l fl.tsv -S fs.tsv f.emb
	expect_err_grep "4 labels: not enough evidence" 0 'unusable'
	# labels of a class the prompts do not know count as disagreement; retractions drop out
	$GEN -n 400 -d 16 -C 2 -s 3 -l ol.tsv -e 5 >o.emb
	sed -i '2,$s/class0	gen$/junk	gen/' ol.tsv
	run "$CL" -l ol.tsv -S os.tsv o.emb
	check "unknown label class: agreement halves" $PY -c "
f = [l for l in open('os.tsv').read().split('\n') if l.startswith('all')][0].split('\t')
assert f[6] == '80' and f[7] == '40', f
"
	printf '2026-12-04T22:00:00Z\t%064x\timg/000000.jpg\t-\tann\n' 0 >>ol.tsv
	run "$CL" -l ol.tsv -S os2.tsv o.emb
	check "retracted label is not counted" $PY -c "
f = [l for l in open('os2.tsv').read().split('\n') if l.startswith('all')][0].split('\t')
assert f[6] == '79', f
"
}

t_minibatch() {
	$GEN -n 3000 -d 32 -C 3 -s 21 -l ml.tsv -e 10 >mb.emb
	run "$CL" -k 3 -b 200 -l ml.tsv -S ms.tsv mb.emb
	expect "mini-batch: runs" 0 || return
	check "mini-batch: 3000 rows in input order" $PY -c "
rows = open('$TMP/out').read().split('\n')[1:-1]
assert [int(r.split('\t')[0], 16) for r in rows] == list(range(3000))
"
	check "mini-batch: clusters match the classes" grep -Eq '^all	3000	[^	]+	-	-	-	300	300	1	' ms.tsv
	run "$CL" -v -k 3 mb.emb
	full=$(sed -n 's/.*inertia \([^,]*\),.*/\1/p' "$TMP/err")
	mini=$(awk -F'\t' '$1 == "all" { print $3 }' ms.tsv)
	check "mini-batch: inertia within 1% of full batch ($mini vs $full)" $PY -c "assert abs($mini - $full) <= 0.01 * $full"
	run -i mb.emb "$CL" -b 100
	expect_err_grep "mini-batch from stdin: usage" 2 'give a file'
}

t_texts() {
	$GEN -n 50 -d 8 -C 2 -I >img.emb
	$GEN -n 0 -d 8 -C 2 -T >txt.emb
	run "$CL" img.emb
	expect "no texts: runs" 0
	check "no texts: 4 columns" test "$(head -1 "$TMP/out")" = "key	path	cluster	distance"
	run "$CL" -t txt.emb img.emb
	expect "texts from -t: prior columns" 0 && check "texts from -t: header" grep -q '	prior	p_class0	p_class1$' "$TMP/out"
	$GEN -n 0 -d 8 -C 2 -T -M another >txt2.emb
	run "$CL" -t txt2.emb img.emb
	expect_err_grep "model mismatch" 3 'made differently'
	$GEN -n 0 -d 9 -C 2 -T >txt3.emb
	run "$CL" -t txt3.emb img.emb
	expect_err_grep "dimension mismatch" 3 'made differently|dim'
}

t_edges() {
	$GEN -n 0 -d 8 -C 2 >e.emb
	run "$CL" e.emb
	printf 'key\tpath\tcluster\tdistance\tclass\tconfidence\tsimilarity\tprior\tp_class0\tp_class1\n' >want
	expect "empty input: header only" 0 want
	$GEN -n 3 -d 8 -C 2 >three.emb
	run "$CL" -k 4 three.emb
	expect_err_grep "k > images" 3 '3 images, fewer than the 4 clusters'
	run "$CL" -k 0 three.emb
	expect_err_grep "k = 0: usage" 2 'clusters'
	run "$CL" -k 1 three.emb
	expect "k = 1" 0 && check "k = 1: one cluster" test "$(col "$TMP/out" cluster | sort -u)" = 0
	head -c 100 three.emb >t.emb
	run "$CL" t.emb
	expect_err_grep "truncated input" 3 't.emb'
	printf 'time\tkey\tpath\tclass\tlabeller\n2026-12-04T21:00:00Z\tnokey\tx.jpg\tclass0\tann\n' >other.tsv
	run "$CL" -l other.tsv three.emb
	expect_err_grep "labels of other images: unchecked, said so" 0 'no labelled image among the inputs'
	check "labels of other images: rows unchecked" test "$(col "$TMP/out" prior | sort -u)" = unchecked
	printf 'time\tkey\tpath\tclass\tlabeller\nbad line\n' >badlab.tsv
	run "$CL" -l badlab.tsv three.emb
	expect_err_grep "malformed labels line: warned" 0 'badlab.tsv:2'
	run "$CL" -S /nonexistent/dir/s.tsv three.emb
	expect_err_grep "summary cannot be written" 4 'nonexistent'
}

t_cache() {
	if [ ! -x "$BIN/clipsort-cache" ]; then skip "HDF5 cache" "clipsort-cache not built"; return; fi
	$GEN -n 400 -d 16 -C 3 -s 6 >s.emb
	"$BIN/clipsort-cache" convert -o s.h5 s.emb 2>/dev/null
	run "$CL" -k 3 s.emb; cp "$TMP/out" s.out
	run "$CL" -k 3 s.h5
	expect "HDF5 cache = stream" 0 s.out
	run "$CL" -k 3 -b 50 s.emb; cp "$TMP/out" m.out
	run "$CL" -k 3 -b 50 s.h5
	expect "mini-batch: HDF5 cache = stream" 0 m.out
}

t_three
t_cache
t_deterministic
t_sklearn
t_background
t_few_labels
t_minibatch
t_texts
t_edges
t_done
