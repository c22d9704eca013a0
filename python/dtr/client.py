# SPDX-License-Identifier: MIT
"""dtr.Client: one persistent connection to a dtr master, speaking the
native protocol (docs/protocol.md). Standard library only."""
import base64
import hashlib
import json
import os
import re
import socket
import ssl
import threading
import time

from . import wire
from .errors import AuthError, ConnectionError, RefusedError, TaskFailed, TLSError

DEFAULT_MASTER = "127.0.0.1:4999"
ENDED = ("succeeded", "failed", "cancelled")
STATES = ("blocked", "queued", "running") + ENDED
BATCH = 5000                # tasks per submit message (MSG_MAX_BATCH is 100000)
MAX_LINE = 16 * 1024 * 1024 + 1024
_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
_DURATION_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(ms|s|m|h)?$")


GROUP_MAX = 16      # addresses in a master list
GROUP_HOPS = 4      # "not the leader" hints followed in one pass over them
NOT_LEADER = "not the leader"


def discover(master=None):
    """The master's address as the CLI finds it: the argument, $DTR_MASTER,
    .dtr/master.addr (in the current directory; a master group's addresses
    one per line become "A,B,C"), else 127.0.0.1:4999. Returns (address or
    comma-separated list, where it came from)."""
    if master:
        return master, "argument"
    env = os.environ.get("DTR_MASTER")
    if env:
        return env, "DTR_MASTER"
    try:
        with open(os.path.join(".dtr", "master.addr")) as f:
            text = f.read(4096)
        line = ",".join(l.strip() for l in text.splitlines() if l.strip())
        if line:
            return line, ".dtr/master.addr"
    except OSError:
        pass
    return DEFAULT_MASTER, "default"


def split_list(addrs):
    """"A,B,C" (or a list of addresses): each checked HOST:PORT, at most
    GROUP_MAX. Returns the list of addresses."""
    if isinstance(addrs, (list, tuple)):
        items = list(addrs)
    elif isinstance(addrs, str):
        items = [a.strip() for a in addrs.split(",") if a.strip()]
    else:
        raise ValueError("master address %r is not HOST:PORT" % (addrs,))
    if not items:
        raise ValueError("master address %r is not HOST:PORT" % (addrs,))
    if len(items) > GROUP_MAX:
        raise ValueError("at most %d master addresses, got %d" % (GROUP_MAX, len(items)))
    for a in items:
        split_addr(a)
    return items


# A leader hint's host, as dtr checks it (src/common/parse.c): printable
# ASCII without brackets, and a colon only inside brackets.
_HINT_HOST_RE = re.compile(r"^(\[[\x21-\x5a\x5c\x5e-\x7e]+\]|[\x21-\x39\x3b-\x5a\x5c\x5e-\x7e]+)$")


def _check_hint(leader):
    """A "not the leader" line's leader: HOST:PORT of at most 300 bytes."""
    if not isinstance(leader, str) or len(leader) > 300 or ":" not in leader or \
            not _HINT_HOST_RE.match(leader.rsplit(":", 1)[0]):
        raise ValueError("not HOST:PORT")
    split_addr(leader)


def split_addr(addr):
    if not isinstance(addr, str) or ":" not in addr:
        raise ValueError("master address %r is not HOST:PORT" % (addr,))
    host, port = addr.rsplit(":", 1)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("master address %r is not HOST:PORT" % (addr,))
    return host, int(port)


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        import ipaddress
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_id(what, v):
    if not isinstance(v, str) or not _ID_RE.match(v):
        raise ValueError("%s must be 1 to 128 printable ASCII characters without spaces, not %r"
                         % (what, v))


def _str_map(what, m, keycheck=None):
    if not isinstance(m, dict):
        raise TypeError("%s must be a dict of strings" % what)
    out = {}
    for k, v in m.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError("%s must map strings to strings (%r: %r)" % (what, k, v))
        if "\0" in k or "\0" in v:
            raise ValueError("%s: %r holds a NUL character" % (what, k))
        if keycheck:
            keycheck(k)
        out[k] = v
    return out


def _env_key(k):
    if not k or "=" in k:
        raise ValueError("env: name %r must be non-empty without '='" % k)


def _label_key(k):
    if not 0 < len(k.encode()) <= 256 or "=" in k or any(ord(c) < 32 or ord(c) == 127 for c in k):
        raise ValueError("labels: key %r must be 1 to 256 bytes without '=' or control characters" % k)


