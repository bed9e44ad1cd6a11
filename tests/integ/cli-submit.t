#!/bin/bash
# cli-submit.t - taskring submit, wait and cancel (by id, and cancel --queued)
# against a real daemon: ids and results on stdout, errors on stderr, and every
# exit status they can give:
# 0 done, 1 failed/cancelled/no such task/no longer in the table/already finished, 2 unknown
# type, over-long payload, class not allowed, 4 timed out, 5 queue full with
# --no-block. One worker and an 8-slot table so "queued" and "full" are easy to
# arrange.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v jq >/dev/null 2>&1 || tap_skip_all "jq not installed"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
field() { T show --json "$1" | jq -r ".$2"; }
# Polls (up to 30 s) until task $1 is in state $2.
wait_state() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(field "$1" state 2>/dev/null)" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

cat >"$TR_TMP/conf.yaml" <<YAML
workers: 1
queue:
  capacity: 8
tasks:
  kill_grace_ms: 200
YAML
start_daemon "$inst" -c "$TR_TMP/conf.yaml" || {
	tap_ok 1 "taskringd started"
	done_testing
}
tap_ok 0 "taskringd started (1 worker, capacity 8)"

# ---- submit / wait: success ---------------------------------------------------
run T submit echo hello world
tap_like "$RUN_STATUS:$RUN_OUT" '^0:[1-9][0-9]*$' "submit prints the new id alone"
id=$RUN_OUT
run T wait "$id"
tap_is "$RUN_STATUS:$RUN_OUT" "0:hello world" "wait prints the result"
run T wait "$id"
tap_is "$RUN_STATUS:$RUN_OUT" "0:hello world" "wait again: the result is still there"

run T submit --wait echo a "b  c" d
tap_is "$RUN_STATUS:$RUN_OUT" "0:a b  c d" "submit --wait prints the result instead of the id"
run T submit --wait echo -5 --wait -x --
tap_is "$RUN_STATUS:$RUN_OUT" "0:-5 --wait -x --" "words after TYPE reach the task, dashes and all"
run T submit -w noop
tap_is "$RUN_STATUS:$RUN_OUT:$RUN_ERR" "0::" "an empty result is an empty line, exit 0"
run T submit --wait sqrt-sum 10
tap_is "$RUN_STATUS:$RUN_OUT" "0:19.306001" "sqrt-sum 10"

a=$(T submit echo first)
b=$(T submit echo second)
run T wait "$b" "$a" "$b"
tap_is "$RUN_STATUS:$RUN_OUT" "0:second
first
second" "wait prints results one per line in the order given"

# ---- failures: exit 1 ------------------------------------------------------------
run T submit --wait fail "it broke"
tap_ok "$([ "$RUN_STATUS" = 1 ] && [ -z "$RUN_OUT" ] && [[ $RUN_ERR =~ failed:\ it\ broke ]]; echo $?)" \
	"submit --wait of a failing task: exit 1, its error on stderr"
f=$(T submit fail oops)
g=$(T submit echo fine)
run T wait "$f" "$g"
tap_is "$RUN_STATUS:$RUN_OUT" "1:
fine" "wait with a failed task: blank line for it, the others printed, exit 1"
tap_like "$RUN_ERR" "task $f failed: oops" "and the failure names the task and its error"
# A task's error (an exec program's standard error) may hold terminal escape
# sequences: the message shows them as \xHH, as show does, never the raw bytes.
run T submit --wait fail $'red\e[31mX\rY'
tap_ok "$([ "$RUN_STATUS" = 1 ] && ! grep -q $'[\e\r]' "$TR_TMP/run.err" &&
	grep -qF 'failed: red\x1b[31mX\x0dY' "$TR_TMP/run.err"; echo $?)" \
	"submit --wait: control bytes of the error shown as \\xHH, not sent raw"
