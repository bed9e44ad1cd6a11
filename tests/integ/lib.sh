# lib.sh - shared helpers for the integration tests (bash scripts printing TAP).
#
# Source it first thing:   . "$(dirname "$0")/lib.sh"
# It sets `set -u`, makes a private temp dir and installs an EXIT trap that kills
# everything started through these helpers (each in its own process group) and
# removes the shared-memory segments of every instance named by tr_instance.
#
#   TR, TRD                       the CLI and the daemon under test ($TASKRING_BUILD)
#   TR_TMP                        private temp dir, removed at exit
#   tap_ok STATUS MSG             "ok N - MSG" when STATUS is 0, else "not ok N - MSG" (returns 1)
#   tap_skip MSG                  "ok N # SKIP MSG"
#   tap_is GOT WANT MSG           ok when the strings are equal (diag shows both if not)
#   tap_like GOT REGEX MSG        ok when GOT matches the extended regex
#   tap_diag TEXT...              "# TEXT" lines;  tap_diag_file FILE: a file as diag
#   tap_skip_all REASON           plan "1..0 # SKIP REASON", exit 0
#   run CMD...                    runs CMD with stdin from /dev/null, sets RUN_STATUS
#                                 and RUN_OUT / RUN_ERR (stdout / stderr, trailing
#                                 newlines dropped); never aborts the script
#   run_stdin TEXT CMD...         the same with TEXT as standard input
#   tr_instance                   prints a fresh instance name unique to this run
#   start_daemon INSTANCE [ARGS]  starts `taskringd -i INSTANCE ARGS` in its own
#                                 process group, waits (up to TR_START_TIMEOUT s,
#                                 default 60) until `taskring status` succeeds;
#                                 returns non-zero (log as diag) if it does not
#   stop_daemon INSTANCE [SIG] [TIMEOUT]
#                                 sends SIG (default TERM), waits up to TIMEOUT s
#                                 (default 60), then SIGKILLs the group; sets
#                                 TR_DAEMON_STATUS to the daemon's exit status
#   daemon_pid INSTANCE           prints the pid of that instance's daemon
#   tr_bg CMD...                  starts CMD in the background in its own process
#                                 group (killed at exit); sets TR_BG_PID
#   tr_on_exit CMD...             adds a command to run at exit (before the cleanup);
#                                 do not set your own EXIT trap
#   py_setup; py SECS ARGS...     the Python binding's environment; python3 with a
#                                 time limit (and a sanitizer runtime when needed)
#   done_testing                  prints the plan "1..N" and exits 1 if a test failed
#
# start_daemon, stop_daemon, tr_bg, run and tr_on_exit record state in this shell:
# never call them inside $(...) or a pipeline.

set -u

if [ -z "${TASKRING_BUILD:-}" ]; then
	_tr_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	TASKRING_BUILD=$_tr_root/build
fi
TR=$TASKRING_BUILD/taskring
TRD=$TASKRING_BUILD/taskringd
TR_TMP=$(mktemp -d "${TMPDIR:-/tmp}/taskring-test.XXXXXX") || exit 1
# Every instance of this run starts with this prefix, so cleanup finds them all,
# also those named inside subshells. $TASKRING_TEST_PREFIX (letters and digits,
# default "t") starts it, so that runs sharing a machine can tell theirs apart.
TR_PREFIX="${TASKRING_TEST_PREFIX:-t}$$r${RANDOM}"
declare -A _TR_DAEMON=()
declare -a _TR_BG=()
declare -a _TR_EXIT_HOOKS=()
_tap_n=0
_tap_failed=0

tap_ok() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $_tap_n - $2"
	else
		echo "not ok $_tap_n - $2"
		_tap_failed=$((_tap_failed + 1))
		return 1
	fi
}

tap_skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n # SKIP $1"
}

tap_is() {
	if [ "$1" = "$2" ]; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		tap_diag "  got:  '$1'" "  want: '$2'"
		return 1
	fi
}

tap_like() {
	if [[ $1 =~ $2 ]]; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		tap_diag "  got:  '$1'" "  want match: $2"
		return 1
	fi
}

tap_diag() {
	local l
	for l in "$@"; do
		printf '%s\n' "$l" | sed 's/^/# /'
	done
}

tap_diag_file() {
	[ -f "$1" ] && sed 's/^/# /' "$1" | tail -n 40
	return 0
}

tap_skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

run() {
	"$@" </dev/null >"$TR_TMP/run.out" 2>"$TR_TMP/run.err"
	RUN_STATUS=$?
	RUN_OUT=$(cat "$TR_TMP/run.out")
	RUN_ERR=$(cat "$TR_TMP/run.err")
	return 0
}

