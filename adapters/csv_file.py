"""A CSV file as a source: the embedded default, and teams that export from another CRM.

The file is the user's: every record we do not write to keeps its exact bytes (quoting,
spacing, line endings), columns keep their order, a UTF-8 BOM is kept when present.
Write-back streams the file into a temporary sibling, fsyncs it and renames it over the
original, so a crash leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
from collections.abc import Container, Iterator, Sequence
from itertools import chain, islice
from operator import attrgetter
from pathlib import Path
from typing import IO, ClassVar, Literal

from pydantic import Field

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
from adapters.csv_rewrite import NOWHERE, Rewrite
from adapters.plugin import SourceConfigBase, SourceContext
from connector.errors import ConfigError, RetryableError

log = logging.getLogger(__name__)
_BOM = "\ufeff"
_TMP = ".revox-sync-tmp"
# The parser accepts up to PARSE_LIMIT per field, so that a row with a cell over MAX_CELL
# (adapters/base.py) can still be skipped: past that, the file cannot be parsed.
PARSE_LIMIT = 64 << 20
csv.field_size_limit(max(csv.field_size_limit(), PARSE_LIMIT))


class CsvSourceConfig(SourceConfigBase):
    type: Literal["csv"]
    path: str = Field(description="The CSV file, relative to the mapping file")
    key_column: str = "Revox ID"
    delimiter: str | None = Field(
        None,
        min_length=1,
        max_length=1,
        description="One character; default: guessed among , ; and tab",
    )
    escape_formulas: bool = Field(
        True, description="Prefix ' to written values that a spreadsheet would run as formulas"
    )


class CsvSource:
    """Source over one CSV file."""

    config_model: ClassVar[type[SourceConfigBase]] = CsvSourceConfig
    requests = 0  # a local file: nothing is sent over HTTP

    @classmethod
    def from_config(cls, config: CsvSourceConfig, ctx: SourceContext) -> CsvSource:
        """The file named by ``path``, inside the mapping's folder or the --data-dir."""
        ctx.confined(config.path, "path")
        origin = ctx.where("path") if ctx.locate is not None else None
        return cls(config, base_dir=ctx.base_dir, origin=origin)

    @classmethod
    def identity(cls, config: CsvSourceConfig, ctx: SourceContext) -> tuple[str, ...]:
        return (str(ctx.confined(config.path, "path")),)

    def __init__(
        self, config: CsvSourceConfig, *, base_dir: Path, origin: str | None = None
    ) -> None:
        self.path = (base_dir / config.path).resolve()
        self._origin = origin  # "MAPPING.yaml:LINE: source.path", for errors it can fix
        self.key_column: str | None = config.key_column
        self._config = config
        self._headers: list[str] | None = None

    def describe(self) -> str:
        return f"csv:{self.path}"

    def close(self) -> None:
        """Nothing stays open between calls."""

    def _open(self) -> tuple[IO[str], bool]:
        try:
            f = self.path.open("r", encoding="utf-8", newline="")
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{self._origin}: the CSV file {self.path} does not exist (check the path)"
                if self._origin
                else f"{self.path}: the CSV file does not exist (check source.path in the mapping)"
            ) from exc
        except OSError as exc:
            raise RetryableError(f"{self.path}: cannot read the CSV file: {exc.strerror}") from exc
        try:
            bom = f.read(1) == _BOM
        except UnicodeDecodeError as exc:
            f.close()
            raise ConfigError(
                f"{self.path}: not UTF-8 text (save the CSV as UTF-8 and try again)"
            ) from exc
        if not bom:
            f.seek(0)
        return f, bom

    def _delimiter(self, first_line: str) -> str:
        if self._config.delimiter:
            return self._config.delimiter
        counts = {d: first_line.count(d) for d in (",", ";", "\t")}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","

    def _header(self, f: IO[str]) -> tuple[list[str], str, str]:
        """(header cells, header line, delimiter), read from the start of the file."""
        try:
            first = f.readline()
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{self.path}: not UTF-8 text (save the CSV as UTF-8 and try again)"
            ) from exc
        if not first.strip():
            raise ConfigError(f"{self.path}:1: the CSV has no header row (add one)")
        delim = self._delimiter(first)
        return next(csv.reader([first], delimiter=delim)), first, delim

    def _cells(self) -> Iterator[list[str]]:
        """The header's cells, then every record's cells."""
        f, _bom = self._open()
        with f:
            header, _first, delim = self._header(f)
            yield header
            try:
                # strict: a stray quote is an error, not every following row eaten into one cell
                yield from csv.reader(f, delimiter=delim, strict=True)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise self._unparsable(exc) from exc

    def _unparsable(self, exc: Exception) -> ConfigError:
        return ConfigError(f"{self.path}: cannot parse the CSV: {exc} (fix the file)")

    def headers(self) -> list[str]:
        header = next(self._cells())
        seen: dict[str, str] = {}
        for h in header:
            if h.strip() and norm(h) in seen:
                raise ConfigError(
                    f"{self.path}:1: the header {h!r} appears twice "
                    f"(rename one; headers found: {', '.join(header_text(header))})"
                )
            seen[norm(h)] = h
        self._headers = header
        return header

    def read_rows(self, settled: Container[str] = ()) -> Iterator[Row]:
        # a steady tick's read is mostly this loop: per record one Row, and one dict of
        # cells unless the row is settled (its key is all the reader needs)
        records = self._cells()
        header = next(records)
        key_idx = find_column(header, self.key_column)
        kix = NOWHERE if key_idx is None else key_idx
        width = len(header)
        blank = [""] * width
        for line, cells in enumerate(records, start=2):
            if settled and kix < len(cells) and (settled_key := cells[kix].strip()) in settled:
                yield Row(settled_key, UNREAD, line)  # not blank: its key is enough
                continue
            text = "".join(cells)
            problem = None
            if not text or text.isspace() or len(text) > MAX_CELL:  # rare: one test for both
                if not text or text.isspace():
                    continue
                if max(map(len, cells)) > MAX_CELL:
                    cells, problem = _blank_big_cells(header, cells)
            if len(cells) < width:  # a short row reads "" for the cells it lacks
                cells = cells + blank[len(cells) :]
            key = cells[kix].strip() if kix < len(cells) else ""
            yield Row(key or None, dict(zip(header, cells, strict=False)), line, problem)

    def write_back(self, updates: Sequence[RowUpdate]) -> WriteReport:
        report = WriteReport()
        if not updates:
            return report
        self._remove_stale_temp_files()
        try:
            self._rewrite(updates, report)
        except OSError as exc:  # disk full, read-only, name too long: the outbox keeps it all
            raise RetryableError(f"{self.path}: cannot write the CSV: {exc}") from exc
        report.missing = set(map(attrgetter("key"), updates)) - report.written
        for key in sorted(report.missing):
            log.warning("row %s is no longer in %s; its update is dropped", key, self.path)
        report.requests = 1
        return report

    def _rewrite(self, updates: Sequence[RowUpdate], report: WriteReport) -> None:
        f, bom = self._open()
        with f:
            header, header_raw, delim = self._header(f)
            new_cols = _new_columns(header, updates)
            if new_cols:
                # rows wider than the header hold cells of no column: new columns go after them
                width = max(map(len, islice(self._cells(), 1, None)), default=0)
                header = header + [""] * max(0, width - len(header))
            full_header = header + new_cols
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=_TMP, dir=self.path.parent
            )
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                    if bom:
                        out.write(_BOM)
                    term = "\r\n" if header_raw.endswith("\r\n") else "\n"
                    if new_cols:
                        csv.writer(out, delimiter=delim, lineterminator=term).writerow(full_header)
                    else:
                        out.write(header_raw)
                    rewrite = Rewrite(
                        full_header,
                        len(header),
                        self.key_column,
                        updates,
                        escape=self._config.escape_formulas,
                    )
                    try:
                        rewrite.copy(f, out, delim, term, report)
                    except (csv.Error, UnicodeDecodeError) as exc:
                        raise self._unparsable(exc) from exc
                    out.flush()
                    os.fsync(out.fileno())
                f.close()
                os.chmod(tmp, self.path.stat().st_mode & 0o7777)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        _fsync_dir(self.path.parent)

    def _remove_stale_temp_files(self) -> None:
        """A kill during a rewrite leaves a hidden full copy of the leads: remove it."""
        for stale in self.path.parent.glob(f".{self.path.name}.*{_TMP}"):
            stale.unlink(missing_ok=True)


def _new_columns(header: Sequence[str], updates: Sequence[RowUpdate]) -> list[str]:
    have = {norm(h) for h in header}
    new: list[str] = []
    # each distinct name once, in the order of first use
    for col in dict.fromkeys(chain.from_iterable(map(attrgetter("values"), updates))):
        if norm(col) not in have:
            have.add(norm(col))
            new.append(col)
    return new


def _blank_big_cells(header: list[str], cells: list[str]) -> tuple[list[str], str]:
    """The record with its cells over MAX_CELL emptied, and the sentence that rejects it."""
    big = [i for i, c in enumerate(cells) if len(c) > MAX_CELL]
    col = header[big[0]] if big[0] < len(header) else f"column {big[0] + 1}"
    problem = (
        f"The cell {col!r} holds {len(cells[big[0]]) // 1024} KiB, over the "
        f"{MAX_CELL // 1024} KiB a cell may hold; shorten it."
    )
    return ["" if i in big else c for i, c in enumerate(cells)], problem


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_table(path: Path) -> list[dict[str, str]]:
    """Every record of a CSV as dicts (for tests, the demo's final table and `status`)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(io.StringIO(f.read())))
