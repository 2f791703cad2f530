"""Cassettes recorded against the REAL Google Sheets and Salesforce APIs, replayed offline.

Recording is a documented switch for whoever has credentials (see README, "Cassettes"):

    REVOX_SYNC_RECORD_LIVE=sheets REVOX_SYNC_LIVE_SHEET_ID=<id> \
      GOOGLE_APPLICATION_CREDENTIALS=key.json .venv/bin/pytest tests/test_live_cassettes.py
    REVOX_SYNC_RECORD_LIVE=salesforce REVOX_SYNC_LIVE_LIST_VIEW=<name> \
      SALESFORCE_USERNAME=... SALESFORCE_PASSWORD=... SALESFORCE_SECURITY_TOKEN=... \
      .venv/bin/pytest tests/test_live_cassettes.py

The record run reads the sheet / list view and writes one status cell / field. Tokens are
never stored: the authorization header is replaced, and the token exchanges and logins
go to hosts that are not recorded. Without a recorded cassette the replay tests skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import vcr

from adapters.base import RowUpdate
from adapters.google_sheets import GoogleSheetsSource, GoogleSheetsSourceConfig
from adapters.salesforce import SalesforceSource, SalesforceSourceConfig

CASSETTES = Path(__file__).parent / "cassettes"
LIVE = os.environ.get("REVOX_SYNC_RECORD_LIVE", "")
NOT_RECORDED = ["oauth2.googleapis.com", "login.salesforce.com", "test.salesforce.com"]


def _vcr(mode: str) -> vcr.VCR:
    return vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=mode,
        match_on=["method", "scheme", "host", "port", "path", "query"],
        filter_headers=[("authorization", "REDACTED"), ("cookie", None), ("set-cookie", None)],
        ignore_hosts=NOT_RECORDED if mode == "all" else [],
        decode_compressed_response=True,
    )


def _sheets_tick(sheet_id: str, env: dict[str, str]) -> dict[str, Any]:
    cfg = GoogleSheetsSourceConfig(type="google_sheets", spreadsheet=sheet_id)
    with GoogleSheetsSource(cfg, env=env, sleep=lambda s: None) as src:
        rows = list(src.read_rows())
        keyed = [r for r in rows if r.key][:1]
        updates = [RowUpdate(keyed[0].key or "", {"Revox status": "cassette"})] if keyed else []
        report = src.write_back(updates)
        return {"rows": len(rows), "written": sorted(report.written)}


@pytest.mark.skipif(LIVE != "sheets", reason="set REVOX_SYNC_RECORD_LIVE=sheets to record")
def test_record_sheets_live() -> None:  # pragma: no cover - needs a real sheet
    sheet_id = os.environ["REVOX_SYNC_LIVE_SHEET_ID"]
    env = {"GOOGLE_APPLICATION_CREDENTIALS": os.environ["GOOGLE_APPLICATION_CREDENTIALS"]}
    with _vcr("all").use_cassette("sheets_live_tick.yaml"):
        result = _sheets_tick(sheet_id, env)
    (CASSETTES / "sheets_live_tick.json").write_text(json.dumps({"sheet": sheet_id, **result}))


def test_replay_machinery_with_a_cassette_made_to_look_live(tmp_path: Path) -> None:
    """Record from the emulator, rewrite it to the real host, replay it as a live one is."""
    from emulators.sheets import SheetsEmulator

    sid = "1LiveLookingSheet_0123456789"
    with SheetsEmulator() as emu:
        emu.add_spreadsheet(sid, {"Leads": [["Name", "Phone", "Revox ID"], ["A", "1", "k1"]]})
        rec = vcr.VCR(
            cassette_library_dir=str(tmp_path),
            record_mode="all",
            filter_headers=[("authorization", "REDACTED")],
        )
        with rec.use_cassette("live.yaml"):
            recorded = _sheets_tick(sid, {"SHEETS_EMULATOR_HOST": emu.host})
        text = (tmp_path / "live.yaml").read_text()
        (tmp_path / "live.yaml").write_text(
            text.replace(f"http://{emu.host}", "https://sheets.googleapis.com")
        )
    replay = vcr.VCR(
        cassette_library_dir=str(tmp_path),
        record_mode="none",
        match_on=["method", "scheme", "host", "port", "path", "query"],
    )
    with replay.use_cassette("live.yaml") as cassette:
        result = _sheets_tick(sid, {"SHEETS_EMULATOR_HOST": "https://sheets.googleapis.com"})
        assert cassette.all_played
    assert result == recorded == {"rows": 1, "written": ["k1"]}


def test_replay_sheets_live() -> None:
    meta = CASSETTES / "sheets_live_tick.json"
    if not meta.exists():
        pytest.skip("no live Sheets cassette recorded yet (see README, Cassettes)")
    expected = json.loads(meta.read_text())
    # The emulator switch with a full URL gives a static token: no credentials, no network.
    env = {"SHEETS_EMULATOR_HOST": "https://sheets.googleapis.com"}
    with _vcr("none").use_cassette("sheets_live_tick.yaml") as cassette:
        result = _sheets_tick(expected["sheet"], env)
        assert cassette.all_played
    assert result == {"rows": expected["rows"], "written": expected["written"]}
    assert "Bearer" not in (CASSETTES / "sheets_live_tick.yaml").read_text()


def _sf_tick(list_view: str, env: dict[str, str]) -> dict[str, Any]:
    cfg = SalesforceSourceConfig(type="salesforce", list_view=list_view)
    src = SalesforceSource(cfg, env=env, fields=["Phone"], write_fields=["Revox_Status__c"])
    try:
        rows = list(src.read_rows())
        report = src.write_back(
            [RowUpdate(r.key or "", {"Revox_Status__c": "cassette"}) for r in rows[:1]]
        )
        return {"rows": len(rows), "written": sorted(report.written)}
    finally:
        src.close()


@pytest.mark.skipif(LIVE != "salesforce", reason="set REVOX_SYNC_RECORD_LIVE=salesforce")
def test_record_salesforce_live() -> None:  # pragma: no cover - needs a real org
    env = {k: v for k, v in os.environ.items() if k.startswith("SALESFORCE_")}
    list_view = os.environ["REVOX_SYNC_LIVE_LIST_VIEW"]
    with _vcr("all").use_cassette("salesforce_live_tick.yaml") as cassette:
        result = _sf_tick(list_view, env)
        instance = next(r.uri for r in cassette.requests).split("/services/")[0]
    (CASSETTES / "salesforce_live_tick.json").write_text(
        json.dumps({"list_view": list_view, "instance": instance, **result})
    )


def test_replay_salesforce_live() -> None:
    meta = CASSETTES / "salesforce_live_tick.json"
    if not meta.exists():
        pytest.skip("no live Salesforce cassette recorded yet (see README, Cassettes)")
    expected = json.loads(meta.read_text())
    env = {"SALESFORCE_SESSION_ID": "REDACTED", "SALESFORCE_INSTANCE_URL": expected["instance"]}
    with _vcr("none").use_cassette("salesforce_live_tick.yaml"):
        result = _sf_tick(expected["list_view"], env)
    assert result == {"rows": expected["rows"], "written": expected["written"]}
