#!/bin/bash
# chaos-io.t - the chaos suite, part 5 (issue 6): a worker SIGKILLed while its io_uring
# has many reads, writes, copies and sleeps in flight. Three rounds: four `taskring
# map` runs put 400 sleeps of 1.5 s, 160 read-file, 160 write-file and 80 copy-file tasks in
# flight; once a worker reports at least 64 io tasks in flight it is killed. Proves:
# every one of its in-flight tasks goes back to the queue and completes on a worker
# (the replacement or the other), every result is right (sizes and CRCs of reads,
# bytes written, files written and copied intact), nothing is lost; then a `taskring
# stress --mix io --files` run kills workers every 30-80 ms with file tasks in the mix.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/chaos-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
dir=$TR_TMP/io
mkdir -p "$dir/in" "$dir/out"
chaos_config "$TR_TMP/io.yaml" "io:" "  depth: 256" "  allowed_paths: [\"$dir\"]"
start_daemon "$inst" -c "$TR_TMP/io.yaml"
tap_ok $? "taskringd started with io.allowed_paths [$dir]"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"

declare -a size
for i in $(seq 0 15); do
	size[$i]=$((65536 + i * 4099))
	head -c "${size[$i]}" /dev/urandom >"$dir/in/f$i"
done
run T map read-file $(for i in $(seq 0 15); do echo "$dir/in/f$i"; done)
tap_is "$RUN_STATUS:$(printf '%s\n' "$RUN_OUT" | wc -l)" "0:16" "baseline: read-file of 16 input files, no kills"
declare -a want_read
i=0
while read -r line; do want_read[$i]=$line; i=$((i + 1)); done <<<"$RUN_OUT"
tap_like "${want_read[0]}" "^65536 [0-9a-f]{8}$" "read-file gives SIZE CRC32 (${want_read[0]})"

# The worker with the most io tasks in flight: "INDEX INFLIGHT" (text status, IO column).
busiest() {
	T status 2>/dev/null | awk '$1 ~ /^[0-9]+$/ && NF >= 7 { print $1, $6 }' | sort -k2,2n | tail -n 1
}

for round in 1 2 3; do
	od=$dir/out/r$round
	mkdir -p "$od"
	yes 1500 | head -n 400 >"$TR_TMP/sleep.in"
	for k in $(seq 0 159); do echo "$dir/in/f$((k % 16))"; done >"$TR_TMP/read.in"
	for k in $(seq 0 159); do echo "$od/w$k round $round line $k"; done >"$TR_TMP/write.in"
	for k in $(seq 0 79); do echo "$dir/in/f$((k % 16)) $od/c$k"; done >"$TR_TMP/copy.in"
	for t in sleep read write copy; do
		case $t in sleep) ty=sleep ;; read) ty=read-file ;; write) ty=write-file ;; copy) ty=copy-file ;; esac
		rm -f "$TR_TMP/$t.st"
		tr_bg bash -c "'$TR' -i '$inst' map --attempts 10 --timeout 200 $ty - <'$TR_TMP/$t.in' >'$TR_TMP/$t.out' 2>'$TR_TMP/$t.err'; echo \$? >'$TR_TMP/$t.st'"
	done
	victim=""
	if wait_until 30 'b=$(busiest); [ "${b#* }" -ge 64 ] 2>/dev/null'; then
		b=$(busiest)
		idx=${b% *}
		run T kill-worker "$idx"
		[ "$RUN_STATUS" = 0 ] && victim="worker $idx (pid $RUN_OUT) with ${b#* } io tasks in flight"
	fi
	tap_ok "$([ -n "$victim" ]; echo $?)" "round $round: SIGKILLed ${victim:-no worker (none had 64 io tasks in flight)}"
	wait_until 240 'test -s "$TR_TMP/sleep.st" -a -s "$TR_TMP/read.st" -a -s "$TR_TMP/write.st" -a -s "$TR_TMP/copy.st"'
	tap_is "$(cat "$TR_TMP"/{sleep,read,write,copy}.st | tr '\n' ' ')" "0 0 0 0 " "round $round: the four maps completed (exit 0)"
	for t in sleep read write copy; do
		[ "$(cat "$TR_TMP/$t.st")" = 0 ] || tap_diag "  $t map: $(head -c 600 "$TR_TMP/$t.err")"
	done
	tap_is "$(grep -c . "$TR_TMP/sleep.out"):$(wc -l <"$TR_TMP/sleep.out")" "0:400" "round $round: 400 sleeps done (empty results)"
	bad=0
	k=0
	while read -r line; do
		[ "$line" = "${want_read[$((k % 16))]}" ] || bad=$((bad + 1))
		k=$((k + 1))
	done <"$TR_TMP/read.out"
	tap_is "$k:$bad" "160:0" "round $round: 160 reads, each SIZE and CRC right"
	want=$(for k in $(seq 0 159); do w="round $round line $k"; echo $((${#w} + 1)); done)
	tap_is "$(md5sum <"$TR_TMP/write.out")" "$(printf '%s\n' "$want" | md5sum)" \
		"round $round: 160 writes, each result the bytes written"
	tap_is "$(cat $(for k in $(seq 0 159); do echo "$od/w$k"; done) | md5sum)" \
		"$(for k in $(seq 0 159); do echo "round $round line $k"; done | md5sum)" \
		"round $round: and each file holds its words and a newline"
	want=$(for k in $(seq 0 79); do echo "${size[$((k % 16))]}"; done)
	tap_is "$(md5sum <"$TR_TMP/copy.out")" "$(printf '%s\n' "$want" | md5sum)" \
		"round $round: 80 copies, each result the bytes copied"
	tap_is "$(cat $(for k in $(seq 0 79); do echo "$od/c$k"; done) | md5sum)" \
		"$(cat $(for k in $(seq 0 79); do echo "$dir/in/f$((k % 16))"; done) | md5sum)" \
		"round $round: and each copy is identical to its source"
	wait_until 30 'test "$(nready "$inst")" = 2'
	tap_ok $? "round $round: both workers ready again"
done
grep -q "killed by signal 9 (SIGKILL)" "$(daemon_log "$inst")"
tap_ok $? "the daemon logged the kills"

stress "$inst" --duration 8 --kill-every 30-80 --min-uptime 0 --mix io --files "$dir"
stress_checks "file, sleep tasks; workers SIGKILLed every 30-80 ms"
tap_ok "$([ "$(sj .kills.workers)" -ge 20 ] 2>/dev/null; echo $?)" "workers were killed $(sj .kills.workers) times"
tap_is "$(ls "$dir" | grep -c '^stress-')" 0 "stress removed its files"

wait_until 60 'test "$(T list --state queued,running --json | jq length)" = 0'
tap_ok $? "nothing is left queued or running"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"

# A payload_max too small for the workload's paths is said up front.
inst=$(tr_instance)
chaos_config "$TR_TMP/small.yaml" "queue:" "  payload_max: 64" "io:" "  allowed_paths: [\"$dir\"]"
start_daemon "$inst" -c "$TR_TMP/small.yaml"
wait_until 30 'test "$(nready "$inst")" -ge 1'
run timeout 120 "$TR" -i "$inst" stress --duration 2 --kill-every 0 --mix io --files "$dir"
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "queue.payload_max is 64 bytes; this workload (with --files) needs" ]]; echo $?)" \
	"stress with --files against payload_max 64: exit $RUN_STATUS, ${RUN_ERR:0:120}"
stop_daemon "$inst" TERM
done_testing
