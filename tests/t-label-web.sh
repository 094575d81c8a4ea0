#!/bin/bash
# t-label-web.sh — clipsort-label-web: the API, each security property with its
# expected HTTP status (curl), several users, idempotent resends, durability under
# SIGKILL, and the page itself in headless Chromium (tests/browser/label-web.js).
# san: yes
. "$(dirname "$0")/lib.sh"
: "${TOBJ:=$SRC/build/obj/tests}"
export BIN TOBJ
W=$BIN/clipsort-label-web
D=$TMP/data
OUTDIR=$SRC/tests/out/label-web
mkdir -p "$OUTDIR"

if [ ! -x "$W" ]; then
	not_ok "clipsort-label-web built" "$W missing"
	t_done; exit
fi
"$SRC/tests/browser/mkdata.sh" "$D" 40 >"$TMP/mkdata.log" 2>&1 || { not_ok "test data" "$(cat "$TMP/mkdata.log")"; t_done; exit; }
# a hostile file name, first in the queue (smallest key)
HOSTILE="img/<img src=x onerror=alert(1)>\"'&amp;.jpg"
{ grep '^text' "$D/vectors.tsv"; printf 'image\t%s\t%s' "$(printf '0%.0s' $(seq 64))" "$HOSTILE"
  grep -m1 '^image' "$D/vectors.tsv" | cut -f4- | sed 's/^/\t/'; grep '^image' "$D/vectors.tsv"; } >"$D/v2.tsv"
"$TOBJ/coldstart_gen" -i "$D/v2.tsv" >"$D/cache.emb"

ZS=()
[ -f "$D/zeroshot.tsv" ] && ZS=(--zeroshot "$D/zeroshot.tsv")
PID=
PORT=
# start [ARGS...]: run the labeller on an ephemeral port; sets PID and PORT
start() {
	: >"$TMP/srv.err"
	"$W" --cache "$D/cache.emb" --labels "$D/labels.tsv" --classes "$D/classes.tsv" --root "$D" \
		--port 0 "$@" 2>"$TMP/srv.err" &
	PID=$!
	for _ in $(seq 100); do
		PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\)\/.*/\1/p' "$TMP/srv.err")
		[ -n "$PORT" ] && return 0
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
trap 'stop; rm -rf "$TMP"' EXIT

U() { echo "http://127.0.0.1:$PORT$1"; }
# code ARGS...: HTTP status of a curl request (body in $TMP/body, headers in $TMP/hdr)
code() { curl -s -m 10 -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' "$@"; }
# want NAME STATUS ARGS...
want() {
	n=$1 w=$2; shift 2
	c=$(code "$@")
	if [ "$c" = "$w" ]; then ok "$n ($w)"; else not_ok "$n" "HTTP $c, expected $w" "$(head -c 300 "$TMP/body")"; fi
}
jget() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"j": j}))' "$TMP/body" "$1"; }
# login NAME JAR: session cookie in JAR, CSRF token printed
login() {
	curl -s -m 10 -c "$2" -b "$2" -H 'Content-Type: application/json' -d "{\"name\":\"$1\"}" "$(U /api/login)" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf"])'
}
post() { # JAR CSRF PATH JSON
	code -b "$1" -c "$1" -H 'Content-Type: application/json' -H "X-CSRF-Token: $2" -d "$4" "$(U "$3")"
}
nlabels() { [ -f "$D/labels.tsv" ] && echo $(($(wc -l <"$D/labels.tsv") - 1)) || echo 0; }

