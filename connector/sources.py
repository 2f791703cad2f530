"""Open a team's source: the registered plug-in for its ``source.type``, given a context.

The plug-ins and their registry live in ``adapters`` (``adapters.SOURCES``); this module
only knows how a loaded mapping becomes a ``SourceContext``, which needs both the mapping
file (where it lies, its line numbers) and the columns it reads and writes.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters import SourceContext, plugin_for
from adapters.base import Source
from connector.config import LoadedMapping
from connector.mapping import columns_read


def source_context(loaded: LoadedMapping, env: Mapping[str, str]) -> SourceContext:
    """Everything a source may know about its team besides its own ``source:`` block."""
    m = loaded.mapping
    targets = m.write_back.targets()
    # the status column is read too: a lost state is recognised from it (engine._read)
    reads = [*columns_read(m), *([targets["status"]] if "status" in targets else [])]
    writes = [*targets.values(), *m.write_back.structured_output.values()]
    return SourceContext(
        base_dir=loaded.base_dir,
        env=env,
        data_dir=loaded.data_dir,
        reads=tuple(dict.fromkeys(reads)),
        writes=tuple(dict.fromkeys(writes)),
        locate=loaded.locate if loaded.lines else None,
    )


def open_source(loaded: LoadedMapping, env: Mapping[str, str]) -> Source:
    """Open the adapter named by the mapping's source.type."""
    cfg = loaded.mapping.source
    return plugin_for(cfg).from_config(cfg, source_context(loaded, env))
