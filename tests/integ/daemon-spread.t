#!/bin/bash
# daemon-spread.t - slow tasks spread over the workers after a stream of quick ones.
# A worker takes quick tasks in batches of up to 64; before a slow task in such a
# batch starts, it hands back what it has not started (trq_giveback), so 8 sqrt-sum
# tasks submitted in one batch run on both workers instead of one after another on
# the worker that took them. Also: the handed-back tasks keep one attempt each (the
# take's attempt is undone) and their results. With one worker, the tasks behind a
# slow one wait queued, where cancel --queued finds them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 not installed (computes expected results)"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
write_config "$TR_TMP/d.yaml" "workers: 2" "queue:" "  capacity: 4096"
start_daemon "$inst" -c "$TR_TMP/d.yaml"
tap_ok $? "taskringd started with 2 workers"
wait_until 30 '[ "$(nready "$inst")" = 2 ]'
tap_ok $? "both workers ready"

n=2000000
want=$(python3 -c "import math; print('%.6f' % sum(math.sqrt(i) for i in range($n)))")
for round in 1 2 3; do
	# A stream of quick tasks: the workers' batches grow to 64.
	run T map echo $(seq 1 2000)
	tap_is "$RUN_STATUS:$(echo "$RUN_OUT" | wc -l)" "0:2000" "round $round: 2000 echo tasks done"
	# Then 8 slow ones in one batch (taskring map submits them together).
	run T map sqrt-sum $n $n $n $n $n $n $n $n
	tap_is "$RUN_STATUS:$(echo "$RUN_OUT" | sort -u)" "0:$want" \
		"round $round: 8 sqrt-sum $n tasks, all right"
	tasks=$(T list --state done --json | jq -c '[.[] | select(.type == "sqrt-sum")] | .[:8]')
	tap_is "$(echo "$tasks" | jq '[.[].worker] | unique | length')" 2 \
		"round $round: they ran on both workers ($(echo "$tasks" | jq -c '[.[].worker]'))"
	tap_is "$(echo "$tasks" | jq '[.[] | select(.attempts != 1)] | length')" 0 \
		"round $round: each in one attempt"
done
tap_like "$(T status --json | jq -r '.workers | map(.state) | join(",")')" \
	'^(ready|busy),(ready|busy)' "the workers are still up"
stop_daemon "$inst"

# One worker, so nobody else idles: the tasks taken with a slow one still go back
# to the queue before it starts, where they wait (queued, not held by the worker)
# and where cancel --queued finds them.
inst1=$(tr_instance)
T1() { "$TR" -i "$inst1" "$@"; }
write_config "$TR_TMP/d1.yaml" "workers: 1" "queue:" "  capacity: 1024"
start_daemon "$inst1" -c "$TR_TMP/d1.yaml"
tap_ok $? "taskringd started with 1 worker"
cpuq() { T1 status --json | jq -c '.queues.cpu | [.queued, .executing, .waiting]'; }
run T1 map echo $(seq 1 300)
tap_is "$RUN_STATUS:$(echo "$RUN_OUT" | wc -l)" "0:300" "300 echo tasks done (its batches grow to 64)"
# One batch: a 30 s spin, then 10 quick ones (spin 0).
tr_bg "$TR" -i "$inst1" map spin 30000 0 0 0 0 0 0 0 0 0 0 >"$TR_TMP/m1.out" 2>"$TR_TMP/m1.err"
wait_until 30 '[ "$(cpuq)" = "[10,1,0]" ]'
tap_ok $? "the slow one runs; the 10 taken with it are queued again, none waits in the worker" ||
	tap_diag "queued, executing, waiting: $(cpuq)"
run T1 cancel --queued --type spin
tap_is "$RUN_STATUS:$RUN_OUT" "0:10" "cancel --queued --type spin cancels those 10"
slow=$(T1 list --state running --json | jq -r '.[0].id // empty')
tap_is "$(T1 show --json "$slow" | jq -r '.args | join(" ")')" "30000" "the slow one is left running"
run T1 cancel "$slow"
tap_is "$RUN_STATUS" 0 "cancel of the slow one by id"
wait_until 30 '! kill -0 "$TR_BG_PID" 2>/dev/null'
tap_is "$(grep -c 'cancelled before it ran' "$TR_TMP/m1.err")" 10 \
	"map reports the 10 cancelled before they ran" || tap_diag_file "$TR_TMP/m1.err"
done_testing
