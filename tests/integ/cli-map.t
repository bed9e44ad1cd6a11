#!/bin/bash
# cli-map.t - taskring map against a real daemon: results in submission order
# (issue 4 acceptance 2: sqrt-sum over 16 arguments), standard input mode, a map
# far larger than the task table, failed tasks (blank line, exit 1), --timeout
# (exit 4, unfinished tasks cancelled), SIGINT (tasks cancelled), and the
# progress bar (only on a terminal).
. "$(dirname "$0")/lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v jq >/dev/null 2>&1 || tap_skip_all "jq not installed"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
# Polls (up to 30 s) until no task is queued or running.
wait_idle() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(T list --state queued,running --json | jq length)" = 0 ] && return 0
		sleep 0.05
	done
	return 1
}

cat >"$TR_TMP/conf.yaml" <<YAML
workers: 2
queue:
  capacity: 16
tasks:
  kill_grace_ms: 200
YAML
start_daemon "$inst" -c "$TR_TMP/conf.yaml" || {
	tap_ok 1 "taskringd started"
	done_testing
}
tap_ok 0 "taskringd started (2 workers, capacity 16)"

# ---- order ----------------------------------------------------------------------
# Big and small N mixed, so tasks finish out of submission order.
ns="3000000 7 1500000 100 2500000 1 0 999 2000000 12345 50 800000 3 65536 2 1000000"
want=$(for n in $ns; do
	awk -v n="$n" 'BEGIN { s = 0; for (i = 0; i < n; i++) s += sqrt(i); printf "%.6f\n", s }'
done)
# shellcheck disable=SC2086
run T map sqrt-sum $ns
tap_is "$RUN_STATUS" 0 "map sqrt-sum over 16 arguments: exit 0"
tap_is "$(echo "$RUN_OUT" | wc -l)" 16 "16 result lines"
tap_is "$RUN_OUT" "$want" "16 correct results in submission order"
tap_is "$RUN_ERR" "" "nothing on stderr (no progress bar when stderr is not a terminal)"

# ---- standard input ----------------------------------------------------------------
want=$(for n in $(seq 1 60); do echo "$(((n - 1) * n * (2 * n - 1) / 6))"; done)
run_stdin "$(seq 1 60)" T map square-sum -
tap_is "$RUN_STATUS:$RUN_OUT" "0:$want" "map square-sum - : one task per input line, in order"
run_stdin "$(printf 'a b\nc\n\n  d \t e\n')" T map echo -
tap_is "$RUN_STATUS:$RUN_OUT" "0:a b
c

d e" "map echo - : a line's words are the task's arguments (blank line: none)"
run_stdin "" T map echo -
tap_is "$RUN_STATUS:$RUN_OUT:$RUN_ERR" "0::" "map with empty input: nothing to do, exit 0"
run T map echo - x
tap_is "$RUN_STATUS:$RUN_OUT" "0:-
x" "'-' with other arguments is an ordinary argument"

# ---- larger than the table -------------------------------------------------------------
run_stdin "$(seq 1 2000)" T map echo -
tap_ok "$([ "$RUN_STATUS" = 0 ] && [ "$RUN_OUT" = "$(seq 1 2000)" ]; echo $?)" \
	"2000 tasks through a 16-slot table: all results, in order"
free=$(T status --json | jq '.free == .capacity')
tap_is "$free" true "every slot is free again afterwards"

# ---- failures ------------------------------------------------------------------------
run T map sqrt-sum 10 x 20
tap_is "$RUN_STATUS:$RUN_OUT" "1:19.306001

57.193842" "a failed task gets a blank line, the others their results, exit 1"
tap_like "$RUN_ERR" "task [0-9]+ failed: .*'x'" "and its error on stderr names the bad argument"
# An argument over payload_max: the error names that task and its size; the ones
# before it ran.
big=$(head -c 5000 /dev/zero | tr '\0' x)
run T map echo a b "$big" c
tap_is "$RUN_STATUS:$RUN_OUT" "2:a
b" "an over-long third argument: the first two ran, exit 2"
tap_like "$RUN_ERR" "too long: 5001 bytes.*task 3 of 4 could not be submitted" \
	"and the error names task 3 and its 5001 bytes"

# ---- timeout and interrupt cancel what is left ---------------------------------------------
run T map --timeout 1 spin 50 20000 20000 50
tap_ok "$([ "$RUN_STATUS" = 4 ] && [[ $RUN_ERR =~ timed\ out\ with\ [01]\ of\ 4\ tasks\ done ]]; echo $?)" \
	"map --timeout: exit 4, says how many were done"
tap_like "$RUN_ERR" "cancelled [1-9]" "and that it cancelled the unfinished ones"
wait_idle
tap_ok $? "nothing is left queued or running after the timeout"
# Results go out in order: one that finished after the task map gave up on is
# not printed, and the message says so instead of leaving it uncounted.
run T map --timeout 1 sleep 20000 50
tap_ok "$([ "$RUN_STATUS" = 4 ] && [ -z "$RUN_OUT" ] &&
	[[ $RUN_ERR =~ "with 0 of 2 tasks done; cancelled 1 unfinished; 1 more finished, not printed" ]]
	echo $?)" "map --timeout: a task that finished after the one it waited for is counted" ||
	tap_diag "$RUN_ERR"
wait_idle

