#!/bin/bash
# clipsort-sort: copy/link/symlink/move into OUT/<class>/, ZIP members, collisions,
# idempotent re-runs, a kill -9 in the middle, hostile class names and paths, a
# symlink inside OUT, dry run, manifest, review routing, changed sources, the lock.
# san: yes
. "$(dirname "$0")/lib.sh"
SO=$BIN/clipsort-sort
PY=/usr/bin/python3
cd "$TMP" || exit 1

key() { sha256sum "$1" | cut -c1-64; }
# dec FILE [path class confidence]... : decisions.tsv with real content keys
dec() {
	f=$1; shift
	printf 'key\tpath\tclass\tconfidence\tdecided_by\n' >"$f"
	while [ $# -ge 3 ]; do
		case $1 in
		*.zip!*) k=$(unzip -p "${1%%!*}" "${1#*!}" 2>/dev/null | sha256sum | cut -c1-64) ;;
		*) k=$(key "$1") ;;
		esac
		printf '%s\t%s\t%s\t%s\tagree\n' "$k" "$1" "$2" "$3" >>"$f"
		shift 3
	done
}
tree() { (cd "$1" && find . -path ./.clipsort-sort.lock -prune -o -print | LC_ALL=C sort); }

setup() {
	rm -rf src OUT z && mkdir -p src/sub z/inner
	printf 'jpeg one' >src/a.jpg
	printf 'jpeg two' >src/b.jpg
	printf 'a different a' >src/sub/a.jpg
	printf 'png' >src/c.png
	printf 'zipped a' >z/inner/a.jpg
	printf 'zipped d' >z/d.jpg
	(cd z && zip -qr ../v.zip inner d.jpg)
}

t_copy() {
	setup
	dec d.tsv src/a.jpg packaged 0.9 src/b.jpg unpackaged 0.8 src/sub/a.jpg packaged 0.95 \
	    src/c.png other-thing 0.7 'v.zip!inner/a.jpg' packaged 0.9 'v.zip!d.jpg' unpackaged 0.2
	run "$SO" -c 0.5 -M man.tsv d.tsv OUT
	expect "copy: runs" 0 - "" || return
	printf '%s\n' . ./_review ./_review/d.jpg ./other-thing ./other-thing/c.png ./packaged \
	    ./packaged/a-1.jpg ./packaged/a-2.jpg ./packaged/a.jpg ./unpackaged ./unpackaged/b.jpg >want
	check "copy: tree (collisions a-1, a-2; low confidence in _review)" diff want <(tree OUT)
	check "copy: content kept" cmp src/sub/a.jpg OUT/packaged/a-1.jpg
	check "copy: ZIP member extracted whole" cmp z/inner/a.jpg OUT/packaged/a-2.jpg
	check "copy: sources untouched" test -f src/a.jpg -a -f src/b.jpg
	{
		printf 'key\tpath\tdestination\taction\n'
		printf '%s\tsrc/a.jpg\tpackaged/a.jpg\tcopy\n' "$(key src/a.jpg)"
		printf '%s\tsrc/b.jpg\tunpackaged/b.jpg\tcopy\n' "$(key src/b.jpg)"
		printf '%s\tsrc/sub/a.jpg\tpackaged/a-1.jpg\tcopy\n' "$(key src/sub/a.jpg)"
		printf '%s\tsrc/c.png\tother-thing/c.png\tcopy\n' "$(key src/c.png)"
		printf '%s\tv.zip!inner/a.jpg\tpackaged/a-2.jpg\tcopy\n' "$(key z/inner/a.jpg)"
		printf '%s\tv.zip!d.jpg\t_review/d.jpg\tcopy\n' "$(key z/d.jpg)"
	} >wantman
	check "copy: manifest" diff wantman man.tsv
	# re-run: nothing new, everything "exists"
	run "$SO" -c 0.5 -M man2.tsv d.tsv OUT
	expect "re-run: exit 0" 0 - ""
	check "re-run: same tree" diff want <(tree OUT)
	check "re-run: all exist" test "$(tail -n +2 man2.tsv | cut -f4 | sort -u)" = exists
	check "re-run: same destinations" diff <(cut -f1-3 man.tsv) <(cut -f1-3 man2.tsv)
	# a third different a.jpg later: next free name
	printf 'third' >src/a3.jpg; mkdir -p src/x; mv src/a3.jpg src/x/a.jpg
	dec d2.tsv src/x/a.jpg packaged 0.9
	run "$SO" -M man3.tsv d2.tsv OUT
	check "collision: next free name a-3.jpg" grep -q '	packaged/a-3.jpg	copy$' man3.tsv
}