def make_spec(argv=None, cmd=None, kind=None, payload=None, priority=None, retries=None,
              timeout=None, env=None, cwd=None, id=None, labels=None, after=None, after_any=None,
              cpus=None, mem=None, gpus=None, resources=None):
    """A task spec for the wire (docs/protocol.md section 7), checked here so
    that bad arguments fail before anything is sent. `argv` may also be a
    plain string (one program without arguments)."""
    s = {}
    if id is not None:
        _check_id("id", id)
        s["id"] = id
    if kind is None:
        kind = "exec"
    if not isinstance(kind, str) or kind not in ("exec", "compute", "transform", "echo", "sleep",
                                                  "noop"):
        raise ValueError("kind must be exec, compute, transform, echo, sleep or noop, not %r"
                         % (kind,))
    if kind != "exec":
        s["kind"] = kind
    if isinstance(argv, str):
        argv = [argv]
    if kind == "exec":
        if (argv is None) == (cmd is None or cmd == ""):
            raise ValueError("an exec task needs argv (program and arguments) or cmd (a shell "
                             "command), exactly one of them")
    elif argv is not None or cmd is not None:
        raise ValueError("a %s task takes no argv or cmd" % kind)
    if argv is not None:
        argv = list(argv)
        if not argv or len(argv) > 4096:
            raise ValueError("argv must have 1 to 4096 entries")
        for a in argv:
            if not isinstance(a, str):
                raise TypeError("argv entries must be strings, not %r" % (a,))
            if "\0" in a:
                raise ValueError("argv entries may not hold NUL")
        s["argv"] = argv
    if cmd is not None:
        if not isinstance(cmd, str) or "\0" in cmd:
            raise TypeError("cmd must be a string without NUL")
        s["cmd"] = cmd
    if env is not None:
        s["env"] = _str_map("env", env, _env_key)
    if cwd is not None:
        if not isinstance(cwd, str) or not cwd or len(cwd.encode()) > 4096:
            raise ValueError("cwd must be a path of 1 to 4096 bytes")
        s["cwd"] = cwd
    if payload is not None:
        try:
            json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError("payload must be JSON without NaN or infinities: %s" % e)
        s["payload"] = payload
    if priority is not None:
        if isinstance(priority, bool) or not (
                isinstance(priority, int) and -2**31 <= priority < 2**31 or
                isinstance(priority, str) and priority.lower() in ("low", "medium", "high")):
            raise ValueError("priority must be a 32-bit integer or low, medium, high, not %r"
                             % (priority,))
        s["priority"] = priority
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 1000:
            raise ValueError("retries must be an integer from 0 to 1000, not %r" % (retries,))
        s["max_retries"] = retries
    if timeout is not None:
        if isinstance(timeout, bool):
            raise ValueError("timeout must be seconds or a duration string")
        if isinstance(timeout, (int, float)):
            if not 0.001 <= timeout < 31536000:
                raise ValueError("timeout must be at least 1 ms and less than 365 days")
        elif not isinstance(timeout, str) or not _DURATION_RE.match(timeout):
            raise ValueError("timeout must be seconds or a duration such as '10s', '5m', not %r"
                             % (timeout,))
        s["timeout"] = timeout
    if labels is not None:
        labels = _str_map("labels", labels, _label_key)
        if len(labels) > 32:
            raise ValueError("labels: %d labels; the limit is 32" % len(labels))
        s["labels"] = labels
    for name, deps in (("after", after), ("after_any", after_any)):
        if deps is None:
            continue
        if isinstance(deps, (str, Task)):
            deps = [deps]
        ids = [d.id if isinstance(d, Task) else d for d in deps]
        for d in ids:
            _check_id(name, d)
        if ids:
            s[name] = ids
    if cpus is not None:
        if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or not 0 < cpus <= 65536:
            raise ValueError("cpus must be a number above 0, at most 65536")
        s["cpus"] = cpus
    if mem is not None:
        if isinstance(mem, bool) or not isinstance(mem, (int, str)):
            raise ValueError("mem must be bytes or a size such as '512M'")
        s["mem"] = mem
    if gpus is not None:
        if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= 1024:
            raise ValueError("gpus must be an integer from 0 to 1024")
        s["gpus"] = gpus
    if resources is not None:
        if not isinstance(resources, dict) or len(resources) > 8:
            raise ValueError("resources must be a dict of at most 8 names")
        for k, v in resources.items():
            if (not isinstance(k, str) or not re.match(r"^[a-z][a-z0-9_]{0,31}$", k) or
                    isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10**9):
                raise ValueError("resources: %r: %r must name [a-z][a-z0-9_]* and count 1..10^9"
                                 % (k, v))
        s["resources"] = dict(resources)
    return s


def _output(rec, name):
    b = rec.get(name + "_b64")
    if b is not None:
        return base64.b64decode(b)
    v = rec.get(name)
    return v.encode("utf-8", "surrogatepass") if isinstance(v, str) else b""


class Result:
    """What a task left: .state, .exit_code, .error, .stdout, .stderr
    (bytes), .value (the result of a built-in kind), .record (the master's
    whole task record)."""

    def __init__(self, rec):
        self.record = rec
        self.id = rec.get("id")
        self.state = rec.get("state")
        self.exit_code = rec.get("exit_code")
        self.error = rec.get("error")
        self.stdout = _output(rec, "stdout")
        self.stderr = _output(rec, "stderr")
        self.value = rec.get("result")
        self.truncated = bool(rec.get("stdout_truncated") or rec.get("stderr_truncated"))

    def __repr__(self):
        return "Result(id=%r, state=%r, exit_code=%r)" % (self.id, self.state, self.exit_code)


