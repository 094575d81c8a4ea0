#!/bin/bash
# t-label-gtk.sh — clipsort-label-gtk under Xvfb: it starts, shows an image and the
# prediction (screenshot), keys sent with xdotool append the right labels (undo, skip,
# flag too), it shares the labels log with clipsort-label-web, and it retrains in the
# background after 10 labels.
. "$(dirname "$0")/lib.sh"
: "${TOBJ:=$SRC/build/obj/tests}"
export BIN TOBJ
G=$BIN/clipsort-label-gtk
D=$TMP/data
OUTDIR=$SRC/tests/out/label-gtk
mkdir -p "$OUTDIR"

for t in xvfb-run xdotool import; do
	if ! command -v $t >/dev/null; then
		skip "desktop labeller" "LOUD: $t is not installed (scripts/install-deps installs it) — the GTK labeller is NOT tested"
		t_done; exit
	fi
done
if [ ! -x "$G" ]; then
	if pkg-config --exists gtk4; then not_ok "clipsort-label-gtk built" "$G missing although GTK 4 is installed"
	else skip "desktop labeller" "LOUD: GTK 4 (libgtk-4-dev) is not installed — clipsort-label-gtk is not built"; fi
	t_done; exit
fi
"$SRC/tests/browser/mkdata.sh" "$D" 30 >"$TMP/mkdata.log" 2>&1 || { not_ok "test data" "$(cat "$TMP/mkdata.log")"; t_done; exit; }
ZS=()
[ -f "$D/zeroshot.tsv" ] && ZS=(--zeroshot "$D/zeroshot.tsv")

# The session script runs inside xvfb-run: it starts the app, drives it with xdotool
# from the trace the app writes (--trace: "trace: showing KEY pred=... zs=..."), and
# writes what it did to $TMP/did (pressed key, shown image key, one per line).
cat >"$TMP/session.sh" <<'EOF'
#!/bin/bash
# session.sh TRACE SHOT ACTIONS ARGS... — ACTIONS: a list of keys to press, or "truth:N"
# to label N images by their true class (from $TRUTH).
trace=$1 shot=$2 actions=$3; shift 3
"$@" --trace 2>"$trace" &
app=$!
for _ in $(seq 100); do grep -q 'trace: window up' "$trace" && break; sleep 0.1; done
win=$(xdotool search --sync --name 'clipsort labeller' | head -1)
xdotool windowfocus --sync "$win" 2>/dev/null
shown() { grep 'trace: showing\|trace: done' "$trace" | tail -1; }
nshown() { grep -c 'trace: showing\|trace: done' "$trace"; }
press() { # KEY: press and wait for the next image (or 3 s)
	n=$(nshown); k=$(shown | sed -n 's/trace: showing \([0-9a-f]*\) .*/\1/p')
	echo "$1 $k" >>"$DID"
	xdotool key "$1"
	for _ in $(seq 60); do [ "$(nshown)" != "$n" ] && break; sleep 0.05; done
}
sleep 0.5
case $actions in
truth:*)
	for _ in $(seq "${actions#truth:}"); do
		k=$(shown | sed -n 's/trace: showing \([0-9a-f]*\) .*/\1/p')
		c=$(awk -F'\t' -v k="$k" '$1 == k { print $3 }' "$TRUTH")
		[ "$c" = packaged ] && press 1 || press 2
	done
	for _ in $(seq 150); do grep -q 'classifier trained' "$trace" && break; sleep 0.1; done
	sleep 1.2 ;;
*)
	for a in $actions; do press "$a"; done ;;
esac
sleep 0.3
import -window root "$shot"
xdotool key q
for _ in $(seq 40); do kill -0 $app 2>/dev/null || break; sleep 0.05; done
kill $app 2>/dev/null
wait $app
echo "app exit $?" >>"$trace"
EOF
chmod +x "$TMP/session.sh"
xsession() { # TRACE SHOT ACTIONS ARGS...
	: >"$TMP/did"
	DID=$TMP/did TRUTH=$D/truth.tsv timeout 120 xvfb-run -a -s '-screen 0 1280x800x24' "$TMP/session.sh" "$@" >"$TMP/xvfb.log" 2>&1
}
nlines() { [ -f "$D/labels.tsv" ] && echo $(($(wc -l <"$D/labels.tsv") - 1)) || echo 0; }

