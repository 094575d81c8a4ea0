#!/bin/bash
# clipsort-embed: conformance with OpenCLIP end to end, the cache and stream outputs,
# incremental updates, hostile inputs (images and ZIPs), locking, crash safety, shards.
. "$(dirname "$0")/lib.sh"
E=$BIN/clipsort-embed
C=$BIN/clipsort-cache
cd "$TMP" || exit 1

# a random-weight model of the project's own (no fixture needed)
if ! "$BIN"/clipsort-mkmodel --preset tiny --seed 7 model >mk.out 2>&1; then
	not_ok "mkmodel tiny" "$(cat mk.out)"
	t_done; exit
fi
"$BIN"/clipsort-mkmodel --preset tiny --seed 8 model2 >/dev/null 2>&1
python3 "$SRC/scripts/gen-images" --seed 5 --count 12 --min-size 200 --max-size 420 imgs

info() { "$C" info "$1" | awk -F'\t' -v k="$2" '$1 == k { print $2 }'; }

# --- end to end against OpenCLIP's own embeddings ---
conformance() {
	need_fixture "conformance: image files to embeddings" || return
	M=$FIXTURE/model/tiny-vit-b32ish
	run "$E" -q -m "$M" -o fx.h5 "$FIXTURE/images"
	expect "embed fixture images" 0 || return
	python3 - "$FIXTURE" fx.h5 >py.out 2>&1 <<'PY'
import sys, numpy as np, h5py
fx, path = sys.argv[1], sys.argv[2]
exp = np.fromfile(fx + "/expected/image_embeddings.f32", dtype=np.float32).reshape(5, -1)
names = open(fx + "/expected/image_names.txt").read().split()
f = h5py.File(path, "r")
dec = lambda a: [x.decode() if isinstance(x, bytes) else x for x in a]
keys, vec = dec(f["images/key"][:]), f["images/vec"][:]
lk, lp = dec(f["locations/key"][:]), dec(f["locations/path"][:])
worst = 1.0
for i, n in enumerate(names):
    j = [p.endswith("/" + n) for p in lp].index(True)
    worst = min(worst, float(vec[keys.index(lk[j])] @ exp[i]))
print("min cosine %.7f" % worst)
sys.exit(0 if worst >= 0.999 else 1)
PY
	rc=$?   # before the name's $(...) resets $?
	check "end-to-end cosine >= 0.999 to OpenCLIP ($(cat py.out))" test $rc -eq 0
	# the prompts through --tokenize give OpenCLIP's ids
	python3 -c 'import json,sys; [print(p) for p in json.load(open(sys.argv[1]))]' \
	    "$FIXTURE/expected/prompts.json" >prompts.txt
	run -i prompts.txt "$E" -m "$M" --tokenize
	python3 - "$FIXTURE" "$TMP/out" >py.out 2>&1 <<'PY'
import sys, numpy as np
t = np.fromfile(sys.argv[1] + "/expected/text_tokens.i64", dtype=np.int64).reshape(9, 77)
got = [list(map(int, l.split())) for l in open(sys.argv[2])]
want = [[int(x) for x in row if x != 0] for row in t]
sys.exit(0 if got == want else 1)
PY
	check "--tokenize prints OpenCLIP's ids for every fixture prompt" test $? -eq 0
	grep -q 'text cut to 77 tokens' "$TMP/err"
	check "--tokenize warns about the cut 120-word prompt" test $? -eq 0
}
conformance

# --- cache and stream ---
run "$E" -q -m model -o c.h5 imgs
expect "embed a directory into a new cache" 0 - ""
check "cache has 12 images" test "$(info c.h5 images)" = 12
run "$E" -q -m model imgs
expect "stream to stdout" 0
"$C" dump c.h5 | sort >dump-cache.tsv
"$C" dump "$TMP/out" 2>&1 | sort >dump-stream.tsv
check "stream and cache carry the same keys, locations and vectors" cmp dump-cache.tsv dump-stream.tsv
"$E" -q -m model imgs >s2.bin
check "stream output is deterministic (same bytes twice)" cmp "$TMP/out" s2.bin
find imgs -type f | sort >list.txt
run -i list.txt "$E" -q -m model -o l.h5 -
expect "paths on stdin (-)" 0
check "stdin list gives the same cache content" cmp <("$C" dump l.h5) <("$C" dump c.h5)