# --- command line safety -------------------------------------------------------------
run "$W" --cache "$D/cache.emb" --labels "$D/labels.tsv" --classes "$D/classes.tsv" --listen 0.0.0.0 --port 0
expect_err_grep "non-loopback listen refused without a token" 2 'not a loopback address.*--token-file'
run "$W" --cache "$D/cache.emb" --labels "$D/labels.tsv" --classes "$D/classes.tsv" --listen example.org
expect_err_grep "listen address must be numeric" 2 'not a numeric IPv4 or IPv6 address'
run "$W" --cache "$D/nope.emb" --labels "$D/labels.tsv" --classes "$D/classes.tsv"
expect_err_grep "missing cache: I/O error naming it" 4 'nope.emb: No such file or directory'
printf 'not an embedding file\n' >"$TMP/bad.emb"
run "$W" --cache "$TMP/bad.emb" --labels "$D/labels.tsv" --classes "$D/classes.tsv"
expect_err_grep "malformed cache: data error naming it" 3 'bad.emb'
run "$W" --cache "$D/cache.emb" --labels "$D/labels.tsv" --classes "$TMP/none.tsv"
expect_err_grep "missing classes file: I/O error naming it" 4 'none.tsv: No such file or directory'
printf 'key\tpath\tclass\tconfidence\nabc\tx\tpackaged\t1.5\n' >"$TMP/badzs.tsv"
run "$W" --cache "$D/cache.emb" --labels "$D/labels.tsv" --classes "$D/classes.tsv" --zeroshot "$TMP/badzs.tsv"
expect_err_grep "bad zero-shot confidence named with its line" 3 'badzs.tsv:2: confidence'
run "$W" --cache "$D/cache.emb" --labels "$D/labels.tsv" --classes "$D/classes.tsv" --port 70000
expect_err_grep "bad port: usage error" 2 'port'
printf 'class\tprompt\nGood\tx\nb\ty\n' >"$TMP/badcls.tsv"
run "$W" --cache "$D/cache.emb" --labels "$D/labels.tsv" --classes "$TMP/badcls.tsv"
expect_err_grep "bad class name named with its line" 3 'badcls.tsv:2: invalid class name'

# --- token mode on a non-loopback address --------------------------------------------
printf 'tok-0123456789abcdef-secret\n' >"$TMP/token"
if start --listen 0.0.0.0 --token-file "$TMP/token" --retrain-every 0; then
	want "token: request without the token" 401 "$(U /)"
	want "token: wrong token at login" 401 "$(U '/login?token=wrong-token-0123456789')"
	want "token: right token sets the cookie" 303 -c "$TMP/tj" "$(U '/login?token=tok-0123456789abcdef-secret')"
	grep -q 'cs_token.*HttpOnly' "$TMP/hdr" && grep -qi 'SameSite=Strict' "$TMP/hdr" && ok "token cookie HttpOnly, SameSite=Strict" ||
		not_ok "token cookie HttpOnly, SameSite=Strict" "$(cat "$TMP/hdr")"
	want "token: cookie admits" 200 -b "$TMP/tj" "$(U /api/state)"
	stop
else
	not_ok "token mode starts" "$(cat "$TMP/srv.err")"
fi

# --- the loopback server ---------------------------------------------------------------
start --retrain-every 0 --timeout 2 "${ZS[@]}" || { not_ok "server starts" "$(cat "$TMP/srv.err")"; t_done; exit; }
grep -q "listening on http://127.0.0.1:$PORT/" "$TMP/srv.err" && ok "listens on 127.0.0.1 by default" || not_ok "listens on 127.0.0.1 by default" "$(cat "$TMP/srv.err")"
[ -n "$(ss -Htln "sport = :$PORT" 2>/dev/null | grep -v '127.0.0.1')" ] && not_ok "bound to loopback only" "$(ss -tln)" || ok "bound to loopback only"

want "page served" 200 "$(U /)"
grep -qi "^Content-Security-Policy: default-src 'none'; script-src 'self'" "$TMP/hdr" && ok "CSP header on the page" || not_ok "CSP header on the page" "$(cat "$TMP/hdr")"
grep -q '<script src="/app.js"' "$TMP/body" && ! grep -q '<script>' "$TMP/body" && ! grep -qi ' on[a-z]*=' "$TMP/body" &&
	ok "no inline script or handlers in the page" || not_ok "no inline script or handlers in the page"
want "app.js served" 200 "$(U /app.js)"
grep -qi '^X-Content-Type-Options: nosniff' "$TMP/hdr" && grep -qi '^Content-Security-Policy:' "$TMP/hdr" &&
	ok "nosniff and CSP on scripts" || not_ok "nosniff and CSP on scripts" "$(cat "$TMP/hdr")"

# Host header
want "Host: foreign name" 421 -H 'Host: evil.example' "$(U /)"
want "Host: right name, wrong port" 421 -H "Host: localhost:1" "$(U /api/state)"
want "Host: DNS-rebinding style name" 421 -H "Host: 127.0.0.1.evil.example:$PORT" "$(U /api/state)"
c=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; cat >&3; head -1 <&3" | tr -d '\r')
case $c in *421*) ok "Host: missing (421)";; *) not_ok "Host: missing" "got: $c";; esac
want "Host: localhost:PORT accepted" 200 -H "Host: localhost:$PORT" "$(U /api/state)"

