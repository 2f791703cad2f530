"""The contract every Source adapter passes: subclass `SourceContract` and give a `Harness`.

A harness builds a source over a table and lets the test read back and edit that table
behind the adapter's back (sorting, inserting, deleting), as people do while the daemon runs.

Two kinds of sources pass it. Table sources (CSV, Sheets, SQLite) keep the row key in a
key column that revox-sync fills for new rows, found by line at first sight. Sources keyed
by their own record ids (Salesforce) have no key column: every row has a key from the
start, and their fields exist beforehand (a write names fields, it never creates one).
A harness says which kind it is with `own_ids`, and `field()` translates the contract's
column names into the source's own (``Notes`` -> ``Description`` in Salesforce).
"""

from __future__ import annotations

from typing import Protocol

import pytest

from adapters.base import UNREAD, Row, RowUpdate, Source

HEADER = ["Name", "Phone", "Notes", "Revox ID"]
ROWS = [
    ["Ann", "0612345678", "keep, me", "k1"],
    ["Bob", "0623456789", 'say "hi"', "k2"],
    ["Cid", "0634567890", "", ""],
    ["Dee", "0645678901", "=1+1", "k4"],
]
WRITTEN = ["Revox status", "Outcome", "Call summary", "Phone2"]  # columns the tests write


class Harness(Protocol):
    own_ids: bool

    def make(self, header: list[str], rows: list[list[str]]) -> Source: ...

    def table(self) -> list[list[str]]:
        """The header then every row, in the source's order; "Revox ID" holds the key."""
        ...

    def set_table(self, table: list[list[str]]) -> None: ...

    def field(self, column: str) -> str:
        """The source's name for one of the contract's columns."""
        ...


class TableHarness:
    """Defaults for sources with a key column whose names are the contract's own."""

    own_ids = False

    def field(self, column: str) -> str:
        return column


def _col(table: list[list[str]], name: str) -> int:
    return table[0].index(name)


def _row(table: list[list[str]], key: str) -> list[str]:
    k = _col(table, "Revox ID")
    return next(r for r in table[1:] if len(r) > k and r[k] == key)


def _cell(table: list[list[str]], key: str, name: str) -> str:
    row = _row(table, key)
    i = _col(table, name)
    return row[i] if i < len(row) else ""


def _keys(rows: list[Row], harness: Harness) -> dict[str, str | None]:
    """Name -> key: k1, k2, None, k4 for table sources, record ids for the others."""
    return {r.values[harness.field("Name")]: r.key for r in rows}


def _update(harness: Harness, key: str, values: dict[str, str]) -> RowUpdate:
    return RowUpdate(key, {harness.field(c): v for c, v in values.items()})


