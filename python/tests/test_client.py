# SPDX-License-Identifier: MIT
"""dtr.Client against a real master and worker."""
import os
import threading

import pytest
from conftest import wait_for

import dtr
from dtr import client as dclient


def test_discovery_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DTR_MASTER", raising=False)
    assert dtr.discover() == ("127.0.0.1:4999", "default")
    os.mkdir(".dtr")
    with open(".dtr/master.addr", "w") as f:
        f.write("127.0.0.1:5123\n")
    assert dtr.discover() == ("127.0.0.1:5123", ".dtr/master.addr")
    monkeypatch.setenv("DTR_MASTER", "10.0.0.1:77")
    assert dtr.discover() == ("10.0.0.1:77", "DTR_MASTER")
    assert dtr.discover("h:1") == ("h:1", "argument")
    # a master group's addresses, one per line
    monkeypatch.delenv("DTR_MASTER")
    with open(".dtr/master.addr", "w") as f:
        f.write("127.0.0.1:5123\n 127.0.0.1:5124\n\n")
    assert dtr.discover() == ("127.0.0.1:5123,127.0.0.1:5124", ".dtr/master.addr")


def test_bad_arguments_fail_before_sending():
    bad = [dict(), dict(argv=[]), dict(argv=["a"], cmd="b"), dict(kind="compute", argv=["x"]),
           dict(argv=["a"], id="has space"), dict(argv=["a"], retries=1001),
           dict(argv=["a"], timeout=0), dict(argv=["a"], timeout="5 parsecs"),
           dict(argv=["a"], env={"A=B": "x"}), dict(argv=["a"], priority="urgent"),
           dict(argv=["a"], labels={"k": 1}), dict(argv=["a\0b"]), dict(argv=["a"], gpus=-1),
           dict(argv=["a"], resources={"Bad": 1}), dict(kind="bogus"),
           dict(argv=["a"], payload=float("nan"))]
    for kw in bad:
        with pytest.raises((ValueError, TypeError)):
            dtr.make_spec(**kw)
    with pytest.raises(ValueError):
        dtr.Client("no-port-here")


def test_submit_and_results(client, tmp_path):
    t = client.submit(["sh", "-c", "echo out; echo err >&2; printf '\\377' >&2"])
    r = t.result(timeout=30)
    assert (r.state, r.exit_code, r.stdout, r.stderr) == ("succeeded", 0, b"out\n", b"err\n\xff")
    assert t.state == "succeeded" and t.done()
    t = client.submit(cmd="echo $GREETING; pwd", env={"GREETING": "hi"}, cwd=str(tmp_path),
                      labels={"team": "py"}, priority="high", timeout="30s", cpus=0.5)
    assert t.result(30).stdout == b"hi\n" + str(tmp_path).encode() + b"\n"
    assert t.output().record["labels"] == {"team": "py"}
    c = client.submit(kind="compute", payload={"numbers": [1, 2, 3]})
    assert c.result(30).value == 6
    assert client.get(c.id).state == "succeeded"
    assert client.task(c.id).state == "succeeded"


def test_task_failed_carries_output(client):
    t = client.submit(cmd="echo partial; echo bad >&2; exit 3", retries=0)
    with pytest.raises(dtr.TaskFailed) as e:
        t.result(30)
    assert (e.value.state, e.value.exit_code) == ("failed", 3)
    assert (e.value.stdout, e.value.stderr) == (b"partial\n", b"bad\n")
    assert "exited with status 3" in e.value.error


def test_refused_with_the_masters_message(client):
    client.submit(["true"], id="dup-1").wait(30)
    with pytest.raises(dtr.RefusedError, match="a task with id 'dup-1' already exists"):
        client.submit(["true"], id="dup-1")
    with pytest.raises(dtr.RefusedError, match="unknown task 'nope'"):
        client.get("nope")
    client.ping()  # the connection is still good


def test_submit_many_array_listing(client):
    specs = [{"argv": ["echo", str(i)], "labels": {"batch": "b1"}} for i in range(3000)]
    tasks = client.submit_many(specs, job_name="many-1", batch=1000)
    assert len({t.id for t in tasks}) == 3000 and {t.job for t in tasks} == {"many-1"}
    done, not_done = dtr.wait(tasks, timeout=120)
    assert len(done) == 3000 and not not_done
    assert all(t.state == "succeeded" for t in tasks)
    recs = list(client.tasks(job="many-1"))
    assert [r["id"] for r in recs] == [t.id for t in tasks]
    assert sum(1 for _ in client.tasks(label="batch=b1")) == 3000
    assert sum(1 for _ in client.tasks(state="succeeded", label={"batch": "b1"})) == 3000
    arr = client.array(range(1, 6), argv=["sh", "-c", "echo {}:$X"], env={"X": "x{}"},
                       id="arr", throttle=2)
    assert [t.id for t in arr] == ["arr-%d" % i for i in range(1, 6)]
    assert [t.result(30).stdout for t in arr] == [b"%d:x%d\n" % (i, i) for i in range(1, 6)]
    st = client.status()
    assert st["tasks"]["succeeded"] == 3005 and st["workers"][0]["id"] == "w1"
    with pytest.raises(ValueError):
        client.tasks(state="bogus")


