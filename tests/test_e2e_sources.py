"""The whole tick through Google Sheets and Salesforce: real gspread / simple-salesforce
against the local emulators, the real engine, the Revox sandbox. Request counts asserted."""

from __future__ import annotations

import math
import textwrap
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.engine import Engine
from connector.loading import load_mapping
from connector.revox import RevoxClient
from connector.sandbox import Sandbox
from connector.sources import open_source
from connector.state import StateStore
from emulators.salesforce import SalesforceEmulator
from emulators.sheets import SheetsEmulator
from tests.conftest import API_KEY, team_mapping

SID = "1RevoxE2ESheet_abcdefghij"
FINAL = {"completed", "errored", "cancelled"}


def phone(i: int) -> str:
    return f"06 {10 + i // 10000:02d} {i // 100 % 100:02d} {i % 100:02d} 00"


def e164(i: int) -> str:
    return "+336" + phone(i)[3:].replace(" ", "")


def engine_for(tmp: Path, yaml_text: str, env: dict[str, str], sb: Sandbox) -> Engine:
    path = tmp / "team.yaml"
    path.write_text(textwrap.dedent(yaml_text))
    loaded = load_mapping(path)
    revox = RevoxClient(API_KEY, sb.url, sleep=lambda s: None)
    state = StateStore(tmp / "state" / "team.sqlite")
    return Engine(loaded, open_source(loaded, env), revox, state)


def close(engine: Engine) -> None:
    engine.state.close()
    engine.revox.close()
    engine.source.close()


# --- Google Sheets ---------------------------------------------------------------------------

SHEETS_YAML = team_mapping(
    "sheets-team",
    {
        "type": "google_sheets",
        "spreadsheet": f"https://docs.google.com/spreadsheets/d/{SID}/edit#gid=0",
        "worksheet": "Leads",
    },
    write_back="columns: {status: Revox status, outcome: Outcome, summary: Call summary, "
    "error: Revox error}",
)


@pytest.fixture
def sheets() -> Iterator[SheetsEmulator]:
    with SheetsEmulator() as emu:
        yield emu


def test_sheets_5000_rows_request_counts(tmp_path: Path, sheets: SheetsEmulator) -> None:
    rows: list[list[Any]] = [["Name", "Phone"]]
    # every third phone is stored as a number, as sheets do: 33612345678, no '+'
    rows += [[f"N{i}", int(e164(i)[1:]) if i % 3 == 0 else phone(i)] for i in range(5000)]
    sheets.add_spreadsheet(SID, {"Leads": rows})
    with Sandbox(API_KEY) as sb:
        engine = engine_for(tmp_path, SHEETS_YAML, {"SHEETS_EMULATOR_HOST": sheets.host}, sb)
        sheets.clear_log()
        s = engine.tick()
        assert (s.read, s.new, s.submitted) == (5000, 5000, 5000)
        assert s.campaigns_created == math.ceil(5000 / 500) == len(sb.campaign_contacts())
        writes = sheets.count("POST", r".*values:batchUpdate$")
        assert writes == 2  # the generated keys first, then every row's status at once
        grid = sheets.grid(SID, "Leads")
        head = grid[0]
        st = head.index("Revox status")
        assert all(r[st] in ("submitted", "queued_for_calling", "calling") for r in grid[1:])

        sb.advance(100_000)
        engine.tick()  # results
        sheets.clear_log()
        s = engine.tick()  # nothing new, nothing changed
        assert s.results_written == 0 and s.submitted == 0
        log = [(r.method, r.path) for r in sheets.requests]
        assert len(log) == 1 and log[0][0] == "GET" and "/values/" in log[0][1], log
        close(engine)


