"""Interactive progress: rows read and contacts sent on a terminal, nothing otherwise."""

from __future__ import annotations

import io
from pathlib import Path

from connector.engine import Engine
from connector.loading import load_mapping
from connector.progress import terminal_progress
from connector.revox import RevoxClient
from connector.sandbox import Sandbox
from connector.sources import open_source
from connector.state import StateStore
from tests.conftest import API_KEY, make_team


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_when_not_a_terminal() -> None:
    assert terminal_progress(io.StringIO()) is None


def test_a_tick_on_a_terminal_shows_rows_read_and_contacts_sent(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    phones = [f"06 12 34 {i // 100:02d} {i % 100:02d}" for i in range(30)]
    loaded = load_mapping(make_team(tmp_path, [[f"N{i}", p] for i, p in enumerate(phones)]))
    state = StateStore(tmp_path / "state" / "t1.sqlite")
    revox = RevoxClient(API_KEY, sandbox.url, sleep=lambda s: None, timeout=2.0)
    engine = Engine(loaded, open_source(loaded, {}), revox, state)
    screen = Terminal()
    progress = terminal_progress(screen)
    assert progress is not None
    engine.show_progress(progress)
    try:
        s = engine.tick()
    finally:
        progress.close()
        state.close()
    assert s.submitted == 30
    text = screen.getvalue()
    assert "rows read: 30" in text and "contacts sent: 30" in text, text
