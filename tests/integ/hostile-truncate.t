#!/bin/bash
# hostile-truncate.t - a worker that touches a segment another process shrank.
# 1. A worker finishing a task after the object was shrunk with ftruncate faults
#    (SIGBUS) on the page it writes. Proves: the worker says so itself, in one log
#    line naming the segment and the offset, and exits with status 3 instead of
#    dying silently by the signal; the supervisor names that exit's cause and stops
#    (exit 1) instead of replacing workers that would only fault again, and no
#    worker is left behind.
# 2. A SIGBUS that is not a fault in the segment keeps its default action: a worker
#    sent SIGBUS dies by the signal as before and is replaced, and the daemon runs
#    on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v truncate >/dev/null 2>&1 || tap_skip_all "truncate(1) not installed"

# ---- 1. a worker faults on the shrunk segment -------------------------------------
inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
# Health checks (and heartbeats) rarely, no spare: the worker finishing its task
# is the first process to touch a page past the new end, not the supervisor.
write_config "$TR_TMP/t.yaml" "workers: 1" "workers_heartbeat_s: 60" "restart:" \
	"  spare_worker: false"
start_daemon "$inst" -c "$TR_TMP/t.yaml"
tap_ok $? "taskringd started"
wait_until 60 'test "$(nready "$inst")" = 1'
pid=$(daemon_pid "$inst")
wpid=$(worker_pid "$inst" 0)
log=$(daemon_log "$inst")
id=$(T submit spin 1500)
wait_until 30 'test "$(task_json "$inst" "$id" state)" = running'
tap_ok $? "worker 0 (pid $wpid) runs task $id (1.5 s of CPU)"
size=$(stat -c %s "/dev/shm/taskring.$inst")
truncate -s 4096 "/dev/shm/taskring.$inst"
tap_ok $? "shrank /dev/shm/taskring.$inst from $size to 4096 bytes"
wait_until 30 '! _tr_alive $pid'
tap_ok $? "the daemon did not go on with memory it no longer has"
stop_daemon "$inst" KILL 5
tap_is "$TR_DAEMON_STATUS" 1 "it exited with status 1"
re="taskringd/$inst\[$wpid\]: error: worker 0: segment /dev/shm/taskring.$inst was truncated by another process \(SIGBUS at offset [0-9]+ of the $size bytes mapped\): exiting$"
grep -Eq "$re" "$log"
tap_ok $? "the worker said why in one line of its own" || tap_diag_file "$log"
tap_diag "$(grep truncated "$log")"
# The line has the log's shape: the local time with milliseconds first.
grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{2}:[0-9]{2} $re" "$log"
tap_ok $? "with a time stamp as every log line"
off=$(sed -En "s/.*worker 0: segment .* \(SIGBUS at offset ([0-9]+) of .*/\1/p" "$log")
tap_ok "$([ -n "$off" ] && [ "$off" -ge 4096 ] && [ "$off" -lt "$size" ]; echo $?)" \
	"the offset ($off) lies past the new end and inside the mapping"
grep -q "worker 0 (pid $wpid) exited with status 3 (SIGBUS in the segment, 4096 of $size bytes left): segment /dev/shm/taskring.$inst was truncated by another process: exiting" "$log"
tap_ok $? "the supervisor names the worker's exit and its cause, and stops" || tap_diag_file "$log"
tap_is "$(grep -c 'killed by signal 7' "$log")" 0 "no death by SIGBUS is reported"
tap_is "$(grep -c 'ready on cpu' "$log")" 1 "no worker was started after the truncation (no crash loop)"
wait_until 10 '! _tr_alive $wpid'
tap_ok $? "no worker is left behind"

# ---- 2. a SIGBUS that is not a fault in the segment --------------------------------
inst=$(tr_instance)
write_config "$TR_TMP/k.yaml" "workers: 1"
start_daemon "$inst" -c "$TR_TMP/k.yaml"
tap_ok $? "taskringd started"
wait_until 60 'test "$(nready "$inst")" = 1'
wpid=$(worker_pid "$inst" 0)
log=$(daemon_log "$inst")
run T kill-worker --signal BUS 0
tap_is "$RUN_STATUS:$RUN_OUT" "0:$wpid" "sent SIGBUS to worker 0 (pid $wpid)"
wait_until 30 'grep -q "worker 0 (pid $wpid, cpu [0-9]*) killed by signal 7 (SIGBUS)" "$log"'
tap_ok $? "it died by the signal, as before the handler" || tap_diag_file "$log"
tap_is "$(grep -c 'was truncated' "$log")" 0 "and nothing speaks of a truncation"
wait_until 30 'test "$(nready "$inst")" = 1 && test "$(worker_pid "$inst" 0)" != "$wpid"'
tap_ok $? "it was replaced"
run T submit --wait echo on
tap_is "$RUN_STATUS:$RUN_OUT" "0:on" "and the daemon serves on"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"
done_testing
