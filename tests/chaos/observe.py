#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Polls `dtr tasks --json` during a chaos run and records what it sees.

  observe.py --out FILE --stop-file F [--interval 0.5] [--max-seconds N]
             [--max-polls N] -- CLIENT_COMMAND...

CLIENT_COMMAND is run once per poll (e.g. `ip netns exec NS dtr tasks --json
--master ADDR`). Each poll that succeeds yields, for every task whose view
changed since the previous successful poll, one line in FILE:

  {"t_ns": ..., "poll": N, "id": ..., "state": ..., "attempts": ...,
   "crashes": ..., "worker": ..., "exit_code": ..., "error": ...}

so the file holds every state change the observer saw, in order, and the
checker can tell whether a task's terminal state ever changed. Polls that fail
(master down) are counted. The loop is bounded by --max-seconds and
--max-polls and ends when the stop file appears.
"""
import argparse
import json
import os
import subprocess
import sys
import time

FIELDS = ("state", "attempts", "crashes", "worker", "exit_code", "error")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--max-seconds", type=float, default=3600)
    p.add_argument("--max-polls", type=int, default=100000)
    p.add_argument("--stderr", default=os.devnull, help="append the client's stderr here")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    seen = {}
    polls = ok = failed = 0
    t_end = time.monotonic() + a.max_seconds
    with open(a.out, "a") as out, open(a.stderr, "ab") as err:
        while polls < a.max_polls and time.monotonic() < t_end:
            if os.path.exists(a.stop_file):
                break
            polls += 1
            t0 = time.time_ns()
            try:
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, timeout=20)
                lines = r.stdout.decode("utf-8", "replace").splitlines() if r.returncode == 0 \
                    else None
            except subprocess.TimeoutExpired:
                lines = None
            if lines is None:
                failed += 1
            else:
                ok += 1
                for line in lines:
                    try:
                        t = json.loads(line)
                    except ValueError:
                        continue
                    view = tuple(t.get(k) for k in FIELDS)
                    if seen.get(t.get("id")) != view:
                        seen[t.get("id")] = view
                        rec = {"t_ns": t0, "poll": polls, "id": t.get("id")}
                        rec.update(zip(FIELDS, view))
                        out.write(json.dumps(rec, separators=(",", ":")) + "\n")
                out.flush()
            time.sleep(a.interval)
        out.write(json.dumps({"summary": True, "polls": polls, "ok": ok, "failed": failed}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