run env -u DISPLAY -u WAYLAND_DISPLAY "$G" --cache "$D/cache.emb" --labels "$D/labels.tsv" --classes "$D/classes.tsv"
expect "no display: clear message, status 4" 4 - "clipsort-label-gtk: cannot open the display (is DISPLAY or WAYLAND_DISPLAY set?)"
run env -u DISPLAY "$G" --labels "$D/labels.tsv" --classes "$D/classes.tsv"
expect_err_grep "missing --cache: usage, status 2" 2 '^usage: clipsort-label-gtk --cache FILE'

# --- 1: keys append the right labels ------------------------------------------------------
xsession "$TMP/t1" "$OUTDIR/label-gtk.png" "1 2 1 u s f" "$G" --cache "$D/cache.emb" --labels "$D/labels.tsv" \
	--classes "$D/classes.tsv" --root "$D" "${ZS[@]}" --retrain-every 0 --user gina
grep -q 'trace: window up' "$TMP/t1" && ok "window comes up" || not_ok "window comes up" "$(cat "$TMP/t1" "$TMP/xvfb.log" | tail -20)"
grep -q '^app exit 0' "$TMP/t1" && ok "q quits with status 0" || not_ok "q quits with status 0" "$(tail -3 "$TMP/t1")"
if [ ${#ZS[@]} -gt 0 ]; then
	grep -q 'trace: showing [0-9a-f]* pred=- zs=\(packaged\|unpackaged\)' "$TMP/t1" && ok "zero-shot prediction shown" ||
		not_ok "zero-shot prediction shown" "$(head -3 "$TMP/t1")"
fi
sd=$(identify -format '%[fx:standard_deviation]' "$OUTDIR/label-gtk.png" 2>/dev/null)
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0.05 else 1)' "${sd:-0}" && ok "screenshot shows the window (sd $sd)" ||
	not_ok "screenshot shows the window" "standard deviation ${sd:-?}"
# expected log: three labels (1 2 1), then the undo's retraction of the third
python3 - "$TMP/did" "$D/labels.tsv" <<'EOF' >"$TMP/cmp" 2>&1
import sys
did = [l.split() for l in open(sys.argv[1])]
lines = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])][1:]
cls = {"1": "packaged", "2": "unpackaged"}
want = [(did[i][1], cls[did[i][0]]) for i in range(3)] + [(did[2][1], "-")]
got = [(f[1], f[3]) for f in lines]
ok = got == want and all(f[4] == "gina" for f in lines)
# after the undo the same image is shown again: the skip and the flag act on it and the next one
ok = ok and did[4][1] == did[2][1]
print("want", want, "\ngot ", got, "\ndid ", did)
sys.exit(0 if ok else 1)
EOF
[ $? = 0 ] && ok "keys 1 2 1 u append the right labels, then the retraction" || not_ok "keys append the right labels" "$(cat "$TMP/cmp")"
[ "$(nlines)" = 4 ] && ok "skip and flag add no label" || not_ok "skip and flag add no label" "$(cat "$D/labels.tsv")"
fk=$(sed -n 6p "$TMP/did" | cut -d' ' -f2)
grep -q "	flag		$fk		gina$" "$D/labels.tsv.journal" && ok "flag recorded in the journal" || not_ok "flag recorded in the journal" "$(cat "$D/labels.tsv.journal")"

