"""A protocol step is applied entirely or not at all, whatever fails under it: another
writer holding the lock, an exception between two writes, a full disk at commit."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.engine import Engine
from connector.errors import StateError
from connector.loading import load_mapping
from connector.revox import RevoxClient
from connector.sandbox import Sandbox
from connector.sources import open_source
from connector.state import StateStore
from connector.state_table import Table
from tests.conftest import API_KEY, Clock, make_team
from tests.test_engine import FR, assert_each_phone_once, posts


def engine(tmp: Path, sb: Sandbox, n: int, busy_timeout: float = 0.5) -> Engine:
    loaded = load_mapping(make_team(tmp, [[f"P{i}", FR[i]] for i in range(n)], max_contacts=4))
    state = StateStore(tmp / "state" / "t1.sqlite", busy_timeout=busy_timeout)
    revox = RevoxClient(API_KEY, sb.url, sleep=lambda s: None, timeout=2.0)
    return Engine(loaded, open_source(loaded, {}), revox, state, clock=Clock())


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(API_KEY, speed=1.0) as s:
        yield s


def hold_write_lock(path: Path, seconds: float) -> threading.Event:
    """Another connection takes the write lock and keeps it for a while."""
    taken = threading.Event()

    def run() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR REPLACE INTO state VALUES ('m:other', '1')")
        taken.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    threading.Thread(target=run, daemon=True).start()
    assert taken.wait(5)
    return taken


def test_a_step_facing_a_held_write_lock_fails_cleanly(tmp_path: Path) -> None:
    p = tmp_path / "t.sqlite"
    with StateStore(p, busy_timeout=0.3) as st:
        st.rows.put("k0", {"state": "done"})
        st.commit()
        hold_write_lock(p, 1.5)
        t0 = time.monotonic()
        with pytest.raises(StateError, match=r"locked by another process.*rolled back"):
            st.batches.put("b1", {"state": "intent"})
        assert time.monotonic() - t0 < 1.2  # the busy timeout, not a hang
        assert not st.in_step
        time.sleep(1.6)
        assert st.batches.get("b1") is None and st.row("k0") == {"state": "done"}
        st.batches.put("b1", {"state": "intent"})  # the lock is free again: the next step works
        st.commit()
    with StateStore(p, readonly=True) as ro:
        assert ro.batches.get("b1") == {"state": "intent"}


def test_a_tick_facing_a_held_write_lock_sends_nothing_then_recovers(
    tmp_path: Path, sb: Sandbox
) -> None:
    e = engine(tmp_path, sb, 10)
    e.state.commit()
    hold_write_lock(e.state.path, 2.0)
    with pytest.raises(StateError, match="locked"):
        e.tick()
    assert posts(sb) == 0  # no intent could be journalled, so nothing was sent
    assert not e.state.in_step
    time.sleep(2.1)
    s = e.tick()
    assert s.submitted == 10 and posts(sb) == 3
    assert_each_phone_once(sb)
    e.state.close()


def test_an_exception_between_two_writes_rolls_the_step_back(
    tmp_path: Path, sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = engine(tmp_path, sb, 6)
    real_put_many = Table.put_many

    def failing_put_many(self: Table, kind: str, records: Any) -> None:
        real_put_many(self, kind, records)
        if kind == "p":  # the first batch's numbers claimed, its intent not yet written
            raise RuntimeError("boom between two writes")

    monkeypatch.setattr(Table, "put_many", failing_put_many)
    with pytest.raises(RuntimeError, match="boom"):
        e.tick()
    monkeypatch.setattr(Table, "put_many", real_put_many)
    assert posts(sb) == 0
    assert e.state.batches.count() == 0 and e.state.owners.count() == 0
    assert all(rec["state"] != "queued" for _, rec in e.state.rows.scan())
    s = e.tick()
    assert s.submitted == 6 and posts(sb) == 2
    assert_each_phone_once(sb)
    e.state.close()


class FullAtCommit:
    """The sqlite3 connection of a store, whose next COMMITs fail as on a full disk."""

    def __init__(self, conn: sqlite3.Connection, failures: int) -> None:
        self.conn, self.failures = conn, failures

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def test_a_commit_failing_on_a_full_disk_fails_the_tick_then_the_next_recovers(
    tmp_path: Path, sb: Sandbox
) -> None:
    e = engine(tmp_path, sb, 10)
    real = e.state._conn
    e.state._conn = FullAtCommit(real, failures=1)  # type: ignore[assignment]
    with pytest.raises(StateError, match=r"disk is full.*rolled back"):
        e.tick()
    assert posts(sb) == 0 and e.state.batches.count() == 0 and not e.state.in_step
    e.state._conn = real
    s = e.tick()
    assert s.submitted == 10 and posts(sb) == 3
    assert_each_phone_once(sb)
    e.state.close()


DISK_FULL = textwrap.dedent("""\
    import json, resource, signal, sys, time
    from pathlib import Path
    from connector.errors import StateError
    from connector.state import StateStore

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    path = Path(sys.argv[1])
    out = {}
    with StateStore(path) as st:
        st.rows.put("before", {"state": "done"})
        st.commit()
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, hard))
        t0 = time.monotonic()
        try:
            for i in range(int(sys.argv[2])):
                st.rows.put(f"big{i}", {"state": "queued", "pad": "x" * 1000})
            st.commit()
            out["error"] = None
        except StateError as exc:
            out["error"] = str(exc)
        out["seconds"] = time.monotonic() - t0
        out["in_step"] = st.in_step
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space is back
        st.rows.put("after", {"state": "done"})
        st.commit()
    with StateStore(path, readonly=True) as ro:
        out["rows"] = sorted(k for k, _ in ro.rows.scan())
    print(json.dumps(out))
    """)


@pytest.mark.parametrize("puts", [400, 3000])  # fails at COMMIT / when the cache spills
def test_a_real_file_size_limit_leaves_no_half_step(tmp_path: Path, puts: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", DISK_FULL, str(tmp_path / "t.sqlite"), str(puts)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["error"] and "disk is full" in out["error"], out
    assert "rolled back" in out["error"] and ("committing" in out["error"]) == (puts == 400)
    assert out["seconds"] < 10 and not out["in_step"]
    assert out["rows"] == ["after", "before"]  # nothing of the failed step
