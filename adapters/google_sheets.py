"""Google Sheets source: rows of one worksheet, results written back by key.

Cost per tick: ``read_rows()`` is one ``values.get`` of the whole sheet (the
sheet's metadata is fetched once and cached until a range error says the sheet
changed); ``write_back()`` is one ``values:batchGet`` (header row + key column,
to find rows by key at write time) and one ``values:batchUpdate`` with
``valueInputOption=RAW``, plus one ``spreadsheets:batchUpdate`` only when new
columns do not fit in the grid. Cells are read unformatted and turned into
text here, never through gspread's ``numericise``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, ClassVar, TypeVar

from gspread.http_client import ParamsType

from adapters.base import UNREAD, Row, RowUpdate, WriteReport, norm
from adapters.plugin import SourceConfigBase, SourceContext
from adapters.sheets_cells import (
    GoogleSheetsSourceConfig,
    Header,
    SheetMeta,
    a1,
    at_line,
    cell_text,
    column_texts,
    key_range,
    row_of_columns,
    spreadsheet_id_from,
)
from adapters.sheets_client import CREDENTIALS_ENV, RangeError, SheetsClient, resolve_auth
from adapters.sheets_write import Merged, WriteBody, columns_of, merge_updates
from connector.errors import ConfigError

log = logging.getLogger(__name__)
__all__ = ["GoogleSheetsSource", "GoogleSheetsSourceConfig", "cell_text", "spreadsheet_id_from"]

_READ_PARAMS: ParamsType = {
    "valueRenderOption": "UNFORMATTED_VALUE",
    "dateTimeRenderOption": "FORMATTED_STRING",
}
# Header row and columns (keys, phones): one list per column, not a list per row.
_COLUMNS_PARAMS: ParamsType = {**_READ_PARAMS, "majorDimension": "COLUMNS"}
T = TypeVar("T")


class GoogleSheetsSource:
    """Rows of one worksheet; a ``SourcePlugin`` (``adapters.plugin``)."""

    config_model: ClassVar[type[SourceConfigBase]] = GoogleSheetsSourceConfig

    @classmethod
    def from_config(
        cls, config: GoogleSheetsSourceConfig, ctx: SourceContext
    ) -> GoogleSheetsSource:
        """Credentials come from the environment only: a key file named in a mapping would
        put a secret's path in a file that teams edit and share."""
        return cls(config, env=ctx.env, credentials_file=ctx.env.get(CREDENTIALS_ENV))

    @classmethod
    def identity(cls, config: GoogleSheetsSourceConfig, ctx: SourceContext) -> tuple[str, ...]:
        return (config.spreadsheet_id, config.worksheet or "")

    def __init__(
        self,
        config: GoogleSheetsSourceConfig,
        *,
        env: Mapping[str, str],
        credentials_file: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._id = config.spreadsheet_id
        self.key_column: str | None = config.key_column
        self._client = SheetsClient(
            resolve_auth(env, credentials_file),
            self._id,
            timeout=timeout,
            max_retries=max_retries,
            sleep=sleep,
        )
        self._meta: SheetMeta | None = None
        self._header: Header | None = None

    @property
    def requests(self) -> int:
        """HTTP requests sent to the Sheets API so far, retries included."""
        return self._client.requests

    # -- Source protocol -------------------------------------------------

    def headers(self) -> list[str]:
        """Header texts as seen by the latest read (fetched once if nothing was read yet)."""
        if self._header is None:
            h = self._config.header_row
            data = self._with_metadata(
                lambda meta: self._client.values_get(a1(meta, f"{h}:{h}"), _READ_PARAMS)
            )
            rows = data.get("values") or [[]]
            self._header = self._parse_header(rows[0])
        return self._header.names

    def read_rows(self, settled: Container[str] = ()) -> Iterator[Row]:
        """Every non-blank row under the header; one ``values.get`` per call. A settled
        row's cells are not built (``UNREAD``)."""
        data = self._with_metadata(lambda meta: self._client.values_get(a1(meta), _READ_PARAMS))
        grid: list[list[Any]] = data.get("values") or []
        del data  # the grid alone: each row of it is let go once read (memory)
        first = self._config.header_row
        header = self._parse_header(grid[first - 1] if len(grid) >= first else [])
        self._header = header
        key_at = header.column(self._config.key_column)
        width = len(header.cells)
        names = header.names
        at = [i for i, cell in enumerate(header.cells) if cell.strip()]
        # Cells under named headers; past the named ones, a spare index (the pad cell after
        # the header's end, never named) keeps itemgetter's answer a tuple for one name too.
        pick = None if at == list(range(len(at))) else itemgetter(*at, width)
        pad = [""] * (width + 1)
        grid.reverse()  # rows are popped from the end, in order, each freed once yielded
        del grid[max(0, len(grid) - first) :]
        line = first
        while grid:
            cells = grid.pop()
            line += 1
            if settled and key_at is not None and len(cells) >= key_at:
                cell = cells[key_at - 1]  # a settled row is not blank: its key is enough
                if type(cell) is str and (settled_key := cell.strip()) in settled:
                    yield Row(settled_key, UNREAD, line)
                    continue
            try:
                joined = "".join(cells)
            except TypeError:  # numbers, booleans
                cells = [cell if type(cell) is str else cell_text(cell) for cell in cells]
                joined = "".join(cells)
            if not joined or joined.isspace():
                continue
            if len(cells) <= width:
                cells += pad[len(cells) :]
            key = cells[key_at - 1].strip() if key_at is not None else ""
            values = dict(zip(names, cells if pick is None else pick(cells), strict=False))
            yield Row(key or None, values, line)

    def write_back(self, updates: Sequence[RowUpdate]) -> WriteReport:
        """Find each row by key now, add missing columns, write all cells in one batch."""
        report = WriteReport()
        if not updates:
            return report
        start = self._client.requests
        try:
            self._with_metadata(lambda meta: self._write(meta, updates, report))
        finally:
            report.requests = self._client.requests - start
        if report.missing:
            shown = sorted(report.missing)
            log.warning(
                "%s: %d row(s) no longer found by key, their updates are dropped: %s%s",
                self.describe(),
                len(shown),
                ", ".join(shown[:20]),
                " ..." if len(shown) > 20 else "",
            )
        return report

    def describe(self) -> str:
        """``google_sheets:<id>/<worksheet>``, secret-free."""
        title = self._config.worksheet or (self._meta.title if self._meta else "(first sheet)")
        return f"google_sheets:{self._id}/{title}"

    def close(self) -> None:
        """Close the HTTP session."""
        self._client.close()

    def __enter__(self) -> GoogleSheetsSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------

    def _write(self, meta: SheetMeta, updates: Sequence[RowUpdate], report: WriteReport) -> None:
        merged = merge_updates(updates)
        maybe = {n for u in updates if u.expect and u.line is not None for n in u.expect}
        header, keys, seen = self._read_header_and_keys(meta, maybe)
        known = set(keys)
        expects = {
            u.key: u.expect
            for u in updates
            if u.expect and u.line is not None and u.key not in known
        }
        del known
        unread = {n for e in expects.values() for n in e if norm(n) not in seen}
        seen.update(self._read_columns(meta, header, unread))
        targets, missing = self._locate(meta, merged, keys, expects, seen)
        del keys, seen
        report.written, report.missing = set(), missing
        if not targets:
            return
        columns = columns_of(header, {tuple(merged[key].values): None for key in targets})
        new_names: dict[int, str] = {}
        for name, col in columns.items():
            if header.column(name) is None:
                new_names.setdefault(col, name)
        if max(columns.values()) > meta.col_count:
            self._grow(meta, max(columns.values()))
        body = WriteBody(meta)
        body.add_cells(self._config.header_row, new_names)
        for key, line in targets.items():
            body.add_row(line, merged[key].values, columns)
        del merged
        self._client.values_batch_update(body.encode())
        report.written = set(targets)
        if new_names:
            added = tuple(new_names[col] for col in sorted(new_names))
            self._header = Header(header.cells + added)

    def _locate(
        self,
        meta: SheetMeta,
        merged: Merged,
        keys: list[str],
        expects: Mapping[str, Mapping[str, str]],
        seen: Mapping[str, list[str]],
    ) -> tuple[dict[str, int], set[str]]:
        """Line of each key now (the first row with it: a copied row is not that row); a
        keyless row at ``line`` is taken only if still keyless and still the row read."""
        first = self._config.header_row
        # reversed: the first line of a key is the one stored last
        line_of = dict(zip(reversed(keys[first:]), range(len(keys), first, -1), strict=True))
        line_of.pop("", None)
        targets: dict[str, int] = {}
        claimed: set[int] = set()
        missing: set[str] = set()
        key_name = norm(self._config.key_column)
        key_names: dict[tuple[str, ...], str | None] = {}  # the key's name among these names
        columns = {name: seen.get(norm(name), []) for e in expects.values() for name in e}
        for key, update in merged.items():
            now = line_of.get(key)
            if now is not None:
                targets[key] = now
                continue
            values, at = update.values, update.line
            names = tuple(values)
            if names not in key_names:
                key_names[names] = next((n for n in names if norm(n) == key_name), None)
            said = key_names[names]
            if (
                at is not None
                and first < at <= meta.row_count
                and said is not None
                and values[said].strip() == key
                and (at > len(keys) or not keys[at - 1])
                and at not in claimed
                and all(
                    at_line(columns[name], at) == want.strip()
                    for name, want in expects.get(key, {}).items()
                )
            ):
                targets[key] = at
                claimed.add(at)
            else:
                missing.add(key)
        return targets, missing

    def _read_columns(
        self, meta: SheetMeta, header: Header, names: set[str]
    ) -> dict[str, list[str]]:
        """Texts of a few columns (index = line - 1) in one request; only for first keys."""
        cols = {norm(n): header.column(n) for n in names}
        wanted = {n: c for n, c in cols.items() if c is not None}
        if not wanted:
            return {}
        ranges = [key_range(meta, c) for c in wanted.values()]
        got = self._client.values_batch_get(ranges, _COLUMNS_PARAMS).get("valueRanges", [])
        out: dict[str, list[str]] = {}
        for name, vr in zip(wanted, got, strict=False):
            out[name] = column_texts(vr)
        return out

    def _grow(self, meta: SheetMeta, columns: int) -> None:
        # appendDimension is relative: with stale metadata it adds spare empty columns,
        # where an absolute columnCount could cut off columns someone added meanwhile.
        append = {
            "sheetId": meta.sheet_id,
            "dimension": "COLUMNS",
            "length": columns - meta.col_count,
        }
        self._client.batch_update({"requests": [{"appendDimension": append}]})
        meta.col_count = columns

    def _read_header_and_keys(
        self, meta: SheetMeta, names: set[str]
    ) -> tuple[Header, list[str], dict[str, list[str]]]:
        """Fresh header row, key column texts (index = line - 1) and the texts of the columns
        ``names`` (by normalised name; those the last header placed), in one request. A
        column found elsewhere in the fresh header is left out (the caller reads it)."""
        first = self._config.header_row
        old = self._header
        guess = old.column(self._config.key_column) if old else None
        ranges = [a1(meta, f"{first}:{first}")]
        if guess is not None:
            ranges.append(key_range(meta, guess))
        extra = {norm(n): c for n in names if old and (c := old.column(n)) is not None}
        ranges += [key_range(meta, c) for c in extra.values()]
        answer = self._client.values_batch_get(ranges, _COLUMNS_PARAMS)
        value_ranges: list[dict[str, Any]] = answer.get("valueRanges", [])
        del answer
        header = self._parse_header(row_of_columns(value_ranges[0]) if value_ranges else [])
        self._header = header
        seen: dict[str, list[str]] = {}
        start = 2 if guess is not None else 1
        for (name, col), vr in zip(extra.items(), value_ranges[start:], strict=False):
            if header.column(name) == col:  # still that column
                seen[name] = column_texts(vr)
        key_col = header.column(self._config.key_column)
        if key_col is None:
            return header, [], seen
        if key_col == guess and len(value_ranges) > 1:
            return header, column_texts(value_ranges[1]), seen
        # The key column moved since the last read (or was never seen): one more read.
        column = self._client.values_get(key_range(meta, key_col), _COLUMNS_PARAMS)
        return header, column_texts(column), seen

    def _parse_header(self, raw: list[Any]) -> Header:
        header = Header(tuple(cell_text(value) for value in raw))
        found = header.names
        where = f"{self.describe()} header row {self._config.header_row}"
        if not found:
            raise ConfigError(f"{where} is empty; put the column names in that row")
        seen: dict[str, str] = {}
        duplicates = []
        for name in found:
            if norm(name) in seen:
                duplicates.append(name)
            seen.setdefault(norm(name), name)
        if duplicates:
            listed = ", ".join(repr(name) for name in found)
            raise ConfigError(
                f"{where} has duplicate column names ({', '.join(map(repr, duplicates))}); "
                f"rename them. Headers found: {listed}",
                [f"duplicate header {name!r}" for name in duplicates],
            )
        return header

    def _with_metadata(self, operation: Callable[[SheetMeta], T]) -> T:
        """Run ``operation``; on a range error refresh the metadata and run it once more."""
        try:
            return operation(self._metadata())
        except RangeError as first_error:
            log.info("%s: %s; refreshing the sheet's metadata", self.describe(), first_error)
            self._meta = None
            self._header = None
            try:
                return operation(self._metadata())
            except RangeError as exc:
                raise ConfigError(
                    f"{self.describe()}: {exc}; the sheet may have been renamed or resized, "
                    "check worksheet and header_row in the mapping"
                ) from exc

    def _metadata(self) -> SheetMeta:
        if self._meta is not None:
            return self._meta
        sheets = [s.get("properties", {}) for s in self._client.get_metadata().get("sheets", [])]
        wanted = self._config.worksheet
        if wanted is None:
            chosen = min(sheets, key=lambda p: int(p.get("index", 0)), default=None)
        else:
            chosen = next((p for p in sheets if p.get("title") == wanted), None)
            if chosen is None:
                chosen = next(
                    (p for p in sheets if norm(str(p.get("title", ""))) == norm(wanted)), None
                )
        if chosen is None:
            titles = ", ".join(repr(p.get("title")) for p in sheets) or "none"
            raise ConfigError(
                f"google_sheets:{self._id}: worksheet {wanted!r} not found; worksheets: {titles}"
            )
        grid = chosen.get("gridProperties", {})
        self._meta = SheetMeta(
            sheet_id=int(chosen.get("sheetId", 0)),
            title=str(chosen["title"]),
            row_count=int(grid.get("rowCount", 0)),
            col_count=int(grid.get("columnCount", 0)),
        )
        return self._meta