# --- incremental updates ---
before=$(stat -c %Y.%i c.h5)
run "$E" -m model -o c.h5 imgs
expect_err_grep "re-run over an unchanged cache" 0 '0 images embedded, 12 locations, 0 rejected \(cache unchanged\)'
check "unchanged cache is not rewritten" test "$(stat -c %Y.%i c.h5)" = "$before"
cp imgs/boxed/0000.jpg imgs/boxed/copy-of-0000.jpg
run "$E" -m model -o c.h5 imgs
expect_err_grep "identical bytes under a new name are not embedded again" 0 '0 images embedded, 13 locations'
check "two locations, one vector" test "$(info c.h5 images)/$(info c.h5 locations)" = 12/13
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[1],"wb").write(d[:-2]+b"\x00\xff\xd9")' imgs/loose/0001.jpg 2>/dev/null
touch -d '2001-01-01' imgs/loose/0001.jpg
run "$E" -m model -o c.h5 imgs
expect_err_grep "a changed file is re-hashed and re-embedded" 0 '1 images embedded, 13 locations'
check "the old vector of the changed file is dropped" test "$(info c.h5 images)" = 12
rm imgs/boxed/copy-of-0000.jpg imgs/loose/0003.jpg
run "$E" -m model -o c.h5 imgs
expect_err_grep "vanished files are dropped" 0 '0 images embedded, 11 locations'
check "cache now has 11 images" test "$(info c.h5 images)/$(info c.h5 locations)" = 11/11
mkdir other && cp imgs/boxed/0002.jpg other/x.jpg
run "$E" -q -m model -o c.h5 other
expect "another operand keeps the locations of earlier ones" 0
check "locations of both runs" test "$(info c.h5 locations)" = 12
run "$E" -q -m model --prune -o c.h5 other
expect "--prune drops locations not seen in this run" 0
check "only other/ is left" test "$(info c.h5 images)/$(info c.h5 locations)" = 1/1

# --- model mismatch ---
run "$E" -m model2 -o c.h5 imgs
expect_err_grep "a cache made with another model is refused" 3 'c.h5: made with another model or preprocessing .*--rebuild'
run "$E" -q -m model --fast -o c.h5 imgs
expect_err_grep "fast preprocessing is another stamp" 3 'made with another model or preprocessing'
run "$E" -q -m model2 --rebuild -o c.h5 imgs
expect "--rebuild re-embeds into the same file" 0
check "rebuilt cache is stamped with model2" test "$(info c.h5 model)" = model2