t_dry() {
	setup
	dec d.tsv src/a.jpg packaged 0.9 src/sub/a.jpg packaged 0.9 'v.zip!d.jpg' unpackaged 0.9
	run "$SO" -n d.tsv OUT
	expect "dry run: exit 0" 0 || return
	check "dry run: OUT not created" test ! -e OUT
	check "dry run: plan names the collision" grep -q '	packaged/a-1.jpg	copy$' "$TMP/out"
	check "dry run: 3 rows + header" test "$(wc -l <"$TMP/out")" -eq 4
	cp "$TMP/out" plan
	run "$SO" -M man.tsv d.tsv OUT
	check "dry run plan = real manifest" diff plan man.tsv
	run "$SO" -n d.tsv OUT
	check "dry run after: all exist" test "$(tail -n +2 "$TMP/out" | cut -f4 | sort -u)" = exists
}

t_modes() {
	setup
	dec d.tsv src/a.jpg packaged 0.9 src/b.jpg unpackaged 0.9
	run "$SO" -m link d.tsv OUT
	expect "link: runs" 0
	check "link: same inode" test src/a.jpg -ef OUT/packaged/a.jpg
	run "$SO" -m link d.tsv OUT
	expect "link: re-run" 0 && check "link: no duplicate" test "$(ls OUT/packaged | wc -l)" -eq 1
	rm -rf OUT
	run "$SO" -m symlink -M m.tsv d.tsv OUT
	expect "symlink: runs" 0
	check "symlink: absolute link to the source" test "$(readlink OUT/packaged/a.jpg)" = "$TMP/src/a.jpg"
	run "$SO" -m symlink -M m2.tsv d.tsv OUT
	check "symlink: re-run exists" test "$(tail -n +2 m2.tsv | cut -f4 | sort -u)" = exists
	rm -rf OUT
	cp src/a.jpg keep.jpg
	dec dz.tsv src/a.jpg packaged 0.9 'v.zip!d.jpg' unpackaged 0.9
	run "$SO" -m move -M mm.tsv dz.tsv OUT
	expect "move: runs" 0
	check "move: source gone, target whole" test ! -e src/a.jpg -a -f OUT/packaged/a.jpg
	check "move: content" cmp keep.jpg OUT/packaged/a.jpg
	check "move: ZIP member copied, archive kept" test -f v.zip -a -f OUT/unpackaged/d.jpg
	run "$SO" -m teleport dz.tsv OUT
	expect_err_grep "unknown mode: usage" 2 'want copy, link, symlink or move'
}

t_hostile_classes() {
	setup
	for c in '../x' 'a/b' '' 'Upper' "$(printf 'a%.0s' $(seq 65))" '.hidden' '_review' 'a b'; do
		dec d.tsv src/a.jpg packaged 0.9
		printf '%s\tsrc/b.jpg\t%s\t0.9\tagree\n' "$(key src/b.jpg)" "$c" >>d.tsv
		run "$SO" d.tsv OUT
		expect_err_grep "class name '$c' refused before anything is written" 3 "d.tsv:3: invalid class name"
		if [ -e OUT ] || [ -e x ] || [ -e a ]; then not_ok "class '$c': nothing written" "$(find . -newer d.tsv)"; fi
	done
	dec d.tsv src/a.jpg "$(printf 'a%.0s' $(seq 64))" 0.9
	run "$SO" d.tsv OUT
	expect "64-character class accepted" 0
}

