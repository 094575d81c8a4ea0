#!/bin/sh
# mkdata.sh DIR N — test data for the labellers (see mkdata.py), plus
# DIR/cache.emb (an embedding stream) and DIR/zeroshot.tsv when clipsort-zeroshot is built.
# Needs BIN and TOBJ (tests/run sets them).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$1 n=$2
python3 "$here/mkdata.py" "$dir" "$n"
if [ -x "$BIN/clipsort-cache" ] && "$BIN/clipsort-cache" import --help 2>&1 | grep -q -- --model; then
	"$BIN/clipsort-cache" import --model gen-model <"$dir/vectors.tsv" >"$dir/cache.emb"
else
	"$TOBJ/coldstart_gen" -i "$dir/vectors.tsv" >"$dir/cache.emb"
fi
if [ -x "$BIN/clipsort-zeroshot" ]; then
	"$BIN/clipsort-zeroshot" "$dir/cache.emb" >"$dir/zeroshot.tsv" 2>"$dir/zeroshot.err" || rm -f "$dir/zeroshot.tsv"
fi
