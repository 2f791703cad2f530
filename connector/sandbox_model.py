"""The pure in-memory model behind the Revox sandbox: validation, campaigns, calls.

No I/O and no clock of its own: every method takes the simulated time ``now``
(seconds), and calls are a pure function of launch time, row position and a
scenario picked by hashing the phone number. The HTTP layer is ``sandbox.py``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Generation = Literal["seed", "deferred"]
Issue = tuple[str, str]  # (path, message)
_Check = Callable[[object, str, list[Issue]], None]

SLOT_SECONDS = 40.0  # a concurrency slot: 30 s calling + 10 s post-processing
CALLING_SECONDS = 30.0
POST_PROCESSING_SECONDS = 10.0
FINAL_STATUSES = frozenset({"completed", "cancelled", "errored"})
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_TIME_24H = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")
_TIME_12H = re.compile(r"^(1[0-2]|0?[1-9])(:[0-5]\d)?\s?[ap]m$", re.IGNORECASE)
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MAX_INT = 9007199254740991


@dataclass(frozen=True)
class Scenario:
    """How one contact's call ends."""

    weight: int
    status: str
    result: str | None
    dial_error: str | None
    outcome: str | None
    attempts: int
    summary: str | None
    email: bool = False


SCENARIOS: Mapping[str, Scenario] = {
    "interested": Scenario(
        3, "completed", "human", None, "interested", 1,
        "Interested in the offer; asked for the details by email.", email=True,
    ),
    "not_interested": Scenario(
        2, "completed", "human", None, "not_interested", 1, "Not interested; politely declined."
    ),
    "voicemail": Scenario(1, "completed", "voicemail", None, None, 3, None),
    "no_answer": Scenario(1, "completed", None, "no_answer", None, 3, None),
    "do_not_contact": Scenario(
        1, "completed", "human", None, "do_not_contact", 1, "Asked never to be called again."
    ),
    "requested_callback_later": Scenario(
        1, "completed", "human", None, "requested_callback_later", 1,
        "Busy right now; asked to be called back next week.",
    ),
    "errored": Scenario(1, "errored", None, "number_non_attributed", None, 1, None),
    "hostile_summary": Scenario(
        1, "completed", "human", None, "interested", 1,
        '=HYPERLINK("http://evil.example","click")',
    ),
}  # fmt: skip


def scenario_for(phone: str, seed: int = 0) -> str:
    """The scenario a phone number gets, from sha256(seed, phone); stable across runs."""
    digest = hashlib.sha256(f"{seed}:{phone}".encode()).digest()
    pick = int.from_bytes(digest[:8], "big") % sum(s.weight for s in SCENARIOS.values())
    for name, scenario in SCENARIOS.items():
        if pick < scenario.weight:
            return name
        pick -= scenario.weight
    raise AssertionError("unreachable")


