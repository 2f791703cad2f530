"""What earlier polls of one campaign fully handled, so that a poll skips it unread.

``rows`` keeps, per row index, a digest of the row's answer as read ("!" appended when
its call was final, so that it still counts): a row read again byte for byte is skipped
without validation or a state read. ``pages`` goes one step further for a whole rows
page: a digest of the page's bytes -> where its rows sit in ``rows`` and a digest of
their entries there. A page read again byte for byte, whose rows' entries are unchanged,
is skipped without even decoding it: exactly what skipping each of its rows would do.
Both digests are keyed by what shapes the cells (the mapping's write_back).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from connector.revox import RowsPage

PRINT = 16  # hex characters of a row's digest in ``rows``


@dataclass
class PageRead:
    """A rows page decoded in this poll: its digest (``Seen.digest``), its `total`, and per
    row its index (None when not a valid one) and its digest ("" when it has none)."""

    digest: str
    total: int | None
    rows: list[tuple[int | None, str]] = field(default_factory=list)


class Seen:
    """One campaign's skip memory for one poll: read from its record, written back to it."""

    def __init__(self, tag: bytes, rows: object, pages: object, n: int) -> None:
        kept = isinstance(rows, list) and len(rows) == n and rows
        self.rows: list[str] = cast(list[str], rows) if kept else [""] * n
        self._old = pages if isinstance(pages, dict) else {}
        self.pages: dict[str, str] = {}  # what this poll keeps: the pages it skipped or handled
        self._row_hash = hashlib.blake2b(digest_size=8, key=tag[:32])
        self._page_hash = hashlib.sha256(tag)
        self._last: tuple[bytes, str] | None = None  # the last page ``known`` looked at
        self._finals: dict[str, int] = {}  # finals of the pages ``known`` recognised

    def row(self, raw: dict[str, Any]) -> str:
        """A digest of one row as read ("" when it cannot be digested: never skipped)."""
        try:
            text = orjson.dumps(raw)  # keys as sent: a reordered answer is only re-checked
        except TypeError:  # an integer beyond 64 bits
            return ""
        h = self._row_hash.copy()
        h.update(text)
        return h.hexdigest()

    def known(self, body: bytes) -> tuple[int, int | None] | None:
        """(rows, total) of a page handled before whose rows' entries are unchanged, else None."""
        h = self._page_hash.copy()
        h.update(body)
        digest = h.hexdigest()[:32]
        self._last = (body, digest)
        where = self._old.get(digest)
        parts = where.split(" ") if isinstance(where, str) else []
        if len(parts) != 4 or not all(p.isdigit() for p in parts[:2]):
            return None  # not a page kept by ``record``: read it
        start, count, total, entries = parts
        first, n = int(start), int(count)
        if first + n > len(self.rows) or self._digest(first, n) != entries:
            return None
        if total != "-" and not total.isdigit():
            return None
        self.pages[digest] = " ".join(parts)
        self._finals[digest] = sum(e.endswith("!") for e in self.rows[first : first + n])
        return n, None if total == "-" else int(total)

    def digest(self, page: RowsPage) -> str:
        """The digest of the page just read, if ``known`` saw it (else "")."""
        return self._last[1] if self._last is not None and self._last[0] is page.body else ""

    def finals(self, digest: str) -> int:
        """How many final calls a page that ``known`` recognised holds."""
        return self._finals[digest]

    def record(self, page: PageRead) -> None:
        """Keep a page handled in this poll when each of its rows would now be skipped:
        consecutive row indexes, each with its digest in ``rows``."""
        if not page.digest or not page.rows:
            return
        first = page.rows[0][0]
        if first is None or first + len(page.rows) > len(self.rows):
            return
        for i, (index, d) in enumerate(page.rows):
            if index is None or index != first + i or not d or self.rows[index][:PRINT] != d:
                return
        total = "-" if page.total is None else str(page.total)
        n = len(page.rows)
        self.pages[page.digest] = f"{first} {n} {total} {self._digest(first, n)}"

    def _digest(self, first: int, n: int) -> str:
        joined = "\n".join(self.rows[first : first + n]).encode()
        return hashlib.sha256(joined).hexdigest()[:32]


class Results:
    """Per row index of one campaign, a digest of the cells last queued for its row: a
    result read again with the same cells is not written again. Kept in the campaign's
    record, so a poll that only moves a call along (queued, calling) rewrites no row
    record; a state written before these digests existed has them in each row's record
    (``result``), read as a fallback."""

    def __init__(self, kept: object, n: int) -> None:
        ok = isinstance(kept, list) and len(kept) == n
        self.digests: list[str] | None = cast(list[str], kept) if ok else None
        self._n = n

    def changed(self, index: int, digest: str, rec: Mapping[str, Any]) -> bool:
        """Whether these cells differ from the last ones queued; remembers them."""
        if self.digests is None:
            self.digests = [""] * self._n
        before = self.digests[index] or rec.get("result")
        self.digests[index] = digest
        return before != digest
