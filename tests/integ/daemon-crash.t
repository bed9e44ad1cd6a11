#!/bin/bash
# daemon-crash.t - worker deaths (issue 3, acceptance 3, and the restart rules):
# a worker SIGKILLed while it runs a `spin` task is replaced in the same slot on the
# same CPU and the task completes on its next attempt; a `crash` task ends `failed`
# after max_attempts with a cause naming the signal while the tasks around it
# complete, and the daemon logs that it failed for good; a stopped worker is replaced;
# too many early deaths make the daemon give up with exit 1, while
# killing healthy workers by hand never does, and neither do deaths charged to crashing tasks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
ulimit -c 0 # crash tasks must not leave core files behind

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
start_daemon "$inst"
tap_ok $? "taskringd started"
ncpu=$(usable_cpus | wc -w)
wait_until 30 'test "$(nready "$inst")" = "$ncpu"'
tap_ok $? "$ncpu workers ready"

# ---- SIGKILL a worker in the middle of a spin task -------------------------------
id=$(T submit spin 8000) # long enough to be killed mid-run on a loaded machine
# Wait until a worker executes it (its record's task), reading that worker's index,
# pid and CPU from the same status, and kill it right away.
executing() {
	read -r w old cpu < <(status_json "$inst" |
		jq -r --argjson id "$id" '.workers[] | select(.task == $id) | "\(.index) \(.pid) \(.cpu)"')
	[ -n "${w:-}" ]
}
wait_until 30 'executing'
tap_ok $? "spin task $id is running on worker ${w:-?}"
run T kill-worker "$w"
tap_is "$RUN_STATUS:$RUN_OUT" "0:$old" "kill-worker $w hit pid $old"
replaced() {
	local p
	p=$(worker_pid "$inst" "$w")
	[ -n "$p" ] && [ "$p" != null ] && [ "$p" != 0 ] && [ "$p" != "$old" ]
}
wait_until 30 'replaced'
tap_ok $? "worker $w has a new process"
new=$(worker_pid "$inst" "$w")
tap_is "$(worker_cpu "$inst" "$w")" "$cpu" "the new worker $w is on the same CPU ($cpu)"
tap_is "$(allowed_cpus "$new")" "$cpu" "and pinned there"
tap_is "$(status_json "$inst" | jq -r ".workers[$w].last_exit")" "killed by signal 9 (SIGKILL)" \
	"its record names the old process's exit"
tap_is "$(status_json "$inst" | jq -r ".workers[$w].restarts")" 1 "and counts one restart"
run T wait --timeout 60 "$id"
tap_is "$RUN_STATUS" 0 "the spin task completes"
tap_is "$(task_json "$inst" "$id" attempts)" 2 "on its second attempt (the killed one was charged)"
tap_like "$(cat "$(daemon_log "$inst")")" "worker $w \\(pid $old, cpu $cpu\\) killed by signal 9 \\(SIGKILL\\).*task $id charged" \
	"the log names the worker, pid, cause and charged task"

# ---- a poison task among healthy ones ---------------------------------------------
ids=()
for i in $(seq 1 10); do ids+=("$(T submit echo before "$i")"); done
crash=$(T submit --attempts 3 crash)
abrt=$(T submit --attempts 2 crash SIGABRT)
for i in $(seq 1 10); do ids+=("$(T submit echo after "$i")"); done
run T wait --timeout 120 "${ids[@]}"
want=$( (for i in $(seq 1 10); do echo "before $i"; done; for i in $(seq 1 10); do echo "after $i"; done))
tap_is "$RUN_STATUS:$RUN_OUT" "0:$want" "the 20 echo tasks around the crash tasks all complete"
run T wait --timeout 120 "$crash"
tap_is "$RUN_STATUS" 1 "the crash task fails"
tap_is "$(task_json "$inst" "$crash" state)" failed "its state is failed"
tap_like "$(task_json "$inst" "$crash" error)" \
	'^worker [0-9]+ \(pid [0-9]+\) killed by signal 11 \(SIGSEGV\)(, core dumped)? on attempt 3 of 3$' \
	"its error names the worker, the signal and the attempts"
# The line follows the wake-up of the waiting client: give it a moment.
failed_re="task $crash failed after 3 of 3 attempts: worker [0-9]+ \\(pid [0-9]+\\) killed by signal 11 \\(SIGSEGV\\)"
wait_until 10 'grep -Eq "$failed_re" "$(daemon_log "$inst")"'
tap_ok $? "the daemon log says the crash task failed for good, and why"
run T wait --timeout 120 "$abrt"
tap_like "$(task_json "$inst" "$abrt" error)" \
	'killed by signal 6 \(SIGABRT\)(, core dumped)? on attempt 2 of 2$' "crash SIGABRT: the cause names SIGABRT"
wait_until 30 'test "$(nready "$inst")" = "$ncpu"'
tap_ok $? "all $ncpu workers are back"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"

# ---- a stopped worker is noticed and replaced; its task is not charged --------------
inst=$(tr_instance)
write_config "$TR_TMP/hb.yaml" "workers: 1" "workers_heartbeat_s: 2"
start_daemon "$inst" -c "$TR_TMP/hb.yaml"
wait_until 30 'test "$(nready "$inst")" = 1'
id=$(T submit spin 1000)
wait_until 30 'test "$(task_json "$inst" "$id" state)" = running'
old=$(worker_pid "$inst" 0)
kill -STOP "$old"
tap_is "$(status_json "$inst" | jq -r '.workers[0].state')" stopped \
	"status shows the SIGSTOPped worker as stopped, not busy"
