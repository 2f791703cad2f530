"""Sources that refuse writes for several ticks, then recover (issue 6).

While a source is down, every result waits in the outbox (connector/outbox.py); once it is back,
each row gets the latest value, none is lost and none is written twice; Revox is asked for
each contact once. Exercised over a CSV file (a wrapper raising RetryableError, per-row
refusals, a full disk), Google Sheets (the emulator answering 429 and 500 to
values:batchUpdate) and Salesforce (REQUEST_LIMIT_EXCEEDED on the sObject Collections PATCH,
UNABLE_TO_LOCK_ROW on some records, faults on the Task creation).
"""

from __future__ import annotations

import errno
import re
import tempfile
import textwrap
from collections import Counter
from collections.abc import Container, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Row, RowUpdate, Source, WriteReport
from adapters.google_sheets import GoogleSheetsSource, GoogleSheetsSourceConfig
from adapters.salesforce import SalesforceSource, SalesforceSourceConfig
from connector.config import LoadedMapping
from connector.engine import Engine
from connector.errors import RetryableError
from connector.loading import load_mapping
from connector.mapping import columns_read
from connector.revox import RevoxClient
from connector.sandbox import Sandbox
from connector.sources import open_source
from connector.state import StateStore
from emulators.salesforce import SalesforceEmulator
from emulators.sheets import SheetsEmulator
from tests.conftest import (
    API_KEY,
    TUESDAY,
    Clock,
    make_team,
    mapping_yaml,
    read_csv,
    run_cli,
    team_mapping,
)

FINAL = {"completed", "errored", "cancelled"}
IN_FLIGHT = {"submitted", "queued_for_calling", "calling", "post_processing"}
SID = "1RevoxSourceFaults_abcdefgh"
# Simulated seconds between the ticks of an outage. With one call at a time, a call ends and
# the next starts every 40 s, so each step brings new results to write.
STEPS = [40, 40, 40, 40]
ONE_AT_A_TIME = "  max_concurrent_calls: 1"


def fr(i: int) -> str:
    return f"06 12 34 {i // 100:02d} {i % 100:02d}"


def e164(i: int) -> str:
    return f"+3361234{i // 100:02d}{i % 100:02d}"


def engine_for(loaded: LoadedMapping, source: Source, sb: Sandbox, state_dir: Path) -> Engine:
    revox = RevoxClient(API_KEY, sb.url, sleep=lambda s: None, timeout=5.0, max_retries=1)
    state = StateStore(state_dir / f"{loaded.mapping.team}.sqlite")
    return Engine(loaded, source, revox, state, clock=Clock(TUESDAY))


def calls_by_phone(sb: Sandbox) -> Counter[str]:
    return Counter(p for nums in sb.campaign_contacts().values() for p in nums)


def final_statuses(sb: Sandbox) -> dict[str, str]:
    """E.164 -> the call's status on Revox now (what every row must end with)."""
    client = RevoxClient(API_KEY, sb.url, sleep=lambda s: None)
    try:
        return {
            r.phone_number: r.call.status
            for cid in sb.campaign_contacts()
            for r in client.campaign_rows(cid)
            if r.call is not None
        }
    finally:
        client.close()


# --- CSV ----------------------------------------------------------------------------------