class Task:
    """A task the master holds. Cheap: an id, a client and what is known."""

    def __init__(self, client, id, job=None):
        self.client = client
        self.id = id
        self.job = job
        self._state = None
        self._rec = None  # the full record (with output) once ended

    def __repr__(self):
        return "Task(%r, state=%r)" % (self.id, self._state)

    @property
    def state(self):
        """The task's state now (asks the master unless it has ended)."""
        if self._state not in ENDED:
            self.client._refresh([self])
        return self._state

    def done(self):
        return self.state in ENDED

    def wait(self, timeout=None):
        """Waits until the task ends; returns its state, or None when
        `timeout` (seconds) passed first."""
        done, _ = wait([self], timeout=timeout)
        return self._state if done else None

    def result(self, timeout=None):
        """Waits for the task and returns its Result; raises TaskFailed
        (with stdout, stderr, exit code, state) when it failed or was
        cancelled, TimeoutError when `timeout` passes first."""
        if self.wait(timeout) is None:
            raise TimeoutError("task '%s' did not end within %ss" % (self.id, timeout))
        r = self.output()
        if r.state != "succeeded":
            raise TaskFailed(r.id, r.state, r.exit_code, r.error, r.stdout, r.stderr)
        return r

    def output(self):
        """The task's record with its output now (its last attempt's), as a
        Result, without waiting."""
        if self._rec is None or self._rec.get("state") not in ENDED:
            rec = self.client.get(self.id).record
            self._rec, self._state = rec, rec.get("state")
            self.job = self.job or rec.get("job")
        return Result(self._rec)

    def cancel(self):
        """Cancels the task; True when this call cancelled it."""
        ids, _ = self.client.cancel([self.id])
        if ids:
            self._state = "cancelled"
        return bool(ids)


class _Idle(ConnectionError):
    """No line within the timeout (the connection may still be good)."""


class _Conn:
    """One authenticated connection, line by line."""

    def __init__(self, sock, addr):
        self.sock = sock
        self.addr = addr
        self.buf = b""
        self.lines = []
        self.end_point = None  # SHA-256 of the master's certificate, over TLS

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ConnectionError("lost the connection to the master at %s: %s" % (self.addr, e))

    def raw(self, timeout):
        if self.lines:
            return self.lines.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Idle("the master at %s did not answer within %.0fs"
                            % (self.addr, timeout))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError as e:
                raise ConnectionError("lost the connection to the master at %s: %s"
                                      % (self.addr, e))
            if not chunk:
                raise ConnectionError("the master at %s closed the connection" % self.addr)
            self.buf += chunk
            if b"\n" in chunk:
                parts = self.buf.split(b"\n")
                self.buf = parts.pop()
                self.lines = [p[:-1] if p.endswith(b"\r") else p for p in parts if p.strip()]
                if self.lines:
                    return self.lines.pop(0)
            elif len(self.buf) > MAX_LINE:
                raise ConnectionError("the master at %s sent a line longer than 16 MiB"
                                      % self.addr)

    def msg(self, timeout):
        line = self.raw(timeout)
        try:
            m = json.loads(line)
        except ValueError:
            raise ConnectionError("the master at %s sent malformed JSON" % self.addr)
        if not isinstance(m, dict):
            raise ConnectionError("the master at %s sent a non-object" % self.addr)
        return m

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class _NotLeader(ConnectionError):
    """A master group member that is not the leader; .leader: the one it
    names (checked HOST:PORT), or None."""

    def __init__(self, addr, leader):
        self.leader = leader
        super().__init__("the master at %s is not the leader of its group (%s)"
                         % (addr, "it names %s" % leader if leader else "no leader is elected "
                            "yet"))


def _refusal(text):
    if "authentication failed" in text:
        return AuthError(text)
    return RefusedError(text)


