"""taskring - a Python client for the taskring work-queue daemon.

A single module using only the standard library: it loads ``libtaskring.so``
with :mod:`ctypes` and offers what :mod:`concurrent.futures` users know::

    import taskring

    with taskring.Client() as tr:                 # $TASKRING_INSTANCE or "default"
        t = tr.submit("sqrt-sum", "1000000")      # -> Task
        print(t.result(timeout=10))               # "666666166.458842"
        print(tr.map("square-sum", range(1, 6)))  # ["0", "1", "5", "14", "30"]

Tasks run in the worker processes of a running ``taskringd``; this module
only submits them, waits for them and reads their results from the
instance's shared-memory segment.

Finding the library, first match wins:

1. ``$TASKRING_LIB`` (a path to the shared object; only that one is tried),
2. ``../../build/libtaskring.so`` relative to this file (a source checkout
   after ``make``),
3. ``libtaskring.so.1`` by its soname (an installed library),
4. ``ctypes.util.find_library("taskring")``.

A library whose ``taskring_abi()`` is not the one this module's structs
mirror (1) is skipped, so a module and a library of incompatible versions
never exchange structs; without any other, the error names what was tried.

Strings: task arguments are ``str`` (encoded as UTF-8, with
``surrogateescape`` so that strings from :func:`os.fsdecode` round-trip),
``bytes`` or ``int``; none may contain a NUL byte. Results are decoded as
UTF-8 with ``errors="surrogateescape"`` (:meth:`Task.result_bytes` gives the
raw bytes); error texts are decoded with ``errors="replace"``.

Errors are exceptions derived from :class:`TaskringError`:

* :class:`QueueFull` - the task table is full (non-blocking submit, or the
  submit timeout passed),
* :class:`DaemonUnavailable` - no such instance, no permission, an
  incompatible segment, or its daemon is not running,
* :class:`TaskFailed` - the task ended ``failed``; carries its error text,
* :class:`TaskCancelled` - the task was cancelled.

Waiting longer than a ``timeout`` raises the built-in :class:`TimeoutError`;
a ``timeout`` of ``None``, ``float("inf")`` or more than 2**64 ns (about 584
years, any huge int) means no limit, as in libtaskring. Bad arguments raise
:class:`ValueError` or :class:`TypeError`, never :class:`OverflowError`.

Thread safety: a :class:`Client` may be used by several threads at once
(the library calls release the GIL), but must not be closed while another
thread still uses it. Delivery is at-least-once: a task whose worker dies is
run again, up to its ``attempts``.
"""

import ctypes
import ctypes.util
import errno as _errno
import itertools
import math
import os
import signal as _signal
import threading
import time
import weakref
from collections import deque

__all__ = [
    "Client",
    "Task",
    "TaskringError",
    "QueueFull",
    "DaemonUnavailable",
    "TaskFailed",
    "TaskCancelled",
    "CPU",
    "IO",
    "STATES",
    "FINAL_STATES",
    "EFULL",
    "EEXPIRED",
    "ELAYOUT",
    "ENODAEMON",
    "ECORRUPT",
    "EBADTYPE",
    "EFINAL",
    "EBADID",
    "ENOTSUP_CLS",
    "ELOCKED",
    "strerror",
    "library_path",
]

__version__ = "0.3.0"

# ---- constants mirrored from include/taskring.h -------------------------------

#: The project's own error codes (positive here; the C API returns them negated).
EBASE = 10000
EFULL = EBASE + 1  #: the task table is full (non-blocking submit)
EEXPIRED = EBASE + 2  #: no longer in the table: slot reused, or detached and finished
ELAYOUT = EBASE + 3  #: the segment has another magic, layout version or size
ENODAEMON = EBASE + 4  #: no live supervisor owns the segment
ECORRUPT = EBASE + 5  #: the segment holds inconsistent data
EBADTYPE = EBASE + 6  #: unknown task type
EFINAL = EBASE + 7  #: the task already reached a final state
EBADID = EBASE + 8  #: not a valid task id for this segment
ENOTSUP_CLS = EBASE + 9  #: the task type does not allow the requested class
ELOCKED = EBASE + 10  #: the queue lock was not released in time (a holder is stopped or hung)

#: Task classes: ``CPU`` tasks run one at a time on a worker's main thread,
#: ``IO`` tasks many at once on its io_uring thread.
CPU = 0
IO = 1
_CLASS_NAMES = {CPU: "cpu", IO: "io"}

#: State names, indexed by the C enum taskring_state.
STATES = ("free", "queued", "running", "done", "failed", "cancelled")
_QUEUED, _RUNNING, _DONE, _FAILED, _CANCELLED = 1, 2, 3, 4, 5
#: The states a task never leaves.
FINAL_STATES = frozenset(("done", "failed", "cancelled"))

_DETACHED = 0x1  # TASKRING_DETACHED
_MAX_ATTEMPTS = 1000  # the queue's hard limit on max_attempts
_UINT_MAX = 0xFFFFFFFF
#: Timeouts longer than this many seconds (about 584 years: more than the
#: library's nanosecond deadlines hold) mean no limit, as float("inf") does
#: and as in libtaskring, where a huge timeout means no limit.
_NO_LIMIT_S = (1 << 64) // 10**9
#: The longest dead_grace in seconds (the limit of TASKRING_DEAD_GRACE for the
#: CLI): no limit would make Client() wait for ever after any stop.
_DEAD_GRACE_MAX = 10**9


def _isnan(x):
    """math.isnan without converting an int to a float (10**400 does not fit)."""
    return isinstance(x, float) and math.isnan(x)


def _num(x):
    """x for a message, cut short: 10**400 is not printed in full."""
    s = repr(x)
    return s if len(s) <= 24 else "%s... (%d digits)" % (s[:12], len(s))


def _int_arg(x, what):
    """x as an int for a C int argument: an int (not a bool), else TypeError."""
    if not isinstance(x, int) or isinstance(x, bool):
        raise TypeError("%s: expected int, got %s" % (what, type(x).__name__))
    return int(x)


# ---- exceptions -----------------------------------------------------------------


class TaskringError(Exception):
    """Base class of every error this module raises on purpose.

    ``code`` is the positive error number (an :mod:`errno` value such as
    ``errno.E2BIG``, or one of this module's ``E*`` constants such as
    :data:`EBADTYPE`); it is ``None`` for :class:`TaskFailed` and
    :class:`TaskCancelled`, which report a task's outcome rather than a
    library error. ``message`` is the library's explanation
    (``taskring_strerror``); ``str(exc)`` adds what was being done.
    """

    def __init__(self, code, message, context=None):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.context = context

    def __str__(self):
        if self.context:
            return "%s: %s" % (self.context, self.message)
        return self.message


class QueueFull(TaskringError):
    """The task table is full: raised by a non-blocking submit
    (``code == EFULL``) or when a blocking submit's ``timeout`` passed with
    the table still full (``code == errno.ETIMEDOUT``)."""


class DaemonUnavailable(TaskringError):
    """The instance cannot be used: it does not exist (``errno.ENOENT``),
    belongs to someone else (``errno.EACCES``/``EPERM``), has an incompatible
    segment (:data:`ELAYOUT`), is starting (``errno.EAGAIN``), or its daemon
    is not running (:data:`ENODAEMON`), also when it stops while a caller
    waits."""


