"""A small httpx client for the Revox endpoints the connector uses (see revox-api.md).

Reads are retried with backoff on 429/5xx/timeouts, honouring Retry-After. The one
non-idempotent call, POST /campaigns, is never retried here: a timeout or a dropped
connection after the request was sent raises AmbiguousError, and the engine reconciles
by campaign name before anything is sent again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connector.errors import (
    AmbiguousError,
    AuthError,
    NotFoundError,
    RejectedError,
    TransientError,
)

DEFAULT_BASE_URL = "https://www.getrevox.com/api"
FINAL_CALL_STATUSES = frozenset({"completed", "cancelled", "errored"})


M = TypeVar("M", bound=BaseModel)


class BadAnswerError(TransientError):
    """An answer of the wrong shape: that object is skipped this tick, the others go on."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _timestamp(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


class RowStats(_Lenient):
    total: int = 0
    pending: int = 0
    calling: int = 0
    retry: int = 0
    completed: int = 0
    failed: int = 0
    not_launched: int | None = None
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

    def nothing_launched(self) -> bool:
        """True when the newer API generation created every call as not_launched."""
        s = self.row_stats
        return s.total > 0 and s.not_launched == s.total


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

    @property
    def final(self) -> bool:
        return self.status in FINAL_CALL_STATUSES


class CampaignRow(_Lenient):
    id: str = ""
    row_index: int
    phone_number: str = ""
    call: Call | None = None


class ContactIn(BaseModel):
    to_phone_number: str
    prompt_variables: dict[str, str]


def _retry_after(resp: httpx.Response) -> float | None:
    ms = resp.headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    sec = resp.headers.get("retry-after")
    if sec:
        try:
            return float(sec)
        except ValueError:
            return None
    return None


def _raise_for(resp: httpx.Response, what: str, secret: str) -> None:
    code = resp.status_code
    if code < 300:
        return
    # a proxy or a server may echo the request headers: never show the key
    body = resp.text[:300].replace("\n", " ").replace(secret, "[REDACTED]")
    msg = f"Revox {what}: HTTP {code}: {body}"
    if code in (401, 403):
        raise AuthError(f"{msg} (check REVOX_API_KEY)")
    if code == 404:
        raise NotFoundError(msg)
    if code == 429 or code >= 500:
        raise TransientError(msg, retry_after=_retry_after(resp))
    raise RejectedError(msg, status=code, body=resp.text)


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
        self._key = api_key
        self._max_retries = max_retries
        self._page_size = rows_page_size
        self._max_backoff = max_backoff
        self._sleep = sleep
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET with bounded retries: safe to repeat."""
        attempt = 0
        while True:
            self.requests += 1
            try:
                resp = self._http.get(path, params=params)
                _raise_for(resp, f"GET {path}", self._key)
                return resp.json()
            except TransientError as exc:
                err: TransientError = exc
            except (httpx.TransportError, ValueError) as exc:
                err = TransientError(f"Revox GET {path}: {type(exc).__name__}: {exc}")
                err.__cause__ = exc
            if attempt >= self._max_retries:
                raise err
            wait = err.retry_after
            if wait is None:
                wait = min(self._max_backoff, 0.5 * 2**attempt) * (0.5 + random.random() / 2)
            self._sleep(min(wait, self._max_backoff))
            attempt += 1

    def _post(self, path: str, body: dict[str, Any], *, idempotent: bool) -> Any:
        self.requests += 1
        try:
            resp = self._http.post(path, json=body)
        except httpx.ConnectError as exc:  # nothing was sent
            raise TransientError(f"Revox POST {path}: cannot connect: {exc}") from exc
        except httpx.TransportError as exc:
            if idempotent:
                raise TransientError(f"Revox POST {path}: {type(exc).__name__}") from exc
            raise AmbiguousError(
                f"Revox POST {path}: {type(exc).__name__} after sending; "
                "the request may have been applied"
            ) from exc
        if resp.status_code >= 500 and not idempotent:
            raise AmbiguousError(
                f"Revox POST {path}: HTTP {resp.status_code}; may have been applied"
            )
        _raise_for(resp, f"POST {path}", self._key)
        try:
            return resp.json()
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
        """POST /campaigns, exactly once. Never retried here."""
        data = self._post("/campaigns", body, idempotent=False)
        try:
            if not isinstance(data, dict):
                raise TransientError("Revox POST /campaigns: answer is not an object")
            return self._parse(Campaign, data.get("campaign"), "POST /campaigns")
        except TransientError as exc:
            raise AmbiguousError(f"{exc}; the campaign may have been created") from exc

    def list_campaigns(self) -> list[Campaign]:
        items = self._list(self._get("/campaigns"), "campaigns", "GET /campaigns")
        return [self._parse(Campaign, c, "GET /campaigns") for c in items]

    def get_campaign(self, campaign_id: str) -> Campaign:
        data = self._get(f"/campaigns/{campaign_id}")
        found = data.get("campaign") if isinstance(data, dict) else None
        return self._parse(Campaign, found, "GET /campaigns/{id}")

    def campaign_rows(self, campaign_id: str) -> list[CampaignRow]:
        """Every row of a campaign, following pages until `total` rows are read."""
        rows: list[CampaignRow] = []
        page = 1
        what = "GET /campaigns/{id}/rows"
        while True:
            params = {"page": page, "page_size": self._page_size}
            data = self._get(f"/campaigns/{campaign_id}/rows", params=params)
            batch = self._list(data, "rows", what)
            rows += [self._parse(CampaignRow, r, what) for r in batch]
            total = data.get("total")
            if not isinstance(total, int) or not batch or len(rows) >= total:
                return rows
            page += 1

    def launch(self, campaign_id: str) -> None:
        """Start the calls of a campaign (newer generation: launch-calls; older: launch)."""
        try:
            self._post(
                f"/campaigns/{campaign_id}/launch-calls",
                {"mode": "ai_first", "selection": {"type": "all"}},
                idempotent=True,
            )
        except NotFoundError:
            self._post(f"/campaigns/{campaign_id}/launch", {}, idempotent=True)

    def auth_status(self) -> bool:
        """Whether the key is valid: GET /auth-status, or a one-item read where it is missing.

        A 401/403 raises AuthError; an answer saying ``authenticated: false`` returns False.
        """
        try:
            data = self._get("/auth-status")
        except NotFoundError:
            self._get("/campaigns", params={"page": 1, "page_size": 1})
            return True
        return bool(data.get("authenticated")) if isinstance(data, dict) else False

    def assistant_exists(self, assistant_id: str) -> bool:
        """Whether GET /assistants/{id} finds the assistant on this account."""
        try:
            self._get(f"/assistants/{assistant_id}")
        except NotFoundError:
            return False
        return True