# A background job of a script starts with SIGINT ignored (and map leaves an
# ignored SIGINT alone, tested below): set it back to the default first, as an
# interactive shell's job would have it.
tr_bg perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' \
	"$TR" -i "$inst" map --class cpu sleep 20000 20000 20000 20000 >/dev/null 2>"$TR_TMP/int.err"
mp=$TR_BG_PID
for ((i = 0; i < 600; i++)); do
	[ "$(T list --state running --json | jq length)" -ge 1 ] && break
	sleep 0.05
done
kill -INT "$mp"
wait "$mp"
st=$?
tap_is "$st" 130 "SIGINT stops map (killed by SIGINT)"
tap_ok "$(grep -q 'interrupted with 0 of 4 tasks done; cancelled 4 unfinished' "$TR_TMP/int.err"; echo $?)" \
	"it says it cancelled the 4 unfinished tasks"
wait_idle
tap_ok $? "nothing is left queued or running after the interrupt"

# ---- a closed output pipe: map cleans up, then dies of SIGPIPE (or says so) -------------------
# Polls (up to 5 s) until no task is queued or running and every slot is free:
# the spins left behind by a map that died without cleaning up run 20 s.
clean_soon() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(T list --state queued,running --json | jq length):$(T status --json | jq .free)" = 0:16 ] &&
			return 0
		sleep 0.05
	done
	return 1
}
# The third task spins for 20 s: map must notice that head is gone while it
# waits, not at its next write.
t0=$SECONDS
T map spin 10 10 20000 20000 20000 20000 2>"$TR_TMP/pipe.err" | head -n 1 >/dev/null
st=${PIPESTATUS[0]}
tap_is "$st" 141 "map | head -1: map dies of SIGPIPE once head is gone"
tap_ok "$([ $((SECONDS - t0)) -lt 10 ]; echo $?)" \
	"while the third task still runs (took $((SECONDS - t0)) s of its 20)"
clean_soon
tap_ok $? "and leaves no task queued or running, and every slot free"
tap_is "$(cat "$TR_TMP/pipe.err")" "" "silently, as other tools do"
t0=$SECONDS
(
	trap '' PIPE
	T map spin 10 10 20000 20000 20000 20000 2>"$TR_TMP/pipe.err" | head -n 1 >/dev/null
	exit "${PIPESTATUS[0]}"
)
tap_is "$?" 1 "with SIGPIPE ignored, map exits 1 when its output fails"
tap_ok "$([ $((SECONDS - t0)) -lt 10 ]; echo $?)" \
	"also while the third task still runs (took $((SECONDS - t0)) s of its 20)"
tap_like "$(cat "$TR_TMP/pipe.err")" "standard output failed with [0-9]+ of 6 tasks done; cancelled [1-9]" \
	"saying so"
clean_soon
tap_ok $? "and leaves nothing behind either"
(
	trap '' INT
	"$TR" -i "$inst" map spin 10 20000 >/dev/null 2>"$TR_TMP/ign.err" &
	mp=$!
	sleep 0.5
	kill -INT "$mp"
	sleep 0.3
	kill -0 "$mp" 2>/dev/null
	r=$?
	kill -TERM "$mp" 2>/dev/null
	wait "$mp"
	exit $r
)
tap_is "$?" 0 "a map started with SIGINT ignored (a script's background job) keeps ignoring it"
clean_soon
tap_ok $? "and SIGTERM still cancels its tasks"

# ---- giving up on many io tasks frees their slots at once ---------------------------------
seq 1 200 | sed 's/.*/3000/' | T map --timeout 0.3 sleep - >/dev/null 2>"$TR_TMP/io.err"
tap_is "$?" 4 "map --timeout over 200 sleeps: exit 4"
# A table of 16: most were never submitted, and the counts say so, adding up to 200.
[[ $(cat "$TR_TMP/io.err") =~ "with 0 of 200 tasks done; cancelled "([0-9]+)" unfinished; "([0-9]+)" not submitted" ]]
tap_is "${BASH_REMATCH[1]:-?}+${BASH_REMATCH[2]:-?}=$((${BASH_REMATCH[1]:-0} + ${BASH_REMATCH[2]:-0}))" \
	"${BASH_REMATCH[1]:-?}+${BASH_REMATCH[2]:-?}=200" "and says how many it cancelled and did not submit"
clean_soon
tap_ok $? "every slot is free again at once, none left to result_ttl"
tap_diag_file "$TR_TMP/io.err"

# ---- progress bar on a terminal ---------------------------------------------------------
if command -v script >/dev/null 2>&1; then
	script -qec "$TR -i $inst map spin 300 300 300 300 >$TR_TMP/bar.out" "$TR_TMP/bar.tty" \
		</dev/null >/dev/null 2>&1
	tap_ok "$(grep -q 'ETA' "$TR_TMP/bar.tty" && grep -q '4/4 100.0%' "$TR_TMP/bar.tty"; echo $?)" \
		"on a terminal a progress bar with done/total, rate and ETA is drawn"
	tap_is "$(wc -l <"$TR_TMP/bar.out")" 4 "and stdout still gets the 4 results only"
else
	tap_skip "script(1) not installed: no terminal to test the progress bar"
	tap_skip "script(1) not installed"
fi

stop_daemon "$inst"
tap_is "$TR_DAEMON_STATUS" 0 "taskringd stopped cleanly"
done_testing
