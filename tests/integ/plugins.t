#!/bin/bash
# plugins.t - C handler plugins (issue 8, acceptance 2): the example plugin's cpu
# and io types work end to end (arguments checked, results and errors, order in a
# map); plugins that are broken (another ABI version, a name clashing with a built-in
# or another plugin's, no entry symbol, not a shared object, missing) stop the daemon
# at start with a message naming the file and make `taskringd -t` exit 1; a failing
# init stops it at its workers' set-up; a handler that segfaults is charged like any
# crash and its worker replaced (also one that calls exit(3), the status of a
# worker's SIGBUS handler); a reload cannot change the plugin list; a handler
# that stops its own worker (SIGSTOP) is charged when it does it again.
# The broken plugins (tests/plugins/*.c) are built here with cc.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

root=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
WC=$TASKRING_BUILD/plugins/plugin_wordcount.so
[ -f "$WC" ] || tap_skip_all "the example plugin is not built ($WC)"
command -v cc >/dev/null 2>&1 || tap_skip_all "no C compiler (cc) to build the test plugins"

P=$TR_TMP/plugins
mkdir -p "$P"
build_plugin() { # build_plugin NAME SOURCE [CFLAGS...]
	local name=$1 src=$2
	shift 2
	cc -shared -fPIC -Wall -Wextra -Werror -I"$root/include" "$@" -o "$P/$name.so" \
		"$root/tests/plugins/$src.c" 2>"$P/$name.err"
}
built=0
for p in broken_abi broken_clash broken_nosym broken_init crashy; do
	build_plugin "$p" "$p" || { built=1; tap_diag_file "$P/$p.err"; }
done
build_plugin broken_clash2 broken_clash -DCLASH_PLUGIN || built=1
tap_ok $built "the test plugins build with cc"
echo "not an ELF file" >"$P/text.so"

# ---- broken plugins: -t exits 1 and the daemon does not start ------------------------------------
# check_broken LABEL REGEX PLUGIN...: -t and a start both fail naming the file.
check_broken() {
	local label=$1 want=$2 cfg=$TR_TMP/broken.yaml inst
	shift 2
	{
		echo "workers: 1"
		echo "plugins:"
		for p in "$@"; do echo "  - $p"; done
	} >"$cfg"
	run "$TRD" -t -c "$cfg"
	tap_is "$RUN_STATUS" 1 "$label: taskringd -t exits 1"
	tap_like "$RUN_ERR" "$want" "$label: -t says why, naming the file"
	inst=$(tr_instance)
	run timeout 60 "$TRD" -i "$inst" -c "$cfg"
	tap_is "$RUN_STATUS" 1 "$label: taskringd refuses to start (exit 1)"
	tap_like "$RUN_ERR" "$want" "$label: its log names the file and the reason"
	tap_ok "$([ ! -e "/dev/shm/taskring.$inst" ]; echo $?)" "$label: no segment was created"
}
check_broken "wrong ABI" "plugin $P/broken_abi\\.so: ABI version 42, this taskringd has version 1" \
	"$P/broken_abi.so"
check_broken "name of a built-in" \
	"plugin $P/broken_clash\\.so: handler 'echo' clashes with the built-in task type" \
	"$P/broken_clash.so"
check_broken "name of another plugin's handler" \
	"plugin $P/broken_clash2\\.so: handler 'word-count' clashes with the handler of that name in plugin $WC" \
	"$WC" "$P/broken_clash2.so"
check_broken "missing entry symbol" "plugin $P/broken_nosym\\.so: no symbol taskring_plugin_entry" \
	"$P/broken_nosym.so"
check_broken "not a shared object" "plugin $P/text\\.so: cannot load it: .*" "$P/text.so"
check_broken "missing file" "plugin $P/missing\\.so: cannot load it: .*No such file" \
	"$WC" "$P/missing.so"

# A plugin whose init fails: -t cannot see it, the workers' set-up does.
write_config "$TR_TMP/init.yaml" "workers: 1" "plugins:" "  - $P/broken_init.so"
run "$TRD" -t -c "$TR_TMP/init.yaml"
tap_is "$RUN_STATUS" 0 "a plugin whose init fails passes -t (init runs in the workers)"
inst=$(tr_instance)
run timeout 60 "$TRD" -i "$inst" -c "$TR_TMP/init.yaml"
tap_is "$RUN_STATUS" 1 "... but the daemon stops at start (exit 1)"
tap_like "$RUN_ERR" "plugin $P/broken_init\\.so: init: cannot reach the license server" \
	"... with the plugin's reason, naming the file"
rm -f "/dev/shm/taskring.$inst"

# ---- the example plugin, end to end -------------------------------------------------------------
inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
write_config "$TR_TMP/ok.yaml" "workers: 2" "plugins:" "  - $WC" "  - $P/crashy.so"
run "$TRD" -t -c "$TR_TMP/ok.yaml"
tap_is "$RUN_STATUS:$RUN_OUT" "0:$TR_TMP/ok.yaml: configuration OK" "-t accepts good plugins"
start_daemon "$inst" -c "$TR_TMP/ok.yaml"
tap_ok $? "taskringd started with the example plugin and a crashy one"
wait_until 30 'test "$(nready "$inst")" = 2'
tap_ok $? "both workers ready"
tap_like "$(cat "$(daemon_log "$inst")")" "plugin $WC loaded \\(3 task types\\)" "the log lists the plugin"

