#!/bin/bash
# chaos-full.t - the chaos suite, part 4 (issue 6): a full queue under load. A daemon
# with a 64-slot table; `taskring stress` with 6 clients keeping up to 32 tasks each
# outstanding (half submit blocking with a deadline, half --no-block) while workers
# are SIGKILLed; at the same time CLI submitters: `taskring submit --no-block` loops
# and blocking `taskring map` runs. Proves: a full table makes blocking submitters
# wait (up to their deadline, never past it) and --no-block ones fail at once with
# the distinct "queue full" status 5, never anything else; every accepted task still
# ends right; nothing is lost or stuck; the invariants hold.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/chaos-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"


inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
chaos_config "$TR_TMP/full.yaml" "queue:" "  capacity: 64"
start_daemon "$inst" -c "$TR_TMP/full.yaml"
tap_ok $? "taskringd started with a 64-slot table"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"

# --no-block submitters: record each exit status and accepted id.
nb() {
	local k id st
	for k in $(seq 1 60); do
		id=$("$TR" -i "$inst" submit --no-block echo nb "$1" "$k" 2>/dev/null)
		st=$?
		echo "$st $k $id"
	done >"$TR_TMP/nb$1.out"
}
# Blocking map runs: they wait for slots as long as it takes.
mp() {
	seq 1 300 | sed "s/^/m$1-/" >"$TR_TMP/mp$1.want"
	"$TR" -i "$inst" map --timeout 200 echo $(cat "$TR_TMP/mp$1.want") >"$TR_TMP/mp$1.out" \
		2>"$TR_TMP/mp$1.err"
	echo $? >"$TR_TMP/mp$1.st"
}
for i in 1 2; do
	tr_bg bash -c "$(declare -f nb); TR='$TR' inst='$inst' TR_TMP='$TR_TMP'; nb $i"
	tr_bg bash -c "$(declare -f mp); TR='$TR' inst='$inst' TR_TMP='$TR_TMP'; mp $i"
done
stress "$inst" --duration 10 --kill-every 20-80 --min-uptime 0 --clients 6 --window 32 \
	--mix cpu,io
stress_checks "64-slot table under load"
tap_ok "$([ "$(sj .refusals.full)" -ge 1 ] 2>/dev/null; echo $?)" \
	"stress's --no-block clients met a full table ($(sj .refusals.full) refusals; blocking ones timed out $(sj .refusals.timeouts) times)"
wait_until 240 'test -s "$TR_TMP/mp1.st" -a -s "$TR_TMP/mp2.st" -a "$(cat "$TR_TMP"/nb*.out 2>/dev/null | wc -l)" = 120'
tap_ok $? "the CLI submitters finished"
for i in 1 2; do
	got="$(cat "$TR_TMP/mp$i.st"):$(md5sum <"$TR_TMP/mp$i.out")"
	tap_is "$got" "0:$(md5sum <"$TR_TMP/mp$i.want")" "blocking map $i: all 300 results, in order" ||
		{
			tap_diag "map $i exited $(cat "$TR_TMP/mp$i.st"); its stderr:"
			tap_diag_file "$TR_TMP/mp$i.err"
			tap_diag "results that differ (< want, > got):"
			diff "$TR_TMP/mp$i.want" "$TR_TMP/mp$i.out" | head -20 | while read -r l; do tap_diag "$l"; done
		}
done
codes=$(cut -d' ' -f1 "$TR_TMP"/nb*.out | sort -u | tr '\n' ' ')
n0=$(cat "$TR_TMP"/nb*.out | grep -c '^0 ')
n5=$(cat "$TR_TMP"/nb*.out | grep -c '^5 ')
tap_diag "--no-block: $n0 accepted, $n5 refused as full, $((120 - n0 - n5)) other"
tap_ok "$([ "$n5" -ge 1 ]; echo $?)" "--no-block submits met the full table and exited 5"
# A --no-block submit fails only on a full table, never because the lock was busy.
[[ $codes =~ ^(0 )?(5 )?$ ]]
tap_ok $? "--no-block submits exit 0 (accepted) or 5 (queue full), nothing else (got: $codes)"
bad=0
for i in 1 2; do
	while read -r st k id; do
		[ "$st" = 0 ] || continue
		out=$(T wait --timeout 60 "$id" 2>&1)
		[ "$out" = "nb $i $k" ] || { bad=$((bad + 1)); tap_diag "task $id: '$out', want 'nb $i $k'"; }
	done <"$TR_TMP/nb$i.out"
done
tap_is "$bad" 0 "every accepted --no-block task gave its result"
wait_until 60 'test "$(T list --state queued,running --json | jq length)" = 0'
tap_ok $? "nothing is left queued or running"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"
done_testing