def test_wait_as_completed_and_dependencies(client, tmp_path):
    # slow ends only once the test creates its gate: a loaded machine cannot
    # let it finish before the first wait returns.
    slow = client.submit(cmd="n=0; while [ ! -e slow.go ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done",
                         cwd=str(tmp_path))
    fast = client.submit(kind="sleep", payload={"seconds": 0.1})
    done, not_done = dtr.wait([slow, fast], return_when=dtr.FIRST_COMPLETED, timeout=30)
    assert fast in done and slow in not_done
    (tmp_path / "slow.go").touch()
    order = [t.id for t in dtr.as_completed([slow, fast], timeout=30)]
    assert set(order) == {slow.id, fast.id}
    done, not_done = dtr.wait([client.submit(kind="sleep", payload={"seconds": 30})],
                              timeout=0.3)
    assert not done and len(not_done) == 1
    with pytest.raises(TimeoutError):
        list(dtr.as_completed(not_done, timeout=0.2))
    client.cancel(list(not_done))
    a = client.submit(cmd="echo a > dep.txt", cwd=str(tmp_path))
    b = client.submit(cmd="cat dep.txt", cwd=str(tmp_path), after=a)
    assert b.result(30).stdout == b"a\n"
    bad = client.submit(cmd="exit 1", retries=0)
    child = client.submit(["true"], after=[bad])
    done, _ = dtr.wait([bad, child], return_when=dtr.FIRST_EXCEPTION, timeout=30)
    assert bad in done
    assert child.wait(30) == "cancelled"


def test_cancel(client):
    t = client.submit(kind="sleep", payload={"seconds": 60})
    wait_for("the task to run", lambda: t.state == "running")
    assert t.cancel() is True
    assert t.state == "cancelled"
    with pytest.raises(dtr.TaskFailed) as e:
        t.result(10)
    assert e.value.state == "cancelled"
    assert t.cancel() is False  # already ended
    ids, note = client.cancel(["nope"])
    assert ids == [] and "unknown task 'nope'" in note


def test_token_auth(cluster, tmp_path):
    tok = tmp_path / "token"
    tok.write_text("s3cret\n")
    tok.chmod(0o600)
    cluster.master("--token-file", str(tok))
    c = dtr.Client(cluster.addr, token_file=str(tok))
    assert c.status()["tasks"]["queued"] == 0
    c.close()
    assert dtr.Client(cluster.addr, token="s3cret").status() is not None
    with pytest.raises(dtr.AuthError, match="requires a token"):
        dtr.Client(cluster.addr, token=None, reconnect_timeout=0)
    with pytest.raises(dtr.AuthError, match="different token"):
        dtr.Client(cluster.addr, token="wrong", reconnect_timeout=0)
    tok.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        dtr.Client(cluster.addr, token_file=str(tok))


class _Follower:
    """A master group member that is not the leader (docs/protocol.md,
    section 3): answers each hello with the next of `answers` (the last one
    again once they run out) and closes."""

    def __init__(self, answers):
        import socket
        self.answers, self.hellos = answers, 0
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.addr = "127.0.0.1:%d" % self.srv.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                s, _ = self.srv.accept()
            except OSError:
                return
            s.settimeout(5)
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            a = self.answers[min(self.hellos, len(self.answers) - 1)]
            self.hellos += 1
            s.sendall(a.encode() + b"\n")
            s.close()

    def close(self):
        self.srv.close()


def _not_leader(leader=None):
    import json
    m = {"type": "error", "error": "not the leader"}
    if leader is not None:
        m["leader"] = leader
    return json.dumps(m)


