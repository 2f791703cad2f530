"""A lost state never re-dials, even when the mapping writes no status column: any cell the
connector writes (a generated key, a result column) tells a fresh state it is not the
first one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.rebuild import rebuild
from connector.sandbox import Sandbox
from tests.conftest import API_KEY, make_team, read_csv
from tests.test_engine import FR, assert_each_phone_once, posts
from tests.test_state_recovery import reopen

COLUMNS = re.compile(r"  columns:\n(    .*\n)+")


def team_writing(tmp: Path, columns: dict[str, str], n: int) -> None:
    make_team(tmp, [[f"P{i}", FR[i]] for i in range(n)], max_contacts=5)
    block = "".join(f"    {k}: {v}\n" for k, v in columns.items()) or "    {}\n"
    text = COLUMNS.sub(lambda _: "  columns:\n" + block, (tmp / "t1.yaml").read_text())
    (tmp / "t1.yaml").write_text(text.replace("structured_output: {email: Email}", ""))


def run_to_the_end(tmp: Path, sb: Sandbox) -> None:
    t = reopen(tmp, sb)
    for _ in range(6):
        sb.advance(3600)
        s = t.engine.tick()
        if s.open_campaigns == 0 and s.outbox == 0:
            break
    t.state.close()


@pytest.mark.parametrize(
    "columns",
    [
        {"outcome": "Outcome", "campaign": "Revox campaign"},  # issue 11, item 2
        {"call_id": "Call"},
        {},  # nothing written back but the generated key
    ],
)
def test_lost_state_without_a_status_column_sends_nothing(
    tmp_path: Path, columns: dict[str, str]
) -> None:
    with Sandbox(API_KEY) as sb:
        team_writing(tmp_path, columns, 12)
        run_to_the_end(tmp_path, sb)
        assert posts(sb) == 3
        rows = read_csv(tmp_path / "leads.csv")
        assert "Revox status" not in rows[0]
        for col in columns.values():
            assert any(r[col] for r in rows), col
        assert all(r["Revox ID"] for r in rows)  # every row keyed, whatever else is written
        state = tmp_path / "state" / "t1.sqlite"
        state.rename(tmp_path / "moved-aside.sqlite")

        t = reopen(tmp_path, sb)
        with pytest.raises(ConfigError, match=r"state has no record of \d+ row\(s\).*rebuild t1"):
            t.engine.tick()
        assert posts(sb) == 3  # 0 POSTs after the loss
        report = rebuild(t.engine.m, t.engine.source, t.engine.revox, t.state)
        assert (report.campaigns, report.rows) == (3, 12)
        t.engine.tick()
        assert posts(sb) == 3
        assert_each_phone_once(sb)
        t.state.close()


def test_a_first_tick_cut_after_the_keys_were_written_is_not_a_lost_state(
    tmp_path: Path,
) -> None:
    """Keys written, then a crash before any intent: the next tick submits those rows."""
    with Sandbox(API_KEY) as sb:
        team_writing(tmp_path, {"outcome": "Outcome"}, 4)
        t = reopen(tmp_path, sb)
        t.engine.journal.submit = lambda news, s: None  # type: ignore[method-assign]
        t.engine.tick()  # keys assigned and written, nothing sent
        assert posts(sb) == 0 and all(r["Revox ID"] for r in read_csv(tmp_path / "leads.csv"))
        t.state.close()
        t = reopen(tmp_path, sb)
        assert t.engine.tick().submitted == 4
        assert posts(sb) == 1
        t.state.close()


def test_user_keys_and_untouched_columns_do_not_block_a_first_tick(tmp_path: Path) -> None:
    with Sandbox(API_KEY) as sb:
        team_writing(tmp_path, {"outcome": "Outcome"}, 3)
        rows = read_csv(tmp_path / "leads.csv")
        with (tmp_path / "leads.csv").open("w") as f:  # keys of the user's own, no outcome
            f.write("Name,Phone,Revox ID,Outcome\n")
            for i, r in enumerate(rows):
                f.write(f"{r['Name']},{r['Phone']},crm-{i},\n")
        t = reopen(tmp_path, sb)
        assert t.engine.tick().submitted == 3
        t.state.close()
