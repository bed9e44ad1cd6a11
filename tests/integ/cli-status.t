#!/bin/bash
# cli-status.t - what `taskring status` (text and --json) says beyond the worker
# table's basics, against real daemons:
#   - the spare worker: its pid, a live child of the daemon (the process titled
#     "taskring: spare worker"), set up and waiting; after it is killed unused,
#     none, backing off, with the time until the next one and the count of
#     spares that died unused; "off" with restart.spare_worker false;
#   - a worker whose restart is held back after an early death: state
#     "backoff", no pid, the time until its restart (JSON restart_in_ms, text
#     "restarting in ...");
#   - taken vs executing: of the running cpu tasks, the one a worker executes
#     and those it took in the same batch that wait for their turn (none behind a
#     long task: the worker hands them back; the split itself is in test_api).
# Deadlines are generous; backoffs are long (30 s) so that no check races them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v ps >/dev/null || tap_skip_all "ps missing"
ulimit -c 0 # the SIGSEGVed worker must not leave a core file behind

T() { "$TR" -i "$inst" "$@"; }
# sj FILTER: jq -r FILTER over status --json
sj() { status_json "$inst" | jq -r "$1"; }
# titled_spare: the daemon's child titled "taskring: spare worker" (empty: none)
titled_spare() {
	ps -o pid=,args= --ppid "$(daemon_pid "$inst")" 2>/dev/null |
		awk '$2 == "taskring:" && $3 == "spare" { print $1; exit }'
}

# ---- the spare, and backoffs ---------------------------------------------------------
# One worker, a spare, 30 s backoffs; every death of a worker that was not
# killed by SIGKILL/SIGTERM within the hour after its start is an early one.
inst=$(tr_instance)
write_config "$TR_TMP/a.yaml" "workers: 1" "restart:" "  min_uptime_ms: 3600000" \
	"  backoff_ms: 30000" "  backoff_max_ms: 30000" "  max_early_exits: 100" \
	"  spare_worker: true" "shutdown_timeout_s: 0"
start_daemon "$inst" -c "$TR_TMP/a.yaml"
tap_ok $? "taskringd started (1 worker, a spare, 30 s backoffs)"
wait_until 60 'test "$(sj .spare.state)" = ready'
tap_ok $? "status --json: spare.state becomes ready" || tap_diag "$(status_json "$inst" | jq -c .spare)"
spare=$(sj .spare.pid)
dpid=$(daemon_pid "$inst")
tap_ok "$([ "$(ps -o ppid= -p "$spare" 2>/dev/null | tr -d ' ')" = "$dpid" ] && _tr_alive "$spare"; echo $?)" \
	"spare.pid $spare is a live child of the daemon (pid $dpid)"
wait_until 30 'test -n "$(titled_spare)"'
tap_is "$(titled_spare)" "$spare" "and it is the process titled 'taskring: spare worker'"
tap_is "$(sj '[.spare.next_in_ms, .spare.died_unused] | @text')" "[null,0]" \
	"no wait and no spare died unused"
run T status
tap_like "$RUN_OUT" $'\nspare: +pid '"$spare"$', set up, waiting to replace a worker\n' \
	"status (text): a spare line with its pid, set up"

# The spare killed while it waits: none, backing off, one died unused.
kill -KILL "$spare"
wait_until 30 'test "$(sj .spare.state)" = backoff'
tap_ok $? "the spare SIGKILLed: spare.state backoff" || tap_diag "$(status_json "$inst" | jq -c .spare)"
st=$(status_json "$inst")
tap_is "$(jq -c '[.spare.pid, .spare.died_unused]' <<<"$st")" "[null,1]" \
	"no pid, and one spare died unused"
jq -e '.spare.next_in_ms > 0 and .spare.next_in_ms <= 30000' <<<"$st" >/dev/null
tap_ok $? "the next is due within the 30 s backoff (next_in_ms $(jq .spare.next_in_ms <<<"$st"))"
run T status
tap_like "$RUN_OUT" $'\nspare: +none: 1 in a row died unused; the next in [0-9]+(s| ms)\n' \
	"status (text): no spare, how many died, and when the next is due"

# An idle worker SIGSEGVed (by hand, as a crash would): an early death, so its
# restart waits 30 s. The record shows that.
old=$(worker_pid "$inst" 0)
kill -SEGV "$old"
wait_until 30 'test "$(sj ".workers[0].state")" = backoff'
tap_ok $? "worker 0 SIGSEGVed: state backoff" || tap_diag "$(status_json "$inst" | jq -c ".workers[0]")"
st=$(status_json "$inst")
tap_is "$(jq -c '.workers[0] | [.pid, .last_exit]' <<<"$st")" '[null,"killed by signal 11 (SIGSEGV)"]' \
	"no pid, the exit that caused it"