class ValidationFailed(Exception):
    """A request body broke the contract; ``issues`` names every field."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in issues))
        self.issues = issues


class UnknownCampaign(Exception):
    """No campaign has this id."""


class Conflict(Exception):
    """The campaign is in a state that forbids the operation."""


# --- validation ------------------------------------------------------------------------------


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _obj(spec: Mapping[str, tuple[bool, _Check]], *, strict: bool = True) -> _Check:
    def check(value: object, path: str, issues: list[Issue]) -> None:
        if not isinstance(value, dict):
            issues.append((path or "body", "expected a JSON object"))
            return
        for key, (required, sub) in spec.items():
            if key in value:
                sub(value[key], _join(path, key), issues)
            elif required:
                issues.append((_join(path, key), "required"))
        if strict:
            issues.extend((_join(path, k), "unknown field") for k in value if k not in spec)

    return check


def _nullable(inner: _Check) -> _Check:
    def check(value: object, path: str, issues: list[Issue]) -> None:
        if value is not None:
            inner(value, path, issues)

    return check


def _pred(test: Callable[[object], bool], message: str) -> _Check:
    def check(value: object, path: str, issues: list[Issue]) -> None:
        if not test(value):
            issues.append((path, message))

    return check


def _list(item: _Check, *, non_empty: bool = False) -> _Check:
    def check(value: object, path: str, issues: list[Issue]) -> None:
        if not isinstance(value, list):
            issues.append((path, "expected a list"))
        elif non_empty and not value:
            issues.append((path, "must not be empty"))
        else:
            for i, entry in enumerate(value):
                item(entry, _join(path, i), issues)

    return check


def _is_uuid(v: object) -> bool:
    try:
        uuid.UUID(str(v))
    except ValueError:
        return False
    return isinstance(v, str)


def _is_iso(v: object) -> bool:
    return isinstance(v, str) and parse_iso(v) is not None


def _is_int(v: object, low: float) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low < v <= _MAX_INT


_str_map = _pred(
    lambda v: isinstance(v, dict) and all(isinstance(x, str) for p in v.items() for x in p),
    "expected an object of string to string",
)
_e164 = _pred(
    lambda v: isinstance(v, str) and bool(_E164.match(v)), "expected E.164 (+14155550123)"
)
_bool = _pred(lambda v: isinstance(v, bool), "expected a boolean")
_time = _pred(
    lambda v: isinstance(v, str) and bool(_TIME_24H.match(v) or _TIME_12H.match(v)),
    "expected a time like '09:00' or '6pm'",
)
_CREATE = _obj({
    "assistant_id": (True, _pred(_is_uuid, "expected a UUID")),
    "name": (True, _pred(lambda v: isinstance(v, str) and v != "", "expected a non-empty string")),
    "contacts": (True, _list(_obj({
        "to_phone_number": (True, _e164),
        "prompt_variables": (True, _str_map),
    }), non_empty=True)),
    "launch": (True, _bool),
    "from_phone_number": (False, _nullable(_e164)),
    "max_concurrent_calls": (False, _nullable(_pred(
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v >= 1,
        "expected a number >= 1",
    ))),
    "scheduled_at": (False, _nullable(_pred(_is_iso, "expected an ISO 8601 date-time"))),
    "call_retry_config": (False, _nullable(_obj({
        "allowed_days": (True, _list(_pred(lambda v: v in _DAYS, "expected a weekday name"))),
        "call_twice_in_a_row": (True, _bool),
        "calling_windows": (True, _list(_obj({
            "calling_window_start_time": (True, _time),
            "calling_window_end_time": (True, _time),
        }, strict=False))),
        "retry_delay_seconds": (True, _pred(lambda v: _is_int(v, 0), "expected an integer > 0")),
        "max_retry_attempts": (True, _pred(lambda v: _is_int(v, 0), "expected an integer > 0")),
        "timezone": (False, _nullable(_pred(lambda v: isinstance(v, str), "expected a string"))),
    }))),
})  # fmt: skip


def validate_create(body: object) -> dict[str, Any]:
    """Check a ``POST /campaigns`` body against the seed contract; raise ValidationFailed."""
    issues: list[Issue] = []
    _CREATE(body, "", issues)
    if issues:
        raise ValidationFailed(issues)
    assert isinstance(body, dict)
    return body


def parse_iso(text: str) -> datetime | None:
    """An ISO 8601 date-time (``Z`` accepted, naive read as UTC), or None."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- the model -------------------------------------------------------------------------------


def _uid(seed: int, *parts: object) -> str:
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


@dataclass
class _Campaign:
    id: str
    body: dict[str, Any]
    scenarios: list[str]
    created_at: float
    not_before: float | None  # simulated time of scheduled_at
    updated_at: float = 0.0
    launched_at: float | None = None
    cancelled_at: float | None = None
    row_ids: list[str] = field(default_factory=list)

    @property
    def contacts(self) -> list[dict[str, Any]]:
        return list(self.body["contacts"])

    @property
    def concurrency(self) -> int:
        return max(1, int(self.body.get("max_concurrent_calls") or 5))


