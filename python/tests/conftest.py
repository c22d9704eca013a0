# SPDX-License-Identifier: MIT
"""Fixtures: a real build/dtr master and workers on loopback in a temp dir,
every process stopped by its PID (kill -9, then reaped) when the test ends."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))
DTR = os.environ.get("DTR") or os.path.join(ROOT, "build", "dtr")
PYTHON = "/usr/bin/python3"  # Debian's: what the issue promises to run on


# Three times as long under ASan+UBSan (the build sets DTR_TEST_SANITIZE), as
# tests/integration/lib.sh does: a wait that succeeds returns at once.
WAIT_SCALE = float(os.environ.get("DTR_WAIT_SCALE") or (3 if os.environ.get("DTR_TEST_SANITIZE") else 1))


def wait_for(what, cond, limit=30.0):
    limit *= WAIT_SCALE
    end = time.monotonic() + limit
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %.0fs waiting for %s" % (limit, what))
        time.sleep(0.05)


class Cluster:
    def __init__(self, tmp):
        self.tmp = str(tmp)
        self.procs = {}
        # a private port block per test run, as tests/integration/lib.sh does
        base = 20000 + (os.getpid() % 200) * 200
        self.mport = base
        self.wrange = "%d-%d" % (base + 100, base + 199)
        self.addr = None
        self.master_flags = []

    def _start(self, name, argv):
        out = open(os.path.join(self.tmp, name + ".out"), "w")
        err = open(os.path.join(self.tmp, name + ".err"), "w")
        p = subprocess.Popen([DTR] + argv, stdout=out, stderr=err, cwd=self.tmp,
                             env=dict(os.environ, DTR_MASTER="", DTR_TOKEN=""))
        out.close()
        err.close()
        self.procs[name] = p

        def listening():
            if p.poll() is not None:
                raise AssertionError("%s exited: %s" % (name, open(os.path.join(
                    self.tmp, name + ".err")).read()[-2000:]))
            m = re.search(r" listening on (\S+)", open(os.path.join(self.tmp,
                                                                   name + ".out")).read())
            return m and m.group(1)
        return wait_for(name + " to listen", listening)

    def master(self, *flags, name="m", port=None):
        self.master_flags = list(flags)
        self.addr = self._start(name, ["master", "--port", str(port or self.mport), "--http",
                                       "127.0.0.1:0", "--state-dir",
                                       os.path.join(self.tmp, "state-" + name), "--log-dir",
                                       os.path.join(self.tmp, "logs"), "--heartbeat", "200ms",
                                       "--worker-timeout", "3s", "--verbose"] + list(flags))
        return self.addr

    def restart_master(self, name="m"):
        """kill -9 the master, and start it again on its port and state dir."""
        self.kill(name)
        port = int(self.addr.rsplit(":", 1)[1])
        os.rename(os.path.join(self.tmp, name + ".out"), os.path.join(self.tmp, name + ".out.1"))
        end = time.monotonic() + 20
        while True:
            try:
                got = self.master(*self.master_flags, name=name, port=port)
            except AssertionError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)
                continue
            if got.endswith(":%d" % port):
                return got
            self.kill(name)  # it took the next port: ours is not free yet
            if time.monotonic() > end:
                raise AssertionError("the master came back on %s, not port %d" % (got, port))
            time.sleep(0.2)

    def worker(self, name, *flags, slots=4):
        return self._start(name, ["worker", "--id", name, "--master", self.addr, "--port-range",
                                  self.wrange, "--slots", str(slots), "--log-dir",
                                  os.path.join(self.tmp, "logs"), "--verbose"] + list(flags))

    def kill(self, name):
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop_all(self):
        for name in list(self.procs):
            self.kill(name)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop_all()
    # as lib.sh does: a sanitizer report from any process fails the test
    for name in sorted(os.listdir(c.tmp)):
        if name.endswith(".err"):
            text = open(os.path.join(c.tmp, name), errors="replace").read()
            if re.search(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:", text):
                raise AssertionError("sanitizer report in %s:\n%s" % (name, text[-4000:]))


@pytest.fixture
def running(cluster):
    """A master and one worker of 4 slots; the cluster."""
    cluster.master()
    cluster.worker("w1")
    return cluster


@pytest.fixture
def client(running):
    import dtr
    c = dtr.Client(running.addr, reconnect_timeout=20)
    wait_for("the worker to register", lambda: c.status()["workers"])
    try:
        yield c
    finally:
        c.close()
