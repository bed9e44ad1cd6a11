#!/usr/bin/env python3
"""pymap.py - the Python binding's map() against multiprocessing.Pool.map.

Usage: pymap.py [--smoke] [--n N] [--rounds R] INSTANCE

Times, on the running daemon INSTANCE (its workers do the tasks):

  Client.map("noop", [()] * N, chunksize=64)   (noop takes no argument)
  Client.map("echo", range(N), chunksize=64)

and, in the same rounds, multiprocessing.Pool(2).map of a module-level no-op
over N items with chunksize 64 and 1024 (the pool is started and warmed up
before the clock starts, as in pybase.py). Each round runs the four once, in
turn, so that a slow moment of the machine hits all of them. Prints the
median tasks/s of each with the lowest and highest round, and the ratios of
the medians. Defaults: N 20000, 5 rounds (--smoke: N 500, 1 round).

The binding is imported as ``taskring`` (set PYTHONPATH to
bindings/python, TASKRING_LIB to the library). Only the standard library is
used. Exits 1 when a result is wrong, 2 on bad usage.
"""

import errno
import multiprocessing
import sys
import time

import taskring

CHUNK = 64


def noop(_x=None):
    """The Pool's task: does nothing."""
    return None


def attach(instance):
    """A Client, waiting up to 10 s while the daemon is still starting."""
    end = time.monotonic() + 10
    while True:
        try:
            return taskring.Client(instance)
        except taskring.DaemonUnavailable as e:
            if e.code != errno.EAGAIN or time.monotonic() >= end:
                raise
            time.sleep(0.1)


def timed(fn, n):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    if len(out) != n:
        raise RuntimeError("%d results for %d items" % (len(out), n))
    return out, n / dt


def median(xs):
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def main(argv):
    n, rounds, inst = 20000, 5, None
    args = argv[1:]
    smoke = "--smoke" in args
    if smoke:
        args.remove("--smoke")
        n, rounds = 500, 1
    try:
        while args:
            a = args.pop(0)
            if a in ("--n", "--rounds") and args:
                v = int(args.pop(0))
                if v < 1:
                    raise ValueError(a)
                if a == "--n":
                    n = v
                else:
                    rounds = v
            elif inst is None and not a.startswith("-"):
                inst = a
            else:
                raise ValueError(a)
        if inst is None:
            raise ValueError("no instance")
    except ValueError:
        sys.stderr.write("usage: pymap.py [--smoke] [--n N] [--rounds R] INSTANCE\n")
        return 2

    noops = [()] * n
    echo_want = [str(i) for i in range(n)]
    rows = {"noop": [], "echo": [], "pool64": [], "pool1024": []}
    with attach(inst) as c, multiprocessing.Pool(2) as pool:
        c.map("noop", [()] * 256, chunksize=CHUNK)  # warm: workers, table pages
        pool.map(noop, range(64), chunksize=1)
        for _ in range(rounds):
            out, r = timed(lambda: c.map("noop", noops, chunksize=CHUNK), n)
            if out != [""] * n:
                sys.stderr.write("pymap.py: a noop result is not empty\n")
                return 1
            rows["noop"].append(r)
            out, r = timed(lambda: c.map("echo", range(n), chunksize=CHUNK), n)
            if out != echo_want:
                sys.stderr.write("pymap.py: echo results wrong or out of order\n")
                return 1
            rows["echo"].append(r)
            rows["pool64"].append(timed(lambda: pool.map(noop, range(n), chunksize=64), n)[1])
            rows["pool1024"].append(timed(lambda: pool.map(noop, range(n), chunksize=1024), n)[1])

    med = {k: median(v) for k, v in rows.items()}
    print("python map: %d tasks per call, %d round%s, median [lowest - highest round]%s"
          % (n, rounds, "" if rounds == 1 else "s", " (smoke: numbers mean nothing)" if smoke else ""))
    print("  binding %s, %s" % (taskring.__file__, taskring.library_path()))
    for key, label in (
        ("noop", 'Client.map("noop", chunksize=64)'),
        ("echo", 'Client.map("echo", chunksize=64)'),
        ("pool64", "Pool(2).map no-op, chunksize 64"),
        ("pool1024", "Pool(2).map no-op, chunksize 1024"),
    ):
        print("  %-36s %9.0f tasks/s  [%.0f - %.0f]"
              % (label, med[key], min(rows[key]), max(rows[key])))
    print("  ratios of the medians: noop/Pool64 %.2f, noop/Pool1024 %.2f, "
          "echo/Pool64 %.2f, echo/Pool1024 %.2f"
          % (med["noop"] / med["pool64"], med["noop"] / med["pool1024"],
             med["echo"] / med["pool64"], med["echo"] / med["pool1024"]))
    print("RESULT %.6g %.6g %.6g %.6g" % (med["noop"], med["echo"], med["pool64"], med["pool1024"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