def test_sheets_results_follow_rows_after_resort(tmp_path: Path, sheets: SheetsEmulator) -> None:
    hostile = e164(3)
    rows: list[list[Any]] = [["Name", "Phone", "Notes"]]
    rows += [[f"N{i}", phone(i), f"=SUM({i},1)" if i == 5 else "x"] for i in range(20)]
    sheets.add_spreadsheet(SID, {"Leads": rows})
    with Sandbox(API_KEY, scenarios={hostile: "hostile_summary"}) as sb:
        engine = engine_for(tmp_path, SHEETS_YAML, {"SHEETS_EMULATOR_HOST": sheets.host}, sb)
        engine.tick()
        sheets.sort_rows(SID, "Leads", reverse=True)
        sheets.insert_rows(SID, "Leads", 2, [["Inserted", phone(900), "new"]])
        for _ in range(3):
            sb.advance(100_000)
            engine.tick()
        grid = sheets.grid(SID, "Leads")
        head = grid[0]
        name, ph, st, summ = (
            head.index(c) for c in ("Name", "Phone", "Revox status", "Call summary")
        )
        by_phone = {p: cid for cid, ps in sb.campaign_contacts().items() for p in ps}
        assert len(by_phone) == 21
        for r in grid[1:]:
            assert r[st] in FINAL, r
        hostile_row = next(r for r in grid[1:] if r[name] == "N3")
        assert str(hostile_row[summ]).startswith("=HYPERLINK(")  # stored as text, RAW
        assert sheets.cell(SID, "Leads", "A1") == "Name"
        n5 = next(r for r in grid[1:] if r[name] == "N5")
        assert n5[head.index("Notes")] == "=SUM(5,1)"  # a cell we do not own, untouched
        assert {r[ph] for r in grid[1:]} >= {phone(0), phone(19)}
        close(engine)


# --- Salesforce ------------------------------------------------------------------------------

SF_YAML = team_mapping(
    "sf-team",
    {"type": "salesforce", "object": "Lead", "list_view": "Call_me_today"},
    prompt_variables="{first_name: FirstName, company: Company}",
    write_back="fields: {status: Revox_Status__c, outcome: Revox_Outcome__c, "
    "summary: Revox_Summary__c}\nlog_call_task: true",
)


def sf_env(emu: SalesforceEmulator) -> dict[str, str]:
    return {
        "SALESFORCE_USERNAME": "revox@example.com",
        "SALESFORCE_PASSWORD": "pass-word-1",
        "SALESFORCE_SECURITY_TOKEN": "TOKEN123",
        "SALESFORCE_EMULATOR_HOST": emu.host,
    }


def test_salesforce_10000_leads(tmp_path: Path) -> None:
    n = 10_000
    with SalesforceEmulator() as emu, Sandbox(API_KEY) as sb:
        for f in ("Revox_Status__c", "Revox_Outcome__c", "Revox_Summary__c"):
            emu.add_field("Lead", f)
        emu.add_records(
            "Lead",
            [
                {
                    "FirstName": f"F{i}",
                    "LastName": f"L{i}",
                    "Company": "Acme",
                    "Phone": phone(i),
                    "Status": "Open - Not Contacted",
                }
                for i in range(n)
            ],
        )
        emu.add_list_view("Lead", "Call_me_today", where="Status = 'Open - Not Contacted'")
        engine = engine_for(tmp_path, SF_YAML, sf_env(emu), sb)
        tracemalloc.start()
        s = engine.tick()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert (s.read, s.submitted, s.campaigns_created) == (n, n, 20)
        patches = emu.calls("PATCH", r".*/composite/sobjects$")
        assert len(patches) == math.ceil(n / 200)
        statuses = Counter(r.get("Revox_Status__c") for r in emu.records("Lead"))
        assert sum(statuses.values()) == n and None not in statuses
        sb.advance(1_000_000)
        engine.tick()
        tasks = emu.records("Task")
        assert len(tasks) == n
        assert len({t["CallObject"] for t in tasks}) == n
        assert all(t["Status"] == "Completed" and t["TaskSubtype"] == "Call" for t in tasks[:50])
        engine.tick()  # a later run logs no duplicate Task
        assert len(emu.records("Task")) == n
        assert Counter(r["Revox_Status__c"] for r in emu.records("Lead")).keys() <= FINAL
        assert peak < 200 * 1024 * 1024, peak
        close(engine)
