"""The row as a control surface (issue 14): stop a call, call again on purpose.

Per row the state keeps one ``k:<row key>`` record (records.ControlRecord):
- ``stop``: the stop of the row's current batch. ``intent`` is journalled and committed
  before ``POST /call/{id}/cancel``; ``sent`` once recorded. After a crash in between, the
  call is looked at first: already cancelled means recorded without a second request.
- ``pending``: a re-queue (callback or call again) of the row, valid while the row is
  still in batch ``from``: the journal's intent moves the row to a new batch in the same
  commit, so a pending re-queue is consumed exactly when its batch is journalled.

A row marked stop before it was ever submitted is rejected with reason ``stopped``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from adapters.base import norm
from connector import failpoints
from connector.classify import Classified
from connector.config import Mapping
from connector.errors import NotFoundError, RejectedError, RetryableError
from connector.journal import Journal
from connector.mapping import Contact, Rejection, ResolvedMapping, map_row
from connector.records import ControlRecord, PendingRecord, RowRecord, StopRecord
from connector.results import failed_values
from connector.revox import Call, RevoxClient
from connector.state import StateStore
from connector.summary import TickSummary

log = logging.getLogger(__name__)
STOPPED = "stopped"


@dataclass
class _Tick:
    """What one read of the source asked for."""

    stops: dict[str, tuple[RowRecord, str]] = field(default_factory=dict)  # key -> (row, who)
    agains: dict[str, Classified] = field(default_factory=dict)
    due: dict[str, Classified] = field(default_factory=dict)


class RowControl:
    """Reads the control column, cancels calls, re-arms and re-queues rows."""

    def __init__(
        self,
        m: Mapping,
        state: StateStore,
        revox: RevoxClient,
        journal: Journal,
        clock: Callable[[], datetime],
    ) -> None:
        self.m, self.state, self.revox, self.journal, self.clock = m, state, revox, journal, clock
        self.column: str | None = None
        self.by: str | None = None
        self.pending: dict[str, ControlRecord] = {}
        self.tick = _Tick()

    @property
    def active(self) -> bool:
        return self.m.control is not None or self.m.callbacks is not None

    def begin(self, headers: list[str]) -> None:
        """Before a read: find the control column, load the pending re-queues."""
        self.tick = _Tick()
        ctl = self.m.control

        def pick(want: str) -> str | None:
            return next((h for h in headers if norm(h) == norm(want)), None)

        self.column = pick(ctl.column) if ctl else None
        self.by = pick(ctl.by_column) if ctl and ctl.by_column else None
        self.pending = {k: r for k, r in self.state.controls.scan() if r.get("pending")}

    def says(self, c: Classified) -> str | None:
        if self.m.control is None or self.column is None:
            return None
        return self.m.control.says(c.row.values.get(self.column, ""))

    def look(self, c: Classified) -> Classified:
        """One classified row: a new row marked stop becomes a rejection; a submitted one
        is noted for ``apply``."""
        verdict, key = self.says(c), c.row.key
        if c.status == "new" and verdict == "stop" and c.contact is not None:
            who = self._who(c)
            msg = f"marked {c.row.values.get(self.column or '', '')!r}{who} before it was called"
            rej = Rejection(key, c.row.line, c.contact.phone_input, STOPPED, msg)
            return Classified(c.row, "rejected", rejection=rej, record=c.record)
        if c.status != "submitted" or key is None or c.record is None:
            return c
        if verdict in ("stop", "again") or key in self.pending:
            # a settled row is classified from its state alone (classify.py reads only the
            # state of settled rows): these few need their whole record
            full = self.state.row(key) or c.record
            c = Classified(c.row, c.status, c.contact, c.rejection, full)
        if verdict == "stop":
            self.tick.stops[key] = (full, self._who(c))
        elif verdict == "again":
            self.tick.agains[key] = c
        elif key in self.pending:
            self.tick.due[key] = c
        return c

    def _who(self, c: Classified) -> str:
        name = c.row.values.get(self.by, "").strip() if self.by else ""
        return f" by {name}" if name else ""

    # stopping ----------------------------------------------------------------------
    def apply(self, s: TickSummary) -> None:
        """Cancel every stopped row's call (once), and re-arm rows marked call again."""
        calls: dict[str, dict[int, Call | None]] = {}
        for key, (rec, who) in self.tick.stops.items():
            try:
                self._stop(key, rec, who, calls, s)
            except RetryableError as exc:
                s.fail(
                    "control", "revox", f"stopping row {key}: {exc} (tried again next tick)", exc
                )
        for key, c in self.tick.agains.items():
            self._again(key, c)
        self.state.commit()

    def _stop(
        self, key: str, rec: RowRecord, who: str, calls: dict[str, dict[int, Call | None]],
        s: TickSummary,
    ) -> None:  # fmt: skip
        k = self.state.controls.get(key) or {}
        stop = k.get("stop") or {}
        batch = rec.get("batch")
        if stop.get("batch") == batch and stop.get("state") != "intent":
            return  # this batch's stop is done
        now = self.clock().isoformat(timespec="seconds")
        note = f"stopped from the row{who} at {now}"
        if k.pop("pending", None) is not None:  # a callback or call again not sent yet
            self._record(key, k, {"batch": batch, "state": "held", "at": now, "note": note})
            return
        if rec["state"] == "queued":
            return  # the batch is not on Revox yet (intent): stopped once it is
        if rec["state"] == "done" or not rec.get("campaign"):
            late = f"stop came after the call ended ({now})"
            self._record(key, k, {"batch": batch, "state": "late", "at": now, "note": late}, 0)
            return
        cid = rec["campaign"]
        if cid not in calls:
            try:
                rows = self.revox.campaign_rows(cid)
            except NotFoundError:
                rows = []
            calls[cid] = {r.row_index: r.call for r in rows}
        call = calls[cid].get(int(rec.get("row_index", -1)))
        if call is None:
            s.fail(
                "control", "revox", f"stopping row {key}: Revox has no call for it yet (next tick)"
            )
            return
        if stop.get("state") == "intent" and call.status == "cancelled":
            log.info("row %s: call %s already cancelled; recorded", key, call.id)
        elif call.final:
            late = f"stop came after the call ended ({call.status}, {now})"
            self._record(key, k, {"batch": batch, "state": "late", "at": now, "note": late}, 0)
            return
        else:
            k["stop"] = {"batch": batch, "state": "intent", "call": call.id, "at": now}
            k["stop"]["note"] = note
            self.state.controls.put(key, k)
            self.state.commit()  # journalled before the cancel is sent
            failpoints.hit("after_cancel_intent")
            try:
                self.revox.cancel_call(call.id)
            except NotFoundError as exc:  # no such call any more: nothing left to stop
                log.info("row %s: call %s not found to cancel: %s", key, call.id, exc)
            except RejectedError as exc:  # the call may still run: never say "cancelled"
                refused = f"Revox refused to cancel call {call.id} ({now}): {exc}"
                self._record(
                    key, k, {"batch": batch, "state": "late", "at": now, "note": refused}, 0
                )
                return
            failpoints.hit("after_cancel")
        note = str((k.get("stop") or {}).get("note") or note)
        self._record(key, k, {"batch": batch, "state": "sent", "call": call.id, "at": now,
                              "note": note})  # fmt: skip

    def _record(self, key: str, k: ControlRecord, stop: StopRecord, cells: int = 1) -> None:
        k["stop"] = stop
        self.state.controls.put(key, k)
        if cells:
            values = failed_values(self.m.write_back, str(stop["note"]))
            status = self.m.write_back.targets().get("status")
            if status:
                values[status] = "cancelled"
            self.state.queue_writes({key: values})
        self.state.commit()
        failpoints.hit("after_cancel_record")

    # calling again -----------------------------------------------------------------
    def _again(self, key: str, c: Classified) -> None:
        """Re-arm a called row once per mark: the cell is rewritten to 'called again'."""
        rec = c.record or {}
        k = self.state.controls.get(key) or {}
        if rec.get("state") != "done" or k.get("again") == rec.get("batch"):
            return
        now = self.clock()
        k["again"] = rec.get("batch")
        k["prior"] = k.get("prior", 0) + k.get("last", 0)
        k["pending"] = {"kind": "again", "due": now.isoformat(), "from": rec.get("batch")}
        self.state.controls.put(key, k)
        if self.column:
            self.state.queue_writes({key: {self.column: f"called again {now.date()}"}})
        self.pending[key] = k
        self.tick.due[key] = c

    def requeue(self, rm: ResolvedMapping | None, s: TickSummary) -> list[Contact]:
        """The rows whose callback or call again is due now, as contacts to submit."""
        now = self.clock()
        out: list[Contact] = []
        cb = self.m.callbacks
        for key, c in self.tick.due.items():
            k = self.pending.get(key) or {}
            p: PendingRecord | dict[str, str] = k.get("pending") or {}
            rec = self.state.row(key) or {}
            if rm is None or not p or p.get("from") != rec.get("batch") or key in self.tick.stops:
                continue
            if datetime.fromisoformat(p["due"]) > now:
                continue
            if cb is not None and cb.window is not None and not cb.window.contains(now):
                continue
            mapped = map_row(rm, c.row)
            if not isinstance(mapped, Contact):
                s.fail(
                    "control", self.m.source.type,
                    f"row {key}: cannot be called again, the row no longer maps", retryable=False,
                )  # fmt: skip
                continue
            phone = mapped.to_phone_number
            owner = self.state.phone_owner(phone)
            stopped = self.state.is_dnc(phone) or bool(
                self.journal.dnc and self.journal.dnc.which([phone])
            )
            if stopped or (owner is not None and owner != key):
                why = "on the do-not-call list" if stopped else f"now owned by row {owner}"
                k.pop("pending")
                self.state.controls.put(key, k)
                note = f"not called again: {phone} is {why}"
                self.state.queue_writes({key: failed_values(self.m.write_back, note)})
                continue
            out.append(Contact(key, c.row.line, mapped.phone_input, phone, mapped.prompt_variables))
        self.state.commit()
        if out:
            failpoints.hit("after_requeue")  # due rows chosen, their batch not journalled yet
        return out
