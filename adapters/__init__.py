"""Sources of rows, and the registry that names them.

``SOURCES`` maps a mapping's ``source.type`` to the plug-in class that reads that kind of
source (see ``adapters.plugin`` for what a plug-in provides, and docs/adding-a-source.md).
The mapping's config union, its JSON Schema, the metrics ``service`` label (the type) and ``check``
are all derived from this dict: registering a source here is the only edit outside its
own module(s).
"""

from __future__ import annotations

from adapters.csv_file import CsvSource
from adapters.google_sheets import GoogleSheetsSource
from adapters.plugin import SourceConfigBase, SourceContext, SourcePlugin
from adapters.salesforce import SalesforceSource
from adapters.sqlite_table import SqliteSource

SOURCES: dict[str, type[SourcePlugin]] = {
    "csv": CsvSource,
    "google_sheets": GoogleSheetsSource,
    "salesforce": SalesforceSource,
    "sqlite": SqliteSource,
}


def plugin_for(config: SourceConfigBase) -> type[SourcePlugin]:
    """The plug-in class of a validated ``source:`` block."""
    return SOURCES[config.type]


def config_models() -> tuple[type[SourceConfigBase], ...]:
    """Every registered ``source:`` model, in registry order (for the mapping's union)."""
    return tuple(plugin.config_model for plugin in SOURCES.values())


__all__ = [
    "SOURCES",
    "SourceConfigBase",
    "SourceContext",
    "SourcePlugin",
    "config_models",
    "plugin_for",
]
