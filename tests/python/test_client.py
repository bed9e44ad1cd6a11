#!/usr/bin/env python3
"""test_client.py - tests of the Python client (bindings/python/taskring.py)
against real daemons started by tests/integ/python.t.

Prints unnumbered TAP lines ("ok - ...", "not ok - ...", "# ...") that
python.t numbers; exits non-zero if a check failed or a section crashed.

Environment (set by python.t):
  TR_PY_INST_A   instance with 2 workers and queue.capacity 64
  TR_PY_INST_B   instance with 1 worker (cancel tests); SIGKILLed at the end
  TR_PY_PID_B    the pid of B's supervisor
  TR_PY_LAYOUT   optional: "name size" / "struct.field offset" lines printed
                 by a C program compiled against include/taskring.h
  TR_PY_PREFIX   prefix of this run's instance names (for a name no daemon uses)
  TASKRING_BUILD the build directory (the CLI, for cross-checks)
  TASKRING_LIB   the library under test
"""

import ctypes
import errno
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import traceback

import taskring

INST_A = os.environ["TR_PY_INST_A"]
INST_B = os.environ["TR_PY_INST_B"]
PID_B = int(os.environ["TR_PY_PID_B"])
CLI = os.path.join(os.environ["TASKRING_BUILD"], "taskring")

failed = 0


def ok(cond, desc, *diag):
    global failed
    if cond:
        print("ok - %s" % desc)
    else:
        failed += 1
        print("not ok - %s" % desc)
        for d in diag:
            for line in str(d).splitlines():
                print("#   %s" % line)
    sys.stdout.flush()
    return cond


def is_(got, want, desc):
    return ok(got == want, desc, "got:  %r" % (got,), "want: %r" % (want,))


def raises(exc, fn, desc):
    """Checks that fn() raises exc (exactly that class or a subclass);
    returns the exception or None."""
    try:
        got = fn()
    except exc as e:
        ok(True, desc)
        return e
    except Exception as e:
        ok(False, desc, "raised %s: %s" % (type(e).__name__, e))
        return None
    ok(False, desc, "returned %r instead of raising %s" % (got, exc.__name__))
    return None