# images only by opaque id
want "image by id" 200 "$(U /img/1)"
grep -qi '^Content-Type: image/jpeg' "$TMP/hdr" && ok "image is a JPEG" || not_ok "image is a JPEG" "$(cat "$TMP/hdr")"
zid=$(python3 - "$D/v2.tsv" <<'EOF'
import sys
rows = sorted(l.split('\t')[1:3] for l in open(sys.argv[1]) if l.startswith('image'))
print(next(i for i, (k, p) in enumerate(rows) if p.startswith('vendor.zip!')))
EOF
)
want "image from a ZIP member" 200 "$(U "/img/$zid?s=thumb")"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(0 if d[:2]==b"\xff\xd8" else 1)' "$TMP/body" && ok "ZIP member thumbnail is a JPEG" || not_ok "ZIP member thumbnail is a JPEG"
want "traversal: ../ in the id" 404 --path-as-is "$(U /img/../../../../etc/passwd)"
want "traversal: encoded ../" 404 --path-as-is "$(U /img/%2e%2e%2f%2e%2e%2fetc%2fpasswd)"
want "traversal: absolute path as id" 404 "$(U /img//etc/passwd)"
want "traversal: static path" 404 --path-as-is "$(U /../../etc/passwd)"
want "traversal: static path, encoded" 404 --path-as-is "$(U /%2e%2e/%2e%2e/etc/passwd)"
want "id out of range" 404 "$(U /img/100000)"
want "negative id" 404 "$(U /img/-1)"
want "id with junk" 404 "$(U /img/1abc)"
want "path as a query parameter is ignored" 404 "$(U '/img/?path=/etc/passwd')"
want "unreadable image (hostile name, no file)" 422 "$(U /img/0)"
grep -q 'etc/passwd\|onerror' "$TMP/body" && not_ok "error does not echo paths" "$(cat "$TMP/body")" || ok "error does not echo paths"

