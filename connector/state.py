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
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

import orjson

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


_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _encode(obj: Any) -> str:
    """Compact, sorted JSON text (orjson: the state's encoding was a third of a first
    tick's own work with the json module). Text, not bytes: SQLite's json functions read
    a BLOB as its binary JSONB format."""
    return orjson.dumps(obj, option=_OPTS).decode()


def _decode(text: Any) -> Any:
    return orjson.loads(text)


# Many records are written in key order: SQLite then walks its B-tree once, left to right,
# instead of jumping to a random page per record (generated keys are random). Deleting a
# first tick's 100k outbox entries took 0.52 s in hash order, 0.18 s sorted.
_first = itemgetter(0)


class StateStore:
    """The state of one team. Changes are invisible to other readers until ``commit()``."""

    def __init__(
        self, path: Path, *, readonly: bool = False, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        self.path = path
        self.readonly = readonly
        self._settled = SettledRows(TABLE)
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

    # generic access ---------------------------------------------------------------
    def _get(self, kind: str, key: str) -> Record | None:
        with self._guard("reading"):
            row = self._conn.execute(
                f'SELECT value FROM "{TABLE}" WHERE key = ?', (f"{kind}:{key}",)
            ).fetchone()
        return None if row is None else cast("Record", _decode(row[0]))

    def _put(self, kind: str, key: str, record: Record) -> None:
        sql = f'INSERT OR REPLACE INTO "{TABLE}" (key, value) VALUES (?, ?)'
        self._write("writing", sql, (f"{kind}:{key}", _encode(record)))
        if kind == "r":
            self._settled.wrote([(key, record)])

    def _put_many(self, kind: str, records: Iterable[tuple[str, Record]]) -> None:
        """put() for many records of one kind in one statement (the same step)."""
        sql = f'INSERT OR REPLACE INTO "{TABLE}" (key, value) VALUES (?, ?)'
        records = list(records)
        rows = [(f"{kind}:{key}", _encode(rec)) for key, rec in records]
        if not rows:
            return
        rows.sort(key=_first)  # in key order (stable: a key given twice, the last wins)
        with self._guard("writing"):
            self._begin()
            self._conn.executemany(sql, rows)
        if kind == "r":
            self._settled.wrote(records)

    def _delete_many(self, kind: str, keys: Iterable[str]) -> None:
        """delete() for many keys of one kind in one statement (the same step)."""
        keys = list(keys)
        rows = sorted((f"{kind}:{key}",) for key in keys)
        if not rows:
            return
        with self._guard("deleting"):
            self._begin()
            self._conn.executemany(f'DELETE FROM "{TABLE}" WHERE key = ?', rows)
        if kind == "r":
            self._settled.wrote((key, None) for key in keys)

    def _get_many(self, kind: str, keys: Iterable[str]) -> dict[str, Record]:
        """The records of many keys, one query per 500 keys."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Record] = {}
        if not wanted or not self._any(kind):
            return out  # none of this kind (a first tick's owners): no query per 500 keys
        cut = len(kind) + 1
        with self._guard("reading"):
            for i in range(0, len(wanted), 500):
                chunk = [f"{kind}:{k}" for k in wanted[i : i + 500]]
                marks = ",".join("?" * len(chunk))
                query = f'SELECT key, value FROM "{TABLE}" WHERE key IN ({marks})'
                for key, value in self._conn.execute(query, chunk):
                    out[key[cut:]] = cast("Record", _decode(value))
        return out

    def settled_rows(self) -> dict[str, RowState]:
        """key -> state of every row that is queued, submitted or done (settled.py): read
        once per process, kept up to date by this store's writes; a steady tick needs no
        query per row."""
        with self._guard("reading"):
            return self._settled.get(self._conn)

    def _delete(self, kind: str, key: str) -> None:
        self._write("deleting", f'DELETE FROM "{TABLE}" WHERE key = ?', (f"{kind}:{key}",))
        if kind == "r":
            self._settled.wrote([(key, None)])

    def _scan(self, kind: str) -> Iterator[tuple[str, Record]]:
        """Every record of one kind, in key order (an index range scan, not a full table read)."""
        lo, hi = f"{kind}:", f"{kind};"
        query = f'SELECT key, value FROM "{TABLE}" WHERE key >= ? AND key < ? ORDER BY key'
        with self._guard("reading"):
            cursor = self._conn.execute(query, (lo, hi))
            while batch := cursor.fetchmany(1000):
                for key, value in batch:
                    yield key[len(lo) :], cast("Record", _decode(value))

    def _page(self, kind: str, after: str | None, limit: int) -> list[tuple[str, Record]]:
        """Up to ``limit`` records of one kind whose key sorts after ``after`` (None: from
        the first), in key order: a scan in pages that leaves no cursor open between them,
        so the caller may write (delete, commit) between pages."""
        lo, hi = f"{kind}:", f"{kind};"
        start = lo if after is None else f"{kind}:{after}"
        op = ">=" if after is None else ">"
        query = (
            f'SELECT key, value FROM "{TABLE}" WHERE key {op} ? AND key < ? ORDER BY key LIMIT ?'
        )
        with self._guard("reading"):
            rows = self._conn.execute(query, (start, hi, limit)).fetchall()
        return [(key[len(lo) :], cast("Record", _decode(value))) for key, value in rows]

    def _states(self, kind: str) -> list[tuple[str, str]]:
        """(key, record's "state") of every record of one kind, in key order, without
        decoding the records (a campaign's record holds every key of its batch)."""
        lo, hi = f"{kind}:", f"{kind};"
        query = (
            f"SELECT key, json_extract(value, '$.state') FROM \"{TABLE}\" "
            "WHERE key >= ? AND key < ? ORDER BY key"
        )
        with self._guard("reading"):
            rows = self._conn.execute(query, (lo, hi)).fetchall()
        return [(key[len(lo) :], str(st)) for key, st in rows]

    def _count(self, kind: str) -> int:
        lo, hi = f"{kind}:", f"{kind};"
        query = f'SELECT COUNT(*) FROM "{TABLE}" WHERE key >= ? AND key < ?'
        with self._guard("reading"):
            row = self._conn.execute(query, (lo, hi)).fetchone()
        return int(row[0]) if row else 0

    def _any(self, kind: str) -> bool:
        lo, hi = f"{kind}:", f"{kind};"
        query = f'SELECT 1 FROM "{TABLE}" WHERE key >= ? AND key < ? LIMIT 1'
        with self._guard("reading"):
            return self._conn.execute(query, (lo, hi)).fetchone() is not None

    def meta(self, name: str, default: Any = None) -> Any:
        with self._guard("reading"):
            row = self._conn.execute(
                f'SELECT value FROM "{TABLE}" WHERE key = ?', (f"m:{name}",)
            ).fetchone()
        return default if row is None else _decode(row[0])

    def set_meta(self, name: str, value: Any) -> None:
        sql = f'INSERT OR REPLACE INTO "{TABLE}" (key, value) VALUES (?, ?)'
        self._write("writing", sql, (f"m:{name}", _encode(value)))

    # domain helpers ----------------------------------------------------------------
    def row(self, key: str) -> RowRecord | None:
        return self.rows.get(key)

    def is_dnc(self, e164: str) -> bool:
        return self._get("d", e164) is not None

    def phone_owner(self, e164: str) -> str | None:
        rec = self._get("p", e164)
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
            (f"o:{key}", _encode({"values": values, "line": None, "attempts": 0, "error": None}))
            for key, values in writes.items()
        ]
        rows.sort(key=_first)
        with self._guard("writing"):
            self._begin()
            self._conn.executemany(sql, rows)

    def row_counts(self) -> dict[str, int]:
        return dict(Counter(st for _, st in self._states("r")))  # states read, not decoded

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
