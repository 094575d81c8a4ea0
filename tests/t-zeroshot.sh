#!/bin/bash
# clipsort-zeroshot: probabilities against OpenCLIP's own logits, prompt ensembling
# and max mode, "other" and min-prob, SigLIP-style bias, mismatched and bad inputs.
# san: yes
. "$(dirname "$0")/lib.sh"
: "${TOBJ:=$SRC/build/obj/tests}"
case $TOBJ in /*) ;; *) TOBJ=$SRC/$TOBJ ;; esac
GEN=$TOBJ/coldstart_gen
ZS=$BIN/clipsort-zeroshot
PY=/usr/bin/python3
cd "$TMP" || exit 1

# import ROWS... : TSV rows "text|image NAME LOCATION v..." -> stream on stdout
k() { printf '%064x' "$1"; }
numcmp() { # numcmp WANT GOT TOL: same text fields, numbers within TOL
	$PY - "$1" "$2" "$3" <<'PY'
import sys
a = open(sys.argv[1]).read().split('\n'); b = open(sys.argv[2]).read().split('\n'); tol = float(sys.argv[3])
if len(a) != len(b): sys.exit("line count %d != %d" % (len(a), len(b)))
for i, (x, y) in enumerate(zip(a, b)):
    fx, fy = x.split('\t'), y.split('\t')
    if len(fx) != len(fy): sys.exit("line %d: %d vs %d fields" % (i + 1, len(fx), len(fy)))
    for u, v in zip(fx, fy):
        try: fu, fv = float(u), float(v)
        except ValueError:
            if u != v: sys.exit("line %d: %r != %r" % (i + 1, u, v))
            continue
        if abs(fu - fv) > tol: sys.exit("line %d: %s vs %s" % (i + 1, u, v))
PY
}

# --- conformance: each fixture prompt its own class -> softmax of OpenCLIP's logits
t_fixture() {
	need_fixture "fixture logits" || return
	$PY - "$FIXTURE/expected" <<'PY' >fx.tsv
import sys, numpy as np, hashlib
d = sys.argv[1]
img = np.fromfile(d + '/image_embeddings.f32', np.float32).reshape(5, 64)
txt = np.fromfile(d + '/text_embeddings.f32', np.float32).reshape(9, 64)
names = open(d + '/image_names.txt').read().split()
for j, t in enumerate(txt):
    print('text\tp%d\tprompt %d\t' % (j, j) + '\t'.join('%.9g' % v for v in t))
for n, v in zip(names, img):
    print('image\t%s\t%s\t' % (hashlib.sha256(n.encode()).hexdigest(), n) + '\t'.join('%.9g' % x for x in v))
PY
	scale=$($PY -c "import numpy as np;print(repr(float(np.exp(np.float64(np.fromfile('$FIXTURE/expected/logit_scale.f32',np.float32)[0])))))")
	$GEN -i fx.tsv -M tiny -x "$scale" >fx.emb
	run "$ZS" fx.emb
	expect "fixture: runs" 0 || return
	$PY - "$FIXTURE/expected" <<'PY' >fx.want
import sys, numpy as np, hashlib
d = sys.argv[1]
lg = np.fromfile(d + '/logits_per_image.f32', np.float32).reshape(5, 9).astype(np.float64)
names = open(d + '/image_names.txt').read().split()
print('key\tpath\tclass\tconfidence\tmargin\t' + '\t'.join('p_p%d' % j for j in range(9)))
for n, l in zip(names, lg):
    p = np.exp(l - l.max()); p /= p.sum(); o = np.argsort(-p)
    print('%s\t%s\tp%d\t%r\t%r\t' % (hashlib.sha256(n.encode()).hexdigest(), n, o[0], p[o[0]], p[o[0]] - p[o[1]]) + '\t'.join(repr(x) for x in p))
PY
	check "fixture: probabilities = softmax(OpenCLIP logits_per_image)" numcmp fx.want "$TMP/out" 2e-5
}

# hand-made 3-d vectors with an exact answer
mk_small() {
	{
		printf 'text\tbox\ta box\t1\t0\t0\n'
		printf 'text\tbox\tpackaging\t0\t0\t1\n'
		printf 'text\tloose\ta loose item\t0.8\t0.6\t0\n'
		printf 'image\t%s\tdir/a.jpg\t1\t0\t0\n' "$(k 1)"
		printf 'image\t%s\tv.zip!x/b.jpg\t0\t1\t0\n' "$(k 2)"
		printf 'image\t%s\tc\\d\t0\t0.6\t0.8\n' "$(k 3)"
	} >small.tsv
	$GEN -i small.tsv -x 10 "$@" >small.emb
}

t_ensemble() {
	mk_small
	$PY - >want <<PY
import numpy as np
box = np.array([1, 0, 1]) / np.sqrt(2); loose = np.array([0.8, 0.6, 0])
imgs = [('$(k 1)', 'dir/a.jpg', [1, 0, 0]), ('$(k 2)', 'v.zip!x/b.jpg', [0, 1, 0]), ('$(k 3)', 'c\\\\\\\\d', [0, 0.6, 0.8])]
print('key\tpath\tclass\tconfidence\tmargin\tp_box\tp_loose')
for key, path, v in imgs:
    l = 10 * np.array([box @ v, loose @ v]); p = np.exp(l - l.max()); p /= p.sum()
    b = int(np.argmax(p))
    print('%s\t%s\t%s\t%r\t%r\t%r\t%r' % (key, path, ['box', 'loose'][b], p[b], abs(p[0] - p[1]), p[0], p[1]))
PY
	run "$ZS" small.emb
	expect "ensemble: runs" 0 && check "ensemble: class = normalised mean of prompts" numcmp want "$TMP/out" 1e-6
	# image 1: mean(box) . [1,0,0] = 0.707 < loose 0.8 -> loose; max mode: box prompt 1 -> box
	check "ensemble: image 1 is loose" grep -q "^$(k 1)	dir/a.jpg	loose	" "$TMP/out"
	run "$ZS" -x small.emb
	expect "max mode: runs" 0 && check "max mode: image 1 is box" grep -q "^$(k 1)	dir/a.jpg	box	" "$TMP/out"
	check "escaped path round-trips" grep -q "	c\\\\\\\\d	" "$TMP/out"
}

t_stdin_and_texts() {
	mk_small
	run "$ZS" small.emb; cp "$TMP/out" a.out
	run -i small.emb "$ZS"
	expect "stdin = file" 0 a.out
	{ grep '^text' small.tsv; } >t.tsv; { grep '^image' small.tsv; } >i.tsv
	$GEN -i t.tsv -x 10 >t.emb; $GEN -i i.tsv -x 10 >i.emb
	run "$ZS" -t t.emb i.emb
	expect "texts from -t" 0 a.out
	run -i i.emb "$ZS" -t t.emb -
	expect "texts from -t, images on stdin" 0 a.out
	run "$ZS" i.emb
	expect_err_grep "no prompt vectors: clear error" 3 'no class prompt vectors'
	run -i i.emb "$ZS" -t - -
	expect_err_grep "both on stdin: usage" 2 'cannot both come from stdin'
}

t_other_minprob() {
	mk_small
	run "$ZS" -p 0.9 small.emb
	expect "min-prob: runs" 0
	# image 3: cos box 0.566, loose 0.36 -> p = 0.887 < 0.9
	check "min-prob: below -> _uncertain" grep -q "^$(k 3)	c\\\\\\\\d	_uncertain	" "$TMP/out"
	check "min-prob: above stays" grep -q "^$(k 2)	v.zip!x/b.jpg	loose	" "$TMP/out"
	run "$ZS" -R loose small.emb
	expect "other: runs" 0 && check "other: winner 'loose' -> _other" grep -q "^$(k 2)	v.zip!x/b.jpg	_other	" "$TMP/out"
	check "other: its p_ column stays" grep -q "p_loose" "$TMP/out"
	run "$ZS" -R nosuch small.emb
	expect_err_grep "other: unknown class" 2 'nosuch: no such class'
	run "$ZS" -p 1.5 small.emb
	expect_err_grep "min-prob out of range" 2 'min-prob'
}

t_multiclass() {
	$GEN -n 300 -d 24 -C 5 -P 3 -s 7 >m.emb
	run "$ZS" m.emb
	expect "5 classes: runs" 0
	check "5 classes: header" grep -q "^key	path	class	confidence	margin	p_class0	p_class1	p_class2	p_class3	p_class4$" "$TMP/out"
	check "5 classes: every image right (class i mod 5)" $PY -c "
import sys
rows = open('$TMP/out').read().split('\n')[1:-1]
assert len(rows) == 300, len(rows)
for r in rows:
    f = r.split('\t'); i = int(f[0], 16)
    assert f[2] == 'class%d' % (i % 5), r
    p = [float(x) for x in f[5:]]
    assert abs(sum(p) - 1) < 1e-9 and abs(float(f[3]) - max(p)) < 1e-15
"
}

t_blocks() {   # more images than one block: same as per-block answers, in order
	$GEN -n 9000 -d 8 -C 3 -s 3 >big.emb
	run "$ZS" big.emb
	expect "9000 images: runs" 0
	check "9000 images: 9001 lines in input order" $PY -c "
rows = open('$TMP/out').read().split('\n')[1:-1]
assert len(rows) == 9000
assert [int(r.split('\t')[0], 16) for r in rows] == list(range(9000))
"
}

t_bias() {   # a model with a logit bias: sigmoid per class, as OpenCLIP's SigLIP
	mk_small -b -5
	run "$ZS" small.emb
	expect "bias: runs" 0
	check "bias: p = sigmoid(scale*cos + bias)" $PY -c "
import math
f = open('$TMP/out').read().split('\n')[1].split('\t')
want = 1 / (1 + math.exp(-(10 * 0.8 - 5)))
assert abs(float(f[6]) - want) < 1e-7, (f, want)
assert abs(float(f[5]) - 1 / (1 + math.exp(-(10 / math.sqrt(2) - 5)))) < 1e-6
"
}

t_mismatch() {
	mk_small
	grep '^text' small.tsv >t.tsv
	$GEN -i t.tsv -M other-model -x 10 >t2.emb
	run "$ZS" -t t2.emb small.emb
	expect_err_grep "model mismatch" 3 'made differently'
	printf 'text\ta\tp\t1\t0\t0\t0\ntext\tb\tq\t0\t1\t0\t0\n' >t4.tsv
	$GEN -i t4.tsv -x 10 >t4.emb
	run "$ZS" -t t4.emb small.emb
	expect_err_grep "dimension mismatch" 3 'made differently|dim'
}

t_bad_inputs() {
	printf 'text\tonly\tp\t1\t0\nimage\t%s\ta\t1\t0\n' "$(k 1)" >one.tsv
	$GEN -i one.tsv >one.emb
	run "$ZS" one.emb
	expect_err_grep "one class: error" 3 'at least 2'
	printf 'text\tBad\tp\t1\t0\ntext\tok\tq\t0\t1\n' >bad.tsv
	$GEN -i bad.tsv >bad.emb
	run "$ZS" bad.emb
	expect_err_grep "invalid class name" 3 "invalid class name 'Bad'"
	printf 'text\ta\tp\t1\t0\ntext\tb\tq\t0\t1\n' >e.tsv
	$GEN -i e.tsv >e.emb
	run "$ZS" e.emb
	printf 'key\tpath\tclass\tconfidence\tmargin\tp_a\tp_b\n' >want
	expect "empty input: header only" 0 want
	mk_small
	head -c 150 small.emb >trunc.emb
	run "$ZS" trunc.emb
	expect_err_grep "truncated stream" 3 'trunc'
	printf 'not an embedding file\n' >junk
	run "$ZS" junk
	expect_err_grep "not embeddings" 3 'junk'
	run "$ZS" nonexistent.emb
	expect_err_grep "missing file" 3 'nonexistent'
	run "$ZS" -q
	expect_err_grep "bad option: usage" 2 'usage: clipsort-zeroshot'
	run "$ZS" a b
	expect_err_grep "two operands: usage" 2 'usage:'
}

t_output_error() {
	mk_small
	if [ -w /dev/full ]; then
		"$ZS" small.emb >/dev/full 2>err; st=$?
		if [ $st -eq 4 ] && grep -q 'write error' err; then ok "full disk: exit 4"; else not_ok "full disk: exit 4" "exit $st: $(cat err)"; fi
	else
		skip "full disk" "/dev/full absent"
	fi
}

t_cache() {   # an HDF5 cache (clipsort-cache convert) reads like the stream
	if [ ! -x "$BIN/clipsort-cache" ]; then skip "HDF5 cache" "clipsort-cache not built"; return; fi
	$GEN -n 300 -d 16 -C 3 -P 2 -s 8 >s.emb
	"$BIN/clipsort-cache" convert -o s.h5 s.emb 2>/dev/null
	run "$ZS" s.emb; cp "$TMP/out" s.out
	run "$ZS" s.h5
	expect "HDF5 cache = stream (keys already in order)" 0 s.out
	$GEN -n 0 -d 16 -C 3 -P 2 -s 8 -T >t.emb; "$BIN/clipsort-cache" convert -o t.h5 t.emb 2>/dev/null
	$GEN -n 300 -d 16 -C 3 -P 2 -s 8 -I >i.emb
	run "$ZS" -t t.h5 i.emb
	expect "prompts from a cache, images from a stream" 0 s.out
}

t_fixture
t_cache
t_ensemble
t_stdin_and_texts
t_other_minprob
t_multiclass
t_blocks
t_bias
t_mismatch
t_bad_inputs
t_output_error
t_done
