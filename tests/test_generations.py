"""Both Revox API generations, unconfigured, against a strict sandbox of each.

The sandbox refuses what its generation does not declare, so a body of the wrong shape
fails here the way it would on the real API. Counted: requests refused after detection,
the launch body, each phone in exactly one campaign, every final outcome in its row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.engine import Engine
from connector.loading import load_mapping
from connector.revox import Generation, RevoxClient
from connector.sandbox import Fault, Sandbox
from connector.sources import open_source
from connector.state import StateStore
from tests.conftest import API_KEY, Clock, make_team, read_csv, tick_until_final

FR = [f"06 12 34 {i // 100:02d} {i % 100:02d}" for i in range(200)]
E164 = [f"+33612340{i // 100}{i % 100:02d}" for i in range(200)]
FINAL = {"completed", "errored", "cancelled"}
RETRY = """  call_retry_config:
    allowed_days: [monday, tuesday, wednesday, thursday, friday]
    call_twice_in_a_row: false
    calling_windows:
      - {calling_window_start_time: "09:00", calling_window_end_time: "18:00",
         retry_delay_seconds: 3600}
    max_retry_attempts: 2
    timezone: Europe/Paris"""


class Run:
    """One team over a sandbox; `tick` runs the engine, `finish` until every call ended."""

    def __init__(
        self, tmp: Path, sb: Sandbox, n: int, pinned: Generation | None, extra: str, size: int
    ) -> None:
        self.tmp, self.sb = tmp, sb
        rows = [[f"P{i}", FR[i]] for i in range(n)]
        loaded = load_mapping(make_team(tmp, rows, campaign_extra=extra, max_contacts=size))
        self.state = StateStore(tmp / "state" / "t1.sqlite")
        self.revox = RevoxClient(API_KEY, sb.url, sleep=lambda s: None, timeout=2.0)
        self.engine = Engine(
            loaded, open_source(loaded, {}), self.revox, self.state, clock=Clock(),
            generation=pinned,
        )  # fmt: skip

    def tick(self) -> Any:
        return self.engine.tick()

    def finish(self, ticks: int = 8) -> None:
        tick_until_final(self.sb, self.tick, step=3 * 3600, ticks=ticks)

    @property
    def csv(self) -> list[dict[str, str]]:
        return read_csv(self.tmp / "leads.csv")

    def close(self) -> None:
        self.state.close()
        self.revox.close()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Any]:
    made: list[tuple[Run, Sandbox]] = []

    def make(gen: Generation, n: int = 12, *, pinned: Generation | None = None,
             extra: str = RETRY, max_contacts: int = 500, **sandbox: Any) -> Run:  # fmt: skip
        sb = Sandbox(API_KEY, generation=gen, **sandbox)
        sb.start()
        r = Run(tmp_path, sb, n, pinned, extra, max_contacts)
        made.append((r, sb))
        return r

    yield make
    for r, sb in made:
        r.close()
        sb.stop()


def refused(sb: Sandbox) -> list[tuple[str, str, int]]:
    return [(m, p, st) for m, p, st in sb.requests if 400 <= st < 500]


def each_once(sb: Sandbox) -> Counter[str]:
    phones = Counter(p for nums in sb.campaign_contacts().values() for p in nums)
    assert phones and max(phones.values()) == 1, phones.most_common(3)
    return phones


def launch_bodies(sb: Sandbox) -> list[Any]:
    return [b for m, p, b in sb.posted if p.endswith("/launch-calls")]


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_unconfigured_generation_dials_everyone_once(run: Any, gen: Generation) -> None:
    """Detection costs at most one refused request (the seed has no phone history), and
    no create is ever refused."""
    when = datetime.now(UTC) + timedelta(minutes=30)
    r = run(gen, 12, extra=RETRY + f"\n  scheduled_at: {when.isoformat()}", max_contacts=5)
    r.tick()
    probe = [("GET", "/calls/phone-history", 404)] if gen == "seed" else []
    assert refused(r.sb) == probe
    assert r.state.meta("api_generation") == gen
    creates = [b for m, p, b in r.sb.posted if p == "/campaigns"]
    assert len(creates) == 3
    for body in creates:
        assert body["call_retry_config"]["calling_windows"][0]["retry_delay_seconds"] == 3600
        assert "retry_delay_seconds" not in body["call_retry_config"]
        assert ("launch" in body, "scheduled_at" in body) == ((True, True) if gen == "seed"
                                                              else (False, False))  # fmt: skip
    if gen == "current":
        launches = launch_bodies(r.sb)
        assert len(launches) == 3
        for body in launches:
            assert datetime.fromisoformat(body["scheduled_at"]) == when
            assert set(body["selection"]) == {"filters", "rows"}
    r.finish()
    assert refused(r.sb) == probe
    assert len(each_once(r.sb)) == 12
    rows = r.csv
    assert all(row["Revox status"] in FINAL for row in rows), [x["Revox status"] for x in rows]
    assert any(row["Outcome"] for row in rows)
    if gen == "current":
        assert len(launch_bodies(r.sb)) == 3  # each campaign launched once, never again


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_pinned_generation_sends_no_refused_request(run: Any, gen: Generation) -> None:
    r = run(gen, 6, pinned=gen)
    r.tick()
    r.finish()
    assert refused(r.sb) == []
    assert len(each_once(r.sb)) == 6


@pytest.mark.parametrize("gen", ["seed", "current"])
@pytest.mark.parametrize("paths", [True, False])
def test_one_refused_contact_does_not_stop_its_batch(
    run: Any, gen: Generation, paths: bool
) -> None:
    r = run(gen, 10, pinned=gen, refused_numbers=[E164[3], E164[7]], name_paths_in_errors=paths)
    s = r.tick()
    called = each_once(r.sb)
    assert len(called) == 8 and E164[3] not in called and E164[7] not in called
    assert s.submitted == 8
    rows = r.csv
    assert [i for i, row in enumerate(rows) if row["Revox status"] == "failed"] == [3, 7]
    assert "422" in rows[3]["Revox error"]
    r.finish()
    assert len(each_once(r.sb)) == 8  # the refused rows are not re-sent while unchanged
    rows = r.csv
    assert all(rows[i]["Revox status"] in FINAL for i in (0, 1, 2, 4, 5, 6, 8, 9))
    assert rows[3]["Revox status"] == rows[7]["Revox status"] == "failed"


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_rate_limited_create_is_sent_again_in_the_same_tick(run: Any, gen: Generation) -> None:
    r = run(gen, 4, pinned=gen)
    r.sb.add_fault(Fault("POST", "/campaigns", "status", status=429, retry_after="2"))
    s = r.tick()
    assert s.campaigns_created == 1 and s.messages == []
    assert len(each_once(r.sb)) == 4


def test_refused_launch_fails_its_rows_instead_of_stalling(run: Any) -> None:
    r = run("current", 4, pinned="current")
    r.sb.add_fault(Fault("POST", r"/campaigns/[^/]+/launch-calls", "status", status=422))
    s = r.tick()
    assert any("launch" in e and "refused" in e for e in s.messages), s.messages
    rows = r.csv
    assert {row["Revox status"] for row in rows} == {"failed"}
    assert "refused to launch" in rows[0]["Revox error"]
    s = r.tick()
    assert s.open_campaigns == 0 and len(launch_bodies(r.sb)) == 1  # never sent again


def test_a_launch_lost_to_an_error_is_sent_once_more(run: Any) -> None:
    """A launch-calls answered 503 is retried in the call (it is safe to repeat); one that
    fails every retry is sent again by the next poll, once, then never again."""
    r = run("current", 4, pinned="current")
    r.sb.add_fault(Fault("POST", r"/campaigns/[^/]+/launch-calls", "status", status=503, times=5))
    s = r.tick()
    assert any("launching campaign" in e for e in s.messages)
    assert len(launch_bodies(r.sb)) == 6  # 1 + 4 retries refused, then the poll's one
    r.finish()
    assert len(launch_bodies(r.sb)) == 6
    assert all(row["Revox status"] in FINAL for row in r.csv)


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_opt_out_stops_the_number_for_good(run: Any, gen: Generation, tmp_path: Path) -> None:
    r = run(gen, 3, pinned=gen, scenarios={E164[1]: "do_not_contact"})
    r.tick()
    r.finish()
    assert r.state.is_dnc(E164[1])
    # the same number comes back on a new row: never submitted again
    with (tmp_path / "leads.csv").open("a", encoding="utf-8") as f:
        f.write(f"Again,{FR[1]},,,,,,,,\n")
    before = sum(len(v) for v in r.sb.campaign_contacts().values())
    r.tick()
    assert sum(len(v) for v in r.sb.campaign_contacts().values()) == before
    again = r.csv[-1]
    assert again["Revox status"].startswith("rejected")
    assert "do_not_call" in again["Revox error"]


def test_phone_history_opt_out_from_elsewhere_is_never_submitted(run: Any) -> None:
    """A number another team of the account stopped is refused before any POST."""
    other = run("current", 2, pinned="current", scenarios={E164[0]: "do_not_contact"})
    other.tick()
    other.finish()
    # a second team on the same account: a fresh state, the same number
    tmp2 = other.tmp / "second"
    tmp2.mkdir()
    loaded = load_mapping(make_team(tmp2, [["X", FR[0]], ["Y", FR[5]]]))
    state = StateStore(tmp2 / "state" / "t1.sqlite")
    revox = RevoxClient(API_KEY, other.sb.url, sleep=lambda s: None, timeout=2.0)
    try:
        engine = Engine(loaded, open_source(loaded, {}), revox, state, generation="current")
        history_reads = sum(1 for m, p, _ in other.sb.requests if "phone-history" in p)
        s = engine.tick()
        assert sum(1 for m, p, _ in other.sb.requests if "phone-history" in p) == history_reads + 1
        assert s.submitted == 1
        rows = read_csv(tmp2 / "leads.csv")
        assert rows[0]["Revox status"].startswith("rejected")
        assert "phone history" in rows[0]["Revox error"]
    finally:
        state.close()
        revox.close()


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_marker_survives_a_server_that_cuts_names(run: Any, gen: Generation) -> None:
    """A lost answer is found again by the marker at the start of a cut name."""
    r = run(gen, 4, pinned=gen, max_name_length=30)
    r.sb.add_fault(Fault("POST", "/campaigns", "drop_after_apply"))
    s = r.tick()
    assert s.messages and s.campaigns_created == 0
    r.engine.journal.settle_seconds = 0
    s = r.tick()
    assert s.campaigns_created == 1
    assert len(each_once(r.sb)) == 4
    assert sum(1 for m, p, _ in r.sb.requests if m == "POST" and p == "/campaigns") == 1


def test_paged_campaign_list_is_read_to_the_end(run: Any) -> None:
    r = run("seed", 12, pinned="seed", campaigns_page_size=2, max_contacts=2)
    r.tick()  # six campaigns
    r.sb.add_fault(Fault("POST", "/campaigns", "drop_after_apply"))
    with (r.tmp / "leads.csv").open("a", encoding="utf-8") as f:
        f.write(f"New,{FR[50]},,,,,,,,\n")
    r.tick()
    r.engine.journal.settle_seconds = 0
    s = r.tick()
    assert s.campaigns_created == 1  # adopted from the last page, not sent again
    assert len(each_once(r.sb)) == 13


def test_a_malformed_campaign_makes_the_list_incomplete() -> None:
    """One campaign of the wrong shape: the others are read, the list is not trusted."""

    def handler(request: httpx.Request) -> httpx.Response:
        good = {"id": "c1", "name": "[rx-abcdef-0123456789ab] x", "status": "running"}
        return httpx.Response(200, json={"campaigns": [good, {"name": "no id"}]})

    client = RevoxClient("k" * 20, "http://revox.test", transport=httpx.MockTransport(handler))
    listing = client.list_campaigns()
    assert [c.id for c in listing.campaigns] == ["c1"] and not listing.complete
