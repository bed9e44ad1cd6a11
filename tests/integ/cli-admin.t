#!/bin/bash
# cli-admin.t - taskring kill-worker and reload against a real daemon:
# kill-worker prints the pid it hit (a child of the daemon) and the worker is
# replaced; bad indexes and signals are usage errors; reload waits for the daemon's
# verdict: exit 0 when a new worker count is applied, exit 1 with the daemon's
# error for a broken file, a missing file or a setting that needs a restart.
. "$(dirname "$0")/lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v jq >/dev/null 2>&1 || tap_skip_all "jq not installed"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
wpid() { T status --json | jq -r ".workers[$1].pid"; }
nworkers() { T status --json | jq '[.workers[] | select(.state == "ready" or .state == "busy")] | length'; }
# poll CMD... every 0.05 s for up to 30 s
poll() {
	local i
	for ((i = 0; i < 600; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

two_ready() { test "$(nworkers)" = 2; }

conf=$TR_TMP/conf.yaml
printf 'workers: 2\nrestart:\n  min_uptime_ms: 0\n' >"$conf"
start_daemon "$inst" -c "$conf" || {
	tap_ok 1 "taskringd started"
	done_testing
}
tap_ok 0 "taskringd started with 2 workers"
poll two_ready
tap_ok $? "2 workers ready"
dpid=$(daemon_pid "$inst")

# ---- kill-worker ---------------------------------------------------------------------
old=$(wpid 0)
run T kill-worker 0
tap_is "$RUN_STATUS:$RUN_OUT" "0:$old" "kill-worker 0 prints the pid it hit"
changed() { local p; p=$(wpid 0); [ "$p" != null ] && [ "$p" != "$old" ] && [ -n "$p" ]; }
poll changed
tap_ok $? "worker 0 is replaced by a new process"
new=$(wpid 0)
tap_is "$(ps -o ppid= -p "$new" | tr -d ' ')" "$dpid" "the new worker is a child of the daemon"
poll two_ready
tap_ok $? "2 workers ready again"
last=$(T status --json | jq -r '.workers[0].last_exit')
tap_like "$last" "SIGKILL" "status names the last exit cause of worker 0 ($last)"
run T status
tap_like "$RUN_OUT" "
  0 +[0-9]+ +[0-9]+ +(ready|busy) .* 1 +killed by signal 9 \\(SIGKILL\\)" \
	"the text status shows that cause in its LAST EXIT column"

old1=$(wpid 1)
run T kill-worker --signal term 1
tap_is "$RUN_STATUS:$RUN_OUT" "0:$old1" "kill-worker --signal term 1"
changed1() { local p; p=$(wpid 1); [ "$p" != null ] && [ "$p" != "$old1" ] && [ -n "$p" ]; }
poll changed1
tap_ok $? "worker 1 is replaced"
poll two_ready
run T submit --wait echo still working
tap_is "$RUN_STATUS:$RUN_OUT" "0:still working" "tasks still run afterwards"

run T kill-worker 2
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "no worker 2: instance '$inst' has 2 (0-1)" ]]; echo $?)" \
	"kill-worker of an index past the workers: exit 2, says how many there are"
run T kill-worker -s NOSUCH 0
tap_is "$RUN_STATUS" 2 "kill-worker with an unknown signal: exit 2"

# ---- reload ------------------------------------------------------------------------------
printf 'workers: 1\nrestart:\n  min_uptime_ms: 0\n' >"$conf"
run T reload
tap_is "$RUN_STATUS:$RUN_ERR" "0:" "reload to 1 worker: exit 0 once applied"
tap_is "$(T status --json | jq '.workers | map(select(.pid != null)) | length')" 1 \
	"and only 1 worker runs when reload returns"
tap_is "$(daemon_pid "$inst")" "$dpid" "the same daemon"

printf 'workers: [\n' >"$conf"
run T reload
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ reload\ refused:.*conf.yaml:2:1:\ malformed\ YAML ]]; echo $?)" \
	"reload of a malformed file: exit 1 with the daemon's file:line:column error"
[ "$RUN_STATUS" = 1 ] || tap_diag "$RUN_ERR"
printf 'wrkers: 2\n' >"$conf"
run T reload
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "unknown key 'wrkers'" ]]; echo $?)" \
	"reload with an unknown key: exit 1, the error names the key"
printf 'queue:\n  capacity: 64\n' >"$conf"
run T reload
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "queue.capacity" ]]; echo $?)" \
	"reload changing the capacity: exit 1, refused"
rm -f "$conf"
run T reload
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "cannot open" ]]; echo $?)" \
	"reload of a missing file: exit 1"
run T submit --wait echo after
tap_is "$RUN_STATUS:$RUN_OUT" "0:after" "the daemon keeps serving with its old configuration"
tap_is "$(T status --json | jq '.workers | map(select(.pid != null)) | length')" 1 \
	"still 1 worker"

printf 'workers: 2\n' >"$conf"
run T reload --timeout 30
tap_is "$RUN_STATUS" 0 "reload back to 2 workers"
tap_is "$(T status --json | jq '.workers | map(select(.pid != null)) | length')" 2 \
	"2 workers run when reload returns"

# systemd's ExecReload knows only the daemon's pid.
printf 'workers: 1\n' >"$conf"
run env -u TASKRING_INSTANCE "$TR" reload --pid "$dpid"
tap_is "$RUN_STATUS:$RUN_ERR" "0:" "reload --pid finds the instance the daemon serves"
tap_is "$(T status --json | jq '.workers | map(select(.pid != null)) | length')" 1 \
	"and the reload was applied"
run T reload --pid 2
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "is pid $dpid, not 2" ]]; echo $?)" \
	"reload -i INSTANCE --pid of another process: exit 3"
run env -u TASKRING_INSTANCE "$TR" reload --pid 2
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "no taskring instance is served by pid 2" ]]; echo $?)" \
	"reload --pid of a process serving no instance: exit 3"
run T reload --pid abc
tap_is "$RUN_STATUS" 2 "reload --pid abc: exit 2"

stop_daemon "$inst"
tap_is "$TR_DAEMON_STATUS" 0 "taskringd stopped cleanly"
TASKRING_DEAD_GRACE=0.5 run T reload # no need to wait 10 s for a restart
tap_is "$RUN_STATUS" 3 "reload with the daemon stopped: exit 3"
done_testing
