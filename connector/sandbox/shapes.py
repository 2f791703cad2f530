"""Fixed parts of the sandbox's answers: scenarios, the assistant object, identifiers.

Split from ``model.py`` so that the model reads as behaviour (who is dialled
when) while the answer shapes that the contract tests pin down live here. Every
object carries each field the official 0.5.0 models (current generation) or the
seed page (seed generation) declare required, with the declared types.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.revox_models import Generation
from connector.sandbox.validate import DAYS

DEFAULT_FROM = "+14155550100"  # the organisation's default outbound number
LLM_MODEL = {"name": "gpt-4.1", "type": "dedicated-instance"}
FIRST_SENTENCE_DELAY_MS = 400


@dataclass(frozen=True)
class Scenario:
    """How one contact's call ends. ``weight`` 0: only reachable through overrides."""

    weight: int
    status: str
    result: str | None
    dial_error: str | None
    outcome: str | None  # seed generation's outcome
    attempts: int
    summary: str | None
    email: bool = False
    current_outcome: str | None = None  # when the current generation says otherwise
    opt_out: bool = False  # current generation: do_not_contact in the phone history

    def outcome_in(self, generation: Generation) -> str | None:
        """The outcome the given generation reports for this scenario."""
        if generation == "current" and self.current_outcome is not None:
            return self.current_outcome
        return self.outcome


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
        1, "completed", "human", None, "do_not_contact", 1, "Asked never to be called again.",
        current_outcome="not_interested", opt_out=True,
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
    # Weight 0: never picked by hashing (keeps every existing pick stable); use overrides.
    "ai_averse": Scenario(
        0, "completed", "human", None, "ai_averse", 1, "Refused to talk to an AI.",
        current_outcome="not_interested", opt_out=True,
    ),
    "requested_callback_new_number": Scenario(
        0, "completed", "human", None, "requested_callback_new_number", 1,
        "Asked to be called on another number.", current_outcome="requested_callback_later",
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


def uid(seed: int, *parts: object) -> str:
    """A deterministic UUID from the seed and some parts: same run, same ids."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def default_retry_config() -> dict[str, Any]:
    """The assistant's own retry configuration (positive delay: valid in both generations)."""
    return {
        "allowed_days": list(DAYS[:5]),
        "call_twice_in_a_row": False,
        "calling_windows": [
            {
                "calling_window_start_time": "09:00",
                "calling_window_end_time": "18:00",
                "retry_delay_seconds": 7200,
            }
        ],
        "max_retry_attempts": 3,
        "timezone": None,
    }


def assistant(
    assistant_id: str, organization_id: str, created_at: str | None, generation: Generation
) -> dict[str, Any]:
    """The assistant object: the seed page's fields, plus what 0.5.0 made required."""
    out: dict[str, Any] = {
        "id": assistant_id,
        "name": "Sandbox assistant",
        "organization_id": organization_id,
        "prompt": "You are a friendly assistant calling on behalf of the sandbox.",
        "created_at": created_at,
        "updated_at": created_at,
        "background_sound_volume": 0.0,
        "first_sentence_delay_ms": FIRST_SENTENCE_DELAY_MS,
        "first_sentence_mode": "generated",
        "ivr_navigation_enabled": False,
        "llm_model": dict(LLM_MODEL),
        "max_call_duration_secs": 600.0,
        "sms_enabled": False,
        "thinking_sound_probability": 0.0,
        "thinking_sound_volume": 0.0,
        "call_retry_config": default_retry_config(),
        "from_phone_number": None,
        "webhook_url": None,
    }
    if generation == "current":
        out["stt_model"] = "stt-rt-v4"
        out["type"] = "standalone"
    return out


def contact_of(variables: Mapping[str, str]) -> dict[str, str | None]:
    """The call's "magic contact variables", read from the usual prompt variable names."""
    return {
        "first_name": variables.get("first_name"),
        "last_name": variables.get("last_name"),
        "company": variables.get("company"),
        "email": variables.get("email"),
        "job_title": variables.get("job_title"),
    }


TRANSCRIPT = [
    {"role": "assistant", "content": "Hello, this is the Revox assistant calling."},
    {"role": "user", "content": "Hi, go ahead."},
]
