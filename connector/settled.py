"""Which rows are settled (queued, submitted or done), kept in memory between ticks.

A steady tick reads every row of the source and must tell, for each, whether the state
already has it. Nearly all rows are settled, and a settled row needs nothing of its
record but its state, so the store keeps ``key -> state`` of the settled rows in a dict:
one scan of the state file per process, then kept up to date by the store's own writes.

It is never trusted beyond what it has seen:
- another connection's commit (the CLI, a restored file) changes SQLite's
  ``PRAGMA data_version``, which is read before every use: the dict is scanned again;
- a step rolled back drops the dict (its writes were applied to the dict, not to the file).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from connector.records import RowState

SETTLED_STATES: frozenset[RowState] = frozenset({"queued", "submitted", "done"})
# one string object per state, not one per row
_INTERNED: dict[str, RowState] = {s: s for s in SETTLED_STATES}


class SettledRows:
    def __init__(self, table: str) -> None:
        self._table = table
        self._states: dict[str, RowState] | None = None
        self._version: int | None = None

    def get(self, conn: sqlite3.Connection) -> dict[str, RowState]:
        """key -> state of every settled row, as the file (plus this step) has it now."""
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if self._states is None or version != self._version:
            marks = ",".join("?" * len(SETTLED_STATES))
            query = (
                f"SELECT substr(key, 3), st FROM (SELECT key, json_extract(value, '$.state') "
                f"AS st FROM \"{self._table}\" NOT INDEXED WHERE key >= 'r:' AND key < 'r;') "
                f"WHERE st IN ({marks})"
            )  # NOT INDEXED: the table read in its own order, not row by row through the key
            # index (half the CPU at 100k rows whose keys are random, as generated keys are)
            rows = conn.execute(query, sorted(SETTLED_STATES))
            self._states = {key: _INTERNED[st] for key, st in rows}
            self._version = version
        return self._states

    def wrote(self, records: Iterable[tuple[str, object]]) -> None:
        """Rows written by this connection (its records, or None when deleted)."""
        states = self._states
        if states is None:
            return
        for key, rec in records:
            st = rec.get("state") if isinstance(rec, dict) else None
            if isinstance(st, str) and st in _INTERNED:
                states[key] = _INTERNED[st]
            else:
                states.pop(key, None)

    def drop(self) -> None:
        """Forget everything (a rolled-back step): the next get() scans the file again."""
        self._states = None
