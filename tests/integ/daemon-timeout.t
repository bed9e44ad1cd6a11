#!/bin/bash
# daemon-timeout.t - run timeouts and cancels (issue 3, acceptance 5, first part):
# a cpu task past its run timeout gets its worker killed and, attempts used up, ends
# `failed` with "timed out after N s"; the configured tasks.run_timeout_s applies to
# tasks that set none; a timeout longer than the supervisor's periodic check (workers
# ring no doorbell for it) is still enforced at its deadline; a queued task is cancelled
# at once; cancelling a running task kills its worker (replaced at once) and ends it
# `cancelled`; a task taken in a worker's batch behind a slow one has its run timeout
# counted from its real start and, handed back to the queue, is cancelled at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
write_config "$TR_TMP/d.yaml" "workers: 1" "tasks:" "  run_timeout_s: 2" "  kill_grace_ms: 500"
start_daemon "$inst" -c "$TR_TMP/d.yaml"
tap_ok $? "taskringd started (1 worker, run_timeout_s 2)"
wait_until 30 'test "$(nready "$inst")" = 1'
tap_ok $? "worker ready"

# ---- run timeout ---------------------------------------------------------------------
id=$(T submit --run-timeout 1 --attempts 2 spin 600000)
start=$SECONDS
run T wait --timeout 120 "$id"
took=$((SECONDS - start))
tap_is "$RUN_STATUS" 1 "a spin task over its 1 s run timeout fails"
tap_is "$(task_json "$inst" "$id" error)" "timed out after 1 s on attempt 2 of 2" \
	"with 'timed out after 1 s' once both attempts are used"
[ "$took" -lt 60 ]
tap_ok $? "long before the task's own 600 s (took ${took} s)"
tap_like "$(cat "$(daemon_log "$inst")")" "task $id timed out after 1 s: stopping worker 0" \
	"the log says which task timed out and which worker was stopped"
wait_until 10 'grep -q "task $id failed after 2 of 2 attempts: timed out after 1 s$" "$(daemon_log "$inst")"'
tap_ok $? "and that it failed for good once both attempts were used"

id=$(T submit --attempts 1 spin 600000)
run T wait --timeout 120 "$id"
tap_is "$(task_json "$inst" "$id" error)" "timed out after 2 s on attempt 1 of 1" \
	"tasks.run_timeout_s from the file applies to a task that sets none"
# A run timeout longer than the supervisor's periodic look at running tasks (every 5 s at
# the default workers_heartbeat_s): the worker rings no doorbell for it, and the look arms
# the supervisor's timer for the deadline. Stopped on time, not at a later look.
id=$(T submit --run-timeout 7 --attempts 1 --class cpu sleep 600000)
t0=$(date +%s%N)
run T wait --timeout 120 "$id"
ms=$((($(date +%s%N) - t0) / 1000000))
tap_is "$(task_json "$inst" "$id" error)" "timed out after 7 s on attempt 1 of 1" \
	"a task over a 7 s run timeout (longer than the 5 s check) times out"
[ "$ms" -ge 6500 ] && [ "$ms" -lt 9500 ]
tap_ok $? "at its deadline, not at a later periodic check (after ${ms} ms)"
wait_until 30 'test "$(nready "$inst")" = 1'
fast=$(T submit --run-timeout 30 echo in time)
run T wait --timeout 60 "$fast"
tap_is "$RUN_STATUS:$RUN_OUT" "0:in time" "a task within its timeout is not disturbed"
wait_until 30 'test "$(nready "$inst")" = 1'
tap_ok $? "the worker was replaced and is ready"

# ---- cancel a queued task ---------------------------------------------------------------
busy=$(T submit --run-timeout 600 --class cpu sleep 600000)
wait_until 30 'test "$(task_json "$inst" "$busy" state)" = running'
queued=$(T submit echo never)
tap_is "$(task_json "$inst" "$queued" state)" queued "a task behind the busy worker is queued"
run T cancel "$queued"
tap_is "$RUN_STATUS" 0 "cancel of the queued task succeeds"
tap_is "$(task_json "$inst" "$queued" state)" cancelled "it is cancelled at once"
tap_is "$(task_json "$inst" "$busy" state)" running "the running task is untouched"

# ---- cancel a running task ----------------------------------------------------------------
old=$(worker_pid "$inst" 0)
restarts=$(status_json "$inst" | jq -r '.workers[0].restarts')
run T cancel "$busy"
tap_is "$RUN_STATUS" 0 "cancel of the running task succeeds"
run T wait --timeout 60 "$busy"
tap_is "$RUN_STATUS" 1 "waiting for it reports it did not complete"
tap_is "$(task_json "$inst" "$busy" state)" cancelled "the running task ends cancelled"
tap_is "$(task_json "$inst" "$busy" attempts)" 1 "after one attempt: it did not run again"
wait_until 30 'test "$(worker_pid "$inst" 0)" != "$old" -a "$(nready "$inst")" = 1'
tap_ok $? "its worker was stopped and replaced"
tap_is "$(status_json "$inst" | jq -r '.workers[0].restarts')" $((restarts + 1)) "one more restart"
tap_like "$(status_json "$inst" | jq -r '.workers[0].last_exit')" "\\(task cancelled\\)$" \
	"the worker record says why it was stopped"
