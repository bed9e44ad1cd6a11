#!/usr/bin/env python3
"""python_sqrt.py - the CPU-bound square-root loop, with multiprocessing.Pool
and with taskring, side by side.

The classic example of processes beating threads in Python: sum the square
roots of 0..N-1, several times over. With ``multiprocessing.Pool`` each task
is a Python function run in a child process; with taskring each task is the
built-in ``sqrt-sum`` type (the same loop in C) run by the daemon's worker
processes, each pinned to its own CPU, and submitted from here through the
Python client. Both give the same numbers (the same additions in the same
order, in double precision); the script checks that and prints the timings.

Note what is compared: the Pool runs the loop in Python, taskring in C, so
most of the difference is the interpreter. What taskring adds beyond speed
is a long-lived, shared pool: the workers outlive this script, a worker that
is killed is replaced and its task run again, and other programs (the
``taskring`` CLI, C programs) can submit to the same workers.

Needs a running daemon::

    make && setsid build/taskringd -i demo &
    python3 examples/python_sqrt.py -i demo

Options: ``-i NAME`` instance (default ``$TASKRING_INSTANCE``, else
``default``), ``--n N`` loop length per task (default 4,000,000),
``--tasks K`` number of tasks (default 8), ``--procs P`` Pool size (default:
the CPUs this process may use). Runs in a few seconds with the defaults.
"""

import argparse
import math
import multiprocessing
import os
import sys
import time

# Run from a source checkout without installing: the module is in bindings/python.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bindings", "python"))

import taskring  # noqa: E402


def sqrt_sum(n):
    """Sum of sqrt(i) for 0 <= i < n, added in order, printed like the
    sqrt-sum task (%.6f)."""
    s = 0.0
    for i in range(n):
        s += math.sqrt(i)
    return "%.6f" % s


def main():
    ap = argparse.ArgumentParser(description="square-root loop: multiprocessing.Pool vs taskring")
    ap.add_argument("-i", "--instance", default=None, help="taskring instance")
    ap.add_argument("--n", type=int, default=4000000, help="loop length per task")
    ap.add_argument("--tasks", type=int, default=8, help="number of tasks")
    ap.add_argument("--procs", type=int, default=len(os.sched_getaffinity(0)), help="Pool size")
    a = ap.parse_args()
    if a.n < 0 or a.tasks < 1 or a.procs < 1:
        ap.error("--n must be >= 0, --tasks and --procs >= 1")
    inputs = [a.n] * a.tasks

    try:
        client = taskring.Client(a.instance)
    except taskring.DaemonUnavailable as e:
        print("python_sqrt.py: %s\nstart one first, e.g.: setsid build/taskringd -i demo &\n"
              "then: python3 %s -i demo" % (e, sys.argv[0]), file=sys.stderr)
        return 1

    with client:
        nworkers = len(client.status()["workers"])
        t0 = time.perf_counter()
        with multiprocessing.Pool(a.procs) as pool:
            by_pool = pool.map(sqrt_sum, inputs)
        t_pool = time.perf_counter() - t0

        t0 = time.perf_counter()
        by_taskring = client.map("sqrt-sum", inputs)
        t_tr = time.perf_counter() - t0

    print("%d tasks of sum(sqrt(i) for i < %d):" % (a.tasks, a.n))
    print("  multiprocessing.Pool(%d).map   %8.3f s  (the loop in Python)" % (a.procs, t_pool))
    print("  taskring map (%d workers)      %8.3f s  (the loop in C)" % (nworkers, t_tr))
    if t_tr > 0:
        print("  ratio                          %8.1fx" % (t_pool / t_tr))
    if by_pool != by_taskring:
        print(
            "results differ: Pool %s, taskring %s" % (by_pool[:2], by_taskring[:2]),
            file=sys.stderr,
        )
        return 1
    print("  both give %s per task" % by_pool[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
