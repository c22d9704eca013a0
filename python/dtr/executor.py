# SPDX-License-Identifier: MIT
"""dtr.Executor: a concurrent.futures.Executor whose calls run on dtr
workers, as exec tasks running `python3 -m dtr.run` (see run.py for what
travels). Standard library only."""
import base64
import concurrent.futures as cf
import math
import os
import pickle
import sys
import threading
import time
import zlib

from .client import ENDED, Client, make_spec
from .errors import AuthError, ConnectionError, Error, RemoteError, TaskFailed

MAX_CALL = 1000000   # base64 bytes of one task's pickled calls (argv, under MSG_MAX_SPEC)
PIECE = 100000       # bytes per argv entry (Linux: at most 128 KiB per argument)


class _RemoteTraceback(RemoteError):
    def __str__(self):
        return '\n"""\n%s"""' % self.traceback


class _Future(cf.Future):
    def __init__(self, ex):
        super().__init__()
        self._ex = ex
        self._unit = None

    def cancel(self):
        if not super().cancel():
            return False
        self._ex._cancelled(self)
        return True


class _Unit:
    """One task: calls of one callable. Its one future gets the call's
    value, or (a map chunk) the list of the calls' outcomes."""
    __slots__ = ("argv", "futures", "task", "chunk")

    def __init__(self, argv, futures, chunk):
        self.argv = argv
        self.futures = futures
        self.task = None
        self.chunk = chunk


