#!/bin/bash
# chaos-supervisor.t - the chaos suite, part 3 (issue 6): the supervisor SIGKILLed
# repeatedly under load and started again each time (by `taskring stress
# --daemon-cmd`, as systemd would). Proves: tasks queued or running at each kill
# survive it (the new supervisor adopts the segment: queued ones stay queued, running
# ones are requeued uncharged), nothing accepted is lost, every result is right, and
# the workers come back every time. A backlog of 2 s CPU tasks submitted before the
# run is still in the queue at the kills and must all complete afterwards.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/chaos-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
chaos_config "$TR_TMP/chaos.yaml"
log=$TR_TMP/daemon-restarts.log
# The daemons stress starts are not ours: stop whichever is current at exit.
tr_on_exit kill_current_daemon "$inst"
start_daemon "$inst" -c "$TR_TMP/chaos.yaml"
tap_ok $? "taskringd started"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"
first=$(daemon_pid "$inst")
disown "$first" 2>/dev/null # its death by our kill is expected: no job report
firstw=$(status_json "$inst" | jq -r '.workers[].pid' | tr '\n' ' ')

# A backlog that outlives several restarts: 12 x 1 s of CPU on 2 workers.
backlog=$(for i in $(seq 1 12); do T submit --attempts 1 spin 1000; done | tr '\n' ' ')
tap_is "$(echo $backlog | wc -w)" 12 "a backlog of 12 spin tasks submitted (1 attempt each: a charged retry would fail them)"

stress "$inst" --duration 15 --kill-every 1000-1500 --target supervisor --signal KILL \
	--daemon-cmd "exec '$TRD' -i '$inst' -c '$TR_TMP/chaos.yaml' >>'$log' 2>&1"
stress_checks "supervisor SIGKILLed every 1-1.5 s"
tap_ok "$([ "$(sj .kills.supervisor)" -ge 4 ] 2>/dev/null; echo $?)" \
	"the supervisor was killed $(sj .kills.supervisor) times"
tap_is "$(sj .supervisor_restart_ms.count)" "$(sj .kills.supervisor)" \
	"and started again each time, all workers ready (p50 $(sj .supervisor_restart_ms.p50) ms, max $(sj .supervisor_restart_ms.max) ms)"
tap_is "$(sj .kills.supervisor_with_tasks_queued)" "$(sj .kills.supervisor)" \
	"every kill found tasks queued or running ($(sj .kills.tasks_queued_at_supervisor_kills) in all)"
tap_is "$(grep -c 'adopted /dev/shm/taskring' "$log")" "$(sj .kills.supervisor)" \
	"every new supervisor adopted the segment (its log says so)"

run T wait --timeout 120 $backlog
tap_is "$RUN_STATUS" 0 "the backlog queued before the kills completed"
tap_is "$(for id in $backlog; do task_json "$inst" "$id" attempts; done | sort -u | tr '\n' ' ')" "1 " \
	"each in one charged attempt (requeues after a supervisor death are not charged)"
now=$(current_daemon "$inst")
tap_ok "$([ -n "$now" ] && [ "$now" != "$first" ]; echo $?)" "a new supervisor runs (pid $now, was $first)"
left=""
for p in $firstw; do _tr_alive "$p" && left="$left $p"; done
tap_is "$left" "" "no worker of the first supervisor ($firstw) is left"

kill_current_daemon "$inst"
tap_is "$(current_daemon "$inst")" "" "the last supervisor stopped"
done_testing
