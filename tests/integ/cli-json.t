#!/bin/bash
# cli-json.t - the stable output shapes of the taskring CLI against a real daemon:
# `show --json` and `list --json` objects, `status --json`, parsed by a strict JSON
# parser (python3's json module, which refuses raw control characters) and by jq;
# null where a field is not set; strings escaped correctly whatever bytes a task
# returned (control characters, quotes, invalid UTF-8); the text forms of show,
# list and status; and what works once the daemon has stopped (exit 3 otherwise).
. "$(dirname "$0")/lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v jq >/dev/null 2>&1 || tap_skip_all "jq not installed"
# The system python3 first: a version manager's shim can take a second to start.
PY=$(command -v /usr/bin/python3 || command -v python3) || tap_skip_all "python3 not installed"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
field() { T show --json "$1" | jq -r ".$2"; }
wait_state() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(field "$1" state 2>/dev/null)" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# check.py KIND FILE [EXPECT_JSON]: strict parse; KIND show/list/status checks the
# shape; EXPECT_JSON holds fields that must be equal. Prints what is wrong.
cat >"$TR_TMP/check.py" <<'PY'
import json, sys, time
kind, path = sys.argv[1], sys.argv[2]
expect = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
errs = []
try:
    with open(path, "rb") as f:
        raw = f.read()
    doc = json.loads(raw.decode("utf-8"))  # strict: no raw control characters
except Exception as e:
    print("not valid JSON: %s: %r" % (e, raw[:300]))
    sys.exit(1)

SHOW = ["id", "type", "args", "state", "attempts", "max_attempts", "worker", "result",
        "error", "submitted_ns", "started_ns", "finished_ns", "class"]
now = time.time_ns()

def isint(v):
    return isinstance(v, int) and not isinstance(v, bool)

def check_show(o, where):
    if list(o.keys()) != SHOW:
        errs.append("%s: keys %s" % (where, list(o.keys())))
        return
    if not isint(o["id"]) or o["id"] < 1: errs.append(where + ": id")
    if not isinstance(o["type"], str): errs.append(where + ": type")
    if o["class"] not in ("cpu", "io"): errs.append(where + ": class")
    if not isinstance(o["args"], list) or not all(isinstance(a, str) for a in o["args"]):
        errs.append(where + ": args")
    if o["state"] not in ("queued", "running", "done", "failed", "cancelled"):
        errs.append(where + ": state")
    for k in ("attempts", "max_attempts"):
        if not isint(o[k]) or o[k] < 0: errs.append(where + ": " + k)
    if not (o["worker"] is None or (isint(o["worker"]) and o["worker"] >= 0)):
        errs.append(where + ": worker")
    if (o["result"] is not None) != (o["state"] == "done"):
        errs.append(where + ": result set iff done")
    if (o["error"] is not None) != (o["state"] in ("failed", "cancelled")):
        errs.append(where + ": error set iff failed or cancelled")
    for k in ("result", "error"):
        if o[k] is not None and not isinstance(o[k], str): errs.append(where + ": " + k)
    for k in ("submitted_ns", "started_ns", "finished_ns"):
        v = o[k]
        if v is not None and (not isint(v) or abs(v - now) > 3600 * 10**9):
            errs.append("%s: %s=%r is not a CLOCK_REALTIME ns near now" % (where, k, v))
    if o["submitted_ns"] is None: errs.append(where + ": submitted_ns null")
    if o["state"] == "queued" and (o["started_ns"], o["finished_ns"]) != (None, None):
        errs.append(where + ": a queued task has times")
    if o["state"] in ("done", "failed") and None in (o["started_ns"], o["finished_ns"]):
        errs.append(where + ": a finished task lacks times")
    if o["started_ns"] and o["finished_ns"] and not (
            o["submitted_ns"] <= o["started_ns"] <= o["finished_ns"]):
        errs.append(where + ": times out of order")

STATUS = ["instance", "pid", "uptime_s", "workers", "queues", "spare", "capacity", "free",
          "unread", "totals"]
WORKER = ["index", "pid", "cpu", "state", "task", "tasks_done", "restarts", "last_exit",
          "restart_in_ms"]
QUEUE = ["queued", "running", "executing", "waiting"]
SPARE = ["pid", "state", "next_in_ms", "died_unused"]
SPARE_STATES = ("ready", "starting", "waiting", "backoff", "given up", "stopping", "off")
TOTALS = ["submitted", "done", "failed", "cancelled", "requeued", "worker_restarts"]

