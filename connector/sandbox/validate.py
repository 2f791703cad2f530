"""Request validation for the Revox sandbox, one contract per API generation.

Each generation refuses what it does not declare: an unknown field is an error, as
is a missing required one, so a client that sends the other generation's body (or
an older client's ``type: "regular"``) fails here exactly as it would on Revox.
Every problem is an ``Issue`` (dotted path, message), so a 422 answer names each
field; the seed page and the official ``revox`` 0.5.0 types are the sources.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from connector.revox_models import GENERATIONS, Generation

Issue = tuple[str, str]  # (path, message)
Check = Callable[[object, str, list[Issue]], None]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_TIME_24H = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")
_TIME_12H = re.compile(r"^(1[0-2]|0?[1-9])(:[0-5]\d)?\s?[ap]m$", re.IGNORECASE)
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MAX_INT = 9007199254740991
LAUNCH_STATUSES = (
    "initializing", "queued_for_calling", "calling", "post_processing", "not_launched",
    "scheduled", "paused", "completed", "cancelled", "errored",
)  # fmt: skip
LAUNCH_OUTCOMES = ("not_interested", "interested", "completed", "requested_callback_later", "none")
LAUNCH_RESULTS = ("IVR", "voicemail", "human", "unknown", "ios-screening-filter", "none")


class ValidationFailed(Exception):
    """A request broke the contract; ``issues`` names every field, in body order."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in issues))
        self.issues = issues


def parse_iso(text: str) -> datetime | None:
    """An ISO 8601 date-time (``Z`` accepted, naive read as UTC), or None."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_uuid(value: object) -> bool:
    """Whether ``value`` is a string holding a UUID (any version)."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- combinators: each returns a Check that appends issues under a path ---------------------


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def obj(spec: Mapping[str, tuple[bool, Check]]) -> Check:
    """A JSON object with exactly the keys of ``spec`` (key -> (required, check))."""

    def check(value: object, path: str, issues: list[Issue]) -> None:
        if not isinstance(value, dict):
            issues.append((path or "body", "expected a JSON object"))
            return
        for key, (required, sub) in spec.items():
            if key in value:
                sub(value[key], _join(path, key), issues)
            elif required:
                issues.append((_join(path, key), "required"))
        issues.extend((_join(path, k), "unknown field") for k in value if k not in spec)

    return check


def nullable(inner: Check) -> Check:
    """``inner``, or JSON null."""

    def check(value: object, path: str, issues: list[Issue]) -> None:
        if value is not None:
            inner(value, path, issues)

    return check


def pred(test: Callable[[object], bool], message: str) -> Check:
    """A leaf check: ``message`` when ``test`` is false."""

    def check(value: object, path: str, issues: list[Issue]) -> None:
        if not test(value):
            issues.append((path, message))

    return check


def array(item: Check, *, non_empty: bool = False) -> Check:
    """A JSON list whose every entry passes ``item``."""

    def check(value: object, path: str, issues: list[Issue]) -> None:
        if not isinstance(value, list):
            issues.append((path, "expected a list"))
        elif non_empty and not value:
            issues.append((path, "must not be empty"))
        else:
            for i, entry in enumerate(value):
                item(entry, _join(path, i), issues)

    return check


def one_of(values: tuple[str, ...]) -> Check:
    """One of a fixed set of strings (a Literal in the official types)."""
    return pred(lambda v: v in values, "expected one of " + ", ".join(map(repr, values)))


def integer(above: int) -> Check:
    """A JSON integer (not a boolean) strictly above ``above`` and at most 2**53-1."""
    return pred(
        lambda v: isinstance(v, int) and not isinstance(v, bool) and above < v <= _MAX_INT,
        f"expected an integer > {above}",
    )