class _TaskOutcome(TaskringError):
    """A task ended without a result; see TaskFailed and TaskCancelled."""

    def __init__(self, error, state, task_id=None, info=None):
        TaskringError.__init__(self, None, error)
        self.args = (error, state)
        #: the task's error text, e.g. the message given to a ``fail`` task
        self.error = error
        #: the task's final state name: ``"failed"`` or ``"cancelled"``
        self.state = state
        #: the task's id
        self.task_id = task_id
        #: the task's info dict (see :meth:`Task.info`), when known
        self.info = info

    def __str__(self):
        return self.error


class TaskFailed(_TaskOutcome):
    """The task ended ``failed``. ``exc.error`` is its error text (also
    ``str(exc)``), ``exc.state`` is ``"failed"``, ``exc.task_id`` its id and
    ``exc.info`` its info dict. Constructed as ``TaskFailed(error, state)``."""


class TaskCancelled(_TaskOutcome):
    """The task was cancelled (``exc.state == "cancelled"``); like
    :class:`concurrent.futures.CancelledError` it is not a
    :class:`TaskFailed`. Carries the same attributes as TaskFailed."""


# ---- the C structures (include/taskring.h), field for field ---------------------


class _Opts(ctypes.Structure):
    """struct taskring_opts"""

    _fields_ = [
        ("cls", ctypes.c_int),
        ("use_cls", ctypes.c_int),
        ("max_attempts", ctypes.c_uint),
        ("run_timeout_s", ctypes.c_uint),
        ("flags", ctypes.c_uint),
        ("timeout_ms", ctypes.c_int64),
    ]


class _Req(ctypes.Structure):
    """struct taskring_req"""

    _fields_ = [
        ("type", ctypes.c_char_p),
        ("argc", ctypes.c_int),
        ("argv", ctypes.POINTER(ctypes.c_char_p)),
    ]


class _Info(ctypes.Structure):
    """struct taskring_info (release with taskring_info_release)"""

    _fields_ = [
        ("id", ctypes.c_uint64),
        ("type", ctypes.c_char * 32),
        ("cls", ctypes.c_int),
        ("state", ctypes.c_int),
        ("attempts", ctypes.c_uint),
        ("max_attempts", ctypes.c_uint),
        ("worker", ctypes.c_int),
        ("run_timeout_s", ctypes.c_uint),
        ("submitted_ns", ctypes.c_uint64),
        ("started_ns", ctypes.c_uint64),
        ("finished_ns", ctypes.c_uint64),
        ("argc", ctypes.c_int),
        ("argv", ctypes.POINTER(ctypes.c_char_p)),
        ("output", ctypes.c_void_p),  # not c_char_p: it may hold NUL bytes
        ("output_len", ctypes.c_size_t),
        ("buf_", ctypes.c_void_p),
    ]


class _WorkerInfo(ctypes.Structure):
    """struct taskring_worker_info"""

    _fields_ = [
        ("index", ctypes.c_int),
        ("pid", ctypes.c_int),
        ("cpu", ctypes.c_int),
        ("state", ctypes.c_char * 16),
        ("task", ctypes.c_uint64),
        ("io_inflight", ctypes.c_uint),
        ("tasks_done", ctypes.c_uint64),
        ("restarts", ctypes.c_uint),
        ("last_exit", ctypes.c_char * 96),
        ("restart_in_ms", ctypes.c_uint),
    ]


class _Status(ctypes.Structure):
    """struct taskring_status (release with taskring_status_release)"""

    _fields_ = [
        ("instance", ctypes.c_char * 40),
        ("pid", ctypes.c_int),
        ("alive", ctypes.c_int),
        ("uptime_s", ctypes.c_uint64),
        ("epoch", ctypes.c_uint32),
        ("capacity", ctypes.c_uint),
        ("free", ctypes.c_uint),
        ("payload_max", ctypes.c_uint),
        ("result_max", ctypes.c_uint),
        ("queued", ctypes.c_uint * 2),
        ("running", ctypes.c_uint * 2),
        ("submitted", ctypes.c_uint64),
        ("done", ctypes.c_uint64),
        ("failed", ctypes.c_uint64),
        ("cancelled", ctypes.c_uint64),
        ("requeued", ctypes.c_uint64),
        ("worker_restarts", ctypes.c_uint64),
        ("reload_seq", ctypes.c_uint32),
        ("reload_ok", ctypes.c_int),
        ("reload_error", ctypes.c_char * 256),
        ("nworkers", ctypes.c_int),
        ("workers", ctypes.POINTER(_WorkerInfo)),
        ("executing", ctypes.c_uint * 2),
        ("spare_pid", ctypes.c_int),
        ("spare_state", ctypes.c_char * 16),
        ("spare_in_ms", ctypes.c_uint),
        ("spare_fails", ctypes.c_uint),
    ]


# The C name of each structure, for layout checks against the header.
_C_STRUCTS = {
    "taskring_opts": _Opts,
    "taskring_req": _Req,
    "taskring_info": _Info,
    "taskring_worker_info": _WorkerInfo,
    "taskring_status": _Status,
}

# ---- loading the library ----------------------------------------------------------

_lib = None
_lib_path = None
_lib_lock = threading.Lock()

_P = ctypes.c_void_p  # taskring_t *
_PROTOTYPES = {
    "taskring_instance_valid": (ctypes.c_int, [ctypes.c_char_p]),
    "taskring_attach": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]),
    "taskring_detach": (None, [_P]),
    "taskring_daemon_alive": (ctypes.c_int, [_P]),
    "taskring_daemon_stopped_s": (ctypes.c_int, [_P]),
    "taskring_lock_holder": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_size_t]),
    "taskring_submit": (
        ctypes.c_int,
        [
            _P,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.POINTER(_Opts),
            ctypes.POINTER(ctypes.c_uint64),
        ],
    ),
    "taskring_submit_batch": (
        ctypes.c_int,
        [
            _P,
            ctypes.c_size_t,
            ctypes.POINTER(_Req),
            ctypes.POINTER(_Opts),
            ctypes.POINTER(ctypes.c_uint64),
        ],
    ),
    "taskring_get": (ctypes.c_int, [_P, ctypes.c_uint64, ctypes.POINTER(_Info)]),
    "taskring_wait": (
        ctypes.c_int,
        [_P, ctypes.c_uint64, ctypes.c_int64, ctypes.POINTER(_Info)],
    ),
    "taskring_wait_many": (
        ctypes.c_int,
        [
            _P,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_uint64),
            ctypes.c_int64,
            ctypes.POINTER(_Info),
        ],
    ),
    "taskring_info_release": (None, [ctypes.POINTER(_Info)]),
    "taskring_cancel": (ctypes.c_int, [_P, ctypes.c_uint64]),
    "taskring_status_get": (ctypes.c_int, [_P, ctypes.POINTER(_Status)]),
    "taskring_status_release": (None, [ctypes.POINTER(_Status)]),
    "taskring_kill_worker": (
        ctypes.c_int,
        [_P, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int)],
    ),
    "taskring_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    "taskring_abi": (ctypes.c_int, []),
}

# Used when the library has them (newer than __version__, the oldest this
# module accepts); the module works without them.
_OPTIONAL = {
    # since 0.3.1
    "taskring_info_release_many": (None, [ctypes.c_size_t, ctypes.POINTER(_Info)]),
    # since 0.4.0
    "taskring_cancel_queued": (
        ctypes.c_int,
        [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64)],
    ),
}

