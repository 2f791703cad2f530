"""Call back when asked, and call again by policy (issue 14).

``ResultHook`` runs in the poller for each changed call result of a team whose mapping
has ``control`` or ``callbacks``: it keeps the stop note in the row, counts the attempts of
earlier rounds, and schedules a callback for a final ``requested_callback_later`` call
(in the poller's own commit: a result read but not committed is read again).

``elsewhere`` is the account-wide half of ``contacts.dedupe`` (current generation): a
number another team's campaign called within the window is not submitted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from connector.config import Mapping
from connector.journal import parse_marker, team_tag
from connector.mapping import DUPLICATE_PHONE, Contact, Rejection
from connector.records import ControlRecord, RowRecord
from connector.results import CallResult
from connector.revox import CampaignRow, PhoneHistoryEntry
from connector.state import StateStore

CALLBACK_OUTCOME = "requested_callback_later"


class ResultHook:
    """Adjusts a call's cells and schedules callbacks; a no-op without control/callbacks."""

    def __init__(self, m: Mapping, state: StateStore, clock: Callable[[], datetime]) -> None:
        self.m, self.state, self.clock = m, state, clock

    @property
    def active(self) -> bool:
        return self.m.control is not None or self.m.callbacks is not None

    def values(self, key: str, rec: RowRecord, res: CallResult, row: CampaignRow) -> dict[str, str]:
        """The cells to write for this result (``rec`` is the row before this poll)."""
        if not self.active:
            return res.values
        k = self.state.controls.get(key) or {}
        values = dict(res.values)
        cols = self.m.write_back.targets()
        stop = k.get("stop") or {}
        stopped = stop.get("batch") == rec.get("batch") and stop.get("state") == "sent"
        if stopped and "error" in cols:
            values[cols["error"]] = str(stop.get("note", ""))
        calls = row.call.calls_count if row.call else 0
        prior = int(k.get("prior", 0))
        if prior and "attempts" in cols:
            values[cols["attempts"]] = str(prior + calls)
        if res.final and rec.get("state") != "done":
            k["last"] = calls
            self._schedule(k, rec, res, row)
            self.state.controls.put(key, k)
        return values

    def _schedule(
        self, k: ControlRecord, rec: RowRecord, res: CallResult, row: CampaignRow
    ) -> None:
        cb = self.m.callbacks
        if cb is None or res.outcome != CALLBACK_OUTCOME or int(k.get("callbacks", 0)) >= cb.max:
            return
        if (k.get("stop") or {}).get("batch") == rec.get("batch"):
            return  # the rep stopped this row
        phone = rec.get("phone", "")
        if phone and self.state.is_dnc(phone):
            return
        asked = None
        att = row.call.last_call_attempt if row.call else None
        if cb.at_field and att and att.structured_output:
            raw = att.structured_output.get(cb.at_field)
            asked = raw if isinstance(raw, str) else None
        due = cb.due(self.clock(), asked)
        k["callbacks"] = int(k.get("callbacks", 0)) + 1
        k["prior"] = int(k.get("prior", 0)) + int(k.get("last", 0))
        k["last"] = 0
        k["pending"] = {"kind": "callback", "due": due.isoformat(), "from": rec.get("batch")}


def elsewhere(
    m: Mapping, history: dict[str, PhoneHistoryEntry], news: list[Contact], now: datetime
) -> dict[str, Rejection]:
    """Contacts whose number another team's campaign called within contacts.dedupe."""
    dd = m.contacts.dedupe
    if dd is None or not history:
        return {}
    ours = team_tag(m.team)
    out: dict[str, Rejection] = {}
    for c in news:
        e = history.get(c.to_phone_number)
        if e is None or not e.last_called_at:
            continue
        try:
            last = datetime.fromisoformat(e.last_called_at)
        except ValueError:
            continue
        if last.tzinfo is None or now - last > dd.window:
            continue
        theirs = [x for x in e.campaigns if _tag(str(x.get("name", ""))) != ours]
        if not theirs:
            continue
        name = str(theirs[-1].get("name") or theirs[-1].get("id"))
        msg = (
            f"{c.to_phone_number} was called on {last.date()} by another team's campaign "
            f"{name!r} (within contacts.dedupe {dd.within})"
        )
        phone = c.to_phone_number
        out[c.key] = Rejection(c.key, c.line, c.phone_input, DUPLICATE_PHONE, msg, phone)
    return out


def _tag(name: str) -> str:
    found = parse_marker(name)
    return found[0] if found else ""
