#!/bin/bash
# exec.t - exec tasks (issue 8, acceptance 1): only programs in exec.allowed run
# (refused with a clear error otherwise, and while the list is empty), in a clean
# environment, exec.cwd, stdin from /dev/null, a process group of their own and the
# worker's CPU; stdout is the result (cut at result_max, saying so); a non-zero exit
# or a signal fails the task with the status and the end of stderr; a run timeout or
# a cancel kills the program's whole process group, even when it ignores SIGTERM, in
# both classes, without stopping the worker; 200 io-class sleeps on 2 workers run at
# once; and SIGKILLed workers leave none of their programs (nor what those started)
# running.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
SH=/bin/sh
SLEEP=$(command -v sleep)
SEQ=$(command -v seq)
ENV=$(command -v env)
PWD_BIN=/bin/pwd
for p in "$SH" "$SLEEP" "$SEQ" "$ENV" "$PWD_BIN" /bin/echo /bin/cat; do
	[ -x "$p" ] || tap_skip_all "$p missing"
done
command -v pgrep >/dev/null || tap_skip_all "pgrep missing"

# Process ids of the processes whose command line holds $1 (none: empty).
marked() { pgrep -f -- "$1" | sort -n | tr '\n' ' '; }
# True once none of the pids in $1 is alive (zombies count as gone).
all_gone() {
	local p
	for p in $1; do _tr_alive "$p" && return 1; done
	return 0
}
# True once no process is left in process group $1.
group_gone() { ! pgrep -g "$1" >/dev/null 2>&1; }

# ---- exec.allowed empty: refused ---------------------------------------------------------
inst0=$(tr_instance)
write_config "$TR_TMP/none.yaml" "workers: 1"
start_daemon "$inst0" -c "$TR_TMP/none.yaml"
tap_ok $? "taskringd started with exec.allowed empty"
id=$("$TR" -i "$inst0" submit exec -- /bin/echo hi)
run "$TR" -i "$inst0" wait --timeout 60 "$id"
tap_is "$RUN_STATUS" 1 "exec is refused while exec.allowed is empty"
tap_is "$(task_json "$inst0" "$id" error)" "exec: no programs are allowed (exec.allowed is empty)" \
	"... saying so"
stop_daemon "$inst0" TERM

# ---- a daemon that allows some programs ----------------------------------------------------
inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
mkdir -p "$TR_TMP/cwd"
write_config "$TR_TMP/d.yaml" "workers: 2" "queue:" "  result_max: 512" "tasks:" \
	"  kill_grace_ms: 400" "exec:" "  allowed:" "    - $SH" "    - $SLEEP" "    - $SEQ" \
	"    - $ENV" "    - $PWD_BIN" "    - /bin/echo" "    - /bin/cat" \
	"    - $TR_TMP/no-such-program" "  env:" "    GREETING: hello there" \
	"    PATH: /usr/bin:/bin" "  cwd: $TR_TMP/cwd"
start_daemon "$inst" -c "$TR_TMP/d.yaml"
tap_ok $? "taskringd started (2 workers, exec.allowed set)"
wait_until 30 'test "$(nready "$inst")" = 2'
tap_ok $? "both workers ready"
w0=$(worker_pid "$inst" 0)
w1=$(worker_pid "$inst" 1)

# Runs one exec task and waits: sets ID, STATE, RESULT, ERROR.
exec_task() {
	ID=$(T submit "$@")
	T wait --timeout 120 "$ID" >/dev/null 2>&1
	STATE=$(task_json "$inst" "$ID" state)
	RESULT=$(task_json "$inst" "$ID" result)
	ERROR=$(task_json "$inst" "$ID" error)
}

exec_task exec -- /bin/ls /
tap_is "$STATE:$ERROR" "failed:exec: program not allowed: /bin/ls" "a program not listed is refused"
exec_task exec -- bin/echo x
tap_is "$STATE:$ERROR" "failed:exec: program not allowed: bin/echo" \
	"a relative path does not match an allowed program"
exec_task exec -- "$TR_TMP/no-such-program" x
tap_is "$STATE:$ERROR" "failed:exec: cannot run $TR_TMP/no-such-program: No such file or directory" \
	"an allowed program that is missing fails with the reason"

exec_task exec -- /bin/echo hello "big   world"
tap_is "$STATE:$RESULT" "done:hello big   world" "the program's stdout is the result, words unsplit"
exec_task exec -- "$ENV"
tap_like "$STATE:$RESULT" $'^done:GREETING=hello there\nPATH=/usr/bin:/bin\nTASKRING_INVOCATION_ID=[0-9a-f]{16}$' \
	"the environment is exec.env and the daemon's token, nothing else"
