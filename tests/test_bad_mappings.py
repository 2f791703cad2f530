"""Broken mapping files (issue 6): every problem reported as FILE:LINE: field.path: what (what
to do), by `load_mapping` and by the CLI, and nothing already written (the CSV, the state) lost.
Columns the source lacks are found when the mapping meets the real headers.

Where the CLI is the user-facing surface it runs in a subprocess: exit code, one line per
problem, never a traceback. Known bugs are `xfail(strict=True)` with the cause in the reason.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.errors import (
    ConfigError,
)
from connector.loading import load_mapping
from connector.sandbox import Sandbox
from tests.conftest import (
    API_KEY,
    ASSISTANT,
    Team,
    mapping_yaml,
    run_cli,
)

# =============================================================================================
# 1. Broken mapping files: every problem as FILE:LINE: field.path: what (what to do)
# =============================================================================================

GOOD = textwrap.dedent(f"""\
    team: bad-inputs
    source:
      type: csv
      path: leads.csv
      key_column: Revox ID
    schedule:
      every: 5m
      timezone: Europe/Paris
    contacts:
      phone: Phone
      default_region: FR
      include_when: {{Status: [Ready, ""]}}
      prompt_variables:
        first_name: Name
        company: {{column: Company, required: true}}
    campaign:
      assistant_id: {ASSISTANT}
      max_contacts: 50
      from_phone_number: "+33159000000"
    write_back:
      columns:
        status: Revox status
        error: Revox error
    """)
EXTRA = "remove it or check its spelling against `revox-sync schema`"
E164_MSG = (
    "campaign.from_phone_number: String should match pattern '^\\+[1-9]\\d{6,14}$' "
    "(write the number in E.164, e.g. +33159000000)"
)
CRON_HINT = "write 5 fields, e.g. '*/5 8-19 * * mon-fri'"
TOP = "(top): the file must be a YAML mapping of keys (see README)"

# (id, text to replace in GOOD or None for a whole new file, replacement, expected problems)
# "{F}" stands for the mapping file's path.
MAPPING_CASES: list[tuple[str, str | None, str, list[str]]] = [
    # YAML syntax
    (
        "yaml_unclosed_flow",
        "  phone: Phone",
        "  phone: [Phone",
        ["{F}:11: not valid YAML: expected ',' or ']', but got ':' (fix the syntax)"],
    ),
    (
        "yaml_tab_indent",
        "  phone: Phone",
        "\tphone: Phone",
        [
            "{F}:10: not valid YAML: found character '\\t' that cannot start any token "
            "(fix the syntax)"
        ],
    ),
    (
        "yaml_bad_indent",
        "  default_region: FR",
        "   default_region: FR",
        ["{F}:11: not valid YAML: mapping values are not allowed here (fix the syntax)"],
    ),
    (
        "yaml_unclosed_quote",
        '  from_phone_number: "+33159000000"',
        '  from_phone_number: "+33159000000',
        ["{F}:24: not valid YAML: found unexpected end of stream (fix the syntax)"],
    ),
    (
        "yaml_duplicate_top_key",
        "team: bad-inputs",
        "team: bad-inputs\nteam: other",
        ["{F}:2: team: key given twice (keep one)"],
    ),
    (
        "yaml_duplicate_nested_key",
        "  max_contacts: 50",
        "  max_contacts: 50\n  max_contacts: 60",
        ["{F}:19: campaign.max_contacts: key given twice (keep one)"],
    ),
    ("yaml_list_at_top", None, "- a\n- b\n", ["{F}:1: " + TOP]),
    ("yaml_scalar_at_top", None, "just a string\n", ["{F}:1: " + TOP]),
    ("yaml_empty_file", None, "", ["{F}:1: " + TOP]),
    ("yaml_comments_only", None, "# nothing here\n", ["{F}:1: " + TOP]),
    # wrong types
    (
        "max_contacts_word",
        "  max_contacts: 50",
        "  max_contacts: fifty",
        [
            "{F}:18: campaign.max_contacts: Input should be a valid integer, unable to parse "
            "string as an integer (write a whole number)"
        ],
    ),
    (
        "max_contacts_fraction",
        "  max_contacts: 50",
        "  max_contacts: 2.5",
        [
            "{F}:18: campaign.max_contacts: Input should be a valid integer, got a number with "
            "a fractional part"
        ],
    ),
    (
        "launch_not_bool",
        "  max_contacts: 50",
        "  max_contacts: 50\n  launch: maybe",
        [
            "{F}:19: campaign.launch: Input should be a valid boolean, unable to interpret "
            "input (write true or false)"
        ],
    ),
    (
        "include_when_not_list",
        '  include_when: {Status: [Ready, ""]}',
        "  include_when: {Status: Ready}",
        ["{F}:12: contacts.include_when.Status: Input should be a valid list"],
    ),
    (
        "include_when_is_list",
        '  include_when: {Status: [Ready, ""]}',
        "  include_when: [Status]",
        ["{F}:12: contacts.include_when: Input should be a valid dictionary"],
    ),
    (
        "variable_is_list",
        "    first_name: Name",
        "    first_name: [Name, Surname]",
        [
            "{F}:14: contacts.prompt_variables.first_name: Input should be a valid dictionary "
            "or instance of VariableSpec"
        ],
    ),
    (
        "phone_is_list",
        "  phone: Phone",
        "  phone: [Phone, Mobile]",
        ["{F}:10: contacts.phone: Input should be a valid string"],
    ),
    (
        "team_is_number",
        "team: bad-inputs",
        "team: 42",
        ["{F}:1: team: Input should be a valid string"],
    ),
    (
        "columns_is_list",
        "    status: Revox status\n    error: Revox error",
        "    - Revox status",
        ["{F}:21: write_back.columns: Input should be a valid dictionary"],
    ),
    (
        "from_phone_unquoted_number",
        '  from_phone_number: "+33159000000"',
        "  from_phone_number: +33159000000",
        ["{F}:19: campaign.from_phone_number: Input should be a valid string"],
    ),
    # unknown keys
    (
        "unknown_top_key",
        "write_back:",
        "writeback:",
        [f"{{F}}:20: writeback: Extra inputs are not permitted ({EXTRA})"],
    ),
    (
        "unknown_campaign_key",
        "  max_contacts: 50",
        "  max_contact: 50",
        [f"{{F}}:18: campaign.max_contact: Extra inputs are not permitted ({EXTRA})"],
    ),
    (
        "unknown_source_key",
        "  path: leads.csv",
        "  path: leads.csv\n  file: other.csv",
        [f"{{F}}:5: source.file: Extra inputs are not permitted ({EXTRA})"],
    ),
    (
        "unknown_contacts_key",
        "  phone: Phone",
        "  phone: Phone\n  phone_column: Mobile",
        [f"{{F}}:11: contacts.phone_column: Extra inputs are not permitted ({EXTRA})"],
    ),
    (
        "unknown_result_name",
        "    status: Revox status",
        "    state: Revox status",
        [
            "{F}:22: write_back.columns.state: Input should be 'status', 'campaign', 'outcome', "
            "'summary', 'result', 'attempts', 'last_call_at', 'recording_url', 'error', "
            "'call_id' or 'do_not_call'"
        ],
    ),
    (
        "variable_two_specs",
        "    company: {column: Company, required: true}",
        "    company: {column: Company, value: Acme}",
        [
            "{F}:15: contacts.prompt_variables.company: give exactly one of 'column', 'value' "
            "or 'template'"
        ],
    ),
    (
        "variable_no_spec",
        "    company: {column: Company, required: true}",
        "    company: {required: true}",
        [
            "{F}:15: contacts.prompt_variables.company: give exactly one of 'column', 'value' "
            "or 'template'"
        ],
    ),
    # regions
    (
        "region_country_name",
        "  default_region: FR",
        "  default_region: France",
        [
            "{F}:11: contacts.default_region: 'France' is not an ISO 3166 region code "
            "(write FR, US, GB, ...)"
        ],
    ),
    (
        "region_unknown_code",
        "  default_region: FR",
        "  default_region: XX",
        [
            "{F}:11: contacts.default_region: 'XX' is not an ISO 3166 region code "
            "(write FR, US, GB, ...)"
        ],
    ),
    (
        "region_alpha3",
        "  default_region: FR",
        "  default_region: FRA",
        [
            "{F}:11: contacts.default_region: 'FRA' is not an ISO 3166 region code "
            "(write FR, US, GB, ...)"
        ],
    ),
    # schedules
    (
        "cron_not_a_cron",
        "  every: 5m",
        '  cron: "not a cron"',
        [
            "{F}:7: schedule.cron: 'not a cron' is not a crontab line (Wrong number of "
            f"fields; got 3, expected 5); {CRON_HINT}"
        ],
    ),
    (
        "cron_six_fields",
        "  every: 5m",
        '  cron: "0 */5 8-19 * * mon-fri"',
        [
            "{F}:7: schedule.cron: '0 */5 8-19 * * mon-fri' is not a crontab line (Wrong "
            f"number of fields; got 6, expected 5); {CRON_HINT}"
        ],
    ),
    (
        "cron_minute_61",
        "  every: 5m",
        "  cron: '61 * * * *'",
        [
            "{F}:7: schedule.cron: '61 * * * *' is not a crontab line (Error validating "
            "expression '61': the last value (61) is higher than the maximum value (59)); "
            + CRON_HINT
        ],
    ),
    (
        "cron_bad_weekday",
        "  every: 5m",
        "  cron: '*/5 8-19 * * funday'",
        [
            "{F}:7: schedule.cron: '*/5 8-19 * * funday' is not a crontab line (Invalid "
            f'weekday name "funday"); {CRON_HINT}'
        ],
    ),
    (
        "every_in_words",
        "  every: 5m",
        "  every: 5 minutes",
        ["{F}:7: schedule.every: '5 minutes' is not a duration (write 30s, 5m or 1h)"],
    ),
    (
        "every_in_days",
        "  every: 5m",
        "  every: 1d",
        ["{F}:7: schedule.every: '1d' is not a duration (write 30s, 5m or 1h)"],
    ),
    (
        "every_and_cron",
        "  every: 5m",
        "  every: 5m\n  cron: '*/5 * * * *'",
        ["{F}:6: schedule: give exactly one of 'every' or 'cron'"],
    ),
    (
        "neither_every_nor_cron",
        "  every: 5m\n",
        "",
        ["{F}:6: schedule: give exactly one of 'every' or 'cron'"],
    ),
    (
        "timezone_unknown",
        "  timezone: Europe/Paris",
        "  timezone: Europe/Atlantis",
        [
            "{F}:8: schedule.timezone: 'Europe/Atlantis' is not an IANA time zone "
            "(write e.g. Europe/Paris)"
        ],
    ),
    # E.164 caller id
    (
        "from_phone_national",
        '  from_phone_number: "+33159000000"',
        '  from_phone_number: "01 59 00 00 00"',
        ["{F}:19: " + E164_MSG],
    ),
    (
        "from_phone_no_plus",
        '  from_phone_number: "+33159000000"',
        '  from_phone_number: "33159000000"',
        ["{F}:19: " + E164_MSG],
    ),
    (
        "from_phone_leading_zero",
        '  from_phone_number: "+33159000000"',
        '  from_phone_number: "+033159000000"',
        ["{F}:19: " + E164_MSG],
    ),
    (
        "from_phone_too_long",
        '  from_phone_number: "+33159000000"',
        '  from_phone_number: "+3315900000012345"',
        ["{F}:19: " + E164_MSG],
    ),
    # assistant uuid
    (
        "assistant_id_word",
        f"  assistant_id: {ASSISTANT}",
        "  assistant_id: my-assistant",
        [
            "{F}:17: campaign.assistant_id: Input should be a valid UUID, invalid character: "
            "found `m` at 0 (copy the assistant id from the Revox dashboard)"
        ],
    ),
    (
        "assistant_id_truncated",
        f"  assistant_id: {ASSISTANT}",
        f"  assistant_id: {ASSISTANT[:-2]}",
        [
            "{F}:17: campaign.assistant_id: Input should be a valid UUID, invalid group length "
            "in group 4: expected 12, found 10 (copy the assistant id from the Revox dashboard)"
        ],
    ),
    (
        "assistant_id_missing",
        f"  assistant_id: {ASSISTANT}\n",
        "",
        ["{F}:16: campaign.assistant_id: Field required (add it)"],
    ),
    # names, types, ranges
    (
        "team_with_spaces",
        "team: bad-inputs",
        "team: Bad Inputs",
        ["{F}:1: team: 'Bad Inputs': use lower-case letters, digits, '-' and '_'"],
    ),
    (
        "team_is_a_path",
        "team: bad-inputs",
        "team: ../etc",
        ["{F}:1: team: '../etc': use lower-case letters, digits, '-' and '_'"],
    ),
    (
        "source_type_excel",
        "  type: csv",
        "  type: excel",
        [
            "{F}:3: source.type: Input tag 'excel' found using 'type' does not match any of the "
            "expected tags: 'csv', 'google_sheets', 'salesforce', 'sqlite' "
            "(use one of the types listed)"
        ],
    ),
    (
        "source_type_missing",
        "  type: csv\n",
        "",
        [
            "{F}:2: source.type: Unable to extract tag using discriminator 'type' "
            "(add source.type: csv, google_sheets, salesforce or sqlite)"
        ],
    ),
    (
        "source_path_missing",
        "  path: leads.csv\n",
        "",
        ["{F}:2: source.path: Field required (add it)"],
    ),
    (
        "max_contacts_zero",
        "  max_contacts: 50",
        "  max_contacts: 0",
        ["{F}:18: campaign.max_contacts: Input should be greater than or equal to 1"],
    ),
    (
        "max_contacts_too_big",
        "  max_contacts: 50",
        "  max_contacts: 10001",
        ["{F}:18: campaign.max_contacts: Input should be less than or equal to 10000"],
    ),
    (
        "scheduled_at_naive",
        "  max_contacts: 50",
        "  max_contacts: 50\n  scheduled_at: 2026-12-01T09:00:00",
        ["{F}:19: campaign.scheduled_at: Input should have timezone info"],
    ),
    (
        "scheduled_at_words",
        "  max_contacts: 50",
        "  max_contacts: 50\n  scheduled_at: next monday",
        [
            "{F}:19: campaign.scheduled_at: Input should be a valid datetime or date, invalid "
            "character in year"
        ],
    ),
    (
        "retry_config_incomplete",
        "  max_contacts: 50",
        "  max_contacts: 50\n  call_retry_config: {allowed_days: [monday]}",
        [
            "{F}:19: campaign.call_retry_config.call_twice_in_a_row: Field required (add it)",
            "{F}:19: campaign.call_retry_config.calling_windows: Field required (add it)",
            "{F}:19: campaign.call_retry_config.max_retry_attempts: Field required (add it)",
        ],
    ),
    (
        "max_concurrent_zero",
        "  max_contacts: 50",
        "  max_contacts: 50\n  max_concurrent_calls: 0",
        ["{F}:19: campaign.max_concurrent_calls: Input should be greater than or equal to 1"],
    ),
    (
        "campaign_name_empty",
        "  max_contacts: 50",
        "  max_contacts: 50\n  name: ''",
        ["{F}:19: campaign.name: String should have at least 1 character"],
    ),
    ("phone_missing", "  phone: Phone\n", "", ["{F}:9: contacts.phone: Field required (add it)"]),
    (
        "contacts_missing",
        "contacts:\n  phone: Phone\n  default_region: FR\n"
        '  include_when: {Status: [Ready, ""]}\n  prompt_variables:\n'
        "    first_name: Name\n    company: {column: Company, required: true}\n",
        "",
        ["{F}:1: contacts: Field required (add it)"],
    ),
    (
        "three_problems_at_once",
        "team: bad-inputs",
        "team: A B",
        [],  # filled below: the team, plus the region and max_contacts changed as well
    ),
]


def _mutate(case_id: str, old: str | None, new: str) -> str:
    if case_id == "three_problems_at_once":
        return (
            GOOD.replace("team: bad-inputs", "team: A B")
            .replace("  default_region: FR", "  default_region: XX")
            .replace("  max_contacts: 50", "  max_contacts: 0")
        )
    if old is None:
        return new
    assert old in GOOD, case_id
    return GOOD.replace(old, new, 1)


THREE = [
    "{F}:1: team: 'A B': use lower-case letters, digits, '-' and '_'",
    "{F}:11: contacts.default_region: 'XX' is not an ISO 3166 region code (write FR, US, GB, ...)",
    "{F}:18: campaign.max_contacts: Input should be greater than or equal to 1",
]


def test_the_base_mapping_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(GOOD)
    assert load_mapping(path).mapping.team == "bad-inputs"


@pytest.mark.parametrize(
    ("case_id", "old", "new", "expected"),
    [pytest.param(*c, id=c[0]) for c in MAPPING_CASES],
)
def test_broken_mapping_reports_exactly(
    tmp_path: Path, case_id: str, old: str | None, new: str, expected: list[str]
) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(_mutate(case_id, old, new))
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    want = THREE if case_id == "three_problems_at_once" else expected
    assert err.value.problems == [w.replace("{F}", str(path)) for w in want]


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (
            "    company: {column: Company, required: often}",
            "{F}:15: contacts.prompt_variables.company.required: Input should be a valid "
            "boolean, unable to interpret input (write true or false)",
        ),
        (
            "    company: {col: Company}",
            f"{{F}}:15: contacts.prompt_variables.company.col: Extra inputs are not permitted "
            f"({EXTRA})",
        ),
    ],
    ids=["required_not_bool", "unknown_spec_key"],
)
def test_error_inside_a_variable_spec_is_one_line(tmp_path: Path, new: str, expected: str) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(GOOD.replace("    company: {column: Company, required: true}", new))
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert err.value.problems == [expected.replace("{F}", str(path))]


def _good_team(folder: Path) -> Path:
    (folder / "leads.csv").write_text(
        "Name,Phone,Company,Status\nAnn,06 12 34 56 78,Acme,Ready\nBob,06 12 34 56 79,,\n"
    )
    path = folder / "team.yaml"
    path.write_text(GOOD)
    return path


@pytest.fixture(scope="module")
def synced_team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A team folder after one good `sync`: a CSV with results and a state file.

    Shared by the cases below; each puts the good mapping back when it is done.
    """
    folder = tmp_path_factory.mktemp("synced")
    _good_team(folder)
    with Sandbox(API_KEY) as sb:
        env = {"REVOX_API_KEY": API_KEY, "REVOX_BASE_URL": sb.url}
        first = run_cli(folder, "sync", "bad-inputs", "--once", env=env)
        assert first.returncode == 0, first.stderr
        yield folder, env


