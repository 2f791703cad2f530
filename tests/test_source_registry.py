"""The source registry: every derived list (config union, schema, metrics labels) follows it,
and every source counts the requests it sends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import get_args

from adapters import SOURCES
from adapters.google_sheets import GoogleSheetsSource, GoogleSheetsSourceConfig
from adapters.plugin import SourceContext
from connector.loading import json_schema
from connector.metrics import Metrics
from connector.summary import TickError
from emulators.sheets import SheetsEmulator

SID = "1RevoxTestSheet_0123456789"


def test_each_key_is_its_config_type() -> None:
    for name, plugin in SOURCES.items():
        assert get_args(plugin.config_model.model_fields["type"].annotation) == (name,)


def test_schema_offers_every_registered_type() -> None:
    schema = json_schema()
    types = {
        d["properties"]["type"]["const"]
        for d in schema["$defs"].values()
        if "type" in d.get("properties", {}) and "const" in d["properties"]["type"]
    }
    assert set(SOURCES) <= types


def test_metrics_label_every_registered_source() -> None:
    """A tick error carries its service (the mapping's source type): no message parsing."""
    m = Metrics()
    for name in SOURCES:
        m.observe_errors("t1", [TickError("write_back", name, "refused", 503)])
    text = m.render()[0].decode()
    for name in SOURCES:
        assert f'service="{name}",status="503"' in text or f'status="503",service="{name}"' in text


def test_config_does_not_import_sources_or_mapping() -> None:
    """The config <-> sources <-> mapping circle is gone: config needs only the registry."""
    code = (
        "import sys, connector.config; "
        "print(sorted(m for m in ('connector.sources', 'connector.mapping') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sheets_source_counts_its_requests_into_the_metric() -> None:
    with SheetsEmulator() as emu:
        emu.add_spreadsheet(SID, {"Leads": [["Name", "Phone", "Revox ID"], ["Ann", "1", "k1"]]})
        cfg = GoogleSheetsSourceConfig(type="google_sheets", spreadsheet=SID)
        ctx = SourceContext(base_dir=Path(), env={"SHEETS_EMULATOR_HOST": emu.host})
        source = GoogleSheetsSource.from_config(cfg, ctx)
        engine = SimpleNamespace(revox=SimpleNamespace(requests=0), source=source)
        metrics = Metrics()
        with metrics.counting_requests("t1", engine, "google_sheets"):  # type: ignore[arg-type]
            rows = list(source.read_rows())
        source.close()
    sent = emu.calls(path="^/v4/")
    assert [r.key for r in rows] == ["k1"]
    assert source.requests == len(sent) > 0
    labels = {"team": "t1", "service": "google_sheets"}
    assert metrics.registry.get_sample_value("revox_sync_api_requests_total", labels) == len(sent)
