"""The new contacts of a read, held until they are submitted, in memory bounded by a page.

A fresh state (the team's first tick, or a state lost) sends nothing before the whole
read has been checked for rows an earlier state submitted (engine.py), so every new
contact of that read waits. A thousand of them wait in memory; beyond that they are
spilled, a thousand at a time, to a private scratch SQLite file, and read back in the
same order a thousand at a time: a million-record first tick holds one page, not a
million contacts.

The scratch file is not the state. SQLite deletes it as soon as it is opened (it has no
name), so it is gone with the process, crash or not, and nothing in it is needed after a
crash: a contact not yet in a committed intent is still new in the source and read again
at the next tick, and the intent journal keeps anyone from being called twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from types import TracebackType

import orjson

from connector.mapping import Contact

CHUNK = 1000  # contacts held in memory, and written to or read from the scratch at a time


class Spill:
    """Contacts in the order added; ``pages()`` hands them back CHUNK at a time."""

    def __init__(self) -> None:
        self._held: list[Contact] = []
        self._db: sqlite3.Connection | None = None
        self._spilled = 0

    def __len__(self) -> int:
        return self._spilled + len(self._held)

    def add(self, contact: Contact) -> None:
        self._held.append(contact)
        if len(self._held) >= CHUNK:
            self._spill()

    def _spill(self) -> None:
        if self._db is None:
            # "": a temporary file of SQLite's own, unlinked once opened; nothing to sync
            self._db = sqlite3.connect("")
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute("CREATE TABLE page (contacts BLOB)")
        page = orjson.dumps(
            [
                (c.key, c.line, c.phone_input, c.to_phone_number, c.prompt_variables)
                for c in self._held
            ]
        )  # one row a page: a thousand contacts in one statement, read back in one
        with self._db:
            self._db.execute("INSERT INTO page VALUES (?)", (page,))
        self._spilled += len(self._held)
        self._held = []

    def pages(self) -> Iterator[list[Contact]]:
        """Every contact in the order added, CHUNK at a time; the scratch file is closed
        (and so gone) once the last page is handed out."""
        if self._db is not None:
            for (page,) in self._db.execute("SELECT contacts FROM page ORDER BY rowid"):
                yield [Contact(*c) for c in orjson.loads(page)]
        held, self._held = self._held, []
        self.close()
        if held:
            yield held

    def close(self) -> None:
        """Drop every contact still held and the scratch file (a tick cut short)."""
        self._held = []
        self._spilled = 0
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Spill:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