t_hostile_paths() {
	setup
	mkdir -p deep/er; printf 'evil' >deep/er/..passwd; printf 'ctl' >"$(printf 'deep/a\tb.jpg')"
	dec d.tsv deep/er/..passwd packaged 0.9
	printf '%s\tdeep/a\\tb.jpg\tpackaged\t0.9\tagree\n' "$(key "$(printf 'deep/a\tb.jpg')")" >>d.tsv
	run "$SO" -M m.tsv d.tsv OUT
	expect "odd names: runs" 0
	check "leading dot made visible" test -f OUT/packaged/_..passwd
	check "control character replaced" test -f OUT/packaged/a_b.jpg
	printf 'x' >src/e.jpg
	dec d2.tsv src/../src/e.jpg packaged 0.9
	run "$SO" -M m2.tsv d2.tsv OUT
	check "dot-dot in the source path: basename only" test -f OUT/packaged/e.jpg
	check "nothing outside OUT" test "$(find . -newer d2.tsv -type f ! -path './OUT/*' ! -name m2.tsv ! -name out ! -name err ! -name check.out | wc -l)" -eq 0
}

t_symlink_in_out() {
	setup
	mkdir -p OUT elsewhere
	ln -s "$TMP/elsewhere" OUT/packaged
	dec d.tsv src/a.jpg packaged 0.9 src/b.jpg unpackaged 0.9
	run "$SO" d.tsv OUT
	expect_err_grep "symlinked class dir: not followed" 1 'OUT/packaged: not a directory'
	check "symlinked class dir: nothing written through it" test -z "$(ls elsewhere)"
	check "other classes still sorted" test -f OUT/unpackaged/b.jpg
	rm OUT/packaged; mkdir OUT/packaged
	ln -s "$TMP/elsewhere/target.jpg" OUT/packaged/a.jpg
	run "$SO" d.tsv OUT
	expect "symlink at the target name: runs" 0
	check "symlink at the target name: not followed, next name used" test -f OUT/packaged/a-1.jpg -a ! -e elsewhere/target.jpg
}

t_review() {
	setup
	dec d.tsv src/a.jpg _uncertain 0.9 src/b.jpg _other 0.9 src/c.png packaged 0.49
	run "$SO" -c 0.5 d.tsv OUT
	expect "review routing: runs" 0
	check "_uncertain -> _review" test -f OUT/_review/a.jpg
	check "_other -> _other" test -f OUT/_other/b.jpg
	check "below min-confidence -> _review" test -f OUT/_review/c.png
	run "$SO" -c 2 d.tsv OUT
	expect_err_grep "min-confidence above 1: usage" 2 'min-confidence'
}

t_errors() {
	setup
	dec d.tsv src/a.jpg packaged 0.9 src/b.jpg packaged 0.9 'v.zip!nope.jpg' packaged 0.9
	printf '%s\tsrc/missing.jpg\tpackaged\t0.9\tagree\n' "$(printf '%064x' 1)" >>d.tsv
	printf 'changed' >src/b.jpg
	run "$SO" d.tsv OUT
	expect_err_grep "partial: exit 1" 1 'src/b.jpg: content differs from its key'
	check "partial: missing source named" grep -q 'src/missing.jpg: No such file' "$TMP/err"
	check "partial: missing member named" grep -q 'v.zip!nope.jpg: no such member' "$TMP/err"
	check "partial: the good one is there, the changed one is not" test -f OUT/packaged/a.jpg -a ! -e OUT/packaged/b.jpg
	dec bad.tsv src/a.jpg packaged 0.9
	printf 'k\tp\n' >>bad.tsv
	run "$SO" bad.tsv OUT2
	expect_err_grep "wrong column count" 3 'bad.tsv:3'
	check "malformed: OUT2 not created" test ! -e OUT2
	dec d3.tsv src/a.jpg packaged 0.9
	sed 's/$/\r/' d3.tsv >crlf.tsv; { printf '\357\273\277'; cat d3.tsv; } >bom.tsv
	run "$SO" -n crlf.tsv OUT3; cp "$TMP/out" c1
	run "$SO" -n bom.tsv OUT3
	expect "CRLF and BOM read alike" 0 c1
	dec dup.tsv src/a.jpg packaged 0.9 src/a.jpg unpackaged 0.9
	run "$SO" dup.tsv OUT4
	expect_err_grep "duplicate key" 3 'dup.tsv:3: duplicate key'
	sed '2s/0.9/high/' d3.tsv >conf.tsv
	run "$SO" conf.tsv OUT4
	expect_err_grep "bad confidence" 3 "conf.tsv:2: confidence 'high'"
	printf 'key\tpath\tclass\tconfidence\n' >empty.tsv
	run "$SO" -M em.tsv empty.tsv OUT5
	expect "empty decisions: exit 0" 0 && check "empty decisions: header-only manifest" test "$(cat em.tsv)" = "$(printf 'key\tpath\tdestination\taction')"
	printf 'zip' >fake.zip
	dec fz.tsv src/a.jpg packaged 0.9
	printf '%s\tfake.zip!a.jpg\tpackaged\t0.9\tagree\n' "$(printf '%064x' 2)" >>fz.tsv
	run "$SO" fz.tsv OUT6
	expect_err_grep "not a ZIP: partial" 1 'fake.zip!a.jpg'
	run "$SO" d3.tsv
	expect_err_grep "one operand: usage" 2 'usage: clipsort-sort'
}

