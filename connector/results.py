"""What is written back into a row: submission statuses, rejections and call results."""

from __future__ import annotations

import json
from datetime import datetime
from typing import NamedTuple

from connector.config import WriteBack
from connector.mapping import Rejection
from connector.records import RowRecord
from connector.revox import CampaignRow
from connector.state import StateStore

# Seed-generation outcomes after which this connector must never submit the number again
# (the current generation says it in the phone history instead: launcher.py).
DNC_OUTCOMES = frozenset({"do_not_contact", "ai_averse"})


def _pick(wb: WriteBack, results: dict[str, str]) -> dict[str, str]:
    """Keep the results the mapping asked for, keyed by their column or field."""
    return {col: results[name] for name, col in wb.targets().items() if name in results}


def _status_with_reason(wb: WriteBack, status: str, reason: str) -> str:
    """Without an `error` column the status cell carries the reason ("rejected: why"):
    a person looking at the row must see why it was not called."""
    return status if "error" in wb.targets() else f"{status}: {reason}"


def shows_no_submission(status_cell: str) -> bool:
    """Whether a status cell is one we write for a row that was never submitted."""
    return status_cell.split(":", 1)[0].strip() in ("rejected", "failed")


def rejected_values(wb: WriteBack, rej: Rejection) -> dict[str, str]:
    why = f"{rej.reason}: {rej.message}"
    return _pick(wb, {"status": _status_with_reason(wb, "rejected", why), "error": why})


def submitted_values(wb: WriteBack, campaign_id: str) -> dict[str, str]:
    return _pick(wb, {"status": "submitted", "campaign": campaign_id, "error": ""})


def failed_values(wb: WriteBack, message: str) -> dict[str, str]:
    return _pick(wb, {"status": _status_with_reason(wb, "failed", message), "error": message})


class CallResult(NamedTuple):
    """One call's cells and what the poller needs of it (a named tuple: one per row read)."""

    values: dict[str, str]
    final: bool = False
    do_not_call: bool = False
    call_id: str | None = None
    outcome: str | None = None
    summary: str = ""
    ended_at: str | None = None
    duration_seconds: int | None = None


class ResultCells:
    """The cells of call results for one mapping's write_back (its targets read once)."""

    def __init__(self, wb: WriteBack) -> None:
        self._targets = list(wb.targets().items())
        self._structured = list(wb.structured_output.items())

    def of(self, row: CampaignRow, campaign_id: str) -> CallResult | None:
        """The cells for one campaign row, or None while no call exists yet."""
        call = row.call
        if call is None:
            return None
        att = call.last_call_attempt
        errored = call.status == "errored"
        results = {
            "status": call.status,
            "campaign": campaign_id,
            "outcome": call.outcome or "",
            "summary": call.outcome_summary or "",
            "result": (att.result or att.dial_error or "") if att else "",
            "attempts": str(call.calls_count),
            "last_call_at": (att.ended_at or att.started_at or "") if att else "",
            "recording_url": (att.recording_url or "") if att else "",
            "error": ((att.dial_error or att.end_reason or "errored") if att else "errored")
            if errored
            else "",
            "call_id": call.id,
            "do_not_call": "yes" if call.outcome in DNC_OUTCOMES else "",
        }
        values = {col: results[name] for name, col in self._targets if name in results}
        extracted = (att.structured_output if att else None) or {}
        for name, col in self._structured:
            v = extracted.get(name)
            values[col] = "" if v is None else v if isinstance(v, str) else json.dumps(v)
        return CallResult(
            values=values,
            final=call.final,
            do_not_call=call.outcome in DNC_OUTCOMES,
            call_id=call.id,
            outcome=call.outcome,
            summary=call.outcome_summary or "",
            ended_at=att.ended_at if att else None,
            duration_seconds=_seconds(att.answered_at or att.started_at, att.ended_at)
            if att
            else None,
        )


def _seconds(start: str | None, end: str | None) -> int | None:
    """Whole seconds between two ISO timestamps, or None when either is missing or odd."""
    if not start or not end:
        return None
    try:
        delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except (ValueError, TypeError):
        return None
    seconds = int(delta.total_seconds())
    return seconds if seconds >= 0 else None


def end_rows(
    state: StateStore,
    wb: WriteBack,
    rows: list[tuple[str, RowRecord]],
    message: str,
    *,
    error: bool = False,
) -> dict[str, dict[str, str]]:
    """Rows whose campaign ended without their call (deleted, never called, launch refused):
    done, in one statement; the cells that say why, to write back."""
    for _, rec in rows:
        rec["state"] = "done"
        if error:
            rec["error"] = message
    state.rows.put_many(rows)
    return {key: failed_values(wb, message) for key, _ in rows}
