#!/bin/bash
# cli-args.t - the taskring CLI's handling of bad input, help and version, and of
# instances it cannot reach. Needs no running daemon: every instance here is a
# fresh name with no segment (or a planted bad one), so each case must end in a
# clear one-line message and exit 2 (usage) or 3 (unreachable), never a crash,
# and nothing on stdout.
. "$(dirname "$0")/lib.sh"

[ -x "$TR" ] || tap_skip_all "no CLI at $TR (run make first)"
root=$(cd "$(dirname "$0")/../.." && pwd)
inst=$(tr_instance) # never started: no segment exists
T() { "$TR" -i "$inst" "$@"; }

# expect_usage DESC REGEX ARGS... : exit 2, message matching REGEX, empty stdout
expect_usage() {
	local desc=$1 re=$2
	shift 2
	run T "$@"
	if [ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ $re ]] && [ -z "$RUN_OUT" ] &&
		[[ $RUN_ERR =~ ^taskring: ]] && [[ $RUN_ERR =~ "try 'taskring" ]]; then
		tap_ok 0 "$desc: exit 2 with a message"
	else
		tap_ok 1 "$desc: exit 2 with a message"
		tap_diag "taskring $*" "status $RUN_STATUS, stdout '$RUN_OUT'" "stderr: $RUN_ERR" \
			"wanted stderr matching: $re"
	fi
}

# expect_unreachable DESC ARGS... : exit 3, "not running" message, empty stdout
expect_unreachable() {
	local desc=$1
	shift
	run T "$@"
	if [ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "instance '$inst' is not running" ]] &&
		[ -z "$RUN_OUT" ]; then
		tap_ok 0 "$desc: exit 3, says the instance is not running"
	else
		tap_ok 1 "$desc: exit 3, says the instance is not running"
		tap_diag "taskring $*" "status $RUN_STATUS, stdout '$RUN_OUT'" "stderr: $RUN_ERR"
	fi
}

# ---- version and help -------------------------------------------------------
want_version=$(sed -n 's/^#define TASKRING_VERSION "\(.*\)"$/\1/p' "$root/include/taskring.h")
for v in -V --version; do
	run "$TR" $v
	tap_is "$RUN_STATUS:$RUN_OUT" "0:taskring $want_version" "$v prints the version"
done

commands="submit wait map show list cancel status kill-worker reload stress"
for h in -h --help; do
	run "$TR" $h
	missing=""
	for c in $commands; do
		[[ $RUN_OUT =~ "  $c " ]] || missing="$missing $c"
	done
	tap_ok "$([ "$RUN_STATUS" = 0 ] && [ -z "$missing" ] && [[ $RUN_OUT =~ ^usage:\ taskring ]]; echo $?)" \
		"$h: usage and every command listed${missing:+ (missing:$missing)}"
done
run "$TR" help
tap_ok "$([ "$RUN_STATUS" = 0 ] && [[ $RUN_OUT =~ ^usage:\ taskring ]]; echo $?)" "help: the overview"
tap_like "$RUN_OUT" "Exit status: 0 success" "help: documents the exit statuses"

for c in $commands; do
	run "$TR" help "$c"
	a="$RUN_STATUS:$RUN_OUT"
	run "$TR" "$c" --help
	b="$RUN_STATUS:$RUN_OUT"
	run "$TR" -i "$inst" "$c" -h
	d="$RUN_STATUS:$RUN_OUT"
	tap_ok "$([ "$a" = "$b" ] && [ "$b" = "$d" ] && [[ $a =~ ^0:usage:\ taskring\ $c ]]; echo $?)" \
		"help $c = $c --help = $c -h, exit 0"
done
expect_usage "help of an unknown command" "unknown command 'nosuch'" help nosuch

# ---- commands and options ---------------------------------------------------
run "$TR"
tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "no command given" ]] &&
	[[ $RUN_ERR =~ "try 'taskring --help'" ]]; echo $?)" "no command: exit 2, try --help"
expect_usage "unknown command" "unknown command 'frobnicate'" frobnicate
expect_usage "unknown global option" "unknown or ambiguous option '--frob'" --frob status
expect_usage "unknown global short option" "unknown option '-Z'" -Z status
expect_usage "-i without a value" "option '-i' needs a value" -i
expect_usage "invalid instance name" "invalid instance name 'bad/name'" -i bad/name status
expect_usage "too long instance name" "invalid instance name" -i "$(printf 'x%.0s' {1..33})" status
expect_usage "empty instance name" "invalid instance name ''" -i "" status

for c in submit wait map show list cancel status kill-worker reload; do
	expect_usage "$c: unknown option" "unknown or ambiguous option '--bogus'" "$c" --bogus