def _default_pythonpath():
    """Where this process imports from, but not Python's own directories:
    this package and the program's modules, so that a worker on this machine
    (or one sharing its file system) unpickles the callables."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                              sys.base_exec_prefix)}
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = []
    for p in [here] + sys.path:
        p = os.path.realpath(p or os.getcwd())
        if (os.path.isdir(p) and p not in out and
                not any(p == x or p.startswith(x + os.sep) for x in prefixes)):
            out.append(p)
    return os.pathsep.join(out)


class Executor(cf.Executor):
    """Runs Python callables on dtr workers.

    client: a dtr.Client (default: Client(), found as the CLI finds the
    master). python: the interpreter the workers run (default: this one,
    sys.executable). pythonpath: PYTHONPATH for the workers (default: this
    package and the directories this program imports from, outside Python's
    own). env, cwd, priority, retries, timeout, labels, cpus, mem, gpus,
    resources: given to every task (see Client.submit).

    Unpickling runs code: whoever can submit tasks runs code on the workers,
    and a master or a man in the middle could hand this process pickles.
    So an Executor refuses a master that is neither on loopback nor
    authenticated (a token, or TLS)."""

    def __init__(self, client=None, python=None, pythonpath=None, env=None, batch=2000,
                 **spec_kw):
        own = client is None
        client = client or Client()
        if not client.token and not client.tls and not _loopback(client):
            if own:
                client.close()
            raise Error("refusing to run pickled callables through the master at %s without "
                        "a token or TLS: unpickling runs code (see python/README.md, trust "
                        "model)" % client.addr)
        self.client = client
        self._own = own
        self.python = python or sys.executable or "python3"
        env = dict(env or {})
        env.setdefault("PYTHONPATH", pythonpath if pythonpath is not None
                       else _default_pythonpath())
        if not env["PYTHONPATH"]:
            del env["PYTHONPATH"]
        spec_kw["env"] = env
        # a call that raised comes back as its exception, and one that cannot
        # load fails the same way every time: no retries unless asked (an
        # attempt lost with its worker is rerun anyway: that is not a failure)
        spec_kw.setdefault("retries", 0)
        make_spec(argv=["x"], **spec_kw)  # bad arguments fail here
        self._spec_kw = spec_kw
        self._batch = batch
        self._cv = threading.Condition()
        self._queue = []       # units to submit
        self._cancels = []     # task ids to cancel
        self._running = {}     # task id -> unit
        self._shutdown = False
        self._error = None
        main = sys.modules.get("__main__")
        mf = getattr(main, "__file__", None)
        self._main = os.path.abspath(mf) if mf and mf.endswith(".py") else None
        self._thread = threading.Thread(target=self._loop, name="dtr-executor", daemon=True)
        self._thread.start()

    # ---- the caller's side ---------------------------------------------------------
    def _argv(self, fn, kwargs, arglist):
        data = base64.b64encode(zlib.compress(pickle.dumps((fn, kwargs, arglist), protocol=4), 1))
        if len(data) > MAX_CALL:
            return None
        argv = [self.python, "-m", "dtr.run"]
        if self._main and getattr(fn, "__module__", None) == "__main__":
            argv += ["--main", self._main]
        text = data.decode()
        argv += [text[i:i + PIECE] for i in range(0, len(text), PIECE)] or [""]
        return argv

    def _units(self, fn, kwargs, arglist, chunk=False):
        argv = self._argv(fn, kwargs, arglist)
        if argv is None:
            if len(arglist) == 1:
                raise ValueError("the pickled call is over %d bytes in base64; pass large data "
                                 "through files instead" % MAX_CALL)
            h = len(arglist) // 2
            return (self._units(fn, kwargs, arglist[:h], chunk) +
                    self._units(fn, kwargs, arglist[h:], chunk))
        f = _Future(self)
        u = _Unit(argv, [f], chunk)
        f._unit = u
        return [u]

    def _enqueue(self, units):
        with self._cv:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._error is not None:
                raise self._error
            self._queue.extend(units)
            self._cv.notify()

    def submit(self, fn, /, *args, **kwargs):
        units = self._units(fn, kwargs, [args])
        self._enqueue(units)
        return units[0].futures[0]

    def map(self, fn, *iterables, timeout=None, chunksize=None):
        """Like Executor.map: the results in order. chunksize calls travel in
        one task (default: about 4 tasks per worker slot the master lists,
        at most 10000 calls per task)."""
        items = list(zip(*iterables))
        if chunksize is None:
            slots = sum(w.get("slots", 0) for w in self.client.status()["workers"]) or 1
            chunksize = min(10000, max(1, math.ceil(len(items) / (4 * slots))))
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1")
        units = []
        for i in range(0, len(items), chunksize):
            units += self._units(fn, {}, items[i:i + chunksize], chunk=True)
        self._enqueue(units)
        futures = [u.futures[0] for u in units]
        deadline = None if timeout is None else time.monotonic() + timeout

        def results():
            try:
                futures.reverse()
                while futures:
                    f = futures[-1]
                    if deadline is None:
                        outs = f.result()
                    else:
                        outs = f.result(max(0.0, deadline - time.monotonic()))
                    futures.pop()
                    for o in outs:
                        yield _value(o)
            finally:
                for f in futures:
                    f.cancel()
        return results()

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._cv:
            self._shutdown = True
            if cancel_futures:
                units = list(self._queue) + list(self._running.values())
            else:
                units = []
            self._cv.notify()
        for u in units:
            for f in u.futures:
                f.cancel()
        if wait:
            self._thread.join()
            if self._own:
                self.client.close()

    def _cancelled(self, fut):
        u = fut._unit
        if all(f.cancelled() for f in u.futures):
            with self._cv:
                if u.task is not None:
                    self._cancels.append(u.task.id)
                self._cv.notify()

    # ---- the thread ------------------------------------------------------------------
    def _loop(self):
        pause = 0.01
        while True:
            with self._cv:
                while not (self._queue or self._cancels or self._running or self._shutdown):
                    self._cv.wait()
                if self._shutdown and not self._queue and not self._running:
                    return
                queue, self._queue = self._queue, []
                cancels, self._cancels = self._cancels, []
            try:
                if queue:
                    self._submit(queue)
                    pause = 0.01
                if cancels:
                    self.client.cancel(cancels)
                if self._running and self._collect():
                    pause = 0.01
            except Exception as e:  # the master is gone for good, or refused us
                self._fail_all(e)
                continue
            with self._cv:
                if not self._queue and not self._cancels:
                    self._cv.wait(pause)
            pause = min(pause * 1.5, 0.25)

    def _fail_all(self, e):
        with self._cv:
            units = list(self._queue) + list(self._running.values())
            self._queue, self._running = [], {}
            if isinstance(e, (ConnectionError, AuthError)):
                self._error = e  # the master is gone for good: no new futures
        for u in units:
            for f in u.futures:
                if f.set_running_or_notify_cancel():
                    f.set_exception(e)

    def _submit(self, units):
        units = [u for u in units if not all(f.cancelled() for f in u.futures)]
        if not units:
            return
        specs = [dict(self._spec_kw, argv=u.argv) for u in units]
        tasks = self.client.submit_many(specs, batch=self._batch)
        with self._cv:
            for u, t in zip(units, tasks):
                u.task = t
                self._running[t.id] = u
                if all(f.cancelled() for f in u.futures):
                    self._cancels.append(t.id)

    def _collect(self):
        with self._cv:
            units = list(self._running.values())
        tasks = [u.task for u in units]
        self.client._refresh(tasks)
        ended = [u for u in units if u.task._state in ENDED]
        need = [u.task for u in ended if u.task._rec is None]
        for i in range(0, len(need), 256):
            part = need[i:i + 256]
            reps = self.client._exchange([{"type": "get", "id": t.id} for t in part])
            for t, rep in zip(part, reps):
                if isinstance(rep, Exception):
                    raise rep
                t._rec = rep.get("task", rep)
        for u in ended:
            with self._cv:
                self._running.pop(u.task.id, None)
            self._finish(u)
        return bool(ended)

    def _finish(self, u):
        rec = u.task._rec
        outcomes, err = None, None
        if rec.get("state") == "succeeded":
            try:
                if rec.get("stdout_truncated"):
                    raise ValueError("the results are larger than the master keeps of a "
                                     "task's output (1 MiB of base64)")
                outcomes = pickle.loads(zlib.decompress(base64.b64decode(rec.get("stdout", ""))))
                if not u.chunk and len(outcomes) != 1:
                    raise ValueError("%d results for 1 call" % len(outcomes))
            except Exception as e:
                err = RemoteError("cannot read the results of task '%s': %s" % (u.task.id, e))
        else:
            from .client import _output
            err = TaskFailed(u.task.id, rec.get("state"), rec.get("exit_code"), rec.get("error"),
                             _output(rec, "stdout"), _output(rec, "stderr"))
        f = u.futures[0]
        if not f.set_running_or_notify_cancel():
            return
        if err is not None:
            f.set_exception(err)
        elif u.chunk:
            f.set_result(outcomes)
        else:
            try:
                f.set_result(_value(outcomes[0]))
            except BaseException as e:
                f.set_exception(e)


def _value(o):
    """An outcome's value, or its exception raised (with the remote
    traceback text as __cause__ and .remote_traceback)."""
    if o[0] == 0:
        return o[1]
    if o[0] == 1:
        exc = o[1]
        if not isinstance(exc.__cause__, _RemoteTraceback):
            exc.__cause__ = _RemoteTraceback(o[2], o[2])
            exc.remote_traceback = o[2]
        raise exc
    raise RemoteError(o[1], o[2])


def _loopback(client):
    from .client import is_loopback
    return is_loopback(client.host)
