# SPDX-License-Identifier: MIT
"""dtr.Executor: Python callables on real dtr workers."""
import concurrent.futures as cf
import os
import threading
import time

import pytest
from conftest import PYTHON, wait_for

import dtr

HERE_ = os.path.dirname(os.path.abspath(__file__))


class Boom(Exception):
    pass


def square(x):
    return x * x


def slow_square(x):
    time.sleep(0.002)
    return x * x


def explode(msg):
    raise Boom(msg)


def nap(s):
    time.sleep(s)
    return s


def shout(*words, sep=" "):
    print("this goes to the task's stderr")
    return sep.join(words).upper()


@pytest.fixture
def ex(client):
    e = dtr.Executor(client, python=PYTHON)
    try:
        yield e
    finally:
        e.shutdown(cancel_futures=True)


def test_submit_and_map(ex):
    assert ex.submit(square, 7).result(60) == 49
    assert ex.submit(shout, "a", "b", sep="-").result(60) == "A-B"
    assert list(ex.map(square, range(100), chunksize=7)) == [i * i for i in range(100)]
    assert list(ex.map(pow, [2, 3], [5, 2])) == [32, 9]
    assert list(ex.map(square, [])) == []


def test_remote_exception_with_traceback(ex):
    f = ex.submit(explode, "kaboom")
    e = f.exception(60)
    assert isinstance(e, Boom) and str(e) == "kaboom"
    assert "in explode" in e.remote_traceback and "raise Boom(msg)" in e.remote_traceback
    assert "raise Boom" in str(e.__cause__)
    with pytest.raises(Boom):
        f.result()
    it = ex.map(explode, ["x"])
    with pytest.raises(Boom):
        next(it)


def test_done_callback_timeout_and_cancel(ex, client):
    got = []
    ev = threading.Event()
    f = ex.submit(square, 3)
    f.add_done_callback(lambda fut: (got.append(fut.result()), ev.set()))
    assert ev.wait(60) and got == [9]
    long = ex.submit(nap, 60)
    with pytest.raises(cf.TimeoutError):
        long.result(timeout=0.2)
    wait_for("the call to run", lambda: client.status()["tasks"]["running"] == 1)
    assert long.cancel() and long.cancelled()
    wait_for("the task to be cancelled", lambda: client.status()["tasks"]["cancelled"] == 1)
    with pytest.raises(cf.CancelledError):
        long.result()
    done, _ = cf.wait([ex.submit(square, 2), ex.submit(square, 5)], timeout=60)
    assert sorted(f.result() for f in done) == [4, 25]


def test_refuses_an_unauthenticated_remote_master():
    class Far:
        token = None
        tls = None
        host = "192.0.2.1"
        addr = "192.0.2.1:4999"
    with pytest.raises(dtr.Error, match="without a token or TLS"):
        dtr.Executor(Far())


def test_map_10000_survives_a_killed_worker(running, client):
    running.worker("w2")
    wait_for("two workers", lambda: len(client.status()["workers"]) == 2)
    ex = dtr.Executor(client, python=PYTHON)
    try:
        results = []
        it = ex.map(slow_square, range(10000), chunksize=100)
        for r in it:
            results.append(r)
            if len(results) == 1500:
                running.kill("w2")  # its running tasks are lost and rerun
        assert results == [i * i for i in range(10000)]
        assert client.status()["tasks"]["succeeded"] == 100
    finally:
        ex.shutdown()


def test_functions_of_the_main_script(running, client, tmp_path):
    import subprocess
    script = tmp_path / "prog.py"
    script.write_text(
        "import dtr\n"
        "def cube(x):\n"
        "    return x ** 3\n"
        "if __name__ == '__main__':\n"
        "    with dtr.Executor(dtr.Client(%r), python=%r) as ex:\n"
        "        print(list(ex.map(cube, range(5))), ex.submit(cube, 4).result(60))\n"
        % (running.addr, PYTHON))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE_))
    out = subprocess.run([PYTHON, str(script)], capture_output=True, text=True, timeout=120,
                         env=env, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "[0, 1, 8, 27, 64] 64\n"


def test_unpicklable_call_fails_before_sending(ex, client):
    with pytest.raises(Exception):
        ex.submit(lambda: 1)
    assert client.status()["tasks"]["queued"] == 0