exec_task exec -- "$PWD_BIN"
tap_is "$RESULT" "$(cd "$TR_TMP/cwd" && pwd -P)" "the working directory is exec.cwd"
exec_task exec --run-timeout 30 -- /bin/cat
tap_is "$STATE:$RESULT" "done:" "stdin is /dev/null (cat ends at once with nothing)"
exec_task exec -- "$SH" -c 'echo $$ $(cut -d" " -f5 /proc/$$/stat); sed -n "s/^Cpus_allowed_list:[[:space:]]*//p" /proc/$$/status'
read -r cpid cpg <<<"$(head -n 1 <<<"$RESULT")"
tap_ok "$([ -n "$cpid" ] && [ "$cpid" = "$cpg" ]; echo $?)" \
	"the program leads a process group of its own (pid $cpid, pgid $cpg)"
wcpus=" $(worker_cpu "$inst" 0) $(worker_cpu "$inst" 1) "
ccpu=$(tail -n 1 <<<"$RESULT")
tap_ok "$([[ $ccpu =~ ^[0-9]+$ ]] && [[ $wcpus == *" $ccpu "* ]]; echo $?)" \
	"it runs on its worker's CPU (allowed: '$ccpu', workers on:$wcpus)"

# ---- output: truncation, failure, signals ---------------------------------------------------
total=$("$SEQ" 1 10000 | wc -c)
exec_task exec -- "$SEQ" 1 10000
tap_is "$STATE" done "a program writing $total bytes (result_max 512) is done"
tap_like "$RESULT" "^1
2
3
" "its result starts with the output"
tap_like "$RESULT" $'\n\\[output truncated at [0-9]+ of '"$total"' bytes\]$' \
	"and ends saying it was cut"
tap_is "${#RESULT}" 512 "the cut result fills result_max exactly"

exec_task exec -- "$SH" -c 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "err line $i" >&2; done; echo out; exit 3'
tap_is "$STATE" failed "a non-zero exit fails the task"
tap_like "$ERROR" $'^exec: exited with status 3\n' "with the exit status first"
tap_like "$ERROR" $'\nerr line 300$' "and the last line of stderr last"
tap_ok "$([[ $ERROR != *"err line 1"$'\n'* ]] && [ ${#ERROR} -le 600 ]; echo $?)" \
	"only the end of stderr is kept (${#ERROR} bytes)"

exec_task exec --class io -- "$SH" -c 'ulimit -c 0; echo about to crash >&2; kill -SEGV $$'
tap_is "$STATE:$ERROR" "failed:exec: killed by signal 11 (SIGSEGV)
about to crash" "a death by signal names the signal, then stderr (class io)"
exec_task exec -- "$SH" -c 'kill -KILL $$'
tap_is "$ERROR" "exec: killed by signal 9 (SIGKILL)" "a death without stderr is just the signal"

# ---- run timeout and cancel kill the process group ---------------------------------------------
# A shell ignoring SIGTERM with two children that ignore it too (inherited): only
# the SIGKILL after kill_grace_ms ends them.
stubborn() { # stubborn MARK PIDFILE
	echo "trap '' TERM; echo \$\$ >$2.tmp; mv $2.tmp $2; $SLEEP 1000.$1 & $SLEEP 1000.$1; wait"
}
restarts() { status_json "$inst" | jq -r '[.workers[].restarts] | add'; }
r0=$(restarts)
for cls in cpu io; do
	mark="$RANDOM$RANDOM"
	pf="$TR_TMP/pg-timeout-$cls"
	start=$SECONDS
	exec_task exec --class "$cls" --run-timeout 1 --attempts 3 -- "$SH" -c "$(stubborn "$mark" "$pf")"
	took=$((SECONDS - start))
	tap_is "$STATE:$ERROR" "failed:timed out after 1 s" \
		"$cls class: a program past its run timeout fails 'timed out after 1 s'"
	tap_is "$(task_json "$inst" "$ID" attempts)" 1 "$cls class: at once, on its first attempt"
	tap_ok "$([ "$took" -lt 60 ]; echo $?)" "$cls class: long before the program's 1000 s (${took} s)"
	pg=$(cat "$pf" 2>/dev/null)
	wait_until 10 "group_gone '$pg'"
	tap_ok $? "$cls class: its process group ($pg) is gone, SIGTERM-ignoring children too"
	tap_is "$(marked "1000.$mark")" "" "$cls class: no process of it is left"

	mark="$RANDOM$RANDOM"
	pf="$TR_TMP/pg-cancel-$cls"
	ID=$(T submit exec --class "$cls" -- "$SH" -c "$(stubborn "$mark" "$pf")")
	# the shell and its two sleeps (the shell's command line holds the mark too)
	wait_until 30 "test -s '$pf' && test \"\$(marked 1000.$mark | wc -w)\" = 3"
	tap_ok $? "$cls class: a stubborn program runs (pid file, shell and both children)"
	run T cancel "$ID"
	tap_is "$RUN_STATUS" 0 "$cls class: cancel of the running program succeeds"
	run T wait --timeout 60 "$ID"
	tap_is "$(task_json "$inst" "$ID" state):$(task_json "$inst" "$ID" error)" "cancelled:cancelled" \
		"$cls class: the task ends cancelled"
	pg=$(cat "$pf")
	wait_until 10 "group_gone '$pg'"
	tap_ok $? "$cls class: its process group ($pg) is gone"
	tap_is "$(marked "1000.$mark")" "" "$cls class: no process of it is left"