done
expect_usage "submit: unknown short option" "unknown option '-z'" submit -z echo
expect_usage "submit: option needing a value at the end" "option '--timeout' needs a value" submit --timeout
expect_usage "submit: value for a flag" "option '--wait' takes no value" submit --wait=yes echo
expect_usage "submit: --wait with --detach" "--wait and --detach exclude each other" submit --wait --detach echo
expect_usage "submit: bad class" "--class: 'gpu' is not a class" submit --class gpu echo
expect_usage "map: submit-only option" "'--wait' is for 'taskring submit' only" map --wait echo 1

# ---- missing arguments ------------------------------------------------------
expect_usage "submit without TYPE" "missing TYPE" submit
expect_usage "submit with empty TYPE" "empty TYPE" submit ""
expect_usage "submit exec without PROGRAM" "exec needs a PROGRAM" submit exec --
expect_usage "wait without ID" "missing ID" wait
expect_usage "show without ID" "missing ID" show
expect_usage "show with two IDs" "show takes one ID" show 1 2
expect_usage "cancel without ID" "missing ID" cancel
expect_usage "kill-worker without INDEX" "missing INDEX" kill-worker
expect_usage "map without TYPE" "missing TYPE" map
expect_usage "map without ARG" "missing ARG" map echo
expect_usage "map exec without PROGRAM" "exec needs a PROGRAM" map exec --
expect_usage "list with an operand" "unexpected argument 'x'" list x
expect_usage "status with an operand" "unexpected argument 'x'" status x

# ---- numbers, durations, ids, signals ---------------------------------------
expect_usage "--timeout not a number" "--timeout: 'abc' is not a number of seconds" submit --timeout abc echo
expect_usage "--timeout negative" "--timeout: '-1' is negative" submit --timeout -1 echo
expect_usage "--timeout trailing junk" "--timeout: '1.5s' is not a number" wait --timeout 1.5s 1
expect_usage "--timeout empty" "--timeout: empty value" wait --timeout "" 1
expect_usage "--timeout too long" "--timeout: .* is too long" wait --timeout 99999999999999999999 1
expect_usage "--attempts zero" "--attempts: '0' is too small" submit --attempts 0 echo
expect_usage "--attempts negative" "--attempts: '-2' is negative" map --attempts -2 echo 1
expect_usage "--attempts decimal" "--attempts: '2.5' is not a number" submit --attempts 2.5 echo
expect_usage "--attempts overflow" "--attempts: .* is too large" submit --attempts 184467440737095516160 echo
expect_usage "--attempts past the queue's limit" "--attempts: '1001' is too large" submit --attempts 1001 echo
expect_usage "--run-timeout zero" "--run-timeout: must be more than 0" submit --run-timeout 0 echo
expect_usage "--run-timeout junk" "--run-timeout: 'x' is not a number" submit --run-timeout x echo
expect_usage "id not a number" "'abc' is not a task id" wait abc
expect_usage "id zero" "'0' is not a task id" show 0
expect_usage "id negative" "'-5': negative numbers are not accepted" cancel -5
expect_usage "id decimal" "'1.5' is not a task id" wait 1.5
expect_usage "id overflow" "is too large" show 99999999999999999999999
expect_usage "id with junk among good ones" "'7x' is not a task id" wait 1 2 7x
expect_usage "kill-worker index not a number" "INDEX: 'one' is not a number" kill-worker one
expect_usage "kill-worker index too large" "INDEX: '5000' is too large" kill-worker 5000
expect_usage "kill-worker unknown signal" "--signal: 'NOPE' is not a signal name" kill-worker --signal NOPE 0
expect_usage "kill-worker signal out of range" "--signal: '99' is not a signal number" kill-worker -s 99 0
expect_usage "list unknown state" "--state: unknown state 'sleeping'" list --state queued,sleeping
expect_usage "reload bad timeout" "--timeout: 'soon' is not a number" reload --timeout soon
expect_usage "stress --duration 0" "--duration: must be more than 0" stress --duration 0
expect_usage "stress shorter than its first kill" \
	"--duration 100 ms is shorter than the first kill \(--kill-every 250 ms\)" stress --duration 0.1

run_stdin "$(printf 'ok line\nbad\001')" "$TR" -i "$inst" map echo -
tap_ok "$([ "$RUN_STATUS" = 3 ]; echo $?)" "map -: control bytes are fine, then the instance is unreachable"
printf 'fine\nwith\0nul\n' >"$TR_TMP/nul.in"
"$TR" -i "$inst" map echo - <"$TR_TMP/nul.in" >"$TR_TMP/o" 2>"$TR_TMP/e"
st=$?
tap_ok "$([ $st = 2 ] && grep -q 'standard input line 2 holds a NUL byte' "$TR_TMP/e"; echo $?)" \
	"map -: a NUL byte in line 2 is a usage error naming the line"

