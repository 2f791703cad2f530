"""Progress of a long interactive tick or preview on a terminal: rows read, contacts sent.

Only `sync --once` and `preview` use it, and only when stderr is a terminal; the daemon,
cron and pipes stay quiet. tqdm is imported only then (start-up time of the others).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO, Any

# what happened ("read": rows read so far, "sent": contacts just submitted), how many
ProgressHook = Callable[[str, int], None]
EVERY = 1000  # rows between two reports of the read


class TerminalProgress:
    """Two tqdm bars on stderr: rows read, then contacts submitted in batches."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.bars: dict[str, Any] = {}

    def _bar(self, what: str) -> Any:
        bar = self.bars.get(what)
        if bar is None:
            from tqdm import tqdm  # type: ignore[import-untyped]

            desc, unit = ("rows read", "rows") if what == "read" else ("contacts sent", "contacts")
            bar = tqdm(
                desc=desc, unit=unit, file=self.stream, position=len(self.bars), leave=True,
                mininterval=0.5, dynamic_ncols=True,
            )  # fmt: skip
            self.bars[what] = bar
        return bar

    def __call__(self, what: str, n: int) -> None:
        bar = self._bar(what)
        if what == "read":
            bar.update(n - bar.n)  # n is the count so far
        else:
            bar.update(n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def terminal_progress(stream: IO[str] | None = None) -> TerminalProgress | None:
    """A progress display when the stream (stderr) is a terminal, else None (quiet)."""
    out = stream if stream is not None else sys.stderr
    try:
        tty = out.isatty()
    except (AttributeError, ValueError):
        tty = False
    return TerminalProgress(out) if tty else None
