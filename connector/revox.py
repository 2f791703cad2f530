"""A small httpx client for the Revox endpoints the connector uses.

Reads are retried with backoff on 429/5xx/timeouts, honouring Retry-After. A 429 on any
POST is waited out and re-sent (nothing was applied). The one non-idempotent call,
POST /campaigns, is otherwise never retried here: a 5xx, a timeout or a dropped
connection after the request was sent raises AmbiguousError, and the journal reconciles
by campaign name before anything is sent again. Which body each API generation takes is
``generations.py``'s business; the answer models are in ``revox_models.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from connector.errors import (
    AmbiguousError,
    AuthError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from connector.redact import Redactor
from connector.retry import RetryPolicy, retry_after
from connector.revox_models import (
    FINAL_CALL_STATUSES,
    AuthStatus,
    Call,
    CallAttempt,
    Campaign,
    CampaignRow,
    Generation,
    LaunchResult,
    PhoneHistoryEntry,
    RowStats,
)

__all__ = [
    "FINAL_CALL_STATUSES",
    "Call",
    "CallAttempt",
    "Campaign",
    "CampaignList",
    "CampaignRow",
    "Generation",
    "PhoneHistoryEntry",
    "RevoxClient",
    "RowStats",
]
DEFAULT_BASE_URL = "https://www.getrevox.com/api"


M = TypeVar("M", bound=BaseModel)

# what a launch-calls body selects: every call of the campaign (the filters are required
# by the current generation's client types, empty lists meaning "no filter")
LAUNCH_ALL: dict[str, Any] = {
    "filters": {
        "assignee_ids": [],
        "directions": [],
        "outcomes": [],
        "results": [],
        "statuses": ["not_launched"],
    },
    "rows": {"call_ids": [], "mode": "all_except"},
}


class BadAnswerError(TransientError):
    """An answer of the wrong shape: that object is skipped this tick, the others go on."""


class NotSentError(TransientError):
    """Nothing reached the server (connection refused, 429 until we gave up): safe to re-send."""


@dataclass(frozen=True)
class CampaignList:
    """Every campaign of the account; ``complete`` is False when part of it could not be read."""

    campaigns: list[Campaign]
    complete: bool


def _raise_for(resp: httpx.Response, what: str, redactor: Redactor) -> None:
    code = resp.status_code
    if code < 300:
        return
    # a proxy or a server may echo the request headers: never show the key
    body = redactor.redact(resp.text[:300].replace("\n", " "))
    msg = f"Revox {what}: HTTP {code}: {body}"
    if code in (401, 403):
        auth = AuthError(f"{msg} (check REVOX_API_KEY)")
        auth.status = code
        raise auth
    if code == 404:
        gone = NotFoundError(msg)
        gone.status = code
        raise gone
    if code == 429 or code >= 500:
        raise TransientError(msg, retry_after=retry_after(resp.headers), status=code)
    raise RejectedError(msg, status=code, body=resp.text)


def _json(resp: httpx.Response) -> Any:
    """The answer's JSON (orjson: a rows page decodes 5x faster); an answer that is not
    JSON raises the json module's ValueError, whose message the errors quote."""
    try:
        return orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return resp.json()


