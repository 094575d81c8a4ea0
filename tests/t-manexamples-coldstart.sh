#!/bin/bash
# Runs every command of the EXAMPLES sections of clipsort-zeroshot(1),
# clipsort-cluster(1), clipsort-fuse(1) and clipsort-sort(1) (lines starting "$ "),
# in that order in one directory, on generated embeddings and real files; checks
# the example classes.tsv of clipsort-classes(5).
# san: yes
. "$(dirname "$0")/lib.sh"
: "${TOBJ:=$SRC/build/obj/tests}"
case $TOBJ in /*) ;; *) TOBJ=$SRC/$TOBJ ;; esac
GEN=$TOBJ/coldstart_gen
PY=/usr/bin/python3
cd "$TMP" || exit 1
PATH=$BIN:$PATH

examples() { # the "$ " lines of a page's EXAMPLES section
	sed -n '/^\.Sh EXAMPLES/,/^\.Sh /p' "$1" | sed -n 's/^\$ //p' | sed 's/\\e/\\/g'
}

$GEN -n 400 -d 16 -C 2 -s 4 -I -l labels.tsv -e 7 >images.emb
$GEN -n 0 -d 16 -C 2 -s 4 -T >prompts.emb

for page in zeroshot cluster fuse sort; do
	man=$SRC/man/clipsort-$page.1
	if [ "$page" = sort ]; then   # decisions about real files, plain and in a ZIP
		cp decisions.tsv fused.tsv
		$PY - <<'PY'
import os, hashlib, zipfile
os.makedirs('photos', exist_ok=True)
rows = []
with zipfile.ZipFile('vendor.zip', 'w') as z:
    for i in range(30):
        data = ('image %d' % i).encode() * 50
        if i % 3 == 0:
            z.writestr('dir/%02d.jpg' % i, data); loc = 'vendor.zip!dir/%02d.jpg' % i
        else:
            open('photos/%02d.jpg' % i, 'wb').write(data); loc = 'photos/%02d.jpg' % i
        rows.append('%s\t%s\t%s\t%s\tagree' % (hashlib.sha256(data).hexdigest(), loc,
                    ['packaged', 'unpackaged', '_uncertain'][i % 3], [0.95, 0.7, 0.5][i % 5 % 3]))
open('decisions.tsv', 'w').write('key\tpath\tclass\tconfidence\tdecided_by\n' + '\n'.join(rows) + '\n')
PY
	fi
	n=0
	while IFS= read -r cmd; do
		n=$((n + 1))
		if bash -c "set -o pipefail; $cmd" >ex.out 2>ex.err; then
			ok "clipsort-$page(1) example $n: $cmd"
		else
			not_ok "clipsort-$page(1) example $n: $cmd" "$(cat ex.err)"
		fi
	done < <(examples "$man")
	check "clipsort-$page(1) has examples" test "$n" -ge 2
done

check "zeroshot example wrote rows" test "$(wc -l <zeroshot.tsv)" -eq 401
check "cluster example wrote 5 clusters" test "$(cut -f3 clusters5.tsv | tail -n +2 | sort -u | wc -l)" -eq 5
check "cluster example wrote the summary" grep -q "^all	400	" summary.tsv
check "fuse examples wrote 400 decisions" test "$(wc -l <fused.tsv)" -eq 401
check "sort examples: every image placed once" test "$(find classified -type f ! -name '.clipsort*' | wc -l)" -eq 30
check "sort examples: links made" test "$(find linked -type f -links +1 | wc -l)" -gt 0
check "sort examples: manifest" test "$(tail -n +2 manifest.tsv | wc -l)" -eq 30

# clipsort-classes(5): the example file is a valid classes.tsv
sed -n '/^\.Sh EXAMPLES/,/^\.Sh /p' "$SRC/man/clipsort-classes.5" | sed -n '/^\.Bd/,/^\.Ed/p' | sed '1d;$d' >classes.tsv
check "clipsort-classes(5) example: header, valid classes, >= 2" $PY -c "
import re
rows = [l.split('\t') for l in open('classes.tsv').read().split('\n') if l]
assert rows[0] == ['class', 'prompt'], rows[0]
cls = set()
for r in rows[1:]:
    assert len(r) == 2 and re.fullmatch(r'[a-z0-9][a-z0-9_-]{0,63}', r[0]) and r[1], r
    cls.add(r[0])
assert len(cls) >= 2
"
for m in zeroshot cluster fuse sort; do
	check "clipsort-$m(1): mandoc -Tlint clean" mandoc -Tlint -Wwarning "$SRC/man/clipsort-$m.1"
done
check "clipsort-classes(5): mandoc -Tlint clean" mandoc -Tlint -Wwarning "$SRC/man/clipsort-classes.5"
t_done
