"""A table in a SQLite database as a source: for teams whose leads live in a local app's DB.

Rows are read in ``rowid`` order, so ``Row.line`` is a row's position as a table viewer
shows it (header = line 1), like a CSV line. Every cell is read as text (NULL is empty,
numbers without a trailing ``.0``). Results go back by key in one ``BEGIN IMMEDIATE``
transaction: other writers wait for it (up to ``busy_timeout``) instead of seeing half a
tick, and a crash leaves the table as it was. Columns the mapping writes are added with
``ALTER TABLE ... ADD COLUMN`` when absent. Values are bound as parameters, never spliced
into SQL, and table and column names are quoted as identifiers.

Nothing stays open between calls: the database is the user's, and their own app may need
an exclusive lock between two ticks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Container, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from adapters.base import (
    MAX_CELL,
    UNREAD,
    Row,
    RowUpdate,
    WriteReport,
    find_column,
    header_text,
    norm,
)
from adapters.plugin import SourceConfigBase, SourceContext
from connector.errors import ConfigError, RetryableError


class SqliteSourceConfig(SourceConfigBase):
    """The ``source:`` block for ``type: sqlite``."""

    type: Literal["sqlite"]
    path: str = Field(description="The database file, relative to the mapping file")
    table: str = Field(min_length=1, description="The table whose rows are the leads")
    key_column: str = Field(
        "Revox ID",
        description="Its primary key, or a text column revox-sync fills (added when absent)",
    )
    busy_timeout: float = Field(
        5.0, gt=0, le=300, description="Seconds to wait for another writer's lock"
    )

    @field_validator("table", "key_column")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


def quote_name(name: str) -> str:
    """A table or column name as an SQL identifier: any text, never code."""
    return '"' + name.replace('"', '""') + '"'


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


class SqliteSource:
    """Rows of one SQLite table; a ``SourcePlugin`` (``adapters.plugin``)."""

    config_model: ClassVar[type[SourceConfigBase]] = SqliteSourceConfig
    requests = 0  # a local file: nothing is sent over HTTP

    @classmethod
    def from_config(cls, config: SqliteSourceConfig, ctx: SourceContext) -> SqliteSource:
        """The database named by ``path``, inside the mapping's folder or the --data-dir."""
        return cls(config, ctx.confined(config.path, "path"), reads=ctx.reads)

    @classmethod
    def identity(cls, config: SqliteSourceConfig, ctx: SourceContext) -> tuple[str, ...]:
        return (str(ctx.confined(config.path, "path")), norm(config.table))

    def __init__(self, config: SqliteSourceConfig, path: Path, reads: Sequence[str] = ()) -> None:
        self.path = path
        # a blob in a column the mapping does not read (a photo) must not reject the row
        self._watched = {norm(c) for c in reads}
        self.key_column: str | None = config.key_column
        self._config = config
        self._table = quote_name(config.table)

    def describe(self) -> str:
        return f"sqlite:{self.path}#{self._config.table}"

    def close(self) -> None:
        """Nothing stays open between calls."""

    def _connect(self) -> sqlite3.Connection:
        if not self.path.is_file():  # connect() would create an empty database there
            raise ConfigError(
                f"SQLite {self.path}: the database does not exist (check source.path)"
            )
        try:
            # autocommit mode: reads take no lock longer than a statement, writes BEGIN
            conn = sqlite3.connect(
                self.path, timeout=self._config.busy_timeout, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise RetryableError(f"SQLite {self.path}: cannot open: {exc}") from exc
        return conn

    def _columns(self, conn: sqlite3.Connection) -> list[str]:
        try:
            info = conn.execute(f"PRAGMA table_info({self._table})").fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._error(exc, "read the table's columns") from exc
        if not info:
            found = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = [str(r[0]) for r in found]
            raise ConfigError(
                f"SQLite {self.path}: no table {self._config.table!r} (source.table; tables found: "
                f"{', '.join(header_text(tables)) or 'none'})"
            )
        return [str(row[1]) for row in info]

    def _error(self, exc: sqlite3.Error, doing: str) -> Exception:
        """Map sqlite3's errors at the boundary: a lock or a full disk passes, the rest not."""
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and any(
            word in text for word in ("locked", "busy", "disk", "I/O")
        ):
            return RetryableError(f"SQLite {self.describe()}: cannot {doing}: {text}")
        return ConfigError(f"SQLite {self.describe()}: cannot {doing}: {text} (fix the table)")

    def headers(self) -> list[str]:
        with closing(self._connect()) as conn:
            return self._columns(conn)

    def read_rows(self, settled: Container[str] = ()) -> Iterator[Row]:
        with closing(self._connect()) as conn:
            header = self._columns(conn)
            key_idx = find_column(header, self._config.key_column)
            try:
                cursor = conn.execute(f"SELECT * FROM {self._table} ORDER BY rowid")
                for line, record in enumerate(cursor, start=2):
                    if settled and key_idx is not None:
                        cell = record[key_idx]
                        key = "" if isinstance(cell, bytes) else _text(cell).strip()
                        if key and key in settled:
                            yield Row(key=key, values=UNREAD, line=line)
                            continue
                    yield self._row(header, record, key_idx, line, self._watched)
            except sqlite3.Error as exc:
                raise self._error(exc, "read the rows") from exc

    @staticmethod
    def _row(
        header: list[str],
        record: Sequence[object],
        key_idx: int | None,
        line: int,
        watched: set[str],
    ) -> Row:
        problem = None
        cells: list[str] = []
        for name, value in zip(header, record, strict=True):
            text = "" if isinstance(value, bytes) else _text(value)
            if (isinstance(value, bytes) or len(text) > MAX_CELL) and (
                not watched or norm(name) in watched
            ):
                # a blob or a huge cell it reads rejects this row only, saying why
                problem = problem or f"The cell {name!r} holds binary data or over 1 MiB of text."
            cells.append("" if len(text) > MAX_CELL else text)
        key = cells[key_idx].strip() if key_idx is not None else ""
        return Row(
            key=key or None,
            values=dict(zip(header, cells, strict=True)),
            line=line,
            problem=problem,
        )

    def write_back(self, updates: Sequence[RowUpdate]) -> WriteReport:
        report = WriteReport()
        if not updates:
            return report
        with closing(self._connect()) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")  # the write lock before reading the keys
                try:
                    self._write(conn, updates, report)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                report.written.clear()
                raise self._error(exc, "write the results") from exc
        report.missing = {u.key for u in updates} - report.written
        return report

    def _write(
        self, conn: sqlite3.Connection, updates: Sequence[RowUpdate], report: WriteReport
    ) -> None:
        header = self._columns(conn)
        for name in dict.fromkeys(c for u in updates for c in u.values):
            if find_column(header, name) is None:
                conn.execute(f"ALTER TABLE {self._table} ADD COLUMN {quote_name(name)} TEXT")
                header.append(name)
        key_name = quote_name(self._config.key_column)
        order = conn.execute(f"SELECT rowid, {key_name} FROM {self._table} ORDER BY rowid")
        ordered = [(int(rowid), _text(key).strip()) for rowid, key in order]
        by_key: dict[str, int] = {}
        for at, key in ordered:
            if key:  # a copied row carries the same key: the first one only is that row
                by_key.setdefault(key, at)
        for u in updates:
            rowid = by_key.get(u.key)
            if rowid is None and u.line is not None and 2 <= u.line < len(ordered) + 2:
                rowid = self._unkeyed_at(conn, ordered[u.line - 2], u)
                if rowid is not None:  # keyed now: a second assignment to that line is stale
                    ordered[u.line - 2] = (rowid, u.key)
                    by_key.setdefault(u.key, rowid)
            if rowid is None:
                continue
            if u.values:
                sets = ", ".join(f"{quote_name(c)} = ?" for c in u.values)
                values = [*u.values.values(), rowid]
                conn.execute(f"UPDATE {self._table} SET {sets} WHERE rowid = ?", values)
            report.written.add(u.key)

    def _unkeyed_at(
        self, conn: sqlite3.Connection, at: tuple[int, str], update: RowUpdate
    ) -> int | None:
        """The row at the update's line, if its key is still empty and it still reads as
        expected (the phone, say): a row moved into that line is never taken for it."""
        rowid, key = at
        if key:
            return None
        for col, want in update.expect.items():
            got = conn.execute(
                f"SELECT {quote_name(col)} FROM {self._table} WHERE rowid = ?", (rowid,)
            ).fetchone()
            if got is None or _text(got[0]).strip() != want.strip():
                return None
        return rowid
