"""The exact bytes a CSV rewrite produces and the exact rows a read yields, for tricky cells.

These pin the output of ``CsvSource`` byte for byte (quoting, formula escaping, padding of
short and long rows, line endings, BOM, new columns), so that a faster read or rewrite
cannot change what lands in the user's file or what the engine sees without a test failing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.base import MAX_CELL, Row, RowUpdate, WriteReport
from adapters.csv_file import CsvSource, CsvSourceConfig


def _source(tmp: Path, text: str, **kw: object) -> CsvSource:
    (tmp / "leads.csv").write_bytes(text.encode("utf-8"))
    return CsvSource(CsvSourceConfig(type="csv", path="leads.csv", **kw), base_dir=tmp)  # type: ignore[arg-type]


def _written(tmp: Path) -> bytes:
    return (tmp / "leads.csv").read_bytes()


TRICKY = {
    "Note": 'say "hi", then\nbye',
    "Outcome": "=1+1",
    "Summary": "+33 6",
    "Err": "-x",
    "At": "@me",
    "Tab": "\tx",
    "Cr": "\rx",
    "Uni": "Élodie ☎ 電話 😀",
    "Empty": "",
    "Sp": " lead ",
}


def test_tricky_values_new_columns_and_ragged_rows(tmp_path: Path) -> None:
    src = _source(
        tmp_path,
        "Name,Phone,Revox ID\r\nAnn,061,k1\r\nBob\r\n"
        'Cid,063,k3,extra,more\r\n"Dee, D",064,k4,,\r\n',
    )
    report = src.write_back(
        [
            RowUpdate("k1", TRICKY),
            RowUpdate("k3", {"Note": "x;y"}),
            RowUpdate("k4", {"Empty": "a\r\nb"}),
        ]
    )
    assert report == WriteReport(written={"k1", "k3", "k4"}, requests=1)
    # the header is widened by two blank columns (Cid's row is 5 cells wide), the new
    # columns follow; untouched Bob keeps his bytes plus delimiters, written rows are quoted
    # by the csv module and formula-like values get a leading '
    assert (
        _written(tmp_path)
        == (
            "Name,Phone,Revox ID,,,Note,Outcome,Summary,Err,At,Tab,Cr,Uni,Empty,Sp\r\n"
            'Ann,061,k1,,,"say ""hi"", then\nbye",\'=1+1,\'+33 6,\'-x,\'@me,\'\tx,"\'\rx",'
            "Élodie ☎ 電話 😀,, lead \r\n"
            "Bob,,,,,,,,,,\r\n"
            "Cid,063,k3,extra,more,x;y,,,,,,,,,\r\n"
            '"Dee, D",064,k4,,,,,,,,,,,"a\r\nb",\r\n'
        ).encode()
    )


def test_existing_columns_semicolons_and_bom(tmp_path: Path) -> None:
    src = _source(tmp_path, "\ufeffName;Phone;Revox ID;Note\nAnn;061;k1;\nBob;062;k2;old\n")
    src.write_back(
        [RowUpdate("k2", {"Note": "a;b,c", "revox id ": "k2"}), RowUpdate("k1", {"NOTE": '"q"'})]
    )
    assert (
        _written(tmp_path)
        == ('\ufeffName;Phone;Revox ID;Note\nAnn;061;k1;"""q"""\nBob;062;k2;"a;b,c"\n').encode()
    )


def test_tab_delimiter_is_guessed_and_kept(tmp_path: Path) -> None:
    src = _source(tmp_path, "Name\tRevox ID\nAnn, A\tk1\nBob\tk2\n")
    src.write_back([RowUpdate("k1", {"S": "a\tb"})])
    assert _written(tmp_path) == b'Name\tRevox ID\tS\nAnn, A\tk1\t"a\tb"\nBob\tk2\t\n'


def test_formulas_written_as_is_when_escaping_is_off(tmp_path: Path) -> None:
    src = _source(tmp_path, "Name,Revox ID\nAnn,k1\n", escape_formulas=False)
    src.write_back([RowUpdate("k1", {"A": "=1", "B": "@x", "C": "-1", "D": "+1", "E": "a\rb"})])
    # a cell with a CR is quoted (the csv module alone quotes it only when lines end in CRLF)
    assert _written(tmp_path) == b'Name,Revox ID,A,B,C,D,E\nAnn,k1,=1,@x,-1,+1,"a\rb"\n'


def test_a_carriage_return_in_a_cell_stays_in_its_row(tmp_path: Path) -> None:
    """A summary with a lone CR, in a file whose lines end in LF: read back as one row."""
    src = _source(tmp_path, 'Name,Revox ID,Note\nAnn,k1,"was\rhere"\nBob,k2,x\n')
    src.write_back([RowUpdate("k1", {"Summary": "one\rtwo"}), RowUpdate("k2", {"Summary": "ok"})])
    rows = list(_source(tmp_path, _written(tmp_path).decode()).read_rows())
    assert [(r.key, r.values["Note"], r.values["Summary"]) for r in rows] == [
        ("k1", "was\rhere", "one\rtwo"),
        ("k2", "x", "ok"),
    ]


def test_keys_by_line_only_where_the_row_read_is_still_there(tmp_path: Path) -> None:
    src = _source(
        tmp_path,
        "Name,Phone,Revox ID\nAnn,061,\nBob,062,\nCid,063,k9\nDup,064,k7\nDup2,065,k7\nEve,066, \n",
    )
    report = src.write_back(
        [
            RowUpdate("n1", {"Revox ID": "n1", "S": "new"}, line=2, expect={"Phone": "061"}),
            RowUpdate("n2", {"Revox ID": "n2"}, line=3, expect={"Phone": "999"}),  # moved
            RowUpdate("n3", {"Revox ID": "n3"}, line=4, expect={}),  # that row has a key
            RowUpdate("k7", {"S": "dup"}),  # a copied row: only the first is that row
            RowUpdate("n4", {"Revox ID": "n4"}, line=7, expect={" phone ": " 066 ", "Nope": ""}),
            RowUpdate("n5", {"Revox ID": "n5"}, line=99),
        ]
    )
    assert report == WriteReport(written={"n1", "k7", "n4"}, missing={"n2", "n3", "n5"}, requests=1)
    assert _written(tmp_path) == (
        b"Name,Phone,Revox ID,S\nAnn,061,n1,new\nBob,062,,\nCid,063,k9,\n"
        b"Dup,064,k7,dup\nDup2,065,k7,\nEve,066,n4,\n"
    )


def test_rows_read_from_ragged_multiline_and_blank_records(tmp_path: Path) -> None:
    src = _source(
        tmp_path,
        'Name,,Revox ID,\n"multi\nline",x, k1 ,y\n\n , ,\t\nshort\nlong,a,k2,b,c,d\n=1+1,,,\n',
    )
    # lines count records (header = 1), blank ones included; duplicate blank headers keep
    # the last cell; a short row reads "" for the cells it lacks, a long one drops extras
    assert list(src.read_rows()) == [
        Row("k1", {"Name": "multi\nline", "": "y", "Revox ID": " k1 "}, 2),
        Row(None, {"Name": "short", "": "", "Revox ID": ""}, 5),
        Row("k2", {"Name": "long", "": "b", "Revox ID": "k2"}, 6),
        Row(None, {"Name": "=1+1", "": "", "Revox ID": ""}, 7),
    ]


def test_rows_without_a_key_column(tmp_path: Path) -> None:
    src = _source(tmp_path, "Name,Phone\nAnn,061\n", key_column="Revox ID")
    assert list(src.read_rows()) == [Row(None, {"Name": "Ann", "Phone": "061"}, 2)]


@pytest.mark.parametrize("short", [False, True])
def test_an_oversized_cell_rejects_its_row_only(tmp_path: Path, short: bool) -> None:
    big = "x" * (MAX_CELL + 1)
    tail = "" if short else ",k2"
    src = _source(tmp_path, f"Name,Notes,Revox ID\nAnn,ok,k1\nBob,{big}{tail}\nCid,,k3\n")
    rows = list(src.read_rows())
    problem = "The cell 'Notes' holds 1024 KiB, over the 1024 KiB a cell may hold; shorten it."
    key = None if short else "k2"
    assert rows == [
        Row("k1", {"Name": "Ann", "Notes": "ok", "Revox ID": "k1"}, 2),
        Row(key, {"Name": "Bob", "Notes": "", "Revox ID": key or ""}, 3, problem),
        Row("k3", {"Name": "Cid", "Notes": "", "Revox ID": "k3"}, 4),
    ]


def test_untouched_multiline_records_and_a_last_line_without_newline(tmp_path: Path) -> None:
    src = _source(tmp_path, 'Name,Notes,Revox ID\n"Ann","a\nb",k1\n\nBob,"x,\ny",k2\nCid,,k3')
    src.write_back([RowUpdate("k2", {"Revox ID": "k2", "S": "s"}), RowUpdate("k9", {"S": "t"})])
    # Ann and Cid are copied as they were plus one empty cell (Cid still without a newline),
    # the blank line stays blank, Bob is rewritten by the csv module
    assert _written(tmp_path) == (
        b'Name,Notes,Revox ID,S\n"Ann","a\nb",k1,\n\nBob,"x,\ny",k2,s\nCid,,k3,'
    )


def test_an_updated_last_line_gets_a_newline(tmp_path: Path) -> None:
    src = _source(tmp_path, "Name;Revox ID\r\nAnn;k1\r\nBob;k2")
    src.write_back([RowUpdate("k2", {"S": "-1"})])
    assert _written(tmp_path) == b"Name;Revox ID;S\r\nAnn;k1;\r\nBob;k2;'-1\r\n"
