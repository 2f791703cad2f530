"""Every ``REVOX_SYNC_*`` setting, validated once at start-up.

Why one model: these values used to be parsed where they were used (``float(env.get(...))``
in the daemon, the runtime and the log set-up), so a typo surfaced as a ValueError
traceback at some later moment, or only in the daemon. Reading them all here, before any
command runs, turns a bad value into one line naming the variable, and exit 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from connector.errors import ConfigError
from connector.revox_models import GENERATIONS, Generation

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Settings:
    """The process-wide settings; paths given on the command line win over these."""

    mappings: Path | None = None
    state_dir: Path | None = None
    data_dir: Path | None = None
    post_settle_seconds: float = 120.0
    unhealthy_after: float = 900.0
    stop_timeout: float = 30.0
    workers: int = 8
    log_level: str = "INFO"
    tick_limit: float = 900.0
    api_generation: Generation | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Validate every REVOX_SYNC_* variable; a ConfigError lists every bad one."""
        problems: list[str] = []

        def get(name: str, parse: Callable[[str, str], object], default: object) -> object:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                return parse(name, raw)
            except ValueError as exc:
                problems.append(str(exc))
                return default

        values = {
            "mappings": get("REVOX_SYNC_MAPPINGS", _path, None),
            "state_dir": get("REVOX_SYNC_STATE_DIR", _path, None),
            "data_dir": get("REVOX_SYNC_DATA_DIR", _directory, None),
            "post_settle_seconds": get("REVOX_SYNC_POST_SETTLE_SECONDS", _seconds(0), 120.0),
            "unhealthy_after": get("REVOX_SYNC_UNHEALTHY_AFTER", _seconds(1), 900.0),
            "stop_timeout": get("REVOX_SYNC_STOP_TIMEOUT", _seconds(1), 30.0),
            "workers": get("REVOX_SYNC_WORKERS", _count, 8),
            "log_level": get("REVOX_SYNC_LOG_LEVEL", _level, "INFO"),
            "tick_limit": get("REVOX_SYNC_TICK_LIMIT", _seconds(1), 900.0),
            "api_generation": get("REVOX_API_GENERATION", _generation, None),
        }
        if problems:
            raise ConfigError(problems[0], problems)
        return cls(**values)  # type: ignore[arg-type]


def _generation(name: str, raw: str) -> str:
    value = raw.lower()
    if value not in GENERATIONS:
        raise ValueError(f"{name}: {raw!r} is not a Revox API generation (write seed or current)")
    return value


def _seconds(minimum: float) -> Callable[[str, str], float]:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{name}: {raw!r} is not a number (write seconds, e.g. 120)") from None
        if not math.isfinite(value) or value < minimum:
            raise ValueError(f"{name}: {raw!r} must be a number of seconds >= {minimum:g}")
        return value

    return parse


def _count(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a whole number (write e.g. 8)") from None
    if not 1 <= value <= 256:
        raise ValueError(f"{name}: {raw!r} must be between 1 and 256")
    return value


def _level(name: str, raw: str) -> str:
    if raw.upper() not in LOG_LEVELS:
        raise ValueError(
            f"{name}: {raw!r} is not a log level (write one of {', '.join(LOG_LEVELS)})"
        )
    return raw.upper()


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def _directory(name: str, raw: str) -> Path:
    path = Path(raw)
    if not path.is_dir():
        raise ValueError(f"{name}: {raw!r} is not a directory (create it or fix the path)")
    return path