# Runs one task and waits: sets ID, STATE, RESULT, ERROR.
task() {
	ID=$(T submit "$@")
	T wait --timeout 120 "$ID" >/dev/null 2>&1
	STATE=$(task_json "$inst" "$ID" state)
	RESULT=$(task_json "$inst" "$ID" result)
	ERROR=$(task_json "$inst" "$ID" error)
}
task word-count "the quick  brown" fox
tap_is "$STATE:$RESULT" "done:4" "word-count (cpu): 4 words"
task word-count
tap_is "$STATE:$RESULT" "done:0" "word-count of nothing: 0"
task repeat 3 ab
tap_is "$STATE:$RESULT" "done:ab ab ab" "repeat (cpu) with a checked N"
task repeat x ab
tap_is "$STATE:$ERROR" "failed:repeat: N: not a number from 1 to 100000: 'x'" \
	"the plugin's argument check refuses a bad N with its message"
task repeat 3
tap_is "$STATE:$ERROR" "failed:repeat: missing argument WORD (usage: repeat N WORD)" \
	"the argument count is checked from the handler's min_args and usage"
task repeat 100000 abcdef
tap_is "$STATE:$ERROR" "failed:repeat: 100000 copies do not fit in 4096 bytes" \
	"a handler's own failure is the task's error"
task hostname
tap_is "$STATE:$RESULT" "done:$(hostname)" "hostname (io) runs on the io thread"
run T submit --class io word-count a
tap_like "$RUN_STATUS:$RUN_ERR" "^[1-9].*class" "a cpu plugin type cannot be submitted as io"
run T map --timeout 60 word-count "a b" "c" "d e f" "" "g h i j"
tap_is "$RUN_STATUS:$(echo $RUN_OUT)" "0:2 1 3 0 4" "map over a plugin type returns results in order"

# ---- misbehaving handlers --------------------------------------------------------------------------
pids="$(worker_pid "$inst" 0) $(worker_pid "$inst" 1)"
task plugin-overflow
tap_is "$STATE:$ERROR" \
	"failed:plugin-overflow: the handler reported 4097 bytes, more than result_max (4096)" \
	"a handler reporting more bytes than the buffer fails its task"
task plugin-fail-silent
tap_is "$STATE:$ERROR" "failed:plugin-fail-silent: failed" "a failure without a message gets one"
tap_is "$(worker_pid "$inst" 0) $(worker_pid "$inst" 1)" "$pids" "neither killed a worker"

restarts() { status_json "$inst" | jq -r '[.workers[].restarts] | add'; }
r0=$(restarts)
task --attempts 2 plugin-segv
tap_is "$STATE" failed "a handler that segfaults ends failed after its attempts"
# Under AddressSanitizer the worker reports the fault and exits instead of dying by it.
tap_like "$ERROR" \
	'^worker [0-9]+ \(pid [0-9]+\) (killed by signal 11 \(SIGSEGV\)|exited with status [0-9]+) on attempt 2 of 2$' \
	"charged like any crash, the cause in its error"
wait_until 30 'test "$(nready "$inst")" = 2'
tap_ok $? "the workers were replaced and are ready"
tap_is "$(restarts)" $((r0 + 2)) "two restarts, one per attempt"
task word-count still "works fine"
tap_is "$STATE:$RESULT" "done:3" "the replacement workers run plugin tasks"
# Status 3 is also what a worker's SIGBUS handler exits with (a truncated
# segment); the segment is whole here: an ordinary death, its cause not a SIGBUS.
task --attempts 1 plugin-exit3
tap_is "$STATE" failed "a handler that calls exit(3) fails its task"
tap_like "$ERROR" '^worker [0-9]+ \(pid [0-9]+\) exited with status 3.* on attempt 1 of 1$' \
	"charged like any crash, the cause in its error"
tap_ok "$(grep -qF '(SIGBUS in the segment)' <<<"$ERROR"; echo $((!$?)))" \
	"which does not claim a SIGBUS it cannot know of ($ERROR)"
wait_until 30 'test "$(nready "$inst")" = 2'
tap_ok $? "the worker was replaced, the daemon runs on"

# ---- plugins are fixed at start ------------------------------------------------------------------
write_config "$TR_TMP/ok.yaml" "workers: 2" "plugins:" "  - $WC"
run T reload
tap_is "$RUN_STATUS" 1 "a reload with another plugin list is refused"
tap_like "$RUN_ERR" "plugins changed: plugins are loaded only at start" "... saying why"
task repeat 2 still
tap_is "$STATE:$RESULT" "done:still still" "the running configuration stays"

stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"

# ---- a task that stops its own worker is charged when it does it again -------------------
# (exec programs cannot: the guard refuses their signals to the worker, exec.t)
inst=$(tr_instance)
write_config "$TR_TMP/hbx.yaml" "workers: 1" "workers_heartbeat_s: 2" "plugins:" "  - $P/crashy.so"
start_daemon "$inst" -c "$TR_TMP/hbx.yaml"
wait_until 30 'test "$(nready "$inst")" = 1'
id=$(T submit --attempts 2 plugin-stop)
run T wait --timeout 120 "$id"
tap_is "$RUN_STATUS:$(task_json "$inst" "$id" state)" "1:failed" \
	"a handler that stops its worker (2 attempts) fails instead of stopping workers forever"
tap_like "$(task_json "$inst" "$id" error)" \
	'^worker 0 \(pid [0-9]+\) stayed stopped \(SIGSTOP\) and was killed on attempt 2 of 2$' \
	"with the cause (the first stop uncharged, the repeats charged)"
task echo after
tap_is "$STATE:$RESULT" "done:after" "the next task runs"
[ "$STATE" = done ] || tap_diag_file "$(daemon_log "$inst")"
stop_daemon "$inst" TERM
done_testing