class RevoxModel:
    """Campaigns and their calls; not thread-safe (the server holds one lock around it)."""

    def __init__(
        self,
        *,
        generation: Generation = "seed",
        seed: int = 0,
        scenarios: Mapping[str, str] | None = None,
        to_wall: Callable[[float], float] = lambda t: t,
    ) -> None:
        unknown = set((scenarios or {}).values()) - set(SCENARIOS)
        if unknown:
            raise ValueError(f"unknown scenarios {sorted(unknown)}; known: {list(SCENARIOS)}")
        self.generation = generation
        self.seed = seed
        self._overrides = dict(scenarios or {})
        self._to_wall = to_wall  # simulated seconds -> epoch seconds, for timestamps
        self._campaigns: dict[str, _Campaign] = {}

    def _iso(self, t: float | None) -> str | None:
        return None if t is None else datetime.fromtimestamp(self._to_wall(t), UTC).isoformat()

    def create(self, body: dict[str, Any], now: float, not_before: float | None) -> dict[str, Any]:
        """Store a validated create request; launch it at once when the generation says so."""
        cid = _uid(self.seed, "campaign", len(self._campaigns))
        phones = [c["to_phone_number"] for c in body["contacts"]]
        picks = [self._overrides.get(p) or scenario_for(p, self.seed) for p in phones]
        camp = _Campaign(cid, body, picks, now, not_before, updated_at=now)
        camp.row_ids = [_uid(self.seed, cid, "row", i) for i in range(len(phones))]
        if body["launch"] and self.generation == "seed":
            camp.launched_at = now
        self._campaigns[cid] = camp
        return self.campaign(cid, now)

    def _get(self, cid: str) -> _Campaign:
        try:
            return self._campaigns[cid]
        except KeyError:
            raise UnknownCampaign(cid) from None

    def launch(self, cid: str, now: float) -> None:
        """Start dialling a draft or not-launched campaign; a second launch is a no-op."""
        camp = self._get(cid)
        if camp.cancelled_at is not None:
            raise Conflict("campaign is cancelled")
        if camp.launched_at is None:
            camp.launched_at = camp.updated_at = now

    def cancel(self, cid: str, now: float) -> None:
        """Cancel: every call not final by ``now`` ends ``cancelled``."""
        camp = self._get(cid)
        if camp.cancelled_at is None:
            camp.cancelled_at = camp.updated_at = now

    def campaigns(self, now: float) -> list[dict[str, Any]]:
        """Every campaign, newest first."""
        return [self.campaign(cid, now) for cid in reversed(self._campaigns)]

    def campaign(self, cid: str, now: float) -> dict[str, Any]:
        """The Campaign JSON, with row stats computed at ``now``."""
        camp = self._get(cid)
        calls = [self._call(camp, i, now) for i in range(len(camp.row_ids))]
        statuses = [c["status"] if c else None for c in calls]
        stats = {"total": len(calls), "pending": 0, "calling": 0, "retry": 0, "completed": 0}
        stats["failed"] = sum(s in ("errored", "cancelled") for s in statuses)
        stats["completed"] = statuses.count("completed")
        stats["calling"] = sum(s in ("calling", "post_processing") for s in statuses)
        stats["pending"] = sum(s in (None, "queued_for_calling", "scheduled") for s in statuses)
        if self.generation == "deferred":
            stats["not_launched"] = statuses.count("not_launched")
            stats["skipped"] = 0
        started = self._started(camp)
        all_final = bool(calls) and all(s in FINAL_STATUSES for s in statuses)
        body = camp.body
        retry = body.get("call_retry_config")
        return {
            "id": cid,
            "name": body["name"],
            "assistant_id": body["assistant_id"],
            "organization_id": _uid(self.seed, "organization"),
            "status": "completed" if all_final else "running" if started else "draft",
            "is_cancelled": camp.cancelled_at is not None,
            "created_at": self._iso(camp.created_at),
            "updated_at": self._iso(camp.updated_at),
            "scheduled_at": body.get("scheduled_at"),
            "from_phone_number": body.get("from_phone_number"),
            "max_concurrent_calls": body.get("max_concurrent_calls"),
            "row_stats": stats,
            "call_retry_config": retry,
            "structured_output_extraction": "completed" if all_final else "none",
            "assistant": {
                "id": body["assistant_id"],
                "name": "Sandbox assistant",
                "first_sentence_mode": "generated",
                "call_retry_config": retry,
            },
        }

    def rows(self, cid: str, now: float) -> list[dict[str, Any]]:
        """Every row of a campaign, in contact order."""
        camp = self._get(cid)
        return [
            {
                "id": camp.row_ids[i],
                "row_index": i,
                "phone_number": contact["to_phone_number"],
                "input_data": dict(contact["prompt_variables"]),
                "call": self._call(camp, i, now),
            }
            for i, contact in enumerate(camp.contacts)
        ]

    def contacts(self) -> dict[str, list[str]]:
        """Campaign id -> its contacts' phone numbers, in order."""
        return {
            cid: [c["to_phone_number"] for c in camp.contacts]
            for cid, camp in self._campaigns.items()
        }

    def _started(self, camp: _Campaign) -> bool:
        # A deferred campaign created with launch=true says "running" but dials nothing.
        return camp.launched_at is not None or (
            self.generation == "deferred" and bool(camp.body["launch"])
        )

    def all_final(self, now: float) -> bool:
        """Whether every call of every launched, non-cancelled campaign is final.

        A deferred campaign created with ``launch: true`` counts as launched, so a
        client that never sends launch-calls waits forever instead of passing.
        """
        return all(
            (call := self._call(camp, i, now)) is not None and call["status"] in FINAL_STATUSES
            for camp in self._campaigns.values()
            if self._started(camp) and camp.cancelled_at is None
            for i in range(len(camp.row_ids))
        )

    def call_count(self, now: float) -> int:
        """How many rows have a call object."""
        return sum(
            self._call(camp, i, now) is not None
            for camp in self._campaigns.values()
            for i in range(len(camp.row_ids))
        )

    # --- one call, as a pure function of time ---

    def _call(self, camp: _Campaign, index: int, now: float) -> dict[str, Any] | None:
        if camp.launched_at is None and self.generation == "seed":
            return None  # a draft has no calls, cancelled or not
        call_id = _uid(self.seed, camp.id, "call", index)
        scn = SCENARIOS[camp.scenarios[index]]
        cut = camp.cancelled_at
        call: dict[str, Any] = {
            "id": call_id,
            "status": "not_launched",
            "calls_count": 0,
            "outcome": None,
            "outcome_summary": None,
            "last_call_attempt": None,
            "call_attempts": [],
        }
        if camp.launched_at is None:
            if cut is not None and now >= cut:
                call["status"] = "cancelled"
            return call
        base = max(camp.launched_at, camp.not_before or camp.launched_at)
        start = base + (index // camp.concurrency) * SLOT_SECONDS
        end = start + CALLING_SECONDS
        final = end + POST_PROCESSING_SECONDS
        cancelled = cut is not None and cut < final and now >= cut
        seen = min(now, cut) if cancelled and cut is not None else now
        if cancelled:
            call["status"] = "cancelled"
        elif now >= final:
            call["status"] = scn.status
            call["outcome"] = scn.outcome
            call["outcome_summary"] = scn.summary
        elif now >= end:
            call["status"] = "post_processing"
        elif now >= start:
            call["status"] = "calling"
        else:
            call["status"] = "scheduled" if now < base else "queued_for_calling"
        done = not cancelled and now >= final
        attempts = self._attempts(scn, call_id, start, seen, camp, index, done)
        if cancelled and attempts and attempts[-1]["ended_at"] is None:
            attempts[-1].update(
                status="completed", ended_at=self._iso(seen), end_reason="cancelled"
            )
        call["calls_count"] = len(attempts)
        call["call_attempts"] = attempts
        call["last_call_attempt"] = attempts[-1] if attempts else None
        return call

    def _attempts(
        self, scn: Scenario, call_id: str, start: float, now: float, camp: _Campaign,
        index: int, final: bool,
    ) -> list[dict[str, Any]]:  # fmt: skip
        spacing = CALLING_SECONDS / scn.attempts
        out: list[dict[str, Any]] = []
        for n in range(scn.attempts):
            began = start + n * spacing
            if now < began:
                break
            ended = began + (2.0 if scn.status == "errored" else spacing - 2.0)
            answered = began + 4.0 if scn.result in ("human", "voicemail") else None
            done = now >= ended
            last = n == scn.attempts - 1
            status = "error" if scn.dial_error else "completed"
            live = "ongoing" if answered is not None and now >= answered else "ringing"
            out.append({
                "status": status if done else live,
                "result": scn.result if done else None,
                "dial_error": scn.dial_error if done else None,
                "started_at": self._iso(began),
                "answered_at": self._iso(answered) if answered and now >= answered else None,
                "ended_at": self._iso(ended) if done else None,
                "end_reason": ("dial_error" if scn.dial_error else "hangup") if done else None,
                "ended_by": ("user" if scn.result == "human" else "agent") if done else None,
                "recording_url": f"https://sandbox.revox.invalid/rec/{call_id}/{n}.mp3"
                if done and scn.result
                else None,
                "structured_output": self._extract(scn, camp, index) if final and last else None,
                "transcript": _TRANSCRIPT if done and scn.result == "human" else None,
            })  # fmt: skip
        return out

    @staticmethod
    def _extract(scn: Scenario, camp: _Campaign, index: int) -> dict[str, str] | None:
        if not scn.email:
            return None
        first = str(camp.contacts[index]["prompt_variables"].get("first_name", "contact"))
        local = re.sub(r"[^a-z0-9]", "", first.lower()) or "contact"
        return {"email": f"{local}@example.com"}


_TRANSCRIPT = [
    {"role": "agent", "content": "Hello, this is the Revox assistant calling."},
    {"role": "user", "content": "Hi, go ahead."},
]