done
tap_is "$(worker_pid "$inst" 0) $(worker_pid "$inst" 1) $(restarts)" "$w0 $w1 $r0" \
	"no worker was stopped or restarted for those timeouts and cancels"

# ---- a program that leaves a process behind while it runs --------------------------------------
# `(cmd &)` reparents cmd to the supervisor (the subreaper) while the program
# still runs; that must not kill the program's group before the program ends.
for cls in cpu io; do
	mark="$RANDOM$RANDOM"
	exec_task exec --class "$cls" -- "$SH" -c "($SLEEP 1000.$mark &); $SLEEP 1.5; echo finished"
	tap_is "$STATE:$RESULT" "done:finished" \
		"$cls class: a program whose background child was reparented runs to its end"
	wait_until 10 'test -z "$(marked "1000.$mark")"'
	tap_ok $? "$cls class: and that child is gone once the program ended"
done

# ---- many io-class programs at once ------------------------------------------------------------
args=()
for ((i = 0; i < 200; i++)); do args+=(0.2); done
start=$(date +%s%N)
run T map --timeout 120 exec --class io -- "$SLEEP" "${args[@]}"
ms=$((($(date +%s%N) - start) / 1000000))
tap_is "$RUN_STATUS:$(grep -c '^$' "$TR_TMP/run.out")" "0:200" "200 io-class 'sleep 0.2' programs all done"
tap_ok "$([ "$ms" -lt 20000 ]; echo $?)" \
	"in $ms ms on 2 workers, well under the 40 s one at a time"

# ---- SIGKILLed workers leave nothing behind -----------------------------------------------------
mark="$RANDOM$RANDOM"
tree="$SLEEP 1000.$mark & setsid $SLEEP 1000.$mark & $SLEEP 1000.$mark; wait"
ids=()
for i in 1 2 3 4; do ids+=("$(T submit exec --class io -- "$SH" -c "$tree")"); done
for i in 1 2; do ids+=("$(T submit exec -- "$SH" -c "$tree")"); done
# 6 shells, each with 3 sleeps (one in a session of its own)
wait_until 60 'test "$(marked "1000.$mark" | wc -w)" -ge 24'
tap_ok $? "6 programs (4 io, 2 cpu) and their 18 children run"
before=$(marked "1000.$mark")
kill -KILL "$(worker_pid "$inst" 0)" "$(worker_pid "$inst" 1)"
wait_until 20 "all_gone '$before'"
st=$?
tap_ok $st "after both workers were SIGKILLed, none of those $(echo $before | wc -w) processes is left"
[ $st = 0 ] || tap_diag "left: $(ps -o pid,ppid,pgid,stat,args -p "$(echo $before | tr ' ' ,)" 2>&1)"
wait_until 60 'test "$(nready "$inst")" = 2'
tap_ok $? "both workers were replaced"
# The io tasks were requeued uncharged and run again: cancel whatever runs.
for id in "${ids[@]}"; do T cancel "$id" >/dev/null 2>&1; done
for id in "${ids[@]}"; do T wait --timeout 60 "$id" >/dev/null 2>&1; done
wait_until 20 'test -z "$(marked "1000.$mark")"'
tap_ok $? "once their reruns are cancelled, no process of theirs is left"
tap_like "$(cat "$(daemon_log "$inst")")" "killed [0-9]+ process(es)? an exec task left running" \
	"the supervisor logged the leftovers it killed"