run T wait "$(T submit fail $'a\e]0;title\ab')"
tap_ok "$([ "$RUN_STATUS" = 1 ] && ! grep -q $'[\e\a]' "$TR_TMP/run.err" &&
	grep -qF 'failed: a\x1b]0;title\x07b' "$TR_TMP/run.err"; echo $?)" \
	"wait: the same for a failed task's error"

run T wait 999999999
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "task 999999999: no such task" ]]; echo $?)" \
	"wait on an id never issued: exit 1, no such task"
run T show 999999998
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "no such task" ]]; echo $?)" \
	"show on an id never issued: exit 1, no such task"
fin=$(T submit echo fin)
T wait "$fin" >/dev/null
run T cancel "$fin"
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "already finished" ]]; echo $?)" \
	"cancel of a finished task: exit 1, already finished"
run T cancel 999999997
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "no such task" ]]; echo $?)" \
	"cancel of an id never issued: exit 1, no such task"

# ---- bad tasks: exit 2 -------------------------------------------------------------
run T submit no-such-type x
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "unknown task type 'no-such-type'" ]] && [ -z "$RUN_OUT" ]; echo $?)" \
	"unknown task type: exit 2"
run T map no-such-type 1 2
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "unknown task type 'no-such-type'" ]] && [ -z "$RUN_OUT" ]; echo $?)" \
	"map of an unknown task type: exit 2"
big=$(head -c 5000 /dev/zero | tr '\0' x)
run T submit echo "$big"
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ too\ long:\ 5001\ bytes.*at\ most\ 4096 ]]; echo $?)" \
	"over-long payload: exit 2, says how long and the limit"
run T submit --class io echo x
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "does not allow the requested --class" ]]; echo $?)" \
	"a class the type does not allow: exit 2"
run T submit --wait --class cpu echo x
tap_is "$RUN_STATUS:$RUN_OUT" "0:x" "its own class is fine"
id=$(T submit --class cpu sleep 50)
run T wait --timeout 60 "$id"
tap_is "$RUN_STATUS:$RUN_OUT:$(field "$id" class)" "0::cpu" "sleep, an io type, may run in the cpu class"

# ---- queued, running, cancelled, timed out -------------------------------------------
long=$(T submit --class cpu sleep 20000)
wait_state "$long" running
tap_ok $? "a long cpu task is running on the only worker"
q=$(T submit echo queued)
tap_is "$(field "$q" state)" queued "a task behind it is queued"
run T wait --timeout 0.2 "$q"
tap_ok "$([ "$RUN_STATUS" = 4 ] && [[ $RUN_ERR =~ "not finished before the timeout" ]]; echo $?)" \
	"wait --timeout on a queued task: exit 4"
run T wait --timeout 0 "$q"
tap_is "$RUN_STATUS" 4 "wait --timeout 0 on a queued task: exit 4 at once"
run T submit --wait --timeout 0.3 echo late
tap_ok "$([ "$RUN_STATUS" = 4 ] && [[ $RUN_ERR =~ task\ [0-9]+:\ not\ finished ]]; echo $?)" \
	"submit --wait --timeout: exit 4 naming the task"
late=$(echo "$RUN_ERR" | sed -n 's/.*task \([0-9]*\): not finished.*/\1/p')

# Fill the table: 8 slots hold long, q, late and 5 more.
fill=()
for i in 1 2 3 4 5; do
	fill+=("$(T submit echo fill$i)")
done
run T submit --no-block echo x
tap_ok "$([ "$RUN_STATUS" = 5 ] && [[ $RUN_ERR =~ "queue full" ]] && [ -z "$RUN_OUT" ]; echo $?)" \
	"submit --no-block on a full table: exit 5"
run T submit --timeout 0.2 echo x
tap_ok "$([ "$RUN_STATUS" = 4 ] && [[ $RUN_ERR =~ "queue full" ]]; echo $?)" \
	"submit --timeout on a full table: exit 4"

