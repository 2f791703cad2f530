"""The outbox is written back to Salesforce page by page (``write_page``), each page
acknowledged and committed before the next is read: a million-record first tick holds one
page of pending cells, not every one (the attribute was once lost in a merge)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.salesforce import SalesforceSource
from connector.loading import load_mapping
from connector.outbox import Outbox
from connector.sources import open_source
from connector.state import StateStore
from connector.summary import TickSummary
from emulators.salesforce import SalesforceEmulator
from tests.conftest import team_mapping
from tests.test_e2e_sources import sf_env

YAML = team_mapping(
    "sf-team",
    {"type": "salesforce", "object": "Lead", "where": "Company = 'Acme'"},
    write_back="fields: {status: Revox_Status__c}",
)


def test_the_outbox_reaches_salesforce_a_page_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert SalesforceSource.write_page == 5000  # 25 requests of 200 records a page
    monkeypatch.setattr(SalesforceSource, "write_page", 5)
    path = tmp_path / "team.yaml"
    path.write_text(YAML)
    loaded = load_mapping(path)
    with SalesforceEmulator() as emu, StateStore(tmp_path / "t.sqlite") as state:
        emu.add_field("Lead", "Revox_Status__c")
        rows = [{"LastName": f"L{i}", "Company": "Acme", "Phone": "0612345678"} for i in range(12)]
        ids: list[str] = emu.add_records("Lead", rows)
        source = open_source(loaded, sf_env(emu))
        try:
            state.queue_writes({k: {"Revox_Status__c": "queued"} for k in ids})
            state.commit()
            s = TickSummary("sf-team")
            Outbox(loaded.mapping, state).flush(source, s)
        finally:
            source.close()
        assert not s.errors and state.outbox.count() == 0
        # 12 rows in pages of 5: three write_back calls, one request each (not one of 12)
        patches = emu.calls("PATCH", r"/composite/sobjects$")
        sizes = [len(json.loads(r.body)["records"]) for r in patches]
        assert sizes == [5, 5, 2]
        assert {r.get("Revox_Status__c") for r in emu.records("Lead")} == {"queued"}
