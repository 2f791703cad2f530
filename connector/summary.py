"""What one tick did, for the CLI line, the logs, the daemon's STATUS= and metrics.

A tick's problems are data (``TickError``), not strings: the logs, the metrics' service and
status labels, ``status`` and /healthz read their fields instead of parsing messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

from connector.errors import RetryableError

# Which part of a tick a problem came from.
Step = Literal[
    "reconcile", "rows", "keys", "phone_history", "submit", "launch", "control", "poll",
    "write_back", "call_log", "tick",
]  # fmt: skip


@dataclass(frozen=True)
class TickError:
    """One problem of a tick: where, with which service, what the service said, and whether
    the next tick is expected to get past it on its own."""

    step: Step
    service: str  # "revox", a source type ("csv", "salesforce", ...), or "state"
    message: str
    status: int | None = None  # the HTTP status, when a service answered one
    retryable: bool = True

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TickError:
        """Back from the state's last_tick; an older state kept plain strings."""
        if isinstance(data, dict):
            status = data.get("status")
            return cls(
                cast(Step, str(data.get("step", "tick"))),
                str(data.get("service", "unknown")),
                str(data.get("message", "")),
                status if isinstance(status, int) else None,
                bool(data.get("retryable", True)),
            )
        return cls("tick", "unknown", str(data))


@dataclass
class TickSummary:
    team: str
    read: int = 0
    filtered: int = 0
    new: int = 0
    rejected: int = 0
    submitted: int = 0
    campaigns_created: int = 0
    results_written: int = 0
    keys_assigned: int = 0
    open_campaigns: int = 0
    outbox: int = 0
    parked: int = 0  # outbox rows the source refused for good (not sent again)
    errors: list[TickError] = field(default_factory=list)

    def fail(
        self,
        step: Step,
        service: str,
        message: str,
        exc: BaseException | None = None,
        *,
        retryable: bool | None = None,
    ) -> None:
        """Record a problem; status and retryable come from the exception when there is one."""
        status = getattr(exc, "status", None)
        again = isinstance(exc, RetryableError) if retryable is None and exc else retryable
        self.errors.append(
            TickError(
                step,
                service,
                message,
                status if isinstance(status, int) and status else None,
                True if again is None else again,
            )
        )

    @property
    def messages(self) -> list[str]:
        return [e.message for e in self.errors]

    def line(self) -> str:
        text = (
            f"{self.team}: read {self.read}, new {self.new}, rejected {self.rejected}, "
            f"submitted {self.submitted}, campaigns created {self.campaigns_created}, "
            f"results written {self.results_written}, open campaigns {self.open_campaigns}, "
            f"outbox {self.outbox}"
        )
        text += f", parked {self.parked}" if self.parked else ""
        return text + (f", errors {len(self.errors)}" if self.errors else "")


def tick_result(summary: TickSummary | None, errors: Sequence[TickError]) -> str:
    """What logs and metrics call a tick: ok, errors (it ran, with some), failed (it raised)."""
    return "ok" if not errors else "errors" if summary is not None else "failed"
