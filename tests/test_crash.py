"""SIGKILL `revox-sync sync TEAM --once` at every protocol step and at random moments,
then run to completion: every phone is in exactly one campaign, every row has its status,
the outbox ends empty."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from connector.mapping import parse_phone
from connector.sandbox import Fault, Sandbox
from tests.conftest import API_KEY, cli_command, make_team, read_csv, write_csv

# Each is reached at a different step of a tick (connector/engine.py, connector/failpoints.py).
FAILPOINTS = [
    "after_intent:1",  # intent journalled, nothing sent
    "after_intent:2",
    "after_post:1",  # campaign created on Revox, not recorded here
    "after_post:2",
    "after_record:1",  # campaign recorded, rows not written back
    "after_record:3",
    "mid_csv_write:7",  # in the middle of the atomic rewrite of the CSV
    "mid_csv_write:60",
    "after_write_back:1",  # source written, outbox not yet cleared
    "mid_poll:1",  # results read, campaign not yet marked
    "after_write_back:2",
]
FINAL = {"completed", "errored", "cancelled"}


def phone(i: int) -> str:
    return f"06 {10 + i // 10000:02d} {i // 100 % 100:02d} {i % 100:02d} 00"


def run_sync(
    tmp: Path, sb: Sandbox, failpoint: str | None = None, kill_after: float | None = None
) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVOX")}
    env.update(REVOX_API_KEY=API_KEY, REVOX_BASE_URL=sb.url, REVOX_SYNC_POST_SETTLE_SECONDS="3")
    if failpoint:
        env["REVOX_SYNC_FAILPOINT"] = failpoint
    proc = subprocess.Popen(
        cli_command(tmp / "t1.yaml", "sync", "t1", "--once"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp,
    )
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    return proc.returncode


def add_rows(tmp: Path, start: int, n: int) -> None:
    rows = read_csv(tmp / "leads.csv")
    header = list(rows[0].keys()) if rows else ["Name", "Phone"]
    body = [[r.get(h, "") for h in header] for r in rows]
    for i in range(start, start + n):
        body.append([f"P{i}", phone(i)] + [""] * (len(header) - 2))
    write_csv(tmp / "leads.csv", header, body)


@pytest.mark.slow
def test_kill_at_every_step_then_complete(tmp_path: Path) -> None:
    rng = random.Random(20261127)
    with Sandbox(API_KEY, speed=1.0) as sb:
        make_team(tmp_path, [[f"P{i}", phone(i)] for i in range(200)], max_contacts=20)
        n = 200
        killed = 0
        for fp in FAILPOINTS:
            add_rows(tmp_path, n, 15)
            n += 15
            sb.advance(120)
            if run_sync(tmp_path, sb, failpoint=fp) == -signal.SIGKILL:
                killed += 1
        # kills while POST /campaigns is in flight: the sandbox applies it after we are gone
        for _ in range(3):
            add_rows(tmp_path, n, 15)
            n += 15
            sb.add_fault(Fault("POST", "/campaigns", "slow", delay=1.5))
            if run_sync(tmp_path, sb, kill_after=1.2 + rng.random() * 0.2) == -signal.SIGKILL:
                killed += 1
        # and at random moments
        for _ in range(6):
            add_rows(tmp_path, n, 15)
            n += 15
            sb.advance(120)
            if run_sync(tmp_path, sb, kill_after=0.5 + rng.random() * 0.7) == -signal.SIGKILL:
                killed += 1
        print(f"SIGKILLs that landed: {killed} over {n} rows")
        assert killed >= 10, killed

        for _ in range(12):
            time.sleep(1.0)  # let intents left by the kills pass the 3 s settle time
            sb.advance(7200)
            assert run_sync(tmp_path, sb) in (0, 1)
            st = subprocess.run(
                cli_command(tmp_path / "t1.yaml", "status", "--format", "json"),
                capture_output=True,
                text=True,
                check=True,
            )
            status = json.loads(st.stdout)[0]
            if status["open_campaigns"] == 0 and status["outbox"] == 0:
                break
        else:
            raise AssertionError(f"did not settle: {status}")

        rows = read_csv(tmp_path / "leads.csv")
        assert len(rows) == n
        keys = [r["Revox ID"] for r in rows]
        assert all(keys) and len(set(keys)) == n
        called = Counter(p for nums in sb.campaign_contacts().values() for p in nums)
        assert max(called.values()) == 1, called.most_common(3)
        expected = {parse_phone(r["Phone"], "FR")[0] for r in rows}
        assert set(called) == expected
        assert all(r["Revox status"] in FINAL for r in rows), Counter(
            r["Revox status"] for r in rows
        )
        assert status["rows"] == {"done": n}


@pytest.mark.slow
def test_daemon_killed_repeatedly_then_complete(tmp_path: Path) -> None:
    """The daemon, SIGKILLed at random moments while it submits and polls, restarted each
    time: every phone in exactly one campaign, every row final, the outbox empty."""
    rng = random.Random(7)
    with Sandbox(API_KEY, speed=30.0) as sb:
        folder = tmp_path / "m"
        folder.mkdir()
        make_team(folder, [[f"P{i}", phone(i)] for i in range(300)], max_contacts=20)
        yaml_path = folder / "t1.yaml"
        yaml_path.write_text("schedule:\n  every: 1s\n" + yaml_path.read_text())
        env = {k: v for k, v in os.environ.items() if not k.startswith("REVOX")}
        env.update(REVOX_API_KEY=API_KEY, REVOX_BASE_URL=sb.url, REVOX_SYNC_POST_SETTLE_SECONDS="2")
        cmd = cli_command(folder, "run", "--log-format", "text")
        kills = 0
        n = 300
        for _ in range(6):
            add_rows(folder, n, 20)
            n += 20
            proc = subprocess.Popen(
                cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            time.sleep(1.0 + rng.random() * 2.0)
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=30)
            assert "Traceback" not in err, err
            kills += proc.returncode == -signal.SIGKILL
        assert kills == 6
        time.sleep(2.5)  # past the settle time of intents the kills left
        for _ in range(12):
            sb.advance(7200)
            assert run_sync(folder, sb) in (0, 1)
            rows = read_csv(folder / "leads.csv")
            if all(r.get("Revox status") in FINAL for r in rows):
                break
        called = Counter(p for nums in sb.campaign_contacts().values() for p in nums)
        assert called and max(called.values()) == 1, called.most_common(3)
        assert len(rows) == n and len(called) == n
        assert all(r["Revox status"] in FINAL for r in rows)
