"""The Source protocol: the only seam between the engine and where rows live.

An adapter reads rows and writes row updates back. It knows nothing of Revox
or of the state store. Rows are located by key at write time, never by the
position seen at read time, because people sort and insert rows while the
daemon runs.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple, Protocol, runtime_checkable


def norm(header: str) -> str:
    """How a header is found: case and surrounding spaces ignored. The one definition: a
    source and the mapping must agree on it, or a row's cells are not found by header."""
    return header.strip().casefold()


def find_column(header: Sequence[str], name: str | None) -> int | None:
    """0-based index of ``name`` in a header row (by ``norm``), or None."""
    if name is None:
        return None
    wanted = norm(name)
    return next((i for i, h in enumerate(header) if norm(h) == wanted), None)


# A cell up to MAX_CELL is read as any other; a larger one (a pasted e-mail thread, a binary
# blob) rejects its row only, in every source that reads files or tables.
MAX_CELL = 1 << 20


SHOWN_HEADERS, SHOWN_HEADER_LEN = 20, 40


def header_text(headers: Sequence[str]) -> list[str]:
    """Headers as quoted in an error: at most 20, each cut to 40 characters. The first line
    of a file may hold anything, and errors travel to logs and /healthz."""
    cut = [h if len(h) <= SHOWN_HEADER_LEN else h[: SHOWN_HEADER_LEN - 3] + "..." for h in headers]
    more = len(cut) - SHOWN_HEADERS
    return cut[:SHOWN_HEADERS] + ([f"... {more} more"] if more > 0 else [])


class Row(NamedTuple):
    """One row as the user sees it (a named tuple: immutable, and made several times
    faster than a frozen dataclass; a source makes one per row per tick).

    key: the stable key (record Id, or the key column's text); None when the
    key cell is still empty. line: 1-based position in the source (header = 1)
    for messages and for the first key assignment; 0 where it has no meaning.
    values: header or field name -> displayed text.
    problem: why the row could not be read whole (a cell over the size limit), or None;
    such a row is rejected with this sentence instead of failing the whole team.
    """

    key: str | None
    values: Mapping[str, str]
    line: int = 0
    problem: str | None = None


# The cells of a row the reader said it needs only the key of (``read_rows(settled=...)``):
# one shared empty mapping, told apart from a row with no cells by identity.
UNREAD: Mapping[str, str] = MappingProxyType({})

_NO_EXPECT: Mapping[str, str] = MappingProxyType({})


def _no_expect() -> Mapping[str, str]:
    return _NO_EXPECT  # one shared empty mapping, not a dict per update


@dataclass(frozen=True, slots=True)
class RowUpdate:
    """Cells to set on one row, found by key.

    When the row has no key yet (first sight), ``line`` names where it was read
    and ``values`` contains the key column: the adapter writes there only if
    that row's key cell is still empty, so a row moved meanwhile is never
    overwritten by mistake.
    """

    key: str
    values: Mapping[str, str]
    line: int | None = None
    expect: Mapping[str, str] = field(default_factory=_no_expect)
    """For a first key assignment: cells that must still read like this at ``line``
    (the phone, say), so a row that moved into that line is never taken for it."""


@dataclass
class WriteReport:
    """What the source did with a list of updates.

    written: keys whose updates are stored (they leave the outbox).
    missing: keys whose row no longer exists (dropped with one log line).
    failed: key -> reason, kept in the outbox for a later tick.
    """

    written: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0


@runtime_checkable
class Source(Protocol):
    """Where a team's rows live."""

    key_column: str | None
    """The column that holds the row key, or None when the source has its own ids."""

    def headers(self) -> list[str]:
        """The column headers (or field names) as they are in the source, in order."""
        ...

    def read_rows(self, settled: Container[str] = ()) -> Iterator[Row]:
        """Every data row, streamed. Blank rows may be skipped. A row whose key is in
        ``settled`` may come with ``UNREAD`` as its values: the reader needs only its key
        (a steady tick's rows were all submitted before; their cells are not built)."""
        ...

    def write_back(self, updates: Sequence[RowUpdate]) -> WriteReport:
        """Apply the updates in as few requests as the source allows.

        Columns missing from the source are created at the end of the header.
        Values are written as literal text, never as formulas.
        """
        ...

    def describe(self) -> str:
        """A short, secret-free description for messages (a path, a sheet id)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@dataclass(frozen=True)
class CallLog:
    """One finished Revox call, for sources that keep an activity history (Salesforce Tasks).

    call_id is the Revox call id: a source must create at most one activity per call_id,
    even when the same CallLog is sent again after a crash.
    """

    call_id: str
    key: str
    subject: str
    outcome: str | None
    summary: str
    ended_at: str | None
    duration_seconds: int | None = None


@runtime_checkable
class CallLogger(Protocol):
    """Optional: a Source that can also log each finished call as an activity."""

    def log_calls(self, calls: Sequence[CallLog]) -> WriteReport:
        """Create one activity per call_id not logged yet; report by call_id."""
        ...
