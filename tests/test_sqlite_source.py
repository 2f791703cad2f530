"""The SQLite table source: the contract suite plus what only a database has."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import pytest

from adapters.base import RowUpdate, Source
from adapters.plugin import SourceContext
from adapters.sqlite_table import SqliteSource, SqliteSourceConfig, quote_name
from connector.engine import Engine
from connector.errors import ConfigError, RetryableError
from connector.loading import load_mapping
from connector.revox import RevoxClient
from connector.sandbox import Sandbox
from connector.sources import open_source
from connector.state import StateStore
from tests.adapter_contract import SourceContract, TableHarness
from tests.conftest import API_KEY, ASSISTANT


def create(path: Path, header: list[str], rows: list[list[object]], table: str = "leads") -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {quote_name(table)}")
        cols = ", ".join(f"{quote_name(h)} TEXT" for h in header)
        conn.execute(f"CREATE TABLE {quote_name(table)} ({cols})")
        marks = ", ".join("?" for _ in header)
        conn.executemany(f"INSERT INTO {quote_name(table)} VALUES ({marks})", rows)
    conn.close()


def source(folder: Path, **config: object) -> SqliteSource:
    cfg = SqliteSourceConfig.model_validate(
        {"type": "sqlite", "path": "leads.db", "table": "leads"} | config
    )
    return SqliteSource.from_config(cfg, SourceContext(base_dir=folder))


class SqliteHarness(TableHarness):
    def __init__(self, tmp: Path) -> None:
        self.folder = tmp
        self.path = tmp / "leads.db"

    def make(self, header: list[str], rows: list[list[str]]) -> Source:
        self.set_table([header, *rows])
        return source(self.folder)

    def table(self) -> list[list[str]]:
        with sqlite3.connect(self.path) as conn:
            header = [str(r[1]) for r in conn.execute("PRAGMA table_info(leads)")]
            rows = conn.execute("SELECT * FROM leads ORDER BY rowid").fetchall()
        conn.close()
        return [header, *[["" if v is None else str(v) for v in r] for r in rows]]

    def set_table(self, table: list[list[str]]) -> None:
        width = len(table[0])
        create(self.path, table[0], [[*r, *[""] * (width - len(r))] for r in table[1:]])


class TestSqliteContract(SourceContract):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> SqliteHarness:
        return SqliteHarness(tmp_path)


def test_integer_primary_key_is_the_row_key(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "leads.db") as conn:
        conn.execute(
            "CREATE TABLE leads (id INTEGER PRIMARY KEY, phone TEXT, score REAL, photo BLOB)"
        )
        conn.execute("INSERT INTO leads VALUES (7, '0612345678', 3.0, x'00ff')")
        conn.execute("INSERT INTO leads VALUES (9, NULL, 2.5, NULL)")
    conn.close()
    src = source(tmp_path, key_column="id")
    rows = list(src.read_rows())
    assert [(r.key, r.values["phone"], r.values["score"]) for r in rows] == [
        ("7", "0612345678", "3"),
        ("9", "", "2.5"),
    ]
    assert rows[0].problem is not None  # a blob: with no columns named, every cell counts
    report = src.write_back([RowUpdate("9", {"Revox status": "submitted"})])
    assert report.written == {"9"}
    with sqlite3.connect(tmp_path / "leads.db") as conn:
        assert conn.execute('SELECT "Revox status" FROM leads WHERE id = 9').fetchone() == (
            "submitted",
        )
    conn.close()


def test_blob_in_a_column_the_mapping_does_not_read_keeps_the_row(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "leads.db") as conn:
        conn.execute('CREATE TABLE leads (phone TEXT, photo BLOB, "Revox ID" TEXT)')
        conn.execute("INSERT INTO leads VALUES ('0612345678', x'00ff', 'k1')")
    conn.close()
    cfg = SqliteSourceConfig(type="sqlite", path="leads.db", table="leads")
    src = SqliteSource.from_config(cfg, SourceContext(base_dir=tmp_path, reads=("phone",)))
    assert [r.problem for r in src.read_rows()] == [None]


def test_missing_database_and_table_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        source(tmp_path).headers()
    assert not (tmp_path / "leads.db").exists()  # never created by reading
    create(tmp_path / "leads.db", ["a"], [], table="people")
    with pytest.raises(ConfigError, match=r"no table 'leads'.*people"):
        source(tmp_path).headers()


def test_a_locked_database_is_retried_later_and_nothing_is_written(tmp_path: Path) -> None:
    create(tmp_path / "leads.db", ["Phone", "Revox ID"], [["1", "k1"]])
    holder = sqlite3.connect(tmp_path / "leads.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(RetryableError, match="SQLite"):
            source(tmp_path, busy_timeout=0.1).write_back([RowUpdate("k1", {"Out": "x"})])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "Out" not in SqliteHarness(tmp_path).table()[0]


def test_names_are_quoted_never_run(tmp_path: Path) -> None:
    odd = 'le"ads; DROP TABLE x'
    create(tmp_path / "leads.db", ["Phone", "Revox ID"], [["1", "k1"]], table=odd)
    src = source(tmp_path, table=odd)
    report = src.write_back([RowUpdate("k1", {'Out"come': "x'); --"})])
    assert report.written == {"k1"}
    assert [r.values['Out"come'] for r in src.read_rows()] == ["x'); --"]


def mapping(folder: Path, path: str) -> Path:
    text = f"""\
        team: sq
        source: {{type: sqlite, path: {path!r}, table: leads}}
        contacts: {{phone: Phone}}
        campaign: {{assistant_id: 9b2f2c1e-5d55-4b5e-9a8e-2f7f3c1d2a10}}
        """
    file = folder / "sq.yaml"
    file.write_text(textwrap.dedent(text))
    return file


def test_mapping_opens_the_registered_source_and_confines_its_path(tmp_path: Path) -> None:
    (tmp_path / "maps").mkdir()
    create(tmp_path / "maps" / "leads.db", ["Phone", "Revox ID"], [["1", "k1"]])
    loaded = load_mapping(mapping(tmp_path / "maps", "leads.db"))
    assert loaded.source_id == ("sqlite", str(tmp_path / "maps" / "leads.db"), "leads")
    src = open_source(loaded, {})
    assert isinstance(src, SqliteSource) and src.headers() == ["Phone", "Revox ID"]
    with pytest.raises(ConfigError, match=r"sq.yaml:2: source.path: '../leads.db' is outside"):
        load_mapping(mapping(tmp_path / "maps", "../leads.db"))
    assert load_mapping(mapping(tmp_path / "maps", "../leads.db"), data_dir=tmp_path).source_id


def test_ticks_through_sqlite_end_to_end(tmp_path: Path, sandbox: Sandbox) -> None:
    """The real engine on a SQLite table: keys filled, calls made once, results written back."""
    rows = [[f"P{i}", f"06 12 34 56 {i:02d}"] for i in range(5)]
    create(tmp_path / "leads.db", ["Name", "Phone"], [*rows, ["Nobody", "not a phone"]])
    text = f"""\
        team: sq
        source: {{type: sqlite, path: leads.db, table: leads}}
        contacts: {{phone: Phone, default_region: FR}}
        campaign: {{assistant_id: {ASSISTANT}}}
        write_back:
          columns: {{status: Revox status, outcome: Outcome, error: Revox error}}
        """
    (tmp_path / "sq.yaml").write_text(textwrap.dedent(text))
    loaded = load_mapping(tmp_path / "sq.yaml")
    revox = RevoxClient(API_KEY, sandbox.url, sleep=lambda s: None)
    state = StateStore(tmp_path / "state" / "sq.sqlite")
    engine = Engine(loaded, open_source(loaded, {}), revox, state)
    try:
        first = engine.tick()
        assert (first.keys_assigned, first.submitted, first.campaigns_created) == (6, 5, 1)
        for _ in range(3):
            sandbox.advance(100_000)
            engine.tick()
    finally:
        state.close()
        revox.close()
    table = SqliteHarness(tmp_path).table()
    col = {name: i for i, name in enumerate(table[0])}
    assert all(r[col["Revox ID"]] for r in table[1:])
    finals = [r[col["Revox status"]] for r in table[1:6]]
    assert all(s in {"completed", "errored", "cancelled"} for s in finals), finals
    assert table[6][col["Revox error"]].startswith("invalid_phone")
