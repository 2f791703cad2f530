"""The `source:` section of a mapping and the registry that opens an adapter for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from adapters.base import Source
from adapters.csv_file import CsvSource, CsvSourceConfig

if TYPE_CHECKING:
    from connector.config import LoadedMapping

SourceConfig = Annotated[CsvSourceConfig, Field(discriminator="type")]


def _csv(cfg: Any, loaded: LoadedMapping, env: Mapping[str, str]) -> Source:
    return CsvSource(cfg, base_dir=loaded.base_dir)


# source.type -> a function that opens the adapter for one team.
REGISTRY: dict[str, Callable[[Any, LoadedMapping, Mapping[str, str]], Source]] = {
    "csv": _csv,
}


def open_source(loaded: LoadedMapping, env: Mapping[str, str]) -> Source:
    """Open the adapter named by the mapping's source.type."""
    cfg = loaded.mapping.source
    return REGISTRY[cfg.type](cfg, loaded, env)
