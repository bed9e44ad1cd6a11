#!/bin/bash
# daemon-stop.t - stopping and restarting (issue 3, acceptance 5, last part): SIGTERM
# lets running tasks finish and leaves queued ones queued (all done after a restart);
# past shutdown_timeout_s the workers are killed and their tasks requeued uncharged;
# SIGQUIT stops at once; after a SIGKILL of the supervisor its workers are gone within
# a second and a new daemon adopts the segment and finishes the queue.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
cfg=$TR_TMP/taskring.yaml
log=$(daemon_log "$inst")
write_config "$cfg" "workers: 1" "shutdown_timeout_s: 60"
start_and_wait() {
	start_daemon "$inst" -c "$cfg" && wait_until 30 'test "$(nready "$inst")" = 1'
}
# hold: a long task occupies the one worker; release: cancel it (the worker is replaced).
hold() {
	blocker=$(T submit spin 600000)
	wait_until 30 'test "$(task_json "$inst" "$blocker" state)" = running'
}
release() {
	T cancel "$blocker" >/dev/null
}
states() {
	local id out=""
	for id in "$@"; do out="$out $(task_json "$inst" "$id" state)"; done
	echo $out
}

# ---- SIGTERM with tasks running and queued -------------------------------------------------
start_and_wait
tap_ok $? "taskringd started (1 worker, shutdown_timeout_s 60)"
# A blocker holds the one worker while the tasks are queued behind it; cancelling it
# (its worker is replaced) lets the spin start, and SIGTERM follows at once: the spin
# is running then however slow the machine is, and the rest is queued.
hold
spin=$(T submit spin 5000) # still running when we act, even on a loaded machine
sleeps=($(for i in 1 2 3; do T submit sleep 1000; done))
echos=($(for i in 1 2 3 4 5; do T submit echo queued "$i"; done))
release
wait_until 30 'test "$(task_json "$inst" "$spin" state)" = running'
tap_ok $? "a spin task runs, 3 io sleeps and 5 echo tasks are queued"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "SIGTERM: the daemon exits 0"
tap_is "$(states "$spin" "${sleeps[@]}")" "done done done done" \
	"the running spin and the io sleeps finished during the drain"
tap_is "$(states "${echos[@]}")" "queued queued queued queued queued" "queued tasks stay queued"
tap_like "$(cat "$log")" "stopping: 1 workers finish their running tasks \\(up to 60 s\\)" \
	"the log says the daemon drains"
start_and_wait
tap_ok $? "restarted"
run T wait --timeout 60 "${echos[@]}"
tap_is "$RUN_STATUS:$RUN_OUT" "0:$(printf 'queued %s\n' 1 2 3 4 5)" \
	"after the restart every queued task is done"
stop_daemon "$inst" TERM

# ---- past shutdown_timeout_s the workers are killed, tasks go back uncharged -----------------
write_config "$cfg" "workers: 1" "shutdown_timeout_s: 1"
start_and_wait
long=$(T submit spin 4000)
wait_until 30 'test "$(task_json "$inst" "$long" state)" = running'
start=$SECONDS
stop_daemon "$inst" TERM
took=$((SECONDS - start))
tap_is "$TR_DAEMON_STATUS" 0 "SIGTERM with a task longer than shutdown_timeout_s: exit 0"
[ "$took" -lt 4 ]
tap_ok $? "without waiting for the task (took about ${took} s)"
tap_is "$(task_json "$inst" "$long" state):$(task_json "$inst" "$long" attempts)" "queued:0" \
	"the task is queued again, no attempt charged"
tap_like "$(cat "$log")" "shutdown_timeout_s \\(1 s\\) reached: killing 1 workers" "the log says so"
start_and_wait
run T wait --timeout 60 "$long"
tap_is "$RUN_STATUS:$(task_json "$inst" "$long" attempts)" "0:1" "after a restart it completes"

# ---- SIGQUIT stops at once ---------------------------------------------------------------
long=$(T submit spin 30000)
wait_until 30 'test "$(task_json "$inst" "$long" state)" = running'
queued=$(T submit echo after quit)
start=$SECONDS
stop_daemon "$inst" QUIT
took=$((SECONDS - start))
tap_is "$TR_DAEMON_STATUS" 0 "SIGQUIT: exit 0"
[ "$took" -lt 10 ]
tap_ok $? "at once (took about ${took} s of the task's 30)"
tap_is "$(states "$long" "$queued")" "queued queued" "both the running and the queued task are queued"
tap_is "$(task_json "$inst" "$long" attempts)" 0 "the interrupted task was not charged"

