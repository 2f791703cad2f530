"""Memory bounded by a page: the outbox is written back page by page to a source that asks
for it (``write_page``), each page committed before the next; a page that fails keeps it
and every later page in the outbox."""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from pathlib import Path

import pytest

from adapters.base import Row, RowUpdate, WriteReport
from adapters.csv_file import CsvSource
from connector import classify
from connector.engine import Engine
from connector.errors import RetryableError
from connector.loading import load_mapping
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

    def read_rows(self, settled: Container[str] = ()) -> Iterator[Row]:
        return self.inner.read_rows(settled)

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
        assert all(r["Revox status"] for r in read_csv(tmp_path / "leads.csv"))
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


class WatchedRead:
    """A source whose read records how many campaigns existed when each row was read."""

    def __init__(self, inner: CsvSource, sandbox: Sandbox) -> None:
        self.inner, self.sandbox = inner, sandbox
        self.key_column = inner.key_column
        self.posts_seen: list[int] = []

    def headers(self) -> list[str]:
        return self.inner.headers()

    def read_rows(self, settled: Container[str] = ()) -> Iterator[Row]:
        for row in self.inner.read_rows(settled):
            self.posts_seen.append(_posts(self.sandbox))
            yield row

    def write_back(self, updates: Sequence[RowUpdate]) -> WriteReport:
        return self.inner.write_back(updates)

    def describe(self) -> str:
        return "watched"

    def close(self) -> None:
        pass


def _posts(sb: Sandbox) -> int:
    return sum(1 for m, p, _ in sb.requests if m == "POST" and p == "/campaigns")


def _keyed_team(tmp: Path, sandbox: Sandbox, n: int) -> tuple[Engine, StateStore, WatchedRead]:
    phones = [f"06 12 35 {i // 100:02d} {i % 100:02d}" for i in range(n)]
    loaded = load_mapping(
        make_team(tmp, [[f"N{i}", p] for i, p in enumerate(phones)], max_contacts=4)
    )
    # keys already in the rows (as Salesforce record ids are)
    text = (tmp / "leads.csv").read_text().splitlines()
    lines = [text[0] + ",Revox ID"] + [f"{line},k{i}" for i, line in enumerate(text[1:])]
    (tmp / "leads.csv").write_text("\n".join(lines) + "\n")
    state = StateStore(tmp / "state" / "t1.sqlite")
    revox = RevoxClient(API_KEY, sandbox.url, sleep=lambda s: None, timeout=2.0)
    inner = open_source(loaded, {})
    assert isinstance(inner, CsvSource)
    source = WatchedRead(inner, sandbox)
    return Engine(loaded, source, revox, state), state, source


def test_keyed_rows_are_submitted_batch_by_batch_as_the_read_goes(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(classify, "CHUNK", 2)  # rows are classified 2 at a time (1,000)
    engine, state, source = _keyed_team(tmp_path, sandbox, 10)
    try:
        state.set_meta("source_checked", "2026-01-01T00:00:00+00:00")  # not a fresh state
        state.commit()
        s = engine.tick()
        assert s.submitted == 10 and s.campaigns_created == 3 and not s.errors
        # the first batch of 4 was sent before the 5th row was read, the second before the 9th
        assert source.posts_seen == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
        assert _posts(sandbox) == 3
    finally:
        state.close()


def test_a_fresh_state_sends_nothing_before_the_whole_read(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(classify, "CHUNK", 2)
    engine, state, source = _keyed_team(tmp_path, sandbox, 10)
    try:
        s = engine.tick()  # the first tick: rows an earlier state submitted are looked for
        assert s.submitted == 10 and s.campaigns_created == 3
        assert source.posts_seen == [0] * 10
    finally:
        state.close()