wait_until 60 'test "$(worker_pid "$inst" 0)" != "$old" -a "$(nready "$inst")" = 1'
tap_ok $? "a SIGSTOPped worker is replaced"
tap_like "$(cat "$(daemon_log "$inst")")" "worker 0 \\(pid $old\\) is stopped \\(state T\\) for 2 checks: killing and replacing it" \
	"the log says why"
run T wait --timeout 60 "$id"
tap_is "$RUN_STATUS:$(task_json "$inst" "$id" attempts)" "0:1" \
	"its task completed on the new worker, the interrupted attempt not charged"
stop_daemon "$inst" TERM

# ---- killing healthy workers by hand never trips the early-exit limit ---------------
inst=$(tr_instance)
write_config "$TR_TMP/strict.yaml" "workers: 1" "restart:" "  min_uptime_ms: 200" \
	"  max_early_exits: 0"
start_daemon "$inst" -c "$TR_TMP/strict.yaml"
wait_until 30 'test "$(nready "$inst")" = 1'
killed=0
for k in 1 2 3 4 5; do
	sleep 0.5 # up for longer than min_uptime_ms: healthy
	p=$(worker_pid "$inst" 0)
	T kill-worker 0 >/dev/null && killed=$((killed + 1))
	wait_until 30 'test "$(worker_pid "$inst" 0)" != "$p" -a "$(nready "$inst")" = 1'
done
tap_is "$killed" 5 "killed the healthy worker 5 times"
_tr_alive "$(daemon_pid "$inst")"
alive=$?
tap_ok $alive "the daemon still runs (max_early_exits 0, yet no early death)"
[ $alive = 0 ] || tap_diag_file "$(daemon_log "$inst")"
tap_is "$(status_json "$inst" | jq -r '.workers[0].restarts')" 5 "the worker was restarted 5 times"
stop_daemon "$inst" TERM

# ---- deaths charged to crashing tasks are the tasks' doing, not early exits ----------
# (the same strict configuration as the give-up test below)
inst=$(tr_instance)
write_config "$TR_TMP/giveup.yaml" "workers: 1" "restart:" "  min_uptime_ms: 60000" \
	"  max_early_exits: 2" "  backoff_ms: 10" "  backoff_max_ms: 50"
start_daemon "$inst" -c "$TR_TMP/giveup.yaml"
wait_until 30 'test "$(nready "$inst")" = 1'
pid=$(daemon_pid "$inst")
ids=""
for i in 1 2 3 4; do ids="$ids $(T submit --attempts 3 crash)"; done
ok_id=$(T submit echo survived)
run T wait --timeout 120 $ids
tap_is "$RUN_STATUS" 1 "4 crash tasks of 3 attempts each (12 worker deaths, most within min_uptime_ms) fail"
failed=0
for id in $ids; do
	[[ $(task_json "$inst" "$id" error) =~ killed\ by\ signal\ 11\ \(SIGSEGV\).*on\ attempt\ 3\ of\ 3 ]] &&
		failed=$((failed + 1))
done
tap_is "$failed" 4 "each with the cause of its last attempt"
_tr_alive "$pid"
alive=$?
tap_ok $alive "the daemon still runs (max_early_exits 2): the tasks were blamed, not the workers"
[ $alive = 0 ] || tap_diag_file "$(daemon_log "$inst")"
run T wait --timeout 60 "$ok_id"
tap_is "$RUN_STATUS:$RUN_OUT" "0:survived" "the task queued behind them completes"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"

# ---- early deaths beyond restart.max_early_exits stop the daemon --------------------
inst=$(tr_instance)
start_daemon "$inst" -c "$TR_TMP/giveup.yaml"
wait_until 30 'test "$(nready "$inst")" = 1'
pid=$(daemon_pid "$inst")
# A ready worker SIGKILLed from outside (an admin, kill-worker, the OOM killer) was
# healthy, however soon after its start: no early death.
for i in 1 2 3; do
	p=$(worker_pid "$inst" 0)
	kill -KILL "$p"
	wait_until 30 'test "$(worker_pid "$inst" 0)" != "$p" -a "$(nready "$inst")" = 1'
done
_tr_alive "$pid"
tap_ok $? "3 ready workers SIGKILLed within min_uptime_ms: the daemon still runs"
for i in 1 2 3; do # crashed well within min_uptime_ms of its start: early deaths
	p=$(worker_pid "$inst" 0)
	kill -SEGV "$p"
	[ $i = 3 ] || wait_until 30 'test "$(worker_pid "$inst" 0)" != "$p" -a "$(nready "$inst")" = 1'
done
wait_until 60 '! _tr_alive $pid'
tap_ok $? "the daemon stops by itself after the third early death (crashes)"
stop_daemon "$inst" TERM 5
tap_is "$TR_DAEMON_STATUS" 1 "with exit status 1"
tap_like "$(cat "$(daemon_log "$inst")")" "3 workers died within 60000 ms of starting in the last 60 s \\(restart.max_early_exits is 2\\): giving up" \
	"and says why"
tap_like "$(cat "$(daemon_log "$inst")")" "died early \\(1 in a row\\): restarting in 10 ms.*died early \\(2 in a row\\): restarting in 20 ms" \
	"restarts after early deaths back off exponentially"

done_testing
