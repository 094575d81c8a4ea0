#!/bin/bash
# clipsort-fuse: the agree/ratio rule case by case, the blend, unusable priors,
# joins in any order, and every kind of bad input (missing rows, duplicates, unknown
# classes, mismatched class sets, malformed TSV, CRLF/BOM).
# san: yes
. "$(dirname "$0")/lib.sh"
: "${TOBJ:=$SRC/build/obj/tests}"
case $TOBJ in /*) ;; *) TOBJ=$SRC/$TOBJ ;; esac
FU=$BIN/clipsort-fuse
PY=/usr/bin/python3
cd "$TMP" || exit 1

T=$(printf '\t')
zhead="key${T}path${T}class${T}confidence${T}margin${T}p_box${T}p_loose"
chead="key${T}path${T}cluster${T}distance${T}class${T}confidence${T}similarity${T}prior${T}p_box${T}p_loose"
dhead="key${T}path${T}class${T}confidence${T}decided_by"

mk() {
	{
		echo "$zhead"
		printf 'k1\ta.jpg\tbox\t0.9\t0.8\t0.9\t0.1\n'            # agree
		printf 'k2\tb.jpg\tbox\t0.9\t0.8\t0.9\t0.1\n'            # z 0.9 vs c 0.6: zeroshot wins
		printf 'k3\tc.jpg\tbox\t0.6\t0.2\t0.6\t0.4\n'            # z 0.6 vs c 0.9: cluster wins
		printf 'k4\td.jpg\tbox\t0.8\t0.6\t0.8\t0.2\n'            # z 0.8 vs c 0.75: within 1.10 -> uncertain
		printf 'k5\te.jpg\t_uncertain\t0.55\t0.1\t0.55\t0.45\n'  # zeroshot abstains -> cluster
		printf 'k6\tv.zip!x/f.jpg\t_other\t0.7\t0.4\t0.3\t0.7\n' # other vs cluster box 0.6
	} >z.tsv
	{
		echo "$chead"
		printf 'k1\ta.jpg\t0\t0.3\tbox\t0.7\t0.3\tunchecked\t0.7\t0.3\n'
		printf 'k2\tb.jpg\t1\t0.3\tloose\t0.6\t0.3\tunchecked\t0.4\t0.6\n'
		printf 'k3\tc.jpg\t1\t0.3\tloose\t0.9\t0.3\tunchecked\t0.1\t0.9\n'
		printf 'k4\td.jpg\t1\t0.3\tloose\t0.75\t0.3\tunchecked\t0.25\t0.75\n'
		printf 'k5\te.jpg\t1\t0.3\tloose\t0.8\t0.3\tunchecked\t0.2\t0.8\n'
		printf 'k6\tv.zip!x/f.jpg\t0\t0.3\tbox\t0.6\t0.3\tunchecked\t0.6\t0.4\n'
	} >c.tsv
}

t_rule() {
	mk
	{
		echo "$dhead"
		printf 'k1\ta.jpg\tbox\t0.9\tagree\n'
		printf 'k2\tb.jpg\tbox\t0.9\tzeroshot\n'
		printf 'k3\tc.jpg\tloose\t0.9\tcluster\n'
		printf 'k4\td.jpg\t_uncertain\t0.8\tuncertain\n'
		printf 'k5\te.jpg\tloose\t0.8\tcluster\n'
		printf 'k6\tv.zip!x/f.jpg\t_other\t0.7\tzeroshot\n'
	} >want
	run "$FU" -z z.tsv -c c.tsv
	expect "rule: every case" 0 want
	run "$FU" -r 1.0 -z z.tsv -c c.tsv
	expect "rule: ratio 1.0 -> stronger wins" 0 && check "rule: ratio 1.0, k4 zeroshot" grep -q "^k4	d.jpg	box	0.8	zeroshot$" "$TMP/out"
	run "$FU" -r 1.6 -z z.tsv -c c.tsv
	check "rule: ratio 1.6, k2 uncertain (0.9 < 1.6 x 0.6)" grep -q "^k2	b.jpg	_uncertain	0.9	uncertain$" "$TMP/out"
	run "$FU" -r 1.5 -z z.tsv -c c.tsv
	check "rule: ratio 1.5, k3 cluster (0.9 >= 1.5 x 0.6)" grep -q "^k3	c.jpg	loose	0.9	cluster$" "$TMP/out"
	run "$FU" -r 0.5 -z z.tsv -c c.tsv
	expect_err_grep "ratio below 1: usage" 2 'ratio'
}

t_unusable() {
	mk
	sed -i 's/unchecked/unusable/' c.tsv
	run "$FU" -z z.tsv -c c.tsv
	expect "unusable prior: runs" 0
	check "unusable prior: every decision by zero-shot alone" test "$(cut -f5 "$TMP/out" | tail -n +2 | sort -u)" = zeroshot
	check "unusable prior: k3 stays box" grep -q "^k3	c.jpg	box	0.6	zeroshot$" "$TMP/out"
	check "unusable prior: uncertain stays uncertain" grep -q "^k5	e.jpg	_uncertain	0.55	zeroshot$" "$TMP/out"
	sed -i 's/unusable/usable/' c.tsv
	run "$FU" -z z.tsv -c c.tsv
	check "usable prior: used (k3 cluster)" grep -q "^k3	c.jpg	loose	0.9	cluster$" "$TMP/out"
}

t_blend() {
	mk
	run "$FU" -m blend -z z.tsv -c c.tsv
	expect "blend: runs" 0 || return
	check "blend: normalised geometric mean" $PY -c "
import math
z = {'k1': (.9, .1), 'k2': (.9, .1), 'k3': (.6, .4), 'k4': (.8, .2), 'k5': (.55, .45)}
c = {'k1': (.7, .3), 'k2': (.4, .6), 'k3': (.1, .9), 'k4': (.25, .75), 'k5': (.2, .8)}
rows = {r.split('\t')[0]: r.split('\t') for r in open('$TMP/out').read().split('\n')[1:-1]}
for k in z:
    g = [math.sqrt(a * b) for a, b in zip(z[k], c[k])]; s = sum(g); p = [x / s for x in g]
    b = 0 if p[0] >= p[1] else 1
    r = rows[k]
    assert r[2] == ['box', 'loose'][b] and abs(float(r[3]) - p[b]) < 1e-12 and r[4] == 'blend', (r, p)
assert rows['k6'][2] == '_other'
"
	run "$FU" -m blend -z z.tsv
	check "blend without clusters = zero-shot argmax" grep -q "^k5	e.jpg	box	0.55	zeroshot$" "$TMP/out"
	cut -f1-8 c.tsv >c4.tsv
	run "$FU" -m blend -z z.tsv -c c4.tsv
	expect_err_grep "blend needs p_ columns" 3 'c4.tsv:1: no p_<class> columns'
	run "$FU" -m vote -z z.tsv
	expect_err_grep "unknown mode: usage" 2 'want rule, blend'
}

t_order() {
	mk
	run "$FU" -z z.tsv -c c.tsv; sort "$TMP/out" >a
	{ head -1 c.tsv; tail -n +2 c.tsv | tac; } >rev.tsv
	run "$FU" -z z.tsv -c rev.tsv
	sort "$TMP/out" >b
	check "reversed order: same decisions" cmp a b
	run -i c.tsv "$FU" -z z.tsv -c -
	sort "$TMP/out" >b2
	check "clusters on stdin: same decisions" cmp a b2
	run "$FU" -z - -c -
	expect_err_grep "both on stdin: usage" 2 'only one input'
}

t_missing_dup() {
	mk
	head -5 c.tsv >short.tsv
	run "$FU" -z z.tsv -c short.tsv
	expect "missing rows: exit 3, each named" 3 - "clipsort-fuse: z.tsv:6: key k5 has no row in short.tsv (a missing row, or a key repeated in one input)
clipsort-fuse: z.tsv:7: key k6 has no row in short.tsv (a missing row, or a key repeated in one input)"
	{ cat c.tsv; printf 'k9\tx.jpg\t0\t0.3\tbox\t0.7\t0.3\tunchecked\t0.7\t0.3\n'; } >extra.tsv
	run "$FU" -z z.tsv -c extra.tsv
	expect_err_grep "extra row: exit 3" 3 "^clipsort-fuse: extra.tsv:8: key k9 has no row in z.tsv"
	{ cat z.tsv; tail -1 z.tsv; } >dup.tsv
	run "$FU" -z dup.tsv -c c.tsv
	expect_err_grep "duplicate key (adjacent)" 3 'dup.tsv:8: duplicate key k6'
	{ cat z.tsv; sed -n 2p z.tsv; } >dup2.tsv
	run "$FU" -z dup2.tsv -c c.tsv
	expect_err_grep "repeated key, not adjacent" 3 'dup2.tsv:8: key k1 has no row in c.tsv'
	{ head -2 z.tsv; sed -n 2p z.tsv; tail -n +3 z.tsv; } >dup3.tsv
	{ head -2 c.tsv; sed -n 2p c.tsv; tail -n +3 c.tsv; } >dup3c.tsv
	run "$FU" -z dup3.tsv -c dup3c.tsv
	expect_err_grep "key repeated in both inputs (key order)" 3 'dup3.tsv:3: duplicate key k1'
}

t_classes() {
	mk
	sed 's/^k3\(.*\)\tloose\t0.9/k3\1\tcrate\t0.9/' c.tsv >unk.tsv
	run "$FU" -z z.tsv -c unk.tsv
	expect_err_grep "unknown class" 3 "unk.tsv:4: unknown class 'crate'"
	sed '1s/p_loose/p_crate/' c.tsv >mis.tsv
	run "$FU" -z z.tsv -c mis.tsv
	expect_err_grep "mismatched class sets" 3 "mis.tsv:1: class 'crate' is not among the zero-shot classes"
	awk -F'\t' -v OFS='\t' '{ print $0, (NR == 1 ? "p_crate" : "0") }' c.tsv >three.tsv
	run "$FU" -z z.tsv -c three.tsv
	expect_err_grep "more classes in clusters" 3 'three.tsv:1: 3 classes'
	sed 's/^k2\tb.jpg\tbox/k2\tb.jpg\tBox/' z.tsv >zu.tsv
	run "$FU" -z zu.tsv -c c.tsv
	expect_err_grep "unknown class in zero-shot" 3 "zu.tsv:3: unknown class 'Box'"
}

t_malformed() {
	mk
	run "$FU" -z z.tsv -c c.tsv; cp "$TMP/out" good
	sed 's/$/\r/' z.tsv >crlf.tsv
	run "$FU" -z crlf.tsv -c c.tsv
	expect "CRLF: same output" 0 good
	{ printf '\357\273\277'; cat c.tsv; } >bom.tsv
	run "$FU" -z z.tsv -c bom.tsv
	expect "BOM: same output" 0 good
	sed '3s/\t0.1$//' z.tsv >cols.tsv
	run "$FU" -z cols.tsv -c c.tsv
	expect_err_grep "wrong column count" 3 'cols.tsv:3'
	sed '2s/a.jpg/a\\q.jpg/' z.tsv >esc.tsv
	run "$FU" -z esc.tsv -c c.tsv
	expect_err_grep "bad escape" 3 'esc.tsv:2'
	sed '2s/\t0.9\t0.8/\tlots\t0.8/' z.tsv >num.tsv
	run "$FU" -z num.tsv -c c.tsv
	expect_err_grep "confidence not a number" 3 "num.tsv:2: confidence 'lots'"
	sed '2s/\t0.9\t0.8/\t1.5\t0.8/' z.tsv >big.tsv
	run "$FU" -z big.tsv -c c.tsv
	expect_err_grep "confidence above 1" 3 "big.tsv:2: confidence '1.5'"
	sed '2s/unchecked/maybe/' c.tsv >pr.tsv
	run "$FU" -z z.tsv -c pr.tsv
	expect_err_grep "bad prior value" 3 "pr.tsv:2: prior 'maybe'"
	cut -f1-7 c.tsv >noprior.tsv
	run "$FU" -z z.tsv -c noprior.tsv
	expect_err_grep "clusters without a prior" 3 "missing column 'prior'"
	printf 'key\tpath\tclass\tconfidence\tmargin\tp_a\n' >onep.tsv
	run "$FU" -z onep.tsv
	expect_err_grep "one class" 3 'fewer than two'
	: >empty.tsv
	run "$FU" -z empty.tsv
	expect_err_grep "empty file: no header" 3 'empty.tsv'
	head -1 z.tsv >hz.tsv; head -1 c.tsv >hc.tsv
	run "$FU" -z hz.tsv -c hc.tsv
	echo "$dhead" >want
	expect "header-only inputs: header-only output" 0 want
	run "$FU" -c c.tsv
	expect_err_grep "no -z: usage" 2 'usage: clipsort-fuse'
}

t_stream() {   # inputs in the same order are joined without holding them
	$PY - <<'PY'
with open('bz.tsv', 'w') as z, open('bc.tsv', 'w') as c:
    z.write('key\tpath\tclass\tconfidence\tmargin\tp_a\tp_b\n')
    c.write('key\tpath\tcluster\tdistance\tclass\tconfidence\tsimilarity\tprior\tp_a\tp_b\n')
    for i in range(200000):
        k = '%064x' % i
        z.write('%s\tp/%d.jpg\ta\t0.75\t0.5\t0.75\t0.25\n' % (k, i))
        c.write('%s\tp/%d.jpg\t0\t0.5\t%s\t0.7\t0.3\tunchecked\t0.7\t0.3\n' % (k, i, 'ab'[i % 2]))
PY
	/usr/bin/time -f '%M' -o rss "$FU" -z bz.tsv -c bc.tsv >bout 2>berr
	check "200000 rows: all decided" test "$(wc -l <bout)" -eq 200001
	check "200000 rows: agree/uncertain split" test "$(grep -c '	agree$' bout)" -eq 100000
	rss=$(tail -1 rss)
	if [ -n "${SAN:-}" ]; then   # ASan's shadow memory and quarantine say nothing about ours
		skip "200000 rows in order: flat memory" "sanitizer build"
	else
		check "200000 rows in order: max RSS $rss KB < 20 MB" test "$rss" -lt 20000
	fi
}

t_rule
t_unusable
t_blend
t_order
t_missing_dup
t_classes
t_malformed
t_stream
t_done
