"""The Revox answers the connector reads, as lenient pydantic models.

Unknown fields are ignored and timestamps parsed leniently (the reference types them
``object``): the official client's own models are the strict reference, and the contract
tests hold the sandbox to them. Request bodies are built in ``generations.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Generation = Literal["seed", "current"]
GENERATIONS: tuple[Generation, ...] = ("seed", "current")
FINAL_CALL_STATUSES = frozenset({"completed", "cancelled", "errored"})


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _whole(v: Any) -> Any:
    """The current client types counts and indexes as float: 2.0 is 2."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _timestamp(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


class RowStats(_Lenient):
    total: int = 0
    pending: int = 0
    calling: int = 0
    retry: int = 0
    completed: int = 0
    failed: int = 0
    not_launched: int | None = None  # current generation only
    skipped: int | None = None


class Campaign(_Lenient):
    id: str
    name: str = ""
    status: str = ""
    is_cancelled: bool = False
    created_at: str | None = None
    updated_at: str | None = None
    row_stats: RowStats = Field(default_factory=RowStats)

    _ts = field_validator("created_at", "updated_at", mode="before")(_timestamp)

    def generation_hint(self) -> Generation | None:
        """What a create answer says of the server: only the current one counts not_launched."""
        if self.row_stats.not_launched is not None:
            return "current"
        return None


class CallAttempt(_Lenient):
    status: str | None = None
    result: str | None = None
    dial_error: str | None = None
    started_at: str | None = None
    answered_at: str | None = None
    ended_at: str | None = None
    end_reason: str | None = None
    recording_url: str | None = None
    structured_output: dict[str, Any] | None = None

    _ts = field_validator("started_at", "answered_at", "ended_at", mode="before")(_timestamp)


class Call(_Lenient):
    id: str
    status: str
    calls_count: int = 0
    outcome: str | None = None
    outcome_summary: str | None = None
    last_call_attempt: CallAttempt | None = None

    _count = field_validator("calls_count", mode="before")(_whole)

    @property
    def final(self) -> bool:
        return self.status in FINAL_CALL_STATUSES


class CampaignRow(_Lenient):
    id: str = ""
    row_index: int
    phone_number: str = ""
    call: Call | None = None

    _index = field_validator("row_index", mode="before")(_whole)


class PhoneHistoryEntry(_Lenient):
    """What the account knows of one number (current generation)."""

    do_not_contact: bool = False
    count: float = 0
    last_outcome: str | None = None
    last_called_at: str | None = None
    campaigns: list[dict[str, Any]] = Field(default_factory=list)

    _ts = field_validator("last_called_at", mode="before")(_timestamp)


class AuthStatus(_Lenient):
    authenticated: bool


class LaunchResult(_Lenient):
    launched: float = 0
