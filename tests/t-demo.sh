#!/bin/bash
# make demo (scripts/demo) keeps working: every generated image is decided and
# sorted exactly once, and a second run changes nothing.
. "$(dirname "$0")/lib.sh"
export CLIPSORT_DEMO_DIR=$TMP/demo
run "$SRC/scripts/demo"
expect "the demo runs" 0 || { cat "$TMP/out" | tail -20; t_done; exit; }
grep -q 'RANDOM weights' "$TMP/out"; check "the demo says its classes are meaningless" test $? -eq 0
d=$CLIPSORT_DEMO_DIR
check "48 images decided" test "$(tail -n +2 "$d/decisions.tsv" | wc -l)" -eq 48
check "every image sorted exactly once" test "$(find "$d/classified" -type f ! -name '.*' | wc -l)" -eq 48
check "ZIP members were sorted too" grep -q 'vendor.zip!' "$d/manifest.tsv"
run "$SRC/scripts/demo"
expect "a second run succeeds" 0
grep -q "Nothing to be done" "$TMP/out"; check "a second run has nothing to do" test $? -eq 0
check "a second run copies nothing" test "$(find "$d/classified" -type f ! -name '.*' | wc -l)" -eq 48
t_done