run T cancel "$q" "${fill[@]}"
tap_is "$RUN_STATUS:$RUN_OUT:$RUN_ERR" "0::" "cancel of queued tasks: exit 0, silent"
tap_is "$(field "$q" state)" cancelled "a cancelled queued task is cancelled at once"
run T wait "$q"
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "task $q was cancelled" ]]; echo $?)" \
	"wait on a cancelled task: exit 1, says cancelled"
# The cancelled tasks count as read: their slots are reused (oldest first) instead of
# being kept for result_ttl_s, so the full table has room again (the wait above
# freed only the slot of $q).
run T submit --no-block echo room1
run T submit --no-block echo room2
tap_like "$RUN_STATUS:$RUN_OUT" '^0:[1-9][0-9]*$' "the slots of cancelled tasks are free for reuse ($RUN_ERR)"
run T cancel "$long"
tap_is "$RUN_STATUS" 0 "cancel of the running task"
run T wait --timeout 30 "$long"
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "task $long was cancelled" ]]; echo $?)" \
	"the running task ends cancelled (exit 1)"
run T wait --timeout 30 "$late"
tap_is "$RUN_STATUS:$RUN_OUT" "0:late" "the task whose submit --wait timed out still ran"
T wait "${fill[@]}" >/dev/null 2>&1 # collect, so the slots come free

# ---- cancel --queued: every queued task, or those of one type ------------------------
long=$(T submit --class cpu sleep 20000)
wait_state "$long" running
tap_ok $? "a long cpu task runs again"
e1=$(T submit echo a)
n1=$(T submit noop)
e2=$(T submit echo b)
n2=$(T submit noop)
tr_bg bash -c '"$1" -i "$2" wait --timeout 30 "$3" >"$4/qw.out" 2>"$4/qw.err"; echo $? >"$4/qw.st"' \
	_ "$TR" "$inst" "$e2" "$TR_TMP"
tap_is "$(T list --state queued --type echo --json | jq -c '[.[].id]')" "[$e2,$e1]" \
	"list --state queued --type echo: what cancel --queued --type echo will cancel"
run T list --type ''
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "--type: empty value" ]]; echo $?)" "list --type '': exit 2"
run T cancel --queued --type echo
tap_is "$RUN_STATUS:$RUN_OUT:$RUN_ERR" "0:2:" "cancel --queued --type echo: exit 0, prints how many (2)"
tap_is "$(field "$e1" state):$(field "$e2" state):$(field "$long" state)" "cancelled:cancelled:running" \
	"both echo tasks are cancelled; the running one is left alone"
wait_until 30 'test -s "$TR_TMP/qw.st"'
tap_ok "$([ "$(cat "$TR_TMP/qw.st")" = 1 ] &&
	grep -q "task $e2 was cancelled: cancelled before it ran" "$TR_TMP/qw.err"; echo $?)" \
	"a client waiting for one sees it cancelled (exit 1)" || tap_diag_file "$TR_TMP/qw.err"
tap_is "$(T list --state queued --json | jq -c '[.[].id]')" "[$n2,$n1]" \
	"the noops are still queued, in their order"
run T cancel --queued --type nosuch
tap_ok "$([ "$RUN_STATUS" = 2 ] && [ -z "$RUN_OUT" ] && [[ $RUN_ERR =~ "unknown task type 'nosuch'" ]]; echo $?)" \
	"cancel --queued --type of an unknown type: exit 2, says so"
run T cancel --queued --all "$n1"
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "--queued takes no ID" ]]; echo $?)" "--queued with an ID: exit 2"
run T cancel --type noop "$n1"
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "--type goes with --queued" ]]; echo $?)" \
	"--type without --queued: exit 2"
run T cancel --queued --all --timeout 5
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "--timeout goes with IDs" ]]; echo $?)" \
	"--queued with --timeout: exit 2"
tap_is "$(field "$n1" state)" queued "and those cancelled nothing"
run T cancel --queued
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "--queued: name the tasks' --type, or --all for every type" ]]; echo $?)" \
	"--queued alone: exit 2, asks for --type or --all (nothing cancelled by a forgotten --type)"