run T submit --wait echo still working
tap_is "$RUN_STATUS:$RUN_OUT" "0:still working" "the new worker runs tasks"

# ---- a running task that finishes before its worker can be stopped -------------------------
# A stopped supervisor stands in for a busy one: the cancel is recorded, the task ends
# done first, and cancel says so instead of exiting 0.
quick=$(T submit --class cpu sleep 5000)
wait_until 30 'test "$(task_json "$inst" "$quick" state)" = running'
dpid=$(daemon_pid "$inst")
kill -STOP "$dpid"
run T cancel "$quick"
kill -CONT "$dpid"
tap_like "$RUN_STATUS:$RUN_ERR" "^1:.*task $quick finished \\(done\\) before it could be stopped" \
	"cancel of a task that finished first: exit 1, saying so"
tap_is "$(task_json "$inst" "$quick" state)" done "and the task keeps its result"
# --timeout: how long cancel waits for a running task to end (the stopped
# supervisor cannot end it meanwhile).
slow=$(T submit --class cpu sleep 20000)
wait_until 30 'test "$(task_json "$inst" "$slow" state)" = running'
kill -STOP "$dpid"
start=$(date +%s%N)
run T cancel --timeout 0.5 "$slow"
ms=$((($(date +%s%N) - start) / 1000000))
kill -CONT "$dpid"
tap_like "$RUN_STATUS:$RUN_ERR" "^4:.*task $slow: cancel recorded; still running after 0.5 s" \
	"cancel --timeout 0.5 of a task that does not end in time: exit 4, saying so"
tap_ok "$([ "$ms" -lt 5000 ]; echo $?)" "after its timeout, not the default 10 s ($ms ms)"
wait_until 30 'test "$(task_json "$inst" "$slow" state)" = cancelled'
tap_ok $? "the recorded cancel ends it once the supervisor runs"
run T cancel --timeout soon "$slow"
tap_like "$RUN_STATUS:$RUN_ERR" "^2:.*--timeout" "a bad --timeout is refused naming the option"

# ---- the run timeout counts from when a task really starts ---------------------------------
# After a stream of quick tasks the worker takes the next ones in one batch. The second
# task here waits 1.5 s behind the first (one worker; handed back to the queue, it is
# taken again afterwards); its 2 s run timeout must count from when it starts, not from
# when it was first taken.
run T map echo $(seq 1 500)
tap_is "$RUN_STATUS" 0 "a stream of 500 quick tasks"
run T map --timeout 60 --run-timeout 2 --attempts 1 spin 1500 1000
tap_is "$RUN_STATUS" 0 "spin 1500 and spin 1000 in one batch, run timeout 2 s: both done"
tap_is "$(T list --json | jq -c '[.[] | select(.type == "spin")] | .[:2] | map(.state)')" \
	'["done","done"]' "neither timed out"

# ---- cancel a task taken in the worker's batch behind a slow one ---------------------------
# The second task is taken with the first, but the worker hands it back to the queue before
# the first (not known to be quick) starts: it waits queued, and a cancel ends it at once,
# without stopping the worker.
run T map echo $(seq 1 500)
restarts=$(status_json "$inst" | jq -r '.workers[0].restarts')
tr_bg "$TR" -i "$inst" map --timeout 60 spin 1500 1 >/dev/null 2>&1
mapper=$TR_BG_PID
spins() { T list --json | jq -c '[.[] | select(.type == "spin")] | .[:2] | reverse'; }
wait_until 30 '[ "$(spins | jq -r "map(.state) | join(\",\")")" = running,queued ]'
tap_ok $? "spin 1500 runs; spin 1, taken with it, was handed back and waits queued" ||
	tap_diag "$(spins)"
second=$(spins | jq -r '.[1].id')
run T cancel "$second"
tap_is "$RUN_STATUS" 0 "cancel the second while the first runs"
tap_is "$(task_json "$inst" "$second" state)" cancelled "it ends cancelled at once"
wait "$mapper"
tap_is "$(spins | jq -c 'map(.state)')" '["done","cancelled"]' \
	"the first finishes, the second stays cancelled"
tap_is "$(task_json "$inst" "$second" error)" "cancelled before it ran" "without running"
tap_is "$(status_json "$inst" | jq -r '.workers[0].restarts')" "$restarts" \
	"and the worker was not stopped for it"

stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"
done_testing
