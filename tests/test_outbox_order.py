"""ColumnOrder (the outbox's per-shape cache) orders cells as a plain sort by rank does."""

from __future__ import annotations

import random
from pathlib import Path

from connector.loading import load_mapping
from connector.outbox import ColumnOrder
from connector.sources import open_source
from tests.conftest import team_mapping


def ordered(rank: dict[str, int], values: dict[str, str]) -> dict[str, str]:
    """The reference: cells sorted by the mapping's rank, unknown columns last, stably."""
    last = len(rank)
    return dict(sorted(values.items(), key=lambda kv: rank.get(kv[0], last)))


def test_same_cells_in_the_same_order_as_ordered(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("Name,Phone\n")
    path = tmp_path / "team.yaml"
    path.write_text(
        team_mapping(
            "t",
            {"type": "csv", "path": "leads.csv"},
            write_back="columns: {status: Revox status, outcome: Outcome, summary: Summary}",
        )
    )
    loaded = load_mapping(path)
    order = ColumnOrder(loaded.mapping, open_source(loaded, {}))
    shared = ColumnOrder(loaded.mapping, open_source(loaded, {}), share=True)
    assert list(order.rank)[:4] == ["Revox ID", "Revox status", "Outcome", "Summary"]
    columns = [*order.rank, "Other", "Notes"]
    rng = random.Random(7)
    for _ in range(2000):
        cols = rng.sample(columns, rng.randint(0, len(columns)))
        values = {c: f"v{i}" for i, c in enumerate(cols)}
        want = ordered(order.rank, values)
        for got in (order(dict(values)), shared(dict(values))):
            assert got == want and list(got) == list(want)


def test_shared_short_values_are_one_object(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("Name,Phone\n")
    path = tmp_path / "team.yaml"
    path.write_text(
        team_mapping("t", {"type": "csv", "path": "leads.csv"}, write_back="columns: {}")
    )
    loaded = load_mapping(path)
    shared = ColumnOrder(loaded.mapping, open_source(loaded, {}), share=True)
    long = "x" * 41
    a = shared({"S": "".join(["que", "ued"]), "L": "".join([long[:20], long[20:]])})
    b = shared({"S": "".join(["qu", "eued"]), "L": "".join([long[:10], long[10:]])})
    assert a["S"] is b["S"]  # a status, kept once
    assert a["L"] == b["L"] and a["L"] is not b["L"]  # long text is not kept
