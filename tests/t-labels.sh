#!/bin/bash
# clipsort-labels and the labels log: append from args and stdin, newest-wins view,
# retraction, classes.tsv checks, malformed and torn lines, concurrent writers with an
# exact count, readers during writes, a writer killed with SIGKILL mid-loop.
# san: yes
. "$(dirname "$0")/lib.sh"
L=$BIN/clipsort-labels
cd "$TMP" || exit 1
printf 'class\tprompt\ncat\ta cat\ncat\ta kitten\ndog\ta dog\n' >classes.tsv

# strip the time column (first) of the log / the last of `current`
nolog() { cut -f2- "$1"; }

t_append_current() {
	run $L append -f a.tsv -u ann k1 dir/a.jpg cat
	expect "append from arguments" 0 /dev/null "" || return
	run $L append -f a.tsv -u bob k2 'b c.jpg' dog
	run $L append -f a.tsv -u bob k1 dir/a.jpg dog
	printf 'time\tkey\tpath\tclass\tlabeller\n' >want
	check "log starts with its header" cmp -s want <(head -n 1 a.tsv)
	printf 'key\tpath\tclass\tlabeller\n%s\n%s\n%s\n' "k1	dir/a.jpg	cat	ann" "k2	b c.jpg	dog	bob" "k1	dir/a.jpg	dog	bob" >want
	check "records as appended" cmp -s want <(nolog a.tsv)
	check "time is ISO-8601 UTC with microseconds" \
		grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z	k1' a.tsv
	run $L current -f a.tsv
	printf 'key\tpath\tclass\tlabeller\n%s\n%s\n' "k2	b c.jpg	dog	bob" "k1	dir/a.jpg	dog	bob" >want
	if [ "$status" = 0 ] && cut -f1-4 "$TMP/out" | cmp -s want -; then ok "current: newest line per key wins"
	else not_ok "current: newest line per key wins" "$(cat "$TMP/out" "$TMP/err")"; fi
	run $L append -f a.tsv k2 'b c.jpg' -
	run $L current -f a.tsv
	if [ "$(cut -f1,3 "$TMP/out" | tail -n +2)" = "k1	dog" ]; then ok "class - retracts"
	else not_ok "class - retracts" "$(cat "$TMP/out")"; fi
	run $L stats -f a.tsv -c classes.tsv
	printf 'what\tcount\nlines\t4\nmalformed\t0\nlabelled\t1\nlabeller:bob\t1\nclass:cat\t0\nclass:dog\t1\n' >want
	expect "stats" 0 want ""
}

t_classes() {
	run $L append -f c.tsv -c classes.tsv k1 a.jpg bird
	expect "class not in classes.tsv refused" 3 /dev/null \
		"clipsort-labels: argument: class 'bird' is not in classes.tsv" || return
	check "nothing written" test ! -e c.tsv
	run $L append -f c.tsv k1 a.jpg 'Big Cat'
	expect_err_grep "invalid class name refused" 3 "invalid class name 'Big Cat'"
	printf 'key\tpath\tclass\nk1\ta.jpg\tcat\nk2\tb.jpg\tbird\nk3\tc.jpg\tdog\nbad key\td.jpg\tdog\n' >in.tsv
	run -i in.tsv $L append -f c.tsv -c classes.tsv -u ann
	expect "stdin: bad rows reported with their line, good rows appended" 1 /dev/null \
		"clipsort-labels: <stdin>:3: class 'bird' is not in classes.tsv
clipsort-labels: <stdin>:5: invalid key 'bad key'" || return
	check "two good rows appended" test "$(tail -n +2 c.tsv | cut -f2,4 | tr '\n' ' ')" = "k1	cat k3	dog "
	# a label in the log whose class classes.tsv lacks
	$L append -f c.tsv k9 z.jpg bird
	run $L current -f c.tsv -c classes.tsv
	expect_err_grep "current: label of a class not in classes.tsv reported with its line" 1 \
		"^clipsort-labels: c.tsv:4: class 'bird' is not in classes.tsv$"
	run $L append -f c.tsv -c missing.tsv k1 a.jpg cat
	expect_err_grep "missing classes file" 4 "missing.tsv"
}

