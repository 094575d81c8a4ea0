#!/bin/sh
# t-cache: clipsort-cache info/dump/import/merge/convert, the embedding formats seen
# from outside (h5dump, h5py), damaged inputs, locks, and I/O faults.
# san: yes
. "$(dirname "$0")/lib.sh"
C=$BIN/clipsort-cache
FAILIO=$(cd "${TOBJ:-$SRC/build/obj/tests}" 2>/dev/null && pwd)/failio.so
# the sanitizer runtime must come first; the shim is preloaded after it
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
cd "$TMP" || exit 1
: > empty        # expected empty output (not /dev/null: a test elsewhere may have replaced it)

KA=ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb   # sha256("a")
KB=3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d   # sha256("b")
KC=2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6   # sha256("c")
T='	'
printf 'key\tpath\tv0\tv1\tv2\n%s\tdir/a.jpg\t3\t4\t0\n%s\tv.zip!b\\tc.jpg\t0\t0\t2\n' $KA $KB > v.tsv
printf 'class\tprompt\tvec\npackaged\ta box\t1,0,0\nloose\tloose item\t0,1,1\n' > t.tsv
printf 'key\tpath\tsize\tmtime\tvec\n%s\tother/a.jpg\t10\t1700000000\t3,4,0\n%s\tc.png\t20\t1700000001\t0,1,0\n' $KA $KC > v2.tsv

# ---- import, info, dump
run $C import -m ViT-T -f fp1 -p 'size=224' -s 50 -t t.tsv -o a.h5 v.tsv
expect "import to a cache" 0 empty ""
cat > want <<EOF
field${T}value
file${T}a.h5
format${T}cache
format_version${T}1
model${T}ViT-T
fingerprint${T}fp1
preprocess${T}size=224
dim${T}3
logit_scale${T}50
logit_bias${T}none
images${T}2
texts${T}2
locations${T}2
rejects${T}0
EOF
run $C info a.h5
expect "info of a cache" 0 want ""
cat > want <<EOF
key${T}path${T}v0${T}v1${T}v2
$KB${T}v.zip!b\\tc.jpg${T}0${T}0${T}1
$KA${T}dir/a.jpg${T}0.6${T}0.8${T}0
EOF
run $C dump a.h5
expect "dump: key order, escaped path, normalised vectors" 0 want ""
printf 'class\tprompt\tv0\tv1\tv2\npackaged\ta box\t1\t0\t0\nloose\tloose item\t0\t0.70710677\t0.70710677\n' > want
run $C dump -t a.h5
expect "dump -t: texts in file order" 0 want ""
printf 'key\tpath\tsize\tmtime\n%s\tv.zip!b\\tc.jpg\t0\t0\n%s\tdir/a.jpg\t0\t0\n' $KB $KA > want
run $C dump -l a.h5
expect "dump -l: locations" 0 want ""
printf 'path\treason\n' > want
run $C dump -r a.h5
expect "dump -r: no rejects" 0 want ""

run $C import -R -m ViT-T -f fp1 -p 'size=224' -s 50 -t t.tsv v.tsv
cp "$TMP/out" s.emb
expect "import to a stream" 0 - ""
sed -e 's/^file.*/file	s.emb/' -e 's/^format	cache/format	stream/' -e '/^locations/d' -e '/^rejects/d' \
	<<EOF > want
field${T}value
file${T}a.h5
format${T}cache
format_version${T}1
model${T}ViT-T
fingerprint${T}fp1
preprocess${T}size=224
dim${T}3
logit_scale${T}50
logit_bias${T}none
images${T}2
texts${T}2
EOF
run $C info s.emb
expect "info of a stream" 0 want ""
printf 'key\tpath\tv0\tv1\tv2\n%s\tdir/a.jpg\t3\t4\t0\n%s\tv.zip!b\\tc.jpg\t0\t0\t2\n' $KA $KB > want
run -i s.emb $C dump -
expect "dump of a stream on stdin: written order, -R kept raw vectors" 0 want ""
run -i v.tsv $C import -m x
expect "import refuses nothing when stdout is not a terminal" 0 - ""

# round trips: dump | import gives the same dump; stream <-> cache
$C dump a.h5 > d1.tsv
run -i d1.tsv $C import -m ViT-T -f fp1 -p 'size=224' -s 50 -o b.h5
expect "dump | import" 0 empty ""
$C dump b.h5 > d2.tsv
check "dump | import | dump is the identity" cmp d1.tsv d2.tsv
run $C convert -o c.h5 s.emb
expect "convert stream -> cache" 0 empty ""
$C dump -t c.h5 > ct.tsv; $C dump -t s.emb > st.tsv
check "convert keeps the texts" cmp ct.tsv st.tsv
run $C convert c.h5
cp "$TMP/out" c.emb
expect "convert cache -> stream" 0 - ""
$C dump c.emb > d3.tsv; $C dump c.h5 > d4.tsv
check "cache -> stream -> dump equals the cache's dump" cmp d3.tsv d4.tsv

