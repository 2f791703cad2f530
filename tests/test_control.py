"""Issue 14 against the sandbox, both generations: stop a call from its row, call back when
asked, call again by policy. Counted: cancel requests, calls dialled after a stop,
campaigns per number."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.engine import Engine
from connector.loading import load_mapping
from connector.revox import Generation, RevoxClient
from connector.sandbox import Sandbox
from connector.sources import open_source
from connector.state import StateStore
from tests.conftest import API_KEY, Clock, mapping_yaml, read_csv, tick_until_final, write_csv

FR = [f"06 12 34 {i // 100:02d} {i % 100:02d}" for i in range(50)]
E164 = [f"+33612340{i // 100}{i % 100:02d}" for i in range(50)]
CONTROL = 'control: {column: Action, stop: [stop, cancel, "don\'t call"]}\n'


class Team:
    def __init__(
        self, tmp: Path, sb: Sandbox, n: int, extra: str, dedupe: str = "", team: str = "t1"
    ) -> None:
        self.tmp, self.sb, self.clock = tmp, sb, Clock()
        write_csv(
            tmp / "leads.csv", ["Name", "Phone", "Action"], [[f"P{i}", FR[i], ""] for i in range(n)]
        )
        text = mapping_yaml(team, extra=extra)
        if dedupe:
            text = text.replace(
                "  default_region: FR\n", f"  default_region: FR\n  dedupe: {dedupe}\n"
            )
        (tmp / "t1.yaml").write_text(text)
        loaded = load_mapping(tmp / "t1.yaml")
        self.state = StateStore(tmp / "state" / f"{team}.sqlite")
        self.revox = RevoxClient(API_KEY, sb.url, sleep=lambda s: None, timeout=2.0)
        self.engine = Engine(
            loaded, open_source(loaded, {}), self.revox, self.state, clock=self.clock
        )

    def tick(self) -> Any:
        return self.engine.tick()

    @property
    def rows(self) -> dict[str, dict[str, str]]:
        return {r["Name"]: r for r in read_csv(self.tmp / "leads.csv")}

    def edit(self, name: str, **cells: str) -> None:
        rows = read_csv(self.tmp / "leads.csv")
        for r in rows:
            if r["Name"] == name:
                r.update(cells)
        header = list(rows[0])
        write_csv(self.tmp / "leads.csv", header, [[r.get(h, "") for h in header] for r in rows])

    def add(self, name: str, phone: str, action: str = "") -> None:
        rows = read_csv(self.tmp / "leads.csv")
        header = list(rows[0])
        body = [[r.get(h, "") for h in header] for r in rows]
        new = {"Name": name, "Phone": phone, "Action": action}
        write_csv(self.tmp / "leads.csv", header, [*body, [new.get(h, "") for h in header]])

    def calls_of(self, phone: str) -> int:
        return Counter(p for nums in self.sb.campaign_contacts().values() for p in nums)[phone]

    def cancels(self) -> list[str]:
        return [p for m, p, _ in self.sb.posted if p.startswith("/call/") and p.endswith("/cancel")]

    def settle(self, ticks: int = 8) -> None:
        tick_until_final(self.sb, self.tick, step=3 * 3600, ticks=ticks)


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Any]:
    made: list[tuple[Team, Sandbox]] = []

    def make(
        gen: Generation, n: int = 8, extra: str = CONTROL, dedupe: str = "", **kw: Any
    ) -> Team:
        sb = Sandbox(API_KEY, generation=gen, **kw)
        sb.start()
        t = Team(tmp_path, sb, n, extra, dedupe)
        made.append((t, sb))
        return t

    yield make
    for t, sb in made:
        t.state.close()
        t.revox.close()
        sb.stop()


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_stop_while_queued_cancels_once_and_never_dials(team: Any, gen: Generation) -> None:
    t = team(gen, 8)
    t.add("Late", FR[20], action="Don\u2019t call")  # marked before it was ever submitted
    t.tick()
    assert t.calls_of(E164[20]) == 0
    assert t.rows["Late"]["Revox status"].startswith("rejected")
    assert "stopped" in t.rows["Late"]["Revox error"]
    # 5 calls at a time: P7 is still queued
    t.edit("P7", Action="Stop")
    t.tick()
    assert len(t.cancels()) == 1
    row = t.rows["P7"]
    assert row["Revox status"] == "cancelled"
    assert "stopped from the row at 2026-11-27T09:00:00" in row["Revox error"]
    t.settle()
    t.tick()
    assert len(t.cancels()) == 1  # never a second cancel
    row = t.rows["P7"]
    assert row["Revox status"] == "cancelled" and "stopped from the row" in row["Revox error"]
    calls = {
        r.phone_number: r.call for c in t.sb.campaign_contacts() for r in t.revox.campaign_rows(c)
    }
    assert calls[E164[7]] is not None and calls[E164[7]].calls_count == 0  # never dialled
    assert calls[E164[7]].last_call_attempt is None
    assert t.calls_of(E164[20]) == 0


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_callback_later_called_again_after_delay_at_most_max(team: Any, gen: Generation) -> None:
    extra = CONTROL + "callbacks: {after: 2h, max: 2}\n"
    t = team(gen, 3, extra=extra, scenarios={E164[0]: "requested_callback_later"})
    t.tick()
    t.settle()
    assert t.calls_of(E164[0]) == 1
    assert t.rows["P0"]["Outcome"] == "requested_callback_later"
    t.clock.now += timedelta(hours=1)
    t.tick()
    assert t.calls_of(E164[0]) == 1  # not due yet
    for n in (2, 3):
        t.clock.now += timedelta(hours=2)
        t.tick()
        assert t.calls_of(E164[0]) == n
        t.settle()
    assert t.rows["P0"]["Attempts"] == "3"
    for _ in range(3):
        t.clock.now += timedelta(hours=5)
        t.settle()
    assert t.calls_of(E164[0]) == 3  # max: 2 callbacks
    assert t.calls_of(E164[1]) == 1 and t.calls_of(E164[2]) == 1


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_callback_stopped_by_the_row_is_never_made(team: Any, gen: Generation) -> None:
    extra = CONTROL + "callbacks: {after: 2h, max: 2}\n"
    t = team(gen, 2, extra=extra, scenarios={E164[0]: "requested_callback_later"})
    t.tick()
    t.settle()
    t.edit("P0", Action="cancel")
    t.clock.now += timedelta(hours=3)
    t.tick()
    t.settle()
    assert t.calls_of(E164[0]) == 1
    assert t.rows["P0"]["Revox status"] == "cancelled"


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_dedupe_within_and_call_again(team: Any, gen: Generation) -> None:
    t = team(gen, 3, dedupe="{within: 1d}", scenarios={E164[1]: "do_not_contact"})
    t.tick()
    t.settle()
    t.add("Copy", FR[0])
    t.add("Opted", FR[1])
    t.tick()
    assert t.rows["Copy"]["Revox status"].startswith("rejected")
    t.clock.now += timedelta(days=2)
    t.sb.advance(2 * 86400)
    t.edit("Copy", Name="Copy")
    t.add("Copy2", FR[2])
    t.tick()
    assert t.calls_of(E164[0]) == 2  # the window passed: the number is called again
    assert t.calls_of(E164[2]) == 2
    assert t.calls_of(E164[1]) == 1  # do-not-call: never again
    t.settle()
    # call again on purpose: once per mark, and never for a do-not-call number
    t.edit("P2", Action="call again")
    t.edit("P1", Action="call again")
    t.tick()
    t.settle()
    t.tick()
    assert t.rows["P2"]["Action"].startswith("called again")
    assert t.calls_of(E164[1]) == 1
    assert "do-not-call" in t.rows["P1"]["Revox error"]


def test_number_another_team_called_is_skipped_naming_its_campaign(tmp_path: Path) -> None:
    """Current generation: the account's phone history shows another team's recent call."""
    with Sandbox(API_KEY, generation="current") as sb:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = Team(tmp_path / "a", sb, 2, CONTROL, team="ta")
        b = Team(tmp_path / "b", sb, 1, CONTROL, dedupe="{within: 30d}", team="tb")  # P0: FR[0]
        for t in (a, b):
            t.clock.now = datetime.now(UTC)
        a.tick()
        a.settle()
        b.add("Fresh", FR[30])
        b.tick()
        assert a.calls_of(E164[0]) == 1 and a.calls_of(E164[30]) == 1
        row = b.rows["P0"]
        assert row["Revox status"].startswith("rejected")
        assert "duplicate_phone" in row["Revox error"] and "ta " in row["Revox error"]
        for t in (a, b):
            t.state.close()
            t.revox.close()


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_call_again_calls_once_per_mark(team: Any, gen: Generation) -> None:
    t = team(gen, 2)
    t.tick()
    t.settle()
    t.edit("P0", Action="Call again")
    t.tick()
    assert t.calls_of(E164[0]) == 2
    t.settle()
    t.clock.now += timedelta(hours=3)
    t.settle()
    assert t.calls_of(E164[0]) == 2 and t.calls_of(E164[1]) == 1
    row = t.rows["P0"]
    assert row["Action"].startswith("called again")
    assert row["Revox status"] in ("completed", "errored")
    assert int(row["Attempts"]) >= 2  # both rounds counted
