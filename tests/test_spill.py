"""A fresh read's new contacts wait in a scratch file, not in memory (connector/spill.py):
they come back whole and in order, page by page, the engine submits them in the same
batches as before, a crash in the middle of their submission calls nobody twice, and a
number the phone history stops leaves no hole in a batch."""

from __future__ import annotations

import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connector import classify, failpoints, spill
from connector.engine import Engine
from connector.loading import load_mapping
from connector.mapping import Contact
from connector.revox import RevoxClient
from connector.sandbox import Sandbox
from connector.sources import open_source
from connector.spill import Spill
from connector.state import StateStore
from connector.summary import TickSummary
from tests.conftest import API_KEY, Clock, fr, make_team, read_csv, tick_until_final


def contact(i: int) -> Contact:
    return Contact(f"k{i}", i + 2, f"06 12 {i:04d}", f"+336120{i:05d}", {"name": f"Zoë {i}"})


def test_contacts_come_back_whole_in_order_a_page_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spill, "CHUNK", 3)
    with Spill() as news:
        for i in range(10):
            news.add(contact(i))
        assert len(news) == 10
        pages = list(news.pages())
        assert [len(p) for p in pages] == [3, 3, 3, 1]
        assert [c for p in pages for c in p] == [contact(i) for i in range(10)]
        assert len(news) == 0 and list(news.pages()) == []  # handed out once, then gone


def test_memory_holds_a_page_not_every_contact() -> None:
    def many() -> Iterator[Contact]:
        return (contact(i) for i in range(30_000))

    tracemalloc.start()
    with Spill() as news:
        for c in many():
            news.add(c)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert sum(len(p) for p in news.pages()) == 30_000
        _, peak_out = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # 30,000 contacts held in a list take about 18 MB; a page of 1,000 about 0.6 MB
    assert peak < 3_000_000 and peak_out < 3_000_000, (peak, peak_out)


def _team(
    tmp: Path, sb: Sandbox, phones: list[str], size: int, clock: Clock | None = None
) -> tuple[Engine, StateStore]:
    """A keyed CSV team (keys already in the rows, as Salesforce record Ids are)."""
    loaded = load_mapping(
        make_team(tmp, [[f"N{i}", p] for i, p in enumerate(phones)], max_contacts=size)
    )
    text = (tmp / "leads.csv").read_text().splitlines()
    lines = [text[0] + ",Revox ID"] + [f"{line},k{i}" for i, line in enumerate(text[1:])]
    (tmp / "leads.csv").write_text("\n".join(lines) + "\n")
    state = StateStore(tmp / "state" / "t1.sqlite")
    revox = RevoxClient(API_KEY, sb.url, sleep=lambda s: None, timeout=2.0)
    engine = Engine(loaded, open_source(loaded, {}), revox, state, clock=clock or Clock())
    return engine, state


def e164(i: int) -> str:
    return f"+3361234{i // 100:02d}{i % 100:02d}"


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spill, "CHUNK", 3)
    monkeypatch.setattr(classify, "CHUNK", 2)


@pytest.mark.usefixtures("small_pages")
def test_a_fresh_tick_sends_its_spilled_contacts_in_the_same_batches(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    engine, state = _team(tmp_path, sandbox, [fr(i) for i in range(11)], 4)
    try:
        s = engine.tick()
        assert (s.new, s.submitted, s.campaigns_created) == (11, 11, 3) and not s.errors
        batches = list(sandbox.campaign_contacts().values())
        assert batches == [[e164(i) for i in range(j, min(j + 4, 11))] for j in (0, 4, 8)]
        assert all(r["Revox status"] for r in read_csv(tmp_path / "leads.csv"))
    finally:
        state.close()


class Crash(BaseException):
    """Stands for SIGKILL at a failpoint: nothing after it runs, nothing uncommitted stays."""


@pytest.mark.usefixtures("small_pages")
@pytest.mark.parametrize("point", ["after_intent", "after_post", "after_record"])
def test_a_crash_amid_the_spilled_batches_calls_nobody_twice(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    seen: Counter[str] = Counter()

    def hit(name: str) -> None:
        seen[name] += 1
        if name == point and seen[name] == 2:  # the second of three batches
            raise Crash(name)

    monkeypatch.setattr(failpoints, "hit", hit)
    engine, state = _team(tmp_path, sandbox, [fr(i) for i in range(11)], 4)
    with pytest.raises(Crash):
        engine.tick()
    state.close()
    monkeypatch.setattr(failpoints, "hit", lambda name: None)
    clock = Clock()
    engine, state = _team(tmp_path, sandbox, [fr(i) for i in range(11)], 4, clock)

    def tick() -> TickSummary:
        clock.now += timedelta(hours=1)  # past the settle time of a POST that may have landed
        return engine.tick()

    try:
        tick_until_final(sandbox, tick, step=3600, ticks=12)
        phones = Counter(p for nums in sandbox.campaign_contacts().values() for p in nums)
        assert phones == Counter(e164(i) for i in range(11))  # each once, nobody lost
    finally:
        state.close()


@pytest.mark.usefixtures("small_pages")
def test_a_number_stopped_by_the_phone_history_leaves_no_hole_in_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Sandbox(API_KEY, generation="current", scenarios={e164(1): "do_not_contact"}) as sb:
        # another team of the account called the number: it ended do_not_contact
        (tmp_path / "other").mkdir()
        other, other_state = _team(tmp_path / "other", sb, [fr(1)], 4)
        try:
            other.tick()
            tick_until_final(sb, other.tick, step=3 * 3600, ticks=8)
        finally:
            other_state.close()
        first = list(sb.campaign_contacts())
        engine, state = _team(tmp_path, sb, [fr(i) for i in range(10)], 4)
        try:
            s = engine.tick()
            assert (s.new, s.submitted, s.rejected) == (9, 9, 1)
            batches = [v for k, v in sb.campaign_contacts().items() if k not in first]
            left = [e164(i) for i in range(10) if i != 1]
            assert batches == [left[0:4], left[4:8], left[8:]]  # refilled across pages
            assert "phone history" in read_csv(tmp_path / "leads.csv")[1]["Revox error"]
        finally:
            state.close()