def check_status(o):
    if list(o.keys()) != STATUS:
        errs.append("status keys %s" % list(o.keys())); return
    for i, w in enumerate(o["workers"]):
        if list(w.keys()) != WORKER: errs.append("worker %d keys %s" % (i, list(w.keys())))
        elif w["index"] != i: errs.append("worker %d index" % i)
        elif not all(isint(w[k]) for k in ("cpu", "tasks_done", "restarts")):
            errs.append("worker %d numbers" % i)
        elif not (w["pid"] is None or isint(w["pid"])) or not isinstance(w["state"], str):
            errs.append("worker %d pid/state" % i)
        elif not (w["task"] is None or isint(w["task"])):
            errs.append("worker %d task" % i)
        elif not (w["last_exit"] is None or isinstance(w["last_exit"], str)):
            errs.append("worker %d last_exit" % i)
        elif (w["restart_in_ms"] is not None) != (w["state"] == "backoff") or not (
                w["restart_in_ms"] is None or isint(w["restart_in_ms"])):
            errs.append("worker %d restart_in_ms set iff backoff" % i)
    q = o["queues"]
    # With a daemon: running = executing + waiting; without one: both null.
    alive = o["pid"] is not None
    if list(q.keys()) != ["cpu", "io"] or any(
            list(q[c].keys()) != QUEUE
            or not all(isint(q[c][k]) for k in ("queued", "running"))
            or (alive and (not isint(q[c]["executing"]) or not isint(q[c]["waiting"])
                           or q[c]["executing"] + q[c]["waiting"] != q[c]["running"]))
            or (not alive and (q[c]["executing"], q[c]["waiting"]) != (None, None))
            for c in q):
        errs.append("queues %r" % q)
    sp = o["spare"]
    if list(sp.keys()) != SPARE or sp["state"] not in SPARE_STATES or not isint(
            sp["died_unused"]):
        errs.append("spare %r" % sp)
    elif (sp["pid"] is not None) != (sp["state"] in ("ready", "starting")) or not (
            sp["pid"] is None or isint(sp["pid"])):
        errs.append("spare pid set iff ready or starting: %r" % sp)
    elif (sp["next_in_ms"] is not None) != (sp["state"] == "backoff"):
        errs.append("spare next_in_ms set iff backoff: %r" % sp)
    if list(o["totals"].keys()) != TOTALS or not all(isint(v) for v in o["totals"].values()):
        errs.append("totals %r" % o["totals"])
    if not (isint(o["capacity"]) and isint(o["free"]) and 0 <= o["free"] <= o["capacity"]):
        errs.append("capacity/free")
    elif not (isint(o["unread"]) and 0 <= o["unread"] <= o["capacity"] - o["free"]):
        errs.append("unread")

if kind == "show":
    check_show(doc, "show")
elif kind == "list":
    if not isinstance(doc, list): errs.append("not an array")
    else:
        for i, o in enumerate(doc): check_show(o, "list[%d]" % i)
        subs = [o["submitted_ns"] for o in doc]
        if subs != sorted(subs, reverse=True): errs.append("list not newest first")
elif kind == "status":
    check_status(doc)
for k, v in expect.items():
    got = doc
    for part in k.split("."):
        got = got[int(part)] if isinstance(got, list) else got.get(part)
    if got != v: errs.append("%s: got %r, want %r" % (k, got, v))
for e in errs: print(e)
sys.exit(1 if errs else 0)
PY
# jcheck KIND FILE [EXPECT] DESC
jcheck() {
	local out
	out=$("$PY" "$TR_TMP/check.py" "$1" "$2" "${3:-{\}}" 2>&1)
	tap_ok $? "$4"
	[ -z "$out" ] || tap_diag "$out"
}

cat >"$TR_TMP/conf.yaml" <<YAML
workers: 1
queue:
  capacity: 32
shutdown_timeout_s: 0
tasks:
  kill_grace_ms: 200
YAML
start_daemon "$inst" -c "$TR_TMP/conf.yaml" || {
	tap_ok 1 "taskringd started"
	done_testing
}
tap_ok 0 "taskringd started"

# ---- show --json ------------------------------------------------------------------
done_id=$(T submit echo hello "big world")
T wait "$done_id" >/dev/null
T show --json "$done_id" >"$TR_TMP/done.json"
tap_is "$?" 0 "show --json of a done task: exit 0"
jcheck show "$TR_TMP/done.json" \
	"{\"id\": $done_id, \"type\": \"echo\", \"args\": [\"hello\", \"big world\"], \"state\": \"done\", \"attempts\": 1, \"worker\": 0, \"result\": \"hello big world\", \"error\": null}" \
	"show --json of a done task: the documented shape and values"
