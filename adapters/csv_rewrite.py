"""The record loop of a CSV rewrite (adapters/csv_file.py): every record after the header is
copied to the temporary file, untouched ones byte for byte, updated ones through the csv
writer. Everything that depends only on the header and the updates (column indexes,
normalised names, the key column) is worked out once per rewrite, not once per record.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Mapping, Sequence
from operator import attrgetter
from typing import IO

from adapters.base import RowUpdate, WriteReport, find_column, norm
from connector import failpoints

# Spreadsheet programs run a cell that starts like this as a formula when they open a CSV.
FORMULA_START = frozenset("=+-@\t\r")
NOWHERE = sys.maxsize  # the index of a column the file lacks: past the end of any record


def _recorded(f: IO[str], buf: list[str]) -> Iterator[str]:
    """The lines of ``f`` for csv.reader, each also kept in ``buf`` (the raw text of the
    record being parsed, cleared by the caller after each record)."""
    append = buf.append
    for line in f:
        append(line)
        yield line


class _Columns(dict[str, int]):
    """Column name -> its index in the written header (by ``norm``), each name normalised
    once; a name of no column raises KeyError, or maps to ``absent`` when one is given."""

    def __init__(self, index: dict[str, int], absent: int | None = None) -> None:
        super().__init__()
        self._index, self._absent = index, absent

    def __missing__(self, col: str) -> int:
        n = norm(col)
        i = self._index[n] if self._absent is None else self._index.get(n, self._absent)
        self[col] = i
        return i


class Rewrite:
    """The updates of one rewrite, indexed for the record loop.

    header: the header as written (widened for wide rows, new columns at the end);
    width: its length before the new columns (untouched rows are padded from there).
    """

    def __init__(
        self,
        header: list[str],
        width: int,
        key_column: str | None,
        updates: Sequence[RowUpdate],
        *,
        escape: bool,
    ) -> None:
        self.by_key = dict(zip(map(attrgetter("key"), updates), updates, strict=True))
        by_line = dict(zip(map(attrgetter("line"), updates), updates, strict=True))
        by_line.pop(None, None)  # updates found by key only
        self.by_line: dict[int | None, RowUpdate] = by_line
        index = {norm(h): i for i, h in enumerate(header) if h.strip()}
        self.at = _Columns(index)
        self.find = _Columns(index, NOWHERE)
        key_idx = find_column(header, key_column)
        self.kix = NOWHERE if key_idx is None else key_idx
        self.size, self.width, self.escape = len(header), width, escape

    def copy(self, f: IO[str], out: IO[str], delim: str, term: str, report: WriteReport) -> None:
        """Copy every record left in ``f`` to ``out``; ``report.written`` gets the keys of
        the rows updated. Raises csv.Error or UnicodeDecodeError on a file it cannot read."""
        buf: list[str] = []  # the lines of the record being parsed
        drop = buf.clear
        writer = csv.writer(out, delimiter=delim, lineterminator=term)
        by_key, by_line, at, escape = self.by_key, self.by_line, self.at, self.escape
        kix, size, width = self.kix, self.size, self.width
        written, write = report.written, out.write
        # failpoints.hit reads the environment at each call: look once, then hit per row
        hit = failpoints.hit if failpoints.armed() else None
        cr_unsafe = "\r" not in term  # csv quotes a lone CR only when lines end in CRLF
        # strict: a stray quote is an error, not every following row eaten into one cell
        reader = csv.reader(_recorded(f, buf), delimiter=delim, strict=True)
        for line, cells in enumerate(reader, start=2):
            raw = buf[0] if len(buf) == 1 else "".join(buf)
            drop()
            n = len(cells)
            key = cells[kix].strip() if kix < n else ""
            if key:
                upd = by_key.get(key)
                # a copied row carries the same key: only the first one is that row
                if upd is not None and key in written:
                    upd = None
            else:
                upd = by_line.get(line)
                # the row read at this line is still here, not one that moved into its place
                if upd is not None and upd.expect and not self._same(cells, upd.expect):
                    upd = None
            if upd is None:
                extra = size - (n if n > width else width)
                if extra > 0 and n:  # widened by empty cells, without re-quoting what is there
                    body = raw.rstrip("\r\n")
                    raw = body + delim * extra + raw[len(body) :]
                write(raw)
                continue
            if n < size:
                cells += [""] * (size - n)
            for col, value in upd.values.items():
                cells[at[col]] = "'" + value if escape and value[:1] in FORMULA_START else value
            if cr_unsafe and "\r" in "".join(cells):
                write(_quoting_cr(cells, delim, term))
            else:
                writer.writerow(cells)
            written.add(upd.key)
            if hit is not None:
                hit("mid_csv_write")

    def _same(self, cells: list[str], expect: Mapping[str, str]) -> bool:
        """Whether the record still reads as expected (a missing cell reads as "")."""
        find, n = self.find, len(cells)
        for col, want in expect.items():
            i = find[col]
            if (cells[i].strip() if i < n else "") != want.strip():
                return False
        return True


def _quoting_cr(cells: list[str], delim: str, term: str) -> str:
    """One record with a carriage return in a cell, in a file whose lines end in ``term``
    (LF): the csv module quotes a CR only when its own line ending has one, and an
    unquoted CR splits the record in two when the file is read again. So the record is
    written with CRLF, which quotes it, and given back its file's line ending."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=delim, lineterminator="\r\n").writerow(cells)
    return buf.getvalue()[:-2] + term