# The TASKRING_ABI (the soname's number) whose structs this module mirrors:
# a library with another one would read or write them at other offsets.
_ABI = 1


def _candidates():
    env = os.environ.get("TASKRING_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    local = os.path.normpath(os.path.join(here, "..", "..", "build", "libtaskring.so"))
    if os.path.exists(local):
        out.append(local)
    # The installed library by its soname first: find_library() may name an
    # older one (the libtaskring.so link of another version's -dev package).
    out.append("libtaskring.so.%d" % _ABI)
    found = ctypes.util.find_library("taskring")
    if found and found not in out:
        out.append(found)
    return out


def _load():
    """Loads libtaskring once and declares every prototype; raises OSError
    naming what was tried when no library can be loaded."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        tried = []
        for path in _candidates():
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:
                tried.append("%s (%s)" % (path, e))
                continue
            try:
                for name, (res, args) in _PROTOTYPES.items():
                    fn = getattr(lib, name)
                    fn.restype = res
                    fn.argtypes = args
            except AttributeError as e:
                tried.append("%s (not libtaskring %s or later: %s)" % (path, __version__, e))
                continue
            for name, (res, args) in _OPTIONAL.items():
                if hasattr(lib, name):
                    fn = getattr(lib, name)
                    fn.restype = res
                    fn.argtypes = args
            abi = lib.taskring_abi()
            if abi != _ABI:
                tried.append(
                    "%s (libtaskring ABI %d; this module needs ABI %d)" % (path, abi, _ABI)
                )
                continue
            _lib, _lib_path = lib, path
            return lib
        raise OSError(
            "cannot load libtaskring: tried %s; build it with `make` or set "
            "TASKRING_LIB to its path" % "; ".join(tried)
        )


def library_path():
    """Returns the path of the libtaskring shared object in use, loading it
    first if needed (raises OSError when none can be loaded)."""
    _load()
    return _lib_path


def strerror(code):
    """Explains an error code, positive or negative (``taskring_strerror``)."""
    code = int(code)
    if not -(2**31) < code < 2**31:
        # ctypes would pass it to the C int cut to its low 32 bits:
        # 2**32 + 2 would read as ENOENT, 2**70 as "success".
        return "unknown error %s" % _num(code)
    s = _load().taskring_strerror(code)
    return s.decode("utf-8", "replace") if s else "error %d" % code


def _error(r, context=None):
    """The exception for the negative return value ``r`` of a C call."""
    code = -r
    msg = strerror(code)
    if code == EFULL:
        return QueueFull(code, msg, context)
    if code in (ENODAEMON, ELAYOUT):
        return DaemonUnavailable(code, msg, context)
    if code == _errno.ENOMEM:
        return MemoryError(context + ": " + msg if context else msg)
    return TaskringError(code, msg, context)


# ---- conversions --------------------------------------------------------------------


def _word(x, what):
    """One argument word as bytes: str (UTF-8, surrogateescape), bytes-like
    or int; never with a NUL byte."""
    if isinstance(x, str):
        b = x.encode("utf-8", "surrogateescape")
    elif isinstance(x, (bytes, bytearray, memoryview)):
        b = bytes(x)
    elif isinstance(x, int) and not isinstance(x, bool):
        b = str(x).encode("ascii")
    else:
        raise TypeError("%s: expected str, bytes or int, got %s" % (what, type(x).__name__))
    if b"\0" in b:
        raise ValueError("%s contains a NUL byte" % what)
    return b


def _typename(x):
    return type(x).__name__


def _type_name(name):
    if not isinstance(name, str):
        raise TypeError("task type: expected str, got %s" % type(name).__name__)
    b = name.encode("utf-8", "surrogateescape")
    if not b:
        raise ValueError("task type is empty")
    if b"\0" in b:
        raise ValueError("task type contains a NUL byte")
    return b


def _argv(words):
    """A C array of char * for the words (bytes), kept alive by the array."""
    return (ctypes.c_char_p * (len(words) + 1))(*words)  # the last one NULL


def _simple_word(x):
    """x as bytes when it is exactly a str, int or bytes with no NUL byte,
    else None (the caller then takes the general path and its messages)."""
    t = type(x)
    if t is str:
        b = x.encode("utf-8", "surrogateescape")
    elif t is int:
        b = str(x).encode("ascii")
    elif t is bytes:
        b = x
    else:
        return None
    return None if b"\0" in b else b


def _element_words(x, index):
    """The argument words of one map element: a str/bytes/int is one
    argument, a tuple or list several."""
    # The common cases first, with no message formatted unless it is needed:
    # this runs once per task of a map.
    b = _simple_word(x)
    if b is not None:
        return [b]
    if isinstance(x, (tuple, list)):
        words = [_simple_word(w) for w in x]
        if None not in words:
            return words
        return [_word(w, "map element %d, argument %d" % (index, i)) for i, w in enumerate(x)]
    if isinstance(x, (str, bytes, bytearray, memoryview, int)) and not isinstance(x, bool):
        return [_word(x, "map element %d" % index)]
    raise TypeError(
        "map element %d: expected str, bytes, int, tuple or list, got %s"
        % (index, type(x).__name__)
    )


def _cstr(field):
    """A fixed-size char array field (ctypes gives bytes up to the first NUL)."""
    return field.decode("utf-8", "replace")


def _info_dict(info):
    """Copies a filled struct taskring_info into (dict, raw output bytes)."""
    state = info.state
    out = ctypes.string_at(info.output, info.output_len) if info.output else b""
    args = []
    if info.argv:
        for i in range(max(info.argc, 0)):
            w = info.argv[i]
            args.append((w or b"").decode("utf-8", "surrogateescape"))
    result = error = None
    if state == _DONE:
        result = out.decode("utf-8", "surrogateescape")
    elif state in (_FAILED, _CANCELLED):
        if out:
            error = out.decode("utf-8", "replace")
        else:
            error = "cancelled" if state == _CANCELLED else ""
    d = {
        "id": info.id,
        "type": _cstr(info.type),
        "args": args,
        "state": STATES[state] if 0 <= state < len(STATES) else "?",
        "attempts": info.attempts,
        "max_attempts": info.max_attempts,
        "worker": info.worker if info.worker >= 0 else None,
        "result": result,
        "error": error,
        "submitted_ns": info.submitted_ns or None,
        "started_ns": info.started_ns or None,
        "finished_ns": info.finished_ns or None,
        "class": _CLASS_NAMES.get(info.cls, "?"),
        "run_timeout_s": info.run_timeout_s or None,
    }
    return d, out


def _outcome_error(d, task_id):
    """TaskFailed / TaskCancelled for a final info dict that is not done."""
    if d["state"] == "cancelled":
        return TaskCancelled(d["error"] or "cancelled", "cancelled", task_id, d)
    return TaskFailed(d["error"] or "", d["state"], task_id, d)


def _deadline(timeout, what="timeout"):
    if timeout is None:
        return None
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        raise TypeError("%s: expected a number of seconds, got %s" % (what, type(timeout).__name__))
    if _isnan(timeout) or timeout < 0:
        raise ValueError("%s must be >= 0 seconds (got %s)" % (what, _num(timeout)))
    if timeout > _NO_LIMIT_S:
        return None  # inf or huge: no limit
    return time.monotonic() + timeout


def _slice_ms(deadline, cap_s):
    """Milliseconds to wait in one library call: at most cap_s, at least 1
    (0 would mean "do not wait"), and never past the deadline."""
    if deadline is None:
        return int(cap_s * 1000)
    left = deadline - time.monotonic()
    return max(1, int(math.ceil(min(cap_s, left) * 1000)))


def _expired(deadline):
    return deadline is not None and time.monotonic() >= deadline


# ---- the client ------------------------------------------------------------------------


class Client:
    """A connection to one taskring instance (its shared-memory segment).

    ``Client(instance=None, dead_grace=None)``: ``instance`` is the instance name (1-32
    characters of ``A-Z a-z 0-9 _ . -``); ``None`` means
    ``$TASKRING_INSTANCE``, else ``"default"``. The instance's daemon must be
    running; when it stopped by itself less than :attr:`dead_grace` seconds
    ago (a restart), the constructor waits for the next one until
    :attr:`dead_grace` after that stop (``dead_grace``, when given, sets
    that attribute for this client: 0 to 10**9 seconds, as
    ``TASKRING_DEAD_GRACE`` for the CLI; no limit would wait for ever after
    any stop, so ``inf`` and larger values raise :class:`ValueError`). Raises :class:`ValueError` for an invalid name and
    :class:`DaemonUnavailable` when the instance cannot be used.

    Use it as a context manager, or call :meth:`close`. Every blocking call
    waits in short slices, so Ctrl-C interrupts it, and gives up with
    :class:`DaemonUnavailable` when the daemon has been gone for
    :attr:`dead_grace` seconds.
    """

    #: Seconds a wait tolerates a dead daemon (one restarting under systemd
    #: adopts the segment and carries on) before raising DaemonUnavailable.
    dead_grace = 10.0
    #: Longest single library wait, in seconds.
    _SLICE = 0.25
    #: How long a call with no deadline of its own waits out a queue lock
    #: that stays held (a stopped holder) before it raises ELOCKED: the C
    #: library's wait for a call with no deadline (10 s).
    _LOCK_WAIT = 10.0
    #: Seconds map() spends collecting the tasks it cancelled on the way out.
    _REAP = 1.0

    def __init__(self, instance=None, dead_grace=None):
        lib = _load()
        if dead_grace is not None:
            if isinstance(dead_grace, bool) or not isinstance(dead_grace, (int, float)):
                raise TypeError(
                    "dead_grace: expected a number, got %s" % type(dead_grace).__name__
                )
            if not 0 <= dead_grace <= _DEAD_GRACE_MAX:  # also nan
                # no limit would make Client() wait for ever after any stop
                raise ValueError(
                    "dead_grace: expected 0 to %d seconds, got %s"
                    % (_DEAD_GRACE_MAX, _num(dead_grace))
                )
            self.dead_grace = float(dead_grace)
        if instance is None:
            instance = os.environ.get("TASKRING_INSTANCE") or "default"
        if not isinstance(instance, str):
            raise TypeError("instance: expected str, got %s" % type(instance).__name__)
        name = instance.encode("utf-8", "surrogateescape")
        if b"\0" in name or lib.taskring_instance_valid(name) != 0:
            raise ValueError(
                "invalid instance name %r (1-32 characters of A-Z a-z 0-9 _ . -)" % instance
            )
        self._lib = lib
        self._h = None
        self._iters = weakref.WeakSet()  # imap iterators, for close()
        self.instance = instance
        h = ctypes.c_void_p()
        r = lib.taskring_attach(name, ctypes.byref(h))
        if r < 0:
            code = -r
            where = "instance %r" % instance
            if code == _errno.ENOENT:
                raise DaemonUnavailable(
                    code,
                    "not running (no /dev/shm/taskring.%s)" % instance,
                    where,
                )
            if code in (_errno.EACCES, _errno.EPERM, _errno.EAGAIN, ELAYOUT, ENODAEMON):
                raise DaemonUnavailable(code, strerror(code), where)
            raise _error(r, where)
        self._h = ctypes.c_void_p(h.value)
        if not lib.taskring_daemon_alive(self._h) and not self._await_restart():
            ago = lib.taskring_daemon_stopped_s(self._h)
            self.close()
            raise DaemonUnavailable(
                ENODAEMON,
                "the daemon is not running%s; its segment is left for the next "
                "taskringd to adopt"
                % (": it stopped %d s ago and no new one started" % ago if ago >= 0 else ""),
                "instance %r" % instance,
            )
        self._limits = None

    # The table's geometry, read from the status at first use, not in the
    # constructor: reading the status takes the queue lock, and a client
    # that attaches while a stopped process holds it must not wait 10 s
    # for it (its calls have deadlines of their own).
    def _limit(self, key):
        if self._limits is None:
            st = self._status_raw()
            self._limits = {k: st[k] for k in ("capacity", "payload_max", "result_max")}
        return self._limits[key]

    @property
    def capacity(self):
        """The size of the instance's task table."""
        return self._limit("capacity")

    @property
    def payload_max(self):
        """The most argument bytes one task may carry (each word plus a NUL)."""
        return self._limit("payload_max")

    @property
    def result_max(self):
        """The most result bytes a task keeps."""
        return self._limit("result_max")

    # -- life cycle

    def close(self):
        """Detaches from the instance. Idempotent; tasks already submitted
        keep running, except those of :meth:`imap` iterators not run to
        the end: they are closed first, which cancels their outstanding
        tasks. Using the client (or its tasks) afterwards raises
        ValueError."""
        if getattr(self, "_h", None) is None:
            return
        # An iterator closed (or collected) after the handle is gone can no
        # longer cancel its tasks: they would run on and keep their slots,
        # unread, until result_ttl. So close them while it still works.
        for it in list(getattr(self, "_iters", ())):
            try:
                it.close()
            except ValueError:
                pass  # running now: close() was called from inside it
        h, self._h = self._h, None
        if h is not None:
            self._lib.taskring_detach(h)

    @property
    def closed(self):
        """True once :meth:`close` was called."""
        return self._h is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<taskring.Client instance=%r%s>" % (self.instance, " closed" if self.closed else "")

    def _error(self, r, context=None):
        """Like the module's _error(), but an ELOCKED error names the process
        holding the queue lock ("it is held by pid 4242 (taskring), stopped")."""
        if -r == ELOCKED and self._h is not None:
            buf = ctypes.create_string_buffer(128)
            if self._lib.taskring_lock_holder(self._h, buf, len(buf)) > 0:
                who = buf.value.decode("utf-8", "replace")
                return TaskringError(-r, "%s; it is held by %s" % (strerror(-r), who), context)
        return _error(r, context)

    def _handle(self):
        h = self._h
        if h is None:
            raise ValueError("taskring client for instance %r is closed" % self.instance)
        return h

    def _alive(self):
        return bool(self._lib.taskring_daemon_alive(self._handle()))

    def _await_restart(self):
        """The daemon is not running: when it stopped by itself less than
        dead_grace seconds ago (a restart, most likely), waits for the next
        one until dead_grace after that stop. Returns True once one runs."""
        ago = self._lib.taskring_daemon_stopped_s(self._h)
        if ago < 0 or ago >= self.dead_grace:
            return False
        deadline = time.monotonic() + self.dead_grace - ago
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if self._alive():
                return True
        return False

    def _check_daemon(self, state):
        """Called between wait slices: raises DaemonUnavailable once the
        daemon has been dead for dead_grace seconds. state is a one-item
        list holding when it was first seen dead (or None)."""
        if self._alive():
            state[0] = None
            return
        now = time.monotonic()
        if state[0] is None:
            state[0] = now
        elif now - state[0] >= self.dead_grace:
            raise DaemonUnavailable(
                ENODAEMON,
                "the daemon stopped (not back within %g s)" % self.dead_grace,
                "instance %r" % self.instance,
            )

    # -- submitting

    def _opts(self, attempts, run_timeout, detach, cls):
        o = _Opts()
        if attempts is not None:
            if not isinstance(attempts, int) or isinstance(attempts, bool):
                raise TypeError("attempts: expected int, got %s" % type(attempts).__name__)
            if not 1 <= attempts <= _MAX_ATTEMPTS:
                raise ValueError(
                    "attempts must be 1 to %d (got %s)" % (_MAX_ATTEMPTS, _num(attempts))
                )
            o.max_attempts = attempts
        if run_timeout is not None:
            if not isinstance(run_timeout, (int, float)) or isinstance(run_timeout, bool):
                raise TypeError(
                    "run_timeout: expected seconds, got %s" % type(run_timeout).__name__
                )
            if _isnan(run_timeout) or run_timeout <= 0:
                raise ValueError(
                    "run_timeout must be more than 0 seconds (leave it None for the "
                    "daemon's tasks.run_timeout_s)"
                )
            if run_timeout > _UINT_MAX:  # also inf: the task has a limit or None
                raise ValueError(
                    "run_timeout %s is too long (at most %d seconds; leave it None for "
                    "the daemon's tasks.run_timeout_s)" % (_num(run_timeout), _UINT_MAX)
                )
            o.run_timeout_s = int(math.ceil(run_timeout))
        if cls is not None:
            if cls in ("cpu", CPU) and not isinstance(cls, bool):
                o.cls = CPU
            elif cls in ("io", IO) and not isinstance(cls, bool):
                o.cls = IO
            else:
                raise ValueError("cls must be 'cpu' or 'io' (got %r)" % (cls,))
            o.use_cls = 1
        o.flags = _DETACHED if detach else 0
        return o

    def submit(
        self,
        type,
        *args,
        attempts=None,
        run_timeout=None,
        detach=False,
        cls=None,
        block=True,
        timeout=None
    ):
        """Submits one task and returns its :class:`Task`.

        ``type`` is the task type name (e.g. ``"echo"``, ``"sqrt-sum"``);
        ``args`` its argument words (str, bytes or int; no NUL bytes).

        Options: ``attempts`` - run the task at most this many times if its
        worker dies (1-1000; ``None``: the daemon's ``tasks.max_attempts``);
        ``run_timeout`` - seconds the task may run before its worker is
        stopped (rounded up to whole seconds; ``None``: the daemon's
        ``tasks.run_timeout_s``); ``detach`` - keep no result: the slot is
        freed when the task finishes and :meth:`Task.result` returns None;
        ``cls`` - ``"cpu"`` or ``"io"`` where the type allows both.

        When the table is full: with ``block=True`` waits for a free slot,
        up to ``timeout`` seconds (``None``: as long as it takes), then raises
        :class:`QueueFull` (``code == errno.ETIMEDOUT``); with
        ``block=False`` raises :class:`QueueFull` (``code == EFULL``) at once.
        A queue lock that stays held (its holder stopped) is waited out to
        the deadline, or with ``timeout=None`` for 10 s (as the C library
        waits), then raises :class:`TaskringError` with ``code == ELOCKED``
        naming the holder.

        Raises :class:`TaskringError` with ``code == EBADTYPE`` for an
        unknown type, ``errno.E2BIG`` when the arguments exceed
        ``payload_max``, :data:`ENOTSUP_CLS` for a class the type does not
        allow; ValueError/TypeError for bad Python arguments.
        """
        h = self._handle()
        tname = _type_name(type)
        words = [_word(a, "argument %d" % i) for i, a in enumerate(args)]
        argv = _argv(words)
        opts = self._opts(attempts, run_timeout, detach, cls)
        deadline = _deadline(timeout) if block else None
        tid = ctypes.c_uint64()
        dead = [None]
        stuck = False  # the previous slice ended at a stuck lock
        stuck_since = None  # without a deadline: when the lock first looked stuck
        while True:
            opts.timeout_ms = _slice_ms(deadline, self._SLICE) if block else 0
            r = self._lib.taskring_submit(
                h, tname, len(words), argv, ctypes.byref(opts), ctypes.byref(tid)
            )
            if r == 0:
                return Task(self, tid.value, detached=bool(detach))
            if block and r == -ELOCKED and not _expired(deadline):
                stuck = True
                if deadline is not None:
                    continue  # a slice of the deadline ended at a stuck lock
                # No deadline: wait it out as long as the C library would.
                stuck_since, go_on = self._lock_wait_on(stuck_since)
                if go_on:
                    continue
                raise self._error(r, "submit %r" % type)
            stuck_since = None
            if block and r in (-_errno.ETIMEDOUT, -EFULL):
                if _expired(deadline):
                    if stuck and r == -_errno.ETIMEDOUT:
                        # The last slice was too short for the library to
                        # call the lock stuck: it still is, the table is
                        # not known to be full.
                        raise self._error(-ELOCKED, "submit %r" % type)
                    raise QueueFull(
                        _errno.ETIMEDOUT,
                        "the task table is still full after %g s" % timeout,
                        "submit %r" % type,
                    )
                stuck = False
                self._check_daemon(dead)
                continue
            raise self._error(r, "submit %r" % type)

    def task(self, task_id):
        """A :class:`Task` for an id submitted elsewhere (for example by
        ``taskring submit``). Its result is not consumed until waited for."""
        if not isinstance(task_id, int) or isinstance(task_id, bool):
            raise TypeError("task id: expected int, got %s" % type(task_id).__name__)
        if not 1 <= task_id < 1 << 64:
            raise ValueError("task id %s is out of range" % _num(task_id))
        self._handle()
        return Task(self, task_id)

    # -- waiting

    def _wait(self, task_id, deadline, detached=False):
        """Waits until the task is final, consumes its result and returns
        (info dict, raw output). For a detached task that finished and was
        freed returns (None, None). Raises TimeoutError at the deadline."""
        h = self._handle()
        lib = self._lib
        dead = [None]
        while True:
            ms = _slice_ms(deadline, self._SLICE)
            if _expired(deadline):
                ms = 0  # one last look
            info = _Info()
            r = lib.taskring_wait(h, task_id, ms, ctypes.byref(info))
            if r == 0:
                try:
                    return _info_dict(info)
                finally:
                    lib.taskring_info_release(ctypes.byref(info))
            if detached and r in (-_errno.ENOENT, -EEXPIRED):
                return None, None
            if r not in (-_errno.ETIMEDOUT, -_errno.EINTR):
                raise self._error(r, "task %d" % task_id)
            if _expired(deadline):
                raise TimeoutError("task %d: not finished before the timeout" % task_id)
            self._check_daemon(dead)

    def _get(self, task_id):
        """Copies a task without waiting or consuming its result; returns
        (info dict, raw output) or raises TaskringError."""
        info = _Info()
        r = self._lib.taskring_get(self._handle(), task_id, ctypes.byref(info))
        if r < 0:
            raise self._error(r, "task %d" % task_id)
        try:
            return _info_dict(info)
        finally:
            self._lib.taskring_info_release(ctypes.byref(info))

    def _lock_wait_on(self, since):
        """For a call with no deadline whose slice ended at a stuck queue lock:
        returns (since, go_on): when the lock first looked stuck (pass None
        the first time) and whether to try again, as the C library would go
        on waiting (for _LOCK_WAIT in all)."""
        now = time.monotonic()
        if since is None:
            since = now - self._SLICE
        return since, now - since < self._LOCK_WAIT

    def _cancel(self, task_id):
        return self._lib.taskring_cancel(self._handle(), task_id)

    def cancel_queued(self, type=None):
        """Cancels every task still queued, or only those of ``type``, at
        once, like ``taskring cancel --queued``: they end cancelled (their
        waiters see it) and their slots may be reused; queued tasks of other
        types keep their order; running tasks are left alone (cancel them
        with :meth:`Task.cancel`). Returns how many were cancelled. Raises
        :class:`TaskringError` with ``code == EBADTYPE`` for a type that no
        queued task has and the daemon does not know. Needs libtaskring
        0.4.0 or later (else raises NotImplementedError)."""
        tname = None if type is None else _type_name(type)
        fn = getattr(self._lib, "taskring_cancel_queued", None)
        if fn is None:
            raise NotImplementedError(
                "cancel_queued needs libtaskring 0.4.0 or later (%s is older)" % _lib_path
            )
        n = ctypes.c_uint64()
        r = fn(self._handle(), tname, ctypes.byref(n))
        if r < 0:
            what = "cancel the queued tasks" + ("" if type is None else " of type %r" % type)
            raise self._error(r, what)
        return n.value

    # -- map

    def map(
        self,
        type,
        iterable,
        timeout=None,
        chunksize=64,
        *,
        attempts=None,
        run_timeout=None,
        cls=None
    ):
        """Runs one task of ``type`` per element of ``iterable`` and returns
        the results (str) in the same order, like ``Pool.map``.

        An element that is a str, bytes or int is the task's one argument; a
        tuple or list is its argument words. Tasks are submitted in batches
        of ``chunksize`` (``taskring_submit_batch``), with a bounded number in
        flight, so any number of elements goes through a table of any size
        (results are collected as they are due, freeing their slots).

        ``timeout`` limits the wait for the results, in seconds:
        :class:`TimeoutError`, raised after up to a second more spent
        cancelling the tasks still outstanding and collecting those that
        end, so that their slots come free. The first task (in order) that
        failed or was cancelled raises :class:`TaskFailed` /
        :class:`TaskCancelled`. On any error the tasks
        still outstanding are cancelled. ``attempts``, ``run_timeout`` and
        ``cls`` apply to every task as in :meth:`submit`.
        """
        return list(
            self.imap(
                type,
                iterable,
                timeout=timeout,
                chunksize=chunksize,
                attempts=attempts,
                run_timeout=run_timeout,
                cls=cls,
            )
        )

    def imap(
        self,
        type,
        iterable,
        timeout=None,
        chunksize=64,
        *,
        attempts=None,
        run_timeout=None,
        cls=None
    ):
        """Like :meth:`map` but returns an iterator yielding each result as
        soon as it and all before it are known; the input is read lazily.
        ``timeout`` counts from this call. Closing the iterator early (or
        dropping it) cancels the tasks still outstanding; not in a
        ``fork()``ed child that inherited it, whose parent still collects
        them."""
        self._handle()
        tname = _type_name(type)
        if not isinstance(chunksize, int) or isinstance(chunksize, bool):
            raise TypeError("chunksize: expected int, got %s" % _typename(chunksize))
        if chunksize < 1:
            raise ValueError("chunksize must be at least 1 (got %s)" % _num(chunksize))
        opts = self._opts(attempts, run_timeout, False, cls)
        deadline = _deadline(timeout)
        gen = self._imap(tname, type, iter(iterable), deadline, chunksize, opts)
        self._iters.add(gen)
        return gen

    def _window(self, chunksize):
        """(tasks in flight at most, tasks per submit call)."""
        window = max(1, min(self.capacity, 16 * chunksize))
        return window, max(1, min(chunksize, window // 2))

    def _imap(self, tname, type, it, deadline, chunksize, opts):
        lib = self._lib
        window, chunk = self._window(chunksize)
        pending = deque()  # ids submitted, not yet collected, oldest first
        ready = deque()  # (index, words) read from the input, not yet submitted
        counter = itertools.count()
        exhausted = False
        owed = False  # the table was full: collect one of ours before retrying
        wait_slot = False  # full of others' tasks: block for one slot
        stuck_since = None  # when a slot wait first met a stuck lock (no deadline)
        dead = [None]
        inflight = None  # ids of the submit call whose ids are not in pending yet
        # Collecting: the oldest `batch` pending tasks in one wait_many call
        # when all are final, into these arrays (made once, reused). batch
        # doubles, up to chunk, when they were all final, and halves when
        # not. A look that fails is wasted work (with a libtaskring before
        # 0.3.2 it also spun for 20 us, taking CPU from the workers): after
        # one, the next look comes after `skip` single waits (1: the next
        # collection), a number that doubles with each failed look and
        # halves with each good one, so that while the workers are behind
        # few looks are made.
        wids = (ctypes.c_uint64 * chunk)()
        winfos = (_Info * chunk)()
        release_many = getattr(lib, "taskring_info_release_many", None)  # 0.3.1
        batch = chunk
        skip = 0
        backoff = 1
        # The tasks are this process's: a fork()ed child that inherits the
        # suspended iterator and drops it (exits, collects it) must not
        # cancel them under the parent, which is still collecting them.
        owner = os.getpid()
        try:
            while True:
                # Submit while there is room in the window for a whole chunk.
                while not owed and (ready or not exhausted):
                    room = window - len(pending)
                    if pending and room < chunk:
                        break
                    want = min(chunk, room)
                    while len(ready) < want and not exhausted:
                        try:
                            x = next(it)
                        except StopIteration:
                            exhausted = True
                            break
                        i = next(counter)
                        ready.append((i, _element_words(x, i)))
                    if not ready:
                        break
                    k = 1 if wait_slot else min(want, len(ready))
                    reqs = (_Req * k)()
                    keep = []
                    for j in range(k):
                        w = ready[j][1]
                        a = _argv(w)
                        keep.append(a)
                        rq = reqs[j]  # one proxy object, not three
                        rq.type = tname
                        rq.argc = len(w)
                        rq.argv = a
                    ids = (ctypes.c_uint64 * k)()  # zeros: an id is never 0
                    opts.timeout_ms = _slice_ms(deadline, self._SLICE) if wait_slot else 0
                    # An interrupt (KeyboardInterrupt) may come between the
                    # call and the end of the loop that moves its ids into
                    # pending: the finally clause abandons them from here.
                    inflight = ids
                    r = lib.taskring_submit_batch(
                        self._handle(), k, reqs, ctypes.byref(opts), ids
                    )
                    if r > 0:
                        wait_slot, stuck_since = False, None
                        for j in range(r):
                            ready.popleft()
                            pending.append(ids[j])
                        inflight = None
                        if r < k:  # full, or a bad request next: collect first
                            owed = bool(pending)
                        continue
                    inflight = None
                    if r == -ELOCKED and wait_slot and not _expired(deadline):
                        # A slice of the slot wait ended at a stuck lock: on
                        # to the deadline, or without one as long as the C
                        # library would wait (as submit() does).
                        stuck_since, go_on = self._lock_wait_on(stuck_since)
                        if deadline is not None or go_on:
                            continue
                    else:
                        stuck_since = None
                    if r in (-EFULL, -_errno.ETIMEDOUT) and pending:
                        owed = True
                        break
                    if r in (-EFULL, -_errno.ETIMEDOUT):
                        wait_slot = True
                        if _expired(deadline):
                            raise TimeoutError("map %r: the task table stayed full" % type)
                        self._check_daemon(dead)
                        continue
                    raise self._error(r, "map %r, element %d" % (type, ready[0][0]))
                if not pending:
                    if exhausted and not ready:
                        return
                    continue
                k = min(batch, len(pending))
                got = None
                if k > 1 and not skip:
                    got = self._collect(pending, k, wids, winfos, release_many)
                    if got:
                        batch, backoff = min(chunk, 2 * batch), max(1, backoff // 2)
                    else:
                        batch, skip = max(2, batch // 2), backoff
                        backoff = min(chunk, 2 * backoff)
                if got:
                    owed = False
                    results, err = got
                    yield from results
                    if err is not None:
                        raise err
                    continue
                # Not all final (or an error): wait for the oldest alone,
                # which blocks to the deadline and reports every error.
                d, _ = self._wait(pending[0], deadline)
                pending.popleft()
                owed = False
                skip = max(0, skip - 1)
                if d["state"] != "done":
                    raise _outcome_error(d, d["id"])
                yield d["result"]
        finally:
            left = list(pending)
            if inflight is not None:
                seen = set(left)
                left += [x for x in inflight if x and x not in seen]
            if left and self._h is not None and os.getpid() == owner:
                self._abandon(left)

    def _collect(self, pending, k, ids, infos, release_many):
        """Collects the k oldest pending tasks with one taskring_wait_many
        call that does not wait, when every one of them is final. Returns
        (results, error): the results (str) in order up to the first task
        that failed or was cancelled, and the TaskFailed/TaskCancelled to
        raise after them (else None), as _wait's caller would. The k are
        taken off pending (wait_many marked all of them read, also those
        after a failed one). Returns None, with nothing read, when they are
        not all final yet or on any error: the caller then waits for the
        oldest alone, which reports errors as it always did."""
        lib = self._lib
        for j in range(k):
            ids[j] = pending[j]
        h = self._handle()
        try:
            # Released in any case: an error may come after some infos were
            # filled (a task that expired between its wait and its copy),
            # and an interrupt right after the call must not leak them.
            if lib.taskring_wait_many(h, k, ids, 0, infos) != 0:
                return None
            # Read: no longer outstanding, so not for _abandon to cancel.
            # (An interrupt before this leaves them in pending; cancelling
            # a final task is refused and waiting for it returns at once.)
            for _ in range(k):
                pending.popleft()
            results = []
            for j in range(k):
                info = infos[j]
                if info.state != _DONE:
                    d, _ = _info_dict(info)
                    return results, _outcome_error(d, d["id"])
                # What _info_dict(info)[0]["result"] is, without the dict.
                n = info.output_len
                results.append(
                    ctypes.string_at(info.output, n).decode("utf-8", "surrogateescape")
                    if info.output
                    else ""
                )
            return results, None
        finally:
            if release_many is not None:
                release_many(k, infos)
            else:  # libtaskring 0.3.0
                for j in range(k):
                    lib.taskring_info_release(ctypes.byref(infos[j]))

    def _abandon(self, ids):
        """Cancels tasks map() no longer wants and collects those that reach
        a final state within _REAP seconds, so their slots come free. Stops
        at a queue lock that stays held (ELOCKED): every call would wait for
        it; the tasks left run and their results expire after result_ttl."""
        lib, h = self._lib, self._h
        # Newest first: a queued task is cancelled before a worker that just
        # dropped an older one can start it.
        for tid in reversed(ids):
            if lib.taskring_cancel(h, tid) == -ELOCKED:
                return
        end = time.monotonic() + self._REAP
        for tid in ids:
            ms = max(0, int((end - time.monotonic()) * 1000))
            if lib.taskring_wait(h, tid, ms, None) == -ELOCKED:
                return

    # -- status and administration

    def _status_raw(self):
        st = _Status()
        r = self._lib.taskring_status_get(self._handle(), ctypes.byref(st))
        if r < 0:
            raise self._error(r, "status of instance %r" % self.instance)
        try:
            alive = bool(st.alive)
            workers = []
            for i in range(max(st.nworkers, 0) if st.workers else 0):
                w = st.workers[i]
                workers.append(
                    {
                        "index": w.index if w.index >= 0 else None,
                        "pid": w.pid if w.pid > 0 else None,
                        "cpu": w.cpu if w.cpu >= 0 else None,
                        "state": _cstr(w.state),
                        "task": w.task or None,
                        "tasks_done": w.tasks_done,
                        "restarts": w.restarts,
                        "last_exit": _cstr(w.last_exit) or None,
                        "io_inflight": w.io_inflight,
                        "restart_in_ms": (
                            w.restart_in_ms if _cstr(w.state) == "backoff" else None
                        ),
                    }
                )
            spare_state = _cstr(st.spare_state)
            return {
                "instance": _cstr(st.instance),
                "pid": st.pid if alive and st.pid > 0 else None,
                "uptime_s": st.uptime_s if alive else None,
                "workers": workers,
                "queues": {
                    k: {
                        "queued": st.queued[c],
                        "running": st.running[c],
                        "executing": st.executing[c] if alive else None,
                        "waiting": st.running[c] - st.executing[c] if alive else None,
                    }
                    for k, c in (("cpu", CPU), ("io", IO))
                },
                "spare": {
                    "pid": st.spare_pid if st.spare_pid > 0 else None,
                    "state": spare_state,
                    "next_in_ms": st.spare_in_ms if spare_state == "backoff" else None,
                    "died_unused": st.spare_fails,
                },
                "capacity": st.capacity,
                "free": st.free,
                # Finished tasks whose results are kept unread (as the CLI
                # counts them): the slots neither free, queued nor running.
                "unread": max(
                    0,
                    st.capacity
                    - st.free
                    - st.queued[CPU]
                    - st.queued[IO]
                    - st.running[CPU]
                    - st.running[IO],
                ),
                "totals": {
                    "submitted": st.submitted,
                    "done": st.done,
                    "failed": st.failed,
                    "cancelled": st.cancelled,
                    "requeued": st.requeued,
                    "worker_restarts": st.worker_restarts,
                },
                "alive": alive,
                "epoch": st.epoch,
                "payload_max": st.payload_max,
                "result_max": st.result_max,
            }
        finally:
            self._lib.taskring_status_release(ctypes.byref(st))

    def status(self):
        """The daemon's status as a dict shaped like ``taskring status
        --json``: ``instance``, ``pid`` and ``uptime_s`` (None when the daemon
        is not running), ``workers`` (a list of dicts with ``index``, ``pid``,
        ``cpu``, ``state``, ``task``, ``tasks_done``, ``restarts``,
        ``last_exit``, ``restart_in_ms``; None where not set), ``queues``
        (``{"cpu": {"queued", "running", "executing", "waiting"}, "io":
        {...}}``), ``spare`` (``pid``, ``state``, ``next_in_ms``,
        ``died_unused``), ``capacity``, ``free``, ``unread``
        (finished results kept unread), ``totals``
        (``submitted``, ``done``, ``failed``, ``cancelled``, ``requeued``,
        ``worker_restarts``). Also, beyond the CLI's shape: ``alive`` (bool),
        ``epoch``, ``payload_max``, ``result_max``, and per worker
        ``io_inflight``."""
        return self._status_raw()

    def kill_worker(self, index, sig=_signal.SIGKILL):
        """Sends ``sig`` (default SIGKILL) to worker ``index`` and returns
        the pid it hit, like ``taskring kill-worker`` - to try isolation by
        hand. Raises TaskringError (``errno.ESRCH``) when that worker is not
        running."""
        index, sig = _int_arg(index, "index"), _int_arg(sig, "sig")
        # ctypes would wrap 2**32 around to worker 0.
        if not 0 <= index < 2**31:
            raise ValueError("no worker %s: an index is 0 to %d" % (_num(index), 2**31 - 1))
        if not 0 < sig < 2**31:
            raise ValueError("not a signal: %s" % _num(sig))
        pid = ctypes.c_int()
        r = self._lib.taskring_kill_worker(self._handle(), index, sig, ctypes.byref(pid))
        if r < 0:
            raise self._error(r, "kill worker %d" % index)
        return pid.value


# ---- tasks ---------------------------------------------------------------------------------


class Task:
    """A submitted task, like a :class:`concurrent.futures.Future`.

    Made by :meth:`Client.submit` (or :meth:`Client.task`). Waiting for its
    result consumes it in the table (its slot may then be reused); the Task
    keeps the final outcome, so :meth:`result`, :meth:`info` and
    :attr:`state` keep working afterwards.
    """

    def __init__(self, client, task_id, detached=False):
        self._client = client
        self._id = task_id
        self._detached = detached
        self._final = None  # (info dict, raw output) once known and consumed
        self._gone = False  # detached and freed: the outcome is unknown
        # Guards _final, _gone and _waiting; one thread at a time waits in
        # the library (it consumes the result), the others on this.
        self._cond = threading.Condition()
        self._waiting = False

    @property
    def id(self):
        """The task id (an int, unique for the life of the instance's segment)."""
        return self._id

    @property
    def detached(self):
        """True when submitted with ``detach=True`` (no result is kept)."""
        return self._detached

    def __repr__(self):
        return "<taskring.Task id=%d instance=%r>" % (self._id, self._client.instance)

    def __eq__(self, other):
        if not isinstance(other, Task):
            return NotImplemented
        return self._id == other._id and self._client.instance == other._client.instance

    def __hash__(self):
        return hash((self._client.instance, self._id))

    def _outcome(self, timeout):
        deadline = _deadline(timeout)  # checked even when the outcome is known
        with self._cond:
            while self._final is None and not self._gone:
                if not self._waiting:
                    self._waiting = True  # this thread waits in the library
                    break
                # Another thread waits in the library and consumes the
                # result: wait for it here, to this thread's own deadline.
                if _expired(deadline):
                    raise TimeoutError("task %d: not finished before the timeout" % self._id)
                self._cond.wait(_slice_ms(deadline, self._client._SLICE) / 1000.0)
            else:
                return self._final
        try:
            d, out = self._client._wait(self._id, deadline, self._detached)
        except BaseException:
            with self._cond:
                self._waiting = False  # another thread may take over
                self._cond.notify_all()
            raise
        with self._cond:
            self._waiting = False
            if d is None:
                self._gone = True
            else:
                self._final = (d, out)
            self._cond.notify_all()
            return self._final

    def result_bytes(self, timeout=None):
        """Waits up to ``timeout`` seconds (None: no limit) for the task and
        returns its result as bytes. Raises :class:`TaskFailed`,
        :class:`TaskCancelled`, :class:`TimeoutError` (the task goes on),
        :class:`DaemonUnavailable`, or :class:`TaskringError` (e.g.
        ``EEXPIRED`` when someone else consumed the result and the slot was
        reused). Returns None for a detached task once it has finished."""
        fin = self._outcome(timeout)
        if fin is None:
            return None
        d, out = fin
        if d["state"] != "done":
            raise _outcome_error(d, self._id)
        return out

    def result(self, timeout=None):
        """Like :meth:`result_bytes`, decoded as UTF-8 with
        ``errors="surrogateescape"`` (so no bytes are lost)."""
        out = self.result_bytes(timeout)
        return None if out is None else out.decode("utf-8", "surrogateescape")

    def exception(self, timeout=None):
        """Waits like :meth:`result` and returns the TaskFailed or
        TaskCancelled the task ended with, or None when it is done."""
        try:
            self.result_bytes(timeout)
        except _TaskOutcome as e:
            return e
        return None

    def _peek(self):
        """(info dict or None when a finished detached task is gone)."""
        if self._final is not None:
            return self._final[0]
        if self._gone:
            return None
        try:
            return self._client._get(self._id)[0]
        except TaskringError as e:
            if self._detached and e.code in (_errno.ENOENT, EEXPIRED):
                self._gone = True
                return None
            raise

    @property
    def state(self):
        """The state name: ``"queued"``, ``"running"``, ``"done"``,
        ``"failed"`` or ``"cancelled"``; None for a detached task that
        finished (its slot was freed, so its outcome is not known). Does not
        consume the result."""
        d = self._peek()
        return None if d is None else d["state"]

    def done(self):
        """True when the task reached a final state (done, failed or
        cancelled). Does not wait or consume the result."""
        d = self._peek()
        return d is None or d["state"] in FINAL_STATES

    def running(self):
        """True while a worker runs the task."""
        return self.state == "running"

    def cancelled(self):
        """True when the task ended cancelled."""
        return self.state == "cancelled"

    def cancel(self):
        """Cancels the task. A queued task becomes cancelled at once; a
        running one is marked and its worker stopped by the daemon (it
        becomes cancelled shortly after). Returns True when the request was
        taken, False when the task had already finished."""
        if self._final is not None or self._gone:
            return False
        r = self._client._cancel(self._id)
        if r == 0:
            return True
        if r in (-EFINAL, -EEXPIRED) or (self._detached and r == -_errno.ENOENT):
            return False
        raise self._client._error(r, "cancel task %d" % self._id)

    def info(self):
        """A dict like ``taskring show --json``: ``id``, ``type``, ``args``
        (list of str), ``state``, ``attempts``, ``max_attempts``, ``worker``,
        ``result`` (str when done), ``error`` (str when failed or cancelled),
        ``submitted_ns``, ``started_ns``, ``finished_ns`` (CLOCK_REALTIME ns),
        with None where not set; also ``class`` and ``run_timeout_s``. Does
        not consume the result. Raises TaskringError when the task is gone
        (e.g. a detached task that finished: ``EEXPIRED``)."""
        if self._final is not None:
            return dict(self._final[0], args=list(self._final[0]["args"]))
        return self._client._get(self._id)[0]
