"""Shared test helpers: a Revox sandbox on loopback, the test clock, the CLI in a subprocess,
the team mapping (one YAML template) and team folders made from it, and the hostile-input
harness (``Team``, the ``team`` fixture) used by the bad-rows and bad-answers suites."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.engine import Engine
from connector.loading import load_mapping
from connector.revox import RevoxClient
from connector.sandbox import Sandbox
from connector.sources import open_source
from connector.state import StateStore
from connector.summary import TickSummary

API_KEY = "test-key-1234567890"
ASSISTANT = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"
FRIDAY = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FINAL_STATES = {"completed", "errored", "cancelled"}
IN_FLIGHT_STATES = {"submitted", "queued_for_calling", "calling", "post_processing"}
NO_REVOX = "http://127.0.0.1:9"  # nothing listens: a test that forgets the sandbox fails fast


class Clock:
    """The engine's wall clock (``clock=`` of ``Engine``), moved by the test."""

    def __init__(self, start: datetime = FRIDAY) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# -- the CLI in a subprocess -------------------------------------------------------------------


def cli_command(mappings: Path, *args: str) -> list[str]:
    """`python -m connector.cli --mappings M --state-dir S ARGS`; S is `state/` beside M (a
    mapping file or a folder of them)."""
    folder = mappings.parent if mappings.suffix in (".yaml", ".yml") else mappings
    state = folder / "state"
    return [sys.executable, "-m", "connector.cli", "--mappings", str(mappings), "--state-dir",
            str(state), *args]  # fmt: skip


def cli_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any REVOX*/SALESFORCE* variable, Revox pointed at
    a closed port, then ``env``."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("REVOX", "SALESFORCE"))}
    full["REVOX_BASE_URL"] = NO_REVOX
    full.update(env or {})
    return full


