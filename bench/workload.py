"""Workloads for the benchmarks: rows, mappings and the emulators they run against.

Everything here runs in the bench process (the emulators' memory and CPU are not the
connector's); the tick itself runs in a child process (``child.py``).
"""

from __future__ import annotations

import csv
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.sandbox import Sandbox
from connector.sandbox.model import RevoxModel
from emulators.salesforce import SalesforceEmulator
from emulators.sheets import SheetsEmulator

ROOT = Path(__file__).resolve().parents[1]

API_KEY = "bench-key-1234567890"
ASSISTANT = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"
SHEET_ID = "1RevoxBenchSheet_abcdefghij"
WORKSHEET = "Leads"
SF_FIELDS = ("Revox_Status__c", "Revox_Outcome__c", "Revox_Summary__c")
SF_USER = {
    "SALESFORCE_USERNAME": "revox@example.com",
    "SALESFORCE_PASSWORD": "pass-word-1",
    "SALESFORCE_SECURITY_TOKEN": "TOKEN123",
}
# Simulated calls (connector/sandbox/model.py): a campaign dials CONCURRENCY numbers at a
# time, each in a 40 s slot (30 s calling + 10 s post-processing).
CONCURRENCY = 5
SLOT_SECONDS = 40.0


def phone(i: int) -> str:
    """A unique valid French mobile number for i < 10**8, written nationally with spaces."""
    d = f"{i:08d}"
    return f"06 {d[0:2]} {d[2:4]} {d[4:6]} {d[6:8]}"


def phone_as_number(i: int) -> int:
    """The same number as a sheet stores it when the column is numeric: 336..., no '+'."""
    return int("336" + f"{i:08d}")


def phone_cell(i: int) -> str | int:
    """Every third phone is stored as a number (as spreadsheets do), the rest as text."""
    return phone_as_number(i) if i % 3 == 0 else phone(i)


def results_advance(max_contacts: int) -> float:
    """Simulated seconds after which exactly 10% of each campaign's rows changed.

    Calls of slot k run in [40k, 40k+40). At 40k+39 slots 0..k-1 are final and slot k is
    in post-processing (its status changed too), slots after it are still queued: so
    CONCURRENCY * (k+1) rows changed. Pick k+1 = max_contacts / 10 / CONCURRENCY.
    """
    slots = max(1, round(max_contacts / 10 / CONCURRENCY))
    return SLOT_SECONDS * (slots - 1) + SLOT_SECONDS - 1


