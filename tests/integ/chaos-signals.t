#!/bin/bash
# chaos-signals.t - the chaos suite, part 1 continued (issue 6): shorter `taskring
# stress` runs killing workers with SIGSEGV and SIGTERM every 10-50 ms, then
# stopping them with SIGSTOP. Proves the same guarantees as chaos-workers.t for deaths
# by other signals, and that a stopped worker (alive, holding its tasks, maybe the
# queue lock) is noticed through the heartbeat check and replaced, its tasks finished
# elsewhere, without any client call waiting past its deadline.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/chaos-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
ulimit -c 0

inst=$(tr_instance)
chaos_config "$TR_TMP/chaos.yaml"
start_daemon "$inst" -c "$TR_TMP/chaos.yaml"
tap_ok $? "taskringd started"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"

for sig in SEGV TERM; do
	stress "$inst" --duration 5 --kill-every 10-50 --signal "$sig" --min-uptime 0 \
		--mix cpu,io,poison --poison-every 1000
	stress_checks "SIG$sig every 10-50 ms"
	tap_ok "$([ "$(sj .kills.workers)" -ge 10 ] && [ "$(sj .replacement_ms.count)" = "$(sj .kills.workers)" ]; echo $?)" \
		"SIG$sig: $(sj .kills.workers) kills, each followed by a ready replacement (p50 $(sj .replacement_ms.p50) ms)"
done
grep -q "killed by signal 11 (SIGSEGV)" "$(daemon_log "$inst")"
tap_ok $? "the daemon logged the SIGSEGV deaths"
grep -q "killed by signal 15 (SIGTERM)" "$(daemon_log "$inst")"
tap_ok $? "the daemon logged the SIGTERM deaths"

# SIGSTOP: the daemon notices a stopped worker after 2 heartbeat checks (about 2 s
# with workers_heartbeat_s: 1), so stop one every 0.7-1.2 s.
stress "$inst" --duration 8 --kill-every 700-1200 --signal STOP --min-uptime 0 --mix cpu,io
stress_checks "SIGSTOP every 0.7-1.2 s"
tap_ok "$([ "$(sj .kills.workers)" -ge 3 ] && [ "$(sj .replacement_ms.count)" = "$(sj .kills.workers)" ]; echo $?)" \
	"SIGSTOP: $(sj .kills.workers) workers stopped, each replaced (p50 $(sj .replacement_ms.p50) ms, max $(sj .replacement_ms.max) ms)"
grep -q "is stopped (state T) for 2 checks: killing and replacing it" "$(daemon_log "$inst")"
tap_ok $? "the daemon logged why it replaced them"
tap_is "$(ps -o stat= --ppid "$(daemon_pid "$inst")" | grep -c '^T')" 0 "no stopped worker is left"

stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"
done_testing
