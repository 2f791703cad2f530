"""A small httpx client for the Revox endpoints the connector uses.

Retries and error families are ``revox_http.py``'s. The one non-idempotent call,
POST /campaigns, is never retried after it may have been sent: AmbiguousError, and the
journal reconciles by campaign name before anything is sent again. Which body each API
generation takes is ``generations.py``'s business; the answer models are in
``revox_models.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from connector.errors import AmbiguousError, NotFoundError, TransientError
from connector.revox_http import NotSentError, RevoxHttp, json_of
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
    "KnownPage",
    "NotSentError",
    "PhoneHistoryEntry",
    "RevoxClient",
    "RowStats",
    "RowsPage",
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


@dataclass(frozen=True)
class CampaignList:
    """Every campaign of the account; ``complete`` is False when part of it could not be read."""

    campaigns: list[Campaign]
    complete: bool


@dataclass(frozen=True)
class RowsPage:
    """One page of a campaign's rows as read: its answer's bytes, its rows (not validated)
    or None when the caller knew the page (``campaign_row_pages``), and its `total`."""

    body: bytes
    rows: list[Any] | None
    total: int | None


# What a caller knows of a rows page it handled before, from the answer's bytes alone:
# (how many rows it had, its `total`), or None to have it decoded.
KnownPage = Callable[[bytes], "tuple[int, int | None] | None"]


def _page(
    resp: httpx.Response, known: KnownPage | None
) -> tuple[bytes, Any, tuple[int, int | None] | None]:
    """A rows page's bytes, and either what ``known`` says of them or their JSON."""
    body = resp.content
    hit = known(body) if known is not None else None
    return body, None if hit is not None else json_of(resp), hit


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
        self._http = RevoxHttp(
            api_key,
            base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_backoff=max_backoff,
            sleep=sleep,
            transport=transport,
        )
        self._page_size = rows_page_size

    @property
    def requests(self) -> int:
        """Requests sent so far, retries included."""
        return self._http.requests

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: dict[str, int] | None = None) -> Any:
        return self._http.get(path, params)

    def _post(self, path: str, body: dict[str, Any] | None, *, idempotent: bool) -> Any:
        return self._http.post(path, body, idempotent=idempotent)

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
        return [
            self.parse_row(r) for p in self.campaign_row_pages(campaign_id) for r in p.rows or []
        ]

    def parse_row(self, raw: Any) -> CampaignRow:
        """One row of ``campaign_row_pages``, validated (BadAnswerError when malformed)."""
        return self._parse(CampaignRow, raw, "GET /campaigns/{id}/rows")

    def campaign_row_pages(
        self, campaign_id: str, known: KnownPage | None = None
    ) -> Iterator[RowsPage]:
        """Every page of a campaign's rows as read (not validated), following pages until
        `total` rows are read. A page whose bytes ``known`` recognises is not decoded: the
        poller handles only the rows that changed."""
        path, what = f"/campaigns/{campaign_id}/rows", "GET /campaigns/{id}/rows"

        page, read_rows = 1, 0
        while True:
            params = {"page": page, "page_size": self._page_size}
            body, data, hit = self._http.get_with(path, params, partial(_page, known=known))
            if hit is not None:
                count, total = hit
                yield RowsPage(body, None, total)
            else:
                batch = self._list(data, "rows", what)
                given = data.get("total")
                count, total = len(batch), int(given) if isinstance(given, int) else None
                yield RowsPage(body, batch, total)
            read_rows += count
            if total is None or not count or read_rows >= total:
                return
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
