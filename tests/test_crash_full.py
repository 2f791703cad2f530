"""Crash tests at scale (issue 6): SIGKILL `revox-sync sync TEAM --once` more than 50 times over
a CSV of 2,000+ rows cut into small batches, at every failpoint and several occurrence counts,
while POST /campaigns is in flight, and at random moments; then run to completion and check
the invariants: every phone in exactly one campaign, every eligible row with its final
status and its call's result, every bad row with its reason, the outbox empty.

`make test-faults` runs the big one (marked `faults`); the small test at the end is fast.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from connector.mapping import parse_phone
from connector.revox import Call, RevoxClient
from connector.sandbox import Fault, Sandbox
from connector.state import StateStore, state_path
from tests.conftest import API_KEY, cli_command, make_team, read_csv, write_csv

FINAL = {"completed", "errored", "cancelled"}
SETTLE = 2.0  # REVOX_SYNC_POST_SETTLE_SECONDS for every run
MAX_CONTACTS = 20
INITIAL_ROWS = 2000
APPENDED = 10  # rows added before each run, so every run has something new to submit
_FORMULA = re.compile(r"^[=+\-@\t\r]")


def phone(i: int) -> str:
    """A distinct valid French mobile number for each i < 90,000."""
    return f"06 {10 + i // 10000:02d} {i // 100 % 100:02d} {i % 100:02d} 00"


def initial_rows() -> list[list[str]]:
    """2,000 rows with some bad ones: invalid numbers, empty cells, duplicates of a row above."""
    rows: list[list[str]] = []
    for i in range(INITIAL_ROWS):
        if i % 97 == 50:
            rows.append([f"Bad{i}", "12"])  # invalid_phone
        elif i % 211 == 7:
            rows.append([f"Empty{i}", ""])  # missing_phone
        elif i % 101 == 60:
            rows.append([f"Dup{i}", phone(i - 1)])  # duplicate_phone of the row above
        else:
            rows.append([f"P{i}", phone(i)])
    return rows


def escaped(value: str) -> str:
    """What the CSV adapter writes for a value (escape_formulas is on by default)."""
    return "'" + value if _FORMULA.match(value) else value


@dataclass
class Runner:
    """Runs the CLI as a subprocess over one team folder and one sandbox."""

    dir: Path
    sb: Sandbox
    rng: random.Random
    next_index: int = INITIAL_ROWS
    killed: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    log: list[tuple[str, int, float]] = field(default_factory=list)
    clean_seconds: list[float] = field(default_factory=list)

    def env(self, failpoint: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REVOX")}
        env.update(
            REVOX_API_KEY=API_KEY,
            REVOX_BASE_URL=self.sb.url,
            REVOX_SYNC_POST_SETTLE_SECONDS=f"{SETTLE:g}",
        )
        if failpoint:
            env["REVOX_SYNC_FAILPOINT"] = failpoint
        return env

    def cli(self, *args: str) -> list[str]:
        return cli_command(self.dir / "t1.yaml", *args)

    def start(self, failpoint: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.cli("sync", "t1", "--once"),
            env=self.env(failpoint),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.dir,
        )

    def finish(self, proc: subprocess.Popen[str], what: str, t0: float) -> int:
        _, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        seconds = time.monotonic() - t0
        self.log.append((what, proc.returncode, seconds))
        if proc.returncode == -signal.SIGKILL:
            self.killed += 1
            self.kinds[what.split(":")[0]] += 1
        else:
            assert proc.returncode in (0, 1), (proc.returncode, err)
            self.clean_seconds.append(seconds)
        return proc.returncode

    def run(self, failpoint: str | None = None, kill_after: float | None = None) -> int:
        t0 = time.monotonic()
        proc = self.start(failpoint)
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        what = failpoint or ("random" if kill_after else "clean")
        return self.finish(proc, what, t0)

    def run_kill_in_flight_post(self) -> int:
        """Kill while POST /campaigns is held by the sandbox; it is applied after we are gone."""
        self.sb.add_fault(Fault("POST", "/campaigns", "slow", delay=1.0))
        armed = self.sb._faults[-1]  # the sandbox's own copy: its `times` drops on arrival
        t0 = time.monotonic()
        proc = self.start()
        deadline = time.monotonic() + 60
        while armed.times > 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if armed.times == 0 and proc.poll() is None:
            time.sleep(self.rng.uniform(0.05, 0.6))  # the request is held for 1.0 s
            proc.send_signal(signal.SIGKILL)
        return self.finish(proc, "in_flight_post", t0)

    def add_rows(self, n: int = APPENDED) -> None:
        rows = read_csv(self.dir / "leads.csv")
        header = list(rows[0].keys())
        body = [[r.get(h, "") for h in header] for r in rows]
        for i in range(self.next_index, self.next_index + n):
            body.append([f"P{i}", phone(i)] + [""] * (len(header) - 2))
        self.next_index += n
        write_csv(self.dir / "leads.csv", header, body)

    def status(self) -> dict[str, object]:
        proc = subprocess.run(
            self.cli("status", "--format", "json"),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        report = json.loads(proc.stdout)
        assert isinstance(report, list) and len(report) == 1
        team: dict[str, object] = report[0]
        return team

    def intents(self) -> int:
        with StateStore(state_path(self.dir / "state", "t1"), readonly=True) as st:
            return sum(1 for _, b in st.batches.scan() if b["state"] == "intent")


# Each step of a tick (connector/engine.py), at several occurrence counts (connector/failpoints.py).
# mid_csv_write counts per row written: the first three land in the very first write of
# 2,000 generated keys; small counts later land in the keys of appended rows, larger ones in
# the write-back of results. after_write_back is reached once per tick, so only ":1" exists.
KEY_WRITE = ["mid_csv_write:1", "mid_csv_write:977", "mid_csv_write:1999"]
SUBMIT = [
    "after_intent:1",
    "after_post:1",
    "after_record:1",
    "after_intent:2",
    "after_post:2",
    "after_record:2",
    "after_intent:4",
    "after_post:3",
    "after_record:5",
    "after_intent:7",
    "after_post:6",
    "after_record:9",
]
POLL_AND_WRITE = [
    "mid_poll:1",
    "after_write_back:1",
    "mid_csv_write:3",
    "mid_poll:5",
    "mid_csv_write:30",
    "after_write_back:1",
    "mid_poll:3",
    "mid_csv_write:14",
    "mid_poll:2",
    "after_write_back:1",
    "mid_poll:8",
    "mid_csv_write:60",
]
AGAIN = ["after_intent:1", "after_post:1", "after_record:1", "after_write_back:1", "mid_poll:1"]
IN_FLIGHT_POSTS = 6
RANDOM_KILLS = 18
TRIES = 3  # a failpoint not reached in a run (nothing to poll yet, ...) is tried again


def run_to_completion(r: Runner) -> dict[str, object]:
    time.sleep(SETTLE + 0.5)  # every intent left by a kill is now past the settle time
    status: dict[str, object] = {}
    for _ in range(20):
        r.sb.advance(100_000)
        r.run()
        status = r.status()
        done = status["open_campaigns"] == 0 and status["outbox"] == 0
        if done and r.intents() == 0 and r.sb.all_final():
            return status
        time.sleep(SETTLE + 0.2)
    raise AssertionError(f"did not settle: {status}, intents {r.intents()}")


def calls_on_revox(sb: Sandbox) -> dict[str, tuple[str, Call]]:
    """E.164 -> (campaign id, its call), read back through the API like the connector does."""
    out: dict[str, tuple[str, Call]] = {}
    client = RevoxClient(API_KEY, sb.url, sleep=lambda s: None)
    try:
        for cid in sb.campaign_contacts():
            for row in client.campaign_rows(cid):
                assert row.call is not None and row.phone_number not in out
                out[row.phone_number] = (cid, row.call)
    finally:
        client.close()
    return out


def check_invariants(r: Runner, status: dict[str, object]) -> None:
    rows = read_csv(r.dir / "leads.csv")
    assert len(rows) == r.next_index, "a row was lost or added"
    keys = [row["Revox ID"] for row in rows]
    assert all(keys) and len(set(keys)) == len(keys), "every row has its own key"

    # nobody called twice, everybody eligible called once
    called = Counter(p for nums in r.sb.campaign_contacts().values() for p in nums)
    assert called and max(called.values()) == 1, called.most_common(3)
    by_phone: dict[str, list[dict[str, str]]] = {}
    bad: list[dict[str, str]] = []
    for row in rows:
        e164, _, _ = parse_phone(row["Phone"], "FR")
        if e164 is None:
            bad.append(row)
        else:
            by_phone.setdefault(e164, []).append(row)
    assert set(called) == set(by_phone), "every valid number reached Revox exactly once"

    # every bad row has its reason, every duplicate is rejected, the first one is final
    for row in bad:
        assert row["Revox status"] == "rejected", row
        assert row["Revox error"].split(":")[0] in ("invalid_phone", "missing_phone"), row
    duplicates = 0
    calls = calls_on_revox(r.sb)
    for e164, same in by_phone.items():
        finals = [row for row in same if row["Revox status"] in FINAL]
        assert len(finals) == 1, (e164, same)
        # once the call ended in do_not_contact, the copy's reason becomes do_not_call
        reasons = ["duplicate_phone: "]
        if finals[0]["Outcome"] in ("do_not_contact", "ai_averse"):
            reasons.append("do_not_call: ")
        for other in same:
            if other is not finals[0]:
                duplicates += 1
                assert other["Revox status"] == "rejected", other
                assert other["Revox error"].startswith(tuple(reasons)), other
        # the finished call's result is in its row
        row = finals[0]
        cid, call = calls[e164]
        att = call.last_call_attempt
        email = (att.structured_output or {}).get("email", "") if att else ""
        assert row["Revox status"] == call.status, (row, call)
        assert row["Revox campaign"] == cid, row
        assert row["Outcome"] == (call.outcome or ""), (row, call)
        assert row["Call summary"] == escaped(call.outcome_summary or ""), (row, call)
        assert row["Attempts"] == str(call.calls_count), (row, call)
        assert row["Email"] == escaped(str(email or "")), (row, call)
        error = ""
        if call.status == "errored":
            error = (att.dial_error or att.end_reason or "errored") if att else "errored"
        assert row["Revox error"] == error, (row, call)
    assert duplicates > 0 and bad

    assert status["outbox"] == 0 and status["open_campaigns"] == 0, status
    assert status["rows"] == {"done": len(by_phone), "rejected": len(bad) + duplicates}, status
    assert r.intents() == 0
    assert os.stat(state_path(r.dir / "state", "t1")).st_mode & 0o777 == 0o600


@pytest.mark.faults
def test_more_than_fifty_kills_over_two_thousand_rows(tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random(20261206)
    with Sandbox(API_KEY, speed=1.0) as sb:
        make_team(tmp_path, initial_rows(), max_contacts=MAX_CONTACTS)
        r = Runner(tmp_path, sb, rng)

        def until_killed(step: Callable[[], int], advance: float) -> None:
            for _ in range(TRIES):
                r.add_rows()
                sb.advance(advance)
                if step() == -signal.SIGKILL:
                    return

        def random_moment() -> int:
            typical = sorted(r.clean_seconds)[len(r.clean_seconds) // 2] if r.clean_seconds else 2
            # within the run: a tick on the sqlite3 store can end before the old 0.9 s floor
            low = min(0.9, 0.5 * typical)
            return r.run(kill_after=rng.uniform(low, max(low + 0.05, 0.95 * typical)))

        # 1. the first write of 2,000 generated keys, killed mid-file
        for fp in KEY_WRITE:
            r.run(fp)
        # 2. every submit step: intent journalled / POST answered / campaign recorded
        for fp in SUBMIT:
            until_killed(partial(r.run, fp), rng.choice([0, 30, 120]))
        # 3. POST /campaigns in flight when we die (the sandbox applies it afterwards)
        for _ in range(IN_FLIGHT_POSTS // 2):
            until_killed(r.run_kill_in_flight_post, 0)
        # 4. polling and writing back results (20 s moves every open call along)
        for fp in POLL_AND_WRITE + AGAIN:
            until_killed(partial(r.run, fp), 20)
        for _ in range(IN_FLIGHT_POSTS - IN_FLIGHT_POSTS // 2):
            until_killed(r.run_kill_in_flight_post, 20)
        # 5. random moments
        for _ in range(RANDOM_KILLS):
            until_killed(random_moment, rng.choice([0, 20, 600]))
        kills = r.killed
        print(f"\nSIGKILLs: {kills} ({dict(r.kinds)}), rows {r.next_index}")
        print("\n".join(f"  {w:<22} rc {rc:>3} {sec:5.2f}s" for w, rc, sec in r.log))
        assert kills >= 50, dict(r.kinds)
        # every failpoint name was actually reached and killed at least once
        names = {fp.split(":")[0] for fp in KEY_WRITE + SUBMIT + POLL_AND_WRITE}
        assert names <= set(r.kinds), dict(r.kinds)
        assert r.kinds["in_flight_post"] >= 4 and r.kinds["random"] >= 10, dict(r.kinds)

        status = run_to_completion(r)
        check_invariants(r, status)
    print(f"crash suite: {time.monotonic() - started:.0f}s")


def test_a_kill_mid_csv_write_leaves_no_stray_temp_file(tmp_path: Path) -> None:
    """The CSV is rewritten through a temp file; one killed mid-write must not stay behind
    (it is a full copy of the team's leads, phone numbers included, in a hidden file)."""
    with Sandbox(API_KEY) as sb:
        make_team(tmp_path, [[f"P{i}", phone(i)] for i in range(30)], max_contacts=10)
        before = (tmp_path / "leads.csv").read_bytes()
        r = Runner(tmp_path, sb, random.Random(1))
        assert r.run("mid_csv_write:15") == -signal.SIGKILL
        assert (tmp_path / "leads.csv").read_bytes() == before  # the old file, whole
        assert r.run() == 0
        stray = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".leads.csv."))
        assert all(row["Revox status"] for row in read_csv(tmp_path / "leads.csv"))
        assert stray == [], stray
