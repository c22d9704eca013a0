#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Peers of dtr for bench/run.sh (issue 17): beanstalkd workers and clients,
and Gearman clients, with Debian's /usr/bin/python3 standard library only.

  peers.py port                          a free TCP port on 127.0.0.1
  peers.py ready bs|gm PORT N [FUNC]     waits (10 s at most) until the server
                                         on PORT has N workers: watching tube
                                         "jobs" (bs), or able to do FUNC
                                         (gm; default "run")
  peers.py bs-worker PORT [--reply]      beanstalkd worker: reserve from tube
                                         "jobs", run the body's command
                                         (os.posix_spawnp + waitpid), delete;
                                         (a body "noop": nothing); --reply:
                                         put "done" to tube "done"
  peers.py bs-run PORT N CMD...          put N jobs, wait until N are deleted;
                                         prints "tasks= seconds= rate="
  peers.py bs-lat PORT N CMD...          one connection: put one job, reserve
                                         its reply, N times in sequence;
                                         prints "n= p50_ms= p99_ms= min_ms="
  peers.py gm-run PORT N                 N background jobs for function
                                         "run", waits until none is queued or
                                         running; prints like bs-run
  peers.py gm-lat PORT N [FUNC]          one connection: a foreground job of
                                         FUNC (default "run"), awaited, N
                                         times; prints like bs-lat
  peers.py gm-noop-worker PORT           a worker of function "noop" that
                                         completes each job at once

