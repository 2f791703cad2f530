"""The race suite of `make test-faults`: many processes on one team, repeated.

Issue 11's measurement, made the way it was found: `sync --once` started together on 5,000
keyed rows (once three of them and the daemon ticking every second), five rounds each.
Counted: phones in two campaigns (must be 0) and rows never submitted after one more tick
(must be 0).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from connector.sandbox import Sandbox
from tests.conftest import API_KEY, make_team, popen_cli, read_csv, write_csv
from tests.test_crash import phone

N = 5000


@pytest.mark.faults
@pytest.mark.parametrize("round_", range(5))
@pytest.mark.parametrize("with_daemon", [False, True])
def test_syncs_racing_call_nobody_twice(tmp_path: Path, round_: int, with_daemon: bool) -> None:
    make_team(tmp_path, [], max_contacts=250)
    if with_daemon:
        path = tmp_path / "t1.yaml"
        path.write_text("schedule:\n  every: 1s\n" + path.read_text())
    rows = [[f"P{i}", phone(i), f"key{i:05d}"] for i in range(N)]
    write_csv(tmp_path / "leads.csv", ["Name", "Phone", "Revox ID"], rows)
    with Sandbox(API_KEY, speed=1.0) as sb:
        t0 = time.monotonic()
        daemon = popen_cli(tmp_path, sb.url, "run", "--log-format", "text") if with_daemon else None
        procs = [popen_cli(tmp_path, sb.url, "sync", "t1", "--once") for _ in range(3)]
        errs = [p.communicate(timeout=600)[1] for p in procs]  # read: a full pipe would block
        codes = sorted(p.returncode for p in procs)
        assert set(codes) <= {0, 4} and not any("Traceback" in e for e in errs), errs
        if daemon is not None:
            time.sleep(2)
            daemon.send_signal(signal.SIGTERM)
            out, err = daemon.communicate(timeout=120)
            assert daemon.returncode == 0 and "Traceback" not in out + err
        last = popen_cli(tmp_path, sb.url, "sync", "t1", "--once")
        _, last_err = last.communicate(timeout=600)
        assert last.returncode == 0, last_err
        called = Counter(p for nums in sb.campaign_contacts().values() for p in nums)
        twice = sum(1 for c in called.values() if c > 1)
        unsent = sum(1 for r in read_csv(tmp_path / "leads.csv") if not r["Revox status"])
        took = time.monotonic() - t0
        print(f"round {round_} daemon={with_daemon}: exit codes {codes}, {len(called)} phones")
        print(f"  called, {twice} in two campaigns, {unsent} rows unsent, {took:.1f}s")
        assert twice == 0 and len(called) == N and unsent == 0