# ---- merge
run $C import -m ViT-T -f fp1 -p 'size=224' -s 70 -o b.h5 v2.tsv
expect "second shard" 0 empty ""
run $C merge -o m.h5 a.h5 b.h5
expect "merge" 0 empty ""
printf 'key\tpath\tsize\tmtime\n%s\tc.png\t20\t1700000001\n%s\tv.zip!b\\tc.jpg\t0\t0\n%s\tdir/a.jpg\t0\t0\n%s\tother/a.jpg\t10\t1700000000\n' \
	$KC $KB $KA $KA > want
run $C dump -l m.h5
expect "merge unions the locations of a duplicate key" 0 want ""
run $C info m.h5
grep -E '^(images|locations|texts|logit_scale)' "$TMP/out" > got
printf 'logit_scale\t50\nimages\t3\ntexts\t2\nlocations\t4\n' > want
check "merge: 3 images, texts once, first input's stamp" cmp want got
run $C merge -o m.h5 m.h5 b.h5 a.h5
$C dump -l m.h5 > got2
printf 'key\tpath\tsize\tmtime\n%s\tc.png\t20\t1700000001\n%s\tv.zip!b\\tc.jpg\t0\t0\n%s\tdir/a.jpg\t0\t0\n%s\tother/a.jpg\t10\t1700000000\n' \
	$KC $KB $KA $KA > want
check "merge into one of the inputs, idempotent" cmp want got2
run $C import -m RN50 -f fp1 -p 'size=224' -o other.h5 v2.tsv
run $C merge -o bad.h5 a.h5 other.h5
expect "merge refuses mismatched stamps" 3 empty "clipsort-cache: other.h5: cannot merge with a.h5: model differs ('ViT-T' vs 'RN50')"
check "no output after a refused merge" test ! -e bad.h5
run -i v2.tsv $C import -m ViT-T -f fp1 -p 'size=224' -d 4
expect "import --dim mismatch" 3 - "clipsort-cache: <stdin>:2: vector has 3 values, expected 4
clipsort-cache: <stdin>:3: vector has 3 values, expected 4"

# ---- bad input
printf 'key\tpath\tv0\tv1\n%s\ta\t1\t0\nxyz\tb\t1\t0\n%s\tc\t0\t0\n%s\td\t1\tx\n' $KA $KB $KC > bad.tsv
run $C import -m M -o bad.h5 bad.tsv
expect "import: every bad row named, nothing written" 3 empty "clipsort-cache: bad.tsv:3: key 'xyz' is not 64 lowercase hex digits
clipsort-cache: bad.tsv:4: zero vector cannot be normalised
clipsort-cache: bad.tsv:5: v1: 'x' is not a finite number
clipsort-cache: bad.h5: not changed"
check "no cache from bad rows" test ! -e bad.h5
run $C import -m M bad.tsv
expect_err_grep "import to a stream with bad rows fails" 3 "bad.tsv:3: key 'xyz'"
cp "$TMP/out" partial.emb
run $C info partial.emb
expect_err_grep "a stream cut by a failed import reads as truncated" 3 "^clipsort-cache: partial.emb: truncated stream: no end record after 1 images"
printf 'key\tpath\tv0\n%s\ta\\q\t1\n' $KA > esc.tsv
run $C import -m M esc.tsv
expect "bad escape in the TSV" 3 - "clipsort-cache: esc.tsv:2: bad escape '\\q' in field 2"
printf 'key\tpath\n' > novec.tsv
run $C import -m M novec.tsv
expect "no vector columns" 3 - "clipsort-cache: novec.tsv:1: no vector columns (expected 'vec' or v0, v1, ...)"
run $C import -m M -o x.h5 /nonexistent.tsv
expect "missing TSV" 4 - "clipsort-cache: /nonexistent.tsv: No such file or directory"

size=$(wc -c < s.emb)
head -c $((size - 5)) s.emb > cut.emb
run $C dump cut.emb
expect "truncated stream (end record cut)" 3 - "clipsort-cache: cut.emb: truncated stream: end of input inside end record at byte $((size - 5))"
head -c 60 s.emb > cut.emb
run -i cut.emb $C info -
expect_err_grep "truncated stream on stdin" 3 "^clipsort-cache: <stdin>: truncated stream: end of input inside "
run -i a.h5 $C dump -
expect "stdin cannot be a cache" 3 - "clipsort-cache: <stdin>: an HDF5 cache cannot be read from standard input; name the file instead"
run $C info v.tsv
expect "not an embedding file" 3 - "clipsort-cache: v.tsv: not an embedding file (neither a clipsort stream nor an HDF5 cache)"
run $C info nonexistent.h5
expect "missing file" 4 - "clipsort-cache: nonexistent.h5: No such file or directory"
run $C
expect_err_grep "no command" 2 "^usage: clipsort-cache info file"
run $C frobnicate
expect_err_grep "unknown command" 2 "^clipsort-cache: unknown command 'frobnicate'"
run $C dump -l -t a.h5
expect_err_grep "dump: one mode" 2 "^usage: "
run $C import v.tsv
expect_err_grep "import needs -m" 2 "^usage: "

