"""One call as a pure function of time, and the campaign state it is computed from.

Split from ``model.py``: the model keeps the state and the commands; this module
turns (campaign, row index, now) into the call JSON, attempts included, so that a
call is always replayable from its launch, its cancellation and its scenario.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from connector.revox_models import Generation
from connector.sandbox import shapes
from connector.sandbox.shapes import SCENARIOS, Scenario, uid

SLOT_SECONDS = 40.0  # a concurrency slot: 30 s calling + 10 s post-processing
CALLING_SECONDS = 30.0
POST_PROCESSING_SECONDS = 10.0
FINAL_STATUSES = frozenset({"completed", "cancelled", "errored"})


class Context(Protocol):
    """What rendering a call needs from the model."""

    generation: Generation
    seed: int
    organization_id: str

    def iso(self, t: float | None) -> str | None: ...


@dataclass(frozen=True)
class Launch:
    """When one call was launched and when its concurrency slot begins."""

    at: float  # when the launch request came
    base: float  # when dialling may begin (scheduled_at, or ``at``)
    start: float  # when this call's concurrency slot begins


@dataclass
class CampaignState:
    """One campaign: its create body and every launch and cancellation, nothing derived."""

    id: str
    body: dict[str, Any]
    name: str  # as stored: maybe truncated
    scenarios: list[str]
    created_at: float
    updated_at: float
    not_before: float | None = None  # seed: the simulated time of scheduled_at
    launched_at: float | None = None  # the first launch
    cancelled_at: float | None = None
    row_ids: list[str] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)
    launches: dict[int, Launch] = field(default_factory=dict)  # row index -> its launch
    call_cancels: dict[int, float] = field(default_factory=dict)  # row index -> cancel time
    version: int = 0  # bumped on every change: a memo key (bench/workload.py)

    @property
    def contacts(self) -> list[dict[str, Any]]:
        return list(self.body["contacts"])

    @property
    def concurrency(self) -> int:
        return max(1, int(self.body.get("max_concurrent_calls") or 5))

    def touch(self, now: float) -> None:
        self.updated_at = max(self.updated_at, now)
        self.version += 1


def render(ctx: Context, camp: CampaignState, index: int, now: float) -> dict[str, Any] | None:
    """One call of a campaign at ``now``: None for a seed draft's row (no call yet)."""
    launch = camp.launches.get(index)
    if launch is None and ctx.generation == "seed":
        return None  # a seed draft has no calls, cancelled or not
    scn = SCENARIOS[camp.scenarios[index]]
    cuts = [t for t in (camp.cancelled_at, camp.call_cancels.get(index)) if t is not None]
    cut = min(cuts) if cuts else None
    contact = camp.contacts[index]
    call: dict[str, Any] = {
        "id": camp.call_ids[index],
        "status": "not_launched",
        "calls_count": 0,
        "outcome": None,
        "outcome_summary": None,
        "last_call_attempt": None,
        "call_attempts": [],
        "campaign": {"id": camp.id, "name": camp.name},
        "contact": shapes.contact_of(contact["prompt_variables"]),
        "prompt_variables": dict(contact["prompt_variables"]),
        "direction": "outbound",
        "first_sentence_delay_ms": shapes.FIRST_SENTENCE_DELAY_MS,
        "from_phone_number": camp.body.get("from_phone_number") or shapes.DEFAULT_FROM,
        "to_phone_number": contact["to_phone_number"],
        "llm_model": dict(shapes.LLM_MODEL),
        "organization_id": ctx.organization_id,
        "created_at": ctx.iso(camp.created_at),
        "scheduled_at": None,
    }
    events = [camp.created_at]
    if launch is None:
        if cut is not None and now >= cut:
            call["status"] = "cancelled"
            events.append(cut)
        return _finish(ctx, call, events, now)
    end = launch.start + CALLING_SECONDS
    final = end + POST_PROCESSING_SECONDS
    cancelled = cut is not None and cut < final and now >= cut
    seen = min(now, cut) if cancelled and cut is not None else now
    call["scheduled_at"] = ctx.iso(launch.base)
    events += [launch.at, launch.base, launch.start, end, final]
    if cancelled:
        call["status"] = "cancelled"
        events = [e for e in events if e <= seen] + [seen]
    elif now >= final:
        call["status"] = scn.status
        call["outcome"] = scn.outcome_in(ctx.generation)
        call["outcome_summary"] = scn.summary
    elif now >= end:
        call["status"] = "post_processing"
    elif now >= launch.start:
        call["status"] = "calling"
    else:
        call["status"] = "scheduled" if now < launch.base else "queued_for_calling"
    done = not cancelled and now >= final
    attempts = _attempts(ctx, scn, call, launch.start, seen, camp, index, done)
    if cancelled and attempts and attempts[-1]["ended_at"] is None:
        attempts[-1].update(
            status="completed", ended_at=ctx.iso(seen), end_reason="client_initiated",
            ended_by="system",
        )  # fmt: skip
    attempts.reverse()  # 0.5.0: "ordered by most recent first"
    call["calls_count"] = len(attempts)
    call["call_attempts"] = attempts
    call["last_call_attempt"] = attempts[0] if attempts else None
    return _finish(ctx, call, events, now)


