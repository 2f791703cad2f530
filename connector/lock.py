"""One owner per team: ``STATE_DIR/TEAM.lock``, an exclusive ``flock``.

Two processes working on one team (the daemon and an operator's ``sync --once``, the main
unit and ``revox-sync@TEAM`` both enabled) would each submit the same new rows: a phone in
two campaigns. Whoever takes a team's lock first works on it; the other one touches
nothing and says who holds it. ``flock`` is released by the kernel when its holder dies,
so a SIGKILLed process never leaves a stale lock behind; the file itself is never deleted
(deleting a lock file lets a third process lock a new file while the second still holds
the old one).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from connector.errors import TeamBusy

__all__ = ["TeamBusy", "TeamLock", "lock_path"]


def lock_path(state_dir: Path, team: str) -> Path:
    """Where a team's lock file lives, beside its state file."""
    return state_dir / f"{team}.lock"


class TeamLock:
    """The exclusive lock of one team, taken without waiting; a context manager.

    The file says who holds it (``pid N (command, started at ...)``) so that the loser's
    message names the holder.
    """

    def __init__(self, state_dir: Path, team: str, command: str | None = None) -> None:
        self.path = lock_path(state_dir, team)
        self.team = team
        self.command = command or " ".join(os.path.basename(a) for a in sys.argv[:3])
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> TeamLock:
        """Take the lock or raise TeamBusy naming the holder."""
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise TeamBusy(f"team {self.team} is busy: held by {holder}") from None
        except BaseException:
            os.close(fd)
            raise
        started = datetime.now(UTC).isoformat(timespec="seconds")
        text = f"pid {os.getpid()} ({self.command}, started at {started})\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)  # nobody holds it: a later loser must not name us
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> TeamLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    """What the holder wrote; empty for a moment right after it took the lock."""
    for _ in range(5):  # the winner writes its line just after taking the lock
        text = os.pread(fd, 300, 0).decode("utf-8", "replace").strip()
        if text:
            return text
        time.sleep(0.02)
    return "another process (starting)"
