"""Keys for keyless rows: drawn fresh, stored in the rows, acknowledged before any is sent.

A row without a key gets one written into its key cell, only into the row still read at
that line and still showing the same phone (``RowUpdate.expect``); a row is submitted
only once the source acknowledged its key. Rejected keyless rows get their rejection
with the key, in the same write; every rejected row's record is stored here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from adapters.base import RowUpdate, Source
from connector.config import Mapping, WriteBack
from connector.errors import RetryableError
from connector.journal import digest
from connector.mapping import Contact, Rejection
from connector.outbox import ColumnOrder
from connector.records import RowRecord
from connector.results import rejected_values
from connector.state import StateStore
from connector.summary import TickSummary

GENERATED_KEY = re.compile(r"rx[0-9a-f]{10}")  # what new_key makes (a fresh state spots it)


class Keyless(NamedTuple):
    """A keyless row kept until its key is stored: its line and phone cell (the key goes
    only into a row that still shows it), not every cell; a tuple, not a Classified and
    a Row (a first tick of a file or sheet keeps one for every row)."""

    line: int
    phone: str
    cells: str | None
    contact: Contact | None
    rejection: Rejection | None


def rejection_record(rej: Rejection, cells: str | None = None) -> RowRecord:
    """A rejected row's state; `fp` tells whether the same rejection was written already,
    `cells` (when known) lets the next tick keep it without mapping the unchanged row."""
    fp = digest({"reason": rej.reason, "message": rej.message})
    record: RowRecord = {"state": "rejected", "reason": rej.reason, "fp": fp}
    if cells is not None:
        record["message"], record["cells"] = rej.message, cells
    return record


# a rejected row to store: its key, the rejection, its record, its cells' fingerprint
Rejected = tuple[str, Rejection, RowRecord | None, str | None]


def store_rejections(
    state: StateStore, wb: WriteBack, rejections: list[Rejected]
) -> dict[str, dict[str, str]]:
    """Store rejected rows' records in one statement; the cells to write back for those
    whose rejection changed."""
    records: list[tuple[str, RowRecord]] = []
    writes: dict[str, dict[str, str]] = {}
    for key, rej, rec, cells in rejections:
        record = rejection_record(rej, cells)
        if rec is not None and rec.get("fp") == record["fp"]:
            if rec.get("cells") != cells or rec.get("message") != rej.message:
                records.append((key, record))  # same cells written: only the record
            continue  # unchanged since it was written back
        records.append((key, record))
        writes[key] = rejected_values(wb, rej)
    state.rows.put_many(records)
    return writes


def fresh_keys(state: StateStore, new_key: Callable[[], str], n: int) -> list[str]:
    """Up to n new keys, none drawn twice nor already a row of the state. A generated key
    has 40 random bits: among a million of them a repeat is likely (about one chance in
    three), and a repeated key makes the later row a copy (duplicate_key). Rows left
    without a key (never, unless new_key keeps repeating) wait a tick."""
    keys: dict[str, None] = {}
    for _ in range(5):
        if len(keys) >= n:
            break
        drawn = [new_key() for _ in range(n - len(keys))]
        known = state.rows.get_many(drawn)
        keys.update((k, None) for k in drawn if k not in known)
    return list(keys)[:n]


def assign_keys(
    m: Mapping,
    source: Source,
    state: StateStore,
    phone_header: str,
    keys: list[str],
    keyless: list[Keyless],
    s: TickSummary,
) -> list[Contact]:
    """Store ``keys`` in the keyless rows (one write); the contacts whose key the source
    acknowledged, in line order, ready to be submitted."""
    col = source.key_column
    if col is None:
        return []
    pending = dict(zip(keys, keyless, strict=False))
    order = ColumnOrder(m, source)
    updates = []
    for k, c in pending.items():
        cells = {col: k}
        if c.rejection is not None:
            cells.update(rejected_values(m.write_back, c.rejection))
        # the key goes only into the row read at that line, not one moved into its place
        updates.append(RowUpdate(k, order(cells), c.line, {phone_header: c.phone}))
    try:
        report = source.write_back(updates)
    except RetryableError as exc:
        s.fail("keys", m.source.type, f"assigning row keys: {exc}", exc)
        return []
    s.keys_assigned = len(report.written)
    news: list[Contact] = []
    for k in report.written:
        c = pending[k]
        if c.rejection is not None:  # its rejection went out with the key
            state.rows.put(k, rejection_record(c.rejection, c.cells))
        elif c.contact is not None:
            news.append(c.contact._replace(key=k))
    state.commit()
    return sorted(news, key=lambda c: c.line)
