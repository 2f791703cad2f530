"""Mapping files: every problem reported at once as FILE:LINE: field.path: what (what to do)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.loading import json_schema, load_all, load_mapping

GOOD = textwrap.dedent("""\
    team: emea-sales
    source:
      type: csv
      path: leads.csv
      key_column: Revox ID
    schedule:
      every: 5m
    contacts:
      phone: Phone
      default_region: FR
      country_column: Country
      include_when: {Status: [Ready, ""]}
      skip_when: {"Do not call": ["yes", "true", "x", "1"]}
      prompt_variables:
        first_name: First name
        company: {column: Company, required: true}
        product: {value: Revox Pro}
        greeting: {template: "Hi {First name}"}
    campaign:
      assistant_id: 182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e
      name: "{team} {date} #{batch}"
      launch: true
      max_contacts: 500
      from_phone_number: "+33159000000"
      max_concurrent_calls: 5
      scheduled_at: null
      call_retry_config:
        allowed_days: [monday, tuesday]
        call_twice_in_a_row: false
        calling_windows:
          - {calling_window_start_time: "09:00", calling_window_end_time: "18:00",
             retry_delay_seconds: 7200}
        max_retry_attempts: 3
    write_back:
      columns:
        status: Revox status
        campaign: Revox campaign
        outcome: Outcome
        summary: Call summary
        result: Reached
        attempts: Attempts
        last_call_at: Last call
        recording_url: Recording
        error: Revox error
      structured_output: {email: Email from call}
    """)


def write(tmp_path: Path, text: str, name: str = "team.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_mapping(write(tmp_path, text))
    return err.value.problems


def test_good_mapping_loads(tmp_path: Path) -> None:
    loaded = load_mapping(write(tmp_path, GOOD))
    m = loaded.mapping
    assert m.team == "emea-sales"
    assert m.schedule.seconds() == 300
    assert m.contacts.default_region == "FR"
    assert m.contacts.variables()["first_name"].column == "First name"
    assert m.write_back.targets()["summary"] == "Call summary"
    assert loaded.base_dir == tmp_path.resolve()


# (what to change in GOOD, line expected, fragments expected in the one message)
BROKEN = [
    ("team: emea-sales", "team: EMEA Sales", 1, ["team:", "lower-case"]),
    ("  type: csv", "  type: excel", 3, ["source.type", "'csv', 'google_sheets', 'salesforce'"]),
    ("  path: leads.csv\n", "", 2, ["source.path", "Field required", "add it"]),
    ("  every: 5m", "  every: 5 minutes", 7, ["schedule.every", "30s, 5m or 1h"]),
    ("  every: 5m", "  every: 5m\n  cron: '* * * * *'", 6, ["schedule", "exactly one"]),
    ("  phone: Phone\n", "", 8, ["contacts.phone", "Field required"]),
    ("  every: 5m", "  cron: '61 * * * *'", 7, ["schedule.cron", "not a crontab line"]),
    ("  every: 5m", "  every: 5m\n  timezone: Mars/Olympus", 8, ["schedule.timezone", "IANA"]),
    ("  default_region: FR", "  default_region: France", 10, ["default_region", "ISO 3166"]),
    (
        '  include_when: {Status: [Ready, ""]}',
        "  include_when: {Status: Ready}",
        12,
        ["contacts.include_when.Status", "list"],
    ),
    (
        "    product: {value: Revox Pro}",
        "    product: {value: Revox Pro, column: X}",
        17,
        ["contacts.prompt_variables.product", "exactly one of"],
    ),
    (
        "  assistant_id: 182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e",
        "  assistant_id: my-assistant",
        20,
        ["campaign.assistant_id", "assistant id from the Revox dashboard"],
    ),
    ("  max_contacts: 500", "  max_contacts: 0", 23, ["campaign.max_contacts", "greater than"]),
    ("  max_contacts: 500", "  max_contacts: lots", 23, ["campaign.max_contacts", "whole number"]),
    (
        '  from_phone_number: "+33159000000"',
        '  from_phone_number: "01 59 00 00 00"',
        24,
        ["campaign.from_phone_number", "E.164"],
    ),
    (
        "  max_concurrent_calls: 5",
        "  max_concurrent_calls: 0",
        25,
        ["campaign.max_concurrent_calls", "greater than or equal to 1"],
    ),
    ("  scheduled_at: null", "  scheduled_at: tomorrow", 26, ["campaign.scheduled_at", "datetime"]),
    (
        "  scheduled_at: null",
        "  scheduled_at: 2026-12-01T09:00:00",
        26,
        ["campaign.scheduled_at", "timezone"],
    ),
    (
        "    allowed_days: [monday, tuesday]",
        "    allowed_days: [mon]",
        28,
        ["call_retry_config.allowed_days.0", "monday"],
    ),
    (
        "retry_delay_seconds: 7200}",
        "retry_delay_seconds: -1}",
        32,
        ["call_retry_config.calling_windows.0.retry_delay_seconds", "greater than 0"],
    ),
    ("  launch: true", "  launch: sometimes", 22, ["campaign.launch", "true or false"]),
    (
        "    status: Revox status",
        "    stauts: Revox status",
        36,
        ["write_back.columns.stauts", "status"],
    ),
    ("write_back:", "writeback:", 34, ["writeback", "remove it or check its spelling"]),
    (
        "    error: Revox error",
        "    error: Revox error\n    error: Other",
        45,
        ["write_back.columns.error", "given twice"],
    ),
]


@pytest.mark.parametrize(("old", "new", "line", "fragments"), BROKEN)
def test_broken_mapping(
    tmp_path: Path, old: str, new: str, line: int, fragments: list[str]
) -> None:
    assert old in GOOD
    problems = problems_of(tmp_path, GOOD.replace(old, new, 1))
    assert len(problems) == 1, problems
    msg = problems[0]
    assert msg.startswith(f"{tmp_path / 'team.yaml'}:{line}: "), msg
    for frag in fragments:
        assert frag in msg, (frag, msg)


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    text = (
        GOOD.replace("  max_contacts: 500", "  max_contacts: 0")
        .replace("  default_region: FR", "  default_region: XX")
        .replace("team: emea-sales", "team: A B")
    )
    problems = problems_of(tmp_path, text)
    assert len(problems) == 3
    assert [p.split(":")[1] for p in problems] == ["1", "10", "23"]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, GOOD.replace("  phone: Phone", "  phone: [Phone"))
    assert len(problems) == 1
    assert "not valid YAML" in problems[0]
    assert problems[0].startswith(str(tmp_path / "team.yaml") + ":")


def test_not_a_mapping(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "- just\n- a list\n")
    assert "must be a YAML mapping" in problems[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the mapping file"):
        load_mapping(tmp_path / "nope.yaml")


def test_two_files_one_team(tmp_path: Path) -> None:
    a = write(tmp_path, GOOD, "a.yaml")
    b = write(tmp_path, GOOD, "b.yaml")
    good, problems = load_all([a, b])
    assert len(good) == 1
    assert len(problems) == 1 and "also the team of" in problems[0]


def test_schema_is_current() -> None:
    committed = json.loads((Path(__file__).parent.parent / "mappings" / "schema.json").read_text())
    assert committed == json_schema(), "run: revox-sync schema > mappings/schema.json"


def test_shipped_examples_are_valid() -> None:
    folder = Path(__file__).parent.parent / "mappings"
    files = sorted(folder.glob("*.yaml"))
    assert files
    good, problems = load_all(files)
    assert problems == []
    assert len(good) == len(files)


def test_retry_delay_at_the_top_level_says_where_it_moved(tmp_path: Path) -> None:
    """The first release's shape (retry_delay_seconds beside calling_windows) is one line."""
    old_shape = GOOD.replace(
        ",\n         retry_delay_seconds: 7200}\n", "}\n    retry_delay_seconds: 7200\n"
    )
    assert old_shape != GOOD
    problems = problems_of(tmp_path, old_shape)
    assert len(problems) == 1, problems
    assert (
        "campaign.call_retry_config: retry_delay_seconds moved into each calling window"
        in (problems[0])
    )


def test_call_retry_config_is_sent_key_for_key(tmp_path: Path) -> None:
    """The mapping's call_retry_config is the API's shape: dumping it gives the request body."""
    f = tmp_path / "m.yaml"
    f.write_text(GOOD)
    cfg = load_mapping(f).mapping.campaign.call_retry_config
    assert cfg is not None
    assert cfg.model_dump(exclude_none=True) == {
        "allowed_days": ["monday", "tuesday"],
        "call_twice_in_a_row": False,
        "calling_windows": [
            {
                "calling_window_start_time": "09:00",
                "calling_window_end_time": "18:00",
                "retry_delay_seconds": 7200,
            }
        ],
        "max_retry_attempts": 3,
    }
