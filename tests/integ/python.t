#!/bin/bash
# python.t - the Python client (bindings/python/taskring.py) against real daemons
# (issue 8, Python client): submit/result, map order and maps larger than the table,
# map collecting finished tasks in batches (wait_many), with a failed or cancelled one inside,
# errors as exceptions, timeouts, cancel, status(), the ctypes struct layouts against
# include/taskring.h, and the example script. The checks live in
# tests/python/test_client.py, which prints unnumbered TAP lines numbered here.
#
# Two daemons: A (2 workers, queue.capacity 64) for most tests, B (1 worker) for
# cancelling a queued task behind a busy worker; the Python test SIGKILLs B's
# supervisor at the end to check how waits end when the daemon is gone.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 not installed"
[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
[ -f "$TASKRING_BUILD/libtaskring.so" ] || tap_skip_all "libtaskring.so not built in $TASKRING_BUILD"

root=$(cd "$(dirname "$0")/../.." && pwd)
py_setup

# Relays the test program's unnumbered TAP lines through lib.sh's numbering.
relay() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok - # SKIP "*) tap_skip "${line#ok - \# SKIP }" ;;
		"ok - "*) tap_ok 0 "${line#ok - }" ;;
		"not ok - "*) tap_ok 1 "${line#not ok - }" ;;
		*) printf '%s\n' "$line" ;;
		esac
	done <"$1"
}

# ---- the struct layouts as the C compiler sees them -----------------------------------
layout=
cat >"$TR_TMP/layout.c" <<'C'
#include <stddef.h>
#include <stdio.h>
#include "taskring.h"
#define S(s) printf("%s %zu\n", #s, sizeof(struct s));
#define F(s, f) printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f));
int main(void)
{
	S(taskring_opts) F(taskring_opts, cls) F(taskring_opts, use_cls)
	F(taskring_opts, max_attempts) F(taskring_opts, run_timeout_s) F(taskring_opts, flags)
	F(taskring_opts, timeout_ms)
	S(taskring_req) F(taskring_req, type) F(taskring_req, argc) F(taskring_req, argv)
	S(taskring_info) F(taskring_info, id) F(taskring_info, type) F(taskring_info, cls)
	F(taskring_info, state) F(taskring_info, attempts) F(taskring_info, max_attempts)
	F(taskring_info, worker) F(taskring_info, run_timeout_s) F(taskring_info, submitted_ns)
	F(taskring_info, started_ns) F(taskring_info, finished_ns) F(taskring_info, argc)
	F(taskring_info, argv) F(taskring_info, output) F(taskring_info, output_len)
	F(taskring_info, buf_)
	S(taskring_worker_info) F(taskring_worker_info, index) F(taskring_worker_info, pid)
	F(taskring_worker_info, cpu) F(taskring_worker_info, state) F(taskring_worker_info, task)
	F(taskring_worker_info, io_inflight) F(taskring_worker_info, tasks_done)
	F(taskring_worker_info, restarts) F(taskring_worker_info, last_exit)
	F(taskring_worker_info, restart_in_ms)
	S(taskring_status) F(taskring_status, instance) F(taskring_status, pid)
	F(taskring_status, alive) F(taskring_status, uptime_s) F(taskring_status, epoch)
	F(taskring_status, capacity) F(taskring_status, free) F(taskring_status, payload_max)
	F(taskring_status, result_max) F(taskring_status, queued) F(taskring_status, running)
	F(taskring_status, submitted) F(taskring_status, done) F(taskring_status, failed)
	F(taskring_status, cancelled) F(taskring_status, requeued)
	F(taskring_status, worker_restarts) F(taskring_status, reload_seq)
	F(taskring_status, reload_ok) F(taskring_status, reload_error) F(taskring_status, nworkers)
	F(taskring_status, workers) F(taskring_status, executing) F(taskring_status, spare_pid)
	F(taskring_status, spare_state) F(taskring_status, spare_in_ms) F(taskring_status, spare_fails)
	return 0;
}
C
if ${CC:-cc} -std=gnu11 -I"$root/include" -o "$TR_TMP/layout" "$TR_TMP/layout.c" 2>"$TR_TMP/cc.err" &&
	"$TR_TMP/layout" >"$TR_TMP/layout.txt"; then
	layout=$TR_TMP/layout.txt
else
	tap_diag "cannot compile the layout printer:"
	tap_diag_file "$TR_TMP/cc.err"
