"""The mapping's row-control options (issue 14): the control column, callbacks, dedupe.

Pure models and time arithmetic, no I/O. ``control`` names a column whose values stop a
call or re-arm a row; ``callbacks`` re-queues a ``requested_callback_later`` row; and
``contacts.dedupe`` bounds how long a number submitted once stays a duplicate.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

_SPAN = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
Day = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
DAYS: list[Day] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def span(text: str) -> timedelta:
    """'30s', '5m', '2h', '30d' -> a timedelta (ValueError otherwise)."""
    m = _SPAN.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a duration (write 30m, 2h or 30d)")
    return timedelta(seconds=int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)])


def norm_value(text: str) -> str:
    """How control cells are compared: case, spaces and curly apostrophes do not matter."""
    return " ".join(text.replace("\u2019", "'").casefold().split())


def check_zone(v: str) -> str:
    """An IANA time zone name, or a ValueError saying what to write (every `timezone:`)."""
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{v!r} is not an IANA time zone (write e.g. Europe/Paris)") from exc
    return v


IanaZone = Annotated[str, AfterValidator(check_zone)]  # every `timezone:` of a mapping


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Control(_Strict):
    """A column the sales rep edits to steer the row's calls."""

    column: str = Field(description="Header (or field) of the control column, e.g. Action")
    stop: list[str] = Field(
        default_factory=lambda: ["stop", "cancel", "don't call"],
        description="Values that stop the row: its call is cancelled, or it is never submitted",
    )
    call_again: list[str] = Field(
        default_factory=lambda: ["call again"],
        description="Values that re-arm a row already called (do-not-call and dedupe still "
        "apply); the cell is then rewritten to 'called again <date>'",
    )
    by_column: str | None = Field(
        None, description="A column naming who marked the row (written with the cancellation)"
    )

    def says(self, cell: str) -> Literal["stop", "again"] | None:
        v = norm_value(cell)
        if not v:
            return None
        if v in {norm_value(x) for x in self.stop}:
            return "stop"
        if v in {norm_value(x) for x in self.call_again}:
            return "again"
        return None


class Window(_Strict):
    """When callbacks may be placed: days and hours in a time zone."""

    days: list[Day] = Field(default_factory=lambda: list(DAYS[:5]))
    start: str = Field("09:00", description="'09:00' (24-hour)")
    end: str = Field("18:00", description="'18:00' (24-hour), after start")
    timezone: IanaZone = "UTC"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"{v!r} is not a time (write '09:00')")
        return v

    @model_validator(mode="after")
    def _order(self) -> Window:
        if _clock(self.start) >= _clock(self.end):
            raise ValueError(f"start {self.start} must be before end {self.end}")
        if not self.days:
            raise ValueError("give at least one day")
        return self

    def contains(self, when: datetime) -> bool:
        local = when.astimezone(ZoneInfo(self.timezone))
        day = DAYS[local.weekday()]
        return day in self.days and _clock(self.start) <= local.time() < _clock(self.end)

    def next_open(self, when: datetime) -> datetime:
        """``when`` if inside the window, else the window's next opening (same time zone)."""
        if self.contains(when):
            return when
        tz = ZoneInfo(self.timezone)
        local = when.astimezone(tz)
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            opening = datetime.combine(day, _clock(self.start), tz)
            if DAYS[day.weekday()] in self.days and opening >= local:
                return opening.astimezone(when.tzinfo)
        raise AssertionError("a window with a day opens within a week")


def _clock(text: str) -> time:
    h, m = text.split(":")
    return time(int(h), int(m))


class Callbacks(_Strict):
    """Re-queue a row whose callee asked to be called back later (off unless given)."""

    after: str = Field("2h", description="Delay after the call: 30m, 2h, 1d")
    max: int = Field(2, ge=1, le=10, description="Callbacks per row, at most")
    window: Window | None = Field(None, description="Only place callbacks inside this window")
    at_field: str | None = Field(
        None,
        description="A structured-output field holding the time the callee asked for "
        "(ISO 8601); used instead of 'after' when it holds a valid future time",
    )

    @field_validator("after")
    @classmethod
    def _after(cls, v: str) -> str:
        span(v)
        return v

    def due(self, ended: datetime, asked: str | None) -> datetime:
        """When the callback goes out: the asked time if valid, else ended + after; then the
        window's next opening."""
        when = ended + span(self.after)
        if asked:
            try:
                wanted = datetime.fromisoformat(asked)
            except ValueError:
                wanted = None
            if wanted is not None and wanted.tzinfo is not None and wanted > ended:
                when = wanted
        return self.window.next_open(when) if self.window else when


class Dedupe(_Strict):
    """How long a number submitted once is a duplicate (default: forever)."""

    within: str = Field(description="30d: a number last submitted longer ago is called again")

    @field_validator("within")
    @classmethod
    def _within(cls, v: str) -> str:
        span(v)
        return v

    @property
    def window(self) -> timedelta:
        return span(self.within)