class Client:
    """A connection to a dtr master.

    master: "HOST:PORT", or a master group's "A,B,C" (or a list): tried in
    turn, following a member's "not the leader" to the leader it names
    (docs/protocol.md, section 3); else $DTR_MASTER, .dtr/master.addr,
    127.0.0.1:4999.
    token: the shared secret; token_file: a file holding it (refused when
    others may read it, as dtr does); else $DTR_TOKEN.
    tls: {"ca": FILE, "cert": FILE, "key": FILE} (or a (ca, cert, key)
    tuple): mutual TLS, with or without a token (see python/README.md).
    reconnect_timeout: how long a call keeps redialing a master that is gone
    before it raises dtr.ConnectionError.

    One connection serves every call, thread-safe (calls take turns); it is
    redialed transparently when it drops, and a submission cut off by the
    drop is sent again without ever making a task twice (the client chooses
    every task id, see python/README.md)."""

    def __init__(self, master=None, token=None, tls=None, token_file=None,
                 reconnect_timeout=30.0, reply_timeout=60.0):
        self._master_arg = master
        text, self.addr_from = discover(master)
        self.addrs = split_list(text)
        self.addr = self.addrs[0]  # the master dialed last: the one connected
        self.host, self.port = split_addr(self.addr)
        if token is not None and token_file is not None:
            raise ValueError("pass token or token_file, not both")
        if token_file is not None:
            token = wire.load_token(token_file, check_mode=True)
        elif token is not None:
            token = wire.clean_token(token)
        elif os.environ.get("DTR_TOKEN"):
            token = wire.clean_token(os.environ["DTR_TOKEN"])
        self.token = token
        self.tls = self._tls_context(tls)
        self.reconnect_timeout = reconnect_timeout
        self.reply_timeout = reply_timeout
        self._lock = threading.RLock()
        self._conn = None
        self._gen = 0  # counts connections: a job can be joined on its own one only
        self._prefix = "py%s-" % os.urandom(5).hex()
        self._seq = 0
        self.connect()

    # ---- connection ------------------------------------------------------------
    def _tls_context(self, tls):
        if tls is None:
            return None
        if isinstance(tls, (tuple, list)):
            if len(tls) != 3:
                raise ValueError("tls must be (ca, cert, key)")
            tls = dict(zip(("ca", "cert", "key"), tls))
        if not isinstance(tls, dict) or not all(tls.get(k) for k in ("ca", "cert", "key")):
            raise ValueError("tls needs the files ca, cert and key (like --tls-ca, --tls-cert, "
                             "--tls-key)")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False  # dtr checks the chain only (docs/protocol.md section 1)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(tls["ca"])
        ctx.load_cert_chain(tls["cert"], tls["key"])
        ctx.options |= ssl.OP_NO_TICKET
        return ctx

    def _dial(self):
        if self._master_arg is None and self.addr_from == ".dtr/master.addr":
            # a restarted master may have taken another port
            text, frm = discover(None)
            if frm == ".dtr/master.addr":
                try:
                    self.addrs = split_list(text)
                except ValueError:
                    pass
        # One pass over the group: each address in turn, and the leader a
        # member names (at most GROUP_HOPS, none twice). connect() retries
        # the pass while a leader is being elected.
        tried, hops, last = set(), 0, None
        for first in self.addrs:
            addr = first
            while addr and addr not in tried:
                tried.add(addr)
                try:
                    return self._dial_one(addr)
                except _NotLeader as e:
                    last = e
                    addr = None
                    if e.leader and hops < GROUP_HOPS:
                        hops += 1
                        addr = e.leader
                except ConnectionError as e:
                    last = e
                    addr = None
        if len(self.addrs) == 1 and not isinstance(last, _NotLeader):
            raise last
        raise ConnectionError("no master of the group %s is the leader: %s"
                              % (",".join(self.addrs), last))

    def _dial_one(self, addr):
        self.addr = addr
        self.host, self.port = split_addr(addr)
        try:
            sock = socket.create_connection((self.host, self.port), timeout=5)
        except OSError as e:
            raise ConnectionError("cannot connect to the master at %s: %s" % (self.addr, e))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            try:
                sock = self.tls.wrap_socket(sock, server_side=False)
            except (ssl.SSLError, OSError) as e:
                sock.close()
                raise TLSError("TLS handshake with the master at %s failed: %s"
                               % (self.addr, e))
        c = _Conn(sock, self.addr)
        if self.tls:
            # the tls-server-end-point channel binding: the master's certificate
            # (Python's ssl module has no TLS exporter; docs/protocol.md section 3)
            c.end_point = hashlib.sha256(sock.getpeercert(binary_form=True)).digest()
        try:
            self._handshake(c)
        except BaseException:
            c.close()
            raise
        return c

    def _handshake(self, c):
        extra, channel = {}, wire.NO_CHANNEL
        if self.token and c.end_point is not None:
            extra["binding"], channel = wire.END_POINT, c.end_point
        mine = wire.enc(wire.hello("client", "client-%d" % os.getpid(), self.token, **extra))
        c.send(mine)
        mine = mine[:-1]
        try:
            theirs = c.raw(5.0)
        except ConnectionError:
            raise ConnectionError("the master at %s closed the connection without a word (does "
                                  "it require TLS?)" % self.addr)
        if theirs[:1] in (b"\x16", b"\x15"):
            raise TLSError("the master at %s speaks TLS: pass tls=(ca, cert, key)" % self.addr)
        try:
            h = json.loads(theirs)
        except ValueError:
            raise ConnectionError("the master at %s sent no hello" % self.addr)
        if h.get("type") == "error" and h.get("error") == NOT_LEADER:
            leader = h.get("leader")
            if leader is not None:
                try:
                    _check_hint(leader)
                except ValueError:
                    raise ConnectionError("the master at %s named a leader that is not "
                                          "HOST:PORT" % self.addr)
            raise _NotLeader(self.addr, leader)
        if h.get("type") == "error":
            raise _refusal(str(h.get("error")))
        if h.get("type") != "hello" or h.get("role") != "master":
            raise ConnectionError("the peer at %s is not a dtr master" % self.addr)
        if h.get("proto") != wire.PROTO:
            raise RefusedError("the master at %s speaks protocol %r; this client speaks %d"
                               % (self.addr, h.get("proto"), wire.PROTO))
        if not self.token:
            if h.get("auth"):
                raise AuthError("the master at %s requires a token: pass token= or token_file=, "
                                "or set DTR_TOKEN" % self.addr)
            return
        if not h.get("auth"):
            raise AuthError("the master at %s did not prove it knows the token; refusing to "
                            "talk to it" % self.addr)
        a = c.msg(5.0)
        if a.get("type") == "error":
            raise _refusal(str(a.get("error")))
        if a.get("type") != "auth" or not wire.proof_ok(self.token, "acceptor", mine, theirs,
                                                        a.get("proof"), channel):
            raise AuthError("authentication failed: the master at %s has a different token%s"
                            % (self.addr, " (or is not the master whose certificate we were "
                               "shown: a relay)" if c.end_point is not None else ""))
        c.send(wire.enc({"type": "auth", "proof": wire.proof(self.token, "dialer", mine,
                                                              theirs, channel)}))

    def connect(self):
        """(Re)dials the master, retrying for reconnect_timeout seconds."""
        with self._lock:
            self.close()
            deadline = time.monotonic() + self.reconnect_timeout
            pause = 0.05
            while True:
                try:
                    self._conn = self._dial()
                    self._gen += 1
                    return
                except ConnectionError:
                    if time.monotonic() + pause > deadline:
                        raise
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    def close(self):
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _exchange(self, reqs, retry=True):
        """Sends the requests (pipelined) and reads their replies in order:
        for a list, its task records (a list); for an error reply, the
        RefusedError; else the reply message. Redials and sends them all
        again when the connection drops (reads are idempotent)."""
        with self._lock:
            tries = 0
            while True:
                if self._conn is None:
                    self.connect()
                c = self._conn
                try:
                    c.send(b"".join(wire.enc(r) for r in reqs))
                    out = []
                    for r in reqs:
                        out.append(self._reply(c, r))
                    return out
                except ConnectionError:
                    self.close()
                    tries += 1
                    # a master that takes the connection each time but drops
                    # it on these very requests would have us loop for ever
                    if not retry or tries >= 5:
                        raise

    def _reply(self, c, r):
        if r["type"] == "list":
            recs = []
            while True:
                m = c.msg(self.reply_timeout)
                t = m.get("type")
                if t == "end":
                    return recs
                if t == "task":
                    recs.append(m.get("task", m))
                elif t == "error":
                    return _refusal(str(m.get("error")))
        while True:
            m = c.msg(self.reply_timeout)
            if m.get("type") == "progress":
                continue
            if m.get("type") == "error":
                return _refusal(str(m.get("error")))
            return m

    def _one(self, req):
        rep = self._exchange([req])[0]
        if isinstance(rep, Exception):
            raise rep
        return rep

    # ---- requests ------------------------------------------------------------------
    def ping(self):
        self._one({"type": "ping"})

    def status(self):
        """The master's status: {"workers": [...], "tasks": {state: n},
        "jobs": {...}, "unschedulable": n}, and "group": {...} on a member
        of a master group (docs/protocol.md, status and group)."""
        return self._one({"type": "status"})["status"]

    def get(self, id):
        """The task's record with its output (its last attempt's), as a Result."""
        _check_id("id", id)
        rep = self._one({"type": "get", "id": id})
        return Result(rep.get("task", rep))

    def task(self, id):
        """A Task for an id the master holds (RefusedError when it does not)."""
        r = self.get(id)
        t = Task(self, id, r.record.get("job"))
        t._state = r.state
        if r.state in ENDED:
            t._rec = r.record
        return t

    def cancel(self, ids=None, job=None):
        """Cancels tasks (ids or Tasks) or every unfinished task of a job.
        Returns (ids cancelled, the master's note on the others or None)."""
        req = {"type": "cancel"}
        if job is not None:
            if ids is not None:
                raise ValueError("cancel takes ids or job, not both")
            req["job"] = job
        else:
            ids = [t.id if isinstance(t, Task) else t for t in ids]
            for i in ids:
                _check_id("id", i)
            req["ids"] = ids
        rep = self._one(req)
        return rep.get("ids", []), rep.get("error")

    def tasks(self, state=None, job=None, label=None):
        """A generator over the master's task records (dicts, section 8 of
        docs/protocol.md), in submission order, read as the master streams
        them on a connection of their own. label: {key: value} (all must
        match) or "key=value"."""
        req = {"type": "list"}
        if state is not None:
            if state not in STATES:
                raise ValueError("state must be one of %s" % ", ".join(STATES))
            req["state"] = state
        if job is not None:
            req["job"] = job
        if label is not None:
            if isinstance(label, str):
                if "=" not in label:
                    raise ValueError("label must be KEY=VALUE or a dict")
                label = dict([label.split("=", 1)])
            req["labels"] = _str_map("label", label, _label_key)
        return self._listing(req)

    def _redial_after(self, err, deadline):
        """A stream's connection dropped: waits a moment and returns the
        time by which it must be back (reconnect_timeout from the first
        drop in a row); raises err once that has passed."""
        if deadline is None:
            deadline = time.monotonic() + self.reconnect_timeout
        if time.monotonic() > deadline:
            raise err
        time.sleep(0.1)
        return deadline

    def _listing(self, req):
        seen = set()
        deadline = None
        while True:
            c = None
            try:
                c = self._dial()
                c.send(wire.enc(req))
                while True:
                    m = c.msg(self.reply_timeout)
                    t = m.get("type")
                    if t == "end":
                        return
                    if t == "error":
                        raise _refusal(str(m.get("error")))
                    if t == "task":
                        rec = m.get("task", m)
                        if rec.get("id") in seen:
                            continue  # listed before the connection dropped
                        seen.add(rec.get("id"))
                        yield rec
                        deadline = None
            except ConnectionError as e:
                deadline = self._redial_after(e, deadline)
            finally:
                if c is not None:
                    c.close()

    def events(self, job=None, since=None):
        """A generator over the master's task and worker events, as they
        happen (the stream `dtr events` prints; docs/protocol.md "events").
        Yields dicts: an event {"id", "event", "task", "job", "worker",
        "at", "at_ms"} (event: submitted, started, succeeded, failed,
        cancelled, requeued, worker_joined, worker_lost, worker_draining),
        or a lost notice {"lost_from": N, "lost_to": M} when the master no
        longer keeps events the reader had not read yet.

        job: only that job's task events. since: start after that event id
        (>= 1) if the master still keeps it; None: from now on. The stream
        has a connection of its own and never ends by itself; when it
        drops, it is redialed (for up to reconnect_timeout seconds) and
        resumes after the last event id seen, so nothing is read twice.
        The master keeps events in memory only: after it restarts, ids start
        at 1 again (see python/README.md)."""
        if job is not None:
            _check_id("job", job)
        if since is not None and (isinstance(since, bool) or not isinstance(since, int) or
                                  not 1 <= since < 2**63):
            raise ValueError("since must be an event id (an integer from 1) or None, not %r"
                             % (since,))
        # dialed here, not on the first next(): "from now on" means from
        # this call (the pong answers once the master holds the subscription)
        first = self._open_events(job, since)
        return self._events(job, since, first)

    def _open_events(self, job, after):
        """Dials, subscribes and waits for the master to have taken the
        subscription (a ping behind it is answered after it). Returns the
        connection and the messages that came before the pong."""
        c = self._dial()
        try:
            try:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            except OSError:
                pass
            req = {"type": "events"}
            if job is not None:
                req["job"] = job
            if after is not None:
                req["after"] = after
            c.send(wire.enc(req) + wire.enc({"type": "ping"}))
            early = []
            while True:
                m = c.msg(self.reply_timeout)
                if m.get("type") == "pong":
                    return c, early
                if m.get("type") == "error":
                    raise _refusal(str(m.get("error")))
                early.append(m)
        except BaseException:
            c.close()
            raise

    def _events(self, job, after, first):
        deadline = None
        while True:
            c = None
            try:
                if first is not None:
                    (c, early), first = first, None
                else:
                    c, early = self._open_events(job, after)
                while True:
                    if early:
                        m = early.pop(0)
                    else:
                        try:
                            m = c.msg(3600.0)
                        except _Idle:
                            continue  # nothing happened for an hour: go on waiting
                    t = m.get("type")
                    if t == "error":
                        raise _refusal(str(m.get("error")))
                    if t != "event":
                        raise ConnectionError("the master at %s sent a '%s' in an event stream"
                                              % (self.addr, t))
                    deadline = None
                    ev = m.get("event")
                    if isinstance(ev, dict) and isinstance(ev.get("id"), int):
                        after = max(after or 0, ev["id"])
                        yield ev
                    elif isinstance(m.get("lost_to"), int):
                        after = max(after or 0, m["lost_to"])
                        yield {"lost_from": m.get("lost_from"), "lost_to": m["lost_to"]}
            except ConnectionError as e:
                deadline = self._redial_after(e, deadline)
            finally:
                if c is not None:
                    c.close()

    # ---- submission ----------------------------------------------------------------
    def _new_id(self):
        self._seq += 1
        return "%s%d" % (self._prefix, self._seq)

    def submit(self, argv=None, **kw):
        """Submits one task; returns its Task. Takes the arguments of
        make_spec (argv, cmd=, kind=, payload=, priority=, retries=,
        timeout=, env=, cwd=, id=, labels=, after=, after_any=, cpus=, mem=,
        gpus=, resources=)."""
        return self.submit_many([dict(kw, argv=argv) if argv is not None else kw])[0]

    def submit_many(self, specs, job_name=None, throttle=None, batch=BATCH):
        """Submits many tasks, `batch` per message, all as one job (unless the
        connection drops in between: then the rest make a new job). specs:
        dicts of submit()'s arguments. Returns the Tasks in order. Every spec
        is checked before the first one is sent."""
        if throttle is not None and (isinstance(throttle, bool) or not isinstance(throttle, int)
                                     or not 1 <= throttle <= 10000000):
            raise ValueError("throttle must be an integer from 1 to 10000000")
        if not 1 <= batch <= 100000:
            raise ValueError("batch must be from 1 to 100000")
        wire_specs = []
        with self._lock:
            for s in specs:
                if not isinstance(s, dict):
                    raise TypeError("each spec must be a dict of submit()'s arguments")
                w = make_spec(**s)
                if "id" not in w:
                    w["id"] = self._new_id()
                wire_specs.append(w)
        if not wire_specs:
            return []
        tasks = []
        job, gen = None, None
        for i in range(0, len(wire_specs), batch):
            part = wire_specs[i:i + batch]
            req = {"type": "submit", "tasks": part}
            if job is None and job_name is not None:
                req["job_name"] = job_name
            if throttle is not None:
                req["throttle"] = throttle
            if job is not None and gen == self._gen:
                req["job"] = job
            job, gen = self._submit_batch(req)
            tasks.extend(Task(self, s["id"], job) for s in part)
        return tasks

    def _submit_batch(self, req):
        """Sends one submit; when the connection drops before the reply,
        redials and sends it again: the batch is all or nothing and its ids
        are ours, so a batch the master had already stored is refused with
        "task 1: a task with id 'FIRST' already exists", which means it is in."""
        first = req["tasks"][0]["id"]
        resent = False
        drops = 0
        with self._lock:
            while True:
                if self._conn is None:
                    self.connect()
                    if resent or "job" in req:
                        req.pop("job", None)
                        req.pop("job_name", None)
                c, gen = self._conn, self._gen
                try:
                    c.send(wire.enc(req))
                    rep = self._reply(c, req)
                except ConnectionError:
                    self.close()
                    drops += 1
                    if drops >= 5:
                        raise
                    resent = True
                    continue
                if isinstance(rep, RefusedError):
                    if "the master is stopping" in str(rep):
                        self.close()
                        time.sleep(0.2)
                        resent = True
                        continue
                    if resent:
                        # "task 1: a task with id 'FIRST' already exists" (or the
                        # job name taken): did the first send get in?
                        try:
                            return self.get(first).record.get("job"), None
                        except RefusedError:
                            pass
                    raise rep
                if isinstance(rep, Exception):
                    raise rep
                return rep.get("job"), gen

    def array(self, indices, argv=None, cmd=None, id=None, env=None, throttle=None,
              job_name=None, **kw):
        """One task per index (an iterable of ints, e.g. range(1, 101)), as
        `dtr submit --array`: "{}" in argv, cmd and env values becomes the
        index; with id=ID the tasks are ID-INDEX. throttle: at most that
        many run at once. Returns the Tasks in index order."""
        idx = sorted(set(int(i) for i in indices))
        if any(not 0 <= i <= 2147483647 for i in idx):
            raise ValueError("array indices run from 0 to 2147483647")
        specs = []
        for i in idx:
            s = dict(kw)
            k = str(i)
            if argv is not None:
                s["argv"] = [a.replace("{}", k) for a in ([argv] if isinstance(argv, str)
                                                          else argv)]
            if cmd is not None:
                s["cmd"] = cmd.replace("{}", k)
            if env is not None:
                s["env"] = {n: v.replace("{}", k) for n, v in env.items()}
            if id is not None:
                s["id"] = "%s-%d" % (id, i)
            specs.append(s)
        return self.submit_many(specs, job_name=job_name, throttle=throttle)

    # ---- states --------------------------------------------------------------------
    def _refresh(self, tasks):
        """Brings the states of unfinished tasks up to date: per job, the
        lists of its unfinished tasks (cheap, in flow order so that a task
        moving on is still seen), then a `get` for each task gone from them
        (or, when many are, the lists of the ended states)."""
        todo = [t for t in tasks if t._state not in ENDED]
        if not todo:
            return
        byjob = {}
        for t in todo:
            byjob.setdefault(t.job, []).append(t)
        reqs = []
        for job in byjob:
            if job is not None:
                reqs += [{"type": "list", "job": job, "state": s} for s in STATES[:3]]
        reps = self._exchange(reqs) if reqs else []
        live = {}
        gone = []
        k = 0
        for job, ts in byjob.items():
            if job is None:
                gone += ts
                continue
            part = reps[k:k + 3]
            k += 3
            if any(isinstance(p, Exception) for p in part):
                gone += ts  # an unknown job (pruned): ask each task
                continue
            for recs in part:
                for rec in recs:
                    live[rec["id"]] = rec["state"]
            for t in ts:
                if t.id in live:
                    t._state = live[t.id]
                else:
                    gone.append(t)
        if not gone:
            return
        if len(gone) <= 512:
            reps = self._exchange([{"type": "get", "id": t.id} for t in gone])
            for t, rep in zip(gone, reps):
                if isinstance(rep, Exception):
                    raise rep
                rec = rep.get("task", rep)
                t._state = rec.get("state")
                t.job = t.job or rec.get("job")
                if t._state in ENDED:
                    t._rec = rec
            return
        jobs = {t.job for t in gone}
        reqs = [{"type": "list", "job": j, "state": s} for j in jobs for s in ENDED]
        ended = {}
        for recs in self._exchange(reqs):
            if isinstance(recs, list):
                for rec in recs:
                    ended[rec["id"]] = rec["state"]
        for t in gone:
            if t.id in ended:
                t._state = ended[t.id]


    def _await(self, tasks, deadline, return_when):
        """Blocks until the master reports that something asked for by
        return_when happened to these tasks (at most 100000), or the
        deadline. On a connection of its own; redials when it drops."""
        req = {"type": "wait", "ids": [t.id for t in tasks]}
        gone_since = None
        while True:
            c = None
            try:
                c = self._dial()
                c.send(wire.enc(req))
                while True:
                    left = 3600.0 if deadline is None else deadline - time.monotonic()
                    if left <= 0:
                        return
                    try:
                        m = c.msg(min(left, 3600.0))
                    except ConnectionError:
                        if deadline is not None and time.monotonic() >= deadline:
                            return
                        raise
                    if m.get("type") == "error":
                        return  # an unknown (pruned) task: the caller asks each
                    if m.get("type") != "progress":
                        continue
                    if (m.get("final") or return_when == FIRST_COMPLETED and m.get("done") or
                            return_when == FIRST_EXCEPTION and m.get("failed")):
                        return
                    gone_since = None
            except ConnectionError:
                now = time.monotonic()
                gone_since = gone_since or now
                if now - gone_since > self.reconnect_timeout:
                    raise
                time.sleep(0.1)
            finally:
                if c is not None:
                    c.close()


