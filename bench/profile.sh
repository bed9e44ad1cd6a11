#!/bin/bash
# bench/profile.sh - profiles one benchmark against a fresh daemon with perf, to
# back the reasons written in bench/RESULTS.md.
#
# Usage: bench/profile.sh [-b BUILD_DIR] [-d DAEMON_BUILD_DIR] [-c CONFIG_YAML] MODE [ARGS...]
#   -b  where the benchmark programs are (default: ./build)
#   -d  where taskringd and taskring are (default: the -b directory), e.g. a
#       build of a patched tree, to measure a proposed fix
#   MODE single | batch   bench_e2e --only MODE (no-op throughput)
#        latency          bench_latency (back to back and idle)
#        recovery         bench_recovery
#        io               bench_io (needs -c with io.allowed_paths and --dir DIR)
#
# Runs the benchmark twice. The first run prints its table and, for the client
# and every process of the daemon, the system calls (all, futex, sched_yield)
# and context switches perf stat counted; the second is sampled by perf record
# (cpu-clock with call graphs: this VM has no hardware counters) and summarised
# with `perf report --sort comm,sym` for the same processes (for recovery: the
# supervisor only, as the workers keep being replaced). The perf
# data stays in a temp dir whose path is printed. The daemon is started with a
# unique instance name in its own session and always killed, its segment
# removed (trap). Needs perf and permission to trace (root here).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
D=""
CFG=""
while [ $# -gt 0 ]; do
	case $1 in
	-b) B=$2; shift 2 ;;
	-d) D=$2; shift 2 ;;
	-c) CFG=$2; shift 2 ;;
	*) break ;;
	esac
done
D=${D:-$B}
MODE=${1:-}
[ -n "$MODE" ] && shift
case $MODE in
single | batch) CMD=("$B/bench/bench_e2e" --no-ring --only "$MODE" --rounds 1) ;;
latency) CMD=("$B/bench/bench_latency" --rounds 1) ;;
recovery) CMD=("$B/bench/bench_recovery") ;;
io) CMD=("$B/bench/bench_io" --rounds 1) ;;
*)
	echo "usage: bench/profile.sh [-b DIR] [-d DIR] [-c CONFIG] single|batch|latency|recovery|io [ARGS...]" >&2
	exit 2
	;;
esac
command -v perf >/dev/null 2>&1 || {
	echo "bench/profile.sh: perf is not installed" >&2
	exit 1
}

OUT=$(mktemp -d "${TMPDIR:-/tmp}/taskring-profile.XXXXXX") || exit 1
NAME="prof$$r${RANDOM}"
DPID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
	wait 2>/dev/null
	rm -f "/dev/shm/taskring.$NAME"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if [ -z "$CFG" ]; then
	CFG=$OUT/config.yaml
	[ "$MODE" = recovery ] && printf 'workers: 2\nrestart:\n  min_uptime_ms: 0\n' >"$CFG"
	[ "$MODE" != recovery ] && printf 'workers: 2\n' >"$CFG"
fi
setsid "$D/taskringd" -i "$NAME" -c "$CFG" >"$OUT/daemon.log" 2>&1 </dev/null &
DPID=$!
# daemon_pids: the supervisor's and the workers' pids, comma-separated, once
# the supervisor and 2 workers are up (workers change when they are killed).
daemon_pids() {
	local i p=""
	for ((i = 0; i < 100; i++)); do
		p=$("$D/taskring" -i "$NAME" status --json 2>/dev/null | grep -o '"pid":[1-9][0-9]*' |
			grep -o '[0-9]*' | paste -sd, -)
		[ "$(echo "$p" | tr ',' '\n' | grep -c .)" -ge 3 ] && break
		sleep 0.1
	done
	echo "$p"
}
pids=$(daemon_pids)
[ -n "$pids" ] || {
	echo "bench/profile.sh: the daemon did not start:" >&2
	cat "$OUT/daemon.log" >&2
	exit 1
}
EV=raw_syscalls:sys_enter,syscalls:sys_enter_futex,syscalls:sys_enter_sched_yield,context-switches
# Run 1 counts, run 2 samples (so perf record's own calls are not counted).
perf stat --per-thread -e "$EV" -p "$pids" -o "$OUT/daemon.stat" &
SP=$!
sleep 0.3
perf stat -e "$EV" -o "$OUT/client.stat" -- "${CMD[@]}" -i "$NAME" "$@"
st=$?
kill -INT "$SP"
wait "$SP"
pids=$(daemon_pids)
# workers killed by the recovery benchmark leave: sample the supervisor there
[ "$MODE" = recovery ] && pids=${pids%%,*}
perf record -q -g -e cpu-clock -F 2999 -p "$pids" -o "$OUT/daemon.data" 2>/dev/null &
RP=$!
sleep 0.3
perf record -q -g -e cpu-clock -F 2999 -o "$OUT/client.data" -- \
	"${CMD[@]}" -i "$NAME" "$@" >/dev/null || st=$?
kill -INT "$RP"
wait "$RP"
echo
echo "== system calls and context switches during the first run"
grep -E 'sys_enter|context-switches' "$OUT/client.stat" | sed 's/^/client  /'
grep -E 'sys_enter|context-switches' "$OUT/daemon.stat" | grep -v '<not counted>' | sed 's/^/daemon  /'
echo
echo "== where the client's CPU time went (perf report --sort comm,sym)"
perf report -i "$OUT/client.data" --no-children --sort comm,sym --stdio 2>/dev/null |
	grep -E '^ +[0-9]' | head -25
echo
echo "== where the daemon's CPU time went (perf report --sort comm,sym)"
perf report -i "$OUT/daemon.data" --no-children --sort comm,sym --stdio 2>/dev/null |
	grep -E '^ +[0-9]' | head -25
echo
echo "perf data: $OUT (perf report -i FILE -G for call graphs)"
exit "$st"
