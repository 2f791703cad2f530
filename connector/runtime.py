"""Building one team's engine from its mapping, the state directory and the environment.

Shared by the CLI (one tick, a preview, a check, a demo) and the daemon (one engine per
team, kept across ticks): ``open_team`` is the only place an engine is put together.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from connector.config import LoadedMapping
from connector.dnc import DncStore
from connector.engine import Engine
from connector.errors import ConfigError
from connector.revox import DEFAULT_BASE_URL, RevoxClient
from connector.settings import Settings
from connector.sources import open_source
from connector.state import StateStore, state_path


def revox_client(env: Mapping[str, str]) -> RevoxClient:
    """The Revox client from REVOX_API_KEY and REVOX_BASE_URL."""
    key = env.get("REVOX_API_KEY", "")
    if not key:
        raise ConfigError("REVOX_API_KEY is not set (put it in the environment file)")
    return RevoxClient(key, env.get("REVOX_BASE_URL") or DEFAULT_BASE_URL)


@dataclass
class Team:
    """An engine and everything it holds open."""

    loaded: LoadedMapping
    engine: Engine
    scratch: tempfile.TemporaryDirectory[str] | None = None  # an offline engine's empty state

    @property
    def name(self) -> str:
        return self.loaded.mapping.team

    def close(self) -> None:
        if self.engine.journal.dnc is not None:
            self.engine.journal.dnc.close()
        self.engine.state.close()
        self.engine.revox.close()
        self.engine.source.close()
        if self.scratch is not None:
            self.scratch.cleanup()


_GC_TUNED = False


def _tune_gc() -> None:
    """Once per process, when the first team opens: everything loaded so far (modules,
    the phone metadata, the mappings) lives as long as the process, so it is moved out of
    the collector's sight (gc.freeze), and the youngest generation is collected every
    10,000 allocations instead of 700. A tick allocates millions of short-lived objects;
    with the defaults the collector walked the live rows over and over (about a tenth of
    a 100k-row tick's CPU; peak memory the same within 3 MB, BENCHMARKS.md)."""
    global _GC_TUNED
    if _GC_TUNED:
        return
    _GC_TUNED = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _offline_transport(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"an offline engine sent {request.method} {request.url.path}")


def open_team(
    loaded: LoadedMapping, state_dir: Path, env: Mapping[str, str], *, offline: bool = False
) -> Team:
    """The one way an engine is built: `sync`, `state`, `run` and `demo` (online), `preview`,
    `check` and `sync --dry-run` (offline: nothing is sent to Revox and no state is written;
    the team's state and do-not-call list are read when they exist)."""
    source = open_source(loaded, env)
    settings = Settings.from_env(env)
    base_url = env.get("REVOX_BASE_URL") or DEFAULT_BASE_URL
    key = env.get("REVOX_API_KEY", "")
    path = state_path(state_dir, loaded.mapping.team)
    scratch = None
    if not offline:
        revox = revox_client(env)
        state = StateStore(path)
        dnc: DncStore | None = DncStore.for_account(state_dir, base_url, key)
    else:
        revox = RevoxClient("-", "http://offline.invalid", transport=httpx.MockTransport(
            _offline_transport))  # fmt: skip
        if path.exists():
            state = StateStore(path, readonly=True)
        else:
            scratch = tempfile.TemporaryDirectory()
            state = StateStore(Path(scratch.name) / "empty.sqlite")
        dnc = DncStore.existing(state_dir, base_url, key) if key else None
    engine = Engine(
        loaded,
        source,
        revox,
        state,
        settle_seconds=settings.post_settle_seconds,
        generation=settings.api_generation,
        dnc=dnc,
    )
    _tune_gc()
    return Team(loaded, engine, scratch)
