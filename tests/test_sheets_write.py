"""Google Sheets source: the compact paths of reads and writes (columns read by column,
the batchUpdate body encoded as it is built, its answer checked unread), on the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.base import Row, RowUpdate
from adapters.google_sheets import GoogleSheetsSource, GoogleSheetsSourceConfig
from connector.errors import TransientError
from emulators.sheets import SheetsEmulator

SID = "1RevoxWriteSheet_0123456789"


@pytest.fixture
def emu() -> Iterator[SheetsEmulator]:
    with SheetsEmulator() as emulator:
        yield emulator


def open_source(emu: SheetsEmulator, worksheet: str | None = None) -> GoogleSheetsSource:
    config = GoogleSheetsSourceConfig(type="google_sheets", spreadsheet=SID, worksheet=worksheet)
    return GoogleSheetsSource(config, env={"SHEETS_EMULATOR_HOST": emu.host}, sleep=lambda _: None)


def posted_bodies(emu: SheetsEmulator) -> list[dict[str, Any]]:
    return [r.json() for r in emu.requests if r.path.endswith("/values:batchUpdate")]


def test_blank_header_cells_numeric_keys_and_cells_past_the_header(emu: SheetsEmulator) -> None:
    emu.add_spreadsheet(
        SID,
        {
            "Leads": [
                ["", "Name", "", "Phone", "Revox ID"],
                ["x", "Ann", "note", 33612345678, 7],
                ["", "Bob"],
                [" ", "\t", ""],
                ["", "", "", "", "", "past the header"],
                ["", "Cy", "", 10**20, 8.0],
            ]
        },
    )
    src = open_source(emu)
    assert list(src.read_rows()) == [
        Row("7", {"Name": "Ann", "Phone": "33612345678", "Revox ID": "7"}, 2),
        Row(None, {"Name": "Bob", "Phone": "", "Revox ID": ""}, 3),
        Row(None, {"Name": "", "Phone": "", "Revox ID": ""}, 5),
        Row("8", {"Name": "Cy", "Phone": "100000000000000000000", "Revox ID": "8"}, 6),
    ]
    report = src.write_back(
        [RowUpdate("8", {"Status": "done"}), RowUpdate("k-bob", {"Revox ID": "k-bob"}, 3)]
    )
    assert report.written == {"8", "k-bob"} and not report.missing
    grid = emu.grid(SID, "Leads")
    assert grid[0] == ["", "Name", "", "Phone", "Revox ID", "Status"]
    assert grid[2] == ["", "Bob", "", "", "k-bob"]
    assert grid[5] == ["", "Cy", "", 10**20, 8.0, "done"]
    assert posted_bodies(emu)[0]["data"] == [
        {"range": "'Leads'!F1", "values": [["Status"]]},
        {"range": "'Leads'!F6", "values": [["done"]]},
        {"range": "'Leads'!E3", "values": [["k-bob"]]},
    ]


def test_texts_are_sent_escaped_and_stored_as_given(emu: SheetsEmulator) -> None:
    title = 'Bob\'s "leads" \\ é'
    emu.add_spreadsheet(SID, {title: [["Name", "Revox ID", "A", "B"], ["Ann", "k1"]]})
    src = open_source(emu, worksheet=title)
    texts = ['say "hi"\n', "back\\slash", "é ✓ 😀", "\ud800 lone"]
    extra: dict[str, Any] = {"Attempts": 3, "Long": "x" * 60_000}
    updates = [
        RowUpdate("k1", {"A": texts[0], "B": texts[1], "Name": texts[2], "Note": texts[3]}),
        RowUpdate("k1", extra),
    ]
    assert src.write_back(updates).written == {"k1"}
    assert emu.grid(SID, title) == [
        ["Name", "Revox ID", "A", "B", "Note", "Attempts", "Long"],
        [texts[2], "k1", texts[0], texts[1], texts[3], "3", "x" * 50_000],
    ]
    (body,) = posted_bodies(emu)
    quoted = "'Bob''s \"leads\" \\ é'"
    assert [d["range"] for d in body["data"]] == [
        f"{quoted}!E1:G1",
        f"{quoted}!A2",
        f"{quoted}!C2:G2",
    ]


def test_an_answer_that_is_not_json_is_transient_and_not_sent_again(
    emu: SheetsEmulator,
) -> None:
    emu.add_spreadsheet(SID, {"Leads": [["Name", "Revox ID"], ["Ann", "k1"]]})
    src = open_source(emu)
    emu.add_fault("POST", r"values:batchUpdate", status=200, body="<html>a proxy page</html>")
    with pytest.raises(TransientError, match="unexpected response shape"):
        src.write_back([RowUpdate("k1", {"Status": "x"})])
    assert emu.count("POST", r"values:batchUpdate") == 1
    assert src.write_back([RowUpdate("k1", {"Status": "x"})]).written == {"k1"}


def test_keys_and_expected_cells_read_as_numbers(emu: SheetsEmulator) -> None:
    emu.add_spreadsheet(
        SID,
        {"Leads": [["Name", "Phone", "Revox ID"], ["Ann", 33611111111], ["Bob", 33622222222, 5]]},
    )
    src = open_source(emu)
    ann, bob = list(src.read_rows())
    assert (ann.key, bob.key) == (None, "5")
    updates = [
        RowUpdate("k-ann", {"Revox ID": "k-ann"}, ann.line, {"Phone": ann.values["Phone"]}),
        RowUpdate("k-two", {"Revox ID": "k-two"}, ann.line, {"Phone": ann.values["Phone"]}),
        RowUpdate("5", {"Status": "called"}),
    ]
    report = src.write_back(updates)
    assert report.written == {"k-ann", "5"} and report.missing == {"k-two"}
    assert emu.grid(SID, "Leads")[1:] == [
        ["Ann", 33611111111, "k-ann"],
        ["Bob", 33622222222, 5, "called"],
    ]