class Refusing:
    """A CSV source whose writes fail while `down` (whole requests) or for `refuse` keys."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.key_column = inner.key_column
        self.down = False
        self.refuse: set[str] = set()
        self.calls: list[list[RowUpdate]] = []

    def headers(self) -> list[str]:
        return self.inner.headers()

    def read_rows(self, settled: Container[str] = ()) -> Iterator[Row]:
        return self.inner.read_rows(settled)

    def write_back(self, updates: Sequence[RowUpdate]) -> WriteReport:
        self.calls.append(list(updates))
        if self.down:
            raise RetryableError("the share is read-only right now")
        if not self.refuse:
            return self.inner.write_back(updates)
        report = self.inner.write_back([u for u in updates if u.key not in self.refuse])
        for u in updates:
            if u.key in self.refuse:
                report.failed[u.key] = "locked by another editor"
        return report

    def describe(self) -> str:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()


def csv_engine(tmp: Path, sb: Sandbox, n: int, **kw: Any) -> tuple[Engine, Refusing]:
    rows = [[f"P{i}", fr(i)] for i in range(n)]
    loaded = load_mapping(make_team(tmp, rows, campaign_extra=ONE_AT_A_TIME, **kw))
    source = Refusing(open_source(loaded, {}))
    return engine_for(loaded, source, sb, tmp / "state"), source


def test_csv_refusing_writes_for_several_ticks_loses_and_repeats_nothing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    engine, source = csv_engine(tmp_path, sandbox, 6)
    s = engine.tick()
    assert (s.submitted, s.outbox, s.messages) == (6, 0, [])
    path = tmp_path / "leads.csv"
    frozen = path.read_bytes()
    source.down = True
    for step in STEPS:  # calling -> post_processing -> completed, and the sixth call too
        sandbox.advance(step)
        s = engine.tick()
        assert s.messages == [
            f"writing {s.outbox} row(s) back: the share is read-only right now (kept in the outbox)"
        ]
        assert path.read_bytes() == frozen
        assert s.results_written > 0  # new results kept coming, and waited
    assert engine.state.outbox.count() == 5  # all but the sixth call, not started yet
    # latest value wins: what waits (or, for the sixth row, what is shown) is Revox's now
    now = final_statuses(sandbox)
    waiting = {k: r["values"]["Revox status"] for k, r in engine.state.outbox.scan()}
    for row in read_csv(path):
        phone = "+33" + row["Phone"].replace(" ", "")[1:]
        assert waiting.get(row["Revox ID"], row["Revox status"]) == now[phone], row
    keys = [r["Revox ID"] for r in read_csv(path)]

    source.down = False
    sandbox.advance(100_000)
    s = engine.tick()
    assert s.outbox == 0 and not s.messages
    rows = read_csv(path)
    now = final_statuses(sandbox)
    assert [r["Revox status"] for r in rows] == [now[e164(i)] for i in range(6)]
    assert all(r["Revox status"] in FINAL and r["Attempts"] for r in rows)
    assert calls_by_phone(sandbox) == Counter(e164(i) for i in range(6))
    assert len(sandbox.campaign_contacts()) == 1
    # the recovery wrote each row once, with every cell it had missed
    last = source.calls[-1]
    assert sorted(u.key for u in last) == sorted(keys)
    assert len({u.key for u in last}) == len(last)
    engine.state.close()


def test_csv_down_from_the_first_tick_submits_nothing_until_keys_are_stored(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    engine, source = csv_engine(tmp_path, sandbox, 5)
    source.down = True
    before = (tmp_path / "leads.csv").read_bytes()
    for _ in range(3):
        s = engine.tick()
        assert s.messages == ["assigning row keys: the share is read-only right now"]
        assert s.submitted == 0
    assert not any(m == "POST" for m, _, _ in sandbox.requests)
    assert (tmp_path / "leads.csv").read_bytes() == before
    source.down = False
    s = engine.tick()
    assert (s.keys_assigned, s.submitted, s.campaigns_created) == (5, 5, 1)
    for _ in range(3):
        sandbox.advance(100_000)
        engine.tick()
    rows = read_csv(tmp_path / "leads.csv")
    assert all(r["Revox ID"] and r["Revox status"] in FINAL for r in rows)
    assert calls_by_phone(sandbox) == Counter(e164(i) for i in range(5))
    engine.state.close()


def test_csv_refusing_some_rows_keeps_only_those(tmp_path: Path, sandbox: Sandbox) -> None:
    engine, source = csv_engine(tmp_path, sandbox, 6)
    engine.tick()
    keys = [r["Revox ID"] for r in read_csv(tmp_path / "leads.csv")]
    before = [r["Revox status"] for r in read_csv(tmp_path / "leads.csv")]
    source.refuse = {keys[0], keys[1]}  # both have news after the first step
    for n, step in enumerate(STEPS, start=1):
        sandbox.advance(step)
        s = engine.tick()
        assert s.outbox == 2
        assert s.messages[-1] == (
            "2 row(s) refused by the source, kept in the outbox: locked by another editor"
        )
        pending = dict(engine.state.outbox.scan())
        assert set(pending) == {keys[0], keys[1]}
        assert {p["attempts"] for p in pending.values()} == {n}
        assert {p["error"] for p in pending.values()} == {"locked by another editor"}
    after = [r["Revox status"] for r in read_csv(tmp_path / "leads.csv")]
    assert after[:2] == before[:2]  # the refused rows: as they were
    now = final_statuses(sandbox)
    assert after[2:] == [now[e164(i)] for i in range(2, 6)]  # the others: up to date
    source.refuse = set()
    sandbox.advance(100_000)
    s = engine.tick()
    assert s.outbox == 0 and not s.messages
    now = final_statuses(sandbox)
    rows = read_csv(tmp_path / "leads.csv")
    assert [r["Revox status"] for r in rows] == [now[e164(i)] for i in range(6)]
    assert calls_by_phone(sandbox) == Counter(e164(i) for i in range(6))
    engine.state.close()


def test_csv_disk_full_for_several_ticks_is_a_retryable_source_error(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = csv_engine(tmp_path, sandbox, 4)
    engine.tick()
    real = tempfile.mkstemp

    def full(*args: Any, **kwargs: Any) -> tuple[int, str]:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)  # the CSV adapter's temp file
    for _ in range(3):
        sandbox.advance(100_000)
        s = engine.tick()
        assert s.messages and "No space left on device" in s.messages[-1]
        assert engine.state.outbox.count() == 4
    monkeypatch.setattr(tempfile, "mkstemp", real)
    s = engine.tick()
    assert s.outbox == 0
    assert all(r["Revox status"] in FINAL for r in read_csv(tmp_path / "leads.csv"))
    engine.state.close()


# --- Google Sheets ------------------------------------------------------------------------

SHEETS_YAML = team_mapping(
    "sheets-faults",
    {"type": "google_sheets", "spreadsheet": SID, "worksheet": "Leads"},
    campaign="max_concurrent_calls: 1",
    write_back="columns: {status: Revox status, outcome: Outcome, attempts: Attempts, "
    "error: Revox error}",
)


@pytest.fixture
def sheets() -> Iterator[SheetsEmulator]:
    with SheetsEmulator() as emu:
        yield emu


def sheets_engine(tmp: Path, emu: SheetsEmulator, sb: Sandbox, n: int) -> Engine:
    emu.add_spreadsheet(SID, {"Leads": [["Name", "Phone"], *[[f"N{i}", fr(i)] for i in range(n)]]})
    path = tmp / "sheets.yaml"
    path.write_text(textwrap.dedent(SHEETS_YAML))
    loaded = load_mapping(path)
    cfg = loaded.mapping.source
    assert isinstance(cfg, GoogleSheetsSourceConfig)
    source = GoogleSheetsSource(
        cfg, env={"SHEETS_EMULATOR_HOST": emu.host}, sleep=lambda s: None, max_retries=1
    )
    return engine_for(loaded, source, sb, tmp / "state")


def grid_rows(emu: SheetsEmulator) -> list[dict[str, Any]]:
    grid = emu.grid(SID, "Leads")
    head = grid[0]
    return [dict(zip(head, r + [""] * (len(head) - len(r)), strict=True)) for r in grid[1:]]


WRITES = r"/values:batchUpdate$"


def test_sheets_429_then_500_on_writes_for_several_ticks(
    tmp_path: Path, sheets: SheetsEmulator, sandbox: Sandbox
) -> None:
    engine = sheets_engine(tmp_path, sheets, sandbox, 6)
    s = engine.tick()
    assert (s.submitted, s.outbox, s.messages) == (6, 0, [])
    assert {r["Revox status"] for r in grid_rows(sheets)} <= IN_FLIGHT
    # two ticks of 429 then two of 500; the adapter tries each write twice (max_retries=1)
    sheets.add_fault("POST", WRITES, status=429, times=4)
    sheets.add_fault("POST", WRITES, status=500, times=4)
    frozen = grid_rows(sheets)
    for code, step in zip((429, 429, 500, 500), STEPS, strict=True):
        sandbox.advance(step)
        s = engine.tick()
        assert s.messages == [
            f"writing {s.outbox} row(s) back: Google Sheets: writing cells failed "
            f"(HTTP {code}) after 2 attempts (kept in the outbox)"
        ]
        assert s.outbox >= 1 and s.results_written >= 1
        assert grid_rows(sheets) == frozen
    assert sheets.count("POST", WRITES) == 2 + 8  # keys, statuses, then 8 refused attempts
    sandbox.advance(100_000)
    sheets.clear_log()
    s = engine.tick()
    assert s.outbox == 0 and not s.messages
    writes = [r for r in sheets.requests if r.method == "POST" and r.path.endswith("batchUpdate")]
    assert len(writes) == 1  # everything that waited, in one request
    now = final_statuses(sandbox)
    rows = grid_rows(sheets)
    assert [r["Revox status"] for r in rows] == [now[e164(i)] for i in range(6)]
    assert all(r["Revox status"] in FINAL and r["Attempts"] != "" for r in rows)
    head = sheets.grid(SID, "Leads")[0]
    status_col = chr(ord("A") + head.index("Revox status"))
    written = [d["range"] for d in writes[0].json()["data"]]
    lines = [re.search(rf"!{status_col}(\d+)", r) for r in written]
    found = sorted(int(m.group(1)) for m in lines if m)
    assert found == list(range(2, 8))  # each row's status once: the latest value
    assert calls_by_phone(sandbox) == Counter(e164(i) for i in range(6))
    engine.state.close()
    engine.source.close()


def test_sheets_refusing_the_first_key_write_sends_nothing(
    tmp_path: Path, sheets: SheetsEmulator, sandbox: Sandbox
) -> None:
    engine = sheets_engine(tmp_path, sheets, sandbox, 3)
    sheets.add_fault("POST", WRITES, status=429, times=2)
    sheets.add_fault("POST", WRITES, status=503, times=2)
    for code in (429, 503):
        s = engine.tick()
        assert s.messages == [
            f"assigning row keys: Google Sheets: writing cells failed (HTTP {code}) after 2 "
            "attempts"
        ]
    assert sandbox.requests == []
    assert "Revox ID" not in sheets.grid(SID, "Leads")[0]
    s = engine.tick()
    assert (s.keys_assigned, s.submitted) == (3, 3)
    sandbox.advance(100_000)
    engine.tick()
    assert all(r["Revox status"] in FINAL and r["Revox ID"] for r in grid_rows(sheets))
    assert calls_by_phone(sandbox) == Counter(e164(i) for i in range(3))
    engine.state.close()
    engine.source.close()


# --- Salesforce -----------------------------------------------------------------------------

SF_YAML = team_mapping(
    "sf-faults",
    {"type": "salesforce", "object": "Lead", "where": "\"Status = 'Open - Not Contacted'\""},
    prompt_variables="{first_name: FirstName}",
    campaign="max_concurrent_calls: 1",
    write_back="fields: {status: Revox_Status__c, outcome: Revox_Outcome__c}\nlog_call_task: true",
)
PATCH = r"/composite/sobjects$"


@pytest.fixture
def salesforce() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as emu:
        emu.add_field("Lead", "Revox_Status__c")
        emu.add_field("Lead", "Revox_Outcome__c")
        yield emu


def sf_engine(tmp: Path, emu: SalesforceEmulator, sb: Sandbox, n: int) -> tuple[Engine, list[str]]:
    ids = emu.add_records(
        "Lead",
        [{"FirstName": f"F{i}", "LastName": f"L{i}", "Company": "Acme", "Phone": fr(i)}
         for i in range(n)],
    )  # fmt: skip
    path = tmp / "sf.yaml"
    path.write_text(textwrap.dedent(SF_YAML))
    loaded = load_mapping(path)
    cfg = loaded.mapping.source
    assert isinstance(cfg, SalesforceSourceConfig)
    env = {
        "SALESFORCE_USERNAME": "revox@example.com",
        "SALESFORCE_PASSWORD": "pass-word-1",
        "SALESFORCE_SECURITY_TOKEN": "TOKEN123",
        "SALESFORCE_EMULATOR_HOST": emu.host,
    }
    wb = loaded.mapping.write_back
    source = SalesforceSource(
        cfg,
        env=env,
        fields=columns_read(loaded.mapping),
        write_fields=[*wb.targets().values(), *wb.structured_output.values()],
        sleep=lambda s: None,
    )
    return engine_for(loaded, source, sb, tmp / "state"), ids


def lead_status(emu: SalesforceEmulator, ids: list[str]) -> list[str | None]:
    return [(emu.get_record(i) or {}).get("Revox_Status__c") for i in ids]


def test_salesforce_request_limit_then_locked_rows_then_recovery(
    tmp_path: Path, salesforce: SalesforceEmulator, sandbox: Sandbox
) -> None:
    emu = salesforce
    engine, ids = sf_engine(tmp_path, emu, sandbox, 6)
    s = engine.tick()
    assert (s.submitted, s.outbox, s.messages) == (6, 0, [])
    # the org is out of API requests for 3 ticks (3 attempts a tick: 1 + 2 retries)
    emu.add_fault(
        "PATCH", PATCH, "status", status=403, error_code="REQUEST_LIMIT_EXCEEDED", times=9
    )
    frozen = lead_status(emu, ids)
    for step in STEPS[:3]:
        sandbox.advance(step)
        s = engine.tick()
        assert s.messages == [
            f"writing {s.outbox} row(s) back: Salesforce PATCH composite/sobjects: HTTP 403 "
            "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded. (kept in the outbox)"
        ]
        assert lead_status(emu, ids) == frozen
    # then two records stay locked by someone else for two more ticks
    assert engine.state.outbox.count() == 4  # the first four calls moved meanwhile
    locked = [ids[0], ids[2]]
    for rid in locked:
        emu.add_fault("PATCH", PATCH, "record_error", record_id=rid, times=2)
    for n in (1, 2):
        sandbox.advance(40)
        s = engine.tick()
        assert s.outbox == 2
        assert s.messages[-1].startswith("2 row(s) refused by the source, kept in the outbox: ")
        assert "UNABLE_TO_LOCK_ROW" in s.messages[-1]
        assert {k: r["attempts"] for k, r in engine.state.outbox.scan()} == {k: n for k in locked}
    sandbox.advance(100_000)
    s = engine.tick()
    assert s.outbox == 0 and not s.messages, s.messages
    engine.tick()  # a later tick changes nothing
    now = final_statuses(sandbox)
    assert lead_status(emu, ids) == [now[e164(i)] for i in range(6)]
    tasks = emu.records("Task")
    assert len(tasks) == 6 and len({t["CallObject"] for t in tasks}) == 6
    assert calls_by_phone(sandbox) == Counter(e164(i) for i in range(6))
    engine.state.close()
    engine.source.close()


def test_a_record_refused_for_good_is_parked_and_stops_holding_the_team(
    tmp_path: Path, salesforce: SalesforceEmulator, sandbox: Sandbox
) -> None:
    """A validation rule refuses one record forever: parked after 5 refusals, then the
    team's ticks are clean again (no backoff), and `status` counts it."""
    emu = salesforce
    engine, ids = sf_engine(tmp_path, emu, sandbox, 4)
    emu.add_fault(
        "PATCH", PATCH, "record_error", record_id=ids[1], times=None,
        error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
    )  # fmt: skip
    errors = []
    for _ in range(7):
        s = engine.tick()
        errors.append(list(s.messages))
        sandbox.advance(100_000)
    assert errors[0] and "refused by the source" in errors[0][-1]
    assert any("parked" in e for e in errors[4]), errors
    assert errors[5] == errors[6] == []  # parked: no longer an error of every tick
    assert s.parked == 1 and s.outbox == 1
    others = [i for n, i in enumerate(ids) if n != 1]
    assert all(st not in (None, "submitted") for st in lead_status(emu, others))
    patches = len(emu.calls("PATCH", PATCH))
    engine.tick()
    assert len(emu.calls("PATCH", PATCH)) == patches  # not sent again
    engine.state.close()
    engine.source.close()