run T cancel --queued --all --type noop
tap_is "$RUN_STATUS" 2 "--queued with both --all and --type: exit 2"
run T cancel --all "$n1"
tap_is "$RUN_STATUS" 2 "--all without --queued: exit 2"
tap_is "$(field "$n1" state)" queued "and those cancelled nothing"
run T cancel --queued --all
tap_is "$RUN_STATUS:$RUN_OUT:$(field "$n1" state):$(field "$n2" state)" "0:2:cancelled:cancelled" \
	"cancel --queued --all: the 2 noops"
T cancel "$long"

# ---- attempts and run timeout ---------------------------------------------------------
run T submit --wait --attempts 1 --run-timeout 1 spin 20000
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "timed out after 1 s" ]]; echo $?)" \
	"--run-timeout 1 --attempts 1: the task fails, timed out"
rt=$(echo "$RUN_ERR" | sed -n 's/.*task \([0-9]*\) failed.*/\1/p')
tap_is "$(field "$rt" max_attempts):$(field "$rt" attempts)" "1:1" "and ran with max_attempts 1"

# ---- an interrupted submit --wait names its task, which goes on -----------------------
# A background job starts with SIGINT ignored (submit leaves an ignored one
# alone): set it back to the default, as an interactive shell's job has it.
for sig in INT TERM; do
	tr_bg perl -e '$SIG{INT} = $SIG{TERM} = "DEFAULT"; exec @ARGV or die' \
		"$TR" -i "$inst" submit --wait spin 5000 >"$TR_TMP/sw.out" 2>"$TR_TMP/sw.err"
	sw=$TR_BG_PID
	sid=
	for ((i = 0; i < 600; i++)); do
		sid=$(T list --state running --json | jq -r '.[0].id // empty')
		[ -n "$sid" ] && break
		sleep 0.05
	done
	kill "-$sig" "$sw"
	wait "$sw"
	st=$?
	tap_is "$st" $((128 + $(kill -l "$sig"))) "SIG$sig stops submit --wait: it dies of the signal"
	tap_is "$(cat "$TR_TMP/sw.out"):$(cat "$TR_TMP/sw.err")" \
		":taskring: submit: interrupted; task $sid still runs (not cancelled: taskring -i $inst cancel $sid)" \
		"SIG$sig: it says which task still runs and how to cancel it"
	tap_is "$(field "$sid" state)" running "SIG$sig: the task is not cancelled: it still runs"
	T cancel "$sid" >/dev/null 2>&1
	T wait "$sid" >/dev/null 2>&1
done

# ---- detached tasks and expired ids ---------------------------------------------------
run T submit --detach echo gone
tap_like "$RUN_STATUS:$RUN_OUT" '^0:[1-9][0-9]*$' "submit --detach prints an id"
det=$RUN_OUT
# A detached task that finished leaves the table at once: waiting on it must not
# claim its result expired or its slot was reused (it cannot tell), but say
# what may have happened.
for ((i = 0; i < 600; i++)); do
	T show "$det" >/dev/null 2>&1 || break
	sleep 0.05
done
run T wait "$det"
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "task $det: no longer in the table (a detached task keeps no result" ]] && ! [[ $RUN_ERR =~ expired ]]; echo $?)" \
	"wait on a finished detached task: exit 1, no longer in the table, not \"expired\""
old=$(T submit echo old)
T wait "$old" >/dev/null
for i in $(seq 1 20); do
	T submit --wait echo "$i" >/dev/null || break
done
run T show "$old"
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "no longer in the table" ]]; echo $?)" \
	"show of an id whose slot was reused: exit 1, no longer in the table"
run T wait "$old"
tap_ok "$([ "$RUN_STATUS" = 1 ] && [[ $RUN_ERR =~ "no longer in the table" ]]; echo $?)" \
	"wait on it: exit 1 at once, no longer in the table"

stop_daemon "$inst"
tap_is "$TR_DAEMON_STATUS" 0 "taskringd stopped cleanly"
done_testing