def test_master_list_follows_the_leader(client, running):
    dead = "127.0.0.1:9"
    f = _Follower([_not_leader(running.addr)])
    try:
        # a dead address, then a follower that names the leader
        with dtr.Client("%s,%s" % (dead, f.addr), reconnect_timeout=10) as c:
            assert c.addr == running.addr
            assert c.status()["workers"]
        assert f.hellos == 1
        # an election: no leader twice, then the leader is named
        f.answers, f.hellos = [_not_leader(), _not_leader(), _not_leader(running.addr)], 0
        with dtr.Client([f.addr, dead], reconnect_timeout=10) as c:
            assert c.addr == running.addr
        assert f.hellos == 3
        # hostile hints: never dialed, a clear error once the time is up
        for bad in ["x" * 400 + ":1", "evil host:1", "h:0", 17]:
            f.answers, f.hellos = [_not_leader(bad)], 0
            with pytest.raises(dtr.ConnectionError, match="leader"):
                dtr.Client(f.addr, reconnect_timeout=0.3)
        # a follower naming itself: no loop
        f.answers, f.hellos = [_not_leader(f.addr)], 0
        with pytest.raises(dtr.ConnectionError, match="no master of the group"):
            dtr.Client("%s,%s" % (dead, f.addr), reconnect_timeout=0.3)
    finally:
        f.close()
    with pytest.raises(ValueError):
        dtr.Client("%s,nope" % dead)


def test_unreachable_master_is_a_connection_error():
    with pytest.raises(dtr.ConnectionError):
        dtr.Client("127.0.0.1:9", reconnect_timeout=0.2)


def test_resubmit_after_a_lost_reply_makes_no_duplicate(client, monkeypatch):
    """The master stores the batch, the reply is lost with the connection:
    the client redials and sends it again, and finds it in."""
    real = dclient.Client._reply
    lost = []

    def lose_first_submit_reply(self, c, r):
        if r["type"] == "submit" and not lost:
            lost.append(r)
            real(self, c, r)  # the master has stored it
            raise dtr.ConnectionError("simulated: connection lost before the reply")
        return real(self, c, r)
    monkeypatch.setattr(dclient.Client, "_reply", lose_first_submit_reply)
    tasks = client.submit_many([{"argv": ["true"]} for _ in range(50)], batch=20)
    assert lost and len(tasks) == 50
    dtr.wait(tasks, timeout=60)
    assert sum(1 for _ in client.tasks()) == 50


def test_reconnect_after_kill_9(client, running):
    """submit_many runs while the master is killed with -9 and restarted:
    every spec becomes exactly one task."""
    first = client.submit(["true"])
    first.wait(30)
    specs = [{"argv": ["true"]} for _ in range(20000)]
    out = {}

    def submit():
        try:
            out["tasks"] = client.submit_many(specs, batch=500)
        except Exception as e:  # reported below
            out["error"] = e
    th = threading.Thread(target=submit)
    th.start()
    watcher = dtr.Client(running.addr)
    wait_for("some batches in", lambda: watcher.status()["tasks"]["succeeded"] +
             watcher.status()["tasks"]["queued"] + watcher.status()["tasks"]["running"] > 1000)
    watcher.close()
    running.restart_master()
    th.join(120)
    assert not th.is_alive() and "error" not in out, out.get("error")
    tasks = out["tasks"]
    assert len({t.id for t in tasks}) == 20000
    assert client.status()["tasks"] is not None  # the same client, redialed
    ids = [r["id"] for r in client.tasks()]
    assert len(ids) == len(set(ids)) == 20001
    assert set(ids) == {t.id for t in tasks} | {first.id}
    done, not_done = dtr.wait(tasks[-10:], timeout=120)
    assert len(done) == 10