# ---- a repeated SIGTERM keeps the graceful stop; a second SIGINT stops now ------------------
# The second signal is sent only once the first one's "stopping:" line is in the log:
# two signals pending together are read lowest number first.
nstops() { grep -c 'notice: stopping: ' "$log"; }
write_config "$cfg" "workers: 1" "shutdown_timeout_s: 60"
T cancel "$long" >/dev/null
start_and_wait
tap_ok $? "restarted (shutdown_timeout_s 60)"
before=$(nstops)
short=$(T submit spin 1500)
wait_until 30 'test "$(task_json "$inst" "$short" state)" = running'
kill -TERM "$(daemon_pid "$inst")"
wait_until 30 'test "$(nstops)" -gt "$before"'
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS:$(states "$short")" "0:done" \
	"a second SIGTERM does not cut the graceful stop short: the task finished"
tap_like "$(cat "$log")" "SIGTERM received again: already stopping, workers killed in [0-9]+ s" \
	"the log says the stop goes on"
start_and_wait
before=$(nstops)
held=$(T submit spin 30000)
wait_until 30 'test "$(task_json "$inst" "$held" state)" = running'
kill -TERM "$(daemon_pid "$inst")"
wait_until 30 'test "$(nstops)" -gt "$before"'
start=$SECONDS
stop_daemon "$inst" INT
took=$((SECONDS - start))
tap_is "$TR_DAEMON_STATUS:$(states "$held"):$(task_json "$inst" "$held" attempts)" "0:queued:0" \
	"SIGINT during a graceful stop stops now: exit 0, the task queued, not charged"
[ "$took" -lt 10 ]
tap_ok $? "at once (took about ${took} s of the task's 30)"
tap_like "$(cat "$log")" "SIGINT received again while stopping: stopping now" "the log says so"
# SIGTERM and SIGINT pending together (a busy daemon; here a stopped one): read in
# number order the SIGINT came first and the stop stayed graceful, for 30 s here.
T cancel "$held" >/dev/null
start_and_wait
held=$(T submit spin 30000)
wait_until 30 'test "$(task_json "$inst" "$held" state)" = running'
tap_ok $? "a 30 s task runs"
dpid=$(daemon_pid "$inst")
kill -STOP "$dpid"
kill -TERM "$dpid"
kill -INT "$dpid"
start=$SECONDS
kill -CONT "$dpid"
stop_daemon "$inst" 0 20 # signal 0: only waits
took=$((SECONDS - start))
tap_is "$TR_DAEMON_STATUS:$(states "$held"):$(task_json "$inst" "$held" attempts)" "0:queued:0" \
	"SIGTERM and SIGINT pending together stop now: exit 0, the task queued, not charged"
[ "$took" -lt 10 ]
tap_ok $? "at once (took about ${took} s of the task's 30)"

# ---- SIGKILL of the supervisor -------------------------------------------------------------
write_config "$cfg" "workers: 1"
T cancel "$held" >/dev/null
start_and_wait
tap_ok $? "restarted after SIGQUIT"
hold
spin=$(T submit spin 5000) # still running when we act, even on a loaded machine
tail=($(for i in 1 2 3; do T submit echo tail "$i"; done))
release
wait_until 30 'test "$(task_json "$inst" "$spin" state)" = running'
wpid=$(worker_pid "$inst" 0)
kill -KILL "$(daemon_pid "$inst")"
gone() { ! _tr_alive "$wpid"; }
for ((i = 0; i < 20; i++)); do
	gone && break
	sleep 0.05
done
gone
tap_ok $? "SIGKILL of the supervisor: its worker (pid $wpid) is gone within a second"
stop_daemon "$inst" KILL 5
run T status
tap_is "$RUN_STATUS" 3 "taskring status: the daemon cannot be reached (exit 3)"
tap_ok "$([[ $RUN_OUT =~ "workers:   1, as the last daemon left them (they ended with it)" ]] &&
	[[ $RUN_OUT =~ "(the 1 running tasks go back to the queue when a daemon starts)" ]]; echo $?)" \
	"its text says the worker records and the running task are the dead daemon's" || tap_diag "$RUN_OUT"
tap_is "$(states "$spin")" running "the segment still shows the task the dead worker ran"
tap_is "$(T status --json | jq -c '[.workers[0].state, .workers[0].task]')" '["dead",null]' \
	"but status names no task on the dead worker (the task is requeued at the next start)"
