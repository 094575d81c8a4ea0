#!/bin/bash
# bench-label.sh — clipsort-label-web on loopback with wrk: thumbnail requests/s
# (target >= 1,000/s) and acknowledged label POSTs/s (target >= 200/s, p99 < 100 ms,
# zero errors), then the count of stored labels against the count of 2xx answers.
set -u
here=$(cd "$(dirname "$0")" && pwd)
SRC=${SRC:-$(cd "$here/../.." && pwd)}
BIN=${BIN:-$SRC/bin}
TOBJ=${TOBJ:-$SRC/build/obj/tests}
export BIN TOBJ
W=$BIN/clipsort-label-web
command -v wrk >/dev/null || { echo "bench-label: wrk not installed (scripts/install-deps)"; exit 1; }
[ -x "$W" ] || { echo "bench-label: $W not built"; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/clipsort-bench-label.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$TMP"' EXIT
D=$TMP/data
"$here/../browser/mkdata.sh" "$D" 60 >/dev/null 2>&1 || { echo "bench-label: test data failed"; exit 1; }
"$W" --cache "$D/cache.emb" --labels "$D/labels.tsv" --classes "$D/classes.tsv" --root "$D" \
	--retrain-every 0 --port 0 2>"$TMP/err" &
pid=$!
for _ in $(seq 100); do port=$(sed -n 's/.*127.0.0.1:\([0-9]*\)\/.*/\1/p' "$TMP/err"); [ -n "$port" ] && break; sleep 0.05; done
U=http://127.0.0.1:$port
csrf=$(curl -s -c "$TMP/jar" -H 'Content-Type: application/json' -d '{"name":"bench"}' "$U/api/login" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf"])')
cookie="cs_sid=$(awk '$6 == "cs_sid" { print $7 }' "$TMP/jar")"
n=60
for i in $(seq 0 $((n - 1))); do curl -s -o /dev/null "$U/img/$i?s=thumb"; done     # warm the cache
curl -s -o /dev/null -b "$TMP/jar" -H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf" \
	-d '{"id":0,"class":"packaged","sub":"bench-pad-00000001"}' "$U/api/label"
base=$(($(wc -l <"$D/labels.tsv") - 1))

echo "clipsort-label-web on 127.0.0.1, $(nproc) cores, wrk -t2"
MODE=thumb NITEMS=$n wrk -t2 -c16 -d10s -s "$here/bench-label.lua" "$U" >"$TMP/thumb.out" 2>&1
MODE=label NITEMS=$n WINDOW=10 COOKIE=$cookie CSRF=$csrf wrk -t2 -c8 -d12s --latency -s "$here/bench-label.lua" "$U" >"$TMP/label.out" 2>&1
sleep 0.5
stored=$(($(wc -l <"$D/labels.tsv") - 1 - base))
python3 - "$TMP/thumb.out" "$TMP/label.out" "$stored" <<'PY'
import re, sys
def res(p):
    m = re.search(r"^RESULT (.*)$", open(p).read(), re.M)
    if not m:
        print(open(p).read()); sys.exit(1)
    f = m.group(1).split()
    return {f[i]: float(f[i + 1]) for i in range(0, len(f), 2)}
t, l, stored = res(sys.argv[1]), res(sys.argv[2]), int(sys.argv[3])
trps = t["requests"] / t["secs"]
lrps = l["acked"] / 10.0
rows = [
    ("thumbnails/s (cached, 256 px JPEG)", "%.0f" % trps, ">= 1000", trps >= 1000 and t["errors"] == 0 and t["status_errors"] == 0),
    ("thumbnail errors", "%d" % (t["errors"] + t["status_errors"]), "0", t["errors"] + t["status_errors"] == 0),
    ("acknowledged labels/s (fsynced)", "%.0f" % lrps, ">= 200", lrps >= 200),
    ("label POST latency p50 / p99 (ms)", "%.2f / %.2f" % (l["p50_ms"], l["p99_ms"]), "p99 < 100", l["p99_ms"] < 100),
    ("label errors (socket + non-2xx)", "%d" % (l["errors"] + l["status_errors"] + l["non200"]), "0", l["errors"] + l["status_errors"] + l["non200"] == 0),
    ("stored labels vs 2xx acks", "%d vs %d" % (stored, l["acked"]), "equal", stored == l["acked"]),
]
bad = 0
for name, v, target, ok in rows:
    print("%-38s %16s   target %-10s %s" % (name, v, target, "ok" if ok else "MISSED"))
    bad += not ok
sys.exit(1 if bad else 0)
PY
