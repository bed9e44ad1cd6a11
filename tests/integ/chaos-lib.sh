# chaos-lib.sh - helpers for the chaos suite (chaos-*.t, issue 6). Source after
# lib.sh and daemon-lib.sh.
#
#   chaos_config FILE [LINES...]  writes a daemon configuration for killing workers
#                                 at a high pace: 2 workers, a 1 s heartbeat (stopped
#                                 workers noticed in about 2 s), restarts at once and
#                                 never counted as early deaths; extra LINES appended
#   stress INST ARGS...           runs `taskring -i INST stress --json ARGS` bounded by
#                                 CHAOS_TIMEOUT s (default 240); sets STRESS_STATUS and
#                                 STRESS_JSON, and prints a one-line summary as diag
#   sj FILTER                     jq -r FILTER over STRESS_JSON
#   stress_checks NAME            the checks every stress run must pass: exit 0, lost 0,
#                                 right results, only poison failed, workers back, no
#                                 late waits, invariants pass, no unexpected deaths
#   current_daemon INST           pid of the live supervisor of INST (empty if none)
#   kill_current_daemon INST      SIGTERM (then SIGKILL) the live supervisor of INST
#                                 and its process group, waiting until it is gone

chaos_config() {
	local f=$1
	shift
	write_config "$f" "workers: 2" "workers_heartbeat_s: 1" "restart:" "  min_uptime_ms: 0" \
		"  backoff_ms: 0" "  max_early_exits: 1000000" "$@"
}

stress() {
	local inst=$1
	shift
	STRESS_JSON=$(timeout -s KILL "${CHAOS_TIMEOUT:-240}" "$TR" -i "$inst" stress --json "$@" \
		2>"$TR_TMP/stress.err")
	STRESS_STATUS=$?
	if ! printf '%s' "$STRESS_JSON" | jq -e . >/dev/null 2>&1; then
		tap_diag "stress $* printed no JSON (exit $STRESS_STATUS):"
		tap_diag_file "$TR_TMP/stress.err"
		STRESS_JSON='{}'
	fi
	tap_diag "stress $*:" "$(sj '"  submitted \(.submitted) done \(.done) failed \(.failed) cancelled \(.cancelled) lost \(.lost) wrong \(.wrong_results) more-than-once \(.executed_more_than_once) kills \(.kills) restarts \(.worker_restarts) repairs \(.queue_repairs) replacement_ms \(.replacement_ms) supervisor_restart_ms \(.supervisor_restart_ms) refusals \(.refusals) in_doubt \(.in_doubt) pass \(.pass)"')"
	if [ "$(sj '.notes | length')" != 0 ] && [ "$(sj '.notes | length')" != null ]; then
		tap_diag "notes:" "$(sj '.notes[]')"
	fi
	return 0
}

sj() {
	printf '%s' "$STRESS_JSON" | jq -r "$1" 2>/dev/null
}

stress_checks() {
	local n=$1
	tap_is "$STRESS_STATUS" 0 "$n: stress exits 0"
	tap_is "$(sj .lost)" 0 "$n: lost 0"
	tap_ok "$([ "$(sj .submitted)" -gt 0 ] 2>/dev/null; echo $?)" "$n: tasks were submitted ($(sj .submitted))"
	tap_is "$(sj '.wrong_results + .altered_tasks')" 0 "$n: every result right (and the tasks read back as submitted)"
	tap_is "$(sj '.unexpected_failures + .poison.bad')" 0 "$n: only poison tasks failed"
	tap_is "$(sj '.workers.ready == .workers.configured and .workers.configured > 0')" true \
		"$n: workers back to the configured count ($(sj .workers.ready)/$(sj .workers.configured))"
	tap_is "$(sj .deadline_overruns)" 0 "$n: no call waited past its deadline"
	tap_is "$(sj .invariants.ok)" true "$n: the segment invariant checker passes $(sj .invariants.message)"
	tap_is "$(sj '.processes.client_deaths_unexpected + .processes.client_errors + .processes.supervisor_deaths_unexpected')" 0 \
		"$n: no process died or failed unexpectedly"
}

current_daemon() {
	local p
	p=$("$TR" -i "$1" status --json 2>/dev/null | jq -r '.pid // empty' 2>/dev/null)
	[ -n "$p" ] && [ "$p" != null ] && echo "$p"
	return 0
}

kill_current_daemon() {
	local p i
	p=$(current_daemon "$1")
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	for ((i = 0; i < 600; i++)); do
		_tr_alive "$p" || break
		sleep 0.05
	done
	kill -KILL -- "-$p" 2>/dev/null
	kill -KILL "$p" 2>/dev/null
	return 0
}
