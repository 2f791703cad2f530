"""The sandbox's Revox routes: auth, routing per generation, bodies in and JSON out.

Kept apart from ``server.py`` (threads, sockets, faults) so that what the API
answers can be read in one place. Each generation serves only its own routes:
``/campaigns/{id}/launch`` and the seed create body in the seed generation,
``/campaigns/{id}/launch-calls`` and ``/calls/phone-history`` in the current
one; the other generation's route is a 404, as on a server that never had it.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connector.sandbox import shapes
from connector.sandbox.model import Conflict, RevoxModel, UnknownCampaign
from connector.sandbox.validate import (
    Issue,
    ValidationFailed,
    is_uuid,
    parse_iso,
    validate_create,
    validate_launch_calls,
)

GENERIC_422 = "The request body is invalid."


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, JSON bytes, extra headers."""

    status: int
    payload: bytes
    headers: tuple[tuple[str, str], ...] = ()


def json_answer(status: int, obj: object, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    """A JSON answer."""
    return Answer(status, json.dumps(obj).encode(), headers)


def error(status: int, code: str, message: str, **extra: object) -> Answer:
    """An error answer: ``{"error": code, "message": message, ...extra}``."""
    return json_answer(status, {"error": code, "message": message, **extra})


class BadJson(Exception):
    """The body is not JSON at all (400, not 422)."""


def parse_json(raw: bytes, *, empty: object = None) -> object:
    """The JSON body; ``empty`` stands for a blank body when given."""
    if not raw.strip() and empty is not None:
        return empty
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadJson(f"malformed JSON body: {exc}") from exc


def _int_param(query: dict[str, list[str]], name: str, default: int, high: int) -> int:
    text = query.get(name, [str(default)])[-1]
    if not text.isdigit() or not 1 <= int(text) <= high:
        raise ValidationFailed([(name, f"expected an integer from 1 to {high}")])
    return int(text)


# (method, path regex, handler name, generations that serve it)
_ROUTES: list[tuple[str, re.Pattern[str], str, tuple[str, ...]]] = [
    (m, re.compile(p), h, g)
    for m, p, h, g in [
        ("GET", r"/auth-status", "auth_status", ("seed", "current")),
        ("GET", r"/assistants/([^/]+)", "assistant", ("seed", "current")),
        ("GET", r"/calls/phone-history", "phone_history", ("current",)),
        ("POST", r"/call/([^/]+)/cancel", "cancel_call", ("seed", "current")),
        ("GET", r"/campaigns", "list_campaigns", ("seed", "current")),
        ("POST", r"/campaigns", "create", ("seed", "current")),
        ("GET", r"/campaigns/([^/]+)", "get_campaign", ("seed", "current")),
        ("GET", r"/campaigns/([^/]+)/rows", "rows", ("seed", "current")),
        ("POST", r"/campaigns/([^/]+)/launch", "launch", ("seed",)),
        ("POST", r"/campaigns/([^/]+)/launch-calls", "launch_calls", ("current",)),
        ("POST", r"/campaigns/([^/]+)/cancel", "cancel", ("seed", "current")),
    ]
]


class Api:
    """Answers authenticated API requests from a ``RevoxModel``; the caller holds the lock."""

    def __init__(
        self,
        model: RevoxModel,
        api_key: str,
        *,
        to_sim: Callable[[float], float],
        assistants: Collection[str] | None = None,
        refused_numbers: Collection[str] = (),
        name_paths_in_errors: bool = True,
        campaigns_page_size: int | None = None,
        paged_rows: bool = True,
    ) -> None:
        self.model = model
        self.api_key = api_key
        self.assistants = None if assistants is None else frozenset(assistants)
        self.refused_numbers = frozenset(refused_numbers)
        self.name_paths_in_errors = name_paths_in_errors
        self.campaigns_page_size = campaigns_page_size
        self.paged_rows = paged_rows
        self._to_sim = to_sim  # epoch seconds -> simulated seconds

    def authorised(self, auth: str | None) -> bool:
        """Whether the Authorization header carries the key (constant-time compare)."""
        expected = f"Bearer {self.api_key}".encode()
        return auth is not None and hmac.compare_digest(auth.encode(), expected)

    def handle(self, method: str, target: str, raw: bytes, now: float) -> Answer:
        """Route one authenticated request; model errors become their HTTP statuses."""
        split = urlsplit(target)
        found = [(m, rx.fullmatch(split.path), h, g) for m, rx, h, g in _ROUTES]
        served = [(m, match, h) for m, match, h, g in found if match and self.model.generation in g]
        if not served:
            return error(404, "not_found", f"no route for {split.path}")
        hit = next(((match, h) for m, match, h in served if m == method), None)
        if hit is None:
            return error(405, "method_not_allowed", f"{method} is not allowed on {split.path}")
        match, name = hit
        handler: Callable[..., Answer] = getattr(self, f"_{name}")
        try:
            return handler(*match.groups(), query=parse_qs(split.query), raw=raw, now=now)
        except BadJson as exc:
            return error(400, "bad_request", str(exc))
        except ValidationFailed as exc:
            if not self.name_paths_in_errors:
                return error(422, "validation_error", GENERIC_422)
            issues = [{"path": p, "message": m} for p, m in exc.issues]
            return error(422, "validation_error", str(exc), issues=issues)
        except UnknownCampaign as exc:
            return error(404, "not_found", f"{exc.args[0]} not found")
        except Conflict as exc:
            return error(409, "conflict", str(exc))

    # --- handlers: positional path groups, then query/raw/now keywords ---

    def _auth_status(self, **_: Any) -> Answer:
        return json_answer(200, {"authenticated": True})

    def _assistant(self, aid: str, **_: Any) -> Answer:
        if not self._assistant_exists(aid):
            return error(404, "not_found", f"assistant {aid} not found")
        created = self.model.iso(0.0)
        org = self.model.organization_id
        return json_answer(200, shapes.assistant(aid, org, created, self.model.generation))

    def _assistant_exists(self, aid: str) -> bool:
        return is_uuid(aid) and (self.assistants is None or aid in self.assistants)

    def _phone_history(self, *, now: float, **_: Any) -> Answer:
        return json_answer(200, {"phone_history": self.model.phone_history(now)})

    def _cancel_call(self, call_id: str, *, now: float, **_: Any) -> Answer:
        self.model.cancel_call(call_id, now)
        return json_answer(200, {"success": True})

    def _list_campaigns(self, *, query: dict[str, list[str]], now: float, **_: Any) -> Answer:
        campaigns = self.model.campaigns(now)
        if self.campaigns_page_size is None:
            return json_answer(200, {"campaigns": campaigns})
        page = _int_param(query, "page", 1, 10**9)
        asked = _int_param(query, "page_size", self.campaigns_page_size, 10**6)
        size = min(asked, self.campaigns_page_size)  # the server's cap wins: trust the answer
        chunk = campaigns[(page - 1) * size : page * size]
        total = len(campaigns)
        return json_answer(
            200, {"campaigns": chunk, "page": page, "page_size": size, "total": total}
        )

    def _create(self, *, raw: bytes, now: float, **_: Any) -> Answer:
        body = validate_create(parse_json(raw), self.model.generation)
        issues: list[Issue] = []
        if not self._assistant_exists(body["assistant_id"]):
            issues.append(("assistant_id", "assistant not found"))
        for i, contact in enumerate(body["contacts"]):
            if contact["to_phone_number"] in self.refused_numbers:
                issues.append((f"contacts.{i}.to_phone_number", "this number cannot be called"))
        if issues:
            raise ValidationFailed(issues)
        return json_answer(200, {"campaign": self.model.create(body, now, self._sim(body))})

    def _sim(self, body: dict[str, Any]) -> float | None:
        """The simulated time of a body's ``scheduled_at``, if any."""
        when = parse_iso(body["scheduled_at"]) if body.get("scheduled_at") else None
        return self._to_sim(when.timestamp()) if when else None

    def _get_campaign(self, cid: str, *, now: float, **_: Any) -> Answer:
        return json_answer(200, {"campaign": self.model.campaign(cid, now)})

    def _rows(self, cid: str, *, query: dict[str, list[str]], now: float, **_: Any) -> Answer:
        rows = self.model.rows(cid, now)
        asked = "page" in query or "page_size" in query
        # The 0.5.0 client sends no page params and reads {"rows"}: give it every row.
        if not self.paged_rows or (self.model.generation == "current" and not asked):
            return json_answer(200, {"rows": rows})
        page = _int_param(query, "page", 1, 10**9)
        size = _int_param(query, "page_size", 50, 200)
        chunk = rows[(page - 1) * size : page * size]
        return json_answer(
            200, {"page": page, "page_size": size, "total": len(rows), "rows": chunk}
        )

    def _launch(self, cid: str, *, raw: bytes, now: float, **_: Any) -> Answer:
        parse_json(raw, empty={})  # no body expected; still refuse garbage as 400
        self.model.launch(cid, now)
        return json_answer(200, {"success": True})

    def _launch_calls(self, cid: str, *, raw: bytes, now: float, **_: Any) -> Answer:
        body = validate_launch_calls(parse_json(raw, empty={}))
        return json_answer(200, self.model.launch_calls(cid, body, now, self._sim(body)))

    def _cancel(self, cid: str, *, now: float, **_: Any) -> Answer:
        self.model.cancel(cid, now)
        return json_answer(200, {"success": True})
