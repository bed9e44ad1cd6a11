#!/bin/bash
# daemon-roll-backoff.t - a worker that dies early (restart after restart.backoff_ms)
# while a reload waits for a retiring worker to finish its task is restarted after
# its backoff, not at the next health check: the retiring worker holds no restart back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
cfg=$TR_TMP/taskring.yaml
log=$(daemon_log "$inst")
# min_uptime_ms: a worker killed by SIGSEGV counts as an early death (backoff_ms).
conf=("workers: 2" "shutdown_timeout_s: 60" "restart:" "  min_uptime_ms: 600000"
	"  backoff_ms: 100")
write_config "$cfg" "${conf[@]}" "tasks:" "  coalesce_us: 30"
start_daemon "$inst" -c "$cfg"
tap_ok $? "taskringd started with 2 workers"
wait_until 30 'test "$(nready "$inst")" = 2'
tap_ok $? "both workers ready"

task=$(T submit --class cpu sleep 60000)
wait_until 30 'test "$(task_json "$inst" "$task" state)" = running'
tap_ok $? "a long cpu task runs"
busy=$(task_json "$inst" "$task" worker)
other=$((1 - busy))

# A changed key the workers read at start: each is restarted in turn; the busy one
# retires, finishing its task for up to shutdown_timeout_s.
write_config "$cfg" "${conf[@]}" "tasks:" "  coalesce_us: 40"
kill -HUP "$(daemon_pid "$inst")"
wait_until 30 'test "$(status_json "$inst" | jq -r ".workers[$busy].state"):$(status_json "$inst" |
	jq -r ".workers[$other].state")" = stopping:ready'
tap_ok $? "worker $busy retires with its task while worker $other is ready"

opid=$(worker_pid "$inst" "$other")
T kill-worker --signal SEGV "$other" >/dev/null
wait_until 30 'grep -q "worker $other died early (1 in a row): restarting in 100 ms" "$log"'
tap_ok $? "worker $other died early: restart after a 100 ms backoff"
t0=$SECONDS
wait_until 10 'p=$(worker_pid "$inst" "$other"); [ "$p" != null ] && [ "$p" != "$opid" ] &&
	test "$(status_json "$inst" | jq -r ".workers[$other].state")" = ready'
tap_ok $? "worker $other is back"
# Without its timer it came back at the supervisor's next periodic look, 5 s later
# (measured 5 s against 0-1 s with it).
tap_ok "$([ $((SECONDS - t0)) -le 3 ]; echo $?)" \
	"within 3 s of its death, not at the next periodic look ($((SECONDS - t0)) s)"

T cancel "$task" >/dev/null 2>&1
wait_until 30 'grep -q "reload complete: 2 workers" "$log"'
tap_ok $? "the reload completes once the retiring worker's task is cancelled"
stop_daemon "$inst"
tap_is "$TR_DAEMON_STATUS" 0 "SIGTERM stops the daemon (exit status 0)"
done_testing
