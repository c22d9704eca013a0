# SPDX-License-Identifier: MIT
"""dtr: a Python client for the dtr distributed task runner, speaking its
native protocol (docs/protocol.md), and dtr.Executor, a
concurrent.futures.Executor running Python callables on dtr workers.
Standard library only; Python 3.9+. See python/README.md.

The names load on first use, so that `python3 -m dtr.run` on a worker
starts without importing the client (ssl, socket, threading)."""
import importlib

__version__ = "0.1.0"
_WHERE = {
    "Client": "client", "Task": "client", "Result": "client", "wait": "client",
    "as_completed": "client", "discover": "client", "make_spec": "client",
    "FIRST_COMPLETED": "client", "FIRST_EXCEPTION": "client", "ALL_COMPLETED": "client",
    "Error": "errors", "RefusedError": "errors", "AuthError": "errors",
    "ConnectionError": "errors", "TLSError": "errors", "TaskFailed": "errors",
    "RemoteError": "errors", "Executor": "executor",
}
__all__ = list(_WHERE)


def __getattr__(name):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError("module 'dtr' has no attribute %r" % name)
    value = getattr(importlib.import_module("." + mod, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