# --- hostile images ---
mkdir bad
head -c 3000 imgs/boxed/0000.jpg >bad/truncated.jpg
printf '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>' >bad/disguised.jpg
printf '%%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%%%EOF\n' >bad/doc.png
: >bad/empty.jpg
python3 - bad/bomb.png <<'PY'
import sys, struct, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
raw = zlib.compress(b"\x00" * (50000 * 3 + 1) * 4)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
PY
cp imgs/boxed/0000.jpg bad/good.jpg
run "$E" -m model -o bad.h5 bad
expect_err_grep "hostile images: exit 1, the run goes on" 1 'bad.h5: 1 images embedded, 1 locations, 5 rejected'
grep -q '^clipsort-embed: bad/truncated.jpg: truncated or corrupt' "$TMP/err"; check "truncated JPEG rejected by name" test $? -eq 0
grep -q '^clipsort-embed: bad/disguised.jpg: unsupported image type (svgload' "$TMP/err"; check "SVG renamed .jpg rejected by loader name" test $? -eq 0
grep -q '^clipsort-embed: bad/doc.png: ' "$TMP/err"; check "PDF renamed .png rejected" test $? -eq 0
grep -q '^clipsort-embed: bad/empty.jpg: ' "$TMP/err"; check "empty file rejected" test $? -eq 0
grep -Eq '^clipsort-embed: bad/bomb.png: .*(pixels|too big|limit)' "$TMP/err"; check "pixel-bomb PNG header rejected before decoding" test $? -eq 0
check "rejects are listed in the cache" test "$(info bad.h5 rejects)" = 5
# (one decoder thread: with two, libvips' process-wide error buffer can lend one
# file's reason to another, a preprocessing bug reported with issue 3; a reason that changes
# is a change)
"$E" -q -j1 -m model -o bad1.h5 bad
before=$(stat -c %Y.%i bad1.h5)
"$C" dump -r bad1.h5 >rej1.tsv
run "$E" -j1 -m model -o bad1.h5 bad
expect_err_grep "the same rejects again: exit 1, cache unchanged" 1 '0 images embedded, 1 locations, 5 rejected \(cache unchanged\)'
"$C" dump -r bad1.h5 >rej2.tsv
check "the same reasons both times" diff rej1.tsv rej2.tsv
check "a cache with the same rejects is not rewritten" test "$(stat -c %Y.%i bad1.h5)" = "$before"
rm bad/empty.jpg
run "$E" -q -j1 -m model -o bad1.h5 bad
expect "one reject fewer" 1
check "the cache drops the reject that went away" test "$(info bad1.h5 rejects)" = 4

# --- hostile ZIPs ---
python3 - <<'PY'
import zipfile, zlib, struct, io
good = open("imgs/boxed/0000.jpg", "rb").read()
with zipfile.ZipFile("slip.zip", "w") as z:
    z.writestr("../../../tmp/evil.jpg", good)
    z.writestr("/abs/path.jpg", good)
    z.writestr("nested.zip", open("slip.zip", "rb").read() if False else b"PK\x05\x06" + b"\x00" * 18)
# overlapping-entry zip bomb (Fifield): many central-directory entries share one
# highly compressible deflate stream
data = b"\x00" * (40 << 20)
comp = zlib.compressobj(9, zlib.DEFLATED, -15)
cdata = comp.compress(data) + comp.flush()
crc = zlib.crc32(data) & 0xffffffff
out = io.BytesIO()
lh = struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, 0, 8, 0, 0, crc, len(cdata), len(data), 5, 0) + b"a.jpg"
out.write(lh); out.write(cdata)
cd = io.BytesIO(); n = 200
for i in range(n):
    name = b"e%03d.jpg" % i
    cd.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 20, 20, 0, 8, 0, 0, crc, len(cdata), len(data), len(name), 0, 0, 0, 0, 0, 0) + name)
cdb = cd.getvalue()
out.write(cdb)
out.write(struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, n, n, len(cdb), len(lh) + len(cdata), 0))
open("bomb.zip", "wb").write(out.getvalue())
PY
run "$E" -m model -o z.h5 slip.zip
expect_err_grep "zip-slip names stay locations, nothing is extracted" 1 'slip.zip!nested.zip: nested zip archive not opened'
python3 -c 'import h5py,sys; [print(p.decode() if isinstance(p,bytes) else p) for p in h5py.File(sys.argv[1],"r")["locations/path"][:]]' z.h5 | sort >zlocs.txt
printf '%s\n' 'slip.zip!../../../tmp/evil.jpg' 'slip.zip!/abs/path.jpg' >zwant.txt
check "zip entry names recorded verbatim as locations" cmp zwant.txt zlocs.txt
check "no file written outside the working directory" test ! -e /tmp/evil.jpg
run "$E" -m model -o zb.h5 bomb.zip imgs/boxed/0000.jpg
expect_err_grep "overlapping-entry zip bomb stopped, the run goes on" 1 '^clipsort-embed: bomb.zip![^:]+: .*zip bomb'
check "zip bomb run still embedded the plain file" test "$(info zb.h5 images)" = 1
check "zip bomb: decompressed far less than the bomb holds" test "$(info zb.h5 rejects)" -ge 1

