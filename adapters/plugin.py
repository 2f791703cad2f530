"""What a source plug-in is: one class, built the same way for every `source.type`.

A plug-in is a ``Source`` (``adapters.base``) that also says how it is configured and built:

- ``config_model``: the pydantic model of its ``source:`` block, whose ``type`` is a Literal
  equal to its key in ``adapters.SOURCES``; the mapping's union and JSON Schema are made of
  these models, so a new source appears in ``revox-sync schema`` by being registered.
- ``from_config(config, ctx)``: the one constructor the daemon, ``check``, ``preview`` and
  ``demo`` call. Everything it needs beyond its block comes in a ``SourceContext``.
- ``identity(config, ctx)``: what makes two mappings read the same rows (one team per
  source). It runs when the mapping is loaded, so it is also where a source refuses a path
  outside the folders it may read.
- ``requests``: HTTP requests sent so far, read before and after a tick for
  ``revox_sync_api_requests_total``; a local file or database sends none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from adapters.base import Source
from connector.errors import ConfigError


class SourceConfigBase(BaseModel):
    """Every ``source:`` block: unknown keys refused, ``type`` narrowed by each plug-in."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str


@dataclass(frozen=True)
class SourceContext:
    """What a source may know beyond its own block: never the Revox client or the state.

    env: the process environment (credentials, emulator hosts), passed in, never read
    from ``os.environ``. base_dir: the mapping file's folder, where relative paths start.
    data_dir: the --data-dir an operator allowed besides it. reads / writes: the columns
    (or fields) the mapping reads and writes, for sources that must name them in a query.
    locate: field path -> ``FILE:LINE: source.path`` for errors the mapping's author fixes.
    """

    base_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    data_dir: Path | None = None
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    locate: Callable[..., str] | None = None

    def where(self, *field_path: str) -> str:
        """``FILE:LINE: source.<field>`` when the mapping file is known, else the field path."""
        if self.locate is not None:
            return self.locate("source", *field_path)
        return ".".join(("source", *field_path))

    def confined(self, relative: str, *field_path: str) -> Path:
        """``relative`` resolved against the mapping's folder, refused when it lies outside
        that folder and the --data-dir: a mapping is not a way to make the service read
        (and quote in errors) any file it can reach. Symlinks are resolved first."""
        target = (self.base_dir / relative).resolve()
        roots = [self.base_dir.resolve(), *([self.data_dir.resolve()] if self.data_dir else [])]
        if any(target.is_relative_to(root) for root in roots):
            return target
        allowed = " or ".join(str(r) for r in roots)
        raise ConfigError(
            f"{self.where(*field_path)}: {relative!r} is outside {allowed} (move the file "
            "beside the mapping, or start revox-sync with --data-dir / REVOX_SYNC_DATA_DIR)"
        )


class SourcePlugin(Source, Protocol):
    """A ``Source`` class that the registry can build from a mapping's ``source:`` block."""

    config_model: ClassVar[type[SourceConfigBase]]

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (retries and logins included); 0 for local sources."""
        ...

    @classmethod
    def from_config(cls, config: Any, ctx: SourceContext) -> Source:
        """Open the source for one team (no request is sent before the first read)."""
        ...

    @classmethod
    def identity(cls, config: Any, ctx: SourceContext) -> tuple[str, ...]:
        """The rows it reads, as text (a resolved path, a sheet id); ConfigError if refused."""
        ...
