"""The in-memory map of settled rows (connector/settled.py) never disagrees with the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import StateError
from connector.state import StateStore


def _store(tmp_path: Path) -> StateStore:
    s = StateStore(tmp_path / "team.sqlite")
    s.rows.put_many(
        [
            ("a", {"state": "done"}),
            ("b", {"state": "queued"}),
            ("c", {"state": "rejected", "reason": "invalid_phone"}),
            ("d", {"state": "submitted"}),
        ]
    )
    s.commit()
    return s


def test_only_settled_rows_with_their_state(tmp_path: Path) -> None:
    s = _store(tmp_path)
    assert s.settled_rows() == {"a": "done", "b": "queued", "d": "submitted"}
    s.close()


def test_own_writes_and_deletes_are_seen_without_a_new_scan(tmp_path: Path) -> None:
    s = _store(tmp_path)
    before = s.settled_rows()
    s.rows.put("c", {"state": "queued"})
    s.rows.put("a", {"state": "failed"})
    s.rows.delete("d")
    s.rows.put_many([("e", {"state": "done"}), ("b", {"state": "rejected"})])
    s.rows.delete_many(["e"])
    assert s.settled_rows() is before  # kept up to date, not scanned again
    assert before == {"c": "queued"}
    s.commit()
    fresh = StateStore(tmp_path / "team.sqlite")
    assert fresh.settled_rows() == {"c": "queued"}  # what the file says
    fresh.close()
    s.close()


def test_another_connections_commit_is_seen(tmp_path: Path) -> None:
    """The CLI (state reconcile, rebuild) or a second process writes between two ticks."""
    s = _store(tmp_path)
    assert s.settled_rows()["a"] == "done"
    other = StateStore(tmp_path / "team.sqlite")
    other.rows.put("a", {"state": "rejected"})
    other.rows.put("c", {"state": "submitted"})
    other.commit()
    other.close()
    assert s.settled_rows() == {"b": "queued", "c": "submitted", "d": "submitted"}
    s.close()


def test_a_rolled_back_step_is_forgotten(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.settled_rows()
    s.rows.put("c", {"state": "queued"})
    s.rows.delete("a")
    assert "c" in s.settled_rows() and "a" not in s.settled_rows()
    s.rollback()
    assert s.settled_rows() == {"a": "done", "b": "queued", "d": "submitted"}
    s.close()


def test_a_failed_write_drops_what_the_step_changed(tmp_path: Path) -> None:
    """A statement that fails rolls the step back (StateError): the map follows the file."""
    s = _store(tmp_path)
    s.settled_rows()
    s.rows.put("c", {"state": "done"})
    with pytest.raises(StateError), s._guard("writing"):
        s._conn.execute("INSERT INTO no_such_table VALUES (1)")
    assert s.settled_rows() == {"a": "done", "b": "queued", "d": "submitted"}
    s.close()