# encrypted entries and names that are not UTF-8
cp imgs/boxed/0000.jpg cafX.jpg
zip -q -P secret enc.zip cafX.jpg
zip -q names.zip cafX.jpg
python3 - <<'PY'
d = open("names.zip", "rb").read()
open("names.zip", "wb").write(d.replace(b"cafX.jpg", b"caf\xe9.jpg"))
PY
run "$E" -m model -o enc.h5 enc.zip names.zip
expect_err_grep "encrypted ZIP entry reported, not read" 1 '^clipsort-embed: enc.zip!cafX.jpg: encrypted entry not read'
python3 - enc.h5 >py.out 2>&1 <<'PY'
import sys, h5py
p = h5py.File(sys.argv[1], "r")["locations/path"][:]
p = [x if isinstance(x, bytes) else x.encode() for x in p]
p[0].decode("utf-8")   # strict: raises on invalid UTF-8
print(p[0].decode())
sys.exit(0 if len(p) == 1 and p[0].startswith(b"names.zip!caf") else 1)
PY
rc=$?   # before the name's $(...) resets $?
check "a Latin-1 entry name becomes a valid UTF-8 location ($(tail -n 1 py.out))" test $rc -eq 0

# a full disk while the new cache is written: exit 4, the old cache untouched
FAILIO=$(cd "${TOBJ:-$SRC/build/obj/tests}" 2>/dev/null && pwd)/failio.so
if [ -f "$FAILIO" ]; then
	"$E" -q -m model -o full.h5 imgs/boxed
	cp full.h5 full-before.h5
	run env LD_PRELOAD="$FAILIO" FAILIO_AFTER=4096 FAILIO_MATCH='*full.h5.tmp*' "$E" -q -m model -o full.h5 imgs
	expect_err_grep "ENOSPC while writing the cache: exit 4" 4 'full.h5'
	check "the old cache is intact after a full disk" cmp full.h5 full-before.h5
	check "no temporary file is left behind" test -z "$(ls | grep 'full.h5.tmp')"
else
	not_ok "full disk test" "fault-injection shim $FAILIO not built"
fi

# --- locking, crashes, shards ---
exec 9>c.h5.lock
flock -n 9
run "$E" -m model -o c.h5 imgs
expect_err_grep "a second writer is refused" 6 'c.h5.*locked'
exec 9>&-
python3 "$SRC/scripts/gen-images" --seed 9 --count 80 --min-size 600 --max-size 900 many
"$E" -q -m model -o crash.h5 imgs
n0=$(info crash.h5 images)
cp crash.h5 crash-before.h5
( "$E" -q -j1 -b 4 -m model -o crash.h5 many & pid=$!; sleep 0.8; kill -9 $pid; wait $pid ) 2>/dev/null
check "kill -9 mid-run leaves the previous cache intact" cmp <("$C" dump crash.h5) <("$C" dump crash-before.h5)
run "$E" -q -m model -o crash.h5 many
expect "the next run completes" 0
check "and holds both runs" test "$(info crash.h5 images)" = $((n0 + 80))
run "$E" -q -m model --shard 1/2 -o s1.h5 imgs many
expect "shard 1/2" 0
run "$E" -q -m model --shard 2/2 -o s2.h5 imgs many
expect "shard 2/2" 0
"$E" -q -m model -o all.h5 imgs many
run "$C" merge -o merged.h5 s1.h5 s2.h5
expect "merge the shard caches" 0
check "shards split the images" test $(( $(info s1.h5 images) + $(info s2.h5 images) )) = "$(info all.h5 images)"
"$C" dump merged.h5 >merged.tsv; "$C" dump all.h5 >all.tsv
python3 - merged.tsv all.tsv >py.out 2>&1 <<'PY'
import sys
a = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
b = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
assert [r[:2] for r in a] == [r[:2] for r in b], "keys or locations differ"
d = max(abs(float(x) - float(y)) for ra, rb in zip(a[1:], b[1:]) for x, y in zip(ra[2:], rb[2:]))
print("max |diff| %.1e" % d)
sys.exit(0 if d < 1e-5 else 1)   # batches of other images change float rounding only
PY
rc=$?   # before the name's $(...) resets $?
check "merged shards equal a single run: same keys and locations, vectors ($(tail -n 1 py.out))" test $rc -eq 0
run "$E" -m model --shard 3/2 -o x.h5 imgs
expect_err_grep "--shard K/N checks K" 2 'shard K'
# --device: the name is checked before anything is loaded; a device or dtype this
# build or machine cannot run is a usage error too, and no output is left
run "$E" -m model --device cuda:x -o dev.h5 imgs
expect_err_grep "--device cuda:x: usage error before loading" 2 '^clipsort-embed: --device: cuda:x: expected auto, cpu, cuda or cuda:N$'
run "$E" -m model --device gpu -o dev.h5 imgs
expect_err_grep "--device gpu: usage error" 2 'expected auto, cpu, cuda or cuda:N'
if ! ldd "$BIN/clipsort-engine.so" 2>/dev/null | grep -q libtorch_cuda; then  # a CPU-only libtorch
	run "$E" -m model --device cuda:0 -o dev.h5 imgs
	expect_err_grep "--device cuda:0 without CUDA: exit 2, says why" 2 'device "cuda:0": CUDA is not available'
	run "$E" -m model --dtype f16 --device cpu -o dev.h5 imgs
	expect_err_grep "--dtype f16 on the CPU: exit 2, says why" 2 'dtype f16 needs a CUDA device'
	check "no output left by a refused device or dtype" test ! -e dev.h5
