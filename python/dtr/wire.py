# SPDX-License-Identifier: MIT
"""dtr's wire protocol: framing, the hello and the token proof
(docs/protocol.md sections 1 and 3; src/common/auth.c is the reference).
Standard library only. tests/integration/dtrwire.py imports this module, so
there is one Python implementation of the handshake."""
import hashlib
import hmac
import json
import os

PROTO = 4
VERSION = "0.1.0"
NO_CHANNEL = b"\0" * 32  # the channel binding without TLS
# The binding a client without the TLS exporter declares in its hello: the
# proofs cover SHA-256 of the master's certificate (docs/protocol.md section 3).
END_POINT = "tls-server-end-point"
TOKEN_MAX = 4096


def enc(obj):
    """One message as a line: compact JSON and a newline."""
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def clean_token(text):
    """The token rule: trailing spaces, tabs, CRs and LFs removed; 1 to
    4096 bytes without NUL. Returns the token or raises ValueError."""
    tok = text.rstrip(" \t\r\n")
    raw = tok.encode()
    if not raw or len(raw) > TOKEN_MAX or "\0" in tok:
        raise ValueError("the token is empty, too long (over %d bytes) or binary" % TOKEN_MAX)
    return tok


def load_token(path, check_mode=False):
    """The token in a file. With check_mode, a regular file others may use
    is refused as dtr itself refuses it (ssh-style)."""
    with open(path, "rb") as f:
        if check_mode:
            st = os.fstat(f.fileno())
            import stat
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
                what = ("readable" if st.st_mode & 0o044 else
                        "writable" if st.st_mode & 0o022 else "usable")
                raise PermissionError("token file '%s' is %s by others (mode %04o); run chmod 600 '%s'"
                                      % (path, what, st.st_mode & 0o7777, path))
        data = f.read(TOKEN_MAX + 64)
    if not check_mode:
        return data.decode().rstrip(" \t\r\n")
    try:
        return clean_token(data.decode())
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the token in '%s' is empty, too long (over %d bytes) or binary"
                         % (path, TOKEN_MAX))


def proof(token, side, dialer_line, acceptor_line, channel=NO_CHANNEL):
    """HMAC-SHA-256 over the two hello lines as sent (bytes, no newline)."""
    key = hashlib.sha256(token.encode()).digest()
    text = (b"dtr-auth-2\0" + side.encode() + b"\0" + hashlib.sha256(dialer_line).digest() +
            hashlib.sha256(acceptor_line).digest() + channel)
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def proof_ok(token, side, dialer_line, acceptor_line, got, channel=NO_CHANNEL):
    """Whether a received proof verifies (compared in constant time)."""
    if not isinstance(got, str) or len(got) != 64:
        return False
    want = proof(token, side, dialer_line, acceptor_line, channel)
    return hmac.compare_digest(want.encode(), got.encode())


def nonce():
    return os.urandom(32).hex()


def hello(role, ident, token=None, **extra):
    h = {"type": "hello", "proto": PROTO, "version": VERSION, "role": role, "id": ident,
         "nonce": nonce()}
    if token:
        h["auth"] = True
    h.update(extra)
    return h
