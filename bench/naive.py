"""A naive Sheets -> Revox sync, written only to compare request counts with revox-sync.

What a first script usually looks like: gspread's high-level calls, one row at a time.
Each tick reads the header, then for every row:

- reads the row (``Worksheet.row_values``: one Sheets read);
- a row without a campaign: one ``POST /campaigns`` with that single contact, then
  ``update_cell`` for its status and its campaign id (two Sheets writes);
- a row with a campaign: one ``GET /campaigns/{id}/rows``; when the call's status differs
  from the row's, ``update_cell`` for each result column (four Sheets writes).

It runs in the bench process against the same emulators as revox-sync; its cost in
requests is linear in rows, so it is measured at a small size and extrapolated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gspread
import httpx
from google.oauth2.credentials import Credentials

from adapters.sheets_client import RedirectSession
from connector.mapping import parse_phone

RESULT_COLUMNS = ("Revox status", "Outcome", "Call summary", "Attempts")
CAMPAIGN_COLUMN = "Revox campaign"


@dataclass
class NaiveTick:
    wall: float = 0.0
    sheets_reads: int = 0
    sheets_writes: int = 0
    revox_creates: int = 0
    revox_gets: int = 0
    results_written: int = 0
    errors: list[str] = field(default_factory=list)


class NaiveSync:
    """Per-row reads, per-cell writes, one campaign per row."""

    def __init__(
        self, sheets_url: str, spreadsheet_id: str, worksheet: str, revox_url: str, api_key: str
    ) -> None:
        session = RedirectSession(Credentials(token="emulator"), sheets_url)  # type: ignore[no-untyped-call]
        self._gc = gspread.Client(auth=session.credentials, session=session)
        self._sid, self._title = spreadsheet_id, worksheet
        self._ws: gspread.Worksheet | None = None
        self._revox = httpx.Client(
            base_url=revox_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        )
        self.assistant_id = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"

    def close(self) -> None:
        self._revox.close()

    def _sheet(self) -> gspread.Worksheet:
        if self._ws is None:
            self._ws = self._gc.open_by_key(self._sid).worksheet(self._title)
        return self._ws

    def tick(self) -> NaiveTick:
        t = NaiveTick()
        start = time.perf_counter()
        ws = self._sheet()
        header = [str(h) for h in ws.row_values(1)]
        t.sheets_reads += 1
        for name in (*RESULT_COLUMNS, CAMPAIGN_COLUMN):
            if name not in header:
                header.append(name)
                ws.update_cell(1, len(header), name)
                t.sheets_writes += 1
        col = {name: i + 1 for i, name in enumerate(header)}
        for line in range(2, ws.row_count + 1):
            cells = ws.row_values(line)
            t.sheets_reads += 1
            if not cells:
                break
            row = {header[i]: str(v) for i, v in enumerate(cells) if i < len(header)}
            campaign = row.get(CAMPAIGN_COLUMN, "")
            if not campaign:
                self._submit(ws, line, row, col, t)
            else:
                self._poll(ws, line, row, campaign, col, t)
        t.wall = time.perf_counter() - start
        return t

    def _submit(
        self, ws: gspread.Worksheet, line: int, row: dict[str, str], col: dict[str, int],
        t: NaiveTick,
    ) -> None:  # fmt: skip
        e164, _reason, message = parse_phone(row.get("Phone", ""), "FR")
        if e164 is None:
            t.errors.append(f"line {line}: {message}")
            return
        body = {
            "assistant_id": self.assistant_id,
            "name": f"naive line {line}",
            "launch": True,
            "contacts": [
                {
                    "to_phone_number": e164,
                    "prompt_variables": {"first_name": row.get("Name", "")},
                }
            ],
        }
        resp = self._revox.post("/campaigns", json=body)
        t.revox_creates += 1
        resp.raise_for_status()
        cid = resp.json()["campaign"]["id"]
        ws.update_cell(line, col["Revox status"], "submitted")
        ws.update_cell(line, col[CAMPAIGN_COLUMN], cid)
        t.sheets_writes += 2

    def _poll(
        self, ws: gspread.Worksheet, line: int, row: dict[str, str], campaign: str,
        col: dict[str, int], t: NaiveTick,
    ) -> None:  # fmt: skip
        resp = self._revox.get(f"/campaigns/{campaign}/rows")
        t.revox_gets += 1
        resp.raise_for_status()
        rows: list[dict[str, Any]] = resp.json().get("rows") or []
        call = rows[0].get("call") if rows else None
        if not call or call.get("status") == row.get("Revox status", ""):
            return
        values = {
            "Revox status": call.get("status") or "",
            "Outcome": call.get("outcome") or "",
            "Call summary": call.get("outcome_summary") or "",
            "Attempts": str(call.get("calls_count") or 0),
        }
        for name, value in values.items():
            ws.update_cell(line, col[name], value)
            t.sheets_writes += 1
        t.results_written += 1
