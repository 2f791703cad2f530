"""Crash points for the crash tests: ``REVOX_SYNC_FAILPOINT=name[:n]`` kills the process
with SIGKILL the n-th time (default 1st) execution reaches ``hit(name)``.

Unset (always, outside the tests), ``hit`` is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_seen: dict[str, int] = {}


def armed() -> bool:
    """Whether a crash point is set: a hot loop looks once, then calls hit() per item."""
    return bool(os.environ.get("REVOX_SYNC_FAILPOINT"))


def hit(name: str) -> None:
    spec = os.environ.get("REVOX_SYNC_FAILPOINT")
    if not spec:
        return
    want, _, nth = spec.partition(":")
    if want != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
