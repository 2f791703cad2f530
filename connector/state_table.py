"""The statements on the state's one table: records of one kind (a key prefix) read,
written and deleted by key, in one step of the store (state.py) that owns the connection,
the open transaction and the settled rows kept in memory.

Records are compact JSON text (orjson); many are written in key order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

import orjson

from connector.records import Record
from connector.state_file import TABLE

if TYPE_CHECKING:
    from connector.state import StateStore

_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def encode(obj: Any) -> str:
    """Compact, sorted JSON text (orjson: the state's encoding was a third of a first
    tick's own work with the json module). Text, not bytes: SQLite's json functions read
    a BLOB as its binary JSONB format."""
    return orjson.dumps(obj, option=_OPTS).decode()


def decode(text: Any) -> Any:
    return orjson.loads(text)


# Many records are written in key order: SQLite then walks its B-tree once, left to right,
# instead of jumping to a random page per record (generated keys are random). Deleting a
# first tick's 100k outbox entries took 0.52 s in hash order, 0.18 s sorted.
_first = itemgetter(0)


class Table:
    """Records of every kind in the store's table; ``kind`` is the key prefix."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def get(self, kind: str, key: str) -> Record | None:
        st = self._store
        with st._guard("reading"):
            row = st._conn.execute(
                f'SELECT value FROM "{TABLE}" WHERE key = ?', (f"{kind}:{key}",)
            ).fetchone()
        return None if row is None else cast("Record", decode(row[0]))

    def put(self, kind: str, key: str, record: Record) -> None:
        st = self._store
        sql = f'INSERT OR REPLACE INTO "{TABLE}" (key, value) VALUES (?, ?)'
        st._write("writing", sql, (f"{kind}:{key}", encode(record)))
        if kind == "r":
            st._settled.wrote([(key, record)])

    def put_many(self, kind: str, records: Iterable[tuple[str, Record]]) -> None:
        """put() for many records of one kind in one statement (the same step)."""
        st = self._store
        sql = f'INSERT OR REPLACE INTO "{TABLE}" (key, value) VALUES (?, ?)'
        records = list(records)
        rows = [(f"{kind}:{key}", encode(rec)) for key, rec in records]
        if not rows:
            return
        rows.sort(key=_first)  # in key order (stable: a key given twice, the last wins)
        with st._guard("writing"):
            st._begin()
            st._conn.executemany(sql, rows)
        if kind == "r":
            st._settled.wrote(records)

    def delete_many(self, kind: str, keys: Iterable[str]) -> None:
        """delete() for many keys of one kind in one statement (the same step)."""
        st = self._store
        keys = list(keys)
        rows = sorted((f"{kind}:{key}",) for key in keys)
        if not rows:
            return
        with st._guard("deleting"):
            st._begin()
            st._conn.executemany(f'DELETE FROM "{TABLE}" WHERE key = ?', rows)
        if kind == "r":
            st._settled.wrote((key, None) for key in keys)

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, Record]:
        """The records of many keys, one query per 500 keys."""
        st = self._store
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Record] = {}
        if not wanted or not self.any(kind):
            return out  # none of this kind (a first tick's owners): no query per 500 keys
        cut = len(kind) + 1
        with st._guard("reading"):
            for i in range(0, len(wanted), 500):
                chunk = [f"{kind}:{k}" for k in wanted[i : i + 500]]
                marks = ",".join("?" * len(chunk))
                query = f'SELECT key, value FROM "{TABLE}" WHERE key IN ({marks})'
                for key, value in st._conn.execute(query, chunk):
                    out[key[cut:]] = cast("Record", decode(value))
        return out

    def delete(self, kind: str, key: str) -> None:
        st = self._store
        st._write("deleting", f'DELETE FROM "{TABLE}" WHERE key = ?', (f"{kind}:{key}",))
        if kind == "r":
            st._settled.wrote([(key, None)])

    def scan(self, kind: str) -> Iterator[tuple[str, Record]]:
        """Every record of one kind, in key order (an index range scan, not a full table read)."""
        st = self._store
        lo, hi = f"{kind}:", f"{kind};"
        query = f'SELECT key, value FROM "{TABLE}" WHERE key >= ? AND key < ? ORDER BY key'
        with st._guard("reading"):
            cursor = st._conn.execute(query, (lo, hi))
            while batch := cursor.fetchmany(1000):
                for key, value in batch:
                    yield key[len(lo) :], cast("Record", decode(value))

    def page(self, kind: str, after: str | None, limit: int) -> list[tuple[str, Record]]:
        """Up to ``limit`` records of one kind whose key sorts after ``after`` (None: from
        the first), in key order: a scan in pages that leaves no cursor open between them,
        so the caller may write (delete, commit) between pages."""
        st = self._store
        lo, hi = f"{kind}:", f"{kind};"
        start = lo if after is None else f"{kind}:{after}"
        op = ">=" if after is None else ">"
        query = (
            f'SELECT key, value FROM "{TABLE}" WHERE key {op} ? AND key < ? ORDER BY key LIMIT ?'
        )
        with st._guard("reading"):
            rows = st._conn.execute(query, (start, hi, limit)).fetchall()
        return [(key[len(lo) :], cast("Record", decode(value))) for key, value in rows]

    def states(self, kind: str) -> list[tuple[str, str]]:
        """(key, record's "state") of every record of one kind, in key order, without
        decoding the records (a campaign's record holds every key of its batch)."""
        return [(key, str(state)) for key, (state,) in self.fields(kind, ("state",))]

    def fields(self, kind: str, names: tuple[str, ...]) -> list[tuple[str, list[Any]]]:
        """(key, [the record's value of each top-level field, None when absent]) of every
        record of one kind, in key order, without decoding the records in Python: a poll
        needs a campaign's state and signature, not the lists of its rows."""
        st = self._store
        lo, hi = f"{kind}:", f"{kind};"
        paths = ", ".join(f"'$.{n}'" for n in names)  # field names: identifiers we write
        query = (
            f'SELECT key, json_extract(value, {paths}) FROM "{TABLE}" '
            "WHERE key >= ? AND key < ? ORDER BY key"
        )
        with st._guard("reading"):
            rows = st._conn.execute(query, (lo, hi)).fetchall()
        if len(names) == 1:  # one path: SQLite answers the value itself
            return [(key[len(lo) :], [value]) for key, value in rows]
        return [(key[len(lo) :], decode(values)) for key, values in rows]

    def count(self, kind: str) -> int:
        st = self._store
        lo, hi = f"{kind}:", f"{kind};"
        query = f'SELECT COUNT(*) FROM "{TABLE}" WHERE key >= ? AND key < ?'
        with st._guard("reading"):
            row = st._conn.execute(query, (lo, hi)).fetchone()
        return int(row[0]) if row else 0

    def any(self, kind: str) -> bool:
        st = self._store
        lo, hi = f"{kind}:", f"{kind};"
        query = f'SELECT 1 FROM "{TABLE}" WHERE key >= ? AND key < ? LIMIT 1'
        with st._guard("reading"):
            return st._conn.execute(query, (lo, hi)).fetchone() is not None