def _finish(ctx: Context, call: dict[str, Any], events: list[float], now: float) -> dict[str, Any]:
    call["is_cancelled"] = call["status"] == "cancelled"
    call["is_completed"] = call["status"] == "completed"
    call["updated_at"] = ctx.iso(max(e for e in events if e <= now))
    return call


def _attempts(
    ctx: Context, scn: Scenario, call: dict[str, Any], start: float, now: float,
    camp: CampaignState, index: int, final: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    spacing = CALLING_SECONDS / scn.attempts
    out: list[dict[str, Any]] = []
    for n in range(scn.attempts):
        began = start + n * spacing
        if now < began:
            break
        ended = began + (2.0 if scn.status == "errored" else spacing - 2.0)
        answered = began + 4.0 if scn.result in ("human", "voicemail") else None
        picked = answered is not None and now >= answered
        done = now >= ended
        last = n == scn.attempts - 1
        by, reason = _ending(scn)
        out.append({
            "id": uid(ctx.seed, call["id"], "attempt", n),
            "phone_number": call["to_phone_number"],
            "status": ("error" if scn.dial_error else "completed") if done
            else "ongoing" if picked else "ringing",
            "result": scn.result if done else None,
            "dial_error": scn.dial_error if done else None,
            "started_at": ctx.iso(began),
            "answered_at": ctx.iso(answered) if picked else None,
            "ended_at": ctx.iso(ended) if done else None,
            "end_reason": reason if done else None,
            "ended_by": by if done else None,
            "handled_by_ai": picked,
            "handled_by_human": False,
            "recording_url": f"https://sandbox.revox.invalid/rec/{call['id']}/{n}.mp3"
            if done and scn.result
            else None,
            "structured_output": _extract(scn, camp, index) if final and last else None,
            "transcript": list(shapes.TRANSCRIPT) if done and scn.result == "human" else None,
        })  # fmt: skip
    return out


def _extract(scn: Scenario, camp: CampaignState, index: int) -> dict[str, str] | None:
    if not scn.email:
        return None
    first = str(camp.contacts[index]["prompt_variables"].get("first_name", "contact"))
    local = re.sub(r"[^a-z0-9]", "", first.lower()) or "contact"
    return {"email": f"{local}@example.com"}


def _ending(scn: Scenario) -> tuple[str, str]:
    """(ended_by, end_reason) of a finished attempt, in 0.5.0's vocabulary."""
    if scn.dial_error:
        return "system", "user_unavailable"
    if scn.result == "voicemail":
        return "agent", "voicemail"
    return "agent", "tool_end_call"


def matches(
    filters: Mapping[str, Any], call: Mapping[str, Any], contact: Mapping[str, Any]
) -> bool:
    """Whether a call passes launch-calls' filters (an empty list filters nothing)."""
    last = call["last_call_attempt"]
    checks: list[tuple[Collection[str], str]] = [
        (filters["statuses"], call["status"]),
        (filters["outcomes"], call["outcome"] or "none"),
        (filters["results"], (last or {}).get("result") or "none"),
        (filters["directions"], call["direction"]),
    ]
    if any(allowed and value not in allowed for allowed, value in checks):
        return False
    if filters["assignee_ids"]:
        return False  # sandbox calls have no assignee
    query = str(filters.get("query") or "").lower()
    haystack = [contact["to_phone_number"], *contact["prompt_variables"].values()]
    return not query or any(query in str(v).lower() for v in haystack)
