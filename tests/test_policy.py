"""The row-control policies alone: durations, calling windows, cross-team dedupe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.callbacks import elsewhere
from connector.journal import campaign_name, marker
from connector.loading import load_mapping
from connector.mapping import Contact
from connector.policy import Callbacks, Control, Window, span
from connector.revox import PhoneHistoryEntry
from tests.conftest import make_team

FRIDAY_17 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def test_span_and_control_values() -> None:
    assert span("30d") == timedelta(days=30) and span("2h") == timedelta(hours=2)
    with pytest.raises(ValueError):
        span("2 weeks")
    ctl = Control(column="Action")
    assert ctl.says(" Don\u2019t  Call ") == "stop" and ctl.says("CALL AGAIN") == "again"
    assert ctl.says("") is None and ctl.says("maybe") is None


def test_callback_due_moves_into_the_window() -> None:
    w = Window(start="09:00", end="18:00", timezone="UTC")
    cb = Callbacks(after="2h", max=2, window=w)
    due = cb.due(FRIDAY_17, None)  # 19:00 Friday: outside; next opening is Monday 09:00
    assert due == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    asked = cb.due(FRIDAY_17, "2026-12-01T10:30:00+00:00")
    assert asked == datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    assert cb.due(FRIDAY_17, "not a time") == due
    assert w.contains(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    assert not w.contains(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))  # Saturday


def test_another_teams_recent_call_is_named(tmp_path: Path) -> None:
    path = make_team(tmp_path, [["A", "06 12 34 56 78"]])
    path.write_text(
        path.read_text().replace(
            "  default_region: FR\n", "  default_region: FR\n  dedupe: {within: 30d}\n"
        )
    )
    m = load_mapping(path).mapping
    theirs = campaign_name(marker("other-team", "ab" * 8), "Other team #1")
    ours = campaign_name(marker("t1", "cd" * 8), "t1 #1")
    recent = (FRIDAY_17 - timedelta(days=3)).isoformat()
    old = (FRIDAY_17 - timedelta(days=40)).isoformat()
    history = {
        "+33600000001": PhoneHistoryEntry(
            last_called_at=recent, campaigns=[{"id": "c1", "name": theirs}]
        ),
        "+33600000002": PhoneHistoryEntry(
            last_called_at=recent, campaigns=[{"id": "c2", "name": ours}]
        ),
        "+33600000003": PhoneHistoryEntry(
            last_called_at=old, campaigns=[{"id": "c3", "name": theirs}]
        ),
    }
    news = [Contact(f"k{i}", i, "", f"+3360000000{i}", {}) for i in (1, 2, 3)]
    out = elsewhere(m, history, news, FRIDAY_17)
    assert list(out) == ["k1"]
    assert "Other team #1" in out["k1"].message and out["k1"].reason == "duplicate_phone"