# ---- the EXAMPLES of clipsort-cache(1), as written there
mkdir ex && (
	cd ex || exit 1
	printf 'not really a jpeg' > a.jpg
	printf 'key\tpath\tvec\n%s\ta.jpg\t1,0,0\n' \
	    "$(sha256sum < a.jpg | cut -c1-64)" > v.tsv
	printf 'class\tprompt\tvec\nbox\ta box\t1,0,0\n' > t.tsv
	"$C" import -m test -t t.tsv -o cache.h5 v.tsv || exit 1
	cp cache.h5 shard-1.h5
	"$C" import -m test -o shard-2.h5 ../v2.tsv || exit 1
	"$C" merge -o all.h5 shard-*.h5 || exit 1
	"$C" info all.h5 | grep -qx 'images	3' || exit 1
	"$C" dump all.h5 | cut -f3- > vectors.tsv
	/usr/bin/python3 -c 'import numpy; assert numpy.loadtxt("vectors.tsv", skiprows=1).shape == (3, 3)' 2>/dev/null ||
	    [ "$(wc -l < vectors.tsv)" -eq 4 ]
) >"$TMP/out" 2>"$TMP/err"; status=$?
expect "the EXAMPLES of clipsort-cache(1) run" 0 empty ""

# ---- the cache seen by HDF5's own tools
if command -v h5dump >/dev/null 2>&1; then
	run h5dump -H a.h5
	expect "h5dump reads the cache" 0 - ""
	check "h5dump: /images/vec is float32 [2, 3] chunked" \
		grep -q 'DATASPACE  SIMPLE { ( 2, 3 ) / ( H5S_UNLIMITED, 3 ) }' "$TMP/out"
else
	skip "h5dump reads the cache" "h5dump not installed (hdf5-tools)"
fi
if "$PY" -c 'import h5py' 2>/dev/null; then
	cat > check.py <<'EOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
a = f.attrs
assert a["format"] == "clipsort-cache" and a["format_version"] == 1, dict(a)
assert a["model"] == "ViT-T" and a["fingerprint"] == "fp1" and a["dim"] == 3, dict(a)
assert a["has_logit_bias"] == 0 and a["logit_scale"] == 50.0
keys = [k.decode() for k in f["images/key"][:]]
assert keys == sorted(keys) and len(keys) == 3, keys
v = f["images/vec"]
assert v.dtype == np.float32 and v.shape == (3, 3) and v.maxshape == (None, 3) and v.chunks is not None
assert v.compression is None
assert np.allclose(np.linalg.norm(v[:], axis=1), 1.0)
paths = [p.decode() for p in f["locations/path"][:]]
assert paths == ["c.png", "v.zip!b\tc.jpg", "dir/a.jpg", "other/a.jpg"], paths
assert list(f["locations/size"][:]) == [20, 0, 0, 10]
assert [c.decode() for c in f["texts/class"][:]] == ["packaged", "loose"]
assert f["texts/vec"].shape == (2, 3) and f["rejects/location"].shape == (0,)
print("ok")
EOF
	run "$PY" check.py m.h5
	expect "h5py reads every dataset and attribute" 0 - ""
	# damaged caches, made with h5py
	cp a.h5 v2.h5
	"$PY" -c 'import h5py; f = h5py.File("v2.h5", "r+"); f.attrs.modify("format_version", 2)'
	run $C info v2.h5
	expect "wrong format_version" 3 - "clipsort-cache: v2.h5: unsupported cache format version 2 (this build reads 1)"
	cp a.h5 nd.h5
	"$PY" -c 'import h5py; f = h5py.File("nd.h5", "r+"); del f["locations/mtime"]'
	run $C dump nd.h5
	expect "missing dataset" 3 - "clipsort-cache: nd.h5: missing dataset /locations/mtime"
	cp a.h5 dm.h5
	"$PY" -c 'import h5py, numpy as np; f = h5py.File("dm.h5", "r+"); del f["texts/vec"]; f["texts/vec"] = np.zeros((2, 4), np.float32)'
	run $C dump dm.h5
	expect "dim mismatch between datasets" 3 - "clipsort-cache: dm.h5: dim mismatch: dataset /texts/vec has 4 columns, the cache's dim is 3"
	cp a.h5 ln.h5
	"$PY" -c 'import h5py, numpy as np; f = h5py.File("ln.h5", "r+"); del f["images/key"]; f["images/key"] = np.array([b"a" * 64], "S64")'
	run $C dump ln.h5
	expect "datasets of different length" 3 - "clipsort-cache: ln.h5: datasets /images/key and /images/vec differ in length (1 vs 2 rows)"
	"$PY" -c 'import h5py; f = h5py.File("plain.h5", "w"); f["x"] = [1]'
	run $C info plain.h5
	expect "an HDF5 file that is not a cache" 3 - "clipsort-cache: plain.h5: not a clipsort cache: attribute 'format' missing"