t_lock() {
	setup
	dec d.tsv src/a.jpg packaged 0.9
	mkdir OUT
	if command -v flock >/dev/null; then
		flock OUT/.clipsort-sort.lock sleep 3 & lp=$!
		sleep 0.5
		run "$SO" d.tsv OUT
		expect_err_grep "OUT locked by another run: exit 6" 6 'locked'
		kill $lp 2>/dev/null; wait $lp 2>/dev/null
	else
		skip "lock" "flock(1) absent"
	fi
	rm -f OUT/.clipsort-sort.lock
	printf 'precious' >precious
	ln -s "$TMP/precious" OUT/.clipsort-sort.lock
	run "$SO" d.tsv OUT
	expect_err_grep "symlinked lock file: refused" 4 'symbolic link \(not followed\)'
	check "symlinked lock file: its target untouched" test "$(cat precious)" = precious
}

t_crash() {   # kill -9 in the middle: no partial file; a re-run completes everything once
	rm -rf many OUT && mkdir many
	$PY - <<'PY'
import os, hashlib
with open('many.tsv', 'w') as f:
    f.write('key\tpath\tclass\tconfidence\tdecided_by\n')
    for i in range(3000):
        data = os.urandom(16384 + i)
        p = 'many/img%04d.jpg' % i
        open(p, 'wb').write(data)
        f.write('%s\t%s\tc%d\t0.9\tagree\n' % (hashlib.sha256(data).hexdigest(), p, i % 3))
PY
	"$SO" many.tsv OUT 2>/dev/null & sp=$!
	sleep 0.4
	kill -9 $sp 2>/dev/null; wait $sp 2>/dev/null
	n1=$(find OUT -name 'img*' | wc -l)
	check "crash: every file present after the kill is whole ($n1 of 3000)" $PY -c "
import os, hashlib
want = {}
for l in open('many.tsv').read().split('\n')[1:-1]:
    k, p = l.split('\t')[:2]; want[os.path.basename(p)] = k
for d in os.listdir('OUT'):
    if d.startswith('.'): continue
    for f in os.listdir('OUT/' + d):
        if f.startswith('.clipsort-tmp'): continue
        assert hashlib.sha256(open('OUT/%s/%s' % (d, f), 'rb').read()).hexdigest() == want[f], f
"
	run "$SO" -M man.tsv many.tsv OUT
	expect "crash: re-run exit 0" 0 - ""
	check "crash: all 3000 there exactly once" test "$(find OUT -name 'img*' | wc -l)" -eq 3000
	check "crash: no temporaries left" test "$(find OUT -name '.clipsort-tmp*' | wc -l)" -eq 0
	check "crash: no renamed duplicates (-1)" test "$(find OUT -name 'img*-1.jpg' | wc -l)" -eq 0
	check "crash: manifest lists 3000" test "$(tail -n +2 man.tsv | wc -l)" -eq 3000
}