def test_salesforce_task_creation_faults_log_each_call_once(
    tmp_path: Path, salesforce: SalesforceEmulator, sandbox: Sandbox
) -> None:
    emu = salesforce
    engine, ids = sf_engine(tmp_path, emu, sandbox, 5)
    engine.tick()
    # Task creation: out of requests for two ticks, then one create whose answer is lost
    emu.add_fault("POST", PATCH, "status", status=403, error_code="REQUEST_LIMIT_EXCEEDED", times=6)
    emu.add_fault("POST", PATCH, "reset", apply=True, times=1)
    sandbox.advance(100_000)
    for _ in range(2):
        s = engine.tick()
        assert s.messages[-1].startswith("logging 5 call(s): Salesforce POST composite/sobjects")
        assert engine.state.call_logs.count() == 5
        assert emu.records("Task") == []
    s = engine.tick()  # the reset create went through; it is found again, not repeated
    assert not s.messages, s.messages
    assert engine.state.call_logs.count() == 0
    engine.tick()
    tasks = emu.records("Task")
    assert len(tasks) == 5
    assert Counter(t["CallObject"] for t in tasks).most_common(1)[0][1] == 1
    assert {t["WhoId"] for t in tasks} == set(ids)
    assert all(t["Status"] == "Completed" for t in tasks)
    engine.state.close()
    engine.source.close()


def test_cli_csv_write_refused_by_the_file_system_is_one_line(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    # a 250-character file name reads fine, but its temp sibling ".<name>.XXXXXXXX" cannot exist
    name = "l" * 246 + ".csv"
    (tmp_path / name).write_text("Name,Phone\nAnn,06 12 34 56 78\n")
    (tmp_path / "t1.yaml").write_text(mapping_yaml(csv_name=name))
    env = {"REVOX_API_KEY": API_KEY, "REVOX_BASE_URL": sandbox.url}
    proc = run_cli(tmp_path / "t1.yaml", "sync", "t1", "--once", env=env)
    assert sandbox.requests == []  # the key could not be stored: nothing was sent
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and "File name too long" in proc.stderr
