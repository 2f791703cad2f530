"""The state file as a file: errors around its statements, a damaged file, where it lives.

Split from ``state.py`` (the store and its transactions): what happens to the file on disk
when SQLite or the OS refuses, and how a damaged one is recognised and moved aside.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from connector.errors import ConfigError, StateError

if TYPE_CHECKING:
    from connector.state import StateStore

TABLE = "state"


class Guard:
    """Around one store call: any sqlite3 or OS error rolls back the open step and becomes
    a StateError that says what failed, where, and that nothing of the step was kept."""

    def __init__(self, store: StateStore, what: str) -> None:
        self.store, self.what = store, what

    def __enter__(self) -> None:
        # SQLite rolls back by itself on some errors (I/O): remember whether a step was open
        self.had_step = self.store.in_step or self.what != "reading"

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or not isinstance(exc, sqlite3.Error | OSError):
            return
        self.store.rollback()
        raise StateError(describe(self.store.path, self.what, exc, self.had_step)) from exc


def describe(path: Path, what: str, exc: BaseException, had_step: bool) -> str:
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        why = (
            "the state file is locked by another process (is another revox-sync working "
            "on this team?)"
        )
    elif "full" in low or "too big" in low or "file size" in low:
        why = "the disk is full or a file size limit was reached (free some space)"
    elif "disk i/o" in low:
        why = f"cannot write to the disk ({text}: the disk is full, a file size limit was hit "
        why += "or the device fails)"
    else:
        why = text
    rolled = "; the step in progress was rolled back" if had_step else ""
    return f"state {path}: {what} failed: {why}{rolled}; the next tick starts again from there"


def check_file(path: Path) -> None:
    """Refuse a damaged state file with a clear message before anything else reads it."""
    if path.stat().st_size == 0:
        return  # just created
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if TABLE in tables:
                conn.execute(f'SELECT key FROM "{TABLE}" LIMIT 1').fetchall()
                row = conn.execute(
                    f"SELECT value FROM \"{TABLE}\" WHERE key = 'm:schema'"
                ).fetchone()
                if row is not None:
                    json.loads(row[0])
    except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
        raise DamagedStateError(
            f"{path}: the state file is damaged ({exc}); refusing to run this team rather than "
            f"call anyone twice. Run `revox-sync state rebuild TEAM`: it moves the file aside"
        ) from exc


class DamagedStateError(ConfigError):
    """The state file cannot be read as a state: `state rebuild` moves it aside."""


def move_aside(path: Path) -> Path:
    """Rename a damaged state file (and its WAL files) to ``NAME.damaged-<UTC time>``, kept
    for inspection; the next open starts an empty state."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    path.rename(target)
    return target


def state_path(state_dir: Path, team: str) -> Path:
    """Where a team's state file lives."""
    return state_dir / f"{team}.sqlite"
