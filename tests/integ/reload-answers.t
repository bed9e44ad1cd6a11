#!/bin/bash
# reload-answers.t - every reload request gets its own answer at once, however many
# refusals come while another reload replaces workers: a refusal whose answer other
# answers pushed out of the daemon's ring (it keeps 31) reads as lost, so that its
# client asks again, never as pending (its client would wait for the other reload's
# whole roll) nor as that reload's "applied" (past the ranges the daemon tracks).
# Driven through libtaskring with Python, which looks at an answer only when told to.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v python3 >/dev/null || tap_skip_all "no python3"
py_setup

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
cfg=$TR_TMP/taskring.yaml
log=$(daemon_log "$inst")
mkdir -p "$TR_TMP/a" "$TR_TMP/b"
# A long task on the one worker, and a shutdown_timeout_s longer still: a reload that
# replaces the worker rolls until that task ends (it is cancelled at the end).
good() { write_config "$cfg" "workers: 1" "shutdown_timeout_s: 300" "io:" "  allowed_paths: [\"$TR_TMP/$1\"]"; }
good a
start_daemon "$inst" -c "$cfg"
tap_ok $? "taskringd started"
wait_until 30 'test "$(nready "$inst")" = 1'
spin=$(T submit sleep 120000) # an io task: it burns no CPU
wait_until 30 'test "$(task_json "$inst" "$spin" state)" = running'
tap_ok $? "a long task runs on the worker"

cat >"$TR_TMP/flood.py" <<'EOF'
import ctypes, os, signal, subprocess, sys, time

inst, pid, cfg, tmp, tr, spin = sys.argv[1:7]
pid = int(pid)
lib = ctypes.CDLL(os.environ["TASKRING_LIB"])
h = ctypes.c_void_p()
assert lib.taskring_attach(inst.encode(), ctypes.byref(h)) == 0


class Progress(ctypes.Structure):
    _fields_ = [("done", ctypes.c_uint), ("total", ctypes.c_uint), ("left_ms", ctypes.c_int64)]


def write(*lines):
    with open(cfg + ".new", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(cfg + ".new", cfg)


def good(d):
    write("workers: 1", "shutdown_timeout_s: 300", "io:", '  allowed_paths: ["%s/%s"]' % (tmp, d))


def bad():
    write("workers: 1", "queue:", "  capasity: 10")


def ask():
    t = ctypes.c_uint32()
    lib.taskring_reload_ticket(h, ctypes.byref(t))
    os.kill(pid, signal.SIGHUP)
    return t.value


def outcome(t):
    ok = ctypes.c_int()
    why = ctypes.create_string_buffer(256)
    r = lib.taskring_reload_outcome(h, ctypes.c_uint32(t), ctypes.byref(ok), why, 256)
    if r == -11:
        return "none"
    if r == -116:
        return "lost"
    if r:
        return "error %d" % r
    return "ok" if ok.value else "refused"


def rolling(t):
    p = Progress()
    return lib.taskring_reload_progress(h, ctypes.c_uint32(t), ctypes.byref(p)) == 0


def until(what, secs=30):
    end = time.monotonic() + secs
    while not what():
        if time.monotonic() > end:
            return False
        time.sleep(0.002)
    return True


def taken(t):  # accepted: the roll that answers it is reported
    return until(lambda: rolling(t))


def refused(t):
    return until(lambda: outcome(t) != "none") and outcome(t) == "refused"


# Files taken, each followed by a refused one, while the first rolls: more than
# the ranges of tickets the daemon tracks for the converging reload.
pend = []
for i in range(9):
    good("ba"[i % 2])  # the daemon started with a
    t = ask()
    print("taken %d: %s (%s)" % (i, taken(t), outcome(t)))
    pend.append(t)
    bad()
    print("refused %d: %s" % (i, refused(ask())))
# B: refused; C: a good file taken after it, while the same roll goes on.
bad()
b = ask()
print("B refused: %s" % refused(b))
good("a")
c = ask()
print("C taken: %s" % taken(c))
# The flood: refusals, each answered before the next is asked.
bad()
for i in range(2 * 32):
    t = ask()
    if not refused(t):
        print("flood %d: %s" % (i, outcome(t)))
print("B after the flood: %s" % outcome(b))
print("B sees a roll: %s" % rolling(b))
print("C after the flood: %s" % outcome(c))
print("C sees a roll: %s" % rolling(c))
# The roll ends once the long task is cancelled.
subprocess.run([tr, "-i", inst, "cancel", "--timeout", "30", spin], stdout=subprocess.DEVNULL)
until(lambda: outcome(c) != "none", 60)
print("C after the roll: %s" % outcome(c))
print("B after the roll: %s" % outcome(b))
print("taken 8 after the roll: %s" % outcome(pend[8]))
print("taken 0 after the roll: %s" % outcome(pend[0]))
EOF
py 240 "$TR_TMP/flood.py" "$inst" "$(daemon_pid "$inst")" "$cfg" "$TR_TMP" "$TR" "$spin" \
	>"$TR_TMP/flood.out" 2>"$TR_TMP/flood.err"
tap_is "$?" 0 "the script ran"
tap_diag_file "$TR_TMP/flood.err"
tap_diag_file "$TR_TMP/flood.out"
out=$(cat "$TR_TMP/flood.out")
line() { sed -n "s/^$1: //p" <<<"$out"; }
tap_is "$(grep -c '^taken [0-9]: True' <<<"$out"):$(grep -c '^refused [0-9]: True$' <<<"$out")" "9:9" \
	"9 good files taken and 9 broken ones refused, alternately, during one roll"
tap_is "$(line 'B refused'):$(line 'C taken')" "True:True" \
	"then B refused, and C taken after it"
tap_is "$(grep -c '^flood' <<<"$out")" 0 "64 more refusals, each answered"
tap_is "$(line 'B after the flood')" "lost" \
	"B, whose answer they pushed out: lost at once (its client asks again), not pending"
tap_is "$(line 'B sees a roll')" "False" "and B's client is not shown the other reload's roll"
tap_is "$(line 'C after the flood'):$(line 'C sees a roll')" "none:True" \
	"C is still pending, its roll reported"
tap_is "$(line 'C after the roll')" "ok" "C is applied once the roll ends"
tap_is "$(line 'B after the roll')" "lost" "B is still lost then, never told C's \"applied\""
tap_is "$(line 'taken 8 after the roll')" "ok" "a file taken before B is applied with C"
tap_like "$(line 'taken 0 after the roll')" "^(ok|lost)$" \
	"the oldest file taken: applied, or lost (asked again) past the ranges kept"
tap_like "$(cat "$log")" "the clients of the oldest are told to ask again" \
	"the daemon logs that it dropped the oldest tickets"

# The CLI: a refused reload during a roll still says refused; the roll then ends.
write_config "$cfg" "workers: 1" "queue:" "  capasity: 10"
run T reload --timeout 20
tap_is "$RUN_STATUS" 1 "taskring reload of a broken file afterwards: refused"
good b
run T reload --timeout 60
tap_is "$RUN_STATUS:$RUN_OUT" "0:reload applied" "and of a good one: applied"
stop_daemon "$inst"
tap_is "$TR_DAEMON_STATUS" 0 "the daemon stops cleanly"
done_testing
