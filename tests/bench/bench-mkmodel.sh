#!/bin/sh
# bench-mkmodel: how fast clipsort-mkmodel writes random-weight models, and that it
# streams.  Targets: memory independent of model size (< 16 MB resident for a 4 GB
# ViT-H-14); weight generation < 5 ns of CPU per parameter; wall time bound by the
# disk (the file is fsynced).  MKMODEL_BIG=0 leaves out the 4 GB ViT-H-14.
set -u
: "${SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
M=$SRC/bin/clipsort-mkmodel
[ -x "$M" ] || { echo "bench-mkmodel: $M not built (make bin/clipsort-mkmodel)"; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-mkmodel: /usr/bin/time missing"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-mkmodel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf '%-22s %6s %10s %8s %8s %8s %9s %10s %9s\n' model dtype params MB wall_s user_s sys_s ns/param rss_kB
for c in "ViT-B-32 f32" "ViT-B-32 bf16" "ViT-B-16 f16" "ViT-L-14 f32" "ViT-H-14 f32"; do
	set -- $c
	[ "$1" = ViT-H-14 ] && [ "${MKMODEL_BIG:-1}" = 0 ] && continue
	rm -rf "$tmp/m"
	params=$("$M" -n --preset "$1" x | awk -F'\t' 'NR > 1 { n = 1; k = split($3, a, ","); for (i = 1; i <= k; i++) n *= a[i]; s += n } END { printf "%.0f", s }')
	/usr/bin/time -f '%e %U %S %M' -o "$tmp/t" "$M" --no-vocab --preset "$1" --dtype "$2" "$tmp/m" || exit 1
	size=$(stat -c %s "$tmp/m/open_clip_model.safetensors")
	read -r wall user sys rss <"$tmp/t"
	awk -v m="$1" -v d="$2" -v p="$params" -v b="$size" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
		printf "%-22s %6s %10.0f %8.0f %8.2f %8.2f %9.2f %10.2f %9d\n", m, d, p, b / 1e6, w, u, s, u * 1e9 / p, r }'
	rm -rf "$tmp/m"
done
echo "targets: rss_kB < 16000 for every size; ns/param (user CPU) < 5; wall time is the disk's"
