#!/bin/bash
# chaos-workers.t - the chaos suite, part 1 (issue 6): `taskring stress` for 20 s
# killing workers every 10-50 ms with SIGKILL, with poison (crash) tasks in the mix.
# Proves: while workers die at that pace, every accepted task reaches a final state
# with the right result (at-least-once: some run twice), only the poison tasks fail
# and each names the signal, every killed worker is replaced, no client call waits
# past its deadline, and the segment's invariant checker passes afterwards. Then a run
# with one attempt per task shows the checks fail (exit 1) when tasks do.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/chaos-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
ulimit -c 0 # crash tasks must not leave core files behind

inst=$(tr_instance)
chaos_config "$TR_TMP/chaos.yaml"
start_daemon "$inst" -c "$TR_TMP/chaos.yaml"
tap_ok $? "taskringd started (2 workers, restarts never counted as early deaths)"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"

stress "$inst" --duration 20 --kill-every 10-50 --signal KILL --min-uptime 0 \
	--mix cpu,io,poison --poison-every 500
stress_checks "SIGKILL every 10-50 ms for 20 s"
tap_ok "$([ "$(sj .kills.workers)" -ge 50 ] 2>/dev/null; echo $?)" \
	"workers were killed many times ($(sj .kills.workers))"
tap_is "$(sj '.replacement_ms.count')" "$(sj .kills.workers)" \
	"every kill was followed by a ready replacement (p50 $(sj .replacement_ms.p50) ms, p99 $(sj .replacement_ms.p99) ms)"
tap_ok "$([ "$(sj .worker_restarts)" -ge "$(sj .kills.workers)" ] 2>/dev/null; echo $?)" \
	"the daemon counted at least as many restarts ($(sj .worker_restarts))"
tap_ok "$([ "$(sj .poison.submitted)" -ge 5 ] && [ "$(sj .poison.failed_with_signal)" = "$(sj .poison.submitted)" ]; echo $?)" \
	"every poison task ($(sj .poison.submitted)) failed with a cause naming the signal"
tap_is "$(sj .failed)" "$(sj .poison.failed_with_signal)" "no other task failed"

# The checks can fail: with one attempt per task, a kill charges the task it hits,
# which then fails for good - stress must say so and exit 1.
stress "$inst" --duration 4 --kill-every 10-30 --signal KILL --min-uptime 0 --mix cpu \
	--attempts 1
tap_ok "$([ "$STRESS_STATUS" = 1 ] && [ "$(sj .pass)" = false ] && [ "$(sj .unexpected_failures)" -ge 1 ]; echo $?)" \
	"with --attempts 1 the killed tasks fail and stress reports it: exit $STRESS_STATUS, $(sj .unexpected_failures) unexpected failures"
tap_like "$(sj '.notes[0]')" 'killed by signal 9 \(SIGKILL\) on attempt 1 of 1' "its note names the cause"

log=$(daemon_log "$inst")
! grep -q "giving up" "$log"
tap_ok $? "the daemon never gave up"
_tr_alive "$(daemon_pid "$inst")"
tap_ok $? "the daemon is still running"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"
done_testing