run_stdin() {
	local input=$1
	shift
	printf '%s' "$input" >"$TR_TMP/run.in"
	"$@" <"$TR_TMP/run.in" >"$TR_TMP/run.out" 2>"$TR_TMP/run.err"
	RUN_STATUS=$?
	RUN_OUT=$(cat "$TR_TMP/run.out")
	RUN_ERR=$(cat "$TR_TMP/run.err")
	return 0
}

tr_instance() {
	echo "${TR_PREFIX}-${BASHPID}${RANDOM}"
}

# True while pid exists and is not a zombie.
_tr_alive() {
	local st
	st=$(sed -n 's/^[0-9]* (.*) \(.\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

daemon_pid() {
	echo "${_TR_DAEMON[$1]:-}"
}

start_daemon() {
	local inst=$1 pid deadline log
	shift
	log=$TR_TMP/daemon-$inst.log
	# A background job of a non-interactive shell is not a process group leader,
	# so setsid(1) calls setsid() in place: $! is the daemon and its group id.
	setsid "$TRD" -i "$inst" "$@" </dev/null >>"$log" 2>&1 &
	pid=$!
	_TR_DAEMON[$inst]=$pid
	deadline=$((SECONDS + ${TR_START_TIMEOUT:-60}))
	while [ $SECONDS -lt $deadline ]; do
		if ! _tr_alive "$pid"; then
			wait "$pid" 2>/dev/null
			TR_DAEMON_STATUS=$?
			unset "_TR_DAEMON[$inst]"
			tap_diag "taskringd -i $inst exited with status $TR_DAEMON_STATUS at start:"
			tap_diag_file "$log"
			return 1
		fi
		if "$TR" -i "$inst" status >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	tap_diag "taskringd -i $inst not ready within ${TR_START_TIMEOUT:-60} s:"
	tap_diag_file "$log"
	return 1
}

stop_daemon() {
	local inst=$1 sig=${2:-TERM} timeout=${3:-60} pid deadline
	pid=${_TR_DAEMON[$inst]:-}
	TR_DAEMON_STATUS=
	[ -n "$pid" ] || return 1
	kill "-$sig" "$pid" 2>/dev/null
	deadline=$((SECONDS + timeout))
	while _tr_alive "$pid" && [ $SECONDS -lt $deadline ]; do
		sleep 0.05
	done
	if _tr_alive "$pid"; then
		tap_diag "taskringd -i $inst still running ${timeout} s after SIG$sig: killing it"
		kill -KILL -- "-$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	TR_DAEMON_STATUS=$?
	kill -KILL -- "-$pid" 2>/dev/null # anything left in its group
	unset "_TR_DAEMON[$inst]"
	return 0
}

tr_bg() {
	setsid "$@" &
	TR_BG_PID=$!
	_TR_BG+=("$TR_BG_PID")
}

# py_setup: the environment for the Python binding against $TASKRING_BUILD's
# library; then `py SECONDS ARGS...` runs python3 with a time limit. A sanitizer
# build of the library (make check-asan) needs its runtime loaded first into the
# interpreter, and python3 itself is not leak-clean.
py_setup() {
	export TASKRING_BUILD
	export TASKRING_LIB=$TASKRING_BUILD/libtaskring.so
	export PYTHONPATH=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/bindings/python
	export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
	unset TASKRING_INSTANCE
	py_env=()
	if ldd "$TASKRING_LIB" 2>/dev/null | grep -q 'libasan'; then
		py_env=(env "LD_PRELOAD=$(ldd "$TASKRING_LIB" | awk '/libasan|libubsan/ { printf "%s ", $3 }')"
			"ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}")
	fi
}

py() { "${py_env[@]}" timeout -s KILL "$1" python3 "${@:2}"; }

tr_on_exit() {
	_TR_EXIT_HOOKS+=("$*")
}

done_testing() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ] || exit 1
	exit 0
}

_tr_cleanup() {
	local inst pid i hook
	for hook in "${_TR_EXIT_HOOKS[@]}"; do
		eval "$hook"
	done
	for pid in "${_TR_BG[@]}"; do
		kill -KILL -- "-$pid" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
	done
	for inst in "${!_TR_DAEMON[@]}"; do
		kill -TERM -- "-${_TR_DAEMON[$inst]}" 2>/dev/null
	done
	for inst in "${!_TR_DAEMON[@]}"; do
		pid=${_TR_DAEMON[$inst]}
		for ((i = 0; i < 100; i++)); do
			_tr_alive "$pid" || break
			sleep 0.05
		done
		kill -KILL -- "-$pid" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -f /dev/shm/taskring."$TR_PREFIX"-* 2>/dev/null
	rm -rf "$TR_TMP"
}
trap _tr_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
