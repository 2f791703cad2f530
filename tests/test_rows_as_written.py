"""Issue 11, item 11, through the whole tick: valid rows are called, and a rejected row
shows its reason even when the mapping writes no `error` column.

The cell-level table is in tests/test_phone.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from connector.config import WriteBack
from connector.mapping import INVALID_PHONE, Rejection
from connector.results import failed_values, rejected_values, shows_no_submission
from connector.sandbox import Sandbox
from tests.conftest import make_team, read_csv, revox_env, run_cli

REJ = Rejection("k1", 2, "x", INVALID_PHONE, "'x' contains text; write digits only.")


def test_without_an_error_column_the_status_carries_the_reason() -> None:
    wb = WriteBack(columns={"status": "Status", "outcome": "Outcome"})
    assert rejected_values(wb, REJ) == {
        "Status": "rejected: invalid_phone: 'x' contains text; write digits only."
    }
    assert failed_values(wb, "Revox refused the batch") == {
        "Status": "failed: Revox refused the batch"
    }
    with_error = WriteBack(columns={"status": "Status", "error": "Error"})
    assert rejected_values(with_error, REJ) == {
        "Status": "rejected",
        "Error": "invalid_phone: 'x' contains text; write digits only.",
    }


def test_status_cells_we_write_for_unsent_rows_are_recognised() -> None:
    assert shows_no_submission("rejected") and shows_no_submission("rejected: why")
    assert shows_no_submission("failed: Revox refused")
    assert not shows_no_submission("submitted") and not shows_no_submission("completed")


def _team(tmp: Path, rows: list[list[str]], *, columns: str, contacts: str = "") -> Path:
    path = make_team(tmp, rows)
    text = path.read_text()
    start = text.index("write_back:")
    text = text[:start] + f"write_back:\n  columns: {columns}\n"
    text = text.replace("  default_region: FR\n", f"  default_region: DE\n{contacts}")
    path.write_text(text)
    return path


def test_rows_as_written_end_to_end(tmp_path: Path, sandbox: Sandbox) -> None:
    rows = [
        ["Anna", "030/62909982"],  # one German number, slash included
        ["Ben", "tel:+44-20-7946-0958"],  # a link copied from a CRM
        ["Cem", "0151 23456789 ext. 12"],  # an extension: not dialable
        ["Dora", "030 62909982 / 0151 23456780"],  # two numbers
    ]
    _team(tmp_path, rows, columns="{status: Revox status, campaign: Revox campaign}")
    proc = run_cli(tmp_path, "sync", "t1", "--once", env=revox_env(sandbox))
    assert proc.returncode == 0, proc.stderr
    anna, ben, cem, dora = read_csv(tmp_path / "leads.csv")
    assert anna["Revox campaign"] and ben["Revox campaign"]
    called = {n for numbers in sandbox.campaign_contacts().values() for n in numbers}
    assert called == {"+493062909982", "+442079460958"}
    assert cem["Revox status"].startswith("rejected: invalid_phone: '0151 23456789 ext. 12' ")
    assert "extensions cannot be dialled" in cem["Revox status"]
    assert dora["Revox status"].startswith("rejected: invalid_phone: ")
    assert "more than one number" in dora["Revox status"]
    again = run_cli(tmp_path, "sync", "t1", "--once", env=revox_env(sandbox))
    assert again.returncode == 0, again.stderr
    assert "unknown to the state" not in again.stderr  # 'rejected: ...' is not 'submitted'


def test_extensions_call_the_main_number_when_the_mapping_says_so(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    rows = [["Cem", "0151 23456789 ext. 12"]]
    _team(
        tmp_path,
        rows,
        columns="{status: Revox status, error: Revox error}",
        contacts="  extensions: call_main_number\n",
    )
    proc = run_cli(tmp_path, "preview", "t1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (row,) = [json.loads(x) for x in proc.stdout.splitlines()]
    assert row["status"] == "new" and row["to_phone_number"] == "+4915123456789"
