"""The one error tree of revox-sync.

Families say what the engine does next, not which HTTP status was seen:

    ConnectorError                 root; carries a one-line, secret-free message
    +-- ConfigError                a mapping or setting is wrong: stop the team, exit 2
    +-- AuthError                  credentials refused: stop the team until config changes, exit 3
    +-- RetryableError             the tick ends; the next tick tries again (outbox kept)
    |   +-- TransientError         429/5xx/timeouts on a request that is safe to repeat
    |   +-- AmbiguousError         a POST may have been applied: reconcile before re-sending
    +-- RejectedError              the request is wrong (4xx): fatal for that batch, shown per row
    +-- NotFoundError              the remote object is gone (404)

Foreign errors (httpx, gspread, simple-salesforce, OSError) are mapped at the
boundary with ``raise ... from``.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Root of every error revox-sync raises on purpose."""

    exit_code = 1
    status: int | None = None  # the HTTP status a service answered, when there was one


class ConfigError(ConnectorError):
    """A mapping file, a setting or the shape of a source is wrong."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class AuthError(ConnectorError):
    """Credentials were refused; retrying will not help until the config changes."""

    exit_code = 3


class RetryableError(ConnectorError):
    """The tick should stop here and try again later; nothing is lost."""


class TransientError(RetryableError):
    """A request failed in a way that is safe to repeat (429, 5xx, timeout on a read)."""

    def __init__(
        self, message: str, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class AmbiguousError(RetryableError):
    """A non-idempotent request may or may not have been applied."""


class RejectedError(ConnectorError):
    """The remote side refused the request as invalid (409/422/400)."""

    def __init__(self, message: str, status: int = 0, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class NotFoundError(ConnectorError):
    """The remote object does not exist (any more)."""


class StateError(ConnectorError):
    """The state file could not be read or written (locked, disk full, damaged).

    The open protocol step was rolled back, so nothing of it is half-applied; the tick
    stops and the next one starts from the last commit. Deliberately not a
    RetryableError: the per-request handlers that catch those in the middle of a tick
    (a poll, a write-back) must not swallow it and carry on with the step.
    """


class TeamBusy(ConnectorError):
    """Another process holds the team's lock (connector/lock.py): nothing was touched."""

    exit_code = 4
