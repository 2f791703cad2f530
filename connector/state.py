"""Per-team state: one SQLite file through sqlitedict, JSON-encoded (never pickle).

All records live in one table under key prefixes, so one ``commit()`` makes every change
of a protocol step durable at once (no half-applied step across tables):

    r:<row key>      row: state, phone, batch, campaign, row_index, fingerprint, result hash
    p:<e164>         the row key that owns a submitted number (duplicate check)
    d:<e164>         do-not-call: never submitted again
    b:<batch id>     the intent journal: state intent|created|failed, keys, contacts, name
    c:<campaign id>  campaign: open|final|deleted, row_index -> key, poll signature
    o:<row key>      outbox: cells not yet acknowledged by the source
    l:<call id>      call-log outbox (activity per finished call)
    m:<name>         meta: schema version, batch counter, last tick
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, cast

from sqlitedict import SqliteDict

from connector.errors import ConfigError

SCHEMA_VERSION = 1
Record = dict[str, Any]
_TABLE = "state"


def _encode(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def _decode(text: Any) -> Any:
    return json.loads(text)


class StateStore:
    """The state of one team. Changes are invisible to other readers until ``commit()``."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        if readonly and not path.exists():
            raise ConfigError(f"{path}: no state yet (run a tick first)")
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(path, 0o600)
        _check_file(path)
        self._db = SqliteDict(
            str(path),
            tablename=_TABLE,
            flag="r" if readonly else "c",
            autocommit=False,
            journal_mode="WAL",
            encode=_encode,
            decode=_decode,
            outer_stack=False,
        )
        version = self._db.get("m:schema")
        if version is None and not readonly:
            self._db["m:schema"] = SCHEMA_VERSION
            self._db.commit()
        elif version is not None and version > SCHEMA_VERSION:
            raise ConfigError(
                f"{path}: state written by a newer revox-sync (schema {version}); "
                "upgrade revox-sync"
            )

    # generic access ---------------------------------------------------------------
    def get(self, kind: str, key: str) -> Record | None:
        return cast("Record | None", self._db.get(f"{kind}:{key}"))

    def put(self, kind: str, key: str, record: Record) -> None:
        self._db[f"{kind}:{key}"] = record

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, Record]:
        """The records of many keys, one round trip per 500 keys.

        sqlitedict hands each result row across its worker thread one at a time; one
        JSON object per chunk, built by SQLite, halves the cost of a steady tick.
        """
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Record] = {}
        cut = len(kind) + 1
        for i in range(0, len(wanted), 500):
            chunk = [f"{kind}:{k}" for k in wanted[i : i + 500]]
            marks = ",".join("?" * len(chunk))
            query = (
                f'SELECT json_group_object(key, json(value)) FROM "{_TABLE}" WHERE key IN ({marks})'
            )
            row = self._db.conn.select_one(query, chunk)
            if row and row[0]:
                for key, value in json.loads(row[0]).items():
                    out[key[cut:]] = cast("Record", value)
        return out

    def delete(self, kind: str, key: str) -> None:
        # queued like a put: no round trip to check the key first
        self._db.conn.execute(f'DELETE FROM "{_TABLE}" WHERE key = ?', (f"{kind}:{key}",))

    def scan(self, kind: str) -> Iterator[tuple[str, Record]]:
        """Every record of one kind, in key order (an index range scan, not a full table read)."""
        lo, hi = f"{kind}:", f"{kind};"
        query = f'SELECT key, value FROM "{_TABLE}" WHERE key >= ? AND key < ? ORDER BY key'
        for key, value in self._db.conn.select(query, (lo, hi)):
            yield key[len(lo) :], cast("Record", _decode(value))

    def count(self, kind: str) -> int:
        lo, hi = f"{kind}:", f"{kind};"
        query = f'SELECT COUNT(*) FROM "{_TABLE}" WHERE key >= ? AND key < ?'
        row = self._db.conn.select_one(query, (lo, hi))
        return int(row[0]) if row else 0

    def meta(self, name: str, default: Any = None) -> Any:
        return self._db.get(f"m:{name}", default)

    def set_meta(self, name: str, value: Any) -> None:
        self._db[f"m:{name}"] = value

    # domain helpers ----------------------------------------------------------------
    def row(self, key: str) -> Record | None:
        return self.get("r", key)

    def is_dnc(self, e164: str) -> bool:
        return self.get("d", e164) is not None

    def phone_owner(self, e164: str) -> str | None:
        rec = self.get("p", e164)
        return None if rec is None else str(rec["key"])

    def queue_write(self, key: str, values: dict[str, str], line: int | None = None) -> None:
        """Add cells to a row's pending write-back (later values win per column)."""
        rec = self.get("o", key) or {"values": {}, "line": None, "attempts": 0, "error": None}
        rec["values"].update(values)
        if line is not None:
            rec["line"] = line
        self.put("o", key, rec)

    def queue_writes(self, writes: dict[str, dict[str, str]]) -> None:
        """queue_write for many rows with one read of their pending entries."""
        if not writes:
            return
        pending = self.get_many("o", writes)
        for key, values in writes.items():
            rec = pending.get(key) or {"values": {}, "line": None, "attempts": 0, "error": None}
            rec["values"].update(values)
            self.put("o", key, rec)

    def row_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, rec in self.scan("r"):
            counts[rec["state"]] = counts.get(rec["state"], 0) + 1
        return counts

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_file(path: Path) -> None:
    """Refuse a damaged state file with a clear message (sqlitedict would die in a thread)."""
    if path.stat().st_size == 0:
        return  # just created
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if _TABLE in tables:
                conn.execute(f'SELECT key FROM "{_TABLE}" LIMIT 1').fetchall()
                row = conn.execute(
                    f"SELECT value FROM \"{_TABLE}\" WHERE key = 'm:schema'"
                ).fetchone()
                if row is not None:
                    json.loads(row[0])
    except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"{path}: the state file is damaged ({exc}); refusing to run this team rather than "
            "call anyone twice. Move the file aside and run `revox-sync state rebuild TEAM`"
        ) from exc


def state_path(state_dir: Path, team: str) -> Path:
    """Where a team's state file lives."""
    return state_dir / f"{team}.sqlite"
