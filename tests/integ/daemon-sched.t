#!/bin/bash
# daemon-sched.t - workers_sched (worker/worker.c, daemon/pool.c): each
# worker's main thread, which runs the cpu tasks, gets the configured
# scheduling policy (default batch, SCHED_BATCH); its I/O thread stays
# SCHED_OTHER, and so do the supervisor and the programs of exec tasks.
# Proves: the key defaults to batch; workers started with it run their main
# thread as SCHED_BATCH and their io thread as SCHED_OTHER; a spare that takes
# a dead worker's slot sets it too; a reload switches the running workers
# (same processes) to normal and back; `normal` from the start gives
# SCHED_OTHER; tasks run under both.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"

T() { "$TR" -i "$inst" "$@"; }

# policy TID: the scheduling policy number of thread TID (field 41 of its
# stat file: 0 SCHED_OTHER, 3 SCHED_BATCH), counted after the ") " that ends
# the command name
policy() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $39 }'
}

# io_tid PID INDEX: the thread of process PID named tr-io-INDEX
io_tid() {
	local t
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "tr-io-$2" ] && echo "${t##*/}"
	done
}

run "$TRD" --print-config
tap_like "$RUN_STATUS:$RUN_OUT" "^0:.*workers_sched: batch" \
	"--print-config: workers_sched defaults to batch"

# cfg FILE batch|normal|-: a 2-worker configuration (-: the key left out)
cfg() {
	local k=()
	[ "$2" = - ] || k=("workers_sched: $2")
	write_config "$1" "workers: 2" "restart:" "  min_uptime_ms: 0" "  backoff_ms: 50" \
		"exec:" "  allowed: [/bin/cat]" "${k[@]}"
}

inst=$(tr_instance)
cfg "$TR_TMP/d.yaml" -
start_daemon "$inst" -c "$TR_TMP/d.yaml"
tap_ok $? "taskringd started (2 workers, workers_sched left out)"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"
for i in 0 1; do
	w=$(worker_pid "$inst" $i)
	tap_is "$(policy "$w")" 3 "worker $i (pid $w): main thread SCHED_BATCH"
	tap_is "$(policy "$(io_tid "$w" $i)")" 0 "worker $i: io thread SCHED_OTHER"
done
tap_is "$(policy "$(daemon_pid "$inst")")" 0 "the supervisor stays SCHED_OTHER"
tap_is "$(res echo batch)" "done|batch" "a cpu task runs"
tap_is "$(res sleep 10)" "done|" "an io task runs"
# An exec task's program (started by the io thread) reports its own policy.
out=$(res exec /bin/cat /proc/self/stat)
tap_is "$(printf '%s\n' "${out#done|}" | sed 's/.*) //' | awk '{ print $39 }')" 0 \
	"an exec task's program runs SCHED_OTHER ($(printf '%.12s' "$out")...)"

old=$(worker_pid "$inst" 0)
kill -KILL "$old"
wait_until 30 'p=$(worker_pid "$inst" 0); [ -n "$p" ] && [ "$p" != "$old" ] && [ "$(nready "$inst")" = 2 ]'
tap_ok $? "worker 0 SIGKILLed: a replacement is ready"
new=$(worker_pid "$inst" 0)
wait_until 10 'test "$(policy "$new")" = 3'
tap_ok $? "its replacement (pid $new) runs SCHED_BATCH"
tap_is "$(policy "$(io_tid "$new" 0)")" 0 "and its io thread SCHED_OTHER"

# A reload switches the running workers, without replacing them.
w0=$(worker_pid "$inst" 0)
w1=$(worker_pid "$inst" 1)
cfg "$TR_TMP/d.yaml" normal
run T reload
tap_is "$RUN_STATUS" 0 "taskring reload to workers_sched: normal succeeds"
wait_until 30 'test "$(policy "$w0")" = 0 && test "$(policy "$w1")" = 0'
tap_ok $? "both running workers are SCHED_OTHER now"
tap_is "$(worker_pid "$inst" 0) $(worker_pid "$inst" 1)" "$w0 $w1" "the same processes"
tap_is "$(res echo normal)" "done|normal" "a cpu task runs"
cfg "$TR_TMP/d.yaml" batch
run T reload
tap_is "$RUN_STATUS" 0 "taskring reload back to workers_sched: batch succeeds"
wait_until 30 'test "$(policy "$w0")" = 3 && test "$(policy "$w1")" = 3'
tap_ok $? "both are SCHED_BATCH again"
tap_is "$(policy "$(io_tid "$w1" 1)")" 0 "worker 1's io thread is still SCHED_OTHER"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "SIGTERM: exit status 0"

# normal from the start
inst=$(tr_instance)
cfg "$TR_TMP/n.yaml" normal
start_daemon "$inst" -c "$TR_TMP/n.yaml"
tap_ok $? "taskringd started with workers_sched: normal"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"
for i in 0 1; do
	tap_is "$(policy "$(worker_pid "$inst" $i)")" 0 "worker $i: main thread SCHED_OTHER"
done
tap_is "$(res echo hi)" "done|hi" "a cpu task runs"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "SIGTERM: exit status 0"
done_testing