else
	skip "h5py reads the cache" "python3-h5py not importable by $PY"
fi

# ---- locks
if command -v flock >/dev/null 2>&1; then
	run flock m.h5.lock $C merge -o m.h5 a.h5
	expect "a locked output is busy" 6 empty "clipsort-cache: m.h5 is locked by another process"
else
	skip "a locked output is busy" "flock(1) not installed"
fi

# ---- I/O faults: exit 4, the old output intact, no temporary files left
i=0; { echo "key${T}path${T}vec"; while [ $i -lt 3000 ]; do
	printf '%064x\tdir/%d.jpg\t%d,1,2\n' $i $i $i; i=$((i + 1)); done; } > many.tsv
$C import -m ViT-T -f fp1 -p 'size=224' -o big.h5 many.tsv
if [ -w /dev/full ]; then
	$C dump big.h5 >/dev/full 2>"$TMP/err"; status=$?
	expect "dump to a full disk" 4 - "clipsort-cache: <stdout>: write error: No space left on device"
	$C convert big.h5 >/dev/full 2>"$TMP/err"; status=$?
	expect "stream to a full disk" 4 - "clipsort-cache: <stdout>: write error: No space left on device"
else
	skip "dump to a full disk" "/dev/full not writable"
fi
if [ -f "$FAILIO" ]; then
	# after a failed write HDF5 cannot free what the file held; that is its leak, not ours
	echo 'leak:libhdf5' > lsan.supp
	export LSAN_OPTIONS="${LSAN_OPTIONS:-}${LSAN_OPTIONS:+:}suppressions=$TMP/lsan.supp"
	cp m.h5 keep.h5
	for after in 0 4000 60000; do
		LD_PRELOAD=$FAILIO FAILIO_AFTER=$after $C merge -o m.h5 big.h5 a.h5 >/dev/null 2>"$TMP/err"; status=$?
		expect_err_grep "merge with ENOSPC after $after bytes: exit 4" 4 "No space left on device.*m.h5 not changed"
		check "merge with ENOSPC after $after bytes: old cache intact" cmp m.h5 keep.h5
		check "merge with ENOSPC after $after bytes: no temporary file" sh -c '! ls | grep -q "\.tmp\."'
	done
	LD_PRELOAD=$FAILIO FAILIO_MATCH='*.vec*' FAILIO_AFTER=100 $C merge -o m.h5 big.h5 a.h5 >/dev/null 2>"$TMP/err"; status=$?
	expect "scratch file full: exit 4" 4 - "clipsort-cache: m.h5: cannot write the scratch file: No space left on device (m.h5 not changed)"
	LD_PRELOAD=$FAILIO FAILIO_FSYNC=1 $C merge -o m.h5 big.h5 a.h5 >/dev/null 2>"$TMP/err"; status=$?
	expect_err_grep "fsync fails: exit 4" 4 "^clipsort-cache: m.h5.tmp.[0-9]+: fsync: Input/output error \(m.h5 not changed\)$"
	check "fsync fails: old cache intact, no temporary file" sh -c 'cmp m.h5 keep.h5 && ! ls | grep -q "\.tmp\."'
	LD_PRELOAD=$FAILIO FAILIO_AFTER=0 $C import -m M -o m.h5 many.tsv >/dev/null 2>"$TMP/err"; status=$?
	expect_err_grep "import with ENOSPC: exit 4" 4 "No space left on device"
	check "import with ENOSPC: old cache intact" cmp m.h5 keep.h5
	LD_PRELOAD=$FAILIO FAILIO_AFTER=100 $C import -m M many.tsv >s2.emb 2>"$TMP/err"; status=$?
	expect "import to a stream with ENOSPC: exit 4" 4 - "clipsort-cache: <stdout>: write error: No space left on device"
	run $C info s2.emb
	expect_err_grep "the cut stream is not mistaken for a complete one" 3 "truncated stream"
else
	skip "fault injection" "$FAILIO not built"
fi

t_done
