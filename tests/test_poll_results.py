"""Where a poll keeps what it wrote: per campaign, a digest of each row's cells (``results``
in the campaign's record). A poll that only moves calls along writes cells, not row
records; a row's record changes when its call ends. A state written before these digests
existed keeps them in each row's record, and a poll reading the same result again does
not write it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.records import Record
from connector.sandbox import Sandbox
from connector.state_file import TABLE
from connector.state_table import Table
from tests.conftest import API_KEY, Clock, fr, make_team, open_engine, read_csv


def _rows_table(engine: object) -> dict[str, str]:
    """Every row record as stored (its JSON text), by key."""
    conn = engine.state._conn  # type: ignore[attr-defined]
    query = f"SELECT key, value FROM \"{TABLE}\" WHERE key LIKE 'r:%'"
    return {k: v for k, v in conn.execute(query)}


def test_a_poll_that_moves_calls_along_rewrites_no_row_record(tmp_path: Path) -> None:
    rows = [[f"N{i}", fr(i)] for i in range(12)]
    make_team(tmp_path, rows, campaign_extra="  max_concurrent_calls: 2")
    sb = Sandbox(API_KEY, clock=lambda: 0.0)
    sb.start()
    engine = open_engine(tmp_path, sb, Clock())
    try:
        first = engine.tick()
        assert first.submitted == 12 and first.results_written == 12  # calling or queued
        ((_cid, crec),) = list(engine.state.campaigns.scan())
        assert len(crec["results"]) == 12 and all(crec["results"])
        records = _rows_table(engine)
        assert all('"result"' not in v for v in records.values())
        sb.advance(5.0)  # the first two calls are still calling: nothing changed
        assert engine.tick().results_written == 0
        sb.advance(40.0)  # the first two calls ended, the next two are dialing
        moved = engine.tick()
        assert moved.results_written == 4
        statuses = [r["Revox status"] for r in read_csv(tmp_path / "leads.csv")]
        assert statuses[2:4] == ["calling", "calling"]
        assert statuses[:2] == ["errored", "completed"]
        now = _rows_table(engine)
        ended = {k for k, v in now.items() if '"state":"done"' in v}
        assert len(ended) == 2
        # only the two rows whose call ended were rewritten (now done)
        assert {k: v for k, v in now.items() if k not in ended} == {
            k: v for k, v in records.items() if k not in ended
        }
    finally:
        engine.state.close()
        sb.stop()


def test_digests_kept_in_row_records_by_an_older_state_still_count(tmp_path: Path) -> None:
    make_team(tmp_path, [[f"N{i}", fr(i)] for i in range(6)])
    sb = Sandbox(API_KEY, clock=lambda: 0.0)
    sb.start()
    engine = open_engine(tmp_path, sb, Clock())
    try:
        engine.tick()
        ((cid, crec),) = list(engine.state.campaigns.scan())
        # as the previous release left it: each row's digest in its record, none in the
        # campaign's, and a poll signature that forces the rows to be read again
        keys = crec["keys"]
        rows = engine.state.rows.get_many(keys)
        engine.state.rows.put_many(
            (k, {**rows[k], "result": d}) for k, d in zip(keys, crec["results"], strict=True)
        )
        for field in ("results", "seen", "pages"):
            crec.pop(field, None)  # type: ignore[misc]
        crec["sig"] = None
        engine.state.campaigns.put(cid, crec)
        engine.state.commit()
        again = engine.tick()
        assert again.results_written == 0  # the same cells: not written again
        assert engine.state.outbox.count() == 0
        kept = engine.state.campaigns.get(cid)
        assert kept is not None and len(kept["results"]) == 6 and all(kept["results"])
    finally:
        engine.state.close()
        sb.stop()


def test_a_campaign_whose_summary_did_not_change_is_not_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_team(tmp_path, [[f"N{i}", fr(i)] for i in range(8)], max_contacts=4)
    sb = Sandbox(API_KEY, clock=lambda: 0.0)
    sb.start()
    engine = open_engine(tmp_path, sb, Clock())
    read: list[str] = []
    real_get = Table.get

    def counting_get(self: Table, kind: str, key: str) -> Record | None:
        if kind == "c":
            read.append(key)
        return real_get(self, kind, key)

    try:
        assert engine.tick().campaigns_created == 2
        monkeypatch.setattr(Table, "get", counting_get)
        assert engine.tick().results_written == 0  # nothing moved: two summaries read
        assert read == []
        sb.advance(45.0)  # the first calls ended: both summaries changed
        assert engine.tick().results_written > 0
        assert sorted(read) == sorted(c for c, _ in engine.state.campaigns.scan())
    finally:
        engine.state.close()
        sb.stop()
