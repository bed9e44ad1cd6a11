#!/usr/bin/env python3
"""pybase.py - the Python baselines taskring's benchmarks compare against.

Usage: pybase.py MODE N

Modes (2 worker processes each, a module-level no-op as the task):
  ppe       ProcessPoolExecutor(2): N submit() calls, then every result;
            prints "RESULT tasks_per_s"
  ppe-rtt   ProcessPoolExecutor(2): N times submit().result(), one at a time;
            prints "RESULT p50_us p99_us"
  map1      multiprocessing.Pool(2).map over N items, chunksize 1;
            prints "RESULT tasks_per_s"
  map1024   the same with chunksize 1024

The pool is started and warmed up (both workers have run a task) before the
clock starts, so interpreter and pool start-up are not measured. Only the
standard library is used.
"""

import concurrent.futures
import multiprocessing
import sys
import time


def noop(_x=None):
    """The task: does nothing."""
    return None


def run_ppe(n):
    with concurrent.futures.ProcessPoolExecutor(2) as ex:
        for f in [ex.submit(noop) for _ in range(64)]:
            f.result()
        t0 = time.perf_counter()
        futs = [ex.submit(noop) for _ in range(n)]
        for f in futs:
            f.result()
        dt = time.perf_counter() - t0
    return [n / dt]


def run_ppe_rtt(n):
    with concurrent.futures.ProcessPoolExecutor(2) as ex:
        for f in [ex.submit(noop) for _ in range(64)]:
            f.result()
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            ex.submit(noop).result()
            lat.append(time.perf_counter() - t0)
    lat.sort()
    p50 = lat[(len(lat) + 1) // 2 - 1]
    p99 = lat[max(0, -(-len(lat) * 99 // 100) - 1)]
    return [p50 * 1e6, p99 * 1e6]


def run_map(n, chunksize):
    with multiprocessing.Pool(2) as pool:
        pool.map(noop, range(64), chunksize=1)
        t0 = time.perf_counter()
        out = pool.map(noop, range(n), chunksize=chunksize)
        dt = time.perf_counter() - t0
    if len(out) != n:
        raise RuntimeError("map returned %d results for %d items" % (len(out), n))
    return [n / dt]


def main(argv):
    modes = {
        "ppe": run_ppe,
        "ppe-rtt": run_ppe_rtt,
        "map1": lambda n: run_map(n, 1),
        "map1024": lambda n: run_map(n, 1024),
    }
    if len(argv) != 3 or argv[1] not in modes or not argv[2].isdigit() or int(argv[2]) < 1:
        sys.stderr.write("usage: pybase.py ppe|ppe-rtt|map1|map1024 N (N >= 1)\n")
        return 2
    vals = modes[argv[1]](int(argv[2]))
    print("RESULT " + " ".join("%.6g" % v for v in vals))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
