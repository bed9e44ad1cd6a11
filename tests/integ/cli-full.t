#!/bin/bash
# cli-full.t - a full task table is said, not waited on in silence: a submit or
# map that has waited a second for a free slot says once on stderr that the
# table is full (free slots, tasks queued or running, finished results kept
# unread) and how to give up; a map that times out or is interrupted before it
# could submit says how many tasks it could not submit; `taskring status` shows
# the finished results kept unread (text and JSON "unread"). A 64-slot table
# filled with 24 long sleeps and 40 noops whose results are never read.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }

write_config "$TR_TMP/conf.yaml" "workers: 1" "queue:" "  capacity: 64" "tasks:" \
	"  kill_grace_ms: 200"
start_daemon "$inst" -c "$TR_TMP/conf.yaml" || {
	tap_ok 1 "taskringd started"
	done_testing
}
tap_ok 0 "taskringd started (1 worker, capacity 64)"

# ---- fill the table: 40 noops never read, 24 sleeps -------------------------------------
# (sleep is an io task: all 24 run at once beside the noops.)
ids=()
for ((i = 0; i < 40; i++)); do
	id=$(T submit --no-block noop) || break
	ids+=("$id")
done
for ((i = 0; i < 24; i++)); do
	id=$(T submit --no-block sleep 600000) || break
	ids+=("$id")
done
tap_is "${#ids[@]}" 64 "40 noops and 24 sleep 600000 fill the table"
run T submit --no-block noop
tap_is "$RUN_STATUS" 5 "a 65th --no-block submit: exit 5 (queue full)"
wait_until 30 'test "$(T status --json | jq .totals.done)" = 40'
tap_ok $? "the 40 noops are done (their results are never read)"

# ---- status shows the unread results ---------------------------------------------------
run T status
tap_like "$RUN_OUT" "slots: +0 free of 64 \(40 finished, results kept unread up to tasks.result_ttl_s; payload max" \
	"status: the slots line counts the 40 finished results kept unread"
tap_is "$(T status --json | jq -c '[.free, .unread, .capacity]')" "[0,40,64]" \
	"status --json: free 0, unread 40"

# ---- submit waits visibly --------------------------------------------------------------
full="the task table of instance '$inst' is full (0 of 64 slots free, 24 tasks queued or running, 40 finished results kept unread for up to tasks.result_ttl_s); waiting for a slot"
t0=$(date +%s%N)
run T submit --timeout 3 noop
ms=$((($(date +%s%N) - t0) / 1000000))
tap_is "$RUN_STATUS:$RUN_OUT" "4:" "submit --timeout 3 on a full table: exit 4 (timed out), no id"
tap_is "$(grep -cF "taskring: submit: $full (--timeout S or --no-block to give up)" "$TR_TMP/run.err")" 1 \
	"it said once that the table is full, why, and how to give up" ||
	tap_diag_file "$TR_TMP/run.err"
tap_like "$RUN_ERR" "no free slot in instance '$inst' before the timeout" "then that it timed out"
tap_ok "$([ "$ms" -ge 2900 ] && [ "$ms" -lt 8000 ]; echo $?)" "it waited its 3 s (${ms} ms)"
run T submit --timeout 0.5 noop
tap_ok "$([ "$RUN_STATUS" = 4 ] && ! [[ $RUN_ERR =~ "is full" ]]; echo $?)" \
	"a wait shorter than a second says nothing of it (exit 4)"

# ---- map: the same line, and how many tasks could not be submitted ---------------------------
run T map --timeout 3 noop a b
tap_is "$RUN_STATUS:$RUN_OUT" "4:" "map --timeout 3 on a full table: exit 4"
tap_is "$(grep -cF "taskring: map: $full (--timeout S to give up)" "$TR_TMP/run.err")" 1 \
	"map said once that the table is full" || tap_diag_file "$TR_TMP/run.err"
tap_like "$RUN_ERR" "taskring: map: timed out: 2 of 2 tasks not submitted \(the task table is full\)" \
	"and at its deadline that neither task could be submitted"

# As in cli-map.t: a background job starts with SIGINT ignored; set it back.
tr_bg perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' \
	"$TR" -i "$inst" map noop a b >/dev/null 2>"$TR_TMP/int.err"
mp=$TR_BG_PID
wait_until 15 'grep -q "is full" "$TR_TMP/int.err"'
tap_ok $? "a map without --timeout says the table is full too"
kill -INT "$mp"
wait "$mp"
tap_is "$?" 130 "SIGINT stops it (killed by SIGINT)"
tap_ok "$(grep -q 'taskring: map: interrupted: 2 of 2 tasks not submitted (the task table is full)' "$TR_TMP/int.err"; echo $?)" \
	"it says its 2 tasks could not be submitted" || tap_diag_file "$TR_TMP/int.err"

# ---- a submit without --timeout says so, then gets the slot once one is free ----------------
tr_bg bash -c '"$1" -i "$2" submit noop >"$3/sub.out" 2>"$3/sub.err"; echo $? >"$3/sub.st"' \
	_ "$TR" "$inst" "$TR_TMP"
wait_until 15 'grep -q "is full" "$TR_TMP/sub.err"'
tap_ok $? "a submit without --timeout says the table is full after about a second"
run T wait "${ids[0]}" # reading a result frees its slot
tap_is "$RUN_STATUS" 0 "reading one result"
wait_until 15 'test -s "$TR_TMP/sub.st"'
tap_like "$(cat "$TR_TMP/sub.st"):$(cat "$TR_TMP/sub.out")" '^0:[1-9][0-9]*$' \
	"then the waiting submit gets that slot and prints its id"
tap_is "$(grep -c 'is full' "$TR_TMP/sub.err")" 1 "having said it once"

run T cancel "${ids[@]:40}"
tap_is "$RUN_STATUS" 0 "the 24 sleeps left are cancelled"
stop_daemon "$inst"
tap_is "$TR_DAEMON_STATUS" 0 "taskringd stopped cleanly"
done_testing
