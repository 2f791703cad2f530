"""A rows page read again byte for byte is not decoded, and that changes no cell written:
a team whose poller skips such pages writes, tick after tick, exactly what a team that
decodes every page writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.revox import KnownPage, RevoxClient, RowsPage
from connector.sandbox import Sandbox
from connector.seen import PageRead, Seen
from tests.conftest import API_KEY, Clock, fr, make_team, open_engine, read_csv

TAG = b"t" * 64


class Counting(RevoxClient):
    """A client counting the rows pages it decoded and skipped; ``skip=False`` never skips."""

    def __init__(self, url: str, *, skip: bool) -> None:
        super().__init__(API_KEY, url, sleep=lambda s: None, timeout=5.0, rows_page_size=3)
        self.skip, self.decoded, self.skipped = skip, 0, 0

    def campaign_row_pages(
        self, campaign_id: str, known: KnownPage | None = None
    ) -> Iterator[RowsPage]:
        for page in super().campaign_row_pages(campaign_id, known if self.skip else None):
            self.decoded += page.rows is not None
            self.skipped += page.rows is None
            yield page


def test_skipping_unchanged_pages_writes_the_same_cells(tmp_path: Path) -> None:
    rows = [[f"N{i}", fr(i)] for i in range(23)]
    runs = []
    for name, skip in (("skips", True), ("decodes", False)):
        folder = tmp_path / name
        folder.mkdir()
        make_team(folder, rows, max_contacts=10, campaign_extra="  max_concurrent_calls: 2")
        sb = Sandbox(API_KEY, clock=lambda: 0.0)
        sb.start()
        client = Counting(sb.url, skip=skip)
        runs.append((sb, client, open_engine(folder, sb, Clock(), client), folder))
    try:
        for _ in range(40):
            states = []
            for sb, _client, engine, folder in runs:
                engine.tick()
                sb.advance(20.0)  # half a call slot: some pages change, others do not
                cells = [
                    {k: v for k, v in row.items() if k != "Revox ID"}  # keys are random
                    for row in read_csv(folder / "leads.csv")
                ]
                states.append((cells, list(engine.state.campaigns.states())))
            assert states[0] == states[1]
            if all(st == "final" for _, st in states[0][1]):
                break
        else:
            raise AssertionError("the campaigns never ended")
        skipping, decoding = runs[0][1], runs[1][1]
        assert skipping.skipped > 0 and decoding.skipped == 0
        assert skipping.decoded + skipping.skipped == decoding.decoded  # the same pages read
    finally:
        for sb, _, engine, _ in runs:
            engine.state.close()
            sb.stop()


def _page(first: int, n: int, prints: list[str]) -> tuple[bytes, PageRead]:
    body = f"page from {first}, {n} rows".encode()
    return body, PageRead("", 9, [(first + i, prints[i]) for i in range(n)])


def _handled(seen: Seen, body: bytes, read: PageRead) -> None:
    """What the poller does with a page it decoded: its digest, its rows' entries, kept."""
    assert seen.known(body) is None
    read.digest = seen.digest(RowsPage(body, [], read.total))
    for index, d in read.rows:
        assert index is not None
        seen.rows[index] = d + ("!" if index % 2 else "")
    seen.record(read)


def _later(seen: Seen, tag: bytes = TAG) -> Seen:
    """The same campaign's memory as the next poll reads it back."""
    return Seen(tag, list(seen.rows), dict(seen.pages), len(seen.rows))


def test_a_page_known_before_is_skipped_with_its_finals() -> None:
    seen = Seen(TAG, None, None, 6)
    body, read = _page(3, 3, ["a" * 16, "b" * 16, "c" * 16])
    _handled(seen, body, read)
    again = _later(seen)
    assert again.known(body) == (3, 9)
    assert again.finals(again.digest(RowsPage(body, None, 9))) == 2  # rows 3 and 5 are final
    assert again.pages == seen.pages  # kept for the poll after
    assert _later(seen, b"u" * 64).known(body) is None  # another write_back: read again


def test_a_page_whose_rows_entries_changed_is_read_again() -> None:
    seen = Seen(TAG, None, None, 6)
    body, read = _page(0, 3, ["a" * 16, "b" * 16, "c" * 16])
    _handled(seen, body, read)
    again = _later(seen)
    again.rows[1] = "z" * 16  # another page of the same campaign held row 1 since
    assert again.known(body) is None
    assert Seen(TAG, None, seen.pages, 6).known(body) is None  # the entries were reset


@pytest.mark.parametrize(
    "rows",
    [
        [(0, "a" * 16), (2, "b" * 16)],  # not consecutive
        [(0, "a" * 16), (0, "a" * 16)],  # one row twice
        [(0, "a" * 16), (None, "")],  # a row without a valid index
        [(0, "a" * 16), (1, "")],  # a row that could not be digested
        [(5, "a" * 16), (6, "b" * 16)],  # past the campaign's rows
    ],
)
def test_a_page_whose_rows_would_not_all_be_skipped_is_not_kept(rows: Any) -> None:
    seen = Seen(TAG, None, None, 6)
    seen.known(b"body")
    for index, d in rows:
        if index is not None and index < 6 and d:
            seen.rows[index] = d
    seen.record(PageRead(seen.digest(RowsPage(b"body", [], None)), None, rows))
    assert seen.pages == {}


@pytest.mark.parametrize("kept", ["0 3", "x 3 9 abc", "0 3 -1 abc", 7, ["0", "3"]])
def test_a_page_kept_in_an_unknown_form_is_read(kept: object) -> None:
    seen = Seen(TAG, None, None, 6)
    seen.known(b"body")
    digest = seen.digest(RowsPage(b"body", [], None))
    assert Seen(TAG, None, {digest: kept}, 6).known(b"body") is None
