"""The `source:` section of a mapping and the registry that opens an adapter for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from adapters.base import Source
from adapters.csv_file import CsvSource, CsvSourceConfig
from adapters.google_sheets_config import GoogleSheetsSourceConfig
from adapters.salesforce_config import SalesforceSourceConfig

if TYPE_CHECKING:
    from connector.config import LoadedMapping

SourceConfig = Annotated[
    CsvSourceConfig | GoogleSheetsSourceConfig | SalesforceSourceConfig,
    Field(discriminator="type"),
]


def _csv(cfg: Any, loaded: LoadedMapping, env: Mapping[str, str]) -> Source:
    origin = loaded.locate("source", "path") if loaded.lines else None
    return CsvSource(cfg, base_dir=loaded.base_dir, origin=origin)


def _sheets(cfg: Any, loaded: LoadedMapping, env: Mapping[str, str]) -> Source:
    from adapters.google_sheets import GoogleSheetsSource  # gspread: only when used

    return GoogleSheetsSource(
        cfg, env=env, credentials_file=env.get("GOOGLE_APPLICATION_CREDENTIALS")
    )


def _salesforce(cfg: Any, loaded: LoadedMapping, env: Mapping[str, str]) -> Source:
    from adapters.salesforce import SalesforceSource  # simple-salesforce: only when used
    from connector.mapping import columns_read

    m = loaded.mapping
    written = [*m.write_back.targets().values(), *m.write_back.structured_output.values()]
    # the status field is read too: a lost state is recognised from it (engine._read)
    status = [m.write_back.targets()["status"]] if "status" in m.write_back.targets() else []
    return SalesforceSource(cfg, env=env, fields=columns_read(m) + status, write_fields=written)


# source.type -> a function that opens the adapter for one team.
REGISTRY: dict[str, Callable[[Any, LoadedMapping, Mapping[str, str]], Source]] = {
    "csv": _csv,
    "google_sheets": _sheets,
    "salesforce": _salesforce,
}


def open_source(loaded: LoadedMapping, env: Mapping[str, str]) -> Source:
    """Open the adapter named by the mapping's source.type."""
    cfg = loaded.mapping.source
    return REGISTRY[cfg.type](cfg, loaded, env)