fi

# --- progress on a terminal ---
mkdir prog && cp -r many/. prog/ && head -c 2000 imgs/boxed/0002.jpg >prog/0-trunc.jpg
nprog=$(find prog -type f | wc -l)
script -qfec "'$E' -m model -j1 -b 4 -o prog.h5 prog" /dev/null >tty.out 2>&1 </dev/null
check "a run with a terminal on stderr exits 1 (one reject)" test $? -eq 1
tr '\r' '\n' <tty.out >tty.lines
grep -Eq "^clipsort-embed: images [0-9]+/$nprog \([0-9.]+%\) [0-9.]+/s ETA [0-9:]+, 1 rejected" tty.lines
rc=$?   # before the name's $(...) resets $?
check "progress on a tty: done/total, rate, ETA, rejects ($(grep -c ETA tty.lines) redraws)" test $rc -eq 0
grep -Eq "^clipsort-embed: images $nprog/$nprog \(100.0%\) [0-9.]+/s in [0-9:]+, 1 rejected" tty.lines
check "progress ends with the total and the elapsed time" test $? -eq 0
rm -f prog.h5
script -qfec "'$E' -q -m model -j1 -b 4 -o prog.h5 prog" /dev/null >tty.out 2>&1 </dev/null
check "-q on a tty: no progress" test -z "$(grep 'images [0-9]' tty.out)"
rm -f prog.h5
run "$E" -m model -j1 -b 4 -o prog.h5 prog
check "stderr not a terminal: no progress line, only the reject and the summary" \
    test "$(grep -c . "$TMP/err")/$(grep -c 'ETA\|/s' "$TMP/err")/$(tr -cd '\r' <"$TMP/err" | wc -c)" = 2/0/0

