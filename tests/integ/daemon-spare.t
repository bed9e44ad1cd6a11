#!/bin/bash
# daemon-spare.t - the spare worker (daemon/pool.c, worker/worker.c), on with
# restart.spare_worker (default true): once every worker is ready, the
# supervisor forks one more worker that sets itself up but for its slot and
# waits. A dead worker's slot goes to it instead of a fork.
# Proves: the key defaults to true; the spare is there and unpinned; a
# SIGKILLed worker's replacement is that very process, with the worker's title,
# its CPU pin on both threads, and it runs cpu and io tasks; a new spare
# follows; a spare that dies unused is logged and replaced; a stopped spare is
# dropped, not handed a slot; a reload drops the spare (it has the old
# configuration) and forks a new one; a reload to
# spare_worker: false drops it for good and one back to true brings a new one;
# nothing of it is left after the daemon stops. With spare_worker: false from
# the start there is no spare and a dead worker is replaced by a fork.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v ps >/dev/null || tap_skip_all "ps missing"

T() { "$TR" -i "$inst" "$@"; }

# spare_pid: the daemon's child titled "taskring: spare worker", which a spare
# takes once it is set up and waiting (empty: none)
spare_pid() {
	ps -o pid=,args= --ppid "$(daemon_pid "$inst")" 2>/dev/null |
		awk '$2 == "taskring:" && $3 == "spare" { print $1; exit }'
}

# new_spare OLD: true once there is a spare other than pid OLD
new_spare() {
	local p
	p=$(spare_pid)
	[ -n "$p" ] && [ "$p" != "$1" ]
}



run "$TRD" --print-config
tap_like "$RUN_STATUS:$RUN_OUT" "^0:.*restart:.*  spare_worker: true" \
	"--print-config: restart.spare_worker defaults to true"

# cfg FILE true|false: a 2-worker configuration with restart.spare_worker set
cfg() {
	write_config "$1" "workers: 2" "restart:" "  min_uptime_ms: 0" "  backoff_ms: 50" \
		"  spare_worker: $2"
}

inst=$(tr_instance)
cfg "$TR_TMP/d.yaml" true
start_daemon "$inst" -c "$TR_TMP/d.yaml"
tap_ok $? "taskringd started (2 workers)"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"
wait_until 30 'test -n "$(spare_pid)"'
tap_ok $? "a spare worker is forked once the workers are ready"
spare=$(spare_pid)
all=$(allowed_cpus "$(daemon_pid "$inst")")
tap_is "$(allowed_cpus "$spare")" "$all" "the spare is not pinned yet (Cpus_allowed_list $all)"

old=$(worker_pid "$inst" 0)
cpu=$(worker_cpu "$inst" 0)
kill -KILL "$old"
wait_until 30 'p=$(worker_pid "$inst" 0); [ "$p" != "$old" ] && [ "$(nready "$inst")" = 2 ]'
tap_ok $? "worker 0 (pid $old) SIGKILLed: a replacement is ready"
new=$(worker_pid "$inst" 0)
tap_is "$new" "$spare" "the replacement is the spare (pid $spare), not a new fork"
tap_is "$(ps -o args= -p "$new")" "taskring: worker 0 cpu $cpu" "it took the worker's title"
tap_is "$(allowed_cpus "$new")" "$cpu" "its main thread is pinned to cpu $cpu"
iot=""
for t in /proc/"$new"/task/*; do
	[ "$(cat "$t/comm" 2>/dev/null)" = tr-io-0 ] && iot=${t##*/}
done
tap_ok "$([ -n "$iot" ]; echo $?)" "its io thread is named tr-io-0"
tap_is "$(allowed_cpus "$iot")" "$cpu" "its io thread is pinned to cpu $cpu too"
tap_is "$(res echo hello spare)" "done|hello spare" "a cpu task runs"
tap_is "$(res sleep 10)" "done|" "an io task runs"
wait_until 30 'new_spare "$spare"'
tap_ok $? "a new spare follows"

# A spare that dies unused: logged, and another one is forked after a backoff.
spare=$(spare_pid)
kill -KILL "$spare"
wait_until 30 'new_spare "$spare"'
tap_ok $? "a spare killed while it waits is replaced"
grep -q "spare worker (pid $spare) killed by signal 9 (SIGKILL) before it was needed" \
	"$(daemon_log "$inst")"
tap_ok $? "its death is logged with the signal"
tap_is "$(nready "$inst")" 2 "the workers were not disturbed"