class RevoxClient:
    """Typed access to the Revox API; one instance per team, closed by its owner."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 20.0,
        max_retries: int = 4,
        max_backoff: float = 30.0,
        rows_page_size: int = 200,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "revox-sync/0.1"},
            timeout=timeout,
            transport=transport,
        )
        self._redactor = Redactor([api_key])
        self._page_size = rows_page_size
        self._retry = RetryPolicy(
            retries=max_retries, base=0.5, cap=max_backoff, retry_after_cap=max_backoff
        )
        self._sleep = sleep
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET with bounded retries (connector/retry.py): safe to repeat."""

        def attempt() -> Any:
            self.requests += 1
            try:
                resp = self._http.get(path, params=params)
                _raise_for(resp, f"GET {path}", self._redactor)
                return _json(resp)
            except (httpx.TransportError, ValueError) as exc:
                raise TransientError(f"Revox GET {path}: {type(exc).__name__}: {exc}") from exc

        return self._retry.run(attempt, sleep=self._sleep)

    def _post(self, path: str, body: dict[str, Any] | None, *, idempotent: bool) -> Any:
        """POST; only what never reached the server (refused connection, 429) is re-sent,
        unless the request is idempotent. A create that may have landed is never re-sent."""
        return self._retry.run(
            lambda: self._post_once(path, body, idempotent=idempotent),
            sleep=self._sleep,
        )

    def _post_once(self, path: str, body: dict[str, Any] | None, *, idempotent: bool) -> Any:
        self.requests += 1
        try:
            resp = self._http.post(path, json=body) if body is not None else self._http.post(path)
        except httpx.ConnectError as exc:  # nothing was sent
            raise NotSentError(f"Revox POST {path}: cannot connect: {exc}") from exc
        except httpx.TransportError as exc:
            if idempotent:
                raise TransientError(f"Revox POST {path}: {type(exc).__name__}: {exc}") from exc
            raise AmbiguousError(
                f"Revox POST {path}: {type(exc).__name__} after sending; "
                "the request may have been applied"
            ) from exc
        if resp.status_code == 429:
            raise NotSentError(
                f"Revox POST {path}: HTTP 429 (rate limited; nothing was applied)",
                retry_after=retry_after(resp.headers),
                status=429,
            )
        if resp.status_code >= 500 and not idempotent:
            raise AmbiguousError(
                f"Revox POST {path}: HTTP {resp.status_code}; may have been applied"
            )
        _raise_for(resp, f"POST {path}", self._redactor)
        try:
            return _json(resp)
        except ValueError as exc:
            if idempotent:
                raise TransientError(f"Revox POST {path}: answer is not JSON") from exc
            raise AmbiguousError(
                f"Revox POST {path}: answer is not JSON; may have applied"
            ) from exc

    @staticmethod
    def _parse(model: type[M], data: Any, what: str) -> M:
        """Validate an answer; a wrong shape is one line naming the first problem."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(answer)"
            raise BadAnswerError(
                f"Revox {what}: unexpected answer: {where}: {first['msg']} "
                f"({exc.error_count()} problem(s))"
            ) from exc

    @staticmethod
    def _list(data: Any, name: str, what: str) -> list[Any]:
        """The list under `name`; anything else is an error, never an empty list."""
        items = data.get(name) if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise BadAnswerError(f"Revox {what}: unexpected answer: no list '{name}'")
        return items

    def create_campaign(self, body: dict[str, Any]) -> Campaign:
        """POST /campaigns, exactly once (a 429 is re-sent: nothing was applied)."""
        data = self._post("/campaigns", body, idempotent=False)
        try:
            if not isinstance(data, dict):
                raise TransientError("Revox POST /campaigns: answer is not an object")
            return self._parse(Campaign, data.get("campaign"), "POST /campaigns")
        except TransientError as exc:
            raise AmbiguousError(f"{exc}; the campaign may have been created") from exc

    def list_campaigns(self) -> CampaignList:
        """Every campaign, reading every page when the answer is paged.

        A campaign of the wrong shape is left out and the list marked incomplete: a batch
        is never re-sent on the evidence of a list that may be missing its campaign.
        """
        found: list[Campaign] = []
        complete, read, page, what = True, 0, 1, "GET /campaigns"
        while True:
            params = {"page": page, "page_size": self._page_size}
            data = self._get("/campaigns", params=params)
            items = self._list(data, "campaigns", what)
            read += len(items)
            for item in items:
                try:
                    found.append(self._parse(Campaign, item, what))
                except BadAnswerError:
                    complete = False
            total = data.get("total")
            if "page" not in data and total is None:
                return CampaignList(found, complete)  # not paged: the whole list
            if isinstance(total, int):
                if read >= total or not items:
                    return CampaignList(found, complete and read >= total)
            elif len(items) < self._page_size:
                return CampaignList(found, complete)  # paged without a total: a short page ends
            page += 1

    def get_campaign(self, campaign_id: str) -> Campaign:
        data = self._get(f"/campaigns/{campaign_id}")
        found = data.get("campaign") if isinstance(data, dict) else None
        return self._parse(Campaign, found, "GET /campaigns/{id}")

    def campaign_rows(self, campaign_id: str) -> list[CampaignRow]:
        """Every row of a campaign, following pages until `total` rows are read."""
        return [self.parse_row(r) for r in self.campaign_rows_raw(campaign_id)]

    def parse_row(self, raw: Any) -> CampaignRow:
        """One row of ``campaign_rows_raw``, validated (BadAnswerError when malformed)."""
        return self._parse(CampaignRow, raw, "GET /campaigns/{id}/rows")

    def campaign_rows_raw(self, campaign_id: str) -> list[Any]:
        """Every row of a campaign as read (not validated), following pages until `total`
        rows are read: the poller validates only the rows that changed."""
        rows: list[Any] = []
        page = 1
        what = "GET /campaigns/{id}/rows"
        while True:
            params = {"page": page, "page_size": self._page_size}
            data = self._get(f"/campaigns/{campaign_id}/rows", params=params)
            batch = self._list(data, "rows", what)
            rows += batch
            total = data.get("total")
            if not isinstance(total, int) or not batch or len(rows) >= total:
                return rows
            page += 1

    def launch_calls(self, campaign_id: str, scheduled_at: str | None) -> int:
        """Current generation: dial the calls created not_launched; how many were launched.

        Safe to repeat: a second launch finds no not_launched call and launches nothing.
        """
        body: dict[str, Any] = {"mode": "ai_first", "selection": LAUNCH_ALL}
        if scheduled_at:
            body["scheduled_at"] = scheduled_at
        data = self._post(f"/campaigns/{campaign_id}/launch-calls", body, idempotent=True)
        return int(self._parse(LaunchResult, data, "POST /campaigns/{id}/launch-calls").launched)

    def launch(self, campaign_id: str) -> None:
        """Seed generation: start a campaign created as a draft."""
        self._post(f"/campaigns/{campaign_id}/launch", None, idempotent=True)

    def phone_history(self) -> dict[str, PhoneHistoryEntry]:
        """Current generation: every number the account has called, with its opt-out flag."""
        what = "GET /calls/phone-history"
        data = self._get("/calls/phone-history")
        history = data.get("phone_history") if isinstance(data, dict) else None
        if not isinstance(history, dict):
            raise BadAnswerError(f"Revox {what}: unexpected answer: no object 'phone_history'")
        return {str(k): self._parse(PhoneHistoryEntry, v, what) for k, v in history.items()}

    def cancel_call(self, call_id: str) -> None:
        """Stop one call (both generations)."""
        self._post(f"/call/{call_id}/cancel", {}, idempotent=True)

    def auth_status(self) -> bool:
        """Whether the key is valid: GET /auth-status, or a one-item read where it is missing.

        A 401/403 raises AuthError; an answer saying ``authenticated: false`` returns False.
        """
        try:
            data = self._get("/auth-status")
        except NotFoundError:
            self._get("/campaigns", params={"page": 1, "page_size": 1})
            return True
        return self._parse(AuthStatus, data, "GET /auth-status").authenticated

    def assistant_exists(self, assistant_id: str) -> bool:
        """Whether GET /assistants/{id} finds the assistant on this account."""
        try:
            self._get(f"/assistants/{assistant_id}")
        except NotFoundError:
            return False
        return True