# ---- unreachable instances --------------------------------------------------
expect_unreachable "status" status
expect_unreachable "status --json" status --json
expect_unreachable "submit" submit echo hi
expect_unreachable "submit --wait" submit --wait echo hi
expect_unreachable "wait" wait 1
expect_unreachable "map" map echo a b
expect_unreachable "map with empty input" map echo -
expect_unreachable "show" show 1
expect_unreachable "list" list
expect_unreachable "cancel" cancel 1
expect_unreachable "kill-worker" kill-worker 0
expect_unreachable "reload" reload

run env TASKRING_INSTANCE="$inst" "$TR" status
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "instance '$inst'" ]]; echo $?)" \
	"\$TASKRING_INSTANCE selects the instance"
other=$(tr_instance)
run env TASKRING_INSTANCE="$inst" "$TR" -i "$other" status
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "instance '$other'" ]]; echo $?)" \
	"-i overrides \$TASKRING_INSTANCE"
run env TASKRING_INSTANCE="$inst" "$TR" status -i "$other"
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "instance '$other'" ]]; echo $?)" \
	"-i after the command works too"
for g in abc -1 1e999; do
	run env TASKRING_DEAD_GRACE="$g" "$TR" -i "$inst" status
	tap_ok "$([ "$RUN_STATUS" = 2 ] && [[ $RUN_ERR =~ "TASKRING_DEAD_GRACE: '$g'" ]]; echo $?)" \
		"TASKRING_DEAD_GRACE=$g: exit 2, naming the variable ($RUN_STATUS: ${RUN_ERR%%$'\n'*})"
done
run env TASKRING_DEAD_GRACE=0.5 "$TR" -i "$inst" status
tap_is "$RUN_STATUS" 3 "TASKRING_DEAD_GRACE=0.5 is accepted"
# Only commands that attach read it: help and version work with any value.
for a in -V --help "help submit" "submit --help"; do
	run env TASKRING_DEAD_GRACE=abc "$TR" $a
	tap_ok "$([ "$RUN_STATUS" = 0 ] && [ -n "$RUN_OUT" ]; echo $?)" \
		"TASKRING_DEAD_GRACE=abc does not break 'taskring $a' ($RUN_STATUS: ${RUN_ERR%%$'\n'*})"
done

# A planted segment that is not a taskring segment: refused as incompatible.
bad=$(tr_instance)
head -c 65536 /dev/urandom >"/dev/shm/taskring.$bad"
chmod 600 "/dev/shm/taskring.$bad"
run "$TR" -i "$bad" status
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ incompatible ]] && [ -z "$RUN_OUT" ]; echo $?)" \
	"garbage segment: exit 3, says incompatible"
[ "$RUN_STATUS" = 3 ] || tap_diag "$RUN_ERR"
# A segment anyone may write: refused for lack of a safe mode.
chmod 666 "/dev/shm/taskring.$bad"
run "$TR" -i "$bad" submit echo hi
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "no permission" ]]; echo $?)" \
	"world-writable segment: exit 3, says no permission"
[ "$RUN_STATUS" = 3 ] || tap_diag "$RUN_ERR"
rm -f "/dev/shm/taskring.$bad"

# ---- never a crash ------------------------------------------------------------
long=$(head -c 100000 /dev/zero | tr '\0' 7)
crashed=""
for args in "wait $long" "show $long" "submit --timeout $long echo" "-i $long status" \
	"$(printf 'submit \377\376 x')" "$(printf 'wait \033[31m')" "kill-worker -s $long 0" \
	"list --state $long" "$(printf 'map --class \377 echo x')"; do
	# shellcheck disable=SC2086
	"$TR" -i "$inst" $args </dev/null >/dev/null 2>"$TR_TMP/e"
	st=$?
	if [ $st -ge 128 ] || [ $st = 0 ] || [ "$(wc -l <"$TR_TMP/e")" -gt 3 ]; then
		crashed="$crashed [${args:0:40}: $st]"
	fi
done
tap_ok "$([ -z "$crashed" ]; echo $?)" "hostile arguments: a short error, no crash${crashed:+:$crashed}"

left=$(ls /dev/shm | grep -c "^taskring\.$TR_PREFIX" || true)
tap_is "$left" 0 "no segment of this test left in /dev/shm"

done_testing
