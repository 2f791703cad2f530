"""A state restored from an older backup (`state reconcile`), and `state rebuild` adopting
only its own team's campaigns and moving a damaged file aside itself."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from connector.engine import Engine
from connector.journal import parse_marker, team_tag
from connector.loading import load_mapping
from connector.rebuild import rebuild
from connector.reconcile import reconcile
from connector.revox import RevoxClient
from connector.sandbox import Sandbox
from connector.sources import open_source
from connector.state import StateStore
from tests.conftest import API_KEY, make_team, popen_cli, read_csv, tick_until_final
from tests.test_crash import add_rows, phone
from tests.test_engine import Team, posts
from tests.test_state_recovery import reopen

FINAL = {"completed", "errored", "cancelled"}


def other_team(tmp: Path, sb: Sandbox, n: int) -> int:
    """Team t2 in its own folder, calling the same numbers: campaigns of another team."""
    folder = tmp / "other"
    folder.mkdir()
    make_team(folder, [[f"Q{i}", phone(i)] for i in range(n)], max_contacts=5, team="t2")
    (folder / "t2.yaml").write_text((folder / "t1.yaml").read_text())
    (folder / "t1.yaml").unlink()
    loaded = load_mapping(folder / "t2.yaml")
    with StateStore(folder / "state" / "t2.sqlite") as st:
        revox = RevoxClient(API_KEY, sb.url, sleep=lambda s: None)
        return Engine(loaded, open_source(loaded, {}), revox, st).tick().campaigns_created


def tags(sb: Sandbox, t: Team) -> Counter[str]:
    names = [c.name for c in t.engine.revox.list_campaigns().campaigns]
    return Counter((parse_marker(n) or ("none", ""))[0] for n in names)


def until_final(t: Team, sb: Sandbox) -> None:
    tick_until_final(sb, t.engine.tick, step=7200, ticks=8)


def test_reconcile_adopts_this_teams_campaigns_made_after_the_backup(tmp_path: Path) -> None:
    with Sandbox(API_KEY) as sb:
        make_team(tmp_path, [[f"P{i}", phone(i)] for i in range(10)], max_contacts=5)
        t = reopen(tmp_path, sb)
        assert t.engine.tick().campaigns_created == 2
        t.state.close()
        shutil.copy(tmp_path / "state" / "t1.sqlite", tmp_path / "backup.sqlite")
        add_rows(tmp_path, 10, 10)
        t = reopen(tmp_path, sb)
        assert t.engine.tick().campaigns_created == 2  # two more batches after the backup
        t.state.close()
        assert other_team(tmp_path, sb, 20) == 4  # same numbers, another team
        shutil.copy(tmp_path / "backup.sqlite", tmp_path / "state" / "t1.sqlite")

        t = reopen(tmp_path, sb)
        assert tags(sb, t) == {team_tag("t1"): 4, team_tag("t2"): 4}
        sent = posts(sb)
        report = reconcile(t.engine.m, t.engine.source, t.engine.revox, t.state)
        assert (report.known, report.campaigns, report.rows) == (2, 2, 10), report.line()
        assert report.other_teams == 4 and report.unmatched_contacts == 0
        until_final(t, sb)
        assert posts(sb) == sent  # 0 re-dials
        rows = read_csv(tmp_path / "leads.csv")
        assert len(rows) == 20 and all(r["Revox status"] in FINAL for r in rows), rows
        assert any(r["Outcome"] for r in rows[10:])  # results of the adopted campaigns
        assert t.state.row_counts() == {"done": 20}
        t.state.close()


def test_rebuild_adopts_only_this_teams_campaigns(tmp_path: Path) -> None:
    with Sandbox(API_KEY) as sb:
        make_team(tmp_path, [[f"P{i}", phone(i)] for i in range(10)], max_contacts=5)
        t = reopen(tmp_path, sb)
        t.engine.tick()
        t.state.close()
        assert other_team(tmp_path, sb, 10) == 2
        (tmp_path / "state" / "t1.sqlite").unlink()
        t = reopen(tmp_path, sb)
        report = rebuild(t.engine.m, t.engine.source, t.engine.revox, t.state)
        assert (report.campaigns, report.rows, report.other_teams) == (2, 10, 2)
        own = {cid for cid, _ in t.state.campaigns.scan()}
        mine = {c.id for c in t.engine.revox.list_campaigns().campaigns if team_tag("t1") in c.name}
        assert own == mine
        t.state.close()


def test_rebuild_moves_a_damaged_file_aside_and_says_where(tmp_path: Path) -> None:
    with Sandbox(API_KEY) as sb:
        make_team(tmp_path, [[f"P{i}", phone(i)] for i in range(5)])
        t = reopen(tmp_path, sb)
        t.engine.tick()
        t.state.close()
        state = tmp_path / "state" / "t1.sqlite"
        state.write_bytes(b"not a database at all" * 50)
        proc = popen_cli(tmp_path, sb.url, "state", "rebuild", "t1")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        aside = list((tmp_path / "state").glob("t1.sqlite.damaged-*"))
        assert len(aside) == 1 and aside[0].read_bytes().startswith(b"not a database")
        assert f"moved it aside to {aside[0]}" in out
        assert "adopted 1 campaign(s) covering 5 row(s)" in out
        sent = posts(sb)
        sync = popen_cli(tmp_path, sb.url, "sync", "t1", "--once")
        _, err = sync.communicate(timeout=60)
        assert sync.returncode in (0, 1) and "Traceback" not in err, err  # 1: a tick error
        assert posts(sb) == sent