tap_is "$(jq -r .result "$TR_TMP/done.json")" "hello big world" "jq reads it too"
# Every key of the object is among those `show --help` lists.
missing=""
for k in $(jq -r 'keys[]' "$TR_TMP/done.json"); do
	T show --help | grep -qF "\"$k\"" || missing="$missing $k"
done
tap_is "$missing" "" "show --help names every key show --json prints"

fail_id=$(T submit fail "no good")
T wait "$fail_id" >/dev/null 2>&1
T show --json "$fail_id" >"$TR_TMP/fail.json"
jcheck show "$TR_TMP/fail.json" '{"state": "failed", "result": null, "error": "no good"}' \
	"show --json of a failed task: error set, result null"

# ---- escaping ------------------------------------------------------------------------
# Words with quotes, backslashes, control characters, UTF-8, invalid bytes and
# U+2028; echo joins them with spaces. Each invalid byte stands alone here, so any
# decoder turns it into exactly one U+FFFD.
w1=$(printf 'q"b\\s\tt')
w2=$(printf 'nl\nx\001\033[31m\177')
w3=$(printf 'caf\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80')
w4=$(printf 'bad\xff.\xc3.\x80.\xe2\x80\xa8')
esc=$(T submit echo "$w1" "$w2" "$w3" "$w4")
T wait "$esc" >"$TR_TMP/esc.raw"
printf '%s %s %s %s\n' "$w1" "$w2" "$w3" "$w4" >"$TR_TMP/esc.want"
tap_ok "$(cmp -s "$TR_TMP/esc.raw" "$TR_TMP/esc.want"; echo $?)" "wait prints the exact bytes of the result"
T show --json "$esc" >"$TR_TMP/esc.json"
want=$("$PY" -c '
import json, sys
words = [w.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for w in sys.argv[1:]]
print(json.dumps({"args": words, "result": " ".join(words)}))' "$w1" "$w2" "$w3" "$w4")
jcheck show "$TR_TMP/esc.json" "$want" \
	"show --json: control characters, quotes, UTF-8 and invalid bytes (as U+FFFD) all escaped correctly"
tap_ok "$(jq -e .result "$TR_TMP/esc.json" >/dev/null; echo $?)" "jq parses it too"
tap_ok "$(! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$TR_TMP/esc.json"; echo $?)" \
	"no raw control byte in the JSON output"
T show "$esc" >"$TR_TMP/esc.txt"
tap_ok "$(! LC_ALL=C grep -q $'[\x01\x1b\x7f]' "$TR_TMP/esc.txt"; echo $?)" \
	"show (text) shows control bytes escaped, never raw"

long=$(T submit --class cpu sleep 20000)
wait_state "$long" running
tap_ok $? "a long cpu task running"
T show --json "$long" >"$TR_TMP/running.json"
jcheck show "$TR_TMP/running.json" '{"state": "running", "worker": 0, "result": null, "error": null, "finished_ns": null}' \
	"show --json of a running task: worker set, finished_ns null"
q=$(T submit echo waiting)
T show --json "$q" >"$TR_TMP/queued.json"
jcheck show "$TR_TMP/queued.json" '{"state": "queued", "worker": null, "attempts": 0, "result": null, "error": null, "started_ns": null, "finished_ns": null}' \
	"show --json of a queued task: worker, times, result and error null"
c=$(T submit echo never)
T cancel "$c"
T show --json "$c" >"$TR_TMP/cancelled.json"
jcheck show "$TR_TMP/cancelled.json" '{"state": "cancelled", "result": null}' \
	"show --json of a cancelled task: the documented shape"

# ---- list --json ------------------------------------------------------------------------
T list --json >"$TR_TMP/list.json"
jcheck list "$TR_TMP/list.json" "" "list --json: an array of show objects, newest first"
n=$(jq length "$TR_TMP/list.json")
tap_is "$n" 6 "it holds all 6 tasks in the table"
tap_is "$(jq -r '.[0].id' "$TR_TMP/list.json")" "$c" "the newest first"
T list --json --state queued,running >"$TR_TMP/qr.json"
tap_is "$(jq -c '[.[].id]' "$TR_TMP/qr.json")" "[$q,$long]" "list --state queued,running: just those, newest first"
T list --state failed -s cancelled --json >"$TR_TMP/fc.json"
tap_is "$(jq -c '[.[].state] | sort' "$TR_TMP/fc.json")" '["cancelled","failed"]' "--state repeated adds states"
run T list --state done
tap_ok "$([ "$RUN_STATUS" = 0 ] && [[ $RUN_OUT =~ ^ID\ +STATE\ +TYPE ]] && [[ $RUN_OUT =~ $'\n'"$done_id "+done\ +echo ]] &&
	! [[ $RUN_OUT =~ " failed " ]]; echo $?)" "list (text): header and one row per task"