# sessions and CSRF
want "next without a session" 401 "$(U /api/next)"
TA=$(login ann "$TMP/ja")
TB=$(login bob "$TMP/jb")
[ ${#TA} = 32 ] && [ "$TA" != "$TB" ] && ok "per-session CSRF tokens" || not_ok "per-session CSRF tokens" "$TA / $TB"
want "login: bad name" 400 -H 'Content-Type: application/json' -d '{"name":"a\u0000b"}' "$(U /api/login)"
want "login: cross-origin" 403 -H 'Content-Type: application/json' -H 'Origin: http://evil.example' -d '{"name":"x"}' "$(U /api/login)"
n0=$(nlabels)
want "label: no CSRF token" 403 -b "$TMP/ja" -H 'Content-Type: application/json' -d '{"id":1,"class":"packaged"}' "$(U /api/label)"
want "label: wrong CSRF token" 403 -b "$TMP/ja" -H 'Content-Type: application/json' -H 'X-CSRF-Token: 00000000000000000000000000000000' -d '{"id":1,"class":"packaged"}' "$(U /api/label)"
want "label: another session's CSRF token" 403 -b "$TMP/ja" -H 'Content-Type: application/json' -H "X-CSRF-Token: $TB" -d '{"id":1,"class":"packaged"}' "$(U /api/label)"
want "label: no session" 401 -H 'Content-Type: application/json' -H "X-CSRF-Token: $TA" -d '{"id":1,"class":"packaged"}' "$(U /api/label)"
want "label: by GET" 404 -b "$TMP/ja" "$(U '/api/label?id=1&class=packaged')"
want "label: by PUT" 405 -b "$TMP/ja" -X PUT -H 'Content-Type: application/json' -H "X-CSRF-Token: $TA" -d '{"id":1,"class":"packaged"}' "$(U /api/label)"
want "label: form content type" 415 -b "$TMP/ja" -H "X-CSRF-Token: $TA" -d 'id=1&class=packaged' "$(U /api/label)"
want "label: cross-origin with the token" 403 -b "$TMP/ja" -H 'Content-Type: application/json' -H 'Origin: http://evil.example' -H "X-CSRF-Token: $TA" -d '{"id":1,"class":"packaged"}' "$(U /api/label)"
[ "$(nlabels)" = "$n0" ] && ok "refused requests recorded nothing" || not_ok "refused requests recorded nothing" "$(cat "$D/labels.tsv")"

# request size limit
head -c 20000 /dev/zero | tr '\0' ' ' >"$TMP/big"
want "oversized body" 413 -b "$TMP/ja" -H 'Content-Type: application/json' -H "X-CSRF-Token: $TA" --data-binary @"$TMP/big" "$(U /api/label)"
want "oversized chunked body" 413 -b "$TMP/ja" -H 'Content-Type: application/json' -H "X-CSRF-Token: $TA" -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big" "$(U /api/label)"
want "bad JSON" 400 -b "$TMP/ja" -H 'Content-Type: application/json' -H "X-CSRF-Token: $TA" -d '{"id":' "$(U /api/label)"
want "unknown class" 400 -b "$TMP/ja" -H 'Content-Type: application/json' -H "X-CSRF-Token: $TA" -d '{"id":1,"class":"../x"}' "$(U /api/label)"

# slow client: a request that never finishes is dropped after --timeout (2 s)
s0=$(date +%s.%N)
r=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1:$PORT\r\nX-Slow: ' >&3; cat <&3; echo closed")
el=$(python3 -c 'import sys; print("%.2f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$s0" "$(date +%s.%N)")
if [ "$r" = closed ] && python3 -c 'import sys; sys.exit(0 if 1.5 <= float(sys.argv[1]) < 8 else 1)' "$el"; then ok "slow client dropped after the timeout (${el}s, no response)"
else not_ok "slow client dropped after the timeout" "after ${el}s: $r"; fi

# several users: nobody is shown an image someone else holds
want "ann's next" 200 -b "$TMP/ja" "$(U '/api/next?n=4')"
A=$(jget '" ".join(str(i["id"]) for i in j["items"])')
want "bob's next" 200 -b "$TMP/jb" "$(U '/api/next?n=4')"
B=$(jget '" ".join(str(i["id"]) for i in j["items"])')
common=$(comm -12 <(tr ' ' '\n' <<<"$A" | sort) <(tr ' ' '\n' <<<"$B" | sort))
[ -n "$A" ] && [ -n "$B" ] && [ -z "$common" ] && ok "leases: two users get disjoint images ($A | $B)" || not_ok "leases: disjoint images" "ann: $A" "bob: $B"
want "ann's next again keeps her images" 200 -b "$TMP/ja" "$(U '/api/next?n=4')"
[ "$(jget '" ".join(str(i["id"]) for i in j["items"])')" = "$A" ] && ok "a user keeps her leased images" || not_ok "a user keeps her leased images"

# a lease runs out: an image nobody labels is offered to others again
stop
start --retrain-every 0 --lease 2 || not_ok "server with --lease 2" "$(cat "$TMP/srv.err")"
TA=$(login ann "$TMP/ja"); TB=$(login bob "$TMP/jb")
code -b "$TMP/ja" "$(U '/api/next?n=2')" >/dev/null; LA=$(jget '" ".join(str(i["id"]) for i in j["items"])')
code -b "$TMP/jb" "$(U '/api/next?n=2')" >/dev/null; LB=$(jget '" ".join(str(i["id"]) for i in j["items"])')
sleep 3.1
code -b "$TMP/jb" "$(U '/api/next?n=2')" >/dev/null; LB2=$(jget '" ".join(str(i["id"]) for i in j["items"])')
# bob keeps his current image first; ann's first image, no longer leased, comes next
[ "$LA" != "$LB" ] && [ "$LB2" = "${LB%% *} ${LA%% *}" ] && ok "expired lease: ann's image offered to bob ($LB2)" || not_ok "expired lease" "ann $LA, bob $LB then $LB2"
stop
start --retrain-every 0 --timeout 2 "${ZS[@]}" || not_ok "server restarts" "$(cat "$TMP/srv.err")"
TA=$(login ann "$TMP/ja"); TB=$(login bob "$TMP/jb")
code -b "$TMP/jb" "$(U '/api/next?n=4')" >/dev/null
code -b "$TMP/ja" "$(U '/api/next?n=4')" >/dev/null; A=$(jget '" ".join(str(i["id"]) for i in j["items"])')

# labels: durable, idempotent
a1=${A%% *}
c=$(post "$TMP/ja" "$TA" /api/label "{\"id\":$a1,\"class\":\"unpackaged\",\"sub\":\"sub-000000001\"}")
[ "$c" = 200 ] && [ "$(jget 'j["duplicate"]')" = False ] && ok "label acknowledged (200)" || not_ok "label acknowledged" "$c $(cat "$TMP/body")"
key=$(tail -1 "$D/labels.tsv" | cut -f2)
tail -1 "$D/labels.tsv" | grep -q "	unpackaged	ann$" && ok "label in the log when acknowledged" || not_ok "label in the log" "$(tail -1 "$D/labels.tsv")"
n1=$(nlabels)
c=$(post "$TMP/ja" "$TA" /api/label "{\"id\":$a1,\"class\":\"unpackaged\",\"sub\":\"sub-000000001\"}")
[ "$c" = 200 ] && [ "$(jget 'j["duplicate"]')" = True ] && [ "$(nlabels)" = "$n1" ] && ok "resent submission not duplicated" || not_ok "resent submission not duplicated" "$c $(cat "$TMP/body")"
want "ann's next skips the labelled image" 200 -b "$TMP/ja" "$(U '/api/next?n=4')"
case " $(jget '" ".join(str(i["id"]) for i in j["items"])') " in *" $a1 "*) not_ok "labelled image not offered again";; *) ok "labelled image not offered again";; esac
c=$(post "$TMP/ja" "$TA" /api/undo '{"sub":"sub-undo-0001"}')
[ "$c" = 200 ] && tail -1 "$D/labels.tsv" | grep -q "^[^	]*	$key	.*	-	ann$" && ok "undo appends a retraction" || not_ok "undo appends a retraction" "$c $(tail -1 "$D/labels.tsv")"
want "undone image offered first" 200 -b "$TMP/ja" "$(U '/api/next?n=4')"
[ "$(jget 'j["items"][0]["id"]')" = "$a1" ] && ok "undone image comes back first" || not_ok "undone image comes back first" "$(head -c 300 "$TMP/body")"
c=$(post "$TMP/ja" "$TA" /api/undo '{"sub":"sub-undo-0001"}')
[ "$(nlabels)" = $((n1 + 1)) ] && ok "resent undo not duplicated" || not_ok "resent undo not duplicated"
c=$(post "$TMP/ja" "$TA" /api/flag "{\"id\":$a1,\"sub\":\"sub-flag-0001\"}")
want "flagged image in item info" 200 -b "$TMP/ja" "$(U "/api/item?id=$a1")"
[ "$(jget 'j["flagged"]')" = True ] && grep -q "	flag	sub-flag-0001	$key	" "$D/labels.tsv.journal" && ok "flag recorded durably" || not_ok "flag recorded durably"
# the same submission sent twice at once (a resend racing the first): one record
id2=$(echo "$A" | cut -d' ' -f2)
nr=$(nlabels)
rp=
for i in 1 2 3 4; do
	curl -s -o "$TMP/race$i" -b "$TMP/ja" -H 'Content-Type: application/json' -H "X-CSRF-Token: $TA" \
		-d "{\"id\":$id2,\"class\":\"packaged\",\"sub\":\"sub-race-00001\"}" "$(U /api/label)" &
	rp="$rp $!"
done
wait $rp
nd=$(cat "$TMP"/race? | grep -o '"duplicate":true' | wc -l)
[ "$(nlabels)" = $((nr + 1)) ] && [ "$nd" = 3 ] && ok "4 racing copies of one submission: one record, 3 answered duplicate" ||
	not_ok "racing copies of one submission" "lines $(nlabels) (want $((nr + 1))), duplicates $nd" "$(cat "$TMP"/race?)"
want "review list" 200 -b "$TMP/ja" "$(U '/api/review?class=packaged&limit=50')"
python3 -c 'import json,sys; c=[i["confidence"] for i in json.load(open(sys.argv[1]))["items"]]; sys.exit(0 if c and c==sorted(c) else 1)' "$TMP/body" &&
	ok "review: lowest confidence first" || not_ok "review: lowest confidence first" "$(head -c 300 "$TMP/body")"
want "review: unknown class" 400 -b "$TMP/ja" "$(U '/api/review?class=nope')"
want "stats in state" 200 -b "$TMP/ja" "$(U /api/state)"
[ "$(jget 'j["stats"]["per_class"]["unpackaged"]')" = 0 ] && [ "$(jget 'j["stats"]["items"]')" = 41 ] &&
	{ [ ${#ZS[@]} = 0 ] || [ "$(jget 'j["stats"]["npredicted"]')" -gt 0 ]; } &&
	ok "stats: labelled per class, items, zero-shot predictions" || not_ok "stats" "$(head -c 400 "$TMP/body")"
kill "$PID"; wait "$PID"; st=$?; PID=
[ "$st" = 0 ] && ok "SIGTERM: clean shutdown, status 0 (leak-free under ASan)" || not_ok "SIGTERM: clean shutdown" "status $st" "$(tail -20 "$TMP/srv.err")"
# restart: the seen submission ids come back from the journal
start --retrain-every 0 || not_ok "restart" "$(cat "$TMP/srv.err")"
TA=$(login ann "$TMP/ja")
n2=$(nlabels)
c=$(post "$TMP/ja" "$TA" /api/label "{\"id\":$a1,\"class\":\"unpackaged\",\"sub\":\"sub-000000001\"}")
[ "$c" = 200 ] && [ "$(jget 'j["duplicate"]')" = True ] && [ "$(nlabels)" = "$n2" ] && ok "resend after a restart not duplicated" || not_ok "resend after a restart" "$c $(cat "$TMP/body")"
stop

# --- durability: SIGKILL at random moments while a client posts ---------------------------
# 600 images without files: only keys matter here
K=$TMP/kill
mkdir -p "$K"
cp "$D/classes.tsv" "$K/"
python3 -c 'import hashlib
for i in range(600): print("image\t%s\tk/%d.jpg\t%s" % (hashlib.sha256(b"%d" % i).hexdigest(), i, "\t".join(["0.5"] * 4)))' >"$K/v.tsv"
"$TOBJ/coldstart_gen" -i "$K/v.tsv" >"$K/cache.emb"
python3 "$SRC/tests/browser/killloop.py" "$W" "$K" 500 >"$TMP/kill.out" 2>&1
kr=$?
if [ $kr = 0 ]; then ok "kill loop: $(tail -1 "$TMP/kill.out")"; else not_ok "kill loop" "$(tail -20 "$TMP/kill.out")"; fi

# --- the page in headless Chromium -------------------------------------------------------
rm -f "$D/labels.tsv" "$D/labels.tsv.journal"
if [ ! -x /usr/bin/chromium ]; then
	skip "browser tests" "LOUD: /usr/bin/chromium is not installed (scripts/install-deps installs it) — the page is NOT tested"
elif ! { [ -d "$SRC/tests/browser/node_modules/playwright-core" ] ||
		(cd "$SRC/tests/browser" && npm ci --no-audit --no-fund >"$TMP/npm.log" 2>&1); }; then
	skip "browser tests" "LOUD: npm ci of playwright-core failed — the page is NOT tested: $(tail -3 "$TMP/npm.log")"
else
	start --retrain-every 10 "${ZS[@]}" --tools "$BIN" || not_ok "server for the browser" "$(cat "$TMP/srv.err")"
	HAVE_TRAIN=0
	[ -x "$BIN/clipsort-train" ] && [ -x "$BIN/clipsort-predict" ] && HAVE_TRAIN=1
	[ $HAVE_TRAIN = 1 ] || skip "browser: background classifier" "clipsort-train/-predict not built"
	HAVE_TRAIN=$HAVE_TRAIN URL=$(U /) TRUTH=$D/truth.tsv LABELS=$D/labels.tsv OUT=$OUTDIR HOSTILE=$HOSTILE \
		timeout 180 node "$SRC/tests/browser/label-web.js" >"$TMP/browser.out" 2>&1
	while IFS= read -r l; do
		case $l in
		"ok   "*) ok "browser: ${l#ok   }" ;;
		"FAIL "*) not_ok "browser: ${l#FAIL }" ;;
		"#"*) echo "$l" ;;
		esac
	done <"$TMP/browser.out"
	grep -q '^ok   \|^FAIL ' "$TMP/browser.out" || not_ok "browser run" "$(tail -20 "$TMP/browser.out")"
	stop
	echo "# screenshots: $OUTDIR"
fi
t_done