class MemoModel(RevoxModel):
    """The sandbox's model with its pure per-request computations memoised.

    The sandbox recomputes every call of a campaign for each GET of the campaign and for
    each page of its rows (each page computes all rows, then slices). Results are a pure
    function of (campaign, simulated time, launch/cancel times), so they are cached here
    (the rows of one campaign at a time) and the figures measure the connector, not the
    simulator. Answers are byte-for-byte what the plain model returns.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._camp_memo: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._rows_memo: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None

    def _sig(self, cid: str, now: float) -> tuple[Any, ...]:
        camp = self._get(cid)
        return (cid, now, camp.version)

    def campaign(self, cid: str, now: float) -> dict[str, Any]:
        sig = self._sig(cid, now)
        hit = self._camp_memo.get(cid)
        if hit is not None and hit[0] == sig:
            return hit[1]
        out = super().campaign(cid, now)
        self._camp_memo[cid] = (sig, out)
        return out

    def rows(self, cid: str, now: float) -> list[dict[str, Any]]:
        sig = self._sig(cid, now)
        if self._rows_memo is not None and self._rows_memo[0] == sig:
            return self._rows_memo[1]
        out = super().rows(cid, now)
        self._rows_memo = (sig, out)
        return out


def start_sandbox() -> Sandbox:
    """A Revox sandbox whose simulated clock only moves on ``advance()``."""
    sb = Sandbox(API_KEY, clock=lambda: 0.0)
    old = sb._model
    sb._model = MemoModel(generation=old.generation, seed=old.seed, to_wall=old._to_wall)
    sb.start()
    return sb


def revox_counts(sb: Sandbox) -> dict[str, int]:
    """Requests the sandbox saw, by kind; clears its log."""
    creates = polls = pages = other = 0
    for method, target, _status in list(sb.requests):
        path = target.split("?", 1)[0]
        if method == "POST" and path == "/campaigns":
            creates += 1
        elif method == "GET" and path.endswith("/rows"):
            pages += 1
        elif method == "GET" and path.startswith("/campaigns/"):
            polls += 1
        else:
            other += 1
    sb.requests.clear()
    return {
        "revox_creates": creates,
        "revox_gets": polls,
        "revox_pages": pages,
        "revox_other": other,
        "revox_total": creates + polls + pages + other,
    }


def mapping_yaml(source: str, *, max_contacts: int, team: str = "bench") -> str:
    """The team mapping for one source block; same contacts and campaign for all sources."""
    if source == "salesforce":
        write_back = (
            "write_back:\n  fields: {status: Revox_Status__c, outcome: Revox_Outcome__c,"
            " summary: Revox_Summary__c}\n"
        )
        contacts = "  prompt_variables: {first_name: FirstName, company: Company}\n"
    else:
        write_back = (
            "write_back:\n  columns: {status: Revox status, campaign: Revox campaign, "
            "outcome: Outcome, summary: Call summary, attempts: Attempts, error: Revox error}\n"
        )
        contacts = "  prompt_variables: {first_name: Name, company: Company}\n"
    sources = {
        "csv": "source: {type: csv, path: leads.csv, key_column: Revox ID}\n",
        "sheets": (
            f"source:\n  type: google_sheets\n  spreadsheet: {SHEET_ID}\n"
            f"  worksheet: {WORKSHEET}\n  key_column: Revox ID\n"
        ),
        # `where:` rather than a list view: the emulator sorts a list view's ORDER BY with
        # a Python comparator, which would dominate the 1M figures (the connector does the
        # same work either way, plus 2 GETs per tick to find the list view's query).
        "salesforce": (
            "source:\n  type: salesforce\n  object: Lead\n"
            "  where: \"Status = 'Open - Not Contacted'\"\n"
        ),
    }
    return (
        f"team: {team}\n"
        + sources[source]
        + "contacts:\n  phone: Phone\n  default_region: FR\n"
        + contacts
        + textwrap.dedent(f"""\
            campaign:
              assistant_id: {ASSISTANT}
              max_contacts: {max_contacts}
              max_concurrent_calls: {CONCURRENCY}
            """)
        + write_back
    )


def sheet_rows(n: int, *, keyed: bool) -> list[list[Any]]:
    head: list[Any] = ["Name", "Company", "Phone"] + (["Revox ID"] if keyed else [])
    rows = [head]
    for i in range(n):
        row: list[Any] = [f"Name{i}", "Acme", phone_cell(i)]
        if keyed:
            row.append(f"k{i:07d}")
        rows.append(row)
    return rows


def write_csv(path: Path, n: int, *, keyed: bool = False) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        for row in sheet_rows(n, keyed=keyed):
            w.writerow(row)


def sf_records(n: int) -> list[dict[str, Any]]:
    return [
        {
            "FirstName": f"F{i}",
            "LastName": f"L{i}",
            "Company": "Acme",
            "Phone": str(phone_cell(i)),
            "Status": "Open - Not Contacted",
        }
        for i in range(n)
    ]


@dataclass
class Env:
    """The emulators of one measured run and the child's environment."""

    sandbox: Sandbox
    sheets: SheetsEmulator | None = None
    salesforce: SalesforceEmulator | None = None

    def child_env(self) -> dict[str, str]:
        env = {"REVOX_API_KEY": API_KEY, "REVOX_BASE_URL": self.sandbox.url}
        if self.sheets is not None:
            env["SHEETS_EMULATOR_HOST"] = self.sheets.host
        if self.salesforce is not None:
            env.update(SF_USER, SALESFORCE_EMULATOR_HOST=self.salesforce.host)
        return env

    def source_counts(self) -> dict[str, int]:
        """Requests the source's emulator saw since the last call, as reads and writes."""
        if self.sheets is not None:
            log = list(self.sheets.requests)
            self.sheets.clear_log()
            reads = sum(1 for r in log if r.method == "GET")
            return {"src_reads": reads, "src_writes": len(log) - reads}
        if self.salesforce is not None:
            sf_log = list(self.salesforce.requests)
            self.salesforce.clear_log()
            # writes: sObject Collections PATCH/POST; reads: the rest (queries, describe, login)
            writes = sum(1 for r in sf_log if r.path.endswith("/composite/sobjects"))
            return {"src_reads": len(sf_log) - writes, "src_writes": writes}
        return {"src_reads": 0, "src_writes": 0}

    def stop(self) -> None:
        self.sandbox.stop()
        if self.sheets is not None:
            self.sheets.stop()
        if self.salesforce is not None:
            self.salesforce.stop()


def prepare(source: str, n: int, workdir: Path, *, keyed: bool, max_contacts: int) -> Env:
    """Start the emulators holding ``n`` rows and write the team's mapping into ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "team.yaml").write_text(mapping_yaml(source, max_contacts=max_contacts))
    env = Env(start_sandbox())
    if source == "csv":
        write_csv(workdir / "leads.csv", n, keyed=keyed)
    elif source == "sheets":
        emu = SheetsEmulator().start()
        emu.add_spreadsheet(SHEET_ID, {WORKSHEET: sheet_rows(n, keyed=keyed)})
        env.sheets = emu
    elif source == "salesforce":
        sf = SalesforceEmulator(api_max=10**9)
        for name in SF_FIELDS:
            sf.add_field("Lead", name)
        sf.add_records("Lead", sf_records(n))
        env.salesforce = sf.start()
    else:
        raise ValueError(source)
    return env
