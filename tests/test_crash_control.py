"""SIGKILL between a cancel and its record, and between a re-queue and its submission:
no call is cancelled twice, no callback is made twice (0 duplicate calls)."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from connector.sandbox import Sandbox
from tests.conftest import API_KEY, mapping_yaml, read_csv, write_csv
from tests.test_crash import run_sync

FR = [f"06 12 34 00 {i:02d}" for i in range(10)]
E164 = [f"+336123400{i:02d}" for i in range(10)]


def setup(tmp: Path, extra: str) -> None:
    write_csv(
        tmp / "leads.csv", ["Name", "Phone", "Action"], [[f"P{i}", FR[i], ""] for i in range(8)]
    )
    (tmp / "t1.yaml").write_text(mapping_yaml(extra="control: {column: Action}\n" + extra))


def mark(tmp: Path, name: str, value: str) -> None:
    rows = read_csv(tmp / "leads.csv")
    for r in rows:
        if r["Name"] == name:
            r["Action"] = value
    header = list(rows[0])
    write_csv(tmp / "leads.csv", header, [[r[h] for h in header] for r in rows])


@pytest.mark.parametrize("fp", ["after_cancel_intent", "after_cancel", "after_cancel_record"])
def test_kill_between_cancel_and_record(tmp_path: Path, fp: str) -> None:
    with Sandbox(API_KEY, speed=0.0) as sb:
        setup(tmp_path, "")
        assert run_sync(tmp_path, sb) == 0
        mark(tmp_path, "P7", "stop")
        assert run_sync(tmp_path, sb, failpoint=fp) == -signal.SIGKILL
        run_sync(tmp_path, sb)
        run_sync(tmp_path, sb)
        cancels = [p for m, p, _ in sb.posted if p.endswith("/cancel")]
        assert len(cancels) == 1, cancels
        row = {r["Name"]: r for r in read_csv(tmp_path / "leads.csv")}["P7"]
        assert row["Revox status"] == "cancelled" and "stopped from the row" in row["Revox error"]


def test_kill_between_requeue_and_submit(tmp_path: Path) -> None:
    with Sandbox(API_KEY, speed=0.0, scenarios={E164[0]: "requested_callback_later"}) as sb:
        setup(tmp_path, "callbacks: {after: 1s, max: 1}\n")
        assert run_sync(tmp_path, sb) == 0
        sb.advance(3 * 3600)
        run_sync(tmp_path, sb)  # the result: a callback is scheduled
        time.sleep(1.1)
        assert run_sync(tmp_path, sb, failpoint="after_requeue") == -signal.SIGKILL
        assert run_sync(tmp_path, sb, failpoint="after_intent") == -signal.SIGKILL
        time.sleep(3.1)  # past the settle time of the intent the kill left
        for _ in range(3):
            sb.advance(3 * 3600)
            run_sync(tmp_path, sb)
        called = Counter(p for nums in sb.campaign_contacts().values() for p in nums)
        assert called[E164[0]] == 2  # the first call and exactly one callback
        assert max(n for p, n in called.items() if p != E164[0]) == 1