def run_cli(
    mappings: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`revox-sync --mappings M --state-dir S ARGS` to the end; never a traceback."""
    folder = mappings.parent if mappings.suffix in (".yaml", ".yml") else mappings
    proc = subprocess.run(
        cli_command(mappings, *args),
        capture_output=True,
        text=True,
        env=cli_env(env),
        timeout=timeout,
        cwd=cwd or folder,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(API_KEY, speed=1.0) as sb:
        yield sb


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def revox_env(sb: Sandbox, key: str = API_KEY) -> dict[str, str]:
    """The variables that point the CLI at the sandbox."""
    return {"REVOX_API_KEY": key, "REVOX_BASE_URL": sb.url}


def popen_cli(tmp: Path, sb_url: str, *args: str) -> subprocess.Popen[str]:
    """`revox-sync --mappings tmp/t1.yaml ARGS` started (not awaited), settle time 3 s."""
    env = cli_env(
        {"REVOX_API_KEY": API_KEY, "REVOX_BASE_URL": sb_url, "REVOX_SYNC_POST_SETTLE_SECONDS": "3"}
    )
    return subprocess.Popen(
        cli_command(tmp / "t1.yaml", *args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp,
    )


# -- team folders --------------------------------------------------------------------------------


def mapping_yaml(
    team: str = "t1",
    *,
    csv_name: str = "leads.csv",
    extra: str = "",
    max_contacts: int = 500,
    campaign_extra: str = "",
) -> str:
    """The team mapping every test starts from: a CSV source, French phones, the result
    columns; ``extra`` is appended, ``campaign_extra`` goes inside ``campaign:``."""
    campaign_extra = campaign_extra.replace("\n", "\n        ")  # survives the dedent
    return (
        textwrap.dedent(f"""\
        team: {team}
        source:
          type: csv
          path: {csv_name}
          key_column: Revox ID
        contacts:
          phone: Phone
          default_region: FR
          prompt_variables:
            first_name: Name
        campaign:
          assistant_id: {ASSISTANT}
          max_contacts: {max_contacts}
        {campaign_extra}
        write_back:
          columns:
            status: Revox status
            campaign: Revox campaign
            outcome: Outcome
            summary: Call summary
            attempts: Attempts
            error: Revox error
          structured_output: {{email: Email}}
        """)
        + extra
    )


def team_mapping(
    team: str,
    source: Mapping[str, str],
    *,
    write_back: str,
    prompt_variables: str = "{first_name: Name}",
    campaign: str = "max_contacts: 500",
    schedule: str | None = None,
) -> str:
    """A mapping for any source with the usual contacts (Phone, region FR): ``source`` is
    the source block's keys and YAML values; ``campaign`` (besides the assistant) and
    ``write_back`` are the YAML lines of those blocks."""
    lines = [f"team: {team}", "source:", *(f"  {k}: {v}" for k, v in source.items())]
    if schedule:
        lines.append(f"schedule: {schedule}")
    lines += ["contacts:", "  phone: Phone", "  default_region: FR"]
    lines += [
        f"  prompt_variables: {prompt_variables}",
        "campaign:",
        f"  assistant_id: {ASSISTANT}",
    ]
    lines += [f"  {line}" for line in campaign.splitlines()]
    lines += ["write_back:", *(f"  {line}" for line in write_back.splitlines())]
    return "\n".join(lines) + "\n"


def make_team(tmp: Path, rows: list[list[str]], **kw: object) -> Path:
    """A folder with leads.csv (Name, Phone) and t1.yaml; returns the mapping path."""
    write_csv(tmp / "leads.csv", ["Name", "Phone"], rows)
    path = tmp / "t1.yaml"
    path.write_text(mapping_yaml(**kw))  # type: ignore[arg-type]
    return path


# -- hostile inputs: the real engine over a CSV file written byte for byte -----------------------


def tick_until_final(
    sb: Sandbox, tick: Callable[[], TickSummary], *, step: float, ticks: int
) -> None:
    """Move the sandbox's clock and tick until no campaign is open and the outbox is empty."""
    for _ in range(ticks):
        sb.advance(step)
        s = tick()
        if s.open_campaigns == 0 and s.outbox == 0:
            return
    raise AssertionError("calls did not end")


def fr(i: int) -> str:
    """A valid French mobile number, written nationally."""
    return f"06 12 34 {i // 100:02d} {i % 100:02d}"


def e164(i: int) -> str:
    """``fr(i)`` as E.164."""
    return f"+3361234{i // 100:02d}{i % 100:02d}"


def csv_bytes(rows: Sequence[Sequence[str]], header: Sequence[str] = ("Name", "Phone")) -> bytes:
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if re.search(r'[",\r\n]', v) else v

    return "".join(",".join(cell(c) for c in r) + "\n" for r in [header, *rows]).encode()


def open_engine(
    folder: Path, sb: Sandbox, clock: Clock, revox: RevoxClient | None = None
) -> Engine:
    """The real engine over folder/t1.yaml and its CSV, the sandbox and an injected clock."""
    loaded = load_mapping(folder / "t1.yaml")
    client = revox or RevoxClient(API_KEY, sb.url, sleep=lambda s: None, timeout=5.0, max_retries=1)
    state = StateStore(folder / "state" / "t1.sqlite")
    return Engine(loaded, open_source(loaded, {}), client, state, clock=clock)


@dataclass
class Team:
    """One team (t1.yaml over leads.csv) on the real engine, the sandbox and a test clock."""

    dir: Path
    engine: Engine
    sb: Sandbox
    clock: Clock

    @staticmethod
    def make(
        folder: Path,
        sb: Sandbox,
        csv_data: bytes,
        *,
        revox: RevoxClient | None = None,
        max_contacts: int = 500,
    ) -> Team:
        (folder / "leads.csv").write_bytes(csv_data)
        (folder / "t1.yaml").write_text(mapping_yaml(max_contacts=max_contacts))
        clock = Clock(TUESDAY)
        return Team(folder, open_engine(folder, sb, clock, revox), sb, clock)

    def reopen(self) -> Engine:
        """A fresh engine over the same files, after closing the state of the current one."""
        self.engine.state.close()
        return open_engine(self.dir, self.sb, self.clock)

    @property
    def path(self) -> Path:
        return self.dir / "leads.csv"

    def bytes(self) -> bytes:
        return self.path.read_bytes()

    @property
    def rows(self) -> list[dict[str, str]]:
        return read_csv(self.path)

    def until_final(self, ticks: int = 6) -> None:
        tick_until_final(self.sb, self.engine.tick, step=100_000, ticks=ticks)

    def called(self) -> list[str]:
        return [p for nums in self.sb.campaign_contacts().values() for p in nums]

    def sent_variables(self) -> list[dict[str, str]]:
        """The prompt variables Revox received, read back from its rows."""
        out: list[dict[str, str]] = []
        with httpx.Client(
            base_url=self.sb.url, headers={"Authorization": f"Bearer {API_KEY}"}
        ) as c:
            for cid in self.sb.campaign_contacts():
                rows = c.get(f"/campaigns/{cid}/rows", params={"page_size": 200}).json()["rows"]
                out += [r["input_data"] for r in rows]
        return out


@pytest.fixture
def team(tmp_path: Path, sandbox: Sandbox) -> Iterator[Callable[..., Team]]:
    made: list[Team] = []

    def make(csv_bytes: bytes, **kw: Any) -> Team:
        t = Team.make(tmp_path, sandbox, csv_bytes, **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.engine.state.close()