_string = pred(lambda v: isinstance(v, str), "expected a string")
_bool = pred(lambda v: isinstance(v, bool), "expected a boolean")
_iso = pred(lambda v: isinstance(v, str) and parse_iso(v) is not None, "expected ISO 8601")
_e164 = pred(lambda v: isinstance(v, str) and bool(_E164.match(v)), "expected E.164 (+14155550123)")
_time = pred(
    lambda v: isinstance(v, str) and bool(_TIME_24H.match(v) or _TIME_12H.match(v)),
    "expected a time like '09:00' or '6pm'",
)
_str_map = pred(
    lambda v: isinstance(v, dict) and all(isinstance(x, str) for p in v.items() for x in p),
    "expected an object of string to string",
)
_non_empty = pred(lambda v: isinstance(v, str) and v != "", "expected a non-empty string")
_concurrency = pred(
    lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v >= 1,
    "expected a number >= 1",
)


def _retry_config(min_delay: int) -> Check:
    """call_retry_config: the retry delay lives in each calling window, never top-level."""
    return obj({
        "allowed_days": (True, array(one_of(DAYS))),
        "call_twice_in_a_row": (True, _bool),
        "calling_windows": (True, array(obj({
            "calling_window_start_time": (True, _time),
            "calling_window_end_time": (True, _time),
            "retry_delay_seconds": (True, integer(min_delay - 1)),
        }))),
        "max_retry_attempts": (True, integer(0)),
        "timezone": (False, nullable(_string)),
    })  # fmt: skip


def _create(generation: Generation) -> Check:
    seed = generation == "seed"
    # The seed page types the optional fields Optional[...] (null allowed); 0.5.0 does not.
    opt: Callable[[Check], Check] = nullable if seed else (lambda c: c)
    spec: dict[str, tuple[bool, Check]] = {
        "assistant_id": (True, pred(is_uuid, "expected a UUID")),
        "name": (True, _non_empty),
        "contacts": (True, array(obj({
            "to_phone_number": (True, _e164),
            "prompt_variables": (True, _str_map),
        }), non_empty=True)),
        "call_retry_config": (False, opt(_retry_config(1 if seed else 0))),
        "from_phone_number": (False, opt(_e164)),
        "max_concurrent_calls": (False, opt(_concurrency)),
    }  # fmt: skip
    if seed:
        spec["launch"] = (True, _bool)
        spec["scheduled_at"] = (False, nullable(_iso))
    return obj(spec)


_CREATE: dict[Generation, Check] = {g: _create(g) for g in GENERATIONS}
_LAUNCH_CALLS = obj({
    "mode": (True, one_of(("ai_first", "speed_dial"))),
    "selection": (True, obj({
        "filters": (True, obj({
            "assignee_ids": (True, array(_string)),
            "directions": (True, array(one_of(("inbound", "outbound")))),
            "outcomes": (True, array(one_of(LAUNCH_OUTCOMES))),
            "results": (True, array(one_of(LAUNCH_RESULTS))),
            "statuses": (True, array(one_of(LAUNCH_STATUSES))),
            "query": (False, _string),
        })),
        "rows": (True, obj({
            "call_ids": (True, array(_string)),
            "mode": (True, one_of(("all_except", "only"))),
        })),
    })),
    "scheduled_at": (False, _iso),
})  # fmt: skip


def _run(check: Check, body: object) -> dict[str, Any]:
    issues: list[Issue] = []
    check(body, "", issues)
    if issues:
        raise ValidationFailed(issues)
    assert isinstance(body, dict)
    return body


def validate_create(body: object, generation: Generation = "seed") -> dict[str, Any]:
    """A ``POST /campaigns`` body, checked against its generation; raise ValidationFailed."""
    return _run(_CREATE[generation], body)


def validate_launch_calls(body: object) -> dict[str, Any]:
    """A current-generation ``POST /campaigns/{id}/launch-calls`` body (0.5.0 types)."""
    checked = _run(_LAUNCH_CALLS, body)
    if checked["mode"] == "speed_dial" and "scheduled_at" in checked:
        raise ValidationFailed([("scheduled_at", "a speed_dial session cannot be scheduled")])
    return checked