start_and_wait
tap_ok $? "a new daemon starts on the segment"
tap_like "$(cat "$log")" "adopted /dev/shm/taskring.$inst \\(capacity [0-9]+, 4 tasks queued, 1 of them requeued from the last daemon's workers\\)" \
	"it adopts the segment: 1 running task requeued, 3 queued"
run T wait --timeout 60 "$spin" "${tail[@]}"
tap_is "$RUN_STATUS:$RUN_OUT" "0:$(printf '\ntail %s' 1 2 3)" "and finishes the queue"
tap_is "$(task_json "$inst" "$spin" attempts)" 1 "the requeued task was not charged for the crash"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"

# ---- SIGTERM: a task taken with the running one but not started stays queued -------------
# After a stream of quick tasks the worker takes spin 1500 and spin 1 in one batch,
# and hands spin 1 back to the queue before spin 1500 starts (it is not known to be
# quick); on a loaded machine it may have taken spin 1500 alone. Either way spin 1
# waits queued, with no attempt counted, and a SIGTERM leaves it there.
write_config "$cfg" "workers: 1" "shutdown_timeout_s: 60"
start_and_wait
tap_ok $? "restarted (1 worker)"
spins() { T list --json | jq -c '[.[] | select(.type == "spin" and (.state == "running" or .state == "queued"))] | .[:2] | reverse'; }
run T map echo $(seq 1 500)
tr_bg "$TR" -i "$inst" map --timeout 60 spin 1500 1 >/dev/null 2>&1
mapper=$TR_BG_PID
wait_until 15 '[ "$(spins | jq -r "map(.state) | join(\",\")")" = running,queued ]'
tap_is "$(spins | jq -r "map(.state) | join(\",\")")" running,queued \
	"spin 1500 runs; spin 1, taken with it or not, waits queued"
pair=$(spins | jq -r 'map(.id) | join(" ")')
# The map only submitted them: a map waiting through a stop longer than its grace
# for a dead daemon (10 s, the load of a CI machine) cancels what it still waits for.
kill -KILL "$mapper" 2>/dev/null
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "SIGTERM: the daemon exits 0"
# shellcheck disable=SC2086
tap_is "$(states $pair)" "done queued" "the running one finished, the one not started is queued"
tap_is "$(task_json "$inst" "${pair#* }" attempts)" 0 "with no attempt counted"
start_and_wait
# shellcheck disable=SC2086
run T wait --timeout 60 $pair
tap_is "$RUN_STATUS" 0 "after a restart both are done"

# ---- a wait for several tasks rides out a restart ------------------------------------------
# `wait A B`: A ends as the daemon stops, B stays queued. The waiter notices A only
# after the daemon is gone (it is stopped meanwhile); B still gets the grace for a
# dead daemon, as A did, and the restarted daemon runs it.
hold_a=$(T submit spin 1500)
wait_until 30 'test "$(task_json "$inst" "$hold_a" state)" = running'
tail_b=$(T submit echo b)
tr_bg "$TR" -i "$inst" wait --timeout 60 "$hold_a" "$tail_b" >"$TR_TMP/wait.out" 2>"$TR_TMP/wait.err"
waiter=$TR_BG_PID
sleep 0.3
kill -STOP "$waiter"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS:$(states "$hold_a" "$tail_b")" "0:done queued" \
	"SIGTERM: the running task finished, the one behind it is queued"
kill -CONT "$waiter"
sleep 1 # long enough for a waiter that gives up at once to do so
start_and_wait
wait_until 30 '! _tr_alive "$waiter"'
wait "$waiter"
tap_is "$?:$(tail -n 1 "$TR_TMP/wait.out")" "0:b" \
	"the waiter got both results, the second from the restarted daemon ($(cat "$TR_TMP/wait.err"))"

# ---- a wait for many tasks gives up once, not once per task ------------------------------
# The grace for a dead daemon (3 s here, TASKRING_DEAD_GRACE) runs once for the whole
# command: after it, the tasks left are judged at once (they took half a second each
# before).
hold
many=()
for i in $(seq 1 60); do many+=("$(T submit echo "$i")"); done
TASKRING_DEAD_GRACE=3 tr_bg "$TR" -i "$inst" wait --timeout 300 "$blocker" "${many[@]}" >/dev/null 2>"$TR_TMP/many.err"
waiter=$TR_BG_PID
sleep 0.3
t0=$SECONDS
stop_daemon "$inst" KILL 5
wait_until 120 '! _tr_alive "$waiter"'
wait "$waiter"
st=$? took=$((SECONDS - t0))
tap_ok "$([ "$st" = 3 ] && [ "$took" -lt 20 ]; echo $?)" \
	"wait for ${#many[@]} tasks of a killed daemon: exit 3 after the grace, not 30 s more (exit $st after $took s: $(head -c 200 "$TR_TMP/many.err"))"

# ---- a command started while the daemon restarts waits for it ------------------------------
# A daemon that was killed left no word: a command that needs one fails at once.
t0=$SECONDS
run T submit echo after kill
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "the daemon is not running (its segment" ]] &&
	[ $((SECONDS - t0)) -lt 8 ]; echo $?)" \
	"submit after a SIGKILL of the daemon: exit 3 at once ($RUN_STATUS after $((SECONDS - t0)) s: $RUN_ERR)"
