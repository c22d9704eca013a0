# SPDX-License-Identifier: MIT
"""The exceptions of the dtr package."""
import builtins


class Error(Exception):
    """Base of every error this package raises (besides ValueError and
    TypeError for bad arguments, raised before anything is sent)."""


class RefusedError(Error):
    """The master refused a request; the message is the master's."""


class AuthError(Error):
    """The handshake failed: a missing or different token, or a master
    that did not prove it knows ours."""


class ConnectionError(Error, builtins.ConnectionError):
    """The master cannot be reached (after retrying for reconnect_timeout
    seconds), or the connection broke in a way that cannot be retried."""


class TLSError(Error):
    """TLS cannot be used as asked."""


class TaskFailed(Error):
    """A task ended failed or cancelled. Carries what it left: .task_id,
    .state, .exit_code, .error (the master's reason), .stdout and .stderr
    (bytes)."""

    def __init__(self, task_id, state, exit_code, error, stdout, stderr):
        super().__init__("task '%s' %s: %s" % (task_id, state, error or "exit code %s" % exit_code))
        self.task_id = task_id
        self.state = state
        self.exit_code = exit_code
        self.error = error
        self.stdout = stdout
        self.stderr = stderr


class RemoteError(Error):
    """An exception raised by a callable on a worker that could not be
    brought back as itself (it does not unpickle here); .traceback holds the
    remote traceback text."""

    def __init__(self, text, traceback=""):
        super().__init__(text)
        self.traceback = traceback
