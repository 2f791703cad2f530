"""The Google Sheets source's write-back plan, with no request in it.

Updates merged by key, the column of every name, and the ``values:batchUpdate`` body
(``valueInputOption=RAW``: one range per run of adjacent columns of a line, so no cell
outside those named is touched). The body is encoded as it is built, so a 100,000-row
write holds its JSON bytes, not a dict and two lists per range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import Any

from adapters.base import RowUpdate, norm
from adapters.sheets_cells import Header, SheetMeta, a1, col_letters

CELL_LIMIT = 50_000  # characters per cell; longer input is a 400 for the whole batch
_CHUNK = 4096  # ranges encoded at once
_HEAD = b'{"valueInputOption":"RAW","data":['

Merged = dict[str, RowUpdate]
# One run of adjacent columns: its JSON up to the range's line number, what follows that
# number up to the second one (None: a single cell), and the picker of its texts.
_Run = tuple[str, str | None, "itemgetter[Any]"]
# A text as a JSON string, non-ASCII characters escaped (as json.dumps does by default)
_text = encode_basestring_ascii


def merge_updates(updates: Sequence[RowUpdate]) -> Merged:
    """Updates by key (later values win, the first line given is kept), as text cut to the
    API's per-cell limit. An update whose key comes once and whose values are texts within
    the limit is kept as given, not copied (memory)."""
    merged: Merged = {}
    for update in updates:
        got = merged.get(update.key)
        if got is None:
            try:  # every value a text, all together within one cell's limit: kept as is
                if len("".join(update.values.values())) <= CELL_LIMIT:
                    merged[update.key] = update
                    continue
            except TypeError:  # a value that is not a text
                pass
        values = dict(got.values) if got is not None else {}
        for name, text in update.values.items():
            values[name] = ("" if text is None else str(text))[:CELL_LIMIT]
        line = got.line if got is not None and got.line is not None else update.line
        merged[update.key] = RowUpdate(update.key, values, line)
    return merged


def columns_of(header: Header, shapes: Iterable[Iterable[str]]) -> dict[str, int]:
    """Column number of every name in ``shapes`` (the names of each row to write, in
    order); unknown names go after the header's end, in the order first met."""
    columns: dict[str, int] = {}
    seen: dict[str, int] = {}
    next_col = len(header.cells) + 1
    for names in shapes:
        for name in names:
            if name in columns:
                continue
            said = norm(name)
            if said not in seen:
                col = header.column(name)
                if col is None:
                    col, next_col = next_col, next_col + 1
                seen[said] = col
            columns[name] = seen[said]
    return columns


class WriteBody:
    """A ``values:batchUpdate`` body (RAW input), encoded as it is built: each range is
    written as JSON text at once (no dict or list per range: nothing for the cyclic GC)."""

    def __init__(self, meta: SheetMeta) -> None:
        self._prefix = a1(meta) + "!"
        self._plans: dict[tuple[str, ...], list[_Run]] = {}
        self._pending: list[str] = []
        self._body = bytearray(_HEAD)

    def add_cells(self, line: int, cells: Mapping[int, str]) -> None:
        """The texts ``cells`` (column -> text) of ``line``."""
        cols = sorted(cells)
        self._add(line, self._runs(cols, cols), cells)

    def add_row(self, line: int, values: Mapping[str, str], columns: Mapping[str, int]) -> None:
        """The texts ``values`` (name -> text) of ``line``; ``columns``: each name's column.
        Two names of one column: the later one's text is written."""
        names = tuple(values)
        plan = self._plans.get(names)
        if plan is None:
            at = {columns[name]: name for name in names}
            cols = sorted(at)
            plan = self._plans[names] = self._runs(cols, [at[c] for c in cols])
        self._add(line, plan, values)

    def encode(self) -> bytearray:
        """The whole body as JSON (grown in place, never copied whole); call once."""
        self._flush()
        self._body += b"]}"
        return self._body

    def _runs(self, cols: list[int], picks: Sequence[object]) -> list[_Run]:
        """Runs of adjacent columns of ``cols`` (sorted); ``picks``: the key of each column's
        text in the mapping given with a line."""
        runs: list[_Run] = []
        start = 0
        for end in range(1, len(cols) + 1):
            if end < len(cols) and cols[end] == cols[end - 1] + 1:
                continue
            opening = '{"range":' + _text(self._prefix + col_letters(cols[start]))[:-1]
            tail = None if end - start == 1 else ":" + col_letters(cols[end - 1])
            runs.append((opening, tail, itemgetter(*picks[start:end])))
            start = end
        return runs

    def _add(self, line: int, plan: list[_Run], texts: Mapping[Any, str]) -> None:
        pending = self._pending
        for opening, tail, pick in plan:
            if tail is None:
                pending.append(f'{opening}{line}","values":[[{_text(pick(texts))}]]}}')
            else:
                cells = ",".join(map(_text, pick(texts)))
                pending.append(f'{opening}{line}{tail}{line}","values":[[{cells}]]}}')
        if len(pending) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        if len(self._body) > len(_HEAD):
            self._body += b","
        self._body += ",".join(self._pending).encode("ascii")
        self._pending = []
