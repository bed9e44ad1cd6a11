#!/bin/bash
# daemon-sleep.t - io tasks overlap (issue 3, acceptance 4): 1,000 `sleep 200` tasks on
# 2 workers with the default configuration all finish in under 2 s, submitted and
# collected with `taskring map`. Sequentially they would take 200 s (100 s on 2 workers).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"

inst=$(tr_instance)
write_config "$TR_TMP/d.yaml" "workers: 2"
start_daemon "$inst" -c "$TR_TMP/d.yaml"
tap_ok $? "taskringd started with 2 workers, defaults otherwise"
wait_until 30 'test "$(nready "$inst")" = 2'
tap_ok $? "2 workers ready"

args=$(yes 200 | head -n 1000)
t0=$(date +%s%N)
"$TR" -i "$inst" map --timeout 60 sleep $args >"$TR_TMP/out" 2>"$TR_TMP/err"
st=$?
ms=$((($(date +%s%N) - t0) / 1000000))
tap_is "$st" 0 "taskring map of 1000 sleep 200 tasks succeeds"
tap_is "$(wc -l <"$TR_TMP/out" | tr -d ' '):$(sort -u "$TR_TMP/out" | tr -d '\n')" "1000:" \
	"1000 empty results"
# The 2 s goal is for a normal build. A sanitizer build is several times slower per
# task; there the check is only that they overlap (sequentially: 100 s on 2 workers).
limit=2000
ldd "$TRD" 2>/dev/null | grep -q 'libasan\|libtsan' && limit=20000
[ "$ms" -lt "$limit" ]
tap_ok $? "all finished in ${ms} ms (under $limit ms: they overlap)"
tap_is "$(status_json "$inst" | jq '.totals.done')" 1000 "the daemon counts 1000 done"
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"

# ---- a full io thread passes its wake-up on ------------------------------------------------
# io.depth 1: a long sleep fills one worker's io thread. Each lone task after it
# must go to the other, idle, worker at once; the full thread used to swallow the
# wake-up and leave the task queued until the supervisor's next look (5 s). Both
# ways an io thread waits: io_uring's futex wait (kernel 6.7+) and the eventfd
# helper thread of older kernels (forced by TASKRING_IO_NO_FUTEX_WAIT).
full_thread() { # $1: how the io threads wait
	local inst2 long t0 ms i
	inst2=$(tr_instance)
	write_config "$TR_TMP/d2.yaml" "workers: 2" "io:" "  depth: 1"
	start_daemon "$inst2" -c "$TR_TMP/d2.yaml"
	wait_until 30 'test "$(nready "$inst2")" = 2'
	tap_ok $? "$1: a daemon with io.depth 1 is ready"
	long=$("$TR" -i "$inst2" submit sleep 60000)
	wait_until 30 'test "$(task_json "$inst2" "$long" state)" = running'
	t0=$(date +%s%N)
	for i in 1 2 3 4 5 6; do
		"$TR" -i "$inst2" submit --wait --timeout 60 sleep 100 >/dev/null || break
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	tap_is "$i" 6 "$1: six sleep 100 tasks, one after another, all done"
	[ "$ms" -lt 8000 ]
	tap_ok $? "$1: in ${ms} ms (under 8000 ms; 0.6 s of sleeping: none waited for the supervisor's look)"
	"$TR" -i "$inst2" cancel "$long" >/dev/null
	wait_until 10 'test "$(task_json "$inst2" "$long" state)" = cancelled'
	tap_ok $? "$1: the long sleep on the full io thread is cancelled at once (cancels reach full threads)"
	stop_daemon "$inst2" TERM
	tap_is "$TR_DAEMON_STATUS" 0 "$1: daemon stopped, exit 0"
}
full_thread "futex wait"
TASKRING_IO_NO_FUTEX_WAIT=1 full_thread "eventfd helper"
done_testing
