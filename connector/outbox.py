"""Writing the outbox back to the source, and parking what the source refuses for good.

Every write-back waits in the outbox (committed) until the source acknowledges it; a source
that is down loses nothing. A row the source refuses (a validation rule, a locked record)
is tried again at the next ticks; refused ``PARK_AFTER`` times in a row with the same
values, it is parked: no longer sent, no longer an error of every tick (so it does not keep
the team in backoff), counted in ``status`` and the metrics, and, where the mapping has an
error column, the row is told why in one best-effort write. New values for a parked row
(a later call result) un-park it.
"""

from __future__ import annotations

import logging

from adapters.base import CallLog, CallLogger, RowUpdate, Source
from connector import failpoints
from connector.config import Mapping
from connector.errors import RetryableError
from connector.journal import digest
from connector.records import OutboxRecord
from connector.state import StateStore
from connector.summary import TickSummary

log = logging.getLogger(__name__)
PARK_AFTER = 5  # above a lock held for a few ticks (UNABLE_TO_LOCK_ROW passes)
OUTBOX_PAGE = 5000  # outbox entries read (and, for a paged source, written back) at a time
_SHORT, _SHARED_MAX = 40, 10_000  # ColumnOrder(share=True): which values, how many kept


def column_ranks(m: Mapping, source: Source) -> dict[str, int]:
    """Column -> its place in the mapping's order (computed once per write, not per row)."""
    wb = m.write_back
    order = [source.key_column or "", *wb.targets().values(), *wb.structured_output.values()]
    return {c: i for i, c in enumerate(order)}


class ColumnOrder:
    """Cells in the mapping's column order, so new columns appear in that order. For many
    rows: rows written together mostly carry the same columns, so
    the order of each set of columns is worked out once. A source written in one call
    holds every row's cells at once: short values that repeat (a status, a campaign id,
    an empty cell) are then kept once, not once per row (``share``)."""

    def __init__(self, m: Mapping, source: Source, *, share: bool = False) -> None:
        self.rank = column_ranks(m, source)
        self._orders: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._shared: dict[str, str] | None = {} if share else None

    def __call__(self, values: dict[str, str]) -> dict[str, str]:
        shape = tuple(values)
        order = self._orders.get(shape)
        if order is None:
            last = len(self.rank)
            order = tuple(sorted(shape, key=lambda c: self.rank.get(c, last)))
            self._orders[shape] = order
        shared = self._shared
        if shared is None:
            return values if order == shape else {c: values[c] for c in order}
        keep = shared.setdefault if len(shared) < _SHARED_MAX else shared.get
        return {c: keep(v, v) if len(v := values[c]) <= _SHORT else v for c in order}


def parked(rec: OutboxRecord) -> bool:
    return rec.get("parked") is not None and rec.get("parked") == digest(rec["values"])


class Outbox:
    def __init__(self, m: Mapping, state: StateStore) -> None:
        self.m, self.state = m, state

    def flush(self, source: Source, s: TickSummary) -> None:
        """Write the outbox back. A source with a ``write_page`` (rows per write_back call)
        gets it page by page, each page acknowledged and committed before the next is
        read, so memory holds one page; the others get it in one call (one rewrite of a
        CSV file, one Sheets request)."""
        page: int = getattr(source, "write_page", None) or 0
        order = ColumnOrder(self.m, source, share=not page)
        after: str | None = None
        pending: list[RowUpdate] = []  # only the cells to write: the records are not kept
        while True:
            got = self.state.outbox.page(after, page or OUTBOX_PAGE)
            if got:
                after = got[-1][0]
                pending += [
                    RowUpdate(k, order(r["values"]), r["line"]) for k, r in got if not parked(r)
                ]
            last = len(got) < (page or OUTBOX_PAGE)
            if pending and (page or last):
                if not self._write(source, pending, s):
                    break  # the source is down: the rest waits in the outbox too
                pending = []
            if last:
                break
        s.parked = sum(1 for _, r in self.state.outbox.scan() if parked(r))
        self._flush_call_logs(source, s)

    def _write(self, source: Source, updates: list[RowUpdate], s: TickSummary) -> bool:
        """One write_back of these entries; False when the source could not be written."""
        try:
            report = source.write_back(updates)
            failpoints.hit("after_write_back")
        except RetryableError as exc:
            msg = f"writing {len(updates)} row(s) back: {exc} (kept in the outbox)"
            s.fail("write_back", self.m.source.type, msg, exc)
            return False
        self.state.outbox.delete_many(report.written | report.missing)
        by_key = self.state.outbox.get_many(report.failed)  # as stored, values included
        newly: dict[str, str] = {}
        refused: list[tuple[str, OutboxRecord]] = []
        for k, why in report.failed.items():
            rec: OutboxRecord = by_key.get(k) or {"values": {}, "line": None}
            rec["attempts"], rec["error"] = rec.get("attempts", 0) + 1, why
            if rec["attempts"] >= PARK_AFTER:
                rec["parked"] = digest(rec["values"])
                newly[k] = why
            refused.append((k, rec))
        self.state.outbox.put_many(refused)
        retried = len(report.failed) - len(newly)
        if retried:
            first = next(w for k, w in report.failed.items() if k not in newly)
            s.fail(
                "write_back", self.m.source.type,
                f"{retried} row(s) refused by the source, kept in the outbox: {first}",
            )  # fmt: skip
        if newly:
            s.fail(
                "write_back",
                self.m.source.type,
                retryable=False,
                message=f"{len(newly)} row(s) refused by the source {PARK_AFTER} times, parked "
                f"(see `revox-sync status`): {next(iter(newly.values()))}",
            )
        self.state.commit()
        if newly:
            self._tell_rows(source, newly)
        return True

    def _tell_rows(self, source: Source, newly: dict[str, str]) -> None:
        """Best effort: the row's error cell says why its result could not be written."""
        col = self.m.write_back.targets().get("error")
        if not col:
            return
        notes = [
            RowUpdate(k, {col: f"result not written, refused by the source: {why}"[:250]})
            for k, why in newly.items()
        ]
        try:
            source.write_back(notes)
        except RetryableError as exc:
            log.info("could not note %d parked row(s) in their error cell: %s", len(notes), exc)

    def _flush_call_logs(self, source: Source, s: TickSummary) -> None:
        if not isinstance(source, CallLogger):
            return
        pending = list(self.state.call_logs.scan())
        if not pending:
            return
        try:
            report = source.log_calls([CallLog(**r) for _, r in pending])
        except RetryableError as exc:
            s.fail("call_log", self.m.source.type, f"logging {len(pending)} call(s): {exc}", exc)
            return
        self.state.call_logs.delete_many(report.written | report.missing)
        self.state.commit()
