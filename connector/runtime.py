"""Building one team's engine from its mapping, the state directory and the environment.

Shared by the CLI (one tick) and the daemon (one engine per team, kept across ticks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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

    @property
    def name(self) -> str:
        return self.loaded.mapping.team

    def close(self) -> None:
        if self.engine.journal.dnc is not None:
            self.engine.journal.dnc.close()
        self.engine.state.close()
        self.engine.revox.close()
        self.engine.source.close()


def open_team(loaded: LoadedMapping, state_dir: Path, env: Mapping[str, str]) -> Team:
    """Open the source, the Revox client and the state of one team."""
    revox = revox_client(env)
    source = open_source(loaded, env)
    state = StateStore(state_path(state_dir, loaded.mapping.team))
    settings = Settings.from_env(env)
    base_url = env.get("REVOX_BASE_URL") or DEFAULT_BASE_URL
    dnc = DncStore.for_account(state_dir, base_url, env.get("REVOX_API_KEY", ""))
    engine = Engine(
        loaded,
        source,
        revox,
        state,
        settle_seconds=settings.post_settle_seconds,
        generation=settings.api_generation,
        dnc=dnc,
    )
    return Team(loaded, engine)
