# SPDX-License-Identifier: MIT
"""bench/run.sh python: the Python client's speed against a running master.
Usage: py_bench.py MASTER N. Prints one line: submit_rate=SPECS/S
map_rate=ITEMS/S (Executor.map of a trivial function, chunked)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import dtr  # noqa: E402


def main():
    addr, n = sys.argv[1], int(sys.argv[2])
    c = dtr.Client(addr)
    specs = [{"argv": ["true", str(i)]} for i in range(n)]
    t0 = time.monotonic()
    tasks = c.submit_many(specs)
    t1 = time.monotonic()
    c.cancel(job=tasks[0].job)  # measured the submission only; the map needs the workers
    with dtr.Executor(c, python="/usr/bin/python3") as ex:
        t2 = time.monotonic()
        out = list(ex.map(abs, range(-n, 0)))  # chunked: 4 tasks per worker slot
        t3 = time.monotonic()
    assert out[0] == n and len(out) == n
    print("submit_rate=%.1f map_rate=%.1f" % (n / (t1 - t0), n / (t3 - t2)))


if __name__ == "__main__":
    main()
