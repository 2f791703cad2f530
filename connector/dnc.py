"""The do-not-call list of one Revox account, shared by every team on this host.

An opt-out heard by one team (a seed-generation outcome ``do_not_contact``/``ai_averse``,
or the current generation's phone history) must stop the number for every team that calls
through the same account. Teams have their own state files (one owner each), so the list
lives beside them in one small SQLite file per account, named by a hash of the base URL and
the key (the key itself is never written anywhere). Adding a number is idempotent and
committed at once: an opt-out is never rolled back with a team's step.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from connector.errors import ConfigError


def account_id(base_url: str, api_key: str) -> str:
    return hashlib.sha256(f"{base_url.rstrip('/')}\0{api_key}".encode()).hexdigest()[:16]


def _path(state_dir: Path, base_url: str, api_key: str) -> Path:
    return state_dir / f"do-not-call-{account_id(base_url, api_key)}.sqlite"


class DncStore:
    """Numbers never to be submitted again by any team of one account."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        if readonly:
            uri = f"{path.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # a team opens it in one thread and ticks in another; one tick at a time uses it
            self._db = sqlite3.connect(
                path, timeout=10, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS dnc (phone TEXT PRIMARY KEY, team TEXT, "
                "source TEXT, at TEXT)"
            )
            path.chmod(0o600)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"{path}: cannot open the shared do-not-call list: {exc}") from exc

    @classmethod
    def for_account(cls, state_dir: Path, base_url: str, api_key: str) -> DncStore:
        return cls(_path(state_dir, base_url, api_key))

    @classmethod
    def existing(cls, state_dir: Path, base_url: str, api_key: str) -> DncStore | None:
        """The account's list read-only (preview, check), or None when there is none yet."""
        path = _path(state_dir, base_url, api_key)
        return cls(path, readonly=True) if path.exists() else None

    def add_many(self, stops: Iterable[tuple[str, str]], team: str) -> None:
        """Add numbers (phone, what stopped it), committed at once in one transaction."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows = [(phone, team, source, now) for phone, source in stops]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR IGNORE INTO dnc (phone, team, source, at) VALUES (?, ?, ?, ?)", rows
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def which(self, phones: Iterable[str]) -> dict[str, str]:
        """Number -> the team that heard the opt-out, for the numbers on the list."""
        wanted = list(dict.fromkeys(phones))
        out: dict[str, str] = {}
        if not wanted or self._db.execute("SELECT 1 FROM dnc LIMIT 1").fetchone() is None:
            return out  # an empty list: no query per 500 numbers
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT phone, team FROM dnc WHERE phone IN ({marks})"
            out.update({p: t or "" for p, t in self._db.execute(query, chunk)})
        return out

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM dnc").fetchone()[0])

    def close(self) -> None:
        self._db.close()