# --- animated GIF, multi-page TIFF, HEIF: the first frame is what is embedded ---
mkdir frames
python3 - frames <<'PY'
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
r = np.random.default_rng(3)
a = (r.random((96, 128, 3)) * 255).astype(np.uint8)
b = 255 - a[::-1]
pa = Image.fromarray(a).quantize(64, dither=Image.Dither.NONE)
pb = Image.fromarray(b).quantize(64, dither=Image.Dither.NONE)
# OpenCLIP resizes a palette image ("P": GIF, palette PNG) before converting it to
# RGB, so a GIF's first frame is compared with a palette PNG, the TIFF's with RGB
pa.save(d + "/a-p.png"); pb.save(d + "/b-p.png")
pa.convert("RGB").save(d + "/a.png"); pb.convert("RGB").save(d + "/b.png")
pa.save(d + "/anim.gif", save_all=True, append_images=[pb], duration=100, loop=0)
pb.save(d + "/anim-b.gif", save_all=True, append_images=[pa], duration=100, loop=0)
pa.convert("RGB").save(d + "/pages.tif", save_all=True, append_images=[pb.convert("RGB")])
PY
run "$E" -q -m model -o frames.h5 frames
expect "embed GIF, TIFF and PNG frames" 0
"$C" dump frames.h5 >frames.tsv
python3 - frames.tsv >py.out 2>&1 <<'PY'
import sys, numpy as np
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
v = {r[1].split("/")[-1]: np.array(r[2:], dtype=float) for r in rows}
cos = lambda x, y: float(v[x] @ v[y] / np.linalg.norm(v[x]) / np.linalg.norm(v[y]))
res = {"anim.gif": cos("anim.gif", "a-p.png"), "anim-b.gif": cos("anim-b.gif", "b-p.png"),
       "pages.tif": cos("pages.tif", "a.png")}
res["a.png~b.png"] = cos("a.png", "b.png")
print(" ".join("%s %.6f" % kv for kv in res.items()))
ok = all(res[k] > 0.99999 for k in ("anim.gif", "pages.tif", "anim-b.gif")) and res["a.png~b.png"] < 0.999
sys.exit(0 if ok else 1)
PY
rc=$?   # before the name's $(...) resets $?
check "animated GIF and multi-page TIFF embed as their first frame ($(cat py.out))" test $rc -eq 0
# HEIF: libvips' heif module when present (encoded here through libvips itself)
python3 - frames/a.png frames/a.heic >heif.out 2>&1 <<'PY'
import ctypes, sys
v = ctypes.CDLL("libvips.so.42")
if v.vips_init(b"t") != 0: sys.exit(2)
v.vips_image_new_from_file.restype = ctypes.c_void_p
img = v.vips_image_new_from_file(sys.argv[1].encode(), None)
if not img: sys.exit(2)
sys.exit(0 if v.vips_image_write_to_file(ctypes.c_void_p(img), sys.argv[2].encode(), None) == 0 else 3)
PY
if [ -s frames/a.heic ]; then
	run "$E" -q -m model -o heif.h5 frames/a.heic frames/a.png
	expect "a HEIF image is embedded (libvips' heif loader)" 0
	python3 - heif.h5 >py.out 2>&1 <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
v = f["images/vec"][:]
c = float(v[0] @ v[1])
print("cosine to the PNG it was encoded from %.4f" % c)
sys.exit(0 if len(v) == 2 and c > 0.9 else 1)
PY
	rc=$?   # before the name's $(...) resets $?
	check "HEIF decodes to the picture it holds ($(cat py.out))" test $rc -eq 0
else
	skip "HEIF" "libvips here cannot write HEIF to make a test file ($(tail -n 1 heif.out))"
fi

# --- the EXAMPLES of clipsort-embed(1) that run offline, as written there ---
mkdir -p ex/models ex/drops ex/photos && (
	cd ex || exit 1
	cp -r ../model models/ViT-B-32
	cp ../imgs/boxed/0000.jpg ../imgs/boxed/0002.jpg photos/
	(cd ../imgs && zip -qr ../ex/vendor1.zip loose)
	(cd ../imgs && zip -qr ../ex/drops/a.zip boxed) && cp vendor1.zip drops/b.zip
	printf 'class\tprompt\nbox\ta photo of a box\nloose\ta photo of a loose item\n' >classes.tsv
	awk '/^\.Bd -literal/ { n++; in_bd = 1; next } /^\.Ed/ { in_bd = 0 }
	    in_bd { gsub(/\\e/, "\\"); print > ("block" n) }' "$SRC/man/clipsort-embed.1"
	ls block* >blocks
) && export CLIPSORT_MODELS=$TMP/ex/models
mkdir -p home/.parallel && touch home/.parallel/will-cite
ran=0
for b in $(cat ex/blocks 2>/dev/null); do
	case $(cat "ex/$b") in
	*--sshlogin*|*sbatch*) continue ;;    # other hosts, a Slurm cluster
	esac
	rm -rf "ex-$b" && cp -r ex "ex-$b"
	(cd "ex-$b" && HOME=$TMP/home PATH=$BIN:$PATH bash -e -o pipefail "$b") >ex.out 2>&1
	if [ $? -eq 0 ]; then ok "man page example $b runs: $(head -n 1 "ex/$b" | cut -c1-60)"
	else not_ok "man page example $b runs" "$(cat "ex/$b")" "$(head -c 1500 ex.out)"; fi
	ran=$((ran + 1))