class SourceContract:
    """Mix into a test class that defines `harness` as a pytest fixture."""

    def test_headers_and_rows(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        headers = src.headers()
        rows = list(src.read_rows())
        keys = _keys(rows, harness)
        assert list(keys) == ["Ann", "Bob", "Cid", "Dee"]
        assert rows[0].values[harness.field("Notes")] == "keep, me"
        assert rows[1].values[harness.field("Notes")] == 'say "hi"'
        assert rows[3].values[harness.field("Notes")] == "=1+1"  # read as text, never run
        if harness.own_ids:
            assert src.key_column is None
            assert {harness.field(h) for h in HEADER[:3]} <= set(headers)
            assert all(keys.values()) and len(set(keys.values())) == 4
        else:
            assert headers == HEADER
            assert list(keys.values()) == ["k1", "k2", None, "k4"]
            assert rows[2].line == 4  # header is line 1

    def test_settled_rows_come_without_their_cells(self, harness: Harness) -> None:
        """A steady tick needs only a settled row's key: its cells are not built (UNREAD);
        every other row, keyless ones included, comes whole and in the same order."""
        src = harness.make(HEADER, ROWS)
        whole = list(src.read_rows())
        keys = _keys(whole, harness)
        settled = {str(keys["Ann"]), str(keys["Dee"]), "not-a-key-of-this-source"}
        rows = list(src.read_rows(settled))
        assert [r.key for r in rows] == [r.key for r in whole]
        assert [r.line for r in rows] == [r.line for r in whole]
        assert rows[0].values is UNREAD and rows[3].values is UNREAD
        assert rows[1] == whole[1] and rows[2] == whole[2]
        assert rows[1].values[harness.field("Notes")] == 'say "hi"'
        assert list(src.read_rows(set())) == whole == list(src.read_rows(()))

    def test_write_by_key_leaves_the_rest(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        keys = _keys(list(src.read_rows()), harness)
        k1, k2, k4 = (str(keys[n]) for n in ("Ann", "Bob", "Dee"))
        report = src.write_back([_update(harness, k2, {"Revox status": "done", "Outcome": "x"})])
        assert report.written == {k2} and not report.missing and not report.failed
        table = harness.table()
        assert (_cell(table, k2, "Revox status"), _cell(table, k2, "Outcome")) == ("done", "x")
        assert _row(table, k1)[:3] == ROWS[0][:3]
        assert _row(table, k4)[:3] == ROWS[3][:3]  # a formula-looking cell we do not own is intact
        assert _cell(table, k1, "Revox status") == ""

    def test_write_creates_missing_columns_at_the_end(self, harness: Harness) -> None:
        if harness.own_ids:
            pytest.skip("a source keyed by record ids writes existing fields only")
        src = harness.make(HEADER, ROWS)
        src.write_back([RowUpdate("k2", {"Revox status": "submitted", "Outcome": "x"})])
        table = harness.table()
        assert table[0] == [*HEADER, "Revox status", "Outcome"]
        assert _row(table, "k2")[4:] == ["submitted", "x"]

    def test_key_assignment_at_line_only_into_an_empty_cell(self, harness: Harness) -> None:
        if harness.own_ids:
            pytest.skip("every record has its id from the start: no key is assigned")
        src = harness.make(HEADER, ROWS)
        ok = src.write_back([RowUpdate("new1", {"Revox ID": "new1"}, line=4)])
        assert ok.written == {"new1"}
        assert _row(harness.table(), "new1")[0] == "Cid"
        # line 2 already has key k1: a stale assignment must not overwrite it
        stale = src.write_back([RowUpdate("new2", {"Revox ID": "new2"}, line=2)])
        assert stale.written == set() and stale.missing == {"new2"}
        assert _row(harness.table(), "k1")[0] == "Ann"

    def test_key_assignment_refuses_a_row_moved_into_the_line(self, harness: Harness) -> None:
        if harness.own_ids:
            pytest.skip("every record has its id from the start: no key is assigned")
        src = harness.make(HEADER, ROWS)
        table = harness.table()
        harness.set_table([*table[:3], ["Eve", "0699999999", "", ""], *table[3:]])  # above Cid
        expect = {"Phone": "0634567890"}  # Cid's phone, as read before the insert
        report = src.write_back([RowUpdate("new1", {"Revox ID": "new1"}, line=4, expect=expect)])
        assert report.written == set() and report.missing == {"new1"}
        assert all("new1" not in r for r in harness.table()[1:])

    def test_write_after_sort_and_insert_finds_rows_by_key(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        keys = _keys(list(src.read_rows()), harness)
        k1, k4 = str(keys["Ann"]), str(keys["Dee"])
        table = harness.table()
        body = sorted(table[1:], key=lambda r: r[0], reverse=True)
        harness.set_table([table[0], ["Zed", "0656789012", "inserted", ""], *body])
        src.write_back(
            [
                _update(harness, k1, {"Revox status": "done-1"}),
                _update(harness, k4, {"Revox status": "done-4"}),
            ]
        )
        after = harness.table()
        assert _row(after, k1)[0] == "Ann" and _cell(after, k1, "Revox status") == "done-1"
        assert _row(after, k4)[0] == "Dee" and _cell(after, k4, "Revox status") == "done-4"
        zed = next(r for r in after[1:] if r[0] == "Zed")
        assert zed[:3] == ["Zed", "0656789012", "inserted"]

    def test_vanished_row_is_reported_missing(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        keys = _keys(list(src.read_rows()), harness)
        k1 = str(keys["Ann"])
        gone = "00Q000000000000AAA" if harness.own_ids else "gone"
        report = src.write_back(
            [
                _update(harness, gone, {"Revox status": "x"}),
                _update(harness, k1, {"Revox status": "y"}),
            ]
        )
        assert report.missing == {gone}
        assert report.written == {k1}

    def test_row_deleted_after_reading_is_reported_missing(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        keys = _keys(list(src.read_rows()), harness)
        k1, k2 = str(keys["Ann"]), str(keys["Bob"])
        table = harness.table()
        harness.set_table([r for r in table if r[0] != "Bob"])
        report = src.write_back(
            [
                _update(harness, k2, {"Revox status": "x"}),
                _update(harness, k1, {"Revox status": "y"}),
            ]
        )
        assert report.missing == {k2} and report.written == {k1}
        assert _cell(harness.table(), k1, "Revox status") == "y"

    def test_values_are_literal_text(self, harness: Harness) -> None:
        src = harness.make(HEADER, ROWS)
        k1 = str(_keys(list(src.read_rows()), harness)["Ann"])
        evil = '=IMPORTXML("http://x", "//a")'
        src.write_back([_update(harness, k1, {"Call summary": evil, "Phone2": "+1 555 0100"})])
        table = harness.table()
        assert _cell(table, k1, "Phone2") in ("+1 555 0100", "'+1 555 0100")  # CSV: escape_formulas
        assert _cell(table, k1, "Call summary") in (evil, "'" + evil)  # sheets store RAW text