# A spare stopped (SIGSTOP) while it waits is not handed a slot: that worker
# would stay down until the health checks find it stopped (about 10 s here).
spare=$(spare_pid)
kill -STOP "$spare"
old=$(worker_pid "$inst" 0)
T kill-worker 0 >/dev/null
wait_until 3 'p=$(worker_pid "$inst" 0); [ "$p" != null ] && [ "$p" != "$old" ] &&
	test "$(status_json "$inst" | jq -r ".workers[0].state")" = ready'
tap_ok $? "with the spare stopped, a SIGKILLed worker is ready again within 3 s"
tap_ok "$([ "$(worker_pid "$inst" 0)" != "$spare" ]; echo $?)" "by a fork, not the stopped spare"
wait_until 10 '! _tr_alive "$spare"'
tap_ok $? "the stopped spare (pid $spare) is dropped"
wait_until 30 'new_spare "$spare"'
tap_ok $? "and a new one follows"

# A reload drops the spare: it has the old configuration.
spare=$(spare_pid)
kill -HUP "$(daemon_pid "$inst")"
wait_until 30 '! _tr_alive "$spare"'
tap_ok $? "SIGHUP: the old spare (pid $spare) is gone"
wait_until 30 'new_spare "$spare"'
tap_ok $? "and a new one is forked"
! grep -q "spare worker (pid $spare)" "$(daemon_log "$inst")"
tap_ok $? "dropping it is not logged as a death"
# Reloads in quick succession drop spares that have not said hello yet: the
# supervisor's end is closed before it reads it (the spare sees a reset).
dpid=$(daemon_pid "$inst")
for i in $(seq 1 15); do
	kill -HUP "$dpid"
	sleep 0.02
done
wait_until 30 'test -n "$(spare_pid)" -a "$(nready "$inst")" = 2'
tap_ok $? "15 reloads 20 ms apart: the workers and a spare are there"
! grep -q "bad assignment" "$(daemon_log "$inst")"
tap_ok $? "no spare dropped on the way logged an error" ||
	tap_diag "$(grep "bad assignment" "$(daemon_log "$inst")" | head -3)"

# A reload to spare_worker: false drops the spare and forks none; one back to
# true forks a new one.
spare=$(spare_pid)
cfg "$TR_TMP/d.yaml" false
run T reload
tap_is "$RUN_STATUS" 0 "taskring reload to spare_worker: false succeeds"
wait_until 30 '! _tr_alive "$spare"'
tap_ok $? "the spare (pid $spare) is gone"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"
sleep 1
tap_is "$(spare_pid)" "" "no new spare after 1 s"
old=$(worker_pid "$inst" 1)
kids=$(ps -o pid= --ppid "$(daemon_pid "$inst")" | tr -d ' ' | sort | tr '\n' ' ')
kill -KILL "$old"
wait_until 30 'p=$(worker_pid "$inst" 1); [ "$p" != "$old" ] && [ "$(nready "$inst")" = 2 ]'
tap_ok $? "a SIGKILLed worker is still replaced"
new=$(worker_pid "$inst" 1)
case " $kids " in
*" $new "*) tap_ok 1 "its replacement (pid $new) is a new fork (it was a child already)" ;;
*) tap_ok 0 "its replacement (pid $new) is a new fork" ;;
esac
cfg "$TR_TMP/d.yaml" true
run T reload
tap_is "$RUN_STATUS" 0 "taskring reload back to spare_worker: true succeeds"
wait_until 30 'test -n "$(spare_pid)"'
tap_ok $? "a spare worker is forked again"

spare=$(spare_pid)
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "SIGTERM: exit status 0"
wait_until 10 '! _tr_alive "$spare"'
tap_ok $? "the spare is gone with the daemon"

# Off from the start: no spare, the replacement is a new fork.
inst=$(tr_instance)
cfg "$TR_TMP/off.yaml" false
start_daemon "$inst" -c "$TR_TMP/off.yaml"
tap_ok $? "taskringd started with restart.spare_worker: false"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"
sleep 1
tap_is "$(spare_pid)" "" "no spare worker"
tap_is "$(ps -o pid= --ppid "$(daemon_pid "$inst")" | wc -l)" 2 "the daemon has 2 children"
old=$(worker_pid "$inst" 1)
kill -KILL "$old"
wait_until 30 'p=$(worker_pid "$inst" 1); [ "$p" != "$old" ] && [ "$(nready "$inst")" = 2 ]'
tap_ok $? "a SIGKILLed worker is still replaced"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "SIGTERM: exit status 0"
done_testing