SYNC, CHECK, PREVIEW = ["sync", "bad-inputs", "--once"], ["check"], ["preview", "bad-inputs"]
CLI_BROKEN = [
    ("  max_contacts: 50", "  max_contacts: 0", 18, SYNC),
    ("  phone: Phone", "\tphone: Phone", 10, CHECK),
    ("  every: 5m", '  cron: "not a cron"', 7, PREVIEW),
    ('  from_phone_number: "+33159000000"', '  from_phone_number: "0159000000"', 19, SYNC),
    (f"  assistant_id: {ASSISTANT}", "  assistant_id: nope", 17, CHECK),
    ("  default_region: FR", "  default_region: Germany", 11, PREVIEW),
    ("team: bad-inputs", "team: bad-inputs\nteam: bad-inputs", 2, SYNC),
    ("  max_contacts: 50", "  max_contacts: 50\n  colour: blue", 19, CHECK),
]


@pytest.mark.slow
@pytest.mark.parametrize(("old", "new", "line", "command"), CLI_BROKEN)
def test_cli_refuses_a_broken_mapping_and_loses_nothing(
    synced_team: tuple[Path, dict[str, str]], old: str, new: str, line: int, command: list[str]
) -> None:
    folder, env = synced_team
    path = folder / "team.yaml"
    csv_before = (folder / "leads.csv").read_bytes()
    state_before = (folder / "state" / "bad-inputs.sqlite").read_bytes()
    path.write_text(GOOD.replace(old, new, 1))
    try:
        proc = run_cli(folder, *command, env=env)
    finally:
        path.write_text(GOOD)
    assert proc.returncode == 2, (command, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"config error: {path}:{line}: "), lines[0]
    # check goes on past a broken mapping and says what did pass (issue 11, item 10)
    assert proc.stdout == (
        "" if command != CHECK else f"Revox: API key accepted at {env['REVOX_BASE_URL']}\n"
    )
    assert (folder / "leads.csv").read_bytes() == csv_before
    assert (folder / "state" / "bad-inputs.sqlite").read_bytes() == state_before


