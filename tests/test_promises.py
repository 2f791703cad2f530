"""Issue 11's holes outside one well-behaved process, each tried the way operators do.

Each test failed on the first release: a key header renamed for one tick, an opt-out heard
by another team of the same account, and the suspected ones (a 409 on a re-send, a clock
that jumps) proved or ruled out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connector.engine import Engine
from connector.errors import ConfigError
from connector.loading import load_mapping
from connector.revox import RevoxClient
from connector.sandbox import Fault, Sandbox
from connector.sources import open_source
from connector.state import StateStore
from tests.conftest import API_KEY, Clock, make_team, read_csv

FR = [f"06 12 34 00 {i:02d}" for i in range(60)]
FINAL = {"completed", "errored", "cancelled"}


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(API_KEY) as s:
        yield s


def engine_for(tmp: Path, sb: Sandbox, rows: list[list[str]], clock: Clock | None = None) -> Engine:
    loaded = load_mapping(make_team(tmp, rows))
    state = StateStore(tmp / "state" / "t1.sqlite")
    revox = RevoxClient(API_KEY, sb.url, sleep=lambda s: None, timeout=2.0)
    return Engine(loaded, open_source(loaded, {}), revox, state, clock=clock or Clock())


def rename_header(path: Path, old: str, new: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = lines[0].replace(old, new)
    path.write_text("".join(lines), encoding="utf-8")


def test_key_header_renamed_for_one_tick_loses_nothing(tmp_path: Path, sb: Sandbox) -> None:
    e = engine_for(tmp_path, sb, [[f"P{i}", FR[i]] for i in range(6)])
    try:
        e.tick()
        csv_path = tmp_path / "leads.csv"
        keys = [r["Revox ID"] for r in read_csv(csv_path)]
        sb.advance(3 * 3600)  # every call ends while the column is renamed
        rename_header(csv_path, "Revox ID", "Revox key")
        before = csv_path.read_bytes()
        with pytest.raises(ConfigError, match=r"source\.key_column"):
            e.tick()
        assert csv_path.read_bytes() == before  # no key assigned, no second key column
        assert e.state.batches.count() == 1 and e.state.row_counts() == {"submitted": 6}
        rename_header(csv_path, "Revox key", "Revox ID")
        for _ in range(3):
            s = e.tick()
            if s.outbox == 0 and s.open_campaigns == 0:
                break
        rows = read_csv(csv_path)
        assert [r["Revox ID"] for r in rows] == keys  # one key column, the same keys
        assert all(r["Revox status"] in FINAL for r in rows), [r["Revox status"] for r in rows]
        assert csv_path.read_text(encoding="utf-8").splitlines()[0].count("Revox ID") == 1
        assert sum(len(v) for v in sb.campaign_contacts().values()) == 6
    finally:
        e.state.close()
        e.revox.close()


def test_a_409_on_a_resend_keeps_the_claims(tmp_path: Path, sb: Sandbox) -> None:
    """Suspected: a 409 ("already exists") released the numbers. It now stays an intent."""
    e = engine_for(tmp_path, sb, [["A", FR[0]], ["B", FR[1]]])
    try:
        sb.add_fault(Fault("POST", "/campaigns", "status", status=409))
        s = e.tick()
        assert s.messages and s.campaigns_created == 0
        assert e.state.phone_owner("+33612340000") is not None  # still claimed
        assert next(r for _, r in e.state.batches.scan())["state"] == "intent"
        e.journal.settle_seconds = 0
        s = e.tick()
        assert s.campaigns_created == 1
        assert sorted(p for v in sb.campaign_contacts().values() for p in v) == [
            "+33612340000",
            "+33612340001",
        ]
    finally:
        e.state.close()
        e.revox.close()


def test_a_clock_jump_forward_does_not_resend_a_batch_in_flight(
    tmp_path: Path, sb: Sandbox
) -> None:
    """Suspected: the settle time is measured on the wall clock. A jump forward ends the
    wait early, but the batch is looked for on Revox before any re-send: when the lost
    POST landed, it is adopted, never sent twice."""
    clock = Clock()
    e = engine_for(tmp_path, sb, [["A", FR[0]], ["B", FR[1]]], clock)
    try:
        sb.add_fault(Fault("POST", "/campaigns", "drop_after_apply"))
        e.tick()
        clock.now += timedelta(days=3)  # NTP step, a VM resumed
        s = e.tick()
        assert s.campaigns_created == 1
        assert sum(1 for m, p, _ in sb.requests if m == "POST" and p == "/campaigns") == 1
    finally:
        e.state.close()
        e.revox.close()


def test_an_opt_out_in_team_a_stops_the_number_in_team_b(tmp_path: Path) -> None:
    """Both teams on one Revox account and one host: one do-not-call list."""
    from connector.runtime import open_team

    stop = "+33612340001"
    with Sandbox(API_KEY, scenarios={stop: "do_not_contact"}) as sb:
        env = {"REVOX_API_KEY": API_KEY, "REVOX_BASE_URL": sb.url}
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = open_team(load_mapping(make_team(tmp_path / "a", [["A0", FR[0]], ["A1", FR[1]]],
                                             team="a")), tmp_path / "state", env)  # fmt: skip
        b_rows = [["B1", FR[1]], ["B2", FR[2]]]
        b = open_team(load_mapping(make_team(tmp_path / "b", b_rows, team="b")),
                      tmp_path / "state", env)  # fmt: skip
        try:
            a.engine.tick()
            sb.advance(3 * 3600)
            a.engine.tick()
            assert a.engine.state.is_dnc(stop)
            s = b.engine.tick()
            assert s.submitted == 1
            called = [p for v in sb.campaign_contacts().values() for p in v]
            assert called.count(stop) == 1  # team a's call only
            row = read_csv(tmp_path / "b" / "leads.csv")[0]
            assert row["Revox status"].startswith("rejected")
            assert "do_not_call" in row["Revox error"] and "team a" in row["Revox error"]
        finally:
            a.close()
            b.close()


def test_a_batch_never_sent_is_sent_once_and_recorded_once(tmp_path: Path, sb: Sandbox) -> None:
    """429 until the retries ran out: the intent stays unsent. The next tick sends it once,
    records its campaign once, and does not list the campaigns to look for it."""
    e = engine_for(tmp_path, sb, [["A", FR[0]], ["B", FR[1]]])
    try:
        sb.add_fault(Fault("POST", "/campaigns", "status", status=429, retry_after="0", times=5))
        s = e.tick()
        assert s.campaigns_created == 0 and s.errors
        before = len(sb.requests)
        s = e.tick()
        assert s.campaigns_created == 1 and s.submitted == 2, s.messages
        assert not any(
            m == "GET" and p.startswith("/campaigns?") for m, p, _ in sb.requests[before:]
        )
        assert e.state.campaigns.count() == 1
    finally:
        e.state.close()
        e.revox.close()
