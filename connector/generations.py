"""What each Revox API generation takes, and how the connector finds out which it talks to.

The seed generation creates and launches in one
``POST /campaigns`` (``launch``, ``scheduled_at`` in the body); the current generation
refuses both fields, creates every call ``not_launched`` and dials them on
``POST /campaigns/{id}/launch-calls`` (where ``scheduled_at`` goes). An operator may pin
the generation (``REVOX_API_GENERATION``); otherwise the first create finds out: a 422
that names ``launch``/``scheduled_at`` is a definite "nothing created", so the batch is
re-sent once in the other shape; an accepted create's answer tells the rest
(``row_stats.not_launched`` exists only in the current generation).

A 422 that names contacts (``contacts.3.to_phone_number``) refuses only those contacts;
``refusal`` reads the server's error body, whatever its exact shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from connector.config import CampaignSettings
from connector.revox_models import Generation

_SEED_ONLY = ("launch", "scheduled_at")
_CONTACT = re.compile(r"contacts(?:\.|\[|/|\"?\s*,\s*)(\d+)")
_PATH_KEYS = ("path", "loc", "field", "param", "pointer")


def other(gen: Generation) -> Generation:
    return "current" if gen == "seed" else "seed"


def create_body(
    gen: Generation, cs: CampaignSettings, name: str, contacts: list[dict[str, Any]]
) -> dict[str, Any]:
    """The POST /campaigns body, exactly as the generation declares it (no other keys)."""
    body: dict[str, Any] = {
        "assistant_id": str(cs.assistant_id),
        "name": name,
        "contacts": contacts,
    }
    if cs.from_phone_number:
        body["from_phone_number"] = cs.from_phone_number
    if cs.max_concurrent_calls:
        body["max_concurrent_calls"] = cs.max_concurrent_calls
    if cs.call_retry_config:
        body["call_retry_config"] = cs.call_retry_config.model_dump(exclude_none=True)
    if gen == "seed":
        body["launch"] = cs.launch
        if cs.scheduled_at:
            body["scheduled_at"] = cs.scheduled_at.isoformat()
    return body


def launch_needed(gen: Generation, cs: CampaignSettings) -> bool:
    """Whether a created campaign still needs launch-calls (current generation only)."""
    return gen == "current" and cs.launch


@dataclass(frozen=True)
class Refusal:
    """What a 4xx answer to a create says was wrong."""

    paths: tuple[str, ...]  # field paths the body names, as given
    contacts: frozenset[int]  # indices of the refused contacts, when named
    reason: str  # the server's words, one line

    def names_seed_fields(self) -> bool:
        """The server refuses ``launch``/``scheduled_at``: it is the current generation."""
        return any(p.split(".")[0] in _SEED_ONLY for p in self.paths) or (
            not self.paths and bool(re.search(r"\blaunch\b|\bscheduled_at\b", self.reason))
        )

    def wants_launch(self) -> bool:
        """The server requires ``launch``: it is the seed generation."""
        return any(p == "launch" for p in self.paths) or (
            not self.paths and bool(re.search(r"\blaunch\b", self.reason))
        )

    def body_level(self) -> bool:
        """It names fields, none of them a contact: the whole batch is refused as such."""
        return bool(self.paths) and not self.contacts


def refusal(status: int, body: str, n_contacts: int) -> Refusal:
    """Read a 4xx body: JSON issues with paths when present, else the paths named in text."""
    paths: list[str] = []
    message = body
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = str(data.get("message") or data.get("error") or body)
        _collect_paths(data, paths)
    for m in _CONTACT.finditer(body):
        path = f"contacts.{m.group(1)}"
        if not any(p.startswith(path) for p in paths):
            paths.append(path)
    contacts = frozenset(
        int(hit.group(1))
        for p in paths
        if (hit := _CONTACT.match(p)) and int(hit.group(1)) < n_contacts
    )
    reason = " ".join(f"HTTP {status}: {message}".split())[:300]
    return Refusal(tuple(paths), contacts, reason)


def _collect_paths(node: Any, out: list[str]) -> None:
    """Field paths from any nesting of error objects: {"path": "a.b"} or {"loc": ["a", 0]}."""
    if isinstance(node, list):
        for item in node:
            _collect_paths(item, out)
    elif isinstance(node, dict):
        for key in _PATH_KEYS:
            value = node.get(key)
            if isinstance(value, str) and value:
                out.append(re.sub(r"\[(\d+)\]", r".\1", value.lstrip("/")).replace("/", "."))
            elif isinstance(value, list) and value:
                out.append(".".join(str(p) for p in value if p != "body"))
        for value in node.values():
            if isinstance(value, dict | list):
                _collect_paths(value, out)