@pytest.mark.slow
def test_cli_team_goes_on_once_the_mapping_is_fixed(
    synced_team: tuple[Path, dict[str, str]],
) -> None:
    folder, env = synced_team
    proc = run_cli(folder, "sync", "bad-inputs", "--once", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "submitted 0, campaigns created 0" in proc.stdout  # nobody sent twice
    status = json.loads(run_cli(folder, "status", "--format", "json", env=env).stdout)
    assert status[0]["rows"] == {"submitted": 1, "rejected": 1}


def test_mapping_file_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    _good_team(tmp_path)
    (tmp_path / "team.yaml").write_bytes(
        GOOD.replace("first_name: Name", "prénom: Name").encode("latin-1")
    )
    proc = run_cli(tmp_path, "check")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"config error: {tmp_path / 'team.yaml'}")
    # check goes on past the broken file: the missing key is its own line (issue 11, item 10)
    assert proc.stderr.splitlines()[1:] == [
        "config error: REVOX_API_KEY is not set (put it in the environment file)"
    ]


def test_yaml_alias_bomb_fails_fast(tmp_path: Path) -> None:
    _good_team(tmp_path)
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        bomb.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    (tmp_path / "team.yaml").write_text(GOOD + "\n".join(bomb) + "\n")
    try:
        proc = run_cli(tmp_path, "check", timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("`revox-sync check` still busy after 5 s on a 9-line mapping file")
    assert proc.returncode == 2
    assert "YAML anchors and aliases (&, *) are not supported" in proc.stderr


def test_csv_delimiter_of_two_characters_is_a_config_error(tmp_path: Path) -> None:
    _good_team(tmp_path)
    path = tmp_path / "team.yaml"
    path.write_text(
        GOOD.replace("  key_column: Revox ID", "  key_column: Revox ID\n  delimiter: ';;'")
    )
    proc = run_cli(tmp_path, "preview", "bad-inputs")
    assert proc.returncode == 2
    assert "source.delimiter" in proc.stderr


# --- columns the source lacks: found when the mapping meets the real headers ----------------

RESOLVE_YAML = textwrap.dedent(f"""\
    team: r1
    source: {{type: csv, path: leads.csv}}
    contacts:
      phone: Mobile
      country_column: Pays
      include_when: {{Statut: [ok]}}
      skip_when: {{Opt out: ["yes"]}}
      prompt_variables:
        first_name: Name
        greeting: {{template: "Bonjour {{Prenom}} de {{Company}}"}}
    campaign:
      assistant_id: {ASSISTANT}
    """)


def test_unknown_columns_are_listed_with_the_headers_found(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("Name,Phone,Company\nAnn,0612345678,Acme\n")
    (tmp_path / "r1.yaml").write_text(RESOLVE_YAML)
    before = (tmp_path / "leads.csv").read_bytes()
    # each miss names the mapping file, line and field it comes from (issue 11, item 10)
    src = f"in csv:{tmp_path / 'leads.csv'} (headers: Name, Phone, Company)"
    y = tmp_path / "r1.yaml"
    expected = [
        f"config error: {y}:4: contacts.phone: no column 'Mobile' {src}",
        f"config error: {y}:5: contacts.country_column: no column 'Pays' {src}",
        f"config error: {y}:6: contacts.include_when.Statut: no column 'Statut' {src}",
        f"config error: {y}:7: contacts.skip_when.Opt out: no column 'Opt out' {src}",
        f"config error: {y}:10: contacts.prompt_variables.greeting: no column 'Prenom' {src}",
    ]
    for command in (["preview", "r1"], ["sync", "r1", "--once", "--dry-run"]):
        env = {"REVOX_API_KEY": "x", "REVOX_BASE_URL": "http://127.0.0.1:9"}
        proc = run_cli(tmp_path, *command, env=env)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == expected
        assert (tmp_path / "leads.csv").read_bytes() == before


def test_template_naming_an_unknown_column_fails_at_resolve_time(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    t = Team.make(tmp_path, sandbox, b"Name,Phone\nAnn,0612345678\n")
    t.engine.tick()
    rows_before = t.bytes()
    broken = mapping_yaml(team="t1").replace(
        "first_name: Name", 'first_name: Name\n    hello: {template: "Hi {Nom}"}'
    )
    (tmp_path / "t1.yaml").write_text(broken)
    engine = t.reopen()
    with pytest.raises(ConfigError) as err:
        engine.tick()
    headers = (
        "Name, Phone, Revox ID, Revox status, Revox campaign, Outcome, Call summary, Attempts, "
        "Revox error, Email"
    )
    assert err.value.problems == [
        f"{tmp_path / 't1.yaml'}:11: contacts.prompt_variables.hello: no column 'Nom' in "
        f"csv:{tmp_path / 'leads.csv'} (headers: {headers})"
    ]
    assert t.bytes() == rows_before
    assert engine.state.row_counts() == {"submitted": 1}
    engine.state.close()
