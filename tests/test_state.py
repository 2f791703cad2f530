"""The state store alone: JSON on disk, atomic commits, prefix scans, read-only access."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.state import SCHEMA_VERSION, StateStore


def test_file_is_private_and_json(tmp_path: Path) -> None:
    p = tmp_path / "s" / "team.sqlite"
    with StateStore(p) as st:
        st.rows.put("k1", {"state": "queued", "phone": "+33612345678"})
        st.commit()
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    raw = sqlite3.connect(p).execute("SELECT key, value FROM state ORDER BY key").fetchall()
    assert ("r:k1", '{"phone":"+33612345678","state":"queued"}') in raw
    assert ("m:schema", str(SCHEMA_VERSION)) in raw  # JSON text, never a pickle


def test_uncommitted_changes_are_lost_on_crash(tmp_path: Path) -> None:
    p = tmp_path / "t.sqlite"
    st = StateStore(p)
    st.batches.put("batch1", {"state": "intent"})
    st.commit()
    st.rows.put("k1", {"state": "queued"})  # never committed: as if the process died here
    with StateStore(p, readonly=True) as ro:
        assert ro.batches.get("batch1") == {"state": "intent"}
        assert ro.row("k1") is None
    st._conn.close()  # no rollback, no commit: what a SIGKILL leaves
    with StateStore(p) as again:
        assert again.row("k1") is None


def test_scan_is_per_prefix_and_sees_own_writes(tmp_path: Path) -> None:
    with StateStore(tmp_path / "t.sqlite") as st:
        for k in ("b", "a", "c"):
            st.rows.put(k, {"state": "x"})
        st.campaigns.put("camp", {"state": "open"})
        st.table.put("rr", "other", {"state": "y"})  # another kind with a similar prefix
        assert [k for k, _ in st.rows.scan()] == ["a", "b", "c"]
        assert st.rows.count() == 3 and st.campaigns.count() == 1
        st.rows.delete("b")
        assert st.rows.count() == 2


def test_outbox_merges_cells(tmp_path: Path) -> None:
    with StateStore(tmp_path / "t.sqlite") as st:
        st.queue_writes({"k1": {"Status": "submitted", "Campaign": "c1"}, "k2": {"S": "x"}})
        waiting = st.outbox.get("k1")
        assert waiting is not None
        waiting.update(attempts=3, error="locked", parked="abc", line=4)
        st.outbox.put("k1", waiting)  # an entry the source refused, kept
        st.queue_writes({"k1": {"Status": "completed", "Outcome": 'say "hi"\n\u00e9'}})
        rec = st.outbox.get("k1")
        assert rec is not None
        assert rec["values"] == {
            "Status": "completed",
            "Campaign": "c1",
            "Outcome": 'say "hi"\n\u00e9',
        }
        assert (rec["line"], rec["attempts"], rec["error"], rec["parked"]) == (
            4,
            3,
            "locked",
            "abc",
        )
        assert st.outbox.get("k2") == {
            "values": {"S": "x"},
            "line": None,
            "attempts": 0,
            "error": None,
        }


def test_dnc_phone_index_and_counts(tmp_path: Path) -> None:
    with StateStore(tmp_path / "t.sqlite") as st:
        st.opt_outs.put("+33612345678", {"outcome": "do_not_contact"})
        st.owners.put("+33623456789", {"key": "k9"})
        st.rows.put("k1", {"state": "done"})
        st.rows.put("k2", {"state": "done"})
        st.rows.put("k3", {"state": "rejected"})
        assert st.is_dnc("+33612345678") and not st.is_dnc("+33623456789")
        assert st.phone_owner("+33623456789") == "k9"
        assert st.row_counts() == {"done": 2, "rejected": 1}
        st.set_meta("batch_seq", 4)
        assert st.meta("batch_seq") == 4 and st.meta("nothing", "d") == "d"


def test_readonly_needs_an_existing_file_and_newer_schema_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no state yet"):
        StateStore(tmp_path / "none.sqlite", readonly=True)
    p = tmp_path / "t.sqlite"
    with StateStore(p) as st:
        st.set_meta("schema", SCHEMA_VERSION + 1)
        st.commit()
    with pytest.raises(ConfigError, match="newer revox-sync"):
        StateStore(p)


def test_reader_while_writer_holds_uncommitted_changes(tmp_path: Path) -> None:
    p = tmp_path / "t.sqlite"
    with StateStore(p) as w:
        w.rows.put("k1", {"state": "done"})
        w.commit()
        w.rows.put("k2", {"state": "queued"})
        with StateStore(p, readonly=True) as r:
            assert r.row_counts() == {"done": 1}


def test_a_v1_file_written_by_sqlitedict_opens_and_is_migrated(tmp_path: Path) -> None:
    p = tmp_path / "old.sqlite"
    with sqlite3.connect(p) as conn:  # the layout sqlitedict wrote
        conn.execute('CREATE TABLE "state" (key TEXT PRIMARY KEY, value BLOB)')
        conn.execute("INSERT INTO state VALUES ('m:schema', '1')")
        conn.execute("""INSERT INTO state VALUES ('r:k1', '{"state":"done"}')""")
    conn.close()
    with StateStore(p, readonly=True) as ro:  # read-only: looked at, never migrated
        assert ro.meta("schema") == 1 and ro.row("k1") == {"state": "done"}
    with StateStore(p) as st:
        assert st.meta("schema") == SCHEMA_VERSION == 2
        assert st.row("k1") == {"state": "done"}


def test_rollback_drops_the_open_step_only(tmp_path: Path) -> None:
    with StateStore(tmp_path / "t.sqlite") as st:
        st.rows.put("k1", {"state": "queued"})
        st.commit()
        st.rows.put("k1", {"state": "submitted"})
        st.rows.put("k2", {"state": "queued"})
        assert st.in_step
        st.rollback()
        assert not st.in_step
        assert st.row("k1") == {"state": "queued"} and st.row("k2") is None
