"""The real engine against the Revox sandbox over loopback and a real CSV file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.base import UNREAD, Row, RowUpdate, WriteReport
from adapters.csv_file import CsvSource
from connector.classify import classify
from connector.engine import Engine
from connector.errors import RetryableError
from connector.journal import NAME_CAP, parse_marker, team_tag
from connector.loading import load_mapping
from connector.revox import RevoxClient
from connector.sandbox import Fault, Sandbox
from connector.sources import open_source
from connector.state import StateStore
from tests.conftest import API_KEY, Clock, make_team, read_csv, tick_until_final, write_csv

IN_FLIGHT = {"submitted", "queued_for_calling", "calling", "post_processing"}
FR = [f"06 12 34 {i // 100:02d} {i % 100:02d}" for i in range(200)]


@dataclass
class Team:
    dir: Path
    engine: Engine
    state: StateStore
    sandbox: Sandbox
    clock: Clock

    @property
    def csv(self) -> list[dict[str, str]]:
        return read_csv(self.dir / "leads.csv")

    def until_final(self, ticks: int = 5) -> None:
        tick_until_final(self.sandbox, self.engine.tick, step=3600, ticks=ticks)


def build(tmp: Path, sandbox: Sandbox, rows: list[list[str]], **kw: object) -> Team:
    loaded = load_mapping(make_team(tmp, rows, **kw))
    state = StateStore(tmp / "state" / "t1.sqlite")
    revox = RevoxClient(API_KEY, sandbox.url, sleep=lambda s: None, timeout=2.0, rows_page_size=50)
    clock = Clock()
    engine = Engine(loaded, open_source(loaded, {}), revox, state, clock=clock)
    return Team(tmp, engine, state, sandbox, clock)


@pytest.fixture
def team_factory(tmp_path: Path, sandbox: Sandbox) -> Iterator[object]:
    made: list[Team] = []

    def make(rows: list[list[str]], **kw: object) -> Team:
        t = build(tmp_path, sandbox, rows, **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.state.close()


def posts(sb: Sandbox) -> int:
    return sum(1 for m, p, _ in sb.requests if m == "POST" and p == "/campaigns")


def assert_each_phone_once(sb: Sandbox) -> Counter[str]:
    phones = Counter(p for nums in sb.campaign_contacts().values() for p in nums)
    assert phones and max(phones.values()) == 1, phones.most_common(3)
    return phones


def test_full_loop_writes_results_into_the_rows(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([[f"P{i}", FR[i]] for i in range(12)] + [["Bad", "12"], ["", ""]])
    s = t.engine.tick()
    assert (s.read, s.new, s.rejected, s.submitted, s.campaigns_created) == (13, 12, 1, 12, 1)
    rows = t.csv
    assert all(r["Revox ID"] for r in rows[:13])
    assert {r["Revox status"] for r in rows[:12]} <= IN_FLIGHT
    assert rows[12]["Revox status"] == "rejected"
    assert rows[12]["Revox error"].startswith("invalid_phone: ")
    t.until_final()
    rows = t.csv
    for r in rows[:12]:
        assert r["Revox status"] in ("completed", "errored"), r
        assert r["Revox campaign"] and r["Attempts"]
    assert any(r["Outcome"] == "interested" and r["Email"] for r in rows)
    assert t.state.outbox.count() == 0
    assert t.state.row_counts() == {"done": 12, "rejected": 1}
    assert_each_phone_once(sandbox)


def test_batches_follow_max_contacts_and_carry_a_marker(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([[f"P{i}", FR[i]] for i in range(25)], max_contacts=10)
    s = t.engine.tick()
    assert s.campaigns_created == 3
    sizes = sorted(len(v) for v in sandbox.campaign_contacts().values())
    assert sizes == [5, 10, 10]
    names = [c["name"] for _, c in t.state.campaigns.scan()]
    # the marker leads (a server that cuts long names keeps it) and names the team
    assert all(parse_marker(n) is not None and n.split("] ", 1)[1].startswith("t1 ") for n in names)
    assert {parse_marker(n)[0] for n in names} == {team_tag("t1")}  # type: ignore[index]
    assert all(len(n) <= NAME_CAP for n in names)


def test_no_redial_after_edit_and_duplicates_rejected(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([["A", FR[0]], ["B", FR[1]], ["A again", FR[0]]])
    t.engine.tick()
    assert t.csv[2]["Revox error"].startswith("duplicate_phone: ")
    rows = [list(r.values()) for r in t.csv]
    header = list(t.csv[0].keys())
    rows[0][1] = FR[5]  # someone edits the phone of a row already submitted
    rows.append(["New row, same number as B", FR[1], "", "", "", "", "", "", "", ""][: len(header)])
    write_csv(t.dir / "leads.csv", header, rows)
    s = t.engine.tick()
    assert s.submitted == 0 and posts(sandbox) == 1
    assert t.csv[3]["Revox error"].startswith("duplicate_phone: ")
    assert_each_phone_once(sandbox)


def test_rejected_row_is_submitted_once_fixed(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([["A", "06 12"]])
    t.engine.tick()
    assert t.csv[0]["Revox status"] == "rejected"
    t.engine.tick()
    assert posts(sandbox) == 0
    rows = t.csv
    rows[0]["Phone"] = FR[7]
    write_csv(t.dir / "leads.csv", list(rows[0].keys()), [list(r.values()) for r in rows])
    s = t.engine.tick()
    assert s.submitted == 1
    assert t.csv[0]["Revox status"] in IN_FLIGHT
    assert t.csv[0]["Revox error"] == ""


def test_do_not_contact_outcome_blocks_the_number_forever(tmp_path: Path) -> None:
    with Sandbox(API_KEY, scenarios={"+33612340000": "do_not_contact"}) as sb:
        t = build(tmp_path, sb, [["A", FR[0]]])
        t.engine.tick()
        t.until_final()
        assert t.csv[0]["Outcome"] == "do_not_contact"
        assert t.state.is_dnc("+33612340000")
        rows = t.csv
        header = list(rows[0].keys())
        write_csv(
            t.dir / "leads.csv",
            header,
            [list(rows[0].values()), ["A twin", FR[0]] + [""] * (len(header) - 2)],
        )
        t.engine.tick()
        assert t.csv[1]["Revox error"].startswith("do_not_call: ")
        assert posts(sb) == 1
        t.state.close()


@pytest.mark.parametrize("kind", ["drop_after_apply", "drop_before_apply", "malformed"])
def test_ambiguous_post_is_reconciled_never_duplicated(
    team_factory, sandbox: Sandbox, kind: str
) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([[f"P{i}", FR[i]] for i in range(6)])
    sandbox.add_fault(Fault("POST", "/campaigns", kind))
    s = t.engine.tick()
    assert s.messages and "kept as intent" in s.messages[0]
    assert all(r.get("Revox status", "") == "" for r in t.csv)  # nothing claimed yet
    if kind == "drop_before_apply":
        # not found on Revox: it is re-sent only once an in-flight attempt cannot land any more
        assert "re-sent only after" in t.engine.tick().messages[0]
        assert posts(sandbox) == 1
        t.clock.advance(121)
    s2 = t.engine.tick()
    assert not s2.messages, s2.messages
    assert len(sandbox.campaign_contacts()) == 1
    assert_each_phone_once(sandbox)
    assert posts(sandbox) == (2 if kind == "drop_before_apply" else 1)
    assert all(r["Revox status"] in IN_FLIGHT for r in t.csv)


def test_5xx_on_post_is_treated_as_ambiguous(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([["A", FR[0]], ["B", FR[1]]])
    sandbox.add_fault(Fault("POST", "/campaigns", "status", status=503))
    assert t.engine.tick().messages
    t.clock.advance(121)
    t.engine.tick()
    assert len(sandbox.campaign_contacts()) == 1
    assert_each_phone_once(sandbox)


def test_rejected_batch_is_written_back_and_not_resent(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    """A refusal naming no field is split in halves; contacts refused alone fail alone."""
    t = team_factory([["A", FR[0]], ["B", FR[1]]])
    sandbox.add_fault(Fault("POST", "/campaigns", "status", status=422, times=3))
    s = t.engine.tick()
    assert s.messages and "refused" in s.messages[0]
    assert [r["Revox status"] for r in t.csv] == ["failed", "failed"]
    assert "HTTP 422" in t.csv[0]["Revox error"]
    assert posts(sandbox) == 3  # the batch, then each half alone
    t.engine.tick()
    assert posts(sandbox) == 3  # unchanged rows are not re-sent after a refusal


def test_a_refusal_of_one_half_still_calls_the_other(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    """A refusal that names no field: halves are sent until each refused part is alone."""
    t = team_factory([[f"P{i}", FR[i]] for i in range(4)])
    sandbox.add_fault(Fault("POST", "/campaigns", "status", status=422, times=2))
    s = t.engine.tick()  # batch refused, first half refused: its two singles and half 2 go
    assert sorted(len(v) for v in sandbox.campaign_contacts().values()) == [1, 1, 2]
    assert s.submitted == 4 and posts(sandbox) == 5
    assert all(r["Revox status"] not in ("", "failed") for r in t.csv)
    assert_each_phone_once(sandbox)


class FlakySource:
    """A source whose writes fail while `down` is set (the seam, not our own code)."""

    def __init__(self, inner: CsvSource) -> None:
        self.inner = inner
        self.key_column = inner.key_column
        self.down = False

    def headers(self) -> list[str]:
        return self.inner.headers()

    def read_rows(self, settled=()):  # type: ignore[no-untyped-def]
        return self.inner.read_rows(settled)

    def write_back(self, updates: Sequence[RowUpdate]) -> WriteReport:
        if self.down:
            raise RetryableError("source is down")
        return self.inner.write_back(updates)

    def describe(self) -> str:
        return "flaky"

    def close(self) -> None:
        pass


def test_source_down_loses_no_result(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([["A", FR[0]], ["B", FR[1]]])
    t.engine.tick()
    flaky = FlakySource(t.engine.source)  # type: ignore[arg-type]
    t.engine.source = flaky
    flaky.down = True
    sandbox.advance(3600)
    s = t.engine.tick()
    assert s.outbox == 2 and s.messages
    assert {r["Revox status"] for r in t.csv} <= IN_FLIGHT
    flaky.down = False
    s = t.engine.tick()
    assert s.outbox == 0
    assert {r["Revox status"] for r in t.csv} <= {"completed", "errored"}


def test_results_reach_rows_after_a_resort(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([[f"P{i}", FR[i]] for i in range(8)])
    t.engine.tick()
    rows = t.csv
    header = list(rows[0].keys())
    shuffled = sorted(rows, key=lambda r: r["Name"], reverse=True)
    write_csv(
        t.dir / "leads.csv",
        header,
        [["Inserted", FR[50]] + [""] * (len(header) - 2)] + [list(r.values()) for r in shuffled],
    )
    t.until_final()
    camp = {r["Name"]: r["Revox campaign"] for r in t.csv}
    by_phone = {p: cid for cid, ps in sandbox.campaign_contacts().items() for p in ps}
    for r in t.csv:
        if r["Name"].startswith("P"):
            i = int(r["Name"][1:])
            assert by_phone[f"+336123400{i:02d}"] == camp[r["Name"]]
            assert r["Revox status"] in ("completed", "errored")


def test_current_generation_is_launched(tmp_path: Path) -> None:
    with Sandbox(API_KEY, generation="current") as sb:
        t = build(tmp_path, sb, [["A", FR[0]], ["B", FR[1]]])
        t.engine.tick()
        assert any(p.endswith("/launch-calls") for _, p, _ in sb.requests)
        t.until_final()
        assert {r["Revox status"] for r in t.csv} <= {"completed", "errored"}
        t.state.close()


def test_unpaged_rows_answer_is_accepted(tmp_path: Path) -> None:
    with Sandbox(API_KEY, paged_rows=False) as sb:
        t = build(tmp_path, sb, [[f"P{i}", FR[i]] for i in range(5)])
        t.engine.tick()
        t.until_final()
        assert {r["Revox status"] for r in t.csv} <= {"completed", "errored"}
        t.state.close()


def test_many_rows_read_across_pages(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([[f"P{i}", FR[i]] for i in range(120)])
    t.engine.tick()
    t.until_final()
    assert sum(1 for r in t.csv if r["Revox status"] in ("completed", "errored")) == 120
    pages = [p for m, p, _ in sandbox.requests if "/rows?" in p]
    assert any("page=3" in p for p in pages)


def test_deleted_campaign_stops_polling(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([["A", FR[0]]])
    t.engine.tick()
    sandbox.add_fault(Fault("GET", "/campaigns/[^/]+", "status", status=404))
    t.engine.tick()
    assert t.csv[0]["Revox status"] == "failed"
    assert "deleted in Revox" in t.csv[0]["Revox error"]
    before = len(sandbox.requests)
    t.engine.tick()
    assert not any("/campaigns/" in p for _, p, _ in sandbox.requests[before:])


def test_dry_run_sends_and_writes_nothing(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([["A", FR[0]], ["B", "x"]])
    before = (t.dir / "leads.csv").read_bytes()
    s = t.engine.tick(dry_run=True)
    assert (s.read, s.rejected) == (2, 1)
    assert sandbox.requests == []
    assert (t.dir / "leads.csv").read_bytes() == before


def test_steady_state_tick_makes_no_write_and_one_poll(team_factory, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    t = team_factory([["A", FR[0]]])
    t.engine.tick()
    t.until_final()
    mtime = (t.dir / "leads.csv").stat().st_mtime_ns
    before = len(sandbox.requests)
    s = t.engine.tick()
    assert (s.submitted, s.results_written) == (0, 0)
    assert sandbox.requests[before:] == []
    assert (t.dir / "leads.csv").stat().st_mtime_ns == mtime


def test_unchanged_rejected_row_is_not_parsed_again(
    team_factory, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A rejected row whose read cells are unchanged keeps its rejection without a number
    parse (fingerprint in its state); changing any read cell maps it again."""
    import connector.mapping as mapping

    t = team_factory([["A", "06 12"], ["B", FR[1]], ["C", FR[1]]])
    t.engine.tick()
    assert t.csv[0]["Revox status"] == "rejected"
    parsed: list[str] = []
    real = mapping.parse_phone

    def counting(text: str, *a: object, **kw: object):  # type: ignore[no-untyped-def]
        parsed.append(text)
        return real(text, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(mapping, "parse_phone", counting)
    s = t.engine.tick()
    assert "06 12" not in parsed  # the invalid number: kept from the state
    assert FR[1] in parsed  # the duplicate phone depends on other rows: checked again
    assert s.rejected == 2 and s.submitted == 0
    assert t.state.outbox.count() == 0  # nothing written again
    rows = t.csv
    rows[0]["Name"] = "A2"  # not a cell the phone check reads, but a prompt variable
    write_csv(t.dir / "leads.csv", list(rows[0].keys()), [list(r.values()) for r in rows])
    parsed.clear()
    t.engine.tick()
    assert "06 12" in parsed
    rows = t.csv
    rows[0]["Phone"] = FR[7]
    write_csv(t.dir / "leads.csv", list(rows[0].keys()), [list(r.values()) for r in rows])
    s = t.engine.tick()
    assert s.submitted == 1
    assert_each_phone_once(sandbox)


@pytest.mark.parametrize("control", [False, True])
def test_a_steady_read_skips_the_cells_of_settled_rows(  # type: ignore[no-untyped-def]
    team_factory, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, control: bool
) -> None:
    """A settled row needs only its key in a tick: the source is asked not to build its
    cells (UNREAD). A row added since comes whole and is submitted. With a control column
    the settled rows come whole: a "stop" typed into one must be seen."""
    extra = "control: {column: Action, stop: [stop]}\n" if control else ""
    t = team_factory([["A", FR[0]], ["B", FR[1]]], extra=extra)
    t.engine.tick()
    real = t.engine.source.read_rows
    seen: list[Row] = []

    def spy(settled=()):  # type: ignore[no-untyped-def]
        for row in real(settled):
            seen.append(row)
            yield row

    monkeypatch.setattr(t.engine.source, "read_rows", spy)
    rows = t.csv
    header = list(rows[0].keys())
    added = {h: "" for h in header} | {"Name": "C", "Phone": FR[2]}
    write_csv(t.dir / "leads.csv", header, [list(r.values()) for r in [*rows, added]])
    s = t.engine.tick()
    assert (s.submitted, s.rejected) == (1, 0)
    assert [r.values is UNREAD for r in seen] == [not control, not control, False]
    assert seen[2].values["Name"] == "C"
    assert_each_phone_once(sandbox)


def test_a_row_read_without_its_cells_is_never_rejected(team_factory) -> None:  # type: ignore[no-untyped-def]
    """A row that came UNREAD (settled when the source read it) is left alone by the
    tick even if the state no longer has it: it is never mapped from cells it was not
    given (no cells read as a blank row, a missing phone as a rejection)."""
    t = team_factory([["A", FR[0]], ["B", FR[1]]])
    t.engine.tick()
    a, b = (r["Revox ID"] for r in t.csv)
    t.state.rows.delete(b)  # as if the record went between the read and its check
    rows = [Row(a, UNREAD, 2), Row(b, UNREAD, 3), Row("new", {"Name": "C"}, 4)]
    out = list(classify(t.engine.resolved, rows, t.state, settled={}))
    assert [c.status for c in out] == ["submitted", "submitted", "rejected"]
    assert out[0].record is not None and out[0].record["state"] == "submitted"
    assert out[1].record is None