Everything talks to 127.0.0.1. Every wait is bounded (socket timeouts of
60 s, and 600 s for a whole run); the exit status is 1 on any failure.
Completion is polled every 5 ms (beanstalkd's stats-tube, Gearman's admin
"status"), so the end of a run is known to 5 ms.
"""
import os
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
POLL_S = 0.005
RUN_LIMIT_S = 600.0


class Conn:
    """A socket with a read buffer: lines and exact byte counts."""

    def __init__(self, port):
        self.s = socket.create_connection((HOST, port), timeout=60)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def line(self, sep=b"\r\n"):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                ln, self.buf = self.buf[:i], self.buf[i + len(sep):]
                return ln
            if len(self.buf) > 1 << 20:
                raise ValueError("line too long")
            self._fill()

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


def lat_line(times):
    ms = [t * 1000 for t in times]
    return "n=%d p50_ms=%.3f p99_ms=%.3f min_ms=%.3f" % (
        len(ms), pct(ms, 0.5), pct(ms, 0.99), min(ms))


# ---- beanstalkd ------------------------------------------------------------------------

def bs_cmd(c, line, want):
    c.send(line + b"\r\n")
    r = c.line()
    if not r.startswith(want):
        raise RuntimeError("beanstalkd: %r -> %r" % (line, r))
    return r


def bs_put(c, body):
    return b"put 0 0 120 %d\r\n%s\r\n" % (len(body), body)


def bs_worker(port, reply):
    c = Conn(port)
    c.s.settimeout(None)  # waits for work as long as it runs
    bs_cmd(c, b"watch jobs", b"WATCHING")
    bs_cmd(c, b"ignore default", b"WATCHING")
    if reply:
        bs_cmd(c, b"use done", b"USING")
    while True:
        c.send(b"reserve\r\n")
        r = c.line().split()
        if r[0] != b"RESERVED":
            raise RuntimeError("beanstalkd: reserve -> %r" % r)
        body = c.exact(int(r[2]) + 2)[:-2]
        if body != b"noop":
            argv = body.decode().split()
            pid = os.posix_spawnp(argv[0], argv, os.environ)
            os.waitpid(pid, 0)
        if reply:
            c.send(bs_put(c, b"done"))
            r2 = c.line()
            if not r2.startswith(b"INSERTED"):
                raise RuntimeError("beanstalkd: put -> %r" % r2)
        bs_cmd(c, b"delete " + r[1], b"DELETED")


def bs_deleted(c, tube):
    c.send(b"stats-tube " + tube + b"\r\n")
    r = c.line().split()
    if r[0] != b"OK":
        raise RuntimeError("beanstalkd: stats-tube -> %r" % r)
    for ln in c.exact(int(r[1]) + 2).decode().splitlines():
        if ln.startswith("cmd-delete:"):
            return int(ln.split(":")[1])
    return 0


def bs_run(port, n, cmd):
    c = Conn(port)
    bs_cmd(c, b"use jobs", b"USING")
    body = " ".join(cmd).encode()
    d0 = bs_deleted(c, b"jobs")  # the tube's count is for the server's life
    t0 = time.monotonic()
    sent = 0
    while sent < n:  # pipelined, 500 puts at a time
        k = min(500, n - sent)
        c.send(bs_put(c, body) * k)
        for _ in range(k):
            r = c.line()
            if not r.startswith(b"INSERTED"):
                raise RuntimeError("beanstalkd: put -> %r" % r)
        sent += k
    while bs_deleted(c, b"jobs") < d0 + n:
        if time.monotonic() - t0 > RUN_LIMIT_S:
            raise RuntimeError("beanstalkd: run took over %d s" % RUN_LIMIT_S)
        time.sleep(POLL_S)
    dt = time.monotonic() - t0
    print("tasks=%d seconds=%.4f rate=%.1f" % (n, dt, n / dt))


def bs_lat(port, n, cmd):
    c = Conn(port)
    bs_cmd(c, b"use jobs", b"USING")
    bs_cmd(c, b"watch done", b"WATCHING")
    bs_cmd(c, b"ignore default", b"WATCHING")
    body = " ".join(cmd).encode()
    times = []
    for i in range(n + 5):  # 5 warm-up rounds
        t0 = time.monotonic()
        c.send(bs_put(c, body))
        r = c.line()
        if not r.startswith(b"INSERTED"):
            raise RuntimeError("beanstalkd: put -> %r" % r)
        c.send(b"reserve\r\n")
        r = c.line().split()
        if r[0] != b"RESERVED":
            raise RuntimeError("beanstalkd: reserve -> %r" % r)
        c.exact(int(r[2]) + 2)
        dt = time.monotonic() - t0
        bs_cmd(c, b"delete " + r[1], b"DELETED")
        if i >= 5:
            times.append(dt)
    print(lat_line(times))


# ---- Gearman ---------------------------------------------------------------------------
CAN_DO, PRE_SLEEP, NOOP, SUBMIT_JOB, JOB_CREATED, GRAB_JOB = 1, 4, 6, 7, 8, 9
NO_JOB, JOB_ASSIGN, WORK_COMPLETE, WORK_FAIL = 10, 11, 13, 14
ERROR, SUBMIT_JOB_BG, WORK_EXCEPTION = 19, 18, 25


def gm_req(ptype, data):
    return b"\0REQ" + struct.pack(">II", ptype, len(data)) + data


def gm_res(c):
    h = c.exact(12)
    if h[:4] != b"\0RES":
        raise RuntimeError("gearman: bad response header %r" % h)
    ptype, size = struct.unpack(">II", h[4:])
    if size > 1 << 24:
        raise RuntimeError("gearman: response too big")
    data = c.exact(size)
    if ptype == ERROR:
        raise RuntimeError("gearman: error %r" % data)
    return ptype, data


def gm_queued(a):
    """Jobs of function "run" queued or running (admin protocol)."""
    a.send(b"status\n")
    total = 0
    while True:
        ln = a.line(b"\n")
        if ln == b".":
            return total
        f = ln.split(b"\t")
        if f[0] == b"run":
            total = int(f[1])


def gm_run(port, n):
    c, a = Conn(port), Conn(port)
    t0 = time.monotonic()
    sent = 0
    while sent < n:  # pipelined, 500 submits at a time
        k = min(500, n - sent)
        c.send(b"".join(gm_req(SUBMIT_JOB_BG, b"run\0bench-%d\0" % (sent + i)) for i in range(k)))
        for _ in range(k):
            t, _d = gm_res(c)
            if t != JOB_CREATED:
                raise RuntimeError("gearman: submit -> packet %d" % t)
        sent += k
    while gm_queued(a) > 0:
        if time.monotonic() - t0 > RUN_LIMIT_S:
            raise RuntimeError("gearman: run took over %d s" % RUN_LIMIT_S)
        time.sleep(POLL_S)
    dt = time.monotonic() - t0
    print("tasks=%d seconds=%.4f rate=%.1f" % (n, dt, n / dt))


def gm_noop_worker(port):
    """A worker of function "noop" that completes each job at once."""
    c = Conn(port)
    c.s.settimeout(None)
    c.send(gm_req(CAN_DO, b"noop"))
    while True:
        c.send(gm_req(GRAB_JOB, b""))
        t, d = gm_res(c)
        if t == NO_JOB:
            c.send(gm_req(PRE_SLEEP, b""))
            while gm_res(c)[0] != NOOP:
                pass
        elif t == JOB_ASSIGN:
            c.send(gm_req(WORK_COMPLETE, d.split(b"\0")[0] + b"\0"))


def gm_lat(port, n, func):
    c = Conn(port)
    times = []
    for i in range(n + 5):  # 5 warm-up rounds
        t0 = time.monotonic()
        c.send(gm_req(SUBMIT_JOB, b"%s\0lat-%d-%d\0" % (func, os.getpid(), i)))
        while True:
            t, _d = gm_res(c)
            if t == WORK_COMPLETE:
                break
            if t in (WORK_FAIL, WORK_EXCEPTION):
                raise RuntimeError("gearman: the job failed")
        dt = time.monotonic() - t0
        if i >= 5:
            times.append(dt)
    print(lat_line(times))


def ready(kind, port, n, func):
    t0 = time.monotonic()
    while True:
        try:
            c = Conn(port)
            if kind == "bs":
                c.send(b"stats-tube jobs\r\n")
                r = c.line().split()
                have = 0
                if r[0] == b"OK":
                    for ln in c.exact(int(r[1]) + 2).decode().splitlines():
                        if ln.startswith("current-watching:"):
                            have = int(ln.split(":")[1])
            else:
                c.send(b"status\n")
                have = 0
                while True:
                    ln = c.line(b"\n")
                    if ln == b".":
                        break
                    f = ln.split(b"\t")
                    if f[0] == func and len(f) > 3:
                        have = int(f[3])
            c.s.close()
            if have >= n:
                return
        except (OSError, EOFError):
            pass
        if time.monotonic() - t0 > 10:
            raise RuntimeError("%s on port %d: not %d workers within 10 s" % (kind, port, n))
        time.sleep(0.02)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    op = argv[1]
    try:
        if op == "port":
            s = socket.socket()
            s.bind((HOST, 0))
            print(s.getsockname()[1])
            s.close()
        elif op == "ready":
            ready(argv[2], int(argv[3]), int(argv[4]), (argv[5] if len(argv) > 5 else "run").encode())
        elif op == "bs-worker":
            bs_worker(int(argv[2]), "--reply" in argv[3:])
        elif op == "bs-run":
            bs_run(int(argv[2]), int(argv[3]), argv[4:] or ["/bin/true"])
        elif op == "bs-lat":
            bs_lat(int(argv[2]), int(argv[3]), argv[4:] or ["/bin/true"])
        elif op == "gm-run":
            gm_run(int(argv[2]), int(argv[3]))
        elif op == "gm-lat":
            gm_lat(int(argv[2]), int(argv[3]), (argv[4] if len(argv) > 4 else "run").encode())
        elif op == "gm-noop-worker":
            gm_noop_worker(int(argv[2]))
        else:
            print("peers.py: unknown command %r" % op, file=sys.stderr)
            return 2
    except (OSError, EOFError, RuntimeError, ValueError, IndexError) as e:
        print("peers.py %s: %s" % (op, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
