#!/usr/bin/env python3
"""notify-listen.py SOCKET OUT - a fake systemd notify socket for tests.

Binds a Unix datagram socket at SOCKET (a path, or an abstract name written
with a leading '@') and appends every line of every datagram it receives to
OUT as "SECONDS<TAB>LINE" (CLOCK_MONOTONIC seconds), flushing each one. Runs
until killed. Writes "listening" to OUT's first line once bound, so a test can
wait for it before starting the daemon.
"""
import socket
import sys
import time


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: notify-listen.py SOCKET OUT\n")
        return 2
    name, out = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name[1:] if name.startswith("@") else name)
    with open(out, "a", buffering=1) as f:
        f.write("%.6f\tlistening\n" % time.monotonic())
        while True:
            data = s.recv(65536)
            now = time.monotonic()
            for line in data.decode("utf-8", "replace").split("\n"):
                f.write("%.6f\t%s\n" % (now, line))
            f.flush()


if __name__ == "__main__":
    sys.exit(main())