fi

# ---- daemons ------------------------------------------------------------------------
inst_a=$(tr_instance)
inst_b=$(tr_instance)
cat >"$TR_TMP/a.yaml" <<YAML
workers: 2
queue:
  capacity: 64
tasks:
  kill_grace_ms: 200
YAML
cat >"$TR_TMP/b.yaml" <<YAML
workers: 1
queue:
  capacity: 64
tasks:
  kill_grace_ms: 200
restart:
  min_uptime_ms: 0
YAML
start_daemon "$inst_a" -c "$TR_TMP/a.yaml"
tap_ok $? "taskringd A started (2 workers, capacity 64)"
start_daemon "$inst_b" -c "$TR_TMP/b.yaml"
tap_ok $? "taskringd B started (1 worker)"
if [ -z "$(daemon_pid "$inst_a")" ] || [ -z "$(daemon_pid "$inst_b")" ]; then
	done_testing
fi

# ---- the Python tests ---------------------------------------------------------------------
TR_PY_INST_A=$inst_a TR_PY_INST_B=$inst_b TR_PY_PID_B=$(daemon_pid "$inst_b") \
	TR_PY_LAYOUT=$layout TR_PY_PREFIX=$TR_PREFIX \
	py 600 "$root/tests/python/test_client.py" \
	</dev/null >"$TR_TMP/py.out" 2>"$TR_TMP/py.err"
st=$?
relay "$TR_TMP/py.out"
tap_is "$st" 0 "test_client.py exited 0"
[ "$st" = 0 ] || tap_diag_file "$TR_TMP/py.err"

# ---- the example ---------------------------------------------------------------------------
run py 120 "$root/examples/python_sqrt.py" -i "$inst_a" --n 200000 --tasks 4
tap_is "$RUN_STATUS" 0 "examples/python_sqrt.py runs (small sizes)"
[ "$RUN_STATUS" = 0 ] || tap_diag "$RUN_OUT" "$RUN_ERR"
tap_like "$RUN_OUT" "taskring .*[0-9.]+ s" "it prints the taskring timing"
tap_like "$RUN_OUT" "multiprocessing.Pool.*[0-9.]+ s" "it prints the multiprocessing.Pool timing"

# ---- a Client made while the daemon restarts waits for it --------------------------------
stop_daemon "$inst_a"
tap_is "$TR_DAEMON_STATUS" 0 "taskringd A stops cleanly (exit 0)"
cat >"$TR_TMP/restart.py" <<'PY'
import sys, time, taskring
t0 = time.monotonic()
try:
    grace = float(sys.argv[2]) if len(sys.argv) > 2 else None
    with taskring.Client(sys.argv[1], dead_grace=grace) as c:
        print("%s %.1f" % (c.submit("echo", "back").result(timeout=60), time.monotonic() - t0))
except taskring.DaemonUnavailable as e:
    print("unavailable %.1f: %s" % (time.monotonic() - t0, e))
PY
tr_bg "${py_env[@]}" timeout -s KILL 120 python3 "$TR_TMP/restart.py" "$inst_a" >"$TR_TMP/restart.out" 2>&1
waiter=$TR_BG_PID
sleep 1
start_daemon "$inst_a" -c "$TR_TMP/a.yaml"
wait "$waiter"
tap_like "$?:$(cat "$TR_TMP/restart.out")" "^0:back [0-9.]+$" \
	"Client() started while the daemon restarted waits for the new one"
stop_daemon "$inst_a"
run py 120 "$TR_TMP/restart.py" "$inst_a" 0
tap_like "$RUN_STATUS:$RUN_OUT" "^0:unavailable [0-4]\.[0-9]: .*it stopped [0-9]+ s ago" \
	"Client(dead_grace=0) does not wait for a restart"
run py 120 "$TR_TMP/restart.py" "$inst_a" 2
tap_like "$RUN_STATUS:$RUN_OUT" "^0:unavailable [0-9.]+: .*it stopped [0-9]+ s ago and no new one started" \
	"with no restart it gives up after dead_grace from the stop, saying when it stopped"
tap_is "$TR_DAEMON_STATUS" 0 "taskringd A stops cleanly (exit 0)"
stop_daemon "$inst_b" KILL 10
tap_ok "$([ -z "$(find "$root/bindings" "$root/tests/python" "$root/examples" -name __pycache__)" ]; echo $?)" \
	"no __pycache__ written into the source tree"

done_testing
