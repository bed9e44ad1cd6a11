#!/bin/bash
# chaos-clients.t - the chaos suite, part 2 (issue 6): clients killed in the middle of
# submit and wait, including while they hold the queue lock.
# `taskring stress --target clients` SIGKILLs its own client processes every 10-50 ms;
# half of the kills watch the queue's robust mutex and hit a client the moment it
# owns the lock. Proves: no deadlock (the run ends, every later call gets the lock:
# the dead holder costs a repair), nothing lost (every task whose submit returned is
# final with the right result), and the invariants hold. Then CLI processes
# (`taskring map` and `taskring wait`) are SIGKILLed mid-flight, and the queue still
# serves new work and passes the checker.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/chaos-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
# Killed stress clients leave the results they read but had not yet marked
# read (up to 7 each) to result_ttl, about a thousand per run, on top of the
# killed maps' 2400 below: a table of 16384 keeps room for what follows.
chaos_config "$TR_TMP/chaos.yaml" "queue:" "  capacity: 16384" "  payload_max: 256" "  result_max: 256"
start_daemon "$inst" -c "$TR_TMP/chaos.yaml"
tap_ok $? "taskringd started"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"

stress "$inst" --duration 15 --kill-every 10-50 --target clients --clients 6 --mix cpu,io
stress_checks "clients SIGKILLed every 10-50 ms"
tap_ok "$([ "$(sj .kills.clients)" -ge 50 ] 2>/dev/null; echo $?)" "clients were killed many times ($(sj .kills.clients))"
tap_ok "$([ "$(sj .kills.clients_holding_lock)" -ge 1 ] 2>/dev/null; echo $?)" \
	"some while holding the queue lock ($(sj .kills.clients_holding_lock))"
tap_ok "$([ "$(sj .queue_repairs)" -ge 1 ] 2>/dev/null; echo $?)" \
	"the next lockers repaired the queue after a dead holder ($(sj .queue_repairs) rebuilds)"
tap_diag "in doubt (killed inside submit before the id came back): $(sj ".in_doubt|tojson")"
tap_is "$(sj .in_doubt.stuck)" 0 "tasks submitted by clients killed inside submit are final too"

# ---- CLI clients killed mid-flight ------------------------------------------------
# Each map submits 300 tasks of about 0.4 ms and is killed 10-90 ms in: some of its
# tasks are done, some queued, its results unread (kept for result_ttl, 2400 slots
# at most).
for i in $(seq 1 8); do
	tr_bg "$TR" -i "$inst" map sqrt-sum $(yes 200000 | head -n 300) >/dev/null 2>&1
	sleep 0.0$((RANDOM % 9 + 1))
	kill -KILL -- "-$TR_BG_PID" 2>/dev/null
	wait "$TR_BG_PID" 2>/dev/null
done
tap_diag "free slots before the next submits: $(T status --json | jq .free)"
# A full table must fail here, not pass after result_ttl (300 s).
ids=$(for i in $(seq 1 50); do T submit --timeout 30 spin 20 || break; done | tr '\n' ' ')
tap_is "$(echo $ids | wc -w)" 50 "50 more tasks submitted (the table had room)"
for i in 1 2 3; do
	tr_bg "$TR" -i "$inst" wait --timeout 60 $ids >/dev/null 2>&1
	sleep 0.1
	kill -KILL -- "-$TR_BG_PID" 2>/dev/null
	wait "$TR_BG_PID" 2>/dev/null
done
# Checked before the map below: results the killed waits read are reclaimable,
# and the map may reuse their slots once the table has no other room (the
# killed maps' unread results are kept for result_ttl).
run timeout 120 "$TR" -i "$inst" wait --timeout 100 $ids
tap_is "$RUN_STATUS" 0 "the 50 tasks the killed waits were waiting for are done"
[ "$RUN_STATUS" = 0 ] || tap_diag "wait printed:" "$RUN_OUT" "$RUN_ERR"
want=$(seq 1 500 | sed 's/^/x/')
run timeout 120 "$TR" -i "$inst" map --timeout 100 echo $want
tap_is "$RUN_STATUS:$(printf '%s\n' "$RUN_OUT" | md5sum)" "0:$(printf '%s\n' "$want" | md5sum)" \
	"after 8 killed maps and 3 killed waits a new map of 500 tasks gives every result in order"
wait_until 60 'test "$(T list --state queued,running --json | jq length)" = 0'
tap_ok $? "nothing is left queued or running"
stress "$inst" --duration 1 --kill-every 0 --clients 1
tap_is "$(sj .invariants.ok):$(sj .lost)" "true:0" "the invariant checker passes afterwards $(sj .invariants.message)"

stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"
done_testing