T cancel "$blocker" >/dev/null
start_and_wait
tap_ok $? "restarted after the SIGKILL"
# One that stopped by itself did: a submit and a wait started in the gap of a restart
# ride it out.
stop_daemon "$inst" TERM
tr_bg "$TR" -i "$inst" submit --wait --timeout 120 echo during restart >"$TR_TMP/gap.out" 2>"$TR_TMP/gap.err"
gap=$TR_BG_PID
sleep 1
start_and_wait
wait_until 60 '! _tr_alive "$gap"'
wait "$gap"
tap_is "$?:$(cat "$TR_TMP/gap.out")" "0:during restart" \
	"submit --wait started while the daemon restarted: it waited for the new one ($(cat "$TR_TMP/gap.err"))"
# Past the grace (3 s from the stop here) a submit gives up, saying when the daemon stopped;
# one with --no-block does not wait for a restart at all.
stop_daemon "$inst" TERM
t0=$SECONDS
run T submit --no-block echo no wait
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "no new one started before the deadline" ]] &&
	[ $((SECONDS - t0)) -lt 5 ]; echo $?)" \
	"submit --no-block after a stop: exit 3 at once ($RUN_STATUS after $((SECONDS - t0)) s: $RUN_ERR)"
t1=$SECONDS
run T reload --timeout 1
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "no new one started before the deadline" ]] &&
	[ $((SECONDS - t1)) -lt 6 ]; echo $?)" \
	"reload --timeout 1 after a stop: exit 3 at its deadline ($RUN_STATUS after $((SECONDS - t1)) s: $RUN_ERR)"
TASKRING_DEAD_GRACE=3 run T submit echo nobody came
took=$((SECONDS - t0))
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "the daemon is not running: it stopped "[0-9]+"s ago and no new one started within 3s of that" ]] &&
	[ "$took" -ge 2 ] && [ "$took" -lt 60 ]; echo $?)" \
	"submit after a stop with no restart: exit 3 after the grace ($RUN_STATUS after $took s: $RUN_ERR)"

# ---- the segment removed under a running daemon -------------------------------------------
# No new client can reach it, and a new daemon would make a new segment and run beside
# it: it notices at a health check, lets the running task of a client attached before
# finish for that client, and exits 1.
gone=$(tr_instance)
write_config "$TR_TMP/gone.yaml" "workers: 1" "workers_heartbeat_s: 2" "shutdown_timeout_s: 60"
start_daemon "$gone" -c "$TR_TMP/gone.yaml"
wait_until 30 'test "$(nready "$gone")" = 1'
tap_ok $? "a daemon for the removal started"
tr_bg "$TR" -i "$gone" submit --wait spin 3000 >"$TR_TMP/gone.out" 2>"$TR_TMP/gone.err"
waiter=$TR_BG_PID
wait_until 30 'test "$("$TR" -i "$gone" list --state running --json | jq length)" -ge 1'
rm -f "/dev/shm/taskring.$gone"
stop_daemon "$gone" 0 40 # signal 0: only waits
tap_is "$TR_DAEMON_STATUS" 1 "the daemon whose segment was removed exits 1 by itself"
tap_like "$(cat "$(daemon_log "$gone")")" "/dev/shm/taskring.$gone was removed by another process: no new client can reach this daemon; stopping" \
	"and says why"
wait "$waiter"
tap_is "$?" 0 "the running task of the client attached before finished for it ($(cat "$TR_TMP/gone.err"))"
done_testing