run T show "$done_id"
tap_ok "$([ "$RUN_STATUS" = 0 ] && [[ $RUN_OUT =~ state:\ +done ]] && [[ $RUN_OUT =~ result:\ +hello\ big\ world ]] &&
	[[ $RUN_OUT =~ args:\ +hello\ \'big\ world\' ]]; echo $?)" "show (text): state, quoted args and result"

# ---- status --json ----------------------------------------------------------------------
# 30 free of 32: the long task runs, one task is queued (the cancelled one counts as read).
T status --json >"$TR_TMP/status.json"
tap_is "$?" 0 "status --json: exit 0 while the daemon runs"
pid=$(daemon_pid "$inst")
jcheck status "$TR_TMP/status.json" \
	"{\"instance\": \"$inst\", \"pid\": $pid, \"capacity\": 32, \"free\": 30, \"queues\": {\"cpu\": {\"queued\": 1, \"running\": 1, \"executing\": 1, \"waiting\": 0}, \"io\": {\"queued\": 0, \"running\": 0, \"executing\": 0, \"waiting\": 0}}, \"workers.0.index\": 0, \"workers.0.task\": $long, \"workers.0.last_exit\": null, \"totals.submitted\": 6, \"totals.done\": 2, \"totals.failed\": 1, \"totals.cancelled\": 1}" \
	"status --json: the documented shape and values"
wpid=$(jq .workers[0].pid "$TR_TMP/status.json")
tap_ok "$([ "$(ps -o ppid= -p "$wpid" | tr -d ' ')" = "$pid" ]; echo $?)" "the worker pid is a child of the daemon"
run T status
tap_ok "$([ "$RUN_STATUS" = 0 ] && [[ $RUN_OUT =~ daemon:\ +pid\ $pid ]] && [[ $RUN_OUT =~ INDEX\ +PID\ +CPU ]] &&
	[[ $RUN_OUT =~ cpu\ 1\ queued,\ 1\ running\ \(1\ executing,\ 0\ waiting\ in\ a\ worker\)\;\ io\ 0\ queued,\ 0\ running$'\n' ]] &&
	[[ $RUN_OUT =~ 30\ free\ of\ 32 ]] && [[ $RUN_OUT =~ spare:\ +(pid\ [0-9]+|none) ]]; echo $?)" \
	"status (text): daemon, worker table, spare, queues (1 running: executing), slots" ||
	tap_diag "$RUN_OUT"

# ---- after the daemon stopped --------------------------------------------------------------
stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "taskringd stopped (running task requeued)"
export TASKRING_DEAD_GRACE=1 # no restart follows: no need to wait 10 s for one
T status --json >"$TR_TMP/dead.json" 2>"$TR_TMP/dead.err"
tap_is "$?" 3 "status of a stopped daemon: exit 3"
jcheck status "$TR_TMP/dead.json" '{"pid": null, "uptime_s": null, "spare": {"pid": null, "state": "off", "next_in_ms": null, "died_unused": 0}, "queues.cpu.executing": null, "queues.cpu.waiting": null}' \
	"and the last snapshot with pid null, no spare, nothing executing"
tap_ok "$(grep -q 'the daemon is not running' "$TR_TMP/dead.err"; echo $?)" "saying the daemon is not running"
tap_like "$(cat "$TR_TMP/dead.err")" "not running \(it stopped [0-9]+s ago\)" "and since when, as it stopped by itself"
run T submit echo x
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "the daemon is not running" ]] && [ -z "$RUN_OUT" ]; echo $?)" \
	"submit to a stopped daemon: exit 3"
run T show "$done_id"
tap_is "$RUN_STATUS" 0 "show still reads a finished task"
run T wait "$done_id"
tap_is "$RUN_STATUS:$RUN_OUT" "0:hello big world" "wait still returns a finished task's result"
run T wait "$q"
tap_ok "$([ "$RUN_STATUS" = 3 ] && [[ $RUN_ERR =~ "not finished and the daemon" ]]; echo $?)" \
	"wait on a queued task of a stopped daemon: exit 3 (the grace for a restart, 1 s here, has passed)"
run T kill-worker 0
tap_is "$RUN_STATUS" 3 "kill-worker with no daemon: exit 3"

done_testing