jq -e '.workers[0].restart_in_ms > 0 and .workers[0].restart_in_ms <= 30000' <<<"$st" >/dev/null
tap_ok $? "restart_in_ms within the 30 s backoff ($(jq .workers[0].restart_in_ms <<<"$st"))"
run T status
tap_like "$RUN_OUT" $'\n  0 +- +[0-9]+ +backoff +- .*killed by signal 11 \\(SIGSEGV\\); restarting in [0-9]+(s| ms)\n' \
	"status (text): the worker row says backoff and when it restarts"
tap_like "$(cat "$(daemon_log "$inst")")" "worker 0 died early \\(1 in a row\\): restarting in 30000 ms" \
	"as the daemon logged"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "the daemon stops cleanly while a worker backs off"

# ---- taken vs executing ----------------------------------------------------------------
# One worker, no spare. A quick task first makes the worker take its next tasks
# two at a time (batches grow while tasks are quick); then four long cpu sleeps
# queued at once: it takes two, and before it starts the first (not known to be
# quick) hands the other back, so 1 executes, none waits in the worker, 3 are queued.
inst=$(tr_instance)
write_config "$TR_TMP/b.yaml" "workers: 1" "restart:" "  spare_worker: false" \
	"shutdown_timeout_s: 0" "tasks:" "  kill_grace_ms: 200"
start_daemon "$inst" -c "$TR_TMP/b.yaml"
tap_ok $? "taskringd started (1 worker, no spare)"
wait_until 60 'test "$(nready "$inst")" = 1'
tap_is "$(sj '[.spare.pid, .spare.state, .spare.next_in_ms] | @text')" '[null,"off",null]' \
	"status --json: spare off"
run T status
tap_like "$RUN_OUT" $'\nspare: +off \\(restart.spare_worker is false\\)\n' "status (text): spare off"
tap_like "$RUN_OUT" $'\nqueues: +cpu 0 queued, 0 running; io 0 queued, 0 running\n' \
	"status (text): nothing running, no executing/waiting detail"
run T submit --wait echo warm
tap_is "$RUN_STATUS:$RUN_OUT" "0:warm" "a quick task ran"
tr_bg "$TR" -i "$inst" map --class cpu sleep 600000 600000 600000 600000 2>/dev/null
mapper=$TR_BG_PID
taken() {
	st=$(status_json "$inst")
	jq -e '.queues.cpu | .executing == 1 and .waiting == 0 and .running == 1 and .queued == 3' \
		<<<"$st" >/dev/null
}
wait_until 60 taken
tap_ok $? "4 long cpu tasks: 1 executing, none waiting in the worker, 3 queued: $(jq -c .queues.cpu <<<"$st")"
tap_is "$(jq -c '.queues.io' <<<"$st")" '{"queued":0,"running":0,"executing":0,"waiting":0}' \
	"io: nothing (executing and waiting are 0 with nothing running)"
run T status
tap_like "$RUN_OUT" $'\nqueues: +cpu 3 queued, 1 running \\(1 executing, 0 waiting in a worker\\); io 0 queued, 0 running\n' \
	"status (text): running splits into executing and waiting in a worker"
kill -TERM "$mapper" 2>/dev/null # it cancels its tasks
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "the daemon stops cleanly"

# ---- a daemon that is stopping: no more spares, whatever the file says ----------------
inst=$(tr_instance)
write_config "$TR_TMP/c.yaml" "workers: 1" "restart:" "  spare_worker: true" "shutdown_timeout_s: 120"
start_daemon "$inst" -c "$TR_TMP/c.yaml"
tap_ok $? "taskringd started (1 worker, a spare, 120 s to finish tasks at a stop)"
wait_until 60 'test "$(sj .spare.state)" = ready'
tap_ok $? "its spare is set up"
long=$(T submit --class cpu sleep 600000)
wait_until 60 'test "$(task_json "$inst" "$long" state)" = running'
tap_ok $? "a long task runs"
kill -TERM "$(daemon_pid "$inst")"
wait_until 60 'test "$(sj .spare.state)" = stopping'
tap_ok $? "SIGTERM: while its task finishes, spare.state is stopping (not off)" ||
	tap_diag "$(status_json "$inst" | jq -c .spare)"
run T status
tap_like "$RUN_OUT" $'\nspare: +none: the daemon is stopping\n' "status (text): no spare: the daemon is stopping"
T cancel "$long" >/dev/null 2>&1
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "the daemon stops once the task is cancelled"

done_testing