# --- 2: the same log as the web labeller ---------------------------------------------------
W=$BIN/clipsort-label-web
if [ -x "$W" ]; then
	"$W" --cache "$D/cache.emb" --labels "$D/labels.tsv" --classes "$D/classes.tsv" --root "$D" --retrain-every 0 --port 0 2>"$TMP/web.err" &
	wp=$!
	for _ in $(seq 100); do port=$(sed -n 's/.*127.0.0.1:\([0-9]*\)\/.*/\1/p' "$TMP/web.err"); [ -n "$port" ] && break; sleep 0.05; done
	tok=$(curl -s -c "$TMP/jar" -H 'Content-Type: application/json' -d '{"name":"wendy"}' "http://127.0.0.1:$port/api/login" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf"])')
	wid=$(curl -s -b "$TMP/jar" "http://127.0.0.1:$port/api/next?n=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
	wkey=$(curl -s -b "$TMP/jar" "http://127.0.0.1:$port/api/item?id=$wid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
	curl -s -o /dev/null -b "$TMP/jar" -H 'Content-Type: application/json' -H "X-CSRF-Token: $tok" \
		-d "{\"id\":$wid,\"class\":\"unpackaged\",\"sub\":\"gtk-web-0001\"}" "http://127.0.0.1:$port/api/label"
	xsession "$TMP/t2" "$TMP/shot2.png" "2" "$G" --cache "$D/cache.emb" --labels "$D/labels.tsv" \
		--classes "$D/classes.tsv" --root "$D" --retrain-every 0 --user gina
	kill $wp; wait $wp 2>/dev/null
	gk=$(cut -d' ' -f2 "$TMP/did")
	[ -n "$gk" ] && [ "$gk" != "$wkey" ] && ok "desktop does not show what the web labeller labelled" || not_ok "desktop skips web-labelled image" "$gk vs $wkey"
	tail -2 "$D/labels.tsv" | cut -f2,4,5 >"$TMP/last2"
	printf '%s\tunpackaged\twendy\n%s\tunpackaged\tgina\n' "$wkey" "$gk" | cmp -s - "$TMP/last2" &&
		ok "web and desktop append to the same log" || not_ok "web and desktop append to the same log" "$(cat "$TMP/last2")"
else
	skip "desktop and web together" "clipsort-label-web not built"
fi

# --- 3: background retrain after 10 labels ----------------------------------------------------
if [ -x "$BIN/clipsort-train" ] && [ -x "$BIN/clipsort-predict" ]; then
	rm -f "$D/labels.tsv" "$D/labels.tsv.journal"
	xsession "$TMP/t3" "$OUTDIR/label-gtk-retrained.png" truth:12 "$G" --cache "$D/cache.emb" --labels "$D/labels.tsv" \
		--classes "$D/classes.tsv" --root "$D" "${ZS[@]}" --retrain-every 10 --tools "$BIN" --user gina
	grep -q 'trace: retrain [0-9]*: classifier trained cv=' "$TMP/t3" && ok "retrained in the background after 10 labels" ||
		not_ok "retrained after 10 labels" "$(grep retrain "$TMP/t3"; tail -5 "$TMP/t3")"
	grep 'trace: showing' "$TMP/t3" | tail -1 | grep -q 'pred=\(packaged\|unpackaged\)' && ok "classifier prediction shown after the retrain" ||
		not_ok "classifier prediction shown" "$(grep 'trace:' "$TMP/t3" | tail -3)"
	[ "$(nlines)" = 12 ] && ok "12 labels by key" || not_ok "12 labels by key" "$(nlines) lines"
	python3 - "$D/truth.tsv" "$D/labels.tsv" <<'EOF' && ok "every key labelled with its true class" || not_ok "true classes" "$(cat "$D/labels.tsv")"
import sys
t = {l.split("\t")[0]: l.rstrip("\n").split("\t")[2] for l in open(sys.argv[1])}
sys.exit(0 if all(t[f[1]] == f[3] for f in (l.rstrip("\n").split("\t") for l in list(open(sys.argv[2]))[1:])) else 1)
EOF
else
	skip "desktop retrain" "clipsort-train/-predict not built"
fi
echo "# screenshots: $OUTDIR"
t_done