def _certs(d, names=("node", "client"), ca="ca"):
    import subprocess

    def run(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days",
        "30", "-subj", "/CN=" + ca, "-keyout", ca + ".key", "-out", ca + ".pem")
    for n in names:
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
            "/CN=" + n, "-keyout", n + ".key", "-out", n + ".csr")
        run("x509", "-req", "-in", n + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-days", "30", "-out", n + ".pem")
    return {n: (str(d / (ca + ".pem")), str(d / (n + ".pem")), str(d / (n + ".key")))
            for n in names}


def test_tls_without_a_token(cluster, tmp_path):
    certs = _certs(tmp_path)
    ca, cert, key = certs["node"]
    cluster.master("--tls-ca", ca, "--tls-cert", cert, "--tls-key", key)
    cluster.worker("w1", "--tls-ca", ca, "--tls-cert", cert, "--tls-key", key)
    c = dtr.Client(cluster.addr, tls=certs["client"])
    assert c.submit(["echo", "over tls"]).result(60).stdout == b"over tls\n"
    with pytest.raises(dtr.ConnectionError, match="does it require TLS"):
        dtr.Client(cluster.addr, reconnect_timeout=0)


def _tls_master_with_token(cluster, tmp_path, certs, token):
    """Starts the master with its certificate from certs and a token file
    (0600) holding token; returns the file's path."""
    tok = tmp_path / "token"
    tok.write_text(token + "\n")
    tok.chmod(0o600)
    cluster.master("--tls-ca", certs["master"][0], "--tls-cert", certs["master"][1],
                   "--tls-key", certs["master"][2], "--token-file", str(tok))
    return tok


def test_tls_with_a_token(cluster, tmp_path):
    """TLS and a token together: the proofs bind to the master's certificate
    (tls-server-end-point), for the Client and the Executor's connections."""
    certs = _certs(tmp_path, ("master", "worker", "client"))
    tok = _tls_master_with_token(cluster, tmp_path, certs, "tls and token")
    cluster.worker("w1", "--tls-ca", certs["worker"][0], "--tls-cert", certs["worker"][1],
                   "--tls-key", certs["worker"][2], "--token-file", str(tok))
    c = dtr.Client(cluster.addr, tls=certs["client"], token_file=str(tok))
    wait_for("the worker to register", lambda: c.status()["workers"])
    assert c.submit(["echo", "tls+token"]).result(60).stdout == b"tls+token\n"
    from conftest import PYTHON
    with dtr.Executor(c, python=PYTHON) as ex:
        assert list(ex.map(abs, [-1, -2, 3], chunksize=2)) == [1, 2, 3]
    gen = c.events()
    t = c.submit(["true"])
    assert next(e for e in gen if e["task"] == t.id)["event"] == "submitted"
    gen.close()
    c.close()
    with pytest.raises(dtr.AuthError, match="different token"):
        dtr.Client(cluster.addr, tls=certs["client"], token="wrong", reconnect_timeout=0)
    # the master checks the chain: a client certificate of another CA
    other = _certs(tmp_path, ("stranger",), ca="otherca")["stranger"]
    with pytest.raises((dtr.TLSError, dtr.ConnectionError)):
        dtr.Client(cluster.addr, tls=(certs["client"][0], other[1], other[2]),
                   token_file=str(tok), reconnect_timeout=0)
    # and we check the master's: trusting another CA, the client refuses it
    with pytest.raises(dtr.TLSError, match="certificate verify failed"):
        dtr.Client(cluster.addr, tls=(other[0], certs["client"][1], certs["client"][2]),
                   token_file=str(tok), reconnect_timeout=0)


def test_tls_relay_is_refused(cluster, tmp_path):
    """A relay holding a certificate of the cluster's CA (a compromised node,
    say), but not the master's key: it terminates the client's TLS with its
    own certificate and passes the bytes to the master over a TLS session of
    its own. The client sees the master's proof bound to another certificate
    and hangs up before proving anything; the master authenticates no one."""
    import socket
    import ssl
    certs = _certs(tmp_path, ("master", "relay", "client"))
    tok = _tls_master_with_token(cluster, tmp_path, certs, "relay test")
    host, port = cluster.addr.rsplit(":", 1)
    ca, rcert, rkey = certs["relay"]
    srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv_ctx.load_cert_chain(rcert, rkey)
    srv_ctx.verify_mode = ssl.CERT_NONE
    cli_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cli_ctx.check_hostname = False
    cli_ctx.load_verify_locations(ca)
    cli_ctx.load_cert_chain(rcert, rkey)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    relayed = []

    def pipe(a, b, way):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                relayed.append((way, d))
                b.sendall(d)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def relay():
        try:
            conn, _ = lsock.accept()
        except OSError:
            return
        a = srv_ctx.wrap_socket(conn, server_side=True)
        b = cli_ctx.wrap_socket(socket.create_connection((host, int(port))))
        threading.Thread(target=pipe, args=(b, a, "to client"), daemon=True).start()
        pipe(a, b, "to master")
    th = threading.Thread(target=relay, daemon=True)
    th.start()
    try:
        with pytest.raises(dtr.AuthError, match="a relay"):
            dtr.Client("127.0.0.1:%d" % lsock.getsockname()[1], tls=certs["client"],
                       token_file=str(tok), reconnect_timeout=0)
    finally:
        lsock.close()
    th.join(10)
    to_master = b"".join(d for w, d in relayed if w == "to master")
    to_client = b"".join(d for w, d in relayed if w == "to client")
    assert b'"binding":"tls-server-end-point"' in to_master
    assert b'"type":"auth"' in to_client  # the master proved first, bound to its certificate
    assert b'"type":"auth"' not in to_master  # the client never proved anything
