"""Per-team state: one SQLite file on the standard library's sqlite3, JSON-encoded (never
pickle: a state file must not be able to run code).

All records live in one table under key prefixes, so one ``commit()`` makes every change
of a protocol step durable at once (no half-applied step across tables):

    r:<row key>      row: state, phone, batch, campaign, row_index, fingerprint
    p:<e164>         the row key that owns a submitted number (duplicate check)
    d:<e164>         do-not-call: never submitted again
    b:<batch id>     the intent journal: state intent|created|failed, keys, contacts, name
    c:<campaign id>  campaign: open|final|deleted, row_index -> key, poll signature, and per
                     row what the last poll read and the digest of the cells it queued
    o:<row key>      outbox: cells not yet acknowledged by the source
    l:<call id>      call-log outbox (activity per finished call)
    m:<name>         meta: schema version, batch counter, last tick

Transactions: the connection runs with ``isolation_level=None`` and this class opens them
itself. The first write of a step starts ``BEGIN IMMEDIATE`` (the write lock is taken
then, waiting at most ``busy_timeout`` seconds, not at COMMIT where a conflict would lose
the step); ``commit()`` ends it. Any failure inside a store call rolls the open step back
and raises ``StateError``: a step is applied entirely or not at all. Everything runs in
the calling thread (sqlitedict, the first choice, ran statements on a worker thread and
raised a failed statement's error on a later call, after committing the rest).
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from connector.errors import ConfigError, StateError
from connector.records import (
    BatchRecord,
    CallLogRecord,
    CampaignRecord,
    ControlRecord,
    DncRecord,
    Kind,
    OutboxRecord,
    PhoneRecord,
    Record,
    RowRecord,
    RowState,
)
from connector.settled import SettledRows
from connector.state_file import (
    TABLE,
    DamagedStateError,
    Guard,
    check_file,
    move_aside,
    state_path,
)
from connector.state_table import Table, decode, encode

__all__ = [
    "SCHEMA_VERSION",
    "DamagedStateError",
    "Record",
    "StateStore",
    "move_aside",
    "state_path",
]

# 1: written through sqlitedict; 2: written by this module (same table and encoding).
SCHEMA_VERSION = 2
BUSY_TIMEOUT = 5.0  # seconds a step waits for another writer before it fails


class StateStore:
    """The state of one team. Changes are invisible to other readers until ``commit()``."""

    def __init__(
        self, path: Path, *, readonly: bool = False, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        self.path = path
        self.readonly = readonly
        self._settled = SettledRows(TABLE)
        self.table = Table(self)  # the statements on the one table (state_table.py)
        if readonly and not path.exists():
            raise ConfigError(f"{path}: no state yet (run a tick first)")
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(path, 0o600)
        check_file(path)
        target = f"{path.resolve().as_uri()}?mode=ro" if readonly else str(path)
        # check_same_thread=False: the daemon ticks a team on any of its worker threads, one
        # at a time (the team's lock); no thread of our own ever touches the connection.
        self._conn = sqlite3.connect(
            target,
            uri=readonly,
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    # the kinds of record (records.py types them) ------------------------------------
    @property
    def rows(self) -> Kind[RowRecord]:
        return Kind(self, "r")

    @property
    def owners(self) -> Kind[PhoneRecord]:
        """The row that owns a submitted number (the duplicate check)."""
        return Kind(self, "p")

    @property
    def opt_outs(self) -> Kind[DncRecord]:
        """Numbers never to be submitted again by this team."""
        return Kind(self, "d")

    @property
    def batches(self) -> Kind[BatchRecord]:
        """The intent journal."""
        return Kind(self, "b")

    @property
    def campaigns(self) -> Kind[CampaignRecord]:
        return Kind(self, "c")

    @property
    def outbox(self) -> Kind[OutboxRecord]:
        """Cells not yet acknowledged by the source."""
        return Kind(self, "o")

    @property
    def call_logs(self) -> Kind[CallLogRecord]:
        """Activities to log per finished call, not yet acknowledged."""
        return Kind(self, "l")

    @property
    def controls(self) -> Kind[ControlRecord]:
        """What the control column and the callbacks policy did to a row."""
        return Kind(self, "k")

    def _open(self) -> None:
        if not self.readonly:
            with self._guard("opening"):
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{TABLE}" (key TEXT PRIMARY KEY, value BLOB)'
                )
        version = self.meta("schema")
        if version is not None and int(version) > SCHEMA_VERSION:
            raise ConfigError(
                f"{self.path}: state written by a newer revox-sync (schema {version}); "
                "upgrade revox-sync"
            )
        if not self.readonly and version != SCHEMA_VERSION:
            self._migrate(int(version or 0))

    def _migrate(self, version: int) -> None:
        """Bring an older file up to SCHEMA_VERSION, one step at a time, in one transaction."""
        for v in range(max(version, 1), SCHEMA_VERSION):
            _MIGRATIONS[v](self)
        self.set_meta("schema", SCHEMA_VERSION)  # a new file starts at the current version
        self.commit()

    # transactions ------------------------------------------------------------------
    def _guard(self, what: str) -> Guard:
        return Guard(self, what)

    def _begin(self) -> None:
        if self.readonly:
            raise StateError(f"{self.path}: opened read-only, cannot write")
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN IMMEDIATE")

    def _write(self, what: str, sql: str, params: tuple[Any, ...]) -> None:
        with self._guard(what):
            self._begin()
            self._conn.execute(sql, params)

    def commit(self) -> None:
        """Make the open step durable; on failure it is rolled back and StateError raised."""
        if not self._conn.in_transaction:
            return
        with self._guard("committing"):
            self._conn.execute("COMMIT")

    def rollback(self) -> None:
        """Forget every change since the last commit (a step that did not finish)."""
        self._settled.drop()
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):  # SQLite may have rolled back itself (I/O error)
                self._conn.execute("ROLLBACK")

    @property
    def in_step(self) -> bool:
        """True while a step has uncommitted changes."""
        return self._conn.in_transaction

    def settled_rows(self) -> dict[str, RowState]:
        """key -> state of every row that is queued, submitted or done (settled.py): read
        once per process, kept up to date by this store's writes; a steady tick needs no
        query per row."""
        with self._guard("reading"):
            return self._settled.get(self._conn)

    def meta(self, name: str, default: Any = None) -> Any:
        with self._guard("reading"):
            row = self._conn.execute(
                f'SELECT value FROM "{TABLE}" WHERE key = ?', (f"m:{name}",)
            ).fetchone()
        return default if row is None else decode(row[0])

    def set_meta(self, name: str, value: Any) -> None:
        sql = f'INSERT OR REPLACE INTO "{TABLE}" (key, value) VALUES (?, ?)'
        self._write("writing", sql, (f"m:{name}", encode(value)))

    # domain helpers ----------------------------------------------------------------
    def row(self, key: str) -> RowRecord | None:
        return self.rows.get(key)

    def is_dnc(self, e164: str) -> bool:
        return self.table.get("d", e164) is not None

    def phone_owner(self, e164: str) -> str | None:
        rec = self.table.get("p", e164)
        return None if rec is None else str(rec["key"])

    def queue_writes(self, writes: dict[str, dict[str, str]]) -> None:
        """Add cells to rows' pending write-backs (later values win per column), in one
        statement: SQLite merges the new cells into an entry already waiting (json_patch,
        which keeps its other fields: line, attempts, error, parked), so the entries are
        neither read nor decoded here."""
        if not writes:
            return
        sql = (
            f'INSERT INTO "{TABLE}" (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET '
            "value = json_patch(value, json_object('values', "
            "json(json_extract(excluded.value, '$.values'))))"
        )
        rows = [
            (f"o:{key}", encode({"values": values, "line": None, "attempts": 0, "error": None}))
            for key, values in writes.items()
        ]
        rows.sort()  # in key order, as Table writes (keys are unique here)
        with self._guard("writing"):
            self._begin()
            self._conn.executemany(sql, rows)

    def row_counts(self) -> dict[str, int]:
        return dict(Counter(st for _, st in self.table.states("r")))  # states read, not decoded

    def close(self) -> None:
        """Close the file; an uncommitted step is rolled back, as a crash would."""
        self.rollback()
        self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _v1_to_v2(store: StateStore) -> None:
    """v1 -> v2: same table, keys and JSON values; only the writer changed (sqlitedict to
    sqlite3). Nothing to rewrite: the new version number records that the file is ours."""


_MIGRATIONS: dict[int, Callable[[StateStore], None]] = {1: _v1_to_v2}
