"""The contract every Source adapter passes: subclass `SourceContract` and give a `Harness`.

A harness builds a source over a table and lets the test read back and edit that table
behind the adapter's back (sorting, inserting), as people do while the daemon runs.
"""

from __future__ import annotations

from typing import Protocol

from adapters.base import RowUpdate, Source

HEADER = ["Name", "Phone", "Notes", "Revox ID"]
ROWS = [
    ["Ann", "0612345678", "keep, me", "k1"],
    ["Bob", "0623456789", 'say "hi"', "k2"],
    ["Cid", "0634567890", "", ""],
    ["Dee", "0645678901", "=1+1", "k4"],
]


class Harness(Protocol):
    def make(self, header: list[str], rows: list[list[str]]) -> Source: ...
    def table(self) -> list[list[str]]: ...
    def set_table(self, table: list[list[str]]) -> None: ...


def _col(table: list[list[str]], name: str) -> int:
    return table[0].index(name)


def _row(table: list[list[str]], key: str) -> list[str]:
    k = _col(table, "Revox ID")
    return next(r for r in table[1:] if len(r) > k and r[k] == key)


class SourceContract:
    """Mix into a test class that defines `harness` as a pytest fixture."""

    def test_headers_and_rows(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        assert src.headers() == HEADER
        rows = list(src.read_rows())
        assert [r.key for r in rows] == ["k1", "k2", None, "k4"]
        assert rows[0].values["Notes"] == "keep, me"
        assert rows[1].values["Notes"] == 'say "hi"'
        assert rows[2].line == 4  # header is line 1

    def test_write_by_key_creates_columns_and_leaves_the_rest(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        report = src.write_back([RowUpdate("k2", {"Revox status": "submitted", "Outcome": "x"})])
        assert report.written == {"k2"}
        table = harness.table()
        assert table[0] == [*HEADER, "Revox status", "Outcome"]
        assert _row(table, "k2")[4:] == ["submitted", "x"]
        assert _row(table, "k1")[:4] == ROWS[0]
        assert _row(table, "k4")[:4] == ROWS[3]  # a formula-looking cell we do not own is intact

    def test_key_assignment_at_line_only_into_an_empty_cell(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        ok = src.write_back([RowUpdate("new1", {"Revox ID": "new1"}, line=4)])
        assert ok.written == {"new1"}
        assert _row(harness.table(), "new1")[0] == "Cid"
        # line 2 already has key k1: a stale assignment must not overwrite it
        stale = src.write_back([RowUpdate("new2", {"Revox ID": "new2"}, line=2)])
        assert stale.written == set() and stale.missing == {"new2"}
        assert _row(harness.table(), "k1")[0] == "Ann"

    def test_write_after_sort_and_insert_finds_rows_by_key(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        list(src.read_rows())
        table = harness.table()
        body = sorted(table[1:], key=lambda r: r[0], reverse=True)
        harness.set_table([table[0], ["Zed", "0656789012", "inserted", ""], *body])
        src.write_back(
            [
                RowUpdate("k1", {"Revox status": "done-1"}),
                RowUpdate("k4", {"Revox status": "done-4"}),
            ]
        )
        after = harness.table()
        assert _row(after, "k1")[0] == "Ann" and _row(after, "k1")[-1] == "done-1"
        assert _row(after, "k4")[0] == "Dee" and _row(after, "k4")[-1] == "done-4"
        assert after[1][:3] == ["Zed", "0656789012", "inserted"]

    def test_vanished_row_is_reported_missing(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        report = src.write_back(
            [RowUpdate("gone", {"Revox status": "x"}), RowUpdate("k1", {"Revox status": "y"})]
        )
        assert report.missing == {"gone"}
        assert report.written == {"k1"}

    def test_values_are_literal_text(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        evil = '=IMPORTXML("http://x", "//a")'
        src.write_back([RowUpdate("k1", {"Call summary": evil, "Phone2": "+1 555 0100"})])
        row = _row(harness.table(), "k1")
        assert row[-1] in ("+1 555 0100", "'+1 555 0100")  # CSV: see escape_formulas
        assert row[-2] in (evil, "'" + evil)  # CSV escapes formulas; sheets store RAW text
