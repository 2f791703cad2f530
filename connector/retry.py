"""The one retry loop of revox-sync: bounded attempts, capped exponential backoff with
jitter, and the server's own Retry-After (seconds, an HTTP date, or milliseconds).

Every client (Revox, Google Sheets, Salesforce) wraps one request in an ``attempt`` that
raises ``TransientError`` for what is safe to send again (429, 5xx on a read, a timeout
before anything was applied) and any other error for what is not. What is safe to repeat
is the client's business; how long to wait and how often is this module's.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from connector.errors import TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long: ``retries`` more attempts after the first one."""

    retries: int = 4
    base: float = 0.5  # the first wait's ceiling, doubled each attempt
    cap: float = 30.0  # no computed wait is longer
    retry_after_cap: float = 60.0  # a server asking for longer is heard up to this
    jitter: bool = True  # False: always the lower half of the ceiling (1, 2, 4 s for base 2)
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before retry ``attempt + 1``: full-range jitter in the upper half of
        the ceiling (so a crowd of clients spreads out), never less than Retry-After."""
        ceiling = min(self.cap, self.base * 2.0**attempt)
        wait = ceiling / 2 + (self.rng.uniform(0, ceiling / 2) if self.jitter else 0.0)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_after_cap))
        return wait

    def run(
        self,
        attempt: Callable[[], T],
        *,
        sleep: Callable[[float], None],
        what: str = "",
        give_up: Callable[[TransientError, int], TransientError] | None = None,
    ) -> T:
        """Call ``attempt`` until it returns, raises a non-transient error, or the retries
        are spent (then the last TransientError, through ``give_up`` if given)."""
        tries = 0
        while True:
            try:
                return attempt()
            except TransientError as exc:
                if tries >= self.retries:
                    if give_up is None:
                        raise
                    raise give_up(exc, tries + 1) from exc
                wait = self.delay(tries, exc.retry_after)
                # info, not a warning: a retry that works is routine; giving up raises
                said = f"{what}: {exc}" if what else str(exc)
                log.info("%s; retry %d/%d in %.1f s", said, tries + 1, self.retries, wait)
                sleep(wait)
                tries += 1


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, or ``Retry-After`` as
    seconds or an HTTP date; None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
