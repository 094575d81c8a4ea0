#!/bin/sh
# bench-bpe: CLIP tokenizer speed.  Target: 10,000 short prompts encoded in well
# under a second (after loading the vocabulary), on one core.
set -u
: "${SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${FIXTURE:=$SRC/../shared/fixtures/openclip}"
DRV=$SRC/build/obj/tests/test_bpe
M=$FIXTURE/model/tiny-vit-b32ish
[ -x "$DRV" ] || { echo "bench-bpe: $DRV not built (make $DRV)"; exit 1; }
[ -f "$M/vocab.json" ] || { echo "bench-bpe: SKIP, OpenCLIP fixture absent ($FIXTURE)"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-bpe.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# 10,000 distinct short prompts (3-9 words), deterministic
awk 'BEGIN {
	split("a an the product box bottle photo of in on with without retail packaging packaged " \
	      "unpacked item parcel label barcode shelf cardboard plastic bag jar can carton tube " \
	      "gift wrapped sealed open white background studio shot close-up vendor online shop " \
	      "kettle toy shoe phone laptop watch perfume cream coffee tea chocolate 2024 #1 it'\''s", w, " ")
	n = length(w); s = 42
	for (i = 0; i < 10000; i++) {
		s = (s * 1103515245 + 12345) % 2147483648; k = 3 + s % 7; line = ""
		for (j = 0; j < k; j++) { s = (s * 1103515245 + 12345) % 2147483648; line = line (j ? " " : "") w[1 + int(s / 65536) % n] }
		print line " " i
	}
}' >"$tmp/prompts"
printf '%-34s %s\n' "vocabulary" "load, encode 10,000 prompts"
for v in "vocab.json+merges.txt:--hf $M/vocab.json $M/merges.txt" \
         "bpe_simple_vocab_16e6.txt.gz:--gz $M/bpe_simple_vocab_16e6.txt.gz"; do
	name=${v%%:*} args=${v#*:}
	# shellcheck disable=SC2086
	"$DRV" --encode -t $args <"$tmp/prompts" 2>"$tmp/t" >/dev/null || { cat "$tmp/t"; exit 1; }
	printf '%-34s %s\n' "$name" "$(cat "$tmp/t")"
done
echo "target: 10,000 prompts well under 1 s (1000 ms)"
