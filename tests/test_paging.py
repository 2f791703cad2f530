"""Memory bounded by a page: the outbox is written back page by page to a source that asks
for it (``write_page``), each page committed before the next; a page that fails keeps it
and every later page in the outbox."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from adapters.base import Row, RowUpdate, WriteReport
from adapters.csv_file import CsvSource
from connector.config import load_mapping
from connector.engine import Engine
from connector.errors import RetryableError
from connector.revox import RevoxClient
from connector.sandbox import Sandbox
from connector.sources import open_source
from connector.state import StateStore
from tests.conftest import API_KEY, make_team, read_csv

PHONES = [f"06 12 34 {i // 100:02d} {i % 100:02d}" for i in range(20)]


class PagedSource:
    """A CSV source that asks for pages of ``write_page`` rows and can fail a call."""

    def __init__(self, inner: CsvSource, page: int) -> None:
        self.inner = inner
        self.key_column = inner.key_column
        self.write_page = page
        self.calls: list[int] = []
        self.fail_call: int | None = None

    def headers(self) -> list[str]:
        return self.inner.headers()

    def read_rows(self) -> Iterator[Row]:
        return self.inner.read_rows()

    def write_back(self, updates: Sequence[RowUpdate]) -> WriteReport:
        self.calls.append(len(updates))
        if self.fail_call is not None and len(self.calls) == self.fail_call:
            raise RetryableError("source is down")
        return self.inner.write_back(updates)

    def describe(self) -> str:
        return "paged"

    def close(self) -> None:
        pass


def _engine(tmp: Path, sandbox: Sandbox) -> tuple[Engine, StateStore, PagedSource]:
    loaded = load_mapping(make_team(tmp, [[f"N{i}", p] for i, p in enumerate(PHONES)]))
    state = StateStore(tmp / "state" / "t1.sqlite")
    revox = RevoxClient(API_KEY, sandbox.url, sleep=lambda s: None, timeout=2.0)
    inner = open_source(loaded, {})
    assert isinstance(inner, CsvSource)
    source = PagedSource(inner, 6)
    return Engine(loaded, source, revox, state), state, source


def test_outbox_is_written_back_page_by_page(tmp_path: Path, sandbox: Sandbox) -> None:
    engine, state, source = _engine(tmp_path, sandbox)
    try:
        s = engine.tick()
        # first call: the 20 new keys (not the outbox); then the outbox in pages of 6
        assert source.calls == [20, 6, 6, 6, 2]
        assert s.outbox == 0 and not s.errors
        assert {r["Revox status"] for r in read_csv(tmp_path / "leads.csv")} != {""}
    finally:
        state.close()


def test_a_failed_page_keeps_it_and_the_rest(tmp_path: Path, sandbox: Sandbox) -> None:
    engine, state, source = _engine(tmp_path, sandbox)
    try:
        source.fail_call = 3  # the second page of the outbox
        s = engine.tick()
        assert source.calls == [20, 6, 6]
        assert s.outbox == 14 and s.errors  # the first page left, nothing else did
        source.fail_call = None
        s = engine.tick()
        assert s.outbox == 0 and not s.errors
    finally:
        state.close()
