# SPDX-License-Identifier: MIT
"""dtr's wire protocol, the handshake included, for the integration tests'
hand-made peers (attackers, fake masters, probes). Standard library only.
The rules are docs/protocol.md's; src/common/auth.c is the reference."""
import json
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
# One implementation of the handshake: the Python client package's.
from dtr.wire import NO_CHANNEL, PROTO, enc, load_token, nonce, proof  # noqa: E402,F401


class Bad(Exception):
    pass


class Peer:
    """One TCP connection, line by line."""

    def __init__(self, addr=None, sock=None, timeout=10):
        if sock is None:
            host, port = addr.rsplit(":", 1)
            sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        self.s = sock
        self.local = "%s:%d" % self.s.getsockname()[:2]
        self.buf, self.how = b"", None
        self.sent = bytearray()  # every byte sent, for recordings

    def send(self, data):
        if not isinstance(data, bytes):
            data = enc(data)
        self.s.sendall(data)
        self.sent += data
        return data

    def raw_line(self, timeout=5.0):
        """The next line as bytes without its newline, or None (end of
        stream or timeout)."""
        end = time.time() + timeout
        while b"\n" not in self.buf and self.how is None:
            left = end - time.time()
            if left <= 0 or not select.select([self.s], [], [], left)[0]:
                return None
            try:
                chunk = self.s.recv(1 << 16)
            except (ConnectionResetError, OSError):
                chunk, self.how = b"", "reset"
            if not chunk:
                self.how = self.how or "eof"
            self.buf += chunk
        if b"\n" in self.buf:
            l, self.buf = self.buf.split(b"\n", 1)
            return l
        return None

    def line(self, timeout=5.0):
        l = self.raw_line(timeout)
        return None if l is None else l.decode("utf-8", "replace")

    def msg(self, timeout=5.0):
        l = self.line(timeout)
        if l is None:
            return None
        try:
            return json.loads(l)
        except ValueError:
            return {"unparsable": l[:200]}

    def rest(self, timeout=8.0, skip=()):
        """Every message until the stream ends (or the deadline)."""
        out, end = [], time.time() + timeout
        while True:
            m = self.msg(max(0.0, end - time.time()))
            if m is None:
                break
            if m.get("type") not in skip:
                out.append(m)
        return out, (self.how or "open after %.0fs" % timeout)

    def close(self):
        self.s.close()


def hello(role, ident, token=None, **extra):
    h = {"type": "hello", "proto": PROTO, "version": "0.1.0", "role": role, "id": ident,
         "nonce": nonce()}
    if token:
        h["auth"] = True
    h.update(extra)
    return h


def dial(p, role, ident, token=None, **extra):
    """The dialer's side: sends our hello, checks the acceptor's (and its
    proof when we have a token), proves ours. Returns the acceptor's hello."""
    mine = p.send(hello(role, ident, token, **extra))[:-1]
    theirs = p.raw_line()
    if theirs is None:
        raise Bad("no hello from the acceptor (%s)" % p.how)
    r = json.loads(theirs)
    if r.get("type") != "hello":
        raise Bad("no hello from the acceptor: %r" % (r,))
    if not token:
        return r
    a = p.msg()
    if not a or a.get("type") != "auth":
        raise Bad("no auth from the acceptor: %r" % (a,))
    if a.get("proof") != proof(token, "acceptor", mine, theirs):
        raise Bad("the acceptor's proof does not verify: %r" % (a,))
    p.send({"type": "auth", "proof": proof(token, "dialer", mine, theirs)})
    return r


def accept(p, role, ident, token=None, **extra):
    """The acceptor's side, for a peer that dialed us: reads its hello,
    answers ours (and our proof), checks its proof. Returns its hello."""
    theirs = p.raw_line(10)
    if theirs is None:
        raise Bad("no hello from the dialer (%s)" % p.how)
    r = json.loads(theirs)
    if r.get("type") != "hello":
        raise Bad("no hello from the dialer: %r" % (r,))
    mine = p.send(hello(role, ident, token, **extra))[:-1]
    if not token:
        return r
    p.send({"type": "auth", "proof": proof(token, "acceptor", theirs, mine)})
    a = p.msg()
    if not a or a.get("type") != "auth" or a.get("proof") != proof(token, "dialer", theirs, mine):
        raise Bad("the dialer's proof does not verify: %r" % (a,))
    return r