t_workflow() {   # share/workflow/clipsort.mk on embeddings of real files (no model needed)
	: "${TOBJ:=$SRC/build/obj/tests}"
	case $TOBJ in /*) ;; *) TOBJ=$SRC/$TOBJ ;; esac
	rm -rf wf && mkdir -p wf/photos && cd wf || return
	$PY - <<'PY'
import hashlib, random, math, zipfile
r = random.Random(5)
dirs = [[r.gauss(0, 1) for _ in range(8)] for _ in range(2)]
def unit(v):
    n = math.sqrt(sum(x * x for x in v)); return [x / n for x in v]
dirs = [unit(v) for v in dirs]
out = []
for j, d in enumerate(dirs):
    out.append('text\t%s\ta photo of %s\t' % (['boxed', 'loose'][j], ['a box', 'an item'][j]) + '\t'.join('%.7g' % x for x in d))
z = zipfile.ZipFile('vendor.zip', 'w')
for i in range(24):
    data = ('photo %d ' % i).encode() * 40
    loc = 'photos/%02d.jpg' % i
    if i % 4 == 0:
        z.writestr('in/%02d.jpg' % i, data); loc = 'vendor.zip!in/%02d.jpg' % i
    else:
        open(loc, 'wb').write(data)
    v = unit([a + 0.3 * r.gauss(0, 1) for a in dirs[i % 2]])
    out.append('image\t%s\t%s\t' % (hashlib.sha256(data).hexdigest(), loc) + '\t'.join('%.7g' % x for x in v))
z.close()
open('vec.tsv', 'w').write('\n'.join(out) + '\n')
PY
	grep '^image' vec.tsv >img.tsv; grep '^text' vec.tsv >txt.tsv
	"$TOBJ/coldstart_gen" -i img.tsv >images.emb
	printf 'class\tprompt\nboxed\ta photo of a box\nloose\ta photo of an item\n' >classes.tsv
	touch -d '1 hour ago' classes.tsv
	"$TOBJ/coldstart_gen" -i txt.tsv >prompts.emb
	{
		echo "CLIPSORT_BIN = $BIN/"
		echo "CLIPSORT_CACHE = images.emb"
		echo "CLIPSORT_PROMPTS = prompts.emb"
		echo "CLIPSORT_SORT_FLAGS = -c 0.5"
		echo "include $SRC/share/workflow/clipsort.mk"
	} >Makefile
	check "workflow: decisions" make -s clipsort-decisions
	check "workflow: 24 decisions, mostly agree" test "$(tail -n +2 decisions.tsv | wc -l)" -eq 24 -a "$(grep -c "	agree\$" decisions.tsv)" -ge 20
	check "workflow: second make does nothing" test -z "$(make clipsort-decisions 2>&1 | grep "$BIN")"
	printf 'time\tkey\tpath\tclass\tlabeller\n' >labels.tsv
	tail -n +2 decisions.tsv | head -12 | awk -F'\t' -v OFS='\t' '{ print "2026-12-04T21:00:00Z", $1, $2, $3, "ann" }' >>labels.tsv
	make clipsort-decisions >mk.out 2>&1
	check "workflow: labels re-run cluster with -l" grep -q -- '-l labels.tsv -S' mk.out
	check "workflow: new prior verdict -> fuse again" grep -q 'clipsort-fuse' mk.out
	check "workflow: zero-shot not re-run" test -z "$(grep clipsort-zeroshot mk.out)"
	check "workflow: prior checked" grep -q '^all	24	.*	12	12	' clusters-summary.tsv
	check "workflow: sort" make -s clipsort-sort
	check "workflow: 24 images in classified/" test "$(find classified -name '*.jpg' | wc -l)" -eq 24
	check "workflow: manifest" test "$(tail -n +2 manifest.tsv | wc -l)" -eq 24
	check "workflow: sort again does nothing" test -z "$(make clipsort-sort 2>&1 | grep "$BIN")"
	cd "$TMP" || return
}

t_copy
t_workflow
t_dry
t_modes
t_hostile_classes
t_hostile_paths
t_symlink_in_out
t_review
t_errors
t_lock
t_crash
t_done
