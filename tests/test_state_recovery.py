"""A lost, damaged or stale state file never leads to a second call."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.rebuild import rebuild
from connector.sandbox import Sandbox
from tests.conftest import API_KEY, Clock, make_team, read_csv, run_cli
from tests.test_engine import FR, Team, build, posts


def reopen(tmp: Path, sb: Sandbox) -> Team:
    """The same team folder (mapping and CSV as they are), with whatever state is there."""
    from connector.engine import Engine
    from connector.loading import load_mapping
    from connector.revox import RevoxClient
    from connector.sources import open_source
    from connector.state import StateStore

    loaded = load_mapping(tmp / "t1.yaml")
    state = StateStore(tmp / "state" / "t1.sqlite")
    revox = RevoxClient(API_KEY, sb.url, sleep=lambda s: None)
    clock = Clock()
    engine = Engine(loaded, open_source(loaded, {}), revox, state, clock=clock)
    return Team(tmp, engine, state, sb, clock)


FINAL = {"completed", "errored"}


def test_lost_state_refuses_then_rebuild_resubmits_nothing(tmp_path: Path) -> None:
    with Sandbox(API_KEY) as sb:
        t = build(
            tmp_path, sb, [[f"P{i}", FR[i]] for i in range(30)] + [["Bad", "1"]], max_contacts=10
        )
        t.engine.tick()
        assert posts(sb) == 3
        t.state.close()
        (tmp_path / "state" / "t1.sqlite").unlink()

        t = reopen(tmp_path, sb)  # same folder, fresh state
        with pytest.raises(ConfigError, match="state rebuild t1"):
            t.engine.tick()
        assert posts(sb) == 3
        report = rebuild(t.engine.m, t.engine.source, t.engine.revox, t.state)
        assert (report.campaigns, report.rows, report.unmatched_contacts) == (3, 30, 0)
        sb.advance(100_000)
        for _ in range(3):
            t.engine.tick()
        assert posts(sb) == 3
        rows = read_csv(tmp_path / "leads.csv")
        assert all(r["Revox status"] in FINAL for r in rows[:30])
        assert rows[30]["Revox status"] == "rejected"
        t.state.close()


def test_rebuild_refuses_a_non_empty_state(tmp_path: Path) -> None:
    with Sandbox(API_KEY) as sb:
        t = build(tmp_path, sb, [["A", FR[0]]])
        t.engine.tick()
        with pytest.raises(ConfigError, match="not empty"):
            rebuild(t.engine.m, t.engine.source, t.engine.revox, t.state)
        t.state.close()


def test_stale_state_skips_rows_it_does_not_know(tmp_path: Path) -> None:
    with Sandbox(API_KEY) as sb:
        t = build(tmp_path, sb, [["A", FR[0]]])
        t.engine.tick()
        t.state.close()
        backup = tmp_path / "backup.sqlite"
        shutil.copy(tmp_path / "state" / "t1.sqlite", backup)
        rows = read_csv(tmp_path / "leads.csv")
        with (tmp_path / "leads.csv").open("a") as f:
            f.write(f"B,{FR[1]}\n")
        t = reopen(tmp_path, sb)
        t.engine.tick()  # B is submitted and its status written
        t.state.close()
        assert posts(sb) == 2
        shutil.copy(backup, tmp_path / "state" / "t1.sqlite")  # an old backup comes back
        t = reopen(tmp_path, sb)
        s = t.engine.tick()
        assert posts(sb) == 2
        assert any("unknown to the state" in e for e in s.messages)
        assert rows[0]["Revox status"]
        t.state.close()


@pytest.mark.parametrize(
    "content", [b"not a database at all" * 50, b"SQLite format 3\x00" + b"\x00" * 40]
)
def test_damaged_state_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    make_team(tmp_path, [["A", FR[0]]])
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "t1.sqlite").write_bytes(content)
    proc = run_cli(tmp_path, "sync", "t1", "--once", env={"REVOX_API_KEY": API_KEY}, timeout=60)
    assert proc.returncode == 2
    assert "state file is damaged" in proc.stderr and "state rebuild" in proc.stderr
    assert "Traceback" not in proc.stderr and "Exception in thread" not in proc.stderr
