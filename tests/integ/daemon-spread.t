#!/bin/bash
# daemon-spread.t - slow tasks spread over the workers after a stream of quick ones.
# A worker takes quick tasks in batches of up to 64; when such a batch holds slow
# tasks, it hands back what it has not started while another worker idles
# (trq_giveback), so 8 sqrt-sum tasks submitted in one batch run on both workers
# instead of one after another on the worker that took them. Also: the handed-back
# tasks keep one attempt each (the take's attempt is undone) and their results.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 not installed (computes expected results)"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
write_config "$TR_TMP/d.yaml" "workers: 2" "queue:" "  capacity: 4096"
start_daemon "$inst" -c "$TR_TMP/d.yaml"
tap_ok $? "taskringd started with 2 workers"
wait_until 30 '[ "$(nready "$inst")" = 2 ]'
tap_ok $? "both workers ready"

n=2000000
want=$(python3 -c "import math; print('%.6f' % sum(math.sqrt(i) for i in range($n)))")
for round in 1 2 3; do
	# A stream of quick tasks: the workers' batches grow to 64.
	run T map echo $(seq 1 2000)
	tap_is "$RUN_STATUS:$(echo "$RUN_OUT" | wc -l)" "0:2000" "round $round: 2000 echo tasks done"
	# Then 8 slow ones in one batch (taskring map submits them together).
	run T map sqrt-sum $n $n $n $n $n $n $n $n
	tap_is "$RUN_STATUS:$(echo "$RUN_OUT" | sort -u)" "0:$want" \
		"round $round: 8 sqrt-sum $n tasks, all right"
	tasks=$(T list --state done --json | jq -c '[.[] | select(.type == "sqrt-sum")] | .[:8]')
	tap_is "$(echo "$tasks" | jq '[.[].worker] | unique | length')" 2 \
		"round $round: they ran on both workers ($(echo "$tasks" | jq -c '[.[].worker]'))"
	tap_is "$(echo "$tasks" | jq '[.[] | select(.attempts != 1)] | length')" 0 \
		"round $round: each in one attempt"
done
tap_like "$(T status --json | jq -r '.workers | map(.state) | join(",")')" \
	'^(ready|busy),(ready|busy)' "the workers are still up"
done_testing