# ---- programs cannot signal their worker or the supervisor (the guard) ------------------------
# Without it, an io-class program that kills its worker would be requeued
# uncharged and kill the next one forever. Signal 0 where everyone is meant,
# so that a missing guard harms nothing outside this daemon.
if grep -q "the guard is off" "$(daemon_log "$inst")"; then
	why=$(grep -o 'the guard is off.*' "$(daemon_log "$inst")" | head -n 1)
	tap_skip "cpu class: the exec guard is off here: $why"
	tap_skip "io class: the exec guard is off here: $why"
	tap_skip "cpu class, every thread: the exec guard is off here: $why"
	tap_skip "io class, every thread: the exec guard is off here: $why"
	tap_skip "workers and supervisor: the exec guard is off here: $why"
else
	dpid=$(daemon_pid "$inst")
	w0=$(worker_pid "$inst" 0) w1=$(worker_pid "$inst" 1) r0=$(restarts)
	for cls in cpu io; do
		exec_task exec --class "$cls" -- "$SH" -c "kill -KILL \$PPID 2>/dev/null; a=\$?; kill -STOP \$PPID 2>/dev/null; b=\$?; kill -KILL $dpid 2>/dev/null; c=\$?; kill -0 -1 2>/dev/null; echo \$a\$b\$c\$?"
		tap_is "$STATE:$RESULT" "done:1111" \
			"$cls class: a program's kill of its worker, of the supervisor and of everyone fails"
	done
	# Every thread of the worker and of the supervisor (signal 0: a probe).
	probe='sup=$(awk "/^PPid/{print \$2}" /proc/$PPID/status); n=0; hit=0
for t in /proc/$PPID/task/* /proc/$sup/task/*; do n=$((n + 1)); kill -0 ${t##*/} 2>/dev/null && hit=$((hit + 1)); done
echo $n $hit'
	for cls in cpu io; do
		exec_task exec --class "$cls" -- "$SH" -c "$probe"
		read -r nthreads nhit <<<"$RESULT"
		tap_ok "$([ "$STATE" = done ] && [ "${nthreads:-0}" -ge 4 ] && [ "$nhit" = 0 ]; echo $?)" \
			"$cls class: none of the $nthreads threads of its worker and the supervisor can be signalled ($STATE: $RESULT)"
	done
	tap_is "$(worker_pid "$inst" 0) $(worker_pid "$inst" 1) $(restarts) $(daemon_pid "$inst")" \
		"$w0 $w1 $r0 $dpid" "no worker was stopped or restarted, the supervisor runs"
fi

# ---- a SIGKILLed supervisor: the next one kills what its programs left ------------------------
# Its workers and their programs die with it (PR_SET_PDEATHSIG), but what the
# programs started goes to init, out of reach of the dead subreaper. The rerun
# of the requeued task finds its flag and exits at once.
mark="$RANDOM$RANDOM"
flag=$TR_TMP/ran.$mark
id=$(T submit exec --class io -- "$SH" -c "[ -e $flag ] && exit 0; : >$flag; $SLEEP 1000.$mark & $SLEEP 1000.$mark")
wait_until 30 'test "$(marked "1000.$mark" | wc -w)" -ge 2'
tap_ok $? "a program and its children run"
dpid=$(daemon_pid "$inst")
kill -KILL "$dpid"
wait "$dpid" 2>/dev/null
sleep 1
left=$(marked "1000.$mark")
tap_ok "$([ -n "$left" ]; echo $?)" "with the supervisor SIGKILLed, what the program started lives on ($left)"
start_daemon "$inst" -c "$TR_TMP/d.yaml"
tap_ok $? "a new taskringd adopts the segment"
wait_until 20 'test -z "$(marked "1000.$mark")"'
tap_ok $? "and kills what was left in the dead supervisor's session"
tap_like "$(cat "$(daemon_log "$inst")")" \
	"killed [0-9]+ process(es)? left running in the session of the previous supervisor \\(pid $dpid\\)" \
	"saying so"
run T wait --timeout 60 "$id"
tap_is "$RUN_STATUS" 0 "the requeued task ran again"

# ---- stop --------------------------------------------------------------------------------------
mark="$RANDOM$RANDOM"
T submit exec --class io -- "$SH" -c "$SLEEP 1000.$mark & $SLEEP 1000.$mark; wait" >/dev/null
wait_until 30 'test "$(marked "1000.$mark" | wc -w)" -ge 2'
stop_daemon "$inst" QUIT
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped at once (SIGQUIT) with a program running, exit 0"
wait_until 10 'test -z "$(marked "1000.$mark")"'
tap_ok $? "nothing of that program is left"
done_testing