done
check "four man page examples ran offline (the other two need other hosts)" test "$ran" = 4
nbox=$(ls imgs/boxed | wc -l) nloose=$(ls imgs/loose | wc -l)
check "example 1: the cache holds the drop and both prompts" \
    test "$(info ex-block1/cache.h5 images)/$(info ex-block1/cache.h5 texts)" = $((nloose + 2))/2
check "example 2: one cache per ZIP, merged" \
    test "$(info ex-block2/drops/a.h5 images)/$(info ex-block2/cache.h5 images)" = $nbox/$((nbox + nloose))
unset CLIPSORT_MODELS

# --- the engine is loaded only when something is embedded ---
mkdir -p alone inst/bin inst/lib/clipsort
cp "$E" alone/ && cp "$E" inst/bin/ && cp "$BIN/clipsort-engine.so" inst/lib/clipsort/
"$E" -q -m model -o eng.h5 imgs
run alone/clipsort-embed -q -m model -o eng.h5 imgs
expect "an unchanged re-run never loads the engine (none next to this copy)" 0 - ""
run alone/clipsort-embed -q -m model -o new.h5 imgs
expect_err_grep "without the engine, embedding is an internal error naming it" 70 'cannot load the OpenCLIP engine: .*clipsort-engine.so'
check "and no cache is left behind" test ! -e new.h5
run inst/bin/clipsort-embed -q -m model -o new.h5 imgs
expect "the installed layout finds PREFIX/lib/clipsort/clipsort-engine.so" 0
check "same vectors through the installed layout" cmp <("$C" dump new.h5) <("$C" dump eng.h5)

# libvips has one error buffer per process: with two decoder threads each reject must
# still get its own loader's reason
mkdir race
python3 - <<'PY'
import io
from PIL import Image
for i in range(20):
    for fmt, ext in (("JPEG", "jpg"), ("PNG", "png")):
        b = io.BytesIO(); Image.new("RGB", (300, 200), (i * 12, 40, 90)).save(b, fmt)
        d = b.getvalue(); open("race/%s%02d.%s" % (ext, i, ext), "wb").write(d[:len(d) // 2])
PY
mixed=0
for k in 1 2 3; do
	rm -f race.h5
	"$E" -q -j2 -m model -o race.h5 race 2>race.err
	n=$(grep -c . race.err)
	bad=$(grep -Evc '^clipsort-embed: race/jpg[0-9]+\.jpg: truncated or corrupt JPEG data: VipsJpeg: |^clipsort-embed: race/png[0-9]+\.png: truncated or corrupt PNG data: vipspng: ' race.err)
	[ "$n" -eq 40 ] && [ "$bad" -eq 0 ] || mixed=1
done
check "concurrent rejects keep their own libvips reason (3 runs, -j2)" test $mixed -eq 0

# --- usage and model errors ---
run "$E" -m model -o /dev/null imgs
expect_err_grep "-o on a device is refused (the cache is replaced by rename)" 2 '/dev/null: not a regular file'
check "/dev/null is still a device" test -c /dev/null
run "$E" -m "$TMP/nope" -o x.h5 imgs
expect_err_grep "missing model directory" 5 'nope'
run "$E" -o x.h5 imgs
expect_err_grep "no -m" 2 '^usage: clipsort-embed'
t_done