t_malformed() {
	{
		printf 'time\tkey\tpath\tclass\tlabeller\n'
		printf '2026-01-01T00:00:00Z\tk1\ta.jpg\tcat\tann\n'
		printf '2026-01-01T00:00:00Z\tk2\tb.jpg\n'
		printf 'noon\tk3\tc.jpg\tdog\tann\n'
		printf '2026-01-01T00:00:01Z\tk4\td.jpg\tdog\tann\n'
		printf '2026-01-01T00:00:02Z\tk5\te.jpg\td'
	} >m.tsv
	run $L current -f m.tsv
	expect "malformed lines named by line number, torn last line ignored" 1 - \
		"clipsort-labels: m.tsv:3: 3 fields, expected 5 (time, key, path, class, labeller)
clipsort-labels: m.tsv:4: bad time 'noon' (want YYYY-MM-DDTHH:MM:SS[.frac]Z)
clipsort-labels: m.tsv:6: incomplete last line (no newline; torn write?) ignored" || return
	check "the good records are read" test "$(tail -n +2 "$TMP/out" | cut -f1 | tr '\n' ' ')" = "k1 k4 "
	run $L append -f m.tsv -u ann k6 f.jpg cat
	check "append after a torn line starts a new line" test "$(tail -n 1 m.tsv | cut -f2,4)" = "k6	cat"
	run $L current -f m.tsv
	check "the new record is read" grep -q '^k6	' "$TMP/out"
	printf 'key\tclass\nk1\tcat\n' >h.tsv
	run $L current -f h.tsv
	expect_err_grep "not a labels log" 3 "h.tsv:1: not a labels log"
	run $L current -f none.tsv
	printf 'key\tpath\tclass\tlabeller\ttime\n' >want
	expect "missing log = no labels" 0 want ""
	run $L frobnicate
	expect_err_grep "unknown command" 2 "^usage: clipsort-labels append"
	run $L append -f x.tsv k1 a.jpg
	expect_err_grep "wrong operand count" 2 "^usage:"
}

# 8 processes x 200 appends each (one process per label), plus readers polling
t_concurrent() {
	local p i
	for p in 1 2 3 4 5 6 7 8; do
		(
			for i in $(seq 1 200); do
				$L append -f cc.tsv -u "w$p" "p$p-$i" "img/$p/$i.jpg" cat || exit 1
			done
		) &
	done
	local bad=0 polls=0
	while [ "$(jobs -r | wc -l)" -gt 0 ]; do
		out=$($L stats -f cc.tsv 2>&1) || { bad=1; echo "$out"; }
		echo "$out" | grep -q '^malformed	0$' || bad=1
		polls=$((polls + 1))
	done
	wait
	check "readers during the writes never saw a torn or malformed record ($polls polls)" test $bad = 0
	run $L stats -f cc.tsv
	printf 'what\tcount\nlines\t1600\nmalformed\t0\nlabelled\t1600\n' >want
	for p in 1 2 3 4 5 6 7 8; do printf 'labeller:w%s\t200\n' $p >>want; done
	printf 'class:cat\t1600\n' >>want
	expect "8 writers x 200 labels: exact count, none lost or torn" 0 want ""
	check "exactly one header" test "$(grep -c '^time	key' cc.tsv)" = 1
	check "every key once" test "$(tail -n +2 cc.tsv | cut -f2 | sort -u | wc -l)" = 1600
}

t_killed_writer() {
	(
		i=0
		while :; do
			i=$((i + 1))
			$L append -f kw.tsv -u w "k$i" "img/$i.jpg" dog || exit 1
		done
	) &
	local pid=$!
	sleep 1.5
	# freeze the loop, kill the append it is running (by its pid), then the loop
	kill -STOP $pid
	for c in $(pgrep -P $pid); do kill -KILL "$c"; done
	kill -KILL $pid
	wait $pid 2>/dev/null
	local n
	n=$(tail -n +2 kw.tsv | wc -l)
	run $L stats -f kw.tsv
	if [ "$status" = 0 ] && grep -q '^malformed	0$' "$TMP/out" && grep -q "^lines	$n$" "$TMP/out" && [ "$n" -gt 0 ]; then
		ok "writer killed with SIGKILL: $n whole records, none torn"
	else
		not_ok "writer killed with SIGKILL" "$(cat "$TMP/out" "$TMP/err")"
	fi
	check "log ends with a newline" test "$(tail -c 1 kw.tsv | od -An -c | tr -d ' ')" = '\n'
	run $L append -f kw.tsv -u w after a.jpg cat
	check "the log takes appends after the kill" grep -q '	after	a.jpg	cat	w$' kw.tsv
}

t_lock_timeout() {
	# a held exclusive lock: the append waits, then gives up with the busy status
	if ! command -v flock >/dev/null; then skip "lock timeout" "flock(1) not installed"; return; fi
	: >lk.tsv
	flock -x lk.tsv sleep 3 &
	sleep 0.3
	CLIPSORT_LOCK_TIMEOUT=0.5 run $L append -f lk.tsv k1 a.jpg cat
	wait
	expect_err_grep "lock held elsewhere: busy after the timeout" 6 "lk.tsv: locked by another process"
}

t_append_current
t_classes
t_malformed
t_concurrent
t_killed_writer
t_lock_timeout
t_done
