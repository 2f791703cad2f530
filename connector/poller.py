"""Following open campaigns: each changed call result goes to the outbox.

A campaign whose summary (status, row_stats, updated_at) has not changed since the last
poll costs one GET; its rows are read (paged) only when something moved.
"""

from __future__ import annotations

import hashlib
from typing import cast

from adapters.base import CallLog
from connector import failpoints
from connector.callbacks import ResultHook
from connector.config import Mapping
from connector.errors import NotFoundError, RetryableError
from connector.journal import Journal, digest
from connector.records import CallLogRecord, CampaignRecord, RowRecord
from connector.results import ResultCells, end_rows
from connector.revox import BadAnswerError, CampaignRow, RevoxClient
from connector.seen import PRINT, PageRead, Results, Seen
from connector.state import StateStore
from connector.summary import TickSummary


class Poller:
    def __init__(
        self, m: Mapping, state: StateStore, revox: RevoxClient, journal: Journal, log_calls: bool
    ) -> None:
        self.m, self.state, self.revox, self.journal = m, state, revox, journal
        self.log_calls = log_calls
        self.hook: ResultHook | None = None
        self._tag: bytes | None = None

    def poll(self, s: TickSummary) -> None:
        # A campaign's record holds every key of its batch and what the last poll read: it
        # is decoded only when the campaign's summary changed (one at a time).
        for cid, (st, sig, launch) in self.state.campaigns.fields("state", "sig", "launch"):
            if st != "open":
                continue
            try:
                self._one(cid, sig, launch == "pending", s)
            except NotFoundError:
                if (crec := self.state.campaigns.get(cid)) is not None:
                    self._gone(cid, crec)
            except BadAnswerError as exc:
                s.fail("poll", "revox", f"polling campaign {cid}: {exc}", exc)  # others go on
            except RetryableError as exc:
                s.fail("poll", "revox", f"polling campaign {cid}: {exc}", exc)
                return
        self.state.commit()

    def _one(self, cid: str, last_sig: object, pending: bool, s: TickSummary) -> None:
        crec: CampaignRecord | None = None
        if pending:  # created, launch not acknowledged yet
            self.journal.launcher.launch(cid, s)
            crec = self.state.campaigns.get(cid)
            if crec is None or crec["state"] != "open":
                return
        camp = self.revox.get_campaign(cid)
        sig = digest({"c": camp.model_dump_json()})
        if sig == last_sig:
            return
        crec = crec or self.state.campaigns.get(cid)  # read once, even after a launch
        if crec is None:
            return
        keys: list[str] = crec["keys"]
        ending = camp.status == "completed" or camp.is_cancelled
        # What an earlier poll of this campaign fully handled (seen.py) is skipped: a page
        # or a row read again byte for byte. Not for a team with control/callbacks (its
        # cells also depend on the row's own state), nor for an ending campaign
        # (_never_called needs every row).
        skip = self.hook is None or not self.hook.active
        memo = Seen(self._key(), crec.get("seen"), crec.get("pages"), len(keys))
        seen = memo.rows
        finals = 0
        rows: list[CampaignRow] = []
        prints: dict[int, str] = {}
        handled: list[PageRead] = []  # the pages decoded, to remember (seen.py)
        for page in self.revox.campaign_row_pages(cid, memo.known if skip and not ending else None):
            page_print = memo.digest(page)
            if page.rows is None:
                finals += memo.finals(page_print)
                continue
            read = PageRead(page_print, page.total)
            handled.append(read)
            for raw in page.rows:
                index = raw.get("row_index") if isinstance(raw, dict) else None
                d = ""
                if skip and type(index) is int and 0 <= index < len(keys):
                    d = memo.row(raw)
                    read.rows.append((index, d))
                    if d and not ending and seen[index][:PRINT] == d:
                        finals += seen[index].endswith("!")
                        continue
                else:
                    read.rows.append((None, d))
                r = self.revox.parse_row(raw)
                if 0 <= r.row_index < len(keys):
                    rows.append(r)
                    if d:
                        prints[r.row_index] = d
        known = self.state.rows.get_many(keys[r.row_index] for r in rows if keys[r.row_index])
        # per row index, a digest of the cells last queued for it (Results, below)
        written = Results(crec.get("results"), len(keys))
        writes: dict[str, dict[str, str]] = {}
        ended: dict[str, str] = {}  # phone -> row key of calls that ended this poll
        changed: list[tuple[str, RowRecord]] = []  # row records to store, in one statement
        cells = ResultCells(self.m.write_back)
        digests: dict[tuple[tuple[str, str], ...], str] = {}
        stops: list[tuple[str, str, str]] = []  # opt-outs heard: (phone, outcome, row key)
        hook = self.hook if self.hook is not None and self.hook.active else None
        for r in rows:
            key = keys[r.row_index]
            res = cells.of(r, cid)
            if r.row_index in prints:  # handled in this step: skipped while unchanged
                final = res is not None and res.final
                seen[r.row_index] = prints[r.row_index] + ("!" if final else "")
            if res is None:
                continue
            if not key:  # a contact whose row is gone (rebuilt state): nothing to write
                finals += res.final
                continue
            rec = known.get(key)
            store = rec is None  # a row the state lost: stored as submitted from now on
            if rec is None:
                rec = {"state": "submitted"}
            elif _moved_on(rec, crec):  # called again in a later batch: not this call's row
                finals += res.final
                continue
            values = res.values if hook is None else hook.values(key, rec, res, r)
            same = tuple(values.items())  # many rows share their cells (queued calls)
            values_digest = digests.get(same) or digests.setdefault(same, digest(values))
            if written.changed(r.row_index, values_digest, rec):
                writes[key] = values
                s.results_written += 1
            if res.do_not_call and r.phone_number:
                stops.append((r.phone_number, res.outcome or "opt-out", key))
            if res.final:
                finals += 1
                if rec["state"] != "done" and r.phone_number:
                    ended[r.phone_number] = key
                if rec["state"] != "done" and self.log_calls and res.call_id:
                    subject = f"Revox call: {res.outcome or 'no outcome'}"
                    entry = CallLog(
                        res.call_id,
                        key,
                        subject,
                        res.outcome,
                        res.summary,
                        res.ended_at,
                        res.duration_seconds,
                    )
                    self.state.call_logs.put(res.call_id, cast(CallLogRecord, entry.__dict__))
                if rec["state"] != "done":
                    rec["state"] = "done"
                    store = True
            if store:  # a row record changes only when its call ends (or it was lost)
                changed.append((key, rec))
        self.journal.stop_numbers(stops)
        self.state.rows.put_many(changed)
        if ending:
            finals += self._never_called(keys, rows, known, writes, crec)
        self._opt_outs(ended, writes, s)
        self.state.queue_writes(writes)
        failpoints.hit("mid_poll")
        crec["sig"] = sig
        if written.digests is not None:
            crec["results"] = written.digests
        if prints or crec.get("seen") is not None:
            crec["seen"] = seen
        for read in handled:
            memo.record(read)
        if memo.pages or crec.get("pages") is not None:
            crec["pages"] = memo.pages
        if finals >= len(keys):
            crec["state"] = "final"
        self.state.campaigns.put(cid, crec)
        self.state.commit()

    def _key(self) -> bytes:
        """What shapes a row's cells (write_back), to key the digests of what was read."""
        if self._tag is None:
            self._tag = hashlib.blake2b(self.m.write_back.model_dump_json().encode()).digest()
        return self._tag

    def _opt_outs(
        self, ended: dict[str, str], writes: dict[str, dict[str, str]], s: TickSummary
    ) -> None:
        """Current generation: a call that ended may have opted out (phone history says)."""
        try:
            stopped = self.journal.launcher.opt_outs(list(ended))
        except RetryableError as exc:  # the submission gate reads the history again
            s.fail("phone_history", "revox", f"reading the phone history: {exc}", exc)
            return
        col = self.m.write_back.targets().get("do_not_call")
        for phone in stopped:
            if col:
                writes.setdefault(ended[phone], {})[col] = "yes"

    def _never_called(
        self,
        keys: list[str],
        rows: list[CampaignRow],
        known: dict[str, RowRecord],
        writes: dict[str, dict[str, str]],
        crec: CampaignRecord,
    ) -> int:
        """An ended campaign without a final call for some contacts: say so in their rows."""
        called = {r.row_index for r in rows if r.call is not None and r.call.final}
        msg = "Revox ended the campaign without a call for this contact"
        ended = 0
        lost = [k for i, k in enumerate(keys) if i not in called and k and k not in known]
        known = {**known, **self.state.rows.get_many(lost)}
        ending: list[tuple[str, RowRecord]] = []
        for index, key in enumerate(keys):
            if index in called:
                continue
            ended += 1
            rec = known.get(key) if key else None
            if rec is not None and rec["state"] != "done" and not _moved_on(rec, crec):
                ending.append((key, rec))
        writes.update(end_rows(self.state, self.m.write_back, ending, msg))
        return ended

    def _gone(self, cid: str, crec: CampaignRecord) -> None:
        """The campaign was deleted in the Revox UI: say so in its rows, stop polling it."""
        msg = "the campaign was deleted in Revox"
        known = self.state.rows.get_many(crec["keys"])
        ending = [
            (k, r) for k, r in known.items() if r["state"] != "done" and not _moved_on(r, crec)
        ]
        self.state.queue_writes(end_rows(self.state, self.m.write_back, ending, msg))
        crec["state"] = "deleted"
        self.state.campaigns.put(cid, crec)
        self.state.commit()


def _moved_on(rec: RowRecord, crec: CampaignRecord) -> bool:
    """The row was re-queued (callback, call again): it belongs to a later batch."""
    return bool(crec.get("batch") and rec.get("batch") and rec["batch"] != crec["batch"])
