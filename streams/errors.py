"""Which Redis errors mean "wait and retry", and one log line per outage instead of one per retry.

A server that is unreachable, restarting (``LOADING``), out of disk (``MISCONF``: it cannot write its
append-only file), out of memory (``OOM``), a read-only replica (``READONLY``), busy with a script
(``BUSY``) or waiting for replicas (``NOREPLICAS``, ``TRYAGAIN``, ``CLUSTERDOWN``, ``MASTERDOWN``)
will answer again by itself: every service waits and retries. Anything else (``WRONGTYPE``,
``NOPERM``, a wrong password, a syntax error) is a bug or a setup mistake and must stay loud.
"""

from __future__ import annotations

import logging
import time

import redis
from redis import exceptions as rx

#: First word of a server error reply that says "not now, later".
TRANSIENT_CODES = frozenset(
    {
        "MISCONF",
        "OOM",
        "READONLY",
        "LOADING",
        "BUSY",
        "NOREPLICAS",
        "NOTREADY",
        "TRYAGAIN",
        "CLUSTERDOWN",
        "MASTERDOWN",
    }
)
_TRANSIENT_CLASSES = (
    rx.BusyLoadingError,
    rx.ReadOnlyError,
    rx.OutOfMemoryError,
    rx.TryAgainError,
    rx.ClusterDownError,
    rx.MasterDownError,
)


def error_code(exc: BaseException) -> str:
    """The server's error code (``MISCONF``, ``WRONGTYPE``...) or the exception's class name."""
    code = getattr(exc, "status_code", None)  # redis-py strips the codes it knows into status_code
    if code:
        return str(code)
    text = str(exc)
    _, sep, reply = text.partition(" of pipeline caused error: ")  # redis-py's note on a pipeline's error
    words = (reply if sep else text).split(" ", 1)
    return words[0] if words[0].isupper() and words[0].isalpha() else type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    """True for a Redis error that goes away by itself: retry; False for one that needs a person."""
    if isinstance(exc, rx.AuthenticationError | rx.NoPermissionError):
        return False  # a wrong password or a missing ACL right does not heal by waiting
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, *_TRANSIENT_CLASSES)):
        return True
    if isinstance(exc, redis.ResponseError):
        return error_code(exc) in TRANSIENT_CODES
    return False


class Outage:
    """Logs the start of a wait-and-retry episode once and its end once: ``failed(exc)`` on each
    transient error, ``ok()`` after each success."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.log, self.what = logger, what
        self.since: float | None = None
        self.code: str | None = None
        self.retries = 0

    @property
    def active(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> None:
        code = error_code(exc)
        self.retries += 1
        if self.since is None or code != self.code:
            self.since = self.since or time.monotonic()
            self.code = code
            self.log.warning(
                "%s: Redis cannot take it now (%s: %s); waiting and retrying until it can "
                "(logged once per outage)",
                self.what,
                code,
                exc,
            )

    def ok(self) -> None:
        if self.since is not None:
            self.log.warning(
                "%s: Redis answers again after %.1f s (%d retries)",
                self.what,
                time.monotonic() - self.since,
                self.retries,
            )
            self.since, self.code, self.retries = None, None, 0