def until(pred, timeout=30.0, step=0.05):
    """Polls pred() until it is true or timeout seconds pass; returns it."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def cli_json(inst, *args):
    out = subprocess.run(
        [CLI, "-i", inst] + list(args), stdin=subprocess.DEVNULL, capture_output=True, check=True
    ).stdout
    return json.loads(out)


def sqrt_sum(n):
    # The same additions in the same order as the C task (no fsum, no sum()).
    s = 0.0
    for i in range(n):
        s += math.sqrt(i)
    return "%.6f" % s


def all_free(c):
    st = c.status()
    return st["free"] == st["capacity"]


SECTIONS = []


def section(fn):
    SECTIONS.append(fn)
    return fn


# ---- sections ----------------------------------------------------------------------------


@section
def library_and_layout():
    is_(
        taskring.library_path(),
        os.environ.get("TASKRING_LIB"),
        "library loaded from $TASKRING_LIB",
    )
    path = os.environ.get("TR_PY_LAYOUT")
    if not path:
        print("ok - # SKIP struct layouts: no C compiler to print them")
        return
    c_layout = {}
    with open(path) as f:
        for line in f:
            k, v = line.split()
            c_layout[k] = int(v)
    for name, cls in taskring._C_STRUCTS.items():
        bad = []
        size = taskring.ctypes.sizeof(cls)
        if c_layout.get(name) != size:
            bad.append("sizeof: C %s, ctypes %d" % (c_layout.get(name), size))
        cfields = sorted(k.split(".", 1)[1] for k in c_layout if k.startswith(name + "."))
        pyfields = sorted(f[0] for f in cls._fields_)
        if cfields != pyfields:
            bad.append("fields: C %s, ctypes %s" % (cfields, pyfields))
        for fld in pyfields:
            off, c_off = getattr(cls, fld).offset, c_layout.get(name + "." + fld)
            if c_off != off:
                bad.append("%s: C offset %s, ctypes %d" % (fld, c_off, off))
        ok(not bad, "struct %s: ctypes size and every field offset match the C header" % name, *bad)


@section
def library_abi():
    is_(taskring._load().taskring_abi(), taskring._ABI, "the library's ABI is the module's")
    # A module that mirrors other structs than the library's refuses it.
    saved = (taskring._lib, taskring._lib_path, taskring._ABI)
    try:
        taskring._lib, taskring._lib_path = None, None
        taskring._ABI = saved[2] + 1
        try:
            taskring._load()
            ok(False, "a library of another ABI is refused")
        except OSError as e:
            ok(
                "ABI %d; this module needs ABI %d" % (saved[2], saved[2] + 1) in str(e),
                "a library of another ABI is refused, saying so",
                str(e),
            )
    finally:
        taskring._lib, taskring._lib_path, taskring._ABI = saved


@section
def connecting():
    raises(ValueError, lambda: taskring.Client("bad/name"), "invalid instance name: ValueError")
    raises(ValueError, lambda: taskring.Client(""), "empty instance name: ValueError")
    for g in (-1, float("inf"), float("nan")):
        raises(ValueError, lambda: taskring.Client(dead_grace=g), "dead_grace=%r: ValueError" % g)
    # Too large for a float, or beyond TASKRING_DEAD_GRACE's 10**9 s: a
    # clear ValueError, not OverflowError (no limit would wait for ever).
    for g, name in ((10**400, "10**400"), (-(10**400), "-10**400"), (10**9 + 1, "10**9 + 1"),
                    (1e300, "1e300")):
        e = raises(ValueError, lambda: taskring.Client(INST_A, dead_grace=g),
                   "dead_grace=%s: ValueError" % name)
        if e is not None:
            ok("dead_grace" in str(e) and len(str(e)) < 120,
               "  naming dead_grace, in a short message", str(e))
    with taskring.Client(INST_A, dead_grace=10**9) as big:
        is_(big.dead_grace, 1e9, "dead_grace=10**9 (the largest) is accepted")
    missing = os.environ["TR_PY_PREFIX"] + "-nobody"
    e = raises(
        taskring.DaemonUnavailable,
        lambda: taskring.Client(missing),
        "instance with no segment: DaemonUnavailable",
    )
    if e is not None:
        is_(e.code, errno.ENOENT, "  with code ENOENT")
        ok(missing in str(e), "  and a message naming the instance", str(e))
        ok(isinstance(e, taskring.TaskringError), "  DaemonUnavailable is a TaskringError")
    old = os.environ.get("TASKRING_INSTANCE")
    os.environ["TASKRING_INSTANCE"] = INST_A
    try:
        with taskring.Client() as c:
            is_(c.instance, INST_A, "Client() uses $TASKRING_INSTANCE")
            is_(c.capacity, 64, "capacity read from the segment")
    finally:
        if old is None:
            del os.environ["TASKRING_INSTANCE"]
        else:
            os.environ["TASKRING_INSTANCE"] = old
    c = taskring.Client(INST_A)
    with c:
        ok(not c.closed, "open inside the with block")
    ok(c.closed, "closed by the with block")
    raises(ValueError, lambda: c.submit("noop"), "submit on a closed client: ValueError")
    c.close()
    ok(True, "close() twice is fine")


@section
def submit_and_result(c):
    t = c.submit("echo", "hello", "world")
    ok(isinstance(t.id, int) and t.id > 0, "submit returns a Task with a positive int id", t.id)
    is_(t.result(timeout=30), "hello world", "echo: result is the words joined by spaces")
    is_(t.result(), "hello world", "result() again gives the same result (kept by the Task)")
    ok(t.done(), "done() after the result")
    is_(t.state, "done", "state is 'done'")
    ok(t.exception() is None, "exception() is None for a done task")
    is_(t.cancel(), False, "cancel() of a finished task returns False")
    is_(c.submit("noop").result(timeout=30), "", "noop: empty result")

    ns = [0, 1, 7, 1000, 12345, 1000000]
    tasks = [(n, c.submit("sqrt-sum", str(n))) for n in ns]
    bad = []
    for n, t in tasks:
        got, want = t.result(timeout=60), sqrt_sum(n)
        if got != want:
            bad.append("sqrt-sum %d: got %r, want %r" % (n, got, want))
    ok(not bad, "sqrt-sum %s: each equals the Python sqrt loop printed %%.6f" % ns, *bad)
    n = 100000
    is_(
        c.submit("square-sum", n).result(timeout=30),
        str(sum(i * i for i in range(n))),
        "square-sum with an int argument: the exact sum of squares",
    )


@section
def info_matches_cli(c):
    t = c.submit("echo", "x y", "z")
    t.result(timeout=30)
    mine = t.info()
    cli = cli_json(INST_A, "show", "--json", str(t.id))
    missing = sorted(set(cli) - set(mine))
    ok(not missing, "info() has every key of `taskring show --json`", "missing: %s" % missing)
    diff = []
    for k, v in cli.items():
        if k.endswith("_ns"):
            # Wall-clock conversions are computed per call: same moment, not same ns.
            m = mine.get(k)
            if not (isinstance(m, int) and isinstance(v, int) and abs(m - v) < 10**9):
                diff.append("%s: %r vs CLI %r" % (k, mine.get(k), v))
        elif mine.get(k) != v:
            diff.append("%s: %r vs CLI %r" % (k, mine.get(k), v))
    ok(not diff, "info() agrees with `taskring show --json` (times within a second)", *diff)
    is_(mine["args"], ["x y", "z"], "info() args keep each word")
    ok(
        mine["submitted_ns"] <= mine["started_ns"] <= mine["finished_ns"],
        "info() times are ordered",
        mine,
    )


@section
def strings(c):
    t = c.submit("echo", "caf\u00e9", "\udcff", b"\xfe")
    is_(
        t.result_bytes(timeout=30),
        b"caf\xc3\xa9 \xff \xfe",
        "str args are UTF-8 (surrogateescape), bytes args raw",
    )
    is_(t.result(), "caf\u00e9 \udcff \udcfe", "result() decodes UTF-8 with surrogateescape")
    raises(ValueError, lambda: c.submit("echo", "a\0b"), "NUL in an argument: ValueError")
    raises(ValueError, lambda: c.submit("ec\0ho"), "NUL in the type: ValueError")
    raises(TypeError, lambda: c.submit("echo", 1.5), "a float argument: TypeError")
    raises(TypeError, lambda: c.submit("echo", None), "None as an argument: TypeError")
    e = raises(
        taskring.TaskringError,
        lambda: c.submit("echo", "x" * 5000),
        "arguments over payload_max: TaskringError",
    )
    if e is not None:
        is_(e.code, errno.E2BIG, "  with code E2BIG")


@section
def errors(c):
    t = c.submit("fail", "boom and bust")
    e = raises(
        taskring.TaskFailed,
        lambda: t.result(timeout=30),
        "fail task: result() raises TaskFailed",
    )
    if e is not None:
        is_(e.error, "boom and bust", "  carrying the task's message")
        is_(str(e), "boom and bust", "  which is also str(exc)")
        is_(e.state, "failed", "  state 'failed'")
        is_(e.task_id, t.id, "  and the task id")
        ok(isinstance(e, taskring.TaskringError), "  TaskFailed is a TaskringError")
        ok(not isinstance(e, taskring.TaskCancelled), "  and not a TaskCancelled")
    raises(taskring.TaskFailed, lambda: t.result(), "result() again raises again")
    ok(isinstance(t.exception(), taskring.TaskFailed), "exception() returns the TaskFailed")
    is_(t.state, "failed", "state is 'failed'")
    e = raises(
        taskring.TaskFailed,
        lambda: c.submit("sqrt-sum", "x").result(timeout=30),
        "bad argument: TaskFailed",
    )
    if e is not None:
        ok("'x'" in e.error, "  its error names the bad argument", e.error)
    e = raises(
        taskring.TaskringError,
        lambda: c.submit("no-such-type", "a"),
        "unknown type: TaskringError at submit",
    )
    if e is not None:
        is_(e.code, taskring.EBADTYPE, "  with code EBADTYPE")
        ok(
            not isinstance(e, (taskring.TaskFailed, taskring.QueueFull)),
            "  not a task outcome or QueueFull",
        )
        is_(e.message, taskring.strerror(taskring.EBADTYPE), "  message from taskring_strerror")
    # Codes beyond a C int are not cut to their low 32 bits.
    for code in (2**32 + errno.ENOENT, 2**70, -(2**32)):
        s = taskring.strerror(code)
        ok(s.startswith("unknown error"), "strerror(%d) is an unknown error" % code, s)
    e = raises(
        taskring.TaskringError,
        lambda: c.submit("read-file", "/nonexistent", cls="cpu"),
        "io type forced to cpu: TaskringError",
    )
    if e is not None:
        is_(e.code, taskring.ENOTSUP_CLS, "  with code ENOTSUP_CLS")
    raises(ValueError, lambda: c.submit("noop", cls="gpu"), "unknown class name: ValueError")
    raises(ValueError, lambda: c.submit("noop", attempts=0), "attempts=0: ValueError")
    raises(ValueError, lambda: c.submit("noop", run_timeout=0), "run_timeout=0: ValueError")
    raises(
        ValueError,
        lambda: c.submit("noop", run_timeout=float("inf")),
        "run_timeout=inf: ValueError",
    )
    raises(ValueError, lambda: c.task(0), "task id 0: ValueError")
    # Numbers too large for a float or a C integer: ValueError, never OverflowError.
    for rt, name in ((10**400, "10**400"), (2**32, "2**32"), (-(10**400), "-10**400"),
                     (float("nan"), "nan"), (1e300, "1e300")):
        raises(ValueError, lambda: c.submit("noop", run_timeout=rt),
               "run_timeout=%s: ValueError" % name)
    raises(ValueError, lambda: c.submit("noop", attempts=10**400), "attempts=10**400: ValueError")
    raises(ValueError, lambda: c.task(10**400), "task id 10**400: ValueError")
    raises(ValueError, lambda: c.map("noop", [], chunksize=-(10**400)),
           "chunksize=-10**400: ValueError")
    t = c.submit("echo", "long", run_timeout=2**32 - 1)
    is_((t.result(timeout=30), t.info()["run_timeout_s"]), ("long", 2**32 - 1),
        "run_timeout=2**32 - 1 (the largest) reaches the task")
    t = c.submit("echo", "again", attempts=2, run_timeout=5)
    t.result(timeout=30)
    is_(
        (t.info()["max_attempts"], t.info()["run_timeout_s"]),
        (2, 5),
        "attempts and run_timeout reach the task",
    )


@section
def timeouts_and_detach(c):
    t = c.submit("sleep", "2000")
    t0 = time.monotonic()
    raises(
        TimeoutError,
        lambda: t.result(timeout=0.2),
        "sleep 2000 with result(timeout=0.2): TimeoutError",
    )
    waited = time.monotonic() - t0
    ok(
        not t.done(),
        "the task is not finished when the timeout is raised",
        "waited %.3f s" % waited,
    )
    ok(waited >= 0.2, "result(timeout=0.2) waited at least 0.2 s", "waited %.3f s" % waited)
    is_(
        t.result(timeout=60),
        "",
        "the task still finishes: result() later gives its (empty) result",
    )
    raises(ValueError, lambda: t.result(timeout=-1), "negative timeout: ValueError")
    is_(c.submit("echo", "inf").result(timeout=float("inf")), "inf", "timeout=inf: no limit")
    # Huge timeouts mean no limit, as inf and as in libtaskring; a float
    # near its maximum must not overflow either.
    for to, name in ((10**400, "10**400"), (2**64, "2**64"), (1e308, "1e308"),
                     (sys.float_info.max, "float max")):
        h = c.submit("echo", "huge")
        try:
            got = h.result(timeout=to)
        except Exception as e:
            got = "%s: %s" % (type(e).__name__, e)
            h.result(timeout=30)  # read: leave no unread result behind
        is_(got, "huge", "result(timeout=%s): no limit" % name)
    try:
        got = c.map("echo", ["a", "b"], timeout=10**400)
        got2 = list(c.imap("echo", ["c"], timeout=10**400))
        got3 = c.submit("echo", "d", timeout=10**400).result()
    except Exception as e:
        got = got2 = got3 = "%s: %s" % (type(e).__name__, e)
    is_((got, got2, got3), (["a", "b"], ["c"], "d"),
        "map/imap/submit(timeout=10**400): no limit")
    raises(ValueError, lambda: t.result(timeout=-(10**400)), "timeout=-10**400: ValueError")
    raises(ValueError, lambda: c.map("echo", ["a"], timeout=float("nan")),
           "map(timeout=nan): ValueError")
    d = c.submit("echo", "gone", detach=True)
    ok(d.detached, "detach=True: Task.detached")
    ok(d.result(timeout=30) is None, "a detached task's result() is None once it finished")
    ok(d.done(), "and done() is True")
    try:
        d.info()
        code = None
    except taskring.TaskringError as e:
        code = e.code
    is_(code, taskring.EEXPIRED, "its info() raises TaskringError EEXPIRED: freed when it finished")
    t = c.task(c.submit("echo", "by id").id)
    is_(t.result(timeout=30), "by id", "Client.task(id) waits for a task by its id")


@section
def mapping(c):
    # Mixed sizes on 2 workers finish out of order; results must come in order.
    ns = [(i * 7919) % 200000 if i % 3 else i for i in range(100)]
    got = c.map("sqrt-sum", [str(n) for n in ns])
    want = [sqrt_sum(n) for n in ns]
    is_(len(got), 100, "map over 100 inputs: 100 results")
    ok(got == want, "map: every result correct and in input order",
       *["%d: got %r want %r" % (i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w][:5])
    is_(
        c.map("echo", [("a", "b"), ["c"], 5, "d e", ()]),
        ["a b", "c", "5", "d e", ""],
        "map elements: tuple/list = several words, str/int = one, () = none",
    )
    is_(c.map("echo", []), [], "map over nothing: []")
    n = 1000
    got = c.map("echo", (str(i) for i in range(n)), chunksize=16)
    ok(
        got == [str(i) for i in range(n)],
        "map of %d lazily read inputs through a 64-slot table: all, in order" % n,
        "got %d results" % len(got),
    )
    got = c.map("square-sum", range(300))
    ok(
        got == [str(sum(i * i for i in range(k))) for k in range(300)],
        "map of 300 with the default chunksize",
    )
    ok(until(lambda: all_free(c)), "every slot is free again after the maps", c.status())
    it = c.imap("echo", ("w%d" % i for i in range(200)))
    is_([next(it) for _ in range(3)], ["w0", "w1", "w2"], "imap yields results in order")
    it.close()
    ok(
        until(lambda: all_free(c)),
        "closing imap early cancels/collects what it had in flight",
        c.status(),
    )
    # A fork()ed child that drops an imap iterator it inherited (as its
    # exit does, unwinding the frame that holds it) leaves the parent's
    # tasks alone: the parent goes on collecting them.
    it = c.imap("spin", [20] * 40, chunksize=4)
    first = next(it)
    pid = os.fork()
    if pid == 0:
        try:
            it.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    rest = []
    exc = drain_into(rest, it)
    ok(
        exc is None and [first] + rest == [""] * 40,
        "a fork()ed child closing an inherited imap does not cancel the parent's tasks",
        "raised %r after %d results" % (exc, 1 + len(rest)),
    )
    # close() (the end of a with block) while an imap iterator is part way
    # closes it first: its tasks are cancelled and collected, not left to
    # run on with their slots unread until result_ttl.
    ok(until(lambda: all_free(c)), "  every slot free before closing a client mid-imap", c.status())
    with taskring.Client(INST_A) as c2:
        it = c2.imap("spin", [50] * 40, chunksize=4)
        next(it)
    ok(
        until(lambda: all_free(c), timeout=10),
        "closing the client mid-imap cancels/collects the iterator's tasks",
        c.status(),
    )
    raises(StopIteration, lambda: next(it), "  the iterator is closed with it")
    raises(ValueError, lambda: c.map("echo", ["a"], chunksize=0), "chunksize=0: ValueError")
    raises(TypeError, lambda: c.map("echo", [1.5]), "a float element: TypeError")
    raises(ValueError, lambda: c.map("echo", ["ok", "a\0b"]), "an element with a NUL: ValueError")
    e = raises(
        taskring.TaskringError,
        lambda: c.map("echo", ["ok", "x" * 5000]),
        "an element over payload_max: TaskringError",
    )
    if e is not None:
        ok(
            e.code == errno.E2BIG and "element 1" in str(e),
            "  naming element 1, with E2BIG",
            "got %r (code %r)" % (str(e), e.code),
        )
    e = raises(
        taskring.TaskringError,
        lambda: c.map("no-such-type", ["a"]),
        "map of an unknown type: TaskringError",
    )
    if e is not None:
        is_(e.code, taskring.EBADTYPE, "  with code EBADTYPE")
    e = raises(taskring.TaskFailed, lambda: c.map("sqrt-sum", ["10", "x", "20"] + ["1000"] * 50),
               "map with a failing task raises TaskFailed")
    if e is not None:
        ok("'x'" in e.error, "  the error of the first failed task", e.error)
    ok(
        until(lambda: all_free(c)),
        "after the failed map every slot comes free (nothing leaked)",
        c.status(),
    )


class LibProxy:
    """Stands in for the client's CDLL: forwards every call, counts the
    calls named in `counted`, records the ids of submit_batch calls, and
    hides the names in `hide` (as an older library lacks them)."""

    def __init__(self, real, counted=(), hide=()):
        self._real = real
        self._hide = set(hide)
        self.calls = {name: 0 for name in counted}
        self.ids = []  # every id map() submitted, in order
        self.interrupt_after_wait_many = False
        # Fills the infos (taskring_get: nothing marked read) and returns
        # an error, as wait_many does when a copy fails after others were
        # made; leaked: whether any of them was still unreleased at the
        # next call (taskring_wait, the oldest alone).
        self.fail_after_fill = False
        self.filled = None
        self.leaked = None

    def __getattr__(self, name):
        if name in self._hide:
            raise AttributeError(name)
        fn = getattr(self._real, name)
        if name not in self.calls:
            return fn

        def counting(*args):
            self.calls[name] += 1
            return fn(*args)

        return counting

    def taskring_submit_batch(self, h, n, reqs, opts, ids):
        r = self._real.taskring_submit_batch(h, n, reqs, opts, ids)
        self.ids.extend(ids[j] for j in range(max(r, 0)))
        return r

    def taskring_wait(self, *args):
        if "taskring_wait" in self.calls:
            self.calls["taskring_wait"] += 1
        if self.filled is not None:
            infos, k = self.filled
            self.filled = None
            self.leaked = any(infos[j].buf_ for j in range(k))
        return self._real.taskring_wait(*args)

    def taskring_wait_many(self, *args):
        if self.fail_after_fill:
            self.fail_after_fill = False
            h, k, ids, _, infos = args
            for j in range(k):
                self._real.taskring_get(h, ids[j], ctypes.byref(infos[j]))
            self.filled = (infos, k)
            return -taskring.EEXPIRED
        r = self._real.taskring_wait_many(*args)
        if "taskring_wait_many" in self.calls:
            self.calls["taskring_wait_many"] += 1
        if r == 0 and self.interrupt_after_wait_many:
            self.interrupt_after_wait_many = False
            raise KeyboardInterrupt  # the batch is read, not yet taken off pending
        return r


def idle(c):
    """Nothing queued or running: every task submitted so far is final."""
    q = c.status()["queues"]
    return all(q[k]["queued"] == 0 and q[k]["running"] == 0 for k in q)


def started(c, it):
    """Starts an imap iterator (its first next() submits what fits in the
    window) and waits until every task it submitted is final, so that what
    follows collects in batches. Returns the first result."""
    first = next(it)
    ok(until(lambda: idle(c)), "  the tasks in flight finished", c.status())
    return first


def drain_into(got, it):
    """Appends the iterator's results to got until it ends or raises.
    Returns what it raised (None when it just ended)."""
    try:
        for x in it:
            got.append(x)
    except Exception as exc:  # noqa: BLE001 - the caller checks it
        return exc
    return None


@section
def map_batches(c):
    real = c._lib
    n = 300
    got = c.map("echo", ["e%d" % i for i in range(n)], chunksize=16)
    ok(got == ["e%d" % i for i in range(n)], "map of %d echo tasks, chunksize 16: in order" % n,
       "got %d results, first wrong at %s"
       % (len(got), next((i for i, g in enumerate(got) if g != "e%d" % i), None)))

    # With every task final, results come in batches: one wait_many call
    # for many tasks, no taskring_wait per task.
    proxy = LibProxy(real, counted=("taskring_wait", "taskring_wait_many"))
    c._lib = proxy
    try:
        it = c.imap("echo", ["b%d" % i for i in range(60)], chunksize=32)
        first = started(c, it)
        proxy.calls = dict.fromkeys(proxy.calls, 0)
        rest = list(it)
    finally:
        c._lib = real
    is_([first] + rest, ["b%d" % i for i in range(60)], "imap over finished tasks: all, in order")
    ok(proxy.calls["taskring_wait"] == 0 and 1 <= proxy.calls["taskring_wait_many"] <= 8,
       "  collected with a few taskring_wait_many calls, no taskring_wait per task",
       proxy.calls)

    # A failed task inside a batch: the results before it, then what the
    # task's own result() raises; the rest of its batch is not left behind.
    ref = c.submit("sqrt-sum", "x").exception(timeout=30)
    proxy = LibProxy(real, counted=("taskring_wait_many",))
    c._lib = proxy
    args = ["1"] * 20 + ["x"] + ["2"] * 19
    try:
        it = c.imap("sqrt-sum", args, chunksize=32)
        got = [started(c, it)]
        e = drain_into(got, it)
    finally:
        c._lib = real
    ok(proxy.calls["taskring_wait_many"] >= 1, "  (wait_many was used)", proxy.calls)
    is_(got, ["0.000000"] * 20, "imap with a failed task in a batch: the 20 results before it")
    ok(isinstance(e, taskring.TaskFailed), "  then TaskFailed", repr(e))
    if isinstance(e, taskring.TaskFailed):
        is_((type(e), e.error, e.state), (type(ref), ref.error, ref.state),
            "  with the error and state the task's own result() gives")
        is_(e.task_id, proxy.ids[20], "  and the failed task's id")
        ok(e.info is not None and e.info["args"] == ["x"] and e.info["id"] == e.task_id
           and sorted(e.info) == sorted(ref.info),
           "  and its info dict, shaped as result()'s", e.info)
    raises(StopIteration, lambda: next(it), "  the iterator is finished after it")
    ok(until(lambda: all_free(c)), "  every slot is free (the rest of the batch was read)",
       c.status())

    # A cancelled task inside a batch.
    proxy = LibProxy(real)
    c._lib = proxy
    try:
        it = c.imap("sleep", ["0"] * 10 + ["30000"] + ["0"] * 10, chunksize=32)
        first = next(it)
        victim = c.task(proxy.ids[10])
        ok(until(lambda: victim.state == "running"), "a 30 s sleep among 0 ms ones runs")
        is_(victim.cancel(), True, "  cancelled")
        ok(until(lambda: idle(c)), "  and every task of the imap is final", c.status())
        got = [first]
        e = drain_into(got, it)
    finally:
        c._lib = real
    is_(got, [""] * 10, "imap with a cancelled task in a batch: the 10 results before it")
    ok(isinstance(e, taskring.TaskCancelled), "  then TaskCancelled", repr(e))
    if isinstance(e, taskring.TaskCancelled):
        is_((e.state, e.task_id), ("cancelled", proxy.ids[10]), "  for that task")
    ok(until(lambda: all_free(c)), "  every slot is free", c.status())

    # The first result comes when it is known, not when its batch is.
    t0 = time.monotonic()
    it = c.imap("sleep", ["0"] + ["3000"] * 5, chunksize=8)
    first = next(it)
    waited = time.monotonic() - t0
    it.close()
    is_(first, "", "imap of a quick sleep then 3 s ones: the first result")
    ok(waited < 2.0, "  before the later tasks finish", "waited %.3f s" % waited)
    ok(until(lambda: all_free(c)), "  closing it then frees every slot", c.status())

    # Closed in the middle of a batch: nothing leaks.
    it = c.imap("echo", ["m%d" % i for i in range(200)], chunksize=32)
    got = [started(c, it)] + [next(it) for _ in range(5)]
    it.close()
    is_(got, ["m%d" % i for i in range(6)], "imap closed in the middle of a batch")
    ok(until(lambda: all_free(c)), "  every slot is free again", c.status())

    # Interrupted after wait_many read a batch, before imap took it off its
    # pending ids: they are final and read, and the way out copes with that.
    proxy = LibProxy(real)
    c._lib = proxy
    try:
        it = c.imap("echo", ["k%d" % i for i in range(60)], chunksize=32)
        started(c, it)
        proxy.interrupt_after_wait_many = True
        raises(KeyboardInterrupt, lambda: list(it), "KeyboardInterrupt right after wait_many")
    finally:
        c._lib = real
    ok(until(lambda: all_free(c)), "  every slot is free", c.status())

    # wait_many fails after it filled some infos: they are released all the
    # same, and the tasks are collected one at a time.
    proxy = LibProxy(real)
    c._lib = proxy
    try:
        it = c.imap("echo", ["f%d" % i for i in range(60)], chunksize=32)
        first = started(c, it)
        proxy.fail_after_fill = True
        got = [first] + list(it)
    finally:
        c._lib = real
    is_(got, ["f%d" % i for i in range(60)], "wait_many failing after filling infos: all, in order")
    is_(proxy.leaked, False, "  the infos it filled were released")
    ok(until(lambda: all_free(c)), "  every slot is free", c.status())

    # A libtaskring 0.3.0 has no taskring_info_release_many: each info is
    # released by itself.
    proxy = LibProxy(real, counted=("taskring_info_release", "taskring_wait_many"),
                     hide=("taskring_info_release_many",))
    c._lib = proxy
    try:
        it = c.imap("echo", ["o%d" % i for i in range(60)], chunksize=32)
        got = [started(c, it)] + list(it)
    finally:
        c._lib = real
    is_(got, ["o%d" % i for i in range(60)], "without taskring_info_release_many: all, in order")
    # Whether collected alone or in a batch, each info is released once.
    ok(proxy.calls["taskring_info_release"] >= 60 and proxy.calls["taskring_wait_many"] >= 1,
       "  each info released with taskring_info_release", proxy.calls)
    ok(until(lambda: all_free(c)), "  every slot is free", c.status())


@section
def queue_full(c):
    ok(until(lambda: all_free(c)), "table empty before filling it")
    held = []
    try:
        while len(held) <= c.capacity:
            held.append(c.submit("noop", block=False))
    except taskring.QueueFull as e:
        ok(True, "non-blocking submits until the table is full: QueueFull")
        is_(e.code, taskring.EFULL, "  with code EFULL")
    else:
        ok(False, "non-blocking submits until the table is full: QueueFull", "never raised")
    is_(len(held), c.capacity, "the table held exactly capacity unread results")
    e = raises(
        taskring.QueueFull,
        lambda: c.submit("noop", timeout=0.3),
        "blocking submit with timeout=0.3: QueueFull",
    )
    if e is not None:
        is_(e.code, errno.ETIMEDOUT, "  with code ETIMEDOUT")
    box = []
    th = threading.Thread(target=lambda: box.append(c.submit("echo", "waited").result(timeout=60)))
    th.start()
    time.sleep(0.3)
    ok(th.is_alive(), "a blocking submit without timeout waits while the table is full")
    for t in held[:5]:
        t.result(timeout=30)
    th.join(60)
    is_(box, ["waited"], "it goes through once results are read")
    for t in held[5:]:
        t.result(timeout=30)
    ok(until(lambda: all_free(c)), "all slots free again")


@section
def threads(c):
    out = {}

    def work(k):
        out[k] = [c.submit("echo", "t%d" % k, str(i)).result(timeout=60) for i in range(50)]

    ths = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(120)
    ok(all(out.get(k) == ["t%d %d" % (k, i) for i in range(50)] for k in range(4)),
       "4 threads sharing one Client: 200 tasks, all correct")

    # Two threads waiting on one Task: each keeps its own timeout.
    t = c.submit("sleep", "3000")
    box = []
    waiter = threading.Thread(target=lambda: box.append(t.result(timeout=60)))
    waiter.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    raises(TimeoutError, lambda: t.result(timeout=0.3),
           "a second thread's result(timeout=0.3) while another waits: TimeoutError")
    waited = time.monotonic() - t0
    ok(waited < 2.0, "at its own timeout, not when the other wait ends", "waited %.3f s" % waited)
    waiter.join(60)
    is_(box, [""], "the first thread's wait gets the result")
    is_(t.result(timeout=0), "", "and the second sees it after")

    # One thread consumes the result; another asking meanwhile gets the same
    # outcome, even when the slot is reused before the first stored it.
    t = c.submit("echo", "once")
    orig = c._wait

    def slow_wait(*a, **k):
        r = orig(*a, **k)
        time.sleep(1.0)  # as if preempted before storing the outcome
        return r

    c._wait = slow_wait
    got = {}
    th1 = threading.Thread(target=lambda: got.__setitem__("t1", t.result(timeout=30)))
    th1.start()
    time.sleep(0.3)
    del c._wait
    c.map("echo", [str(i) for i in range(c.capacity + 6)])  # every slot reused
    try:
        got["t2"] = t.result(timeout=30)
    except Exception as e:  # noqa: BLE001 - reported as the failure
        got["t2"] = repr(e)
    th1.join(60)
    is_(got, {"t1": "once", "t2": "once"},
        "a second thread asking while the first consumes the result gets it too")


@section
def status_shape(c):
    st = c.status()
    cli = cli_json(INST_A, "status", "--json")
    ok(set(cli) <= set(st), "status() has every top-level key of `taskring status --json`",
       "missing: %s" % sorted(set(cli) - set(st)))
    is_(st["instance"], INST_A, "status()['instance']")
    is_(st["pid"], cli["pid"], "status()['pid'] is the supervisor's pid (as the CLI says)")
    is_(st["capacity"], 64, "status()['capacity'] is the configured 64")
    is_(len(st["workers"]), 2, "status() lists 2 workers")
    wkeys = set(cli["workers"][0])
    ok(all(wkeys <= set(w) for w in st["workers"]), "each worker has the CLI's keys", sorted(wkeys))
    is_(
        [w["pid"] for w in st["workers"]],
        [w["pid"] for w in cli["workers"]],
        "worker pids as the CLI says",
    )
    ok(
        all(isinstance(w["pid"], int) and w["pid"] > 0 for w in st["workers"]),
        "worker pids are positive ints",
    )
    is_(sorted(st["queues"]), ["cpu", "io"], "queues: cpu and io")
    is_(sorted(st["queues"]["cpu"]), sorted(cli["queues"]["cpu"]),
        "each queue has the CLI's keys (queued, running, executing, waiting)")
    is_(sorted(st["spare"]), sorted(cli["spare"]), "spare has the CLI's keys")
    ok(
        all(sorted(q) == ["executing", "queued", "running", "waiting"]
            for q in st["queues"].values()),
        "each queue: queued, running, executing and waiting",
    )
    is_(sorted(st["totals"]), sorted(cli["totals"]), "totals keys as the CLI's")
    ok(st["totals"]["submitted"] >= 1000 and st["totals"]["failed"] >= 2,
       "totals count this run's tasks", st["totals"])
    ok(st["alive"] is True and isinstance(st["uptime_s"], int), "alive and uptime_s")


@section
def cancelling():
    with taskring.Client(INST_B) as c:
        is_(len(c.status()["workers"]), 1, "instance B has 1 worker")
        spin = c.submit("spin", "30000")  # cancelled below
        ok(until(lambda: spin.state == "running"), "spin 30000 is running (the only worker is busy)")
        q = c.submit("echo", "never")
        is_(q.state, "queued", "a task behind it is queued")
        is_(q.cancel(), True, "cancel() of the queued task returns True")
        e = raises(
            taskring.TaskCancelled,
            lambda: q.result(timeout=30),
            "its result() raises TaskCancelled",
        )
        if e is not None:
            is_(e.state, "cancelled", "  state 'cancelled'")
            ok(not isinstance(e, taskring.TaskFailed), "  TaskCancelled is not a TaskFailed")
        ok(q.cancelled() and q.done(), "cancelled() and done()")
        is_(q.cancel(), False, "cancel() again returns False")
        ok(spin.running(), "the spin task still runs")
        qs = [c.submit("echo", "p%d" % i) for i in range(3)] + [c.submit("noop")]
        is_(c.cancel_queued("echo"), 3, "cancel_queued('echo') cancels the 3 queued echo tasks")
        raises(taskring.TaskCancelled, lambda: qs[1].result(timeout=30), "  each ends cancelled")
        is_(qs[3].state, "queued", "  the noop stays queued")
        e = raises(taskring.TaskringError, lambda: c.cancel_queued("nosuch"),
                   "cancel_queued('nosuch'): TaskringError")
        if e is not None:
            is_(e.code, taskring.EBADTYPE, "  code EBADTYPE")
        raises(TypeError, lambda: c.cancel_queued(5), "cancel_queued(5): TypeError")
        is_(c.cancel_queued(), 1, "cancel_queued() cancels the rest (the noop)")
        ok(spin.running(), "the spin task still runs")
        is_(spin.cancel(), True, "cancel() of the running task returns True")
        raises(
            taskring.TaskCancelled,
            lambda: spin.result(timeout=60),
            "the running task ends cancelled",
        )
        is_(
            c.submit("echo", "after").result(timeout=60),
            "after",
            "the replacement worker runs the next task",
        )

        before = c.status()["totals"]["cancelled"]
        t0 = time.monotonic()
        raises(
            TimeoutError,
            lambda: c.map("sleep", ["20000"] * 4, timeout=0.5),
            "map with timeout=0.5 over 20 s sleeps: TimeoutError",
        )
        ok(time.monotonic() - t0 < 15, "map gave up well before the tasks would finish")
        ok(until(lambda: c.status()["totals"]["cancelled"] >= before + 4),
           "the map's 4 unfinished tasks were cancelled", c.status()["totals"])
        ok(
            until(lambda: (c.status()["queues"]["io"]["queued"],
                           c.status()["queues"]["io"]["running"]) == (0, 0)),
            "nothing left queued or running",
        )

        # An interrupt that comes right after a submit call returned, before
        # map() noted the ids it got: those are cancelled too.
        real = c._lib

        class Interrupting:
            def __getattr__(self, name):
                return getattr(real, name)

            def taskring_submit_batch(self, *args):
                real.taskring_submit_batch(*args)
                c._lib = real
                raise KeyboardInterrupt

        before = c.status()["totals"]["cancelled"]
        c._lib = Interrupting()
        try:
            raises(
                KeyboardInterrupt,
                lambda: list(c.map("sleep", ["20000"] * 8)),
                "KeyboardInterrupt just after map()'s submit call",
            )
        finally:
            c._lib = real
        ok(until(lambda: c.status()["totals"]["cancelled"] >= before + 8),
           "all 8 tasks of that call were cancelled", c.status()["totals"])
        ok(until(lambda: all_free(c)), "and every slot is free", c.status())
        raises(ValueError, lambda: c.kill_worker(2**32),
               "kill_worker(2**32): ValueError, not worker 0")
        raises(ValueError, lambda: c.kill_worker(-1), "kill_worker(-1): ValueError")
        raises(ValueError, lambda: c.kill_worker(10**400), "kill_worker(10**400): ValueError")
        raises(ValueError, lambda: c.kill_worker(0, 10**400),
               "kill_worker(0, sig=10**400): ValueError")
        for x in (1.5, float("inf"), float("nan"), "0"):
            raises(TypeError, lambda: c.kill_worker(x),
                   "kill_worker(%r): TypeError, not truncated or OverflowError" % x)


@section
def daemon_gone():
    with taskring.Client(INST_B) as c:
        c.dead_grace = 1.0
        spin = c.submit("spin", "20000")
        ok(until(lambda: spin.state == "running"), "a spin task runs on B")
        os.kill(PID_B, signal.SIGKILL)
        ok(until(lambda: c.status()["alive"] is False), "B's supervisor is dead")
        e = raises(taskring.DaemonUnavailable, lambda: spin.result(timeout=60),
                   "waiting on a task of a dead daemon: DaemonUnavailable after dead_grace")
        if e is not None:
            is_(e.code, taskring.ENODAEMON, "  with code ENODAEMON")
        st = c.status()
        ok(
            st["pid"] is None and st["uptime_s"] is None,
            "status() of a dead daemon: pid and uptime None",
        )
    e = raises(
        taskring.DaemonUnavailable,
        lambda: taskring.Client(INST_B),
        "Client() of a dead daemon: DaemonUnavailable",
    )
    if e is not None:
        is_(e.code, taskring.ENODAEMON, "  with code ENODAEMON")


def main():
    client = None
    for fn in SECTIONS:
        try:
            if fn.__code__.co_argcount:
                if client is None:
                    client = taskring.Client(INST_A)
                fn(client)
            else:
                fn()
        except Exception:
            ok(False, "section %s ran to the end" % fn.__name__, traceback.format_exc())
    if client is not None:
        client.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
