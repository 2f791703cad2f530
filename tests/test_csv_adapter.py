"""The CSV adapter: the contract suite plus what only a file has (bytes, BOM, atomicity)."""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import pytest

from adapters.base import RowUpdate, Source
from adapters.csv_file import CsvSource, CsvSourceConfig
from connector.errors import ConfigError, RetryableError
from tests.adapter_contract import SourceContract, TableHarness


class CsvHarness(TableHarness):
    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "leads.csv"

    def make(self, header: list[str], rows: list[list[str]]) -> Source:
        self.set_table([header, *rows])
        return CsvSource(CsvSourceConfig(type="csv", path="leads.csv"), base_dir=self.path.parent)

    def table(self) -> list[list[str]]:
        with self.path.open(encoding="utf-8-sig", newline="") as f:
            return list(csv.reader(f))

    def set_table(self, table: list[list[str]]) -> None:
        with self.path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(table)


class TestCsvContract(SourceContract):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> CsvHarness:
        return CsvHarness(tmp_path)


def source(tmp: Path, text: str | bytes, **kw: object) -> CsvSource:
    p = tmp / "leads.csv"
    if isinstance(text, str):
        p.write_text(text, encoding="utf-8", newline="")
    else:
        p.write_bytes(text)
    return CsvSource(CsvSourceConfig(type="csv", path="leads.csv", **kw), base_dir=tmp)  # type: ignore[arg-type]


def test_untouched_records_keep_their_exact_bytes(tmp_path: Path) -> None:
    text = (
        'Name,Phone,Revox ID\r\n"Ann",  0612345678,k1\r\n"Bob","06 23",k2\r\n'
        '"multi\r\nline",0634567890,k3\r\n\r\nEve,0645678901,k5\r\n'
    )
    src = source(tmp_path, text)
    src.write_back([RowUpdate("k2", {"Revox ID": "k2"})])
    with (tmp_path / "leads.csv").open(encoding="utf-8", newline="") as f:
        out = f.read()
    assert out.replace("Bob,06 23,k2", '"Bob","06 23",k2') == text


def test_new_columns_pad_untouched_rows_without_requoting(tmp_path: Path) -> None:
    src = source(tmp_path, 'Name,Phone,Revox ID\n"Ann",0612345678,k1\nBob,0623456789,k2\n')
    src.write_back([RowUpdate("k2", {"Revox status": "ok"})])
    out = (tmp_path / "leads.csv").read_text(encoding="utf-8")
    assert out == 'Name,Phone,Revox ID,Revox status\n"Ann",0612345678,k1,\nBob,0623456789,k2,ok\n'


def test_bom_and_semicolons_are_kept(tmp_path: Path) -> None:
    src = source(tmp_path, "\ufeffNom;Téléphone;Revox ID\nÉlodie;06 12 34 56 78;k1\n")
    assert src.headers() == ["Nom", "Téléphone", "Revox ID"]
    (row,) = list(src.read_rows())
    assert row.values["Nom"] == "Élodie"
    src.write_back([RowUpdate("k1", {"Statut": "fait"})])
    raw = (tmp_path / "leads.csv").read_bytes()
    assert raw.startswith("\ufeff".encode())
    assert (
        raw.decode("utf-8-sig") == "Nom;Téléphone;Revox ID;Statut\nÉlodie;06 12 34 56 78;k1;fait\n"
    )


def test_headers_matched_ignoring_case_and_spaces(tmp_path: Path) -> None:
    src = source(tmp_path, "Name, revox id \nAnn,k1\n")
    src.write_back([RowUpdate("k1", {"REVOX ID": "k1", "Outcome": "x"})])
    assert (tmp_path / "leads.csv").read_text() == "Name, revox id ,Outcome\nAnn,k1,x\n"


def test_formulas_escaped_for_spreadsheet_programs(tmp_path: Path) -> None:
    src = source(tmp_path, "Name,Revox ID\nAnn,k1\n")
    src.write_back(
        [
            RowUpdate(
                "k1",
                {"A": "=HYPERLINK(1)", "B": "@SUM(1)", "C": "+33 6 12", "D": "-5", "E": "+CMD()"},
            )
        ]
    )
    rows = list(csv.reader(io.StringIO((tmp_path / "leads.csv").read_text())))
    assert rows[1][2:] == ["'=HYPERLINK(1)", "'@SUM(1)", "'+33 6 12", "'-5", "'+CMD()"]
    src2 = source(tmp_path, "Name,Revox ID\nAnn,k1\n", escape_formulas=False)
    src2.write_back([RowUpdate("k1", {"A": "=HYPERLINK(1)"})])
    assert "=HYPERLINK(1)" in (tmp_path / "leads.csv").read_text().splitlines()[1].split(",")


def test_write_is_atomic_and_keeps_the_file_mode(tmp_path: Path) -> None:
    src = source(tmp_path, "Name,Revox ID\nAnn,k1\n")
    os.chmod(tmp_path / "leads.csv", 0o640)
    src.write_back([RowUpdate("k1", {"S": "x"})])
    assert stat.S_IMODE((tmp_path / "leads.csv").stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv"]  # no temp file left


def test_failed_write_leaves_the_original(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = source(tmp_path, "Name,Revox ID\nAnn,k1\n")

    def boom(*a: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(RetryableError, match="No space left"):
        src.write_back([RowUpdate("k1", {"S": "x"})])
    assert (tmp_path / "leads.csv").read_text() == "Name,Revox ID\nAnn,k1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no header row"),
        (b"\xff\xfeN\x00a\x00", "not UTF-8"),
        (b"Name,Name\nA,B\n", "appears twice"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        source(tmp_path, content).headers()


def test_missing_file(tmp_path: Path) -> None:
    src = CsvSource(CsvSourceConfig(type="csv", path="nope.csv"), base_dir=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        src.headers()


def test_blank_rows_are_skipped_but_kept(tmp_path: Path) -> None:
    src = source(tmp_path, "Name,Revox ID\nAnn,k1\n,\n\nBob,k2\n")
    assert [r.key for r in src.read_rows()] == ["k1", "k2"]
    src.write_back([RowUpdate("k2", {"Revox ID": "k2", "S": "x"})])
    assert (tmp_path / "leads.csv").read_text() == "Name,Revox ID,S\nAnn,k1,\n,,\n\nBob,k2,x\n"