FIRST_COMPLETED = "FIRST_COMPLETED"
FIRST_EXCEPTION = "FIRST_EXCEPTION"
ALL_COMPLETED = "ALL_COMPLETED"


def _by_client(tasks):
    groups = {}
    for t in tasks:
        groups.setdefault(id(t.client), (t.client, []))[1].append(t)
    return groups.values()


def wait(tasks, timeout=None, return_when=ALL_COMPLETED):
    """Like concurrent.futures.wait, for Tasks: returns (done, not_done),
    two sets. return_when: FIRST_COMPLETED, FIRST_EXCEPTION (a task that
    failed or was cancelled) or ALL_COMPLETED. The master reports progress
    (its `wait` request, on a connection of its own for the call), so
    nothing is polled while nothing ends."""
    if return_when not in (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED):
        raise ValueError("return_when must be FIRST_COMPLETED, FIRST_EXCEPTION or ALL_COMPLETED")
    tasks = list(tasks)
    deadline = None if timeout is None else time.monotonic() + timeout

    def finished():
        done = {t for t in tasks if t._state in ENDED}
        return done, (len(done) == len(tasks) or
                      return_when == FIRST_COMPLETED and bool(done) or
                      return_when == FIRST_EXCEPTION and
                      any(t._state != "succeeded" for t in done))

    for client, ts in _by_client(tasks):
        client._refresh(ts)
    done, ok = finished()
    while not ok:
        if deadline is not None and time.monotonic() >= deadline:
            break
        for client, ts in _by_client(tasks):
            pending = [t for t in ts if t._state not in ENDED]
            for i in range(0, len(pending), 100000):
                part = pending[i:i + 100000]
                client._await(part, deadline, return_when)
                client._refresh(part)
                done, ok = finished()
                if ok or deadline is not None and time.monotonic() >= deadline:
                    break
            if ok:
                break
        done, ok = finished()
    return done, set(tasks) - done


def as_completed(tasks, timeout=None):
    """Yields the Tasks as they end (like concurrent.futures.as_completed);
    raises TimeoutError when `timeout` seconds pass first."""
    pending = set(tasks)
    deadline = None if timeout is None else time.monotonic() + timeout
    while pending:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError("%d of the tasks did not end in time" % len(pending))
        done, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
        yield from done
