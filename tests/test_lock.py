"""One owner per team: the team lock, the CLI's exit code 4, one team per source, and two
`sync --once` racing on one team calling nobody twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from connector.errors import TeamBusy
from connector.loading import load_all
from connector.lock import TeamLock
from connector.sandbox import Sandbox
from tests.conftest import (
    API_KEY,
    make_team,
    mapping_yaml,
    popen_cli,
    read_csv,
    write_csv,
)
from tests.test_crash import phone

HOLD = """\
import sys, time
from pathlib import Path
from connector.lock import TeamLock
with TeamLock(Path(sys.argv[1]), "t1", "holder"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_second_taker_is_told_who_holds_the_team(tmp_path: Path) -> None:
    with TeamLock(tmp_path, "t1", "sync t1"):
        with pytest.raises(
            TeamBusy, match=rf"team t1 is busy: held by pid {os.getpid()} \(sync t1"
        ):
            TeamLock(tmp_path, "t1").acquire()
        TeamLock(tmp_path, "t2").acquire().release()  # another team is another lock
    with TeamLock(tmp_path, "t1") as again:  # released: free for the next one
        assert again.held


def test_a_lock_held_by_another_process_and_freed_when_it_dies(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "30"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(TeamBusy, match=rf"held by pid {proc.pid} \(holder, started at "):
            TeamLock(tmp_path, "t1").acquire()
    finally:
        proc.kill()
        proc.wait()
    with TeamLock(tmp_path, "t1"):  # SIGKILL leaves no stale lock
        pass


@pytest.mark.parametrize("command", [["sync", "t1", "--once"], ["state", "rebuild", "t1"]])
def test_cli_on_a_busy_team_exits_4_without_touching_anything(
    tmp_path: Path, command: list[str]
) -> None:
    make_team(tmp_path, [["A", phone(1)]])
    before = (tmp_path / "leads.csv").read_text()
    with TeamLock(tmp_path / "state", "t1", "revox-sync run"):
        proc = popen_cli(tmp_path, "http://127.0.0.1:9", *command)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err
    assert len(err.strip().splitlines()) == 1 and "team t1 is busy: held by pid" in err
    assert f"pid {os.getpid()} (revox-sync run" in err
    assert not (tmp_path / "state" / "t1.sqlite").exists()
    assert (tmp_path / "leads.csv").read_text() == before


def test_two_mappings_on_one_source_are_refused(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write_csv(tmp_path / "leads.csv", ["Name", "Phone"], [])
    (tmp_path / "a.yaml").write_text(mapping_yaml("a"))
    (tmp_path / "sub" / "b.yaml").write_text(mapping_yaml("b", csv_name="../leads.csv"))
    (tmp_path / "c.yaml").write_text(mapping_yaml("c", csv_name="other.csv"))
    sheet = (
        "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg/edit"
    )
    for team, spreadsheet in (
        ("g1", sheet),
        ("g2", "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"),
    ):
        text = mapping_yaml(team).replace(
            "type: csv\n  path: leads.csv", f"type: google_sheets\n  spreadsheet: {spreadsheet}"
        )
        (tmp_path / f"{team}.yaml").write_text(text)
    for team, where in (("s1", "Region = 'EU'"), ("s2", "Region = 'EU'"), ("s3", "Region = 'US'")):
        text = mapping_yaml(team).replace(
            "type: csv\n  path: leads.csv\n  key_column: Revox ID",
            f'type: salesforce\n  where: "{where}"',
        )
        (tmp_path / f"{team}.yaml").write_text(text)
    files = [tmp_path / f"{n}.yaml" for n in ("a", "c", "g1", "g2", "s1", "s2", "s3")]
    # ../leads.csv is allowed only inside a data dir: then it is the same file as a.yaml's
    paths = [*files[:1], tmp_path / "sub" / "b.yaml", *files[1:]]
    good, problems = load_all(paths, data_dir=tmp_path)
    assert sorted(m.mapping.team for m in good) == ["a", "c", "g1", "s1", "s3"]
    assert len(problems) == 3, problems
    assert problems[0] == (
        f"{tmp_path / 'sub' / 'b.yaml'}:1: source: csv {tmp_path / 'leads.csv'} is also the "
        f"source of {tmp_path / 'a.yaml'} (one team per source)"
    )
    assert "g2.yaml:1: source: google_sheets" in problems[1] and "g1.yaml" in problems[1]
    assert "s2.yaml:1: source: salesforce" in problems[2] and "s1.yaml" in problems[2]


@pytest.mark.slow
def test_two_syncs_racing_on_one_team_call_nobody_twice(tmp_path: Path) -> None:
    n = 3000
    make_team(tmp_path, [], max_contacts=250)
    rows = [[f"P{i}", phone(i), f"key{i:05d}"] for i in range(n)]
    write_csv(tmp_path / "leads.csv", ["Name", "Phone", "Revox ID"], rows)
    with Sandbox(API_KEY, speed=1.0) as sb:
        t0 = time.monotonic()
        procs = [popen_cli(tmp_path, sb.url, "sync", "t1", "--once") for _ in range(2)]
        errs = [p.communicate(timeout=300)[1] for p in procs]  # read: a full pipe would block
        results = [(p.returncode, err) for p, err in zip(procs, errs, strict=True)]
        took = time.monotonic() - t0
        codes = sorted(code for code, _ in results)
        for _, err in results:
            assert "Traceback" not in err, err
        assert codes in ([0, 0], [0, 4]), results
        if codes == [0, 4]:
            busy = next(err for code, err in results if code == 4)
            assert "team t1 is busy: held by " in busy
        last = popen_cli(tmp_path, sb.url, "sync", "t1", "--once")
        _, last_err = last.communicate(timeout=300)
        assert last.returncode == 0, last_err
        called = Counter(p for nums in sb.campaign_contacts().values() for p in nums)
        twice = sum(1 for c in called.values() if c > 1)
        print(f"race: {n} rows, exit codes {codes}, phones in two campaigns {twice}, {took:.1f}s")
        assert twice == 0
        assert len(called) == n
        out = read_csv(tmp_path / "leads.csv")
        assert len(out) == n and all(r["Revox status"] for r in out)
        assert [r["Revox ID"] for r in out] == [f"key{i:05d}" for i in range(n)]


@pytest.mark.slow
def test_two_syncs_and_the_daemon_on_one_team_call_nobody_twice(tmp_path: Path) -> None:
    n = 3000
    make_team(tmp_path, [], max_contacts=250)
    yaml_path = tmp_path / "t1.yaml"
    yaml_path.write_text("schedule:\n  every: 1s\n" + yaml_path.read_text())
    rows = [[f"P{i}", phone(i), f"key{i:05d}"] for i in range(n)]
    write_csv(tmp_path / "leads.csv", ["Name", "Phone", "Revox ID"], rows)
    with Sandbox(API_KEY, speed=1.0) as sb:
        t0 = time.monotonic()
        daemon = popen_cli(tmp_path, sb.url, "run", "--log-format", "text")
        procs = [popen_cli(tmp_path, sb.url, "sync", "t1", "--once") for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]  # read: a full pipe would block
        codes = sorted(p.returncode for p in procs)
        assert set(codes) <= {0, 4}, outs
        time.sleep(3)  # a few daemon ticks
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=60)
        log = out + err
        assert daemon.returncode == 0 and "Traceback" not in log, log
        last = popen_cli(tmp_path, sb.url, "sync", "t1", "--once")
        _, last_err = last.communicate(timeout=300)
        assert last.returncode == 0, last_err
        called = Counter(p for nums in sb.campaign_contacts().values() for p in nums)
        twice = sum(1 for c in called.values() if c > 1)
        took = time.monotonic() - t0
        busy = log.count("is busy")
        print(f"race+daemon: {n} rows, syncs {codes}, daemon busy ticks {busy}, twice {twice}")
        print(f"  {took:.1f}s")
        assert twice == 0 and len(called) == n
        assert all(r["Revox status"] for r in read_csv(tmp_path / "leads.csv"))


@pytest.mark.slow
def test_the_daemon_skips_a_busy_teams_tick_and_says_so(tmp_path: Path) -> None:
    make_team(tmp_path, [["A", phone(1)]])
    yaml_path = tmp_path / "t1.yaml"
    yaml_path.write_text("schedule:\n  every: 1s\n" + yaml_path.read_text())
    with Sandbox(API_KEY) as sb:
        with TeamLock(tmp_path / "state", "t1", "an operator's sync"):
            daemon = popen_cli(tmp_path, sb.url, "run", "--log-format", "text")
            time.sleep(3)
            assert not sb.requests  # nothing sent while another process holds the team
        time.sleep(4)  # free again: the next attempt (after its backoff) runs
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=60)
    log = out + err
    assert daemon.returncode == 0, log
    assert f"team t1 is busy: held by pid {os.getpid()} (an operator's sync" in log
    assert read_csv(tmp_path / "leads.csv")[0]["Revox status"]
